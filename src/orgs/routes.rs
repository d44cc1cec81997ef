//! Organisation buying: the `/api/v1/orgs/…` API, approvals, and the union and canteen portals.

use actix_session::Session;
use actix_web::{delete, get, post, put, web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::distribution::{self, Preview, UploadError, UploadOptions};
use super::members::{self, GrantsAnswer, InviteAnswer, InviteInfo, MemberView};
use super::service::{self, BudgetRequest, BudgetView, OrgOrderView, OrgView, PendingApproval};
use super::{account, canteen};
use crate::accounts::model::Role;
use crate::accounts::routes::require_me;
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::orders::service::{Buyer, OrderView};
use crate::web::auth::CurrentUser;
use crate::web::download;
use crate::web::list::Items;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_org)
        .service(api_org_orders)
        .service(api_org_order)
        .service(api_approvals)
        .service(api_approve)
        .service(api_reject)
        .service(api_distribution_preview)
        .service(api_distribution_confirm)
        .service(api_schedules)
        .service(api_create_schedule)
        .service(api_edit_schedule)
        .service(api_pause_schedule)
        .service(api_resume_schedule)
        .service(api_cancel_schedule)
        .service(api_canteen_products)
        .service(api_statement)
        .service(api_members)
        .service(api_invite)
        .service(api_import_members)
        .service(api_remove_member)
        .service(api_accept_invite)
        .service(api_points_grants)
        .service(api_list_points_grants)
        .service(api_approve_points_grant)
        .service(api_reject_points_grant)
        .service(api_set_budget);
}

pub fn pages(cfg: &mut web::ServiceConfig) {
    super::pages::configure(cfg);
}

/// An organisation: members see it; its admins also see `budget_total`, `budget_used`,
/// `approval_threshold`. Non-members get 404.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), responses((status = 200, body = OrgView), (status = 401), (status = 404)))]
#[get("/orgs/{id}")]
async fn api_org(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
) -> Result<web::Json<OrgView>, AppError> {
    let id = path.into_inner();
    Ok(web::Json(state.db(move |conn| service::view(conn, user.id, id)).await?))
}

/// The organisation's orders (its admins only; others 403), newest first.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), responses((status = 200, body = Items<OrgOrderView>), (status = 401), (status = 403), (status = 404)))]
#[get("/orgs/{id}/orders")]
async fn api_org_orders(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
) -> Result<web::Json<Items<OrgOrderView>>, AppError> {
    let id = path.into_inner();
    let items = state.db(move |conn| service::orders_of(conn, user.id, id)).await?;
    Ok(web::Json(Items { items }))
}

/// One of the organisation's orders with its parcels; a shipped distribution parcel carries
/// `receipt_url`, the link its recipient opens to confirm receipt. 404 when it belongs to
/// another organisation.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("order_no" = String, Path)), responses((status = 200, body = OrgOrderView), (status = 403), (status = 404)))]
#[get("/orgs/{id}/orders/{order_no}")]
async fn api_org_order(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(i64, String)>,
) -> Result<web::Json<OrgOrderView>, AppError> {
    let (id, no) = path.into_inner();
    let (key, base) = (state.receipt_key.clone(), state.config.public_url.clone());
    let view = state
        .db(move |conn| {
            let mut view = service::order_of(conn, user.id, id, &no)?;
            // Its parcels, with each distribution parcel's receipt link to forward to its recipient.
            view.order = crate::aftersales::delivery::with_parts(conn, view.order)?;
            crate::aftersales::delivery::with_receipt_links(&mut view.order.parts, &key, &base)?;
            Ok(view)
        })
        .await?;
    Ok(web::Json(view))
}

/// Orders of the union waiting for approval.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), responses((status = 200, body = Items<PendingApproval>), (status = 403), (status = 404)))]
#[get("/orgs/{id}/approvals")]
async fn api_approvals(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
) -> Result<web::Json<Items<PendingApproval>>, AppError> {
    let id = path.into_inner();
    let items = state.db(move |conn| service::pending_approvals(conn, user.id, id)).await?;
    Ok(web::Json(Items { items }))
}

