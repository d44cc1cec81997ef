//! Liveness, readiness and metrics for operators.

use actix_web::{get, web, HttpResponse};
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

#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}
