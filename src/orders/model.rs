//! Order rows and the queries behind checkout, payment, cancellation and refunds.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::status::{OrderStatus, PaymentStatus};
use crate::db::schema::{
    campaign_prices, campaign_products, campaigns, idempotency_keys, order_events, order_lines, order_recipients,
    orders, payment_events, payments, products, refund_lines, refunds, shipments, sku_presales, sku_price_tiers, skus,
};
use crate::db::AnyConnection;

/// One row of what checkout needs to know of a SKU: the SKU, its names, the chosen campaign's
/// terms for it, and one of its quantity tiers (a SKU with several tiers has several rows).
#[derive(Debug, Clone, Queryable)]
pub struct SaleRow {
    pub sku_id: i64,
    pub product_id: i64,
    pub producer_id: i64,
    pub price_fen: i64,
    pub max_points_pct: i32,
    pub sellable: bool,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    /// The campaign read, when it exists.
    pub campaign_id: Option<i64>,
    /// Set when the campaign exists: its period.
    pub campaign_period: Option<(chrono::NaiveDate, Option<chrono::NaiveDate>)>,
    /// Set when the campaign includes the SKU's product.
    pub in_campaign: Option<i64>,
    pub campaign_price_fen: Option<i64>,
    pub tier: Option<(i64, i64)>,
    /// Pre-sale terms (预售): (ends_at, per_buyer_limit).
    pub presale: Option<(NaiveDateTime, i64)>,
}

/// Everything checkout reads, in one query, for `campaign` or, when it is `None`, for the
/// first year-round campaign (which takes the orders that name none; `campaign_id` says which
/// it was, and is `None` on every row when there is no such campaign). An order of one SKU
/// (most of them) asks for `skus.id = $1` rather than `= ANY($1)`: PostgreSQL then keeps one
/// generic plan for the statement, where an array parameter has it plan this seven-table join
/// on every call.
pub fn sale_rows(conn: &mut AnyConnection, sku_ids: &[i64], campaign: Option<i64>) -> QueryResult<Vec<SaleRow>> {
    macro_rules! sale_query {
        ($campaign:expr) => {
            skus::table
                .inner_join(products::table)
                .left_join(campaigns::table.on($campaign))
                .left_join(
                    campaign_products::table.on(campaign_products::product_id
                        .eq(skus::product_id)
                        .and(campaign_products::campaign_id.eq(campaigns::id))),
                )
                .left_join(
                    campaign_prices::table
                        .on(campaign_prices::sku_id.eq(skus::id).and(campaign_prices::campaign_id.eq(campaigns::id))),
                )
                .left_join(sku_price_tiers::table.on(sku_price_tiers::sku_id.eq(skus::id)))
                .left_join(sku_presales::table.on(sku_presales::sku_id.eq(skus::id)))
                .select((
                    skus::id,
                    skus::product_id,
                    products::producer_id,
                    skus::price_fen,
                    skus::max_points_pct,
                    skus::listed.and(products::listed),
                    products::name_zh,
                    products::name_en,
                    skus::name_zh,
                    skus::name_en,
                    campaigns::id.nullable(),
                    (campaigns::starts_on, campaigns::ends_on).nullable(),
                    campaign_products::product_id.nullable(),
                    campaign_prices::price_fen.nullable(),
                    (sku_price_tiers::min_quantity, sku_price_tiers::price_fen).nullable(),
                    (sku_presales::ends_at, sku_presales::per_buyer_limit).nullable(),
                ))
        };
    }
    let mut rows: Vec<SaleRow> = match (sku_ids, campaign) {
        ([id], Some(c)) => sale_query!(campaigns::id.eq(c)).filter(skus::id.eq(*id)).load(conn)?,
        (_, Some(c)) => sale_query!(campaigns::id.eq(c)).filter(skus::id.eq_any(sku_ids)).load(conn)?,
        ([id], None) => sale_query!(campaigns::year_round).filter(skus::id.eq(*id)).load(conn)?,
        (_, None) => sale_query!(campaigns::year_round).filter(skus::id.eq_any(sku_ids)).load(conn)?,
    };
    if campaign.is_none() {
        // Every year-round campaign came back; the first one takes the order.
        if let Some(first) = rows.iter().filter_map(|r| r.campaign_id).min() {
            rows.retain(|r| r.campaign_id == Some(first));
        }
    }
    Ok(rows)
}

