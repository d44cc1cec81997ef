//! Account rules: passwords, registration, login with rate limits, and the "me" view.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Serialize;
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;
use utoipa::ToSchema;

use super::model::{self, NewUser};
use crate::app::AppState;
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::points;
use crate::web::session::SessionUser;

pub use super::model::Role;

pub fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(AppError::internal)
}

fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Verified against when the email is unknown, so both answers take the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("not a real password").unwrap_or_default());

pub fn normalise_email(email: &str) -> Result<String, AppError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    if valid {
        Ok(email)
    } else {
        Err(AppError::unprocessable("invalid_email", "please enter a valid email address / 请输入有效的邮箱地址"))
    }
}

pub struct Registration {
    pub email: String,
    pub display_name: String,
    pub password: String,
    pub password_confirm: String,
    pub province_code: Option<String>,
}

/// How long the emailed confirmation link works.
pub const VERIFY_HOURS: i64 = 48;

/// A password must have 10 to 128 characters and not be easy to guess: zxcvbn (its bundled
/// lists of common passwords, names and words, keyboard patterns, sequences, dates, and the
/// given hints such as the email) must estimate more than a million guesses.
pub fn check_password(password: &str, hints: &[&str]) -> Result<(), AppError> {
    let weak = |why: &str| {
        AppError::unprocessable("weak_password", format!("{why} / 密码须为 10 至 128 位，且不能是常见或易猜的密码"))
    };
    let n = password.chars().count();
    if !(10..=128).contains(&n) {
        return Err(weak("the password must have 10 to 128 characters"));
    }
    // zxcvbn's cost grows with the length; the first 100 characters tell enough.
    let head: String = password.chars().take(100).collect();
    if u8::from(zxcvbn::zxcvbn(&head, hints).score()) < 2 {
        return Err(weak("this password is too common or too easy to guess"));
    }
    Ok(())
}

#[derive(Serialize)]
struct VerifyMail {
    display_name: String,
    verify_url: String,
    valid_hours: i64,
}

#[derive(Serialize)]
struct ExistsMail {
    display_name: String,
    login_url: String,
}

fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Registers a public buyer, answering the same whether the email is new or not: a new
/// address gets an account that waits for the emailed link; a known one gets a mail telling
/// its owner they already have an account (an unconfirmed one gets a fresh link and the new
/// password, as only the mailbox's owner can confirm it). Hashes a password: call through
/// `with_hash_slot`.
pub fn register(
    conn: &mut AnyConnection,
    r: &Registration,
    public_url: &str,
    now: chrono::NaiveDateTime,
) -> Result<(), AppError> {
    let email = normalise_email(&r.email)?;
    let name = r.display_name.trim();
    if name.is_empty() || name.chars().count() > 50 || name.chars().any(char::is_control) {
        return Err(AppError::unprocessable(
            "invalid_name",
            "the name must have 1 to 50 characters / 昵称须为 1 至 50 个字",
        ));
    }
    check_password(&r.password, &[&email, name, "aidmart", "助农集市"])?;
    if r.password != r.password_confirm {
        return Err(AppError::unprocessable("password_mismatch", "the two passwords differ / 两次输入的密码不一致"));
    }
    let province_id = match r.province_code.as_deref().filter(|c| !c.is_empty()) {
        Some(code) => {
            let unknown = || AppError::unprocessable("invalid_province", "unknown province / 省份无效");
            if !code.chars().all(|c| c.is_ascii_digit()) {
                return Err(unknown());
            }
            Some(model::province_id_by_code(conn, code)?.ok_or_else(unknown)?)
        }
        None => None,
    };
    let hash = hash_password(&r.password)?;
    let token =
        rand::distributions::DistString::sample_string(&rand::distributions::Alphanumeric, &mut rand::thread_rng(), 40);
    let result = crate::db::write_tx(conn, |conn| -> Result<(), AppError> {
        let user_id = match model::find_by_email(conn, &email)? {
            Some(existing) if existing.verified => {
                let context =
                    ExistsMail { display_name: existing.display_name, login_url: format!("{public_url}/login") };
                crate::mail::enqueue(conn, "account_exists", &existing.email, &context, now)?;
                return Ok(());
            }
            Some(pending) => {
                model::set_password(conn, pending.id, &hash)?;
                pending.id
            }
            None => {
                let new = NewUser { email: &email, password_hash: &hash, display_name: name, province_id };
                let id = model::insert(conn, &new).map_err(|e| match e {
                    diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                        AppError::conflict("email_taken", "registered twice at once")
                    }
                    other => other.into(),
                })?;
                model::set_verified(conn, id, false)?;
                model::add_roles(conn, id, &[Role::Buyer.as_str()])?;
                id
            }
        };
        model::add_verification(conn, &token_hash(&token), user_id, now + chrono::Duration::hours(VERIFY_HOURS))?;
        let context = VerifyMail {
            display_name: name.to_string(),
            verify_url: format!("{public_url}/verify/{token}"),
            valid_hours: VERIFY_HOURS,
        };
        crate::mail::enqueue(conn, "verify_email", &email, &context, now)?;
        Ok(())
    });
    match result {
        // A twin registration inserted the same email first: the answer is the same.
        Err(AppError::Conflict { code: "email_taken", .. }) => Ok(()),
        other => other,
    }
}

