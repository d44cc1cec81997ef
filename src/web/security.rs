//! Middleware that every response passes through: security headers, one input check for
//! control characters and content types, and a last-line catcher for panics.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;

use crate::app::AppState;
use crate::error::AppError;

/// Scripts only from our own files (no inline script, no `eval`); styles may stay inline
/// (`style=""` attributes), which cannot run code.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The largest text body the input check reads (larger ones are refused with 413).
const MAX_CHECKED_BODY: usize = 2 * 1024 * 1024;

fn add_headers(h: &mut header::HeaderMap, hsts: bool) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if hsts {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
}

/// Adds the security headers to every response, errors that escaped other layers included.
/// (The request may not be cloned before routing, which needs it unshared.)
pub async fn headers<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let hsts = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.config.cookie_secure);
    match next.call(req).await {
        Ok(mut res) => {
            add_headers(res.headers_mut(), hsts);
            Ok(res)
        }
        Err(e) => {
            let mut res = e.error_response();
            add_headers(res.headers_mut(), hsts);
            Err(actix_web::error::InternalError::from_response(e.to_string(), res).into())
        }
    }
}

/// The last line of defence: a handler that panics is logged and answered 500 with the
/// usual error envelope instead of a dropped connection.
pub async fn catch_panics<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let path = req.path().to_string();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(%path, panic = %what, "a handler panicked");
            Err(AppError::internal(format!("panic: {what}")).into())
        }
    }
}

/// One check of everything a request carries as text, before any handler sees it:
/// - the path and the query string may hold no control characters once percent-decoded
///   (PostgreSQL refuses NUL in text; nothing legitimate sends the others);
/// - API requests with a body must declare the body's documented type (415 otherwise), so a
///   cross-site form (which can only send `text/plain`, forms or multipart) cannot reach them;
/// - text bodies (JSON, CSV, forms, plain text) may hold no control characters other than
///   tab, CR and LF, written out or escaped (`\u0000` in JSON, `%00` in forms).
pub async fn check_input<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if let Err(e) = check_target(req.path(), req.query_string()) {
        return Ok(refuse(req, e));
    }
    let kind = match body_kind(&req) {
        Ok(kind) => kind,
        Err(e) => return Ok(refuse(req, e)),
    };
    if let Some(kind) = kind {
        let body = match read_body(req.take_payload()).await {
            Ok(body) => body,
            Err(e) => return Ok(refuse(req, e)),
        };
        if let Err(e) = check_body(kind, &body) {
            return Ok(refuse(req, e));
        }
        req.set_payload(bytes_payload(body));
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

fn refuse<B>(req: ServiceRequest, e: AppError) -> ServiceResponse<EitherBody<B>> {
    let (http_req, _) = req.into_parts();
    ServiceResponse::from_err(e, http_req).map_into_right_body()
}

fn bytes_payload(body: web::Bytes) -> Payload {
    Payload::from(body)
}

async fn read_body(mut payload: Payload) -> Result<web::Bytes, AppError> {
    use futures_util::StreamExt;
    let mut data = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| AppError::bad_request("invalid_body", format!("the body broke off: {e} / 请求体不完整")))?;
        if data.len() + chunk.len() > MAX_CHECKED_BODY {
            return Err(AppError::PayloadTooLarge);
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data.freeze())
}

fn control_error() -> AppError {
    AppError::bad_request(
        "invalid_characters",
        "the request contains control characters (such as NUL) / 请求中含有不允许的控制字符",
    )
}

fn is_forbidden(b: u8, allow_whitespace: bool) -> bool {
    (b < 0x20 && !(allow_whitespace && matches!(b, b'\t' | b'\n' | b'\r'))) || b == 0x7f
}

/// `%XX` decoding (and `+` as a space when `plus` is set); malformed escapes stay as they are.
pub fn percent_decode(raw: &[u8], plus: bool) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn date_error() -> AppError {
    AppError::bad_request("invalid_date", "dates must lie in the years 2000 to 2100 / 日期须在 2000 至 2100 年之间")
}

/// Whether a value is a date (`YYYY-MM-DD` or `YYYY-MM`, maybe with a time after it) outside
/// the years 2000-2100, including signed and many-digit years that chrono accepts but whose
/// arithmetic overflows. Every date the app reads passes through here first.
pub fn is_out_of_range_date(value: &str) -> bool {
    let v = value.trim();
    let signed = v.starts_with('+') || v.starts_with('-');
    let v = v.trim_start_matches(['+', '-']);
    let date = v.split(['T', 't', ' ']).next().unwrap_or_default();
    let parts: Vec<&str> = date.split('-').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(numeric) || parts[1..].iter().any(|p| p.len() > 2) {
        return false;
    }
    if !signed && parts[0].len() < 4 {
        return false;
    }
    signed || !parts[0].parse::<u32>().is_ok_and(|y| (2000..=2100).contains(&y))
}

