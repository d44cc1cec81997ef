//! A few seconds of memory for hot catalog reads, so a busy county page does not ask the
//! database the same questions thousands of times a second. Entries expire on their own;
//! nothing that takes money or stock reads through it. An entry is also dropped as soon as the
//! catalog changes (`cache::pages::catalog_changed`).

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::AppError;

type Entry = (Instant, u64, Arc<dyn Any + Send + Sync>);

pub struct TtlCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl TtlCache {
    pub fn new(ttl: Duration) -> TtlCache {
        TtlCache { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The value under `key` if it is fresh, or what `load` returns (kept when it succeeds).
    pub async fn get_or_load<T, F, Fut>(&self, key: &str, load: F) -> Result<Arc<T>, AppError>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, AppError>>,
    {
        if self.ttl.is_zero() {
            return load().await.map(Arc::new);
        }
        let now = Instant::now();
        let version = super::pages::catalog_version();
        if let Some(hit) = self
            .lock()?
            .get(key)
            .filter(|(until, made_under, _)| *until > now && *made_under == version)
            .and_then(|(_, _, v)| v.clone().downcast::<T>().ok())
        {
            return Ok(hit);
        }
        let value = Arc::new(load().await?);
        let mut entries = self.lock()?;
        if entries.len() > 10_000 {
            entries.retain(|_, (until, made_under, _)| *until > now && *made_under == version);
        }
        entries.insert(key.to_string(), (now + self.ttl, version, value.clone()));
        Ok(value)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Entry>>, AppError> {
        self.entries.lock().map_err(|_| AppError::internal("cache lock poisoned"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[actix_web::test]
    async fn loads_once_within_the_ttl_and_again_after() {
        let cache = TtlCache::new(Duration::from_millis(200));
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, AppError>(42)
        };
        assert_eq!(*cache.get_or_load("k", load).await.unwrap_or_default(), 42);
        assert_eq!(*cache.get_or_load("k", load).await.unwrap_or_default(), 42);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        std::thread::sleep(Duration::from_millis(250));
        cache.get_or_load("k", load).await.ok();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        // Failures are not kept.
        let failed = cache.get_or_load::<i32, _, _>("e", || async { Err(AppError::NotFound) }).await;
        assert!(failed.is_err());
        assert_eq!(*cache.get_or_load("e", || async { Ok::<_, AppError>(7) }).await.unwrap_or_default(), 7);
    }
}
