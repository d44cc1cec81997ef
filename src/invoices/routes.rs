//! The invoice API: titles, requests (per order part and consolidated per month), the
//! cooperative's list and upload, and the invoice file.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use sha2::Digest;
use utoipa::{IntoParams, ToSchema};

use super::procurement::{self, ProcurementReport, TargetsRequest, TargetsView};
use super::service::{self, MonthlyInvoiceRequest, OrderInvoiceRequest, RequestView, TitleRequest, TitleView, Upload};
use super::statements::{self, CoopDispute, DisputeRequest, ReviewView};
use crate::accounts::model::Role;
use crate::accounts::routes::{require_me, require_role};
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::web::auth::CurrentUser;
use crate::web::list::Items;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_my_titles)
        .service(api_add_my_title)
        .service(api_org_titles)
        .service(api_add_org_title)
        .service(api_request_for_order)
        .service(api_requests_of_order)
        .service(api_request_for_month)
        .service(api_requests_of_org)
        .service(api_coop_requests)
        .service(api_upload_invoice)
        .service(api_invoice_file)
        .service(api_targets)
        .service(api_set_targets)
        .service(api_procurement_report)
        .service(api_confirm_statement)
        .service(api_dispute_statement)
        .service(api_coop_disputes);
}

fn now() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

