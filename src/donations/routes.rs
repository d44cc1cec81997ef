//! Donation projects and points donations: `/api/v1/donation-projects`, `/api/v1/donations`,
//! and each project's page with its donation form and statistics by province.

use actix_session::Session;
use actix_web::{get, post, web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::model;
use super::service::{self, DonationRequest, DonationView, ProjectView};
use crate::accounts::routes::require_me;
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::money::Money;
use crate::web::list::Items;
use crate::web::page::{see_other, Page};
use crate::web::session;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_projects).service(api_donate);
}

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(project_page).service(donate_submit);
}

/// Donation projects with what they have raised.
#[utoipa::path(tag = "donations", responses((status = 200, body = Items<ProjectView>)))]
#[get("/donation-projects")]
async fn api_projects(state: web::Data<AppState>) -> Result<web::Json<Items<ProjectView>>, AppError> {
    Ok(web::Json(Items { items: state.db(service::project_views).await? }))
}

/// Donates points to a project: a positive multiple of 50, up to the balance.
#[utoipa::path(tag = "donations", request_body = DonationRequest, responses((status = 201, body = DonationView), (status = 401), (status = 422, description = "invalid_points, insufficient_points, unknown_project, project_closed")))]
#[post("/donations")]
async fn api_donate(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<DonationRequest>,
) -> Result<HttpResponse, AppError> {
    let me = require_me(&state, &session).await?;
    let view = donate(&state, me.id, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

async fn donate(state: &AppState, user_id: i64, request: DonationRequest) -> Result<DonationView, AppError> {
    let rate = state.config.exchange_rate;
    let url = state.config.public_url.clone();
    state.db(move |conn| service::donate(conn, user_id, &request, rate, &url, Utc::now().naive_utc())).await
}

#[derive(Serialize)]
struct ProvinceRow {
    name_zh: String,
    name_en: String,
    donors: i64,
    points: i64,
    value: Money,
}

#[derive(Serialize)]
struct ProjectPageData {
    project: ProjectView,
    next_milestone: Money,
    progress_width: i64,
    provinces: Vec<ProvinceRow>,
    milestones: Vec<(i64, String)>,
    balance: Option<i64>,
    step: i64,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ProjectQuery {
    donated: Option<i64>,
}

async fn project_data(
    page: &Page,
    slug: String,
    notice: Option<String>,
    error: Option<String>,
) -> Result<ProjectPageData, AppError> {
    let user_id = page.user.as_ref().map(|u| u.id);
    let (project, provinces, milestones, balance) = page
        .state
        .db(move |conn| {
            let project = model::project_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
            let view =
                service::project_views(conn)?.into_iter().find(|p| p.id == project.id).ok_or(AppError::NotFound)?;
            let balance = match user_id {
                Some(id) => Some(crate::points::model::user_balance(conn, id)?),
                None => None,
            };
            Ok((view, model::by_province(conn, project.id)?, model::milestones(conn, project.id)?, balance))
        })
        .await?;
    let step = project.milestone.fen().max(1);
    let raised = project.raised.fen();
    let unknown = page.t("donate_unknown_province");
    Ok(ProjectPageData {
        next_milestone: Money::from_fen((raised / step + 1) * step),
        progress_width: (raised % step) * 100 / step,
        provinces: provinces
            .into_iter()
            .map(|p| ProvinceRow {
                name_zh: p.name_zh.unwrap_or_else(|| unknown.clone()),
                name_en: p.name_en.unwrap_or_else(|| unknown.clone()),
                donors: p.donors,
                points: p.points,
                value: Money::from_fen(p.value_fen),
            })
            .collect(),
        milestones: milestones.into_iter().map(|(m, at)| (m, at.format("%Y-%m-%d").to_string())).collect(),
        project,
        balance,
        step: service::STEP,
        notice,
        error,
    })
}

#[get("/donate/{slug}")]
async fn project_page(
    page: Page,
    path: web::Path<String>,
    query: web::Query<ProjectQuery>,
) -> Result<HttpResponse, AppError> {
    let notice = query.donated.map(|p| format!("{} {p}", page.t("donate_thanks")));
    let data = project_data(&page, path.into_inner(), notice, None).await?;
    let title = match page.lang {
        crate::web::i18n::Lang::Zh => data.project.name_zh.clone(),
        crate::web::i18n::Lang::En => data.project.name_en.clone(),
    };
    page.render("pages/donate", &title, true, data)
}

#[derive(Deserialize)]
struct DonateForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    points: String,
}

#[post("/donate/{slug}")]
async fn donate_submit(
    page: Page,
    path: web::Path<String>,
    form: web::Form<DonateForm>,
) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let slug = path.into_inner();
    let Some(user) = page.user.clone() else {
        return Ok(see_other(&format!("/login?next=/donate/{slug}")));
    };
    let wanted = slug.clone();
    let project_id = page
        .state
        .db(move |conn| Ok(model::project_by_slug(conn, &wanted)?.map(|p| p.id)))
        .await?
        .ok_or(AppError::NotFound)?;
    // A number that does not parse is refused like any other bad amount, by the service.
    let points = form.points.trim().parse::<i64>().unwrap_or(0);
    match donate(&page.state, user.id, DonationRequest { project_id, points }).await {
        Ok(view) => Ok(see_other(&format!("/donate/{slug}?donated={}", view.points))),
        Err(e @ (AppError::Internal(_) | AppError::Unavailable)) => Err(e),
        Err(e) => {
            let status = actix_web::ResponseError::status_code(&e);
            let data = project_data(&page, slug, None, Some(page.error_text(&e))).await?;
            let title = data.project.name_zh.clone();
            let mut response = page.render("pages/donate", &title, true, data)?;
            *response.status_mut() = status;
            Ok(response)
        }
    }
}
