//! What every page needs: its language, its visitor, a CSRF token for its forms, and the
//! layout's context. Handlers build page-specific data and call `Page::render`.
//!
//! Catalog pages (home, county, product, campaign, search) are rendered once for everyone and
//! kept as bytes (`cache::pages`): `Page::cached` answers from the cache, `Page::render_shared`
//! renders with two slots, the header's navigation and the CSRF token, keeps the page and
//! answers. Each visitor's page is the shared bytes with those slots filled (their name and
//! cart count, their session's token), so a logged-in visitor never sees another's.

use actix_session::{Session, SessionExt};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{http::header, web, FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::future::{ready, Ready};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use super::i18n::{query_lang, Lang};
use super::session::{self, SessionUser};
use crate::app::AppState;
use crate::cache::pages::{catalog_version, CachedPage, Piece};
use crate::error::AppError;

/// Where a shared page's navigation and CSRF token go. Control characters cannot come from
/// stored text (the input check refuses them), so the marks cannot be forged by content.
const NAV_SLOT: &str = "\u{1}nav\u{1}";
const CSRF_SLOT: &str = "\u{1}csrf\u{1}";

pub struct Page {
    pub lang: Lang,
    pub session: Session,
    pub user: Option<SessionUser>,
    pub state: web::Data<AppState>,
    path: String,
    query: String,
    if_none_match: Option<String>,
    /// When the request came in, and the catalog's version then: a page rendered now is as old
    /// as its data, which was read after this instant under this version (or a later one).
    started: Instant,
    version: u64,
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
    /// The header's navigation already rendered (a slot on shared pages); None: render it.
    nav_html: Option<&'a str>,
    #[serde(flatten)]
    data: T,
}

/// What the header's navigation shows (`partials/site_nav`).
#[derive(Serialize)]
struct Nav<'a> {
    lang: &'static str,
    csrf: &'a str,
    lang_switch_url: &'a str,
    user: &'a Option<SessionUser>,
    cart_count: Option<i64>,
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
            if_none_match: req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string),
            started: Instant::now(),
            version: catalog_version(),
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
            nav_html: None,
            data,
        };
        let html = super::templates::render(&self.state.templates, template, &layout)?;
        let mut response = HttpResponse::Ok();
        response.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"));
        self.remember_lang(&mut response);
        Ok(response.body(html))
    }

    /// A language chosen with ?lang= is remembered for the next pages.
    fn remember_lang(&self, response: &mut actix_web::HttpResponseBuilder) {
        if let Some(lang) = query_lang(&self.query) {
            response
                .cookie(Cookie::build("lang", lang.tag()).path("/").same_site(SameSite::Lax).http_only(true).finish());
        }
    }

    fn cache_key(&self) -> String {
        format!("{}|{}?{}", self.lang.tag(), self.path, self.query)
    }

    /// This catalog page from the page cache, filled for this visitor (or 304 when the
    /// visitor's copy is current); None when it is not cached (or too old).
    pub fn cached(&self) -> Result<Option<HttpResponse>, AppError> {
        match self.state.page_cache.get(&self.cache_key()) {
            Some(page) => self.answer(&page).map(Some),
            None => Ok(None),
        }
    }

    /// Renders a catalog page once for every visitor (no one's name, cart or token in it),
    /// keeps it in the page cache, and answers this visitor with it. `with_form`: its forms
    /// need a CSRF token even for anonymous visitors.
    pub fn render_shared<T: Serialize>(
        &self,
        template: &str,
        title: &str,
        with_form: bool,
        data: T,
    ) -> Result<HttpResponse, AppError> {
        let lang_switch_url = self.lang_switch_url();
        let layout = Layout {
            lang: self.lang.tag(),
            title,
            csrf: CSRF_SLOT.to_string(),
            lang_switch_url: lang_switch_url.clone(),
            user: &None,
            cart_count: None,
            nav_html: Some(NAV_SLOT),
            data,
        };
        let html = super::templates::render(&self.state.templates, template, &layout)?;
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(html.as_bytes())[..12]));
        let anon_nav = self.nav(&lang_switch_url, &None, None, "")?;
        let mut page = CachedPage {
            made: self.started,
            version: self.version,
            etag,
            pieces: split_slots(&html),
            anon_nav,
            anon_body: None,
            with_form,
        };
        if !with_form {
            page.anon_body = Some(page.fill(&page.anon_nav, ""));
        }
        let page = Arc::new(page);
        self.state.page_cache.put(&self.cache_key(), page.clone());
        self.answer(&page)
    }

    /// The header's navigation for this visitor.
    fn nav(
        &self,
        lang_switch_url: &str,
        user: &Option<SessionUser>,
        cart_count: Option<i64>,
        csrf: &str,
    ) -> Result<String, AppError> {
        let nav = Nav { lang: self.lang.tag(), csrf, lang_switch_url, user, cart_count };
        super::templates::render(&self.state.templates, "partials/site_nav", &nav)
    }

    /// The shared page filled for this visitor, with its validator; 304 when it matches.
    fn answer(&self, page: &CachedPage) -> Result<HttpResponse, AppError> {
        let cart_count = session::cart_count(&self.session).filter(|n| *n > 0);
        let personal = self.user.is_some() || cart_count.is_some() || page.with_form;
        let (body, etag) = match (&page.anon_body, personal) {
            (Some(body), false) => (body.clone(), page.etag.clone()),
            _ => {
                let csrf = if page.with_form || self.user.is_some() {
                    session::csrf_token(&self.session)?
                } else {
                    session::existing_csrf_token(&self.session).unwrap_or_default()
                };
                let nav = if self.user.is_none() && cart_count.is_none() {
                    page.anon_nav.clone()
                } else {
                    self.nav(&self.lang_switch_url(), &self.user, cart_count, &csrf)?
                };
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                (&nav, &csrf).hash(&mut hasher);
                let etag = format!("{}-{:016x}\"", page.etag.trim_end_matches('"'), hasher.finish());
                (page.fill(&nav, &csrf), etag)
            }
        };
        let not_modified = self.if_none_match.as_deref().is_some_and(|v| etag_matches(v, &etag));
        let mut response = if not_modified { HttpResponse::NotModified() } else { HttpResponse::Ok() };
        response
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, if personal { "private, no-cache" } else { "no-cache" }))
            .insert_header((header::VARY, "Cookie, Accept-Language"));
        self.remember_lang(&mut response);
        if not_modified {
            return Ok(response.finish());
        }
        response.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"));
        Ok(response.body(body))
    }
}