/// The buyer's own invoice titles.
#[utoipa::path(tag = "invoices", responses((status = 200, body = Items<TitleView>), (status = 401)))]
#[get("/me/invoice-titles")]
async fn api_my_titles(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<web::Json<Items<TitleView>>, AppError> {
    let items = state.db(move |conn| service::titles(conn, user.id, None)).await?;
    Ok(web::Json(Items { items }))
}

/// Adds an invoice title (抬头) for the buyer: 422 `invalid_uscc` names the expected check
/// character; a special invoice (专用发票) needs address, phone, bank and account.
#[utoipa::path(tag = "invoices", request_body = TitleRequest, responses((status = 201, body = TitleView), (status = 401), (status = 409, description = "too_many_titles"), (status = 422, description = "invalid_uscc, invalid_title")))]
#[post("/me/invoice-titles")]
async fn api_add_my_title(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    body: web::Json<TitleRequest>,
) -> Result<HttpResponse, AppError> {
    let r = body.into_inner();
    let view = state.db(move |conn| service::add_title(conn, user.id, None, &r, now())).await?;
    Ok(HttpResponse::Created().json(view))
}

/// The organisation's invoice titles (its admins; other members 403, others 404).
#[utoipa::path(tag = "invoices", params(("id" = i64, Path)), responses((status = 200, body = Items<TitleView>), (status = 401), (status = 403), (status = 404)))]
#[get("/orgs/{id}/invoice-titles")]
async fn api_org_titles(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
) -> Result<web::Json<Items<TitleView>>, AppError> {
    let id = path.into_inner();
    let items = state.db(move |conn| service::titles(conn, user.id, Some(id))).await?;
    Ok(web::Json(Items { items }))
}

/// Adds an invoice title for the organisation; its first title is its default.
#[utoipa::path(tag = "invoices", params(("id" = i64, Path)), request_body = TitleRequest, responses((status = 201, body = TitleView), (status = 401), (status = 403), (status = 404), (status = 409, description = "too_many_titles"), (status = 422, description = "invalid_uscc, invalid_title")))]
#[post("/orgs/{id}/invoice-titles")]
async fn api_add_org_title(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
    body: web::Json<TitleRequest>,
) -> Result<HttpResponse, AppError> {
    let (id, r) = (path.into_inner(), body.into_inner());
    let view = state.db(move |conn| service::add_title(conn, user.id, Some(id), &r, now())).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Asks for invoices for a paid order: one request per cooperative part not yet requested
/// (each cooperative is the seller of its goods). The buyer, or an admin of the organisation
/// the order was bought for; the title is the caller's or that organisation's.
#[utoipa::path(tag = "invoices", params(("order_no" = String, Path)), request_body = OrderInvoiceRequest, responses((status = 201, body = Items<RequestView>), (status = 401), (status = 404), (status = 409, description = "invalid_state, already_requested, nothing_to_invoice")))]
#[post("/orders/{order_no}/invoice-requests")]
async fn api_request_for_order(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
    body: web::Json<OrderInvoiceRequest>,
) -> Result<HttpResponse, AppError> {
    let (no, title) = (path.into_inner(), body.title_id);
    let items = state.db(move |conn| service::request_for_order(conn, user.id, &no, title, now())).await?;
    Ok(HttpResponse::Created().json(Items { items }))
}

/// The invoice requests covering an order, with their invoices (buyer or organisation admins).
#[utoipa::path(tag = "invoices", params(("order_no" = String, Path)), responses((status = 200, body = Items<RequestView>), (status = 401), (status = 404)))]
#[get("/orders/{order_no}/invoice-requests")]
async fn api_requests_of_order(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<String>,
) -> Result<web::Json<Items<RequestView>>, AppError> {
    let no = path.into_inner();
    let items = state.db(move |conn| service::requests_of_order(conn, user.id, &no)).await?;
    Ok(web::Json(Items { items }))
}

/// One consolidated invoice request for all of the organisation's orders from one cooperative
/// in one month (by delivery month, as on the statement). Orders already requested: 409.
#[utoipa::path(tag = "invoices", params(("id" = i64, Path)), request_body = MonthlyInvoiceRequest, responses((status = 201, body = RequestView), (status = 400, description = "invalid_month"), (status = 401), (status = 403), (status = 404), (status = 409, description = "already_requested, nothing_to_invoice"), (status = 422, description = "account_not_supported")))]
#[post("/orgs/{id}/invoice-requests")]
async fn api_request_for_month(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
    body: web::Json<MonthlyInvoiceRequest>,
) -> Result<HttpResponse, AppError> {
    let (id, r) = (path.into_inner(), body.into_inner());
    let view = state.db(move |conn| service::request_for_month(conn, user.id, id, &r, now())).await?;
    Ok(HttpResponse::Created().json(view))
}

/// The organisation's invoice requests (its admins).
#[utoipa::path(tag = "invoices", params(("id" = i64, Path)), responses((status = 200, body = Items<RequestView>), (status = 401), (status = 403), (status = 404)))]
#[get("/orgs/{id}/invoice-requests")]
async fn api_requests_of_org(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
) -> Result<web::Json<Items<RequestView>>, AppError> {
    let id = path.into_inner();
    let items = state.db(move |conn| service::requests_of_org(conn, user.id, id)).await?;
    Ok(web::Json(Items { items }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// requested, issued or red_needed; all when left out.
    #[param(example = "requested")]
    pub status: Option<String>,
}

/// The cooperative's invoice requests, newest first.
#[utoipa::path(tag = "coop", params(StatusQuery), responses((status = 200, body = Items<RequestView>), (status = 400, description = "invalid_status"), (status = 401), (status = 403)))]
#[get("/coop/invoice-requests")]
async fn api_coop_requests(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<StatusQuery>,
) -> Result<web::Json<Items<RequestView>>, AppError> {
    let me = require_role(&state, &session, Role::CoopManager).await?;
    let status = query.into_inner().status;
    let items = state
        .db(move |conn| {
            let m = crate::coop::service::manager(conn, me.id)?;
            service::coop_requests(conn, &m.producers, status.as_deref())
        })
        .await?;
    Ok(web::Json(Items { items }))
}

/// The multipart form of an invoice upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct InvoiceUpload {
    /// The e-invoice: PDF or OFD, at most 5 MiB.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// 8 digits (paper-era e-invoices) or 20 (fully digital, 数电票).
    #[schema(example = "26112000000012345678")]
    number: String,
    #[schema(example = "2026-11-26")]
    issued_on: String,
    /// Yuan: what the request's lines come to less refunds (for a red invoice: what was refunded
    /// after the invoice).
    #[schema(example = "259.20")]
    amount: String,
}

/// Reads a multipart field up to `cap` bytes.
async fn read_field(mut field: actix_multipart::Field, cap: usize) -> Result<Vec<u8>, AppError> {
    use futures_util::StreamExt;
    let mut data = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk
            .map_err(|e| AppError::bad_request("invalid_upload", format!("the upload broke off: {e} / 上传中断")))?;
        if data.len() + chunk.len() > cap {
            return Err(AppError::unprocessable("invoice_file_too_large", "the file is over 5 MiB / 文件超过 5 MiB"));
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

/// A browser's cross-site form sends `Origin`; a multipart body is something such a form can
/// send, so one from another site is refused (scripts send no `Origin`).
fn same_origin(req: &HttpRequest) -> Result<(), AppError> {
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let host = req.connection_info().host().to_string();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    if origin_host == host {
        Ok(())
    } else {
        Err(AppError::CsrfRejected)
    }
}

/// Uploads the issued e-invoice for a request (multipart: `file`, `number`, `issued_on`,
/// `amount`). A request flagged `red_needed` takes the red invoice the same way. The amount
/// must be what the lines come to less refunds: 422 `amount_mismatch` names it. The buyer is
/// mailed.
#[utoipa::path(tag = "coop", params(("id" = i64, Path)), request_body(content = InvoiceUpload, content_type = "multipart/form-data"), responses((status = 201, body = RequestView), (status = 401), (status = 403), (status = 404), (status = 409, description = "already_issued"), (status = 422, description = "amount_mismatch, invalid_invoice_number, invalid_date, invalid_amount, unsupported_invoice_file, invoice_file_too_large")))]
#[post("/coop/invoice-requests/{id}/invoice")]
async fn api_upload_invoice(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    path: web::Path<i64>,
    mut form: actix_multipart::Multipart,
) -> Result<HttpResponse, AppError> {
    same_origin(&req)?;
    let me = require_role(&state, &session, Role::CoopManager).await?;
    let (upload, _) = read_upload(&mut form).await?;
    let view = store_upload(&state, me.id, path.into_inner(), upload).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Reads an upload's multipart fields (`file`, `number`, `issued_on`, `amount`; a page's form
/// also sends `_csrf`, returned second).
pub(crate) async fn read_upload(form: &mut actix_multipart::Multipart) -> Result<(Upload, String), AppError> {
    use futures_util::StreamExt;
    let mut upload =
        Upload { data: Vec::new(), number: String::new(), issued_on: String::new(), amount: String::new() };
    let mut csrf = String::new();
    while let Some(field) = form.next().await {
        let field = field.map_err(|e| AppError::bad_request("invalid_form", format!("{e} / 表单内容有误")))?;
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        match field.name() {
            Some("file") => upload.data = read_field(field, service::MAX_FILE_BYTES).await?,
            Some("number") => upload.number = text(read_field(field, 200).await?),
            Some("issued_on") => upload.issued_on = text(read_field(field, 200).await?),
            Some("amount") => upload.amount = text(read_field(field, 200).await?),
            Some("_csrf") => csrf = text(read_field(field, 200).await?),
            _ => {}
        }
    }
    Ok((upload, csrf))
}

/// Checks an upload, keeps its file and records it for the manager's request (others' → 404).
pub(crate) async fn store_upload(
    state: &AppState,
    user_id: i64,
    id: i64,
    mut upload: Upload,
) -> Result<RequestView, AppError> {
    let checked = service::check_upload(&upload, Utc::now().date_naive())?;
    // The manager may act on the request before the file is kept.
    let producers = state.db(move |conn| Ok(crate::coop::service::manager(conn, user_id)?.producers)).await?;
    let ps = producers.clone();
    state
        .db(move |conn| {
            super::model::request(conn, id)?.filter(|r| ps.contains(&r.producer_id)).ok_or(AppError::NotFound)
        })
        .await?;
    let name = format!("{}.{}", hex::encode(sha2::Sha256::digest(&upload.data)), checked.extension);
    let dir = state.config.data_dir.join("invoices");
    let (file, data) = (dir.join(&name), std::mem::take(&mut upload.data));
    web::block(move || std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(file, data)))
        .await?
        .map_err(AppError::internal)?;
    let settings = state.order_settings();
    state.db(move |conn| service::record_upload(conn, &settings, user_id, &producers, id, &checked, &name, now())).await
}

/// The invoice file (PDF or OFD), as an attachment: for the buyer, its organisation's admins,
/// the issuing cooperative and platform admins; 404 for everyone else.
#[utoipa::path(tag = "invoices", params(("id" = i64, Path)), responses((status = 200, content_type = "application/pdf", description = "the e-invoice"), (status = 401), (status = 404)))]
#[get("/invoices/{id}/file")]
async fn api_invoice_file(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let me = require_me(&state, &session).await?;
    let admin = me.has_role(Role::PlatformAdmin);
    let id = path.into_inner();
    let invoice = state.db(move |conn| service::file_of(conn, me.id, admin, id)).await?;
    let file = state.config.data_dir.join("invoices").join(&invoice.file_name);
    let data = web::block(move || std::fs::read(file)).await?.map_err(|_| AppError::NotFound)?;
    let ext = invoice.file_name.rsplit('.').next().unwrap_or("pdf");
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, invoice.media_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"invoice-{}.{ext}\"", invoice.number),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(data))
}

/// The organisation's aid-procurement baselines and target shares for a year (its admins;
/// defaults, `set: false`, until they are set).
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("year" = i32, Path, example = 2026)), responses((status = 200, body = TargetsView), (status = 400, description = "invalid_year"), (status = 401), (status = 403), (status = 404)))]
#[get("/orgs/{id}/procurement-targets/{year}")]
async fn api_targets(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(i64, i32)>,
) -> Result<web::Json<TargetsView>, AppError> {
    let (id, year) = path.into_inner();
    Ok(web::Json(state.db(move |conn| procurement::targets(conn, user.id, id, year)).await?))
}

