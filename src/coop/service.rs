//! The cooperative portal's rules: scope (a manager touches only their cooperatives' data),
//! stock changes applied atomically with their history, bulk CSV updates that apply all or
//! nothing, one low-stock email per crossing, shipping by part, and sales reports.

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, PartLine, SkuRow};
use crate::catalog::presale::{self, PresaleInput, PresaleView};
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::inventory::{self, Change};
use crate::mail;
use crate::money::Money;
use crate::orders::model as orders_model;
use crate::orders::service::{self as orders, Address, Settings};

/// Stock is kept below this, so no arithmetic on it can overflow.
pub use crate::inventory::service::MAX_STOCK;

/// A logged-in cooperative manager and the producers they manage.
#[derive(Debug, Clone)]
pub struct Manager {
    pub user_id: i64,
    pub producers: Vec<i64>,
}

/// The producers a user manages; a manager of none may do nothing here.
pub fn manager(conn: &mut AnyConnection, user_id: i64) -> Result<Manager, AppError> {
    let producers = model::managed_producers(conn, user_id)?;
    if producers.is_empty() {
        return Err(AppError::Forbidden);
    }
    Ok(Manager { user_id, producers })
}

impl Manager {
    /// One of the manager's SKUs; another cooperative's SKU is "not found", never its data.
    pub fn sku(&self, conn: &mut AnyConnection, sku_id: i64) -> Result<SkuRow, AppError> {
        model::sku_in(conn, sku_id, &self.producers)?.ok_or(AppError::NotFound)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkuView {
    pub id: i64,
    pub code: String,
    pub product_id: i64,
    pub producer_id: i64,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    pub unit_zh: String,
    pub unit_en: String,
    #[schema(value_type = String)]
    pub price: Money,
    pub stock: i64,
    pub low_stock_threshold: i64,
    pub low_stock: bool,
    pub max_points_pct: i32,
    #[schema(value_type = String)]
    pub charity_donation: Money,
    pub listed: bool,
    pub product_listed: bool,
    pub aid_cert_no: Option<String>,
    pub aid_cert_expires: Option<NaiveDate>,
    /// The certification is out of date: the aid badge is hidden from buyers.
    pub cert_expired: bool,
    /// Pre-sale terms (预售), or null.
    pub presale: Option<PresaleView>,
}

/// The SKU with its pre-sale terms read.
pub fn sku_view_of(conn: &mut AnyConnection, row: SkuRow, now: NaiveDateTime) -> Result<SkuView, AppError> {
    let terms = presale::of_skus(conn, &[row.id])?;
    let mut view = sku_view(row, now.date());
    view.presale = presale::view_of(&terms, view.id, now);
    Ok(view)
}

pub fn sku_view(row: SkuRow, today: NaiveDate) -> SkuView {
    let cert_expired = row.aid_cert_no.is_some()
        && !crate::catalog::service::aid_certified(row.aid_cert_no.as_deref(), row.aid_cert_expires, today);
    SkuView {
        low_stock: row.stock < row.low_stock_threshold,
        id: row.id,
        code: row.code,
        product_id: row.product_id,
        producer_id: row.producer_id,
        product_zh: row.product_zh,
        product_en: row.product_en,
        sku_zh: row.sku_zh,
        sku_en: row.sku_en,
        unit_zh: row.unit_zh,
        unit_en: row.unit_en,
        price: Money::from_fen(row.price_fen),
        stock: row.stock,
        low_stock_threshold: row.low_stock_threshold,
        max_points_pct: row.max_points_pct,
        charity_donation: Money::from_fen(row.charity_donation_fen),
        listed: row.listed,
        product_listed: row.product_listed,
        aid_cert_no: row.aid_cert_no,
        aid_cert_expires: row.aid_cert_expires,
        cert_expired,
        presale: None,
    }
}

pub fn skus(conn: &mut AnyConnection, m: &Manager, today: NaiveDate) -> Result<Vec<SkuView>, AppError> {
    let rows = model::skus_of(conn, &m.producers)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let terms = presale::of_skus(conn, &ids)?;
    let now = chrono::Utc::now().naive_utc();
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut v = sku_view(r, today);
            v.presale = presale::view_of(&terms, v.id, now);
            v
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Stock

/// `PATCH /api/v1/coop/skus/{id}/stock`: exactly one of `delta` and `set`, and a reason.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockRequest {
    pub delta: Option<i64>,
    pub set: Option<i64>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StockAnswer {
    pub sku_id: i64,
    pub code: String,
    pub before: i64,
    pub after: i64,
    pub delta: i64,
}

fn invalid_change(why: &str) -> AppError {
    AppError::bad_request("invalid_stock_change", format!("{why} / 库存调整无效"))
}

fn check_change(delta: Option<i64>, set: Option<i64>) -> Result<Change, String> {
    match (delta, set) {
        (Some(d), None) if d != 0 && (-MAX_STOCK..=MAX_STOCK).contains(&d) => Ok(Change::Delta(d)),
        (Some(_), None) => Err(format!("delta must be a non-zero whole number within ±{MAX_STOCK}")),
        (None, Some(s)) if (0..=MAX_STOCK).contains(&s) => Ok(Change::Set(s)),
        (None, Some(_)) => Err(format!("set must be a whole number from 0 to {MAX_STOCK}")),
        _ => Err("give exactly one of delta and set".to_string()),
    }
}

fn check_reason(reason: &str) -> Result<&str, AppError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            "invalid_reason",
            "give a reason of 1 to 200 characters / 请填写 1 至 200 字的调整原因",
        ));
    }
    Ok(reason)
}

fn below_zero(code: &str, before: i64) -> String {
    format!("{code} has {before} in stock; the change would take it below zero / 库存不足，调整后将小于零")
}

