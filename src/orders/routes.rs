//! The order API and the cart, checkout and order pages.

use actix_session::Session;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::service::{
    self, Account, Buyer, LineRequest, OrderRequest, OrderView, Outcome, RefundRequest, RefundView, Settings,
};
use crate::accounts::routes::require_me;
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
    cfg.service(api_place).service(api_list).service(api_get).service(api_cancel).service(api_refund);
}

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(cart_page)
        .service(cart_add)
        .service(cart_update)
        .service(cart_remove)
        .service(checkout_page)
        .service(checkout_submit)
        .service(orders_page)
        .service(order_page)
        .service(order_cancel);
}

/// Places a buyer's order on their own account or an organisation's, at most once per
/// Idempotency-Key, through the one pipeline.
fn place(
    conn: &mut crate::db::AnyConnection,
    s: &Settings,
    buyer: &Buyer,
    request: &OrderRequest,
    key: Option<(&str, &str)>,
) -> Result<Outcome, AppError> {
    let now = Utc::now().naive_utc();
    service::place_once(conn, buyer.id, request, key, now, |conn, prepared| match request.account()? {
        Account::Personal => service::write_personal(conn, s, buyer, request, prepared, now),
        Account::Org(account) => crate::orgs::account::write_order(conn, s, buyer, request, &account, prepared, now),
    })
}

async fn buyer(state: &AppState, session: &Session) -> Result<Buyer, AppError> {
    let me = require_me(state, session).await?;
    Ok(Buyer { is_employee: me.has_role("employee"), id: me.id, email: me.email, display_name: me.display_name })
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
    let buyer = buyer(&state, &session).await?;
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
        .db(move |conn| place(conn, &settings, &buyer, &request, key.as_deref().map(|k| (k, hash.as_str()))))
        .await?;
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
                .map(|o| service::view_of(conn, o, &url))
                .collect::<Result<Vec<_>, _>>()
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
    Ok(web::Json(state.db(move |conn| service::view(conn, user.id, &no, url)).await?))
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

// ---- pages ----

const CART: &str = "cart";

fn cart(session: &Session) -> Vec<LineRequest> {
    session
        .get::<Vec<(i64, i64)>>(CART)
        .ok()
        .flatten()
        .unwrap_or_default()
        .into_iter()
        .map(|(sku_id, quantity)| LineRequest { sku_id, quantity })
        .collect()
}

fn save_cart(session: &Session, lines: &[LineRequest]) -> Result<(), AppError> {
    let pairs: Vec<(i64, i64)> = lines.iter().map(|l| (l.sku_id, l.quantity)).collect();
    session.insert(CART, pairs).map_err(AppError::internal)
}

#[derive(Serialize)]
struct CartLine {
    sku_id: i64,
    product_id: i64,
    product_zh: String,
    product_en: String,
    sku_zh: String,
    sku_en: String,
    unit_zh: String,
    unit_en: String,
    quantity: i64,
    unit_price: Money,
    line_total: Money,
    stock: i64,
    in_stock: bool,
}

struct CartView {
    lines: Vec<CartLine>,
    total_fen: i64,
}

/// Prices the cart for display (base and tier prices; the campaign's come at checkout).
async fn price_cart(state: &AppState, lines: Vec<LineRequest>) -> Result<CartView, AppError> {
    state
        .db(move |conn| {
            let ids: Vec<i64> = lines.iter().map(|l| l.sku_id).collect();
            let details = super::model::cart_details(conn, &ids)?;
            let tiers = super::model::tiers(conn, &ids)?;
            let mut out = Vec::new();
            for line in &lines {
                let Some(d) = details.iter().find(|d| d.sku_id == line.sku_id) else { continue };
                let price = super::pricing::SkuPrice {
                    sku_id: d.sku_id,
                    price_fen: d.price_fen,
                    tiers: tiers.iter().filter(|t| t.0 == d.sku_id).map(|t| (t.1, t.2)).collect(),
                    campaign_price_fen: None,
                    max_points_pct: 0,
                };
                let unit = super::pricing::unit_price_fen(&price, line.quantity);
                out.push(CartLine {
                    sku_id: d.sku_id,
                    product_id: d.product_id,
                    product_zh: d.product_zh.clone(),
                    product_en: d.product_en.clone(),
                    sku_zh: d.sku_zh.clone(),
                    sku_en: d.sku_en.clone(),
                    unit_zh: d.unit_zh.clone(),
                    unit_en: d.unit_en.clone(),
                    quantity: line.quantity,
                    unit_price: Money::from_fen(unit),
                    line_total: Money::from_fen(unit * line.quantity),
                    stock: d.stock,
                    in_stock: d.stock >= line.quantity,
                });
            }
            let total_fen = out.iter().map(|l| l.line_total.fen()).sum();
            Ok(CartView { lines: out, total_fen })
        })
        .await
}

#[derive(Serialize)]
struct CartData {
    lines: Vec<CartLine>,
    total: Money,
    error: Option<String>,
}

#[get("/cart")]
async fn cart_page(page: Page) -> Result<HttpResponse, AppError> {
    let view = price_cart(&page.state, cart(&page.session)).await?;
    page.render(
        "pages/cart",
        &page.t("title_cart"),
        true,
        CartData { total: Money::from_fen(view.total_fen), lines: view.lines, error: None },
    )
}

#[derive(Deserialize)]
struct CartForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    sku_id: i64,
    quantity: Option<i64>,
}

