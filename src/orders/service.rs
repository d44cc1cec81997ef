//! The order lifecycle: one placement pipeline for every kind of order (personal, on an
//! organisation's account, welfare distribution, scheduled canteen orders, and what comes
//! next), payment, cancellation, payment timeout and refunds. Every state change is a
//! conditional update allowed by the transition table (`status.rs`) inside one transaction,
//! taking its locks in the one lock order (ARCHITECTURE.md), and announced to the hooks.

use chrono::{Duration, NaiveDateTime};
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::hooks::{Hooks, OrderEvent, Refund, RefundedLine};
use super::model::{self, LineRow, OrderRow};
use super::pricing::{self, PricedLine, PricingError, SkuPrice};
use super::status::{illegal, Category, Channel, OrderStatus, PaymentStatus};
use crate::accounts::model::Role;
use crate::db::{self, AnyConnection, Deferred};
use crate::error::AppError;
use crate::inventory;
use crate::money::{ExchangeRate, Money};
use crate::points;

pub fn random_token(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

/// Order numbers carry the date for people and 12 random characters against guessing.
pub fn new_order_no(now: NaiveDateTime) -> String {
    format!("AM{}{}", now.format("%Y%m%d"), random_token(12).to_uppercase())
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: String,
    pub mobile: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub detail: String,
}

impl Address {
    pub fn validate(&self) -> Result<(), AppError> {
        let bad = |why: &str| AppError::bad_request("invalid_address", format!("{why} / 收货地址有误"));
        let mobile_ok =
            self.mobile.len() == 11 && self.mobile.starts_with('1') && self.mobile.chars().all(|c| c.is_ascii_digit());
        if !mobile_ok {
            return Err(bad("the mobile number must be 11 digits starting with 1"));
        }
        for (field, value, max) in [
            ("name", &self.name, 50),
            ("province", &self.province, 50),
            ("city", &self.city, 50),
            ("district", &self.district, 50),
            ("detail", &self.detail, 200),
        ] {
            let n = value.trim().chars().count();
            if n == 0 || n > max || value.chars().any(char::is_control) {
                return Err(bad(&format!("{field} must have 1 to {max} characters")));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    pub sku_id: i64,
    pub quantity: i64,
}

/// `POST /api/v1/orders`. Prices, totals and channel are the server's to compute: a line's
/// `price` is refused as an unknown field; a top-level `channel` or `total` is accepted and ignored.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub lines: Vec<LineRequest>,
    #[serde(default)]
    pub points: i64,
    pub campaign_id: Option<i64>,
    pub address: Address,
    /// "personal" (the default), or {"org_id": …, "delivery_date"?: "YYYY-MM-DD"} to buy on
    /// a union's or canteen's account.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub account: Option<serde_json::Value>,
    #[serde(default, rename = "channel")]
    #[schema(ignore)]
    pub _ignored_channel: Option<serde_json::Value>,
    #[serde(default, rename = "total")]
    #[schema(ignore)]
    pub _ignored_total: Option<serde_json::Value>,
}

/// An order on an organisation's account (`"account":{"org_id":…}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    pub org_id: i64,
    /// Canteens: the day the goods are wanted.
    #[serde(default)]
    pub delivery_date: Option<chrono::NaiveDate>,
}

/// Whose account pays: the buyer's own, or an organisation's.
pub enum Account {
    Personal,
    Org(AccountRequest),
}

impl OrderRequest {
    pub fn account(&self) -> Result<Account, AppError> {
        let bad = |why: String| {
            AppError::bad_request(
                "invalid_account",
                format!("account must be \"personal\" or {{\"org_id\": …}}: {why} / 下单账户格式错误"),
            )
        };
        match &self.account {
            None => Ok(Account::Personal),
            Some(serde_json::Value::String(s)) if s == "personal" => Ok(Account::Personal),
            Some(v @ serde_json::Value::Object(_)) => {
                serde_json::from_value(v.clone()).map(Account::Org).map_err(|e| bad(e.to_string()))
            }
            Some(other) => Err(bad(format!("got {other}"))),
        }
    }
}

/// Who is buying, as the server knows them.
pub struct Buyer {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub is_employee: bool,
}

impl From<crate::accounts::service::Me> for Buyer {
    fn from(me: crate::accounts::service::Me) -> Buyer {
        Buyer { is_employee: me.has_role(Role::Employee), id: me.id, email: me.email, display_name: me.display_name }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LineView {
    pub id: i64,
    pub sku_id: i64,
    pub product_id: i64,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    pub quantity: i64,
    #[schema(value_type = String)]
    pub unit_price: Money,
    #[schema(value_type = String)]
    pub line_total: Money,
    pub points: i64,
    #[schema(value_type = String)]
    pub points_value: Money,
    #[schema(value_type = String)]
    pub cash: Money,
    pub refunded_quantity: i64,
}

/// Money that went back to the buyer: a refund of units, or a payment that arrived after the
/// order was cancelled (`reason` = `late_payment`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefundInfo {
    pub id: i64,
    /// Cash returned.
    #[schema(value_type = String)]
    pub amount: Money,
    pub points: i64,
    pub reason: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub order_no: String,
    pub status: String,
    pub channel: String,
    pub category: String,
    pub campaign_id: i64,
    #[schema(value_type = String)]
    pub total: Money,
    pub points_used: i64,
    #[schema(value_type = String)]
    pub points_value: Money,
    #[schema(value_type = String)]
    pub cash_due: Money,
    #[schema(value_type = String)]
    pub refunded_cash: Money,
    pub refunded_points: i64,
    pub payment_id: Option<String>,
    pub payment_url: Option<String>,
    pub address: Address,
    pub created_at: NaiveDateTime,
    pub payment_deadline: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    pub lines: Vec<LineView>,
    pub refunds: Vec<RefundInfo>,
    /// The order's parcels (one per cooperative and recipient, plus replacement parcels), each
    /// with its tracking, receipt and after-sales cases. Filled where an order is shown alone
    /// or in a list.
    #[serde(default)]
    pub parts: Vec<PartView>,
}

/// One parcel of an order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PartView {
    /// The parcel's id once shipped (`/parts/{id}/receipt`); null while it waits to ship.
    pub id: Option<i64>,
    /// `awaiting_shipment`, `shipped` or `received`.
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_no: Option<String>,
    pub shipped_at: Option<NaiveDateTime>,
    pub received_at: Option<NaiveDateTime>,
    pub producer_id: i64,
    pub recipient_id: Option<i64>,
    /// Set on a replacement parcel (补发): the case it replaces goods for.
    pub replaces_case: Option<i64>,
    /// The order lines in this parcel.
    pub line_ids: Vec<i64>,
    /// The after-sales cases about this parcel's lines.
    pub after_sales: Vec<CaseBrief>,
    /// A shipped distribution parcel's receipt link for its recipient (no account needed),
    /// shown to the organisation's admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_url: Option<String>,
}

/// An after-sales case as its order lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaseBrief {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[schema(value_type = String)]
    pub amount: Money,
    pub created_at: NaiveDateTime,
}

pub fn pricing_error(e: PricingError) -> AppError {
    match e {
        PricingError::InvalidQuantity => AppError::bad_request(
            "invalid_quantity",
            format!(
                "each quantity must be a whole number from 1 to {} / 数量须为 1 至 {} 的整数",
                pricing::MAX_QUANTITY,
                pricing::MAX_QUANTITY
            ),
        ),
        PricingError::NegativePoints => {
            AppError::bad_request("invalid_points", "points cannot be negative / 积分不能为负数")
        }
        PricingError::PointsCapExceeded(max) => AppError::unprocessable(
            "points_cap_exceeded",
            format!("these items accept at most {max} points / 本单最多可使用 {max} 积分"),
        ),
    }
}

/// What a cart costs before points, and the most points it accepts: for the checkout page.
pub struct Quote {
    pub lines: Vec<PricedLine>,
    pub total_fen: i64,
    pub max_points: i64,
}

/// A line checked and priced, with what the order and its mail need to know of it.
#[derive(Clone)]
pub struct PreparedLine {
    pub priced: PricedLine,
    pub producer_id: i64,
    pub max_points_pct: i32,
    pub product_id: i64,
    pub names: [String; 4],
    /// Index into the draft's recipients, for an order shipped to many people.
    pub recipient: Option<usize>,
    /// Pre-sale terms (预售) read with the prices: (ends_at, per_buyer_limit).
    pub presale: Option<(NaiveDateTime, i64)>,
}

impl PreparedLine {
    /// The same SKU at the same unit price for another quantity, paid wholly in cash (a
    /// distribution splits one priced SKU over its recipients).
    pub fn for_quantity(&self, quantity: i64, recipient: Option<usize>) -> PreparedLine {
        let total = self.priced.unit_price_fen * quantity;
        PreparedLine {
            priced: PricedLine {
                quantity,
                line_total_fen: total,
                points: 0,
                points_value_fen: 0,
                cash_fen: total,
                ..self.priced.clone()
            },
            recipient,
            ..self.clone()
        }
    }
}

pub struct Prepared {
    pub lines: Vec<PreparedLine>,
    pub campaign_id: i64,
}

/// Checks the lines and the campaign and prices everything, in one read; no writes.
pub fn prepare(
    conn: &mut AnyConnection,
    requested: &[LineRequest],
    campaign_id: Option<i64>,
    today: chrono::NaiveDate,
) -> Result<Prepared, AppError> {
    if requested.is_empty() || requested.len() > pricing::MAX_LINES {
        return Err(AppError::bad_request(
            "invalid_quantity",
            format!("an order has 1 to {} lines / 订单须有 1 至 {} 行", pricing::MAX_LINES, pricing::MAX_LINES),
        ));
    }
    if requested.iter().any(|l| !(1..=pricing::MAX_QUANTITY).contains(&l.quantity)) {
        return Err(pricing_error(PricingError::InvalidQuantity));
    }
    let mut ids: Vec<i64> = requested.iter().map(|l| l.sku_id).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(AppError::bad_request(
            "invalid_quantity",
            "each SKU may appear once; add up its quantity / 同一规格请合并数量",
        ));
    }
    let rows = model::sale_rows(conn, &ids, campaign_id)?;
    let first_row = |sku_id: i64| rows.iter().find(|r| r.sku_id == sku_id && r.sellable);
    if let Some(line) = requested.iter().find(|l| first_row(l.sku_id).is_none()) {
        return Err(AppError::unprocessable(
            "unknown_sku",
            format!("SKU {} does not exist or is not on sale / 商品规格不存在或已下架", line.sku_id),
        ));
    }
    // No campaign named: the rows were read for the year-round one, if there is one.
    let campaign_id = campaign_id
        .or_else(|| rows.first().and_then(|r| r.campaign_id))
        .ok_or_else(|| AppError::unprocessable("campaign_not_applicable", "choose a campaign / 请选择帮扶活动"))?;
    let mut lines = Vec::with_capacity(requested.len());
    let mut items = Vec::with_capacity(requested.len());
    for line in requested {
        let row = first_row(line.sku_id).ok_or_else(|| AppError::internal("checked above"))?;
        let running = row.campaign_period.is_some_and(|(start, end)| start <= today && end.is_none_or(|e| today <= e));
        if !running || row.in_campaign.is_none() {
            return Err(AppError::unprocessable(
                "campaign_not_applicable",
                "this campaign is not running or does not include every item / 该帮扶活动未在进行或不包含所选商品",
            ));
        }
        let tiers = rows.iter().filter(|r| r.sku_id == row.sku_id).filter_map(|r| r.tier).collect();
        items.push((
            SkuPrice {
                sku_id: row.sku_id,
                price_fen: row.price_fen,
                tiers,
                campaign_price_fen: row.campaign_price_fen,
                max_points_pct: row.max_points_pct,
            },
            line.quantity,
        ));
        lines.push((
            row.producer_id,
            row.max_points_pct,
            row.product_id,
            [row.product_zh.clone(), row.product_en.clone(), row.sku_zh.clone(), row.sku_en.clone()],
            row.presale,
        ));
    }
    let priced = pricing::price_lines(&items).map_err(pricing_error)?;
    let lines = priced
        .into_iter()
        .zip(lines)
        .map(|(priced, (producer_id, max_points_pct, product_id, names, presale))| PreparedLine {
            priced,
            producer_id,
            max_points_pct,
            product_id,
            names,
            recipient: None,
            presale,
        })
        .collect();
    Ok(Prepared { lines, campaign_id })
}

