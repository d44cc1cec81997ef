use aidmart::config::Config;
use aidmart::db::{self, AnyConnection, Pool};
use aidmart::startup::Application;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use rand::distributions::{Alphanumeric, DistString};
use std::collections::HashMap;

/// A private database, removed when the test ends.
pub enum TestDb {
    /// The folder holding the database file, deleted on drop.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            if let Ok(mut conn) = diesel::PgConnection::establish(admin_url) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub pool: Pool,
    pub config: Config,
    pub backend: &'static str,
    /// The private metrics listener's port, when AIDMART_METRICS_BIND is set.
    pub metrics_port: Option<u16>,
    _data: tempfile::TempDir,
    _db: TestDb,
}

fn random_name(prefix: &str) -> String {
    format!("{prefix}_{}", Alphanumeric.sample_string(&mut rand::thread_rng(), 12).to_lowercase())
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        // Idle connections are dropped well before the server's 5 s keep-alive closes them, so
        // a request is never sent on a connection the server is closing at that moment.
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("http client")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the app with extra settings (environment-variable names and values).
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let data = tempfile::tempdir().expect("temp dir");
    let (database_url, test_db, backend) = match std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(admin_url) => {
            let name = random_name("aidmart_test");
            let mut admin =
                diesel::PgConnection::establish(&admin_url).expect("TEST_DATABASE_URL must reach PostgreSQL");
            admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).expect("create test database");
            (with_database(&admin_url, &name), TestDb::Postgres { admin_url, name }, "postgres")
        }
        None => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            (url, TestDb::Sqlite(dir), "sqlite")
        }
    };
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("DATABASE_URL".into(), database_url.clone());
    if let Ok(redis) = std::env::var("TEST_REDIS_URL") {
        if !redis.is_empty() {
            env.insert("REDIS_URL".into(), redis);
        }
    }
    env.insert("AIDMART_BIND".into(), "127.0.0.1:0".into());
    env.insert("AIDMART_DATA_DIR".into(), data.path().display().to_string());
    env.insert("AIDMART_SEED_DIR".into(), concat!(env!("CARGO_MANIFEST_DIR"), "/seed").into());
    env.insert("AIDMART_REDIS_PREFIX".into(), random_name("test"));
    env.insert("AIDMART_WORKERS".into(), "2".into());
    env.insert("AIDMART_DB_POOL_SIZE".into(), "8".into());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_sources(None, &env).expect("test configuration");
    let app = Application::build(config.clone()).await.expect("app builds");
    let port = app.port();
    let metrics_port = app.metrics_port();
    actix_web::rt::spawn(app.run_until_stopped());
    let pool = db::connect(&database_url, 2).expect("test pool");
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: client(),
        pool,
        config,
        backend,
        metrics_port,
        _data: data,
        _db: test_db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let res = self.client.post(self.url(path)).json(body).send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Logs in through the API; panics unless it succeeds.
    pub async fn login(&self, email: &str) -> serde_json::Value {
        let (status, body) = self
            .post_json("/api/v1/auth/login", &serde_json::json!({"email": email, "password": "aidmart-demo"}))
            .await;
        assert_eq!(status, 200, "login of {email} failed: {body}");
        body
    }

    /// The order lifecycle's settings, with the application's hooks, for calling services
    /// directly.
    pub fn settings(&self) -> aidmart::orders::service::Settings {
        aidmart::orders::service::Settings {
            rate: self.config.exchange_rate,
            payment_timeout: chrono::Duration::minutes(self.config.payment_timeout_mins),
            gateway: "sandbox",
            public_url: self.config.public_url.clone(),
            channel_fee_bps: self.config.channel_fee_bps,
            hooks: aidmart::startup::ORDER_HOOKS,
        }
    }

    pub fn conn(&self) -> db::PooledConn {
        self.pool.get().expect("db connection")
    }
}

/// Runs raw SQL on the test database.
pub fn exec(conn: &mut AnyConnection, sql: &str) {
    conn.batch_execute(sql).expect("sql");
}

/// The CSRF token embedded in a page's form.
pub fn csrf_from(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    html[start..].split('"').next().unwrap_or_default().to_string()
}

pub fn error_code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// One number from SQL (`SELECT … AS n`).
pub fn scalar(conn: &mut AnyConnection, sql: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).map(|r| r.n).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

impl TestApp {
    pub fn sku(&self, code: &str) -> i64 {
        scalar(&mut self.conn(), &format!("SELECT id AS n FROM skus WHERE code = '{code}'"))
    }

    pub fn stock(&self, code: &str) -> i64 {
        scalar(&mut self.conn(), &format!("SELECT stock AS n FROM skus WHERE code = '{code}'"))
    }

    pub fn campaign(&self, slug: &str) -> i64 {
        scalar(&mut self.conn(), &format!("SELECT id AS n FROM campaigns WHERE slug = '{slug}'"))
    }

    /// A client logged in as one of the demo accounts.
    pub async fn client_for(&self, email: &str) -> reqwest::Client {
        let c = client();
        let res = c
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": "aidmart-demo"}))
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), 200, "login {email}");
        c
    }
}

pub async fn send_json(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

/// A structurally valid PNG (2×2, uncompressed deflate) with `extra` chunks before IDAT.
pub fn sample_png(extra: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    chunk(&mut png, b"IHDR", &[0, 0, 0, 2, 0, 0, 0, 2, 8, 0, 0, 0, 0]);
    for (kind, data) in extra {
        chunk(&mut png, kind, data);
    }
    // zlib header, one stored block of 2 rows × (filter byte + 2 grey pixels), a dummy Adler-32.
    chunk(&mut png, b"IDAT", &[0x78, 0x01, 0x01, 6, 0, 0xF9, 0xFF, 0, 9, 9, 0, 9, 9, 0, 0, 0, 0]);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A structurally valid baseline JPEG (1×1, one component).
pub fn sample_jpeg() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8];
    j.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    j.extend_from_slice(&[1u8; 64]);
    j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01, 0x11, 0x00]);
    j.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, 0x00, 0x01]);
    j.extend_from_slice(&[0u8; 15]);
    j.push(0x00);
    j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x00, 0xFF, 0x00, 0x3F]);
    j.extend_from_slice(&[0xFF, 0xD9]);
    j
}

/// Another instance of the app on `app`'s database, Redis prefix and data folder (so the same
/// keys), on its own port, with `instance_id`: its base URL. It runs its own jobs.
pub async fn spawn_instance(app: &TestApp, instance_id: &str) -> String {
    let mut config = app.config.clone();
    config.bind = "127.0.0.1:0".parse().expect("bind address");
    config.instance_id = instance_id.to_string();
    let instance = Application::build(config).await.expect("instance builds");
    let port = instance.port();
    actix_web::rt::spawn(instance.run_until_stopped());
    format!("http://127.0.0.1:{port}")
}

/// Stops the child process it holds (a server started from the binary) when it goes out of
/// scope, also when the test fails.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
