//! Errors on pages become a friendly page in the visitor's language; API paths keep the JSON
//! body that `AppError` produced.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::HttpResponse;
use serde::Serialize;

use super::page::Page;
use crate::error::AppError;

/// Paths answered in JSON or plain text, whatever happens.
pub fn is_machine_path(path: &str) -> bool {
    path.starts_with("/api/")
        || path == "/healthz"
        || path == "/readyz"
        || path == "/metrics"
        || path.starts_with("/static/")
}

#[derive(Serialize)]
struct ErrorPage {
    status: u16,
    code: String,
    message: String,
}

pub fn render_error_page<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Only failures become error pages; a form shown again with its error keeps its page.
    if is_machine_path(res.request().path()) || res.response().error().is_none() {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let error = res.response().error().and_then(|e| e.as_error::<AppError>());
    let code = error.map_or("error", AppError::code).to_string();
    let fallback =
        error.map_or_else(|| status.canonical_reason().unwrap_or("error").to_string(), AppError::public_message);
    let html = Page::from_request(res.request()).and_then(|page| {
        let message = error.map_or_else(|| fallback.clone(), |e| page.error_text(e));
        page.render("pages/error", &page.t("title_error"), false, ErrorPage { status: status.as_u16(), code, message })
    });
    let body: BoxBody = match html {
        Ok(page) => page.into_body(),
        // The error page itself failed: say it plainly rather than fail twice.
        Err(_) => BoxBody::new(fallback),
    };
    let (req, _) = res.into_parts();
    let mut response = HttpResponse::with_body(status, body);
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    let res = ServiceResponse::new(req, response).map_into_boxed_body().map_into_right_body::<B>();
    Ok(ErrorHandlerResponse::Response(res))
}