/// Sets or adjusts one SKU's stock, recording who, when, before, after and why.
pub fn change_stock(
    conn: &mut AnyConnection,
    m: &Manager,
    sku_id: i64,
    request: &StockRequest,
    now: NaiveDateTime,
) -> Result<StockAnswer, AppError> {
    let change = check_change(request.delta, request.set).map_err(|why| invalid_change(&why))?;
    let reason = check_reason(&request.reason)?;
    db::write_tx(conn, |conn| {
        let sku = m.sku(conn, sku_id)?;
        let Some(c) = inventory::adjust(conn, sku.id, change, reason, m.user_id, now)? else {
            let now_in_stock = model::stock_of(conn, sku.id)?;
            return Err(AppError::conflict("insufficient_stock", below_zero(&sku.code, now_in_stock)));
        };
        Ok(StockAnswer { sku_id: sku.id, code: sku.code, before: c.before, after: c.after, delta: c.after - c.before })
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub id: i64,
    pub delta: i64,
    /// `sale`, `cancellation`, `refund` (changes made by an order) or `adjustment` (by hand).
    pub kind: &'static str,
    pub reason: String,
    pub order_no: Option<String>,
    /// For adjustments, the display name of the manager who made them; never set for
    /// changes made by orders, which name the order, not the buyer.
    pub by: Option<String>,
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub at: NaiveDateTime,
}

/// The kind of a stock change: what an order did to it, or a manager's adjustment.
fn change_kind(order_no: Option<&str>, reason: &str) -> &'static str {
    match (order_no, reason) {
        (None, _) => "adjustment",
        (Some(_), "sale") => "sale",
        (Some(_), "refund") => "refund",
        (Some(_), _) => "cancellation",
    }
}

pub fn history(conn: &mut AnyConnection, m: &Manager, sku_id: i64, limit: i64) -> Result<Vec<HistoryEntry>, AppError> {
    let sku = m.sku(conn, sku_id)?;
    Ok(model::history(conn, sku.id, limit.clamp(1, 500))?
        .into_iter()
        .map(|h| HistoryEntry {
            id: h.id,
            delta: h.delta,
            kind: change_kind(h.order_no.as_deref(), &h.reason),
            by: if h.order_no.is_none() { h.user_name } else { None },
            reason: h.reason,
            order_no: h.order_no,
            before: h.before,
            after: h.after,
            at: h.at,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Bulk stock from CSV

/// At most this many rows in one upload.
pub const MAX_CSV_ROWS: usize = 2000;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowError {
    /// The line number in the file (the header is line 1).
    pub row: u64,
    pub message: String,
}

#[derive(Debug)]
pub enum BulkError {
    /// Nothing was applied; each bad row says why.
    Rows(Vec<RowError>),
    Other(AppError),
}

impl From<AppError> for BulkError {
    fn from(e: AppError) -> Self {
        BulkError::Other(e)
    }
}

impl From<diesel::result::Error> for BulkError {
    fn from(e: diesel::result::Error) -> Self {
        BulkError::Other(e.into())
    }
}

impl db::TxError for BulkError {
    fn is_retryable(&self) -> bool {
        matches!(self, BulkError::Other(e) if db::TxError::is_retryable(e))
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkAnswer {
    pub applied: usize,
    pub changes: Vec<StockAnswer>,
}

#[derive(Debug)]
struct BulkRow {
    row: u64,
    code: String,
    change: Change,
    reason: String,
}

/// Reads `sku_code,stock,delta,reason` (header required; `stock` sets, `delta` adjusts, one
/// of the two per row; `reason` may be left empty). Every row is checked before any is
/// applied, and all are applied in one transaction, or none.
pub fn bulk_stock(
    conn: &mut AnyConnection,
    m: &Manager,
    csv_text: &str,
    now: NaiveDateTime,
) -> Result<BulkAnswer, BulkError> {
    let rows = parse_bulk(csv_text)?;
    let codes: Vec<String> = rows.iter().map(|r| r.code.clone()).collect();
    let known = model::sku_ids_by_code(conn, &codes, &m.producers)?;
    let mut errors = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for r in &rows {
        if seen.contains(&r.code.as_str()) {
            errors.push(RowError { row: r.row, message: format!("{} appears twice / SKU 编码重复", r.code) });
        } else if !known.iter().any(|(c, _)| c == &r.code) {
            errors.push(RowError {
                row: r.row,
                message: format!("{} is not one of your SKUs / 不是本合作社的商品规格", r.code),
            });
        }
        seen.push(&r.code);
    }
    if !errors.is_empty() {
        return Err(BulkError::Rows(errors));
    }
    db::write_tx(conn, |conn| {
        let mut applied = Vec::new();
        let mut errors = Vec::new();
        for r in &rows {
            let id = known.iter().find(|(c, _)| c == &r.code).map(|(_, id)| *id).ok_or(AppError::NotFound)?;
            match inventory::adjust(conn, id, r.change, &r.reason, m.user_id, now)? {
                Some(c) => applied.push((r, c)),
                None => errors.push(RowError { row: r.row, message: below_zero(&r.code, model::stock_of(conn, id)?) }),
            }
        }
        if !errors.is_empty() {
            // Returning an error rolls back the rows already applied.
            return Err(BulkError::Rows(errors));
        }
        Ok(BulkAnswer {
            applied: applied.len(),
            changes: applied
                .iter()
                .map(|(r, c)| StockAnswer {
                    sku_id: c.sku_id,
                    code: r.code.clone(),
                    before: c.before,
                    after: c.after,
                    delta: c.after - c.before,
                })
                .collect(),
        })
    })
}

/// The file line of a record starting at `byte`. The csv crate counts a skipped blank line as
/// the start of the next record, so line breaks there are stepped over first.
fn line_at(text: &str, byte: u64) -> u64 {
    let b = text.as_bytes();
    let mut i = usize::try_from(byte).unwrap_or(usize::MAX).min(b.len());
    while i < b.len() && (b[i] == b'\n' || b[i] == b'\r') {
        i += 1;
    }
    1 + b[..i].iter().filter(|c| **c == b'\n').count() as u64
}

fn parse_bulk(text: &str) -> Result<Vec<BulkRow>, BulkError> {
    let whole = |message: String| BulkError::Rows(vec![RowError { row: 1, message }]);
    let text = text.trim_start_matches('\u{feff}'); // Excel's byte-order mark
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| whole(format!("cannot read the header: {e} / 表头无法读取")))?.clone();
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.to_lowercase().as_str()));
    let (Some(code_col), stock_col, delta_col, reason_col) =
        (col(&["sku_code", "code"]), col(&["stock", "set"]), col(&["delta"]), col(&["reason"]))
    else {
        return Err(whole(
            "the header needs sku_code and stock or delta columns / 表头须含 sku_code 及 stock 或 delta".into(),
        ));
    };
    if stock_col.is_none() && delta_col.is_none() {
        return Err(whole("the header needs a stock or a delta column / 表头须含 stock 或 delta 列".into()));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map_or(0, |p| line_at(text, p.byte()));
                errors.push(RowError { row, message: format!("unreadable row: {e} / 无法读取该行") });
                continue;
            }
        };
        let row = record.position().map_or(0, |p| line_at(text, p.byte()));
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() + errors.len() >= MAX_CSV_ROWS {
            return Err(whole(format!("at most {MAX_CSV_ROWS} rows per file / 每个文件最多 {MAX_CSV_ROWS} 行")));
        }
        let field = |c: Option<usize>| c.and_then(|i| record.get(i)).filter(|v| !v.is_empty());
        let number = |c: Option<usize>| field(c).map(|v| v.parse::<i64>().map_err(|_| v.to_string())).transpose();
        let code = field(Some(code_col)).unwrap_or_default().to_string();
        let reason = field(reason_col).unwrap_or("CSV bulk update / 批量更新").to_string();
        let parsed = match (number(delta_col), number(stock_col)) {
            (Err(v), _) | (_, Err(v)) => Err(format!("{v:?} is not a whole number")),
            (Ok(delta), Ok(set)) => check_change(delta, set),
        };
        if code.is_empty() {
            errors.push(RowError { row, message: "the SKU code is missing / 缺少 SKU 编码".into() });
        } else if reason.chars().count() > 200 || reason.chars().any(char::is_control) {
            errors.push(RowError { row, message: "the reason is limited to 200 characters / 原因过长".into() });
        } else {
            match parsed {
                Ok(change) => rows.push(BulkRow { row, code, change, reason }),
                Err(why) => errors.push(RowError { row, message: format!("{why} / 库存或增减量无效") }),
            }
        }
    }
    if !errors.is_empty() {
        return Err(BulkError::Rows(errors));
    }
    if rows.is_empty() {
        return Err(whole("the file has no rows / 文件中没有数据行".into()));
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------
// Shipping

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShipTo {
    pub name: String,
    pub mobile: String,
    pub address: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartItem {
    pub sku_id: i64,
    pub sku_code: String,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    /// Units to ship (bought minus refunded).
    pub quantity: i64,
}

/// One cooperative's goods of one order for one recipient: what is shipped in one parcel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Part {
    pub order_no: String,
    pub order_status: String,
    pub paid_at: Option<NaiveDateTime>,
    pub producer_id: i64,
    pub recipient_id: Option<i64>,
    pub ship_to: ShipTo,
    pub items: Vec<PartItem>,
    /// A replacement parcel (补发) for this after-sales case: ship it with `after_sales_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_sales_id: Option<i64>,
}

fn address_line(a: &Address) -> String {
    format!("{} {} {} {}", a.province, a.city, a.district, a.detail)
}

fn ship_to(line: &PartLine) -> ShipTo {
    match &line.recipient {
        Some((name, mobile, address)) => ShipTo {
            name: name.clone(),
            mobile: mobile.clone(),
            // Recipients' addresses may be stored as an address object or as plain text.
            address: serde_json::from_str::<Address>(address).map_or_else(|_| address.clone(), |a| address_line(&a)),
        },
        None => match serde_json::from_str::<Address>(&line.order_address) {
            Ok(a) => ShipTo { name: a.name.clone(), mobile: a.mobile.clone(), address: address_line(&a) },
            Err(_) => ShipTo { name: String::new(), mobile: String::new(), address: line.order_address.clone() },
        },
    }
}

/// (order, producer, recipient): what identifies a part.
type PartKey = (i64, i64, Option<i64>);

/// Groups open lines into parts, leaving out parts already shipped.
fn group_parts(conn: &mut AnyConnection, lines: Vec<PartLine>) -> Result<Vec<Part>, AppError> {
    let mut order_ids: Vec<i64> = lines.iter().map(|l| l.order_id).collect();
    order_ids.sort_unstable();
    order_ids.dedup();
    let shipped = model::shipped_parts(conn, &order_ids)?;
    let mut parts: Vec<(PartKey, Part)> = Vec::new();
    for l in lines {
        let key = (l.order_id, l.producer_id, l.recipient_id);
        if shipped.contains(&key) {
            continue;
        }
        let item = PartItem {
            sku_id: l.sku_id,
            sku_code: l.sku_code.clone(),
            product_zh: l.product_zh.clone(),
            product_en: l.product_en.clone(),
            sku_zh: l.sku_zh.clone(),
            sku_en: l.sku_en.clone(),
            quantity: l.quantity - l.refunded_quantity,
        };
        match parts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, part)) => part.items.push(item),
            None => parts.push((
                key,
                Part {
                    order_no: l.order_no.clone(),
                    order_status: l.status.clone(),
                    paid_at: l.paid_at,
                    producer_id: l.producer_id,
                    recipient_id: l.recipient_id,
                    ship_to: ship_to(&l),
                    items: vec![item],
                    after_sales_id: None,
                },
            )),
        }
    }
    Ok(parts.into_iter().map(|(_, p)| p).collect())
}

/// Parts of paid orders the manager's cooperatives still have to ship, oldest payment first.
/// The parts waiting to ship. A part holding a pre-sale SKU (预售) joins the queue on the
/// pre-sale's ship-from day (in the store's time zone, `today`).
pub fn parts_to_ship(conn: &mut AnyConnection, m: &Manager, today: NaiveDate) -> Result<Vec<Part>, AppError> {
    let lines = model::open_lines(conn, &m.producers, None, 5000)?;
    let mut ids: Vec<i64> = lines.iter().map(|l| l.sku_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let waiting: Vec<i64> =
        presale::of_skus(conn, &ids)?.into_iter().filter(|t| t.ships_from > today).map(|t| t.sku_id).collect();
    let parts = group_parts(conn, lines)?;
    Ok(parts.into_iter().filter(|p| !p.items.iter().any(|i| waiting.contains(&i.sku_id))).collect())
}

/// `PUT /api/v1/coop/skus/{id}/presale`: sets the SKU's pre-sale terms (its stock stays the cap
/// on the total sold).
pub fn set_presale(
    conn: &mut AnyConnection,
    m: &Manager,
    id: i64,
    input: &PresaleInput,
    now: NaiveDateTime,
) -> Result<SkuView, AppError> {
    db::write_tx(conn, |conn| {
        let sku = m.sku(conn, id)?;
        presale::set(conn, &input.check(sku.id, now)?)?;
        sku_view_of(conn, sku, now)
    })
}

/// `DELETE /api/v1/coop/skus/{id}/presale`: the SKU is sold from stock again.
pub fn clear_presale(conn: &mut AnyConnection, m: &Manager, id: i64, now: NaiveDateTime) -> Result<SkuView, AppError> {
    db::write_tx(conn, |conn| {
        let sku = m.sku(conn, id)?;
        presale::clear(conn, sku.id)?;
        sku_view_of(conn, sku, now)
    })
}

/// The pick list: one CSV row per item to ship.
pub fn pick_list_csv(parts: &[Part]) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["order_no", "recipient_id", "name", "mobile", "address", "sku_code", "product", "sku", "quantity"])
        .map_err(AppError::internal)?;
    for p in parts {
        for i in &p.items {
            w.write_record([
                p.order_no.as_str(),
                &p.recipient_id.map(|r| r.to_string()).unwrap_or_default(),
                &csv_safe(&p.ship_to.name),
                &p.ship_to.mobile,
                &csv_safe(&p.ship_to.address),
                &i.sku_code,
                &csv_safe(&i.product_zh),
                &csv_safe(&i.sku_zh),
                &i.quantity.to_string(),
            ])
            .map_err(AppError::internal)?;
        }
    }
    let mut out = "\u{feff}".as_bytes().to_vec(); // so Excel reads UTF-8
    out.extend(w.into_inner().map_err(AppError::internal)?);
    Ok(out)
}

