//! The flash-sale API: make a sale, list and read sales, and buy in one (admission first).

use actix_session::Session;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};

use super::admission::{Seed, Verdict};
use super::service::{self, ListQuery, NewSaleRequest, Running, SaleOrderRequest, SaleView};
use crate::accounts::routes::require_me;
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::orders::service::OrderView;
use crate::web::auth::CurrentUser;
use crate::web::list::Items;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_create).service(api_list).service(api_get).service(api_order);
}

/// Schedules a flash sale (直播秒杀) on one SKU: a platform admin for any SKU, a cooperative
/// manager for its own (another cooperative's SKU is 404). The quantity is set aside from
/// stock at once; what is not sold goes back when the sale ends.
#[utoipa::path(tag = "flash sales", request_body = NewSaleRequest,
    responses((status = 201, body = SaleView), (status = 400, description = "invalid_json, invalid_flash_sale"),
        (status = 401, description = "unauthenticated"), (status = 403, description = "forbidden"),
        (status = 404, description = "not_found (no such SKU, or another cooperative's)"),
        (status = 409, description = "insufficient_stock"),
        (status = 422, description = "unknown_sku, campaign_not_applicable")))]
#[post("/flash-sales")]
async fn api_create(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<NewSaleRequest>,
) -> Result<HttpResponse, AppError> {
    let me = require_me(&state, &session).await?;
    let maker = service::Maker::of(&me)?;
    let request = body.into_inner();
    let view = state.db(move |conn| service::create(conn, &maker, &request, Utc::now().naive_utc())).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Flash sales, by status: `upcoming` (soonest first), `live` (ending soonest first) or
/// `ended`; all when left out (newest first). At most 100.
#[utoipa::path(tag = "flash sales", params(ListQuery),
    responses((status = 200, body = Items<SaleView>), (status = 400, description = "invalid_query")))]
#[get("/flash-sales")]
async fn api_list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<Items<SaleView>>, AppError> {
    let query = query.into_inner();
    let items = state.db(move |conn| service::list(conn, &query, Utc::now().naive_utc())).await?;
    Ok(web::Json(Items { items }))
}

/// One flash sale, with the units remaining.
#[utoipa::path(tag = "flash sales", params(("id" = i64, Path, description = "flash sale id")),
    responses((status = 200, body = SaleView), (status = 404, description = "not_found")))]
#[get("/flash-sales/{id}")]
async fn api_get(state: web::Data<AppState>, path: web::Path<i64>) -> Result<web::Json<SaleView>, AppError> {
    let id = path.into_inner();
    Ok(web::Json(state.db(move |conn| service::get(conn, id, Utc::now().naive_utc())).await?))
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, AppError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 200)
            .map(|k| Some(k.to_string()))
            .ok_or_else(|| {
                AppError::bad_request("invalid_idempotency_key", "Idempotency-Key must be 1 to 200 visible characters")
            }),
    }
}

/// Under load, a full pool or a locked database file is "busy, try again", never a 5xx.
fn busy(e: AppError) -> AppError {
    match e {
        AppError::Unavailable => AppError::Contention("no database connection free".into()),
        AppError::Internal(detail) if detail.contains("database is locked") => AppError::Contention(detail),
        other => other,
    }
}

/// The sale's figures for admission: from the in-process cache (one second), else the database.
async fn running(state: &AppState, id: i64) -> Result<Running, AppError> {
    if let Some(sale) = state.flash.cached_sale(id) {
        return Ok(sale);
    }
    let sale = state.db(move |conn| service::running(conn, id)).await.map_err(busy)?.ok_or(AppError::NotFound)?;
    state.flash.remember_sale(sale.clone());
    Ok(sale)
}

/// Buys in a flash sale. Admission comes first: an atomic check-and-take of the sale's
/// remaining units and the buyer's limit (one Lua script in Redis, or in-process), so a
/// sold-out sale answers without touching the database. The admitted buyer's order then goes
/// through the normal placement pipeline at the sale price (points within the SKU's cap) and
/// must be paid within `AIDMART_FLASH_PAY_MINUTES`, or it is cancelled and its units go back
/// to the sale. Send an `Idempotency-Key` so that a retry returns the first answer.
#[utoipa::path(tag = "flash sales", request_body = SaleOrderRequest,
    params(("id" = i64, Path, description = "flash sale id"),
        ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same body; 409 idempotency_conflict for another body")),
    responses((status = 201, body = OrderView), (status = 400, description = "invalid_json, invalid_quantity, invalid_address, invalid_points"),
        (status = 401, description = "unauthenticated"), (status = 404, description = "not_found"),
        (status = 409, description = "sold_out, limit_reached, not_started, ended, busy, idempotency_conflict"),
        (status = 422, description = "insufficient_points, points_cap_exceeded, unknown_sku")))]
