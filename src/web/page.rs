//! What every page needs: its language, its visitor, a CSRF token for its forms, and the
//! layout's context. Handlers build page-specific data and call `Page::render`.

use actix_session::{Session, SessionExt};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{http::header, web, FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;
use std::future::{ready, Ready};

use super::i18n::{query_lang, Lang};
use super::session::{self, SessionUser};
use crate::app::AppState;
use crate::error::AppError;

pub struct Page {
    pub lang: Lang,
    pub session: Session,
    pub user: Option<SessionUser>,
    pub state: web::Data<AppState>,
    path: String,
    query: String,
}

#[derive(Serialize)]
struct Layout<'a, T: Serialize> {
    lang: &'static str,
    title: &'a str,
    csrf: String,
    lang_switch_url: String,
    user: &'a Option<SessionUser>,
    /// Units in the cart, for the header (none until the cart was first read or changed).
    cart_count: Option<i64>,
    #[serde(flatten)]
    data: T,
}

impl Page {
    pub fn from_request(req: &HttpRequest) -> Result<Page, AppError> {
        let state =
            req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| AppError::internal("app state missing"))?;
        let session = req.get_session();
        Ok(Page {
            lang: Lang::of_request(req),
            user: session::current_user(&session),
            session,
            state,
            path: req.path().to_string(),
            query: req.query_string().to_string(),
        })
    }

    /// A UTC time as the configured zone's wall clock, `2026-11-26 23:34`.
    pub fn time(&self, utc: chrono::NaiveDateTime) -> String {
        super::time::local(self.state.config.timezone, utc)
    }

    pub fn t(&self, key: &str) -> String {
        self.state.messages.text(self.lang, key)
    }

    /// An error's message in the page's language (the API's bilingual text as a fallback).
    pub fn error_text(&self, error: &AppError) -> String {
        match self.state.messages.get(self.lang, &format!("error_{}", error.code())) {
            Some(text) => text.to_string(),
            None => error.public_message(),
        }
    }

    /// The same page in the other language.
    fn lang_switch_url(&self) -> String {
        let other = match self.lang {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        };
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(&self.query).unwrap_or_default();
        pairs.retain(|(k, _)| k != "lang");
        pairs.push(("lang".into(), other.tag().into()));
        format!("{}?{}", self.path, serde_urlencoded::to_string(pairs).unwrap_or_default())
    }

    /// Renders `template` inside the layout. Forms need a CSRF token, which anonymous
    /// visitors of plain pages are not given, so that those pages set no cookie.
    pub fn render<T: Serialize>(
        &self,
        template: &str,
        title: &str,
        with_form: bool,
        data: T,
    ) -> Result<HttpResponse, AppError> {
        let csrf = if with_form || self.user.is_some() {
            session::csrf_token(&self.session)?
        } else {
            session::existing_csrf_token(&self.session).unwrap_or_default()
        };
        let layout = Layout {
            lang: self.lang.tag(),
            title,
            csrf,
            lang_switch_url: self.lang_switch_url(),
            user: &self.user,
            cart_count: session::cart_count(&self.session).filter(|n| *n > 0),
            data,
        };
        let html = super::templates::render(&self.state.templates, template, &layout)?;
        let mut response = HttpResponse::Ok();
        response.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"));
        // A language chosen with ?lang= is remembered for the next pages.
        if let Some(lang) = query_lang(&self.query) {
            response
                .cookie(Cookie::build("lang", lang.tag()).path("/").same_site(SameSite::Lax).http_only(true).finish());
        }
        Ok(response.body(html))
    }
}

impl FromRequest for Page {
    type Error = AppError;
    type Future = Ready<Result<Page, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Page::from_request(req))
    }
}

/// A redirect after a form post (303, so the browser follows with GET).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Only same-site paths are followed after login: one leading `/`, no second `/` or `\\`
/// (`//host` and `/\\host` leave the site), no control characters (browsers drop tabs and
/// newlines, so `/%09/host` would become `//host`), also once percent-decoded. Anything else
/// goes to `/`; no `next` at all to the account page. The answer is always a valid header.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next else {
        return "/account".to_string();
    };
    let decoded = super::security::percent_decode(next.as_bytes(), false);
    let same_site = |s: &[u8]| {
        s.first() == Some(&b'/') && !matches!(s.get(1), Some(b'/' | b'\\')) && !s.iter().any(|&b| b < 0x20 || b == 0x7f)
    };
    if !(same_site(next.as_bytes()) && same_site(&decoded)) {
        return "/".to_string();
    }
    // Non-ASCII characters are sent percent-encoded.
    let mut out = String::with_capacity(next.len());
    for b in next.bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_the_site() {
        for bad in [
            "//evil",
            "/\\evil",
            "/\t/evil.example",
            "/\n",
            "/\r\nX:1",
            "/\0",
            "/%09/evil.example",
            "/%0a",
            "/%0d%0aX:1",
            "/%00",
            "/%2F/evil",
            "/%5Cevil",
            "https://evil.example",
            "evil",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(Some("/orders?page=2")), "/orders?page=2");
        assert_eq!(safe_next(Some("/search?q=藜麦 x")), "/search?q=%E8%97%9C%E9%BA%A6%20x");
        assert_eq!(safe_next(None), "/account");
    }
}
