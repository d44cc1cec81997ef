//! The aid-procurement report: an organisation's baselines and target shares for a year, and
//! per organisation and month its direct purchases (直接采购: its own orders on account) and
//! helped sales (帮助销售: its employees' personal orders credited to it), read from the credit
//! ledger (sales less reversals, as every ledger report), against the targets. A company sees
//! its union and canteens rolled up.
//!
//! What counts toward which target: the canteen target (canteen food procurement) takes the
//! canteens' figures and the organisation's own (staff purchases count toward their unit); the
//! welfare target (union welfare budget) takes the unions'. For a union or canteen reporting on
//! itself, its own figures go to its own kind's target.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, TargetsRow};
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::money::Money;

pub const DEFAULT_TARGET_PCT: i32 = 10;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"canteen_food_budget": "1200000.00", "union_welfare_budget": "800000.00",
    "canteen_target_pct": 10, "welfare_target_pct": 30}))]
pub struct TargetsRequest {
    /// The year's canteen food procurement budget (yuan).
    #[schema(value_type = String)]
    pub canteen_food_budget: Money,
    /// The year's union welfare budget (yuan).
    #[schema(value_type = String)]
    pub union_welfare_budget: Money,
    /// Whole percent of the canteen budget to reserve for aid produce (default 10).
    pub canteen_target_pct: Option<i32>,
    /// Whole percent of the welfare budget (e.g. 30 for Beijing's state-owned enterprises).
    pub welfare_target_pct: Option<i32>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetsView {
    pub org_id: i64,
    pub year: i32,
    #[schema(value_type = String)]
    pub canteen_food_budget: Money,
    #[schema(value_type = String)]
    pub union_welfare_budget: Money,
    pub canteen_target_pct: i32,
    pub welfare_target_pct: i32,
    /// False while the organisation has not set them (the defaults are shown).
    pub set: bool,
}

fn view(org_id: i64, year: i32, row: Option<TargetsRow>) -> TargetsView {
    match row {
        Some(t) => TargetsView {
            org_id,
            year,
            canteen_food_budget: Money::from_fen(t.canteen_budget_fen),
            union_welfare_budget: Money::from_fen(t.welfare_budget_fen),
            canteen_target_pct: t.canteen_target_pct,
            welfare_target_pct: t.welfare_target_pct,
            set: true,
        },
        None => TargetsView {
            org_id,
            year,
            canteen_food_budget: Money::from_fen(0),
            union_welfare_budget: Money::from_fen(0),
            canteen_target_pct: DEFAULT_TARGET_PCT,
            welfare_target_pct: DEFAULT_TARGET_PCT,
            set: false,
        },
    }
}

pub fn check_year(year: i32) -> Result<i32, AppError> {
    if (2000..=2100).contains(&year) {
        Ok(year)
    } else {
        Err(AppError::bad_request("invalid_year", "the year must be 2000-2100 / 年份须在 2000-2100 之间"))
    }
}

/// The organisation's admins (other members 403, everyone else 404).
fn require_admin(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<crate::orgs::model::Org, AppError> {
    let org = crate::orgs::model::org(conn, org_id)?.ok_or(AppError::NotFound)?;
    match crate::orgs::model::membership(conn, user_id, org_id)? {
        Some(true) => Ok(org),
        Some(false) => Err(AppError::Forbidden),
        None => Err(AppError::NotFound),
    }
}

pub fn targets(conn: &mut AnyConnection, user_id: i64, org_id: i64, year: i32) -> Result<TargetsView, AppError> {
    let year = check_year(year)?;
    require_admin(conn, user_id, org_id)?;
    Ok(view(org_id, year, model::targets(conn, org_id, year)?))
}

pub fn set_targets(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    year: i32,
    r: &TargetsRequest,
    now: NaiveDateTime,
) -> Result<TargetsView, AppError> {
    let year = check_year(year)?;
    require_admin(conn, user_id, org_id)?;
    let canteen_pct = r.canteen_target_pct.unwrap_or(DEFAULT_TARGET_PCT);
    let welfare_pct = r.welfare_target_pct.unwrap_or(DEFAULT_TARGET_PCT);
    if !(0..=100).contains(&canteen_pct) || !(0..=100).contains(&welfare_pct) {
        return Err(AppError::unprocessable("invalid_target", "a target share is 0-100 percent / 目标比例须为 0-100"));
    }
    let row = TargetsRow {
        org_id,
        year,
        canteen_budget_fen: r.canteen_food_budget.fen(),
        welfare_budget_fen: r.union_welfare_budget.fen(),
        canteen_target_pct: canteen_pct,
        welfare_target_pct: welfare_pct,
        updated_by: user_id,
        updated_at: now,
    };
    crate::db::write_tx(conn, |conn| {
        model::lock_org(conn, org_id)?;
        model::set_targets(conn, &row)?;
        Ok(view(org_id, year, model::targets(conn, org_id, year)?))
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MonthFigures {
    /// `YYYY-MM`.
    pub month: String,
    #[schema(value_type = String)]
    pub direct_purchase: Money,
    #[schema(value_type = String)]
    pub helped_sales: Money,
    #[schema(value_type = String)]
    pub total: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgFigures {
    pub org_id: i64,
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    pub months: Vec<MonthFigures>,
    #[schema(value_type = String)]
    pub direct_purchase: Money,
    #[schema(value_type = String)]
    pub helped_sales: Money,
    #[schema(value_type = String)]
    pub total: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetProgress {
    #[schema(value_type = String)]
    pub budget: Money,
    pub target_pct: i32,
    /// budget × target share.
    #[schema(value_type = String)]
    pub target_amount: Money,
    /// What counts toward it (see the report's description).
    #[schema(value_type = String)]
    pub counted: Money,
    /// counted ÷ budget, in percent with two decimals ("12.50"); "0.00" without a budget.
    pub share_pct: String,
    /// counted ÷ target amount, whole percent capped at 100 (the progress bar).
    pub progress_pct: i64,
    pub reached: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProcurementReport {
    pub org_id: i64,
    pub year: i32,
    pub targets: TargetsView,
    /// The organisation first, then (for a company) its union and canteens.
    pub orgs: Vec<OrgFigures>,
    #[schema(value_type = String)]
    pub direct_purchase: Money,
    #[schema(value_type = String)]
    pub helped_sales: Money,
    #[schema(value_type = String)]
    pub total: Money,
    pub canteen: TargetProgress,
    pub welfare: TargetProgress,
}

fn progress(budget_fen: i64, pct: i32, counted_fen: i64) -> TargetProgress {
    let target = Money::round(Decimal::from(budget_fen) * Decimal::from(pct) / Decimal::from(10_000));
    let target_fen = target.fen();
    let share = if budget_fen > 0 {
        (Decimal::from(counted_fen) * Decimal::from(100) / Decimal::from(budget_fen)).round_dp(2)
    } else {
        Decimal::ZERO
    };
    let progress_pct = if target_fen > 0 { (counted_fen * 100 / target_fen).clamp(0, 100) } else { 0 };
    TargetProgress {
        budget: Money::from_fen(budget_fen),
        target_pct: pct,
        target_amount: target,
        counted: Money::from_fen(counted_fen),
        share_pct: format!("{share:.2}"),
        progress_pct,
        reached: target_fen > 0 && counted_fen >= target_fen,
    }
}

pub fn report(conn: &mut AnyConnection, user_id: i64, org_id: i64, year: i32) -> Result<ProcurementReport, AppError> {
    let year = check_year(year)?;
    let org = require_admin(conn, user_id, org_id)?;
    let targets = view(org_id, year, model::targets(conn, org_id, year)?);
    let mut members: Vec<(i64, String)> = vec![(org.id, org.kind.clone())];
    members.extend(model::children(conn, org.id)?);
    let ids: Vec<i64> = members.iter().map(|m| m.0).collect();
    let from = NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(|| AppError::bad_request("invalid_year", "year"))?;
    let until = NaiveDate::from_ymd_opt(year + 1, 1, 1).ok_or_else(|| AppError::bad_request("invalid_year", "year"))?;
    let sums = crate::credits::model::sums_between(
        conn,
        from.and_time(chrono::NaiveTime::MIN),
        until.and_time(chrono::NaiveTime::MIN),
    )?;
    // [org index][month] → (direct, helped)
    let mut cells = vec![[(0i64, 0i64); 12]; members.len()];
    for s in sums {
        let Some(i) = s.org_id.and_then(|o| ids.iter().position(|x| *x == o)) else { continue };
        let m = s.day.month0() as usize;
        if s.category == "direct_purchase" {
            cells[i][m].0 += s.fen;
        } else {
            cells[i][m].1 += s.fen;
        }
    }
    let names = crate::credits::model::org_names(conn, &ids)?;
    let mut orgs = Vec::with_capacity(members.len());
    let (mut canteen_fen, mut welfare_fen) = (0, 0);
    for (i, (id, kind)) in members.iter().enumerate() {
        let (name_zh, name_en) =
            names.iter().find(|n| n.0 == *id).map(|n| (n.1.clone(), n.2.clone())).unwrap_or_default();
        let months: Vec<MonthFigures> = (0..12)
            .map(|m| MonthFigures {
                month: format!("{year:04}-{:02}", m + 1),
                direct_purchase: Money::from_fen(cells[i][m].0),
                helped_sales: Money::from_fen(cells[i][m].1),
                total: Money::from_fen(cells[i][m].0 + cells[i][m].1),
            })
            .collect();
        let direct: i64 = cells[i].iter().map(|c| c.0).sum();
        let helped: i64 = cells[i].iter().map(|c| c.1).sum();
        if kind == "union" {
            welfare_fen += direct + helped;
        } else {
            canteen_fen += direct + helped;
        }
        orgs.push(OrgFigures {
            org_id: *id,
            kind: kind.clone(),
            name_zh,
            name_en,
            months,
            direct_purchase: Money::from_fen(direct),
            helped_sales: Money::from_fen(helped),
            total: Money::from_fen(direct + helped),
        });
    }
    let direct: i64 = orgs.iter().map(|o| o.direct_purchase.fen()).sum();
    let helped: i64 = orgs.iter().map(|o| o.helped_sales.fen()).sum();
    Ok(ProcurementReport {
        org_id,
        year,
        canteen: progress(targets.canteen_food_budget.fen(), targets.canteen_target_pct, canteen_fen),
        welfare: progress(targets.union_welfare_budget.fen(), targets.welfare_target_pct, welfare_fen),
        targets,
        orgs,
        direct_purchase: Money::from_fen(direct),
        helped_sales: Money::from_fen(helped),
        total: Money::from_fen(direct + helped),
    })
}

/// The report as a sheet (amounts as numbers to the fen, so the sheet can add them up).
pub fn report_xlsx(r: &ProcurementReport) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Format, Workbook};
    let e = AppError::internal;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let bold = Format::new().set_bold();
    let amount = Format::new().set_num_format("0.00");
    let yuan = |m: &Money| m.fen() as f64 / 100.0;
    let title = r.orgs.first().map(|o| o.name_zh.clone()).unwrap_or_default();
    sheet
        .write_string_with_format(0, 0, format!("{title} {} 年消费帮扶采购统计 aid procurement", r.year), &bold)
        .map_err(e)?;
    let header = ["单位 unit", "月份 month", "直接采购 direct purchase", "帮助销售 helped sales", "合计 total"];
    for (c, h) in header.iter().enumerate() {
        sheet.write_string_with_format(2, c as u16, *h, &bold).map_err(e)?;
    }
    let mut row = 3u32;
    for o in &r.orgs {
        for m in &o.months {
            sheet.write_string(row, 0, &o.name_zh).map_err(e)?;
            sheet.write_string(row, 1, &m.month).map_err(e)?;
            sheet.write_number_with_format(row, 2, yuan(&m.direct_purchase), &amount).map_err(e)?;
            sheet.write_number_with_format(row, 3, yuan(&m.helped_sales), &amount).map_err(e)?;
            sheet.write_number_with_format(row, 4, yuan(&m.total), &amount).map_err(e)?;
            row += 1;
        }
    }
    sheet.write_string_with_format(row, 0, "合计 total", &bold).map_err(e)?;
    sheet.write_number_with_format(row, 2, yuan(&r.direct_purchase), &amount).map_err(e)?;
    sheet.write_number_with_format(row, 3, yuan(&r.helped_sales), &amount).map_err(e)?;
    sheet.write_number_with_format(row, 4, yuan(&r.total), &amount).map_err(e)?;
    row += 2;
    let head = ["目标 target", "预算 budget", "比例 share %", "目标金额 target", "已完成 counted", "完成率 reached %"];
    for (c, h) in head.iter().enumerate() {
        sheet.write_string_with_format(row, c as u16, *h, &bold).map_err(e)?;
    }
    for (name, t) in [("食堂食材采购 canteen food", &r.canteen), ("工会福利 union welfare", &r.welfare)] {
        row += 1;
        sheet.write_string(row, 0, name).map_err(e)?;
        sheet.write_number_with_format(row, 1, yuan(&t.budget), &amount).map_err(e)?;
        sheet.write_number(row, 2, f64::from(t.target_pct)).map_err(e)?;
        sheet.write_number_with_format(row, 3, yuan(&t.target_amount), &amount).map_err(e)?;
        sheet.write_number_with_format(row, 4, yuan(&t.counted), &amount).map_err(e)?;
        sheet.write_string(row, 5, &t.share_pct).map_err(e)?;
    }
    sheet.set_column_width(0, 28).map_err(e)?;
    book.save_to_buffer().map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_against_targets() {
        let p = progress(100_000_000, 30, 15_000_000);
        assert_eq!(
            (p.target_amount.fen(), p.share_pct.as_str(), p.progress_pct, p.reached),
            (30_000_000, "15.00", 50, false)
        );
        let p = progress(300, 10, 31);
        assert_eq!((p.target_amount.fen(), p.share_pct.as_str(), p.progress_pct, p.reached), (30, "10.33", 100, true));
        assert_eq!(progress(0, 10, 500).share_pct, "0.00");
    }
}
