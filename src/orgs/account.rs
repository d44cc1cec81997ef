//! Orders on an organisation's account (`"account":{"org_id":…}`): who may place them, the
//! budget they draw, approval above the union's threshold, and what cancellation gives back.
//! The order itself is written by the one pipeline (`orders::service::place`); this module
//! builds its draft and reacts to its lifecycle as a hook (`on_order`).
//!
//! Rules:
//! - Only an admin member of the union (role `union_admin`) or canteen (role `canteen_manager`)
//!   buys on its account; channel `union`/`canteen`, category `direct_purchase`, no points.
//! - The order is paid on account: no gateway payment is opened. A union must have a budget
//!   and every order draws it (conditional update: never beyond the total). A canteen is
//!   invoiced monthly; it draws a budget only if one is set for it.
//! - A union order above the approval threshold is `awaiting_approval` with its stock and
//!   budget held, until another admin of the same union approves (then it is paid) or rejects
//!   it, or the approval expires (the payment-timeout job cancels it).

use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde::Serialize;

use super::model::{self, Approval, Org, OrgOrder};
use crate::accounts::model::Role;
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::mail;
use crate::money::Money;
use crate::orders::hooks::OrderEvent;
use crate::orders::model::{self as orders_model, OrderRow};
use crate::orders::service::{
    self as orders, AccountRequest, Address, Buyer, Draft, OrderRequest, OrderView, Prepared, PreparedLine, Settings,
    Settle,
};
use crate::orders::status::{Category, Channel, OrderStatus};

/// How long an order waits for approval before it is cancelled.
pub const APPROVAL_HOURS: i64 = 72;

/// The role an organisation's buyers must hold.
fn buyer_role(kind: &str) -> Option<Role> {
    match kind {
        "union" => Some(Role::UnionAdmin),
        "canteen" => Some(Role::CanteenManager),
        _ => None,
    }
}

