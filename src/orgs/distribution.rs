//! Welfare distribution (员工慰问): one union order shipped to many recipients, from a CSV file.
//! The whole file is checked before anything is written; every bad row is reported.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account::{self, Placement};
use super::model;
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::money::Money;
use crate::orders::pricing::MAX_QUANTITY;
use crate::orders::service::{self as orders, Address, Buyer, LineRequest, OrderView, PreparedLine, Settings};

/// The most recipients one file may carry.
pub const MAX_ROWS: usize = 5_000;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowError {
    /// 1 for the first row after the header.
    pub row: usize,
    pub reason: String,
}

/// What a distribution upload can go wrong with: a whole-file problem, or bad rows.
pub enum UploadError {
    App(AppError),
    Rows(Vec<RowError>),
}

impl From<AppError> for UploadError {
    fn from(e: AppError) -> Self {
        UploadError::App(e)
    }
}

impl From<diesel::result::Error> for UploadError {
    fn from(e: diesel::result::Error) -> Self {
        UploadError::App(e.into())
    }
}

impl crate::db::TxError for UploadError {
    fn is_retryable(&self) -> bool {
        matches!(self, UploadError::App(e) if crate::db::TxError::is_retryable(e))
    }
}

/// Defaults for rows that name no SKU or quantity (`?sku=…&quantity=…`), and the campaign.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadOptions {
    pub sku: Option<String>,
    pub quantity: Option<i64>,
    pub campaign_id: Option<i64>,
}

pub struct Row {
    pub name: String,
    pub mobile: String,
    pub address: String,
    pub sku_code: String,
    pub quantity: i64,
}

/// 11 digits, 1 then 3-9: a mainland mobile number.
pub fn valid_mobile(m: &str) -> bool {
    let b = m.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit)
}

fn column(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| names.iter().any(|n| h.trim().trim_start_matches('\u{feff}').eq_ignore_ascii_case(n)))
}

/// The good rows with their numbers, and the problems of the others.
pub type Parsed = (Vec<(usize, Row)>, Vec<RowError>);

