//! The invoice pages: the buyer's invoice titles and the invoice section of the order page;
//! the organisation's titles, consolidated monthly requests and requests list, its monthly
//! statement with invoice numbers and states and the reconciliation forms; the cooperative's
//! request queue with the upload form and the disputes; the aid-procurement targets and report.
//! Every action goes through the services the API uses, so the same checks apply.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse, ResponseError};
use chrono::{Datelike, Months, Utc};
use serde::{Deserialize, Serialize};

use super::procurement::{self, ProcurementReport, TargetsRequest, TargetsView};
use super::service::{self, RequestView, TitleRequest, TitleView};
use super::statements::{self, CoopDispute, DisputeRequest};
use super::{model, routes};
use crate::accounts::model::Role;
use crate::accounts::routes::require_role;
use crate::error::AppError;
use crate::money::Money;
use crate::orders::model as orders_model;
use crate::web::page::{see_other, Page};
use crate::web::session;

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(my_titles_page)
        .service(my_title_add)
        .service(order_request)
        .service(org_invoices_page)
        .service(org_title_add)
        .service(org_month_request)
        .service(org_statement_page)
        .service(org_statement_confirm)
        .service(org_statement_dispute)
        .service(coop_invoices_page)
        .service(coop_upload)
        .service(procurement_page)
        .service(procurement_targets);
}

fn now() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

/// Errors a form answers on its own page (what was typed kept); anything else is an error page.
fn form_error(e: &AppError) -> bool {
    matches!(e, AppError::BadRequest { .. } | AppError::Conflict { .. } | AppError::Unprocessable { .. })
}

fn with_status(mut response: HttpResponse, status: StatusCode) -> HttpResponse {
    *response.status_mut() = status;
    response
}

/// A notice key from the query, shown through the catalog (`invoice_notice_<key>`).
fn notice(page: &Page, key: Option<&str>) -> Option<String> {
    const KNOWN: [&str; 8] =
        ["title_added", "requested", "uploaded", "confirmed", "disputed", "targets_saved", "invoice_requested", "ok"];
    key.filter(|k| KNOWN.contains(k)).map(|k| page.t(&format!("invoice_notice_{k}")))
}

// ---------------------------------------------------------------------------------------
// Titles (the buyer's and the organisation's)

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TitleFields {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    uscc: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    bank: String,
    #[serde(default)]
    account: String,
}

impl TitleFields {
    fn request(&self) -> TitleRequest {
        let opt = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        TitleRequest {
            kind: if self.kind == "special" { "special" } else { "normal" }.into(),
            name: self.name.clone(),
            uscc: self.uscc.clone(),
            address: opt(&self.address),
            phone: opt(&self.phone),
            bank: opt(&self.bank),
            account: opt(&self.account),
        }
    }
}

#[derive(Deserialize)]
struct TitleForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(flatten)]
    fields: TitleFields,
}

#[derive(Serialize)]
struct TitlesData {
    titles: Vec<TitleView>,
    form: TitleFields,
    special: bool,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn render_my_titles(
    page: &Page,
    form: TitleFields,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let titles = page.state.db(move |conn| service::titles(conn, user.id, None)).await?;
    let special = form.kind == "special";
    page.render(
        "pages/invoice_titles",
        &page.t("invoice_titles_title"),
        true,
        TitlesData { titles, form, special, notice, error },
    )
}

#[get("/account/invoices")]
async fn my_titles_page(page: Page, query: web::Query<NoticeQuery>) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/account/invoices"));
    }
    let n = notice(&page, query.notice.as_deref());
    render_my_titles(&page, TitleFields::default(), n, None).await
}

