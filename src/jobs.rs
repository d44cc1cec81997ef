//! Every background job, behind one runner: each runs on the blocking pool at its interval,
//! logs what it did, and never stops the others. Each job is a set of conditional updates,
//! safe to run twice at once or on several instances.

use actix_web::web;
use chrono::{NaiveDateTime, Utc};
use std::time::Duration;

use crate::aftersales::{delivery, service::Windows};
use crate::app::AppState;
use crate::config::Config;
use crate::error::AppError;
use crate::{aftersales, credits, mail, orders, orgs, points, settlement};

struct Job {
    name: &'static str,
    every: fn(&Config) -> Duration,
    /// How many things it did (0: nothing to log).
    run: fn(&AppState, NaiveDateTime) -> Result<usize, AppError>,
}

fn interval(config: &Config) -> Duration {
    Duration::from_secs(config.job_interval_secs)
}

const JOBS: &[Job] = &[
    Job {
        name: "mail delivery",
        every: |c| Duration::from_millis(c.mail_poll_ms),
        run: |s, _| mail::deliver_due(&s.pool, &s.templates, &s.mailer, &s.config.mail_from),
    },
    Job {
        name: "unpaid orders cancelled",
        every: interval,
        run: |s, now| orders::service::expire_unpaid(&mut *s.pool.get()?, &s.order_settings(), now),
    },
    Job {
        name: "expired points retired",
        every: interval,
        run: |s, now| Ok(usize::try_from(points::service::expire_due(&mut *s.pool.get()?, now)?).unwrap_or(0)),
    },
    Job {
        name: "ledger checkpoint signed",
        every: interval,
        run: |s, now| Ok(usize::from(credits::service::checkpoint(&mut *s.pool.get()?, &s.ledger_key, now)?.is_some())),
    },
    Job {
        name: "settlement periods closed",
        every: interval,
        run: |s, now| settlement::service::run_due(&mut *s.pool.get()?, s.config.timezone, now),
    },
    Job {
        name: "recurring canteen orders",
        every: interval,
        run: |s, now| {
            let report = orgs::canteen::run_due(&mut *s.pool.get()?, &s.order_settings(), now)?;
            Ok(report.placed + report.failed)
        },
    },
    Job {
        name: "parcels received automatically",
        every: interval,
        run: |s, now| delivery::auto_receive_due(&mut *s.pool.get()?, &s.order_settings(), Windows::of(&s.config), now),
    },
    Job {
        name: "after-sales cases accepted automatically",
        every: interval,
        run: |s, now| aftersales::service::auto_accept_due(&mut *s.pool.get()?, &s.order_settings(), now),
    },
    Job {
        name: "adoption deliveries released to the shipping queue",
        every: interval,
        run: |s, now| crate::adoption::service::release_due(&mut *s.pool.get()?, now),
    },
    Job {
        name: "orders completed",
        every: interval,
        run: |s, now| delivery::complete_due(&mut *s.pool.get()?, &s.order_settings(), Windows::of(&s.config), now),
    },
];

/// Starts every job on the actix runtime.
pub fn spawn_all(state: web::Data<AppState>) {
    for job in JOBS {
        let state = state.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval((job.every)(&state.config));
            loop {
                tick.tick().await;
                let s = state.clone();
                match web::block(move || (job.run)(&s, Utc::now().naive_utc())).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(job = job.name, n, "job"),
                    Ok(Err(e)) => tracing::warn!(job = job.name, error = %e, "job failed"),
                    Err(e) => tracing::warn!(job = job.name, error = %e, "job did not run"),
                }
            }
        });
    }
}
