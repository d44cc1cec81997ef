//! Cooperative portal: pages under `/coop` (made for a phone) and `/api/v1/coop/…`. Every
//! handler resolves the manager's cooperatives first; the service scopes every read and
//! write to them.

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, put, web, HttpResponse, ResponseError};
use chrono::{Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service::{
    self, BulkError, GroupBy, Manager, ProductInput, ProductPatch, ShipRequest, SkuInput, SkuPatch, StockRequest,
};
use crate::accounts::model::Role;
use crate::accounts::routes::require_role;
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::web::download;
use crate::web::page::{see_other, Page};
use crate::web::session;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_skus)
        .service(api_stock)
        .service(api_history)
        .service(api_bulk)
        .service(api_pending)
        .service(api_pick_list)
        .service(api_ship)
        .service(api_ship_bulk)
        .service(api_sales)
        .service(api_create_product)
        .service(api_product)
        .service(api_update_product)
        .service(api_create_sku)
        .service(api_update_sku)
        .service(api_set_presale)
        .service(api_clear_presale)
        .service(api_upload_image);
}

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(home_page)
        .service(sku_page)
        .service(stock_submit)
        .service(bulk_page)
        .service(bulk_submit)
        .service(shipping_page)
        .service(shipping_submit)
        .service(shipping_selected_submit)
        .service(shipping_bulk_submit)
        .service(reports_page)
        .service(product_page)
        .service(product_submit)
        .service(sku_edit_submit)
        .service(sku_presale_submit)
        .service(image_upload_submit)
        .service(image_file);
}

/// The logged-in cooperative manager, or 401/403.
pub async fn manager(state: &AppState, session: &Session) -> Result<Manager, AppError> {
    let me = require_role(state, session, Role::CoopManager).await?;
    state.db(move |conn| service::manager(conn, me.id)).await
}

fn now() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

/// Today in the store's time zone (pre-sale parcels join the queue on their ship-from day).
fn local_today(state: &AppState) -> NaiveDate {
    crate::web::time::local_date(state.config.timezone, now())
}

// ---------------------------------------------------------------------------------------
// API

/// The manager's SKUs with stock, thresholds and certification state.
#[utoipa::path(tag = "coop", responses((status = 200, body = [service::SkuView]), (status = 401), (status = 403)))]
#[get("/coop/skus")]
async fn api_skus(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let today = now().date();
    let skus = state.db(move |conn| service::skus(conn, &m, today)).await?;
    Ok(HttpResponse::Ok().json(skus))
}

/// Sets (`set`) or adjusts (`delta`) a SKU's stock, with a reason. Stock never goes below zero
/// (409 `insufficient_stock`); another cooperative's SKU is 404.
#[utoipa::path(tag = "coop", request_body = StockRequest, params(("id" = i64, Path)), responses((status = 200, body = service::StockAnswer), (status = 400, description = "invalid_stock_change, invalid_reason"), (status = 404), (status = 409, description = "insufficient_stock")))]
#[patch("/coop/skus/{id}/stock")]
async fn api_stock(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<StockRequest>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let (id, request) = (path.into_inner(), body.into_inner());
    let answer = state.db(move |conn| service::change_stock(conn, &m, id, &request, now())).await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize)]
struct LimitQuery {
    limit: Option<i64>,
}

/// A SKU's stock history, newest first: who, when, before, after, why.
#[utoipa::path(tag = "coop", params(("id" = i64, Path), ("limit" = Option<i64>, Query)), responses((status = 200, body = [service::HistoryEntry]), (status = 404)))]
#[get("/coop/skus/{id}/history")]
async fn api_history(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let (id, limit) = (path.into_inner(), query.limit.unwrap_or(100));
    let rows = state.db(move |conn| service::history(conn, &m, id, limit)).await?;
    Ok(HttpResponse::Ok().json(rows))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// CSV text with a header: `sku_code,stock,delta,reason` (`stock` sets, `delta` adjusts).
    pub csv: String,
}

#[derive(Serialize)]
struct BulkErrorBody {
    error: BulkErrorDetail,
}

#[derive(Serialize)]
struct BulkErrorDetail {
    code: &'static str,
    message: String,
    rows: Vec<service::RowError>,
}

fn bulk_rejected(rows: Vec<service::RowError>) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(BulkErrorBody {
        error: BulkErrorDetail {
            code: "invalid_csv",
            message: "some rows are invalid; nothing was changed / 部分行有误，未做任何修改".into(),
            rows,
        },
    })
}

