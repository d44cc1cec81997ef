//! Stock rules: take for an order (all or nothing, in SKU order), put back, a manager's
//! adjustment or count, the history row of each, and the low-stock alert.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::Serialize;

use super::model::{self, Movement, StockChange};
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::mail;

/// The most a SKU may hold: a bound on typing errors, far above any real stock.
pub const MAX_STOCK: i64 = 1_000_000_000;

/// Why stock moved, as the history shows it. Orders' moves name their kind; a manager's
/// carries the manager's own words.
#[derive(Debug, Clone, Copy)]
pub enum Reason<'a> {
    Sale,
    /// The order was cancelled (by the buyer, a rejection or the payment timeout).
    Cancel,
    Refund,
    /// Set aside for a flash sale when it is made (its `sale_reserve` movement).
    SaleReserve,
    /// What a flash sale did not sell, back on the shelf when it ends; or a sale order's
    /// units cancelled after the sale ended.
    SaleReturn,
    Manager(&'a str),
}

impl Reason<'_> {
    fn as_str(&self) -> &str {
        match self {
            Reason::Sale => "sale",
            Reason::Cancel => "cancel",
            Reason::Refund => "refund",
            Reason::SaleReserve => "flash_sale_reserve",
            Reason::SaleReturn => "flash_sale_return",
            Reason::Manager(text) => text,
        }
    }
}

/// A manager's change: adjust by a delta, or set to a counted figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Delta(i64),
    Set(i64),
}

/// Sums (sku, quantity) pairs per SKU, in id order: the order in which rows are locked, so
/// two transactions over the same SKUs never wait on each other in a circle.
fn per_sku(items: &[(i64, i64)]) -> BTreeMap<i64, i64> {
    let mut sums = BTreeMap::new();
    for &(sku, quantity) in items {
        *sums.entry(sku).or_default() += quantity;
    }
    sums
}

