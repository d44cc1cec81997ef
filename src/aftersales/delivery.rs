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
            receipt_url: None,
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
            receipt_url: None,
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

/// Who confirms a parcel: a user (the buyer or an organisation admin), a distribution
/// parcel's recipient through the parcel's receipt link (no account: `received_by` stays
/// NULL), or the auto-receive job (NULL as well; the order's history tells them apart).
#[derive(Debug, Clone, Copy)]
enum Receiver {
    User(i64),
    Recipient,
    Auto,
}

/// Marks a parcel received inside the caller's transaction (which holds the order's lock):
/// once (a conditional update), and the order `received` when it was the last original
/// parcel. False when it was already received.
fn receive_locked(
    conn: &mut AnyConnection,
    s: &Settings,
    order: &OrderRow,
    parcel: &ShipmentRow,
    by: Receiver,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let user = match by {
        Receiver::User(id) => Some(id),
        Receiver::Recipient | Receiver::Auto => None,
    };
    if !model::receive(conn, parcel.id, user, now)? {
        return Ok(false);
    }
    let note = match by {
        Receiver::User(_) => format!("parcel {} received", parcel.id),
        Receiver::Recipient => format!("parcel {} received by its recipient", parcel.id),
        Receiver::Auto => format!("parcel {} received automatically", parcel.id),
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
        if receive_locked(conn, s, &order, &parcel, Receiver::User(user_id), now)? && !short.is_empty() {
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
                Some(parcel) if parcel.received_at.is_none() => {
                    receive_locked(conn, s, &order, &parcel, Receiver::Auto, now)
                }
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

// ---- the recipient's receipt link (a distribution parcel, no account) ----

/// The secret of recipients' receipt links, derived from the application's secret key.
pub fn receipt_key(app_key: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"aidmart parcel receipt links");
    hasher.update(app_key);
    hasher.finalize().to_vec()
}

/// Hex characters of a parcel's receipt token.
const TOKEN_LEN: usize = 24;

fn token_mac(key: &[u8], part_id: i64) -> Result<hmac::Hmac<sha2::Sha256>, AppError> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).map_err(AppError::internal)?;
    mac.update(format!("parcel-receipt:{part_id}").as_bytes());
    Ok(mac)
}

/// A parcel's receipt token: derived, never stored (the first 24 hex characters of
/// HMAC-SHA256(key, "parcel-receipt:" + parcel id)).
pub fn receipt_token(key: &[u8], part_id: i64) -> Result<String, AppError> {
    use hmac::Mac;
    let mut hex = hex::encode(token_mac(key, part_id)?.finalize().into_bytes());
    hex.truncate(TOKEN_LEN);
    Ok(hex)
}

/// Whether `given` is the parcel's token, compared in constant time.
fn token_ok(key: &[u8], part_id: i64, given: &str) -> Result<bool, AppError> {
    use hmac::Mac;
    let lower_hex = given.len() == TOKEN_LEN && given.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let Some(bytes) = hex::decode(given).ok().filter(|_| lower_hex) else { return Ok(false) };
    Ok(token_mac(key, part_id)?.verify_truncated_left(&bytes).is_ok())
}

/// Sets `receipt_url` on the shipped distribution parcels (those with a recipient).
pub fn with_receipt_links(parts: &mut [PartView], key: &[u8], public_url: &str) -> Result<(), AppError> {
    for p in parts.iter_mut() {
        if let (Some(id), Some(_)) = (p.id, p.recipient_id) {
            p.receipt_url = Some(format!("{public_url}/receipt/{id}/{}", receipt_token(key, id)?));
        }
    }
    Ok(())
}

/// `13800138000` → `138****8000`.
pub fn mask_mobile(mobile: &str) -> String {
    let chars: Vec<char> = mobile.chars().collect();
    if chars.len() < 7 {
        return "****".to_string();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// One product in a recipient's parcel.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParcelLine {
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    pub quantity: i64,
}

/// What a recipient's receipt page shows.
#[derive(Debug, Clone)]
pub struct RecipientParcel {
    pub part: PartView,
    pub name: String,
    pub mobile_masked: String,
    pub lines: Vec<ParcelLine>,
}

/// The distribution parcel behind a receipt link; 404 for a wrong token or a parcel with no
/// recipient.
pub fn recipient_parcel(
    conn: &mut AnyConnection,
    key: &[u8],
    part_id: i64,
    token: &str,
) -> Result<RecipientParcel, AppError> {
    if !token_ok(key, part_id, token)? {
        return Err(AppError::NotFound);
    }
    let parcel = model::shipment(conn, part_id)?.ok_or(AppError::NotFound)?;
    let recipient_id = parcel.recipient_id.ok_or(AppError::NotFound)?;
    let (name, mobile) = model::recipient(conn, recipient_id)?.ok_or(AppError::NotFound)?;
    let order = orders_model::order_by_id(conn, parcel.order_id)?;
    let part = parts(conn, &order)?.into_iter().find(|p| p.id == Some(part_id)).ok_or(AppError::NotFound)?;
    let replaced = match parcel.after_sales_id {
        Some(case) => model::lines_of_cases(conn, &[case])?,
        None => Vec::new(),
    };
    let lines = orders::view_of(conn, order, |_: &str| String::new())?
        .lines
        .into_iter()
        .filter(|l| part.line_ids.contains(&l.id))
        .map(|l| ParcelLine {
            quantity: match parcel.after_sales_id {
                Some(_) => replaced.iter().filter(|(_, line, _)| *line == l.id).map(|(_, _, q)| *q).sum(),
                None => l.quantity - l.refunded_quantity,
            },
            product_zh: l.product_zh,
            product_en: l.product_en,
            sku_zh: l.sku_zh,
            sku_en: l.sku_en,
        })
        .collect();
    Ok(RecipientParcel { part, name, mobile_masked: mask_mobile(&mobile), lines })
}

/// `POST /receipt/{part_id}/{token}`: the recipient confirms their parcel, once (repeated:
/// nothing changes). Recorded with no user (`received_by` NULL) and "received by its
/// recipient" in the order's history; the order is `received` when it was the last parcel.
pub fn recipient_receipt(
    conn: &mut AnyConnection,
    s: &Settings,
    key: &[u8],
    part_id: i64,
    token: &str,
    now: NaiveDateTime,
) -> Result<RecipientParcel, AppError> {
    let found = recipient_parcel(conn, key, part_id, token)?;
    if found.part.received_at.is_none() {
        let order_id = model::shipment(conn, part_id)?.ok_or(AppError::NotFound)?.order_id;
        db::write_tx(conn, |conn| -> Result<bool, AppError> {
            let order = orders::lock_order(conn, order_id)?;
            match model::shipment(conn, part_id)? {
                Some(parcel) if parcel.received_at.is_none() => {
                    receive_locked(conn, s, &order, &parcel, Receiver::Recipient, now)
                }
                _ => Ok(false),
            }
        })?;
    }
    recipient_parcel(conn, key, part_id, token)
}
