//! After-sales cases (售后) for shipped or received lines: `refund_only` (a partial amount),
//! `return_refund` (the units come back, then the refund) and `replacement` (a new parcel, no
//! money). The cooperative accepts (optionally a lower amount) or rejects; one it leaves
//! unanswered is accepted by the job; a rejected buyer escalates and a platform admin decides.
//! Money moves only through the order core's refund engine, so points, cash, the union
//! budget, the ledger's reversals and charity follow.
//!
//! Every change of a case runs in one write transaction that takes the locks in the lock
//! order (ledger head, points account, order: `orders::service::lock_for_refund`) and then
//! moves the case by one conditional update from the state it must be in: of concurrent
//! accepts, escalations, decisions and the auto-accept job exactly one acts, and money moves
//! once.

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, CaseRow};
use crate::coop::service::{check_tracking, Manager, ShipAnswer};
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::mail;
use crate::money::Money;
use crate::orders::model::{self as orders_model, LineRow, OrderRow};
use crate::orders::service::{self as orders, Claim, Settings};
use crate::orders::status::OrderStatus;

pub const KINDS: [&str; 3] = ["refund_only", "return_refund", "replacement"];
pub const REASONS: [&str; 5] = ["damaged", "spoiled", "wrong_item", "short_delivery", "other"];
pub const STATUSES: [&str; 8] =
    ["requested", "accepted", "awaiting_return", "refunded", "replaced", "rejected", "escalated", "closed"];
/// Cases still waiting for someone: an order with one of these does not complete.
pub const OPEN: [&str; 4] = ["requested", "accepted", "awaiting_return", "escalated"];
pub const MAX_PHOTOS: usize = 6;

/// How long things take, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub auto_receive: Duration,
    pub after_sales: Duration,
    pub reply: Duration,
}

impl Windows {
    pub fn of(config: &crate::config::Config) -> Windows {
        Windows {
            auto_receive: Duration::days(config.auto_receive_days),
            after_sales: Duration::days(config.after_sales_days),
            reply: Duration::hours(config.after_sales_reply_hours),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseLineRequest {
    pub line_id: i64,
    pub quantity: i64,
}

/// `POST /api/v1/orders/{no}/after-sales`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "refund_only", "lines": [{"line_id": 1, "quantity": 1}], "reason": "damaged",
    "text": "三串香蕉压伤了 / three hands bruised", "amount": "12.50", "photos": []}))]
pub struct CaseRequest {
    /// `refund_only`, `return_refund` or `replacement`.
    #[serde(rename = "type")]
    pub kind: String,
    pub lines: Vec<CaseLineRequest>,
    /// `damaged`, `spoiled`, `wrong_item`, `short_delivery` or `other`.
    pub reason: String,
    #[serde(default)]
    pub text: String,
    /// For `refund_only`: the amount asked (at most the lines' paid value); absent: all of it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Money>,
    /// Names of photos uploaded with `POST /api/v1/photos` (at most 6).
    #[serde(default)]
    pub photos: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": "10.00", "reply": "同意部分退款 / a partial refund"}))]
pub struct AcceptRequest {
    /// For `refund_only`: a counter-offer, at most the amount asked.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Money>,
    #[serde(default)]
    pub reply: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reply": "照片显示商品完好 / the photos show the goods intact"}))]
pub struct RejectRequest {
    pub reply: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"carrier": "顺丰速运", "tracking_no": "SF1234567890123"}))]
pub struct ReturnShipment {
    pub carrier: String,
    pub tracking_no: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"decision": "refund", "amount": "8.00", "note": "照片可见腐坏 / the photos show spoilage"}))]