pub fn quote(
    conn: &mut AnyConnection,
    requested: &[LineRequest],
    campaign_id: Option<i64>,
    rate: ExchangeRate,
    today: chrono::NaiveDate,
) -> Result<Quote, AppError> {
    let p = prepare(conn, requested, campaign_id, today)?;
    let pcts: Vec<i32> = p.lines.iter().map(|l| l.max_points_pct).collect();
    let lines: Vec<PricedLine> = p.lines.into_iter().map(|l| l.priced).collect();
    Ok(Quote {
        total_fen: lines.iter().map(|l| l.line_total_fen).sum(),
        max_points: pricing::order_points_cap(&lines, &pcts, rate),
        lines,
    })
}

/// What every lifecycle operation needs to know of the store, built once per request or job
/// from the application state.
pub struct Settings {
    pub rate: ExchangeRate,
    pub payment_timeout: Duration,
    pub gateway: &'static str,
    pub public_url: String,
    /// The payment channel's fee on the cash part, in basis points (settlement's fee entries).
    pub channel_fee_bps: i64,
    /// Who hears of every lifecycle event, in order.
    pub hooks: Hooks,
}

impl Settings {
    fn announce(&self, conn: &mut AnyConnection, event: &OrderEvent, now: NaiveDateTime) -> Result<(), AppError> {
        self.hooks.announce(conn, self, event, now)
    }

