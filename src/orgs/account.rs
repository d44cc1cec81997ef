//! Orders on an organisation's account (`"account":{"org_id":…}`): who may place them, the
//! budget they draw, approval above the union's threshold, and what cancellation gives back.
//!
//! Rules:
//! - Only an admin member of the union (role `union_admin`) or canteen (role `canteen_manager`)
//!   buys on its account; channel `union`/`canteen`, category `direct_purchase`, no points.
//! - The order is paid on account: no gateway payment is opened. A union must have a budget
//!   and every order draws it (conditional update: never beyond the total). A canteen is
//!   invoiced monthly; it draws a budget only if one is set for it.
//! - A union order above the approval threshold stays `pending_payment` with its stock and
//!   budget held, until another admin of the same union approves (then it is paid) or rejects
//!   it, or the approval expires (the payment-timeout job cancels it).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::model::{self, Approval, Org, OrgOrder};
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::mail;
use crate::money::Money;
use crate::orders::model::{self as orders_model, LineRow, Movement, OrderRow};
use crate::orders::service::{self as orders, Address, Buyer, Names, OrderRequest, OrderView, Prepared, Settings};

/// How long an order waits for approval before it is cancelled.
pub const APPROVAL_HOURS: i64 = 72;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    pub org_id: i64,
    /// Canteens: the day the goods are wanted.
    #[serde(default)]
    pub delivery_date: Option<NaiveDate>,
}

/// `"personal"` → None; `{"org_id": …, "delivery_date"?: "YYYY-MM-DD"}` → the request.
pub fn parse(value: &serde_json::Value) -> Result<Option<AccountRequest>, AppError> {
    let bad = |why: String| {
        AppError::bad_request(
            "invalid_account",
            format!("account must be \"personal\" or {{\"org_id\": …}}: {why} / 下单账户格式错误"),
        )
    };
    match value {
        serde_json::Value::String(s) if s == "personal" => Ok(None),
        serde_json::Value::Object(_) => serde_json::from_value(value.clone()).map(Some).map_err(|e| bad(e.to_string())),
        other => Err(bad(format!("got {other}"))),
    }
}

/// The role an organisation's buyers must hold.
fn buyer_role(kind: &str) -> Option<&'static str> {
    match kind {
        "union" => Some("union_admin"),
        "canteen" => Some("canteen_manager"),
        _ => None,
    }
}

/// Whether the user administers this union or canteen (the role and an admin membership).
pub fn is_org_admin(conn: &mut AnyConnection, user_id: i64, org: &Org) -> Result<bool, AppError> {
    let Some(role) = buyer_role(&org.kind) else { return Ok(false) };
    if model::membership(conn, user_id, org.id)? != Some(true) {
        return Ok(false);
    }
    Ok(crate::accounts::model::roles(conn, user_id)?.iter().any(|r| r == role))
}