/// Updates stock from CSV: every row is checked first and all are applied in one
/// transaction, or none (422 `invalid_csv` with `rows`: line numbers and reasons).
#[utoipa::path(tag = "coop", request_body = BulkRequest, responses((status = 200, body = service::BulkAnswer), (status = 422, description = "invalid_csv, with error.rows")))]
#[post("/coop/stock/bulk")]
async fn api_bulk(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<BulkRequest>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let csv = body.into_inner().csv;
    let result = state.db(move |conn| Ok(service::bulk_stock(conn, &m, &csv, now()))).await?;
    match result {
        Ok(answer) => Ok(HttpResponse::Ok().json(answer)),
        Err(BulkError::Rows(rows)) => Ok(bulk_rejected(rows)),
        Err(BulkError::Other(e)) => Err(e),
    }
}

/// Parts of paid orders still to ship (an order's goods from one cooperative to one recipient),
/// then replacement parcels of accepted after-sales cases (with `after_sales_id`).
#[utoipa::path(tag = "coop", responses((status = 200, body = [service::Part])))]
#[get("/coop/shipments/pending")]
async fn api_pending(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let today = local_today(&state);
    let parts = state
        .db(move |conn| {
            let mut parts = service::parts_to_ship(conn, &m, today)?;
            parts.extend(crate::aftersales::service::replacements_to_ship(conn, &m)?);
            Ok(parts)
        })
        .await?;
    Ok(HttpResponse::Ok().json(parts))
}

/// The pick list of everything still to ship, as CSV.
#[utoipa::path(tag = "coop", responses((status = 200, content_type = "text/csv", description = "order_no,recipient_id,name,mobile,address,sku_code,product,sku,quantity")))]
#[get("/coop/shipments/pick-list.csv")]
async fn api_pick_list(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let today = local_today(&state);
    let body = state.db(move |conn| service::pick_list_csv(&service::parts_to_ship(conn, &m, today)?)).await?;
    Ok(download::file(download::CSV, "pick-list.csv", body))
}

/// Marks a part shipped with carrier and tracking number; emails the buyer; the order
/// becomes "shipped" with its last part.
#[utoipa::path(tag = "coop", request_body = ShipRequest, responses((status = 201, body = service::ShipAnswer), (status = 400), (status = 404), (status = 409, description = "already_shipped, not_shippable")))]
#[post("/coop/shipments")]
async fn api_ship(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<ShipRequest>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let request = body.into_inner();
    let settings = state.order_settings();
    let answer = state.db(move |conn| service::ship(conn, &m, &request, &settings, now())).await?;
    Ok(HttpResponse::Created().json(answer))
}

/// Marks many parts shipped from CSV (`order_no,carrier,tracking_no,recipient_id,producer_id`):
/// all rows or none (422 `invalid_csv` with `rows`).
#[utoipa::path(tag = "coop", request_body = BulkRequest, responses((status = 201, body = [service::ShipAnswer]), (status = 422, description = "invalid_csv, with error.rows")))]
#[post("/coop/shipments/bulk")]
async fn api_ship_bulk(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<BulkRequest>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let csv = body.into_inner().csv;
    let settings = state.order_settings();
    match state.db(move |conn| Ok(service::ship_csv(conn, &m, &csv, &settings, now()))).await? {
        Ok(answers) => Ok(HttpResponse::Created().json(answers)),
        Err(BulkError::Rows(rows)) => Ok(bulk_rejected(rows)),
        Err(BulkError::Other(e)) => Err(e),
    }
}

#[derive(Deserialize)]
struct SalesQuery {
    by: Option<GroupBy>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    format: Option<String>,
}

/// Sales by product, campaign, month or day (`by`), paid between `from` and `to` (default:
/// this year), net of refunds; `format` json (default), csv or xlsx.
#[utoipa::path(tag = "coop", params(("by" = Option<String>, Query, description = "product | campaign | month | day"), ("from" = Option<String>, Query), ("to" = Option<String>, Query), ("format" = Option<String>, Query, description = "json | csv | xlsx")), responses((status = 200, body = [service::ReportRow]), (status = 400)))]
#[get("/coop/reports/sales")]
async fn api_sales(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<SalesQuery>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let q = query.into_inner();
    let today = now().date();
    let by = q.by.unwrap_or(GroupBy::Product);
    let from = q.from.unwrap_or_else(|| NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today));
    let to = q.to.unwrap_or(today);
    let rows = state.db(move |conn| service::sales_report(conn, &m, by, from, to)).await?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(HttpResponse::Ok().json(rows)),
        "csv" => Ok(download::file(download::CSV, "sales.csv", service::report_csv(&rows)?)),
        "xlsx" => Ok(download::file(download::XLSX, "sales.xlsx", service::report_xlsx(&rows)?)),
        _ => Err(AppError::bad_request("invalid_format", "format is json, csv or xlsx / 格式须为 json、csv 或 xlsx")),
    }
}

