//! The cart (API and page) and the checkout page. The cart lives in the session until the
//! visitor signs in; then it is the account's, kept in `cart_items`, and what the visitor had
//! put in the cart before signing in is merged into it at the first cart read.
//!
//! Every amount shown is computed by `orders::service::quote`, the pricing the order itself
//! uses, for the campaign the checkout will choose: the cart and checkout total is the order's.

use actix_session::Session;
use actix_web::{delete, get, post, put, web, HttpResponse};

use crate::api::ApiConfig;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::model;
use super::service::{self, Lines};
use crate::app::AppState;
use crate::error::AppError;
use crate::money::Money;
use crate::orders::service::{Address, Buyer, LineRequest, OrderRequest, OrderView, Outcome};
use crate::web::page::{see_other, Page};
use crate::web::session;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_cart).service(api_add).service(api_set).service(api_remove);
}

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(cart_page)
        .service(cart_add)
        .service(cart_update)
        .service(cart_remove)
        .service(checkout_page)
        .service(checkout_submit);
}

// ---- where the cart is kept ----

const CART: &str = "cart";

fn session_lines(session: &Session) -> Lines {
    session.get::<Lines>(CART).ok().flatten().unwrap_or_default()
}

fn quantity_of(lines: &[(i64, i64)]) -> i64 {
    lines.iter().map(|l| l.1).sum()
}

/// The visitor's cart: the account's (with the anonymous cart merged in, once) or the session's.
pub async fn load(state: &AppState, session: &Session) -> Result<Lines, AppError> {
    match session::current_user(session) {
        Some(user) if session_lines(session).is_empty() => {
            let lines = state.db(move |conn| Ok(model::lines(conn, user.id)?)).await?;
            session::set_cart_count(session, quantity_of(&lines))?;
            Ok(lines)
        }
        _ => change(state, session, Ok).await,
    }
}

/// Applies `edit` to the visitor's cart and stores the result. For a signed-in buyer the
/// read, the edit and the write are one transaction (two tabs adding at once lose nothing);
/// an anonymous cart left in the session is merged in first.
async fn change<F>(state: &AppState, session: &Session, mut edit: F) -> Result<Lines, AppError>
where
    F: FnMut(Lines) -> Result<Lines, AppError> + Send + 'static,
{
    let lines = match session::current_user(session) {
        Some(user) => {
            let anonymous = session_lines(session);
            let lines = state
                .db(move |conn| model::update(conn, user.id, |mine| edit(service::merge(mine, &anonymous))))
                .await?;
            session.remove(CART);
            lines
        }
        None => {
            let lines = edit(session_lines(session))?;
            session.insert(CART, lines.clone()).map_err(AppError::internal)?;
            lines
        }
    };
    session::set_cart_count(session, quantity_of(&lines))?;
    Ok(lines)
}

/// Refuses a SKU that is not on sale, so the cart only holds what can be bought.
async fn check_sku(state: &AppState, sku_id: i64) -> Result<(), AppError> {
    let found = state.db(move |conn| Ok(crate::orders::model::cart_details(conn, &[sku_id])?)).await?;
    if found.is_empty() {
        return Err(AppError::unprocessable(
            "unknown_sku",
            format!("SKU {sku_id} does not exist or is not on sale / 商品规格不存在或已下架"),
        ));
    }
    Ok(())
}

// ---- pricing, as the order will charge ----

#[derive(Serialize, Clone, ToSchema)]
pub struct CartLine {
    pub sku_id: i64,
    pub product_id: i64,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    pub unit_zh: String,
    pub unit_en: String,
    pub quantity: i64,
    /// What one unit costs in this order (campaign or tier price when lower), e.g. "55.00".
    #[schema(value_type = String)]
    pub unit_price: Money,
    /// The SKU's list price, shown struck through when the unit price is lower.
    #[schema(value_type = String)]
    pub list_price: Money,
    pub discounted: bool,
    #[schema(value_type = String)]
    pub line_total: Money,
    pub line_total_fen: i64,
    pub stock: i64,
    pub in_stock: bool,
    /// The product's first image, if it has one.
    pub image: Option<String>,
    /// Sold before harvest (预售): the day it ships by.
    pub ship_by: Option<chrono::NaiveDate>,
}