#[post("/account/invoices")]
async fn my_title_add(page: Page, form: web::Form<TitleForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let fields = form.into_inner().fields;
    let r = fields.request();
    match page.state.db(move |conn| service::add_title(conn, user.id, None, &r, now())).await {
        Ok(_) => Ok(see_other("/account/invoices?notice=title_added")),
        Err(e) if form_error(&e) => {
            let status = e.status_code();
            Ok(with_status(render_my_titles(&page, fields, None, Some(page.error_text(&e))).await?, status))
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------
// The order page's invoice section

/// What the order page shows about invoices: the requests covering the order (each
/// cooperative's part) with their invoices, and the titles to ask with when a part is open.
#[derive(Serialize)]
pub struct OrderInvoices {
    pub requests: Vec<RequestView>,
    pub titles: Vec<TitleView>,
    /// Some cooperative part of a paid order has no request yet.
    pub can_request: bool,
}

/// The order page's invoice section, for the order's buyer or its organisation's admins.
pub async fn order_invoices(page: &Page, order_no: String) -> Result<OrderInvoices, AppError> {
    let user = session::require_user(&page.session)?;
    page.state
        .db(move |conn| {
            let requests = service::requests_of_order(conn, user.id, &order_no)?;
            let order = orders_model::order_by_no(conn, &order_no)?.ok_or(AppError::NotFound)?;
            let paid = !["pending_payment", "awaiting_approval", "cancelled"].contains(&order.status.as_str());
            let mut can_request = false;
            if paid {
                for producer_id in model::order_producers(conn, order.id)? {
                    if model::part_request(conn, order.id, producer_id)?.is_none()
                        && service::net_fen(conn, &[(order.id, producer_id)])? > 0
                    {
                        can_request = true;
                    }
                }
            }
            let mut titles = service::titles(conn, user.id, None)?;
            if let Some(org) = order.org_id {
                if crate::orgs::model::membership(conn, user.id, org)? == Some(true) {
                    titles.extend(service::titles(conn, user.id, Some(org))?);
                }
            }
            Ok(OrderInvoices { requests, titles, can_request })
        })
        .await
}

#[derive(Deserialize)]
struct OrderRequestForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    title_id: i64,
}

/// Asks for the invoices of an order's open parts, from the order page.
#[post("/orders/{order_no}/invoices")]
async fn order_request(
    page: Page,
    path: web::Path<String>,
    form: web::Form<OrderRequestForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let (no, title) = (path.into_inner(), form.title_id);
    let n = no.clone();
    page.state.db(move |conn| service::request_for_order(conn, user.id, &n, title, now())).await?;
    Ok(see_other(&format!("/orders/{no}?notice=invoice_requested#invoices")))
}

// ---------------------------------------------------------------------------------------
// The organisation: titles, consolidated requests, statements

#[derive(Deserialize)]
struct OrgQuery {
    org: i64,
    notice: Option<String>,
}

#[derive(Serialize)]
struct MonthChoice {
    month: String,
    selected: bool,
}

#[derive(Serialize)]
struct ProducerChoice {
    id: i64,
    name_zh: String,
    name_en: String,
}

#[derive(Serialize, Default, Clone, Deserialize)]
struct MonthFields {
    #[serde(default)]
    title_id: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    producer_id: String,
}

#[derive(Serialize)]
struct OrgInvoicesData {
    org_id: i64,
    org_zh: String,
    org_en: String,
    /// A company buys nothing on account: no statement, no consolidated request.
    company: bool,
    titles: Vec<TitleView>,
    requests: Vec<RequestView>,
    producers: Vec<ProducerChoice>,
    months: Vec<MonthChoice>,
    form: TitleFields,
    special: bool,
    notice: Option<String>,
    error: Option<String>,
}

/// This month, the two before it and the next (a statement by delivery date may lie ahead).
fn recent_months(selected: &str) -> Vec<MonthChoice> {
    let first = Utc::now().date_naive().with_day(1).unwrap_or_else(|| Utc::now().date_naive());
    let mut out = Vec::new();
    for back in [-1i32, 0, 1, 2] {
        let d = if back < 0 {
            first.checked_add_months(Months::new(1))
        } else {
            first.checked_sub_months(Months::new(back.unsigned_abs()))
        };
        if let Some(d) = d {
            let month = d.format("%Y-%m").to_string();
            out.push(MonthChoice { selected: month == selected, month });
        }
    }
    if !out.iter().any(|m| m.selected) {
        if let Some(m) = out.get_mut(1) {
            m.selected = true;
        }
    }
    out
}

async fn render_org_invoices(
    page: &Page,
    org_id: i64,
    form: TitleFields,
    month: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let (titles, requests, org, producers) = page
        .state
        .db(move |conn| {
            let titles = service::titles(conn, user.id, Some(org_id))?;
            let requests = service::requests_of_org(conn, user.id, org_id)?;
            let org = crate::orgs::model::org(conn, org_id)?.ok_or(AppError::NotFound)?;
            let producers = model::all_producers(conn)?;
            Ok((titles, requests, org, producers))
        })
        .await?;
    let special = form.kind == "special";
    let data = OrgInvoicesData {
        org_id,
        company: org.kind == "company",
        org_zh: org.name_zh,
        org_en: org.name_en,
        titles,
        requests,
        producers: producers
            .into_iter()
            .map(|(id, name_zh, name_en)| ProducerChoice { id, name_zh, name_en })
            .collect(),
        months: recent_months(month),
        form,
        special,
        notice,
        error,
    };
    page.render("pages/org_invoices", &page.t("org_invoices_title"), true, data)
}

#[get("/org/invoices")]
async fn org_invoices_page(page: Page, query: web::Query<OrgQuery>) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/account"));
    }
    let n = notice(&page, query.notice.as_deref());
    render_org_invoices(&page, query.org, TitleFields::default(), "", n, None).await
}

