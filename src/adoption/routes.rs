//! The adoption API: offers, adopting, units, the adopter's adoptions, and the cooperative's
//! offers, updates and failed deliveries.

use actix_session::Session;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::service::{self, AdoptOutcome, AdoptRequest, FailRequest, OfferInput, UpdateInput};
use crate::accounts::routes::require_me;
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::orders::service::{Address, Buyer};
use crate::web::auth::CurrentUser;
use crate::web::list::Items;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_offers)
        .service(api_offer)
        .service(api_adopt)
        .service(api_unit)
        .service(api_mine)
        .service(api_my_address)
        .service(api_coop_offers)
        .service(api_coop_create)
        .service(api_coop_offer)
        .service(api_coop_update)
        .service(api_coop_fail);
}

fn now() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

/// The Idempotency-Key header, if sent (1 to 200 visible characters).
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, AppError> {
    match req.headers().get("idempotency-key") {
        Some(v) => {
            let key = v.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= 200);
            Ok(Some(
                key.ok_or_else(|| {
                    AppError::bad_request(
                        "invalid_idempotency_key",
                        "Idempotency-Key must be 1 to 200 visible characters",
                    )
                })?
                .to_string(),
            ))
        }
        None => Ok(None),
    }
}

/// Every adoption offer, newest first.
#[utoipa::path(tag = "adoption", responses((status = 200, body = Items<service::OfferView>)))]
#[get("/adoptions")]
async fn api_offers(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let items = state.db(service::offers).await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

/// One offer: season, price, units left, delivery plan (each delivery's share of the price).
#[utoipa::path(tag = "adoption", params(("id" = i64, Path)), responses((status = 200, body = service::OfferView), (status = 404)))]
#[get("/adoptions/{id}")]
async fn api_offer(state: web::Data<AppState>, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let offer = state.db(move |conn| service::offer(conn, id)).await?;
    Ok(HttpResponse::Ok().json(offer))
}

/// Adopts units of an offer: an order through the normal pipeline (one line and one parcel
/// per planned delivery), paid like any order (`payment_url`), or on an organisation's account
/// with `"account":{"org_id":…}`. Units are numbered when paid (1..N per offer, no gaps).
#[utoipa::path(tag = "adoption", request_body = AdoptRequest, params(("id" = i64, Path),
    ("Idempotency-Key" = Option<String>, Header, description = "replays the first answer for the same body; 409 idempotency_conflict for another body")),
    responses((status = 201, body = service::AdoptView),
        (status = 400, description = "invalid_json, invalid_units, invalid_certificate_name, invalid_address, invalid_points, invalid_idempotency_key"),
        (status = 401, description = "unauthenticated"), (status = 403, description = "not an admin of the organisation"), (status = 404),
        (status = 409, description = "sold_out, offer_closed, out_of_stock, budget_exceeded, idempotency_conflict"),
        (status = 422, description = "insufficient_points, points_cap_exceeded, points_not_accepted, account_not_supported")))]
#[post("/adoptions/{id}/adopt")]
async fn api_adopt(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let buyer = Buyer::from(require_me(&state, &session).await?);
    let id = path.into_inner();
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request("invalid_json", format!("the body is not JSON: {e}")))?;
    let request: AdoptRequest = serde_json::from_value(value.clone())
        .map_err(|e| AppError::bad_request("invalid_json", format!("{e} / 请求格式错误")))?;
    let key = idempotency_key(&req)?;
    let hash = hex::encode(Sha256::digest(format!("adopt:{id}:{value}").as_bytes()));
    let settings = state.order_settings();
    let outcome = state
        .db(move |conn| {
            service::adopt(conn, &settings, &buyer, id, &request, key.as_deref().map(|k| (k, hash.as_str())), now())
        })
        .await?;
    Ok(match outcome {
        AdoptOutcome::New(view) => HttpResponse::Created().json(*view),
        AdoptOutcome::Replayed(body) => HttpResponse::Created().content_type("application/json").body(body),
    })
}

/// A unit's public page: offer, number, masked adopter (李*), updates, delivery plan and
/// status. 404 until its adoption is paid.
#[utoipa::path(tag = "adoption", params(("id" = i64, Path)), responses((status = 200, body = service::UnitView), (status = 404)))]
#[get("/adopted-units/{id}")]
async fn api_unit(state: web::Data<AppState>, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let unit = state.db(move |conn| service::unit_view(conn, id)).await?;
    Ok(HttpResponse::Ok().json(unit))
}

