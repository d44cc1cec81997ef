//! Delivery tracking and receipt (确认收货 / 验收): each parcel (a shipping part) is received
//! by the buyer (or an admin of the buying organisation), with the quantities received if
//! they like (a short delivery opens a `refund_only` case for the difference), or
//! automatically `AIDMART_AUTO_RECEIVE_DAYS` after it shipped. With every parcel received the
//! order is `received`; when the after-sales window passes with no open case, `completed`.

use chrono::NaiveDateTime;
use serde::Deserialize;
use utoipa::ToSchema;

use super::model::{self, ShipmentRow};
use super::service::{self, Windows};
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::money::Money;
use crate::orders::model::{self as orders_model, LineRow, OrderRow};
use crate::orders::service::{self as orders, CaseBrief, PartView, Settings};
use crate::orders::status::OrderStatus;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivedLine {
    pub line_id: i64,
    pub quantity_received: i64,
}

/// `POST /api/v1/orders/{no}/parts/{part_id}/receipt`: no body, or the quantities received.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lines": [{"line_id": 1, "quantity_received": 9}]}))]
pub struct ReceiptRequest {
    #[serde(default)]
    pub lines: Vec<ReceivedLine>,
}

fn in_parcel(parcel: &ShipmentRow, line: &LineRow) -> bool {
    line.producer_id == parcel.producer_id && line.recipient_id == parcel.recipient_id
}

/// The order's parcels, shipped or waiting, with their cases.
pub fn parts(conn: &mut AnyConnection, order: &OrderRow) -> Result<Vec<PartView>, AppError> {
    let lines = orders_model::lines_of(conn, order.id)?;
    let shipped = model::shipments_of(conn, order.id)?;
    let cases = model::cases_of_order(conn, order.id)?;
    let ids: Vec<i64> = cases.iter().map(|c| c.id).collect();
    let case_lines = model::lines_of_cases(conn, &ids)?;
    let brief = |c: &model::CaseRow| CaseBrief {
        id: c.id,
        kind: c.kind.clone(),
        status: c.status.clone(),
        amount: Money::from_fen(c.agreed_fen.unwrap_or(c.amount_fen)),
        created_at: c.created_at,
    };
    let mut out: Vec<PartView> = Vec::new();
    // The parts a paid order is made of: (producer, recipient) of its lines.
    let mut keys: Vec<(i64, Option<i64>)> = lines.iter().map(|l| (l.producer_id, l.recipient_id)).collect();
    keys.sort();
    keys.dedup();
    for (producer_id, recipient_id) in keys {
        let line_ids: Vec<i64> = lines
            .iter()
            .filter(|l| l.producer_id == producer_id && l.recipient_id == recipient_id)
            .map(|l| l.id)
            .collect();
        let parcel = shipped
            .iter()
            .find(|p| p.after_sales_id.is_none() && p.producer_id == producer_id && p.recipient_id == recipient_id);
        let unsent = parcel.is_none()
            && lines.iter().filter(|l| line_ids.contains(&l.id)).all(|l| l.refunded_quantity == l.quantity);
        if unsent || order.paid_at.is_none() {
            continue; // refunded before it left, or not paid: nothing to ship
        }
        let after_sales = cases
            .iter()
            .filter(|c| case_lines.iter().any(|(cid, lid, _)| *cid == c.id && line_ids.contains(lid)))
            .map(brief)
            .collect();
        out.push(PartView {
            id: parcel.map(|p| p.id),
            status: status_of(parcel).to_string(),
            carrier: parcel.map(|p| p.carrier.clone()),
            tracking_no: parcel.map(|p| p.tracking_no.clone()),
            shipped_at: parcel.map(|p| p.shipped_at),
            received_at: parcel.and_then(|p| p.received_at),
            producer_id,
            recipient_id,
            replaces_case: None,
            line_ids,
            after_sales,
        });
    }
    for p in shipped.iter().filter(|p| p.after_sales_id.is_some()) {
        let line_ids = case_lines.iter().filter(|(c, _, _)| Some(*c) == p.after_sales_id).map(|(_, l, _)| *l).collect();
        out.push(PartView {
            id: Some(p.id),
            status: status_of(Some(p)).to_string(),
            carrier: Some(p.carrier.clone()),
            tracking_no: Some(p.tracking_no.clone()),
            shipped_at: Some(p.shipped_at),
            received_at: p.received_at,
            producer_id: p.producer_id,
            recipient_id: p.recipient_id,
            replaces_case: p.after_sales_id,
            line_ids,
            after_sales: Vec::new(),
        });
    }
    Ok(out)
}

fn status_of(parcel: Option<&ShipmentRow>) -> &'static str {
    match parcel {
        None => "awaiting_shipment",
        Some(p) if p.received_at.is_some() => "received",
        Some(_) => "shipped",
    }
}

/// Fills an order view's parcels.
pub fn with_parts(conn: &mut AnyConnection, mut view: orders::OrderView) -> Result<orders::OrderView, AppError> {
    if let Some(order) = orders_model::order_by_no(conn, &view.order_no)? {
        view.parts = parts(conn, &order)?;
    }
    Ok(view)
}