/// Text a buyer typed, made safe for spreadsheets (no formula injection).
pub fn csv_safe(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// `POST /api/v1/coop/shipments`: marks one part shipped.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipRequest {
    pub order_no: String,
    /// Needed only by a manager of several cooperatives.
    pub producer_id: Option<i64>,
    /// The recipient, for a distribution to many people; absent for ordinary orders.
    pub recipient_id: Option<i64>,
    pub carrier: String,
    pub tracking_no: String,
    /// Ships the replacement parcel of this after-sales case (listed in the queue with it).
    #[serde(default)]
    pub after_sales_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShipAnswer {
    pub order_no: String,
    pub producer_id: i64,
    pub recipient_id: Option<i64>,
    pub carrier: String,
    pub tracking_no: String,
    /// The order's status afterwards: "shipped" once every part is.
    pub order_status: String,
}

#[derive(Serialize)]
struct ShippedMail {
    buyer_name: String,
    order_no: String,
    order_url: String,
    producer_zh: String,
    producer_en: String,
    carrier: String,
    tracking_no: String,
    ship_to: ShipTo,
    items: Vec<PartItem>,
    all_shipped: bool,
}

/// The carriers a parcel may go with (the ones Chinese buyers and couriers know by name).
pub const CARRIERS: &[&str] = &["顺丰速运", "京东物流", "中通", "圆通", "韵达", "申通", "EMS", "中国邮政"];

/// Whether a tracking number has its carrier's format (顺丰速运: `SF` and 12-13 digits, as
/// `SF1234567890123`; 京东物流: `JD` and 11-18 letters or digits; 圆通: `YT` and 12-16 digits;
/// 中通, 申通: 12-15 digits; 韵达: 13-15 digits; EMS and 中国邮政: `EA123456789CN` or 13 digits).
pub fn tracking_fits(carrier: &str, tracking: &str) -> bool {
    let digits =
        |s: &str, min: usize, max: usize| (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let upu = |s: &str| {
        let b = s.as_bytes();
        b.len() == 13
            && b[..2].iter().all(u8::is_ascii_uppercase)
            && b[2..11].iter().all(u8::is_ascii_digit)
            && b[11..].iter().all(u8::is_ascii_uppercase)
    };
    let after = |prefix: &str| tracking.strip_prefix(prefix);
    match carrier {
        "顺丰速运" => after("SF").is_some_and(|t| digits(t, 12, 13)),
        "京东物流" => after("JD").is_some_and(|t| {
            (11..=18).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        }),
        "圆通" => after("YT").is_some_and(|t| digits(t, 12, 16)),
        "中通" | "申通" => digits(tracking, 12, 15),
        "韵达" => digits(tracking, 13, 15),
        "EMS" | "中国邮政" => upu(tracking) || digits(tracking, 13, 13),
        _ => false,
    }
}

/// Checks a carrier (from the list) and its tracking number (in that carrier's format).
pub fn check_tracking(carrier: &str, tracking: &str) -> Result<(String, String), AppError> {
    let carrier = carrier.trim();
    let tracking = tracking.trim();
    if !CARRIERS.contains(&carrier) {
        return Err(AppError::bad_request(
            "invalid_carrier",
            format!("choose a carrier from the list: {} / 请从列表中选择快递公司", CARRIERS.join(", ")),
        ));
    }
    if !tracking_fits(carrier, tracking) {
        return Err(AppError::bad_request(
            "invalid_tracking_no",
            format!(
                "this is not a {carrier} tracking number (顺丰速运, for example: SF and 12-13 digits) / 快递单号与{carrier}的格式不符"
            ),
        ));
    }
    Ok((carrier.to_string(), tracking.to_string()))
}

fn check_ship(request: &ShipRequest) -> Result<(String, String), AppError> {
    check_tracking(&request.carrier, &request.tracking_no)
}

/// Marks a part shipped: one shipment row (unique per part, so a repeat or a race answers
/// 409 `already_shipped`), the buyer emailed, and the order moved to "shipped" when this was
/// its last part.
pub fn ship(
    conn: &mut AnyConnection,
    m: &Manager,
    request: &ShipRequest,
    s: &Settings,
    now: NaiveDateTime,
) -> Result<ShipAnswer, AppError> {
    let (carrier, tracking_no) = check_ship(request)?;
    if let Some(case_id) = request.after_sales_id {
        let order_no = Some(request.order_no.as_str());
        return crate::aftersales::service::ship_replacement(
            conn,
            m,
            order_no,
            case_id,
            &carrier,
            &tracking_no,
            s,
            now,
        );
    }
    let producer_id = match request.producer_id {
        Some(p) if m.producers.contains(&p) => p,
        Some(_) => return Err(AppError::NotFound),
        None if m.producers.len() == 1 => m.producers[0],
        None => {
            return Err(AppError::bad_request(
                "producer_required",
                "you manage several cooperatives: say which one ships (producer_id) / 请指定发货的合作社",
            ))
        }
    };
    db::write_tx(conn, |conn| {
        let order = orders_model::order_by_no(conn, request.order_no.trim())?.ok_or(AppError::NotFound)?;
        let lines: Vec<PartLine> = model::open_lines(conn, &[producer_id], Some(order.id), 1000)?
            .into_iter()
            .filter(|l| l.recipient_id == request.recipient_id)
            .collect();
        if lines.is_empty() {
            // No such part for this cooperative (or nothing left in it to ship): not theirs to see.
            return Err(AppError::NotFound);
        }
        if !model::lock_order_in(conn, order.id, &model::shippable())? {
            return Err(AppError::conflict("not_shippable", "the order is not awaiting shipment / 订单当前不可发货"));
        }
        // Read again under the lock: its status may have moved since.
        let order = orders_model::order_by_id(conn, order.id)?;
        let already = || AppError::conflict("already_shipped", "this part has already been shipped / 该包裹已发货");
        if model::shipment_of(conn, order.id, producer_id, request.recipient_id)?.is_some() {
            return Err(already());
        }
        // Grouped before the shipment is written: grouping leaves out shipped parts.
        let part = group_parts(conn, lines)?.into_iter().next().ok_or_else(already)?;
        let new = model::NewShipment {
            order_id: order.id,
            producer_id,
            recipient_id: request.recipient_id,
            carrier: &carrier,
            tracking_no: &tracking_no,
            shipped_by: m.user_id,
            after_sales_id: None,
        };
        model::insert_shipment(conn, &new, now).map_err(|e| match e {
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => already(),
            other => other.into(),
        })?;
        let note = format!("part shipped by cooperative {producer_id}: {carrier} {tracking_no}");
        orders_model::add_event(conn, order.id, Some(&order.status), &order.status, &note, now)?;
        let open = model::open_parts_of(conn, order.id)?;
        let shipped = model::shipped_parts(conn, &[order.id])?;
        let all_shipped = open.iter().all(|(p, r)| shipped.contains(&(order.id, *p, *r)));
        let status = orders::part_shipped(conn, s, &order, producer_id, request.recipient_id, all_shipped, now)?;
        let buyer = crate::accounts::model::find(conn, order.buyer_id)?
            .ok_or_else(|| AppError::internal("order without buyer"))?;
        let (producer_zh, producer_en) = model::producer_names(conn, &[producer_id])?
            .into_iter()
            .next()
            .map(|(_, zh, en)| (zh, en))
            .unwrap_or_default();
        let context = ShippedMail {
            buyer_name: buyer.display_name,
            order_no: order.order_no.clone(),
            order_url: s.order_url(&order.order_no),
            producer_zh,
            producer_en,
            carrier: carrier.clone(),
            tracking_no: tracking_no.clone(),
            ship_to: part.ship_to,
            items: part.items,
            all_shipped,
        };
        mail::enqueue(conn, "order_shipped", &buyer.email, &context, now)?;
        Ok(ShipAnswer {
            order_no: order.order_no,
            producer_id,
            recipient_id: request.recipient_id,
            carrier: carrier.clone(),
            tracking_no: tracking_no.clone(),
            order_status: status.as_str().to_string(),
        })
    })
}

/// Marks many parts shipped from CSV (`order_no,carrier,tracking_no,recipient_id,producer_id`;
/// the last two may be left empty). All rows in one transaction: every part is marked, or none.
pub fn ship_csv(
    conn: &mut AnyConnection,
    m: &Manager,
    csv_text: &str,
    s: &Settings,
    now: NaiveDateTime,
) -> Result<Vec<ShipAnswer>, BulkError> {
    let whole = |message: String| BulkError::Rows(vec![RowError { row: 1, message }]);
    let text = csv_text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| whole(format!("cannot read the header: {e} / 表头无法读取")))?.clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(order_col), Some(carrier_col), Some(tracking_col)) =
        (col("order_no"), col("carrier"), col("tracking_no"))
    else {
        return Err(whole(
            "the header needs order_no, carrier and tracking_no / 表头须含 order_no、carrier、tracking_no".into(),
        ));
    };
    let (recipient_col, producer_col) = (col("recipient_id"), col("producer_id"));
    let mut requests = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map_or(0, |p| line_at(text, p.byte()));
                errors.push(RowError { row, message: format!("unreadable row: {e} / 无法读取该行") });
                continue;
            }
        };
        let row = record.position().map_or(0, |p| line_at(text, p.byte()));
        if record.iter().all(str::is_empty) {
            continue;
        }
        if requests.len() + errors.len() >= MAX_CSV_ROWS {
            return Err(whole(format!("at most {MAX_CSV_ROWS} rows per file / 每个文件最多 {MAX_CSV_ROWS} 行")));
        }
        let field = |c: Option<usize>| c.and_then(|i| record.get(i)).unwrap_or_default().to_string();
        let id = |c: Option<usize>| {
            let v = field(c);
            if v.is_empty() {
                Ok(None)
            } else {
                v.parse::<i64>().map(Some).map_err(|_| format!("{v:?} is not an id / 编号无效"))
            }
        };
        match (id(recipient_col), id(producer_col)) {
            (Ok(recipient_id), Ok(producer_id)) => requests.push((
                row,
                ShipRequest {
                    order_no: field(Some(order_col)),
                    producer_id,
                    recipient_id,
                    carrier: field(Some(carrier_col)),
                    tracking_no: field(Some(tracking_col)),
                    after_sales_id: None,
                },
            )),
            (Err(message), _) | (_, Err(message)) => errors.push(RowError { row, message }),
        }
    }
    if !errors.is_empty() {
        return Err(BulkError::Rows(errors));
    }
    if requests.is_empty() {
        return Err(whole("the file has no rows / 文件中没有数据行".into()));
    }
    db::write_tx(conn, |conn| {
        let mut answers = Vec::new();
        let mut errors = Vec::new();
        for (row, request) in &requests {
            // Each row runs in its own savepoint, so one refused row leaves the others' checks
            // meaningful; any error then undoes them all.
            match ship(conn, m, request, s, now) {
                Ok(a) => answers.push(a),
                Err(e @ (AppError::Internal(_) | AppError::Unavailable)) => return Err(BulkError::Other(e)),
                Err(e) => errors.push(RowError { row: *row, message: e.public_message() }),
            }
        }
        if errors.is_empty() {
            Ok(answers)
        } else {
            Err(BulkError::Rows(errors))
        }
    })
}

