//! The order API and the order pages (the cart and checkout are in `cart::routes`).

use actix_session::Session;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::service::{self, OrderRequest, OrderView, Outcome, RefundRequest, RefundView};
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::money::Money;
use crate::web::auth::CurrentUser;
use crate::web::forms::CsrfForm;
use crate::web::list::Items;
use crate::web::page::{see_other, Page};
use crate::web::session;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_place)
        .service(api_list)
        .service(api_get)
        .service(api_cancel)
        .service(api_refund)
        .service(api_presale_cancel);
}

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(orders_page).service(order_page).service(order_cancel).service(order_presale_cancel);
}

/// Today in the store's time zone.
fn local_today(state: &AppState) -> chrono::NaiveDate {
    crate::web::time::local_date(state.config.timezone, Utc::now().naive_utc())
}

/// The session's account is gone or disabled: the session ends with this answer.
fn signed_out(session: &Session) -> AppError {
    session::log_out(session);
    AppError::Unauthenticated
}

fn payment_url(state: &AppState) -> impl Fn(&str) -> String + Send + 'static {
    let base = state.config.public_url.clone();
    move |id: &str| service::payment_url(&base, id)
}

/// Places an order. The server prices everything; send an `Idempotency-Key` header so a retry
/// returns the first answer instead of a second order.
#[utoipa::path(tag = "orders", request_body = OrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same body; 409 idempotency_conflict for another body")),
    responses((status = 201, body = OrderView), (status = 400, description = "invalid_json, invalid_quantity, invalid_address, invalid_points"),
        (status = 401, description = "unauthenticated"), (status = 409, description = "out_of_stock, idempotency_conflict"),
        (status = 422, description = "unknown_sku, insufficient_points, points_cap_exceeded, campaign_not_applicable")))]
#[post("/orders")]
async fn api_place(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&session)?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request("invalid_json", format!("the body is not JSON: {e}")))?;
    let request: OrderRequest = serde_json::from_value(value.clone())
        .map_err(|e| AppError::bad_request("invalid_json", format!("{e} / 请求格式错误")))?;
    let key = match req.headers().get("idempotency-key") {
        Some(v) => {
            let key = v.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= 200);
            Some(
                key.ok_or_else(|| {
                    AppError::bad_request(
                        "invalid_idempotency_key",
                        "Idempotency-Key must be 1 to 200 visible characters",
                    )
                })?
                .to_string(),
            )
        }
        None => None,
    };
    // serde_json keeps object keys sorted, so equal bodies hash equally whatever their order.
    let hash = hex::encode(Sha256::digest(value.to_string().as_bytes()));
    let settings = state.order_settings();
    let placed = state
        .db(move |conn| {
            // The buyer is read with the same connection as the order: one check-out, not two.
            let Some(buyer) = service::active_buyer(conn, user.id)? else {
                return Ok(None);
            };
            let key = key.as_deref().map(|k| (k, hash.as_str()));
            crate::orgs::account::place_request(conn, &settings, &buyer, &request, key).map(Some)
        })
        .await?
        .ok_or_else(|| signed_out(&session))?;
    Ok(match placed {
        Outcome::New(view) => HttpResponse::Created().json(*view),
        Outcome::Replayed(body) => HttpResponse::Created()
            .content_type("application/json")
            .insert_header(("idempotent-replay", "true"))
            .body(body),
    })
}

/// The buyer's orders, newest first (50 at most).
#[utoipa::path(tag = "orders", responses((status = 200, body = Items<OrderView>), (status = 401)))]
#[get("/orders")]
async fn api_list(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<web::Json<Items<OrderView>>, AppError> {
    let url = payment_url(&state);
    let items = state
        .db(move |conn| {
            super::model::orders_of(conn, user.id, 50)?
                .into_iter()
                .map(|o| {
                    let parts = crate::aftersales::delivery::parts(conn, &o)?;
                    Ok(service::OrderView { parts, ..service::view_of(conn, o, &url)? })
                })
                .collect::<Result<Vec<_>, AppError>>()
        })
        .await?;
    Ok(web::Json(Items { items }))
}

/// One of the buyer's orders; anyone else's is 404.
#[utoipa::path(tag = "orders", params(("order_no" = String, Path)), responses((status = 200, body = OrderView), (status = 404)))]
#[get("/orders/{order_no}")]
async fn api_get(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
) -> Result<web::Json<OrderView>, AppError> {
    let url = payment_url(&state);
    let no = path.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| {
                let view = service::view(conn, user.id, &no, url)?;
                crate::aftersales::delivery::with_parts(conn, view)
            })
            .await?,
    ))
}

