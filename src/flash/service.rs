//! Flash-sale rules: making a sale (its units set aside from stock), what a sale shows,
//! placing an admitted buyer's order through the one placement pipeline at the sale price,
//! units coming back when an unpaid order is cancelled, and closing ended sales.
//!
//! Lock order: a sale's row comes after the order's rows and payments (and budgets) and
//! before SKUs: placing locks it after `orders::service::place` wrote the order; cancelling
//! (in the `Cancelled` hook) after the order; closing locks it, then the SKU.

use chrono::{DateTime, Duration, NaiveDateTime};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{self, Listed, NewSale, SaleRow, When};
use crate::accounts::model::Role;
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::inventory;
use crate::money::Money;
use crate::orders::hooks::OrderEvent;
use crate::orders::pricing::{self, PricedLine};
use crate::orders::service::{self as orders, Address, Draft, LineRequest, OrderView, PreparedLine, Settings, Settle};
use crate::orders::status::{Category, Channel};

/// A sale lasts at most this long.
pub const MAX_DAYS: i64 = 31;

fn time_field<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
    let text = String::deserialize(d)?;
    parse_time(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "'{text}' is not a time: use RFC 3339 (2026-11-27T20:00:00+08:00) or UTC (2026-11-27T12:00:00)"
        ))
    })
}

/// RFC 3339 with an offset, or a UTC time as the API writes them.
pub fn parse_time(text: &str) -> Option<NaiveDateTime> {
    DateTime::parse_from_rfc3339(text.trim()).map(|t| t.naive_utc()).ok().or_else(|| crate::web::time::parse_utc(text))
}

/// `POST /api/v1/flash-sales`. Times are RFC 3339 (any offset) or UTC without an offset.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSaleRequest {
    pub sku_id: i64,
    /// The sale price of one unit, in yuan ("9.90").
    #[schema(value_type = String)]
    pub price: Money,
    /// Units set aside from stock for the sale.
    pub quantity: i64,
    pub per_buyer_limit: i64,
    #[serde(deserialize_with = "time_field")]
    #[schema(value_type = String, example = "2026-11-27T20:00:00+08:00")]
    pub starts_at: NaiveDateTime,
    #[serde(deserialize_with = "time_field")]
    #[schema(value_type = String, example = "2026-11-27T22:00:00+08:00")]
    pub ends_at: NaiveDateTime,
    /// The live stream's page (http or https).
    #[serde(default)]
    pub stream_url: Option<String>,
    /// The campaign the sale's orders are credited to; the year-round campaign when left out.
    #[serde(default)]
    pub campaign_id: Option<i64>,
}

/// `POST /api/v1/flash-sales/{id}/orders`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleOrderRequest {
    pub quantity: i64,
    #[serde(default)]
    pub points: i64,
    pub address: Address,
}