/// (sku_id, min_quantity, price_fen)
pub fn tiers(conn: &mut AnyConnection, sku_ids: &[i64]) -> QueryResult<Vec<(i64, i64, i64)>> {
    sku_price_tiers::table
        .filter(sku_price_tiers::sku_id.eq_any(sku_ids))
        .select((sku_price_tiers::sku_id, sku_price_tiers::min_quantity, sku_price_tiers::price_fen))
        .load(conn)
}

/// The first year-round campaign, which takes the orders that name none. The statement has no
/// parameter at all, so PostgreSQL plans it once per connection.
pub fn year_round_campaign(conn: &mut AnyConnection) -> QueryResult<Option<i64>> {
    campaigns::table.filter(campaigns::year_round).select(diesel::dsl::min(campaigns::id)).get_result(conn)
}

/// Inserted with NULL (not DEFAULT) for its `None`s, so that the insert is one statement
/// PostgreSQL prepares once, not one per combination of set and unset columns.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = orders, treat_none_as_default_value = false)]
pub struct OrderRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub order_no: String,
    pub buyer_id: i64,
    pub org_id: Option<i64>,
    pub channel: String,
    pub category: String,
    pub campaign_id: i64,
    pub status: String,
    pub total_fen: i64,
    pub points_used: i64,
    pub points_value_fen: i64,
    pub cash_due_fen: i64,
    pub refunded_cash_fen: i64,
    pub refunded_points: i64,
    pub address: String,
    pub payment_deadline: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    /// When the last parcel was received; the after-sales window runs from it.
    pub received_at: Option<NaiveDateTime>,
    /// The units were set aside before the order (a flash sale's reservation): none were
    /// taken from the shelf, and cancelling puts none back there.
    pub stock_reserved: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_lines)]
pub struct LineRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub order_id: i64,
    pub sku_id: i64,
    pub producer_id: i64,
    pub quantity: i64,
    pub unit_price_fen: i64,
    pub line_total_fen: i64,
    pub points: i64,
    pub points_value_fen: i64,
    pub cash_fen: i64,
    pub refunded_quantity: i64,
    /// Set on a line shipped to one of the order's recipients (welfare distribution).
    pub recipient_id: Option<i64>,
    /// Given back so far, by tender (refunds by amount are not whole units).
    pub refunded_cash_fen: i64,
    pub refunded_points: i64,
    pub refunded_pv_fen: i64,
}

impl LineRow {
    pub fn paid(&self) -> super::pricing::LinePaid {
        super::pricing::LinePaid {
            quantity: self.quantity,
            cash_fen: self.cash_fen,
            points: self.points,
            points_value_fen: self.points_value_fen,
            refunded_quantity: self.refunded_quantity,
            refunded_cash_fen: self.refunded_cash_fen,
            refunded_points: self.refunded_points,
            refunded_pv_fen: self.refunded_pv_fen,
        }
    }
}

pub fn insert_order(conn: &mut AnyConnection, order: &OrderRow) -> QueryResult<i64> {
    diesel::insert_into(orders::table).values(order).returning(orders::id).get_result(conn)
}

