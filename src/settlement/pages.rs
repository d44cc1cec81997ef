//! The platform admin's settlement pages: `/admin/settlement` (run a period, each
//! cooperative's period, statements with the disputed ones to decide) and `/admin/payouts`
//! (the queue by status, the bank batch file, mark paid or failed); and an organisation's
//! funding statement page, `/orgs/{id}/funding`. Every action goes through the services the
//! API uses.

use actix_web::{get, post, web, HttpResponse};
use chrono::{NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::funding::{self, FundingStatement};
use super::service::{self, PayoutView, PeriodInput, ProducerSettlement, StatementView};
use crate::accounts::model::Role;
use crate::accounts::routes::require_role;
use crate::error::AppError;
use crate::web::forms::CsrfForm;
use crate::web::page::{see_other, Page};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(settlement_page)
        .service(run_submit)
        .service(period_submit)
        .service(decide_submit)
        .service(payouts_page)
        .service(paid_submit)
        .service(failed_submit)
        .service(funding_page);
}

fn now() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

#[derive(Deserialize)]
struct Notice {
    done: Option<String>,
    status: Option<String>,
}

#[derive(Serialize)]
struct StatementRow {
    #[serde(flatten)]
    statement: StatementView,
    producer: String,
    held: bool,
    status_label: String,
}

#[derive(Serialize)]
struct SettlementData {
    admin_section: &'static str,
    today: String,
    producers: Vec<ProducerRow>,
    held: Vec<StatementRow>,
    statements: Vec<StatementRow>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct ProducerRow {
    #[serde(flatten)]
    producer: ProducerSettlement,
    weekly: bool,
}

/// An error shown on the page (bad input, a state that moved), or passed on.
fn shown(page: &Page, e: AppError) -> Result<(String, actix_web::http::StatusCode), AppError> {
    use actix_web::ResponseError;
    match e {
        e @ (AppError::Internal(_) | AppError::Unavailable | AppError::Forbidden) => Err(e),
        e => Ok((page.error_text(&e), e.status_code())),
    }
}

fn label(page: &Page, s: &StatementView) -> String {
    page.t(&format!("settle_status_{}", s.payout_status.as_deref().or(s.resolution.as_deref()).unwrap_or(&s.status)))
}

async fn render_settlement(
    page: &Page,
    notice: Option<String>,
    error: Option<(String, actix_web::http::StatusCode)>,
) -> Result<HttpResponse, AppError> {
    let zone = page.state.config.timezone;
    let (producers, held, statements) = page
        .state
        .db(move |conn| {
            Ok((
                service::producer_settlements(conn, zone, now())?,
                service::admin_statements(conn, Some("held"))?,
                service::admin_statements(conn, None)?,
            ))
        })
        .await?;
    let name = |id: i64| producers.iter().find(|p| p.producer_id == id).map(|p| p.name.clone()).unwrap_or_default();
    let row = |s: StatementView| StatementRow {
        producer: name(s.producer_id),
        held: s.status == "disputed" && s.resolution.is_none(),
        status_label: label(page, &s),
        statement: s,
    };
    let held: Vec<StatementRow> = held.into_iter().map(row).collect();
    let statements: Vec<StatementRow> = statements.into_iter().take(100).map(row).collect();
    let data = SettlementData {
        admin_section: "settlement",
        today: zone.from_utc_datetime(&now()).date_naive().to_string(),
        producers: producers.into_iter().map(|p| ProducerRow { weekly: p.period == "weekly", producer: p }).collect(),
        held,
        statements,
        notice,
        error: error.as_ref().map(|e| e.0.clone()),
    };
    let mut response = page.render("pages/admin_settlement", &page.t("admin_settlement_title"), true, data)?;
    if let Some((_, status)) = error {
        *response.status_mut() = status;
    }
    Ok(response)
}

#[get("/admin/settlement")]
async fn settlement_page(page: Page, query: web::Query<Notice>) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/admin/settlement"));
    }
    require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let notice = match query.into_inner().done.as_deref() {
        Some(k @ ("run" | "period" | "upheld" | "voided")) => Some(page.t(&format!("admin_settlement_done_{k}"))),
        _ => None,
    };
    render_settlement(&page, notice, None).await
}