/// Whether the user administers this union or canteen (the role and an admin membership).
pub fn is_org_admin(conn: &mut AnyConnection, user_id: i64, org: &Org) -> Result<bool, AppError> {
    let Some(role) = buyer_role(&org.kind) else { return Ok(false) };
    if model::membership(conn, user_id, org.id)? != Some(true) {
        return Ok(false);
    }
    Ok(crate::accounts::model::roles(conn, user_id)?.iter().any(|r| r == role.as_str()))
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

/// `POST /api/v1/orders` and the checkout page: places the order on the account the request
/// names (the buyer's own, or an organisation's), at most once per Idempotency-Key, through
/// the one pipeline. (It lives here because only this module knows both kinds of account.)
pub fn place_request(
    conn: &mut AnyConnection,
    s: &Settings,
    buyer: &Buyer,
    request: &OrderRequest,
    key: Option<(&str, &str)>,
) -> Result<orders::Outcome, AppError> {
    let now = chrono::Utc::now().naive_utc();
    orders::place_once(conn, buyer.id, request, key, now, |conn, prepared, record| match request.account()? {
        orders::Account::Personal => orders::write_personal(conn, s, buyer, request, prepared, record, now),
        orders::Account::Org(account) => write_order(conn, s, buyer, request, &account, prepared, now),
    })
}

/// `POST /api/v1/orders` with `"account":{"org_id":…}`, inside the caller's transaction.
pub fn write_order(
    conn: &mut AnyConnection,
    s: &Settings,
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
    let placement = Placement {
        org: &org,
        buyer,
        address: &request.address,
        lines: prepared.lines.clone(),
        recipients: Vec::new(),
        campaign_id: prepared.campaign_id,
        delivery_date,
    };
    place(conn, s, placement, now)?.view(s)
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

/// An order on account as the organisation's features build it: priced lines (wholly cash),
/// and for a welfare distribution the people they ship to.
pub struct Placement<'a> {
    pub org: &'a Org,
    pub buyer: &'a Buyer,
    pub address: &'a Address,
    pub lines: Vec<PreparedLine>,
    /// (name, mobile, address)
    pub recipients: Vec<(String, String, String)>,
    pub campaign_id: i64,
    pub delivery_date: Option<NaiveDate>,
}

fn budget_exceeded(message: &str) -> AppError {
    AppError::conflict("budget_exceeded", message.to_string())
}

/// Places an order on account through the pipeline, inside the caller's transaction: above
/// the union's threshold it awaits approval, otherwise it is paid on account at once. The
/// budget is drawn by `on_order` when the pipeline announces the order.
pub fn place(
    conn: &mut AnyConnection,
    s: &Settings,
    p: Placement,
    now: NaiveDateTime,
) -> Result<orders::Placed, AppError> {
    let total_fen: i64 = p.lines.iter().map(|l| l.priced.line_total_fen).sum();
    let budget = model::budget(conn, p.org.id)?;
    if budget.is_none() && p.org.kind == "union" {
        return Err(budget_exceeded("the union has no welfare budget set / 工会尚未设置福利预算"));
    }
    let needs_approval =
        p.org.kind == "union" && budget.as_ref().and_then(|b| b.approval_threshold_fen).is_some_and(|t| total_fen > t);
    let draft = Draft {
        buyer: p.buyer,
        org_id: Some(p.org.id),
        channel: if p.org.kind == "union" { Channel::Union } else { Channel::Canteen },
        category: Category::DirectPurchase,
        campaign_id: p.campaign_id,
        address: p.address,
        lines: p.lines,
        recipients: p.recipients,
        points: 0,
        settle: if needs_approval {
            Settle::AwaitApproval { until: now + Duration::hours(APPROVAL_HOURS) }
        } else {
            Settle::OnAccount
        },
        delivery_date: p.delivery_date,
        record: None,
        reserved: false,
        ends_transaction: false,
    };
    orders::place(conn, s, draft, now)
}

#[derive(Serialize)]
struct ApprovalMail {
    approver_name: String,
    placer_name: String,
    org_zh: String,
    order_no: String,
    total: Money,
    /// UTC; the template prints it in the store's zone with `{{time}}`.
    expires_at: NaiveDateTime,
    approvals_url: String,
}

/// The organisations' hook on the order lifecycle.
pub fn on_order(
    conn: &mut AnyConnection,
    s: &Settings,
    event: &OrderEvent,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let order = event.order();
    let Some(org_id) = order.org_id else { return Ok(()) };
    match event {
        OrderEvent::Placed { delivery_date, .. } => on_placed(conn, s, order, org_id, *delivery_date, now),
        OrderEvent::Cancelled { .. } => on_cancel(conn, order, now),
        OrderEvent::Refunded { refund, .. } => on_refund(conn, order, refund.cash_fen),
        _ => Ok(()),
    }
}

/// A new order on account: the budget drawn (never beyond what is left), the order's
/// organisation row, and when it awaits approval, the approval and a mail to the other admins.
fn on_placed(
    conn: &mut AnyConnection,
    s: &Settings,
    order: &OrderRow,
    org_id: i64,
    delivery_date: Option<NaiveDate>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let org = model::org(conn, org_id)?.ok_or(AppError::NotFound)?;
    let drawn = match model::budget(conn, org_id)? {
        Some(_) if !model::draw_budget(conn, org_id, order.total_fen, now.date())? => {
            return Err(budget_exceeded(
                "the order exceeds what is left of the welfare budget, or the budget period is closed / 超出剩余福利预算或预算期已结束",
            ));
        }
        Some(_) => order.total_fen,
        None => 0,
    };
    model::insert_org_order(
        conn,
        &OrgOrder {
            order_id: order.id,
            org_id,
            placed_by: order.buyer_id,
            delivery_date,
            budget_fen: drawn,
            budget_released: false,
            created_at: now,
        },
    )?;
    if order.status != OrderStatus::AwaitingApproval.as_str() {
        return Ok(());
    }
    let expires_at = order.payment_deadline;
    model::insert_approval(
        conn,
        &Approval {
            order_id: order.id,
            org_id,
            status: "pending".into(),
            placed_by: order.buyer_id,
            decided_by: None,
            reason: String::new(),
            expires_at,
            decided_at: None,
            created_at: now,
        },
    )?;
    let placer = crate::accounts::model::find(conn, order.buyer_id)?.map(|u| u.display_name).unwrap_or_default();
    for (id, email, name) in model::admins_with_role(conn, org_id, Role::UnionAdmin)? {
        if id == order.buyer_id {
            continue;
        }
        let context = ApprovalMail {
            approver_name: name,
            placer_name: placer.clone(),
            org_zh: org.name_zh.clone(),
            order_no: order.order_no.clone(),
            total: Money::from_fen(order.total_fen),
            expires_at,
            approvals_url: format!("{}/union?org={}", s.public_url, org_id),
        };
        mail::enqueue(conn, "order_approval_needed", &email, &context, now)?;
    }
    Ok(())
}

/// A cancelled order on account: the budget goes back (once) and a pending approval is closed.
fn on_cancel(conn: &mut AnyConnection, order: &OrderRow, now: NaiveDateTime) -> Result<(), AppError> {
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
fn on_refund(conn: &mut AnyConnection, order: &OrderRow, cash_fen: i64) -> Result<(), AppError> {
    if cash_fen == 0 {
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

/// Approves: the order is paid on account. Race-safe: one decision wins. Locks in the lock
/// order: the ledger head (paying credits it), the order, then the approval.
pub fn approve(
    conn: &mut AnyConnection,
    s: &Settings,
    user_id: i64,
    order_no: &str,
    now: NaiveDateTime,
) -> Result<OrderRow, AppError> {
    let (order, _) = decidable(conn, user_id, order_no)?;
    db::write_tx(conn, |conn| {
        db::lock_ledger_head(conn)?;
        orders_model::lock_order(conn, order.id)?;
        if !model::decide(conn, order.id, "approved", user_id, "", now)? {
            return Err(not_pending());
        }
        let fresh = orders_model::order_by_id(conn, order.id)?;
        if !orders::complete_payment(conn, s, &fresh, "approved", now)? {
            return Err(not_pending());
        }
        Ok(orders_model::order_by_id(conn, order.id)?)
    })
}

/// Rejects with a reason: the order is cancelled, its stock and budget released.
pub fn reject(
    conn: &mut AnyConnection,
    s: &Settings,
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
    let (order, _) = decidable(conn, user_id, order_no)?;
    db::write_tx(conn, |conn| {
        orders_model::lock_order(conn, order.id)?;
        if !model::decide(conn, order.id, "rejected", user_id, reason, now)? {
            return Err(not_pending());
        }
        if !orders::cancel_unpaid(conn, s, &order, &format!("rejected: {reason}"), now)? {
            return Err(not_pending());
        }
        Ok(orders_model::order_by_id(conn, order.id)?)
    })
}