/// Follows the emailed link: the account becomes usable. Single use, expires.
pub fn verify_email(conn: &mut AnyConnection, token: &str, now: chrono::NaiveDateTime) -> Result<(), AppError> {
    if token.len() != 40 || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(AppError::NotFound);
    }
    crate::db::write_tx(conn, |conn| {
        let user_id = model::use_verification(conn, &token_hash(token), now)?.ok_or(AppError::NotFound)?;
        model::set_verified(conn, user_id, true)?;
        Ok(())
    })
}

/// Changes a password after checking the current one; every session of the user ends
/// (the caller starts a new one for this browser). Hashes twice: call through `with_hash_slot`.
pub fn change_password(
    conn: &mut AnyConnection,
    user_id: i64,
    current: &str,
    new: &str,
    confirm: &str,
) -> Result<(), AppError> {
    let user = model::find(conn, user_id)?.ok_or(AppError::Unauthenticated)?;
    if !verify_password(&user.password_hash, current) {
        return Err(AppError::InvalidCredentials);
    }
    check_password(new, &[&user.email, &user.display_name, "aidmart", "助农集市"])?;
    if new != confirm {
        return Err(AppError::unprocessable("password_mismatch", "the two passwords differ / 两次输入的密码不一致"));
    }
    let hash = hash_password(new)?;
    crate::db::write_tx(conn, |conn| {
        model::set_password(conn, user_id, &hash)?;
        super::sessions::delete_all(conn, user_id)?;
        Ok(())
    })
}

/// At most `hash_concurrency` password hashes run at once: argon2id takes 19 MiB each, so an
/// unbounded burst of logins would be a cheap way to exhaust memory. Set by the first caller.
static HASH_SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();

/// How long a login waits for a hashing slot before it is told to retry (429).
const HASH_WAIT: Duration = Duration::from_secs(3);

type HashJob = Box<dyn FnOnce() + Send>;

/// The threads that hash, as many as the slots. Hashing on the general blocking pool (up to
/// hundreds of threads) left 19 MiB in each thread's malloc arena after a burst (680 MB for
/// 200 logins); a few fixed threads keep that to a few arenas.
static HASH_THREADS: OnceLock<std::sync::mpsc::SyncSender<HashJob>> = OnceLock::new();

