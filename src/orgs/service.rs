//! Organisation rules: the unified social credit code (统一社会信用代码, GB 32100-2015), and
//! what an organisation shows to whom.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::account;
use super::model;
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::money::Money;
use crate::orders::service::{self as orders, OrderView};

const USCC_CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// Checks the 18-character code and its check character; returns it upper-cased.
pub fn validate_uscc(code: &str) -> Result<String, String> {
    let code = code.trim().to_ascii_uppercase();
    if code.chars().count() != 18 {
        return Err(format!("'{code}' must have 18 characters / 统一社会信用代码须为 18 位"));
    }
    let mut values = Vec::with_capacity(18);
    for c in code.chars() {
        let v = USCC_CHARSET
            .find(c)
            .ok_or_else(|| format!("'{c}' may not appear in a unified social credit code / 含非法字符"))?;
        values.push(v as u32);
    }
    let sum: u32 = values.iter().zip(USCC_WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    if values[17] != check {
        let expected = USCC_CHARSET.chars().nth(check as usize).unwrap_or('?');
        return Err(format!(
            "'{code}' has a wrong check character: expected '{expected}' / 校验位错误，应为 {expected}"
        ));
    }
    Ok(code)
}

pub const KINDS: [&str; 3] = ["company", "union", "canteen"];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetView {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    #[schema(value_type = String)]
    pub budget_total: Money,
    #[schema(value_type = String)]
    pub budget_used: Money,
    #[schema(value_type = String)]
    pub budget_left: Money,
    /// Orders above this need another admin's approval (none: never).
    #[schema(value_type = Option<String>)]
    pub approval_threshold: Option<Money>,
    /// Used, in whole percent of the total (for the bar).
    pub used_pct: i64,
}

/// `GET /api/v1/orgs/{id}`: members see the organisation; its admins also its budget.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgView {
    pub id: i64,
    pub slug: String,
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    pub invoice_title: String,
    pub uscc: String,
    pub address: String,
    pub is_admin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub budget_total: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub budget_used: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub approval_threshold: Option<Money>,
    /// Admins only (null for other members).
    pub budget: Option<BudgetView>,
}

pub fn budget_view(b: &model::Budget) -> BudgetView {
    let used_pct =
        if b.budget_total_fen > 0 { (b.budget_used_fen * 100 / b.budget_total_fen).clamp(0, 100) } else { 0 };
    BudgetView {
        period_start: b.period_start,
        period_end: b.period_end,
        budget_total: Money::from_fen(b.budget_total_fen),
        budget_used: Money::from_fen(b.budget_used_fen),
        budget_left: Money::from_fen(b.budget_total_fen - b.budget_used_fen),
        approval_threshold: b.approval_threshold_fen.map(Money::from_fen),
        used_pct,
    }
}