/// A running campaign that covers the whole cart, with what the cart costs in it.
#[derive(Serialize, Clone)]
struct CampaignQuote {
    id: i64,
    name_zh: String,
    name_en: String,
    total_fen: i64,
    max_points: i64,
    /// "sku:unit_fen:line_fen;…", read by checkout.js when the campaign changes.
    prices: String,
}

struct Priced {
    lines: Vec<CartLine>,
    total_fen: i64,
    max_points: i64,
    /// The campaign the prices are for (None: no running campaign covers the cart).
    campaign: Option<(i64, String, String)>,
    campaigns: Vec<CampaignQuote>,
}

/// Prices the cart with `orders::service::quote` for every running campaign covering it and
/// picks `wanted` (or the checkout's default, the first). Lines no longer on sale are left out.
fn price(
    conn: &mut crate::db::AnyConnection,
    lines: &[(i64, i64)],
    wanted: Option<i64>,
    rate: crate::money::ExchangeRate,
    today: chrono::NaiveDate,
) -> Result<Priced, AppError> {
    let ids: Vec<i64> = lines.iter().map(|l| l.0).collect();
    let details = crate::orders::model::cart_details(conn, &ids)?;
    let available: Vec<LineRequest> = lines
        .iter()
        .filter(|l| details.iter().any(|d| d.sku_id == l.0))
        .map(|&(sku_id, quantity)| LineRequest { sku_id, quantity })
        .collect();
    let mut product_ids: Vec<i64> = details.iter().map(|d| d.product_id).collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let images = crate::catalog::model::first_images(conn, &product_ids)?;
    let presales = crate::catalog::presale::of_skus(conn, &ids)?;
    let covering = if available.is_empty() {
        Vec::new()
    } else {
        crate::orders::model::campaigns_covering(conn, &product_ids, today)?
    };
    let mut campaigns = Vec::new();
    for (id, name_zh, name_en) in covering {
        // A campaign whose prices cannot be quoted (a SKU left it meanwhile) is not offered.
        if let Ok(q) = crate::orders::service::quote(conn, &available, Some(id), rate, today) {
            let prices =
                q.lines.iter().map(|l| format!("{}:{}:{}", l.sku_id, l.unit_price_fen, l.line_total_fen)).collect();
            let prices: Vec<String> = prices;
            campaigns.push((
                CampaignQuote {
                    id,
                    name_zh,
                    name_en,
                    total_fen: q.total_fen,
                    max_points: q.max_points,
                    prices: prices.join(";"),
                },
                q,
            ));
        }
    }
    let chosen = wanted.and_then(|w| campaigns.iter().position(|c| c.0.id == w)).or(if campaigns.is_empty() {
        None
    } else {
        Some(0)
    });
    let unit_of = |sku_id: i64, quantity: i64| -> (i64, i64) {
        match chosen.and_then(|i| campaigns[i].1.lines.iter().find(|l| l.sku_id == sku_id)) {
            Some(l) => (l.unit_price_fen, l.line_total_fen),
            None => {
                // No campaign covers the cart: list and tier prices, as a guide until it is split.
                let d = details.iter().find(|d| d.sku_id == sku_id);
                let unit = d.map_or(0, |d| d.price_fen);
                (unit, unit * quantity)
            }
        }
    };
    let mut out = Vec::with_capacity(available.len());
    for line in &available {
        let Some(d) = details.iter().find(|d| d.sku_id == line.sku_id) else { continue };
        let (unit, total) = unit_of(d.sku_id, line.quantity);
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
            list_price: Money::from_fen(d.price_fen),
            discounted: unit < d.price_fen,
            line_total: Money::from_fen(total),
            line_total_fen: total,
            stock: d.stock,
            in_stock: d.stock >= line.quantity,
            image: images.iter().find(|i| i.0 == d.product_id).map(|i| i.1.url_for(112)),
            ship_by: presales.iter().find(|t| t.sku_id == d.sku_id).map(|t| t.ship_by),
        });
    }
    let total_fen = out.iter().map(|l| l.line_total_fen).sum();
    let (campaign, max_points) = match chosen {
        Some(i) => {
            let c = &campaigns[i].0;
            (Some((c.id, c.name_zh.clone(), c.name_en.clone())), c.max_points)
        }
        None => (None, 0),
    };
    Ok(Priced { lines: out, total_fen, max_points, campaign, campaigns: campaigns.into_iter().map(|c| c.0).collect() })
}

