//! Catalog changes between instances: each local `pages::catalog_changed` is published on the
//! Redis channel `{prefix}:catalog` with this instance's id; every instance subscribes and moves
//! its own catalog version on a message from another one. A lost connection is retried every
//! second; meanwhile pages still expire by age (`AIDMART_PAGE_CACHE_MS`).

use futures_util::StreamExt;
use std::time::Duration;

use super::pages;

fn channel(prefix: &str) -> String {
    format!("{prefix}:catalog")
}

/// Publishes local changes until the process ends (coalescing bursts into one message).
pub async fn publish_changes(url: String, prefix: String, instance: String) {
    let Ok(client) = redis::Client::open(url.as_str()) else { return };
    let mut conn = None;
    loop {
        pages::local_change().await;
        if conn.is_none() {
            conn = redis::aio::ConnectionManager::new(client.clone()).await.ok();
        }
        if let Some(c) = conn.as_mut() {
            let sent: Result<i64, _> = redis::cmd("PUBLISH").arg(channel(&prefix)).arg(&instance).query_async(c).await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "catalog change not published");
            }
        }
    }
}

/// Listens for other instances' changes until the process ends.
pub async fn follow_changes(url: String, prefix: String, instance: String) {
    let Ok(client) = redis::Client::open(url.as_str()) else { return };
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(channel(&prefix)).await.is_ok() {
                    // Anything may have changed while we were not listening.
                    pages::remote_change();
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let from: String = message.get_payload().unwrap_or_default();
                        if from != instance {
                            pages::remote_change();
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to catalog changes"),
        }
        actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    }
}
