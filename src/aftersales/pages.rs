//! Pages of after the parcel leaves, made for a phone: on the buyer's order page the parcels
//! (confirm receipt), the cases and the review forms; a case's own page (follow it, escalate,
//! ship the goods back); the form to open a case with photos; the cooperative's after-sales
//! queue; the platform admin's escalation queue.

use actix_web::{get, post, web, HttpResponse};
use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::delivery::{self, ReceiptRequest};
use super::service::{
    self, AcceptRequest, CaseRequest, CaseView, DecideRequest, RejectRequest, ReturnShipment, Windows,
};
use crate::accounts::model::Role;
use crate::error::AppError;
use crate::money::Money;
use crate::orders::service::PartView;
use crate::web::forms::CsrfForm;
use crate::web::page::{see_other, Page};
use crate::web::session;

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(new_case_page)
        .service(new_case_submit)
        .service(case_page)
        .service(case_escalate)
        .service(case_return)
        .service(receipt_submit)
        .service(review_submit)
        .service(coop_queue_page)
        .service(coop_accept)
        .service(coop_reject)
        .service(coop_confirm)
        .service(coop_ship)
        .service(admin_queue_page)
        .service(admin_decide);
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

#[derive(Serialize)]
pub struct CaseItem {
    id: i64,
    kind_label: String,
    status_label: String,
    amount: Money,
}

#[derive(Serialize)]
pub struct ParcelItem {
    id: Option<i64>,
    status_label: String,
    carrier: Option<String>,
    tracking_no: Option<String>,
    shipped_at: Option<String>,
    received_at: Option<String>,
    can_receive: bool,
    replacement: bool,
    cases: Vec<CaseItem>,
}

#[derive(Serialize)]
pub struct LineAction {
    line_id: i64,
    product_zh: String,
    product_en: String,
    can_open_case: bool,
    can_review: bool,
}

/// What the buyer's order page shows below the lines: parcels with their cases, and what
/// each line allows (open a case, review).
pub struct OrderExtras {
    pub parcels: Vec<ParcelItem>,
    pub line_actions: Vec<LineAction>,
}

pub async fn order_extras(page: &Page, order_no: String, w: Windows) -> Result<OrderExtras, AppError> {
    let (parts, lines, status, reviewed) = page
        .state
        .db(move |conn| {
            let order = crate::orders::model::order_by_no(conn, &order_no)?.ok_or(AppError::NotFound)?;
            let parts = delivery::parts(conn, &order)?;
            let lines = crate::orders::service::view_of(conn, order.clone(), |_| String::new())?.lines;
            let mut reviewed = Vec::new();
            for l in &lines {
                if crate::reviews::model::exists_for_line(conn, l.id)? {
                    reviewed.push(l.id);
                }
            }
            Ok((parts, lines, order.status, reviewed))
        })
        .await?;
    let now = now();
    let case_item = |c: &crate::orders::service::CaseBrief| CaseItem {
        id: c.id,
        kind_label: page.t(&format!("case_type_{}", c.kind)),
        status_label: page.t(&format!("case_status_{}", c.status)),
        amount: c.amount,
    };
    let parcels = parts
        .iter()
        .map(|p: &PartView| ParcelItem {
            id: p.id,
            status_label: page.t(&format!("parcel_status_{}", p.status)),
            carrier: p.carrier.clone(),
            tracking_no: p.tracking_no.clone(),
            shipped_at: p.shipped_at.map(|t| page.time(t)),
            received_at: p.received_at.map(|t| page.time(t)),
            can_receive: p.status == "shipped",
            replacement: p.replaces_case.is_some(),
            cases: p.after_sales.iter().map(case_item).collect(),
        })
        .collect();
    let line_actions = lines
        .iter()
        .map(|l| {
            let part = parts.iter().find(|p| p.replaces_case.is_none() && p.line_ids.contains(&l.id));
            let shipped = part.is_some_and(|p| p.id.is_some());
            let open_window = part.and_then(|p| p.received_at).is_none_or(|r| now <= r + w.after_sales);
            LineAction {
                line_id: l.id,
                product_zh: l.product_zh.clone(),
                product_en: l.product_en.clone(),
                can_open_case: shipped && open_window && status != "completed" && status != "refunded",
                can_review: part.is_some_and(|p| p.received_at.is_some()) && !reviewed.contains(&l.id),
            }
        })
        .collect();
    Ok(OrderExtras { parcels, line_actions })
}

// ---- the buyer ----

#[derive(Deserialize)]
struct Empty {}

