//! Every background job, behind one runner: each runs on the blocking pool at its interval,
//! logs what it did, and never stops the others. Each job is a set of conditional updates,
//! safe to run twice at once; on top of that, every instance runs a job only once it holds the
//! job's claim (`claim`): on PostgreSQL a session advisory lock keyed by the job's name, held
//! on the connection the job works with and let go when it ends (or when the connection
//! drops, should the instance die), so each job runs on exactly one instance at a time and the
//! others skip that tick. SQLite serves one instance, where a job's ticks never overlap.

use actix_web::web;
use chrono::{NaiveDateTime, Utc};
use std::time::Duration;

use crate::aftersales::{delivery, service::Windows};
use crate::app::AppState;
use crate::config::Config;
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::{aftersales, credits, mail, orders, orgs, points, settlement};

struct Job {
    name: &'static str,
    every: fn(&Config) -> Duration,
    /// How many things it did (0: nothing to log), on the connection holding the claim.
    run: fn(&AppState, &mut AnyConnection, NaiveDateTime) -> Result<usize, AppError>,
}

fn interval(config: &Config) -> Duration {
    Duration::from_secs(config.job_interval_secs)
}

const JOBS: &[Job] = &[
    Job {
        name: "mail delivery",
        every: |c| Duration::from_millis(c.mail_poll_ms),
        run: |s, _, _| mail::deliver_due(&s.pool, &s.templates, &s.mailer, &s.config.mail_from),
    },
    Job {
        name: "stock alerts sent",
        every: |c| Duration::from_millis(c.mail_poll_ms),
        run: |_, c, now| crate::inventory::service::send_stock_alerts(c, now),
    },
    Job {
        name: "unpaid orders cancelled",
        every: interval,
        run: |s, c, now| orders::service::expire_unpaid(c, &s.order_settings(), now),
    },
    Job {
        name: "ended flash sales closed",
        every: interval,
        run: |_, c, now| crate::flash::service::close_ended(c, now),
    },
    Job {
        name: "expired points retired",
        every: interval,
        run: |_, c, now| Ok(usize::try_from(points::service::expire_due(c, now)?).unwrap_or(0)),
    },
    Job {
        name: "ledger checkpoint signed",
        every: interval,
        run: |s, c, now| Ok(usize::from(credits::service::checkpoint(c, &s.ledger_key, now)?.is_some())),
    },
    Job {
        name: "settlement periods closed",
        every: interval,
        run: |s, c, now| settlement::service::run_due(c, s.config.timezone, now),
    },
    Job {
        name: "recurring canteen orders",
        every: interval,
        run: |s, c, now| {
            let report = orgs::canteen::run_due(c, &s.order_settings(), now)?;
            Ok(report.placed + report.failed)
        },
    },
    Job {
        name: "parcels received automatically",
        every: interval,
        run: |s, c, now| delivery::auto_receive_due(c, &s.order_settings(), Windows::of(&s.config), now),
    },
    Job {
        name: "after-sales cases accepted automatically",
        every: interval,
        run: |s, c, now| aftersales::service::auto_accept_due(c, &s.order_settings(), now),
    },
    Job {
        name: "buyers told their pre-sale parcel is late",
        every: interval,
        run: |s, c, now| {
            let today = crate::web::time::local_date(s.config.timezone, now);
            orders::presale::notify_late(c, &s.order_settings(), s.config.presale_grace_days, today, now)
        },
    },
    Job {
        name: "lucky draws closed",
        every: interval,
        run: |s, c, now| crate::draws::service::close_due(c, &s.order_settings(), now),
    },
    Job {
        name: "adoption deliveries released to the shipping queue",
        every: interval,
        run: |_, c, now| crate::adoption::service::release_due(c, now),
    },
    Job {
        name: "orders completed",
        every: interval,
        run: |s, c, now| delivery::complete_due(c, &s.order_settings(), Windows::of(&s.config), now),
    },
];

/// The advisory-lock key of a job: FNV-1a of its name, so every instance agrees on it.
pub fn lock_key(name: &str) -> i64 {
    let hash = format!("aidmart-job:{name}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Runs `work` if this instance can claim the job `name` now (PostgreSQL: the job's session
/// advisory lock, let go afterwards; SQLite: always). `Ok(None)`: another instance holds it.
pub fn claim<T>(
    conn: &mut AnyConnection,
    name: &str,
    work: impl FnOnce(&mut AnyConnection) -> Result<T, AppError>,
) -> Result<Option<T>, AppError> {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Bool};
    #[derive(QueryableByName)]
    struct Claimed {
        #[diesel(sql_type = Bool)]
        ok: bool,
    }
    let AnyConnection::Postgresql(pg) = conn else {
        return work(conn).map(Some);
    };
    let key = lock_key(name);
    let held =
        diesel::sql_query("SELECT pg_try_advisory_lock($1) AS ok").bind::<BigInt, _>(key).get_result::<Claimed>(pg)?;
    if !held.ok {
        return Ok(None);
    }
    let result = work(conn);
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_unlock($1) AS ok").bind::<BigInt, _>(key).get_result::<Claimed>(pg)?;
    }
    result.map(Some)
}

/// Runs one job now, if this instance can claim it: what it did, or `None` when another
/// instance held it (the runner calls this at each tick; tests call it directly).
pub fn run_once(state: &AppState, name: &str, now: NaiveDateTime) -> Result<Option<usize>, AppError> {
    let job = JOBS.iter().find(|j| j.name == name).ok_or(AppError::NotFound)?;
    let mut conn = crate::db::checkout(&state.pool)?;
    claim(&mut conn, job.name, |c| (job.run)(state, c, now))
}

/// The jobs' names.
pub fn names() -> Vec<&'static str> {
    JOBS.iter().map(|j| j.name).collect()
}

/// Starts every job on the actix runtime.
pub fn spawn_all(state: web::Data<AppState>) {
    for job in JOBS {
        let state = state.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval((job.every)(&state.config));
            loop {
                tick.tick().await;
                let s = state.clone();
                match web::block(move || run_once(&s, job.name, Utc::now().naive_utc())).await {
                    Ok(Ok(None | Some(0))) => {}
                    Ok(Ok(Some(n))) => tracing::info!(job = job.name, n, instance = %state.config.instance_id, "job"),
                    Ok(Err(e)) => tracing::warn!(job = job.name, error = %e, "job failed"),
                    Err(e) => tracing::warn!(job = job.name, error = %e, "job did not run"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_has_its_own_lock_key() {
        let mut keys: Vec<i64> = JOBS.iter().map(|j| lock_key(j.name)).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), JOBS.len());
        assert_eq!(lock_key("mail delivery"), lock_key("mail delivery"));
    }
}
