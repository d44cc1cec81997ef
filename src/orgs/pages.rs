//! The union portal (budget, approvals, welfare distribution, orders) and the canteen portal
//! (schedules, upcoming deliveries, statements). Every action is checked on the server by the
//! same services the API uses.

use actix_web::{get, post, web, HttpResponse};
use chrono::{Datelike, Utc};
use serde::{Deserialize, Serialize};

use super::canteen::{self, RunView, ScheduleView};
use super::distribution::{self, Preview, RowError, UploadError, UploadOptions};
use super::service::{self, OrgOrderView, OrgView, PendingApproval};
use super::{account, model};
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::money::Money;
use crate::orders::service::{Address, Buyer, LineRequest, OrderRequest};
use crate::orders::status::OrderStatus;
use crate::web::page::{see_other, Page};
use crate::web::session;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(union_page)
        .service(union_approve)
        .service(union_reject)
        .service(union_distribution)
        .service(canteen_page)
        .service(canteen_order)
        .service(canteen_schedule)
        .service(canteen_schedule_edit)
        .service(canteen_schedule_action)
        .service(canteen_statement)
        .service(invite_page)
        .service(invite_accept);
}

#[derive(Deserialize)]
struct OrgQuery {
    org: Option<i64>,
    notice: Option<String>,
}

/// The organisations of `kind` that the user administers: (id, name zh, name en).
fn admin_orgs(conn: &mut AnyConnection, user_id: i64, kind: &str) -> Result<Vec<(i64, String, String)>, AppError> {
    let mut out = Vec::new();
    for m in crate::accounts::model::memberships(conn, user_id)? {
        if m.kind != kind || !m.is_admin {
            continue;
        }
        if let Some(org) = model::org(conn, m.org_id)? {
            if account::is_org_admin(conn, user_id, &org)? {
                out.push((org.id, org.name_zh, org.name_en));
            }
        }
    }
    Ok(out)
}

#[derive(Serialize)]
struct OrgChoice {
    id: i64,
    name_zh: String,
    name_en: String,
    selected: bool,
}

#[derive(Serialize)]
struct OrderItem {
    order_no: String,
    created_at: String,
    total: Money,
    status_label: String,
    approval: Option<String>,
    recipients: i64,
    delivery_date: Option<String>,
}

fn order_items(page: &Page, orders: Vec<OrgOrderView>) -> Vec<OrderItem> {
    orders
        .into_iter()
        .map(|o| OrderItem {
            status_label: match o.approval.as_deref() {
                Some("pending") if o.order.status == "pending_payment" => page.t("order_status_awaiting_approval"),
                _ => page.t(&format!("order_status_{}", o.order.status)),
            },
            approval: o.approval.map(|a| page.t(&format!("union_approval_{a}"))),
            order_no: o.order.order_no,
            created_at: page.time(o.order.created_at),
            total: o.order.total,
            recipients: o.recipients,
            delivery_date: o.delivery_date.map(|d| d.to_string()),
        })
        .collect()
}

#[derive(Default, Serialize)]
struct Upload {
    csv: String,
    sku: String,
    quantity: String,
    preview: Option<Preview>,
    rows: Vec<RowError>,
    error: Option<String>,
}

/// A pending approval with what the approver needs to decide: the lines, the recipients, who
/// placed it and the budget left (the order's share is already held).
#[derive(Serialize)]
struct ApprovalFacts {
    #[serde(flatten)]
    approval: PendingApproval,
    lines: Vec<crate::orders::service::LineView>,
    recipients: i64,
    placed_by_name: String,
    budget_left: Option<Money>,
}

#[derive(Serialize)]
struct UnionData {
    orgs: Vec<OrgChoice>,
    org: OrgView,
    approvals: Vec<ApprovalFacts>,
    orders: Vec<OrderItem>,
    upload: Upload,
    notice: Option<String>,
}

