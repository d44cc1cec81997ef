//! Server-side sessions on every store. The session (a Redis entry or, on the embedded
//! default, an encrypted cookie) carries a random token; the `user_sessions` table keeps its
//! SHA-256. Every request that claims a user is checked against that table, so logout ends
//! that session, and a new password or "log out everywhere" ends all of a user's sessions,
//! even when a copy of the cookie lives on elsewhere.

use actix_session::{Session, SessionExt};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::app::AppState;
use crate::db::schema::user_sessions;
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::web::session::{self, SessionUser};

/// The session entry holding the token.
const TOKEN: &str = "sid";
/// How long a session lives on the server, whatever the cookie says.
pub const LIFETIME_DAYS: i64 = 7;

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn oldest_valid(now: NaiveDateTime) -> NaiveDateTime {
    now - chrono::Duration::days(LIFETIME_DAYS)
}

/// How long a token found live on the server is trusted without asking again.
const RECHECK: Duration = Duration::from_secs(1);
/// Past this many remembered tokens, the stale ones are dropped before another is added.
const REMEMBERED: usize = 10_000;

/// Tokens this instance found live in the last `RECHECK`, so that a burst of requests from one
/// session (buyers pressing buy during a live stream) costs one query a second, not one each.
/// Ending sessions here forgets them at once; another instance may let an ended session through
/// for up to `RECHECK` more.
#[derive(Default)]
pub struct LiveSessions(Mutex<HashMap<String, (i64, Instant)>>);

impl LiveSessions {
    fn knows(&self, token_hash: &str, user_id: i64) -> bool {
        let known = self.0.lock().map(|m| m.get(token_hash).copied()).ok().flatten();
        known.is_some_and(|(user, at)| user == user_id && at.elapsed() < RECHECK)
    }

    fn remember(&self, token_hash: String, user_id: i64) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= REMEMBERED {
                m.retain(|_, (_, at)| at.elapsed() < RECHECK);
            }
            m.insert(token_hash, (user_id, Instant::now()));
        }
    }

    fn forget(&self, token_hash: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(token_hash);
        }
    }

    /// Forgets every session of `user_id` (a new password, "log out everywhere").
    pub fn forget_user(&self, user_id: i64) {
        if let Ok(mut m) = self.0.lock() {
            m.retain(|_, (user, _)| *user != user_id);
        }
    }
}

pub fn insert(conn: &mut AnyConnection, token_hash: &str, user_id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        user_sessions::table
            .filter(user_sessions::user_id.eq(user_id))
            .filter(user_sessions::created_at.lt(oldest_valid(now))),
    )
    .execute(conn)?;
    diesel::insert_into(user_sessions::table)
        .values((
            user_sessions::id.eq(token_hash),
            user_sessions::user_id.eq(user_id),
            user_sessions::created_at.eq(now),
        ))
        .execute(conn)
}

pub fn is_live(conn: &mut AnyConnection, token_hash: &str, user_id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        user_sessions::table
            .filter(user_sessions::id.eq(token_hash))
            .filter(user_sessions::user_id.eq(user_id))
            .filter(user_sessions::created_at.ge(oldest_valid(now))),
    ))
    .get_result(conn)
}

pub fn delete(conn: &mut AnyConnection, token_hash: &str) -> QueryResult<usize> {
    diesel::delete(user_sessions::table.filter(user_sessions::id.eq(token_hash))).execute(conn)
}

/// Ends every session of `user_id`.
pub fn delete_all(conn: &mut AnyConnection, user_id: i64) -> QueryResult<usize> {
    diesel::delete(user_sessions::table.filter(user_sessions::user_id.eq(user_id))).execute(conn)
}

/// Logs `user` in: a new session id (so a planted one is useless) and a new server-side row.
pub async fn begin(state: &AppState, session: &Session, user: &SessionUser) -> Result<(), AppError> {
    session::log_in(session, user)?;
    let token = Alphanumeric.sample_string(&mut rand::thread_rng(), 40);
    session.insert(TOKEN, &token).map_err(AppError::internal)?;
    let (token_hash, user_id) = (hash(&token), user.id);
    state.db(move |conn| Ok(insert(conn, &token_hash, user_id, Utc::now().naive_utc())?)).await?;
    Ok(())
}

/// Logs this session out, here and on the server.
pub async fn end(state: &AppState, session: &Session) -> Result<(), AppError> {
    let token = session.get::<String>(TOKEN).ok().flatten();
    session::log_out(session);
    if let Some(token) = token {
        let token_hash = hash(&token);
        state.live_sessions.forget(&token_hash);
        state.db(move |conn| Ok(delete(conn, &token_hash)?)).await?;
    }
    Ok(())
}

/// Logs `user_id` out everywhere, this session included.
pub async fn end_all(state: &AppState, session: &Session, user_id: i64) -> Result<(), AppError> {
    session::log_out(session);
    state.live_sessions.forget_user(user_id);
    state.db(move |conn| Ok(delete_all(conn, user_id)?)).await?;
    Ok(())
}

/// Middleware (inside the session middleware): a session that names a user but whose token
/// is not live on the server is emptied before any handler sees it.
pub async fn check<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let session = req.get_session();
    if let Some(user) = session::current_user(&session) {
        let token = session.get::<String>(TOKEN).ok().flatten();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let live = match (token, state) {
            (Some(token), Some(state)) => {
                let token_hash = hash(&token);
                if state.live_sessions.knows(&token_hash, user.id) {
                    true
                } else {
                    let checked = token_hash.clone();
                    let result =
                        state.db(move |conn| Ok(is_live(conn, &checked, user.id, Utc::now().naive_utc())?)).await;
                    match result {
                        Ok(live) => {
                            if live {
                                state.live_sessions.remember(token_hash, user.id);
                            }
                            live
                        }
                        Err(e) => {
                            let (http_req, _) = req.into_parts();
                            return Ok(ServiceResponse::from_err(e, http_req).map_into_right_body());
                        }
                    }
                }
            }
            _ => false,
        };
        if !live {
            // Cleared rather than purged, so that logging in on this very request still works.
            session.clear();
        }
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}
