//! Login, logout, registration and "my account": pages and `/api/v1` endpoints.

use actix_session::Session;
use actix_web::{get, http::StatusCode, post, web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service::{self, Me, Registration};
use super::sessions;
use crate::accounts::model::Role;
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::catalog::model as catalog_model;
use crate::error::AppError;
use crate::money::Money;
use crate::web::page::{safe_next, see_other, Page};
use crate::web::session;
use chrono::Utc;

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(login_page)
        .service(login_submit)
        .service(register_page)
        .service(register_submit)
        .service(logout_submit)
        .service(verify_page)
        .service(logout_everywhere_submit)
        .service(password_submit)
        .service(account_page)
        .service(admin_users_page);
}

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_login)
        .service(api_logout)
        .service(api_logout_everywhere)
        .service(api_register)
        .service(api_me)
        .service(api_admin_users);
}

/// The client's address: the peer, or behind a trusted proxy (`AIDMART_TRUST_PROXY`) the
/// last `X-Forwarded-For` entry, the one that proxy wrote (earlier ones are the client's say).
pub fn client_ip(req: &HttpRequest) -> String {
    let trust_proxy = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.config.trust_proxy);
    if trust_proxy {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
            .last();
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
}

/// The logged-in user with roles and memberships, or 401. A session whose user is gone is ended.
pub async fn require_me(state: &AppState, session: &Session) -> Result<Me, AppError> {
    let user = session::require_user(session)?;
    match state.db(move |conn| service::me(conn, user.id)).await? {
        Some(me) => Ok(me),
        None => {
            session::log_out(session);
            Err(AppError::Unauthenticated)
        }
    }
}

pub async fn require_role(state: &AppState, session: &Session, role: Role) -> Result<Me, AppError> {
    let me = require_me(state, session).await?;
    if me.has_role(role) {
        Ok(me)
    } else {
        Err(AppError::Forbidden)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

/// Logs in and sets the session cookie. Repeated failures are refused for a while (429).
#[utoipa::path(tag = "accounts", request_body = LoginBody, responses(
    (status = 200, body = Me), (status = 401, description = "invalid_credentials"), (status = 429, description = "rate_limited")))]
#[post("/auth/login")]
async fn api_login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<LoginBody>,
) -> Result<web::Json<Me>, AppError> {
    let user = service::login(&state, &body.email, &body.password, &client_ip(&req)).await?;
    sessions::begin(&state, &session, &user).await?;
    let id = user.id;
    let me = state.db(move |conn| service::me(conn, id)).await?.ok_or(AppError::Unauthenticated)?;
    Ok(web::Json(me))
}

/// Ends the session (on the server too: a copy of the cookie stops working).
#[utoipa::path(tag = "accounts", responses((status = 204)))]
#[post("/auth/logout")]
async fn api_logout(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    sessions::end(&state, &session).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ends every session of the logged-in user, this one included.
#[utoipa::path(tag = "accounts", responses((status = 204), (status = 401, description = "unauthenticated")))]
#[post("/auth/logout-everywhere")]
async fn api_logout_everywhere(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&session)?;
    sessions::end_all(&state, &session, user.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[schema(example = "new.buyer@example.com")]
    pub email: String,
    /// 10 to 128 characters, not a common or easily guessed password.
    #[schema(example = "quinoa fields at dawn")]
    pub password: String,
    #[schema(example = "新买家")]
    pub display_name: String,
    /// A province code (e.g. "13"), optional.
    #[serde(default)]
    pub province: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RegisterAnswer {
    /// Always `check_your_email`: a new address gets a confirmation link, a known one a
    /// reminder that it has an account. The account is usable once the link is followed.
    pub status: &'static str,
}

/// Registers a public buyer. The answer is 202 whether the email is new or already has an
/// account (the mail tells the owner which); 422 `weak_password` for a short or common one.
#[utoipa::path(tag = "accounts", request_body = RegisterBody, responses(
    (status = 202, body = RegisterAnswer), (status = 422, description = "weak_password, invalid_email, invalid_name, invalid_province"), (status = 429, description = "rate_limited")))]
#[post("/auth/register")]
async fn api_register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let registration = Registration {
        email: body.email,
        display_name: body.display_name,
        password_confirm: body.password.clone(),
        password: body.password,
        province_code: body.province,
    };
    let public_url = state.config.public_url.clone();
    service::register_limited(&state, registration, &client_ip(&req), public_url).await?;
    Ok(HttpResponse::Accepted().json(RegisterAnswer { status: "check_your_email" }))
}

/// The logged-in user: roles, organisations (with ids), managed producers, points balance.
#[utoipa::path(tag = "accounts", responses((status = 200, body = Me), (status = 401, description = "unauthenticated")))]
#[get("/me")]
async fn api_me(state: web::Data<AppState>, session: Session) -> Result<web::Json<Me>, AppError> {
    Ok(web::Json(require_me(&state, &session).await?))
}

#[derive(Serialize, ToSchema)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<String>,
}

