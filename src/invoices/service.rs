//! Invoice rules: titles (抬头) with a checked USCC, requests per cooperative part of an order
//! or per organisation, cooperative and month, the cooperative's upload (amount checked against
//! the credit ledger), who may fetch the file, and the red invoice a later refund calls for.
//!
//! Lock order: the orders a request covers (by id), then the request's row. A refund locks its
//! order before its hooks run, so it queues behind an upload of the same part or after it.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, NewInvoice, NewRequest, NewTitle, Owner, RequestRow, TitleRow};
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::money::Money;
use crate::orders::hooks::OrderEvent;
use crate::orders::model as orders_model;
use crate::orders::service::Settings;
use crate::orders::status::OrderStatus;

pub const MAX_TITLES: usize = 20;
/// An e-invoice file is at most this large.
pub const MAX_FILE_BYTES: usize = 5 * 1024 * 1024;
pub const STATUSES: [&str; 3] = ["requested", "issued", "red_needed"];

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "special", "name": "示范集团有限公司工会委员会", "uscc": "91350100M000100Y43",
    "address": "北京市西城区金融大街 1 号", "phone": "010-66000000", "bank": "中国工商银行北京金融街支行",
    "account": "0200001234567890123"}))]
pub struct TitleRequest {
    /// `normal` (普通发票) or `special` (专用发票: address, phone, bank and account required).
    pub kind: String,
    pub name: String,
    /// 统一社会信用代码: 18 characters with the GB 32100-2015 check character.
    pub uscc: String,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub bank: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TitleView {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub uscc: String,
    pub address: String,
    pub phone: String,
    pub bank: String,
    pub account: String,
    /// The organisation's (or buyer's) first title is its default.
    pub is_default: bool,
    pub org_id: Option<i64>,
}

fn title_view(t: TitleRow) -> TitleView {
    TitleView {
        id: t.id,
        kind: t.kind,
        name: t.name,
        uscc: t.uscc,
        address: t.address,
        phone: t.phone,
        bank: t.bank,
        account: t.account,
        is_default: t.is_default,
        org_id: t.org_id,
    }
}

fn field(value: &Option<String>) -> String {
    value.as_deref().unwrap_or_default().trim().to_string()
}

/// Checks a title: kind, name, the USCC (422 `invalid_uscc` naming the expected check
/// character) and, for a special invoice, the address, phone, bank and account.
pub fn check_title(r: &TitleRequest) -> Result<(String, String, String, [String; 4]), AppError> {
    if r.kind != "normal" && r.kind != "special" {
        return Err(AppError::unprocessable(
            "invalid_title",
            "kind must be normal (普通发票) or special (专用发票) / 发票类型须为普通发票或专用发票",
        ));
    }
    let name = r.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::unprocessable(
            "invalid_title",
            "the name needs 1-100 characters / 抬头名称须为 1-100 字",
        ));
    }
    let uscc = crate::orgs::service::validate_uscc(&r.uscc).map_err(|m| AppError::unprocessable("invalid_uscc", m))?;
    let extra = [field(&r.address), field(&r.phone), field(&r.bank), field(&r.account)];
    if extra.iter().any(|v| v.chars().count() > 200) {
        return Err(AppError::unprocessable("invalid_title", "a field is longer than 200 characters / 字段过长"));
    }
    if r.kind == "special" && extra.iter().any(String::is_empty) {
        return Err(AppError::unprocessable(
            "invalid_title",
            "a special invoice needs address, phone, bank and account / 专用发票须填写地址、电话、开户行及账号",
        ));
    }
    Ok((r.kind.clone(), name, uscc, extra))
}

