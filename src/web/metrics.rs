//! Prometheus metrics: request counts by route and status, and a latency histogram.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::app::AppState;

const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    bucket_counts: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_micros: AtomicU64,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((method.to_string(), route.to_string(), status)).or_default() += 1;
        }
        for (bucket, count) in BUCKETS.iter().zip(&self.bucket_counts) {
            if seconds <= *bucket {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        self.duration_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::from("# HELP aidmart_http_requests_total HTTP requests by route and status.\n# TYPE aidmart_http_requests_total counter\n");
        if let Ok(map) = self.requests.lock() {
            for ((method, route, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "aidmart_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP aidmart_http_request_duration_seconds Time to answer a request.\n# TYPE aidmart_http_request_duration_seconds histogram\n");
        for (bucket, count) in BUCKETS.iter().zip(&self.bucket_counts) {
            let _ = writeln!(
                out,
                "aidmart_http_request_duration_seconds_bucket{{le=\"{bucket}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let total = self.duration_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "aidmart_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(
            out,
            "aidmart_http_request_duration_seconds_sum {}",
            self.duration_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "aidmart_http_request_duration_seconds_count {total}");
        out
    }
}

pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    // The route pattern, not the path, so ids do not explode the label set.
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    if let Some(state) = state {
        state.metrics.observe(&method, &route, res.status().as_u16(), started.elapsed().as_secs_f64());
    }
    Ok(res)
}
