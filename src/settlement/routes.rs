//! Settlement API: the cooperative's earnings and statements under `/api/v1/coop/…`, the
//! platform admin's settlement runs and payout queue under `/api/v1/admin/…`.

use actix_session::Session;
use actix_web::{get, post, put, web, HttpResponse};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::funding::{self, FundingStatement};
use super::service::{
    self, BankInput, BankView, Earnings, PayoutView, PeriodInput, ProducerSettlement, ResolveInput, StatementDetail,
    StatementView,
};
use crate::accounts::model::Role;
use crate::accounts::routes::require_role;
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::coop::service::{csv_safe, Manager};
use crate::error::AppError;
use crate::web::download;
use crate::web::forms::CsrfForm;
use crate::web::page::{see_other, Page};

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_earnings)
        .service(api_statements)
        .service(api_statement)
        .service(api_confirm)
        .service(api_dispute)
        .service(api_run)
        .service(api_bank)
        .service(api_payouts)
        .service(api_payouts_csv)
        .service(api_paid)
        .service(api_failed)
        .service(api_admin_statements)
        .service(api_admin_statement)
        .service(api_uphold)
        .service(api_void)
        .service(api_producers)
        .service(api_set_period)
        .service(api_funding);
}

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(earnings_page).service(confirm_submit).service(dispute_submit).service(bank_submit);
}

fn now() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