/// Creates a product of the manager's cooperative (listed; add SKUs to sell it).
#[utoipa::path(tag = "coop", request_body = ProductInput, responses((status = 201, body = service::ProductView), (status = 409, description = "code_taken"), (status = 422, description = "invalid_product")))]
#[post("/coop/products")]
async fn api_create_product(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<ProductInput>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let input = body.into_inner();
    let view = state.db(move |conn| service::create_product(conn, &m, &input, now())).await?;
    Ok(HttpResponse::Created().json(view))
}

/// One of the manager's products, with its certification state.
#[utoipa::path(tag = "coop", params(("id" = i64, Path)), responses((status = 200, body = service::ProductView), (status = 404)))]
#[get("/coop/products/{id}")]
async fn api_product(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let id = path.into_inner();
    let view = state.db(move |conn| service::product(conn, &m, id, now().date())).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Edits a product: names, descriptions, certification and its expiry, listed or delisted.
#[utoipa::path(tag = "coop", request_body = ProductPatch, params(("id" = i64, Path)), responses((status = 200, body = service::ProductView), (status = 404), (status = 422, description = "invalid_product")))]
#[patch("/coop/products/{id}")]
async fn api_update_product(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<ProductPatch>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let (id, patch) = (path.into_inner(), body.into_inner());
    let view = state.db(move |conn| service::update_product(conn, &m, id, &patch, now())).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Adds a SKU (with no stock) to one of the manager's products.
#[utoipa::path(tag = "coop", request_body = SkuInput, params(("id" = i64, Path)), responses((status = 201, body = service::SkuView), (status = 404), (status = 409, description = "code_taken"), (status = 422, description = "invalid_product")))]
#[post("/coop/products/{id}/skus")]
async fn api_create_sku(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<SkuInput>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let (id, input) = (path.into_inner(), body.into_inner());
    let view = state.db(move |conn| service::create_sku(conn, &m, id, &input, now())).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Edits a SKU: names, unit, price, quantity tiers, points share, donation, threshold, listed.
#[utoipa::path(tag = "coop", request_body = SkuPatch, params(("id" = i64, Path)), responses((status = 200, body = service::SkuView), (status = 404), (status = 422, description = "invalid_product")))]
#[patch("/coop/skus/{id}")]
async fn api_update_sku(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<SkuPatch>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let (id, patch) = (path.into_inner(), body.into_inner());
    let view = state.db(move |conn| service::update_sku(conn, &m, id, &patch, now())).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Puts a SKU on pre-sale (预售), or changes its terms: orders until `ends_at`, parcels in the
/// queue from `ships_from` (default: the day the window ends), shipped by `ship_by`, at most
/// `per_buyer_limit` units per buyer. Its stock is the cap on the total sold.
#[utoipa::path(tag = "coop", request_body = crate::catalog::presale::PresaleInput, params(("id" = i64, Path)), responses((status = 200, body = service::SkuView), (status = 401), (status = 403), (status = 404), (status = 422, description = "invalid_presale")))]
#[put("/coop/skus/{id}/presale")]
async fn api_set_presale(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<crate::catalog::presale::PresaleInput>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let (id, input) = (path.into_inner(), body.into_inner());
    let view = state.db(move |conn| service::set_presale(conn, &m, id, &input, now())).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Ends a SKU's pre-sale: it is sold from stock again.
#[utoipa::path(tag = "coop", params(("id" = i64, Path)), responses((status = 200, body = service::SkuView), (status = 401), (status = 403), (status = 404)))]
#[delete("/coop/skus/{id}/presale")]
async fn api_clear_presale(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let id = path.into_inner();
    let view = state.db(move |conn| service::clear_presale(conn, &m, id, now())).await?;
    Ok(HttpResponse::Ok().json(view))
}

// ---------------------------------------------------------------------------------------
// Pages

/// The page's manager, or a redirect to the login page.
async fn page_manager(page: &Page, here: &str) -> Result<Result<Manager, HttpResponse>, AppError> {
    if page.user.is_none() {
        return Ok(Err(see_other(&format!("/login?next={here}"))));
    }
    Ok(Ok(manager(&page.state, &page.session).await?))
}

/// An error shown on the page itself (bad input), or passed on (a server fault).
fn form_error(page: &Page, e: AppError) -> Result<(String, StatusCode), AppError> {
    match e {
        e @ (AppError::Internal(_) | AppError::Unavailable | AppError::NotFound | AppError::Forbidden) => Err(e),
        e => Ok((page.error_text(&e), e.status_code())),
    }
}

#[derive(Serialize)]
struct HomeData {
    skus: Vec<service::SkuView>,
    low_count: usize,
    expired_certs: Vec<String>,
    to_ship: usize,
}

#[get("/coop")]
async fn home_page(page: Page) -> Result<HttpResponse, AppError> {
    let m = match page_manager(&page, "/coop").await? {
        Ok(m) => m,
        Err(redirect) => return Ok(redirect),
    };
    let today = now().date();
    let local = local_today(&page.state);
    let (skus, to_ship) = page
        .state
        .db(move |conn| Ok((service::skus(conn, &m, today)?, service::parts_to_ship(conn, &m, local)?.len())))
        .await?;
    let mut expired_certs: Vec<String> = skus.iter().filter(|s| s.cert_expired).map(|s| s.product_zh.clone()).collect();
    expired_certs.dedup();
    let data = HomeData { low_count: skus.iter().filter(|s| s.low_stock).count(), skus, expired_certs, to_ship };
    page.render("pages/coop_home", &page.t("coop_title"), true, data)
}

#[derive(Serialize)]
struct SkuPageData {
    sku: service::SkuView,
    history: Vec<service::HistoryEntry>,
    error: Option<String>,
    notice: Option<String>,
    reason: String,
    amount: String,
}

async fn render_sku(
    page: &Page,
    m: Manager,
    id: i64,
    error: Option<String>,
    notice: Option<String>,
    (reason, amount): (String, String),
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let (sku, history) = page
        .state
        .db(move |conn| {
            let row = m.sku(conn, id)?;
            let sku = service::sku_view_of(conn, row, now())?;
            Ok((sku, service::history(conn, &m, id, 50)?))
        })
        .await?;
    let data = SkuPageData { sku, history, error, notice, reason, amount };
    let mut response = page.render("pages/coop_sku", &page.t("coop_stock_title"), true, data)?;
    *response.status_mut() = status;
    Ok(response)
}

#[get("/coop/skus/{id}")]
async fn sku_page(page: Page, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let m = match page_manager(&page, &format!("/coop/skus/{id}")).await? {
        Ok(m) => m,
        Err(redirect) => return Ok(redirect),
    };
    render_sku(&page, m, id, None, None, Default::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
struct StockForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    /// "delta" or "set"
    mode: String,
    amount: String,
    reason: String,
}

#[post("/coop/skus/{id}/stock")]
async fn stock_submit(page: Page, path: web::Path<i64>, form: web::Form<StockForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let id = path.into_inner();
    let m = manager(&page.state, &page.session).await?;
    let form = form.into_inner();
    let amount = form.amount.trim().parse::<i64>().ok();
    let request = match (form.mode.as_str(), amount) {
        ("set", Some(n)) => StockRequest { set: Some(n), delta: None, reason: form.reason.clone() },
        ("delta", Some(n)) => StockRequest { delta: Some(n), set: None, reason: form.reason.clone() },
        _ => StockRequest { reason: form.reason.clone(), ..Default::default() },
    };
    let m2 = m.clone();
    let result = page.state.db(move |conn| service::change_stock(conn, &m2, id, &request, now())).await;
    match result {
        Ok(a) => {
            let notice = format!("{}: {} → {}", a.code, a.before, a.after);
            render_sku(&page, m, id, None, Some(notice), Default::default(), StatusCode::OK).await
        }
        Err(e) => {
            let (text, status) = form_error(&page, e)?;
            render_sku(&page, m, id, Some(text), None, (form.reason, form.amount), status).await
        }
    }
}

#[derive(Serialize, Default)]
struct BulkPageData {
    csv: String,
    error: Option<String>,
    rows: Vec<service::RowError>,
    applied: Option<usize>,
}

#[get("/coop/stock/bulk")]
async fn bulk_page(page: Page) -> Result<HttpResponse, AppError> {
    if let Err(redirect) = page_manager(&page, "/coop/stock/bulk").await? {
        return Ok(redirect);
    }
    page.render("pages/coop_bulk", &page.t("coop_bulk_title"), true, BulkPageData::default())
}

#[derive(Deserialize)]
struct BulkForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    csv: String,
}

#[post("/coop/stock/bulk")]
async fn bulk_submit(page: Page, form: web::Form<BulkForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let m = manager(&page.state, &page.session).await?;
    let csv = form.into_inner().csv;
    let text = csv.clone();
    let result = page.state.db(move |conn| Ok(service::bulk_stock(conn, &m, &text, now()))).await?;
    let (data, status) = match result {
        Ok(answer) => (BulkPageData { applied: Some(answer.applied), ..Default::default() }, StatusCode::OK),
        Err(BulkError::Rows(rows)) => (
            BulkPageData { csv, rows, error: Some(page.t("coop_bulk_rejected")), applied: None },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(BulkError::Other(e)) => {
            let (text, status) = form_error(&page, e)?;
            (BulkPageData { csv, error: Some(text), ..Default::default() }, status)
        }
    };
    let mut response = page.render("pages/coop_bulk", &page.t("coop_bulk_title"), true, data)?;
    *response.status_mut() = status;
    Ok(response)
}

#[derive(Serialize)]
struct ShippingData {
    parts: Vec<service::Part>,
    error: Option<String>,
    notice: Option<String>,
    rows: Vec<service::RowError>,
    csv: String,
    carriers: &'static [&'static str],
    total: usize,
    page: usize,
    pages: usize,
    prev_url: Option<String>,
    next_url: Option<String>,
}

/// Parcels listed on one shipping page.
const PARCELS_PER_PAGE: usize = 20;

pub use super::service::CARRIERS;

#[derive(Deserialize)]
struct ShippingQuery {
    page: Option<usize>,
}

async fn render_shipping(
    page: &Page,
    m: Manager,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    render_shipping_csv(page, m, error, notice, (Vec::new(), String::new()), status).await
}

async fn render_shipping_csv(
    page: &Page,
    m: Manager,
    error: Option<String>,
    notice: Option<String>,
    (rows, csv): (Vec<service::RowError>, String),
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    render_shipping_page(page, m, error, notice, (rows, csv), status, 1).await
}

#[allow(clippy::too_many_arguments)]
async fn render_shipping_page(
    page: &Page,
    m: Manager,
    error: Option<String>,
    notice: Option<String>,
    (rows, csv): (Vec<service::RowError>, String),
    status: StatusCode,
    number: usize,
) -> Result<HttpResponse, AppError> {
    let local = local_today(&page.state);
    let all = page.state.db(move |conn| service::parts_to_ship(conn, &m, local)).await?;
    let total = all.len();
    let pages = total.div_ceil(PARCELS_PER_PAGE).max(1);
    let number = number.clamp(1, pages);
    let parts = all.into_iter().skip((number - 1) * PARCELS_PER_PAGE).take(PARCELS_PER_PAGE).collect();
    let url = |n: usize| format!("/coop/shipping?page={n}");
    let data = ShippingData {
        parts,
        error,
        notice,
        rows,
        csv,
        carriers: CARRIERS,
        total,
        page: number,
        pages,
        prev_url: (number > 1).then(|| url(number - 1)),
        next_url: (number < pages).then(|| url(number + 1)),
    };
    let mut response = page.render("pages/coop_shipping", &page.t("coop_shipping_title"), true, data)?;
    *response.status_mut() = status;
    Ok(response)
}

#[get("/coop/shipping")]
async fn shipping_page(page: Page, query: web::Query<ShippingQuery>) -> Result<HttpResponse, AppError> {
    let m = match page_manager(&page, "/coop/shipping").await? {
        Ok(m) => m,
        Err(redirect) => return Ok(redirect),
    };
    let number = query.page.unwrap_or(1);
    render_shipping_page(&page, m, None, None, (Vec::new(), String::new()), StatusCode::OK, number).await
}

/// Ships the parcels ticked on the page with one carrier, each with its own tracking number:
/// written as the bulk CSV and shipped through it, so all of them go or none.
#[post("/coop/shipping/selected")]
async fn shipping_selected_submit(
    page: Page,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let fields = form.into_inner();
    let get =
        |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    session::verify_csrf(&page.session, &get("_csrf"))?;
    let m = manager(&page.state, &page.session).await?;
    let carrier = get("carrier");
    let picked: Vec<String> = fields.iter().filter(|(k, _)| k == "pick").map(|(_, v)| v.clone()).collect();
    let refuse = |key: &str| -> Result<String, AppError> { Ok(page.t(key)) };
    let error = if !CARRIERS.contains(&carrier.as_str()) {
        Some(refuse("coop_ship_choose_carrier")?)
    } else if picked.is_empty() {
        Some(refuse("coop_ship_choose_parcels")?)
    } else {
        None
    };
    let untracked: Vec<String> = picked
        .iter()
        .filter(|i| get(&format!("tracking_{i}")).is_empty())
        .map(|i| get(&format!("key_{i}")).split(',').next().unwrap_or_default().to_string())
        .collect();
    let error = match (error, untracked.is_empty()) {
        (Some(e), _) => Some(e),
        (None, false) => Some(format!("{}{}", page.t("coop_ship_tracking_missing"), untracked.join("、"))),
        (None, true) => None,
    };
    if let Some(text) = error {
        return render_shipping(&page, m, Some(text), None, StatusCode::BAD_REQUEST).await;
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = ["order_no", "carrier", "tracking_no", "recipient_id", "producer_id"];
    w.write_record(header).map_err(AppError::internal)?;
    for i in &picked {
        let key = get(&format!("key_{i}"));
        let mut parts = key.splitn(3, ',');
        let (order_no, recipient, producer) =
            (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let tracking = get(&format!("tracking_{i}"));
        w.write_record([order_no, carrier.as_str(), tracking.as_str(), recipient, producer])
            .map_err(AppError::internal)?;
    }
    let csv = String::from_utf8(w.into_inner().map_err(AppError::internal)?).map_err(AppError::internal)?;
    let (m2, text, settings) = (m.clone(), csv.clone(), page.state.order_settings());
    let result = page.state.db(move |conn| Ok(service::ship_csv(conn, &m2, &text, &settings, now()))).await?;
    match result {
        Ok(answers) => render_shipping(&page, m, None, Some(format!("{}", answers.len())), StatusCode::OK).await,
        Err(BulkError::Rows(rows)) => {
            let error = Some(page.t("coop_bulk_rejected"));
            render_shipping_csv(&page, m, error, None, (rows, csv), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(BulkError::Other(e)) => {
            let (text, status) = form_error(&page, e)?;
            render_shipping(&page, m, Some(text), None, status).await
        }
    }
}

#[derive(Deserialize)]
struct ShipForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    order_no: String,
    producer_id: i64,
    #[serde(default)]
    recipient_id: String,
    carrier: String,
    tracking_no: String,
}

#[post("/coop/shipping")]
async fn shipping_submit(page: Page, form: web::Form<ShipForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let m = manager(&page.state, &page.session).await?;
    let form = form.into_inner();
    let recipient_id = match form.recipient_id.trim() {
        "" => None,
        r => Some(r.parse::<i64>().map_err(|_| AppError::NotFound)?),
    };
    let request = ShipRequest {
        order_no: form.order_no,
        producer_id: Some(form.producer_id),
        recipient_id,
        carrier: form.carrier,
        tracking_no: form.tracking_no,
        after_sales_id: None,
    };
    let (m2, settings) = (m.clone(), page.state.order_settings());
    match page.state.db(move |conn| service::ship(conn, &m2, &request, &settings, now())).await {
        Ok(a) => {
            let notice = format!("{} · {} {}", a.order_no, a.carrier, a.tracking_no);
            render_shipping(&page, m, None, Some(notice), StatusCode::OK).await
        }
        Err(e) => {
            let (text, status) = form_error(&page, e)?;
            render_shipping(&page, m, Some(text), None, status).await
        }
    }
}

#[derive(Serialize)]
struct ReportsData {
    by: &'static str,
    from: String,
    to: String,
    rows: Vec<service::ReportRow>,
    query: String,
}

#[get("/coop/reports")]
async fn reports_page(page: Page, query: web::Query<SalesQuery>) -> Result<HttpResponse, AppError> {
    let m = match page_manager(&page, "/coop/reports").await? {
        Ok(m) => m,
        Err(redirect) => return Ok(redirect),
    };
    let q = query.into_inner();
    let today = now().date();
    let by = q.by.unwrap_or(GroupBy::Product);
    let from = q.from.unwrap_or_else(|| NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today));
    let to = q.to.unwrap_or(today);
    let rows = page.state.db(move |conn| service::sales_report(conn, &m, by, from, to)).await?;
    let by = match by {
        GroupBy::Product => "product",
        GroupBy::Campaign => "campaign",
        GroupBy::Month => "month",
        GroupBy::Day => "day",
    };
    let query = format!("by={by}&from={from}&to={to}");
    page.render(
        "pages/coop_reports",
        &page.t("coop_reports_title"),
        false,
        ReportsData { by, from: from.to_string(), to: to.to_string(), rows, query },
    )
}

#[derive(Serialize)]
struct ProductPageData {
    product: service::ProductView,
    images: Vec<service::ImageView>,
    error: Option<String>,
    notice: bool,
}

async fn render_product(
    page: &Page,
    m: Manager,
    id: i64,
    error: Option<String>,
    notice: bool,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let (product, images) = page
        .state
        .db(move |conn| Ok((service::product(conn, &m, id, now().date())?, service::images(conn, &m, id)?)))
        .await?;
    let mut response = page.render(
        "pages/coop_product",
        &page.t("coop_product_title"),
        true,
        ProductPageData { product, images, error, notice },
    )?;
    *response.status_mut() = status;
    Ok(response)
}

#[get("/coop/products/{id}")]
async fn product_page(page: Page, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let m = match page_manager(&page, &format!("/coop/products/{id}")).await? {
        Ok(m) => m,
        Err(redirect) => return Ok(redirect),
    };
    render_product(&page, m, id, None, false, StatusCode::OK).await
}

#[derive(Deserialize)]
struct ProductForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    name_zh: String,
    name_en: String,
    description_zh: String,
    description_en: String,
    aid_cert_no: String,
    aid_cert_expires: String,
    /// Present when the box is ticked.
    listed: Option<String>,
}

#[post("/coop/products/{id}")]
async fn product_submit(
    page: Page,
    path: web::Path<i64>,
    form: web::Form<ProductForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let id = path.into_inner();
    let m = manager(&page.state, &page.session).await?;
    let f = form.into_inner();
    let patch = ProductPatch {
        name_zh: Some(f.name_zh),
        name_en: Some(f.name_en),
        description_zh: Some(f.description_zh),
        description_en: Some(f.description_en),
        aid_cert_no: Some(f.aid_cert_no),
        aid_cert_expires: Some(f.aid_cert_expires),
        listed: Some(f.listed.is_some()),
    };
    let m2 = m.clone();
    match page.state.db(move |conn| service::update_product(conn, &m2, id, &patch, now())).await {
        Ok(_) => render_product(&page, m, id, None, true, StatusCode::OK).await,
        Err(e) => {
            let (text, status) = form_error(&page, e)?;
            render_product(&page, m, id, Some(text), false, status).await
        }
    }
}

#[derive(Deserialize)]
struct SkuEditForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    price: String,
    low_stock_threshold: String,
    max_points_pct: String,
    charity_donation: String,
    listed: Option<String>,
}

#[post("/coop/skus/{id}/edit")]
async fn sku_edit_submit(
    page: Page,
    path: web::Path<i64>,
    form: web::Form<SkuEditForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let id = path.into_inner();
    let m = manager(&page.state, &page.session).await?;
    let f = form.into_inner();
    let bad = || AppError::unprocessable("invalid_product", "check the numbers / 请检查填写的数字");
    let parsed = (|| {
        Ok::<_, AppError>(SkuPatch {
            price: Some(f.price.trim().parse().map_err(|_| bad())?),
            low_stock_threshold: Some(f.low_stock_threshold.trim().parse().map_err(|_| bad())?),
            max_points_pct: Some(f.max_points_pct.trim().parse().map_err(|_| bad())?),
            charity_donation: Some(f.charity_donation.trim().parse().map_err(|_| bad())?),
            listed: Some(f.listed.is_some()),
            ..Default::default()
        })
    })();
    let m2 = m.clone();
    let result = match parsed {
        Ok(patch) => page.state.db(move |conn| service::update_sku(conn, &m2, id, &patch, now())).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(s) => {
            let notice = format!("{} ¥{}", s.code, s.price);
            render_sku(&page, m, id, None, Some(notice), Default::default(), StatusCode::OK).await
        }
        Err(e) => {
            let (text, status) = form_error(&page, e)?;
            render_sku(&page, m, id, Some(text), None, Default::default(), status).await
        }
    }
}

#[derive(Deserialize)]
struct PresaleForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    /// `save` or `clear`.
    action: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default)]
    ships_from: String,
    #[serde(default)]
    ship_by: String,
    #[serde(default)]
    per_buyer_limit: String,
}

/// The SKU page's pre-sale form: the end time is typed in the store's time zone.
#[post("/coop/skus/{id}/presale")]
async fn sku_presale_submit(
    page: Page,
    path: web::Path<i64>,
    form: web::Form<PresaleForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let id = path.into_inner();
    let m = manager(&page.state, &page.session).await?;
    let f = form.into_inner();
    let zone = page.state.config.timezone;
    let bad = || AppError::unprocessable("invalid_presale", "check the dates and the limit / 请检查预售日期和限购数量");
    let parsed = (|| {
        use chrono::TimeZone;
        let local = chrono::NaiveDateTime::parse_from_str(f.ends_at.trim(), "%Y-%m-%dT%H:%M").map_err(|_| bad())?;
        let ends_at = zone.from_local_datetime(&local).earliest().ok_or_else(bad)?.naive_utc();
        let ships_from = match f.ships_from.trim() {
            "" => None,
            d => Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad())?),
        };
        Ok::<_, AppError>(crate::catalog::presale::PresaleInput {
            ends_at,
            ships_from,
            ship_by: NaiveDate::parse_from_str(f.ship_by.trim(), "%Y-%m-%d").map_err(|_| bad())?,
            per_buyer_limit: f.per_buyer_limit.trim().parse().map_err(|_| bad())?,
        })
    })();
    let m2 = m.clone();
    let clear = f.action == "clear";
    let result = match (clear, parsed) {
        (true, _) => page.state.db(move |conn| service::clear_presale(conn, &m2, id, now())).await,
        (false, Ok(input)) => page.state.db(move |conn| service::set_presale(conn, &m2, id, &input, now())).await,
        (false, Err(e)) => Err(e),
    };
    match result {
        Ok(s) => {
            let key = if clear { "coop_presale_cleared" } else { "coop_presale_saved" };
            let notice = format!("{} {}", s.code, page.t(key));
            render_sku(&page, m, id, None, Some(notice), Default::default(), StatusCode::OK).await
        }
        Err(e) => {
            let (text, status) = form_error(&page, e)?;
            render_sku(&page, m, id, Some(text), None, Default::default(), status).await
        }
    }
}