    pub fn order_url(&self, order_no: &str) -> String {
        format!("{}/orders/{order_no}", self.public_url)
    }
}

fn check_request(request: &OrderRequest) -> Result<(), AppError> {
    request.address.validate()?;
    if request.points < 0 {
        return Err(pricing_error(PricingError::NegativePoints));
    }
    request.account().map(|_| ())
}

/// How an order is settled once written.
#[derive(Debug, Clone, Copy)]
pub enum Settle {
    /// Through the payment gateway; an order with no cash due is paid at once.
    Gateway,
    /// On an organisation's account: paid at once.
    OnAccount,
    /// Held (stock and budget) until another admin approves, at the latest until `until`.
    AwaitApproval { until: NaiveDateTime },
}

/// Everything an order is made of, whatever its kind: the one input of the one pipeline.
pub struct Draft<'a> {
    pub buyer: &'a Buyer,
    pub org_id: Option<i64>,
    pub channel: Channel,
    pub category: Category,
    pub campaign_id: i64,
    pub address: &'a Address,
    /// Priced lines; their points and cash already split.
    pub lines: Vec<PreparedLine>,
    /// (name, mobile, address) of each person a line ships to.
    pub recipients: Vec<(String, String, String)>,
    pub points: i64,
    pub settle: Settle,
    pub delivery_date: Option<chrono::NaiveDate>,
    /// The Idempotency-Key's record, written before the stock is taken when the answer is
    /// known by then (see `place`).
    pub record: Option<&'a Record<'a>>,
    /// The units are already set aside for this order (a flash sale's reservation, taken off
    /// the shelf when the sale was made): the pipeline takes none from the shelf, and a
    /// cancellation gives them back to their owner (its `Cancelled` hook), not to the shelf.
    pub reserved: bool,
    /// Nothing follows this placement in its transaction, so a gateway order may take its stock
    /// and commit in one round trip (`inventory::take_and_commit`): the hot-SKU path.
    pub ends_transaction: bool,
}

/// An Idempotency-Key's row to write in the order's transaction (`place_once`).
pub struct Record<'a> {
    pub buyer_id: i64,
    pub key: &'a str,
    pub hash: &'a str,
    /// Set once written in this attempt of the transaction.
    pub saved: std::cell::Cell<bool>,
}

impl Record<'_> {
    fn save(
        &self,
        conn: &mut AnyConnection,
        writes: &Deferred,
        view: &OrderView,
        now: NaiveDateTime,
    ) -> Result<(), AppError> {
        let body = serde_json::to_string(view).map_err(AppError::internal)?;
        let row = model::new_idempotent_response(self.buyer_id, self.key.into(), self.hash.into(), 201, body, now);
        writes.write(conn, row).map_err(key_taken)?;
        self.saved.set(true);
        Ok(())
    }
}

/// The Idempotency-Key's row exists: its twin got there first (`place_once` then replays it).
fn key_taken(e: diesel::result::Error) -> AppError {
    match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => in_flight(),
        other => other.into(),
    }
}

/// An order just written by the pipeline.
pub struct Placed {
    pub order: OrderRow,
    pub lines: Vec<LineRow>,
    pub names: Names,
    pub payment_id: Option<String>,
}

impl Placed {
    pub fn view(self, settings: &Settings) -> Result<OrderView, AppError> {
        let url = |id: &str| payment_url(&settings.public_url, id);
        build_view(self.order, &self.lines, &self.names, self.payment_id, Vec::new(), url)
    }
}

pub fn payment_url(public_url: &str, payment_id: &str) -> String {
    format!("{public_url}/pay/sandbox/{payment_id}")
}