#[post("/orders/{order_no}/parts/{part_id}/receipt")]
async fn receipt_submit(
    page: Page,
    path: web::Path<(String, i64)>,
    _: CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let (no, part) = path.into_inner();
    let (s, w) = (page.state.order_settings(), Windows::of(&page.state.config));
    let target = format!("/orders/{no}?notice=received");
    page.state
        .db(move |conn| delivery::receipt(conn, &s, user.id, &no, part, &ReceiptRequest::default(), w, now()))
        .await?;
    Ok(see_other(&target))
}

#[derive(Deserialize)]
struct ReviewForm {
    stars: i32,
    #[serde(default)]
    text: String,
}

#[post("/orders/{order_no}/lines/{line_id}/review")]
async fn review_submit(
    page: Page,
    path: web::Path<(String, i64)>,
    form: CsrfForm<ReviewForm>,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let (no, line) = path.into_inner();
    let target = format!("/orders/{no}?notice=reviewed");
    let request = crate::reviews::service::ReviewRequest { stars: form.0.stars, text: form.0.text, photos: Vec::new() };
    page.state.db(move |conn| crate::reviews::service::write(conn, user.id, &no, line, &request, now())).await?;
    Ok(see_other(&target))
}

#[derive(Deserialize)]
struct NewCaseQuery {
    line: Option<i64>,
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct NewCaseData {
    order_no: String,
    lines: Vec<Choice>,
    types: Vec<Choice>,
    reasons: Vec<Choice>,
    error: Option<String>,
}

fn choices(page: &Page, prefix: &str, values: &[&str], selected: &str) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice { value: v.to_string(), label: page.t(&format!("{prefix}{v}")), selected: *v == selected })
        .collect()
}

async fn render_new_case(
    page: &Page,
    order_no: String,
    line: Option<i64>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let no = order_no.clone();
    let view = page
        .state
        .db(move |conn| {
            let order = service::order_for(conn, user.id, &no)?;
            crate::orders::service::view_of(conn, order, |_| String::new())
        })
        .await?;
    let lines = view
        .lines
        .iter()
        .map(|l| Choice {
            value: l.id.to_string(),
            label: format!("{} × {}", page.lang.pick(&l.product_zh, &l.product_en), l.quantity),
            selected: Some(l.id) == line,
        })
        .collect();
    let status = if error.is_some() {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        actix_web::http::StatusCode::OK
    };
    let data = NewCaseData {
        order_no,
        lines,
        types: choices(page, "case_type_", &service::KINDS, "refund_only"),
        reasons: choices(page, "case_reason_", &service::REASONS, "damaged"),
        error,
    };
    let mut res = page.render("pages/after_sales_new", &page.t("case_new_title"), true, data)?;
    *res.status_mut() = status;
    Ok(res)
}

#[get("/orders/{order_no}/after-sales/new")]
async fn new_case_page(
    page: Page,
    path: web::Path<String>,
    query: web::Query<NewCaseQuery>,
) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/orders"));
    }
    render_new_case(&page, path.into_inner(), query.line, None).await
}

