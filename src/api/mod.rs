//! The JSON API under `/api/v1`, its OpenAPI document, and how malformed input is answered.

use actix_web::{error::JsonPayloadError, get, web, HttpResponse};
use utoipa::OpenApi;

use crate::error::AppError;
use crate::{accounts, catalog, coop, credits, donations, orders, orgs, payments, points};

#[derive(OpenApi)]
#[openapi(
    info(title = "Aidmart API", description = "Consumer-assistance marketplace (消费帮扶). Money is a string in yuan (\"39.90\"); points are integers. Errors are {\"error\":{\"code\",\"message\"}}."),
    servers((url = "/api/v1")),
    paths(
        catalog::routes::list_counties,
        catalog::routes::list_products,
        catalog::routes::get_product,
        catalog::routes::list_campaigns,
        accounts::routes::api_login,
        accounts::routes::api_logout,
        accounts::routes::api_me,
        accounts::routes::api_admin_users,
        orders::routes::api_place,
        orders::routes::api_list,
        orders::routes::api_get,
        orders::routes::api_cancel,
        orders::routes::api_refund,
        payments::routes::webhook,
        payments::routes::complete,
        points::routes::api_grant,
        credits::routes::api_ledger,
        credits::routes::api_ledger_entry,
        credits::routes::api_verify,
        credits::routes::api_checkpoints,
        credits::routes::api_campaign,
        credits::routes::api_charity_hours,
        donations::routes::api_projects,
        donations::routes::api_donate,
        coop::routes::api_skus, coop::routes::api_stock, coop::routes::api_history, coop::routes::api_bulk, coop::routes::api_pending, coop::routes::api_pick_list, coop::routes::api_ship, coop::routes::api_ship_bulk, coop::routes::api_sales, coop::routes::api_create_product, coop::routes::api_product, coop::routes::api_update_product, coop::routes::api_create_sku, coop::routes::api_update_sku, coop::routes::api_upload_image,
        orgs::routes::api_org,
        orgs::routes::api_org_orders,
        orgs::routes::api_org_order,
        orgs::routes::api_approvals,
        orgs::routes::api_approve,
        orgs::routes::api_reject,
        orgs::routes::api_distribution_preview,
        orgs::routes::api_distribution_confirm,
        orgs::routes::api_schedules,
        orgs::routes::api_create_schedule,
        orgs::routes::api_statement,
        orgs::routes::api_members,
        orgs::routes::api_invite,
        orgs::routes::api_import_members,
        orgs::routes::api_remove_member,
        orgs::routes::api_accept_invite,
        orgs::routes::api_points_grants,
        orgs::routes::api_list_points_grants,
        orgs::routes::api_approve_points_grant,
        orgs::routes::api_reject_points_grant,
        points::routes::api_list_grants,
        accounts::routes::api_register,
        accounts::routes::api_logout_everywhere,
        orgs::routes::api_set_budget,
        openapi_json,
    )
)]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .configure(catalog::routes::api)
            .configure(accounts::routes::api)
            .configure(orders::routes::api)
            .configure(payments::routes::api)
            .configure(points::routes::api)
            .configure(credits::routes::api)
            .configure(donations::routes::api)
            .configure(coop::routes::api)
            .configure(orgs::routes::api)
            .service(openapi_json)
            .default_service(web::to(|| async { Err::<HttpResponse, _>(AppError::NotFound) })),
    );
}

/// This document.
#[utoipa::path(tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document")))]
#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
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