fn pick(orgs: &[(i64, String, String)], wanted: Option<i64>) -> Result<i64, AppError> {
    match wanted {
        Some(id) if orgs.iter().any(|o| o.0 == id) => Ok(id),
        Some(_) => Err(AppError::Forbidden),
        None => orgs.first().map(|o| o.0).ok_or(AppError::Forbidden),
    }
}

fn choices(orgs: Vec<(i64, String, String)>, selected: i64) -> Vec<OrgChoice> {
    orgs.into_iter()
        .map(|(id, name_zh, name_en)| OrgChoice { id, name_zh, name_en, selected: id == selected })
        .collect()
}

async fn render_union(
    page: &Page,
    user_id: i64,
    wanted: Option<i64>,
    notice: Option<String>,
    upload: Upload,
) -> Result<HttpResponse, AppError> {
    let (orgs, org, approvals, orders) = page
        .state
        .db(move |conn| {
            let orgs = admin_orgs(conn, user_id, "union")?;
            let id = pick(&orgs, wanted)?;
            let org = service::view(conn, user_id, id)?;
            let mut approvals = Vec::new();
            let budget_left = org.budget.as_ref().map(|b| b.budget_left);
            for a in service::pending_approvals(conn, user_id, id)? {
                let order = service::order_of(conn, user_id, id, &a.order_no)?;
                let placer = crate::accounts::model::find(conn, a.placed_by)?;
                approvals.push(ApprovalFacts {
                    lines: order.order.lines,
                    recipients: order.recipients,
                    placed_by_name: placer.map(|u| format!("{} ({})", u.display_name, u.email)).unwrap_or_default(),
                    budget_left,
                    approval: a,
                });
            }
            let orders = service::orders_of(conn, user_id, id)?;
            Ok((choices(orgs, id), org, approvals, orders))
        })
        .await?;
    let notice = notice.filter(|n| ["approved", "rejected", "placed"].contains(&n.as_str()));
    let data = UnionData {
        orders: order_items(page, orders),
        notice: notice.map(|n| page.t(&format!("union_notice_{n}"))),
        orgs,
        org,
        approvals,
        upload,
    };
    page.render("pages/union_portal", &page.t("union_title"), true, data)
}

#[get("/union")]
async fn union_page(page: Page, query: web::Query<OrgQuery>) -> Result<HttpResponse, AppError> {
    let Some(user) = page.user.clone() else { return Ok(see_other("/login?next=/union")) };
    let q = query.into_inner();
    render_union(&page, user.id, q.org, q.notice, Upload::default()).await
}

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    org: i64,
    #[serde(default)]
    reason: String,
}

#[post("/union/orders/{order_no}/approve")]
async fn union_approve(
    page: Page,
    path: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let no = path.into_inner();
    let settings = page.state.order_settings();
    page.state.db(move |conn| account::approve(conn, &settings, user.id, &no, Utc::now().naive_utc())).await?;
    Ok(see_other(&format!("/union?org={}&notice=approved", form.org)))
}

#[post("/union/orders/{order_no}/reject")]
async fn union_reject(
    page: Page,
    path: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let no = path.into_inner();
    let reason = form.reason.clone();
    let settings = page.state.order_settings();
    page.state.db(move |conn| account::reject(conn, &settings, user.id, &no, &reason, Utc::now().naive_utc())).await?;
    Ok(see_other(&format!("/union?org={}&notice=rejected", form.org)))
}

#[derive(Deserialize)]
struct DistributionForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    org: i64,
    csv: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    quantity: String,
    action: String,
}

