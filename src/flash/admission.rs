//! Admission: the atomic check-and-take of a sale's remaining units and the buyer's limit that
//! comes before any database work, so that thousands of buyers pressing "buy" in the same
//! second cost the database only the orders that can succeed.
//!
//! With Redis (`REDIS_URL`), each sale is one hash `{prefix}:flash:{sale_id}` with the fields
//! `gen` (the sale's generation it was seeded from), `epoch` (random, new at each seeding),
//! `left`, and `u{buyer_id}` (units the buyer holds); one Lua script checks and takes, so
//! every instance shares it. Without Redis, the same state lives in a mutex-guarded map.
//!
//! The database stays the truth. A missing hash (Redis restarted or flushed) or one seeded
//! from an older generation (units came back from a cancelled order) answers `Unseeded`; the
//! caller reads the holdings from the database and seeds it with a script that writes only
//! if the hash is still missing or older, so concurrent seeders cannot undo each other. An
//! admission is given back (when placing the order fails) only to the seeding it came from.

use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::service::Running;
use crate::cache::Cache;
use crate::error::AppError;

/// What admission answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Admitted(Ticket),
    SoldOut,
    LimitReached,
    /// No state for this sale at this generation: seed it from the database, then ask again.
    Unseeded,
}

/// An admission, to give back if the order cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub sale_id: i64,
    pub buyer_id: i64,
    pub quantity: i64,
    pub epoch: String,
}

/// The state to seed, as read from the database.
pub struct Seed {
    pub generation: i64,
    pub left: i64,
    /// (buyer id, units held)
    pub holdings: Vec<(i64, i64)>,
    /// How long Redis keeps the hash (until a while after the sale ends).
    pub ttl: Duration,
}

struct LocalSale {
    generation: i64,
    epoch: String,
    left: i64,
    buyers: HashMap<i64, i64>,
    until: Instant,
}

/// The in-process admission state (used when Redis is not configured), and each sale's
/// figures as last read from the database (kept for `SALE_CACHE`, so that an attempt on a
/// sold-out sale costs no database work).
#[derive(Default)]
pub struct Admission {
    local: Mutex<HashMap<i64, LocalSale>>,
    sales: Mutex<HashMap<i64, (Instant, Running)>>,
    /// Sales Redis last answered sold out, with that generation and when: for `SALE_CACHE`
    /// this instance answers sold out itself, so the crowd still pressing "buy" after the last
    /// unit went costs Redis nothing. Units that come back (a cancelled or expired order) move
    /// the sale's generation, which ends the memo at once; a failed order's given-back units
    /// end it on this instance and are seen by the others within `SALE_CACHE`.
    sold_out: Mutex<HashMap<i64, (i64, Instant)>>,
}

/// How long a sale's figures (times, limit, generation) are reused before reading them again:
/// units given back by a cancelled order become buyable again within this time.
pub const SALE_CACHE: Duration = Duration::from_secs(1);

const ADMIT: &str = r"
local gen = redis.call('HGET', KEYS[1], 'gen')
if not gen or tonumber(gen) < tonumber(ARGV[4]) then return {-3, ''} end
local q = tonumber(ARGV[2])
local mine = tonumber(redis.call('HGET', KEYS[1], 'u' .. ARGV[1]) or '0')
if mine + q > tonumber(ARGV[3]) then return {-2, ''} end
local left = tonumber(redis.call('HGET', KEYS[1], 'left') or '0')
if left < q then return {-1, ''} end
redis.call('HINCRBY', KEYS[1], 'left', -q)
redis.call('HINCRBY', KEYS[1], 'u' .. ARGV[1], q)
return {1, redis.call('HGET', KEYS[1], 'epoch')}
";

const SEED: &str = r"
local gen = redis.call('HGET', KEYS[1], 'gen')
if gen and tonumber(gen) >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'epoch', ARGV[2], 'left', ARGV[3])
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], 'u' .. ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
";

const GIVE_BACK: &str = r"
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[1], 'left', tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[1], 'u' .. ARGV[2], -tonumber(ARGV[3]))
return 1
";