/// The form to open a case (multipart: `_csrf`, `type`, `line_id`, `quantity`, `reason`,
/// `text`, `amount`, and up to 6 `photo` files).
#[post("/orders/{order_no}/after-sales")]
async fn new_case_submit(
    page: Page,
    path: web::Path<String>,
    mut form: actix_multipart::Multipart,
) -> Result<HttpResponse, AppError> {
    use futures_util::StreamExt;
    let no = path.into_inner();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut photos: Vec<Vec<u8>> = Vec::new();
    while let Some(field) = form.next().await {
        let field = field.map_err(|e| AppError::bad_request("invalid_form", format!("{e} / 表单内容有误")))?;
        let name = field.name().unwrap_or_default().to_string();
        let data = crate::coop::routes::read_capped(field).await?;
        if name == "photo" {
            if !data.is_empty() && photos.len() < service::MAX_PHOTOS + 1 {
                photos.push(data);
            }
        } else if data.len() <= 4000 {
            fields.push((name, String::from_utf8_lossy(&data).into_owned()));
        }
    }
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    session::verify_csrf(&page.session, &get("_csrf"))?;
    let user = session::require_user(&page.session)?;
    let line: Option<i64> = get("line_id").parse().ok();
    let amount = match get("amount") {
        a if a.is_empty() => None,
        a => match a.parse::<Money>() {
            Ok(m) => Some(m),
            Err(_) => return render_new_case(&page, no, line, Some(page.t("case_amount_invalid"))).await,
        },
    };
    let (s, w, dir) =
        (page.state.order_settings(), Windows::of(&page.state.config), crate::coop::routes::images_dir(&page.state));
    let request_kind = get("type");
    let request = CaseRequest {
        kind: request_kind,
        lines: vec![service::CaseLineRequest {
            line_id: line.unwrap_or(0),
            quantity: get("quantity").parse().unwrap_or(0),
        }],
        reason: get("reason"),
        text: get("text"),
        amount,
        photos: Vec::new(),
    };
    let no2 = no.clone();
    let opened = page
        .state
        .db(move |conn| {
            if photos.len() > service::MAX_PHOTOS {
                return Err(AppError::unprocessable("too_many_photos", "at most 6 photos / 最多 6 张照片"));
            }
            let mut request = request;
            for p in &photos {
                request.photos.push(service::add_photo(conn, user.id, p, &dir, now())?);
            }
            service::open(conn, &s, user.id, &no2, &request, w, now())
        })
        .await;
    match opened {
        Ok(case) => Ok(see_other(&format!("/orders/{no}/after-sales/{}", case.id))),
        Err(e @ (AppError::BadRequest { .. } | AppError::Conflict { .. } | AppError::Unprocessable { .. })) => {
            render_new_case(&page, no, line, Some(e.public_message())).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Serialize)]
struct CasePageView {
    case: CaseView,
    kind_label: String,
    status_label: String,
    reason_label: String,
    reply_due_at: String,
    events: Vec<(String, String, String)>,
    can_escalate: bool,
    can_ship_back: bool,
}

fn case_page_view(page: &Page, case: CaseView) -> CasePageView {
    CasePageView {
        kind_label: page.t(&format!("case_type_{}", case.kind)),
        status_label: page.t(&format!("case_status_{}", case.status)),
        reason_label: page.t(&format!("case_reason_{}", case.reason)),
        reply_due_at: page.time(case.reply_due_at),
        events: case
            .events
            .iter()
            .map(|e| (page.t(&format!("case_status_{}", e.to)), page.time(e.at), e.note.clone()))
            .collect(),
        can_escalate: case.status == "rejected",
        can_ship_back: case.status == "awaiting_return" && case.return_tracking_no.is_none(),
        case,
    }
}

#[derive(Serialize)]
struct CaseData {
    order_no: String,
    view: CasePageView,
    carriers: &'static [&'static str],
}

#[get("/orders/{order_no}/after-sales/{id}")]
async fn case_page(page: Page, path: web::Path<(String, i64)>) -> Result<HttpResponse, AppError> {
    let Some(user) = page.user.clone() else {
        return Ok(see_other("/login?next=/orders"));
    };
    let (no, id) = path.into_inner();
    let no2 = no.clone();
    let case = page.state.db(move |conn| service::buyer_view(conn, user.id, &no2, id)).await?;
    let title = format!("{} #{id}", page.t("case_title"));
    let data = CaseData { order_no: no, view: case_page_view(&page, case), carriers: crate::coop::service::CARRIERS };
    page.render("pages/after_sales_case", &title, true, data)
}

#[post("/orders/{order_no}/after-sales/{id}/escalate")]
async fn case_escalate(
    page: Page,
    path: web::Path<(String, i64)>,
    _: CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let (no, id) = path.into_inner();
    let target = format!("/orders/{no}/after-sales/{id}");
    let s = page.state.order_settings();
    page.state.db(move |conn| service::escalate(conn, &s, user.id, &no, id, now())).await?;
    Ok(see_other(&target))
}

#[post("/orders/{order_no}/after-sales/{id}/return-shipment")]
async fn case_return(
    page: Page,
    path: web::Path<(String, i64)>,
    form: CsrfForm<ReturnShipment>,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let (no, id) = path.into_inner();
    let target = format!("/orders/{no}/after-sales/{id}");
    let s = page.state.order_settings();
    let request = form.0;
    page.state.db(move |conn| service::return_shipment(conn, &s, user.id, &no, id, &request, now())).await?;
    Ok(see_other(&target))
}

// ---- the cooperative ----

#[derive(Serialize)]
struct QueueData {
    cases: Vec<CasePageView>,
    carriers: &'static [&'static str],
    notice: Option<String>,
}

#[derive(Deserialize)]
struct QueueQuery {
    notice: Option<String>,
}

#[get("/coop/after-sales")]
async fn coop_queue_page(page: Page, query: web::Query<QueueQuery>) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/coop/after-sales"));
    }
    let m = crate::coop::routes::manager(&page.state, &page.session).await?;
    let cases = page.state.db(move |conn| service::coop_queue(conn, &m, None)).await?;
    let notice = query.notice.as_deref().map(|_| page.t("case_notice_done"));
    let data = QueueData {
        cases: cases.into_iter().map(|c| case_page_view(&page, c)).collect(),
        carriers: crate::coop::service::CARRIERS,
        notice,
    };
    page.render("pages/coop_after_sales", &page.t("coop_after_sales_title"), true, data)
}

