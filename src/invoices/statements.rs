//! Reconciliation (对账): an organisation's admin confirms a month's statement, or disputes
//! lines of it (orders on that statement) with a note; the cooperatives whose goods are in a
//! disputed order see the dispute. Once confirmed, a month is settled (409 `already_confirmed`).

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, ReviewRow};
use super::service::parse_month;
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::orders::model as orders_model;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lines": ["AM20261126ABCDEFGHJKLM"], "note": "11 月 12 日送达的藜麦少了 2 袋"}))]
pub struct DisputeRequest {
    /// Order numbers on the month's statement.
    pub lines: Vec<String>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewView {
    pub org_id: i64,
    pub month: String,
    /// confirmed or disputed.
    pub status: String,
    pub note: String,
    /// The disputed orders (empty when confirmed).
    pub lines: Vec<String>,
    pub decided_by: i64,
    pub created_at: NaiveDateTime,
}

fn review_view(conn: &mut AnyConnection, r: ReviewRow) -> Result<ReviewView, AppError> {
    let mut lines = Vec::new();
    for order_id in model::dispute_orders(conn, r.id)? {
        lines.push(orders_model::order_by_id(conn, order_id)?.order_no);
    }
    Ok(ReviewView {
        org_id: r.org_id,
        month: r.month,
        status: r.status,
        note: r.note,
        lines,
        decided_by: r.decided_by,
        created_at: r.created_at,
    })
}

fn next_month(d: chrono::NaiveDate) -> chrono::NaiveDate {
    d.checked_add_months(chrono::Months::new(1)).unwrap_or(d)
}

/// Confirms (`dispute` = None) or disputes the month's statement.
pub fn review(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    month: &str,
    dispute: Option<&DisputeRequest>,
    now: NaiveDateTime,
) -> Result<ReviewView, AppError> {
    let from = parse_month(month)?;
    crate::orgs::account::require_admin(conn, user_id, org_id)?;
    let month = from.format("%Y-%m").to_string();
    if let Some(d) = dispute {
        let note = d.note.trim();
        if note.is_empty() || note.chars().count() > 500 {
            return Err(AppError::unprocessable(
                "note_required",
                "say what is wrong in 1-500 characters / 请填写 1-500 字的异议说明",
            ));
        }
        if d.lines.is_empty() || d.lines.len() > 200 {
            return Err(AppError::unprocessable(
                "invalid_lines",
                "name 1-200 orders of the statement / 请选择 1-200 个对账单中的订单",
            ));
        }
    }
    let id = crate::db::write_tx(conn, |conn| {
        super::model::lock_org(conn, org_id)?;
        if model::latest_review(conn, org_id, &month)?.is_some_and(|r| r.status == "confirmed") {
            return Err(AppError::conflict(
                "already_confirmed",
                "this month's statement is confirmed / 该月对账单已确认",
            ));
        }
        let orders = crate::orgs::model::statement_orders(conn, org_id, from, next_month(from))?;
        if orders.is_empty() {
            return Err(AppError::conflict("empty_statement", "the month has no orders / 该月没有订单"));
        }
        match dispute {
            None => Ok(model::insert_review(conn, org_id, &month, "confirmed", "", user_id, now)?),
            Some(d) => {
                let mut ids = Vec::with_capacity(d.lines.len());
                for no in &d.lines {
                    let found = orders.iter().find(|(o, _)| o.order_no == no.trim()).map(|(o, _)| o.id);
                    let id = found.ok_or_else(|| {
                        AppError::unprocessable(
                            "invalid_lines",
                            format!("{no} is not on the {month} statement / 订单 {no} 不在 {month} 对账单中"),
                        )
                    })?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                let review = model::insert_review(conn, org_id, &month, "disputed", d.note.trim(), user_id, now)?;
                for id in ids {
                    model::insert_dispute_line(conn, review, id)?;
                }
                Ok(review)
            }
        }
    })?;
    let r = model::review(conn, id)?.ok_or(AppError::NotFound)?;
    review_view(conn, r)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoopDispute {
    pub org_id: i64,
    pub org_zh: String,
    pub month: String,
    pub note: String,
    /// The disputed orders that hold this cooperative's goods.
    pub lines: Vec<String>,
    pub created_at: NaiveDateTime,
}

/// Disputes that name orders holding the cooperative's goods (only those orders are shown).
pub fn coop_disputes(conn: &mut AnyConnection, producers: &[i64]) -> Result<Vec<CoopDispute>, AppError> {
    let mut out: Vec<(i64, CoopDispute)> = Vec::new();
    for (review_id, order_id) in model::disputes_for_producers(conn, producers)? {
        let order_no = orders_model::order_by_id(conn, order_id)?.order_no;
        if let Some((_, d)) = out.iter_mut().find(|(id, _)| *id == review_id) {
            d.lines.push(order_no);
            continue;
        }
        let r = model::review(conn, review_id)?.ok_or(AppError::NotFound)?;
        let org_zh = crate::orgs::model::org(conn, r.org_id)?.map(|o| o.name_zh).unwrap_or_default();
        out.push((
            review_id,
            CoopDispute {
                org_id: r.org_id,
                org_zh,
                month: r.month,
                note: r.note,
                lines: vec![order_no],
                created_at: r.created_at,
            },
        ));
    }
    Ok(out.into_iter().map(|(_, d)| d).collect())
}

/// The organisation's statement of the month (`orgs::canteen::statement`) with, per line, its
/// invoices and invoice state and whether the latest review disputes it, and the month's
/// reconciliation state. Every reader of a statement (API, page, CSV, XLSX) goes through this.
pub fn statement(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    month: chrono::NaiveDate,
) -> Result<crate::orgs::canteen::Statement, AppError> {
    let mut s = crate::orgs::canteen::statement(conn, user_id, org_id, month)?;
    annotate(conn, &mut s)?;
    Ok(s)
}

/// A line's invoice state from its cooperative parts: (request status or none, anything left
/// to invoice) per part.
pub fn line_state(parts: &[(Option<String>, bool)]) -> &'static str {
    let requested: Vec<&str> = parts.iter().filter_map(|p| p.0.as_deref()).collect();
    let open = parts.iter().any(|p| p.0.is_none() && p.1);
    if requested.is_empty() {
        "not_requested"
    } else if requested.contains(&"red_needed") {
        "red_needed"
    } else if open {
        "partly_requested"
    } else if requested.contains(&"requested") {
        "requested"
    } else {
        "issued"
    }
}

fn annotate(conn: &mut AnyConnection, s: &mut crate::orgs::canteen::Statement) -> Result<(), AppError> {
    use crate::orgs::canteen::StatementInvoice;
    let review = model::latest_review(conn, s.org_id, &s.month)?;
    let disputed = match &review {
        Some(r) if r.status == "disputed" => model::dispute_orders(conn, r.id)?,
        _ => Vec::new(),
    };
    for line in &mut s.orders {
        let Some(order_id) = line.order_id else { continue };
        line.disputed = disputed.contains(&order_id);
        let mut parts = Vec::new();
        for producer_id in model::order_producers(conn, order_id)? {
            let Some(request_id) = model::part_request(conn, order_id, producer_id)? else {
                parts.push((None, super::service::net_fen(conn, &[(order_id, producer_id)])? > 0));
                continue;
            };
            let request = model::request(conn, request_id)?.ok_or(AppError::NotFound)?;
            let (producer_zh, producer_en) = model::producer_names(conn, producer_id)?.unwrap_or_default();
            for i in model::invoices_of(conn, request_id)? {
                line.invoice_numbers.push(i.number.clone());
                line.invoices.push(StatementInvoice {
                    file_url: format!("/api/v1/invoices/{}/file", i.id),
                    id: i.id,
                    kind: i.kind,
                    number: i.number,
                    issued_on: i.issued_on,
                    amount: crate::money::Money::from_fen(i.amount_fen),
                    producer_zh: producer_zh.clone(),
                    producer_en: producer_en.clone(),
                });
            }
            parts.push((Some(request.status), true));
        }
        line.invoice_state = line_state(&parts).to_string();
    }
    if let Some(r) = review {
        s.review_note = if r.status == "disputed" { r.note } else { String::new() };
        s.review_status = Some(r.status);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::line_state;

    #[test]
    fn a_line_state_folds_its_parts() {
        let req = |s: &str| (Some(s.to_string()), true);
        assert_eq!(line_state(&[]), "not_requested");
        assert_eq!(line_state(&[(None, true), (None, false)]), "not_requested");
        assert_eq!(line_state(&[req("issued"), (None, true)]), "partly_requested");
        assert_eq!(line_state(&[req("issued"), (None, false)]), "issued");
        assert_eq!(line_state(&[req("issued"), req("requested")]), "requested");
        assert_eq!(line_state(&[req("issued"), req("red_needed"), (None, true)]), "red_needed");
    }
}