/// The placement pipeline, inside the caller's write transaction. Locks are taken in the
/// lock order: the ledger head (only when the order is paid at once, since paying credits
/// the ledger), the buyer's points account, then the new order's rows, the organisation's
/// budget (in the `Placed` hooks), and the SKUs last, in id order.
pub fn place(conn: &mut AnyConnection, s: &Settings, draft: Draft, now: NaiveDateTime) -> Result<Placed, AppError> {
    let total_fen: i64 = draft.lines.iter().map(|l| l.priced.line_total_fen).sum();
    let cash_due_fen: i64 = draft.lines.iter().map(|l| l.priced.cash_fen).sum();
    let (status, deadline, paid_now) = match draft.settle {
        Settle::Gateway => (OrderStatus::PendingPayment, now + s.payment_timeout, cash_due_fen == 0),
        Settle::OnAccount => (OrderStatus::PendingPayment, now + s.payment_timeout, true),
        Settle::AwaitApproval { until } => (OrderStatus::AwaitingApproval, until, false),
    };
    if paid_now {
        db::lock_ledger_head(conn)?;
    }
    // On the hot path the last writes before the stock (terms, mail, payment, key record)
    // go to PostgreSQL in one round trip.
    let writes = if draft.ends_transaction && !paid_now && !draft.reserved {
        Deferred::until_flush(conn)
    } else {
        Deferred::NOW
    };
    check_presale(conn, draft.buyer.id, &draft.lines, now)?;
    let order_no = new_order_no(now);
    points::service::spend(conn, draft.buyer.id, draft.points, &order_no, now)?;
    let mut order = OrderRow {
        id: 0,
        order_no,
        buyer_id: draft.buyer.id,
        org_id: draft.org_id,
        channel: draft.channel.as_str().to_string(),
        category: draft.category.as_str().to_string(),
        campaign_id: draft.campaign_id,
        status: status.as_str().to_string(),
        total_fen,
        points_used: draft.points,
        points_value_fen: draft.lines.iter().map(|l| l.priced.points_value_fen).sum(),
        cash_due_fen,
        refunded_cash_fen: 0,
        refunded_points: 0,
        address: serde_json::to_string(draft.address).map_err(AppError::internal)?,
        payment_deadline: deadline,
        created_at: now,
        paid_at: None,
        received_at: None,
        stock_reserved: draft.reserved,
    };
    order.id = model::insert_order(conn, &order)?;
    let mut recipient_ids = Vec::with_capacity(draft.recipients.len());
    for (name, mobile, address) in &draft.recipients {
        recipient_ids.push(model::insert_recipient(conn, order.id, name, mobile, address)?);
    }
    let mut lines: Vec<LineRow> = draft
        .lines
        .iter()
        .map(|l| LineRow {
            id: 0,
            order_id: order.id,
            sku_id: l.priced.sku_id,
            producer_id: l.producer_id,
            quantity: l.priced.quantity,
            unit_price_fen: l.priced.unit_price_fen,
            line_total_fen: l.priced.line_total_fen,
            points: l.priced.points,
            points_value_fen: l.priced.points_value_fen,
            cash_fen: l.priced.cash_fen,
            refunded_quantity: 0,
            recipient_id: l.recipient.and_then(|i| recipient_ids.get(i).copied()),
            refunded_cash_fen: 0,
            refunded_points: 0,
            refunded_pv_fen: 0,
        })
        .collect();
    let ids = model::insert_lines(conn, &lines)?;
    for (row, id) in lines.iter_mut().zip(ids) {
        row.id = id;
    }
    // The order's page shows its placing from `created_at`; an order on account says how.
    match draft.settle {
        Settle::AwaitApproval { .. } => {
            model::add_event(conn, order.id, None, status.as_str(), "awaiting approval", now)?
        }
        Settle::OnAccount => model::add_event(conn, order.id, None, status.as_str(), "placed on account", now)?,
        Settle::Gateway => 0,
    };
    let names: Names = draft.lines.iter().map(|l| (l.priced.sku_id, l.product_id, l.names.clone())).collect();
    let placed = OrderEvent::Placed {
        order: &order,
        buyer: draft.buyer,
        lines: &lines,
        names: &names,
        delivery_date: draft.delivery_date,
        writes: &writes,
    };
    s.announce(conn, &placed, now)?;
    // The payment row needs no lock: written before the stock, so the SKU rows (the hot ones
    // under a live-stream sale) are taken last and held only until COMMIT.
    let mut payment_id = None;
    if !paid_now && status == OrderStatus::PendingPayment {
        payment_id = Some(open_payment(conn, &writes, s, &order, now)?);
    }
    // An order waiting for the gateway is answered as it stands now, so its Idempotency-Key
    // record (an insert that locks nothing) goes before the stock too.
    if let (Some(record), false) = (draft.record, paid_now) {
        let url = |id: &str| payment_url(&s.public_url, id);
        let view = build_view(order.clone(), &lines, &names, payment_id.clone(), Vec::new(), url)?;
        record.save(conn, &writes, &view, now)?;
    }
    writes.flush(conn).map_err(key_taken)?;
    if !draft.reserved {
        let items: Vec<(i64, i64)> = lines.iter().map(|l| (l.sku_id, l.quantity)).collect();
        if draft.ends_transaction && !paid_now {
            inventory::take_and_commit(conn, &items, order.id, draft.buyer.id, now)?;
        } else {
            inventory::take(conn, &items, order.id, draft.buyer.id, now)?;
        }
    }
    if paid_now {
        let note = match draft.settle {
            Settle::OnAccount => "paid on the organisation's account",
            _ => "paid entirely with points",
        };
        complete_payment(conn, s, &order, note, now)?;
        order.status = OrderStatus::Paid.as_str().to_string();
        order.paid_at = Some(now);
    }
    Ok(Placed { order, lines, names, payment_id })
}

/// Pre-sale SKUs (预售) are sold only in their window (409 `presale_closed`) and each buyer
/// holds at most the per-buyer limit over their orders that are not cancelled (409
/// `limit_reached`). The terms come with the prices (`prepare`, one query), so an order of
/// SKUs sold from stock costs nothing more. The buyer's row is locked before counting (after the
/// ledger head, before the points account: the lock order), so two orders of one buyer count
/// each other.
fn check_presale(
    conn: &mut AnyConnection,
    buyer_id: i64,
    lines: &[PreparedLine],
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let mut terms: Vec<(i64, NaiveDateTime, i64)> =
        lines.iter().filter_map(|l| l.presale.map(|(ends_at, limit)| (l.priced.sku_id, ends_at, limit))).collect();
    if terms.is_empty() {
        return Ok(());
    }
    terms.sort_unstable();
    terms.dedup();
    if terms.iter().any(|t| now >= t.1) {
        return Err(AppError::conflict("presale_closed", "the pre-sale of this item has ended / 该商品预售已结束"));
    }
    model::lock_buyer(conn, buyer_id)?;
    for (sku_id, _, limit) in &terms {
        let wanted: i64 = lines.iter().filter(|l| l.priced.sku_id == *sku_id).map(|l| l.priced.quantity).sum();
        let held = model::units_bought(conn, buyer_id, *sku_id)?;
        if held + wanted > *limit {
            return Err(AppError::conflict(
                "limit_reached",
                format!("at most {limit} per buyer; you already have {held} / 每人限购 {limit} 件，您已购 {held} 件"),
            ));
        }
    }
    Ok(())
}

fn open_payment(
    conn: &mut AnyConnection,
    writes: &Deferred,
    s: &Settings,
    order: &OrderRow,
    now: NaiveDateTime,
) -> Result<String, AppError> {
    let id = format!("pay_{}", random_token(24));
    writes.write(conn, model::new_payment(id.clone(), order.id, s.gateway, order.cash_due_fen, now))?;
    Ok(id)
}

/// A personal order (the buyer's own points and cash), inside the caller's transaction.
pub fn write_personal(
    conn: &mut AnyConnection,
    s: &Settings,
    buyer: &Buyer,
    request: &OrderRequest,
    prepared: &Prepared,
    record: Option<&Record>,
    now: NaiveDateTime,
) -> Result<OrderView, AppError> {
    let pcts: Vec<i32> = prepared.lines.iter().map(|l| l.max_points_pct).collect();
    let priced: Vec<PricedLine> = prepared.lines.iter().map(|l| l.priced.clone()).collect();
    let priced = pricing::apply_points(priced, &pcts, request.points, s.rate).map_err(pricing_error)?;
    let lines = prepared.lines.iter().zip(priced).map(|(l, priced)| PreparedLine { priced, ..l.clone() }).collect();
    let draft = Draft {
        buyer,
        org_id: None,
        channel: if buyer.is_employee { Channel::Employee } else { Channel::Public },
        category: Category::HelpedSales,
        campaign_id: prepared.campaign_id,
        address: &request.address,
        lines,
        recipients: Vec::new(),
        points: request.points,
        settle: Settle::Gateway,
        delivery_date: None,
        record,
        reserved: false,
        ends_transaction: true,
    };
    place(conn, s, draft, now)?.view(s)
}

/// (sku id, product id, [product zh, product en, sku zh, sku en]) for each line's SKU.
pub type Names = Vec<(i64, i64, [String; 4])>;