// ---------------------------------------------------------------------------------------
// Reports

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Product,
    Campaign,
    Month,
    Day,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportRow {
    /// Product code, campaign id, or the period (2027-06 / 2027-06-01).
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    /// Units sold, net of refunds.
    pub units: i64,
    /// What the credit ledger credits the cooperative: sales less refund reversals.
    #[schema(value_type = String)]
    pub credited: Money,
}

/// Sales of the manager's cooperatives paid in [from, to], grouped.
pub fn sales_report(
    conn: &mut AnyConnection,
    m: &Manager,
    by: GroupBy,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ReportRow>, AppError> {
    if to < from || (to - from).num_days() > 3660 {
        return Err(AppError::bad_request(
            "invalid_period",
            "the period must run forwards, at most 10 years / 时间段无效",
        ));
    }
    let start = from.and_hms_opt(0, 0, 0).ok_or_else(|| AppError::internal("midnight"))?;
    let end = (to + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).ok_or_else(|| AppError::internal("midnight"))?;
    let lines = model::sale_lines(conn, &m.producers, start, end)?;
    let line_ids: Vec<i64> = lines.iter().map(|l| l.line_id).collect();
    let ledger = crate::credits::model::credited_by_line(conn, &line_ids)?;
    let mut rows: Vec<ReportRow> = Vec::new();
    for l in lines {
        let (key, zh, en) = match by {
            GroupBy::Product => (l.product_code.clone(), l.product_zh.clone(), l.product_en.clone()),
            GroupBy::Campaign => (l.campaign_id.to_string(), l.campaign_zh.clone(), l.campaign_en.clone()),
            GroupBy::Month | GroupBy::Day => {
                let format = if by == GroupBy::Month { "%Y-%m" } else { "%Y-%m-%d" };
                let period = l.paid_at.map(|t| t.format(format).to_string()).unwrap_or_default();
                (period.clone(), period.clone(), period)
            }
        };
        let units = l.quantity - l.refunded_quantity;
        let credited = ledger.get(&l.line_id).copied().unwrap_or(0);
        match rows.iter_mut().find(|r| r.key == key) {
            Some(r) => {
                r.units += units;
                r.credited = Money::from_fen(r.credited.fen() + credited);
            }
            None => rows.push(ReportRow { key, name_zh: zh, name_en: en, units, credited: Money::from_fen(credited) }),
        }
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(rows)
}

const REPORT_HEADER: [&str; 5] = ["key", "name_zh", "name_en", "units", "credited"];

pub fn report_csv(rows: &[ReportRow]) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(REPORT_HEADER).map_err(AppError::internal)?;
    for r in rows {
        w.write_record([
            csv_safe(&r.key),
            csv_safe(&r.name_zh),
            csv_safe(&r.name_en),
            r.units.to_string(),
            r.credited.to_string(),
        ])
        .map_err(AppError::internal)?;
    }
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(w.into_inner().map_err(AppError::internal)?);
    Ok(out)
}

pub fn report_xlsx(rows: &[ReportRow]) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("0.00");
    let x = |e: rust_xlsxwriter::XlsxError| AppError::internal(format!("xlsx: {e}"));
    for (c, h) in REPORT_HEADER.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold).map_err(x)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string(row, 0, &r.key).map_err(x)?;
        sheet.write_string(row, 1, &r.name_zh).map_err(x)?;
        sheet.write_string(row, 2, &r.name_en).map_err(x)?;
        sheet.write_number(row, 3, r.units as f64).map_err(x)?;
        // Money as a number for the spreadsheet's sums: fen / 100 is exact to the fen in f64
        // for any figure below 2^53 fen.
        sheet.write_number_with_format(row, 4, r.credited.fen() as f64 / 100.0, &money).map_err(x)?;
    }
    book.save_to_buffer().map_err(x)
}

