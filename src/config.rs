//! Typed settings: defaults < optional `aidmart.toml` < environment variables.

use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::db::Backend;
use crate::money::ExchangeRate;

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub redis_url: Option<String>,
    /// Prefix for every Redis key, so several instances or tests can share one server.
    pub redis_prefix: String,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub data_dir: PathBuf,
    pub seed_dir: PathBuf,
    pub templates_dir: Option<PathBuf>,
    /// At least 64 bytes, hex-encoded; signs cookies. Unset: a key kept in `data_dir/secret.key`.
    pub secret_key: Option<String>,
    /// 32 bytes, hex: the Ed25519 seed that signs ledger checkpoints. Unset: a key kept in
    /// `data_dir/ledger-signing.key`.
    pub ledger_signing_key: Option<String>,
    pub public_url: String,
    pub exchange_rate: ExchangeRate,
    pub db_pool_size: u32,
    pub workers: usize,
    pub cookie_secure: bool,
    /// Login attempts allowed within `login_window_secs` per (account, address) pair, and the
    /// higher ceilings per account (from any address) and per address (for any account).
    pub login_limit_per_pair: i64,
    pub login_limit_per_account: i64,
    pub login_limit_per_ip: i64,
    /// Take the client address from the last `X-Forwarded-For` entry (set only behind a
    /// proxy that writes that header; otherwise clients could choose their address).
    pub trust_proxy: bool,
    /// At most this many password hashes at once (each takes 19 MiB); default: the cores.
    pub hash_concurrency: usize,
    /// `/metrics` on its own listener (e.g. 127.0.0.1:9100), unset: not served there.
    pub metrics_bind: Option<SocketAddr>,
    /// `/metrics` on the main listener to `Authorization: Bearer TOKEN`; unset: 404 there.
    pub metrics_token: Option<String>,
    pub login_window_secs: u64,
    /// Registrations allowed per hour from one address, and per email address (each one sends
    /// a mail: the second limit keeps a stranger from flooding someone's inbox).
    pub register_limit_per_ip: i64,
    pub register_limit_per_email: i64,
    /// How long a rendered catalog page is kept, in milliseconds (0: never cache).
    pub page_cache_ms: u64,
    /// This instance's name among several behind one load balancer (logs, Redis messages);
    /// default: the host name and process id.
    pub instance_id: String,
    /// Unpaid orders are cancelled after this many minutes.
    pub payment_timeout_mins: i64,
    /// A flash sale's order must be paid within this many minutes, or its units go back to
    /// the sale.
    pub flash_pay_minutes: i64,
    /// How often the payment-timeout and points-expiry jobs run.
    pub job_interval_secs: u64,
    /// How often the mail worker looks for due mail.
    pub mail_poll_ms: u64,
    /// The payment channel's fee on the cash part, in basis points (60 = 0.6%).
    pub channel_fee_bps: i64,
    /// A shipped parcel not confirmed is received automatically after this many days.
    pub auto_receive_days: i64,
    /// After-sales cases may be opened this many days after receipt; then the order completes.
    pub after_sales_days: i64,
    /// A case the cooperative leaves unanswered this many hours is accepted automatically.
    pub after_sales_reply_hours: i64,
    /// A pre-sale parcel not shipped this many days after its ship-by date may be cancelled
    /// by its buyer for a full refund (`AIDMART_PRESALE_GRACE_DAYS`, default 7).
    pub presale_grace_days: i64,
    /// The zone times are shown in (`AIDMART_TIMEZONE`, an IANA name; default Asia/Shanghai).
    pub timezone: chrono_tz::Tz,
}

/// A bad setting: start-up stops with one line naming it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

fn bad(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { setting: setting.to_string(), message: message.into() }
}