/// The logged-in cooperative manager, or 401/403.
async fn manager(state: &AppState, session: &Session) -> Result<Manager, AppError> {
    let me = require_role(state, session, Role::CoopManager).await?;
    state.db(move |conn| crate::coop::service::manager(conn, me.id)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProducerQuery {
    producer_id: Option<i64>,
}

/// The manager's producer named by `producer_id`, else the first they manage; another's is 404.
fn pick(m: &Manager, producer_id: Option<i64>) -> Result<i64, AppError> {
    match producer_id {
        Some(id) if m.producers.contains(&id) => Ok(id),
        Some(_) => Err(AppError::NotFound),
        None => m.producers.first().copied().ok_or(AppError::Forbidden),
    }
}

/// The cooperative's money: pending (earned, not yet settled), available (settled, not yet in a
/// payout), in payout, paid out, fees, and the balance still owed (pending + available + in payout).
#[utoipa::path(tag = "coop", params(("producer_id" = Option<i64>, Query, description = "for a manager of several cooperatives; default: the first")), responses((status = 200, body = Earnings), (status = 401), (status = 403), (status = 404)))]
#[get("/coop/earnings")]
async fn api_earnings(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<ProducerQuery>,
) -> Result<web::Json<Earnings>, AppError> {
    let m = manager(&state, &session).await?;
    let producer = pick(&m, query.producer_id)?;
    Ok(web::Json(state.db(move |conn| service::earnings(conn, producer)).await?))
}

/// The settlement statements (对账单) of the manager's cooperatives, newest first (at most 200).
#[utoipa::path(tag = "coop", responses((status = 200, body = [StatementView]), (status = 401), (status = 403)))]
#[get("/coop/statements")]
async fn api_statements(
    state: web::Data<AppState>,
    session: Session,
) -> Result<web::Json<Vec<StatementView>>, AppError> {
    let m = manager(&state, &session).await?;
    Ok(web::Json(state.db(move |conn| service::statements(conn, &m.producers)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatQuery {
    format: Option<String>,
}

/// One statement with its lines (every earning, fee, refund, clawback and payout movement of
/// the period); `format` json (default), csv or xlsx. Another cooperative's statement is 404.
#[utoipa::path(tag = "coop", params(("id" = i64, Path), ("format" = Option<String>, Query, description = "json | csv | xlsx")), responses((status = 200, body = StatementDetail), (status = 400, description = "invalid_format"), (status = 401), (status = 403), (status = 404)))]
#[get("/coop/statements/{id}")]
async fn api_statement(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    query: web::Query<FormatQuery>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&state, &session).await?;
    let id = path.into_inner();
    let format = query.into_inner().format.unwrap_or_else(|| "json".into());
    if !["json", "csv", "xlsx"].contains(&format.as_str()) {
        return Err(AppError::bad_request(
            "invalid_format",
            "format is json, csv or xlsx / 格式须为 json、csv 或 xlsx",
        ));
    }
    let detail = state.db(move |conn| service::statement(conn, &m.producers, id)).await?;
    statement_response(detail, &format)
}

fn statement_response(detail: StatementDetail, format: &str) -> Result<HttpResponse, AppError> {
    let name = format!("statement-{}-{}", detail.statement.producer_id, detail.statement.period_end);
    match format {
        "csv" => Ok(download::csv(&format!("{name}.csv"), statement_csv(&detail)?)),
        "xlsx" => Ok(download::xlsx(&format!("{name}.xlsx"), statement_xlsx(&detail)?)),
        _ => Ok(HttpResponse::Ok().json(detail)),
    }
}

const STATEMENT_HEADER: [&str; 8] = [
    "时间 time (UTC)",
    "类型 kind",
    "订单 order",
    "金额 amount",
    "待结算 pending",
    "可结算 available",
    "手续费 fees",
    "条目 entry",
];

fn summary(d: &StatementDetail) -> [(String, String); 5] {
    let s = &d.statement;
    [
        (
            "期间 period".into(),
            format!("{} – {}", s.period_start.map(|p| p.to_string()).unwrap_or_default(), s.period_end),
        ),
        ("期初 opening".into(), s.opening.to_string()),
        ("期末 closing".into(), s.closing.to_string()),
        ("应付 payable".into(), s.payable.to_string()),
        ("状态 status".into(), s.status.clone()),
    ]
}

fn statement_csv(d: &StatementDetail) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for (k, v) in summary(d) {
        w.write_record([
            k,
            v,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ])
        .map_err(AppError::internal)?;
    }
    w.write_record(STATEMENT_HEADER).map_err(AppError::internal)?;
    for l in &d.lines {
        w.write_record([
            l.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            l.kind.clone(),
            csv_safe(l.order_no.as_deref().unwrap_or("")),
            l.amount.to_string(),
            l.pending.to_string(),
            l.available.to_string(),
            l.fees.to_string(),
            l.entry_id.to_string(),
        ])
        .map_err(AppError::internal)?;
    }
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(w.into_inner().map_err(AppError::internal)?);
    Ok(out)
}

fn statement_xlsx(d: &StatementDetail) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("0.00");
    let x = |e: rust_xlsxwriter::XlsxError| AppError::internal(format!("xlsx: {e}"));
    for (i, (k, v)) in summary(d).iter().enumerate() {
        sheet.write_string_with_format(i as u32, 0, k, &bold).map_err(x)?;
        sheet.write_string(i as u32, 1, v).map_err(x)?;
    }
    let top = summary(d).len() as u32 + 1;
    for (c, h) in STATEMENT_HEADER.iter().enumerate() {
        sheet.write_string_with_format(top, c as u16, *h, &bold).map_err(x)?;
    }
    for (i, l) in d.lines.iter().enumerate() {
        let row = top + 1 + i as u32;
        sheet.write_string(row, 0, l.created_at.format("%Y-%m-%d %H:%M:%S").to_string()).map_err(x)?;
        sheet.write_string(row, 1, &l.kind).map_err(x)?;
        sheet.write_string(row, 2, l.order_no.as_deref().unwrap_or("")).map_err(x)?;
        // fen / 100 is exact to the fen in f64 for any figure below 2^53 fen.
        for (c, v) in [(3u16, l.amount), (4, l.pending), (5, l.available), (6, l.fees)] {
            sheet.write_number_with_format(row, c, v.fen() as f64 / 100.0, &money).map_err(x)?;
        }
        sheet.write_number(row, 7, l.entry_id as f64).map_err(x)?;
    }
    book.save_to_buffer().map_err(x)
}

/// `POST /api/v1/coop/statements/{id}/dispute`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "11月18日订单 A8F3K2P9Q1 的退款已线下处理，请核对"}))]
pub struct DisputeRequest {
    /// What is wrong, 1 to 500 characters.
    pub note: String,
}

/// Confirms an open statement; a positive payable amount joins the payout queue. 409
/// `invalid_state` when it is confirmed or disputed already.
#[utoipa::path(tag = "coop", params(("id" = i64, Path)), responses((status = 200, body = StatementView), (status = 401), (status = 403), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/coop/statements/{id}/confirm")]
async fn api_confirm(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
) -> Result<web::Json<StatementView>, AppError> {
    let m = manager(&state, &session).await?;
    let id = path.into_inner();
    Ok(web::Json(state.db(move |conn| service::decide(conn, &m.producers, id, true, None, m.user_id, now())).await?))
}

/// Disputes an open statement with a note; it is held for an admin (nothing is paid).
#[utoipa::path(tag = "coop", params(("id" = i64, Path)), request_body = DisputeRequest, responses((status = 200, body = StatementView), (status = 400, description = "invalid_note"), (status = 401), (status = 403), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/coop/statements/{id}/dispute")]
async fn api_dispute(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<DisputeRequest>,
) -> Result<web::Json<StatementView>, AppError> {
    let m = manager(&state, &session).await?;
    let (id, note) = (path.into_inner(), body.into_inner().note);
    Ok(web::Json(
        state.db(move |conn| service::decide(conn, &m.producers, id, false, Some(&note), m.user_id, now())).await?,
    ))
}

/// `POST /api/v1/admin/settlements/run`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"period_end": "2026-11-22"}))]
pub struct RunRequest {
    /// The period's last day in the store's time zone, today or earlier (YYYY-MM-DD).
    #[schema(value_type = String, format = Date)]
    pub period_end: NaiveDate,
}

/// Closes the period ending `period_end` for every cooperative with unsettled entries and
/// returns the statements created; running it again for the same period creates nothing.
#[utoipa::path(tag = "admin", request_body = RunRequest, responses((status = 200, body = [StatementView]), (status = 400, description = "invalid_period"), (status = 401), (status = 403)))]
#[post("/admin/settlements/run")]
async fn api_run(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<RunRequest>,
) -> Result<web::Json<Vec<StatementView>>, AppError> {
    require_role(&state, &session, Role::PlatformAdmin).await?;
    let period_end = body.into_inner().period_end;
    let zone = state.config.timezone;
    Ok(web::Json(state.db(move |conn| service::run_period(conn, zone, period_end, now())).await?))
}

/// Sets the cooperative's bank details (户名, 开户行, 账号). A change of details already set
/// holds its payouts for 24 hours; every setting is mailed to all its managers.
#[utoipa::path(tag = "coop", request_body = BankInput, responses((status = 200, body = BankView), (status = 400, description = "invalid_bank_account"), (status = 401), (status = 403), (status = 404)))]
#[put("/coop/bank-account")]
async fn api_bank(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<BankInput>,
) -> Result<web::Json<BankView>, AppError> {
    let m = manager(&state, &session).await?;
    let input = body.into_inner();
    let producer = pick(&m, input.producer_id)?;
    Ok(web::Json(state.db(move |conn| service::set_bank(conn, producer, &input, now())).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusQuery {
    status: Option<String>,
}

/// The payout queue (oldest first, at most 1000), by `status`: queued, paid or failed.
#[utoipa::path(tag = "admin", params(("status" = Option<String>, Query, description = "queued | paid | failed")), responses((status = 200, body = [PayoutView]), (status = 400, description = "invalid_status"), (status = 401), (status = 403)))]
#[get("/admin/payouts")]
async fn api_payouts(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<StatusQuery>,
) -> Result<web::Json<Vec<PayoutView>>, AppError> {
    require_role(&state, &session, Role::PlatformAdmin).await?;
    let status = query.into_inner().status;
    Ok(web::Json(state.db(move |conn| service::payouts(conn, status.as_deref(), now())).await?))
}

/// The bank batch file (批量代发) of the queued payouts payable now: payee name, bank, account
/// number, amount, memo (CSV, UTF-8 with a BOM).
#[utoipa::path(tag = "admin", responses((status = 200, content_type = "text/csv", description = "收款人 payee name,开户行 bank,账号 account number,金额 amount,用途 memo"), (status = 401), (status = 403)))]
#[get("/admin/payouts.csv")]
async fn api_payouts_csv(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    require_role(&state, &session, Role::PlatformAdmin).await?;
    let body = state.db(move |conn| service::payouts_csv(conn, now())).await?;
    Ok(download::csv("payouts.csv", body))
}

/// `POST /api/v1/admin/payouts/{id}/paid`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"bank_reference": "ABC20261126000123"}))]
pub struct PaidRequest {
    pub bank_reference: String,
}

/// `POST /api/v1/admin/payouts/{id}/failed`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "户名与账号不符，银行退回"}))]
pub struct FailedRequest {
    pub reason: String,
}

/// Marks a payout paid with the bank's reference and posts it to the credit ledger (with the
/// reference's SHA-256). Again: the same answer, nothing moves. 409 `invalid_state` (failed),
/// `payout_on_hold` (bank details changed within 24 hours), `no_bank_account`.
#[utoipa::path(tag = "admin", params(("id" = i64, Path)), request_body = PaidRequest, responses((status = 200, body = PayoutView), (status = 400, description = "invalid_reference"), (status = 401), (status = 403), (status = 404), (status = 409, description = "invalid_state, payout_on_hold, no_bank_account")))]
#[post("/admin/payouts/{id}/paid")]
async fn api_paid(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<PaidRequest>,
) -> Result<web::Json<PayoutView>, AppError> {
    let admin = require_role(&state, &session, Role::PlatformAdmin).await?;
    let (id, reference) = (path.into_inner(), body.into_inner().bank_reference);
    Ok(web::Json(state.db(move |conn| service::mark_paid(conn, id, &reference, admin.id, now())).await?))
}

/// Marks a payout failed: the amount returns to the cooperative's available balance. Again:
/// the same answer; 409 `invalid_state` when it was paid.
#[utoipa::path(tag = "admin", params(("id" = i64, Path)), request_body = FailedRequest, responses((status = 200, body = PayoutView), (status = 400, description = "invalid_reason"), (status = 401), (status = 403), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/admin/payouts/{id}/failed")]
async fn api_failed(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<FailedRequest>,
) -> Result<web::Json<PayoutView>, AppError> {
    let admin = require_role(&state, &session, Role::PlatformAdmin).await?;
    let (id, reason) = (path.into_inner(), body.into_inner().reason);
    Ok(web::Json(state.db(move |conn| service::mark_failed(conn, id, &reason, admin.id, now())).await?))
}

// ---------------------------------------------------------------------------------------
// The cooperative's 收入 page

#[derive(serde::Serialize)]
struct EarningsPageData {
    earnings: Earnings,
    statements: Vec<StatementRow>,
    bank: BankForm,
    /// The day the cooperative's current period closes into a statement.
    next_settlement: String,
    period_label: String,
    notice: Option<String>,
    error: Option<String>,
    dispute_note: String,
}

/// The bank form's values (empty until set) and, after a change, until when payouts wait.
#[derive(serde::Serialize, Deserialize, Default)]
struct BankForm {
    account_name: String,
    bank: String,
    account_no: String,
    #[serde(skip_deserializing)]
    held_until: Option<String>,
}

#[derive(serde::Serialize)]
struct StatementRow {
    #[serde(flatten)]
    statement: StatementView,
    open: bool,
    status_label: String,
}

#[derive(Deserialize)]
struct NoticeQuery {
    done: Option<String>,
}

async fn render_earnings(
    page: &Page,
    m: Manager,
    notice: Option<String>,
    error: Option<String>,
    note: String,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, AppError> {
    let producer = pick(&m, None)?;
    let zone = page.state.config.timezone;
    let (earnings, statements, bank, next, period) = page
        .state
        .db(move |conn| {
            Ok((
                service::earnings(conn, producer)?,
                service::statements(conn, &m.producers)?,
                service::bank(conn, producer, now())?,
                service::next_settlement(conn, zone, producer, now())?,
                super::model::periods(conn, &[producer])?.pop().map_or_else(|| "monthly".to_string(), |p| p.1),
            ))
        })
        .await?;
    let statements = statements
        .into_iter()
        .map(|s| StatementRow {
            open: s.status == "open",
            status_label: page.t(&format!(
                "settle_status_{}",
                s.payout_status.as_deref().or(s.resolution.as_deref()).unwrap_or(&s.status)
            )),
            statement: s,
        })
        .collect();
    let bank = bank
        .map(|b| BankForm {
            account_name: b.account_name.unwrap_or_default(),
            bank: b.bank.unwrap_or_default(),
            account_no: b.account_no.unwrap_or_default(),
            held_until: b.payouts_held_until.map(|h| page.time(h)),
        })
        .unwrap_or_default();
    let data = EarningsPageData {
        earnings,
        statements,
        bank,
        next_settlement: next.to_string(),
        period_label: page.t(&format!("settle_period_{period}")),
        notice,
        error,
        dispute_note: note,
    };
    let mut response = page.render("pages/coop_earnings", &page.t("settle_title"), true, data)?;
    *response.status_mut() = status;
    Ok(response)
}

#[get("/coop/earnings")]
async fn earnings_page(page: Page, query: web::Query<NoticeQuery>) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/coop/earnings"));
    }
    let m = manager(&page.state, &page.session).await?;
    let notice = match query.into_inner().done.as_deref() {
        Some(k @ ("confirmed" | "disputed" | "bank")) => Some(page.t(&format!("settle_done_{k}"))),
        _ => None,
    };
    render_earnings(&page, m, notice, None, String::new(), actix_web::http::StatusCode::OK).await
}

/// An error shown on the page itself (bad input, a state that moved), or passed on.
fn shown(page: &Page, e: AppError) -> Result<(String, actix_web::http::StatusCode), AppError> {
    use actix_web::ResponseError;
    match e {
        e @ (AppError::Internal(_) | AppError::Unavailable | AppError::NotFound | AppError::Forbidden) => Err(e),
        e => Ok((page.error_text(&e), e.status_code())),
    }
}

#[derive(Deserialize)]
struct Empty {}

#[post("/coop/earnings/statements/{id}/confirm")]
async fn confirm_submit(page: Page, path: web::Path<i64>, _: CsrfForm<Empty>) -> Result<HttpResponse, AppError> {
    let m = manager(&page.state, &page.session).await?;
    let id = path.into_inner();
    let m2 = m.clone();
    match page.state.db(move |conn| service::decide(conn, &m2.producers, id, true, None, m2.user_id, now())).await {
        Ok(_) => Ok(see_other("/coop/earnings?done=confirmed")),
        Err(e) => {
            let (text, status) = shown(&page, e)?;
            render_earnings(&page, m, None, Some(text), String::new(), status).await
        }
    }
}

#[derive(Deserialize)]
struct DisputeForm {
    note: String,
}

#[post("/coop/earnings/statements/{id}/dispute")]
async fn dispute_submit(
    page: Page,
    path: web::Path<i64>,
    form: CsrfForm<DisputeForm>,
) -> Result<HttpResponse, AppError> {
    let m = manager(&page.state, &page.session).await?;
    let id = path.into_inner();
    let note = form.0.note;
    let (m2, n2) = (m.clone(), note.clone());
    match page.state.db(move |conn| service::decide(conn, &m2.producers, id, false, Some(&n2), m2.user_id, now())).await
    {
        Ok(_) => Ok(see_other("/coop/earnings?done=disputed")),
        Err(e) => {
            let (text, status) = shown(&page, e)?;
            render_earnings(&page, m, None, Some(text), note, status).await
        }
    }
}

#[post("/coop/earnings/bank")]
async fn bank_submit(page: Page, form: CsrfForm<BankForm>) -> Result<HttpResponse, AppError> {
    let m = manager(&page.state, &page.session).await?;
    let producer = pick(&m, None)?;
    let f = form.0;
    let input = BankInput { producer_id: None, account_name: f.account_name, bank: f.bank, account_no: f.account_no };
    match page.state.db(move |conn| service::set_bank(conn, producer, &input, now())).await {
        Ok(_) => Ok(see_other("/coop/earnings?done=bank")),
        Err(e) => {
            let (text, status) = shown(&page, e)?;
            render_earnings(&page, m, None, Some(text), String::new(), status).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// The admin's statements, producers' periods, and organisations' funding statements

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminStatementsQuery {
    status: Option<String>,
}

/// Every cooperative's statements, newest first (at most 500), by `status`: open, confirmed,
/// disputed, or held (disputed and waiting for an admin's decision).
#[utoipa::path(tag = "admin", params(("status" = Option<String>, Query, description = "open | confirmed | disputed | held")), responses((status = 200, body = [StatementView]), (status = 400, description = "invalid_status"), (status = 401), (status = 403)))]
#[get("/admin/statements")]
async fn api_admin_statements(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<AdminStatementsQuery>,
) -> Result<web::Json<Vec<StatementView>>, AppError> {
    require_role(&state, &session, Role::PlatformAdmin).await?;
    let status = query.into_inner().status;
    Ok(web::Json(state.db(move |conn| service::admin_statements(conn, status.as_deref())).await?))
}

/// Any cooperative's statement with its lines; `format` json (default), csv or xlsx.
#[utoipa::path(tag = "admin", params(("id" = i64, Path), ("format" = Option<String>, Query, description = "json | csv | xlsx")), responses((status = 200, body = StatementDetail), (status = 400, description = "invalid_format"), (status = 401), (status = 403), (status = 404)))]
#[get("/admin/statements/{id}")]
async fn api_admin_statement(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    query: web::Query<FormatQuery>,
) -> Result<HttpResponse, AppError> {
    require_role(&state, &session, Role::PlatformAdmin).await?;
    let id = path.into_inner();
    let format = query.into_inner().format.unwrap_or_else(|| "json".into());
    if !["json", "csv", "xlsx"].contains(&format.as_str()) {
        return Err(AppError::bad_request(
            "invalid_format",
            "format is json, csv or xlsx / 格式须为 json、csv 或 xlsx",
        ));
    }
    let detail = state.db(move |conn| service::admin_statement(conn, id)).await?;
    statement_response(detail, &format)
}

/// Upholds a disputed statement held for an admin, with a note: it stands as stated and a
/// positive payable joins the payout queue. The cooperative's managers are mailed. 409
/// `invalid_state` unless it is disputed and not yet decided.
#[utoipa::path(tag = "admin", params(("id" = i64, Path)), request_body = ResolveInput, responses((status = 200, body = StatementView), (status = 400, description = "invalid_note"), (status = 401), (status = 403), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/admin/statements/{id}/uphold")]
async fn api_uphold(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<ResolveInput>,
) -> Result<web::Json<StatementView>, AppError> {
    let admin = require_role(&state, &session, Role::PlatformAdmin).await?;
    let (id, note) = (path.into_inner(), body.into_inner().note);
    Ok(web::Json(state.db(move |conn| service::resolve(conn, id, true, &note, admin.id, now())).await?))
}

/// Voids a disputed statement held for an admin, with a note: its entries come off it and
/// the next run includes them; its payable returns to available. The cooperative's managers
/// are mailed. 409 `invalid_state` unless it is disputed and not yet decided.
#[utoipa::path(tag = "admin", params(("id" = i64, Path)), request_body = ResolveInput, responses((status = 200, body = StatementView), (status = 400, description = "invalid_note"), (status = 401), (status = 403), (status = 404), (status = 409, description = "invalid_state")))]
#[post("/admin/statements/{id}/void")]
async fn api_void(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<ResolveInput>,
) -> Result<web::Json<StatementView>, AppError> {
    let admin = require_role(&state, &session, Role::PlatformAdmin).await?;
    let (id, note) = (path.into_inner(), body.into_inner().note);
    Ok(web::Json(state.db(move |conn| service::resolve(conn, id, false, &note, admin.id, now())).await?))
}

/// Every cooperative's settlement period, next settlement day and balances.
#[utoipa::path(tag = "admin", responses((status = 200, body = [ProducerSettlement]), (status = 401), (status = 403)))]
#[get("/admin/settlement/producers")]
async fn api_producers(
    state: web::Data<AppState>,
    session: Session,
) -> Result<web::Json<Vec<ProducerSettlement>>, AppError> {
    require_role(&state, &session, Role::PlatformAdmin).await?;
    let zone = state.config.timezone;
    Ok(web::Json(state.db(move |conn| service::producer_settlements(conn, zone, now())).await?))
}

/// Sets a cooperative's settlement period: `weekly` (Monday to Sunday) or `monthly`. The job
/// closes each finished period into a statement.
#[utoipa::path(tag = "admin", params(("id" = i64, Path)), request_body = PeriodInput, responses((status = 200, body = ProducerSettlement), (status = 400, description = "invalid_period"), (status = 401), (status = 403), (status = 404)))]
#[put("/admin/producers/{id}/settlement-period")]
async fn api_set_period(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
    body: web::Json<PeriodInput>,
) -> Result<web::Json<ProducerSettlement>, AppError> {
    require_role(&state, &session, Role::PlatformAdmin).await?;
    let (id, input) = (path.into_inner(), body.into_inner());
    let zone = state.config.timezone;
    Ok(web::Json(state.db(move |conn| service::set_period(conn, zone, id, &input, now())).await?))
}

/// Whether the user may see the organisation's funding statement: a platform admin, or an
/// admin of that organisation (403 otherwise; an unknown organisation is 404).
pub(super) async fn funding_access(state: &AppState, session: &Session, org: i64) -> Result<(), AppError> {
    let me = crate::accounts::routes::require_me(state, session).await?;
    if me.has_role(Role::PlatformAdmin) {
        return Ok(());
    }
    state.db(move |conn| crate::orgs::members::require_member_admin(conn, me.id, org).map(|_| ())).await
}

/// The organisation's funding statement for a month (store time zone): the points redeemed
/// in orders from the lots it funded (welfare points it granted), less what refunds gave
/// back, per order and in total, at the exchange rate; and the points it granted that month.
/// `format` json (default), csv or xlsx. Its admins and platform admins only.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("month" = String, Path, description = "YYYY-MM"), ("format" = Option<String>, Query, description = "json | csv | xlsx")),
    responses((status = 200, body = FundingStatement), (status = 400, description = "invalid_month, invalid_format"), (status = 401), (status = 403), (status = 404)))]
#[get("/orgs/{id}/funding-statements/{month}")]
async fn api_funding(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(i64, String)>,
    query: web::Query<FormatQuery>,
) -> Result<HttpResponse, AppError> {
    let (org, month) = path.into_inner();
    let first = funding::parse_month(&month)?;
    let format = query.into_inner().format.unwrap_or_else(|| "json".into());
    if !["json", "csv", "xlsx"].contains(&format.as_str()) {
        return Err(AppError::bad_request(
            "invalid_format",
            "format is json, csv or xlsx / 格式须为 json、csv 或 xlsx",
        ));
    }
    funding_access(&state, &session, org).await?;
    let (zone, rate) = (state.config.timezone, state.config.exchange_rate);
    let st = state.db(move |conn| funding::statement(conn, zone, rate, org, first)).await?;
    funding_response(st, &format)
}

fn funding_response(st: FundingStatement, format: &str) -> Result<HttpResponse, AppError> {
    let name = format!("funding-{}-{}", st.org_slug, st.month);
    match format {
        "csv" => Ok(download::csv(&format!("{name}.csv"), funding::csv(&st)?)),
        "xlsx" => Ok(download::xlsx(&format!("{name}.xlsx"), funding::xlsx(&st)?)),
        _ => Ok(HttpResponse::Ok().json(st)),
    }
}