pub fn names_of(conn: &mut AnyConnection, lines: &[LineRow]) -> Result<Names, AppError> {
    let ids: Vec<i64> = lines.iter().map(|l| l.sku_id).collect();
    Ok(model::line_names(conn, &ids)?
        .into_iter()
        .map(|(sku, product, pzh, pen, szh, sen)| (sku, product, [pzh, pen, szh, sen]))
        .collect())
}

pub fn names_for(names: &Names, sku_id: i64) -> (i64, &[String; 4]) {
    static NONE: [String; 4] = [String::new(), String::new(), String::new(), String::new()];
    names.iter().find(|n| n.0 == sku_id).map_or((0, &NONE), |n| (n.1, &n.2))
}

/// Moves a locked order to `to` if the transition table allows it and it is still `from`,
/// with an event row. False when a concurrent change got there first.
fn move_order(
    conn: &mut AnyConnection,
    order: &OrderRow,
    from: OrderStatus,
    to: OrderStatus,
    note: &str,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    if !from.can_become(to) {
        return Err(illegal(from, to));
    }
    if !model::transition(conn, order.id, &[from], to)? {
        return Ok(false);
    }
    model::add_event(conn, order.id, Some(from.as_str()), to.as_str(), note, now)?;
    Ok(true)
}

/// Marks an unpaid order paid and announces it (credits, mail, …). False if it was no longer
/// unpaid. The caller holds the ledger head.
pub fn complete_payment(
    conn: &mut AnyConnection,
    s: &Settings,
    order: &OrderRow,
    note: &str,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let from = OrderStatus::parse(&order.status)?;
    if !from.is_unpaid() || !model::mark_paid(conn, order.id, from, now)? {
        return Ok(false);
    }
    model::add_event(conn, order.id, Some(from.as_str()), OrderStatus::Paid.as_str(), note, now)?;
    let lines = model::lines_of(conn, order.id)?;
    let paid = OrderRow { status: OrderStatus::Paid.as_str().to_string(), paid_at: Some(now), ..order.clone() };
    s.announce(conn, &OrderEvent::Paid { order: &paid, lines: &lines }, now)?;
    Ok(true)
}

/// The buyer of an order already placed (whether or not their account is still enabled).
pub fn buyer_of(conn: &mut AnyConnection, user_id: i64) -> Result<Buyer, AppError> {
    find_buyer(conn, user_id, false)?.ok_or_else(|| AppError::internal("order without buyer"))
}

/// The buyer behind a session: `None` when the account is gone or disabled.
pub fn active_buyer(conn: &mut AnyConnection, user_id: i64) -> Result<Option<Buyer>, AppError> {
    find_buyer(conn, user_id, true)
}

fn find_buyer(conn: &mut AnyConnection, user_id: i64, only_enabled: bool) -> Result<Option<Buyer>, AppError> {
    let facts = crate::accounts::model::buyer_facts(conn, user_id)?;
    Ok(facts.filter(|f| !(only_enabled && f.2)).map(|(email, display_name, _, is_employee)| Buyer {
        id: user_id,
        email,
        display_name,
        is_employee,
    }))
}

/// Locks the order's row for the rest of the transaction and reads it fresh, so that what
/// follows is computed from what no one else can change meanwhile.
fn lock(conn: &mut AnyConnection, order_id: i64) -> Result<OrderRow, AppError> {
    model::lock_order(conn, order_id)?;
    Ok(model::order_by_id(conn, order_id)?)
}

/// Applies a verified gateway callback. A replayed event or a second callback for a settled
/// payment changes nothing. A success for an order that is no longer waiting for it (the
/// buyer cancelled, or the time ran out) is refunded at once: the buyer paid the gateway,
/// and the store holds no goods for them.
pub fn apply_payment_event(
    conn: &mut AnyConnection,
    s: &Settings,
    event: &crate::payments::CallbackEvent,
    now: NaiveDateTime,
) -> Result<&'static str, AppError> {
    use crate::payments::Outcome;
    let (_, order_id, amount_fen, _) = model::payment(conn, &event.payment_id)?.ok_or(AppError::NotFound)?;
    if amount_fen != event.amount_fen {
        return Err(AppError::bad_request(
            "amount_mismatch",
            "the callback amount differs from the payment / 金额不符",
        ));
    }
    let outcome = match event.outcome {
        Outcome::Succeeded => PaymentStatus::Succeeded,
        Outcome::Failed => PaymentStatus::Failed,
    };
    db::write_tx(conn, |conn| {
        // The lock order: ledger head (a success credits it), order, payment.
        if outcome == PaymentStatus::Succeeded {
            db::lock_ledger_head(conn)?;
        }
        let order = lock(conn, order_id)?;
        if !model::record_payment_event(conn, &event.event_id, &event.payment_id, outcome.as_str(), now)? {
            return Ok("duplicate");
        }
        if !model::settle_payment(conn, &event.payment_id, outcome, now)? {
            return Ok("already_settled");
        }
        let status = OrderStatus::parse(&order.status)?;
        if outcome == PaymentStatus::Failed {
            if status == OrderStatus::PendingPayment {
                // The buyer may try again: a new payment for the same order.
                let retry = open_payment(conn, &Deferred::NOW, s, &order, now)?;
                model::add_event(
                    conn,
                    order.id,
                    Some(status.as_str()),
                    status.as_str(),
                    &format!("payment failed; new payment {retry}"),
                    now,
                )?;
            }
            return Ok("failed");
        }
        if complete_payment(conn, s, &order, "payment received", now)? {
            return Ok("paid");
        }
        let refund_id = model::add_refund(conn, order.id, amount_fen, 0, LATE_PAYMENT, now)?;
        model::add_event(
            conn,
            order.id,
            Some(status.as_str()),
            status.as_str(),
            &format!("late payment refunded (refund {refund_id})"),
            now,
        )?;
        s.announce(conn, &OrderEvent::LatePaymentRefunded { order: &order, refund_id, amount_fen }, now)?;
        Ok("refunded_late_payment")
    })
}

/// The reason recorded on the automatic refund of a payment that came after cancellation.
pub const LATE_PAYMENT: &str = "late_payment";