/// May the user keep the organisation's titles: an admin member (403 for other members, 404
/// for everyone else).
fn require_org_admin(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<(), AppError> {
    crate::orgs::model::org(conn, org_id)?.ok_or(AppError::NotFound)?;
    match crate::orgs::model::membership(conn, user_id, org_id)? {
        Some(true) => Ok(()),
        Some(false) => Err(AppError::Forbidden),
        None => Err(AppError::NotFound),
    }
}

pub fn titles(conn: &mut AnyConnection, user_id: i64, org_id: Option<i64>) -> Result<Vec<TitleView>, AppError> {
    let owner = match org_id {
        Some(org) => {
            require_org_admin(conn, user_id, org)?;
            Owner::Org(org)
        }
        None => Owner::User(user_id),
    };
    Ok(model::titles_of(conn, owner)?.into_iter().map(title_view).collect())
}

pub fn add_title(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: Option<i64>,
    r: &TitleRequest,
    now: NaiveDateTime,
) -> Result<TitleView, AppError> {
    let (kind, name, uscc, [address, phone, bank, account]) = check_title(r)?;
    if let Some(org) = org_id {
        require_org_admin(conn, user_id, org)?;
    }
    let owner = org_id.map_or(Owner::User(user_id), Owner::Org);
    crate::db::write_tx(conn, |conn| {
        if let Owner::Org(org) = owner {
            // Serialises two admins adding the first (default) title at once.
            crate::orgs::model::org(conn, org)?.ok_or(AppError::NotFound)?;
        }
        let existing = model::titles_of(conn, owner)?;
        if existing.len() >= MAX_TITLES {
            return Err(AppError::conflict("too_many_titles", "at most 20 invoice titles / 最多保存 20 个发票抬头"));
        }
        let id = model::insert_title(
            conn,
            &NewTitle {
                user_id: org_id.is_none().then_some(user_id),
                org_id,
                kind: &kind,
                name: &name,
                uscc: &uscc,
                address: &address,
                phone: &phone,
                bank: &bank,
                account: &account,
                is_default: existing.is_empty(),
                created_at: now,
            },
        )?;
        model::title(conn, id)?.map(title_view).ok_or(AppError::NotFound)
    })
}

// ---------------------------------------------------------------------------------------
// Requests

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title_id": 1}))]
pub struct OrderInvoiceRequest {
    pub title_id: i64,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title_id": 1, "month": "2026-11", "producer_id": 1}))]
pub struct MonthlyInvoiceRequest {
    pub title_id: i64,
    /// `YYYY-MM`: the organisation's orders delivered (or, undated, placed) that month.
    pub month: String,
    pub producer_id: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceView {
    pub id: i64,
    /// `blue` (the invoice) or `red` (a credit invoice, 红字发票).
    pub kind: String,
    pub number: String,
    pub issued_on: NaiveDate,
    #[schema(value_type = String)]
    pub amount: Money,
    /// Where the buyer downloads the file.
    pub file_url: String,
    /// A refund after this invoice calls for a red invoice.
    pub red_needed: bool,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestView {
    pub id: i64,
    /// `order` (one cooperative's part of one order) or `monthly` (consolidated).
    pub scope: String,
    pub order_no: Option<String>,
    pub month: Option<String>,
    /// Every order the request covers.
    pub order_nos: Vec<String>,
    pub org_id: Option<i64>,
    pub producer_id: i64,
    pub producer_zh: String,
    pub producer_en: String,
    /// requested, issued, red_needed.
    pub status: String,
    pub title: TitleView,
    /// What the covered lines come to now: credited less refunded (the credit ledger).
    #[schema(value_type = String)]
    pub amount: Money,
    /// Blue invoices less red ones.
    #[schema(value_type = String)]
    pub invoiced: Money,
    pub invoices: Vec<InvoiceView>,
    pub created_at: NaiveDateTime,
}

/// What the request's parts come to now, from the credit ledger (sales less reversals).
pub fn net_fen(conn: &mut AnyConnection, parts: &[(i64, i64)]) -> Result<i64, AppError> {
    let mut total = 0;
    for (order_id, producer_id) in parts {
        let lines = model::part_line_ids(conn, *order_id, *producer_id)?;
        total += model::credited_fen(conn, &lines)?;
    }
    Ok(total)
}

fn invoiced_fen(invoices: &[model::InvoiceRow]) -> i64 {
    invoices.iter().map(|i| if i.kind == "red" { -i.amount_fen } else { i.amount_fen }).sum()
}

pub fn request_view(conn: &mut AnyConnection, r: RequestRow) -> Result<RequestView, AppError> {
    let parts = model::parts(conn, r.id)?;
    let mut order_nos = Vec::with_capacity(parts.len());
    for (order_id, _) in &parts {
        order_nos.push(orders_model::order_by_id(conn, *order_id)?.order_no);
    }
    let amount = net_fen(conn, &parts)?;
    let rows = model::invoices_of(conn, r.id)?;
    let invoiced = invoiced_fen(&rows);
    let last_blue = rows.iter().rev().find(|i| i.kind == "blue").map(|i| i.id);
    let invoices = rows
        .into_iter()
        .map(|i| InvoiceView {
            red_needed: r.status == "red_needed" && Some(i.id) == last_blue,
            file_url: format!("/api/v1/invoices/{}/file", i.id),
            id: i.id,
            kind: i.kind,
            number: i.number,
            issued_on: i.issued_on,
            amount: Money::from_fen(i.amount_fen),
            created_at: i.created_at,
        })
        .collect();
    let title = model::title(conn, r.title_id)?.map(title_view).ok_or(AppError::NotFound)?;
    let (producer_zh, producer_en) = model::producer_names(conn, r.producer_id)?.unwrap_or_default();
    Ok(RequestView {
        id: r.id,
        scope: if r.order_id.is_some() { "order" } else { "monthly" }.into(),
        order_no: if r.order_id.is_some() { order_nos.first().cloned() } else { None },
        month: r.month,
        order_nos,
        org_id: r.org_id,
        producer_id: r.producer_id,
        producer_zh,
        producer_en,
        status: r.status,
        title,
        amount: Money::from_fen(amount),
        invoiced: Money::from_fen(invoiced),
        invoices,
        created_at: r.created_at,
    })
}

fn is_org_admin(conn: &mut AnyConnection, user_id: i64, org_id: Option<i64>) -> Result<bool, AppError> {
    Ok(match org_id {
        Some(org) => crate::orgs::model::membership(conn, user_id, org)? == Some(true),
        None => false,
    })
}

/// A title the user may put on an invoice for `org_id`'s purchase: their own, or (as its
/// admin) the organisation's. Anything else is "not found".
fn usable_title(
    conn: &mut AnyConnection,
    user_id: i64,
    title_id: i64,
    org_id: Option<i64>,
) -> Result<TitleRow, AppError> {
    let title = model::title(conn, title_id)?.ok_or(AppError::NotFound)?;
    let own = title.user_id == Some(user_id);
    let org = title.org_id.is_some() && title.org_id == org_id && is_org_admin(conn, user_id, org_id)?;
    if own || org {
        Ok(title)
    } else {
        Err(AppError::NotFound)
    }
}

fn already(order_no: &str) -> AppError {
    AppError::conflict(
        "already_requested",
        format!("order {order_no} already has an invoice request for this cooperative / 订单 {order_no} 已申请过该合作社的发票"),
    )
}

fn nothing() -> AppError {
    AppError::conflict("nothing_to_invoice", "nothing left to invoice / 没有可开票的金额")
}

/// A second request for a part fails on the parts' primary key: that is a 409, not a 500.
fn claim_part(
    conn: &mut AnyConnection,
    request_id: i64,
    order: &orders_model::OrderRow,
    producer_id: i64,
) -> Result<(), AppError> {
    use diesel::result::{DatabaseErrorKind, Error};
    match model::insert_part(conn, request_id, order.id, producer_id) {
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Err(already(&order.order_no)),
        other => Ok(other?),
    }
}

fn invoiceable(status: &str) -> bool {
    !OrderStatus::strs(&[OrderStatus::PendingPayment, OrderStatus::AwaitingApproval, OrderStatus::Cancelled])
        .contains(&status)
}

/// `POST /orders/{no}/invoice-requests`: one request per cooperative part of the order not yet
/// requested (the buyer, or an admin of the organisation it was bought for).
pub fn request_for_order(
    conn: &mut AnyConnection,
    user_id: i64,
    order_no: &str,
    title_id: i64,
    now: NaiveDateTime,
) -> Result<Vec<RequestView>, AppError> {
    let ids = crate::db::write_tx(conn, |conn| {
        let order = orders_model::order_by_no(conn, order_no)?.ok_or(AppError::NotFound)?;
        if order.buyer_id != user_id && !is_org_admin(conn, user_id, order.org_id)? {
            return Err(AppError::NotFound);
        }
        let title = usable_title(conn, user_id, title_id, order.org_id)?;
        orders_model::lock_order(conn, order.id)?;
        let order = orders_model::order_by_id(conn, order.id)?;
        if !invoiceable(&order.status) {
            return Err(AppError::conflict(
                "invalid_state",
                format!("an order that is {} cannot be invoiced / 订单未付款或已取消，不能开票", order.status),
            ));
        }
        let mut created = Vec::new();
        let mut requested_before = false;
        for producer_id in model::order_producers(conn, order.id)? {
            if model::part_request(conn, order.id, producer_id)?.is_some() {
                requested_before = true;
                continue;
            }
            if net_fen(conn, &[(order.id, producer_id)])? <= 0 {
                continue;
            }
            let id = model::insert_request(
                conn,
                &NewRequest {
                    title_id: title.id,
                    requested_by: user_id,
                    org_id: order.org_id,
                    order_id: Some(order.id),
                    month: None,
                    producer_id,
                    created_at: now,
                },
            )?;
            claim_part(conn, id, &order, producer_id)?;
            created.push(id);
        }
        if created.is_empty() {
            return Err(if requested_before { already(&order.order_no) } else { nothing() });
        }
        Ok(created)
    })?;
    views(conn, ids)
}

fn views(conn: &mut AnyConnection, ids: Vec<i64>) -> Result<Vec<RequestView>, AppError> {
    ids.into_iter()
        .map(|id| {
            let r = model::request(conn, id)?.ok_or(AppError::NotFound)?;
            request_view(conn, r)
        })
        .collect()
}

/// `YYYY-MM` → its first day.
pub fn parse_month(month: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(&format!("{}-01", month.trim()), "%Y-%m-%d")
        .ok()
        .filter(|d| month.trim().len() == 7 && (2000..=2100).contains(&d.year()))
        .ok_or_else(|| AppError::bad_request("invalid_month", "month must be YYYY-MM / 月份格式须为 YYYY-MM"))
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d)
}

/// `POST /orgs/{id}/invoice-requests`: one consolidated request for every order of the
/// organisation from that cooperative in that month (as on its statement: by delivery month).
pub fn request_for_month(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    r: &MonthlyInvoiceRequest,
    now: NaiveDateTime,
) -> Result<RequestView, AppError> {
    let from = parse_month(&r.month)?;
    crate::orgs::account::require_admin(conn, user_id, org_id)?;
    let title = usable_title(conn, user_id, r.title_id, Some(org_id))?;
    if title.org_id != Some(org_id) {
        return Err(AppError::NotFound);
    }
    model::producer_names(conn, r.producer_id)?.ok_or(AppError::NotFound)?;
    let month = from.format("%Y-%m").to_string();
    let id = crate::db::write_tx(conn, |conn| {
        let orders = crate::orgs::model::statement_orders(conn, org_id, from, next_month(from))?;
        let mut parts = Vec::new();
        for (order, _) in &orders {
            if !model::part_line_ids(conn, order.id, r.producer_id)?.is_empty() {
                // In id order (statement_orders is), as every path locks orders.
                orders_model::lock_order(conn, order.id)?;
                if model::part_request(conn, order.id, r.producer_id)?.is_some() {
                    return Err(already(&order.order_no));
                }
                if net_fen(conn, &[(order.id, r.producer_id)])? > 0 {
                    parts.push(order.clone());
                }
            }
        }
        if parts.is_empty() {
            return Err(nothing());
        }
        let id = model::insert_request(
            conn,
            &NewRequest {
                title_id: title.id,
                requested_by: user_id,
                org_id: Some(org_id),
                order_id: None,
                month: Some(&month),
                producer_id: r.producer_id,
                created_at: now,
            },
        )?;
        for order in &parts {
            claim_part(conn, id, order, r.producer_id)?;
        }
        Ok(id)
    })?;
    views(conn, vec![id]).and_then(|mut v| v.pop().ok_or(AppError::NotFound))
}

/// The requests covering an order (its buyer, or its organisation's admins; 404 otherwise).
pub fn requests_of_order(conn: &mut AnyConnection, user_id: i64, order_no: &str) -> Result<Vec<RequestView>, AppError> {
    let order = orders_model::order_by_no(conn, order_no)?.ok_or(AppError::NotFound)?;
    if order.buyer_id != user_id && !is_org_admin(conn, user_id, order.org_id)? {
        return Err(AppError::NotFound);
    }
    let rows = model::requests_of_order(conn, order.id)?;
    rows.into_iter().map(|r| request_view(conn, r)).collect()
}

pub fn requests_of_org(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<Vec<RequestView>, AppError> {
    require_org_admin(conn, user_id, org_id)?;
    let rows = model::requests_of_org(conn, org_id)?;
    rows.into_iter().map(|r| request_view(conn, r)).collect()
}

pub fn check_status(status: Option<&str>) -> Result<Option<&str>, AppError> {
    match status.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if STATUSES.contains(&s) => Ok(Some(s)),
        Some(_) => Err(AppError::bad_request(
            "invalid_status",
            "status must be requested, issued or red_needed / 状态须为 requested、issued 或 red_needed",
        )),
    }
}

/// The cooperative's requests (its producers' only).
pub fn coop_requests(
    conn: &mut AnyConnection,
    producers: &[i64],
    status: Option<&str>,
) -> Result<Vec<RequestView>, AppError> {
    let rows = model::requests_of_producers(conn, producers, check_status(status)?)?;
    rows.into_iter().map(|r| request_view(conn, r)).collect()
}

// ---------------------------------------------------------------------------------------
// The cooperative's upload

/// What the cooperative sends (multipart: `file`, `number`, `issued_on`, `amount`).
pub struct Upload {
    pub data: Vec<u8>,
    pub number: String,
    pub issued_on: String,
    pub amount: String,
}

/// The file's type from its first bytes: PDF (`%PDF-`) or OFD (a ZIP, `PK\x03\x04`).
pub fn file_type(data: &[u8]) -> Result<(&'static str, &'static str), AppError> {
    if data.len() > MAX_FILE_BYTES {
        return Err(AppError::unprocessable("invoice_file_too_large", "the file is over 5 MiB / 文件超过 5 MiB"));
    }
    if data.starts_with(b"%PDF-") {
        Ok(("application/pdf", "pdf"))
    } else if data.starts_with(b"PK\x03\x04") {
        Ok(("application/ofd", "ofd"))
    } else {
        Err(AppError::unprocessable(
            "unsupported_invoice_file",
            "the file must be a PDF or OFD e-invoice / 发票文件须为 PDF 或 OFD 格式",
        ))
    }
}

pub struct CheckedUpload {
    pub number: String,
    pub issued_on: NaiveDate,
    pub amount_fen: i64,
    pub media_type: &'static str,
    pub extension: &'static str,
}

/// Checks the fields before anything is written: the number (8 or 20 digits, as on paper and
/// fully digital invoices), the date (not in the future), the amount, the file's type.
pub fn check_upload(u: &Upload, today: NaiveDate) -> Result<CheckedUpload, AppError> {
    let number = u.number.trim().to_string();
    if !(number.len() == 8 || number.len() == 20) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::unprocessable(
            "invalid_invoice_number",
            "the invoice number has 8 or 20 digits / 发票号码须为 8 位或 20 位数字",
        ));
    }
    let issued_on = NaiveDate::parse_from_str(u.issued_on.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| d.year() >= 2000 && *d <= today + chrono::Duration::days(1))
        .ok_or_else(|| {
            AppError::unprocessable(
                "invalid_date",
                "issued_on must be a date (YYYY-MM-DD), not in the future / 开票日期有误",
            )
        })?;
    let amount: Money = u
        .amount
        .parse()
        .map_err(|e: String| AppError::unprocessable("invalid_amount", format!("{e} / 金额格式有误")))?;
    if amount.fen() <= 0 {
        return Err(AppError::unprocessable("invalid_amount", "the amount must be above zero / 金额须大于零"));
    }
    let (media_type, extension) = file_type(&u.data)?;
    Ok(CheckedUpload { number, issued_on, amount_fen: amount.fen(), media_type, extension })
}

#[derive(Serialize)]
struct IssuedMail {
    buyer_name: String,
    red: bool,
    number: String,
    issued_on: String,
    amount: String,
    producer_zh: String,
    producer_en: String,
    orders: String,
    file_url: String,
}

/// Records an invoice the cooperative uploaded: a blue one for a new request (the amount must
/// equal what its lines come to now), a red one for one a refund flagged (the amount must be
/// what was invoiced beyond that). The file is already stored as `file_name`.
#[allow(clippy::too_many_arguments)]
pub fn record_upload(
    conn: &mut AnyConnection,
    settings: &Settings,
    user_id: i64,
    producers: &[i64],
    request_id: i64,
    u: &CheckedUpload,
    file_name: &str,
    now: NaiveDateTime,
) -> Result<RequestView, AppError> {
    let request =
        model::request(conn, request_id)?.filter(|r| producers.contains(&r.producer_id)).ok_or(AppError::NotFound)?;
    crate::db::write_tx(conn, |conn| {
        let parts = model::parts(conn, request.id)?;
        for (order_id, _) in &parts {
            orders_model::lock_order(conn, *order_id)?;
        }
        model::lock_request(conn, request.id)?;
        let status = model::request(conn, request.id)?.ok_or(AppError::NotFound)?.status;
        let net = net_fen(conn, &parts)?;
        let invoiced = invoiced_fen(&model::invoices_of(conn, request.id)?);
        let (kind, expected) = match status.as_str() {
            "requested" => ("blue", net),
            "red_needed" => ("red", invoiced - net),
            _ => return Err(AppError::conflict("already_issued", "the invoice was already issued / 该申请已开具发票")),
        };
        if u.amount_fen != expected {
            let expected = Money::from_fen(expected);
            return Err(AppError::unprocessable(
                "amount_mismatch",
                format!(
                    "the {kind} invoice must be for {expected} (lines less refunds) / 发票金额应为 {expected}（开票行减去退款）"
                ),
            ));
        }
        let id = model::insert_invoice(
            conn,
            &NewInvoice {
                request_id: request.id,
                kind,
                number: &u.number,
                issued_on: u.issued_on,
                amount_fen: u.amount_fen,
                file_name,
                media_type: u.media_type,
                uploaded_by: user_id,
                created_at: now,
            },
        )?;
        if !model::set_status(conn, request.id, &status, "issued")? {
            return Err(AppError::conflict("already_issued", "the invoice was already issued / 该申请已开具发票"));
        }
        if let Some(buyer) = crate::accounts::model::find(conn, request.requested_by)? {
            let mut orders = Vec::new();
            for (order_id, _) in &parts {
                orders.push(orders_model::order_by_id(conn, *order_id)?.order_no);
            }
            let (producer_zh, producer_en) = model::producer_names(conn, request.producer_id)?.unwrap_or_default();
            let mail = IssuedMail {
                buyer_name: buyer.display_name.clone(),
                red: kind == "red",
                number: u.number.clone(),
                issued_on: u.issued_on.to_string(),
                amount: Money::from_fen(u.amount_fen).to_string(),
                producer_zh,
                producer_en,
                orders: match &request.month {
                    Some(m) => format!("{m}: {}", orders.join(", ")),
                    None => orders.join(", "),
                },
                file_url: format!("{}/api/v1/invoices/{id}/file", settings.public_url),
            };
            crate::mail::enqueue(conn, "invoice_issued", &buyer.email, &mail, now)?;
        }
        Ok(())
    })?;
    let r = model::request(conn, request.id)?.ok_or(AppError::NotFound)?;
    request_view(conn, r)
}

/// The file of an invoice, for the buyer, its organisation's admins, the issuing cooperative's
/// managers and platform admins; "not found" for everyone else.
pub fn file_of(
    conn: &mut AnyConnection,
    user_id: i64,
    platform_admin: bool,
    invoice_id: i64,
) -> Result<model::InvoiceRow, AppError> {
    let invoice = model::invoice(conn, invoice_id)?.ok_or(AppError::NotFound)?;
    let request = model::request(conn, invoice.request_id)?.ok_or(AppError::NotFound)?;
    if platform_admin || request.requested_by == user_id || model::manages(conn, user_id, request.producer_id)? {
        return Ok(invoice);
    }
    if is_org_admin(conn, user_id, request.org_id)? {
        return Ok(invoice);
    }
    for (order_id, _) in model::parts(conn, request.id)? {
        if orders_model::order_by_id(conn, order_id)?.buyer_id == user_id {
            return Ok(invoice);
        }
    }
    Err(AppError::NotFound)
}

/// The order lifecycle's subscriber: a refund of an invoiced part flags its request
/// `red_needed` (once: a conditional update), so the cooperative issues a red invoice.
pub fn on_order(
    conn: &mut AnyConnection,
    _settings: &Settings,
    event: &OrderEvent,
    _now: NaiveDateTime,
) -> Result<(), AppError> {
    let OrderEvent::Refunded { order, refund } = event else { return Ok(()) };
    let mut producers: Vec<i64> = refund.lines.iter().map(|l| l.line.producer_id).collect();
    producers.sort_unstable();
    producers.dedup();
    for producer_id in producers {
        if let Some(request_id) = model::part_request(conn, order.id, producer_id)? {
            model::lock_request(conn, request_id)?;
            model::set_status(conn, request_id, "issued", "red_needed")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_types_by_magic_bytes() {
        assert_eq!(file_type(b"%PDF-1.7\n...").map(|t| t.1).ok(), Some("pdf"));
        assert_eq!(file_type(b"PK\x03\x04rest").map(|t| t.1).ok(), Some("ofd"));
        assert!(file_type(b"<html>").is_err());
        assert!(file_type(b"").is_err());
    }

    #[test]
    fn months_parse_strictly() {
        assert_eq!(parse_month("2026-11").ok(), NaiveDate::from_ymd_opt(2026, 11, 1));
        assert!(parse_month("2026-13").is_err());
        assert!(parse_month("2026-1").is_err());
        assert_eq!(next_month(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default()).month(), 1);
    }
}