/// The optional file's shape: every key may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    bind: Option<String>,
    database_url: Option<String>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    data_dir: Option<String>,
    seed_dir: Option<String>,
    templates_dir: Option<String>,
    secret_key: Option<String>,
    ledger_signing_key: Option<String>,
    public_url: Option<String>,
    points_per_yuan: Option<i64>,
    db_pool_size: Option<u32>,
    workers: Option<usize>,
    cookie_secure: Option<bool>,
    login_limit_per_pair: Option<i64>,
    login_limit_per_account: Option<i64>,
    login_limit_per_ip: Option<i64>,
    trust_proxy: Option<bool>,
    hash_concurrency: Option<usize>,
    metrics_bind: Option<String>,
    metrics_token: Option<String>,
    login_window_secs: Option<u64>,
    register_limit_per_ip: Option<i64>,
    register_limit_per_email: Option<i64>,
    page_cache_ms: Option<u64>,
    instance_id: Option<String>,
    payment_timeout_mins: Option<i64>,
    flash_pay_minutes: Option<i64>,
    job_interval_secs: Option<u64>,
    mail_poll_ms: Option<u64>,
    channel_fee_bps: Option<i64>,
    timezone: Option<String>,
    auto_receive_days: Option<i64>,
    after_sales_days: Option<i64>,
    after_sales_reply_hours: Option<i64>,
    presale_grace_days: Option<i64>,
}