// ---------------------------------------------------------------------------------------
// Products and SKUs

/// `POST /api/v1/coop/products`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub code: String,
    /// Needed only by a manager of several cooperatives.
    pub producer_id: Option<i64>,
    pub name_zh: String,
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub description_zh: String,
    #[serde(default)]
    pub description_en: String,
    pub aid_cert_no: Option<String>,
    pub aid_cert_expires: Option<NaiveDate>,
}

/// `PATCH /api/v1/coop/products/{id}`: only the fields given change. An empty
/// `aid_cert_no` removes the certification; `aid_cert_expires` "" removes the expiry.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub description_zh: Option<String>,
    pub description_en: Option<String>,
    pub aid_cert_no: Option<String>,
    pub aid_cert_expires: Option<String>,
    pub listed: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductView {
    pub id: i64,
    pub code: String,
    pub producer_id: i64,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
    pub aid_cert_no: Option<String>,
    pub aid_cert_expires: Option<NaiveDate>,
    /// Buyers see the aid badge only while this is true.
    pub aid_certified: bool,
    pub cert_expired: bool,
    pub listed: bool,
}

fn product_view(p: model::ProductRow, today: NaiveDate) -> ProductView {
    let certified = crate::catalog::service::aid_certified(p.aid_cert_no.as_deref(), p.aid_cert_expires, today);
    ProductView {
        cert_expired: p.aid_cert_no.is_some() && !certified,
        aid_certified: certified,
        id: p.id,
        code: p.code,
        producer_id: p.producer_id,
        name_zh: p.name_zh,
        name_en: p.name_en,
        description_zh: p.description_zh,
        description_en: p.description_en,
        aid_cert_no: p.aid_cert_no,
        aid_cert_expires: p.aid_cert_expires,
        listed: p.listed,
    }
}

fn invalid_product(why: impl std::fmt::Display) -> AppError {
    AppError::unprocessable("invalid_product", format!("{why} / 商品信息有误"))
}

fn check_text(field: &str, value: &str, min: usize, max: usize) -> Result<String, AppError> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min || n > max || v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid_product(format!("{field} must have {min} to {max} characters")));
    }
    Ok(v.to_string())
}

fn check_code(code: &str) -> Result<String, AppError> {
    let c = code.trim();
    if !(2..=40).contains(&c.len()) || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-') {
        return Err(invalid_product("a code has 2 to 40 letters, digits or dashes"));
    }
    Ok(c.to_string())
}

fn code_taken(e: diesel::result::Error) -> AppError {
    match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            AppError::conflict("code_taken", "this code is already used / 该编码已被使用")
        }
        other => other.into(),
    }
}