#[derive(Deserialize)]
struct RunForm {
    period_end: String,
}

#[post("/admin/settlement/run")]
async fn run_submit(page: Page, form: CsrfForm<RunForm>) -> Result<HttpResponse, AppError> {
    require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let zone = page.state.config.timezone;
    let day = NaiveDate::parse_from_str(form.0.period_end.trim(), "%Y-%m-%d");
    let result = match day {
        Ok(day) => page.state.db(move |conn| service::run_period(conn, zone, day, now())).await,
        Err(_) => Err(AppError::bad_request(
            "invalid_period",
            "period_end is a day (YYYY-MM-DD) / 结算截止日格式须为 YYYY-MM-DD",
        )),
    };
    match result {
        Ok(_) => Ok(see_other("/admin/settlement?done=run")),
        Err(e) => {
            let e = shown(&page, e)?;
            render_settlement(&page, None, Some(e)).await
        }
    }
}

#[derive(Deserialize)]
struct PeriodForm {
    period: String,
}

#[post("/admin/settlement/producers/{id}/period")]
async fn period_submit(page: Page, path: web::Path<i64>, form: CsrfForm<PeriodForm>) -> Result<HttpResponse, AppError> {
    require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let (id, input) = (path.into_inner(), PeriodInput { period: form.0.period });
    let zone = page.state.config.timezone;
    match page.state.db(move |conn| service::set_period(conn, zone, id, &input, now())).await {
        Ok(_) => Ok(see_other("/admin/settlement?done=period")),
        Err(e) => {
            let e = shown(&page, e)?;
            render_settlement(&page, None, Some(e)).await
        }
    }
}

#[derive(Deserialize)]
struct DecideForm {
    decision: String,
    note: String,
}

#[post("/admin/settlement/statements/{id}/decide")]
async fn decide_submit(page: Page, path: web::Path<i64>, form: CsrfForm<DecideForm>) -> Result<HttpResponse, AppError> {
    let admin = require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let id = path.into_inner();
    let DecideForm { decision, note } = form.0;
    let uphold = match decision.as_str() {
        "uphold" => true,
        "void" => false,
        _ => {
            let e = AppError::bad_request("invalid_decision", "decide uphold or void / 请选择维持或作废");
            let e = shown(&page, e)?;
            return render_settlement(&page, None, Some(e)).await;
        }
    };
    match page.state.db(move |conn| service::resolve(conn, id, uphold, &note, admin.id, now())).await {
        Ok(_) => Ok(see_other(if uphold { "/admin/settlement?done=upheld" } else { "/admin/settlement?done=voided" })),
        Err(e) => {
            let e = shown(&page, e)?;
            render_settlement(&page, None, Some(e)).await
        }
    }
}

// ---- payouts

#[derive(Serialize)]
struct PayoutsData {
    admin_section: &'static str,
    status: String,
    tabs: Vec<Tab>,
    payouts: Vec<PayoutRow>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct Tab {
    status: &'static str,
    label: String,
    current: bool,
}

#[derive(Serialize)]
struct PayoutRow {
    #[serde(flatten)]
    payout: PayoutView,
    queued: bool,
    status_label: String,
    held_until_local: Option<String>,
    decided_local: Option<String>,
}

async fn render_payouts(
    page: &Page,
    status: String,
    notice: Option<String>,
    error: Option<(String, actix_web::http::StatusCode)>,
) -> Result<HttpResponse, AppError> {
    let wanted = status.clone();
    let payouts = page.state.db(move |conn| service::payouts(conn, Some(&wanted), now())).await?;
    let data = PayoutsData {
        admin_section: "payouts",
        tabs: ["queued", "paid", "failed"]
            .into_iter()
            .map(|s| Tab { status: s, label: page.t(&format!("admin_payouts_tab_{s}")), current: s == status })
            .collect(),
        payouts: payouts
            .into_iter()
            .map(|p| PayoutRow {
                queued: p.status == "queued",
                status_label: page.t(&format!("settle_status_{}", p.status)),
                held_until_local: p.held_until.map(|h| page.time(h)),
                decided_local: p.decided_at.map(|d| page.time(d)),
                payout: p,
            })
            .collect(),
        status,
        notice,
        error: error.as_ref().map(|e| e.0.clone()),
    };
    let mut response = page.render("pages/admin_payouts", &page.t("admin_payouts_title"), true, data)?;
    if let Some((_, code)) = error {
        *response.status_mut() = code;
    }
    Ok(response)
}

fn status_of(raw: Option<&str>) -> String {
    match raw {
        Some(s @ ("paid" | "failed")) => s.to_string(),
        _ => "queued".to_string(),
    }
}

#[get("/admin/payouts")]
async fn payouts_page(page: Page, query: web::Query<Notice>) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/admin/payouts"));
    }
    require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let q = query.into_inner();
    let notice = match q.done.as_deref() {
        Some(k @ ("paid" | "failed")) => Some(page.t(&format!("admin_payouts_done_{k}"))),
        _ => None,
    };
    render_payouts(&page, status_of(q.status.as_deref()), notice, None).await
}

