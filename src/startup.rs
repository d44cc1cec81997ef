//! Builds the application: pool, migrations, demo data, cache, templates, sessions, routes.

use actix_session::config::{CookieContentSecurity, PersistentSession, TtlExtensionPolicy};
use actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionKey, SessionStore};
use actix_session::SessionMiddleware;
use actix_web::cookie::{time, Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

use crate::app::AppState;
use crate::cache::pages::PageCache;
use crate::cache::Cache;
use crate::config::Config;
use crate::db;
use crate::error::AppError;
use crate::mail::Mailer;
use crate::orders::hooks::Hooks;
use crate::payments::SandboxGateway;
use crate::web::i18n::Messages;
use crate::web::metrics::Metrics;
use crate::{
    accounts, api, catalog, credits, donations, ops, orders, orgs, payments, points, seed, settlement, web as webparts,
};

/// Who hears of each order's lifecycle events, in this order, in the order's transaction:
/// the organisation's budget and approval first (it may refuse the order), then the credit
/// ledger, then mail (queued last, so it reports what was really written).
pub const ORDER_HOOKS: Hooks = Hooks(&[
    // Adoption offers come before organisation budgets in the lock order.
    ("adoption", crate::adoption::service::on_order),
    ("orgs", orgs::account::on_order),
    ("credits", credits::service::on_order),
    ("invoices", crate::invoices::service::on_order),
    ("settlement", settlement::service::on_order),
    ("flash sales", crate::flash::service::on_order),
    ("mail", orders::mail::on_order),
]);

pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    server: Server,
}