fn today(state: &AppState) -> chrono::NaiveDate {
    crate::web::time::local_date(state.config.timezone, Utc::now().naive_utc())
}

// ---- API ----

#[derive(Serialize, ToSchema)]
pub struct CartView {
    pub items: Vec<CartLine>,
    /// How many units in all (the header's count).
    pub count: i64,
    /// What the order will cost before points, in the campaign the checkout picks first.
    #[schema(value_type = String)]
    pub total: Money,
    /// That campaign (null: no running campaign covers every line; the cart must be split).
    pub campaign_id: Option<i64>,
}

async fn cart_view(state: &AppState, session: &Session) -> Result<CartView, AppError> {
    let lines = load(state, session).await?;
    let rate = state.config.exchange_rate;
    let today = today(state);
    let priced = state.db(move |conn| price(conn, &lines, None, rate, today)).await?;
    Ok(CartView {
        count: priced.lines.iter().map(|l| l.quantity).sum(),
        total: Money::from_fen(priced.total_fen),
        campaign_id: priced.campaign.map(|c| c.0),
        items: priced.lines,
    })
}

/// The visitor's cart, priced as the order will be (signed in: the account's cart).
#[utoipa::path(tag = "cart", responses((status = 200, body = CartView)))]
#[get("/cart")]
async fn api_cart(state: web::Data<AppState>, session: Session) -> Result<web::Json<CartView>, AppError> {
    Ok(web::Json(cart_view(&state, &session).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    pub sku_id: i64,
    /// Added to the quantity already in the cart; 1 when left out.
    pub quantity: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetItem {
    pub quantity: i64,
}

/// Adds a SKU to the cart (its quantity adds to a line already there).
#[utoipa::path(tag = "cart", request_body = AddItem,
    responses((status = 200, body = CartView), (status = 400, description = "invalid_quantity, cart_full, invalid_json"),
        (status = 422, description = "unknown_sku")))]
#[post("/cart/items")]
async fn api_add(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<AddItem>,
) -> Result<web::Json<CartView>, AppError> {
    check_sku(&state, body.sku_id).await?;
    let (sku_id, quantity) = (body.sku_id, body.quantity.unwrap_or(1));
    change(&state, &session, move |lines| service::add(lines, sku_id, quantity)).await?;
    Ok(web::Json(cart_view(&state, &session).await?))
}

/// Sets a SKU's quantity in the cart.
#[utoipa::path(tag = "cart", params(("sku_id" = i64, Path)), request_body = SetItem,
    responses((status = 200, body = CartView), (status = 400, description = "invalid_quantity, cart_full"), (status = 422, description = "unknown_sku")))]
#[put("/cart/items/{sku_id}")]
async fn api_set(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<SetItem>,
) -> Result<web::Json<CartView>, AppError> {
    let sku_id = path.into_inner();
    check_sku(&state, sku_id).await?;
    let quantity = body.quantity;
    change(&state, &session, move |lines| service::set(lines, sku_id, quantity)).await?;
    Ok(web::Json(cart_view(&state, &session).await?))
}