fn org_view_of(
    user_id: i64,
    order: crate::orders::model::OrderRow,
) -> impl FnOnce(&mut crate::db::AnyConnection) -> Result<OrgOrderView, AppError> {
    move |conn| {
        let org_id = order.org_id.ok_or(AppError::NotFound)?;
        service::order_of(conn, user_id, org_id, &order.order_no)
    }
}

/// Approves an order awaiting approval: another admin of the same union; it is then paid on
/// account. The placer gets 403; anyone not an admin of that union 404.
#[utoipa::path(tag = "orgs", params(("order_no" = String, Path)), responses((status = 200, body = OrgOrderView), (status = 403), (status = 404), (status = 409, description = "invalid_state, no_approval_pending")))]
#[post("/orders/{order_no}/approve")]
async fn api_approve(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
) -> Result<web::Json<OrgOrderView>, AppError> {
    let no = path.into_inner();
    let settings = state.order_settings();
    let order = state.db(move |conn| account::approve(conn, &settings, user.id, &no, Utc::now().naive_utc())).await?;
    let view = org_view_of(user.id, order);
    Ok(web::Json(state.db(view).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    #[serde(default)]
    pub reason: String,
}

/// Rejects an order awaiting approval, with a reason: stock and budget are released.
#[utoipa::path(tag = "orgs", params(("order_no" = String, Path)), request_body = RejectRequest, responses((status = 200, body = OrgOrderView), (status = 400, description = "reason_required"), (status = 403), (status = 404), (status = 409)))]
#[post("/orders/{order_no}/reject")]
async fn api_reject(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<OrgOrderView>, AppError> {
    let request: RejectRequest = crate::api::optional_json(&body)?;
    let no = path.into_inner();
    let settings = state.order_settings();
    let order = state
        .db(move |conn| account::reject(conn, &settings, user.id, &no, &request.reason, Utc::now().naive_utc()))
        .await?;
    let view = org_view_of(user.id, order);
    Ok(web::Json(state.db(view).await?))
}

#[derive(Serialize)]
struct RowsBody<'a> {
    error: RowsDetail<'a>,
}

#[derive(Serialize)]
struct RowsDetail<'a> {
    code: &'static str,
    message: &'static str,
    rows: &'a [distribution::RowError],
}

/// 422 `invalid_rows` with every bad row inside the error object.
pub fn upload_error(e: UploadError) -> Result<HttpResponse, AppError> {
    match e {
        UploadError::App(e) => Err(e),
        UploadError::Rows(rows) => Ok(HttpResponse::UnprocessableEntity().json(RowsBody {
            error: RowsDetail {
                code: "invalid_rows",
                message: "some rows are invalid; nothing was imported / 部分行有误，未导入任何数据",
                rows: &rows,
            },
        })),
    }
}

/// Checks a recipients CSV (`text/csv`: name, mobile, address[, sku, quantity]) and returns the
/// totals; 422 `invalid_rows` lists every bad row (numbered from 1 after the header).
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("sku" = Option<String>, Query), ("quantity" = Option<i64>, Query), ("campaign_id" = Option<i64>, Query)),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = Preview), (status = 400, description = "invalid_csv"), (status = 403), (status = 422, description = "invalid_rows")))]
#[post("/orgs/{id}/distributions/preview")]
async fn api_distribution_preview(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
    query: web::Query<UploadOptions>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let options = query.into_inner();
    let result = state
        .db(move |conn| Ok(distribution::preview(conn, user.id, id, &body, &options, Utc::now().naive_utc())))
        .await?;
    match result {
        Ok(preview) => Ok(HttpResponse::Ok().json(preview)),
        Err(e) => upload_error(e),
    }
}

/// Checks the same CSV again and places one order on the union's account, a line per
/// recipient and SKU (201). Nothing is written unless the whole file is valid.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("sku" = Option<String>, Query), ("quantity" = Option<i64>, Query), ("campaign_id" = Option<i64>, Query)),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = OrderView), (status = 403), (status = 409, description = "budget_exceeded, out_of_stock"), (status = 422, description = "invalid_rows")))]
#[post("/orgs/{id}/distributions")]
async fn api_distribution_confirm(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    query: web::Query<UploadOptions>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let me = require_me(&state, &session).await?;
    let buyer = Buyer::from(me);
    let id = path.into_inner();
    let options = query.into_inner();
    let settings = state.order_settings();
    let result = state
        .db(move |conn| Ok(distribution::confirm(conn, &settings, &buyer, id, &body, &options, Utc::now().naive_utc())))
        .await?;
    match result {
        Ok(view) => Ok(HttpResponse::Created().json(view)),
        Err(e) => upload_error(e),
    }
}

