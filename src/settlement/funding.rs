//! Who funds the points (issue 14). Points redeemed in an order are money: the organisation
//! that granted them as welfare prepaid them from its budget, or the platform gave them. Each
//! points lot records its funder (`points_lots.funder`, `funder_org_id`); the cooperative is
//! paid the line's full value whatever the tender, and each organisation gets a monthly
//! **funding statement**: the points redeemed from its lots in orders that month (less those
//! refunds gave back), at the exchange rate.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use serde::Serialize;
use utoipa::ToSchema;

use super::model;
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::money::{ExchangeRate, Money};

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"order_no": "A8F3K2P9Q1", "first_at": "2026-11-18T03:12:00", "redeemed": 1500,
    "returned": 0, "points": 1500, "value": "15.00"}))]
pub struct FundingLine {
    pub order_no: String,
    /// When its points were first taken in the month (UTC).
    pub first_at: NaiveDateTime,
    /// Points taken from the organisation's lots.
    pub redeemed: i64,
    /// Points refunds gave back to its lots.
    pub returned: i64,
    /// redeemed − returned.
    pub points: i64,
    /// `points` at the exchange rate.
    #[schema(value_type = String)]
    pub value: Money,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"org_id": 1, "org_name": "示范集团有限公司工会委员会", "org_slug": "demo-union", "month": "2026-11",
    "points_per_yuan": 100, "points_granted": 50000, "granted_value": "500.00", "points_redeemed": 1500,
    "points_returned": 0, "points": 1500, "value": "15.00", "lines": []}))]
pub struct FundingStatement {
    pub org_id: i64,
    pub org_name: String,
    pub org_slug: String,
    /// YYYY-MM, in the store's time zone.
    pub month: String,
    pub points_per_yuan: i64,
    /// Points the organisation granted (prepaid) this month.
    pub points_granted: i64,
    #[schema(value_type = String)]
    pub granted_value: Money,
    pub points_redeemed: i64,
    pub points_returned: i64,
    /// Net points redeemed from its lots: what it funds this month.
    pub points: i64,
    /// `points` at the exchange rate.
    #[schema(value_type = String)]
    pub value: Money,
    pub lines: Vec<FundingLine>,
}

/// `YYYY-MM` → the month's first day; anything else is 400 `invalid_month`.
pub fn parse_month(raw: &str) -> Result<NaiveDate, AppError> {
    let bad = || AppError::bad_request("invalid_month", "month must look like 2026-11 / 月份格式须为 2026-11");
    let raw = raw.trim();
    if raw.len() != 7 {
        return Err(bad());
    }
    NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d").map_err(|_| bad())
}

fn start_of(zone: chrono_tz::Tz, day: NaiveDate) -> NaiveDateTime {
    zone.from_local_datetime(&day.and_time(NaiveTime::MIN))
        .earliest()
        .map_or_else(|| day.and_time(NaiveTime::MIN), |t| t.naive_utc())
}

/// The organisation's funding statement for the month starting `first` (store time zone).
/// The caller has checked who may see it.
pub fn statement(
    conn: &mut AnyConnection,
    zone: chrono_tz::Tz,
    rate: ExchangeRate,
    org_id: i64,
    first: NaiveDate,
) -> Result<FundingStatement, AppError> {
    use crate::db::schema::organisations;
    use diesel::prelude::*;
    let (name, slug): (String, String) = organisations::table
        .find(org_id)
        .select((organisations::name_zh, organisations::slug))
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)?;
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| AppError::bad_request("invalid_month", "month must look like 2026-11 / 月份格式须为 2026-11"))?;
    let (from, to) = (start_of(zone, first), start_of(zone, next));
    let lines: Vec<FundingLine> = model::funded_orders(conn, org_id, from, to)?
        .into_iter()
        .map(|o| FundingLine {
            points: o.redeemed - o.returned,
            value: rate.value_of(o.redeemed - o.returned),
            order_no: o.reference,
            first_at: o.first_at,
            redeemed: o.redeemed,
            returned: o.returned,
        })
        .collect();
    let granted = model::funded_grants(conn, org_id, from, to)?;
    let redeemed: i64 = lines.iter().map(|l| l.redeemed).sum();
    let returned: i64 = lines.iter().map(|l| l.returned).sum();
    Ok(FundingStatement {
        org_id,
        org_name: name,
        org_slug: slug,
        month: format!("{:04}-{:02}", first.year(), first.month()),
        points_per_yuan: rate.points_per_yuan,
        points_granted: granted,
        granted_value: rate.value_of(granted),
        points_redeemed: redeemed,
        points_returned: returned,
        points: redeemed - returned,
        value: rate.value_of(redeemed - returned),
        lines,
    })
}

const HEADER: [&str; 6] =
    ["订单 order", "首次时间 first (UTC)", "使用积分 redeemed", "退回积分 returned", "净积分 points", "金额 value"];

fn summary(s: &FundingStatement) -> Vec<(String, String)> {
    vec![
        ("组织 organisation".into(), s.org_name.clone()),
        ("月份 month".into(), s.month.clone()),
        ("兑换比例 points per yuan".into(), s.points_per_yuan.to_string()),
        ("本月发放积分 granted".into(), format!("{} (¥{})", s.points_granted, s.granted_value)),
        ("使用积分 redeemed".into(), s.points_redeemed.to_string()),
        ("退回积分 returned".into(), s.points_returned.to_string()),
        ("净积分 points".into(), s.points.to_string()),
        ("应承担金额 value".into(), s.value.to_string()),
    ]
}

pub fn csv(s: &FundingStatement) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for (k, v) in summary(s) {
        w.write_record([
            k,
            crate::coop::service::csv_safe(&v),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ])
        .map_err(AppError::internal)?;
    }
    w.write_record(HEADER).map_err(AppError::internal)?;
    for l in &s.lines {
        w.write_record([
            crate::coop::service::csv_safe(&l.order_no),
            l.first_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            l.redeemed.to_string(),
            l.returned.to_string(),
            l.points.to_string(),
            l.value.to_string(),
        ])
        .map_err(AppError::internal)?;
    }
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(w.into_inner().map_err(AppError::internal)?);
    Ok(out)
}

pub fn xlsx(s: &FundingStatement) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("0.00");
    let x = |e: rust_xlsxwriter::XlsxError| AppError::internal(format!("xlsx: {e}"));
    let head = summary(s);
    for (i, (k, v)) in head.iter().enumerate() {
        sheet.write_string_with_format(i as u32, 0, k, &bold).map_err(x)?;
        sheet.write_string(i as u32, 1, v).map_err(x)?;
    }
    let top = head.len() as u32 + 1;
    for (c, h) in HEADER.iter().enumerate() {
        sheet.write_string_with_format(top, c as u16, *h, &bold).map_err(x)?;
    }
    for (i, l) in s.lines.iter().enumerate() {
        let row = top + 1 + i as u32;
        sheet.write_string(row, 0, &l.order_no).map_err(x)?;
        sheet.write_string(row, 1, l.first_at.format("%Y-%m-%d %H:%M:%S").to_string()).map_err(x)?;
        for (c, v) in [(2u16, l.redeemed), (3, l.returned), (4, l.points)] {
            sheet.write_number(row, c, v as f64).map_err(x)?;
        }
        // fen / 100 is exact to the fen in f64 for any figure below 2^53 fen.
        sheet.write_number_with_format(row, 5, l.value.fen() as f64 / 100.0, &money).map_err(x)?;
    }
    book.save_to_buffer().map_err(x)
}