/// Cancels an unpaid order: stock and points go back.
#[utoipa::path(tag = "orders", params(("order_no" = String, Path)), responses((status = 200, body = OrderView), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/orders/{order_no}/cancel")]
async fn api_cancel(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
) -> Result<web::Json<OrderView>, AppError> {
    let url = payment_url(&state);
    let no = path.into_inner();
    let settings = state.order_settings();
    let view = state
        .db(move |conn| {
            let order = service::cancel(conn, &settings, user.id, &no, Utc::now().naive_utc())?;
            service::view_of(conn, order, url)
        })
        .await?;
    Ok(web::Json(view))
}

/// Refunds the whole order (empty body or no lines) or chosen lines and quantities.
#[utoipa::path(tag = "orders", params(("order_no" = String, Path)), request_body = RefundRequest,
    responses((status = 201, body = RefundView), (status = 404), (status = 409, description = "invalid_state"), (status = 422, description = "invalid_refund")))]
#[post("/orders/{order_no}/refunds")]
async fn api_refund(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&session)?;
    let request: RefundRequest = crate::api::optional_json(&body)?;
    let url = payment_url(&state);
    let settings = state.order_settings();
    let no = path.into_inner();
    let view = state
        .db(move |conn| {
            let (cash, points) = service::refund(conn, &settings, user.id, &no, &request, Utc::now().naive_utc())?;
            Ok(RefundView { cash: Money::from_fen(cash), points, order: service::view(conn, user.id, &no, url)? })
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Cancels the late pre-sale items of the buyer's order for a full refund: allowed once the
/// ship-by date plus `AIDMART_PRESALE_GRACE_DAYS` has passed with them unshipped.
#[utoipa::path(tag = "orders", params(("order_no" = String, Path)),
    responses((status = 201, body = RefundView), (status = 401), (status = 404), (status = 409, description = "presale_not_late")))]