/// Takes the (sku, quantity) pairs off the shelf for an order, or answers 409 `out_of_stock`
/// naming the first SKU short of them (the caller's transaction then undoes the rest). On
/// PostgreSQL each SKU's decrement and its history row are one statement.
pub fn take(
    conn: &mut AnyConnection,
    items: &[(i64, i64)],
    order_id: i64,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<Vec<StockChange>, AppError> {
    let mut taken = Vec::with_capacity(items.len());
    let recorded = matches!(conn, AnyConnection::Postgresql(_));
    for (sku_id, quantity) in per_sku(items) {
        let change = match conn {
            AnyConnection::Postgresql(pg) => model::take_for_sale_pg(pg, sku_id, quantity, order_id, user_id, now)?,
            _ => model::add_stock(conn, sku_id, -quantity)?,
        };
        match change {
            Some(change) => taken.push(change),
            None => {
                return Err(AppError::conflict(
                    "out_of_stock",
                    format!("SKU {sku_id} does not have {quantity} left / 库存不足"),
                ))
            }
        }
    }
    if recorded {
        alert_low_stock(conn, &taken, now)?;
    } else {
        record(conn, &taken, Reason::Sale, Some(order_id), user_id, now)?;
    }
    announce(&taken);
    Ok(taken)
}

/// `take` as the last thing an order's transaction does, ending it: on PostgreSQL, in an
/// outermost transaction, the decrements and the COMMIT travel in one round trip
/// (`model::take_for_sale_and_commit_pg`), so a hot SKU's lock is never held while this client
/// waits for a core. The transaction is over then: nothing may follow in it. A low-stock
/// crossing or a sell-out is queued by the same round trip and announced by the "stock alerts
/// sent" job (`send_stock_alerts`). Anywhere else this is `take`.
pub fn take_and_commit(
    conn: &mut AnyConnection,
    items: &[(i64, i64)],
    order_id: i64,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let outermost = crate::db::in_outermost_transaction(conn);
    let (true, AnyConnection::Postgresql(pg)) = (outermost, &mut *conn) else {
        return take(conn, items, order_id, user_id, now).map(drop);
    };
    let items: Vec<(i64, i64)> = per_sku(items).into_iter().collect();
    match model::take_for_sale_and_commit_pg(pg, &items, order_id, user_id, now) {
        Ok(()) => {}
        Err(diesel::result::Error::DatabaseError(_, info)) if info.message().starts_with("out_of_stock:") => {
            let what = info.message().trim_start_matches("out_of_stock:").trim();
            return Err(AppError::conflict("out_of_stock", format!("{what} / 库存不足")));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The job behind `take_and_commit`'s alerts: announces each queued sell-out to the page caches
/// and mails each low-stock crossing to the SKU's managers, taking them off the queue in the
/// same transaction (so each is sent once, by one instance).
pub fn send_stock_alerts(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<usize, AppError> {
    // The queue is nearly always empty (and always on SQLite): a tick then takes no write lock.
    if !model::alerts_waiting(conn)? {
        return Ok(0);
    }
    crate::db::write_tx(conn, |conn| {
        let changes = model::take_alerts(conn)?;
        announce(&changes);
        alert_low_stock(conn, &changes, now)?;
        Ok(changes.len())
    })
}

/// Puts the (sku, quantity) pairs of an order back on the shelf.
pub fn put_back(
    conn: &mut AnyConnection,
    items: &[(i64, i64)],
    reason: Reason,
    order_id: i64,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let mut changes = Vec::with_capacity(items.len());
    for (sku_id, quantity) in per_sku(items) {
        let c = model::add_stock(conn, sku_id, quantity)?
            .ok_or_else(|| AppError::internal(format!("SKU {sku_id} is gone")))?;
        changes.push(c);
    }
    announce(&changes);
    record(conn, &changes, reason, Some(order_id), user_id, now)
}

/// Pages show stock and may be up to `AIDMART_PAGE_CACHE_MS` old, so a sale does not throw
/// them away (under a live stream that would be every page view); a SKU selling out or coming
/// back does, as does any manager's change (`adjust`).
fn announce(changes: &[StockChange]) {
    if changes.iter().any(|c| (c.before > 0) != (c.after > 0)) {
        crate::cache::pages::catalog_changed();
    }
}

/// Sets `quantity` units of a SKU aside for a flash sale (a conditional decrement, with its
/// movement). False when the stock cannot cover it; nothing is written then. Pages show the
/// sale, so they are thrown away.
pub fn reserve(
    conn: &mut AnyConnection,
    sku_id: i64,
    quantity: i64,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let Some(change) = model::add_stock(conn, sku_id, -quantity)? else { return Ok(false) };
    crate::cache::pages::catalog_changed();
    record(conn, &[change], Reason::SaleReserve, None, user_id, now)?;
    Ok(true)
}

/// Puts units a flash sale held back on the shelf (`order_id` when they come from one of its
/// orders, cancelled after the sale ended).
pub fn release(
    conn: &mut AnyConnection,
    sku_id: i64,
    quantity: i64,
    order_id: Option<i64>,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    if quantity <= 0 {
        return Ok(());
    }
    let change =
        model::add_stock(conn, sku_id, quantity)?.ok_or_else(|| AppError::internal(format!("SKU {sku_id} is gone")))?;
    crate::cache::pages::catalog_changed();
    record(conn, &[change], Reason::SaleReturn, order_id, user_id, now)
}

/// A manager's change to one SKU, inside the caller's write transaction. A delta is one
/// conditional update; a set is a compare-and-set on the stock just read, retried when a sale
/// slipped in between, so neither overwrites concurrent sales and before/after are exact.
/// `Ok(None)` means the stock would go below zero; nothing is recorded then.
pub fn adjust(
    conn: &mut AnyConnection,
    sku_id: i64,
    change: Change,
    reason: &str,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<Option<StockChange>, AppError> {
    let applied = match change {
        Change::Delta(d) => model::add_stock(conn, sku_id, d)?,
        Change::Set(new) => set(conn, sku_id, new)?,
    };
    let Some(c) = applied else { return Ok(None) };
    crate::cache::pages::catalog_changed();
    if c.after > MAX_STOCK {
        // Undone with the transaction by this error.
        return Err(AppError::bad_request(
            "invalid_stock_change",
            format!("stock is limited to {MAX_STOCK} / 库存调整无效"),
        ));
    }
    record(conn, &[c], Reason::Manager(reason), None, user_id, now)?;
    Ok(Some(c))
}

/// Sets a SKU's stock to `new` whatever sells meanwhile (compare-and-set, retried).
pub fn set(conn: &mut AnyConnection, sku_id: i64, new: i64) -> Result<Option<StockChange>, AppError> {
    for _ in 0..50 {
        let seen = model::stock_of(conn, sku_id)?;
        if let Some(c) = model::set_stock_if(conn, sku_id, seen, new)? {
            return Ok(Some(c));
        }
    }
    Err(AppError::conflict("stock_busy", "the stock is changing too fast, try again / 库存变动频繁，请重试"))
}

/// History rows for the changes that moved anything, then the low-stock alert for any crossing.
fn record(
    conn: &mut AnyConnection,
    changes: &[StockChange],
    reason: Reason,
    order_id: Option<i64>,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let movements: Vec<Movement> = changes
        .iter()
        .filter(|c| c.after != c.before)
        .map(|c| Movement {
            sku_id: c.sku_id,
            delta: c.after - c.before,
            reason: reason.as_str(),
            order_id,
            user_id,
            before: c.before,
            after: c.after,
        })
        .collect();
    if !movements.is_empty() {
        model::record_movements(conn, &movements, now)?;
    }
    alert_low_stock(conn, changes, now)
}

#[derive(Serialize)]
struct LowStockMail {
    producer_zh: String,
    producer_en: String,
    sku_code: String,
    product_zh: String,
    product_en: String,
    sku_zh: String,
    sku_en: String,
    stock: i64,
    threshold: i64,
}

/// Emails the cooperative's managers for each change that took a SKU's stock below its
/// threshold, in the same transaction; since each change knows its exact before and after, a
/// run of sales below the threshold sends nothing more.
fn alert_low_stock(conn: &mut AnyConnection, changes: &[StockChange], now: NaiveDateTime) -> Result<(), AppError> {
    for c in changes.iter().filter(|c| c.crossed_low()) {
        let (producer_id, sku_code, product_zh, product_en, sku_zh, sku_en) = model::sku_names(conn, c.sku_id)?;
        let (producer_zh, producer_en) = crate::catalog::model::producer_names(conn, &[producer_id])?
            .into_iter()
            .next()
            .map(|(_, zh, en)| (zh, en))
            .unwrap_or_default();
        let context = LowStockMail {
            producer_zh,
            producer_en,
            sku_code,
            product_zh,
            product_en,
            sku_zh,
            sku_en,
            stock: c.after,
            threshold: c.threshold,
        };
        for email in crate::catalog::model::producer_manager_emails(conn, producer_id)? {
            mail::enqueue(conn, "low_stock", &email, &context, now)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_stock_is_crossed_only_going_below_the_threshold() {
        let c = |before, after, threshold| StockChange { sku_id: 1, before, after, threshold };
        assert!(c(5, 4, 5).crossed_low());
        assert!(c(40, 0, 5).crossed_low());
        assert!(!c(6, 5, 5).crossed_low(), "at the threshold is not below it");
        assert!(!c(4, 3, 5).crossed_low(), "already below: no second email");
        assert!(!c(3, 9, 5).crossed_low(), "going up");
        assert!(!c(1, 0, 0).crossed_low(), "a zero threshold never alerts");
    }

    #[test]
    fn items_are_summed_and_locked_in_sku_order() {
        let sums: Vec<(i64, i64)> = per_sku(&[(5, 1), (2, 3), (5, 2)]).into_iter().collect();
        assert_eq!(sums, vec![(2, 3), (5, 3)]);
    }
}