/// The canteen's recurring orders and their recent runs (placed or failed).
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), responses((status = 200, body = canteen::SchedulesView), (status = 403), (status = 404)))]
#[get("/orgs/{id}/schedules")]
async fn api_schedules(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
) -> Result<web::Json<canteen::SchedulesView>, AppError> {
    let id = path.into_inner();
    Ok(web::Json(state.db(move |conn| canteen::schedules(conn, user.id, id)).await?))
}

/// Creates a weekly or fortnightly schedule: the job places each order `lead_days` before its
/// delivery date until `end_date`.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), request_body = canteen::ScheduleRequest,
    responses((status = 201, body = canteen::ScheduleView), (status = 400, description = "invalid_schedule"), (status = 403), (status = 422, description = "unknown_sku")))]
#[post("/orgs/{id}/schedules")]
async fn api_create_schedule(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
    body: web::Json<canteen::ScheduleRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let request = body.into_inner();
    let view =
        state.db(move |conn| canteen::create_schedule(conn, user.id, id, &request, Utc::now().naive_utc())).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Rewrites a schedule's terms (cadence, next delivery as `first_delivery`, end date, lead days,
/// lines, address, campaign). A paused schedule stays paused; a cancelled one is 409.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("schedule_id" = i64, Path)), request_body = canteen::ScheduleRequest,
    responses((status = 200, body = canteen::ScheduleView), (status = 400, description = "invalid_schedule"), (status = 403), (status = 404), (status = 409, description = "invalid_state"), (status = 422, description = "unknown_sku")))]
#[put("/orgs/{id}/schedules/{schedule_id}")]
async fn api_edit_schedule(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(i64, i64)>,
    body: web::Json<canteen::ScheduleRequest>,
) -> Result<web::Json<canteen::ScheduleView>, AppError> {
    let (id, schedule_id) = path.into_inner();
    let request = body.into_inner();
    let now = Utc::now().naive_utc();
    Ok(web::Json(state.db(move |conn| canteen::edit_schedule(conn, user.id, id, schedule_id, &request, now)).await?))
}

async fn schedule_action(
    state: &AppState,
    user_id: i64,
    path: (i64, i64),
    action: canteen::ScheduleAction,
) -> Result<web::Json<canteen::ScheduleView>, AppError> {
    let (id, schedule_id) = path;
    let now = Utc::now().naive_utc();
    Ok(web::Json(state.db(move |conn| canteen::change_schedule(conn, user_id, id, schedule_id, action, now)).await?))
}

