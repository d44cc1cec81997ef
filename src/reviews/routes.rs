//! The reviews API: buyers write, cooperatives reply, platform admins hide. Reading is the
//! catalog's (`GET /api/v1/products/{id}/reviews`).

use actix_session::Session;
use actix_web::{post, web, HttpResponse};
use chrono::Utc;

use super::service::{self, HideRequest, ReplyRequest, ReviewAnswer, ReviewRequest};
use crate::accounts::model::Role;
use crate::accounts::routes::require_role;
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::web::auth::CurrentUser;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_write).service(api_reply).service(api_hide);
}

/// Reviews one line of a received order (once).
#[utoipa::path(tag = "orders", params(("order_no" = String, Path), ("line_id" = i64, Path)), request_body = ReviewRequest,
    responses((status = 201, body = ReviewAnswer), (status = 400, description = "invalid_stars, invalid_text"), (status = 401), (status = 404),
        (status = 409, description = "not_received, already_reviewed"), (status = 422, description = "unknown_photo, too_many_photos")))]
#[post("/orders/{order_no}/lines/{line_id}/review")]
async fn api_write(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(String, i64)>,
    body: web::Json<ReviewRequest>,
) -> Result<HttpResponse, AppError> {
    let (no, line) = path.into_inner();
    let request = body.into_inner();
    let answer =
        state.db(move |conn| service::write(conn, user.id, &no, line, &request, Utc::now().naive_utc())).await?;
    Ok(HttpResponse::Created().json(answer))
}

/// The cooperative of the reviewed product replies (once).
#[utoipa::path(tag = "coop", params(("id" = i64, Path)), request_body = ReplyRequest,
    responses((status = 204), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409, description = "already_replied")))]
#[post("/coop/reviews/{id}/reply")]
async fn api_reply(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<ReplyRequest>,
) -> Result<HttpResponse, AppError> {
    let m = crate::coop::routes::manager(&state, &session).await?;
    let (id, request) = (path.into_inner(), body.into_inner());
    state.db(move |conn| service::reply(conn, &m, id, &request, Utc::now().naive_utc())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Hides a review with a reason (platform admins; the review is kept).
#[utoipa::path(tag = "admin", params(("id" = i64, Path)), request_body = HideRequest,
    responses((status = 204), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409, description = "already_hidden")))]
#[post("/admin/reviews/{id}/hide")]
async fn api_hide(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<HideRequest>,
) -> Result<HttpResponse, AppError> {
    let admin = require_role(&state, &session, Role::PlatformAdmin).await?;
    let (id, request) = (path.into_inner(), body.into_inner());
    state.db(move |conn| service::hide(conn, admin.id, id, &request, Utc::now().naive_utc())).await?;
    Ok(HttpResponse::NoContent().finish())
}