/// Sets the year's baselines (canteen food procurement budget, union welfare budget) and
/// target shares in whole percent (default 10).
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("year" = i32, Path, example = 2026)), request_body = TargetsRequest, responses((status = 200, body = TargetsView), (status = 400, description = "invalid_year"), (status = 401), (status = 403), (status = 404), (status = 422, description = "invalid_target")))]
#[put("/orgs/{id}/procurement-targets/{year}")]
async fn api_set_targets(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(i64, i32)>,
    body: web::Json<TargetsRequest>,
) -> Result<web::Json<TargetsView>, AppError> {
    let ((id, year), r) = (path.into_inner(), body.into_inner());
    Ok(web::Json(state.db(move |conn| procurement::set_targets(conn, user.id, id, year, &r, now())).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    #[param(example = 2026)]
    pub year: i32,
    /// json (default) or xlsx.
    #[param(example = "json")]
    pub format: Option<String>,
}

/// The aid-procurement report: per organisation (a company with its union and canteens) and
/// month, direct purchases and helped sales from the credit ledger, and the shares reached
/// against the targets. The canteen target counts canteens and the organisation's own figures
/// (staff purchases count toward their unit); the welfare target counts unions.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ReportQuery), responses((status = 200, body = ProcurementReport, description = "JSON, or XLSX with format=xlsx"), (status = 400, description = "invalid_year, invalid_format"), (status = 401), (status = 403), (status = 404)))]
#[get("/orgs/{id}/procurement-report")]
async fn api_procurement_report(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<i64>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, q) = (path.into_inner(), query.into_inner());
    let format = q.format.unwrap_or_else(|| "json".into());
    if format != "json" && format != "xlsx" {
        return Err(AppError::bad_request("invalid_format", "format must be json or xlsx / 格式须为 json 或 xlsx"));
    }
    let year = q.year;
    let report = state.db(move |conn| procurement::report(conn, user.id, id, year)).await?;
    if format == "xlsx" {
        let body = procurement::report_xlsx(&report)?;
        return Ok(crate::web::download::xlsx(&format!("aid-procurement-{id}-{year}.xlsx"), body));
    }
    Ok(HttpResponse::Ok().json(report))
}

/// Confirms the month's statement (the organisation's admins): the month is then settled.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("month" = String, Path, example = "2026-11")), responses((status = 200, body = ReviewView), (status = 400, description = "invalid_month"), (status = 401), (status = 403), (status = 404), (status = 409, description = "already_confirmed, empty_statement")))]
#[post("/orgs/{id}/statements/{month}/confirm")]
async fn api_confirm_statement(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(i64, String)>,
) -> Result<web::Json<ReviewView>, AppError> {
    let (id, month) = path.into_inner();
    Ok(web::Json(state.db(move |conn| statements::review(conn, user.id, id, &month, None, now())).await?))
}

/// Disputes lines (orders) of the month's statement with a note; the cooperatives whose goods
/// are in them see it.
#[utoipa::path(tag = "orgs", params(("id" = i64, Path), ("month" = String, Path, example = "2026-11")), request_body = DisputeRequest, responses((status = 201, body = ReviewView), (status = 400, description = "invalid_month"), (status = 401), (status = 403), (status = 404), (status = 409, description = "already_confirmed, empty_statement"), (status = 422, description = "invalid_lines, note_required")))]
#[post("/orgs/{id}/statements/{month}/dispute")]
async fn api_dispute_statement(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    path: web::Path<(i64, String)>,
    body: web::Json<DisputeRequest>,
) -> Result<HttpResponse, AppError> {
    let ((id, month), r) = (path.into_inner(), body.into_inner());
    let view = state.db(move |conn| statements::review(conn, user.id, id, &month, Some(&r), now())).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Statement disputes naming orders that hold the cooperative's goods, newest first.
#[utoipa::path(tag = "coop", responses((status = 200, body = Items<CoopDispute>), (status = 401), (status = 403)))]
#[get("/coop/statement-disputes")]
async fn api_coop_disputes(
    state: web::Data<AppState>,
    session: Session,
) -> Result<web::Json<Items<CoopDispute>>, AppError> {
    let me = require_role(&state, &session, Role::CoopManager).await?;
    let items = state
        .db(move |conn| {
            let m = crate::coop::service::manager(conn, me.id)?;
            statements::coop_disputes(conn, &m.producers)
        })
        .await?;
    Ok(web::Json(Items { items }))
}
