//! Cloud adoption (云认养): the rules. A cooperative offers units (a tree, a plot, an animal,
//! a hive…) for a season at a price, with a delivery plan. Adopting is an order through the
//! one pipeline (`orders::service::place`, or `orgs::account::place` on an organisation's
//! account): one order line per planned delivery (its SKU, the delivery's quantity × units,
//! the delivery's share of the price), each shipped to its own recipient row, so each planned
//! delivery is one parcel of the order. The sale is credited when the order is paid, like any
//! sale; a delivery that fails is a refund of exactly its line through the refund engine.
//!
//! - **Sold out**: units are held by a conditional update of the offer's `units_taken`
//!   (`<= units`), the offer's row lock; an unpaid order that is cancelled or expires gives
//!   them back (the `Cancelled` hook).
//! - **Numbers** are handed out when the adoption is paid (`units_numbered`, under the same
//!   row lock), so the paid units of an offer are numbered 1..k without gaps whatever the
//!   concurrency, and an unpaid adoption that expires never leaves a hole.
//! - **Deliveries**: a line stays out of the cooperative's shipping queue while its parcel is
//!   `planned` (`coop::model::open_lines`). On the delivery's date a job moves it to
//!   `released` (a conditional update: once, however many jobs run) and writes the adopter's
//!   address of that moment into its recipient row. Then it is shipped and received like any
//!   parcel.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, AdoptionRow, DeliveryRow, OfferRow};
use crate::coop::service::Manager;
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::mail;
use crate::money::Money;
use crate::orders::hooks::OrderEvent;
use crate::orders::model as orders_model;
use crate::orders::pricing::{self, PricedLine};
use crate::orders::service::{self as orders, Address, Buyer, Claim, OrderView, PreparedLine, Settings, Settle};
use crate::orders::status::{Category, Channel, OrderStatus};

/// The kinds of unit an offer may have.
pub const KINDS: &[&str] = &["tree", "plot", "animal", "hive", "other"];
const MAX_UNITS: i64 = 10_000;
const MAX_DELIVERIES: usize = 24;
const MAX_ADOPT: i64 = 500;
const MAX_PHOTOS: usize = 9;
/// The reason recorded on the refund of a delivery the cooperative could not make.
pub const DELIVERY_FAILED: &str = "adoption_delivery_failed";

fn bad(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::bad_request(code, message)
}

fn text_ok(s: &str, max: usize) -> bool {
    let n = s.trim().chars().count();
    n > 0 && n <= max && !s.chars().any(char::is_control)
}

// ---------------------------------------------------------------------------------------
// Offers

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryInput {
    pub date: NaiveDate,
    pub sku_id: i64,
    /// Per adopted unit.
    pub quantity: i64,
}

/// `POST /api/v1/coop/adoptions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"product_id": 1, "kind": "tree", "title": "认养一棵苹果树 / Adopt an apple tree",
    "season_start": "2027-03-01", "season_end": "2027-10-31", "price": "399.00", "units": 100,
    "deliveries": [{"date": "2027-09-15", "sku_id": 1, "quantity": 2}]}))]
pub struct OfferInput {
    pub product_id: i64,
    /// tree, plot, animal, hive or other.
    pub kind: String,
    pub title: String,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
    /// Price of one unit.
    #[schema(value_type = String)]
    pub price: Money,
    /// How many units are offered.
    pub units: i64,
    pub deliveries: Vec<DeliveryInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub seq: i32,
    pub date: NaiveDate,
    pub sku_id: i64,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    /// Per adopted unit.
    pub quantity: i64,
    /// This delivery's share of one unit's price: what a failed delivery refunds per unit.
    #[schema(value_type = String)]
    pub share: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OfferView {
    pub id: i64,
    pub product_id: i64,
    pub producer_id: i64,
    pub producer_zh: String,
    pub producer_en: String,
    pub county_zh: String,
    pub county_en: String,
    pub kind: String,
    pub title: String,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
    #[schema(value_type = String)]
    pub price: Money,
    pub units: i64,
    /// Units still free to adopt.
    pub available: i64,
    /// Units adopted and paid (numbered 1..adopted).
    pub adopted: i64,
    pub deliveries: Vec<DeliveryView>,
}

/// Splits one unit's price over the deliveries in proportion to their quantities, to the
/// fen, by largest remainder: the shares add up to the price exactly.
pub fn shares(price_fen: i64, quantities: &[i64]) -> Vec<i64> {
    let total: i64 = quantities.iter().sum();
    if total <= 0 {
        return vec![0; quantities.len()];
    }
    let p = i128::from(price_fen);
    let t = i128::from(total);
    let mut out: Vec<i64> = quantities.iter().map(|q| i64::try_from(p * i128::from(*q) / t).unwrap_or(0)).collect();
    let mut rest = price_fen - out.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..quantities.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(p * i128::from(quantities[i]) % t), i));
    for i in order {
        if rest == 0 {
            break;
        }
        out[i] += 1;
        rest -= 1;
    }
    out
}