#[derive(Deserialize)]
struct PaidForm {
    bank_reference: String,
}

#[post("/admin/payouts/{id}/paid")]
async fn paid_submit(page: Page, path: web::Path<i64>, form: CsrfForm<PaidForm>) -> Result<HttpResponse, AppError> {
    let admin = require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let (id, reference) = (path.into_inner(), form.0.bank_reference);
    match page.state.db(move |conn| service::mark_paid(conn, id, &reference, admin.id, now())).await {
        Ok(_) => Ok(see_other("/admin/payouts?done=paid")),
        Err(e) => {
            let e = shown(&page, e)?;
            render_payouts(&page, "queued".into(), None, Some(e)).await
        }
    }
}

#[derive(Deserialize)]
struct FailedForm {
    reason: String,
}

#[post("/admin/payouts/{id}/failed")]
async fn failed_submit(page: Page, path: web::Path<i64>, form: CsrfForm<FailedForm>) -> Result<HttpResponse, AppError> {
    let admin = require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let (id, reason) = (path.into_inner(), form.0.reason);
    match page.state.db(move |conn| service::mark_failed(conn, id, &reason, admin.id, now())).await {
        Ok(_) => Ok(see_other("/admin/payouts?done=failed")),
        Err(e) => {
            let e = shown(&page, e)?;
            render_payouts(&page, "queued".into(), None, Some(e)).await
        }
    }
}

// ---- an organisation's funding statement

#[derive(Deserialize)]
struct MonthQuery {
    month: Option<String>,
}

#[derive(Serialize)]
struct FundingData {
    statement: FundingStatement,
    previous: String,
    next: String,
}

#[get("/orgs/{id}/funding")]
async fn funding_page(
    page: Page,
    path: web::Path<i64>,
    query: web::Query<MonthQuery>,
) -> Result<HttpResponse, AppError> {
    let org = path.into_inner();
    if page.user.is_none() {
        return Ok(see_other(&format!("/login?next=/orgs/{org}/funding")));
    }
    let zone = page.state.config.timezone;
    let first = match query.into_inner().month {
        Some(m) => funding::parse_month(&m)?,
        None => {
            let today = zone.from_utc_datetime(&now()).date_naive();
            NaiveDate::from_ymd_opt(chrono::Datelike::year(&today), chrono::Datelike::month(&today), 1).unwrap_or(today)
        }
    };
    super::routes::funding_access(&page.state, &page.session, org).await?;
    let rate = page.state.config.exchange_rate;
    let statement = page.state.db(move |conn| funding::statement(conn, zone, rate, org, first)).await?;
    let month = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m").to_string()).unwrap_or_default();
    let data = FundingData {
        statement,
        previous: month(first.checked_sub_months(chrono::Months::new(1))),
        next: month(first.checked_add_months(chrono::Months::new(1))),
    };
    page.render("pages/org_funding", &page.t("funding_title"), false, data)
}