/// Takes a SKU out of the cart (nothing happens if it is not there).
#[utoipa::path(tag = "cart", params(("sku_id" = i64, Path)), responses((status = 200, body = CartView)))]
#[delete("/cart/items/{sku_id}")]
async fn api_remove(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
) -> Result<web::Json<CartView>, AppError> {
    let sku_id = path.into_inner();
    change(&state, &session, move |lines| Ok(service::remove(lines, sku_id))).await?;
    Ok(web::Json(cart_view(&state, &session).await?))
}

// ---- the cart page ----

#[derive(Serialize)]
struct CartData {
    lines: Vec<CartLine>,
    total: Money,
    campaign_zh: Option<String>,
    campaign_en: Option<String>,
    error: Option<String>,
}

#[get("/cart")]
async fn cart_page(page: Page) -> Result<HttpResponse, AppError> {
    let lines = load(&page.state, &page.session).await?;
    let rate = page.state.config.exchange_rate;
    let today = today(&page.state);
    let priced = page.state.db(move |conn| price(conn, &lines, None, rate, today)).await?;
    let (campaign_zh, campaign_en) = priced.campaign.map_or((None, None), |c| (Some(c.1), Some(c.2)));
    let data = CartData {
        total: Money::from_fen(priced.total_fen),
        lines: priced.lines,
        campaign_zh,
        campaign_en,
        error: None,
    };
    page.render("pages/cart", &page.t("title_cart"), true, data)
}

#[derive(Deserialize)]
struct CartForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    sku_id: i64,
    quantity: Option<i64>,
}

#[post("/cart/add")]
async fn cart_add(page: Page, form: web::Form<CartForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    check_sku(&page.state, form.sku_id).await?;
    let (sku_id, quantity) = (form.sku_id, form.quantity.unwrap_or(1));
    change(&page.state, &page.session, move |lines| service::add(lines, sku_id, quantity)).await?;
    Ok(see_other("/cart"))
}

#[post("/cart/update")]
async fn cart_update(page: Page, form: web::Form<CartForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let quantity = service::checked_quantity(form.quantity.unwrap_or(1))?;
    let sku_id = form.sku_id;
    change(&page.state, &page.session, move |mut lines| {
        if let Some(line) = lines.iter_mut().find(|l| l.0 == sku_id) {
            line.1 = quantity;
        }
        Ok(lines)
    })
    .await?;
    Ok(see_other("/cart"))
}

#[post("/cart/remove")]
async fn cart_remove(page: Page, form: web::Form<CartForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let sku_id = form.sku_id;
    change(&page.state, &page.session, move |lines| Ok(service::remove(lines, sku_id))).await?;
    Ok(see_other("/cart"))
}

// ---- checkout ----

#[derive(Serialize)]
struct CampaignOption {
    #[serde(flatten)]
    quote: CampaignQuote,
    total: Money,
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
    /// What the points typed take off, and what is left to pay (the page's first figures).
    points_value: Money,
    cash_due: Money,
    /// The address book, to pick from (the default is what the form starts with).
    saved_addresses: Vec<crate::addresses::model::AddressRow>,
    error: Option<String>,
}