impl Manager {
    fn product(&self, conn: &mut AnyConnection, id: i64) -> Result<model::ProductRow, AppError> {
        model::product_in(conn, id, &self.producers)?.ok_or(AppError::NotFound)
    }

    fn producer_for(&self, requested: Option<i64>) -> Result<i64, AppError> {
        match requested {
            Some(p) if self.producers.contains(&p) => Ok(p),
            Some(_) => Err(AppError::NotFound),
            None if self.producers.len() == 1 => Ok(self.producers[0]),
            None => Err(AppError::bad_request(
                "producer_required",
                "you manage several cooperatives: say which one (producer_id) / 请指定合作社",
            )),
        }
    }
}

pub fn product(conn: &mut AnyConnection, m: &Manager, id: i64, today: NaiveDate) -> Result<ProductView, AppError> {
    Ok(product_view(m.product(conn, id)?, today))
}

pub fn create_product(
    conn: &mut AnyConnection,
    m: &Manager,
    input: &ProductInput,
    now: NaiveDateTime,
) -> Result<ProductView, AppError> {
    let producer_id = m.producer_for(input.producer_id)?;
    let code = check_code(&input.code)?;
    let name_zh = check_text("name_zh", &input.name_zh, 1, 100)?;
    let name_en = check_text("name_en", &input.name_en, 0, 100)?;
    let description_zh = check_text("description_zh", &input.description_zh, 0, 4000)?;
    let description_en = check_text("description_en", &input.description_en, 0, 4000)?;
    let cert = match &input.aid_cert_no {
        Some(c) if !c.trim().is_empty() => Some(check_text("aid_cert_no", c, 1, 64)?),
        _ => None,
    };
    db::write_tx(conn, |conn| {
        let new = model::NewProduct {
            code: &code,
            producer_id,
            name_zh: &name_zh,
            name_en: &name_en,
            description_zh: &description_zh,
            description_en: &description_en,
            aid_cert_no: cert.as_deref(),
            aid_cert_expires: input.aid_cert_expires,
        };
        let id = model::insert_product(conn, &new, now).map_err(code_taken)?;
        model::refresh_search_text(conn, id)?;
        product(conn, m, id, now.date())
    })
}

pub fn update_product(
    conn: &mut AnyConnection,
    m: &Manager,
    id: i64,
    patch: &ProductPatch,
    now: NaiveDateTime,
) -> Result<ProductView, AppError> {
    let text = |field: &str, v: &Option<String>, min: usize, max: usize| {
        v.as_deref().map(|v| check_text(field, v, min, max)).transpose()
    };
    let changes = model::ProductChanges {
        name_zh: text("name_zh", &patch.name_zh, 1, 100)?,
        name_en: text("name_en", &patch.name_en, 0, 100)?,
        description_zh: text("description_zh", &patch.description_zh, 0, 4000)?,
        description_en: text("description_en", &patch.description_en, 0, 4000)?,
        aid_cert_no: text("aid_cert_no", &patch.aid_cert_no, 0, 64)?.map(|c| Some(c).filter(|c| !c.is_empty())),
        aid_cert_expires: match patch.aid_cert_expires.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(d) => Some(Some(
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| invalid_product("aid_cert_expires is a date like 2027-12-31"))?,
            )),
        },
        listed: patch.listed,
        updated_at: Some(now),
    };
    db::write_tx(conn, |conn| {
        let p = m.product(conn, id)?;
        model::update_product(conn, p.id, &changes)?;
        if changes.name_zh.is_some() || changes.name_en.is_some() {
            model::refresh_search_text(conn, p.id)?;
        }
        product(conn, m, p.id, now.date())
    })
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierInput {
    pub min_quantity: i64,
    #[schema(value_type = String)]
    pub price: Money,
}

/// `POST /api/v1/coop/products/{id}/skus`. A new SKU has no stock; add it with a stock change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkuInput {
    pub code: String,
    pub name_zh: String,
    #[serde(default)]
    pub name_en: String,
    pub unit_zh: String,
    #[serde(default)]
    pub unit_en: String,
    #[schema(value_type = String)]
    pub price: Money,
    /// The largest share of the price payable with points, 0–100.
    #[serde(default)]
    pub max_points_pct: i32,
    /// Donated to the charity project per unit sold.
    #[serde(default)]
    #[schema(value_type = String)]
    pub charity_donation: Option<Money>,
    #[serde(default)]
    pub low_stock_threshold: i64,
    #[serde(default)]
    pub tiers: Vec<TierInput>,
}

/// `PATCH /api/v1/coop/skus/{id}`: only the fields given change; `tiers` replaces them all.
/// Stock changes through `PATCH …/stock`, never here.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkuPatch {
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub unit_zh: Option<String>,
    pub unit_en: Option<String>,
    #[schema(value_type = Option<String>)]
    pub price: Option<Money>,
    pub max_points_pct: Option<i32>,
    #[schema(value_type = Option<String>)]
    pub charity_donation: Option<Money>,
    pub low_stock_threshold: Option<i64>,
    pub listed: Option<bool>,
    pub tiers: Option<Vec<TierInput>>,
}

const MAX_PRICE_FEN: i64 = 100_000_000; // ¥1,000,000

fn check_terms(
    price_fen: i64,
    pct: i32,
    donation_fen: i64,
    threshold: i64,
    tiers: &[(i64, i64)],
) -> Result<(), AppError> {
    if !(1..=MAX_PRICE_FEN).contains(&price_fen) {
        return Err(invalid_product("the price must be from 0.01 to 1000000.00"));
    }
    if !(0..=100).contains(&pct) {
        return Err(invalid_product("max_points_pct must be from 0 to 100"));
    }
    if donation_fen < 0 || donation_fen > price_fen {
        return Err(invalid_product("the charity donation per unit cannot exceed the price"));
    }
    if !(0..=MAX_STOCK).contains(&threshold) {
        return Err(invalid_product("the low-stock threshold must be 0 or more"));
    }
    let mut quantities: Vec<i64> = tiers.iter().map(|t| t.0).collect();
    quantities.sort_unstable();
    quantities.dedup();
    if tiers.len() > 10
        || quantities.len() != tiers.len()
        || tiers
            .iter()
            .any(|(q, p)| !(2..=crate::orders::pricing::MAX_QUANTITY).contains(q) || *p < 1 || *p >= price_fen)
    {
        return Err(invalid_product(
            "quantity tiers need distinct quantities of 2 or more, each with a price below the SKU's (at most 10)",
        ));
    }
    Ok(())
}

fn tier_fens(tiers: &[TierInput]) -> Vec<(i64, i64)> {
    tiers.iter().map(|t| (t.min_quantity, t.price.fen())).collect()
}

pub fn create_sku(
    conn: &mut AnyConnection,
    m: &Manager,
    product_id: i64,
    input: &SkuInput,
    now: NaiveDateTime,
) -> Result<SkuView, AppError> {
    let code = check_code(&input.code)?;
    let name_zh = check_text("name_zh", &input.name_zh, 1, 100)?;
    let name_en = check_text("name_en", &input.name_en, 0, 100)?;
    let unit_zh = check_text("unit_zh", &input.unit_zh, 1, 20)?;
    let unit_en = check_text("unit_en", &input.unit_en, 0, 20)?;
    let donation = input.charity_donation.map_or(0, Money::fen);
    let tiers = tier_fens(&input.tiers);
    check_terms(input.price.fen(), input.max_points_pct, donation, input.low_stock_threshold, &tiers)?;
    db::write_tx(conn, |conn| {
        let p = m.product(conn, product_id)?;
        let new = model::NewSku {
            code: &code,
            product_id: p.id,
            name_zh: &name_zh,
            name_en: &name_en,
            unit_zh: &unit_zh,
            unit_en: &unit_en,
            price_fen: input.price.fen(),
            max_points_pct: input.max_points_pct,
            low_stock_threshold: input.low_stock_threshold,
            charity_donation_fen: donation,
        };
        let id = model::insert_sku(conn, &new).map_err(code_taken)?;
        model::replace_tiers(conn, id, &tiers)?;
        model::refresh_search_text(conn, p.id)?;
        {
            let row = m.sku(conn, id)?;
            sku_view_of(conn, row, now)
        }
    })
}