/// Whether any field of a query string or form holds a forbidden byte once decoded. `next`
/// (where to go after login) is exempt: it never reaches the database, and `safe_next`
/// turns any such value into `/` rather than refusing the page.
fn form_has_control(raw: &[u8], allow_whitespace: bool) -> bool {
    raw.split(|&b| b == b'&').any(|pair| {
        let mut parts = pair.splitn(2, |&b| b == b'=');
        let key = percent_decode(parts.next().unwrap_or_default(), true);
        let value = percent_decode(parts.next().unwrap_or_default(), true);
        key.iter().any(|&b| is_forbidden(b, false))
            || (key != b"next" && value.iter().any(|&b| is_forbidden(b, allow_whitespace)))
    })
}

/// Whether any field of a query string or form is a date out of range.
fn form_has_bad_date(raw: &[u8]) -> bool {
    raw.split(|&b| b == b'&').any(|pair| {
        let value = pair.splitn(2, |&b| b == b'=').nth(1).unwrap_or_default();
        is_out_of_range_date(&String::from_utf8_lossy(&percent_decode(value, true)))
    })
}

fn json_has_bad_date(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => is_out_of_range_date(s),
        serde_json::Value::Array(items) => items.iter().any(json_has_bad_date),
        serde_json::Value::Object(map) => map.values().any(json_has_bad_date),
        _ => false,
    }
}

fn text_has_bad_date(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .split(['\n', ',', ';', '\t'])
        .any(|cell| is_out_of_range_date(cell.trim().trim_matches('"')))
}