pub struct DecideRequest {
    /// `refund` or `reject`.
    pub decision: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Money>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseLineView {
    pub line_id: i64,
    pub quantity: i64,
    pub product_zh: String,
    pub product_en: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseEventView {
    pub from: Option<String>,
    pub to: String,
    pub note: String,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseView {
    pub id: i64,
    pub order_no: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub text: String,
    /// Asked (for `refund_only`), or the value of the units (for the others).
    #[schema(value_type = String)]
    pub amount: Money,
    /// What was refunded, once it was.
    #[schema(value_type = Option<String>)]
    pub refunded_amount: Option<Money>,
    pub refund_id: Option<i64>,
    pub reply: Option<String>,
    pub return_carrier: Option<String>,
    pub return_tracking_no: Option<String>,
    pub admin_note: Option<String>,
    /// The cooperative must answer by then, or the case is accepted.
    pub reply_due_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub lines: Vec<CaseLineView>,
    /// `/images/<name>` of each photo.
    pub photos: Vec<String>,
    pub events: Vec<CaseEventView>,
}

fn money_fen(m: Option<Money>) -> Option<i64> {
    m.map(Money::fen)
}

fn invalid_quantity(message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_quantity", message)
}

fn invalid_amount() -> AppError {
    AppError::unprocessable(
        "invalid_amount",
        "the amount must be above zero and at most the lines' paid value / 金额须大于零且不超过所购商品实付金额",
    )
}

fn case_state(case: &CaseRow, wanted: &str) -> AppError {
    AppError::conflict(
        "invalid_state",
        format!("the case is {}, not {wanted} / 售后单当前状态（{}）不允许此操作", case.status, case.status),
    )
}

fn check_text(field: &'static str, text: &str, min: usize) -> Result<String, AppError> {
    let t = text.trim();
    let n = t.chars().count();
    if n < min || n > 1000 {
        return Err(AppError::bad_request(
            "invalid_text",
            format!("{field} must have {min} to 1000 characters / 文字须为 {min} 至 1000 字"),
        ));
    }
    Ok(t.to_string())
}

/// The order's parcel holding a line: its shipment (not a replacement), if it left.
fn parcel_of<'a>(parcels: &'a [model::ShipmentRow], line: &LineRow) -> Option<&'a model::ShipmentRow> {
    parcels.iter().find(|p| {
        p.after_sales_id.is_none() && p.producer_id == line.producer_id && p.recipient_id == line.recipient_id
    })
}

/// Units of each line already in cases that are open or ended with a refund or replacement.
fn claimed(conn: &mut AnyConnection, order_id: i64) -> Result<Vec<(i64, i64)>, AppError> {
    let cases: Vec<i64> = model::cases_of_order(conn, order_id)?
        .into_iter()
        .filter(|c| !matches!(c.status.as_str(), "rejected" | "closed"))
        .map(|c| c.id)
        .collect();
    Ok(model::lines_of_cases(conn, &cases)?.into_iter().map(|(_, line, q)| (line, q)).collect())
}

/// What `q` units of a line are worth now (their share of what is left to give back).
fn units_value(line: &LineRow, q: i64) -> i64 {
    line.paid().share_of_units(q).value_fen()
}

/// Who may act for an order as its buyer: the buyer, or for an organisation's order any of
/// its admins. Anyone else gets 404.
pub fn order_for(conn: &mut AnyConnection, user_id: i64, order_no: &str) -> Result<OrderRow, AppError> {
    let order = orders_model::order_by_no(conn, order_no)?.ok_or(AppError::NotFound)?;
    if order.buyer_id == user_id {
        return Ok(order);
    }
    if let Some(org_id) = order.org_id {
        if let Some(org) = crate::orgs::model::org(conn, org_id)? {
            if crate::orgs::account::is_org_admin(conn, user_id, &org)? {
                return Ok(order);
            }
        }
    }
    Err(AppError::NotFound)
}

/// A case opened inside the caller's transaction, which holds the order's lock. Checks the
/// lines (shipped, in the window, units not yet claimed) and the amount.
#[allow(clippy::too_many_arguments)]
pub fn open_locked(
    conn: &mut AnyConnection,
    s: &Settings,
    order: &OrderRow,
    kind: &str,
    reason: &str,
    text: &str,
    wanted: &[(i64, i64)],
    amount: Option<i64>,
    photos: &[String],
    w: Windows,
    now: NaiveDateTime,
) -> Result<i64, AppError> {
    let lines = orders_model::lines_of(conn, order.id)?;
    let parcels = model::shipments_of(conn, order.id)?;
    let already = claimed(conn, order.id)?;
    let mut chosen: Vec<(LineRow, i64)> = Vec::new();
    for &(line_id, quantity) in wanted {
        let line = lines
            .iter()
            .find(|l| l.id == line_id)
            .ok_or_else(|| invalid_quantity(format!("line {line_id} is not in this order / 订单中没有该行")))?;
        if chosen.iter().any(|(l, _)| l.id == line_id) {
            return Err(invalid_quantity("name each line once / 每行只能出现一次"));
        }
        let parcel = parcel_of(&parcels, line).ok_or_else(|| {
            AppError::conflict("not_shipped", "this line has not shipped yet / 该商品尚未发货，可直接退款")
        })?;
        let closed_at = parcel.received_at.map(|r| r + w.after_sales);
        if order.status == OrderStatus::Completed.as_str() || closed_at.is_some_and(|c| now > c) {
            return Err(AppError::conflict("window_closed", "the after-sales window has closed / 已超过售后期限"));
        }
        let taken: i64 = already.iter().filter(|(l, _)| *l == line_id).map(|(_, q)| q).sum();
        let left = line.quantity - line.refunded_quantity - taken;
        if quantity < 1 || quantity > left || line.paid().fully_refunded() {
            return Err(invalid_quantity(format!(
                "line {line_id}: at most {} units can still be claimed / 该商品最多还可申请 {} 件",
                left.max(0),
                left.max(0)
            )));
        }
        chosen.push((line.clone(), quantity));
    }
    let Some((first, _)) = chosen.first() else {
        return Err(invalid_quantity("name at least one line / 请选择商品"));
    };
    let producer_id = first.producer_id;
    if chosen.iter().any(|(l, _)| l.producer_id != producer_id) {
        return Err(invalid_quantity("one case covers one cooperative's goods / 每个售后单只能包含同一合作社的商品"));
    }
    let value: i64 = chosen.iter().map(|(l, q)| units_value(l, *q)).sum();
    let amount_fen = match (kind, amount) {
        ("refund_only", Some(a)) if a >= 1 && a <= value => a,
        ("refund_only", Some(_)) => return Err(invalid_amount()),
        ("replacement", _) => 0,
        _ => value,
    };
    let new = model::NewCase {
        order_id: order.id,
        buyer_id: order.buyer_id,
        producer_id,
        kind,
        reason,
        text,
        amount_fen,
        reply_due_at: now + w.reply,
    };
    let id = model::insert_case(conn, &new, now)?;
    let rows: Vec<(i64, i64)> = chosen.iter().map(|(l, q)| (l.id, *q)).collect();
    model::insert_case_lines(conn, id, &rows)?;
    model::insert_case_photos(conn, id, photos)?;
    model::add_event(conn, id, None, "requested", Some(order.buyer_id), reason, now)?;
    let case = model::case(conn, id)?.ok_or_else(|| AppError::internal("case just written"))?;
    notify_coop(conn, s, &case, order, "after_sales_requested", now)?;
    Ok(id)
}

/// `POST /api/v1/orders/{no}/after-sales`.
pub fn open(
    conn: &mut AnyConnection,
    s: &Settings,
    user_id: i64,
    order_no: &str,
    request: &CaseRequest,
    w: Windows,
    now: NaiveDateTime,
) -> Result<CaseView, AppError> {
    if !KINDS.contains(&request.kind.as_str()) {
        return Err(AppError::bad_request(
            "invalid_type",
            "type is refund_only, return_refund or replacement / 售后类型无效",
        ));
    }
    if !REASONS.contains(&request.reason.as_str()) {
        return Err(AppError::bad_request(
            "invalid_reason",
            "reason is damaged, spoiled, wrong_item, short_delivery or other / 售后原因无效",
        ));
    }
    let text = check_text("text", &request.text, 0)?;
    if request.photos.len() > MAX_PHOTOS {
        return Err(AppError::unprocessable("too_many_photos", "at most 6 photos / 最多 6 张照片"));
    }
    let mut photos = request.photos.clone();
    photos.iter_mut().for_each(|p| *p = p.trim_start_matches("/images/").to_string());
    let known = model::known_photos(conn, &photos)?;
    if photos.iter().any(|p| !known.contains(p)) {
        return Err(AppError::unprocessable(
            "unknown_photo",
            "upload each photo first (POST /api/v1/photos) / 请先上传照片",
        ));
    }
    let amount = money_fen(request.amount);
    let order = order_for(conn, user_id, order_no)?;
    let wanted: Vec<(i64, i64)> = request.lines.iter().map(|l| (l.line_id, l.quantity)).collect();
    let id = db::write_tx(conn, |conn| {
        let order = orders::lock_order(conn, order.id)?;
        open_locked(conn, s, &order, &request.kind, &request.reason, &text, &wanted, amount, &photos, w, now)
    })?;
    view(conn, id)
}

pub fn view(conn: &mut AnyConnection, id: i64) -> Result<CaseView, AppError> {
    let case = model::case(conn, id)?.ok_or(AppError::NotFound)?;
    let order = orders_model::order_by_id(conn, case.order_id)?;
    let lines = orders_model::lines_of(conn, order.id)?;
    let names = orders::names_of(conn, &lines)?;
    let refunded = match case.refund_id {
        Some(r) => orders_model::refunds_of(conn, order.id)?.into_iter().find(|x| x.0 == r).map(|x| x.1),
        None => None,
    };
    // Cash plus points' value given back by the case's refund.
    let refunded_value = case.agreed_fen.or(refunded);
    let case_lines = model::lines_of_cases(conn, &[id])?
        .into_iter()
        .map(|(_, line_id, quantity)| {
            let sku = lines.iter().find(|l| l.id == line_id).map(|l| l.sku_id).unwrap_or_default();
            let (_, n) = orders::names_for(&names, sku);
            CaseLineView { line_id, quantity, product_zh: n[0].clone(), product_en: n[1].clone() }
        })
        .collect();
    let photos = model::photos_of_cases(conn, &[id])?.into_iter().map(|(_, n)| format!("/images/{n}")).collect();
    let events = model::events_of(conn, id)?
        .into_iter()
        .map(|(from, to, note, at)| CaseEventView { from, to, note, at })
        .collect();
    Ok(CaseView {
        id: case.id,
        order_no: order.order_no,
        kind: case.kind,
        status: case.status,
        reason: case.reason,
        text: case.text,
        amount: Money::from_fen(case.amount_fen),
        refunded_amount: case.refund_id.and(refunded_value).map(Money::from_fen),
        refund_id: case.refund_id,
        reply: case.reply,
        return_carrier: case.return_carrier,
        return_tracking_no: case.return_tracking_no,
        admin_note: case.admin_note,
        reply_due_at: case.reply_due_at,
        created_at: case.created_at,
        updated_at: case.updated_at,
        lines: case_lines,
        photos,
        events,
    })
}

/// A case of an order the user may act for (buyer, or the organisation's admin); else 404.
pub fn buyer_view(conn: &mut AnyConnection, user_id: i64, order_no: &str, id: i64) -> Result<CaseView, AppError> {
    let order = order_for(conn, user_id, order_no)?;
    let case = model::case(conn, id)?.filter(|c| c.order_id == order.id).ok_or(AppError::NotFound)?;
    view(conn, case.id)
}

/// Cases of the manager's cooperatives, newest first.
pub fn coop_queue(conn: &mut AnyConnection, m: &Manager, status: Option<&str>) -> Result<Vec<CaseView>, AppError> {
    let status = check_status(status)?;
    let rows = model::queue(conn, Some(&m.producers), status, 200)?;
    rows.into_iter().map(|c| view(conn, c.id)).collect()
}

pub fn admin_queue(conn: &mut AnyConnection, status: Option<&str>) -> Result<Vec<CaseView>, AppError> {
    let status = check_status(status)?;
    let rows = model::queue(conn, None, status, 200)?;
    rows.into_iter().map(|c| view(conn, c.id)).collect()
}

fn check_status(status: Option<&str>) -> Result<Option<&str>, AppError> {
    match status.filter(|s| !s.is_empty()) {
        Some(s) if !STATUSES.contains(&s) => {
            Err(AppError::bad_request("invalid_status", format!("status is one of {} / 状态无效", STATUSES.join(", "))))
        }
        other => Ok(other),
    }
}

/// Locks what a change of the case needs (ledger head, points account, order) and reads the
/// case again under the order's lock.
fn lock_case(conn: &mut AnyConnection, id: i64) -> Result<(CaseRow, OrderRow), AppError> {
    let case = model::case(conn, id)?.ok_or(AppError::NotFound)?;
    let order = orders_model::order_by_id(conn, case.order_id)?;
    let order = orders::lock_for_refund(conn, &order)?;
    let case = model::case(conn, id)?.ok_or(AppError::NotFound)?;
    Ok((case, order))
}

fn step(
    conn: &mut AnyConnection,
    case: &CaseRow,
    from: &[&str],
    to: &str,
    actor: Option<i64>,
    note: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    if !model::move_case(conn, case.id, from, to, now)? {
        return Err(case_state(case, &from.join(" or ")));
    }
    model::add_event(conn, case.id, Some(&case.status), to, actor, note, now)?;
    Ok(())
}

/// Refunds a case's lines by amount, `amount` spread over them in proportion to the value of
/// the units claimed (each line at most what it has left), through the refund engine.
fn refund_amount(
    conn: &mut AnyConnection,
    s: &Settings,
    case: &CaseRow,
    order: &OrderRow,
    amount: i64,
    now: NaiveDateTime,
) -> Result<i64, AppError> {
    let lines = orders_model::lines_of(conn, order.id)?;
    let weights: Vec<(i64, i64)> = model::lines_of_cases(conn, &[case.id])?
        .into_iter()
        .filter_map(|(_, id, q)| lines.iter().find(|l| l.id == id).map(|l| (id, units_value(l, q))))
        .collect();
    let total: i64 = weights.iter().map(|(_, w)| w).sum();
    if amount < 1 || amount > total {
        return Err(invalid_amount());
    }
    let mut claims = Vec::new();
    let mut upto = 0i64;
    for (id, w) in &weights {
        let before = (i128::from(amount) * i128::from(upto) / i128::from(total)) as i64;
        upto += w;
        let after = (i128::from(amount) * i128::from(upto) / i128::from(total)) as i64;
        if after > before {
            claims.push((*id, Claim::Amount(after - before)));
        }
    }
    let reason = format!("after-sales case {}", case.id);
    let refund = orders::refund_locked(conn, s, order, &claims, &reason, now)?;
    let value: i64 = refund.lines.iter().map(|l| l.value_fen).sum();
    model::set_refund(conn, case.id, refund.id, value)?;
    Ok(refund.id)
}

/// Refunds a case's units (a confirmed return) through the refund engine.
fn refund_units(
    conn: &mut AnyConnection,
    s: &Settings,
    case: &CaseRow,
    order: &OrderRow,
    now: NaiveDateTime,
) -> Result<i64, AppError> {
    let lines = orders_model::lines_of(conn, order.id)?;
    let claims: Vec<(i64, Claim)> = model::lines_of_cases(conn, &[case.id])?
        .into_iter()
        .filter_map(|(_, id, q)| {
            let line = lines.iter().find(|l| l.id == id)?;
            let q = q.min(line.quantity - line.refunded_quantity);
            (q > 0 && !line.paid().fully_refunded()).then_some((id, Claim::Units(q)))
        })
        .collect();
    if claims.is_empty() {
        return Err(AppError::conflict("nothing_to_refund", "these units were already refunded / 该商品已退款"));
    }
    let reason = format!("after-sales case {} (returned)", case.id);
    let refund = orders::refund_locked(conn, s, order, &claims, &reason, now)?;
    let value: i64 = refund.lines.iter().map(|l| l.value_fen).sum();
    model::set_refund(conn, case.id, refund.id, value)?;
    Ok(refund.id)
}

/// Accepts a requested case, inside the caller's locked transaction: a `refund_only` is
/// refunded (the amount asked, or a lower counter-offer), a `return_refund` waits for the
/// goods, a `replacement` joins the cooperative's shipping queue.
#[allow(clippy::too_many_arguments)]
fn accept_locked(
    conn: &mut AnyConnection,
    s: &Settings,
    case: &CaseRow,
    order: &OrderRow,
    amount: Option<i64>,
    actor: Option<i64>,
    note: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    match case.kind.as_str() {
        "refund_only" => {
            let agreed = amount.unwrap_or(case.amount_fen);
            if agreed < 1 || agreed > case.amount_fen {
                return Err(invalid_amount());
            }
            step(conn, case, &["requested"], "accepted", actor, note, now)?;
            let accepted = CaseRow { status: "accepted".into(), ..case.clone() };
            let refund_id = refund_amount(conn, s, &accepted, order, agreed, now)?;
            step(conn, &accepted, &["accepted"], "refunded", actor, &format!("refund {refund_id}"), now)?;
        }
        "return_refund" => step(conn, case, &["requested"], "awaiting_return", actor, note, now)?,
        _ => step(conn, case, &["requested"], "accepted", actor, note, now)?,
    }
    Ok(())
}

/// The cooperative accepts (`POST /api/v1/coop/after-sales/{id}/accept`).
pub fn accept(
    conn: &mut AnyConnection,
    s: &Settings,
    m: &Manager,
    id: i64,
    request: &AcceptRequest,
    now: NaiveDateTime,
) -> Result<CaseView, AppError> {
    let reply = match &request.reply {
        Some(r) => Some(check_text("reply", r, 0)?),
        None => None,
    };
    let amount = money_fen(request.amount);
    db::write_tx(conn, |conn| {
        let (case, order) = lock_case(conn, id)?;
        if !m.producers.contains(&case.producer_id) {
            return Err(AppError::NotFound);
        }
        if case.status != "requested" {
            return Err(case_state(&case, "requested"));
        }
        if amount.is_some() && case.kind != "refund_only" {
            return Err(invalid_amount());
        }
        if let Some(r) = reply.as_deref().filter(|r| !r.is_empty()) {
            model::set_reply(conn, case.id, r)?;
        }
        accept_locked(conn, s, &case, &order, amount, Some(m.user_id), "accepted by the cooperative", now)?;
        notify_buyer(conn, s, case.id, &order, now)
    })?;
    view(conn, id)
}

/// The cooperative rejects with a reply.
pub fn reject(
    conn: &mut AnyConnection,
    s: &Settings,
    m: &Manager,
    id: i64,
    request: &RejectRequest,
    now: NaiveDateTime,
) -> Result<CaseView, AppError> {
    let reply = check_text("reply", &request.reply, 1)?;
    db::write_tx(conn, |conn| {
        let (case, order) = lock_case(conn, id)?;
        if !m.producers.contains(&case.producer_id) {
            return Err(AppError::NotFound);
        }
        step(conn, &case, &["requested"], "rejected", Some(m.user_id), &reply, now)?;
        model::set_reply(conn, case.id, &reply)?;
        notify_buyer(conn, s, case.id, &order, now)
    })?;
    view(conn, id)
}

/// The buyer tells the cooperative how the goods come back.
pub fn return_shipment(
    conn: &mut AnyConnection,
    s: &Settings,
    user_id: i64,
    order_no: &str,
    id: i64,
    request: &ReturnShipment,
    now: NaiveDateTime,
) -> Result<CaseView, AppError> {
    let (carrier, tracking) = check_tracking(&request.carrier, &request.tracking_no)?;
    let order = order_for(conn, user_id, order_no)?;
    db::write_tx(conn, |conn| {
        let order = orders::lock_order(conn, order.id)?;
        let case = model::case(conn, id)?.filter(|c| c.order_id == order.id).ok_or(AppError::NotFound)?;
        if case.status != "awaiting_return" {
            return Err(case_state(&case, "awaiting_return"));
        }
        model::set_return(conn, case.id, &carrier, &tracking)?;
        let note = format!("returned with {carrier} {tracking}");
        model::add_event(conn, case.id, Some(&case.status), &case.status, Some(user_id), &note, now)?;
        notify_coop(conn, s, &case, &order, "after_sales_update", now)
    })?;
    view(conn, id)
}

/// The cooperative confirms the goods came back: the units are refunded.
pub fn confirm_return(
    conn: &mut AnyConnection,
    s: &Settings,
    m: &Manager,
    id: i64,
    now: NaiveDateTime,
) -> Result<CaseView, AppError> {
    db::write_tx(conn, |conn| {
        let (case, order) = lock_case(conn, id)?;
        if !m.producers.contains(&case.producer_id) {
            return Err(AppError::NotFound);
        }
        if case.status != "awaiting_return" {
            return Err(case_state(&case, "awaiting_return"));
        }
        if case.return_tracking_no.is_none() {
            return Err(AppError::conflict(
                "not_returned",
                "the buyer has not shipped the goods back yet / 买家尚未寄回",
            ));
        }
        if !model::move_case(conn, case.id, &["awaiting_return"], "refunded", now)? {
            return Err(case_state(&case, "awaiting_return"));
        }
        let refund_id = refund_units(conn, s, &case, &order, now)?;
        let note = format!("return confirmed; refund {refund_id}");
        model::add_event(conn, case.id, Some(&case.status), "refunded", Some(m.user_id), &note, now)?;
        notify_buyer(conn, s, case.id, &order, now)
    })?;
    view(conn, id)
}

/// A rejected buyer asks the platform to decide.
pub fn escalate(
    conn: &mut AnyConnection,
    s: &Settings,
    user_id: i64,
    order_no: &str,
    id: i64,
    now: NaiveDateTime,
) -> Result<CaseView, AppError> {
    let order = order_for(conn, user_id, order_no)?;
    db::write_tx(conn, |conn| {
        let case_id = order_case(conn, order.id, id)?;
        let (case, order) = lock_case(conn, case_id)?;
        step(conn, &case, &["rejected"], "escalated", Some(user_id), "escalated by the buyer", now)?;
        notify_coop(conn, s, &case, &order, "after_sales_update", now)
    })?;
    view(conn, id)
}

fn order_case(conn: &mut AnyConnection, order_id: i64, id: i64) -> Result<i64, AppError> {
    Ok(model::case(conn, id)?.filter(|c| c.order_id == order_id).ok_or(AppError::NotFound)?.id)
}

/// A platform admin decides an escalated case: a refund (the amount given, else the amount
/// asked or the units' value) or a rejection (closed).
pub fn decide(
    conn: &mut AnyConnection,
    s: &Settings,
    admin_id: i64,
    id: i64,
    request: &DecideRequest,
    now: NaiveDateTime,
) -> Result<CaseView, AppError> {
    let note = check_text("note", &request.note, 1)?;
    let refund = match request.decision.as_str() {
        "refund" => true,
        "reject" => false,
        _ => return Err(AppError::bad_request("invalid_decision", "decision is refund or reject / 裁决无效")),
    };
    let amount = money_fen(request.amount);
    db::write_tx(conn, |conn| {
        let (case, order) = lock_case(conn, id)?;
        if case.status != "escalated" {
            return Err(case_state(&case, "escalated"));
        }
        model::set_decision(conn, case.id, admin_id, &note)?;
        if refund {
            let asked = if case.kind == "refund_only" {
                case.amount_fen
            } else {
                let lines = orders_model::lines_of(conn, order.id)?;
                model::lines_of_cases(conn, &[case.id])?
                    .into_iter()
                    .filter_map(|(_, lid, q)| lines.iter().find(|l| l.id == lid).map(|l| units_value(l, q)))
                    .sum()
            };
            let agreed = amount.unwrap_or(asked);
            if !model::move_case(conn, case.id, &["escalated"], "refunded", now)? {
                return Err(case_state(&case, "escalated"));
            }
            let refund_id = refund_amount(conn, s, &case, &order, agreed, now)?;
            let text = format!("{note} (refund {refund_id})");
            model::add_event(conn, case.id, Some("escalated"), "refunded", Some(admin_id), &text, now)?;
        } else {
            step(conn, &case, &["escalated"], "closed", Some(admin_id), &note, now)?;
        }
        notify_buyer(conn, s, case.id, &order, now)?;
        notify_coop(conn, s, &case, &order, "after_sales_update", now)
    })?;
    view(conn, id)
}

/// Accepts every case left unanswered past its reply time. Each in its own transaction, by
/// the same conditional move as the cooperative's accept: run twice, or on two threads at
/// once, each case is accepted (and refunded) once.
pub fn auto_accept_due(conn: &mut AnyConnection, s: &Settings, now: NaiveDateTime) -> Result<usize, AppError> {
    let mut done = 0;
    for id in model::unanswered(conn, now)? {
        let acted = db::write_tx(conn, |conn| {
            let (case, order) = lock_case(conn, id)?;
            if case.status != "requested" || case.reply_due_at > now {
                return Ok(false);
            }
            accept_locked(conn, s, &case, &order, None, None, "accepted automatically: no reply in time", now)?;
            notify_buyer(conn, s, case.id, &order, now)?;
            notify_coop(conn, s, &case, &order, "after_sales_update", now)?;
            Ok(true)
        });
        match acted {
            Ok(true) => done += 1,
            Ok(false) => {}
            // One case that cannot be refunded (its lines refunded meanwhile) stops no other.
            Err(e @ (AppError::Conflict { .. } | AppError::Unprocessable { .. })) => {
                tracing::warn!(case = id, error = %e, "after-sales case not accepted");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Whether the order has a case still waiting for someone.
pub fn has_open_case(conn: &mut AnyConnection, order_id: i64) -> Result<bool, AppError> {
    Ok(model::cases_of_order(conn, order_id)?.iter().any(|c| OPEN.contains(&c.status.as_str())))
}

/// Rejected cases nobody escalated are closed when the order completes.
pub fn close_rejected(conn: &mut AnyConnection, order_id: i64, now: NaiveDateTime) -> Result<(), AppError> {
    for case in model::cases_of_order(conn, order_id)?.into_iter().filter(|c| c.status == "rejected") {
        if model::move_case(conn, case.id, &["rejected"], "closed", now)? {
            model::add_event(conn, case.id, Some("rejected"), "closed", None, "after-sales window closed", now)?;
        }
    }
    Ok(())
}

/// Replacement parcels the manager's cooperatives still have to send, as shipping parts.
pub fn replacements_to_ship(
    conn: &mut AnyConnection,
    m: &Manager,
) -> Result<Vec<crate::coop::service::Part>, AppError> {
    use crate::coop::service::{Part, PartItem, ShipTo};
    let cases = model::replacements_to_ship(conn, &m.producers)?;
    let mut parts = Vec::with_capacity(cases.len());
    for case in cases {
        let order = orders_model::order_by_id(conn, case.order_id)?;
        let lines = orders_model::lines_of(conn, order.id)?;
        let names = orders::names_of(conn, &lines)?;
        let address: orders::Address = serde_json::from_str(&order.address).map_err(AppError::internal)?;
        let items = model::lines_of_cases(conn, &[case.id])?
            .into_iter()
            .filter_map(|(_, lid, q)| {
                let line = lines.iter().find(|l| l.id == lid)?;
                let (_, n) = orders::names_for(&names, line.sku_id);
                Some(PartItem {
                    sku_id: line.sku_id,
                    sku_code: String::new(),
                    product_zh: n[0].clone(),
                    product_en: n[1].clone(),
                    sku_zh: n[2].clone(),
                    sku_en: n[3].clone(),
                    quantity: q,
                })
            })
            .collect();
        parts.push(Part {
            order_no: order.order_no,
            order_status: order.status,
            paid_at: order.paid_at,
            producer_id: case.producer_id,
            recipient_id: None,
            ship_to: ShipTo {
                name: address.name.clone(),
                mobile: address.mobile.clone(),
                address: format!("{} {} {} {}", address.province, address.city, address.district, address.detail),
            },
            items,
            after_sales_id: Some(case.id),
        });
    }
    Ok(parts)
}

/// Ships a replacement parcel: a shipment naming the case (once: unique per case), the case
/// `replaced`, the buyer told. No money moves.
#[allow(clippy::too_many_arguments)]
pub fn ship_replacement(
    conn: &mut AnyConnection,
    m: &Manager,
    order_no: Option<&str>,
    case_id: i64,
    carrier: &str,
    tracking_no: &str,
    s: &Settings,
    now: NaiveDateTime,
) -> Result<ShipAnswer, AppError> {
    db::write_tx(conn, |conn| {
        let case = model::case(conn, case_id)?.ok_or(AppError::NotFound)?;
        if !m.producers.contains(&case.producer_id) {
            return Err(AppError::NotFound);
        }
        let order = orders::lock_order(conn, case.order_id)?;
        let case = model::case(conn, case_id)?.ok_or(AppError::NotFound)?;
        if case.kind != "replacement" || order_no.is_some_and(|n| n.trim() != order.order_no) {
            return Err(AppError::NotFound);
        }
        step(conn, &case, &["accepted"], "replaced", Some(m.user_id), &format!("{carrier} {tracking_no}"), now)?;
        let new = crate::coop::model::NewShipment {
            order_id: order.id,
            producer_id: case.producer_id,
            recipient_id: None,
            carrier,
            tracking_no,
            shipped_by: m.user_id,
            after_sales_id: Some(case.id),
        };
        crate::coop::model::insert_shipment(conn, &new, now)?;
        let note = format!("replacement for case {} shipped: {carrier} {tracking_no}", case.id);
        orders_model::add_event(conn, order.id, Some(&order.status), &order.status, &note, now)?;
        notify_buyer(conn, s, case.id, &order, now)?;
        Ok(ShipAnswer {
            order_no: order.order_no.clone(),
            producer_id: case.producer_id,
            recipient_id: None,
            carrier: carrier.to_string(),
            tracking_no: tracking_no.to_string(),
            order_status: order.status.clone(),
        })
    })
}

#[derive(Serialize)]
struct CaseMail {
    name: String,
    order_no: String,
    case_id: i64,
    kind: String,
    status: String,
    reason: String,
    text: String,
    amount: Money,
    reply: Option<String>,
    url: String,
}

fn case_mail(
    conn: &mut AnyConnection,
    id: i64,
    order: &OrderRow,
    name: String,
    url: String,
) -> Result<CaseMail, AppError> {
    let case = model::case(conn, id)?.ok_or(AppError::NotFound)?;
    Ok(CaseMail {
        name,
        order_no: order.order_no.clone(),
        case_id: case.id,
        kind: case.kind,
        status: case.status,
        reason: case.reason,
        text: case.text,
        amount: Money::from_fen(case.agreed_fen.unwrap_or(case.amount_fen)),
        reply: case.reply,
        url,
    })
}

/// Mail to the buyer about the case as it now is.
fn notify_buyer(
    conn: &mut AnyConnection,
    s: &Settings,
    id: i64,
    order: &OrderRow,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let user = crate::accounts::model::find(conn, order.buyer_id)?.ok_or_else(|| AppError::internal("no buyer"))?;
    let context = case_mail(conn, id, order, user.display_name, s.order_url(&order.order_no))?;
    mail::enqueue(conn, "after_sales_update", &user.email, &context, now)?;
    Ok(())
}

/// Mail to the cooperative's managers about the case as it now is.
fn notify_coop(
    conn: &mut AnyConnection,
    s: &Settings,
    case: &CaseRow,
    order: &OrderRow,
    template: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let (name, _) = crate::catalog::model::producer_names(conn, &[case.producer_id])?
        .into_iter()
        .next()
        .map(|(_, zh, en)| (zh, en))
        .unwrap_or_default();
    let context = case_mail(conn, case.id, order, name, format!("{}/coop/after-sales", s.public_url))?;
    for email in crate::catalog::model::producer_manager_emails(conn, case.producer_id)? {
        mail::enqueue(conn, template, &email, &context, now)?;
    }
    Ok(())
}

/// Stores a buyer's photo (checked as an image, by content hash, like product images) and
/// answers its name.
pub fn add_photo(
    conn: &mut AnyConnection,
    user_id: i64,
    data: &[u8],
    dir: &std::path::Path,
    now: NaiveDateTime,
) -> Result<String, AppError> {
    use crate::coop::service as coop;
    use sha2::Digest;
    if data.len() > coop::MAX_IMAGE_BYTES {
        return Err(coop::too_large());
    }
    let (ext, content_type) = coop::image_kind(data).ok_or_else(|| {
        AppError::unprocessable("unsupported_image", "send a JPEG, PNG or WebP image / 请上传 JPEG、PNG 或 WebP 图片")
    })?;
    let name = format!("{}.{ext}", hex::encode(sha2::Sha256::digest(data)));
    std::fs::create_dir_all(dir).map_err(|e| AppError::internal(format!("{}: {e}", dir.display())))?;
    let path = dir.join(&name);
    if !path.exists() {
        let tmp = dir.join(format!("{name}.{}.tmp", orders::random_token(8)));
        std::fs::write(&tmp, data).map_err(|e| AppError::internal(format!("{}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
    }
    db::write_tx(conn, |conn| {
        Ok::<_, AppError>(model::insert_photo(conn, &name, content_type, data.len() as i64, user_id, now)?)
    })?;
    Ok(name)
}