/// Preview (the totals, or every bad row) or confirm (the order is placed).
#[post("/union/distribution")]
async fn union_distribution(page: Page, form: web::Form<DistributionForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let me = crate::accounts::routes::require_me(&page.state, &page.session).await?;
    let form = form.into_inner();
    let options = UploadOptions {
        sku: Some(form.sku.trim().to_string()).filter(|s| !s.is_empty()),
        quantity: form.quantity.trim().parse().ok(),
        campaign_id: None,
    };
    let org = form.org;
    let body = form.csv.clone().into_bytes();
    let confirm = form.action == "confirm";
    let buyer = Buyer::from(me);
    let settings = page.state.order_settings();
    let user_id = buyer.id;
    let result = page
        .state
        .db(move |conn| {
            let now = Utc::now().naive_utc();
            Ok(if confirm {
                distribution::confirm(conn, &settings, &buyer, org, &body, &options, now).map(|_| None)
            } else {
                distribution::preview(conn, buyer.id, org, &body, &options, now).map(Some)
            })
        })
        .await?;
    let mut upload = Upload { csv: form.csv, sku: form.sku, quantity: form.quantity, ..Upload::default() };
    match result {
        Ok(None) => return Ok(see_other(&format!("/union?org={org}&notice=placed"))),
        Ok(Some(preview)) => upload.preview = Some(preview),
        Err(UploadError::Rows(rows)) => upload.rows = rows,
        Err(UploadError::App(e @ (AppError::Forbidden | AppError::NotFound | AppError::Unauthenticated))) => {
            return Err(e)
        }
        Err(UploadError::App(e)) => upload.error = Some(page.error_text(&e)),
    }
    render_union(&page, user_id, Some(org), None, upload).await
}

#[derive(Serialize)]
struct MonthLink {
    month: String,
}

/// A product in the canteen's picker, priced as the order prices it; `data-*` for the live total.
#[derive(Serialize)]
struct PickerOption {
    sku_id: i64,
    product_zh: String,
    product_en: String,
    sku_zh: String,
    sku_en: String,
    unit_zh: String,
    unit_en: String,
    unit_price: Money,
    price_fen: i64,
    campaign_price_fen: Option<i64>,
    tiers: String,
    selected: bool,
}

fn picker_options(items: &[canteen::PickerItem], selected: &str) -> Vec<PickerOption> {
    items
        .iter()
        .map(|p| PickerOption {
            sku_id: p.sku_id,
            product_zh: p.product_zh.clone(),
            product_en: p.product_en.clone(),
            sku_zh: p.sku_zh.clone(),
            sku_en: p.sku_en.clone(),
            unit_zh: p.unit_zh.clone(),
            unit_en: p.unit_en.clone(),
            unit_price: p.unit_price,
            price_fen: p.price_fen,
            campaign_price_fen: p.campaign_price_fen,
            tiers: p.tiers.clone(),
            selected: selected.trim() == p.sku_id.to_string() || selected.trim() == p.code,
        })
        .collect()
}

/// What a canteen form shows: the typed input after an error, else the defaults.
#[derive(Serialize, Clone)]
struct FormEcho {
    sku_id: String,
    quantity: String,
    delivery_date: String,
    cadence_fortnightly: bool,
    end_date: String,
    lead_days: String,
    name: String,
    mobile: String,
    province: String,
    city: String,
    district: String,
    detail: String,
}

impl FormEcho {
    fn defaults(org: &OrgView, tomorrow: &str) -> FormEcho {
        FormEcho {
            sku_id: String::new(),
            quantity: String::new(),
            delivery_date: tomorrow.to_string(),
            cadence_fortnightly: false,
            end_date: String::new(),
            lead_days: "2".into(),
            name: String::new(),
            mobile: String::new(),
            province: String::new(),
            city: String::new(),
            district: String::new(),
            detail: org.address.clone(),
        }
    }

    fn from_form(f: &CanteenForm) -> FormEcho {
        FormEcho {
            sku_id: if f.sku_id.trim().is_empty() { f.sku.clone() } else { f.sku_id.clone() },
            quantity: f.quantity.clone(),
            delivery_date: f.delivery_date.clone(),
            cadence_fortnightly: f.cadence == "fortnightly",
            end_date: f.end_date.clone(),
            lead_days: if f.lead_days.is_empty() { "2".into() } else { f.lead_days.clone() },
            name: f.name.clone(),
            mobile: f.mobile.clone(),
            province: f.province.clone(),
            city: f.city.clone(),
            district: f.district.clone(),
            detail: f.detail.clone(),
        }
    }
}

