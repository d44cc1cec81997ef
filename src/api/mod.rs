//! The JSON API under `/api/v1`, its OpenAPI document, and how malformed input is answered.

use actix_web::{error::JsonPayloadError, get, web, App, HttpResponse};
use std::sync::OnceLock;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::error::AppError;
use crate::{accounts, catalog, coop, credits, donations, orders, orgs, payments, points};

/// The document's header; its paths are collected from the routes themselves.
#[derive(OpenApi)]
#[openapi(info(
    title = "Aidmart API",
    description = "Consumer-assistance marketplace (消费帮扶). Money is a string in yuan (\"39.90\"); points are integers. Errors are {\"error\":{\"code\",\"message\"}}."
))]
pub struct ApiDoc;

/// Where an API endpoint is registered: one `service(handler)` call adds its route and its
/// OpenAPI path (from its `#[utoipa::path]`) together.
pub type ApiConfig<'a> = utoipa_actix_web::service_config::ServiceConfig<'a>;

/// Every API endpoint, under `/api/v1`.
pub fn routes(cfg: &mut ApiConfig) {
    cfg.service(
        utoipa_actix_web::scope("/api/v1")
            // actix tries routes in order, each path with a parameter a regex match: the flash
            // sale's buy route, pressed by thousands in a live stream's first second, goes first.
            .configure(crate::flash::routes::api)
            .configure(catalog::routes::api)
            .configure(accounts::routes::api)
            .configure(orders::routes::api)
            .configure(crate::cart::routes::api)
            .configure(payments::routes::api)
            .configure(points::routes::api)
            .configure(credits::routes::api)
            .configure(donations::routes::api)
            .configure(coop::routes::api)
            .configure(orgs::routes::api)
            .configure(crate::invoices::routes::api)
            .configure(crate::settlement::routes::api)
            .configure(crate::aftersales::routes::api)
            .configure(crate::reviews::routes::api)
            .configure(crate::draws::routes::api)
            .configure(crate::adoption::routes::api)
            .service(openapi_json)
            .default_service(web::to(|| async { Err::<HttpResponse, _>(AppError::NotFound) })),
    );
}

/// The OpenAPI document, collected once from the routes.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, api) = App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(routes).split_for_parts();
        match serde_json::to_value(&api) {
            Ok(mut doc) => {
                add_examples(&mut doc);
                doc.to_string()
            }
            Err(e) => format!("{{\"error\":\"{e}\"}}"),
        }
    })
}

/// Examples for the parameters that name demo data (the union is organisation 2, the first
/// product, SKU, campaign and ledger entry are 1), so that clients and fuzzers reach more than
/// "not found".
fn add_examples(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(serde_json::Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            let Some(parameters) = operation.get_mut("parameters").and_then(serde_json::Value::as_array_mut) else {
                continue;
            };
            for parameter in parameters {
                let name = parameter.get("name").and_then(serde_json::Value::as_str).unwrap_or_default();
                let example = match name {
                    "id" if path.starts_with("/api/v1/orgs/") => serde_json::json!(2),
                    "id" | "seq" | "grant_id" => serde_json::json!(1),
                    "user_id" => serde_json::json!(2),
                    "from" => serde_json::json!("2026-01-01"),
                    "to" => serde_json::json!("2027-12-31"),
                    "month" => serde_json::json!("2026-11"),
                    _ => continue,
                };
                if parameter.get("example").is_none() {
                    parameter["example"] = example;
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document")))]
#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document())
}

/// A JSON body that may be left out: empty means the type's default.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| AppError::bad_request("invalid_json", format!("{e} / 请求格式错误")))
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(256 * 1024).error_handler(|err, _| {
        let message = match &err {
            JsonPayloadError::ContentType => return AppError::UnsupportedMediaType("application/json").into(),
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                "the body is too large / 请求体过大".to_string()
            }
            other => format!("the body is not valid JSON for this request: {other} / 请求体格式错误"),
        };
        AppError::bad_request("invalid_json", message).into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        AppError::bad_request("invalid_query", format!("the query string is malformed: {err} / 查询参数错误")).into()
    })
}

pub fn form_config() -> web::FormConfig {
    web::FormConfig::default().limit(64 * 1024).error_handler(|err, _| {
        AppError::bad_request("invalid_form", format!("the form is incomplete or malformed: {err} / 表单内容有误"))
            .into()
    })
}

pub fn path_config() -> web::PathConfig {
    // /products/abc names nothing that exists.
    web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into())
}