#[post("/coop/shipping/bulk")]
async fn shipping_bulk_submit(page: Page, form: web::Form<BulkForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let m = manager(&page.state, &page.session).await?;
    let csv = form.into_inner().csv;
    let (m2, text, settings) = (m.clone(), csv.clone(), page.state.order_settings());
    let result = page.state.db(move |conn| Ok(service::ship_csv(conn, &m2, &text, &settings, now()))).await?;
    match result {
        Ok(answers) => {
            let notice = format!("{}", answers.len());
            render_shipping(&page, m, None, Some(notice), StatusCode::OK).await
        }
        Err(BulkError::Rows(rows)) => {
            let error = Some(page.t("coop_bulk_rejected"));
            render_shipping_csv(&page, m, error, None, (rows, csv), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(BulkError::Other(e)) => {
            let (text, status) = form_error(&page, e)?;
            render_shipping_csv(&page, m, Some(text), None, (Vec::new(), csv), status).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Images

pub fn images_dir(state: &AppState) -> std::path::PathBuf {
    state.config.data_dir.join("images")
}

/// Reads a body up to the image limit, refusing more without reading it all.
pub async fn read_capped(
    mut stream: impl futures_util::Stream<Item = Result<web::Bytes, impl std::fmt::Display>> + Unpin,
) -> Result<Vec<u8>, AppError> {
    use futures_util::StreamExt;
    let mut data = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| AppError::bad_request("invalid_upload", format!("the upload broke off: {e} / 上传中断")))?;
        if data.len() + chunk.len() > service::MAX_IMAGE_BYTES {
            return Err(service::too_large());
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

/// Uploads a product image as the raw request body (JPEG, PNG or WebP, at most 2 MiB; the
/// type is read from the bytes).
#[utoipa::path(tag = "coop", params(("id" = i64, Path)), request_body(content = Vec<u8>, content_type = "image/jpeg"), responses((status = 201, body = service::ImageView), (status = 404), (status = 422, description = "unsupported_image, image_too_large, too_many_images")))]
#[post("/coop/products/{id}/images")]
async fn api_upload_image(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let id = path.into_inner();
    let data = read_capped(payload).await?;
    let dir = images_dir(&state);
    let view = state.db(move |conn| service::add_image(conn, &m, id, &data, &dir, now())).await?;
    Ok(HttpResponse::Created().json(view))
}

/// The product page's upload form (multipart: `_csrf` and `image`).
#[post("/coop/products/{id}/images")]
async fn image_upload_submit(
    page: Page,
    path: web::Path<i64>,
    mut form: actix_multipart::Multipart,
) -> Result<HttpResponse, AppError> {
    use futures_util::StreamExt;
    let id = path.into_inner();
    let (mut csrf, mut image) = (String::new(), None);
    while let Some(field) = form.next().await {
        let field = field.map_err(|e| AppError::bad_request("invalid_form", format!("{e} / 表单内容有误")))?;
        match field.name() {
            Some("_csrf") => csrf = String::from_utf8_lossy(&read_capped(field).await?).into_owned(),
            Some("image") => image = Some(read_capped(field).await?),
            _ => {}
        }
    }
    session::verify_csrf(&page.session, &csrf)?;
    let m = manager(&page.state, &page.session).await?;
    let data = image.unwrap_or_default();
    let (m2, dir) = (m.clone(), images_dir(&page.state));
    match page.state.db(move |conn| service::add_image(conn, &m2, id, &data, &dir, now())).await {
        Ok(_) => render_product(&page, m, id, None, true, StatusCode::OK).await,
        Err(e) => {
            let (text, status) = form_error(&page, e)?;
            render_product(&page, m, id, Some(text), false, status).await
        }
    }
}

/// A product image: content-hashed names never change, so caches may keep them for a year.
#[get("/images/{name}")]
async fn image_file(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, AppError> {
    let name = path.into_inner();
    let derivative = crate::catalog::images::is_derivative_name(&name);
    if !derivative && !service::valid_image_name(&name) {
        return Err(AppError::NotFound);
    }
    let etag = format!("\"{}\"", name.split('.').next().unwrap_or_default());
    let lookup = name.clone();
    // A derivative is a JPEG made here on upload; it is served when its file exists.
    let content_type = if derivative {
        "image/jpeg".to_string()
    } else {
        state.db(move |conn| Ok(super::model::image_type(conn, &lookup)?)).await?.ok_or(AppError::NotFound)?
    };
    let cache = (header::CACHE_CONTROL, "public, max-age=31536000, immutable");
    let matches = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    if matches {
        return Ok(HttpResponse::NotModified().insert_header(cache).insert_header((header::ETAG, etag)).finish());
    }
    let file = images_dir(&state).join(&name);
    let data = web::block(move || std::fs::read(file)).await?.map_err(|_| AppError::NotFound)?;
    // Shown in place, never sniffed as anything else (the security headers add nosniff too).
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(cache)
        .insert_header((header::ETAG, etag))
        .body(data))
}
