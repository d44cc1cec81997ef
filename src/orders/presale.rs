//! Pre-sale parcels (预售) that are late: once the ship-by date plus the grace period
//! (`AIDMART_PRESALE_GRACE_DAYS`) has passed with a pre-sale line unshipped, its buyer may
//! cancel those lines for a full refund (`POST /api/v1/orders/{no}/presale-cancel`), and a job
//! tells them so once (`presale_late_notices`, written under the order's lock). Selling only
//! in the window and the per-buyer limit are checked by the placement pipeline itself
//! (`service::place`).

use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde::Serialize;

use super::model::{self, LineRow};
use super::service::{self, Claim, Settings};
use super::status::OrderStatus;
use crate::catalog::presale;
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::mail;

/// The reason recorded on the refund.
pub const REASON: &str = "presale_late";

/// The last day a pre-sale parcel may leave before its buyer may cancel: the day after is late.
pub fn last_day(ship_by: NaiveDate, grace_days: i64) -> NaiveDate {
    ship_by + Duration::days(grace_days)
}

/// The order's pre-sale lines with units left that are late today and not shipped, with their
/// ship-by date. The caller holds the order's lock.
fn late_lines(
    conn: &mut AnyConnection,
    order_id: i64,
    grace_days: i64,
    today: NaiveDate,
) -> Result<Vec<(LineRow, NaiveDate)>, AppError> {
    let lines = model::lines_of(conn, order_id)?;
    let ids: Vec<i64> = lines.iter().map(|l| l.sku_id).collect();
    let terms = presale::of_skus(conn, &ids)?;
    let mut late = Vec::new();
    for line in lines {
        let Some(t) = terms.iter().find(|t| t.sku_id == line.sku_id) else { continue };
        if line.refunded_quantity < line.quantity
            && last_day(t.ship_by, grace_days) < today
            && !model::line_shipped(conn, line.id)?
        {
            late.push((line, t.ship_by));
        }
    }
    Ok(late)
}

/// The buyer cancels the late pre-sale lines of their order: every unit left of them is
/// refunded in full (cash and points, through the one refund engine). 404 for another's order;
/// 409 `presale_not_late` before the ship-by date plus grace, or when those lines shipped.
pub fn cancel_late(
    conn: &mut AnyConnection,
    s: &Settings,
    buyer_id: i64,
    order_no: &str,
    grace_days: i64,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<(i64, i64), AppError> {
    let found = model::order_by_no(conn, order_no)?.filter(|o| o.buyer_id == buyer_id).ok_or(AppError::NotFound)?;
    db::write_tx(conn, |conn| {
        let order = service::lock_for_refund(conn, &found)?;
        let late = if OrderStatus::REFUNDABLE.contains(&OrderStatus::parse(&order.status)?) {
            late_lines(conn, order.id, grace_days, today)?
        } else {
            Vec::new()
        };
        if late.is_empty() {
            return Err(AppError::conflict(
                "presale_not_late",
                "nothing of this order is a pre-sale parcel past its ship-by date and grace period / 本订单没有逾期未发货的预售商品",
            ));
        }
        let claims: Vec<(i64, Claim)> =
            late.iter().map(|(l, _)| (l.id, Claim::Units(l.quantity - l.refunded_quantity))).collect();
        let refund = service::refund_locked(conn, s, &order, &claims, REASON, now)?;
        Ok((refund.cash_fen, refund.points))
    })
}

#[derive(Serialize)]
struct LateItem {
    product_zh: String,
    product_en: String,
    sku_zh: String,
    sku_en: String,
    quantity: i64,
}

#[derive(Serialize)]
struct LateMail {
    buyer_name: String,
    order_no: String,
    ship_by: String,
    grace_days: i64,
    items: Vec<LateItem>,
    order_url: String,
}

/// The job: tells each buyer of a late pre-sale parcel, once, that they may cancel it. Safe
/// to run twice at once: the notice row is written under the order's lock.
pub fn notify_late(
    conn: &mut AnyConnection,
    s: &Settings,
    grace_days: i64,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<usize, AppError> {
    let due_before = today - Duration::days(grace_days);
    let mut told = 0;
    for id in model::late_presale_candidates(conn, due_before)? {
        let sent = db::write_tx(conn, |conn| -> Result<bool, AppError> {
            let order = service::lock_order(conn, id)?;
            let late = late_lines(conn, order.id, grace_days, today)?;
            if late.is_empty() || !model::note_presale_late(conn, order.id, now)? {
                return Ok(false);
            }
            let buyer = service::buyer_of(conn, order.buyer_id)?;
            let names = service::names_of(conn, &late.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>())?;
            let items = late
                .iter()
                .map(|(l, _)| {
                    let (_, [product_zh, product_en, sku_zh, sku_en]) = service::names_for(&names, l.sku_id);
                    LateItem {
                        product_zh: product_zh.clone(),
                        product_en: product_en.clone(),
                        sku_zh: sku_zh.clone(),
                        sku_en: sku_en.clone(),
                        quantity: l.quantity - l.refunded_quantity,
                    }
                })
                .collect();
            let ship_by = late.iter().map(|(_, d)| *d).min().unwrap_or(today);
            let context = LateMail {
                buyer_name: buyer.display_name,
                order_no: order.order_no.clone(),
                ship_by: ship_by.to_string(),
                grace_days,
                items,
                order_url: s.order_url(&order.order_no),
            };
            mail::enqueue(conn, "presale_late", &buyer.email, &context, now)?;
            Ok(true)
        })?;
        told += usize::from(sent);
    }
    Ok(told)
}

/// Whether the buyer may cancel now: for the order page's button.
pub fn cancellable(
    conn: &mut AnyConnection,
    order_id: i64,
    status: &str,
    grace_days: i64,
    today: NaiveDate,
) -> Result<bool, AppError> {
    if !OrderStatus::REFUNDABLE.contains(&OrderStatus::parse(status)?) {
        return Ok(false);
    }
    Ok(!late_lines(conn, order_id, grace_days, today)?.is_empty())
}