impl Config {
    /// Reads `aidmart.toml` (or the file named by `AIDMART_CONFIG`) and the process environment.
    pub fn load() -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let path = env.get("AIDMART_CONFIG").cloned();
        let file = match &path {
            Some(p) => {
                Some(std::fs::read_to_string(p).map_err(|e| bad("AIDMART_CONFIG", format!("cannot read {p}: {e}")))?)
            }
            None => std::fs::read_to_string("aidmart.toml").ok(),
        };
        Config::from_sources(file.as_deref(), &env)
    }

    /// Builds the settings from the file's text (if any) and an environment map.
    pub fn from_sources(file: Option<&str>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let f: FileSettings = match file {
            Some(text) => toml::from_str(text).map_err(|e| bad("aidmart.toml", e.message().to_string()))?,
            None => FileSettings::default(),
        };
        // The environment wins over the file; an empty variable counts as unset.
        let pick = |var: &str, from_file: Option<String>| -> Option<(String, String)> {
            match env.get(var).filter(|v| !v.trim().is_empty()) {
                Some(v) => Some((var.to_string(), v.trim().to_string())),
                None => from_file
                    .map(|v| (format!("aidmart.toml {}", var.trim_start_matches("AIDMART_").to_lowercase()), v)),
            }
        };
        fn parse<T: std::str::FromStr>(v: Option<(String, String)>, default: T, what: &str) -> Result<T, ConfigError> {
            match v {
                None => Ok(default),
                Some((name, raw)) => raw.parse().map_err(|_| bad(&name, format!("'{raw}' is not {what}"))),
            }
        }

        let bind = parse(
            pick("AIDMART_BIND", f.bind),
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            "an address like 127.0.0.1:8080",
        )?;

        let data_dir =
            PathBuf::from(pick("AIDMART_DATA_DIR", f.data_dir).map(|v| v.1).unwrap_or_else(|| "data".into()));
        let database_url = match pick("DATABASE_URL", f.database_url) {
            Some((name, url)) => {
                Backend::from_url(&url).map_err(|m| bad(&name, m))?;
                url
            }
            None => format!("sqlite://{}", data_dir.join("aidmart.db").display()),
        };
        let redis_url = match pick("REDIS_URL", f.redis_url) {
            Some((name, url)) if !(url.starts_with("redis://") || url.starts_with("unix://")) => {
                return Err(bad(&name, "must start with redis://"));
            }
            other => other.map(|v| v.1),
        };
        let smtp_url = match pick("SMTP_URL", f.smtp_url) {
            Some((name, url)) if !url.starts_with("smtp://") => {
                return Err(bad(&name, "must start with smtp:// (e.g. smtp://user:pass@host:25)"));
            }
            other => other.map(|v| v.1),
        };
        let mail_from = pick("AIDMART_MAIL_FROM", f.mail_from)
            .map(|v| v.1)
            .unwrap_or_else(|| "Aidmart <noreply@aidmart.local>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(bad("AIDMART_MAIL_FROM", format!("'{mail_from}' is not a mailbox like Name <user@host>")));
        }
        let secret_key = match pick("AIDMART_SECRET_KEY", f.secret_key) {
            Some((name, key)) => {
                let bytes = hex::decode(&key).map_err(|_| bad(&name, "must be hex"))?;
                if bytes.len() < 64 {
                    return Err(bad(&name, "must be at least 64 bytes (128 hex characters)"));
                }
                Some(key)
            }
            None => None,
        };
        let ledger_signing_key = match pick("AIDMART_LEDGER_SIGNING_KEY", f.ledger_signing_key) {
            Some((name, key)) => match hex::decode(&key) {
                Ok(bytes) if bytes.len() == 32 => Some(key),
                _ => return Err(bad(&name, "must be 32 bytes in hex (64 hex characters)")),
            },
            None => None,
        };
        let points_per_yuan =
            parse(pick("AIDMART_POINTS_PER_YUAN", f.points_per_yuan.map(|v| v.to_string())), 100i64, "a whole number")?;
        if !(1..=1_000_000).contains(&points_per_yuan) {
            return Err(bad("AIDMART_POINTS_PER_YUAN", "must be between 1 and 1000000"));
        }
        let default_workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        // PostgreSQL's sizing rule, twice the cores plus the effective spindles (two: while
        // one connection waits for its commit to reach the disk, another uses the core). More
        // connections only wait on each other inside the database, and each waiting backend
        // still costs CPU (docs/PERFORMANCE.md, "Fifth step").
        let default_pool = u32::try_from(2 * default_workers + 2).unwrap_or(u32::MAX).max(4);
        let db_pool_size =
            parse(pick("AIDMART_DB_POOL_SIZE", f.db_pool_size.map(|v| v.to_string())), default_pool, "a whole number")?;
        if db_pool_size == 0 {
            return Err(bad("AIDMART_DB_POOL_SIZE", "must be at least 1"));
        }
        let workers =
            parse(pick("AIDMART_WORKERS", f.workers.map(|v| v.to_string())), default_workers, "a whole number")?;
        if workers == 0 {
            return Err(bad("AIDMART_WORKERS", "must be at least 1"));
        }

        let payment_timeout_mins = parse(
            pick("AIDMART_PAYMENT_TIMEOUT_MINS", f.payment_timeout_mins.map(|v| v.to_string())),
            30i64,
            "a number of minutes",
        )?;
        if !(1..=7 * 24 * 60).contains(&payment_timeout_mins) {
            return Err(bad("AIDMART_PAYMENT_TIMEOUT_MINS", "must be between 1 and 10080 minutes"));
        }
        let flash_pay_minutes = parse(
            pick("AIDMART_FLASH_PAY_MINUTES", f.flash_pay_minutes.map(|v| v.to_string())),
            10i64,
            "a number of minutes",
        )?;
        if !(1..=24 * 60).contains(&flash_pay_minutes) {
            return Err(bad("AIDMART_FLASH_PAY_MINUTES", "must be between 1 and 1440 minutes"));
        }
        let job_interval_secs = parse(
            pick("AIDMART_JOB_INTERVAL_SECS", f.job_interval_secs.map(|v| v.to_string())),
            30u64,
            "a number of seconds",
        )?;
        let mail_poll_ms = parse(
            pick("AIDMART_MAIL_POLL_MS", f.mail_poll_ms.map(|v| v.to_string())),
            1000u64,
            "a number of milliseconds",
        )?;
        if job_interval_secs == 0 || mail_poll_ms == 0 {
            return Err(bad("AIDMART_JOB_INTERVAL_SECS", "job intervals must be at least 1"));
        }

        let channel_fee_bps = parse(
            pick("AIDMART_CHANNEL_FEE_BPS", f.channel_fee_bps.map(|v| v.to_string())),
            60i64,
            "a whole number of basis points",
        )?;
        if !(0..=10_000).contains(&channel_fee_bps) {
            return Err(bad("AIDMART_CHANNEL_FEE_BPS", "must be between 0 and 10000 basis points"));
        }
        let days = |name: &str, value: Option<i64>, default: i64, max: i64| -> Result<i64, ConfigError> {
            let v = parse(pick(name, value.map(|v| v.to_string())), default, "a whole number")?;
            if !(0..=max).contains(&v) {
                return Err(bad(name, format!("must be between 0 and {max}")));
            }
            Ok(v)
        };
        let auto_receive_days = days("AIDMART_AUTO_RECEIVE_DAYS", f.auto_receive_days, 10, 365)?;
        let after_sales_days = days("AIDMART_AFTER_SALES_DAYS", f.after_sales_days, 7, 365)?;
        let after_sales_reply_hours = days("AIDMART_AFTER_SALES_REPLY_HOURS", f.after_sales_reply_hours, 48, 24 * 365)?;
        let presale_grace_days = days("AIDMART_PRESALE_GRACE_DAYS", f.presale_grace_days, 7, 365)?;

        let timezone = match pick("AIDMART_TIMEZONE", f.timezone) {
            None => chrono_tz::Asia::Shanghai,
            Some((name, raw)) => raw
                .parse::<chrono_tz::Tz>()
                .map_err(|_| bad(&name, format!("'{raw}' is not a time zone name like Asia/Shanghai")))?,
        };

        let hash_concurrency = parse(
            pick("AIDMART_HASH_CONCURRENCY", f.hash_concurrency.map(|v| v.to_string())),
            default_workers,
            "a whole number",
        )?;
        if hash_concurrency == 0 {
            return Err(bad("AIDMART_HASH_CONCURRENCY", "must be at least 1"));
        }
        let metrics_bind = match pick("AIDMART_METRICS_BIND", f.metrics_bind) {
            Some((name, raw)) => {
                Some(raw.parse().map_err(|_| bad(&name, format!("'{raw}' is not an address like 127.0.0.1:9100")))?)
            }
            None => None,
        };
        let metrics_token = match pick("AIDMART_METRICS_TOKEN", f.metrics_token) {
            Some((name, token)) if token.len() < 16 => return Err(bad(&name, "must have at least 16 characters")),
            other => other.map(|v| v.1),
        };

        let instance_id = match pick("AIDMART_INSTANCE_ID", f.instance_id) {
            Some((name, id)) => {
                let ok = !id.is_empty()
                    && id.len() <= 64
                    && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !ok {
                    return Err(bad(&name, "must be 1-64 letters, digits, '-', '_' or '.'"));
                }
                id
            }
            None => {
                let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
                let host = host.trim();
                format!("{}-{}", if host.is_empty() { "aidmart" } else { host }, std::process::id())
            }
        };

        Ok(Config {
            timezone,
            hash_concurrency,
            metrics_bind,
            metrics_token,
            trust_proxy: parse(
                pick("AIDMART_TRUST_PROXY", f.trust_proxy.map(|v| v.to_string())),
                false,
                "true or false",
            )?,
            login_limit_per_pair: parse(
                pick("AIDMART_LOGIN_LIMIT_PER_PAIR", f.login_limit_per_pair.map(|v| v.to_string())),
                5,
                "a whole number",
            )?,
            payment_timeout_mins,
            flash_pay_minutes,
            job_interval_secs,
            mail_poll_ms,
            channel_fee_bps,
            auto_receive_days,
            after_sales_days,
            after_sales_reply_hours,
            presale_grace_days,
            public_url: pick("AIDMART_PUBLIC_URL", f.public_url)
                .map(|v| v.1)
                .unwrap_or_else(|| format!("http://{bind}")),
            bind,
            database_url,
            redis_url,
            redis_prefix: pick("AIDMART_REDIS_PREFIX", f.redis_prefix).map(|v| v.1).unwrap_or_else(|| "aidmart".into()),
            smtp_url,
            mail_from,
            seed_dir: PathBuf::from(pick("AIDMART_SEED_DIR", f.seed_dir).map(|v| v.1).unwrap_or_else(|| "seed".into())),
            templates_dir: pick("AIDMART_TEMPLATES_DIR", f.templates_dir).map(|v| PathBuf::from(v.1)),
            data_dir,
            secret_key,
            ledger_signing_key,
            exchange_rate: ExchangeRate { points_per_yuan },
            db_pool_size,
            workers,
            cookie_secure: parse(
                pick("AIDMART_COOKIE_SECURE", f.cookie_secure.map(|v| v.to_string())),
                false,
                "true or false",
            )?,
            login_limit_per_account: parse(
                pick("AIDMART_LOGIN_LIMIT_PER_ACCOUNT", f.login_limit_per_account.map(|v| v.to_string())),
                50,
                "a whole number",
            )?,
            login_limit_per_ip: parse(
                pick("AIDMART_LOGIN_LIMIT_PER_IP", f.login_limit_per_ip.map(|v| v.to_string())),
                100,
                "a whole number",
            )?,
            register_limit_per_ip: parse(
                pick("AIDMART_REGISTER_LIMIT_PER_IP", f.register_limit_per_ip.map(|v| v.to_string())),
                20,
                "a whole number",
            )?,
            register_limit_per_email: parse(
                pick("AIDMART_REGISTER_LIMIT_PER_EMAIL", f.register_limit_per_email.map(|v| v.to_string())),
                3,
                "a whole number",
            )?,
            page_cache_ms: parse(
                pick("AIDMART_PAGE_CACHE_MS", f.page_cache_ms.map(|v| v.to_string())),
                1000,
                "a number of milliseconds",
            )?,
            instance_id,
            login_window_secs: parse(
                pick("AIDMART_LOGIN_WINDOW_SECS", f.login_window_secs.map(|v| v.to_string())),
                900,
                "a number of seconds",
            )?,
        })
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }

    /// The cookie-signing key: configured, or generated once and kept beside the data.
    pub fn cookie_key(&self) -> Result<Vec<u8>, ConfigError> {
        if let Some(hex_key) = &self.secret_key {
            return hex::decode(hex_key).map_err(|_| bad("AIDMART_SECRET_KEY", "must be hex"));
        }
        let path = self.data_dir.join("secret.key");
        read_or_create_key(&path, 64)
            .map_err(|e| bad("AIDMART_SECRET_KEY", format!("unset, and {}: {e}", path.display())))
    }

    /// The ledger checkpoint signing seed: configured, or generated once and kept beside the data.
    pub fn ledger_seed(&self) -> Result<[u8; 32], ConfigError> {
        let name = "AIDMART_LEDGER_SIGNING_KEY";
        let bytes = match &self.ledger_signing_key {
            Some(hex_key) => hex::decode(hex_key).map_err(|_| bad(name, "must be hex"))?,
            None => {
                let path = self.data_dir.join("ledger-signing.key");
                read_or_create_key(&path, 32).map_err(|e| bad(name, format!("unset, and {}: {e}", path.display())))?
            }
        };
        bytes.get(..32).and_then(|b| b.try_into().ok()).ok_or_else(|| bad(name, "must be 32 bytes"))
    }
}

