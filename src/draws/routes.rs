//! Lucky draws: `/api/v1/draws` and the public page `/draws/{id}` that shows the commitment,
//! the entries, the seed, the winners and how to check them.

use actix_session::Session;
use actix_web::{get, post, web, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::service::{self, DrawRequest, DrawView, Organiser};
use crate::accounts::model::Role;
use crate::accounts::routes::require_me;
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::web::list::Items;
use crate::web::page::Page;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_create).service(api_list).service(api_get).service(api_close);
}

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(draws_page).service(draw_page);
}

async fn organiser(state: &AppState, session: &Session) -> Result<Organiser, AppError> {
    let me = require_me(state, session).await?;
    Ok(Organiser { user_id: me.id, platform_admin: me.has_role(Role::PlatformAdmin) })
}

/// Opens a draw for a campaign and period. Platform admins organise draws the platform funds;
/// an organisation's admins those it funds (`org_id`; points prizes are paid from its welfare
/// budget). The answer carries `commitment`, the SHA-256 of the secret seed.
#[utoipa::path(tag = "draws", request_body = DrawRequest,
    responses((status = 201, body = DrawView), (status = 400, description = "invalid_draw"), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "budget_exceeded"), (status = 422, description = "unknown_campaign, unknown_sku")))]
#[post("/draws")]
async fn api_create(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<DrawRequest>,
) -> Result<HttpResponse, AppError> {
    let who = organiser(&state, &session).await?;
    let request = body.into_inner();
    let rate = state.config.exchange_rate;
    let view = state.db(move |conn| service::create(conn, who, &request, rate, Utc::now().naive_utc())).await?;
    Ok(HttpResponse::Created().json(view))
}

/// The newest draws (public).
#[utoipa::path(tag = "draws", responses((status = 200, body = Items<DrawView>)))]
#[get("/draws")]
async fn api_list(state: web::Data<AppState>) -> Result<web::Json<Items<DrawView>>, AppError> {
    Ok(web::Json(Items { items: state.db(service::list).await? }))
}

/// A draw (public). Once closed it also carries `seed`, `ledger_head`, `entries_hash`,
/// `entries[]` and `winners[]`, from which anyone can recompute the winners
/// (`scripts/ledger.py draw URL ID`).
#[utoipa::path(tag = "draws", params(("id" = i64, Path)), responses((status = 200, body = DrawView), (status = 404)))]
#[get("/draws/{id}")]
async fn api_get(state: web::Data<AppState>, path: web::Path<i64>) -> Result<web::Json<DrawView>, AppError> {
    let id = path.into_inner();
    Ok(web::Json(state.db(move |conn| service::view(conn, id)).await?))
}

/// Closes a draw now (its organiser): entries frozen, seed revealed, winners drawn and their
/// prizes handed over. A closed draw is answered as it is; it is never drawn twice.
#[utoipa::path(tag = "draws", params(("id" = i64, Path)), responses((status = 200, body = DrawView), (status = 401), (status = 403), (status = 404)))]
#[post("/draws/{id}/close")]
async fn api_close(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<i64>,
) -> Result<web::Json<DrawView>, AppError> {
    let who = organiser(&state, &session).await?;
    let id = path.into_inner();
    let settings = state.order_settings();
    Ok(web::Json(state.db(move |conn| service::close_by(conn, &settings, who, id, Utc::now().naive_utc())).await?))
}

#[derive(Serialize)]
struct DrawsData {
    draws: Vec<DrawView>,
}

#[get("/draws")]
async fn draws_page(page: Page) -> Result<HttpResponse, AppError> {
    let draws = page.state.db(service::list).await?;
    page.render("pages/draws", &page.t("draws_title"), false, DrawsData { draws })
}

#[derive(Serialize)]
struct WinnerLine {
    rank: i64,
    entry_number: i64,
    masked_name: String,
    prize_zh: String,
    prize_en: String,
    awarded: bool,
    note: Option<String>,
}

#[derive(Serialize)]
struct DrawData {
    draw: DrawView,
    closed: bool,
    opens_at: String,
    closes_at: String,
    closed_at: Option<String>,
    winners: Vec<WinnerLine>,
    entry_count: usize,
    api_url: String,
    check_command: String,
}

#[get("/draws/{id}")]
async fn draw_page(page: Page, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let draw = page.state.db(move |conn| service::view(conn, id)).await?;
    let winners = draw
        .winners
        .iter()
        .map(|w| {
            let prize = draw.prizes.iter().find(|p| p.position == w.prize_position);
            WinnerLine {
                rank: w.rank,
                entry_number: w.entry_number,
                masked_name: w.masked_name.clone(),
                prize_zh: prize.map(|p| p.name_zh.clone()).unwrap_or_default(),
                prize_en: prize.map(|p| p.name_en.clone()).unwrap_or_default(),
                awarded: w.awarded,
                note: w.note.clone(),
            }
        })
        .collect();
    let public_url = page.state.config.public_url.clone();
    let data = DrawData {
        closed: draw.status == "closed",
        opens_at: page.time(draw.opens_at),
        closes_at: page.time(draw.closes_at),
        closed_at: draw.closed_at.map(|t| page.time(t)),
        winners,
        entry_count: draw.entries.len(),
        api_url: format!("{public_url}/api/v1/draws/{id}"),
        check_command: format!("python3 scripts/ledger.py draw {public_url} {id}"),
        draw,
    };
    let title = data.draw.title.clone();
    page.render("pages/draw", &title, false, data)
}