/// Marks a parcel received inside the caller's transaction (which holds the order's lock):
/// once (a conditional update), and the order `received` when it was the last original
/// parcel. False when it was already received.
fn receive_locked(
    conn: &mut AnyConnection,
    s: &Settings,
    order: &OrderRow,
    parcel: &ShipmentRow,
    by: Option<i64>,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    if !model::receive(conn, parcel.id, by, now)? {
        return Ok(false);
    }
    let note = match by {
        Some(_) => format!("parcel {} received", parcel.id),
        None => format!("parcel {} received automatically", parcel.id),
    };
    orders_model::add_event(conn, order.id, Some(&order.status), &order.status, &note, now)?;
    if parcel.after_sales_id.is_none() && all_received(conn, order.id)? {
        orders::order_received(conn, s, order, now)?;
    }
    Ok(true)
}

/// Whether every part of the order with goods in it has shipped and been received.
fn all_received(conn: &mut AnyConnection, order_id: i64) -> Result<bool, AppError> {
    let open = crate::coop::model::open_parts_of(conn, order_id)?;
    let shipped = model::shipments_of(conn, order_id)?;
    Ok(open.iter().all(|(producer, recipient)| {
        shipped.iter().any(|p| {
            p.after_sales_id.is_none()
                && p.producer_id == *producer
                && p.recipient_id == *recipient
                && p.received_at.is_some()
        })
    }))
}

/// `POST /api/v1/orders/{no}/parts/{part_id}/receipt`. Repeated: 200, nothing changes.
#[allow(clippy::too_many_arguments)]
pub fn receipt(
    conn: &mut AnyConnection,
    s: &Settings,
    user_id: i64,
    order_no: &str,
    part_id: i64,
    request: &ReceiptRequest,
    w: Windows,
    now: NaiveDateTime,
) -> Result<PartView, AppError> {
    let order = service::order_for(conn, user_id, order_no)?;
    let parcel = model::shipment(conn, part_id)?.filter(|p| p.order_id == order.id).ok_or(AppError::NotFound)?;
    db::write_tx(conn, |conn| {
        let order = orders::lock_order(conn, order.id)?;
        let lines = orders_model::lines_of(conn, order.id)?;
        // Short deliveries: the units missing, per line of this parcel.
        let mut short: Vec<(i64, i64)> = Vec::new();
        for r in &request.lines {
            let line = lines.iter().find(|l| l.id == r.line_id && in_parcel(&parcel, l)).ok_or_else(|| {
                AppError::unprocessable(
                    "invalid_quantity",
                    format!("line {} is not in this parcel / 该包裹中没有此商品", r.line_id),
                )
            })?;
            let sent = line.quantity - line.refunded_quantity;
            if r.quantity_received < 0 || r.quantity_received > sent || short.iter().any(|(l, _)| *l == line.id) {
                return Err(AppError::unprocessable(
                    "invalid_quantity",
                    format!("line {}: 0 to {sent} units were sent / 收货数量须在 0 至 {sent} 之间", line.id),
                ));
            }
            if r.quantity_received < sent {
                short.push((line.id, sent - r.quantity_received));
            }
        }
        if receive_locked(conn, s, &order, &parcel, Some(user_id), now)? && !short.is_empty() {
            let text = "收货数量不足 / fewer units arrived than were sent";
            service::open_locked(conn, s, &order, "refund_only", "short_delivery", text, &short, None, &[], w, now)?;
        }
        Ok(())
    })?;
    let order = orders_model::order_by_id(conn, order.id)?;
    parts(conn, &order)?.into_iter().find(|p| p.id == Some(part_id)).ok_or(AppError::NotFound)
}

/// Receives every parcel shipped more than `AIDMART_AUTO_RECEIVE_DAYS` ago. Each in its own
/// transaction by a conditional update, so two runs at once receive each parcel once.
pub fn auto_receive_due(
    conn: &mut AnyConnection,
    s: &Settings,
    w: Windows,
    now: NaiveDateTime,
) -> Result<usize, AppError> {
    let mut done = 0;
    for (parcel_id, order_id) in model::unreceived_before(conn, now - w.auto_receive)? {
        done += usize::from(db::write_tx(conn, |conn| -> Result<bool, AppError> {
            let order = orders::lock_order(conn, order_id)?;
            match model::shipment(conn, parcel_id)? {
                Some(parcel) if parcel.received_at.is_none() => receive_locked(conn, s, &order, &parcel, None, now),
                _ => Ok(false),
            }
        })?);
    }
    Ok(done)
}

/// Completes every received order whose after-sales window has passed with no open case.
/// Conditional moves again: two runs at once complete each order once.
pub fn complete_due(conn: &mut AnyConnection, s: &Settings, w: Windows, now: NaiveDateTime) -> Result<usize, AppError> {
    let statuses = OrderStatus::strs(&[OrderStatus::Received, OrderStatus::PartiallyRefunded]);
    let mut done = 0;
    for order_id in model::received_before(conn, now - w.after_sales, &statuses)? {
        done += usize::from(db::write_tx(conn, |conn| -> Result<bool, AppError> {
            let order = orders::lock_order(conn, order_id)?;
            if service::has_open_case(conn, order.id)? {
                return Ok(false);
            }
            let completed = orders::complete(conn, s, &order, now)?;
            if completed {
                service::close_rejected(conn, order.id, now)?;
            }
            Ok(completed)
        })?);
    }
    Ok(done)
}
