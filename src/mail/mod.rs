//! Mail through a transactional outbox: rows are written in the same transaction as what they
//! report, and a worker delivers them with retries and exponential backoff, so an SMTP outage
//! delays mail and loses none.

use chrono::{Duration as ChronoDuration, NaiveDateTime, Utc};
use diesel::prelude::*;
use handlebars::Handlebars;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{FileTransport, Message, SmtpTransport, Transport as _};
use serde::Serialize;
use std::path::PathBuf;

use crate::config::Config;
use crate::db::schema::outbox;
use crate::db::{AnyConnection, Pool};
use crate::error::AppError;

/// Where mail goes: an SMTP server, or `.eml` files when none is configured.
#[derive(Clone)]
pub enum Mailer {
    Smtp(SmtpTransport),
    Files(PathBuf),
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Mailer, AppError> {
        let Some(raw) = &config.smtp_url else {
            return Ok(Mailer::Files(config.mail_dir()));
        };
        let url = url::Url::parse(raw).map_err(|e| AppError::internal(format!("SMTP_URL: {e}")))?;
        let host = url.host_str().ok_or_else(|| AppError::internal("SMTP_URL: no host"))?;
        let mut builder = SmtpTransport::builder_dangerous(host)
            .port(url.port().unwrap_or(25))
            .timeout(Some(std::time::Duration::from_secs(10)));
        if !url.username().is_empty() {
            let password = url.password().unwrap_or_default();
            builder = builder.credentials(Credentials::new(url.username().to_string(), password.to_string()));
        }
        Ok(Mailer::Smtp(builder.build()))
    }

    fn send(&self, message: &Message) -> Result<(), String> {
        match self {
            Mailer::Smtp(smtp) => smtp.send(message).map(|_| ()).map_err(|e| e.to_string()),
            Mailer::Files(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                FileTransport::new(dir).send(message).map(|_| ()).map_err(|e| e.to_string())
            }
        }
    }
}

/// Queues a mail; call inside the transaction of the change it reports.
pub fn enqueue(
    conn: &mut AnyConnection,
    template: &str,
    recipient: &str,
    context: &impl Serialize,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    crate::db::Deferred::NOW.write(conn, message(template, recipient, context, now)?)?;
    Ok(())
}

/// The outbox row of one message, to write now or with a `Deferred`.
pub fn message(
    template: &str,
    recipient: &str,
    context: &impl Serialize,
    now: NaiveDateTime,
) -> Result<impl crate::db::Write, AppError> {
    let context = serde_json::to_string(context).map_err(AppError::internal)?;
    Ok(diesel::insert_into(outbox::table).values((
        outbox::template.eq(template.to_string()),
        outbox::recipient.eq(recipient.to_string()),
        outbox::context.eq(context),
        outbox::next_attempt_at.eq(now),
        outbox::created_at.eq(now),
    )))
}

/// Builds the message from `email/<template>/{subject,body.txt,body.html}`.
pub fn compose(
    templates: &Handlebars<'static>,
    from: &str,
    template: &str,
    recipient: &str,
    context_json: &str,
) -> Result<Message, String> {
    let context: serde_json::Value = serde_json::from_str(context_json).map_err(|e| e.to_string())?;
    let render =
        |part: &str| templates.render(&format!("email/{template}/{part}"), &context).map_err(|e| e.to_string());
    let subject = render("subject")?;
    let from: Mailbox = from.parse().map_err(|e| format!("{e}"))?;
    let to: Mailbox = recipient.parse().map_err(|e| format!("{recipient}: {e}"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject.trim())
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(render("body.txt")?))
                .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(render("body.html")?)),
        )
        .map_err(|e| e.to_string())
}

/// The wait before attempt `n + 1`: 2^n seconds, at most an hour.
pub fn backoff(attempts: i32) -> ChronoDuration {
    ChronoDuration::seconds(2i64.saturating_pow(attempts.clamp(0, 12) as u32).min(3600))
}

/// Delivers the mail that is due; returns how many were sent. Several workers may run: each
/// row is claimed for a minute before it is sent.
pub fn deliver_due(
    pool: &Pool,
    templates: &Handlebars<'static>,
    mailer: &Mailer,
    from: &str,
) -> Result<usize, AppError> {
    let mut conn = crate::db::checkout(pool)?;
    let now = Utc::now().naive_utc();
    let due: Vec<(i64, String, String, String, i32)> = outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::next_attempt_at.le(now))
        .filter(outbox::locked_until.is_null().or(outbox::locked_until.lt(now)))
        .order(outbox::id)
        .limit(50)
        .select((outbox::id, outbox::template, outbox::recipient, outbox::context, outbox::attempts))
        .load(&mut conn)?;
    let mut sent = 0;
    for (id, template, recipient, context, attempts) in due {
        let claimed = diesel::update(
            outbox::table.find(id).filter(outbox::locked_until.is_null().or(outbox::locked_until.lt(now))),
        )
        .set(outbox::locked_until.eq(Some(now + ChronoDuration::seconds(60))))
        .execute(&mut conn)?;
        if claimed == 0 {
            continue;
        }
        let result = compose(templates, from, &template, &recipient, &context).and_then(|m| mailer.send(&m));
        let done_at = Utc::now().naive_utc();
        match result {
            Ok(()) => {
                diesel::update(outbox::table.find(id))
                    .set((
                        outbox::sent_at.eq(Some(done_at)),
                        outbox::attempts.eq(attempts + 1),
                        outbox::locked_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(&mut conn)?;
                sent += 1;
            }
            Err(error) => {
                tracing::warn!(id, %recipient, %error, attempt = attempts + 1, "mail not delivered yet; will retry");
                diesel::update(outbox::table.find(id))
                    .set((
                        outbox::attempts.eq(attempts + 1),
                        outbox::next_attempt_at.eq(done_at + backoff(attempts)),
                        outbox::last_error.eq(Some(error)),
                        outbox::locked_until.eq(None::<NaiveDateTime>),
                    ))
                    .execute(&mut conn)?;
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0).num_seconds(), 1);
        assert_eq!(backoff(3).num_seconds(), 8);
        assert_eq!(backoff(40).num_seconds(), 3600);
    }
}