/// A schedule as the portal shows it, with its edit form's choices.
#[derive(Serialize)]
struct ScheduleItem {
    #[serde(flatten)]
    schedule: ScheduleView,
    status_label: String,
    can_pause: bool,
    can_resume: bool,
    can_cancel: bool,
    can_edit: bool,
    /// The first line's quantity, for the edit form.
    edit_quantity: i64,
    edit_options: Vec<PickerOption>,
    fortnightly: bool,
}

#[derive(Serialize)]
struct CanteenData {
    orgs: Vec<OrgChoice>,
    org: OrgView,
    schedules: Vec<ScheduleItem>,
    runs: Vec<RunView>,
    upcoming: Vec<OrderItem>,
    months: Vec<MonthLink>,
    tomorrow: String,
    notice: Option<String>,
    error: Option<String>,
    order_form: FormEcho,
    schedule_form: FormEcho,
    order_options: Vec<PickerOption>,
    schedule_options: Vec<PickerOption>,
    /// Which form the error belongs to: `order`, `schedule` or `manage`.
    error_in: String,
}

#[get("/canteen")]
async fn canteen_page(page: Page, query: web::Query<OrgQuery>) -> Result<HttpResponse, AppError> {
    let Some(user) = page.user.clone() else { return Ok(see_other("/login?next=/canteen")) };
    let q = query.into_inner();
    let notice = q.notice.filter(|n| {
        ["ordered", "scheduled", "schedule_paused", "schedule_resumed", "schedule_cancelled", "schedule_edited"]
            .contains(&n.as_str())
    });
    render_canteen(&page, user.id, q.org, notice.map(|n| page.t(&format!("canteen_notice_{n}"))), None).await
}

/// The statement months to offer: from the month of the latest delivery ordered (a future
/// month included) back to two months before this one.
fn statement_months(today: chrono::NaiveDate, latest_delivery: Option<chrono::NaiveDate>) -> Vec<MonthLink> {
    let index = |d: chrono::NaiveDate| d.year() * 12 + d.month0() as i32;
    let newest = latest_delivery.map_or(index(today), |d| index(d).max(index(today)));
    let oldest = index(today) - 2;
    (oldest..=newest)
        .rev()
        .map(|i| MonthLink { month: format!("{:04}-{:02}", i.div_euclid(12), i.rem_euclid(12) + 1) })
        .collect()
}