#[derive(Deserialize)]
struct OrgTitleForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    org: i64,
    #[serde(flatten)]
    fields: TitleFields,
}

#[post("/org/invoices/titles")]
async fn org_title_add(page: Page, form: web::Form<OrgTitleForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let form = form.into_inner();
    let (org, r) = (form.org, form.fields.request());
    match page.state.db(move |conn| service::add_title(conn, user.id, Some(org), &r, now())).await {
        Ok(_) => Ok(see_other(&format!("/org/invoices?org={org}&notice=title_added"))),
        Err(e) if form_error(&e) => {
            let (status, text) = (e.status_code(), page.error_text(&e));
            Ok(with_status(render_org_invoices(&page, org, form.fields, "", None, Some(text)).await?, status))
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct MonthForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    org: i64,
    #[serde(flatten)]
    fields: MonthFields,
}

fn id_field(raw: &str) -> Result<i64, AppError> {
    raw.trim().parse().map_err(|_| AppError::NotFound)
}

/// One consolidated invoice request per cooperative and month.
#[post("/org/invoices/requests")]
async fn org_month_request(page: Page, form: web::Form<MonthForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let form = form.into_inner();
    let org = form.org;
    let r = service::MonthlyInvoiceRequest {
        title_id: id_field(&form.fields.title_id)?,
        month: form.fields.month.clone(),
        producer_id: id_field(&form.fields.producer_id)?,
    };
    match page.state.db(move |conn| service::request_for_month(conn, user.id, org, &r, now())).await {
        Ok(_) => Ok(see_other(&format!("/org/invoices?org={org}&notice=requested"))),
        Err(e) if form_error(&e) => {
            let (status, text) = (e.status_code(), page.error_text(&e));
            let month = form.fields.month.clone();
            let response = render_org_invoices(&page, org, TitleFields::default(), &month, None, Some(text)).await?;
            Ok(with_status(response, status))
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct StatementQuery {
    org: i64,
    month: Option<String>,
    notice: Option<String>,
}

#[derive(Serialize)]
struct StatementData {
    statement: crate::orgs::canteen::Statement,
    months: Vec<MonthChoice>,
    confirmed: bool,
    /// The lines an organisation can dispute (orders, not points grants).
    disputable: bool,
    note: String,
    notice: Option<String>,
    error: Option<String>,
}

async fn render_statement(
    page: &Page,
    org: i64,
    month: &str,
    note: String,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let first = service::parse_month(month)?;
    let statement = page.state.db(move |conn| statements::statement(conn, user.id, org, first)).await?;
    let data = StatementData {
        confirmed: statement.review_status.as_deref() == Some("confirmed"),
        disputable: statement.orders.iter().any(|l| l.invoice_state != "not_applicable"),
        months: recent_months(&statement.month),
        statement,
        note,
        notice,
        error,
    };
    page.render("pages/org_statement", &page.t("org_statement_title"), true, data)
}

/// The month's statement with each line's invoices and invoice state, and reconciliation.
#[get("/org/statement")]
async fn org_statement_page(page: Page, query: web::Query<StatementQuery>) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/account"));
    }
    let q = query.into_inner();
    let month = q.month.unwrap_or_else(|| Utc::now().date_naive().format("%Y-%m").to_string());
    let n = notice(&page, q.notice.as_deref());
    render_statement(&page, q.org, &month, String::new(), n, None).await
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    org: i64,
    month: String,
}

#[post("/org/statement/confirm")]
async fn org_statement_confirm(page: Page, form: web::Form<ConfirmForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let ConfirmForm { org, month, .. } = form.into_inner();
    let m = month.clone();
    match page.state.db(move |conn| statements::review(conn, user.id, org, &m, None, now())).await {
        Ok(v) => Ok(see_other(&format!("/org/statement?org={org}&month={}&notice=confirmed", v.month))),
        Err(e) if form_error(&e) && !matches!(e, AppError::BadRequest { .. }) => {
            let (status, text) = (e.status_code(), page.error_text(&e));
            Ok(with_status(render_statement(&page, org, &month, String::new(), None, Some(text)).await?, status))
        }
        Err(e) => Err(e),
    }
}

/// The dispute form: `org`, `month`, `note` and one `lines` field per ticked order (a form
/// repeats the name, which only a list of pairs keeps).
#[post("/org/statement/dispute")]
async fn org_statement_dispute(page: Page, body: web::Bytes) -> Result<HttpResponse, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| AppError::bad_request("invalid_form", "the form could not be read / 表单内容有误"))?;
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    session::verify_csrf(&page.session, &field("_csrf"))?;
    let user = session::require_user(&page.session)?;
    let org: i64 = field("org").trim().parse().map_err(|_| AppError::NotFound)?;
    let month = field("month");
    let request = DisputeRequest {
        lines: pairs.iter().filter(|(k, _)| k == "lines").map(|(_, v)| v.clone()).collect(),
        note: field("note"),
    };
    let (m, r) = (month.clone(), request.clone());
    match page.state.db(move |conn| statements::review(conn, user.id, org, &m, Some(&r), now())).await {
        Ok(v) => Ok(see_other(&format!("/org/statement?org={org}&month={}&notice=disputed", v.month))),
        Err(e) if form_error(&e) && !matches!(e, AppError::BadRequest { .. }) => {
            let (status, text) = (e.status_code(), page.error_text(&e));
            Ok(with_status(render_statement(&page, org, &month, request.note, None, Some(text)).await?, status))
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------
// The cooperative: requests, uploads, disputes

#[derive(Deserialize)]
struct CoopQuery {
    status: Option<String>,
    notice: Option<String>,
}

#[derive(Serialize)]
struct CoopRequestItem {
    #[serde(flatten)]
    request: RequestView,
    /// Whether an upload is due (blue for `requested`, red for `red_needed`), and its amount.
    red: bool,
    upload_due: bool,
    expected: Money,
}

#[derive(Serialize)]
struct StatusChoice {
    value: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct CoopData {
    requests: Vec<CoopRequestItem>,
    disputes: Vec<CoopDispute>,
    statuses: Vec<StatusChoice>,
    status: String,
    today: String,
    notice: Option<String>,
    error: Option<String>,
    /// The request whose upload failed, to show the error beside it.
    failed: Option<i64>,
}

async fn render_coop(
    page: &Page,
    status: Option<String>,
    notice: Option<String>,
    error: Option<(i64, String)>,
) -> Result<HttpResponse, AppError> {
    let me = require_role(&page.state, &page.session, Role::CoopManager).await?;
    let s = status.clone().filter(|s| !s.is_empty());
    let (requests, disputes) = page
        .state
        .db(move |conn| {
            let m = crate::coop::service::manager(conn, me.id)?;
            let requests = service::coop_requests(conn, &m.producers, s.as_deref())?;
            Ok((requests, statements::coop_disputes(conn, &m.producers)?))
        })
        .await?;
    let status = status.unwrap_or_default();
    let requests = requests
        .into_iter()
        .map(|r| {
            let red = r.status == "red_needed";
            let expected = if red { Money::from_fen(r.invoiced.fen() - r.amount.fen()) } else { r.amount };
            CoopRequestItem { upload_due: r.status != "issued", red, expected, request: r }
        })
        .collect();
    let data = CoopData {
        requests,
        disputes,
        statuses: service::STATUSES.iter().map(|value| StatusChoice { value, selected: *value == status }).collect(),
        status,
        today: Utc::now().date_naive().to_string(),
        notice,
        failed: error.as_ref().map(|e| e.0),
        error: error.map(|e| e.1),
    };
    page.render("pages/coop_invoices", &page.t("coop_invoices_title"), true, data)
}

/// The cooperative's invoice requests (filter by status) with an upload form each, and the
/// statement disputes that name its goods.
#[get("/coop/invoices")]
async fn coop_invoices_page(page: Page, query: web::Query<CoopQuery>) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/coop/invoices"));
    }
    let q = query.into_inner();
    service::check_status(q.status.as_deref())?;
    let n = notice(&page, q.notice.as_deref());
    render_coop(&page, q.status, n, None).await
}

/// The upload form (multipart, with the page's CSRF token as a field).
#[post("/coop/invoices/{id}")]
async fn coop_upload(
    page: Page,
    path: web::Path<i64>,
    mut form: actix_multipart::Multipart,
) -> Result<HttpResponse, AppError> {
    let (upload, csrf) = routes::read_upload(&mut form).await?;
    session::verify_csrf(&page.session, &csrf)?;
    let me = require_role(&page.state, &page.session, Role::CoopManager).await?;
    let id = path.into_inner();
    match routes::store_upload(&page.state, me.id, id, upload).await {
        Ok(_) => Ok(see_other("/coop/invoices?notice=uploaded")),
        Err(e) if form_error(&e) => {
            let (status, text) = (e.status_code(), page.error_text(&e));
            Ok(with_status(render_coop(&page, None, None, Some((id, text))).await?, status))
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------
// Aid procurement: targets and report

#[derive(Deserialize)]
struct ProcurementQuery {
    org: i64,
    year: Option<i32>,
    format: Option<String>,
    notice: Option<String>,
}

#[derive(Serialize, Deserialize, Default, Clone)]
struct TargetFields {
    #[serde(default)]
    canteen_food_budget: String,
    #[serde(default)]
    union_welfare_budget: String,
    #[serde(default)]
    canteen_target_pct: String,
    #[serde(default)]
    welfare_target_pct: String,
}

impl TargetFields {
    fn of(t: &TargetsView) -> TargetFields {
        TargetFields {
            canteen_food_budget: t.canteen_food_budget.to_string(),
            union_welfare_budget: t.union_welfare_budget.to_string(),
            canteen_target_pct: t.canteen_target_pct.to_string(),
            welfare_target_pct: t.welfare_target_pct.to_string(),
        }
    }

    fn request(&self) -> Result<TargetsRequest, AppError> {
        let money = |v: &str| {
            let v = v.trim();
            if v.is_empty() { Ok(Money::from_fen(0)) } else { v.parse::<Money>() }
                .map_err(|e| AppError::unprocessable("invalid_target", format!("{e} / 金额格式有误")))
        };
        let pct = |v: &str| {
            let v = v.trim();
            if v.is_empty() {
                return Ok(None);
            }
            v.parse::<i32>().map(Some).map_err(|_| {
                AppError::unprocessable("invalid_target", "a target share is 0-100 percent / 目标比例须为 0-100")
            })
        };
        let (canteen, welfare) = (money(&self.canteen_food_budget)?, money(&self.union_welfare_budget)?);
        if canteen.fen() < 0 || welfare.fen() < 0 {
            return Err(AppError::unprocessable("invalid_target", "a budget cannot be negative / 预算不能为负"));
        }
        Ok(TargetsRequest {
            canteen_food_budget: canteen,
            union_welfare_budget: welfare,
            canteen_target_pct: pct(&self.canteen_target_pct)?,
            welfare_target_pct: pct(&self.welfare_target_pct)?,
        })
    }
}

#[derive(Serialize)]
struct YearChoice {
    year: i32,
    selected: bool,
}

#[derive(Serialize)]
struct ProcurementData {
    company: bool,
    report: ProcurementReport,
    form: TargetFields,
    years: Vec<YearChoice>,
    notice: Option<String>,
    error: Option<String>,
}

async fn render_procurement(
    page: &Page,
    org: i64,
    year: i32,
    form: Option<TargetFields>,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let report = page.state.db(move |conn| procurement::report(conn, user.id, org, year)).await?;
    let this_year = Utc::now().year();
    let data = ProcurementData {
        company: report.orgs.first().is_some_and(|o| o.kind == "company"),
        form: form.unwrap_or_else(|| TargetFields::of(&report.targets)),
        years: (this_year - 2..=this_year + 1).rev().map(|y| YearChoice { year: y, selected: y == year }).collect(),
        report,
        notice,
        error,
    };
    page.render("pages/org_procurement", &page.t("procurement_title"), true, data)
}

/// The targets form and the report (per organisation and month, shares and progress bars);
/// `format=xlsx` downloads the sheet.
#[get("/org/procurement")]
async fn procurement_page(page: Page, query: web::Query<ProcurementQuery>) -> Result<HttpResponse, AppError> {
    let Some(user) = page.user.clone() else { return Ok(see_other("/login?next=/account")) };
    let q = query.into_inner();
    let year = procurement::check_year(q.year.unwrap_or_else(|| Utc::now().year()))?;
    match q.format.as_deref() {
        None | Some("html") => {
            let n = notice(&page, q.notice.as_deref());
            render_procurement(&page, q.org, year, None, n, None).await
        }
        Some("xlsx") => {
            let org = q.org;
            let report = page.state.db(move |conn| procurement::report(conn, user.id, org, year)).await?;
            let body = procurement::report_xlsx(&report)?;
            Ok(crate::web::download::xlsx(&format!("aid-procurement-{org}-{year}.xlsx"), body))
        }
        Some(_) => Err(AppError::bad_request("invalid_format", "format must be html or xlsx / 格式须为 html 或 xlsx")),
    }
}

#[derive(Deserialize)]
struct TargetsForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    org: i64,
    year: i32,
    #[serde(flatten)]
    fields: TargetFields,
}

#[post("/org/procurement/targets")]
async fn procurement_targets(page: Page, form: web::Form<TargetsForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let form = form.into_inner();
    let (org, year) = (form.org, procurement::check_year(form.year)?);
    let result = match form.fields.request() {
        Ok(r) => page.state.db(move |conn| procurement::set_targets(conn, user.id, org, year, &r, now())).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/org/procurement?org={org}&year={year}&notice=targets_saved"))),
        Err(e) if form_error(&e) => {
            let (status, text) = (e.status_code(), page.error_text(&e));
            Ok(with_status(render_procurement(&page, org, year, Some(form.fields), None, Some(text)).await?, status))
        }
        Err(e) => Err(e),
    }
}
