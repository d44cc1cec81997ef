//! Liveness, readiness and metrics for operators.

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{get, web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;

use crate::app::AppState;
use crate::error::AppError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when the database answers and, if configured, Redis does.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    use diesel::connection::SimpleConnection;
    let database = state.db(|conn| conn.batch_execute("SELECT 1").map_err(AppError::from)).await.is_ok();
    let redis = match state.config.redis_url {
        Some(_) => Some(state.cache.ping().await),
        None => None,
    };
    let ready = database && redis != Some(false);
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": if database { "ok" } else { "down" },
        "redis": match redis { Some(true) => "ok", Some(false) => "down", None => "not_configured" },
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Metrics on the main listener: only to `Authorization: Bearer AIDMART_METRICS_TOKEN`;
/// without a token configured they are not there at all (404).
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let Some(token) = state.config.metrics_token.as_deref() else {
        return Err(AppError::NotFound);
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let same =
        given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !same {
        return Ok(HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .json(json!({"error": {"code": "unauthenticated", "message": "a metrics token is required"}})));
    }
    Ok(render_metrics(&state))
}

fn render_metrics(state: &AppState) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}

/// The private metrics listener (`AIDMART_METRICS_BIND`): `/metrics` and nothing else.
/// Returns the server and the port it listens on.
pub fn metrics_server(state: web::Data<AppState>, bind: std::net::SocketAddr) -> Result<(Server, u16), AppError> {
    let listener = std::net::TcpListener::bind(bind)
        .map_err(|e| AppError::internal(format!("AIDMART_METRICS_BIND: cannot listen on {bind}: {e}")))?;
    let port = listener.local_addr().map_err(AppError::internal)?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(|state: web::Data<AppState>| async move { render_metrics(&state) }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(AppError::internal)?
    .run();
    Ok((server, port))
}