/// The caller's adoptions: units, certificate links, address, each delivery's status.
#[utoipa::path(tag = "adoption", responses((status = 200, body = Items<service::MyAdoption>), (status = 401)))]
#[get("/me/adoptions")]
async fn api_mine(state: web::Data<AppState>, CurrentUser(user): CurrentUser) -> Result<HttpResponse, AppError> {
    let items = state.db(move |conn| service::my_adoptions(conn, user.id)).await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

/// Changes where the adoption's deliveries go: every delivery not yet in the shipping queue
/// (a delivery joins it on its date, with the address of that moment).
#[utoipa::path(tag = "adoption", request_body = Address, params(("id" = i64, Path)),
    responses((status = 200, body = service::MyAdoption), (status = 400, description = "invalid_address"), (status = 401), (status = 404), (status = 409, description = "invalid_state")))]
#[put("/me/adoptions/{id}/address")]
async fn api_my_address(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
    body: web::Json<Address>,
) -> Result<HttpResponse, AppError> {
    let (id, address) = (path.into_inner(), body.into_inner());
    let view = state.db(move |conn| service::change_address(conn, user.id, id, &address)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The manager's adoption offers.
#[utoipa::path(tag = "coop", responses((status = 200, body = Items<service::OfferView>), (status = 401), (status = 403)))]
#[get("/coop/adoptions")]
async fn api_coop_offers(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    let m = crate::coop::routes::manager(&state, &session).await?;
    let items = state.db(move |conn| service::coop_offers(conn, &m)).await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

/// Offers units of a product of the manager's cooperative for adoption (another
/// cooperative's product: 404). Each delivery's SKU must be the product's; its date within
/// the season. One unit's price is shared over the deliveries by quantity.
#[utoipa::path(tag = "coop", request_body = OfferInput, responses((status = 201, body = service::OfferView),
    (status = 400, description = "invalid_json, invalid_kind, invalid_title, invalid_season, invalid_price, invalid_units, invalid_deliveries"),
    (status = 401), (status = 403), (status = 404), (status = 422, description = "unknown_sku, price_too_low")))]
#[post("/coop/adoptions")]
async fn api_coop_create(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<OfferInput>,
) -> Result<HttpResponse, AppError> {
    let m = crate::coop::routes::manager(&state, &session).await?;
    let input = body.into_inner();
    let offer = state.db(move |conn| service::create_offer(conn, &m, &input, now())).await?;
    Ok(HttpResponse::Created().json(offer))
}

/// One of the manager's offers with its numbered units (masked names) and updates.
#[utoipa::path(tag = "coop", params(("id" = i64, Path)), responses((status = 200, body = service::CoopOfferView), (status = 401), (status = 403), (status = 404)))]
#[get("/coop/adoptions/{id}")]
async fn api_coop_offer(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let m = crate::coop::routes::manager(&state, &session).await?;
    let id = path.into_inner();
    let view = state.db(move |conn| service::coop_offer_view(conn, &m, id)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Posts progress (text and photos) to some adopted units (`unit_ids`) or to all; each
/// adopter concerned is mailed once.
#[utoipa::path(tag = "coop", request_body = UpdateInput, params(("id" = i64, Path)),
    responses((status = 201, body = service::UpdateAnswer), (status = 400, description = "invalid_json, invalid_text"), (status = 401), (status = 403), (status = 404),
        (status = 422, description = "unknown_unit, unknown_photo, too_many_photos")))]
#[post("/coop/adoptions/{id}/updates")]
async fn api_coop_update(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<UpdateInput>,
) -> Result<HttpResponse, AppError> {
    let m = crate::coop::routes::manager(&state, &session).await?;
    let (id, input) = (path.into_inner(), body.into_inner());
    let public_url = state.config.public_url.clone();
    let answer = state.db(move |conn| service::post_update(conn, &m, id, &input, &public_url, now())).await?;
    Ok(HttpResponse::Created().json(answer))
}

/// The cooperative cannot make this planned delivery: every adopter's parcel of it not yet
/// shipped is marked failed with the reason, and exactly that delivery's share is refunded
/// (cash and points as paid); the rest of each adoption stands.
#[utoipa::path(tag = "coop", request_body = FailRequest, params(("id" = i64, Path), ("delivery_id" = i64, Path)),
    responses((status = 200, body = service::FailAnswer), (status = 400, description = "invalid_json, invalid_reason"), (status = 401), (status = 403), (status = 404)))]
#[post("/coop/adoptions/{id}/deliveries/{delivery_id}/fail")]
async fn api_coop_fail(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(i64, i64)>,
    body: web::Json<FailRequest>,
) -> Result<HttpResponse, AppError> {
    let m = crate::coop::routes::manager(&state, &session).await?;
    let ((id, delivery_id), request) = (path.into_inner(), body.into_inner());
    let settings = state.order_settings();
    let answer =
        state.db(move |conn| service::fail_delivery(conn, &settings, &m, id, delivery_id, &request, now())).await?;
    Ok(HttpResponse::Ok().json(answer))
}
