//! Login, logout, registration and "my account": pages and `/api/v1` endpoints.

use actix_session::Session;
use actix_web::{get, http::StatusCode, post, web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::service::{self, Me, Registration};
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::catalog::model as catalog_model;
use crate::error::AppError;
use crate::money::Money;
use crate::web::page::{safe_next, see_other, Page};
use crate::web::session;

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(login_page)
        .service(login_submit)
        .service(register_page)
        .service(register_submit)
        .service(logout_submit)
        .service(account_page);
}

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_login).service(api_logout).service(api_me).service(api_admin_users);
}

fn client_ip(req: &HttpRequest) -> String {
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

pub async fn require_role(state: &AppState, session: &Session, role: &str) -> Result<Me, AppError> {
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
    session::log_in(&session, &user)?;
    let id = user.id;
    let me = state.db(move |conn| service::me(conn, id)).await?.ok_or(AppError::Unauthenticated)?;
    Ok(web::Json(me))
}

/// Ends the session.
#[utoipa::path(tag = "accounts", responses((status = 204)))]
#[post("/auth/logout")]
async fn api_logout(session: Session) -> HttpResponse {
    session::log_out(&session);
    HttpResponse::NoContent().finish()
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
    require_role(&state, &session, "platform_admin").await?;
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
            session::log_in(&page.session, &user)?;
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
async fn register_submit(page: Page, form: web::Form<RegisterForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let form = form.into_inner();
    let registration = Registration {
        email: form.email.clone(),
        display_name: form.display_name.clone(),
        password: form.password,
        password_confirm: form.password_confirm,
        province_code: form.province,
    };
    match page.state.db(move |conn| service::register(conn, &registration)).await {
        Ok(user) => {
            session::log_in(&page.session, &user)?;
            Ok(see_other("/account"))
        }
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
    session::log_out(&page.session);
    Ok(see_other("/"))
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
}

#[derive(Serialize)]
struct AccountData {
    account: AccountView,
    charity: crate::credits::service::CharityHours,
}

#[get("/account")]
async fn account_page(page: Page) -> Result<HttpResponse, AppError> {
    let me = match require_me(&page.state, &page.session).await {
        Ok(me) => me,
        Err(AppError::Unauthenticated) => return Ok(see_other("/login?next=/account")),
        Err(e) => return Err(e),
    };
    let user_id = me.id;
    let charity = page.state.db(move |conn| crate::credits::service::charity_hours(conn, user_id)).await?;
    let account = AccountView {
        coop_portal: me.has_role("coop_manager"),
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
    page.render("pages/account", &page.t("title_account"), true, AccountData { account, charity })
}
