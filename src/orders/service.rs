//! Checkout rules: pricing by the server, points plus cash, atomic stock reservation,
//! payment, cancellation, payment timeout and refunds. Every state change is a conditional
//! update inside one transaction, so concurrent requests, callbacks and jobs cannot double it.

use chrono::{Duration, NaiveDateTime};
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, LineRow, Movement, OrderRow};
use super::pricing::{self, PricedLine, PricingError, SkuPrice};
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::mail;
use crate::money::{ExchangeRate, Money};
use crate::points;

pub fn random_token(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

/// Order numbers carry the date for people and 12 random characters against guessing.
pub(crate) fn new_order_no(now: NaiveDateTime) -> String {
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
    /// "personal", or {"org_id": …} (organisation accounts come with organisation buying).
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

/// Who is buying, as the server knows them.
pub struct Buyer {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub is_employee: bool,
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
}

fn pricing_error(e: PricingError) -> AppError {
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
pub(crate) struct PreparedLine {
    pub(crate) priced: PricedLine,
    pub(crate) producer_id: i64,
    max_points_pct: i32,
    pub(crate) product_id: i64,
    pub(crate) names: [String; 4],
}

pub(crate) struct Prepared {
    pub(crate) lines: Vec<PreparedLine>,
    pub(crate) campaign_id: i64,
}

/// Checks the lines and the campaign and prices everything, in one read; no writes.
pub(crate) fn prepare(
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
    let campaign_id = match campaign_id {
        Some(id) => id,
        None => model::year_round_campaign(conn)?
            .ok_or_else(|| AppError::unprocessable("campaign_not_applicable", "choose a campaign / 请选择帮扶活动"))?,
    };
    let rows = model::sale_rows(conn, &ids, campaign_id)?;
    let first_row = |sku_id: i64| rows.iter().find(|r| r.sku_id == sku_id && r.sellable);
    if let Some(line) = requested.iter().find(|l| first_row(l.sku_id).is_none()) {
        return Err(AppError::unprocessable(
            "unknown_sku",
            format!("SKU {} does not exist or is not on sale / 商品规格不存在或已下架", line.sku_id),
        ));
    }
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
        ));
    }
    let priced = pricing::price_lines(&items).map_err(pricing_error)?;
    let lines = priced
        .into_iter()
        .zip(lines)
        .map(|(priced, (producer_id, max_points_pct, product_id, names))| PreparedLine {
            priced,
            producer_id,
            max_points_pct,
            product_id,
            names,
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

pub struct Settings {
    pub rate: ExchangeRate,
    pub payment_timeout: Duration,
    pub gateway: &'static str,
    pub public_url: String,
}

fn check_request(request: &OrderRequest) -> Result<(), AppError> {
    request.address.validate()?;
    if request.points < 0 {
        return Err(pricing_error(PricingError::NegativePoints));
    }
    match &request.account {
        None => Ok(()),
        Some(serde_json::Value::String(s)) if s == "personal" => Ok(()),
        // {"org_id": …}: an order on an organisation's account (orgs::account).
        Some(other) => crate::orgs::account::parse(other).map(|_| ()),
    }
}

/// Places an order in one transaction: stock reserved, points spent, order and lines written,
/// payment opened (or the order paid at once when no cash is due), mail queued.
pub fn place(
    conn: &mut AnyConnection,
    settings: &Settings,
    buyer: &Buyer,
    request: &OrderRequest,
    now: NaiveDateTime,
) -> Result<OrderView, AppError> {
    check_request(request)?;
    let prepared = prepare(conn, &request.lines, request.campaign_id, now.date())?;
    db::write_tx(conn, |conn| write_order(conn, settings, buyer, request, &prepared, now))
}

/// The writes of a checkout; the answer is built from what was written, without reading back.
fn write_order(
    conn: &mut AnyConnection,
    settings: &Settings,
    buyer: &Buyer,
    request: &OrderRequest,
    prepared: &Prepared,
    now: NaiveDateTime,
) -> Result<OrderView, AppError> {
    if let Some(account) = request.account.as_ref().map(crate::orgs::account::parse).transpose()?.flatten() {
        return crate::orgs::account::write_order(conn, settings, buyer, request, &account, prepared, now);
    }
    let pcts: Vec<i32> = prepared.lines.iter().map(|l| l.max_points_pct).collect();
    let priced: Vec<PricedLine> = prepared.lines.iter().map(|l| l.priced.clone()).collect();
    let priced = pricing::apply_points(priced, &pcts, request.points, settings.rate).map_err(pricing_error)?;
    let order_no = new_order_no(now);
    // Rows are locked in SKU order, so two orders for the same SKUs cannot deadlock.
    let mut by_sku: Vec<&PricedLine> = priced.iter().collect();
    by_sku.sort_by_key(|l| l.sku_id);
    let mut taken = Vec::with_capacity(priced.len());
    for line in by_sku {
        match model::take_stock(conn, line.sku_id, line.quantity)? {
            Some(change) => taken.push(change),
            None => {
                return Err(AppError::conflict(
                    "out_of_stock",
                    format!("SKU {} does not have {} left / 库存不足", line.sku_id, line.quantity),
                ))
            }
        }
    }
    points::service::spend(conn, buyer.id, request.points, &order_no, now)?;
    let mut order = OrderRow {
        id: 0,
        order_no: order_no.clone(),
        buyer_id: buyer.id,
        org_id: None,
        channel: if buyer.is_employee { "employee" } else { "public" }.to_string(),
        category: "helped_sales".to_string(),
        campaign_id: prepared.campaign_id,
        status: "pending_payment".to_string(),
        total_fen: priced.iter().map(|l| l.line_total_fen).sum(),
        points_used: request.points,
        points_value_fen: priced.iter().map(|l| l.points_value_fen).sum(),
        cash_due_fen: priced.iter().map(|l| l.cash_fen).sum(),
        refunded_cash_fen: 0,
        refunded_points: 0,
        address: serde_json::to_string(&request.address).map_err(AppError::internal)?,
        payment_deadline: now + settings.payment_timeout,
        created_at: now,
        paid_at: None,
    };
    order.id = model::insert_order(conn, &order)?;
    let mut rows: Vec<LineRow> = priced
        .iter()
        .zip(&prepared.lines)
        .map(|(l, p)| LineRow {
            id: 0,
            order_id: order.id,
            sku_id: l.sku_id,
            producer_id: p.producer_id,
            quantity: l.quantity,
            unit_price_fen: l.unit_price_fen,
            line_total_fen: l.line_total_fen,
            points: l.points,
            points_value_fen: l.points_value_fen,
            cash_fen: l.cash_fen,
            refunded_quantity: 0,
        })
        .collect();
    let ids = model::insert_lines(conn, &rows)?;
    for (row, id) in rows.iter_mut().zip(ids) {
        row.id = id;
    }
    // `taken` is in SKU order, one change per line.
    let movements: Vec<Movement> = taken
        .iter()
        .map(|c| Movement {
            sku_id: c.sku_id,
            delta: c.after - c.before,
            reason: "sale",
            order_id: Some(order.id),
            user_id: buyer.id,
            before: c.before,
            after: c.after,
        })
        .collect();
    model::record_movements(conn, &movements, now)?;
    crate::coop::service::alert_low_stock(conn, &taken, now)?;
    let names: Vec<(i64, i64, [String; 4])> =
        prepared.lines.iter().map(|l| (l.priced.sku_id, l.product_id, l.names.clone())).collect();
    let mail = order_mail(&order, buyer, &settings.public_url, &rows, &names);
    mail::enqueue(conn, "order_placed", &buyer.email, &mail, now)?;
    let payment_id = if order.cash_due_fen > 0 {
        let id = format!("pay_{}", random_token(24));
        model::insert_payment(conn, &id, order.id, settings.gateway, order.cash_due_fen, now)?;
        Some(id)
    } else {
        complete_payment(conn, &order, buyer, &settings.public_url, "paid entirely with points", now)?;
        order.status = "paid".to_string();
        order.paid_at = Some(now);
        None
    };
    let url = |id: &str| format!("{}/pay/sandbox/{id}", settings.public_url);
    build_view(order, &rows, &names, payment_id, url)
}

#[derive(Serialize)]
struct MailLine {
    product_zh: String,
    product_en: String,
    sku_zh: String,
    sku_en: String,
    quantity: i64,
    line_total: Money,
}

#[derive(Serialize)]
struct OrderMail {
    buyer_name: String,
    order_no: String,
    order_url: String,
    total: Money,
    points_used: i64,
    cash_due: Money,
    lines: Vec<MailLine>,
}

/// (sku id, product id, [product zh, product en, sku zh, sku en]) for each line's SKU.
pub(crate) type Names = Vec<(i64, i64, [String; 4])>;

fn names_of(conn: &mut AnyConnection, lines: &[LineRow]) -> Result<Names, AppError> {
    let ids: Vec<i64> = lines.iter().map(|l| l.sku_id).collect();
    Ok(model::line_names(conn, &ids)?
        .into_iter()
        .map(|(sku, product, pzh, pen, szh, sen)| (sku, product, [pzh, pen, szh, sen]))
        .collect())
}

fn names_for(names: &Names, sku_id: i64) -> (i64, &[String; 4]) {
    static NONE: [String; 4] = [String::new(), String::new(), String::new(), String::new()];
    names.iter().find(|n| n.0 == sku_id).map_or((0, &NONE), |n| (n.1, &n.2))
}

fn mail_lines(lines: &[LineRow], names: &Names) -> Vec<MailLine> {
    lines
        .iter()
        .map(|l| {
            let [product_zh, product_en, sku_zh, sku_en] = names_for(names, l.sku_id).1.clone();
            MailLine {
                product_zh,
                product_en,
                sku_zh,
                sku_en,
                quantity: l.quantity,
                line_total: Money::from_fen(l.line_total_fen),
            }
        })
        .collect()
}

fn order_mail(order: &OrderRow, buyer: &Buyer, public_url: &str, lines: &[LineRow], names: &Names) -> OrderMail {
    OrderMail {
        buyer_name: buyer.display_name.clone(),
        order_no: order.order_no.clone(),
        order_url: format!("{public_url}/orders/{}", order.order_no),
        total: Money::from_fen(order.total_fen),
        points_used: order.points_used,
        cash_due: Money::from_fen(order.cash_due_fen),
        lines: mail_lines(lines, names),
    }
}

#[derive(Serialize)]
struct ShipMail {
    producer_zh: String,
    producer_en: String,
    order_no: String,
    lines: Vec<MailLine>,
    address: Address,
}

/// Marks the order paid and queues the buyer's receipt and each cooperative's shipping note.
pub(crate) fn complete_payment(
    conn: &mut AnyConnection,
    order: &OrderRow,
    buyer: &Buyer,
    public_url: &str,
    note: &str,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    if !model::mark_paid(conn, order.id, now)? {
        return Ok(false);
    }
    model::add_event(conn, order.id, Some("pending_payment"), "paid", note, now)?;
    let lines = model::lines_of(conn, order.id)?;
    crate::credits::service::credit_sale(conn, order, &lines, now)?;
    let names = names_of(conn, &lines)?;
    mail::enqueue(conn, "payment_received", &buyer.email, &order_mail(order, buyer, public_url, &lines, &names), now)?;
    let address: Address = serde_json::from_str(&order.address).map_err(AppError::internal)?;
    let mut producers: Vec<i64> = lines.iter().map(|l| l.producer_id).collect();
    producers.sort_unstable();
    producers.dedup();
    for (producer_id, name_zh, name_en) in model::producer_names(conn, &producers)? {
        let own: Vec<LineRow> = lines.iter().filter(|l| l.producer_id == producer_id).cloned().collect();
        let context = ShipMail {
            producer_zh: name_zh,
            producer_en: name_en,
            order_no: order.order_no.clone(),
            lines: mail_lines(&own, &names),
            address: address.clone(),
        };
        for email in model::producer_manager_emails(conn, producer_id)? {
            mail::enqueue(conn, "new_order_to_ship", &email, &context, now)?;
        }
    }
    Ok(true)
}

pub(crate) fn buyer_of(conn: &mut AnyConnection, user_id: i64) -> Result<Buyer, AppError> {
    let user = crate::accounts::model::find(conn, user_id)?.ok_or_else(|| AppError::internal("order without buyer"))?;
    let roles = crate::accounts::model::roles(conn, user_id)?;
    Ok(Buyer {
        id: user.id,
        email: user.email,
        display_name: user.display_name,
        is_employee: roles.iter().any(|r| r == "employee"),
    })
}

/// Applies a verified gateway callback. A replayed event or a second callback for a settled
/// payment changes nothing.
pub fn apply_payment_event(
    conn: &mut AnyConnection,
    event: &crate::payments::CallbackEvent,
    public_url: &str,
    now: NaiveDateTime,
) -> Result<&'static str, AppError> {
    use crate::payments::Outcome;
    db::write_tx(conn, |conn| {
        let outcome = match event.outcome {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        };
        if !model::record_payment_event(conn, &event.event_id, &event.payment_id, outcome, now)? {
            return Ok("duplicate");
        }
        let (_, order_id, amount_fen, _) = model::payment(conn, &event.payment_id)?.ok_or(AppError::NotFound)?;
        if amount_fen != event.amount_fen {
            return Err(AppError::bad_request(
                "amount_mismatch",
                "the callback amount differs from the payment / 金额不符",
            ));
        }
        if !model::settle_payment(conn, &event.payment_id, outcome, now)? {
            return Ok("already_settled");
        }
        if event.outcome == Outcome::Failed {
            model::add_event(conn, order_id, Some("pending_payment"), "pending_payment", "payment failed", now)?;
            return Ok("failed");
        }
        let order = model::order_by_id(conn, order_id)?;
        let buyer = buyer_of(conn, order.buyer_id)?;
        if complete_payment(conn, &order, &buyer, public_url, "payment received", now)? {
            Ok("paid")
        } else {
            // Paid after the order was cancelled: the money goes straight back.
            let refund = model::add_refund(conn, order.id, amount_fen, 0, "paid after cancellation", now)?;
            model::add_event(
                conn,
                order.id,
                Some(&order.status),
                &order.status,
                &format!("late payment refunded (refund {refund})"),
                now,
            )?;
            Ok("refunded_late_payment")
        }
    })
}

/// Cancels an unpaid order: stock back on the shelf, points back to their lots.
pub(crate) fn cancel_unpaid(
    conn: &mut AnyConnection,
    order: &OrderRow,
    note: &str,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    if !model::transition(conn, order.id, &["pending_payment"], "cancelled")? {
        return Ok(false);
    }
    let mut lines = model::lines_of(conn, order.id)?;
    lines.sort_by_key(|l| l.sku_id);
    let mut movements = Vec::with_capacity(lines.len());
    for l in &lines {
        let c = model::put_back_stock(conn, l.sku_id, l.quantity)?
            .ok_or_else(|| AppError::internal("order line without its SKU"))?;
        movements.push(Movement {
            sku_id: l.sku_id,
            delta: l.quantity,
            reason: note,
            order_id: Some(order.id),
            user_id: order.buyer_id,
            before: c.before,
            after: c.after,
        });
    }
    model::record_movements(conn, &movements, now)?;
    points::service::give_back(conn, order.buyer_id, order.points_used, &order.order_no, now)?;
    // An order on an organisation's account: its budget back, its approval closed.
    crate::orgs::account::on_cancel(conn, order, now)?;
    if let Some(payment_id) = model::pending_payment_of(conn, order.id)? {
        model::settle_payment(conn, &payment_id, "failed", now)?;
    }
    model::add_event(conn, order.id, Some("pending_payment"), "cancelled", note, now)?;
    Ok(true)
}

fn invalid_state() -> AppError {
    AppError::conflict("invalid_state", "the order's status does not allow this / 订单当前状态不允许此操作")
}

/// The buyer cancels an unpaid order.
pub fn cancel(
    conn: &mut AnyConnection,
    buyer_id: i64,
    order_no: &str,
    now: NaiveDateTime,
) -> Result<OrderRow, AppError> {
    db::write_tx(conn, |conn| {
        let order = model::order_by_no(conn, order_no)?.filter(|o| o.buyer_id == buyer_id).ok_or(AppError::NotFound)?;
        if !cancel_unpaid(conn, &order, "cancelled by buyer", now)? {
            return Err(invalid_state());
        }
        Ok(model::order_by_id(conn, order.id)?)
    })
}

/// Cancels every unpaid order whose payment time is up. Safe to run concurrently: each order
/// moves only once.
pub fn expire_unpaid(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<usize, AppError> {
    let due = model::overdue_unpaid(conn, now)?;
    let mut cancelled = 0;
    for id in due {
        let done = db::write_tx(conn, |conn| {
            let order = model::order_by_id(conn, id)?;
            cancel_unpaid(conn, &order, "payment timed out", now)
        })?;
        cancelled += usize::from(done);
    }
    Ok(cancelled)
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

#[derive(Serialize)]
struct RefundMail {
    buyer_name: String,
    order_no: String,
    order_url: String,
    refund_cash: Money,
    refund_points: i64,
    lines: Vec<MailLine>,
}

/// Refunds chosen units of a paid order: cash and points in proportion to each line's split,
/// stock back on the shelf while the goods have not shipped.
pub fn refund(
    conn: &mut AnyConnection,
    buyer_id: i64,
    order_no: &str,
    request: &RefundRequest,
    public_url: &str,
    now: NaiveDateTime,
) -> Result<(i64, i64), AppError> {
    if request.reason.chars().count() > 500 {
        return Err(AppError::bad_request("invalid_refund", "the reason is limited to 500 characters / 退款原因过长"));
    }
    db::write_tx(conn, |conn| {
        let order = model::order_by_no(conn, order_no)?.filter(|o| o.buyer_id == buyer_id).ok_or(AppError::NotFound)?;
        let refundable = ["paid", "partially_refunded", "shipped", "delivered"];
        if !refundable.contains(&order.status.as_str()) {
            return Err(invalid_state());
        }
        let lines = model::lines_of(conn, order.id)?;
        let wanted: Vec<(LineRow, i64)> = if request.lines.is_empty() {
            lines
                .iter()
                .filter(|l| l.refunded_quantity < l.quantity)
                .map(|l| (l.clone(), l.quantity - l.refunded_quantity))
                .collect()
        } else {
            let mut seen = Vec::new();
            let mut out = Vec::new();
            for r in &request.lines {
                let line = lines.iter().find(|l| l.id == r.line_id).ok_or_else(|| {
                    AppError::unprocessable(
                        "invalid_refund",
                        format!("line {} is not in this order / 订单中没有该行", r.line_id),
                    )
                })?;
                if seen.contains(&r.line_id) || r.quantity < 1 || r.quantity > line.quantity - line.refunded_quantity {
                    return Err(AppError::unprocessable(
                        "invalid_refund",
                        format!("line {} cannot refund {} units / 退款数量无效", r.line_id, r.quantity),
                    ));
                }
                seen.push(r.line_id);
                out.push((line.clone(), r.quantity));
            }
            out
        };
        if wanted.is_empty() {
            return Err(AppError::unprocessable("invalid_refund", "nothing left to refund / 没有可退款的商品"));
        }
        let mut wanted = wanted;
        wanted.sort_by_key(|(l, _)| l.sku_id);
        let shipped = matches!(order.status.as_str(), "shipped" | "delivered");
        let (mut cash, mut pts) = (0, 0);
        let mut rows = Vec::new();
        let mut movements = Vec::new();
        let mut reversed = Vec::new();
        for (line, quantity) in &wanted {
            let line_cash = pricing::refund_share(line.cash_fen, line.quantity, line.refunded_quantity, *quantity);
            let line_points = pricing::refund_share(line.points, line.quantity, line.refunded_quantity, *quantity);
            let points_value =
                pricing::refund_share(line.points_value_fen, line.quantity, line.refunded_quantity, *quantity);
            if !model::refund_line_units(conn, line.id, *quantity)? {
                return Err(invalid_state());
            }
            // Units of a part the cooperative has already shipped are not back on its shelf.
            if !shipped && !crate::coop::model::line_shipped(conn, line.id)? {
                let c = model::put_back_stock(conn, line.sku_id, *quantity)?
                    .ok_or_else(|| AppError::internal("order line without its SKU"))?;
                movements.push(Movement {
                    sku_id: line.sku_id,
                    delta: *quantity,
                    reason: "refund",
                    order_id: Some(order.id),
                    user_id: buyer_id,
                    before: c.before,
                    after: c.after,
                });
            }
            rows.push((line.id, *quantity, line_cash, line_points));
            reversed.push((line.clone(), *quantity, line_cash + points_value));
            cash += line_cash;
            pts += line_points;
        }
        if !movements.is_empty() {
            model::record_movements(conn, &movements, now)?;
        }
        let refund_id = model::add_refund(conn, order.id, cash, pts, &request.reason, now)?;
        model::add_refund_lines(conn, refund_id, &rows)?;
        crate::credits::service::credit_refund(conn, &order, refund_id, &reversed, now)?;
        model::add_refunded_totals(conn, order.id, cash, pts)?;
        crate::orgs::account::on_refund(conn, &order, cash)?;
        points::service::give_back(conn, buyer_id, pts, &order.order_no, now)?;
        let after = model::lines_of(conn, order.id)?;
        let to =
            if after.iter().all(|l| l.refunded_quantity == l.quantity) { "refunded" } else { "partially_refunded" };
        if to != order.status && !model::transition(conn, order.id, &[order.status.as_str()], to)? {
            return Err(invalid_state());
        }
        model::add_event(conn, order.id, Some(&order.status), to, &format!("refund {refund_id}"), now)?;
        let buyer = buyer_of(conn, buyer_id)?;
        let refunded_lines: Vec<LineRow> = wanted.iter().map(|(l, q)| LineRow { quantity: *q, ..l.clone() }).collect();
        let context = RefundMail {
            buyer_name: buyer.display_name,
            order_no: order.order_no.clone(),
            order_url: format!("{public_url}/orders/{}", order.order_no),
            refund_cash: Money::from_fen(cash),
            refund_points: pts,
            lines: mail_lines(&refunded_lines, &names_of(conn, &refunded_lines)?),
        };
        mail::enqueue(conn, "refund", &buyer.email, &context, now)?;
        Ok((cash, pts))
    })
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
    let payment_id = if order.status == "pending_payment" { model::pending_payment_of(conn, order.id)? } else { None };
    build_view(order, &lines, &names, payment_id, payment_url)
}

pub(crate) fn build_view(
    order: OrderRow,
    lines: &[LineRow],
    names: &Names,
    payment_id: Option<String>,
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

pub enum Placed {
    New(Box<OrderView>),
    /// The JSON body first returned for this Idempotency-Key.
    Replayed(String),
}

/// Places an order at most once per Idempotency-Key. The key is written first in the order's
/// own transaction, so a concurrent twin waits for it and then replays its answer.
pub fn place_once(
    conn: &mut AnyConnection,
    settings: &Settings,
    buyer: &Buyer,
    request: &OrderRequest,
    key: Option<(&str, &str)>,
    now: NaiveDateTime,
) -> Result<Placed, AppError> {
    let Some((key, hash)) = key else {
        return Ok(Placed::New(Box::new(place(conn, settings, buyer, request, now)?)));
    };
    if let Some(body) = replay(conn, buyer.id, key, hash)? {
        return Ok(Placed::Replayed(body));
    }
    check_request(request)?;
    let prepared = prepare(conn, &request.lines, request.campaign_id, now.date())?;
    let placed = db::write_tx(conn, |conn| {
        let view = write_order(conn, settings, buyer, request, &prepared, now)?;
        let body = serde_json::to_string(&view).map_err(AppError::internal)?;
        // Written last: a twin that got here first makes this insert fail, and all of this
        // transaction is undone.
        model::save_idempotent_response(conn, buyer.id, key, hash, 201, &body, now).map_err(|e| match e {
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => in_flight(),
            other => other.into(),
        })?;
        Ok(view)
    });
    match placed {
        Ok(view) => Ok(Placed::New(Box::new(view))),
        // A twin with the same key may have finished first (and taken the last stock, say):
        // answer as it did.
        Err(e) => match replay(conn, buyer.id, key, hash)? {
            Some(body) => Ok(Placed::Replayed(body)),
            None => Err(e),
        },
    }
}