#[post("/orders/{order_no}/presale-cancel")]
async fn api_presale_cancel(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let url = payment_url(&state);
    let settings = state.order_settings();
    let grace = state.config.presale_grace_days;
    let today = local_today(&state);
    let no = path.into_inner();
    let view = state
        .db(move |conn| {
            let now = Utc::now().naive_utc();
            let (cash, points) = super::presale::cancel_late(conn, &settings, user.id, &no, grace, today, now)?;
            Ok(RefundView { cash: Money::from_fen(cash), points, order: service::view(conn, user.id, &no, url)? })
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

// ---- pages (the cart and checkout are in `cart::routes`) ----

#[derive(Serialize)]
struct OrderSummary {
    order_no: String,
    created_at: String,
    status_label: String,
    total: Money,
    cash_due: Money,
    points_used: i64,
    item_count: i64,
}

#[derive(Serialize)]
struct OrdersData {
    orders: Vec<OrderSummary>,
}

#[get("/orders")]
async fn orders_page(page: Page) -> Result<HttpResponse, AppError> {
    let Some(user) = page.user.clone() else {
        return Ok(see_other("/login?next=/orders"));
    };
    let rows = page
        .state
        .db(move |conn| {
            let orders = super::model::orders_of(conn, user.id, 100)?;
            let counts = super::model::line_counts(conn, &orders.iter().map(|o| o.id).collect::<Vec<_>>())?;
            Ok((orders, counts))
        })
        .await?;
    let (orders, counts) = rows;
    let data = OrdersData {
        orders: orders
            .into_iter()
            .map(|o| OrderSummary {
                item_count: counts.iter().find(|c| c.0 == o.id).map_or(0, |c| c.1),
                status_label: page.t(&format!("order_status_{}", o.status)),
                created_at: page.time(o.created_at),
                total: Money::from_fen(o.total_fen),
                cash_due: Money::from_fen(o.cash_due_fen),
                points_used: o.points_used,
                order_no: o.order_no,
            })
            .collect(),
    };
    page.render("pages/orders", &page.t("title_orders"), false, data)
}

#[derive(Serialize)]
struct EventItem {
    status_label: String,
    at: String,
    note: String,
}

/// An order event's note in the page's language. Notes are stored as short English phrases,
/// some followed by details (a refund number, a reason, a tracking number) kept as they are.
fn note_text(page: &Page, note: &str) -> String {
    let (key, detail) = if let Some(n) = note.strip_prefix("refund ") {
        ("refund", n)
    } else if let Some(reason) = note.strip_prefix("rejected: ") {
        ("rejected", reason)
    } else if note.starts_with("part shipped by cooperative ") {
        ("part_shipped", note.split_once(": ").map_or("", |(_, t)| t))
    } else if note.starts_with("late payment refunded") {
        ("late_payment_refunded", "")
    } else if let Some(rest) = note.strip_prefix("parcel ") {
        let number = rest.split(' ').next().unwrap_or_default();
        let key = if rest.ends_with("automatically") {
            "parcel_received_automatically"
        } else if rest.ends_with("by its recipient") {
            "parcel_received_by_recipient"
        } else {
            "parcel_received"
        };
        (key, number)
    } else if note.starts_with("replacement for case ") {
        ("replacement_shipped", note.split_once(": ").map_or("", |(_, t)| t))
    } else {
        (note, "")
    };
    match page.state.messages.get(page.lang, &format!("order_note_{}", key.replace(' ', "_"))) {
        Some(text) if detail.is_empty() => text.to_string(),
        Some(text) => format!("{text} {detail}"),
        None => note.to_string(),
    }
}

#[derive(Serialize)]
struct OrderPageView {
    order_no: String,
    status: String,
    status_label: String,
    total: Money,
    points_used: i64,
    points_value: Money,
    cash_due: Money,
    channel_label: String,
    created_at: String,
    campaign_zh: String,
    campaign_en: String,
    payment_url: Option<String>,
    can_cancel: bool,
    can_pay: bool,
    /// A pre-sale parcel is past its ship-by date and grace: the buyer may cancel it.
    can_presale_cancel: bool,
    /// When an unpaid order is cancelled: local time, and seconds left (for the countdown).
    pay_by: String,
    pay_seconds_left: i64,
    address: service::Address,
}

/// An order line with its product's photo.
#[derive(Serialize)]
struct PageLine {
    #[serde(flatten)]
    line: service::LineView,
    image: Option<String>,
    /// Pre-sale (预售): the day it ships by.
    ship_by: Option<chrono::NaiveDate>,
}

#[derive(Serialize)]
struct OrderData {
    order: OrderPageView,
    lines: Vec<PageLine>,
    events: Vec<EventItem>,
    notice: Option<String>,
    /// Where each line's money was credited in the ledger, and once settled, the statement
    /// period and payout that paid it to the cooperative.
    credits: Vec<CreditRow>,
    /// Parcels (confirm receipt, cases) and what each line allows (a case, a review).
    parcels: Vec<crate::aftersales::pages::ParcelItem>,
    line_actions: Vec<crate::aftersales::pages::LineAction>,
    /// Invoice requests per cooperative part, their invoices, and the form to ask.
    invoices: crate::invoices::pages::OrderInvoices,
}

#[derive(Serialize)]
struct CreditRow {
    #[serde(flatten)]
    credit: crate::credits::service::LineCredit,
    settlement: Option<SettlementLink>,
}

/// The statement that settled a line with the cooperative and its payout (`settlement/`).
#[derive(Serialize)]
struct SettlementLink {
    statement_id: i64,
    period: String,
    payout_id: Option<i64>,
    payout_label: Option<String>,
    ledger_seq: Option<i64>,
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

#[get("/orders/{order_no}")]
async fn order_page(
    page: Page,
    path: web::Path<String>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, AppError> {
    let Some(user) = page.user.clone() else {
        return Ok(see_other("/login?next=/orders"));
    };
    let no = path.into_inner();
    let url = |id: &str| format!("/pay/sandbox/{id}");
    let grace = page.state.config.presale_grace_days;
    let today = local_today(&page.state);
    let (view, events, campaign, credits, images, (terms, can_presale_cancel)) = page
        .state
        .db(move |conn| {
            let view = service::view(conn, user.id, &no, url)?;
            let product_ids: Vec<i64> = view.lines.iter().map(|l| l.product_id).collect();
            let images = crate::catalog::model::first_images(conn, &product_ids)?;
            let order = super::model::order_by_no(conn, &view.order_no)?.ok_or(AppError::NotFound)?;
            let events = super::model::events_of(conn, order.id)?;
            let campaign = super::model::campaign_names(conn, order.campaign_id)?;
            let line_ids: Vec<i64> = view.lines.iter().map(|l| l.id).collect();
            let credits = crate::credits::service::line_credits(conn, &line_ids)?;
            let settled = crate::settlement::model::order_settlements(conn, order.id)?;
            let sku_ids: Vec<i64> = view.lines.iter().map(|l| l.sku_id).collect();
            let terms = crate::catalog::presale::of_skus(conn, &sku_ids)?;
            let late = !terms.is_empty() && super::presale::cancellable(conn, order.id, &order.status, grace, today)?;
            Ok((view, events, campaign, (credits, settled), images, (terms, late)))
        })
        .await?;
    let (credits, settled) = credits;
    let mut credits = credits;
    for c in &mut credits {
        if let Some(line) = view.lines.iter().find(|l| l.id == c.line_id) {
            c.product_zh.clone_from(&line.product_zh);
            c.product_en.clone_from(&line.product_en);
        }
    }
    let pending = view.status == "pending_payment";
    let order = OrderPageView {
        status_label: page.t(&format!("order_status_{}", view.status)),
        channel_label: page.t(&format!("channel_{}", view.channel)),
        created_at: page.time(view.created_at),
        campaign_zh: campaign.0,
        campaign_en: campaign.1,
        can_cancel: pending,
        can_presale_cancel,
        can_pay: pending && view.payment_url.is_some(),
        pay_by: page.time(view.payment_deadline),
        pay_seconds_left: (view.payment_deadline - Utc::now().naive_utc()).num_seconds().max(0),
        payment_url: view.payment_url.clone(),
        order_no: view.order_no.clone(),
        status: view.status.clone(),
        total: view.total,
        points_used: view.points_used,
        points_value: view.points_value,
        cash_due: view.cash_due,
        address: view.address.clone(),
    };
    let notice = match query.notice.as_deref() {
        Some(
            key @ ("paid" | "cancelled" | "placed" | "received" | "reviewed" | "invoice_requested"
            | "presale_cancelled"),
        ) => Some(page.t(&format!("notice_{key}"))),
        _ => None,
    };
    // Placing an order is not a transition; the history starts with it all the same.
    let placed = ("pending_payment".to_string(), page.t("notice_placed"), view.created_at);
    let events = std::iter::once(placed)
        .chain(events)
        .map(|(to, note, at)| EventItem {
            status_label: page.t(&format!("order_status_{to}")),
            at: page.time(at),
            note: note_text(&page, &note),
        })
        .collect();
    let title = format!("{} {}", page.t("title_order"), view.order_no);
    let w = crate::aftersales::service::Windows::of(&page.state.config);
    let extras = crate::aftersales::pages::order_extras(&page, view.order_no.clone(), w).await?;
    let lines = view
        .lines
        .into_iter()
        .map(|line| PageLine {
            image: images.iter().find(|i| i.0 == line.product_id).map(|i| i.1.url_for(112)),
            ship_by: terms.iter().find(|t| t.sku_id == line.sku_id).map(|t| t.ship_by),
            line,
        })
        .collect();
    let credits = credits
        .into_iter()
        .map(|credit| {
            let settlement = settled.iter().find(|s| s.line_id == credit.line_id).map(|s| SettlementLink {
                statement_id: s.statement_id,
                period: format!("{} – {}", s.period_start.map(|d| d.to_string()).unwrap_or_default(), s.period_end),
                payout_id: s.payout_id,
                payout_label: s.payout_status.as_ref().map(|st| page.t(&format!("settle_status_{st}"))),
                ledger_seq: s.ledger_seq,
            });
            CreditRow { credit, settlement }
        })
        .collect();
    let invoices = crate::invoices::pages::order_invoices(&page, view.order_no.clone()).await?;
    let data = OrderData {
        order,
        lines,
        events,
        notice,
        credits,
        parcels: extras.parcels,
        line_actions: extras.line_actions,
        invoices,
    };
    page.render("pages/order", &title, true, data)
}

/// A form with nothing but its token.
#[derive(Deserialize)]
struct Empty {}

#[post("/orders/{order_no}/cancel")]
async fn order_cancel(page: Page, path: web::Path<String>, _: CsrfForm<Empty>) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let no = path.into_inner();
    let target = format!("/orders/{no}?notice=cancelled");
    let settings = page.state.order_settings();
    page.state.db(move |conn| service::cancel(conn, &settings, user.id, &no, Utc::now().naive_utc())).await?;
    Ok(see_other(&target))
}

#[post("/orders/{order_no}/presale-cancel")]
async fn order_presale_cancel(
    page: Page,
    path: web::Path<String>,
    _: CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let no = path.into_inner();
    let target = format!("/orders/{no}?notice=presale_cancelled");
    let settings = page.state.order_settings();
    let grace = page.state.config.presale_grace_days;
    let today = local_today(&page.state);
    page.state
        .db(move |conn| {
            super::presale::cancel_late(conn, &settings, user.id, &no, grace, today, Utc::now().naive_utc())
        })
        .await?;
    Ok(see_other(&target))
}