/// The organisation as `user_id` may see it; 404 for non-members.
pub fn view(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<OrgView, AppError> {
    let org = model::org(conn, org_id)?.ok_or(AppError::NotFound)?;
    if model::membership(conn, user_id, org_id)?.is_none() {
        return Err(AppError::NotFound);
    }
    let is_admin = account::is_org_admin(conn, user_id, &org)?;
    let budget = if is_admin { model::budget(conn, org_id)?.map(|b| budget_view(&b)) } else { None };
    Ok(OrgView {
        id: org.id,
        slug: org.slug,
        kind: org.kind,
        name_zh: org.name_zh,
        name_en: org.name_en,
        invoice_title: org.invoice_title,
        uscc: org.uscc,
        address: org.address,
        is_admin,
        budget_total: budget.as_ref().map(|b| b.budget_total),
        budget_used: budget.as_ref().map(|b| b.budget_used),
        approval_threshold: budget.as_ref().and_then(|b| b.approval_threshold),
        budget,
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgOrderView {
    #[serde(flatten)]
    pub order: OrderView,
    pub delivery_date: Option<NaiveDate>,
    /// pending, approved, rejected, expired, cancelled; none when no approval was needed.
    pub approval: Option<String>,
    pub recipients: i64,
}

/// An organisation's orders, for its admins only (another union's admin gets 403).
pub fn orders_of(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<Vec<OrgOrderView>, AppError> {
    account::require_admin(conn, user_id, org_id)?;
    model::orders_of_org(conn, org_id, 100)?
        .into_iter()
        .map(|(order, delivery_date, approval)| {
            let recipients = model::recipient_count(conn, order.id)?;
            Ok(OrgOrderView {
                order: orders::view_of(conn, order, |_: &str| String::new())?,
                delivery_date,
                approval,
                recipients,
            })
        })
        .collect()
}

/// One of the organisation's orders; 404 unless it is this organisation's.
pub fn order_of(conn: &mut AnyConnection, user_id: i64, org_id: i64, order_no: &str) -> Result<OrgOrderView, AppError> {
    account::require_admin(conn, user_id, org_id)?;
    let order = crate::orders::model::order_by_no(conn, order_no)?
        .filter(|o| o.org_id == Some(org_id))
        .ok_or(AppError::NotFound)?;
    let extra = model::org_order(conn, order.id)?;
    let approval = model::approval(conn, order.id)?.map(|a| a.status);
    let recipients = model::recipient_count(conn, order.id)?;
    Ok(OrgOrderView {
        order: orders::view_of(conn, order, |_: &str| String::new())?,
        delivery_date: extra.and_then(|e| e.delivery_date),
        approval,
        recipients,
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingApproval {
    pub order_no: String,
    #[schema(value_type = String)]
    pub total: Money,
    pub placed_by: i64,
    pub placed_by_me: bool,
    pub expires_at: chrono::NaiveDateTime,
    pub created_at: chrono::NaiveDateTime,
}

pub fn pending_approvals(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
) -> Result<Vec<PendingApproval>, AppError> {
    account::require_admin(conn, user_id, org_id)?;
    Ok(model::pending_approvals(conn, org_id)?
        .into_iter()
        .map(|(o, a)| PendingApproval {
            order_no: o.order_no,
            total: Money::from_fen(o.total_fen),
            placed_by: a.placed_by,
            placed_by_me: a.placed_by == user_id,
            expires_at: a.expires_at,
            created_at: a.created_at,
        })
        .collect())
}

#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetRequest {
    /// Yuan, as a string: "200000.00".
    #[schema(value_type = String)]
    pub budget_total: Money,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// Orders above this need a second admin's approval; leave out for none.
    #[schema(value_type = Option<String>)]
    pub approval_threshold: Option<Money>,
}

/// Sets the welfare budget of a union or canteen: by a platform admin or an admin member of
/// its company. What was already used stays; the total may not go below it.
pub fn set_budget(
    conn: &mut AnyConnection,
    user_id: i64,
    is_platform_admin: bool,
    org_id: i64,
    r: &BudgetRequest,
) -> Result<BudgetView, AppError> {
    let org = model::org(conn, org_id)?.ok_or(AppError::NotFound)?;
    let company_admin = match org.parent_id {
        Some(parent) => model::membership(conn, user_id, parent)? == Some(true),
        None => false,
    };
    if !is_platform_admin && !company_admin {
        return Err(AppError::Forbidden);
    }
    if org.kind == "company" {
        return Err(AppError::unprocessable(
            "account_not_supported",
            "budgets are for unions and canteens / 预算仅适用于工会和食堂",
        ));
    }
    let total = r.budget_total.fen();
    let threshold = r.approval_threshold.map(|m| m.fen());
    if total < 0 || threshold.is_some_and(|t| t < 0) || r.period_end < r.period_start {
        return Err(AppError::bad_request(
            "invalid_budget",
            "amounts cannot be negative and the period must end after it starts / 金额不能为负，预算期须先始后终",
        ));
    }
    crate::db::write_tx(conn, |conn| {
        let used = model::budget(conn, org_id)?.map_or(0, |b| b.budget_used_fen);
        if total < used {
            return Err(AppError::conflict(
                "budget_below_used",
                format!("{} is already used / 已使用 {}", Money::from_fen(used), Money::from_fen(used)),
            ));
        }
        model::set_budget(conn, org_id, (r.period_start, r.period_end), total, threshold)?;
        let b = model::budget(conn, org_id)?.ok_or(AppError::NotFound)?;
        Ok(budget_view(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_published_example_and_refuses_bad_check() {
        assert_eq!(validate_uscc("91350100M000100Y43"), Ok("91350100M000100Y43".to_string()));
        assert_eq!(validate_uscc(" 91350100m000100y43 ").map(|c| c.len()), Ok(18));
        assert!(validate_uscc("91350100M000100Y44").is_err());
        assert!(validate_uscc("91350100M000100Y4").is_err());
        assert!(validate_uscc("91350100M000100YI3").is_err());
    }
}