async fn render_canteen(
    page: &Page,
    user_id: i64,
    wanted: Option<i64>,
    notice: Option<String>,
    error: Option<(String, &str, Option<FormEcho>)>,
) -> Result<HttpResponse, AppError> {
    let today = Utc::now().date_naive();
    let (orgs, org, schedules, orders, picker) = page
        .state
        .db(move |conn| {
            let orgs = admin_orgs(conn, user_id, "canteen")?;
            let id = pick(&orgs, wanted)?;
            let org = service::view(conn, user_id, id)?;
            let schedules = canteen::schedules_on(conn, user_id, id, today)?;
            let orders = service::orders_of(conn, user_id, id)?;
            Ok((choices(orgs, id), org, schedules, orders, canteen::picker(conn)?))
        })
        .await?;
    let latest = orders
        .iter()
        .filter(|o| o.order.status != OrderStatus::Cancelled.as_str())
        .filter_map(|o| o.delivery_date)
        .max();
    let mut upcoming: Vec<OrgOrderView> = orders
        .into_iter()
        .filter(|o| o.delivery_date.is_some_and(|d| d >= today) && o.order.status != OrderStatus::Cancelled.as_str())
        .collect();
    upcoming.sort_by_key(|o| o.delivery_date);
    let tomorrow = (today + chrono::Duration::days(1)).to_string();
    let defaults = FormEcho::defaults(&org, &tomorrow);
    let (error, error_in, echo) = match error {
        Some((text, kind, echo)) => (Some(text), kind.to_string(), echo),
        None => (None, String::new(), None),
    };
    let order_form = echo.clone().filter(|_| error_in == "order").unwrap_or_else(|| defaults.clone());
    let schedule_form = echo.filter(|_| error_in == "schedule").unwrap_or_else(|| defaults.clone());
    let runs = schedules.runs;
    let schedules = schedules
        .schedules
        .into_iter()
        .map(|s| {
            let first = s.lines.first().map(|l| (l.sku_id.to_string(), l.quantity)).unwrap_or_default();
            ScheduleItem {
                status_label: page.t(&format!("canteen_schedule_{}", s.status)),
                can_pause: s.status == "active",
                can_resume: s.status == "paused",
                can_cancel: s.status == "active" || s.status == "paused",
                // The page edits one line; a schedule of several lines is edited through the API.
                can_edit: s.status != "cancelled" && s.lines.len() == 1,
                edit_quantity: first.1,
                edit_options: picker_options(&picker, &first.0),
                fortnightly: s.cadence == "fortnightly",
                schedule: s,
            }
        })
        .collect();
    let data = CanteenData {
        orgs,
        schedules,
        runs,
        upcoming: order_items(page, upcoming),
        months: statement_months(today, latest),
        order_options: picker_options(&picker, &order_form.sku_id),
        schedule_options: picker_options(&picker, &schedule_form.sku_id),
        order_form,
        schedule_form,
        tomorrow,
        notice,
        error,
        error_in,
        org,
    };
    page.render("pages/canteen_portal", &page.t("canteen_title"), true, data)
}

/// The canteen's order or schedule form: a product from the picker (`sku_id`; a typed SKU
/// code in `sku` is still accepted), a quantity, and where to deliver.
#[derive(Deserialize)]
struct CanteenForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    org: i64,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    sku_id: String,
    quantity: String,
    delivery_date: String,
    #[serde(default)]
    cadence: String,
    #[serde(default)]
    end_date: String,
    #[serde(default)]
    lead_days: String,
    name: String,
    mobile: String,
    province: String,
    city: String,
    district: String,
    detail: String,
}

fn form_error(what: &str) -> AppError {
    AppError::bad_request("invalid_form", format!("{what} / 表单内容有误"))
}

impl CanteenForm {
    fn address(&self) -> Address {
        Address {
            name: self.name.trim().to_string(),
            mobile: self.mobile.trim().to_string(),
            province: self.province.trim().to_string(),
            city: self.city.trim().to_string(),
            district: self.district.trim().to_string(),
            detail: self.detail.trim().to_string(),
        }
    }

    fn date(raw: &str) -> Result<chrono::NaiveDate, AppError> {
        chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| form_error("give dates as 2026-12-01"))
    }

    fn line(&self, conn: &mut AnyConnection) -> Result<LineRequest, AppError> {
        let quantity = self.quantity.trim().parse().map_err(|_| form_error("the quantity is a whole number"))?;
        if !self.sku_id.trim().is_empty() {
            let sku_id = self.sku_id.trim().parse().map_err(|_| form_error("choose a product"))?;
            return Ok(LineRequest { sku_id, quantity });
        }
        let code = self.sku.trim().to_string();
        if code.is_empty() {
            return Err(form_error("choose a product"));
        }
        let sku_id =
            model::skus_by_code(conn, std::slice::from_ref(&code))?.into_iter().find(|s| s.3).map(|s| s.0).ok_or_else(
                || {
                    AppError::unprocessable(
                        "unknown_sku",
                        format!("SKU {code} does not exist or is not on sale / 商品编码不存在或已下架"),
                    )
                },
            )?;
        Ok(LineRequest { sku_id, quantity })
    }
}