/// Parses and checks the rows on their own (no database): the good rows with their numbers,
/// and every problem, row by row.
pub fn parse(body: &[u8], options: &UploadOptions) -> Result<Parsed, UploadError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| AppError::bad_request("invalid_csv", "the file must be UTF-8 text / 文件须为 UTF-8 编码的 CSV"))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| {
            AppError::bad_request("invalid_csv", format!("the header row cannot be read: {e} / 表头无法读取"))
        })?
        .clone();
    let (Some(name_at), Some(mobile_at), Some(address_at)) = (
        column(&headers, &["name", "姓名"]),
        column(&headers, &["mobile", "手机", "手机号"]),
        column(&headers, &["address", "地址"]),
    ) else {
        return Err(AppError::bad_request(
            "invalid_csv",
            "the header must name the columns name, mobile, address (and optionally sku, quantity) / 表头须包含 name、mobile、address 列",
        )
        .into());
    };
    let sku_at = column(&headers, &["sku", "商品编码"]);
    let quantity_at = column(&headers, &["quantity", "数量"]);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let n = i + 1;
        if n > MAX_ROWS {
            return Err(AppError::bad_request(
                "invalid_csv",
                format!("a file may list at most {MAX_ROWS} recipients / 每个文件最多 {MAX_ROWS} 位收件人"),
            )
            .into());
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError { row: n, reason: format!("unreadable row: {e} / 无法读取该行") });
                continue;
            }
        };
        let cell = |at: Option<usize>| at.and_then(|i| record.get(i)).unwrap_or("").to_string();
        let name = cell(Some(name_at));
        let mobile = cell(Some(mobile_at));
        let address = cell(Some(address_at));
        let sku_cell = cell(sku_at);
        let quantity_cell = cell(quantity_at);
        let mut why: Vec<&str> = Vec::new();
        if name.is_empty() || name.chars().count() > 50 || name.chars().any(char::is_control) {
            why.push("name is missing or longer than 50 characters / 姓名缺失或过长");
        }
        if !valid_mobile(&mobile) {
            why.push("bad mobile: 11 digits starting with 13-19 / 手机号须为 1 开头的 11 位数字");
        }
        if address.is_empty() || address.chars().count() > 200 || address.chars().any(char::is_control) {
            why.push("address is missing or longer than 200 characters / 地址缺失或过长");
        }
        let sku_code = if sku_cell.is_empty() { options.sku.clone().unwrap_or_default() } else { sku_cell };
        if sku_code.is_empty() {
            why.push("no SKU: give a sku column or ?sku= / 未指定商品编码");
        }
        let quantity = if quantity_cell.is_empty() {
            options.quantity.unwrap_or(1)
        } else {
            quantity_cell.parse::<i64>().unwrap_or(0)
        };
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            why.push("quantity must be a whole number from 1 to 10000 / 数量须为 1 至 10000 的整数");
        }
        if why.is_empty() {
            rows.push((n, Row { name, mobile, address, sku_code, quantity }));
        } else {
            errors.push(RowError { row: n, reason: why.join("; ") });
        }
    }
    if rows.is_empty() && errors.is_empty() {
        return Err(AppError::bad_request("invalid_csv", "the file lists no recipients / 文件中没有收件人").into());
    }
    Ok((rows, errors))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkuTotal {
    pub sku_id: i64,
    pub code: String,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    pub quantity: i64,
    #[schema(value_type = String)]
    pub unit_price: Money,
    #[schema(value_type = String)]
    pub total: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preview {
    pub recipients: usize,
    pub units: i64,
    pub skus: Vec<SkuTotal>,
    #[schema(value_type = String)]
    pub total: Money,
    #[schema(value_type = Option<String>)]
    pub budget_left: Option<Money>,
    pub needs_approval: bool,
}

struct Checked {
    rows: Vec<Row>,
    /// code → sku id
    ids: BTreeMap<String, i64>,
    prepared: orders::Prepared,
    preview: Preview,
}

/// Parses the file and checks it against the catalog: SKUs exist and are on sale, stock covers
/// the file (the row that goes past it is named), the campaign and prices apply.
fn check(
    conn: &mut AnyConnection,
    org_id: i64,
    body: &[u8],
    options: &UploadOptions,
    now: NaiveDateTime,
) -> Result<Checked, UploadError> {
    let (numbered, mut errors) = parse(body, options)?;
    let mut codes: Vec<String> = numbered.iter().map(|(_, r)| r.sku_code.clone()).collect();
    codes.sort();
    codes.dedup();
    let found = model::skus_by_code(conn, &codes).map_err(AppError::from)?;
    let mut left: BTreeMap<String, i64> = found.iter().map(|(_, code, stock, _)| (code.clone(), *stock)).collect();
    for (n, r) in &numbered {
        match found.iter().find(|f| f.1 == r.sku_code) {
            None | Some((_, _, _, false)) => errors.push(RowError {
                row: *n,
                reason: format!("unknown SKU {} or not on sale / 商品编码不存在或已下架", r.sku_code),
            }),
            Some((_, _, stock, true)) => {
                let remaining = left.entry(r.sku_code.clone()).or_default();
                *remaining -= r.quantity;
                if *remaining < 0 {
                    errors.push(RowError {
                        row: *n,
                        reason: format!(
                            "not enough stock of {}: {stock} left for the whole file / 库存不足（共剩 {stock}）",
                            r.sku_code
                        ),
                    });
                    // Name only the first row that goes past the stock.
                    *remaining = i64::MIN / 2;
                }
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(UploadError::Rows(errors));
    }
    let rows: Vec<Row> = numbered.into_iter().map(|(_, r)| r).collect();
    let ids: BTreeMap<String, i64> = found.iter().map(|(id, code, _, _)| (code.clone(), *id)).collect();
    let mut per_sku: BTreeMap<i64, i64> = BTreeMap::new();
    for r in &rows {
        *per_sku.entry(ids[&r.sku_code]).or_default() += r.quantity;
    }
    let requested: Vec<LineRequest> =
        per_sku.iter().map(|(&sku_id, &quantity)| LineRequest { sku_id, quantity }).collect();
    let prepared = orders::prepare(conn, &requested, options.campaign_id, now.date())?;
    let skus: Vec<SkuTotal> = prepared
        .lines
        .iter()
        .map(|l| SkuTotal {
            sku_id: l.priced.sku_id,
            code: ids.iter().find(|(_, &id)| id == l.priced.sku_id).map(|(c, _)| c.clone()).unwrap_or_default(),
            product_zh: l.names[0].clone(),
            product_en: l.names[1].clone(),
            sku_zh: l.names[2].clone(),
            sku_en: l.names[3].clone(),
            quantity: l.priced.quantity,
            unit_price: Money::from_fen(l.priced.unit_price_fen),
            total: Money::from_fen(l.priced.line_total_fen),
        })
        .collect();
    let total_fen: i64 = prepared.lines.iter().map(|l| l.priced.line_total_fen).sum();
    let budget = model::budget(conn, org_id).map_err(AppError::from)?;
    let preview = Preview {
        recipients: rows.len(),
        units: rows.iter().map(|r| r.quantity).sum(),
        skus,
        total: Money::from_fen(total_fen),
        budget_left: budget.as_ref().map(|b| Money::from_fen(b.budget_total_fen - b.budget_used_fen)),
        needs_approval: budget.and_then(|b| b.approval_threshold_fen).is_some_and(|t| total_fen > t),
    };
    Ok(Checked { rows, ids, prepared, preview })
}

fn require_union(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<model::Org, AppError> {
    let org = account::require_admin(conn, user_id, org_id)?;
    if org.kind != "union" {
        return Err(AppError::unprocessable(
            "account_not_supported",
            "welfare distribution is for trade unions / 员工慰问仅限工会",
        ));
    }
    Ok(org)
}

/// Checks the file and answers what it would cost; writes nothing.
pub fn preview(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    body: &[u8],
    options: &UploadOptions,
    now: NaiveDateTime,
) -> Result<Preview, UploadError> {
    require_union(conn, user_id, org_id)?;
    Ok(check(conn, org_id, body, options, now)?.preview)
}

/// Checks the file again and places the order: one order, a line per recipient and SKU.
pub fn confirm(
    conn: &mut AnyConnection,
    settings: &Settings,
    buyer: &Buyer,
    org_id: i64,
    body: &[u8],
    options: &UploadOptions,
    now: NaiveDateTime,
) -> Result<OrderView, UploadError> {
    let org = require_union(conn, buyer.id, org_id)?;
    let checked = check(conn, org_id, body, options, now)?;
    let priced: BTreeMap<i64, &PreparedLine> = checked.prepared.lines.iter().map(|l| (l.priced.sku_id, l)).collect();
    let mut lines = Vec::with_capacity(checked.rows.len());
    let mut recipients = Vec::with_capacity(checked.rows.len());
    for (i, r) in checked.rows.iter().enumerate() {
        let sku_id = checked.ids[&r.sku_code];
        let line = priced.get(&sku_id).ok_or_else(|| AppError::internal("priced"))?;
        lines.push(line.for_quantity(r.quantity, Some(i)));
        recipients.push((r.name.clone(), r.mobile.clone(), r.address.clone()));
    }
    // The order's own address is the union's; each line ships to its recipient.
    let address = Address {
        name: org.name_zh.clone(),
        mobile: String::new(),
        province: String::new(),
        city: String::new(),
        district: String::new(),
        detail: format!("{} ({} recipients / 位收件人)", org.address, recipients.len()),
    };
    let placed = db::write_tx(conn, |conn| {
        let placement = Placement {
            org: &org,
            buyer,
            address: &address,
            lines: lines.clone(),
            recipients: recipients.clone(),
            campaign_id: checked.prepared.campaign_id,
            delivery_date: None,
        };
        account::place(conn, settings, placement, now)
    })?;
    Ok(placed.view(settings)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles() {
        assert!(valid_mobile("13800138000"));
        assert!(valid_mobile("19912345678"));
        for bad in ["12800138000", "1380013800", "138001380001", "1380013800a", "", "23800138000"] {
            assert!(!valid_mobile(bad), "{bad}");
        }
    }

    #[test]
    fn every_bad_row_is_named() {
        let csv = "name,mobile,address,sku,quantity\n张三,13800138000,北京市西城区 1 号,GY-QUINOA-1KG,2\n李四,123,北京,GY-QUINOA-1KG,1\n王五,13900139000,,GY-QUINOA-1KG,0\n";
        match parse(csv.as_bytes(), &UploadOptions::default()) {
            Ok((good, rows)) => {
                assert_eq!(good.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1]);
                assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), vec![2, 3]);
                assert!(rows[0].reason.contains("mobile"));
                assert!(rows[1].reason.contains("address") && rows[1].reason.contains("quantity"));
            }
            _ => panic!("expected row errors"),
        }
    }

    #[test]
    fn defaults_fill_missing_columns() {
        let csv = "姓名,手机,地址\n张三,13800138000,北京市西城区 1 号\n";
        let options = UploadOptions { sku: Some("X".into()), quantity: Some(3), campaign_id: None };
        let rows = match parse(csv.as_bytes(), &options) {
            Ok((rows, errors)) if errors.is_empty() => rows,
            _ => panic!("valid file"),
        };
        assert_eq!((rows[0].1.sku_code.as_str(), rows[0].1.quantity), ("X", 3));
    }
}
