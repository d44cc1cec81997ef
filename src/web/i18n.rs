//! Languages and message catalogs: zh-CN by default, English by `?lang=en`, a `lang` cookie or
//! Accept-Language.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::Serialize;
use std::collections::HashMap;
use std::future::{ready, Ready};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Lang {
    #[serde(rename = "zh-CN")]
    Zh,
    #[serde(rename = "en")]
    En,
}

impl Lang {
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Reads a language tag such as `en`, `en-GB`, `zh`, `zh-CN`.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag == "en" || tag.starts_with("en-") {
            Some(Lang::En)
        } else if tag == "zh" || tag.starts_with("zh-") {
            Some(Lang::Zh)
        } else {
            None
        }
    }

    /// The other-language text falls back to Chinese when no English text was written.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::En if !en.trim().is_empty() => en,
            _ => zh,
        }
    }

    /// The language a request asks for.
    pub fn of_request(req: &HttpRequest) -> Lang {
        if let Some(lang) = query_lang(req.query_string()) {
            return lang;
        }
        if let Some(lang) = req.cookie("lang").and_then(|c| Lang::from_tag(c.value())) {
            return lang;
        }
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok())
            .and_then(from_accept_language)
            .unwrap_or(Lang::Zh)
    }
}

pub fn query_lang(query: &str) -> Option<Lang> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Lang::from_tag(&v))
}

/// The supported language with the highest q-value in an Accept-Language header.
fn from_accept_language(header: &str) -> Option<Lang> {
    header
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let lang = Lang::from_tag(pieces.next()?)?;
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            Some((lang, q))
        })
        .filter(|(_, q)| *q > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(lang, _)| lang)
}

impl FromRequest for Lang {
    type Error = actix_web::Error;
    type Future = Ready<Result<Lang, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Lang::of_request(req)))
    }
}

/// Both catalogs, loaded from the files embedded at build time.
pub struct Messages {
    zh: HashMap<String, String>,
    en: HashMap<String, String>,
}

impl Messages {
    pub fn load() -> Result<Messages, String> {
        let parse = |name: &str, text: &str| -> Result<HashMap<String, String>, String> {
            toml::from_str(text).map_err(|e| format!("i18n/{name}.toml: {e}"))
        };
        let zh = parse("zh-CN", include_str!("../../i18n/zh-CN.toml"))?;
        let en = parse("en", include_str!("../../i18n/en.toml"))?;
        if let Some(missing) =
            zh.keys().find(|k| !en.contains_key(*k)).or_else(|| en.keys().find(|k| !zh.contains_key(*k)))
        {
            return Err(format!("i18n: key '{missing}' is not in both catalogs"));
        }
        Ok(Messages { zh, en })
    }

    pub fn get(&self, lang: Lang, key: &str) -> Option<&str> {
        match lang {
            Lang::Zh => self.zh.get(key),
            Lang::En => self.en.get(key),
        }
        .map(String::as_str)
    }

    /// The message, or the key itself so a missing text shows rather than breaking a page.
    pub fn text(&self, lang: Lang, key: &str) -> String {
        self.get(lang, key).unwrap_or(key).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_prefers_highest_q() {
        assert_eq!(from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(from_accept_language("fr, zh-CN;q=0.8, en;q=0.5"), Some(Lang::Zh));
        assert_eq!(from_accept_language("de"), None);
    }

    #[test]
    fn catalogs_load_with_equal_keys() {
        let m = Messages::load();
        assert!(m.is_ok(), "{:?}", m.err());
    }
}
