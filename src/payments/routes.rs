//! The sandbox gateway's hosted page, its script-friendly driver, and our webhook.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Outcome, PaymentGateway};
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::money::Money;
use crate::orders::status::PaymentStatus;
use crate::orders::{model as orders_model, service as orders_service};
use crate::web::auth::CurrentUser;
use crate::web::forms::CsrfForm;
use crate::web::page::{see_other, Page};
use crate::web::session;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(webhook).service(complete);
}

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(pay_page).service(pay_submit);
}

#[derive(Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// paid, failed, duplicate, already_settled or refunded_late_payment
    pub result: String,
}

/// The gateway's signed callback. Bad signatures are refused; a replay changes nothing.
#[utoipa::path(tag = "payments", request_body = super::CallbackEvent,
    params(("X-Sandbox-Signature" = String, Header, description = "t=<unix time>,v1=<hex HMAC-SHA256 of \"t.body\">")),
    responses((status = 200, body = WebhookAnswer), (status = 400, description = "invalid_signature, stale_callback")))]
#[post("/payments/sandbox/webhook")]
async fn webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<web::Json<WebhookAnswer>, AppError> {
    let signature = req.headers().get("x-sandbox-signature").and_then(|v| v.to_str().ok());
    let event = state.gateway.verify_callback(&body, signature, Utc::now().timestamp())?;
    let settings = state.order_settings();
    let result = state
        .db(move |conn| orders_service::apply_payment_event(conn, &settings, &event, Utc::now().naive_utc()))
        .await?;
    Ok(web::Json(WebhookAnswer { result: result.to_string() }))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// "succeeded" (default) or "failed"
    pub outcome: Option<Outcome>,
}

/// The payment's order, if the logged-in user is its buyer: (payment_id, amount, status, order_no).
async fn own_payment(
    state: &AppState,
    user_id: i64,
    payment_id: String,
) -> Result<(String, i64, String, String), AppError> {
    state
        .db(move |conn| {
            let (id, order_id, amount, status) = orders_model::payment(conn, &payment_id)?.ok_or(AppError::NotFound)?;
            let order = orders_model::order_by_id(conn, order_id)?;
            if order.buyer_id != user_id {
                return Err(AppError::NotFound);
            }
            Ok((id, amount, status, order.order_no))
        })
        .await
}

/// Drives the sandbox as the buyer would on its page: the sandbox then calls our webhook.
#[utoipa::path(tag = "payments", params(("payment_id" = String, Path)), request_body = CompleteRequest,
    responses((status = 200, body = WebhookAnswer), (status = 404), (status = 409, description = "payment_settled")))]
#[post("/payments/sandbox/{payment_id}/complete")]
async fn complete(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let request: CompleteRequest = crate::api::optional_json(&body)?;
    let (payment_id, amount, status, order_no) = own_payment(&state, user.id, path.into_inner()).await?;
    // A cancelled order's payment can still be paid at the gateway, as with a real one: the
    // store then refunds it (`late_payment`).
    if !payable(&status) {
        return Err(AppError::conflict("payment_settled", "this payment is already settled / 该笔支付已完成"));
    }
    let outcome = request.outcome.unwrap_or(Outcome::Succeeded);
    state.gateway.send_callback(&payment_id, amount, outcome).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "payment_id": payment_id, "order_no": order_no, "outcome": outcome })))
}

/// Whether the gateway would still take this payment: waiting, or cancelled by the store
/// (the gateway does not know that).
fn payable(status: &str) -> bool {
    status == PaymentStatus::Pending.as_str() || status == PaymentStatus::Cancelled.as_str()
}

#[derive(Serialize)]
struct PaymentView {
    payment_id: String,
    order_no: String,
    amount: Money,
    status: String,
}

#[derive(Serialize)]
struct PayData {
    payment: PaymentView,
}

#[get("/pay/sandbox/{payment_id}")]
async fn pay_page(page: Page, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let Some(user) = page.user.clone() else {
        return Ok(see_other("/login?next=/orders"));
    };
    let (payment_id, amount, status, order_no) = own_payment(&page.state, user.id, path.into_inner()).await?;
    let payment = PaymentView { payment_id, order_no, amount: Money::from_fen(amount), status };
    page.render("pages/pay_sandbox", &page.t("title_pay"), true, PayData { payment })
}

#[derive(Deserialize)]
struct PayForm {
    outcome: String,
}

#[post("/pay/sandbox/{payment_id}")]
async fn pay_submit(page: Page, path: web::Path<String>, form: CsrfForm<PayForm>) -> Result<HttpResponse, AppError> {
    let CsrfForm(form) = form;
    let user = session::require_user(&page.session)?;
    let outcome = match form.outcome.as_str() {
        "succeed" => Outcome::Succeeded,
        "fail" => Outcome::Failed,
        _ => return Err(AppError::bad_request("invalid_form", "outcome must be succeed or fail")),
    };
    let (payment_id, amount, status, order_no) = own_payment(&page.state, user.id, path.into_inner()).await?;
    if payable(&status) {
        page.state.gateway.send_callback(&payment_id, amount, outcome).await?;
    }
    let notice = if outcome == Outcome::Succeeded { "?notice=paid" } else { "" };
    Ok(see_other(&format!("/orders/{order_no}{notice}")))
}