pub fn update_sku(
    conn: &mut AnyConnection,
    m: &Manager,
    id: i64,
    patch: &SkuPatch,
    now: NaiveDateTime,
) -> Result<SkuView, AppError> {
    let text = |field: &str, v: &Option<String>, min: usize, max: usize| {
        v.as_deref().map(|v| check_text(field, v, min, max)).transpose()
    };
    let mut changes = model::SkuChanges {
        name_zh: text("name_zh", &patch.name_zh, 1, 100)?,
        name_en: text("name_en", &patch.name_en, 0, 100)?,
        unit_zh: text("unit_zh", &patch.unit_zh, 1, 20)?,
        unit_en: text("unit_en", &patch.unit_en, 0, 20)?,
        price_fen: patch.price.map(Money::fen),
        max_points_pct: patch.max_points_pct,
        low_stock_threshold: patch.low_stock_threshold,
        charity_donation_fen: patch.charity_donation.map(Money::fen),
        listed: patch.listed,
    };
    db::write_tx(conn, |conn| {
        let sku = m.sku(conn, id)?;
        let tiers = match &patch.tiers {
            Some(t) => tier_fens(t),
            None => model::tiers_of(conn, sku.id)?,
        };
        // The rules apply to the SKU as it will be, not just to the fields sent.
        check_terms(
            changes.price_fen.unwrap_or(sku.price_fen),
            changes.max_points_pct.unwrap_or(sku.max_points_pct),
            changes.charity_donation_fen.unwrap_or(sku.charity_donation_fen),
            changes.low_stock_threshold.unwrap_or(sku.low_stock_threshold),
            &tiers,
        )?;
        if changes.name_zh.is_none()
            && changes.name_en.is_none()
            && changes.unit_zh.is_none()
            && changes.unit_en.is_none()
            && changes.price_fen.is_none()
            && changes.max_points_pct.is_none()
            && changes.low_stock_threshold.is_none()
            && changes.charity_donation_fen.is_none()
            && changes.listed.is_none()
        {
            // Nothing but (maybe) tiers: diesel refuses an empty SET.
            changes.listed = Some(sku.listed);
        }
        model::update_sku(conn, sku.id, &changes)?;
        if patch.tiers.is_some() {
            model::replace_tiers(conn, sku.id, &tiers)?;
        }
        if changes.name_zh.is_some() || changes.name_en.is_some() {
            model::refresh_search_text(conn, sku.product_id)?;
        }
        {
            let row = m.sku(conn, sku.id)?;
            sku_view_of(conn, row, now)
        }
    })
}

// ---------------------------------------------------------------------------------------
// Product images

/// Largest image accepted.
pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;
const MAX_IMAGES_PER_PRODUCT: i64 = 10;

/// (extension, content type) from the file's first bytes; the name and the declared type are
/// not trusted.
pub fn image_kind(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    // Whatever the structure says, a file carrying markup is refused: with a wrong type or
    // an old browser it could be read as a page (a PNG + HTML polyglot).
    if contains_markup(bytes) {
        return None;
    }
    if is_jpeg(bytes) {
        Some(("jpg", "image/jpeg"))
    } else if is_png(bytes) {
        Some(("png", "image/png"))
    } else if is_webp(bytes) {
        Some(("webp", "image/webp"))
    } else {
        None
    }
}

fn contains_markup(bytes: &[u8]) -> bool {
    const MARKERS: [&[u8]; 9] =
        [b"<html", b"<script", b"<svg", b"<body", b"<head", b"<iframe", b"<!doctype", b"<?xml", b"<meta"];
    bytes.windows(9).any(|w| {
        let lower: Vec<u8> = w.iter().map(u8::to_ascii_lowercase).collect();
        MARKERS.iter().any(|m| lower.starts_with(m))
    })
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// A PNG whose chunks all check: IHDR first (non-zero size), IDAT, IEND last with nothing
/// after it, every CRC right.
fn is_png(bytes: &[u8]) -> bool {
    let Some(mut rest) = bytes.strip_prefix(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) else {
        return false;
    };
    let (mut first, mut idat) = (true, false);
    loop {
        let Some(len) = be32(rest).map(|n| n as usize) else {
            return false;
        };
        let Some(chunk) = rest.get(4..8 + len) else {
            return false;
        };
        let (kind, data) = chunk.split_at(4);
        if be32(&rest[8 + len..]) != Some(crc32(chunk)) {
            return false;
        }
        if first && (kind != b"IHDR" || len != 13 || be32(data) == Some(0) || be32(&data[4..]) == Some(0)) {
            return false;
        }
        first = false;
        idat |= kind == b"IDAT";
        rest = &rest[12 + len..];
        if kind == b"IEND" {
            return idat && rest.is_empty();
        }
    }
}

/// A JPEG whose segments chain from SOI to EOI (nothing after it), with a frame header of
/// non-zero width before the first scan.
fn is_jpeg(bytes: &[u8]) -> bool {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let (mut i, mut frame) = (2usize, false);
    loop {
        // Markers may be preceded by fill bytes (0xFF).
        if bytes.get(i) != Some(&0xFF) {
            return false;
        }
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return frame && i == bytes.len(),
            0x01 | 0xD0..=0xD7 => continue,
            0x00 => return false,
            _ => {}
        }
        let Some(len) = bytes.get(i..i + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
            return false;
        };
        if len < 2 || i + len > bytes.len() {
            return false;
        }
        let segment = &bytes[i + 2..i + len];
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            // precision, height (2), width (2), components
            let width = segment.get(3..5).map_or(0, |w| u16::from_be_bytes([w[0], w[1]]));
            if width == 0 {
                return false;
            }
            frame = true;
        }
        i += len;
        if marker == 0xDA {
            if !frame {
                return false;
            }
            // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart.
            loop {
                match (bytes.get(i), bytes.get(i + 1)) {
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => i += 2,
                    (Some(0xFF), Some(_)) => break,
                    (Some(_), _) => i += 1,
                    (None, _) => return false,
                }
            }
        }
    }
}

/// A WebP: RIFF whose size is the file's, then a VP8, VP8L or VP8X chunk that fits.
fn is_webp(bytes: &[u8]) -> bool {
    if bytes.len() < 20 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WEBP" {
        return false;
    }
    let riff = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let chunk = u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]) as usize;
    riff + 8 == bytes.len() && matches!(&bytes[12..16], b"VP8 " | b"VP8L" | b"VP8X") && 20 + chunk <= bytes.len()
}

/// A stored image's public name: its SHA-256 and extension, so a URL never changes content.
pub fn valid_image_name(name: &str) -> bool {
    name.split_once('.').is_some_and(|(hash, ext)| {
        hash.len() == 64
            && hash.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            && matches!(ext, "jpg" | "png" | "webp")
    })
}