fn checked_quantity(q: Option<i64>) -> Result<i64, AppError> {
    let q = q.unwrap_or(1);
    if (1..=super::pricing::MAX_QUANTITY).contains(&q) {
        Ok(q)
    } else {
        Err(AppError::bad_request("invalid_quantity", "quantity must be from 1 to 10000 / 数量须为 1 至 10000"))
    }
}

#[post("/cart/add")]
async fn cart_add(page: Page, form: web::Form<CartForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let quantity = checked_quantity(form.quantity)?;
    let mut lines = cart(&page.session);
    match lines.iter().position(|l| l.sku_id == form.sku_id) {
        Some(i) => lines[i].quantity = (lines[i].quantity + quantity).min(super::pricing::MAX_QUANTITY),
        None if lines.len() < super::pricing::MAX_LINES => lines.push(LineRequest { sku_id: form.sku_id, quantity }),
        None => return Err(AppError::bad_request("invalid_quantity", "the cart is full / 购物车已满")),
    }
    save_cart(&page.session, &lines)?;
    Ok(see_other("/cart"))
}

#[post("/cart/update")]
async fn cart_update(page: Page, form: web::Form<CartForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let quantity = checked_quantity(form.quantity)?;
    let mut lines = cart(&page.session);
    if let Some(line) = lines.iter_mut().find(|l| l.sku_id == form.sku_id) {
        line.quantity = quantity;
    }
    save_cart(&page.session, &lines)?;
    Ok(see_other("/cart"))
}

#[post("/cart/remove")]
async fn cart_remove(page: Page, form: web::Form<CartForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let lines: Vec<LineRequest> = cart(&page.session).into_iter().filter(|l| l.sku_id != form.sku_id).collect();
    save_cart(&page.session, &lines)?;
    Ok(see_other("/cart"))
}

#[derive(Serialize)]
struct CampaignOption {
    id: i64,
    name_zh: String,
    name_en: String,
    selected: bool,
}

#[derive(Serialize, Default, Deserialize, Clone)]
struct AddressForm {
    name: String,
    mobile: String,
    province: String,
    city: String,
    district: String,
    detail: String,
}

#[derive(Serialize)]
struct CheckoutData {
    lines: Vec<CartLine>,
    total: Money,
    total_fen: i64,
    campaigns: Vec<CampaignOption>,
    points_balance: i64,
    max_points: i64,
    points_per_yuan: i64,
    idempotency_key: String,
    address: AddressForm,
    points: i64,
    error: Option<String>,
}

async fn checkout_data(
    page: &Page,
    address: AddressForm,
    points: i64,
    campaign: Option<i64>,
    error: Option<String>,
) -> Result<CheckoutData, AppError> {
    let user = session::require_user(&page.session)?;
    let lines = cart(&page.session);
    let view = price_cart(&page.state, lines.clone()).await?;
    let rate = page.state.config.exchange_rate;
    let today = Utc::now().date_naive();
    let (campaigns, balance, max_points) = page
        .state
        .db(move |conn| {
            let product_ids: Vec<i64> =
                super::model::cart_details(conn, &lines.iter().map(|l| l.sku_id).collect::<Vec<_>>())?
                    .iter()
                    .map(|d| d.product_id)
                    .collect();
            let campaigns = super::model::campaigns_covering(conn, &product_ids, today)?;
            let balance = crate::points::model::user_balance(conn, user.id)?;
            let max = service::quote(conn, &lines, campaign.or(campaigns.first().map(|c| c.0)), rate, today)
                .map(|q| q.max_points)
                .unwrap_or(0);
            Ok((campaigns, balance, max))
        })
        .await?;
    let chosen = campaign.or(campaigns.first().map(|c| c.0));
    Ok(CheckoutData {
        total: Money::from_fen(view.total_fen),
        total_fen: view.total_fen,
        lines: view.lines,
        campaigns: campaigns
            .into_iter()
            .map(|(id, name_zh, name_en)| CampaignOption { selected: Some(id) == chosen, id, name_zh, name_en })
            .collect(),
        points_balance: balance,
        max_points: max_points.min(balance),
        points_per_yuan: rate.points_per_yuan,
        idempotency_key: service::random_token(24),
        address,
        points,
        error,
    })
}

#[get("/checkout")]
async fn checkout_page(page: Page) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/checkout"));
    }
    if cart(&page.session).is_empty() {
        return Ok(see_other("/cart"));
    }
    let data = checkout_data(&page, AddressForm::default(), 0, None, None).await?;
    page.render("pages/checkout", &page.t("title_checkout"), true, data)
}

#[derive(Deserialize)]
struct CheckoutForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    idempotency_key: String,
    campaign_id: Option<String>,
    points: Option<String>,
    #[serde(flatten)]
    address: AddressForm,
}

