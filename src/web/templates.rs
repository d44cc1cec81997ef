//! Handlebars in strict mode; templates embedded in the binary, overridable from a directory.

use actix_web::{http::header, web, HttpResponse};
use handlebars::{Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderErrorReason};
use rust_embed::RustEmbed;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

use super::i18n::{Lang, Messages};
use crate::error::AppError;

#[derive(RustEmbed)]
#[folder = "templates/"]
struct EmbeddedTemplates;

#[derive(RustEmbed)]
#[folder = "static/"]
struct EmbeddedStatic;

pub fn registry(
    messages: Arc<Messages>,
    override_dir: Option<&Path>,
    zone: chrono_tz::Tz,
) -> Result<Handlebars<'static>, String> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_embed_templates_with_extension::<EmbeddedTemplates>(".hbs").map_err(|e| format!("templates: {e}"))?;
    if let Some(dir) = override_dir {
        hb.register_templates_directory(dir, Default::default())
            .map_err(|e| format!("AIDMART_TEMPLATES_DIR {}: {e}", dir.display()))?;
    }
    hb.register_helper("t", Box::new(Translate(messages.clone())));
    hb.register_helper("l", Box::new(Localize));
    hb.register_helper("group", Box::new(group_helper));
    hb.register_helper("time", Box::new(super::time::TimeHelper(zone)));
    hb.register_helper("tk", Box::new(TranslateKey(messages.clone())));
    hb.register_helper("bi", Box::new(Bilingual));
    hb.register_helper("csv_line", Box::new(csv_line_helper));
    Ok(hb)
}

pub fn render<T: Serialize>(hb: &Handlebars<'static>, name: &str, data: &T) -> Result<String, AppError> {
    Ok(hb.render(name, data)?)
}

fn context_lang(ctx: &Context) -> Lang {
    ctx.data().get("lang").and_then(|v| v.as_str()).and_then(Lang::from_tag).unwrap_or(Lang::Zh)
}

/// `{{t "key"}}`: the message for the page's language; an unknown key is a render error.
struct Translate(Arc<Messages>);

impl HelperDef for Translate {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let key =
            h.param(0).and_then(|p| p.value().as_str()).ok_or(RenderErrorReason::ParamNotFoundForIndex("t", 0))?;
        let text = self
            .0
            .get(context_lang(ctx), key)
            .ok_or_else(|| RenderErrorReason::Other(format!("unknown message key '{key}'")))?;
        out.write(&handlebars::html_escape(text))?;
        Ok(())
    }
}

/// `{{tk value "prefix_" "other_prefix_"}}`: a stored code (an order status, a stock change's
/// reason) in the page's language: the message `prefix + value` (spaces as underscores) for the
/// first prefix that has one; text typed by a person has none and is shown as it is.
struct TranslateKey(Arc<Messages>);

impl HelperDef for TranslateKey {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let value = h.param(0).and_then(|p| p.value().as_str()).unwrap_or_default();
        let code = value.trim().replace(' ', "_");
        let lang = context_lang(ctx);
        let text = h
            .params()
            .iter()
            .skip(1)
            .filter_map(|p| p.value().as_str())
            .find_map(|prefix| self.0.get(lang, &format!("{prefix}{code}")))
            .unwrap_or(value);
        out.write(&handlebars::html_escape(text))?;
        Ok(())
    }
}

/// `{{bi text}}`: the page's half of a server message written "English / 中文" (several joined
/// by "; "), so a Chinese page shows no English and an English page no Chinese.
struct Bilingual;

pub fn bilingual_part(text: &str, lang: Lang) -> String {
    text.split("; ")
        .map(|part| match part.split_once(" / ") {
            Some((en, zh)) => match lang {
                Lang::Zh => zh.trim(),
                Lang::En => en.trim(),
            },
            None => part,
        })
        .collect::<Vec<_>>()
        .join(match lang {
            Lang::Zh => "；",
            Lang::En => "; ",
        })
}

impl HelperDef for Bilingual {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let text = h.param(0).and_then(|p| p.value().as_str()).unwrap_or_default();
        out.write(&handlebars::html_escape(&bilingual_part(text, context_lang(ctx))))?;
        Ok(())
    }
}

/// `{{csv_line row}}`: the line of a CSV file a data row is on, as an editor shows it (the
/// header is line 1, the first data row line 2).
fn csv_line_helper(
    h: &Helper,
    _: &Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let row =
        h.param(0).and_then(|p| p.value().as_u64()).ok_or(RenderErrorReason::ParamNotFoundForIndex("csv_line", 0))?;
    out.write(&(row + 1).to_string())?;
    Ok(())
}

/// `{{l zh en}}`: picks the text for the page's language (English falls back to Chinese).
struct Localize;

impl HelperDef for Localize {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let text = |i: usize| h.param(i).and_then(|p| p.value().as_str()).unwrap_or_default();
        out.write(&handlebars::html_escape(context_lang(ctx).pick(text(0), text(1))))?;
        Ok(())
    }
}

/// `{{group n}}`: a number or an amount with thousands separators, "2000000.00" → "2,000,000.00".
fn group_helper(h: &Helper, _: &Handlebars, _: &Context, _: &mut RenderContext, out: &mut dyn Output) -> HelperResult {
    let value = h.param(0).map(|p| p.value()).ok_or(RenderErrorReason::ParamNotFoundForIndex("group", 0))?;
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    out.write(&handlebars::html_escape(&group_digits(&text)))?;
    Ok(())
}

pub fn group_digits(number: &str) -> String {
    let (sign, rest) = number.strip_prefix('-').map_or(("", number), |r| ("-", r));
    let (whole, fraction) = rest.split_once('.').map_or((rest, None), |(w, f)| (w, Some(f)));
    if !whole.chars().all(|c| c.is_ascii_digit()) {
        return number.to_string();
    }
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Serves the embedded stylesheet and images, cached by browsers for a day.
pub async fn static_file(path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let name = path.into_inner();
    let file = EmbeddedStatic::get(&name).ok_or(AppError::NotFound)?;
    let content_type = match name.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(file.data.into_owned()))
}

/// `/favicon.ico`, which browsers ask for whatever the page links.
pub async fn favicon() -> Result<HttpResponse, AppError> {
    static_file(web::Path::from("favicon.ico".to_string())).await
}

#[cfg(test)]
mod tests {
    use super::{bilingual_part, group_digits};
    use crate::web::i18n::Lang;

    #[test]
    fn bilingual_messages_show_one_language() {
        let text =
            "bad mobile: 11 digits starting with 13-19 / 手机号须为 1 开头的 11 位数字; address is missing / 地址缺失";
        assert_eq!(bilingual_part(text, Lang::Zh), "手机号须为 1 开头的 11 位数字；地址缺失");
        assert_eq!(bilingual_part(text, Lang::En), "bad mobile: 11 digits starting with 13-19; address is missing");
        assert_eq!(bilingual_part("typed by a person", Lang::Zh), "typed by a person");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group_digits("2000000.00"), "2,000,000.00");
        assert_eq!(group_digits("5000"), "5,000");
        assert_eq!(group_digits("999"), "999");
        assert_eq!(group_digits("-1234.5"), "-1,234.5");
        assert_eq!(group_digits("n/a"), "n/a");
    }
}
