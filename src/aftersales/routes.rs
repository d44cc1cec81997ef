//! The API of after the parcel leaves: receipt per parcel, photos, after-sales cases for the
//! buyer, the cooperative and the platform admin, and the admin's dispute refund.

use actix_session::Session;
use actix_web::{get, post, web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::delivery::{self, ReceiptRequest};
use super::service::{
    self, AcceptRequest, CaseRequest, CaseView, DecideRequest, RejectRequest, ReturnShipment, Windows,
};
use crate::accounts::model::Role;
use crate::accounts::routes::require_role;
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::money::Money;
use crate::orders::service::{PartView, RefundRequest, RefundView};
use crate::web::auth::CurrentUser;
use crate::web::session;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_receipt)
        .service(api_photo)
        .service(api_open)
        .service(api_case)
        .service(api_return)
        .service(api_escalate)
        .service(api_coop_queue)
        .service(api_accept)
        .service(api_reject)
        .service(api_confirm_return)
        .service(api_admin_queue)
        .service(api_decide)
        .service(api_admin_refund);
}

fn now() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

fn windows(state: &AppState) -> Windows {
    Windows::of(&state.config)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StatusQuery {
    /// One of the case states (`requested`, `escalated`, …); absent: all.
    pub status: Option<String>,
}

/// Confirms receipt of a parcel (确认收货 / 验收), optionally with the quantities received: a
/// short delivery opens a `refund_only` case for the difference. Repeated: 200, no change.
#[utoipa::path(tag = "orders", params(("order_no" = String, Path), ("part_id" = i64, Path)), request_body = ReceiptRequest,
    responses((status = 200, body = PartView), (status = 401), (status = 404), (status = 422, description = "invalid_quantity")))]
#[post("/orders/{order_no}/parts/{part_id}/receipt")]
async fn api_receipt(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, i64)>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&session)?;
    let request: ReceiptRequest = crate::api::optional_json(&body)?;
    let (no, part) = path.into_inner();
    let (settings, w) = (state.order_settings(), windows(&state));
    let view = state.db(move |conn| delivery::receipt(conn, &settings, user.id, &no, part, &request, w, now())).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PhotoView {
    /// The name to give in `photos` of a case or a review.
    pub name: String,
    pub url: String,
}

/// Uploads a photo (JPEG, PNG or WebP, at most 2 MiB, checked as an image) for an after-sales
/// case or a review; answers its name.
#[utoipa::path(tag = "orders", request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 201, body = PhotoView), (status = 401), (status = 422, description = "unsupported_image, image_too_large")))]
#[post("/photos")]
async fn api_photo(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let data = crate::coop::routes::read_capped(payload).await?;
    let dir = crate::coop::routes::images_dir(&state);
    let name = state.db(move |conn| service::add_photo(conn, user.id, &data, &dir, now())).await?;
    Ok(HttpResponse::Created().json(PhotoView { url: format!("/images/{name}"), name }))
}

/// Opens an after-sales case for shipped or received lines.
#[utoipa::path(tag = "orders", params(("order_no" = String, Path)), request_body = CaseRequest,
    responses((status = 201, body = CaseView), (status = 400, description = "invalid_type, invalid_reason, invalid_text"), (status = 401), (status = 404),
        (status = 409, description = "not_shipped, window_closed"), (status = 422, description = "invalid_quantity, invalid_amount, unknown_photo, too_many_photos")))]
#[post("/orders/{order_no}/after-sales")]
async fn api_open(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
    body: web::Json<CaseRequest>,
) -> Result<HttpResponse, AppError> {
    let no = path.into_inner();
    let request = body.into_inner();
    let (settings, w) = (state.order_settings(), windows(&state));
    let view = state.db(move |conn| service::open(conn, &settings, user.id, &no, &request, w, now())).await?;
    Ok(HttpResponse::Created().json(view))
}

/// One case of one of the buyer's orders, with its history.
#[utoipa::path(tag = "orders", params(("order_no" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = CaseView), (status = 401), (status = 404)))]
#[get("/orders/{order_no}/after-sales/{id}")]
async fn api_case(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(String, i64)>,
) -> Result<web::Json<CaseView>, AppError> {
    let (no, id) = path.into_inner();
    Ok(web::Json(state.db(move |conn| service::buyer_view(conn, user.id, &no, id)).await?))
}

/// The buyer ships the goods of an accepted `return_refund` back.
#[utoipa::path(tag = "orders", params(("order_no" = String, Path), ("id" = i64, Path)), request_body = ReturnShipment,
    responses((status = 200, body = CaseView), (status = 400, description = "invalid_carrier, invalid_tracking_no"), (status = 401), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/orders/{order_no}/after-sales/{id}/return-shipment")]
async fn api_return(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(String, i64)>,
    body: web::Json<ReturnShipment>,
) -> Result<web::Json<CaseView>, AppError> {
    let (no, id) = path.into_inner();
    let request = body.into_inner();
    let settings = state.order_settings();
    let view =
        state.db(move |conn| service::return_shipment(conn, &settings, user.id, &no, id, &request, now())).await?;
    Ok(web::Json(view))
}

/// A rejected buyer asks the platform to decide.
#[utoipa::path(tag = "orders", params(("order_no" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = CaseView), (status = 401), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/orders/{order_no}/after-sales/{id}/escalate")]
async fn api_escalate(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(String, i64)>,
) -> Result<web::Json<CaseView>, AppError> {
    let (no, id) = path.into_inner();
    let settings = state.order_settings();
    Ok(web::Json(state.db(move |conn| service::escalate(conn, &settings, user.id, &no, id, now())).await?))
}

/// The cooperative's after-sales queue, newest first.
#[utoipa::path(tag = "coop", params(StatusQuery), responses((status = 200, body = [CaseView]), (status = 400, description = "invalid_status"), (status = 401), (status = 403)))]
#[get("/coop/after-sales")]
async fn api_coop_queue(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<StatusQuery>,
) -> Result<web::Json<Vec<CaseView>>, AppError> {
    let m = crate::coop::routes::manager(&state, &session).await?;
    let status = query.into_inner().status;
    Ok(web::Json(state.db(move |conn| service::coop_queue(conn, &m, status.as_deref())).await?))
}

/// Accepts a case: `refund_only` is refunded at once (optionally a lower amount),
/// `return_refund` waits for the goods, `replacement` joins the shipping queue.
#[utoipa::path(tag = "coop", params(("id" = i64, Path)), request_body = AcceptRequest,
    responses((status = 200, body = CaseView), (status = 401), (status = 403), (status = 404), (status = 409, description = "invalid_state"), (status = 422, description = "invalid_amount")))]