#[post("/flash-sales/{id}/orders")]
async fn api_order(
    req: HttpRequest,
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request("invalid_json", format!("the body is not JSON: {e}")))?;
    let request: SaleOrderRequest = serde_json::from_value(value.clone())
        .map_err(|e| AppError::bad_request("invalid_json", format!("{e} / 请求格式错误")))?;
    let key = idempotency_key(&req)?;
    // serde_json keeps object keys sorted, so equal bodies hash equally whatever their order.
    let hash = hex::encode(Sha256::digest(format!("flash-sale:{id}:{value}").as_bytes()));
    match order(&state, user.id, id, request, key.map(|k| (k, hash))).await {
        Ok(Bought::New(view)) => Ok(HttpResponse::Created().json(*view)),
        Ok(Bought::Replayed(body)) => Ok(replayed(body)),
        // The expected answers of a sale (most attempts in its first second) are answered as
        // responses, not errors, so the request logger does not write a warning for each.
        Err(e) if matches!(e.code(), "sold_out" | "limit_reached" | "not_started" | "ended") => {
            Ok(actix_web::ResponseError::error_response(&e))
        }
        Err(e) => Err(e),
    }
}

/// What buying answered: a new order, or the first answer to the same Idempotency-Key.
pub enum Bought {
    New(Box<OrderView>),
    Replayed(String),
}

/// Buys in a sale for a logged-in buyer (the API and the buy page): replay, checks,
/// admission, then the order in one transaction; an admission whose order fails is given
/// back unless the database itself refused it (see `service::refused_by_database`).
pub async fn order(
    state: &web::Data<AppState>,
    buyer_id: i64,
    id: i64,
    request: SaleOrderRequest,
    key: Option<(String, String)>,
) -> Result<Bought, AppError> {
    if let Some((key, hash)) = key.clone() {
        let replay =
            state.db(move |conn| crate::orders::service::replay(conn, buyer_id, &key, &hash)).await.map_err(busy)?;
        if let Some(body) = replay {
            return Ok(Bought::Replayed(body));
        }
    }
    request.check()?;
    let now = Utc::now().naive_utc();
    let sale = running(state, id).await?;
    sale.check(now)?;
    let ticket = admit(state, &sale, buyer_id, request.quantity).await?;
    let mut settings = state.order_settings();
    settings.payment_timeout = Duration::minutes(state.config.flash_pay_minutes);
    // Placing and giving back run as their own task, so that a buyer who hangs up after being
    // admitted neither leaves the admission taken nor stops the order half-way.
    let placing = {
        let (state, key) = (state.clone(), key.clone());
        actix_web::rt::spawn(async move {
            let placed = state
                .db(move |conn| {
                    let key = key.as_ref().map(|(k, h)| (k.as_str(), h.as_str()));
                    service::place(conn, &settings, id, buyer_id, &request, key, now)
                })
                .await
                .map_err(busy);
            if let Err(e) = &placed {
                if !service::refused_by_database(e) {
                    if let Err(lost) = state.flash.give_back(&state.cache, &ticket).await {
                        tracing::warn!(error = %lost, sale = id, "flash-sale admission not given back");
                    }
                }
            }
            placed
        })
    };
    match placing.await.map_err(AppError::internal)? {
        Ok(view) => Ok(Bought::New(Box::new(view))),
        Err(e) => {
            // A twin with the same key may have finished first: answer as it did.
            if let Some((key, hash)) = key {
                let replay = state
                    .db(move |conn| crate::orders::service::replay(conn, buyer_id, &key, &hash))
                    .await
                    .map_err(busy);
                if let Ok(Some(body)) = replay {
                    return Ok(Bought::Replayed(body));
                }
            }
            Err(e)
        }
    }
}

fn replayed(body: String) -> HttpResponse {
    HttpResponse::Created().content_type("application/json").insert_header(("idempotent-replay", "true")).body(body)
}

/// Admission: takes the units or answers 409 `sold_out` / `limit_reached`; a missing or stale
/// state is seeded from the database first.
async fn admit(
    state: &AppState,
    sale: &Running,
    buyer_id: i64,
    quantity: i64,
) -> Result<super::admission::Ticket, AppError> {
    for _ in 0..3 {
        match state
            .flash
            .admit(&state.cache, sale.id, sale.generation, sale.per_buyer_limit, buyer_id, quantity)
            .await?
        {
            Verdict::Admitted(ticket) => return Ok(ticket),
            Verdict::SoldOut => return Err(service::sold_out()),
            Verdict::LimitReached => return Err(service::limit_reached()),
            Verdict::Unseeded => {
                let id = sale.id;
                let service::SaleState { generation, left, holdings } =
                    state.db(move |conn| service::seed_of(conn, id)).await.map_err(busy)?;
                let ttl = (sale.ends_at - Utc::now().naive_utc() + Duration::days(1))
                    .to_std()
                    .unwrap_or(std::time::Duration::from_secs(86_400));
                state.flash.seed(&state.cache, id, Seed { generation, left, holdings, ttl }).await?;
                if generation > sale.generation {
                    state.flash.remember_sale(Running { generation, ..sale.clone() });
                }
            }
        }
    }
    Err(AppError::Contention("the sale's admission state keeps changing".into()))
}