impl Application {
    /// Prepares the database (migrate, seed when empty) and binds the listener; `config.bind`
    /// may use port 0, as the tests do.
    pub async fn build(config: Config) -> Result<Application, AppError> {
        let pool = db::connect(&config.database_url, config.db_pool_size)?;
        {
            let mut conn = db::checkout(&pool)?;
            db::migrate(&mut conn)?;
            crate::coop::model::refresh_stale_search_texts(&mut conn)?;
            if seed::is_empty(&mut conn)? {
                let report = seed::load(&mut conn, &config.seed_dir)?;
                let photos = seed::load_images(&mut conn, &config.seed_dir, &config.data_dir.join("images"))?;
                tracing::info!(%report, photos, "empty database: demo data loaded");
            }
        }
        let cache = match &config.redis_url {
            Some(url) => Cache::redis(url, &config.redis_prefix).await?,
            None => Cache::memory(),
        };
        let sessions = match &config.redis_url {
            Some(url) => {
                let prefix = format!("{}:session:", config.redis_prefix);
                let store = RedisSessionStore::builder(url.clone())
                    .cache_keygen(move |key| format!("{prefix}{key}"))
                    .build()
                    .await
                    .map_err(|e| AppError::internal(format!("REDIS_URL: cannot open the session store: {e}")))?;
                Sessions::Redis(Box::new(store))
            }
            None => Sessions::Cookie,
        };
        let messages = Arc::new(Messages::load().map_err(AppError::internal)?);
        let templates =
            webparts::templates::registry(messages.clone(), config.templates_dir.as_deref(), config.timezone)
                .map_err(AppError::internal)?;
        let secret = config.cookie_key().map_err(AppError::internal)?;
        let key = Key::try_from(secret.as_slice()).map_err(AppError::internal)?;
        let mailer = Mailer::from_config(&config)?;
        let ledger_key = ed25519_dalek::SigningKey::from_bytes(&config.ledger_seed().map_err(AppError::internal)?);
        let listener = TcpListener::bind(config.bind)
            .map_err(|e| AppError::internal(format!("cannot listen on {}: {e}", config.bind)))?;
        let port = listener.local_addr().map_err(AppError::internal)?.port();
        let mut config = config;
        // Bound to port 0 (tests): links and callbacks need the real port.
        if config.public_url.ends_with(":0") {
            config.public_url = format!("{}{port}", config.public_url.trim_end_matches('0'));
        }
        let ip = config.bind.ip();
        let local = if ip.is_unspecified() { "127.0.0.1".to_string() } else { ip.to_string() };
        let host = if ip.is_ipv6() && !ip.is_unspecified() { format!("[{local}]") } else { local };
        let receipt_key = crate::aftersales::delivery::receipt_key(&secret);
        let gateway = SandboxGateway::new(&secret, format!("http://{host}:{port}/api/v1/payments/sandbox/webhook"));
        let workers = config.workers;
        let cookie_secure = config.cookie_secure;
        let page_cache_ms = config.page_cache_ms;
        if let Some(url) = &config.redis_url {
            let (prefix, id) = (config.redis_prefix.clone(), config.instance_id.clone());
            actix_web::rt::spawn(crate::cache::pubsub::publish_changes(url.clone(), prefix.clone(), id.clone()));
            actix_web::rt::spawn(crate::cache::pubsub::follow_changes(url.clone(), prefix, id));
        }
        let db_gate = tokio::sync::Semaphore::new(pool.max_size() as usize);
        let state = web::Data::new(AppState {
            db_gate,
            config,
            pool,
            cache,
            templates,
            messages,
            metrics: Metrics::default(),
            page_cache: PageCache::new(std::time::Duration::from_millis(page_cache_ms)),
            gateway,
            mailer,
            ledger_key,
            order_hooks: ORDER_HOOKS,
            receipt_key,
            flash: Default::default(),
            live_sessions: Default::default(),
        });
        crate::jobs::spawn_all(state.clone());
        let metrics_port = match state.config.metrics_bind {
            Some(bind) => {
                let (server, port) = ops::metrics_server(state.clone(), bind)?;
                actix_web::rt::spawn(server);
                Some(port)
            }
            None => None,
        };

        let server = HttpServer::new(move || {
            let session = SessionMiddleware::builder(sessions.clone(), key.clone())
                .cookie_name("aidmart_session".into())
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_secure(cookie_secure)
                .cookie_content_security(CookieContentSecurity::Private)
                .session_lifecycle(
                    PersistentSession::default()
                        .session_ttl(time::Duration::days(7))
                        .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
                )
                .build();
            App::new()
                .app_data(state.clone())
                .app_data(api::json_config())
                .app_data(api::query_config())
                .app_data(api::form_config())
                .app_data(api::path_config())
                .wrap(from_fn(webparts::security::catch_panics))
                .wrap(from_fn(webparts::security::check_input))
                .wrap(from_fn(accounts::sessions::check))
                .wrap(ErrorHandlers::new().default_handler(webparts::errors::render_error_page))
                .wrap(session)
                .wrap(from_fn(webparts::metrics::record))
                .wrap(TracingLogger::default())
                .wrap(from_fn(webparts::security::headers))
                .configure(ops::routes)
                .into_utoipa_app()
                .configure(api::routes)
                .into_app()
                .configure(catalog::routes::pages)
                .configure(accounts::routes::pages)
                .configure(crate::aftersales::pages::pages)
                .configure(orders::routes::pages)
                .configure(crate::cart::routes::pages)
                .configure(crate::addresses::routes::pages)
                .configure(crate::credits::verify_page::pages)
                .configure(payments::routes::pages)
                .configure(points::routes::pages)
                .configure(credits::routes::pages)
                .configure(donations::routes::pages)
                .configure(crate::draws::routes::pages)
                .configure(crate::coop::routes::pages)
                .configure(settlement::routes::pages)
                .configure(settlement::pages::configure)
                .configure(orgs::routes::pages)
                .configure(crate::flash::pages::pages)
                .configure(crate::adoption::pages::pages)
                .configure(crate::invoices::pages::pages)
                .route("/static/{file}", web::get().to(webparts::templates::static_file))
                .route("/favicon.ico", web::get().to(webparts::templates::favicon))
                .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(AppError::NotFound) }))
        })
        .workers(workers)
        .listen(listener)
        .map_err(AppError::internal)?
        .run();
        Ok(Application { port, metrics_port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the private metrics listener, when `AIDMART_METRICS_BIND` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The session store: Redis when configured, otherwise the session lives in an encrypted,
/// signed cookie.
#[derive(Clone)]
enum Sessions {
    Cookie,
    Redis(Box<RedisSessionStore>),
}

type State = HashMap<String, String>;

impl SessionStore for Sessions {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, actix_session::storage::LoadError> {
        match self {
            Sessions::Cookie => CookieSessionStore::default().load(key).await,
            Sessions::Redis(s) => s.load(key).await,
        }
    }

    async fn save(&self, state: State, ttl: &time::Duration) -> Result<SessionKey, actix_session::storage::SaveError> {
        match self {
            Sessions::Cookie => CookieSessionStore::default().save(state, ttl).await,
            Sessions::Redis(s) => s.save(state, ttl).await,
        }
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &time::Duration,
    ) -> Result<SessionKey, actix_session::storage::UpdateError> {
        match self {
            Sessions::Cookie => CookieSessionStore::default().update(key, state, ttl).await,
            Sessions::Redis(s) => s.update(key, state, ttl).await,
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &time::Duration) -> Result<(), anyhow::Error> {
        match self {
            Sessions::Cookie => CookieSessionStore::default().update_ttl(key, ttl).await,
            Sessions::Redis(s) => s.update_ttl(key, ttl).await,
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        match self {
            Sessions::Cookie => CookieSessionStore::default().delete(key).await,
            Sessions::Redis(s) => s.delete(key).await,
        }
    }
}