pub fn too_large() -> AppError {
    AppError::unprocessable("image_too_large", "images are limited to 2 MiB / 图片不能超过 2 MiB")
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImageView {
    /// `/images/<sha256>.<ext>`, served with a year's immutable caching.
    pub url: String,
    pub content_type: String,
    pub bytes: i64,
}

pub fn images(conn: &mut AnyConnection, m: &Manager, product_id: i64) -> Result<Vec<ImageView>, AppError> {
    let p = m.product(conn, product_id)?;
    Ok(model::images_of(conn, p.id)?
        .into_iter()
        .map(|(name, content_type, bytes)| ImageView { url: format!("/images/{name}"), content_type, bytes })
        .collect())
}

/// Checks an upload by size and magic bytes, writes it under `dir` by content hash (to a
/// temporary name first, then renamed, so a reader never sees half a file) and records it.
/// Uploading the same picture twice for a product records it once.
pub fn add_image(
    conn: &mut AnyConnection,
    m: &Manager,
    product_id: i64,
    data: &[u8],
    dir: &std::path::Path,
    now: NaiveDateTime,
) -> Result<ImageView, AppError> {
    use sha2::Digest;
    if data.len() > MAX_IMAGE_BYTES {
        return Err(too_large());
    }
    let (ext, content_type) = image_kind(data).ok_or_else(|| {
        AppError::unprocessable("unsupported_image", "send a JPEG, PNG or WebP image / 请上传 JPEG、PNG 或 WebP 图片")
    })?;
    let name = format!("{}.{ext}", hex::encode(sha2::Sha256::digest(data)));
    let p = m.product(conn, product_id)?;
    std::fs::create_dir_all(dir).map_err(|e| AppError::internal(format!("{}: {e}", dir.display())))?;
    let write = |file: &str, bytes: &[u8]| -> Result<(), AppError> {
        let path = dir.join(file);
        if !path.exists() {
            let tmp = dir.join(format!("{file}.{}.tmp", crate::orders::service::random_token(8)));
            std::fs::write(&tmp, bytes).map_err(|e| AppError::internal(format!("{}: {e}", tmp.display())))?;
            std::fs::rename(&tmp, &path).map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
        }
        Ok(())
    };
    // The derivatives first, so a page never names one that is not there yet.
    let (width, derived) = crate::catalog::images::derivatives(data).unwrap_or_default();
    for (w, bytes) in &derived {
        write(&crate::catalog::images::derivative_name(&name, *w), bytes)?;
    }
    write(&name, data)?;
    let widths = derived.iter().map(|(w, _)| w.to_string()).collect::<Vec<_>>().join(",");
    db::write_tx(conn, |conn| {
        if model::images_of(conn, p.id)?.iter().any(|(n, _, _)| *n == name) {
            return Ok(());
        }
        if model::image_count(conn, p.id)? >= MAX_IMAGES_PER_PRODUCT {
            return Err(AppError::unprocessable(
                "too_many_images",
                "at most 10 images per product / 每个商品最多 10 张图片",
            ));
        }
        let new = model::NewImage {
            product_id: p.id,
            file_name: &name,
            content_type,
            bytes: data.len() as i64,
            uploaded_by: m.user_id,
            width: i32::try_from(width).unwrap_or(0),
            widths: &widths,
        };
        model::insert_image(conn, &new, now)?;
        Ok(())
    })?;
    Ok(ImageView { url: format!("/images/{name}"), content_type: content_type.to_string(), bytes: data.len() as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_exactly_one_of_delta_and_set() {
        assert_eq!(check_change(Some(-3), None), Ok(Change::Delta(-3)));
        assert_eq!(check_change(None, Some(0)), Ok(Change::Set(0)));
        assert!(check_change(Some(0), None).is_err());
        assert!(check_change(None, Some(-1)).is_err());
        assert!(check_change(Some(1), Some(1)).is_err());
        assert!(check_change(None, None).is_err());
        assert!(check_change(Some(i64::MIN), None).is_err());
    }

    #[test]
    fn csv_rows_are_numbered_by_file_line() {
        let text = "sku_code,stock,delta\nA-1,5,\n\nB-2,,x\nC-3,1,2\n";
        match parse_bulk(text) {
            Err(BulkError::Rows(rows)) => {
                assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), vec![4, 5]);
            }
            other => panic!("expected row errors, got {other:?}"),
        }
        match parse_bulk("sku_code,delta,reason\nA-1,-2,broken\n") {
            Ok(rows) => assert_eq!((rows[0].change, rows[0].reason.as_str()), (Change::Delta(-2), "broken")),
            Err(e) => panic!("{e:?}"),
        }
        assert!(matches!(parse_bulk("code_of_sku,amount\nA,1\n"), Err(BulkError::Rows(_))));
    }

    /// A structurally valid PNG (2×2, uncompressed deflate) with `extra` chunks before IDAT.
    fn sample_png(extra: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        fn crc32(data: &[u8]) -> u32 {
            let mut crc = 0xFFFF_FFFFu32;
            for &b in data {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
                }
            }
            !crc
        }
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc32(&body).to_be_bytes());
        }
        let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        chunk(&mut png, b"IHDR", &[0, 0, 0, 2, 0, 0, 0, 2, 8, 0, 0, 0, 0]);
        for (kind, data) in extra {
            chunk(&mut png, kind, data);
        }
        // zlib header, one stored block of 2 rows × (filter byte + 2 grey pixels), a dummy Adler-32.
        chunk(&mut png, b"IDAT", &[0x78, 0x01, 0x01, 6, 0, 0xF9, 0xFF, 0, 9, 9, 0, 9, 9, 0, 0, 0, 0]);
        chunk(&mut png, b"IEND", &[]);
        png
    }

    /// A structurally valid baseline JPEG (1×1, one component).
    fn sample_jpeg() -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        j.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
        j.extend_from_slice(&[1u8; 64]);
        j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01, 0x11, 0x00]);
        j.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, 0x00, 0x01]);
        j.extend_from_slice(&[0u8; 15]);
        j.push(0x00);
        j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x00, 0xFF, 0x00, 0x3F]);
        j.extend_from_slice(&[0xFF, 0xD9]);
        j
    }

    #[test]
    fn images_are_checked_by_their_structure() {
        assert_eq!(image_kind(&sample_jpeg()), Some(("jpg", "image/jpeg")));
        assert_eq!(image_kind(&sample_png(&[])), Some(("png", "image/png")));
        assert_eq!(image_kind(b"RIFF\x0c\0\0\0WEBPVP8 \0\0\0\0"), Some(("webp", "image/webp")));
        // Magic bytes alone, a bad CRC, data after the end, markup inside: refused.
        assert_eq!(image_kind(&[0xFF, 0xD8, 0xFF, 0xE0]), None);
        assert_eq!(image_kind(b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script>"), None);
        let mut broken = sample_png(&[]);
        broken[30] ^= 1;
        assert_eq!(image_kind(&broken), None);
        let mut trailing = sample_png(&[]);
        trailing.extend_from_slice(b"more");
        assert_eq!(image_kind(&trailing), None);
        assert_eq!(image_kind(&sample_png(&[(b"tEXt", b"c\0<script>alert(1)</script>")])), None);
        let mut jpeg = sample_jpeg();
        jpeg.extend_from_slice(b"<html>");
        assert_eq!(image_kind(&jpeg), None);
        assert_eq!(image_kind(b"GIF89a"), None);
        assert_eq!(image_kind(b"<svg"), None);
        assert!(valid_image_name(&format!("{}.png", "a".repeat(64))));
        assert!(!valid_image_name(&format!("{}.png", "A".repeat(64))));
        assert!(!valid_image_name("../secret.key"));
        assert!(!valid_image_name(&format!("{}.svg", "a".repeat(64))));
    }

    #[test]
    fn spreadsheet_text_cannot_become_a_formula() {
        assert_eq!(csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_safe("李强"), "李强");
    }
}