/// Cancels an unpaid order, inside the caller's transaction: stock back on the shelf, points
/// back to their lots, an open payment marked cancelled (should the buyer still pay it, the
/// money goes back), and the hooks told (an organisation's budget comes back). False if it
/// was no longer unpaid.
pub fn cancel_unpaid(
    conn: &mut AnyConnection,
    s: &Settings,
    order: &OrderRow,
    note: &str,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    // The lock order: points account, then the order.
    if order.points_used > 0 {
        points::model::lock_account(conn, order.buyer_id)?;
    }
    let order = lock(conn, order.id)?;
    let from = OrderStatus::parse(&order.status)?;
    if !from.is_unpaid() || !move_order(conn, &order, from, OrderStatus::Cancelled, note, now)? {
        return Ok(false);
    }
    model::cancel_open_payments(conn, order.id, now)?;
    points::service::give_back(conn, order.buyer_id, order.points_used, &order.order_no, now)?;
    let cancelled = OrderRow { status: OrderStatus::Cancelled.as_str().to_string(), ..order };
    s.announce(conn, &OrderEvent::Cancelled { order: &cancelled }, now)?;
    if !cancelled.stock_reserved {
        let items: Vec<(i64, i64)> =
            model::lines_of(conn, cancelled.id)?.iter().map(|l| (l.sku_id, l.quantity)).collect();
        inventory::put_back(conn, &items, inventory::Reason::Cancel, cancelled.id, cancelled.buyer_id, now)?;
    }
    Ok(true)
}

fn invalid_state() -> AppError {
    AppError::conflict("invalid_state", "the order's status does not allow this / 订单当前状态不允许此操作")
}

/// The buyer cancels an unpaid order.
pub fn cancel(
    conn: &mut AnyConnection,
    s: &Settings,
    buyer_id: i64,
    order_no: &str,
    now: NaiveDateTime,
) -> Result<OrderRow, AppError> {
    let order = model::order_by_no(conn, order_no)?.filter(|o| o.buyer_id == buyer_id).ok_or(AppError::NotFound)?;
    db::write_tx(conn, |conn| {
        if !cancel_unpaid(conn, s, &order, "cancelled by buyer", now)? {
            return Err(invalid_state());
        }
        Ok(model::order_by_id(conn, order.id)?)
    })
}

/// Cancels every unpaid order whose time is up (payment, or approval). Safe to run
/// concurrently: each order moves only once.
pub fn expire_unpaid(conn: &mut AnyConnection, s: &Settings, now: NaiveDateTime) -> Result<usize, AppError> {
    let mut cancelled = 0;
    for id in model::overdue_unpaid(conn, now)? {
        let order = model::order_by_id(conn, id)?;
        let note = if order.status == OrderStatus::AwaitingApproval.as_str() {
            "approval expired"
        } else {
            "payment timed out"
        };
        cancelled += usize::from(db::write_tx(conn, |conn| cancel_unpaid(conn, s, &order, note, now))?);
    }
    Ok(cancelled)
}

/// Records that a cooperative's part of the order left, inside the caller's transaction
/// (which holds the order's lock): the order becomes partially shipped, or shipped with its
/// last part, and the hooks hear of it.
pub fn part_shipped(
    conn: &mut AnyConnection,
    s: &Settings,
    order: &OrderRow,
    producer_id: i64,
    recipient_id: Option<i64>,
    all: bool,
    now: NaiveDateTime,
) -> Result<OrderStatus, AppError> {
    let from = OrderStatus::parse(&order.status)?;
    let to = if all { OrderStatus::Shipped } else { OrderStatus::PartiallyShipped };
    let note = if all { "every part shipped" } else { "a part shipped" };
    let status = if from == to {
        from
    } else if move_order(conn, order, from, to, note, now)? {
        to
    } else {
        return Err(invalid_state());
    };
    let shipped = OrderRow { status: status.as_str().to_string(), ..order.clone() };
    s.announce(conn, &OrderEvent::Shipped { order: &shipped, producer_id, recipient_id, all }, now)?;
    Ok(status)
}

/// Records, inside the caller's transaction (which holds the order's lock), that every parcel
/// of the order was received: the order becomes `received` and the hooks hear of it. False
/// when it cannot (already received, refunded in full, or not yet shipped).
pub fn order_received(
    conn: &mut AnyConnection,
    s: &Settings,
    order: &OrderRow,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let from = OrderStatus::parse(&order.status)?;
    if order.received_at.is_some() || !from.can_become(OrderStatus::Received) {
        return Ok(false);
    }
    if !move_order(conn, order, from, OrderStatus::Received, "every parcel received", now)? {
        return Ok(false);
    }
    model::set_received_at(conn, order.id, now)?;
    let received =
        OrderRow { status: OrderStatus::Received.as_str().to_string(), received_at: Some(now), ..order.clone() };
    s.announce(conn, &OrderEvent::Received { order: &received }, now)?;
    Ok(true)
}

/// Closes a received order whose after-sales window has passed with no case open (the
/// caller checks that, holding the order's lock): `completed`, announced. False when it
/// is not received (or already completed or refunded in full).
pub fn complete(
    conn: &mut AnyConnection,
    s: &Settings,
    order: &OrderRow,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let from = OrderStatus::parse(&order.status)?;
    if order.received_at.is_none() || !from.can_become(OrderStatus::Completed) {
        return Ok(false);
    }
    // A completed order refunded later (partially_refunded) is not completed a second time.
    if model::has_been(conn, order.id, OrderStatus::Completed.as_str())? {
        return Ok(false);
    }
    if !move_order(conn, order, from, OrderStatus::Completed, "after-sales window closed", now)? {
        return Ok(false);
    }
    let completed = OrderRow { status: OrderStatus::Completed.as_str().to_string(), ..order.clone() };
    s.announce(conn, &OrderEvent::Completed { order: &completed }, now)?;
    Ok(true)
}

/// Locks the order's row for the rest of the transaction and reads it again.
pub fn lock_order(conn: &mut AnyConnection, order_id: i64) -> Result<OrderRow, AppError> {
    lock(conn, order_id)
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLine {
    pub line_id: i64,
    pub quantity: i64,
}

/// `POST /api/v1/orders/{order_no}/refunds`: no lines means every unit not yet refunded.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    #[serde(default)]
    pub lines: Vec<RefundLine>,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundView {
    #[schema(value_type = String)]
    pub cash: Money,
    pub points: i64,
    pub order: OrderView,
}

/// The units a refund request names, checked against the order's lines as locked.
fn refund_units(lines: &[LineRow], request: &RefundRequest) -> Result<Vec<(LineRow, i64)>, AppError> {
    if request.lines.is_empty() {
        return Ok(lines
            .iter()
            .filter(|l| l.refunded_quantity < l.quantity)
            .map(|l| (l.clone(), l.quantity - l.refunded_quantity))
            .collect());
    }
    let mut out: Vec<(LineRow, i64)> = Vec::new();
    for r in &request.lines {
        let line = lines.iter().find(|l| l.id == r.line_id).ok_or_else(|| {
            AppError::unprocessable(
                "invalid_refund",
                format!("line {} is not in this order / 订单中没有该行", r.line_id),
            )
        })?;
        let seen = out.iter().any(|(l, _)| l.id == r.line_id);
        if seen || r.quantity < 1 || r.quantity > line.quantity - line.refunded_quantity {
            return Err(AppError::unprocessable(
                "invalid_refund",
                format!("line {} cannot refund {} units / 退款数量无效", r.line_id, r.quantity),
            ));
        }
        out.push((line.clone(), r.quantity));
    }
    Ok(out)
}

/// What a refund takes from one line: whole units (the units' share of what was paid), or an
/// amount of value (after-sales: a partial refund for a quality problem).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Units(i64),
    Amount(i64),
}