#[derive(Deserialize)]
struct AcceptForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reply: String,
}

#[post("/coop/after-sales/{id}/accept")]
async fn coop_accept(page: Page, path: web::Path<i64>, form: CsrfForm<AcceptForm>) -> Result<HttpResponse, AppError> {
    let m = crate::coop::routes::manager(&page.state, &page.session).await?;
    let id = path.into_inner();
    let form = form.0;
    let amount = match form.amount.trim() {
        "" => None,
        a => Some(a.parse::<Money>().map_err(|_| {
            AppError::unprocessable("invalid_amount", "give an amount like 12.50 / 请输入金额，如 12.50")
        })?),
    };
    let reply = Some(form.reply).filter(|r| !r.trim().is_empty());
    let request = AcceptRequest { amount, reply };
    let s = page.state.order_settings();
    page.state.db(move |conn| service::accept(conn, &s, &m, id, &request, now())).await?;
    Ok(see_other("/coop/after-sales?notice=done"))
}

#[post("/coop/after-sales/{id}/reject")]
async fn coop_reject(
    page: Page,
    path: web::Path<i64>,
    form: CsrfForm<RejectRequest>,
) -> Result<HttpResponse, AppError> {
    let m = crate::coop::routes::manager(&page.state, &page.session).await?;
    let (id, request, s) = (path.into_inner(), form.0, page.state.order_settings());
    page.state.db(move |conn| service::reject(conn, &s, &m, id, &request, now())).await?;
    Ok(see_other("/coop/after-sales?notice=done"))
}

#[post("/coop/after-sales/{id}/confirm-return")]
async fn coop_confirm(page: Page, path: web::Path<i64>, _: CsrfForm<Empty>) -> Result<HttpResponse, AppError> {
    let m = crate::coop::routes::manager(&page.state, &page.session).await?;
    let (id, s) = (path.into_inner(), page.state.order_settings());
    page.state.db(move |conn| service::confirm_return(conn, &s, &m, id, now())).await?;
    Ok(see_other("/coop/after-sales?notice=done"))
}

#[post("/coop/after-sales/{id}/ship")]
async fn coop_ship(page: Page, path: web::Path<i64>, form: CsrfForm<ReturnShipment>) -> Result<HttpResponse, AppError> {
    let m = crate::coop::routes::manager(&page.state, &page.session).await?;
    let (id, s) = (path.into_inner(), page.state.order_settings());
    let form = form.0;
    page.state
        .db(move |conn| {
            let (carrier, tracking) = crate::coop::service::check_tracking(&form.carrier, &form.tracking_no)?;
            service::ship_replacement(conn, &m, None, id, &carrier, &tracking, &s, now())
        })
        .await?;
    Ok(see_other("/coop/after-sales?notice=done"))
}

// ---- the platform ----

#[get("/admin/after-sales")]
async fn admin_queue_page(page: Page) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/admin/after-sales"));
    }
    crate::accounts::routes::require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let cases = page.state.db(move |conn| service::admin_queue(conn, Some("escalated"))).await?;
    let data = QueueData {
        cases: cases.into_iter().map(|c| case_page_view(&page, c)).collect(),
        carriers: crate::coop::service::CARRIERS,
        notice: None,
    };
    page.render("pages/admin_after_sales", &page.t("admin_after_sales_title"), true, data)
}

#[derive(Deserialize)]
struct DecideForm {
    decision: String,
    #[serde(default)]
    amount: String,
    note: String,
}

#[post("/admin/after-sales/{id}/decide")]
async fn admin_decide(page: Page, path: web::Path<i64>, form: CsrfForm<DecideForm>) -> Result<HttpResponse, AppError> {
    let admin = crate::accounts::routes::require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let (id, s, form) = (path.into_inner(), page.state.order_settings(), form.0);
    let amount = match form.amount.trim() {
        "" => None,
        a => Some(a.parse::<Money>().map_err(|_| {
            AppError::unprocessable("invalid_amount", "give an amount like 12.50 / 请输入金额，如 12.50")
        })?),
    };
    let request = DecideRequest { decision: form.decision, amount, note: form.note };
    page.state.db(move |conn| service::decide(conn, &s, admin.id, id, &request, now())).await?;
    Ok(see_other("/admin/after-sales"))
}