/// Pauses an active schedule: the job places nothing until it is resumed.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("schedule_id" = i64, Path)),
    responses((status = 200, body = canteen::ScheduleView), (status = 403), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/orgs/{id}/schedules/{schedule_id}/pause")]
async fn api_pause_schedule(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(i64, i64)>,
) -> Result<web::Json<canteen::ScheduleView>, AppError> {
    schedule_action(&state, user.id, path.into_inner(), canteen::ScheduleAction::Pause).await
}

/// Resumes a paused schedule from its first delivery date that is not in the past.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("schedule_id" = i64, Path)),
    responses((status = 200, body = canteen::ScheduleView), (status = 403), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/orgs/{id}/schedules/{schedule_id}/resume")]
async fn api_resume_schedule(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(i64, i64)>,
) -> Result<web::Json<canteen::ScheduleView>, AppError> {
    schedule_action(&state, user.id, path.into_inner(), canteen::ScheduleAction::Resume).await
}

/// Cancels an active or paused schedule for good.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("schedule_id" = i64, Path)),
    responses((status = 200, body = canteen::ScheduleView), (status = 403), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/orgs/{id}/schedules/{schedule_id}/cancel")]
async fn api_cancel_schedule(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(i64, i64)>,
) -> Result<web::Json<canteen::ScheduleView>, AppError> {
    schedule_action(&state, user.id, path.into_inner(), canteen::ScheduleAction::Cancel).await
}

/// What a canteen can order, priced as its orders are (list price, tiers, the year-round
/// campaign's price); its admins only.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), responses((status = 200, body = Items<canteen::PickerItem>), (status = 403), (status = 404)))]
#[get("/orgs/{id}/canteen-products")]
async fn api_canteen_products(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
) -> Result<web::Json<Items<canteen::PickerItem>>, AppError> {
    let id = path.into_inner();
    let items = state
        .db(move |conn| {
            canteen::require_canteen(conn, user.id, id)?;
            canteen::picker(conn)
        })
        .await?;
    Ok(web::Json(Items { items }))
}

#[derive(Debug, Deserialize)]
pub struct StatementQuery {
    pub month: String,
    pub format: Option<String>,
}

/// A canteen's monthly statement (对账单): `?month=2026-11&format=json|csv|xlsx`.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("month" = String, Query), ("format" = Option<String>, Query)),
    responses((status = 200, body = canteen::Statement), (status = 400, description = "invalid_month"), (status = 403), (status = 404)))]
#[get("/orgs/{id}/statements")]
async fn api_statement(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
    query: web::Query<StatementQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let month = canteen::parse_month(&query.month)?;
    let statement = state.db(move |conn| crate::invoices::statements::statement(conn, user.id, id, month)).await?;
    statement_response(&statement, query.format.as_deref().unwrap_or("json"), state.config.timezone)
}

pub fn statement_response(
    statement: &canteen::Statement,
    format: &str,
    zone: chrono_tz::Tz,
) -> Result<HttpResponse, AppError> {
    let name = format!("statement-{}-{}", statement.org_slug, statement.month);
    match format {
        "json" => Ok(HttpResponse::Ok().json(statement)),
        "csv" => Ok(download::csv(&format!("{name}.csv"), canteen::statement_csv(statement, zone)?)),
        "xlsx" => Ok(download::xlsx(&format!("{name}.xlsx"), canteen::statement_xlsx(statement, zone)?)),
        _ => Err(AppError::bad_request("invalid_format", "format is json, csv or xlsx / 格式须为 json、csv 或 xlsx")),
    }
}

/// The organisation's members (its admins only).
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), responses((status = 200, body = Items<MemberView>), (status = 403), (status = 404)))]
#[get("/orgs/{id}/members")]
async fn api_members(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
) -> Result<web::Json<Items<MemberView>>, AppError> {
    let id = path.into_inner();
    let items = state.db(move |conn| members::members(conn, user.id, id)).await?;
    Ok(web::Json(Items { items }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub email: String,
}

/// Invites someone by email: a single-use link valid for 7 days is mailed to them.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), request_body = InviteRequest, responses((status = 201, body = InviteAnswer), (status = 400), (status = 403), (status = 404)))]
#[post("/orgs/{id}/invites")]
async fn api_invite(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
    body: web::Json<InviteRequest>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let email = crate::accounts::service::normalise_email(&body.email)?;
    let public_url = state.config.public_url.clone();
    let answer =
        state.db(move |conn| members::invite(conn, user.id, id, &[email], &public_url, Utc::now().naive_utc())).await?;
    Ok(HttpResponse::Created().json(answer))
}

/// Imports employees from a CSV (`text/csv` with an `email` column): every row is checked
/// first (422 `invalid_rows`), then each is invited.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = InviteAnswer), (status = 403), (status = 422, description = "invalid_rows")))]
#[post("/orgs/{id}/members/import")]
async fn api_import_members(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let public_url = state.config.public_url.clone();
    let result = state
        .db(move |conn| Ok(members::import(conn, user.id, id, &body, &public_url, Utc::now().naive_utc())))
        .await?;
    match result {
        Ok(answer) => Ok(HttpResponse::Created().json(answer)),
        Err(e) => upload_error(e),
    }
}

/// Removes a member (not oneself).
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("user_id" = i64, Path)), responses((status = 204), (status = 403), (status = 404), (status = 422, description = "cannot_remove_self")))]
#[delete("/orgs/{id}/members/{user_id}")]
async fn api_remove_member(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (id, member) = path.into_inner();
    state.db(move |conn| members::remove(conn, user.id, id, member)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Accepts an invite: the logged-in user must own the invited address; the link works once.
#[utoipa::path(tag = "orgs", params(("token" = String, Path)), responses((status = 200, body = InviteInfo), (status = 401), (status = 403), (status = 404)))]
#[post("/invites/{token}/accept")]
async fn api_accept_invite(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
) -> Result<web::Json<InviteInfo>, AppError> {
    let token = path.into_inner();
    Ok(web::Json(state.db(move |conn| members::accept(conn, user.id, &token, Utc::now().naive_utc())).await?))
}

/// Grants welfare points in bulk from a CSV (`email, points, expires, reason`): each row a
/// ledger lot, each member mailed; nothing is granted unless every row is valid. The points'
/// value at the exchange rate is drawn from the welfare budget and shows in the statement.
/// No admin grants to themselves (403). Above the approval threshold the grant waits (202,
/// `status: pending`) for another admin: `POST /orgs/{id}/points-grants/{grant_id}/approve`.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = GrantsAnswer), (status = 202, body = GrantsAnswer, description = "pending approval"), (status = 403), (status = 409, description = "budget_exceeded"), (status = 422, description = "invalid_rows")))]
#[post("/orgs/{id}/points-grants")]
async fn api_points_grants(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let public_url = state.config.public_url.clone();
    let rate = state.config.exchange_rate;
    let result = state
        .db(move |conn| Ok(members::grant_points(conn, user.id, id, &body, &public_url, rate, Utc::now().naive_utc())))
        .await?;
    match result {
        Ok(answer) if answer.status == "pending" => Ok(HttpResponse::Accepted().json(answer)),
        Ok(answer) => Ok(HttpResponse::Created().json(answer)),
        Err(e) => upload_error(e),
    }
}

/// The organisation's welfare points grants, newest first (its admins).
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), responses((status = 200, body = [members::OrgGrantView]), (status = 403), (status = 404)))]
#[get("/orgs/{id}/points-grants")]
async fn api_list_points_grants(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
) -> Result<web::Json<Vec<members::OrgGrantView>>, AppError> {
    let id = path.into_inner();
    Ok(web::Json(state.db(move |conn| members::list_grants(conn, user.id, id)).await?))
}