/// Shows a failed form's reason on the portal, with what was typed; authorisation failures
/// stay errors.
async fn canteen_outcome(
    page: &Page,
    user_id: i64,
    org: i64,
    result: Result<(), AppError>,
    notice: &str,
    kind: &str,
    echo: Option<FormEcho>,
) -> Result<HttpResponse, AppError> {
    match result {
        Ok(()) => Ok(see_other(&format!("/canteen?org={org}&notice={notice}"))),
        Err(e @ (AppError::Forbidden | AppError::NotFound | AppError::Unauthenticated | AppError::Internal(_))) => {
            Err(e)
        }
        Err(e) => {
            let status = actix_web::ResponseError::status_code(&e);
            let mut response =
                render_canteen(page, user_id, Some(org), None, Some((page.error_text(&e), kind, echo))).await?;
            if status == actix_web::http::StatusCode::CONFLICT {
                *response.status_mut() = status;
            }
            Ok(response)
        }
    }
}

/// A one-off bulk order for a delivery date, paid on the canteen's account.
#[post("/canteen/orders")]
async fn canteen_order(page: Page, form: web::Form<CanteenForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let me = crate::accounts::routes::require_me(&page.state, &page.session).await?;
    let buyer = Buyer::from(me);
    let settings = page.state.order_settings();
    let form = form.into_inner();
    let echo = FormEcho::from_form(&form);
    let org = form.org;
    let user_id = buyer.id;
    let result = page
        .state
        .db(move |conn| {
            let attempt = (|| {
                let request = OrderRequest {
                    lines: vec![form.line(conn)?],
                    points: 0,
                    campaign_id: None,
                    address: form.address(),
                    account: Some(
                        serde_json::json!({"org_id": org, "delivery_date": CanteenForm::date(&form.delivery_date)?}),
                    ),
                    _ignored_channel: None,
                    _ignored_total: None,
                };
                let crate::orders::service::Account::Org(acct) = request.account()? else {
                    return Err(AppError::internal("built as an organisation's order"));
                };
                let now = Utc::now().naive_utc();
                crate::orders::service::place_once(conn, buyer.id, &request, None, now, |conn, prepared| {
                    account::write_order(conn, &settings, &buyer, &request, &acct, prepared, now)
                })
                .map(|_| ())
            })();
            Ok(attempt)
        })
        .await?;
    canteen_outcome(&page, user_id, org, result, "ordered", "order", Some(echo)).await
}

fn schedule_request(form: &CanteenForm, conn: &mut AnyConnection) -> Result<canteen::ScheduleRequest, AppError> {
    Ok(canteen::ScheduleRequest {
        cadence: form.cadence.clone(),
        first_delivery: CanteenForm::date(&form.delivery_date)?,
        end_date: CanteenForm::date(&form.end_date)?,
        lead_days: form.lead_days.trim().parse().map_err(|_| form_error("lead days is a whole number"))?,
        lines: vec![form.line(conn)?],
        address: form.address(),
        campaign_id: None,
    })
}

/// A weekly or fortnightly schedule from the portal.
#[post("/canteen/schedules")]
async fn canteen_schedule(page: Page, form: web::Form<CanteenForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let form = form.into_inner();
    let echo = FormEcho::from_form(&form);
    let org = form.org;
    let result = page
        .state
        .db(move |conn| {
            let attempt = (|| {
                let request = schedule_request(&form, conn)?;
                canteen::create_schedule(conn, user.id, org, &request, Utc::now().naive_utc()).map(|_| ())
            })();
            Ok(attempt)
        })
        .await?;
    canteen_outcome(&page, user.id, org, result, "scheduled", "schedule", Some(echo)).await
}

