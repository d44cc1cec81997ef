//! Platform admins grant points: a page and `POST /api/v1/admin/points/grants`.

use actix_session::Session;
use actix_web::{get, post, web, HttpResponse};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::model::Role;
use crate::accounts::routes::require_role;
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::web::page::{see_other, Page};
use crate::web::session;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_grant).service(api_list_grants).service(api_my_lots);
}

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(admin_home).service(grant_page).service(grant_submit);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub email: String,
    pub points: i64,
    pub reason: String,
    /// A date (2027-12-31, the end of that day) or a date-time (2027-12-31T23:59:59), UTC.
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct GrantAnswer {
    pub lot_id: i64,
    pub email: String,
    pub points: i64,
    pub expires_at: NaiveDateTime,
    pub balance: i64,
}

fn parse_expiry(raw: &str, now: NaiveDateTime) -> Result<NaiveDateTime, AppError> {
    let raw = raw.trim();
    let at = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S"))
        .or_else(|_| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map(|d| d.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN)))
        })
        .map_err(|_| {
            AppError::bad_request("invalid_expiry", "expires_at must be a date like 2027-12-31 / 过期时间格式错误")
        })?;
    if at <= now {
        return Err(AppError::bad_request("invalid_expiry", "expires_at must be in the future / 过期时间须晚于现在"));
    }
    Ok(at)
}

/// Grants a lot of points to a user, in one transaction with its ledger entry.
fn grant(
    conn: &mut crate::db::AnyConnection,
    admin_id: i64,
    request: &GrantRequest,
    now: NaiveDateTime,
) -> Result<GrantAnswer, AppError> {
    if !(1..=100_000_000).contains(&request.points) {
        return Err(AppError::bad_request("invalid_points", "points must be from 1 to 100000000 / 积分须为 1 至 1 亿"));
    }
    let reason = request.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 || reason.contains('\0') {
        return Err(AppError::bad_request(
            "invalid_reason",
            "give a reason of 1 to 200 characters / 请填写 1 至 200 字的发放原因",
        ));
    }
    let expires_at = parse_expiry(&request.expires_at, now)?;
    let email = crate::accounts::service::normalise_email(&request.email)?;
    crate::db::write_tx(conn, |conn| {
        let user = crate::accounts::model::find_by_email(conn, &email)?
            .ok_or_else(|| AppError::unprocessable("unknown_user", "no account has this email / 该邮箱没有账户"))?;
        let account_id = super::model::user_account(conn, user.id)?;
        let lot_id = super::model::grant(
            conn,
            &super::model::Grant {
                account_id,
                points: request.points,
                expires_at,
                reason,
                granted_by: Some(admin_id),
                funder_org_id: None,
            },
        )?;
        Ok(GrantAnswer {
            lot_id,
            email: user.email,
            points: request.points,
            expires_at,
            balance: super::model::user_balance(conn, user.id)?,
        })
    })
}

/// Grants points to a user (platform admins only).
#[utoipa::path(tag = "admin", request_body = GrantRequest, responses((status = 201, body = GrantAnswer), (status = 400), (status = 401), (status = 403), (status = 422, description = "unknown_user")))]
#[post("/admin/points/grants")]
async fn api_grant(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<GrantRequest>,
) -> Result<HttpResponse, AppError> {
    let admin = require_role(&state, &session, Role::PlatformAdmin).await?;
    let request = body.into_inner();
    let answer = state.db(move |conn| grant(conn, admin.id, &request, Utc::now().naive_utc())).await?;
    Ok(HttpResponse::Created().json(answer))
}

/// The latest grants by platform admins (at most 200): recipient, points, reason, granting admin.
#[utoipa::path(tag = "admin", responses((status = 200, body = [super::model::PlatformGrant]), (status = 401), (status = 403)))]
#[get("/admin/points/grants")]
async fn api_list_grants(
    state: web::Data<AppState>,
    session: Session,
) -> Result<web::Json<Vec<super::model::PlatformGrant>>, AppError> {
    require_role(&state, &session, Role::PlatformAdmin).await?;
    Ok(web::Json(state.db(|conn| Ok(super::model::platform_grants(conn, 200, Utc::now().naive_utc())?)).await?))
}

#[derive(Serialize, Default)]
struct GrantPageData {
    email: String,
    points: String,
    reason: String,
    expires_at: String,
    error: Option<String>,
    notice: Option<String>,
    /// The latest grants, listed under the form.
    grants: Vec<super::model::PlatformGrant>,
    /// Which entry of the admin menu is this page.
    admin_section: &'static str,
}

async fn recent_grants(state: &AppState) -> Result<Vec<super::model::PlatformGrant>, AppError> {
    state.db(|conn| Ok(super::model::platform_grants(conn, 50, Utc::now().naive_utc())?)).await
}

#[get("/admin/points")]
async fn grant_page(page: Page) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/admin/points"));
    }
    require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let data =
        GrantPageData { grants: recent_grants(&page.state).await?, admin_section: "points", ..Default::default() };
    page.render("pages/admin_points", &page.t("title_admin_points"), true, data)
}

#[derive(Deserialize)]
struct GrantForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    email: String,
    points: String,
    reason: String,
    expires_at: String,
}

#[post("/admin/points")]
async fn grant_submit(page: Page, form: web::Form<GrantForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let admin = require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let form = form.into_inner();
    let points = form.points.trim().parse::<i64>().unwrap_or(0);
    let request = GrantRequest {
        email: form.email.clone(),
        points,
        reason: form.reason.clone(),
        expires_at: form.expires_at.clone(),
    };
    let result = page.state.db(move |conn| grant(conn, admin.id, &request, Utc::now().naive_utc())).await;
    let mut data = GrantPageData {
        email: form.email,
        points: form.points,
        reason: form.reason,
        expires_at: form.expires_at,
        admin_section: "points",
        ..Default::default()
    };
    let status = match result {
        Ok(answer) => {
            data = GrantPageData {
                notice: Some(format!("{} +{} ({})", answer.email, answer.points, answer.balance)),
                admin_section: "points",
                ..Default::default()
            };
            actix_web::http::StatusCode::OK
        }
        Err(e @ (AppError::Internal(_) | AppError::Unavailable)) => return Err(e),
        Err(e) => {
            data.error = Some(page.error_text(&e));
            actix_web::ResponseError::status_code(&e)
        }
    };
    data.grants = recent_grants(&page.state).await?;
    let mut response = page.render("pages/admin_points", &page.t("title_admin_points"), true, data)?;
    *response.status_mut() = status;
    Ok(response)
}

/// The signed-in user's points lots: granted, left, reason, expiry; usable ones first,
/// earliest expiry first (the order they are spent in).
#[utoipa::path(tag = "points", responses((status = 200, body = crate::web::list::Items<super::model::LotView>), (status = 401)))]
#[get("/me/points/lots")]
async fn api_my_lots(
    state: web::Data<AppState>,
    session: Session,
) -> Result<web::Json<crate::web::list::Items<super::model::LotView>>, AppError> {
    let me = crate::accounts::routes::require_me(&state, &session).await?;
    let items = state.db(move |conn| Ok(super::model::user_lots(conn, me.id, Utc::now().naive_utc(), 100)?)).await?;
    Ok(web::Json(crate::web::list::Items { items }))
}

/// The admin pages' start: the menu of every admin page.
#[get("/admin")]
async fn admin_home(page: Page) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/admin"));
    }
    require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    page.render("pages/admin_home", &page.t("title_admin_home"), false, serde_json::json!({ "admin_section": "home" }))
}