#[post("/coop/after-sales/{id}/accept")]
async fn api_accept(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<web::Json<CaseView>, AppError> {
    let m = crate::coop::routes::manager(&state, &session).await?;
    let request: AcceptRequest = crate::api::optional_json(&body)?;
    let id = path.into_inner();
    let settings = state.order_settings();
    Ok(web::Json(state.db(move |conn| service::accept(conn, &settings, &m, id, &request, now())).await?))
}

/// Rejects a case with a reply; the buyer may escalate.
#[utoipa::path(tag = "coop", params(("id" = i64, Path)), request_body = RejectRequest,
    responses((status = 200, body = CaseView), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/coop/after-sales/{id}/reject")]
async fn api_reject(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<RejectRequest>,
) -> Result<web::Json<CaseView>, AppError> {
    let m = crate::coop::routes::manager(&state, &session).await?;
    let request = body.into_inner();
    let id = path.into_inner();
    let settings = state.order_settings();
    Ok(web::Json(state.db(move |conn| service::reject(conn, &settings, &m, id, &request, now())).await?))
}

/// Confirms the goods of a `return_refund` came back: the units are refunded.
#[utoipa::path(tag = "coop", params(("id" = i64, Path)),
    responses((status = 200, body = CaseView), (status = 401), (status = 403), (status = 404), (status = 409, description = "invalid_state, not_returned")))]
#[post("/coop/after-sales/{id}/confirm-return")]
async fn api_confirm_return(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
) -> Result<web::Json<CaseView>, AppError> {
    let m = crate::coop::routes::manager(&state, &session).await?;
    let id = path.into_inner();
    let settings = state.order_settings();
    Ok(web::Json(state.db(move |conn| service::confirm_return(conn, &settings, &m, id, now())).await?))
}

/// Cases for the platform (`?status=escalated`: the escalation queue).
#[utoipa::path(tag = "admin", params(StatusQuery), responses((status = 200, body = [CaseView]), (status = 400), (status = 401), (status = 403)))]
#[get("/admin/after-sales")]
async fn api_admin_queue(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<StatusQuery>,
) -> Result<web::Json<Vec<CaseView>>, AppError> {
    require_role(&state, &session, Role::PlatformAdmin).await?;
    let status = query.into_inner().status;
    Ok(web::Json(state.db(move |conn| service::admin_queue(conn, status.as_deref())).await?))
}

/// Decides an escalated case: `refund` (the amount given, else what was asked) or `reject`.
#[utoipa::path(tag = "admin", params(("id" = i64, Path)), request_body = DecideRequest,
    responses((status = 200, body = CaseView), (status = 400, description = "invalid_decision, invalid_text"), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "invalid_state"), (status = 422, description = "invalid_amount")))]
#[post("/admin/after-sales/{id}/decide")]
async fn api_decide(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<DecideRequest>,
) -> Result<web::Json<CaseView>, AppError> {
    let admin = require_role(&state, &session, Role::PlatformAdmin).await?;
    let request = body.into_inner();
    let id = path.into_inner();
    let settings = state.order_settings();
    Ok(web::Json(state.db(move |conn| service::decide(conn, &settings, admin.id, id, &request, now())).await?))
}

/// A platform admin's refund of any paid order, shipped or not (disputes): the whole order
/// (empty body) or chosen lines and quantities.
#[utoipa::path(tag = "admin", params(("order_no" = String, Path)), request_body = RefundRequest,
    responses((status = 201, body = RefundView), (status = 401), (status = 403), (status = 404), (status = 409, description = "invalid_state"), (status = 422, description = "invalid_refund")))]
#[post("/admin/orders/{order_no}/refunds")]
async fn api_admin_refund(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    require_role(&state, &session, Role::PlatformAdmin).await?;
    let request: RefundRequest = crate::api::optional_json(&body)?;
    let settings = state.order_settings();
    let no = path.into_inner();
    let base = state.config.public_url.clone();
    let view = state
        .db(move |conn| {
            let (cash, points) = crate::orders::service::refund_by_admin(conn, &settings, &no, &request, now())?;
            let order = crate::orders::model::order_by_no(conn, &no)?.ok_or(AppError::NotFound)?;
            let url = move |id: &str| crate::orders::service::payment_url(&base, id);
            let view = crate::orders::service::view_of(conn, order, url)?;
            let view = delivery::with_parts(conn, view)?;
            Ok(RefundView { cash: Money::from_fen(cash), points, order: view })
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}