/// Refunds chosen units of a paid order, for its buyer: only before anything has shipped
/// (afterwards it is a case for after-sales: 409 `use_after_sales`).
pub fn refund(
    conn: &mut AnyConnection,
    s: &Settings,
    buyer_id: i64,
    order_no: &str,
    request: &RefundRequest,
    now: NaiveDateTime,
) -> Result<(i64, i64), AppError> {
    let found = model::order_by_no(conn, order_no)?.filter(|o| o.buyer_id == buyer_id).ok_or(AppError::NotFound)?;
    refund_request(conn, s, &found, request, true, now)
}

/// A platform admin's refund (disputes): any paid order, shipped or not.
pub fn refund_by_admin(
    conn: &mut AnyConnection,
    s: &Settings,
    order_no: &str,
    request: &RefundRequest,
    now: NaiveDateTime,
) -> Result<(i64, i64), AppError> {
    let found = model::order_by_no(conn, order_no)?.ok_or(AppError::NotFound)?;
    refund_request(conn, s, &found, request, false, now)
}

fn refund_request(
    conn: &mut AnyConnection,
    s: &Settings,
    found: &OrderRow,
    request: &RefundRequest,
    before_shipping_only: bool,
    now: NaiveDateTime,
) -> Result<(i64, i64), AppError> {
    if request.reason.chars().count() > 500 {
        return Err(AppError::bad_request("invalid_refund", "the reason is limited to 500 characters / 退款原因过长"));
    }
    db::write_tx(conn, |conn| {
        let order = lock_for_refund(conn, found)?;
        if !OrderStatus::REFUNDABLE.contains(&OrderStatus::parse(&order.status)?) {
            return Err(invalid_state());
        }
        if before_shipping_only && model::any_shipped(conn, order.id)? {
            return Err(AppError::conflict(
                "use_after_sales",
                "goods have shipped: open an after-sales case instead / 商品已发货，请申请售后",
            ));
        }
        let lines = model::lines_of(conn, order.id)?;
        let claims: Vec<(i64, Claim)> =
            refund_units(&lines, request)?.into_iter().map(|(l, q)| (l.id, Claim::Units(q))).collect();
        if claims.is_empty() {
            return Err(AppError::unprocessable("invalid_refund", "nothing left to refund / 没有可退款的商品"));
        }
        let refund = refund_locked(conn, s, &order, &claims, &request.reason, now)?;
        Ok((refund.cash_fen, refund.points))
    })
}

/// Takes the locks a refund needs, in the lock order (ledger head for the reversals, the
/// buyer's points account, the order), and reads the order again under them.
pub fn lock_for_refund(conn: &mut AnyConnection, order: &OrderRow) -> Result<OrderRow, AppError> {
    db::lock_ledger_head(conn)?;
    if order.points_used > 0 {
        points::model::lock_account(conn, order.buyer_id)?;
    }
    lock(conn, order.id)
}

/// The refund engine, inside the caller's transaction, which holds the locks of
/// `lock_for_refund`: cash and points in proportion to each line's split, stock back on the
/// shelf for units that had not shipped, the order partially refunded or refunded, and the
/// hooks told (ledger reversal, charity, budget, mail). Shares are computed from the lines as
/// locked, so refunds of one order, however they interleave, never give back more than was
/// paid, and giving back everything returns exactly what was paid.
pub fn refund_locked(
    conn: &mut AnyConnection,
    s: &Settings,
    order: &OrderRow,
    claims: &[(i64, Claim)],
    reason: &str,
    now: NaiveDateTime,
) -> Result<Refund, AppError> {
    let from = OrderStatus::parse(&order.status)?;
    if !OrderStatus::REFUNDABLE.contains(&from) {
        return Err(invalid_state());
    }
    let lines = model::lines_of(conn, order.id)?;
    let mut wanted: Vec<(LineRow, Claim)> = Vec::with_capacity(claims.len());
    for (line_id, claim) in claims {
        let line = lines.iter().find(|l| l.id == *line_id).ok_or_else(|| {
            AppError::unprocessable("invalid_refund", format!("line {line_id} is not in this order / 订单中没有该行"))
        })?;
        wanted.push((line.clone(), *claim));
    }
    wanted.sort_by_key(|(l, _)| l.sku_id);
    let mut refunded = Vec::with_capacity(wanted.len());
    let mut restock = Vec::new();
    for (line, claim) in wanted {
        let paid = line.paid();
        let (quantity, share) = match claim {
            Claim::Units(q) if q >= 1 && q <= line.quantity - line.refunded_quantity => (q, paid.share_of_units(q)),
            Claim::Amount(a) if a >= 1 && a <= paid.remaining_fen() => (0, paid.share_of_value(a)),
            _ => {
                return Err(AppError::unprocessable(
                    "invalid_refund",
                    format!("line {} cannot give back that much / 退款超出可退金额", line.id),
                ))
            }
        };
        if !model::refund_line(conn, line.id, quantity, &share)? {
            return Err(invalid_state());
        }
        // Units of a part the cooperative has already shipped are not back on its shelf.
        if quantity > 0 && !model::line_shipped(conn, line.id)? {
            restock.push((line.sku_id, quantity));
        }
        refunded.push(RefundedLine {
            line,
            quantity,
            cash_fen: share.cash_fen,
            points: share.points,
            value_fen: share.value_fen(),
        });
    }
    let cash_fen: i64 = refunded.iter().map(|r| r.cash_fen).sum();
    let points: i64 = refunded.iter().map(|r| r.points).sum();
    let refund_id = model::add_refund(conn, order.id, cash_fen, points, reason, now)?;
    let rows: Vec<(i64, i64, i64, i64)> =
        refunded.iter().map(|r| (r.line.id, r.quantity, r.cash_fen, r.points)).collect();
    model::add_refund_lines(conn, refund_id, &rows)?;
    model::add_refunded_totals(conn, order.id, cash_fen, points)?;
    points::service::give_back(conn, order.buyer_id, points, &order.order_no, now)?;
    let all = model::lines_of(conn, order.id)?.iter().all(|l| l.paid().fully_refunded());
    let to = if all { OrderStatus::Refunded } else { OrderStatus::PartiallyRefunded };
    let note = format!("refund {refund_id}");
    if to == from {
        model::add_event(conn, order.id, Some(from.as_str()), to.as_str(), &note, now)?;
    } else if !move_order(conn, order, from, to, &note, now)? {
        return Err(invalid_state());
    }
    let after = OrderRow { status: to.as_str().to_string(), ..order.clone() };
    let refund = Refund { id: refund_id, cash_fen, points, lines: refunded };
    s.announce(conn, &OrderEvent::Refunded { order: &after, refund: &refund }, now)?;
    inventory::put_back(conn, &restock, inventory::Reason::Refund, after.id, order.buyer_id, now)?;
    Ok(refund)
}