/// An optional whole number from a form field; empty means none.
fn form_number(raw: Option<&str>, code: &'static str) -> Result<Option<i64>, AppError> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| AppError::bad_request(code, format!("'{v}' is not a whole number / 请输入整数"))),
    }
}

#[post("/checkout")]
async fn checkout_submit(page: Page, form: web::Form<CheckoutForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let form = form.into_inner();
    let points = form_number(form.points.as_deref(), "invalid_points");
    let campaign_id = form_number(form.campaign_id.as_deref(), "campaign_not_applicable");
    // What the form showed, to show it again with an error.
    let shown = (points.as_ref().ok().copied().flatten().unwrap_or(0), campaign_id.as_ref().ok().copied().flatten());
    let result = match (points, campaign_id) {
        (Ok(points), Ok(campaign_id)) => place_from_form(&page, &form, points.unwrap_or(0), campaign_id).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(order_no) => {
            save_cart(&page.session, &[])?;
            Ok(see_other(&format!("/orders/{order_no}?notice=placed")))
        }
        Err(e @ (AppError::Internal(_) | AppError::Unavailable | AppError::Unauthenticated)) => Err(e),
        Err(e) => {
            let status = actix_web::ResponseError::status_code(&e);
            let data = checkout_data(&page, form.address, shown.0, shown.1, Some(page.error_text(&e))).await?;
            let mut response = page.render("pages/checkout", &page.t("title_checkout"), true, data)?;
            *response.status_mut() = status;
            Ok(response)
        }
    }
}

/// Places the cart as an order; the form's idempotency key makes a double submit harmless.
async fn place_from_form(
    page: &Page,
    form: &CheckoutForm,
    points: i64,
    campaign_id: Option<i64>,
) -> Result<String, AppError> {
    let buyer = buyer(&page.state, &page.session).await?;
    let lines = cart(&page.session);
    if lines.is_empty() {
        return Err(AppError::bad_request("cart_empty", "the cart is empty / 购物车是空的"));
    }
    let a = form.address.clone();
    let address = service::Address {
        name: a.name,
        mobile: a.mobile,
        province: a.province,
        city: a.city,
        district: a.district,
        detail: a.detail,
    };
    let fingerprint = serde_json::json!({
        "lines": lines.iter().map(|l| (l.sku_id, l.quantity)).collect::<Vec<_>>(),
        "points": points, "campaign_id": campaign_id, "address": &address,
    });
    let hash = hex::encode(Sha256::digest(fingerprint.to_string().as_bytes()));
    let request = OrderRequest {
        lines,
        points,
        campaign_id,
        address,
        account: None,
        _ignored_channel: None,
        _ignored_total: None,
    };
    let settings = page.state.order_settings();
    let key = form.idempotency_key.clone();
    let placed = page.state.db(move |conn| place(conn, &settings, &buyer, &request, Some((&key, &hash)))).await?;
    Ok(match placed {
        Outcome::New(view) => view.order_no,
        Outcome::Replayed(body) => serde_json::from_str::<OrderView>(&body).map_err(AppError::internal)?.order_no,
    })
}

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
                created_at: o.created_at.format("%Y-%m-%d %H:%M").to_string(),
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
    address: service::Address,
}

#[derive(Serialize)]
struct OrderData {
    order: OrderPageView,
    lines: Vec<service::LineView>,
    events: Vec<EventItem>,
    notice: Option<String>,
    /// Where each line's money was credited in the ledger.
    credits: Vec<crate::credits::service::LineCredit>,
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
    let (view, events, campaign, credits) = page
        .state
        .db(move |conn| {
            let view = service::view(conn, user.id, &no, url)?;
            let order = super::model::order_by_no(conn, &view.order_no)?.ok_or(AppError::NotFound)?;
            let events = super::model::events_of(conn, order.id)?;
            let campaign = super::model::campaign_names(conn, order.campaign_id)?;
            let line_ids: Vec<i64> = view.lines.iter().map(|l| l.id).collect();
            let credits = crate::credits::service::line_credits(conn, &line_ids)?;
            Ok((view, events, campaign, credits))
        })
        .await?;
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
        created_at: view.created_at.format("%Y-%m-%d %H:%M").to_string(),
        campaign_zh: campaign.0,
        campaign_en: campaign.1,
        can_cancel: pending,
        can_pay: pending && view.payment_url.is_some(),
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
        Some(key @ ("paid" | "cancelled" | "placed")) => Some(page.t(&format!("notice_{key}"))),
        _ => None,
    };
    // Placing an order is not a transition; the history starts with it all the same.
    let placed = ("pending_payment".to_string(), page.t("notice_placed"), view.created_at);
    let events = std::iter::once(placed)
        .chain(events)
        .map(|(to, note, at)| EventItem {
            status_label: page.t(&format!("order_status_{to}")),
            at: at.format("%Y-%m-%d %H:%M:%S").to_string(),
            note: note_text(&page, &note),
        })
        .collect();
    let title = format!("{} {}", page.t("title_order"), view.order_no);
    page.render("pages/order", &title, true, OrderData { order, lines: view.lines, events, notice, credits })
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