/// Inserts the lines and returns their ids, in order.
pub fn insert_lines(conn: &mut AnyConnection, lines: &[LineRow]) -> QueryResult<Vec<i64>> {
    let values: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                order_lines::order_id.eq(l.order_id),
                order_lines::sku_id.eq(l.sku_id),
                order_lines::producer_id.eq(l.producer_id),
                order_lines::quantity.eq(l.quantity),
                order_lines::unit_price_fen.eq(l.unit_price_fen),
                order_lines::line_total_fen.eq(l.line_total_fen),
                order_lines::points.eq(l.points),
                order_lines::points_value_fen.eq(l.points_value_fen),
                order_lines::cash_fen.eq(l.cash_fen),
                order_lines::recipient_id.eq(l.recipient_id),
            )
        })
        .collect();
    // One line (most orders) is a statement PostgreSQL prepares once; a batch of rows is not.
    if let [one] = values.as_slice() {
        let id = diesel::insert_into(order_lines::table).values(one).returning(order_lines::id).get_result(conn)?;
        return Ok(vec![id]);
    }
    crate::on_backend!(conn, |c| diesel::insert_into(order_lines::table)
        .values(&values)
        .returning(order_lines::id)
        .get_results(c))
}

pub fn add_event(
    conn: &mut AnyConnection,
    order_id: i64,
    from: Option<&str>,
    to: &str,
    note: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(order_events::table)
        .values((
            order_events::order_id.eq(order_id),
            order_events::from_status.eq(from),
            order_events::to_status.eq(to),
            order_events::note.eq(note),
            order_events::created_at.eq(now),
        ))
        .execute(conn)
}

/// Whether the order was ever moved to `status` (its history is append-only).
pub fn has_been(conn: &mut AnyConnection, order_id: i64, status: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        order_events::table.filter(order_events::order_id.eq(order_id)).filter(order_events::to_status.eq(status)),
    ))
    .get_result(conn)
}

