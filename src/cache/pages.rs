//! Catalog pages kept as bytes, and the one way to say "the catalog changed".
//!
//! **`catalog_changed()`** is the invalidation entry point: anything that changes what a
//! catalog page shows (a price, a SKU or product edit, stock going in or out of stock, a
//! manager's stock change, a campaign or a flash sale) calls it. It moves the process-wide
//! catalog version; every cached page remembers the version it was made under and is not
//! served once the version moved. Called inside a `db::write_tx`, the version moves again after COMMIT (a page rendered between the change and its commit would
//! otherwise be kept with the old data under the new version). With Redis, each local change is
//! also published (`cache::pubsub`) and every other instance moves its own version.
//!
//! The page cache itself holds no actix types: `web::page` renders, splits and fills.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

static VERSION: AtomicU64 = AtomicU64::new(1);
/// Local changes not yet published to the other instances.
static PUBLISH: Notify = Notify::const_new();

thread_local! {
    /// Set by `catalog_changed` inside a write transaction: bump again after its COMMIT.
    static PENDING: Cell<bool> = const { Cell::new(false) };
}

/// The catalog changed (price, stock availability, sale, product, campaign): cached pages and
/// catalog reads made before now are no longer served, here and (with Redis) on every instance.
pub fn catalog_changed() {
    PENDING.with(|p| p.set(true));
    bump();
}

/// The current catalog version.
pub fn catalog_version() -> u64 {
    VERSION.load(Ordering::Acquire)
}

fn bump() {
    VERSION.fetch_add(1, Ordering::AcqRel);
    PUBLISH.notify_one();
}

/// Called by `db::write_tx` once the outermost transaction has committed (or rolled back).
pub fn after_transaction() {
    if PENDING.with(|p| p.replace(false)) {
        bump();
    }
}

/// Another instance announced a change: move the local version without publishing it again.
pub fn remote_change() {
    VERSION.fetch_add(1, Ordering::AcqRel);
}

/// Waits until a local change is due to be published.
pub async fn local_change() {
    PUBLISH.notified().await;
}

/// A piece of a cached page: bytes shared by every visitor, or a slot filled per visitor.
#[derive(Debug, Clone)]
pub enum Piece {
    Text(bytes::Bytes),
    /// The header's navigation (name, cart count, login links).
    Nav,
    /// The session's CSRF token, in a form's hidden field.
    Csrf,
}

/// One rendered page.
#[derive(Debug)]
pub struct CachedPage {
    pub made: Instant,
    pub version: u64,
    /// Of the shared bytes (a strong validator: the same on every instance).
    pub etag: String,
    pub pieces: Vec<Piece>,
    /// The navigation an anonymous visitor with an empty cart sees.
    pub anon_nav: String,
    /// The whole page as such a visitor without a session gets it (None when the page's forms
    /// need a CSRF token, which gives every visitor a session).
    pub anon_body: Option<bytes::Bytes>,
    /// The page's forms need a token (so a session) even for anonymous visitors.
    pub with_form: bool,
}

impl CachedPage {
    /// The page with its slots filled.
    pub fn fill(&self, nav: &str, csrf: &str) -> bytes::Bytes {
        let len: usize = self
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Text(b) => b.len(),
                Piece::Nav => nav.len(),
                Piece::Csrf => csrf.len(),
            })
            .sum();
        let mut out = bytes::BytesMut::with_capacity(len);
        for piece in &self.pieces {
            match piece {
                Piece::Text(b) => out.extend_from_slice(b),
                Piece::Nav => out.extend_from_slice(nav.as_bytes()),
                Piece::Csrf => out.extend_from_slice(csrf.as_bytes()),
            }
        }
        out.freeze()
    }
}

/// Rendered pages by (language, path and query), each for at most `ttl` and only while the
/// catalog version is the one it was made under.
pub struct PageCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, Arc<CachedPage>>>,
}

/// The most pages kept (search queries are unbounded): past it, stale ones are dropped, and
/// if none is stale, all.
const MAX_PAGES: usize = 5_000;

impl PageCache {
    pub fn new(ttl: Duration) -> PageCache {
        PageCache { ttl, entries: RwLock::new(HashMap::new()) }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The page under `key` if it is younger than the limit and the catalog has not changed.
    pub fn get(&self, key: &str) -> Option<Arc<CachedPage>> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let page = entries.get(key)?;
        (page.version == catalog_version() && page.made.elapsed() < self.ttl).then(|| page.clone())
    }

    pub fn put(&self, key: &str, page: Arc<CachedPage>) {
        if !self.enabled() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_PAGES {
                let (ttl, version) = (self.ttl, catalog_version());
                entries.retain(|_, p| p.version == version && p.made.elapsed() < ttl);
                if entries.len() >= MAX_PAGES {
                    entries.clear();
                }
            }
            entries.insert(key.to_string(), page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(version: u64) -> Arc<CachedPage> {
        Arc::new(CachedPage {
            made: Instant::now(),
            version,
            etag: "\"x\"".into(),
            pieces: vec![
                Piece::Text(bytes::Bytes::from_static(b"<a>")),
                Piece::Nav,
                Piece::Text(bytes::Bytes::from_static(b"<i ")),
                Piece::Csrf,
                Piece::Text(bytes::Bytes::from_static(b">")),
            ],
            anon_nav: String::new(),
            anon_body: None,
            with_form: true,
        })
    }

    #[test]
    fn fills_the_slots_and_expires_by_age_and_by_version() {
        let cache = PageCache::new(Duration::from_millis(150));
        assert_eq!(&page(0).fill("N", "T")[..], b"<a>N<i T>");
        cache.put("k", page(catalog_version()));
        assert!(cache.get("k").is_some());
        std::thread::sleep(Duration::from_millis(200));
        assert!(cache.get("k").is_none(), "older than the limit");
        cache.put("k", page(catalog_version()));
        catalog_changed();
        after_transaction();
        assert!(cache.get("k").is_none(), "the catalog changed");
        assert!(PageCache::new(Duration::ZERO).get("k").is_none());
    }
}