/// Every user with their roles (platform admins only).
#[utoipa::path(tag = "admin", responses((status = 200, body = crate::web::list::Items<UserRow>), (status = 401), (status = 403)))]
#[get("/admin/users")]
async fn api_admin_users(
    state: web::Data<AppState>,
    session: Session,
) -> Result<web::Json<crate::web::list::Items<UserRow>>, AppError> {
    require_role(&state, &session, Role::PlatformAdmin).await?;
    let rows = state.db(|conn| Ok(super::model::list_with_roles(conn)?)).await?;
    let items =
        rows.into_iter().map(|(id, email, display_name, roles)| UserRow { id, email, display_name, roles }).collect();
    Ok(web::Json(crate::web::list::Items { items }))
}

#[derive(Serialize)]
struct LoginData {
    email: String,
    error: Option<String>,
    next: String,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[get("/login")]
async fn login_page(page: Page, query: web::Query<NextQuery>) -> Result<HttpResponse, AppError> {
    if page.user.is_some() {
        return Ok(see_other(&safe_next(query.next.as_deref())));
    }
    let data = LoginData { email: String::new(), error: None, next: safe_next(query.next.as_deref()) };
    page.render("pages/login", &page.t("title_login"), true, data)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    email: String,
    password: String,
    next: Option<String>,
}

/// Shows a form again with the error that stopped it, under the error's status.
fn form_error(
    page: &Page,
    template: &str,
    title: &str,
    error: AppError,
    data: impl Serialize,
) -> Result<HttpResponse, AppError> {
    if matches!(error, AppError::Internal(_) | AppError::Unavailable | AppError::CsrfRejected) {
        return Err(error);
    }
    let status: StatusCode = error.status_code();
    let mut response = page.render(template, title, true, data)?;
    *response.status_mut() = status;
    Ok(response)
}

#[post("/login")]
async fn login_submit(req: HttpRequest, page: Page, form: web::Form<LoginForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let next = safe_next(form.next.as_deref());
    match service::login(&page.state, &form.email, &form.password, &client_ip(&req)).await {
        Ok(user) => {
            sessions::begin(&page.state, &page.session, &user).await?;
            Ok(see_other(&next))
        }
        Err(e) => {
            let data = LoginData { email: form.email.clone(), error: Some(page.error_text(&e)), next };
            form_error(&page, "pages/login", &page.t("title_login"), e, data)
        }
    }
}

#[derive(Serialize)]
struct ProvinceOption {
    code: String,
    name_zh: String,
    name_en: String,
}

#[derive(Serialize)]
struct RegisterData {
    email: String,
    display_name: String,
    error: Option<String>,
    provinces: Vec<ProvinceOption>,
}

async fn province_options(state: &AppState) -> Result<Vec<ProvinceOption>, AppError> {
    let rows = state.db(|conn| Ok(catalog_model::provinces(conn)?)).await?;
    Ok(rows.into_iter().map(|p| ProvinceOption { code: p.code, name_zh: p.name_zh, name_en: p.name_en }).collect())
}

#[get("/register")]
async fn register_page(page: Page) -> Result<HttpResponse, AppError> {
    let data = RegisterData {
        email: String::new(),
        display_name: String::new(),
        error: None,
        provinces: province_options(&page.state).await?,
    };
    page.render("pages/register", &page.t("title_register"), true, data)
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    email: String,
    display_name: String,
    password: String,
    password_confirm: String,
    province: Option<String>,
}

#[post("/register")]
async fn register_submit(
    page: Page,
    req: HttpRequest,
    form: web::Form<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let form = form.into_inner();
    let registration = Registration {
        email: form.email.clone(),
        display_name: form.display_name.clone(),
        password: form.password,
        password_confirm: form.password_confirm,
        province_code: form.province,
    };
    let public_url = page.state.config.public_url.clone();
    let result = service::register_limited(&page.state, registration, &client_ip(&req), public_url).await;
    match result {
        Ok(()) => notice(&page, "register_sent_heading", "register_sent_text", "/login", StatusCode::OK),
        Err(e) => {
            let data = RegisterData {
                email: form.email,
                display_name: form.display_name,
                error: Some(page.error_text(&e)),
                provinces: province_options(&page.state).await?,
            };
            form_error(&page, "pages/register", &page.t("title_register"), e, data)
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

#[post("/logout")]
async fn logout_submit(page: Page, form: web::Form<CsrfForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    sessions::end(&page.state, &page.session).await?;
    Ok(see_other("/"))
}

#[derive(Serialize)]
struct NoticeData {
    heading: String,
    text: String,
    link: &'static str,
}

/// A short page with one message and one link (registration sent, email confirmed, …).
fn notice(
    page: &Page,
    heading: &str,
    text: &str,
    link: &'static str,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let data = NoticeData { heading: page.t(heading), text: page.t(text), link };
    let mut response = page.render("pages/notice", &page.t(heading), false, data)?;
    *response.status_mut() = status;
    Ok(response)
}

/// The emailed confirmation link: the account becomes usable.
#[get("/verify/{token}")]
async fn verify_page(page: Page, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    match page.state.db(move |conn| service::verify_email(conn, &token, Utc::now().naive_utc())).await {
        Ok(()) => notice(&page, "verified_heading", "verified_text", "/login", StatusCode::OK),
        Err(AppError::NotFound) => {
            notice(&page, "verify_failed_heading", "verify_failed_text", "/register", StatusCode::NOT_FOUND)
        }
        Err(e) => Err(e),
    }
}

/// "Log out everywhere" on the account page: every session of this user ends.
#[post("/account/logout-everywhere")]
async fn logout_everywhere_submit(page: Page, form: web::Form<CsrfForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    sessions::end_all(&page.state, &page.session, user.id).await?;
    Ok(see_other("/login"))
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    current_password: String,
    new_password: String,
    new_password_confirm: String,
}

/// A new password on the account page: every other session ends; this browser stays in.
#[post("/account/password")]
async fn password_submit(page: Page, form: web::Form<PasswordForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let form = form.into_inner();
    let id = user.id;
    let result = service::with_hash_slot(&page.state, move |conn| {
        service::change_password(conn, id, &form.current_password, &form.new_password, &form.new_password_confirm)
    })
    .await;
    match result {
        Ok(()) => {
            page.state.live_sessions.forget_user(id);
            sessions::begin(&page.state, &page.session, &user).await?;
            notice(&page, "password_changed_heading", "password_changed_text", "/account", StatusCode::OK)
        }
        Err(e @ (AppError::Internal(_) | AppError::Unavailable | AppError::Throttled { .. })) => Err(e),
        Err(e) => {
            let status = e.status_code();
            let data = NoticeData {
                heading: page.t("password_change_failed_heading"),
                text: page.error_text(&e),
                link: "/account",
            };
            let mut response = page.render("pages/notice", &data.heading.clone(), false, data)?;
            *response.status_mut() = status;
            Ok(response)
        }
    }
}

#[derive(Serialize)]
struct OrgItem {
    id: i64,
    name_zh: String,
    name_en: String,
    kind_label: String,
    is_admin: bool,
    /// The union or canteen portal, for its admins.
    portal: Option<String>,
}

#[derive(Serialize)]
struct AccountView {
    email: String,
    display_name: String,
    province_zh: Option<String>,
    province_en: Option<String>,
    roles: Vec<String>,
    organisations: Vec<OrgItem>,
    points_balance: i64,
    points_value: Money,
    /// Cooperative managers get a link to their portal.
    coop_portal: bool,
    /// Platform admins get a link to the admin pages.
    admin_portal: bool,
}

#[derive(Serialize)]
struct AccountData {
    account: AccountView,
    charity: crate::credits::service::CharityHours,
    /// The points lots: how many, why, until when, what is left.
    lots: Vec<crate::points::model::LotView>,
}

#[get("/account")]
async fn account_page(page: Page) -> Result<HttpResponse, AppError> {
    let me = match require_me(&page.state, &page.session).await {
        Ok(me) => me,
        Err(AppError::Unauthenticated) => return Ok(see_other("/login?next=/account")),
        Err(e) => return Err(e),
    };
    let user_id = me.id;
    let (charity, lots) = page
        .state
        .db(move |conn| {
            let lots = crate::points::model::user_lots(conn, user_id, chrono::Utc::now().naive_utc(), 20)?;
            Ok((crate::credits::service::charity_hours(conn, user_id)?, lots))
        })
        .await?;
    let account = AccountView {
        coop_portal: me.has_role(Role::CoopManager),
        admin_portal: me.has_role(Role::PlatformAdmin),
        roles: me.roles.iter().map(|r| page.t(&format!("role_{r}"))).collect(),
        organisations: me
            .organisations
            .into_iter()
            .map(|o| OrgItem {
                kind_label: page.t(&format!("org_kind_{}", o.kind)),
                portal: match o.kind.as_str() {
                    "union" | "canteen" if o.is_admin => Some(format!("/{}?org={}", o.kind, o.id)),
                    _ => None,
                },
                id: o.id,
                name_zh: o.name_zh,
                name_en: o.name_en,
                is_admin: o.is_admin,
            })
            .collect(),
        points_value: page.state.config.exchange_rate.value_of(me.points_balance),
        points_balance: me.points_balance,
        email: me.email,
        display_name: me.display_name,
        province_zh: me.province_zh,
        province_en: me.province_en,
    };
    page.render("pages/account", &page.t("title_account"), true, AccountData { account, charity, lots })
}

#[derive(Serialize)]
struct AdminUsersData {
    admin_section: &'static str,
    users: Vec<UserRow>,
}

/// Every user with their roles, for platform admins.
#[get("/admin/users")]
async fn admin_users_page(page: Page) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/admin/users"));
    }
    require_role(&page.state, &page.session, Role::PlatformAdmin).await?;
    let rows = page.state.db(|conn| Ok(super::model::list_with_roles(conn)?)).await?;
    let users = rows
        .into_iter()
        .map(|(id, email, display_name, roles)| UserRow {
            id,
            email,
            display_name,
            roles: roles.iter().map(|r| page.t(&format!("role_{r}"))).collect(),
        })
        .collect();
    page.render(
        "pages/admin_users",
        &page.t("title_admin_users"),
        false,
        AdminUsersData { admin_section: "users", users },
    )
}