fn read_or_create_key(path: &Path, len: usize) -> std::io::Result<Vec<u8>> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(bytes) = hex::decode(text.trim()) {
            if bytes.len() >= len {
                return Ok(bytes);
            }
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let key: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
    std::fs::write(path, hex::encode(&key))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_use_embedded_sqlite() {
        let c = Config::from_sources(None, &env(&[])).map_err(|e| e.to_string());
        let c = c.as_ref().map(|c| (c.database_url.clone(), c.bind.to_string(), c.redis_url.clone()));
        assert_eq!(c, Ok(("sqlite://data/aidmart.db".to_string(), "127.0.0.1:8080".to_string(), None)));
    }

    #[test]
    fn environment_beats_file() {
        let file = "bind = \"0.0.0.0:9000\"\npoints_per_yuan = 50\n";
        let c = Config::from_sources(Some(file), &env(&[("AIDMART_BIND", "127.0.0.1:9100")]));
        let c = c.map_err(|e| e.to_string());
        assert_eq!(c.as_ref().map(|c| c.bind.port()), Ok(9100));
        assert_eq!(c.as_ref().map(|c| c.exchange_rate.points_per_yuan), Ok(50));
    }

    #[test]
    fn bad_settings_name_themselves() {
        let cases = [
            (env(&[("DATABASE_URL", "mysql://x")]), "DATABASE_URL"),
            (env(&[("REDIS_URL", "http://x")]), "REDIS_URL"),
            (env(&[("SMTP_URL", "mail.example.com")]), "SMTP_URL"),
            (env(&[("AIDMART_BIND", "nowhere")]), "AIDMART_BIND"),
            (env(&[("AIDMART_POINTS_PER_YUAN", "0")]), "AIDMART_POINTS_PER_YUAN"),
            (env(&[("AIDMART_SECRET_KEY", "abcd")]), "AIDMART_SECRET_KEY"),
            (env(&[("AIDMART_TIMEZONE", "Beijing")]), "AIDMART_TIMEZONE"),
        ];
        for (vars, name) in cases {
            match Config::from_sources(None, &vars) {
                Err(e) => assert!(e.to_string().starts_with(&format!("configuration error: {name}:")), "{e}"),
                Ok(_) => panic!("{name} should have been refused"),
            }
        }
        let file_error = Config::from_sources(Some("bind = 3\n"), &env(&[])).map(|_| ()).map_err(|e| e.setting);
        assert_eq!(file_error, Err("aidmart.toml".to_string()));
    }
}