/// The path and query string, decoded, hold no control characters.
pub fn check_target(path: &str, query: &str) -> Result<(), AppError> {
    let bad = percent_decode(path.as_bytes(), false).into_iter().any(|b| is_forbidden(b, false))
        || form_has_control(query.as_bytes(), false);
    if bad {
        return Err(control_error());
    }
    if form_has_bad_date(query.as_bytes()) {
        return Err(date_error());
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    Text,
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

/// The media type of a request, lower-cased, without parameters.
fn media_type(req: &ServiceRequest) -> Option<String> {
    let raw = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(raw.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

/// What the API endpoint at `path` documents as its body type (`*`: any, for the payment
/// webhook, which a cookie cannot reach and whose body is checked by its signature).
pub fn documented_type(path: &str) -> &'static str {
    if path == "/api/v1/payments/sandbox/webhook" {
        return "*";
    }
    let csv_suffixes = ["/distributions/preview", "/distributions", "/members/import", "/points-grants"];
    if path.starts_with("/api/v1/orgs/") && csv_suffixes.iter().any(|s| path.ends_with(s)) {
        "text/csv"
    } else if (path.starts_with("/api/v1/coop/products/") && path.ends_with("/images")) || path == "/api/v1/photos" {
        "image/*"
    } else {
        "application/json"
    }
}

/// Which text check a body needs (none for binary uploads and bodiless requests), and for
/// the API whether its declared type is the documented one.
fn body_kind(req: &ServiceRequest) -> Result<Option<BodyKind>, AppError> {
    if !has_body(req) {
        return Ok(None);
    }
    let media = media_type(req).unwrap_or_default();
    let path = req.path();
    if path.starts_with("/api/") {
        let documented = documented_type(path);
        let ok = match documented {
            "*" => true,
            "image/*" => media.starts_with("image/") || media == "application/octet-stream",
            other => media == other,
        };
        if !ok {
            return Err(AppError::UnsupportedMediaType(documented));
        }
    }
    Ok(match media.as_str() {
        "application/json" => Some(BodyKind::Json),
        "application/x-www-form-urlencoded" => Some(BodyKind::Form),
        m if m.starts_with("text/") || m.is_empty() || m.ends_with("+json") => Some(BodyKind::Text),
        _ => None,
    })
}

/// A body of `kind` holds no control characters other than tab, CR and LF.
pub fn check_body(kind: BodyKind, body: &[u8]) -> Result<(), AppError> {
    let bad = match kind {
        BodyKind::Text => body.iter().any(|&b| is_forbidden(b, true)),
        BodyKind::Form => form_has_control(body, true),
        BodyKind::Json => body.iter().any(|&b| is_forbidden(b, true)) || json_escapes_control(body),
    };
    if bad {
        return Err(control_error());
    }
    let bad_date = match kind {
        BodyKind::Text => text_has_bad_date(body),
        BodyKind::Form => form_has_bad_date(body),
        // Malformed JSON is left to the handler's own 400.
        BodyKind::Json => serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| json_has_bad_date(&v)),
    };
    if bad_date {
        return Err(date_error());
    }
    Ok(())
}

/// Whether a JSON text escapes a control character other than tab, CR or LF (`\u0000`).
fn json_escapes_control(body: &[u8]) -> bool {
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\\' {
            if body.get(i + 1) == Some(&b'u') {
                let code = body.get(i + 2..i + 6).and_then(|h| std::str::from_utf8(h).ok());
                if let Some(n) = code.and_then(|h| u32::from_str_radix(h, 16).ok()) {
                    if (n < 0x20 && !matches!(n, 0x09 | 0x0a | 0x0d)) || n == 0x7f {
                        return true;
                    }
                }
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_with_control_characters_are_refused() {
        for (path, query) in [
            ("/api/v1/orders/%00", ""),
            ("/orders/AM%00", ""),
            ("/donate/%0a", ""),
            ("/x", "sku=%00"),
            ("/x", "a=%0d%0aX:1"),
            ("/x", "a%00=1"),
        ] {
            assert!(check_target(path, query).is_err(), "{path}?{query}");
        }
        for (path, query) in
            [("/products/1", "q=%E8%97%9C%E9%BA%A6"), ("/x%2", "a=100%"), ("/", "a=b+c"), ("/login", "next=/%09/evil")]
        {
            assert!(check_target(path, query).is_ok(), "{path}?{query}");
        }
    }

    #[test]
    fn bodies_with_control_characters_are_refused() {
        assert!(check_body(BodyKind::Json, br#"{"reason":"a\u0000b"}"#).is_err());
        assert!(check_body(BodyKind::Json, br#"{"reason":"a\u001Fb"}"#).is_err());
        assert!(check_body(BodyKind::Json, b"{\"reason\":\"a\0b\"}").is_err());
        assert!(check_body(BodyKind::Json, br#"{"reason":"a\\u0000b\nc"}"#).is_ok());
        assert!(check_body(BodyKind::Text, b"sku,qty\r\nA\0,1\n").is_err());
        assert!(check_body(BodyKind::Text, b"sku,qty\r\nA,1\n").is_ok());
        assert!(check_body(BodyKind::Form, b"a=%00").is_err());
        assert!(check_body(BodyKind::Form, b"a=x%0Ay+z").is_ok());
    }

    #[test]
    fn dates_outside_2000_to_2100_are_refused() {
        for bad in [
            "+262142-12-25",
            "-262143-01-01",
            "1999-12-31",
            "2101-01-01",
            "99999-01-01",
            "+2026-01-01",
            "0000-01",
            "3000-01-01T00:00:00",
        ] {
            assert!(is_out_of_range_date(bad), "{bad}");
        }
        for good in [
            "2026-11-26",
            "2100-12-31",
            "2000-01-01",
            "2026-11",
            "2027-12-31T23:59:59",
            "138-0013-8000",
            "1-2",
            "GY-1",
            "abc",
            "12-25",
        ] {
            assert!(!is_out_of_range_date(good), "{good}");
        }
        assert!(check_target("/api/v1/coop/reports/sales", "from=%2B262142-12-25&to=%2B262142-12-31").is_err());
        assert!(check_target("/reports/credits.xlsx", "from=-262143-01-01&to=-262143-01-05").is_err());
        assert!(check_body(BodyKind::Json, br#"{"delivery_date":"+262142-01-01"}"#).is_err());
        assert!(check_body(BodyKind::Text, b"email,points,expires,reason\na@b.c,1,99999-12-31,x\n").is_err());
        assert!(check_body(BodyKind::Text, b"email,points,expires,reason\na@b.c,1,2027-12-31,x\n").is_ok());
    }

    #[test]
    fn percent_decoding_leaves_broken_escapes() {
        assert_eq!(percent_decode(b"%41%4", false), b"A%4".to_vec());
        assert_eq!(percent_decode(b"%zz+", true), b"%zz ".to_vec());
        assert_eq!(percent_decode(b"%", false), b"%".to_vec());
    }
}