fn delivery_views(conn: &mut AnyConnection, rows: &[DeliveryRow]) -> Result<Vec<DeliveryView>, AppError> {
    let ids: Vec<i64> = rows.iter().map(|d| d.sku_id).collect();
    let skus = model::skus_info(conn, &ids)?;
    Ok(rows
        .iter()
        .map(|d| {
            let s = skus.iter().find(|s| s.id == d.sku_id);
            let name = |f: fn(&model::SkuInfo) -> &String| s.map(f).cloned().unwrap_or_default();
            DeliveryView {
                id: d.id,
                seq: d.seq,
                date: d.due_on,
                sku_id: d.sku_id,
                product_zh: name(|s| &s.product_zh),
                product_en: name(|s| &s.product_en),
                sku_zh: name(|s| &s.sku_zh),
                sku_en: name(|s| &s.sku_en),
                quantity: d.quantity,
                share: Money::from_fen(d.share_fen),
            }
        })
        .collect())
}

fn offer_view(conn: &mut AnyConnection, o: OfferRow) -> Result<OfferView, AppError> {
    let (producer_zh, producer_en, county_zh, county_en) = model::producer_place(conn, o.producer_id)?;
    let deliveries = model::deliveries_of(conn, o.id)?;
    Ok(OfferView {
        id: o.id,
        product_id: o.product_id,
        producer_id: o.producer_id,
        producer_zh,
        producer_en,
        county_zh,
        county_en,
        kind: o.kind,
        title: o.title,
        season_start: o.season_start,
        season_end: o.season_end,
        price: Money::from_fen(o.price_fen),
        units: o.units,
        available: o.units - o.units_taken,
        adopted: o.units_numbered,
        deliveries: delivery_views(conn, &deliveries)?,
    })
}

pub fn offers(conn: &mut AnyConnection) -> Result<Vec<OfferView>, AppError> {
    let rows = model::offers(conn, None, 200)?;
    rows.into_iter().map(|o| offer_view(conn, o)).collect()
}

pub fn offer(conn: &mut AnyConnection, id: i64) -> Result<OfferView, AppError> {
    let o = model::offer(conn, id)?.ok_or(AppError::NotFound)?;
    offer_view(conn, o)
}

/// The manager's offers.
pub fn coop_offers(conn: &mut AnyConnection, m: &Manager) -> Result<Vec<OfferView>, AppError> {
    let rows = model::offers(conn, Some(&m.producers), 200)?;
    rows.into_iter().map(|o| offer_view(conn, o)).collect()
}

/// The manager's offer, or 404.
pub fn coop_offer(conn: &mut AnyConnection, m: &Manager, id: i64) -> Result<OfferRow, AppError> {
    model::offer(conn, id)?.filter(|o| m.producers.contains(&o.producer_id)).ok_or(AppError::NotFound)
}

/// Creates an offer for a product of one of the manager's cooperatives (another's: 404).
pub fn create_offer(
    conn: &mut AnyConnection,
    m: &Manager,
    input: &OfferInput,
    now: NaiveDateTime,
) -> Result<OfferView, AppError> {
    if !KINDS.contains(&input.kind.as_str()) {
        return Err(bad("invalid_kind", format!("kind is one of {} / 认养类型无效", KINDS.join(", "))));
    }
    if !text_ok(&input.title, 100) {
        return Err(bad("invalid_title", "the title needs 1 to 100 characters / 标题须为 1 至 100 个字符"));
    }
    if input.season_end < input.season_start {
        return Err(bad("invalid_season", "the season ends before it starts / 认养季结束日期早于开始日期"));
    }
    if input.price.fen() <= 0 || input.price.fen() > 100_000_000 {
        return Err(bad("invalid_price", "the price must be from 0.01 to 1000000.00 / 价格无效"));
    }
    if !(1..=MAX_UNITS).contains(&input.units) {
        return Err(bad("invalid_units", format!("units must be from 1 to {MAX_UNITS} / 份数无效")));
    }
    if input.deliveries.is_empty() || input.deliveries.len() > MAX_DELIVERIES {
        return Err(bad(
            "invalid_deliveries",
            format!("an offer has 1 to {MAX_DELIVERIES} planned deliveries / 须有 1 至 {MAX_DELIVERIES} 次配送"),
        ));
    }
    for d in &input.deliveries {
        if !(1..=pricing::MAX_QUANTITY).contains(&d.quantity) {
            return Err(bad("invalid_deliveries", "each delivery's quantity must be from 1 to 999 / 配送数量无效"));
        }
        if d.date < input.season_start || d.date > input.season_end {
            return Err(bad(
                "invalid_deliveries",
                "each delivery date must lie within the season / 配送日期须在认养季内",
            ));
        }
    }
    let (_, producer_id, _, _) =
        model::product(conn, input.product_id)?.filter(|p| m.producers.contains(&p.1)).ok_or(AppError::NotFound)?;
    let sku_ids: Vec<i64> = input.deliveries.iter().map(|d| d.sku_id).collect();
    let skus = model::skus_info(conn, &sku_ids)?;
    if let Some(d) =
        input.deliveries.iter().find(|d| !skus.iter().any(|s| s.id == d.sku_id && s.product_id == input.product_id))
    {
        return Err(AppError::unprocessable(
            "unknown_sku",
            format!("SKU {} is not a SKU of this product / 规格不属于该商品", d.sku_id),
        ));
    }
    let quantities: Vec<i64> = input.deliveries.iter().map(|d| d.quantity).collect();
    let split = shares(input.price.fen(), &quantities);
    if split.iter().any(|s| *s <= 0) {
        return Err(AppError::unprocessable(
            "price_too_low",
            "the price is too low to give each delivery a share / 价格过低，无法分摊到每次配送",
        ));
    }
    let title = input.title.trim().to_string();
    let id = db::write_tx(conn, |conn| {
        let new = model::NewOffer {
            producer_id,
            product_id: input.product_id,
            kind: &input.kind,
            title: &title,
            season_start: input.season_start,
            season_end: input.season_end,
            price_fen: input.price.fen(),
            units: input.units,
            created_by: m.user_id,
        };
        let id = model::insert_offer(conn, &new, now)?;
        let mut sorted: Vec<(usize, &DeliveryInput)> = input.deliveries.iter().enumerate().collect();
        sorted.sort_by_key(|(i, d)| (d.date, *i));
        let rows: Vec<(i64, i32, NaiveDate, i64, i64, i64)> = sorted
            .iter()
            .enumerate()
            .map(|(seq, (i, d))| {
                (id, i32::try_from(seq + 1).unwrap_or(i32::MAX), d.date, d.sku_id, d.quantity, split[*i])
            })
            .collect();
        model::insert_deliveries(conn, &rows)?;
        Ok::<_, AppError>(id)
    })?;
    offer(conn, id)
}