fn hash_threads(n: usize) -> &'static std::sync::mpsc::SyncSender<HashJob> {
    HASH_THREADS.get_or_init(|| {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<HashJob>(4096);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for i in 0..n {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("aidmart-hash-{i}")).spawn(move || loop {
                let job = match queue.lock() {
                    Ok(q) => q.recv(),
                    Err(poisoned) => poisoned.into_inner().recv(),
                };
                match job {
                    // A panicking job drops its answer channel, which its caller reports.
                    Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
                    Err(_) => break,
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        jobs
    })
}

/// Runs `f` (which hashes or verifies a password, with a pooled connection) on one of the
/// hashing threads once a hashing slot is free; 429 with `Retry-After` when none frees up in
/// time.
pub async fn with_hash_slot<T, F>(state: &AppState, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
{
    let n = state.config.hash_concurrency;
    let slots = HASH_SLOTS.get_or_init(|| tokio::sync::Semaphore::new(n));
    let permit = match actix_web::rt::time::timeout(HASH_WAIT, slots.acquire()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) => return Err(AppError::internal("hash slots closed")),
        Err(_) => return Err(AppError::Throttled { retry_after_secs: 1 }),
    };
    let (answer, result) = tokio::sync::oneshot::channel();
    let pool = state.pool.clone();
    let job: HashJob = Box::new(move || {
        let outcome = crate::db::checkout(&pool).and_then(|mut conn| f(&mut conn));
        let _ = answer.send(outcome);
    });
    hash_threads(n).send(job).map_err(|_| AppError::internal("the hashing threads are gone"))?;
    let outcome = result.await.map_err(|_| AppError::internal("a password hash failed"))?;
    drop(permit);
    outcome
}

/// Registers (see `register`) within the limits: per address, every attempt in the hour counts;
/// per email, only attempts that send a mail (a refused weak password takes its count back), so
/// a stranger cannot flood someone's inbox and a user retrying a password is not locked out.
/// Over either limit: 429 `rate_limited` with the wait.
pub async fn register_limited(
    state: &AppState,
    registration: Registration,
    ip: &str,
    public_url: String,
) -> Result<(), AppError> {
    let email_key = format!("register:email:{}", registration.email.trim().to_lowercase());
    let window = Duration::from_secs(3600);
    let mut wait = 0;
    for (key, limit) in [
        (format!("register:ip:{ip}"), state.config.register_limit_per_ip),
        (email_key.clone(), state.config.register_limit_per_email),
    ] {
        let (count, ttl) = state.cache.increment_with_ttl(&key, window).await?;
        if count > limit {
            wait = wait.max(ttl.max(1));
        }
    }
    if wait > 0 {
        return Err(AppError::Throttled { retry_after_secs: wait });
    }
    let result =
        with_hash_slot(state, move |conn| register(conn, &registration, &public_url, chrono::Utc::now().naive_utc()))
            .await;
    // Refused input sent no mail.
    if matches!(result, Err(AppError::Unprocessable { .. } | AppError::BadRequest { .. })) {
        state.cache.decrement(&email_key).await?;
    }
    result
}

/// Checks a login. The attempt is counted before the password is verified (an atomic
/// increment), so N concurrent guesses verify at most the limit. Limits: per (account,
/// address) pair, so the owner elsewhere is not locked out; a higher ceiling per account and
/// one per address. A successful login takes its attempt back.
pub async fn login(state: &AppState, email: &str, password: &str, ip: &str) -> Result<SessionUser, AppError> {
    let email = email.trim().to_lowercase();
    // No stored email or password holds a NUL, and PostgreSQL would refuse to compare one.
    if email.contains('\0') || password.contains('\0') {
        return Err(AppError::InvalidCredentials);
    }
    let cfg = &state.config;
    let window = Duration::from_secs(cfg.login_window_secs);
    let keys = [
        (format!("login:pair:{email}|{ip}"), cfg.login_limit_per_pair),
        (format!("login:account:{email}"), cfg.login_limit_per_account),
        (format!("login:ip:{ip}"), cfg.login_limit_per_ip),
    ];
    let mut wait = 0;
    for (key, limit) in &keys {
        let (count, ttl) = state.cache.increment_with_ttl(key, window).await?;
        if count > *limit {
            wait = wait.max(ttl.max(1));
        }
    }
    if wait > 0 {
        return Err(AppError::Throttled { retry_after_secs: wait });
    }
    let password = password.to_string();
    let lookup = email.clone();
    let user = with_hash_slot(state, move |conn| {
        let user = model::find_by_email(conn, &lookup)?;
        let hash = user.as_ref().map_or(DUMMY_HASH.as_str(), |u| u.password_hash.as_str());
        let ok = verify_password(hash, &password);
        match user {
            Some(u) if ok && !u.disabled && !u.verified => Err(AppError::Refused {
                code: "email_not_verified",
                message: "confirm your email address first: open the link we sent / 请先打开邮件中的链接确认邮箱"
                    .into(),
            }),
            other => Ok(other.filter(|u| ok && !u.disabled)),
        }
    })
    .await?;
    match user {
        Some(u) => {
            state.cache.remove(&keys[0].0).await?;
            state.cache.decrement(&keys[1].0).await?;
            state.cache.decrement(&keys[2].0).await?;
            Ok(SessionUser { id: u.id, display_name: u.display_name, email: u.email })
        }
        None => Err(AppError::InvalidCredentials),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgRef {
    pub id: i64,
    pub slug: String,
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    pub is_admin: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProducerRef {
    pub id: i64,
    pub name_zh: String,
    pub name_en: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub organisations: Vec<OrgRef>,
    /// Producers this user manages (cooperative managers).
    pub producers: Vec<ProducerRef>,
    pub points_balance: i64,
    pub province_zh: Option<String>,
    pub province_en: Option<String>,
}

impl Me {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.iter().any(|r| r == role.as_str())
    }
}

/// Everything the account page and `GET /api/v1/me` show; `None` if the user is gone.
pub fn me(conn: &mut AnyConnection, user_id: i64) -> Result<Option<Me>, AppError> {
    let Some(user) = model::find(conn, user_id)?.filter(|u| !u.disabled) else {
        return Ok(None);
    };
    let organisations = model::memberships(conn, user_id)?
        .into_iter()
        .map(|m| OrgRef {
            id: m.org_id,
            slug: m.slug,
            kind: m.kind,
            name_zh: m.name_zh,
            name_en: m.name_en,
            is_admin: m.is_admin,
        })
        .collect();
    let producers = model::managed_producers(conn, user_id)?
        .into_iter()
        .map(|(id, name_zh, name_en)| ProducerRef { id, name_zh, name_en })
        .collect();
    let province = match user.province_id {
        Some(id) => model::province_names(conn, id)?,
        None => None,
    };
    let (province_zh, province_en) = province.map_or((None, None), |(zh, en)| (Some(zh), Some(en)));
    Ok(Some(Me {
        id: user.id,
        email: user.email,
        display_name: user.display_name,
        roles: model::roles(conn, user_id)?,
        organisations,
        producers,
        points_balance: points::model::user_balance(conn, user_id)?,
        province_zh,
        province_en,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(normalise_email(" Buyer@Example.COM ").ok().as_deref(), Some("buyer@example.com"));
        for bad in ["", "a", "a@b", "@example.com", "a b@example.com", "a@.com"] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_verify() {
        let hash = hash_password("aidmart-demo").unwrap_or_default();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "aidmart-demo"));
        assert!(!verify_password(&hash, "aidmart-demO"));
        assert!(!verify_password("garbage", "x"));
    }
}