async fn decide_points_grant(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(i64, i64)>,
    approve: bool,
) -> Result<web::Json<members::OrgGrantView>, AppError> {
    let (id, grant_id) = path.into_inner();
    let public_url = state.config.public_url.clone();
    Ok(web::Json(
        state
            .db(move |conn| {
                members::decide_grant(conn, user.id, id, grant_id, approve, &public_url, Utc::now().naive_utc())
            })
            .await?,
    ))
}

/// Another admin approves a waiting points grant: the points are granted and mailed.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("grant_id" = i64, Path)), responses((status = 200, body = members::OrgGrantView), (status = 403, description = "the admin who asked"), (status = 404), (status = 409, description = "not_pending")))]
#[post("/orgs/{id}/points-grants/{grant_id}/approve")]
async fn api_approve_points_grant(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, i64)>,
) -> Result<web::Json<members::OrgGrantView>, AppError> {
    decide_points_grant(state, user, path, true).await
}

/// Another admin rejects a waiting points grant: the budget it held is given back.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("grant_id" = i64, Path)), responses((status = 200, body = members::OrgGrantView), (status = 403), (status = 404), (status = 409, description = "not_pending")))]
#[post("/orgs/{id}/points-grants/{grant_id}/reject")]
async fn api_reject_points_grant(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, i64)>,
) -> Result<web::Json<members::OrgGrantView>, AppError> {
    decide_points_grant(state, user, path, false).await
}

/// Sets a union's or canteen's welfare budget for a period (platform admins, or admins of its
/// company). The total may not go below what is already used (409 `budget_below_used`).
#[utoipa::path(tag = "orgs", params(("id" = i64, Path)), request_body = BudgetRequest,
    responses((status = 200, body = BudgetView), (status = 400, description = "invalid_budget"), (status = 403), (status = 404), (status = 409, description = "budget_below_used")))]
#[post("/orgs/{id}/budget")]
async fn api_set_budget(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<BudgetRequest>,
) -> Result<web::Json<BudgetView>, AppError> {
    let me = require_me(&state, &session).await?;
    let admin = me.has_role(Role::PlatformAdmin);
    let id = path.into_inner();
    let request = body.into_inner();
    Ok(web::Json(state.db(move |conn| service::set_budget(conn, me.id, admin, id, &request)).await?))
}
