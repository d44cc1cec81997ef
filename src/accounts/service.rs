//! Account rules: passwords, registration, login with rate limits, and the "me" view.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Serialize;
use std::sync::LazyLock;
use std::time::Duration;
use utoipa::ToSchema;

use super::model::{self, NewUser};
use crate::app::AppState;
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::points;
use crate::web::session::SessionUser;

pub const ROLES: [&str; 6] = ["buyer", "employee", "union_admin", "canteen_manager", "coop_manager", "platform_admin"];

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

/// Creates a public buyer account.
pub fn register(conn: &mut AnyConnection, r: &Registration) -> Result<SessionUser, AppError> {
    let email = normalise_email(&r.email)?;
    let name = r.display_name.trim();
    if name.is_empty() || name.chars().count() > 50 || name.chars().any(char::is_control) {
        return Err(AppError::unprocessable(
            "invalid_name",
            "the name must have 1 to 50 characters / 昵称须为 1 至 50 个字",
        ));
    }
    if !(8..=128).contains(&r.password.chars().count()) {
        return Err(AppError::unprocessable(
            "weak_password",
            "the password must have 8 to 128 characters / 密码须为 8 至 128 位",
        ));
    }
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
    let taken = || AppError::conflict("email_taken", "an account with this email exists already / 该邮箱已注册");
    crate::db::write_tx(conn, |conn| {
        if model::find_by_email(conn, &email)?.is_some() {
            return Err(taken());
        }
        let id = model::insert(conn, &NewUser { email: &email, password_hash: &hash, display_name: name, province_id })
            .map_err(|e| match e {
                diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => taken(),
                other => other.into(),
            })?;
        model::add_roles(conn, id, &["buyer"])?;
        Ok(SessionUser { id, display_name: name.to_string(), email: email.clone() })
    })
}

/// Checks a login, refusing once an account or an address has failed too often recently.
pub async fn login(state: &AppState, email: &str, password: &str, ip: &str) -> Result<SessionUser, AppError> {
    let email = email.trim().to_lowercase();
    // No stored email or password holds a NUL, and PostgreSQL would refuse to compare one.
    if email.contains('\0') || password.contains('\0') {
        return Err(AppError::InvalidCredentials);
    }
    let account_key = format!("login:account:{email}");
    let ip_key = format!("login:ip:{ip}");
    let cfg = &state.config;
    if state.cache.count(&account_key).await? >= cfg.login_limit_per_account
        || state.cache.count(&ip_key).await? >= cfg.login_limit_per_ip
    {
        return Err(AppError::RateLimited);
    }
    let password = password.to_string();
    let lookup = email.clone();
    let user = state
        .db(move |conn| {
            let user = model::find_by_email(conn, &lookup)?;
            let hash = user.as_ref().map_or(DUMMY_HASH.as_str(), |u| u.password_hash.as_str());
            let ok = verify_password(hash, &password);
            Ok(user.filter(|u| ok && !u.disabled))
        })
        .await?;
    match user {
        Some(u) => {
            state.cache.remove(&account_key).await?;
            Ok(SessionUser { id: u.id, display_name: u.display_name, email: u.email })
        }
        None => {
            let window = Duration::from_secs(cfg.login_window_secs);
            state.cache.increment(&account_key, window).await?;
            state.cache.increment(&ip_key, window).await?;
            Err(AppError::InvalidCredentials)
        }
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
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
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
