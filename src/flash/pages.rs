//! What product and campaign pages show of flash sales (price, what is left, a countdown, the
//! live stream, a buy button), and the buy page: phone first, Chinese first.

use actix_web::{get, post, web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::routes::{order, Bought};
use super::service::{self, SaleOrderRequest, SaleView};
use crate::app::AppState;
use crate::error::AppError;
use crate::orders::service::{Address, OrderView};
use crate::web::page::{see_other, Page};
use crate::web::session;

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(buy_page).service(buy_submit);
}

/// One sale as a page shows it. `starts_ms`/`ends_ms` (Unix milliseconds) drive the countdown
/// in `static/flash.js`; the times themselves are printed in the store's zone.
#[derive(Debug, Clone, Serialize)]
pub struct SaleBox {
    #[serde(flatten)]
    pub sale: SaleView,
    pub live: bool,
    pub sold_out: bool,
    pub starts_ms: i64,
    pub ends_ms: i64,
}

fn boxed(sale: SaleView) -> SaleBox {
    SaleBox {
        live: sale.status == "live",
        sold_out: sale.remaining <= 0,
        starts_ms: sale.starts_at.and_utc().timestamp_millis(),
        ends_ms: sale.ends_at.and_utc().timestamp_millis(),
        sale,
    }
}

/// The live and upcoming sales of a product, or of a campaign.
pub async fn showing(
    state: &AppState,
    product_id: Option<i64>,
    campaign_id: Option<i64>,
) -> Result<Vec<SaleBox>, AppError> {
    let sales = state.db(move |conn| service::showing(conn, product_id, campaign_id, Utc::now().naive_utc())).await?;
    Ok(sales.into_iter().map(boxed).collect())
}

#[derive(Serialize)]
struct BuyData {
    sale: SaleBox,
    address: Address,
    quantity: i64,
    points: i64,
    idempotency_key: String,
    error: Option<String>,
}

fn empty_address() -> Address {
    Address {
        name: String::new(),
        mobile: String::new(),
        province: String::new(),
        city: String::new(),
        district: String::new(),
        detail: String::new(),
    }
}

async fn buy_data(
    page: &Page,
    id: i64,
    address: Option<Address>,
    quantity: i64,
    points: i64,
    error: Option<String>,
) -> Result<BuyData, AppError> {
    let user_id = page.user.as_ref().map(|u| u.id);
    let (sale, saved) = page
        .state
        .db(move |conn| {
            let sale = service::get(conn, id, Utc::now().naive_utc())?;
            let saved = match user_id {
                Some(user) => crate::addresses::model::list(conn, user)?.into_iter().find(|a| a.is_default),
                None => None,
            };
            Ok((sale, saved))
        })
        .await?;
    let address = address.unwrap_or_else(|| match saved {
        Some(a) => Address {
            name: a.name,
            mobile: a.mobile,
            province: a.province,
            city: a.city,
            district: a.district,
            detail: a.detail,
        },
        None => empty_address(),
    });
    let idempotency_key = crate::orders::service::random_token(24);
    Ok(BuyData { sale: boxed(sale), address, quantity, points, idempotency_key, error })
}

#[get("/flash-sales/{id}")]
async fn buy_page(page: Page, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    if page.user.is_none() {
        return Ok(see_other(&format!("/login?next=/flash-sales/{id}")));
    }
    let data = buy_data(&page, id, None, 1, 0, None).await?;
    let title =
        format!("{} {}", page.t("flash_title"), page.lang.pick(&data.sale.sale.product_zh, &data.sale.sale.product_en));
    page.render("pages/flash_sale", &title, true, data)
}

#[derive(Deserialize)]
struct BuyForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    idempotency_key: String,
    quantity: String,
    #[serde(default)]
    points: String,
    name: String,
    mobile: String,
    province: String,
    city: String,
    district: String,
    detail: String,
    #[serde(default, rename = "division_code")]
    _division_code: String,
}

fn whole(raw: &str, code: &'static str, empty: i64) -> Result<i64, AppError> {
    let v = raw.trim();
    if v.is_empty() {
        return Ok(empty);
    }
    v.parse().map_err(|_| AppError::bad_request(code, format!("'{v}' is not a whole number / 请输入整数")))
}

#[post("/flash-sales/{id}/buy")]
async fn buy_submit(page: Page, path: web::Path<i64>, form: web::Form<BuyForm>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    session::verify_csrf(&page.session, &form.csrf)?;
    let Some(user) = page.user.clone() else {
        return Ok(see_other(&format!("/login?next=/flash-sales/{id}")));
    };
    let form = form.into_inner();
    let address = Address {
        name: form.name,
        mobile: form.mobile,
        province: form.province,
        city: form.city,
        district: form.district,
        detail: form.detail,
    };
    let quantity = whole(&form.quantity, "invalid_quantity", 1);
    let points = whole(&form.points, "invalid_points", 0);
    let shown = (*quantity.as_ref().unwrap_or(&1), *points.as_ref().unwrap_or(&0));
    let result = match (quantity, points) {
        (Ok(quantity), Ok(points)) => {
            let request = SaleOrderRequest { quantity, points, address: address.clone() };
            let fingerprint =
                serde_json::json!({"sale": id, "quantity": quantity, "points": points, "address": &address});
            let hash = hex::encode(Sha256::digest(fingerprint.to_string().as_bytes()));
            let key = form.idempotency_key.trim().chars().take(200).collect::<String>();
            let key = if key.is_empty() { None } else { Some((key, hash)) };
            order(&page.state, user.id, id, request, key).await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(Bought::New(view)) => Ok(see_other(&format!("/orders/{}?notice=placed", view.order_no))),
        Ok(Bought::Replayed(body)) => {
            let view: OrderView = serde_json::from_str(&body).map_err(AppError::internal)?;
            Ok(see_other(&format!("/orders/{}?notice=placed", view.order_no)))
        }
        Err(e @ (AppError::Internal(_) | AppError::Unauthenticated | AppError::NotFound)) => Err(e),
        Err(e) => {
            let status = actix_web::ResponseError::status_code(&e);
            let data = buy_data(&page, id, Some(address), shown.0, shown.1, Some(page.error_text(&e))).await?;
            let title = page.t("flash_title");
            let mut response = page.render("pages/flash_sale", &title, true, data)?;
            *response.status_mut() = status;
            Ok(response)
        }
    }
}