// ---------------------------------------------------------------------------------------
// Adopting

/// `POST /api/v1/adoptions/{id}/adopt`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"units": 1, "certificate_name": "李明", "address": {"name": "李明", "mobile": "13800138000",
    "province": "河北省", "city": "张家口市", "district": "沽源县", "detail": "平定堡镇 1 号"}}))]
pub struct AdoptRequest {
    pub units: i64,
    /// The name printed on the certificates.
    pub certificate_name: String,
    /// Where the deliveries go (editable until each delivery's date).
    pub address: Address,
    #[serde(default)]
    pub points: i64,
    /// An organisation adopting for its employees: `{"org_id": …}`, paid on its account
    /// (as `POST /api/v1/orders` with `account`). Absent: the adopter pays.
    #[serde(default)]
    pub account: Option<AccountRef>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRef {
    pub org_id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnitBrief {
    pub id: i64,
    /// 1..N within the offer; null until the adoption is paid.
    pub number: Option<i64>,
    pub certificate_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdoptView {
    pub adoption_id: i64,
    pub offer_id: i64,
    /// The order, as `POST /api/v1/orders` returns it.
    pub order: OrderView,
    pub units: Vec<UnitBrief>,
}

pub fn certificate_url(unit_id: i64) -> String {
    format!("/adopted-units/{unit_id}/certificate.svg")
}

fn unit_briefs(conn: &mut AnyConnection, adoption_id: i64) -> Result<Vec<UnitBrief>, AppError> {
    Ok(model::units_of(conn, adoption_id)?
        .into_iter()
        .map(|u| UnitBrief { id: u.id, number: u.number, certificate_url: certificate_url(u.id) })
        .collect())
}

fn sold_out() -> AppError {
    AppError::conflict("sold_out", "not enough units are left to adopt / 可认养份数不足")
}

/// Numbers the units of a paid adoption (once: units already numbered keep their number),
/// under the offer's row lock. The caller holds the order's lock.
fn number_units(conn: &mut AnyConnection, a: &AdoptionRow) -> Result<(), AppError> {
    let units: Vec<_> = model::units_of(conn, a.id)?.into_iter().filter(|u| u.number.is_none()).collect();
    if units.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(units.len()).map_err(AppError::internal)?;
    let last = model::next_numbers(conn, a.offer_id, n)?;
    for (i, u) in units.iter().enumerate() {
        let number = last - n + 1 + i64::try_from(i).map_err(AppError::internal)?;
        model::number_unit(conn, u.id, number)?;
    }
    Ok(())
}

/// Checks the request and the offer, then writes the order (through the pipeline), the
/// adoption, its units and parcels in one transaction, at most once per Idempotency-Key.
pub fn adopt(
    conn: &mut AnyConnection,
    s: &Settings,
    buyer: &Buyer,
    offer_id: i64,
    request: &AdoptRequest,
    key: Option<(&str, &str)>,
    now: NaiveDateTime,
) -> Result<AdoptOutcome, AppError> {
    if let Some((key, hash)) = key {
        if let Some(body) = orders::replay(conn, buyer.id, key, hash)? {
            return Ok(AdoptOutcome::Replayed(body));
        }
    }
    let offer = model::offer(conn, offer_id)?.ok_or(AppError::NotFound)?;
    if !(1..=MAX_ADOPT).contains(&request.units) {
        return Err(bad("invalid_units", format!("units must be from 1 to {MAX_ADOPT} / 认养份数无效")));
    }
    if !text_ok(&request.certificate_name, 30) {
        return Err(bad(
            "invalid_certificate_name",
            "the certificate name needs 1 to 30 characters / 证书署名须为 1 至 30 个字符",
        ));
    }
    request.address.validate()?;
    if request.points < 0 {
        return Err(bad("invalid_points", "points cannot be negative / 积分不能为负数"));
    }
    if offer.season_end < now.date() {
        return Err(AppError::conflict("offer_closed", "this adoption season is over / 该认养季已结束"));
    }
    if request.units > offer.units - offer.units_taken {
        return Err(sold_out());
    }
    let org = match &request.account {
        Some(a) => {
            if request.points != 0 {
                return Err(AppError::unprocessable(
                    "points_not_accepted",
                    "an adoption on an organisation's account is paid by the organisation, not with points / 机构账户认养不使用积分",
                ));
            }
            Some(crate::orgs::account::require_admin(conn, buyer.id, a.org_id)?)
        }
        None => None,
    };
    let campaign_id = orders_model::year_round_campaign(conn)?.ok_or_else(|| {
        AppError::unprocessable("campaign_not_applicable", "no year-round campaign / 没有常年帮扶活动")
    })?;
    let deliveries = model::deliveries_of(conn, offer.id)?;
    let sku_ids: Vec<i64> = deliveries.iter().map(|d| d.sku_id).collect();
    let skus = model::skus_info(conn, &sku_ids)?;
    let units = request.units;
    let mut lines = Vec::with_capacity(deliveries.len());
    let mut pcts = Vec::with_capacity(deliveries.len());
    for (i, d) in deliveries.iter().enumerate() {
        let sku = skus.iter().find(|s| s.id == d.sku_id).ok_or_else(|| AppError::internal("delivery without SKU"))?;
        let quantity = d.quantity * units;
        let total = d.share_fen * units;
        let priced = PricedLine {
            sku_id: d.sku_id,
            quantity,
            unit_price_fen: ((total + quantity / 2) / quantity).max(1),
            line_total_fen: total,
            points: 0,
            points_value_fen: 0,
            cash_fen: total,
        };
        pcts.push(sku.max_points_pct);
        lines.push(PreparedLine {
            priced,
            producer_id: sku.producer_id,
            max_points_pct: sku.max_points_pct,
            product_id: sku.product_id,
            names: [sku.product_zh.clone(), sku.product_en.clone(), sku.sku_zh.clone(), sku.sku_en.clone()],
            recipient: Some(i),
            // An adoption is sold by its offer's units, not by the SKU's pre-sale terms.
            presale: None,
        });
    }
    if request.points > 0 {
        let priced: Vec<PricedLine> = lines.iter().map(|l| l.priced.clone()).collect();
        let priced = pricing::apply_points(priced, &pcts, request.points, s.rate).map_err(|e| match e {
            pricing::PricingError::PointsCapExceeded(max) => AppError::unprocessable(
                "points_cap_exceeded",
                format!("this adoption accepts at most {max} points / 本次认养最多可使用 {max} 积分"),
            ),
            _ => bad("invalid_points", "points cannot be negative / 积分不能为负数"),
        })?;
        for (l, p) in lines.iter_mut().zip(priced) {
            l.priced = p;
        }
    }
    let cash_due: i64 = lines.iter().map(|l| l.priced.cash_fen).sum();
    let address_json = serde_json::to_string(&request.address).map_err(AppError::internal)?;
    let a = &request.address;
    let recipients: Vec<(String, String, String)> =
        deliveries.iter().map(|_| (a.name.clone(), a.mobile.clone(), address_json.clone())).collect();
    let certificate_name = request.certificate_name.trim().to_string();
    let written = db::write_tx(conn, |conn| {
        // The lock order: ledger head (when paid at once), points account, then the offer
        // (after orders and payments), then the SKUs inside the pipeline.
        if cash_due == 0 || org.is_some() {
            db::lock_ledger_head(conn)?;
        }
        if request.points > 0 {
            crate::points::model::lock_account(conn, buyer.id)?;
        }
        if !model::take_units(conn, offer.id, units)? {
            return Err(sold_out());
        }
        let placed = match &org {
            Some(org) => crate::orgs::account::place(
                conn,
                s,
                crate::orgs::account::Placement {
                    org,
                    buyer,
                    address: &request.address,
                    lines: lines.clone(),
                    recipients: recipients.clone(),
                    campaign_id,
                    delivery_date: None,
                },
                now,
            )?,
            None => orders::place(
                conn,
                s,
                orders::Draft {
                    buyer,
                    org_id: None,
                    channel: if buyer.is_employee { Channel::Employee } else { Channel::Public },
                    category: Category::HelpedSales,
                    campaign_id,
                    address: &request.address,
                    lines: lines.clone(),
                    recipients: recipients.clone(),
                    points: request.points,
                    settle: Settle::Gateway,
                    delivery_date: None,
                    record: None,
                    reserved: false,
                    ends_transaction: false,
                },
                now,
            )?,
        };
        let new = model::NewAdoption {
            offer_id: offer.id,
            order_id: placed.order.id,
            user_id: buyer.id,
            org_id: org.as_ref().map(|o| o.id),
            units,
            certificate_name: &certificate_name,
            address: &address_json,
        };
        let adoption_id = model::insert_adoption(conn, &new, now)?;
        model::insert_units(conn, offer.id, adoption_id, units)?;
        let mut parcels = Vec::with_capacity(deliveries.len());
        for (d, line) in deliveries.iter().zip(&placed.lines) {
            let recipient = line.recipient_id.ok_or_else(|| AppError::internal("adoption line without recipient"))?;
            parcels.push((adoption_id, d.id, line.id, recipient));
        }
        model::insert_parcels(conn, &parcels)?;
        if placed.order.status == OrderStatus::Paid.as_str() {
            model::set_adoption_status(conn, adoption_id, &["pending"], "paid")?;
            let a = model::adoption(conn, adoption_id)?.ok_or_else(|| AppError::internal("adoption just written"))?;
            number_units(conn, &a)?;
        }
        let view = AdoptView {
            adoption_id,
            offer_id: offer.id,
            units: unit_briefs(conn, adoption_id)?,
            order: placed.view(s)?,
        };
        if let Some((key, hash)) = key {
            let body = serde_json::to_string(&view).map_err(AppError::internal)?;
            orders_model::save_idempotent_response(conn, buyer.id, key, hash, 201, &body, now).map_err(
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
    });
    match (written, key) {
        (Ok(view), _) => Ok(AdoptOutcome::New(Box::new(view))),
        (Err(e), Some((key, hash))) => match orders::replay(conn, buyer.id, key, hash)? {
            Some(body) => Ok(AdoptOutcome::Replayed(body)),
            None => Err(e),
        },
        (Err(e), None) => Err(e),
    }
}

pub enum AdoptOutcome {
    New(Box<AdoptView>),
    Replayed(String),
}

/// The adoption's hook on the order lifecycle: a paid adoption's units are numbered; an
/// unpaid one that is cancelled (by its buyer, or when its time runs out) gives its units
/// back; a delivery line refunded otherwise is no longer planned.
pub fn on_order(
    conn: &mut AnyConnection,
    _s: &Settings,
    event: &OrderEvent,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let order = match event {
        OrderEvent::Paid { order, .. } | OrderEvent::Cancelled { order } | OrderEvent::Refunded { order, .. } => order,
        _ => return Ok(()),
    };
    let Some(a) = model::adoption_of_order(conn, order.id)? else { return Ok(()) };
    match event {
        OrderEvent::Paid { .. } if model::set_adoption_status(conn, a.id, &["pending"], "paid")? => {
            number_units(conn, &a)?;
        }
        OrderEvent::Cancelled { .. } if model::set_adoption_status(conn, a.id, &["pending"], "cancelled")? => {
            model::give_back_units(conn, a.offer_id, a.units)?;
        }
        OrderEvent::Refunded { order, refund } => {
            let parcels = model::parcels_of(conn, a.id)?;
            for r in &refund.lines {
                let gone = r.line.refunded_quantity + r.quantity >= r.line.quantity;
                if let Some(p) = parcels.iter().find(|p| p.order_line_id == r.line.id).filter(|_| gone) {
                    model::move_parcel(conn, p.id, &["planned", "released"], "refunded", None, now)?;
                }
            }
            if order.status == OrderStatus::Refunded.as_str() {
                model::set_adoption_status(conn, a.id, &["paid"], "refunded")?;
            }
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Deliveries

/// The job: every planned parcel of a paid adoption whose date has come joins the
/// cooperative's shipping queue, addressed to the adopter's address of this moment. Each
/// parcel moves once (a conditional update), however many jobs run at once.
pub fn release_due(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<usize, AppError> {
    let mut released = 0;
    for (parcel_id, adoption_id) in model::due_parcels(conn, now.date())? {
        released += usize::from(db::write_tx(conn, |conn| {
            // The adoption's row first: an address change waits for this, or this for it.
            if !model::set_adoption_status(conn, adoption_id, &["paid"], "paid")? {
                return Ok::<_, AppError>(false);
            }
            let a = model::adoption(conn, adoption_id)?.ok_or(AppError::NotFound)?;
            let p = model::parcel(conn, parcel_id)?.ok_or(AppError::NotFound)?;
            if !model::move_parcel(conn, parcel_id, &["planned"], "released", None, now)? {
                return Ok(false);
            }
            let address: Address = serde_json::from_str(&a.address).map_err(AppError::internal)?;
            model::set_recipient(conn, p.recipient_id, &address.name, &address.mobile, &a.address)?;
            Ok(true)
        })?);
    }
    Ok(released)
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailRequest {
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailAnswer {
    pub delivery_id: i64,
    /// Adoptions whose parcel of this delivery was marked failed and refunded.
    pub failed: usize,
    #[schema(value_type = String)]
    pub refunded_cash: Money,
    pub refunded_points: i64,
    /// Parcels of this delivery that had already shipped (left as they are).
    pub already_shipped: usize,
}

/// The cooperative cannot make a planned delivery: each adopter's parcel of it that has not
/// shipped is marked failed with the reason and its line refunded in full through the refund
/// engine (exactly that delivery's share; the rest of the adoption stands). Each adoption is
/// its own transaction (its order's locks); a repeat finishes what is left.
pub fn fail_delivery(
    conn: &mut AnyConnection,
    s: &Settings,
    m: &Manager,
    offer_id: i64,
    delivery_id: i64,
    request: &FailRequest,
    now: NaiveDateTime,
) -> Result<FailAnswer, AppError> {
    let offer = coop_offer(conn, m, offer_id)?;
    let delivery =
        model::deliveries_of(conn, offer.id)?.into_iter().find(|d| d.id == delivery_id).ok_or(AppError::NotFound)?;
    if !text_ok(&request.reason, 500) {
        return Err(bad("invalid_reason", "the reason needs 1 to 500 characters / 原因须为 1 至 500 个字符"));
    }
    let reason = request.reason.trim().to_string();
    let mut answer = FailAnswer {
        delivery_id: delivery.id,
        failed: 0,
        refunded_cash: Money::from_fen(0),
        refunded_points: 0,
        already_shipped: 0,
    };
    let (mut cash, mut points) = (0, 0);
    for (parcel_id, adoption_id) in model::open_parcels_of_delivery(conn, delivery.id)? {
        let a = model::adoption(conn, adoption_id)?.ok_or(AppError::NotFound)?;
        let found = orders_model::order_by_id(conn, a.order_id)?;
        let done = db::write_tx(conn, |conn| {
            let order = orders::lock_for_refund(conn, &found)?;
            let p = model::parcel(conn, parcel_id)?.ok_or(AppError::NotFound)?;
            let line = orders_model::lines_of(conn, order.id)?
                .into_iter()
                .find(|l| l.id == p.order_line_id)
                .ok_or_else(|| AppError::internal("parcel without line"))?;
            if crate::coop::model::shipment_of(conn, order.id, line.producer_id, Some(p.recipient_id))?.is_some() {
                return Ok::<_, AppError>(Err(()));
            }
            if !model::move_parcel(conn, parcel_id, &["planned", "released"], "failed", Some(&reason), now)? {
                return Ok(Ok(None));
            }
            let left = line.quantity - line.refunded_quantity;
            if left <= 0 {
                return Ok(Ok(None));
            }
            let refund =
                orders::refund_locked(conn, s, &order, &[(line.id, Claim::Units(left))], DELIVERY_FAILED, now)?;
            Ok(Ok(Some((refund.cash_fen, refund.points))))
        })?;
        match done {
            Err(()) => answer.already_shipped += 1,
            Ok(Some((c, p))) => {
                answer.failed += 1;
                cash += c;
                points += p;
            }
            Ok(None) => {}
        }
    }
    answer.refunded_cash = Money::from_fen(cash);
    answer.refunded_points = points;
    Ok(answer)
}

/// `PUT /api/v1/me/adoptions/{id}/address`: where deliveries not yet in the queue will go.
pub fn change_address(
    conn: &mut AnyConnection,
    user_id: i64,
    adoption_id: i64,
    address: &Address,
) -> Result<MyAdoption, AppError> {
    address.validate()?;
    let a = model::adoption(conn, adoption_id)?.filter(|a| a.user_id == user_id).ok_or(AppError::NotFound)?;
    if !matches!(a.status.as_str(), "pending" | "paid") {
        return Err(AppError::conflict("invalid_state", "this adoption has ended / 该认养已结束"));
    }
    let json = serde_json::to_string(address).map_err(AppError::internal)?;
    db::write_tx(conn, |conn| {
        model::set_adoption_address(conn, a.id, &json)?;
        Ok::<_, AppError>(())
    })?;
    my_adoption(conn, user_id, a.id)
}

// ---------------------------------------------------------------------------------------
// The adopter's view

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParcelView {
    pub delivery_id: i64,
    pub seq: i32,
    pub date: NaiveDate,
    pub sku_zh: String,
    pub sku_en: String,
    pub product_zh: String,
    pub product_en: String,
    /// Per adopted unit.
    pub quantity: i64,
    /// planned, in_queue (waiting to ship), shipped, received, failed or refunded.
    pub status: String,
    pub failed_reason: Option<String>,
    pub carrier: Option<String>,
    pub tracking_no: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MyAdoption {
    pub id: i64,
    pub offer_id: i64,
    pub title: String,
    pub order_no: String,
    pub status: String,
    pub certificate_name: String,
    pub address: Address,
    pub units: Vec<UnitBrief>,
    pub deliveries: Vec<ParcelView>,
}

fn parcel_views(conn: &mut AnyConnection, a: &AdoptionRow) -> Result<Vec<ParcelView>, AppError> {
    let offer = model::offer(conn, a.offer_id)?.ok_or(AppError::NotFound)?;
    let rows = model::deliveries_of(conn, offer.id)?;
    let deliveries = delivery_views(conn, &rows)?;
    let parcels = model::parcels_of(conn, a.id)?;
    let mut out = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        let p = parcels.iter().find(|p| p.delivery_id == d.id);
        let (mut status, mut carrier, mut tracking_no) = ("planned".to_string(), None, None);
        if let Some(p) = p {
            status = match p.status.as_str() {
                "released" => "in_queue".to_string(),
                other => other.to_string(),
            };
            if p.status == "released" {
                if let Some((c, t, received)) =
                    crate::coop::model::parcel_of_part(conn, a.order_id, offer.producer_id, Some(p.recipient_id))?
                {
                    status = if received { "received" } else { "shipped" }.to_string();
                    carrier = Some(c);
                    tracking_no = Some(t);
                }
            }
        }
        out.push(ParcelView {
            delivery_id: d.id,
            seq: d.seq,
            date: d.date,
            sku_zh: d.sku_zh,
            sku_en: d.sku_en,
            product_zh: d.product_zh,
            product_en: d.product_en,
            quantity: d.quantity,
            status,
            failed_reason: p.and_then(|p| p.failed_reason.clone()),
            carrier,
            tracking_no,
        });
    }
    Ok(out)
}

pub fn my_adoption(conn: &mut AnyConnection, user_id: i64, id: i64) -> Result<MyAdoption, AppError> {
    let a = model::adoption(conn, id)?.filter(|a| a.user_id == user_id).ok_or(AppError::NotFound)?;
    let offer = model::offer(conn, a.offer_id)?.ok_or(AppError::NotFound)?;
    let order = orders_model::order_by_id(conn, a.order_id)?;
    Ok(MyAdoption {
        id: a.id,
        offer_id: a.offer_id,
        title: offer.title,
        order_no: order.order_no,
        status: a.status.clone(),
        certificate_name: a.certificate_name.clone(),
        address: serde_json::from_str(&a.address).map_err(AppError::internal)?,
        units: unit_briefs(conn, a.id)?,
        deliveries: parcel_views(conn, &a)?,
    })
}

pub fn my_adoptions(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<MyAdoption>, AppError> {
    let rows = model::adoptions_of_user(conn, user_id)?;
    rows.into_iter().map(|a| my_adoption(conn, user_id, a.id)).collect()
}

// ---------------------------------------------------------------------------------------
// Public unit page, certificate

/// A name as the public sees it: its first character, then `*` (李明 → 李*).
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(c) => format!("{c}*"),
        None => "*".to_string(),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpdateView {
    pub id: i64,
    pub text: String,
    /// `/images/<name>` of each photo.
    pub photos: Vec<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitView {
    pub id: i64,
    pub number: i64,
    /// The adopter's chosen name, masked (李*).
    pub adopter: String,
    pub offer: OfferView,
    pub adoption_status: String,
    pub updates: Vec<UpdateView>,
    pub deliveries: Vec<ParcelView>,
}

fn photos_of(json: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(json).unwrap_or_default().into_iter().map(|n| format!("/images/{n}")).collect()
}

/// The public page of a unit: only once numbered (its adoption paid); otherwise 404.
pub fn unit_view(conn: &mut AnyConnection, id: i64) -> Result<UnitView, AppError> {
    let u = model::unit(conn, id)?.ok_or(AppError::NotFound)?;
    let number = u.number.ok_or(AppError::NotFound)?;
    let a = model::adoption(conn, u.adoption_id)?.ok_or(AppError::NotFound)?;
    let updates = model::updates_for_unit(conn, u.offer_id, u.id)?
        .into_iter()
        .map(|(id, text, photos, created_at)| UpdateView { id, text, photos: photos_of(&photos), created_at })
        .collect();
    Ok(UnitView {
        id: u.id,
        number,
        adopter: mask_name(&a.certificate_name),
        offer: offer(conn, u.offer_id)?,
        adoption_status: a.status.clone(),
        updates,
        deliveries: parcel_views(conn, &a)?,
    })
}

/// What a certificate shows.
#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    pub unit_id: i64,
    pub number: i64,
    pub name: String,
    pub title: String,
    pub kind: String,
    pub producer_zh: String,
    pub producer_en: String,
    pub county_zh: String,
    pub county_en: String,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
    pub unit_url: String,
    /// The QR code of `unit_url`, as an SVG element (generated, no user text).
    pub qr_svg: String,
}

/// The QR code of a text as an `<svg>` element sized `size` px, placed at (x, y).
pub fn qr_svg(text: &str, x: u32, y: u32, size: u32) -> Result<String, AppError> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(AppError::internal)?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(size, size)
        .max_dimensions(size, size)
        .dark_color(svg::Color("#1a1a1a"))
        .light_color(svg::Color("#ffffff"))
        .build();
    let start = image.find("<svg").ok_or_else(|| AppError::internal("qr svg"))?;
    Ok(format!("<svg x=\"{x}\" y=\"{y}\" {}", &image[start + 5..]))
}

/// A unit's certificate, for its adopter only (another person: 404), once numbered.
pub fn certificate(
    conn: &mut AnyConnection,
    user_id: i64,
    unit_id: i64,
    public_url: &str,
) -> Result<Certificate, AppError> {
    let u = model::unit(conn, unit_id)?.ok_or(AppError::NotFound)?;
    let number = u.number.ok_or(AppError::NotFound)?;
    let a = model::adoption(conn, u.adoption_id)?.filter(|a| a.user_id == user_id).ok_or(AppError::NotFound)?;
    let o = model::offer(conn, u.offer_id)?.ok_or(AppError::NotFound)?;
    let (producer_zh, producer_en, county_zh, county_en) = model::producer_place(conn, o.producer_id)?;
    let unit_url = format!("{public_url}/adopted-units/{}", u.id);
    Ok(Certificate {
        unit_id: u.id,
        number,
        name: a.certificate_name,
        title: o.title,
        kind: o.kind,
        producer_zh,
        producer_en,
        county_zh,
        county_en,
        season_start: o.season_start,
        season_end: o.season_end,
        qr_svg: qr_svg(&unit_url, 470, 300, 170)?,
        unit_url,
    })
}

// ---------------------------------------------------------------------------------------
// Updates

/// `POST /api/v1/coop/adoptions/{id}/updates`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "苹果树开花了 / the tree is in blossom", "photos": [], "unit_ids": null}))]
pub struct UpdateInput {
    pub text: String,
    /// Names of photos uploaded with `POST /api/v1/photos` (at most 9).
    #[serde(default)]
    pub photos: Vec<String>,
    /// Only these units (adopted units of this offer); absent or null: every unit.
    #[serde(default)]
    pub unit_ids: Option<Vec<i64>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpdateAnswer {
    pub id: i64,
    pub offer_id: i64,
    pub text: String,
    pub photos: Vec<String>,
    /// The units it was posted to (every numbered unit when it went to all).
    pub unit_ids: Vec<i64>,
    /// Adopters mailed.
    pub mailed: usize,
    pub created_at: NaiveDateTime,
}

#[derive(Serialize)]
struct UpdateMail {
    name: String,
    title: String,
    text: String,
    numbers: String,
    url: String,
}

/// Posts an update to some units of the offer or to all, and mails each adopter concerned
/// once (through the outbox, in the same transaction).
pub fn post_update(
    conn: &mut AnyConnection,
    m: &Manager,
    offer_id: i64,
    input: &UpdateInput,
    public_url: &str,
    now: NaiveDateTime,
) -> Result<UpdateAnswer, AppError> {
    let offer = coop_offer(conn, m, offer_id)?;
    let n = input.text.trim().chars().count();
    if n == 0 || n > 2000 || input.text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(bad("invalid_text", "the text needs 1 to 2000 characters / 内容须为 1 至 2000 个字符"));
    }
    if input.photos.len() > MAX_PHOTOS {
        return Err(AppError::unprocessable("too_many_photos", "at most 9 photos / 最多 9 张照片"));
    }
    let photos: Vec<String> = input.photos.iter().map(|p| p.trim_start_matches("/images/").to_string()).collect();
    let known = crate::aftersales::model::known_photos(conn, &photos)?;
    if photos.iter().any(|p| !known.contains(p)) {
        return Err(AppError::unprocessable(
            "unknown_photo",
            "upload each photo first (POST /api/v1/photos) / 请先上传照片",
        ));
    }
    let numbered = model::numbered_units(conn, offer.id)?;
    let targets: Vec<(i64, i64, i64)> = match &input.unit_ids {
        None => numbered.clone(),
        Some(ids) => {
            if ids.is_empty() || ids.len() > 10_000 {
                return Err(AppError::unprocessable("unknown_unit", "name at least one unit / 请选择认养单元"));
            }
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let u = numbered.iter().find(|u| u.0 == *id).ok_or_else(|| {
                    AppError::unprocessable(
                        "unknown_unit",
                        format!("unit {id} is not an adopted unit of this offer / 认养单元不存在"),
                    )
                })?;
                if !out.contains(u) {
                    out.push(*u);
                }
            }
            out
        }
    };
    let photos_json = serde_json::to_string(&photos).map_err(AppError::internal)?;
    let text = input.text.trim().to_string();
    let (id, mailed) = db::write_tx(conn, |conn| {
        let id = model::insert_update(conn, offer.id, m.user_id, &text, &photos_json, input.unit_ids.is_none(), now)?;
        if input.unit_ids.is_some() {
            let ids: Vec<i64> = targets.iter().map(|t| t.0).collect();
            model::insert_update_units(conn, id, &ids)?;
        }
        // One mail per adopter, naming their units.
        let mut by_adoption: Vec<(i64, Vec<(i64, i64)>)> = Vec::new();
        for (unit_id, number, adoption_id) in &targets {
            match by_adoption.iter_mut().find(|(a, _)| a == adoption_id) {
                Some((_, units)) => units.push((*unit_id, *number)),
                None => by_adoption.push((*adoption_id, vec![(*unit_id, *number)])),
            }
        }
        let mut mailed = 0;
        for (adoption_id, units) in by_adoption {
            let Some(a) = model::adoption(conn, adoption_id)? else { continue };
            if a.status != "paid" {
                continue;
            }
            let Some(user) = crate::accounts::model::find(conn, a.user_id)? else { continue };
            let numbers = units.iter().map(|(_, n)| format!("#{n}")).collect::<Vec<_>>().join(", ");
            let context = UpdateMail {
                name: user.display_name,
                title: offer.title.clone(),
                text: text.clone(),
                numbers,
                url: format!("{public_url}/adopted-units/{}", units[0].0),
            };
            mail::enqueue(conn, "adoption_update", &user.email, &context, now)?;
            mailed += 1;
        }
        Ok::<_, AppError>((id, mailed))
    })?;
    Ok(UpdateAnswer {
        id,
        offer_id: offer.id,
        text,
        photos: photos.iter().map(|n| format!("/images/{n}")).collect(),
        unit_ids: targets.iter().map(|t| t.0).collect(),
        mailed,
        created_at: now,
    })
}

/// The cooperative's view of an offer: its adoptions (numbers, masked names, status) and
/// the updates posted.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoopOfferView {
    pub offer: OfferView,
    pub units: Vec<CoopUnit>,
    pub updates: Vec<UpdateView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoopUnit {
    pub id: i64,
    pub number: i64,
    pub adopter: String,
    pub adoption_status: String,
}

pub fn coop_offer_view(conn: &mut AnyConnection, m: &Manager, id: i64) -> Result<CoopOfferView, AppError> {
    let o = coop_offer(conn, m, id)?;
    let adoptions = model::paid_adoptions_of_offer(conn, o.id)?;
    let units = model::numbered_units(conn, o.id)?
        .into_iter()
        .map(|(id, number, adoption_id)| {
            let a = adoptions.iter().find(|a| a.id == adoption_id);
            CoopUnit {
                id,
                number,
                adopter: a.map_or_else(|| "*".to_string(), |a| mask_name(&a.certificate_name)),
                adoption_status: a.map_or_else(String::new, |a| a.status.clone()),
            }
        })
        .collect();
    let updates = model::updates_of_offer(conn, o.id)?
        .into_iter()
        .map(|(id, text, photos, _, created_at)| UpdateView { id, text, photos: photos_of(&photos), created_at })
        .collect();
    Ok(CoopOfferView { offer: offer_view(conn, o)?, units, updates })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_price() {
        assert_eq!(shares(39900, &[2, 2]), vec![19950, 19950]);
        assert_eq!(shares(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(shares(1000, &[1, 2]).iter().sum::<i64>(), 1000);
        for price in [1, 7, 999, 12345] {
            for qs in [vec![1], vec![3, 5], vec![1, 1, 1, 1, 1, 1, 7]] {
                assert_eq!(shares(price, &qs).iter().sum::<i64>(), price);
            }
        }
    }

    #[test]
    fn names_are_masked() {
        assert_eq!(mask_name("李明"), "李*");
        assert_eq!(mask_name(" Alice"), "A*");
        assert_eq!(mask_name(""), "*");
    }
}