/// Whether an `If-None-Match` value names `etag` (weak comparison, or `*`).
fn etag_matches(header: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header.split(',').any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

/// The rendered page cut at its slots.
fn split_slots(html: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = html;
    loop {
        let next = [(NAV_SLOT, Piece::Nav), (CSRF_SLOT, Piece::Csrf)]
            .into_iter()
            .filter_map(|(mark, piece)| rest.find(mark).map(|at| (at, mark.len(), piece)))
            .min_by_key(|(at, _, _)| *at);
        match next {
            Some((at, len, piece)) => {
                pieces.push(Piece::Text(bytes::Bytes::copy_from_slice(&rest.as_bytes()[..at])));
                pieces.push(piece);
                rest = &rest[at + len..];
            }
            None => {
                pieces.push(Piece::Text(bytes::Bytes::copy_from_slice(rest.as_bytes())));
                return pieces;
            }
        }
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
    use super::{etag_matches, safe_next, split_slots, CSRF_SLOT, NAV_SLOT};
    use crate::cache::pages::Piece;

    #[test]
    fn slots_split_and_etags_compare() {
        let html = format!("a{NAV_SLOT}b{CSRF_SLOT}c{CSRF_SLOT}");
        let kinds: Vec<&str> = split_slots(&html)
            .iter()
            .map(|p| match p {
                Piece::Text(_) => "t",
                Piece::Nav => "n",
                Piece::Csrf => "c",
            })
            .collect();
        assert_eq!(kinds, ["t", "n", "t", "c", "t", "c", "t"]);
        assert!(etag_matches("\"x\"", "\"x\""));
        assert!(etag_matches("\"y\", W/\"x\"", "\"x\""));
        assert!(etag_matches("*", "\"x\""));
        assert!(!etag_matches("\"y\"", "\"x\""));
    }

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
