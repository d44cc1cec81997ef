//! Who is logged in, and the CSRF token of their session.

use actix_session::Session;
use rand::distributions::{Alphanumeric, DistString};
use serde::Serialize;

use crate::error::AppError;

const USER_ID: &str = "uid";
const USER_NAME: &str = "name";
const USER_EMAIL: &str = "email";
const CSRF: &str = "csrf";
const CART_COUNT: &str = "cart_n";

/// The logged-in user as the session remembers them (enough for a page header).
#[derive(Debug, Clone, Serialize)]
pub struct SessionUser {
    pub id: i64,
    pub display_name: String,
    pub email: String,
}

pub fn current_user(session: &Session) -> Option<SessionUser> {
    let id = session.get::<i64>(USER_ID).ok().flatten()?;
    let display_name = session.get::<String>(USER_NAME).ok().flatten().unwrap_or_default();
    let email = session.get::<String>(USER_EMAIL).ok().flatten().unwrap_or_default();
    Some(SessionUser { id, display_name, email })
}

pub fn require_user(session: &Session) -> Result<SessionUser, AppError> {
    current_user(session).ok_or(AppError::Unauthenticated)
}

/// Starts a fresh session for `user` (a new session id, so a planted one is useless).
pub fn log_in(session: &Session, user: &SessionUser) -> Result<(), AppError> {
    session.renew();
    session.insert(USER_ID, user.id).map_err(AppError::internal)?;
    session.insert(USER_NAME, &user.display_name).map_err(AppError::internal)?;
    session.insert(USER_EMAIL, &user.email).map_err(AppError::internal)
}

pub fn log_out(session: &Session) {
    session.purge();
}

/// How many units the visitor's cart held when it was last read or changed (for the header).
pub fn cart_count(session: &Session) -> Option<i64> {
    session.get::<i64>(CART_COUNT).ok().flatten()
}

/// Remembers the cart's size; an anonymous visitor with an empty cart gets no session for it.
pub fn set_cart_count(session: &Session, count: i64) -> Result<(), AppError> {
    if cart_count(session).unwrap_or(0) == count && (count == 0 || cart_count(session).is_some()) {
        return Ok(());
    }
    session.insert(CART_COUNT, count).map_err(AppError::internal)
}

/// The session's CSRF token, created on first use.
pub fn csrf_token(session: &Session) -> Result<String, AppError> {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return Ok(token);
    }
    let token = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    session.insert(CSRF, &token).map_err(AppError::internal)?;
    Ok(token)
}

/// The token of an existing session, without creating a session for an anonymous visitor.
pub fn existing_csrf_token(session: &Session) -> Option<String> {
    session.get::<String>(CSRF).ok().flatten()
}

/// Checks a submitted form token against the session's, in constant time.
pub fn verify_csrf(session: &Session, submitted: &str) -> Result<(), AppError> {
    let expected = existing_csrf_token(session).ok_or(AppError::CsrfRejected)?;
    let (a, b) = (expected.as_bytes(), submitted.as_bytes());
    let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
    if same {
        Ok(())
    } else {
        Err(AppError::CsrfRejected)
    }
}
