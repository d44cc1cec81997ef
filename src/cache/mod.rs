//! Short-lived shared state (rate-limit counters): Redis when configured, in-process otherwise.
//! `pages` holds rendered catalog pages and the catalog version (`pages::catalog_changed`);
//! `pubsub` carries catalog changes between instances through Redis.

pub mod pages;
pub mod pubsub;

use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::AppError;

pub enum Cache {
    Redis { conn: ConnectionManager, prefix: String },
    Memory(Mutex<HashMap<String, (i64, Instant)>>),
}

impl Cache {
    pub async fn redis(url: &str, prefix: &str) -> Result<Cache, AppError> {
        let client = redis::Client::open(url).map_err(|e| AppError::internal(format!("REDIS_URL: {e}")))?;
        let conn = ConnectionManager::new(client)
            .await
            .map_err(|e| AppError::internal(format!("cannot connect to Redis: {e}")))?;
        Ok(Cache::Redis { conn, prefix: prefix.to_string() })
    }

    pub fn memory() -> Cache {
        Cache::Memory(Mutex::new(HashMap::new()))
    }

    /// The current count under `key` within its window (0 when absent or expired).
    pub async fn count(&self, key: &str) -> Result<i64, AppError> {
        match self {
            Cache::Redis { conn, prefix } => {
                let value: Option<i64> = redis::cmd("GET")
                    .arg(format!("{prefix}:{key}"))
                    .query_async(&mut conn.clone())
                    .await
                    .map_err(redis_error)?;
                Ok(value.unwrap_or(0))
            }
            Cache::Memory(map) => {
                let map = map.lock().map_err(|_| AppError::internal("cache lock poisoned"))?;
                Ok(map.get(key).filter(|(_, until)| *until > Instant::now()).map_or(0, |(n, _)| *n))
            }
        }
    }

    /// Adds one to `key`; a new counter lives for `window`. Returns the new count.
    pub async fn increment(&self, key: &str, window: Duration) -> Result<i64, AppError> {
        match self {
            Cache::Redis { conn, prefix } => {
                let full = format!("{prefix}:{key}");
                let (count,): (i64,) = redis::pipe()
                    .atomic()
                    .incr(&full, 1)
                    .cmd("EXPIRE")
                    .arg(&full)
                    .arg(window.as_secs().max(1))
                    .arg("NX")
                    .ignore()
                    .query_async(&mut conn.clone())
                    .await
                    .map_err(redis_error)?;
                Ok(count)
            }
            Cache::Memory(map) => {
                let mut map = map.lock().map_err(|_| AppError::internal("cache lock poisoned"))?;
                let now = Instant::now();
                map.retain(|_, (_, until)| *until > now);
                let entry = map.entry(key.to_string()).or_insert((0, now + window));
                entry.0 += 1;
                Ok(entry.0)
            }
        }
    }

    /// Adds one to `key` (a new counter lives for `window`), atomically. Returns the new count
    /// and the seconds until the counter expires.
    pub async fn increment_with_ttl(&self, key: &str, window: Duration) -> Result<(i64, u64), AppError> {
        match self {
            Cache::Redis { conn, prefix } => {
                let full = format!("{prefix}:{key}");
                let (count, ttl): (i64, i64) = redis::pipe()
                    .atomic()
                    .incr(&full, 1)
                    .cmd("EXPIRE")
                    .arg(&full)
                    .arg(window.as_secs().max(1))
                    .arg("NX")
                    .ignore()
                    .cmd("TTL")
                    .arg(&full)
                    .query_async(&mut conn.clone())
                    .await
                    .map_err(redis_error)?;
                Ok((count, u64::try_from(ttl).unwrap_or(window.as_secs())))
            }
            Cache::Memory(map) => {
                let mut map = map.lock().map_err(|_| AppError::internal("cache lock poisoned"))?;
                let now = Instant::now();
                map.retain(|_, (_, until)| *until > now);
                let entry = map.entry(key.to_string()).or_insert((0, now + window));
                entry.0 += 1;
                Ok((entry.0, entry.1.saturating_duration_since(now).as_secs()))
            }
        }
    }

    /// Takes one back from `key`, if it is still there (never below zero).
    pub async fn decrement(&self, key: &str) -> Result<(), AppError> {
        match self {
            Cache::Redis { conn, prefix } => {
                // Only an existing counter is decremented, so no key without expiry is created.
                const SCRIPT: &str = "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
                     if n > 0 then return redis.call('DECR', KEYS[1]) else return 0 end";
                redis::cmd("EVAL")
                    .arg(SCRIPT)
                    .arg(1)
                    .arg(format!("{prefix}:{key}"))
                    .query_async::<i64>(&mut conn.clone())
                    .await
                    .map(|_| ())
                    .map_err(redis_error)
            }
            Cache::Memory(map) => {
                let mut map = map.lock().map_err(|_| AppError::internal("cache lock poisoned"))?;
                if let Some(entry) = map.get_mut(key) {
                    entry.0 = (entry.0 - 1).max(0);
                }
                Ok(())
            }
        }
    }

    pub async fn remove(&self, key: &str) -> Result<(), AppError> {
        match self {
            Cache::Redis { conn, prefix } => redis::cmd("DEL")
                .arg(format!("{prefix}:{key}"))
                .query_async::<()>(&mut conn.clone())
                .await
                .map_err(redis_error),
            Cache::Memory(map) => {
                map.lock().map_err(|_| AppError::internal("cache lock poisoned"))?.remove(key);
                Ok(())
            }
        }
    }

    /// Whether the backing store answers (always true in-process).
    pub async fn ping(&self) -> bool {
        match self {
            Cache::Redis { conn, .. } => redis::cmd("PING").query_async::<String>(&mut conn.clone()).await.is_ok(),
            Cache::Memory(_) => true,
        }
    }
}

fn redis_error(e: redis::RedisError) -> AppError {
    tracing::warn!(error = %e, "redis unavailable");
    AppError::Unavailable
}