/// `EVAL script 1 key` (Redis keeps the compiled script by its hash, so sending the text is
/// the only cost over EVALSHA, and no NOSCRIPT retry is needed after a restart).
fn eval(script: &str, key: String) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(1).arg(key);
    cmd
}

/// The Redis key of a sale's admission state.
pub fn key(prefix: &str, sale_id: i64) -> String {
    format!("{prefix}:flash:{sale_id}")
}

fn new_epoch() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

fn redis_error(e: redis::RedisError) -> AppError {
    tracing::warn!(error = %e, "redis unavailable for flash-sale admission");
    AppError::Contention(format!("admission store: {e}"))
}

impl Admission {
    fn local(&self) -> Result<std::sync::MutexGuard<'_, HashMap<i64, LocalSale>>, AppError> {
        self.local.lock().map_err(|_| AppError::internal("admission lock poisoned"))
    }

    /// The sale's figures if read within `SALE_CACHE`.
    pub fn cached_sale(&self, sale_id: i64) -> Option<Running> {
        let map = self.sales.lock().ok()?;
        map.get(&sale_id).filter(|(at, _)| at.elapsed() < SALE_CACHE).map(|(_, r)| r.clone())
    }

    pub fn remember_sale(&self, sale: Running) {
        if let Ok(mut map) = self.sales.lock() {
            if map.len() > 10_000 {
                map.retain(|_, (at, _)| at.elapsed() < SALE_CACHE);
            }
            map.insert(sale.id, (Instant::now(), sale));
        }
    }

    fn known_sold_out(&self, sale_id: i64, generation: i64) -> bool {
        let Ok(memo) = self.sold_out.lock() else { return false };
        memo.get(&sale_id).is_some_and(|&(seen, at)| seen >= generation && at.elapsed() < SALE_CACHE)
    }

    /// Checks and takes `quantity` units of the sale for the buyer, atomically.
    pub async fn admit(
        &self,
        cache: &Cache,
        sale_id: i64,
        generation: i64,
        limit: i64,
        buyer_id: i64,
        quantity: i64,
    ) -> Result<Verdict, AppError> {
        match cache {
            Cache::Redis { conn, prefix } => {
                if self.known_sold_out(sale_id, generation) {
                    return Ok(Verdict::SoldOut);
                }
                let (code, epoch): (i64, String) = eval(ADMIT, key(prefix, sale_id))
                    .arg(buyer_id)
                    .arg(quantity)
                    .arg(limit)
                    .arg(generation)
                    .query_async(&mut conn.clone())
                    .await
                    .map_err(redis_error)?;
                Ok(match code {
                    1 => Verdict::Admitted(Ticket { sale_id, buyer_id, quantity, epoch }),
                    -1 => {
                        if let Ok(mut memo) = self.sold_out.lock() {
                            memo.insert(sale_id, (generation, Instant::now()));
                        }
                        Verdict::SoldOut
                    }
                    -2 => Verdict::LimitReached,
                    _ => Verdict::Unseeded,
                })
            }
            Cache::Memory(_) => {
                let mut map = self.local()?;
                let Some(sale) = map.get_mut(&sale_id).filter(|s| s.generation >= generation) else {
                    return Ok(Verdict::Unseeded);
                };
                let mine = sale.buyers.get(&buyer_id).copied().unwrap_or(0);
                if mine + quantity > limit {
                    return Ok(Verdict::LimitReached);
                }
                if sale.left < quantity {
                    return Ok(Verdict::SoldOut);
                }
                sale.left -= quantity;
                *sale.buyers.entry(buyer_id).or_default() += quantity;
                Ok(Verdict::Admitted(Ticket { sale_id, buyer_id, quantity, epoch: sale.epoch.clone() }))
            }
        }
    }

    /// Seeds the sale's state from the database's figures, unless a seeding of the same or a
    /// later generation is already there.
    pub async fn seed(&self, cache: &Cache, sale_id: i64, seed: Seed) -> Result<(), AppError> {
        let epoch = new_epoch();
        match cache {
            Cache::Redis { conn, prefix } => {
                let mut cmd = eval(SEED, key(prefix, sale_id));
                cmd.arg(seed.generation).arg(&epoch).arg(seed.left).arg(seed.ttl.as_secs().max(60));
                for (buyer, units) in &seed.holdings {
                    cmd.arg(*buyer).arg(*units);
                }
                cmd.query_async::<i64>(&mut conn.clone()).await.map_err(redis_error)?;
                Ok(())
            }
            Cache::Memory(_) => {
                let mut map = self.local()?;
                let now = Instant::now();
                map.retain(|_, s| s.until > now);
                if map.get(&sale_id).is_some_and(|s| s.generation >= seed.generation) {
                    return Ok(());
                }
                let mut buyers = HashMap::with_capacity(seed.holdings.len());
                for (buyer, units) in seed.holdings {
                    *buyers.entry(buyer).or_default() += units;
                }
                map.insert(
                    sale_id,
                    LocalSale { generation: seed.generation, epoch, left: seed.left, buyers, until: now + seed.ttl },
                );
                Ok(())
            }
        }
    }

    /// Gives an admission back (its order could not be placed), if the state it came from is
    /// still the one in use; a state seeded since then already counts without it.
    pub async fn give_back(&self, cache: &Cache, ticket: &Ticket) -> Result<(), AppError> {
        if let Ok(mut memo) = self.sold_out.lock() {
            memo.remove(&ticket.sale_id);
        }
        match cache {
            Cache::Redis { conn, prefix } => {
                eval(GIVE_BACK, key(prefix, ticket.sale_id))
                    .arg(&ticket.epoch)
                    .arg(ticket.buyer_id)
                    .arg(ticket.quantity)
                    .query_async::<i64>(&mut conn.clone())
                    .await
                    .map_err(redis_error)?;
                Ok(())
            }
            Cache::Memory(_) => {
                let mut map = self.local()?;
                if let Some(sale) = map.get_mut(&ticket.sale_id).filter(|s| s.epoch == ticket.epoch) {
                    sale.left += ticket.quantity;
                    if let Some(mine) = sale.buyers.get_mut(&ticket.buyer_id) {
                        *mine = (*mine - ticket.quantity).max(0);
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(generation: i64, left: i64) -> Seed {
        Seed { generation, left, holdings: vec![(7, 1)], ttl: Duration::from_secs(60) }
    }

    #[actix_web::test]
    async fn in_process_admission_takes_gives_back_and_reseeds() {
        let cache = Cache::memory();
        let a = Admission::default();
        assert_eq!(a.admit(&cache, 1, 0, 1, 8, 1).await.ok(), Some(Verdict::Unseeded));
        a.seed(&cache, 1, seed(0, 2)).await.ok();
        assert_eq!(a.admit(&cache, 1, 0, 1, 7, 1).await.ok(), Some(Verdict::LimitReached), "seeded holdings count");
        let Ok(Verdict::Admitted(t)) = a.admit(&cache, 1, 0, 1, 8, 1).await else { panic!("admitted") };
        assert_eq!(a.admit(&cache, 1, 0, 1, 8, 1).await.ok(), Some(Verdict::LimitReached));
        let Ok(Verdict::Admitted(_)) = a.admit(&cache, 1, 0, 1, 9, 1).await else { panic!("admitted") };
        assert_eq!(a.admit(&cache, 1, 0, 1, 10, 1).await.ok(), Some(Verdict::SoldOut));
        a.give_back(&cache, &t).await.ok();
        let Ok(Verdict::Admitted(_)) = a.admit(&cache, 1, 0, 1, 10, 1).await else { panic!("given back") };
        // A newer generation in the database: the state is rebuilt, and an old ticket is void.
        assert_eq!(a.admit(&cache, 1, 1, 1, 11, 1).await.ok(), Some(Verdict::Unseeded));
        a.seed(&cache, 1, seed(1, 1)).await.ok();
        a.seed(&cache, 1, seed(0, 5)).await.ok();
        a.give_back(&cache, &t).await.ok();
        let Ok(Verdict::Admitted(_)) = a.admit(&cache, 1, 1, 1, 11, 1).await else { panic!("reseeded") };
        assert_eq!(a.admit(&cache, 1, 1, 1, 12, 1).await.ok(), Some(Verdict::SoldOut), "older seed ignored");
    }
}