/// A schedule's edit form: the same fields as a new one (its campaign is kept).
#[post("/canteen/schedules/{id}")]
async fn canteen_schedule_edit(
    page: Page,
    path: web::Path<i64>,
    form: web::Form<CanteenForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let schedule_id = path.into_inner();
    let form = form.into_inner();
    let org = form.org;
    let result = page
        .state
        .db(move |conn| {
            let attempt = (|| {
                let mut request = schedule_request(&form, conn)?;
                request.campaign_id =
                    model::schedule(conn, schedule_id)?.filter(|s| s.org_id == org).and_then(|s| s.campaign_id);
                canteen::edit_schedule(conn, user.id, org, schedule_id, &request, Utc::now().naive_utc()).map(|_| ())
            })();
            Ok(attempt)
        })
        .await?;
    canteen_outcome(&page, user.id, org, result, "schedule_edited", "manage", None).await
}

#[derive(Deserialize)]
struct ScheduleActionForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    org: i64,
}

/// Pause, resume or cancel a schedule from the portal.
#[post("/canteen/schedules/{id}/{action}")]
async fn canteen_schedule_action(
    page: Page,
    path: web::Path<(i64, String)>,
    form: web::Form<ScheduleActionForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let (schedule_id, action) = path.into_inner();
    let (action, notice) = match action.as_str() {
        "pause" => (canteen::ScheduleAction::Pause, "schedule_paused"),
        "resume" => (canteen::ScheduleAction::Resume, "schedule_resumed"),
        "cancel" => (canteen::ScheduleAction::Cancel, "schedule_cancelled"),
        _ => return Err(AppError::NotFound),
    };
    let org = form.org;
    let result = page
        .state
        .db(move |conn| {
            Ok(canteen::change_schedule(conn, user.id, org, schedule_id, action, Utc::now().naive_utc()).map(|_| ()))
        })
        .await?;
    canteen_outcome(&page, user.id, org, result, notice, "manage", None).await
}

#[derive(Deserialize)]
struct StatementQuery {
    org: i64,
    month: String,
    format: Option<String>,
}

#[derive(Serialize)]
struct StatementData {
    statement: canteen::Statement,
}

/// The statement as a page, or as CSV / XLSX (`format=csv|xlsx`).
#[get("/canteen/statement")]
async fn canteen_statement(page: Page, query: web::Query<StatementQuery>) -> Result<HttpResponse, AppError> {
    let Some(user) = page.user.clone() else { return Ok(see_other("/login?next=/canteen")) };
    let q = query.into_inner();
    let month = canteen::parse_month(&q.month)?;
    let org = q.org;
    let statement =
        page.state.db(move |conn| crate::invoices::statements::statement(conn, user.id, org, month)).await?;
    match q.format.as_deref() {
        None | Some("html") => page.render(
            "pages/canteen_statement",
            &page.t("canteen_statement_title"),
            false,
            StatementData { statement },
        ),
        Some(format) => super::routes::statement_response(&statement, format, page.state.config.timezone),
    }
}

#[derive(Serialize)]
struct InviteData {
    token: String,
    invite: super::members::InviteInfo,
    wrong_account: bool,
}

/// The link in an invite mail: who invites, and a button to join.
#[get("/invites/{token}")]
async fn invite_page(page: Page, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let Some(user) = page.user.clone() else { return Ok(see_other(&format!("/login?next=/invites/{token}"))) };
    let t = token.clone();
    let (invite, email) = page
        .state
        .db(move |conn| {
            let invite = super::members::invite_info(conn, &t, Utc::now().naive_utc())?;
            let email = crate::accounts::model::find(conn, user.id)?.map(|u| u.email).unwrap_or_default();
            Ok((invite, email))
        })
        .await?;
    let wrong_account = invite.email != email;
    page.render("pages/org_invite", &page.t("org_invite_title"), true, InviteData { token, invite, wrong_account })
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(rename = "_csrf")]
    csrf: String,
}

#[post("/invites/{token}")]
async fn invite_accept(
    page: Page,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let token = path.into_inner();
    page.state.db(move |conn| super::members::accept(conn, user.id, &token, Utc::now().naive_utc())).await?;
    Ok(see_other("/account"))
}
