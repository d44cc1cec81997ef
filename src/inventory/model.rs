//! The SQL of stock changes and their history.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{products, skus, stock_alerts, stock_movements};
use crate::db::AnyConnection;

/// One change of a SKU's stock: the exact stock before and after it, and the SKU's low-stock
/// threshold, as the database saw them in the same statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockChange {
    pub sku_id: i64,
    pub before: i64,
    pub after: i64,
    pub threshold: i64,
}

impl StockChange {
    /// True when this change took the stock from at or above the threshold to below it: the
    /// one moment a low-stock alert is due (so one alert per crossing, not one per sale).
    pub fn crossed_low(&self) -> bool {
        self.before >= self.threshold && self.threshold > self.after
    }
}

/// Adds `delta` (negative takes) unless the stock would go below zero: one conditional update
/// that returns the new stock, so before/after are exact whatever runs concurrently. `None`
/// when refused (or the SKU does not exist).
pub fn add_stock(conn: &mut AnyConnection, sku_id: i64, delta: i64) -> QueryResult<Option<StockChange>> {
    let row: Option<(i64, i64)> = diesel::update(skus::table.find(sku_id).filter(skus::stock.ge(-delta)))
        .set(skus::stock.eq(skus::stock + delta))
        .returning((skus::stock, skus::low_stock_threshold))
        .get_result(conn)
        .optional()?;
    Ok(row.map(|(after, threshold)| StockChange { sku_id, before: after - delta, after, threshold }))
}

/// PostgreSQL only: takes `quantity` for a sale and writes its history row in one statement
/// (a data-modifying CTE), so the hot SKU's row lock is held for one round trip less. `None`
/// when the stock is short (nothing written then).
pub fn take_for_sale_pg(
    conn: &mut diesel::PgConnection,
    sku_id: i64,
    quantity: i64,
    order_id: i64,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<StockChange>> {
    use diesel::sql_types::{BigInt, Timestamp};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        stock: i64,
        #[diesel(sql_type = BigInt)]
        low_stock_threshold: i64,
    }
    let row: Option<Row> = diesel::sql_query(
        "WITH t AS (UPDATE skus SET stock = stock - $2 WHERE id = $1 AND stock >= $2 \
                    RETURNING stock, low_stock_threshold), \
              m AS (INSERT INTO stock_movements \
                    (sku_id, delta, reason, order_id, user_id, created_at, stock_before, stock_after) \
                    SELECT $1, -$2, 'sale', $3, $4, $5, t.stock + $2, t.stock FROM t) \
         SELECT stock, low_stock_threshold FROM t",
    )
    .bind::<BigInt, _>(sku_id)
    .bind::<BigInt, _>(quantity)
    .bind::<BigInt, _>(order_id)
    .bind::<BigInt, _>(user_id)
    .bind::<Timestamp, _>(now)
    .get_result(conn)
    .optional()?;
    Ok(row.map(|r| StockChange {
        sku_id,
        before: r.stock + quantity,
        after: r.stock,
        threshold: r.low_stock_threshold,
    }))
}

/// PostgreSQL only, as an order's last statements: takes each (sku, quantity) for a sale with
/// its history row (`take_stock_for_sale`, which also queues the low-stock alert or sell-out
/// it caused) and COMMITs the caller's transaction, all in one round trip. A hot SKU's row lock
/// is then held only while the commit is flushed, never while this client waits to be
/// scheduled. The transaction is then over: diesel sees the connection idle and says so, and
/// `db::write_tx` has nothing left to commit. A short SKU fails the batch with a message
/// starting `out_of_stock:`, before the COMMIT, so nothing is committed.
pub fn take_for_sale_and_commit_pg(
    conn: &mut diesel::PgConnection,
    items: &[(i64, i64)],
    order_id: i64,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    use std::fmt::Write;
    // The simple query protocol carries no parameters: every value here is a number or a
    // timestamp this code formats, so nothing from outside reaches the text.
    let at = now.format("%Y-%m-%d %H:%M:%S%.6f");
    let mut sql = String::new();
    for (sku_id, quantity) in items {
        let _ = write!(sql, "SELECT take_stock_for_sale({sku_id}, {quantity}, {order_id}, {user_id}, '{at}'); ");
    }
    sql.push_str("COMMIT");
    diesel::connection::SimpleConnection::batch_execute(conn, &sql)
}

/// Whether `take_stock_for_sale` queued anything (a read: most ticks find nothing).
pub fn alerts_waiting(conn: &mut AnyConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(stock_alerts::table.select(stock_alerts::id))).get_result(conn)
}

/// Takes every stock change `take_stock_for_sale` queued (a low-stock crossing or a sell-out)
/// off its queue. Concurrent callers each get different rows.
pub fn take_alerts(conn: &mut AnyConnection) -> QueryResult<Vec<StockChange>> {
    let rows: Vec<(i64, i64, i64, i64)> = diesel::delete(stock_alerts::table)
        .returning((
            stock_alerts::sku_id,
            stock_alerts::stock_before,
            stock_alerts::stock_after,
            stock_alerts::threshold,
        ))
        .get_results(conn)?;
    Ok(rows
        .into_iter()
        .map(|(sku_id, before, after, threshold)| StockChange { sku_id, before, after, threshold })
        .collect())
}

/// Sets the stock to `new` only if it is still `seen` (compare-and-set): `None` when a sale
/// or another change came in between, and the caller reads again.
pub fn set_stock_if(conn: &mut AnyConnection, sku_id: i64, seen: i64, new: i64) -> QueryResult<Option<StockChange>> {
    let row: Option<(i64, i64)> = diesel::update(skus::table.find(sku_id).filter(skus::stock.eq(seen)))
        .set(skus::stock.eq(new))
        .returning((skus::stock, skus::low_stock_threshold))
        .get_result(conn)
        .optional()?;
    Ok(row.map(|(after, threshold)| StockChange { sku_id, before: seen, after, threshold }))
}

pub fn stock_of(conn: &mut AnyConnection, sku_id: i64) -> QueryResult<i64> {
    skus::table.find(sku_id).select(skus::stock).first(conn)
}

pub struct Movement<'a> {
    pub sku_id: i64,
    pub delta: i64,
    pub reason: &'a str,
    /// None for a manager's adjustment.
    pub order_id: Option<i64>,
    pub user_id: i64,
    pub before: i64,
    pub after: i64,
}

pub fn record_movements(conn: &mut AnyConnection, rows: &[Movement], now: NaiveDateTime) -> QueryResult<usize> {
    let values: Vec<_> = rows
        .iter()
        .map(|m| {
            (
                stock_movements::sku_id.eq(m.sku_id),
                stock_movements::delta.eq(m.delta),
                stock_movements::reason.eq(m.reason),
                stock_movements::order_id.eq(m.order_id),
                stock_movements::user_id.eq(Some(m.user_id)),
                stock_movements::created_at.eq(now),
                stock_movements::stock_before.eq(Some(m.before)),
                stock_movements::stock_after.eq(Some(m.after)),
            )
        })
        .collect();
    crate::on_backend!(conn, |c| diesel::insert_into(stock_movements::table).values(&values).execute(c))
}

/// (producer_id, sku code, product zh, product en, sku zh, sku en)
pub type SkuNames = (i64, String, String, String, String, String);

pub fn sku_names(conn: &mut AnyConnection, sku_id: i64) -> QueryResult<SkuNames> {
    skus::table
        .inner_join(products::table)
        .filter(skus::id.eq(sku_id))
        .select((products::producer_id, skus::code, products::name_zh, products::name_en, skus::name_zh, skus::name_en))
        .first(conn)
}