/// Moves an order from one status to another only if it is still in the first: the one
/// place where concurrent callers (webhook, timeout job, buyer) are serialised.
pub fn transition(conn: &mut AnyConnection, order_id: i64, from: &[OrderStatus], to: OrderStatus) -> QueryResult<bool> {
    let n = diesel::update(orders::table.find(order_id).filter(orders::status.eq_any(OrderStatus::strs(from))))
        .set(orders::status.eq(to.as_str()))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn mark_paid(conn: &mut AnyConnection, order_id: i64, from: OrderStatus, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(orders::table.find(order_id).filter(orders::status.eq(from.as_str())))
        .set((orders::status.eq(OrderStatus::Paid.as_str()), orders::paid_at.eq(Some(now))))
        .execute(conn)?;
    Ok(n == 1)
}

/// Locks the order's row until the transaction ends (a no-op update: portable, and on
/// SQLite the transaction already holds the write lock).
pub fn lock_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<()> {
    diesel::update(orders::table.find(order_id)).set(orders::id.eq(orders::id)).execute(conn).map(|_| ())
}

pub fn insert_recipient(
    conn: &mut AnyConnection,
    order_id: i64,
    name: &str,
    mobile: &str,
    address: &str,
) -> QueryResult<i64> {
    diesel::insert_into(order_recipients::table)
        .values((
            order_recipients::order_id.eq(order_id),
            order_recipients::name.eq(name),
            order_recipients::mobile.eq(mobile),
            order_recipients::address.eq(address),
        ))
        .returning(order_recipients::id)
        .get_result(conn)
}

/// Whether the part (cooperative, recipient) of the order that holds this line was shipped.
pub fn line_shipped(conn: &mut AnyConnection, line_id: i64) -> QueryResult<bool> {
    let (order_id, producer_id, recipient_id): (i64, i64, Option<i64>) = order_lines::table
        .find(line_id)
        .select((order_lines::order_id, order_lines::producer_id, order_lines::recipient_id))
        .first(conn)?;
    let mut query = shipments::table
        .filter(shipments::order_id.eq(order_id))
        .filter(shipments::producer_id.eq(producer_id))
        .into_boxed();
    query = match recipient_id {
        Some(r) => query.filter(shipments::recipient_id.eq(r)),
        None => query.filter(shipments::recipient_id.is_null()),
    };
    Ok(query.count().get_result::<i64>(conn)? > 0)
}

/// A refund as the order shows it: (id, cash_fen, points, reason, created_at).
pub type RefundRow = (i64, i64, i64, String, NaiveDateTime);

/// The order's refunds, oldest first.
pub fn refunds_of(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<RefundRow>> {
    refunds::table
        .filter(refunds::order_id.eq(order_id))
        .order(refunds::id)
        .select((refunds::id, refunds::cash_fen, refunds::points, refunds::reason, refunds::created_at))
        .load(conn)
}

pub fn order_by_no(conn: &mut AnyConnection, order_no: &str) -> QueryResult<Option<OrderRow>> {
    orders::table.filter(orders::order_no.eq(order_no)).select(OrderRow::as_select()).first(conn).optional()
}

pub fn order_by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<OrderRow> {
    orders::table.find(id).select(OrderRow::as_select()).first(conn)
}

pub fn orders_of(conn: &mut AnyConnection, buyer_id: i64, limit: i64) -> QueryResult<Vec<OrderRow>> {
    orders::table
        .filter(orders::buyer_id.eq(buyer_id))
        .order(orders::id.desc())
        .limit(limit)
        .select(OrderRow::as_select())
        .load(conn)
}

pub fn lines_of(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<LineRow>> {
    order_lines::table
        .filter(order_lines::order_id.eq(order_id))
        .order(order_lines::id)
        .select(LineRow::as_select())
        .load(conn)
}

/// How many lines each order has, for order lists.
pub fn line_counts(conn: &mut AnyConnection, order_ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    order_lines::table
        .filter(order_lines::order_id.eq_any(order_ids))
        .group_by(order_lines::order_id)
        .select((order_lines::order_id, diesel::dsl::count(order_lines::id)))
        .load(conn)
}

/// Names for lines: (sku_id, product_id, product zh/en, sku zh/en).
pub type LineNames = (i64, i64, String, String, String, String);

pub fn line_names(conn: &mut AnyConnection, sku_ids: &[i64]) -> QueryResult<Vec<LineNames>> {
    skus::table
        .inner_join(products::table)
        .filter(skus::id.eq_any(sku_ids))
        .select((skus::id, products::id, products::name_zh, products::name_en, skus::name_zh, skus::name_en))
        .load(conn)
}

/// (status reached, note, at)
pub fn events_of(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<(String, String, NaiveDateTime)>> {
    order_events::table
        .filter(order_events::order_id.eq(order_id))
        .order(order_events::id)
        .select((order_events::to_status, order_events::note, order_events::created_at))
        .load(conn)
}

pub fn new_payment(
    payment_id: String,
    order_id: i64,
    gateway: &'static str,
    amount_fen: i64,
    now: NaiveDateTime,
) -> impl crate::db::Write {
    diesel::insert_into(payments::table).values((
        payments::payment_id.eq(payment_id),
        payments::order_id.eq(order_id),
        payments::gateway.eq(gateway),
        payments::amount_fen.eq(amount_fen),
        payments::status.eq("pending"),
        payments::created_at.eq(now),
    ))
}

/// (payment_id, order_id, amount_fen, status)
pub fn payment(conn: &mut AnyConnection, payment_id: &str) -> QueryResult<Option<(String, i64, i64, String)>> {
    payments::table
        .filter(payments::payment_id.eq(payment_id))
        .select((payments::payment_id, payments::order_id, payments::amount_fen, payments::status))
        .first(conn)
        .optional()
}

/// The order's newest payment still waiting for the gateway.
pub fn pending_payment_of(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Option<String>> {
    payments::table
        .filter(payments::order_id.eq(order_id))
        .filter(payments::status.eq(PaymentStatus::Pending.as_str()))
        .order(payments::created_at.desc())
        .select(payments::payment_id)
        .first(conn)
        .optional()
}

/// Settles a payment the gateway answered: from pending, or from cancelled (the order was
/// cancelled first; the buyer may still pay at the gateway). False if already settled.
pub fn settle_payment(
    conn: &mut AnyConnection,
    payment_id: &str,
    outcome: PaymentStatus,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let open = [PaymentStatus::Pending.as_str(), PaymentStatus::Cancelled.as_str()];
    let n = diesel::update(
        payments::table.filter(payments::payment_id.eq(payment_id)).filter(payments::status.eq_any(open)),
    )
    .set((payments::status.eq(outcome.as_str()), payments::completed_at.eq(Some(now))))
    .execute(conn)?;
    Ok(n == 1)
}

/// Marks the order's open payments cancelled: the order no longer waits for them.
pub fn cancel_open_payments(conn: &mut AnyConnection, order_id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        payments::table
            .filter(payments::order_id.eq(order_id))
            .filter(payments::status.eq(PaymentStatus::Pending.as_str())),
    )
    .set((payments::status.eq(PaymentStatus::Cancelled.as_str()), payments::completed_at.eq(Some(now))))
    .execute(conn)
}

/// Records a gateway event; false if it was seen before.
pub fn record_payment_event(
    conn: &mut AnyConnection,
    event_id: &str,
    payment_id: &str,
    outcome: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    // A twin delivered at the same moment waits on the key and then inserts nothing.
    let row = (
        payment_events::event_id.eq(event_id),
        payment_events::payment_id.eq(payment_id),
        payment_events::outcome.eq(outcome),
        payment_events::received_at.eq(now),
    );
    let inserted = crate::on_backend!(conn, |c| diesel::insert_into(payment_events::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// Unpaid orders whose time (to pay, or to be approved) is up.
pub fn overdue_unpaid(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<Vec<i64>> {
    orders::table
        .filter(orders::status.eq_any(OrderStatus::strs(&OrderStatus::UNPAID)))
        .filter(orders::payment_deadline.le(now))
        .select(orders::id)
        .load(conn)
}

pub fn add_refund(
    conn: &mut AnyConnection,
    order_id: i64,
    cash_fen: i64,
    points: i64,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(refunds::table)
        .values((
            refunds::order_id.eq(order_id),
            refunds::cash_fen.eq(cash_fen),
            refunds::points.eq(points),
            refunds::reason.eq(reason),
            refunds::created_at.eq(now),
        ))
        .returning(refunds::id)
        .get_result(conn)
}

/// (order_line_id, quantity, cash_fen, points)
pub fn add_refund_lines(conn: &mut AnyConnection, refund_id: i64, rows: &[(i64, i64, i64, i64)]) -> QueryResult<usize> {
    let values: Vec<_> = rows
        .iter()
        .map(|(line, q, cash, points)| {
            (
                refund_lines::refund_id.eq(refund_id),
                refund_lines::order_line_id.eq(*line),
                refund_lines::quantity.eq(*q),
                refund_lines::cash_fen.eq(*cash),
                refund_lines::points.eq(*points),
            )
        })
        .collect();
    crate::on_backend!(conn, |c| diesel::insert_into(refund_lines::table).values(&values).execute(c))
}

/// Adds a refund to a line (units, and what they carry) unless that would pass what was
/// bought or paid; false when it would.
pub fn refund_line(
    conn: &mut AnyConnection,
    line_id: i64,
    quantity: i64,
    share: &super::pricing::Share,
) -> QueryResult<bool> {
    use order_lines::dsl as l;
    let n = diesel::update(
        l::order_lines
            .find(line_id)
            .filter(l::refunded_quantity.le(l::quantity - quantity))
            .filter(l::refunded_cash_fen.le(l::cash_fen - share.cash_fen))
            .filter(l::refunded_points.le(l::points - share.points))
            .filter(l::refunded_pv_fen.le(l::points_value_fen - share.pv_fen)),
    )
    .set((
        l::refunded_quantity.eq(l::refunded_quantity + quantity),
        l::refunded_cash_fen.eq(l::refunded_cash_fen + share.cash_fen),
        l::refunded_points.eq(l::refunded_points + share.points),
        l::refunded_pv_fen.eq(l::refunded_pv_fen + share.pv_fen),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Whether any parcel of the order has left.
pub fn any_shipped(conn: &mut AnyConnection, order_id: i64) -> QueryResult<bool> {
    Ok(shipments::table.filter(shipments::order_id.eq(order_id)).count().get_result::<i64>(conn)? > 0)
}

/// Records when the order's last parcel was received.
pub fn set_received_at(conn: &mut AnyConnection, order_id: i64, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(orders::table.find(order_id)).set(orders::received_at.eq(Some(at))).execute(conn)
}

pub fn add_refunded_totals(conn: &mut AnyConnection, order_id: i64, cash_fen: i64, points: i64) -> QueryResult<usize> {
    diesel::update(orders::table.find(order_id))
        .set((
            orders::refunded_cash_fen.eq(orders::refunded_cash_fen + cash_fen),
            orders::refunded_points.eq(orders::refunded_points + points),
        ))
        .execute(conn)
}

/// The stored response for a buyer's idempotency key: (request hash, status, body).
pub fn idempotent_response(
    conn: &mut AnyConnection,
    user_id: i64,
    key: &str,
) -> QueryResult<Option<(String, i32, String)>> {
    idempotency_keys::table
        .filter(idempotency_keys::user_id.eq(user_id))
        .filter(idempotency_keys::idem_key.eq(key))
        .select((idempotency_keys::request_hash, idempotency_keys::response_status, idempotency_keys::response_body))
        .first(conn)
        .optional()
}

pub fn save_idempotent_response(
    conn: &mut AnyConnection,
    user_id: i64,
    key: &str,
    hash: &str,
    status: i32,
    body: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    new_idempotent_response(user_id, key.to_string(), hash.to_string(), status, body.to_string(), now).execute(conn)
}

pub fn new_idempotent_response(
    user_id: i64,
    key: String,
    hash: String,
    status: i32,
    body: String,
    now: NaiveDateTime,
) -> impl crate::db::Write {
    diesel::insert_into(idempotency_keys::table).values((
        idempotency_keys::user_id.eq(user_id),
        idempotency_keys::idem_key.eq(key),
        idempotency_keys::request_hash.eq(hash),
        idempotency_keys::response_status.eq(status),
        idempotency_keys::response_body.eq(body),
        idempotency_keys::created_at.eq(now),
    ))
}

/// What the cart page shows of a SKU.
#[derive(Debug, Clone, Queryable)]
pub struct CartDetail {
    pub sku_id: i64,
    pub product_id: i64,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    pub unit_zh: String,
    pub unit_en: String,
    pub price_fen: i64,
    pub stock: i64,
}

/// Listed SKUs among `ids`, with their product's names.
pub fn cart_details(conn: &mut AnyConnection, ids: &[i64]) -> QueryResult<Vec<CartDetail>> {
    skus::table
        .inner_join(products::table)
        .filter(skus::id.eq_any(ids))
        .filter(skus::listed.eq(true))
        .filter(products::listed.eq(true))
        .select((
            skus::id,
            products::id,
            products::name_zh,
            products::name_en,
            skus::name_zh,
            skus::name_en,
            skus::unit_zh,
            skus::unit_en,
            skus::price_fen,
            skus::stock,
        ))
        .load(conn)
}

/// Running campaigns that include every one of `product_ids`: (id, name_zh, name_en).
pub fn campaigns_covering(
    conn: &mut AnyConnection,
    product_ids: &[i64],
    today: chrono::NaiveDate,
) -> QueryResult<Vec<(i64, String, String)>> {
    let running: Vec<(i64, String, String)> = campaigns::table
        .filter(campaigns::starts_on.le(today))
        .filter(campaigns::ends_on.is_null().or(campaigns::ends_on.ge(today)))
        .order((campaigns::year_round, campaigns::id))
        .select((campaigns::id, campaigns::name_zh, campaigns::name_en))
        .load(conn)?;
    let links: Vec<(i64, i64)> = campaign_products::table
        .filter(campaign_products::product_id.eq_any(product_ids))
        .select((campaign_products::campaign_id, campaign_products::product_id))
        .load(conn)?;
    Ok(running.into_iter().filter(|(id, _, _)| product_ids.iter().all(|p| links.contains(&(*id, *p)))).collect())
}

pub fn campaign_names(conn: &mut AnyConnection, campaign_id: i64) -> QueryResult<(String, String)> {
    campaigns::table.find(campaign_id).select((campaigns::name_zh, campaigns::name_en)).first(conn)
}

/// Locks the buyer's user row until the transaction ends (a no-op update): orders of one
/// buyer for pre-sale SKUs queue here, so each counts what the others bought.
pub fn lock_buyer(conn: &mut AnyConnection, buyer_id: i64) -> QueryResult<()> {
    use crate::db::schema::users;
    diesel::update(users::table.find(buyer_id)).set(users::id.eq(users::id)).execute(conn).map(|_| ())
}

/// Units of the SKU the buyer holds: over their orders that are not cancelled, less the units
/// refunded.
pub fn units_bought(conn: &mut AnyConnection, buyer_id: i64, sku_id: i64) -> QueryResult<i64> {
    let rows: Vec<(i64, i64)> = order_lines::table
        .inner_join(orders::table)
        .filter(orders::buyer_id.eq(buyer_id))
        .filter(orders::status.ne(OrderStatus::Cancelled.as_str()))
        .filter(order_lines::sku_id.eq(sku_id))
        .select((order_lines::quantity, order_lines::refunded_quantity))
        .load(conn)?;
    Ok(rows.iter().map(|(q, r)| q - r).sum())
}

/// Orders holding pre-sale lines with units left that were due to ship before `due_before`,
/// of which the buyer has not yet been told (`presale_late_notices`): the late-parcel job's
/// candidates. Whether the lines shipped is checked by the caller under the order's lock.
pub fn late_presale_candidates(conn: &mut AnyConnection, due_before: chrono::NaiveDate) -> QueryResult<Vec<i64>> {
    use crate::db::schema::{presale_late_notices, sku_presales};
    let mut ids: Vec<i64> = order_lines::table
        .inner_join(orders::table)
        .inner_join(sku_presales::table.on(sku_presales::sku_id.eq(order_lines::sku_id)))
        .left_join(presale_late_notices::table.on(presale_late_notices::order_id.eq(orders::id)))
        .filter(presale_late_notices::order_id.is_null())
        .filter(sku_presales::ship_by.lt(due_before))
        .filter(orders::status.eq_any(OrderStatus::strs(&OrderStatus::SHIPPABLE)))
        .filter(order_lines::refunded_quantity.lt(order_lines::quantity))
        .select(orders::id)
        .order(orders::id)
        .limit(500)
        .load(conn)?;
    ids.dedup();
    Ok(ids)
}

/// Records that the buyer was told; false when someone already did.
pub fn note_presale_late(conn: &mut AnyConnection, order_id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    use crate::db::schema::presale_late_notices;
    let seen: i64 =
        presale_late_notices::table.filter(presale_late_notices::order_id.eq(order_id)).count().get_result(conn)?;
    if seen > 0 {
        return Ok(false);
    }
    diesel::insert_into(presale_late_notices::table)
        .values((presale_late_notices::order_id.eq(order_id), presale_late_notices::notified_at.eq(now)))
        .execute(conn)?;
    Ok(true)
}