impl SaleOrderRequest {
    /// What can be refused before admission (so a malformed request takes nothing).
    pub fn check(&self) -> Result<(), AppError> {
        self.address.validate()?;
        if !(1..=pricing::MAX_QUANTITY).contains(&self.quantity) {
            return Err(orders::pricing_error(pricing::PricingError::InvalidQuantity));
        }
        if self.points < 0 {
            return Err(orders::pricing_error(pricing::PricingError::NegativePoints));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Upcoming,
    Live,
    Ended,
}

impl Status {
    pub fn of(sale: &SaleRow, now: NaiveDateTime) -> Status {
        if sale.closed_at.is_some() || now >= sale.ends_at {
            Status::Ended
        } else if now < sale.starts_at {
            Status::Upcoming
        } else {
            Status::Live
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Upcoming => "upcoming",
            Status::Live => "live",
            Status::Ended => "ended",
        }
    }
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `upcoming`, `live` or `ended`; every sale when left out.
    #[param(inline)]
    pub status: Option<Status>,
    pub product_id: Option<i64>,
    pub campaign_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SaleView {
    pub id: i64,
    pub sku_id: i64,
    pub product_id: i64,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    pub campaign_id: i64,
    /// The sale price of one unit.
    #[schema(value_type = String)]
    pub price: Money,
    /// The SKU's list price, for comparison.
    #[schema(value_type = String)]
    pub list_price: Money,
    pub quantity: i64,
    /// Units not held by an order (paid, or unpaid within its time).
    pub remaining: i64,
    pub per_buyer_limit: i64,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    /// `upcoming`, `live` or `ended`.
    pub status: String,
    pub stream_url: Option<String>,
}

pub fn view(
    (sale, (product_id, product_zh, product_en, sku_zh, sku_en, list_fen)): Listed,
    now: NaiveDateTime,
) -> SaleView {
    SaleView {
        status: Status::of(&sale, now).as_str().to_string(),
        id: sale.id,
        sku_id: sale.sku_id,
        product_id,
        product_zh,
        product_en,
        sku_zh,
        sku_en,
        campaign_id: sale.campaign_id,
        price: Money::from_fen(sale.price_fen),
        list_price: Money::from_fen(list_fen),
        quantity: sale.quantity,
        remaining: sale.quantity - sale.sold,
        per_buyer_limit: sale.per_buyer_limit,
        starts_at: sale.starts_at,
        ends_at: sale.ends_at,
        stream_url: sale.stream_url,
    }
}

pub fn get(conn: &mut AnyConnection, id: i64, now: NaiveDateTime) -> Result<SaleView, AppError> {
    Ok(view(model::listed(conn, id)?.ok_or(AppError::NotFound)?, now))
}

pub fn list(conn: &mut AnyConnection, q: &ListQuery, now: NaiveDateTime) -> Result<Vec<SaleView>, AppError> {
    let when = match q.status {
        None => When::All,
        Some(Status::Upcoming) => When::Upcoming,
        Some(Status::Live) => When::Live,
        Some(Status::Ended) => When::Ended,
    };
    Ok(model::list(conn, when, q.product_id, q.campaign_id, now, 100)?.into_iter().map(|l| view(l, now)).collect())
}

/// The live and upcoming sales a product or campaign page shows.
pub fn showing(
    conn: &mut AnyConnection,
    product_id: Option<i64>,
    campaign_id: Option<i64>,
    now: NaiveDateTime,
) -> Result<Vec<SaleView>, AppError> {
    let mut out: Vec<SaleView> =
        model::list(conn, When::Live, product_id, campaign_id, now, 10)?.into_iter().map(|l| view(l, now)).collect();
    out.extend(model::list(conn, When::Upcoming, product_id, campaign_id, now, 10)?.into_iter().map(|l| view(l, now)));
    Ok(out)
}

fn invalid(message: &str) -> AppError {
    AppError::bad_request("invalid_flash_sale", format!("{message} / 秒杀活动设置有误"))
}

fn check_stream_url(url: &str) -> Result<(), AppError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 500
        && url.len() > "https://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
    if ok {
        Ok(())
    } else {
        Err(invalid("stream_url must be an http(s) address of at most 500 characters"))
    }
}

/// Who may make a sale: a platform admin (any SKU) or a cooperative manager (its own SKUs).
pub struct Maker {
    pub user_id: i64,
    pub is_admin: bool,
    /// The producers a cooperative manager manages.
    pub producers: Vec<i64>,
}

impl Maker {
    pub fn of(me: &crate::accounts::service::Me) -> Result<Maker, AppError> {
        let is_admin = me.has_role(Role::PlatformAdmin);
        if !is_admin && !me.has_role(Role::CoopManager) {
            return Err(AppError::Forbidden);
        }
        Ok(Maker { user_id: me.id, is_admin, producers: me.producers.iter().map(|p| p.id).collect() })
    }
}

/// Makes a sale and sets its units aside from the SKU's stock, in one transaction:
/// 409 `insufficient_stock` when the stock cannot cover them.
pub fn create(
    conn: &mut AnyConnection,
    maker: &Maker,
    request: &NewSaleRequest,
    now: NaiveDateTime,
) -> Result<SaleView, AppError> {
    let price_fen = request.price.fen();
    if price_fen <= 0 {
        return Err(invalid("price must be above zero"));
    }
    if !(1..=inventory::service::MAX_STOCK).contains(&request.quantity) {
        return Err(invalid("quantity must be a whole number from 1"));
    }
    if !(1..=request.quantity.min(pricing::MAX_QUANTITY)).contains(&request.per_buyer_limit) {
        return Err(invalid("per_buyer_limit must be from 1 to the quantity"));
    }
    if request.ends_at <= request.starts_at || request.ends_at <= now {
        return Err(invalid("ends_at must be after starts_at and in the future"));
    }
    if request.ends_at - request.starts_at > Duration::days(MAX_DAYS) {
        return Err(invalid("a sale lasts at most 31 days"));
    }
    if request.starts_at > now + Duration::days(366) {
        return Err(invalid("a sale starts within a year"));
    }
    if let Some(url) = &request.stream_url {
        check_stream_url(url)?;
    }
    let producer = model::sku_producer(conn, request.sku_id)?.ok_or(AppError::NotFound)?;
    if !maker.is_admin && !maker.producers.contains(&producer) {
        // Another cooperative's SKU is not there for this manager.
        return Err(AppError::NotFound);
    }
    // The SKU must be on sale in the campaign (the sale's orders are checked the same way).
    let prepared =
        orders::prepare(conn, &[LineRequest { sku_id: request.sku_id, quantity: 1 }], request.campaign_id, now.date())?;
    let id = db::write_tx(conn, |conn| {
        if !inventory::reserve(conn, request.sku_id, request.quantity, maker.user_id, now)? {
            return Err(AppError::conflict(
                "insufficient_stock",
                format!("the stock cannot cover {} units / 库存不足以设置该秒杀数量", request.quantity),
            ));
        }
        Ok(model::insert(
            conn,
            &NewSale {
                sku_id: request.sku_id,
                campaign_id: prepared.campaign_id,
                price_fen,
                quantity: request.quantity,
                per_buyer_limit: request.per_buyer_limit,
                starts_at: request.starts_at,
                ends_at: request.ends_at,
                stream_url: request.stream_url.as_deref(),
                created_by: maker.user_id,
                created_at: now,
            },
        )?)
    })?;
    get(conn, id, now)
}

pub fn sold_out() -> AppError {
    AppError::conflict("sold_out", "this flash sale is sold out / 已抢光")
}

pub fn limit_reached() -> AppError {
    AppError::conflict("limit_reached", "you have bought as many as this sale allows / 已达每人限购数量")
}

pub fn not_started() -> AppError {
    AppError::conflict("not_started", "this flash sale has not started yet / 秒杀尚未开始")
}

pub fn ended() -> AppError {
    AppError::conflict("ended", "this flash sale has ended / 秒杀已结束")
}

/// 409 `not_started` or `ended` unless the sale is running at `now`.
pub fn check_running(sale: &SaleRow, now: NaiveDateTime) -> Result<(), AppError> {
    match Status::of(sale, now) {
        Status::Upcoming => Err(not_started()),
        Status::Ended => Err(ended()),
        Status::Live => Ok(()),
    }
}

/// Why the database refused an admitted buyer: the admission state was behind it, and the
/// take it made corrects it, so it is not given back.
pub fn refused_by_database(e: &AppError) -> bool {
    matches!(e.code(), "sold_out" | "limit_reached")
}

/// The admission state of a sale as the database has it: its generation (read first, so a
/// later change is seen as newer), the units left and each buyer's units.
pub struct SaleState {
    pub generation: i64,
    pub left: i64,
    /// (buyer id, units held), one row per buyer.
    pub holdings: Vec<(i64, i64)>,
}

pub fn seed_of(conn: &mut AnyConnection, sale_id: i64) -> Result<SaleState, AppError> {
    let sale = model::find(conn, sale_id)?.ok_or(AppError::NotFound)?;
    let rows = model::holdings(conn, sale_id)?;
    let mut per_buyer: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for (buyer, units) in rows {
        *per_buyer.entry(buyer).or_default() += units;
    }
    let held: i64 = per_buyer.values().sum();
    Ok(SaleState {
        generation: sale.generation,
        left: (sale.quantity - held).max(0),
        holdings: per_buyer.into_iter().collect(),
    })
}

/// Places an admitted buyer's order, in one transaction: through `orders::service::place` at
/// the sale price (points within the SKU's cap), its units taken from the sale's reservation
/// (never from the shelf), the sale's count and the buyer's limit checked again by the
/// database, and the Idempotency-Key's answer stored last. `s` carries the sale's payment
/// time.
pub fn place(
    conn: &mut AnyConnection,
    s: &Settings,
    sale_id: i64,
    buyer_id: i64,
    request: &SaleOrderRequest,
    key: Option<(&str, &str)>,
    now: NaiveDateTime,
) -> Result<OrderView, AppError> {
    request.check()?;
    let sale = model::find(conn, sale_id)?.ok_or(AppError::NotFound)?;
    check_running(&sale, now)?;
    let buyer = orders::buyer_of(conn, buyer_id)?;
    let prepared = orders::prepare(
        conn,
        &[LineRequest { sku_id: sale.sku_id, quantity: request.quantity }],
        Some(sale.campaign_id),
        now.date(),
    )?;
    let line = prepared.lines.into_iter().next().ok_or_else(|| AppError::internal("one line prepared"))?;
    let total = sale.price_fen * request.quantity;
    let at_sale_price = PricedLine {
        unit_price_fen: sale.price_fen,
        line_total_fen: total,
        points: 0,
        points_value_fen: 0,
        cash_fen: total,
        ..line.priced.clone()
    };
    let priced = pricing::apply_points(vec![at_sale_price], &[line.max_points_pct], request.points, s.rate)
        .map_err(orders::pricing_error)?;
    let lines: Vec<PreparedLine> = priced.into_iter().map(|priced| PreparedLine { priced, ..line.clone() }).collect();
    db::write_tx(conn, |conn| {
        let draft = Draft {
            buyer: &buyer,
            org_id: None,
            channel: if buyer.is_employee { Channel::Employee } else { Channel::Public },
            category: Category::HelpedSales,
            campaign_id: sale.campaign_id,
            address: &request.address,
            lines: lines.clone(),
            recipients: Vec::new(),
            points: request.points,
            settle: Settle::Gateway,
            delivery_date: None,
            record: None,
            reserved: true,
            ends_transaction: false,
        };
        let placed = orders::place(conn, s, draft, now)?;
        // The sale's row, after the order's rows (the lock order): the database's own guard.
        if !model::take(conn, sale.id, request.quantity, now)? {
            let fresh = model::find(conn, sale.id)?.ok_or(AppError::NotFound)?;
            check_running(&fresh, now)?;
            return Err(sold_out());
        }
        if model::bought_by(conn, sale.id, buyer.id)? + request.quantity > sale.per_buyer_limit {
            return Err(limit_reached());
        }
        model::insert_order(conn, placed.order.id, sale.id, buyer.id, request.quantity, now)?;
        let view = placed.view(s)?;
        if let Some((key, hash)) = key {
            let body = serde_json::to_string(&view).map_err(AppError::internal)?;
            crate::orders::model::save_idempotent_response(conn, buyer.id, key, hash, 201, &body, now).map_err(
                |e| match e {
                    diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                        AppError::conflict(
                            "idempotency_in_flight",
                            "a request with this Idempotency-Key is still being processed / 相同请求正在处理中",
                        )
                    }
                    other => other.into(),
                },
            )?;
        }
        Ok(view)
    })
}

/// The order lifecycle's subscriber: when an unpaid sale order is cancelled (by its buyer or
/// the payment timeout), its units go back to the sale, or to the shelf if the sale has
/// closed meanwhile. Once per order (a conditional update).
pub fn on_order(
    conn: &mut AnyConnection,
    _: &Settings,
    event: &OrderEvent,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let OrderEvent::Cancelled { order } = event else { return Ok(()) };
    if !order.stock_reserved {
        return Ok(());
    }
    let Some((sale_id, quantity)) = model::cancel_order(conn, order.id)? else { return Ok(()) };
    if model::give_back(conn, sale_id, quantity)?.is_some() {
        let sale = model::find(conn, sale_id)?.ok_or_else(|| AppError::internal("sale of an order"))?;
        inventory::release(conn, sale.sku_id, quantity, Some(order.id), order.buyer_id, now)?;
    }
    Ok(())
}

/// Closes every sale that has ended: what it did not sell goes back to the shelf, once
/// (a conditional update on the sale's row; safe on several instances at once).
pub fn close_ended(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<usize, AppError> {
    let mut closed = 0;
    for id in model::due_to_close(conn, now)? {
        closed += usize::from(db::write_tx(conn, |conn| {
            let Some((sku_id, returned, by)) = model::close(conn, id, now)? else { return Ok::<_, AppError>(false) };
            inventory::release(conn, sku_id, returned, None, by, now)?;
            Ok(true)
        })?);
    }
    Ok(closed)
}

/// Whether the sale can take orders, and its figures for admission, as read now.
#[derive(Debug, Clone)]
pub struct Running {
    pub id: i64,
    pub generation: i64,
    pub per_buyer_limit: i64,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub closed: bool,
}

pub fn running(conn: &mut AnyConnection, id: i64) -> Result<Option<Running>, AppError> {
    Ok(model::find(conn, id)?.map(|s| Running {
        id: s.id,
        generation: s.generation,
        per_buyer_limit: s.per_buyer_limit,
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        closed: s.closed_at.is_some(),
    }))
}

impl Running {
    pub fn check(&self, now: NaiveDateTime) -> Result<(), AppError> {
        if self.closed || now >= self.ends_at {
            Err(ended())
        } else if now < self.starts_at {
            Err(not_started())
        } else {
            Ok(())
        }
    }
}