/// The union or canteen the user may act for; 404 when it does not exist, 403 otherwise.
pub fn require_admin(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<Org, AppError> {
    let org = model::org(conn, org_id)?.ok_or(AppError::NotFound)?;
    if buyer_role(&org.kind).is_none() {
        return Err(AppError::unprocessable(
            "account_not_supported",
            "only a trade union or a canteen buys on account / 仅工会或食堂可使用机构账户下单",
        ));
    }
    if !is_org_admin(conn, user_id, &org)? {
        return Err(AppError::Forbidden);
    }
    Ok(org)
}

/// A line of an order on account: priced already (tier prices on the SKU's total quantity).
pub struct AccountLine {
    pub sku_id: i64,
    pub producer_id: i64,
    pub quantity: i64,
    pub unit_price_fen: i64,
    /// Index into the order's recipients (welfare distribution).
    pub recipient: Option<usize>,
}

pub struct Recipient {
    pub name: String,
    pub mobile: String,
    pub address: String,
}

/// Called by `orders::service::write_order` for an order on account, inside its transaction.
pub(crate) fn write_order(
    conn: &mut AnyConnection,
    settings: &Settings,
    buyer: &Buyer,
    request: &OrderRequest,
    account: &AccountRequest,
    prepared: &Prepared,
    now: NaiveDateTime,
) -> Result<OrderView, AppError> {
    let org = require_admin(conn, buyer.id, account.org_id)?;
    if request.points != 0 {
        return Err(AppError::unprocessable(
            "points_not_accepted",
            "an order on an organisation's account is paid by the organisation, not with points / 机构账户订单不使用积分",
        ));
    }
    let delivery_date = check_delivery_date(&org, account.delivery_date, now.date())?;
    let lines: Vec<AccountLine> = prepared
        .lines
        .iter()
        .map(|l| AccountLine {
            sku_id: l.priced.sku_id,
            producer_id: l.producer_id,
            quantity: l.priced.quantity,
            unit_price_fen: l.priced.unit_price_fen,
            recipient: None,
        })
        .collect();
    let names: Names = prepared.lines.iter().map(|l| (l.priced.sku_id, l.product_id, l.names.clone())).collect();
    let placement = Placement {
        org: &org,
        buyer,
        address: &request.address,
        lines: &lines,
        recipients: &[],
        campaign_id: prepared.campaign_id,
        delivery_date,
    };
    place(conn, settings, &placement, &names, now)
}

/// Canteens order for a delivery date, today or later; unions may name one.
pub fn check_delivery_date(
    org: &Org,
    date: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<Option<NaiveDate>, AppError> {
    match date {
        Some(d) if d < today => Err(AppError::bad_request(
            "invalid_delivery_date",
            "the delivery date cannot be in the past / 送达日期不能早于今天",
        )),
        None if org.kind == "canteen" => Err(AppError::bad_request(
            "invalid_delivery_date",
            "a canteen order needs a delivery_date in its account / 食堂订单须填写送达日期",
        )),
        other => Ok(other),
    }
}

pub struct Placement<'a> {
    pub org: &'a Org,
    pub buyer: &'a Buyer,
    pub address: &'a Address,
    pub lines: &'a [AccountLine],
    pub recipients: &'a [Recipient],
    pub campaign_id: i64,
    pub delivery_date: Option<NaiveDate>,
}

fn budget_exceeded(message: &str) -> AppError {
    AppError::conflict("budget_exceeded", message.to_string())
}

#[derive(Serialize)]
struct ApprovalMail {
    approver_name: String,
    placer_name: String,
    org_zh: String,
    order_no: String,
    total: Money,
    expires_at: String,
    approvals_url: String,
}

/// Writes an order on account: stock, order, recipients and lines, budget, then payment on
/// account or an approval request. Call inside a write transaction.
pub fn place(
    conn: &mut AnyConnection,
    settings: &Settings,
    p: &Placement,
    names: &Names,
    now: NaiveDateTime,
) -> Result<OrderView, AppError> {
    // Stock per SKU, in id order, so concurrent orders lock rows in the same order.
    let mut per_sku: BTreeMap<i64, i64> = BTreeMap::new();
    for l in p.lines {
        *per_sku.entry(l.sku_id).or_default() += l.quantity;
    }
    let mut taken = Vec::with_capacity(per_sku.len());
    for (&sku_id, &quantity) in &per_sku {
        match orders_model::take_stock(conn, sku_id, quantity)? {
            Some(change) => taken.push(change),
            None => {
                return Err(AppError::conflict(
                    "out_of_stock",
                    format!("SKU {sku_id} does not have {quantity} left / 库存不足"),
                ))
            }
        }
    }
    let total_fen: i64 = p.lines.iter().map(|l| l.unit_price_fen * l.quantity).sum();
    let budget = model::budget(conn, p.org.id)?;
    let drawn = match &budget {
        Some(_) => {
            if !model::draw_budget(conn, p.org.id, total_fen, now.date())? {
                return Err(budget_exceeded(
                    "the order exceeds what is left of the welfare budget, or the budget period is closed / 超出剩余福利预算或预算期已结束",
                ));
            }
            total_fen
        }
        None if p.org.kind == "union" => {
            return Err(budget_exceeded("the union has no welfare budget set / 工会尚未设置福利预算"));
        }
        None => 0,
    };
    let needs_approval =
        p.org.kind == "union" && budget.as_ref().and_then(|b| b.approval_threshold_fen).is_some_and(|t| total_fen > t);
    let expires_at = now + Duration::hours(APPROVAL_HOURS);
    let mut order = OrderRow {
        id: 0,
        order_no: orders::new_order_no(now),
        buyer_id: p.buyer.id,
        org_id: Some(p.org.id),
        channel: p.org.kind.clone(),
        category: "direct_purchase".to_string(),
        campaign_id: p.campaign_id,
        status: "pending_payment".to_string(),
        total_fen,
        points_used: 0,
        points_value_fen: 0,
        cash_due_fen: total_fen,
        refunded_cash_fen: 0,
        refunded_points: 0,
        address: serde_json::to_string(p.address).map_err(AppError::internal)?,
        // Awaiting approval: the payment-timeout job cancels it when the approval expires.
        payment_deadline: if needs_approval { expires_at } else { now + settings.payment_timeout },
        created_at: now,
        paid_at: None,
    };
    order.id = orders_model::insert_order(conn, &order)?;
    let mut recipient_ids = Vec::with_capacity(p.recipients.len());
    for r in p.recipients {
        recipient_ids.push(model::insert_recipient(conn, order.id, &r.name, &r.mobile, &r.address)?);
    }
    let mut rows: Vec<LineRow> = p
        .lines
        .iter()
        .map(|l| LineRow {
            id: 0,
            order_id: order.id,
            sku_id: l.sku_id,
            producer_id: l.producer_id,
            quantity: l.quantity,
            unit_price_fen: l.unit_price_fen,
            line_total_fen: l.unit_price_fen * l.quantity,
            points: 0,
            points_value_fen: 0,
            cash_fen: l.unit_price_fen * l.quantity,
            refunded_quantity: 0,
        })
        .collect();
    let ids = orders_model::insert_lines(conn, &rows)?;
    for ((row, id), line) in rows.iter_mut().zip(ids).zip(p.lines) {
        row.id = id;
        if let Some(&recipient_id) = line.recipient.and_then(|i| recipient_ids.get(i)) {
            model::set_line_recipient(conn, id, recipient_id)?;
        }
    }
    let movements: Vec<Movement> = taken
        .iter()
        .map(|c| Movement {
            sku_id: c.sku_id,
            delta: c.after - c.before,
            reason: "sale",
            order_id: Some(order.id),
            user_id: p.buyer.id,
            before: c.before,
            after: c.after,
        })
        .collect();
    orders_model::record_movements(conn, &movements, now)?;
    crate::coop::service::alert_low_stock(conn, &taken, now)?;
    model::insert_org_order(
        conn,
        &OrgOrder {
            order_id: order.id,
            org_id: p.org.id,
            placed_by: p.buyer.id,
            delivery_date: p.delivery_date,
            budget_fen: drawn,
            budget_released: false,
            created_at: now,
        },
    )?;
    if needs_approval {
        model::insert_approval(
            conn,
            &Approval {
                order_id: order.id,
                org_id: p.org.id,
                status: "pending".into(),
                placed_by: p.buyer.id,
                decided_by: None,
                reason: String::new(),
                expires_at,
                decided_at: None,
                created_at: now,
            },
        )?;
        orders_model::add_event(conn, order.id, None, "pending_payment", "awaiting approval", now)?;
        for (id, email, name) in model::admins_with_role(conn, p.org.id, "union_admin")? {
            if id == p.buyer.id {
                continue;
            }
            let context = ApprovalMail {
                approver_name: name,
                placer_name: p.buyer.display_name.clone(),
                org_zh: p.org.name_zh.clone(),
                order_no: order.order_no.clone(),
                total: Money::from_fen(total_fen),
                expires_at: expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                approvals_url: format!("{}/union?org={}", settings.public_url, p.org.id),
            };
            mail::enqueue(conn, "order_approval_needed", &email, &context, now)?;
        }
    } else {
        orders_model::add_event(conn, order.id, None, "pending_payment", "placed on account", now)?;
        orders::complete_payment(
            conn,
            &order,
            p.buyer,
            &settings.public_url,
            "paid on the organisation's account",
            now,
        )?;
        order.status = "paid".to_string();
        order.paid_at = Some(now);
    }
    orders::build_view(order, &rows, names, None, |_: &str| String::new())
}

/// From `orders::service::cancel_unpaid`, in its transaction: the budget goes back (once) and
/// a pending approval is closed.
pub fn on_cancel(conn: &mut AnyConnection, order: &OrderRow, now: NaiveDateTime) -> Result<(), AppError> {
    if order.org_id.is_none() {
        return Ok(());
    }
    if let Some(row) = model::org_order(conn, order.id)? {
        if row.budget_fen > 0 && model::mark_budget_released(conn, order.id)? {
            model::give_back_budget(conn, row.org_id, row.budget_fen)?;
        }
    }
    if let Some(a) = model::approval(conn, order.id)? {
        let status = if now >= a.expires_at { "expired" } else { "cancelled" };
        model::close_approval(conn, order.id, status, now)?;
    }
    Ok(())
}

/// A refund of an order paid from the welfare budget gives the refunded amount back to it.
pub fn on_refund(conn: &mut AnyConnection, order: &OrderRow, cash_fen: i64) -> Result<(), AppError> {
    if order.org_id.is_none() || cash_fen == 0 {
        return Ok(());
    }
    if let Some(row) = model::org_order(conn, order.id)? {
        if row.budget_fen > 0 {
            model::give_back_budget(conn, row.org_id, cash_fen.min(row.budget_fen))?;
        }
    }
    Ok(())
}

/// The order awaiting a decision by `user_id`: an admin of the order's union who did not place
/// it. Anyone who is not an admin of that union is told it does not exist.
fn decidable(conn: &mut AnyConnection, user_id: i64, order_no: &str) -> Result<(OrderRow, Approval), AppError> {
    let order = orders_model::order_by_no(conn, order_no)?.ok_or(AppError::NotFound)?;
    let org_id = order.org_id.ok_or(AppError::NotFound)?;
    let org = model::org(conn, org_id)?.ok_or(AppError::NotFound)?;
    if !is_org_admin(conn, user_id, &org)? {
        return Err(AppError::NotFound);
    }
    let approval = model::approval(conn, order.id)?.ok_or_else(|| {
        AppError::conflict("no_approval_pending", "this order does not need approval / 该订单无需审批")
    })?;
    if approval.placed_by == user_id {
        return Err(AppError::Forbidden);
    }
    Ok((order, approval))
}

fn not_pending() -> AppError {
    AppError::conflict("invalid_state", "the approval has already been decided or has expired / 该审批已处理或已过期")
}

/// Locks the order row before the approval row, in the order the payment-timeout job takes
/// them (order, then approval), so a decision racing the expiry cannot deadlock on PostgreSQL.
fn lock_pending(conn: &mut AnyConnection, order: &OrderRow) -> Result<(), AppError> {
    if !orders_model::transition(conn, order.id, &["pending_payment"], "pending_payment")? {
        return Err(not_pending());
    }
    Ok(())
}

/// Approves: the order is paid on account. Race-safe: one decision wins.
pub fn approve(
    conn: &mut AnyConnection,
    user_id: i64,
    order_no: &str,
    public_url: &str,
    now: NaiveDateTime,
) -> Result<OrderRow, AppError> {
    db::write_tx(conn, |conn| {
        let (order, _) = decidable(conn, user_id, order_no)?;
        lock_pending(conn, &order)?;
        if !model::decide(conn, order.id, "approved", user_id, "", now)? {
            return Err(not_pending());
        }
        let buyer = orders::buyer_of(conn, order.buyer_id)?;
        if !orders::complete_payment(conn, &order, &buyer, public_url, "approved", now)? {
            return Err(not_pending());
        }
        Ok(orders_model::order_by_id(conn, order.id)?)
    })
}

/// Rejects with a reason: the order is cancelled, its stock and budget released.
pub fn reject(
    conn: &mut AnyConnection,
    user_id: i64,
    order_no: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<OrderRow, AppError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            "reason_required",
            "give a reason of 1 to 500 characters / 请填写 1 至 500 字的驳回原因",
        ));
    }
    db::write_tx(conn, |conn| {
        let (order, _) = decidable(conn, user_id, order_no)?;
        lock_pending(conn, &order)?;
        if !model::decide(conn, order.id, "rejected", user_id, reason, now)? {
            return Err(not_pending());
        }
        if !orders::cancel_unpaid(conn, &order, &format!("rejected: {reason}"), now)? {
            return Err(not_pending());
        }
        Ok(orders_model::order_by_id(conn, order.id)?)
    })
}