/// The order as the API and pages show it; only its buyer may see it.
pub fn view(
    conn: &mut AnyConnection,
    buyer_id: i64,
    order_no: &str,
    payment_url: impl Fn(&str) -> String,
) -> Result<OrderView, AppError> {
    let order = model::order_by_no(conn, order_no)?.filter(|o| o.buyer_id == buyer_id).ok_or(AppError::NotFound)?;
    view_of(conn, order, payment_url)
}

pub fn view_of(
    conn: &mut AnyConnection,
    order: OrderRow,
    payment_url: impl Fn(&str) -> String,
) -> Result<OrderView, AppError> {
    let lines = model::lines_of(conn, order.id)?;
    let names = names_of(conn, &lines)?;
    let payment_id = if order.status == OrderStatus::PendingPayment.as_str() {
        model::pending_payment_of(conn, order.id)?
    } else {
        None
    };
    let refunds = model::refunds_of(conn, order.id)?;
    build_view(order, &lines, &names, payment_id, refunds, payment_url)
}

pub fn build_view(
    order: OrderRow,
    lines: &[LineRow],
    names: &Names,
    payment_id: Option<String>,
    refunds: Vec<model::RefundRow>,
    payment_url: impl Fn(&str) -> String,
) -> Result<OrderView, AppError> {
    let address: Address = serde_json::from_str(&order.address).map_err(AppError::internal)?;
    Ok(OrderView {
        payment_url: payment_id.as_deref().map(&payment_url),
        payment_id,
        order_no: order.order_no,
        status: order.status,
        channel: order.channel,
        category: order.category,
        campaign_id: order.campaign_id,
        total: Money::from_fen(order.total_fen),
        points_used: order.points_used,
        points_value: Money::from_fen(order.points_value_fen),
        cash_due: Money::from_fen(order.cash_due_fen),
        refunded_cash: Money::from_fen(order.refunded_cash_fen),
        refunded_points: order.refunded_points,
        address,
        created_at: order.created_at,
        payment_deadline: order.payment_deadline,
        paid_at: order.paid_at,
        lines: lines
            .iter()
            .map(|l| {
                let (product_id, [product_zh, product_en, sku_zh, sku_en]) = {
                    let (id, n) = names_for(names, l.sku_id);
                    (id, n.clone())
                };
                LineView {
                    id: l.id,
                    sku_id: l.sku_id,
                    product_id,
                    product_zh,
                    product_en,
                    sku_zh,
                    sku_en,
                    quantity: l.quantity,
                    unit_price: Money::from_fen(l.unit_price_fen),
                    line_total: Money::from_fen(l.line_total_fen),
                    points: l.points,
                    points_value: Money::from_fen(l.points_value_fen),
                    cash: Money::from_fen(l.cash_fen),
                    refunded_quantity: l.refunded_quantity,
                }
            })
            .collect(),
        refunds: refunds
            .into_iter()
            .map(|(id, cash_fen, points, reason, created_at)| RefundInfo {
                id,
                amount: Money::from_fen(cash_fen),
                points,
                reason,
                created_at,
            })
            .collect(),
        parts: Vec::new(),
    })
}

/// What the buyer's idempotency key already answered: the stored body to replay, or a
/// conflict when the same key came with another request.
pub fn replay(conn: &mut AnyConnection, user_id: i64, key: &str, hash: &str) -> Result<Option<String>, AppError> {
    match model::idempotent_response(conn, user_id, key)? {
        Some((stored_hash, _, body)) if stored_hash == hash => Ok(Some(body)),
        Some(_) => Err(AppError::conflict(
            "idempotency_conflict",
            "this Idempotency-Key was used with a different request / 该幂等键已用于不同的请求",
        )),
        None => Ok(None),
    }
}

fn in_flight() -> AppError {
    AppError::conflict(
        "idempotency_in_flight",
        "a request with this Idempotency-Key is still being processed / 相同请求正在处理中",
    )
}

pub enum Outcome {
    New(Box<OrderView>),
    /// The JSON body first returned for this Idempotency-Key.
    Replayed(String),
}

/// Checks and prices a request, then runs `write` (which places the order through the
/// pipeline) in one transaction, at most once per Idempotency-Key: the key's row is written
/// in the same transaction (by `place` before the stock when it can, else last here), so a
/// request whose key was used before fails on it, and is answered from that record. The
/// record is read only then: a new key (nearly every request) costs no look-up.
pub fn place_once(
    conn: &mut AnyConnection,
    buyer_id: i64,
    request: &OrderRequest,
    key: Option<(&str, &str)>,
    now: NaiveDateTime,
    write: impl FnMut(&mut AnyConnection, &Prepared, Option<&Record>) -> Result<OrderView, AppError>,
) -> Result<Outcome, AppError> {
    let record = key.map(|(key, hash)| Record { buyer_id, key, hash, saved: std::cell::Cell::new(false) });
    match (place_new(conn, request, record.as_ref(), now, write), key) {
        (Ok(view), _) => Ok(Outcome::New(Box::new(view))),
        // The key was used before (by a twin that finished first, or by a request answered
        // long ago that would fail now, the stock being gone, say): answer as it did.
        (Err(e), Some((key, hash))) => match replay(conn, buyer_id, key, hash)? {
            Some(body) => Ok(Outcome::Replayed(body)),
            None => Err(e),
        },
        (Err(e), None) => Err(e),
    }
}

fn place_new(
    conn: &mut AnyConnection,
    request: &OrderRequest,
    record: Option<&Record>,
    now: NaiveDateTime,
    mut write: impl FnMut(&mut AnyConnection, &Prepared, Option<&Record>) -> Result<OrderView, AppError>,
) -> Result<OrderView, AppError> {
    check_request(request)?;
    let prepared = prepare(conn, &request.lines, request.campaign_id, now.date())?;
    db::write_tx(conn, |conn| {
        if let Some(r) = record {
            r.saved.set(false);
        }
        let view = write(conn, &prepared, record)?;
        if let Some(r) = record.filter(|r| !r.saved.get()) {
            r.save(conn, &Deferred::NOW, &view, now)?;
        }
        Ok(view)
    })
}
