//! The application's state, shared by every handler and job. A leaf module: features import
//! it, it imports no feature's rules (only the types it holds).

use actix_web::web;
use handlebars::Handlebars;
use std::sync::Arc;

use crate::cache::pages::PageCache;
use crate::cache::Cache;
use crate::config::Config;
use crate::db::{AnyConnection, Pool};
use crate::error::AppError;
use crate::mail::Mailer;
use crate::orders::hooks::Hooks;
use crate::orders::service::Settings;
use crate::payments::SandboxGateway;
use crate::web::i18n::Messages;
use crate::web::metrics::Metrics;

pub struct AppState {
    pub config: Config,
    pub pool: Pool,
    pub cache: Cache,
    pub templates: Handlebars<'static>,
    pub messages: Arc<Messages>,
    pub metrics: Metrics,
    /// Rendered catalog pages, kept for `page_cache_ms` while the catalog version holds.
    pub page_cache: PageCache,
    pub gateway: SandboxGateway,
    pub mailer: Mailer,
    /// Signs ledger checkpoints; its public half is published with them.
    pub ledger_key: ed25519_dalek::SigningKey,
    /// Who hears of each order's lifecycle events, in order (`startup::ORDER_HOOKS`).
    pub order_hooks: Hooks,
    /// Signs distribution recipients' parcel receipt links (derived from the secret key).
    pub receipt_key: Vec<u8>,
    /// Flash-sale admission: the in-process state (without Redis) and sales' figures.
    pub flash: crate::flash::admission::Admission,
    /// Session tokens recently found live (`accounts::sessions::check`).
    pub live_sessions: crate::accounts::sessions::LiveSessions,
    /// One permit per pooled connection (`db`).
    pub db_gate: tokio::sync::Semaphore,
}

impl AppState {
    /// Runs blocking database work on the blocking thread pool with a pooled connection. At most
    /// as many run at once as the pool has connections (`db_gate`): under load the rest wait
    /// as tasks, not as threads blocked on the pool, whose hand-offs cost a thread wake-up
    /// each (on the hot SKU, about a tenth more orders a second: docs/PERFORMANCE.md).
    pub async fn db<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
    {
        // Never closed, so acquiring cannot fail.
        let _permit = self.db_gate.acquire().await.map_err(AppError::internal)?;
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = crate::db::checkout(&pool)?;
            f(&mut conn)
        })
        .await?
    }

    /// What the order lifecycle needs to know of the store.
    pub fn order_settings(&self) -> Settings {
        Settings {
            rate: self.config.exchange_rate,
            payment_timeout: chrono::Duration::minutes(self.config.payment_timeout_mins),
            gateway: "sandbox",
            public_url: self.config.public_url.clone(),
            channel_fee_bps: self.config.channel_fee_bps,
            hooks: self.order_hooks,
        }
    }
}