async fn checkout_data(
    page: &Page,
    address: Option<AddressForm>,
    points: i64,
    campaign: Option<i64>,
    error: Option<String>,
) -> Result<CheckoutData, AppError> {
    let user = session::require_user(&page.session)?;
    let lines = load(&page.state, &page.session).await?;
    let rate = page.state.config.exchange_rate;
    let today = today(&page.state);
    let (priced, balance, saved_addresses) = page
        .state
        .db(move |conn| {
            let priced = price(conn, &lines, campaign, rate, today)?;
            let balance = crate::points::model::user_balance(conn, user.id)?;
            Ok((priced, balance, crate::addresses::model::list(conn, user.id)?))
        })
        .await?;
    let address = address.unwrap_or_else(|| {
        saved_addresses.first().cloned().map_or_else(AddressForm::default, |a| AddressForm {
            name: a.name,
            mobile: a.mobile,
            province: a.province,
            city: a.city,
            district: a.district,
            detail: a.detail,
        })
    });
    let chosen = priced.campaign.as_ref().map(|c| c.0);
    let max_points = priced.max_points.min(balance);
    let shown_points = points.clamp(0, max_points.max(0));
    let points_value = crate::orders::pricing::points_value_fen(shown_points, rate).min(priced.total_fen);
    Ok(CheckoutData {
        total: Money::from_fen(priced.total_fen),
        total_fen: priced.total_fen,
        lines: priced.lines,
        campaigns: priced
            .campaigns
            .into_iter()
            .map(|q| CampaignOption { selected: Some(q.id) == chosen, total: Money::from_fen(q.total_fen), quote: q })
            .collect(),
        points_balance: balance,
        max_points,
        points_per_yuan: rate.points_per_yuan,
        idempotency_key: crate::orders::service::random_token(24),
        address,
        points,
        points_value: Money::from_fen(points_value),
        cash_due: Money::from_fen(priced.total_fen - points_value),
        saved_addresses,
        error,
    })
}

#[derive(Deserialize)]
struct CheckoutQuery {
    campaign_id: Option<i64>,
}

#[get("/checkout")]
async fn checkout_page(page: Page, query: web::Query<CheckoutQuery>) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/checkout"));
    }
    if load(&page.state, &page.session).await?.is_empty() {
        return Ok(see_other("/cart"));
    }
    let data = checkout_data(&page, None, 0, query.campaign_id, None).await?;
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
        Ok(order_no) => Ok(see_other(&format!("/orders/{order_no}?notice=placed"))),
        Err(e @ (AppError::Internal(_) | AppError::Unavailable | AppError::Unauthenticated)) => Err(e),
        Err(e) => {
            let status = actix_web::ResponseError::status_code(&e);
            let data = checkout_data(&page, Some(form.address), shown.0, shown.1, Some(page.error_text(&e))).await?;
            let mut response = page.render("pages/checkout", &page.t("title_checkout"), true, data)?;
            *response.status_mut() = status;
            Ok(response)
        }
    }
}

/// Places the cart as an order; the form's idempotency key makes a double submit harmless.
/// The ordered quantities then leave the cart, and the address joins the address book.
async fn place_from_form(
    page: &Page,
    form: &CheckoutForm,
    points: i64,
    campaign_id: Option<i64>,
) -> Result<String, AppError> {
    let me = crate::accounts::routes::require_me(&page.state, &page.session).await?;
    let buyer = Buyer::from(me);
    let cart = load(&page.state, &page.session).await?;
    if cart.is_empty() {
        return Err(AppError::bad_request("cart_empty", "the cart is empty / 购物车是空的"));
    }
    let lines: Vec<LineRequest> = cart.iter().map(|&(sku_id, quantity)| LineRequest { sku_id, quantity }).collect();
    let a = form.address.clone();
    let address = Address {
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
    let saved = address.clone();
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
    let user_id = buyer.id;
    let placed = page
        .state
        .db(move |conn| crate::orgs::account::place_request(conn, &settings, &buyer, &request, Some((&key, &hash))))
        .await?;
    let order_no = match placed {
        Outcome::New(view) => view.order_no,
        Outcome::Replayed(body) => serde_json::from_str::<OrderView>(&body).map_err(AppError::internal)?.order_no,
    };
    change(&page.state, &page.session, move |lines| Ok(service::after_order(lines, &cart))).await?;
    page.state.db(move |conn| crate::addresses::model::remember(conn, user_id, &saved)).await?;
    Ok(order_no)
}
