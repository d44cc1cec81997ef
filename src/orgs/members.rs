//! Members: invites by email (a random token whose hash is stored: single use, expiring,
//! revocable), employee import from a CSV (an invite each), removal, and welfare points
//! granted in bulk from a CSV (a ledger lot each).

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::account;
use super::distribution::{RowError, UploadError};
use super::model::{self, Org};
use crate::accounts::service::normalise_email;
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::mail;
use crate::orders::service::random_token;
use crate::points;

pub const INVITE_DAYS: i64 = 7;
const MAX_ROWS: usize = 5_000;

/// Who manages an organisation's members: an admin of a union or canteen (with its role), or
/// an admin member of a company.
pub fn require_member_admin(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<Org, AppError> {
    let org = model::org(conn, org_id)?.ok_or(AppError::NotFound)?;
    let allowed = match org.kind.as_str() {
        "company" => model::membership(conn, user_id, org_id)? == Some(true),
        _ => account::is_org_admin(conn, user_id, &org)?,
    };
    if allowed {
        Ok(org)
    } else {
        Err(AppError::Forbidden)
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Serialize)]
struct InviteMail {
    org_zh: String,
    org_en: String,
    inviter_name: String,
    accept_url: String,
    /// UTC; the template prints it in the store's zone with `{{time}}`.
    expires_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InviteAnswer {
    pub invited: Vec<String>,
    pub expires_at: NaiveDateTime,
}

/// Writes an invite and queues its mail; in the caller's transaction.
fn invite_one(
    conn: &mut AnyConnection,
    org: &Org,
    inviter: (i64, &str),
    email: &str,
    public_url: &str,
    now: NaiveDateTime,
) -> Result<NaiveDateTime, AppError> {
    let token = random_token(40);
    let expires_at = now + Duration::days(INVITE_DAYS);
    model::insert_invite(conn, org.id, email, &token_hash(&token), inviter.0, expires_at, now)?;
    let context = InviteMail {
        org_zh: org.name_zh.clone(),
        org_en: org.name_en.clone(),
        inviter_name: inviter.1.to_string(),
        accept_url: format!("{public_url}/invites/{token}"),
        expires_at,
    };
    mail::enqueue(conn, "org_invite", email, &context, now)?;
    Ok(expires_at)
}

/// Invites people by email (one, or every row of an import).
pub fn invite(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    emails: &[String],
    public_url: &str,
    now: NaiveDateTime,
) -> Result<InviteAnswer, AppError> {
    let org = require_member_admin(conn, user_id, org_id)?;
    let inviter = crate::accounts::model::find(conn, user_id)?.ok_or(AppError::Unauthenticated)?;
    db::write_tx(conn, |conn| {
        let mut expires_at = now;
        for email in emails {
            expires_at = invite_one(conn, &org, (user_id, &inviter.display_name), email, public_url, now)?;
        }
        Ok(InviteAnswer { invited: emails.to_vec(), expires_at })
    })
}

fn csv_reader(body: &[u8]) -> Result<csv::Reader<&[u8]>, AppError> {
    std::str::from_utf8(body)
        .map_err(|_| AppError::bad_request("invalid_csv", "the file must be UTF-8 text / 文件须为 UTF-8 编码的 CSV"))?;
    Ok(csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(body))
}

fn column(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| names.iter().any(|n| h.trim().trim_start_matches('\u{feff}').eq_ignore_ascii_case(n)))
}

fn header_of(reader: &mut csv::Reader<&[u8]>, wanted: &[&[&str]]) -> Result<Vec<usize>, AppError> {
    let headers = reader
        .headers()
        .map_err(|e| {
            AppError::bad_request("invalid_csv", format!("the header row cannot be read: {e} / 表头无法读取"))
        })?
        .clone();
    wanted
        .iter()
        .map(|names| {
            column(&headers, names).ok_or_else(|| {
                AppError::bad_request(
                    "invalid_csv",
                    format!("the header must name a column {} / 表头缺少 {} 列", names[0], names[0]),
                )
            })
        })
        .collect()
}

/// Employees from a CSV (`email` column; others ignored): every address checked first, then an
/// invite each.
pub fn import(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    body: &[u8],
    public_url: &str,
    now: NaiveDateTime,
) -> Result<InviteAnswer, UploadError> {
    require_member_admin(conn, user_id, org_id)?;
    let mut reader = csv_reader(body)?;
    let at = header_of(&mut reader, &[&["email", "邮箱"]])?[0];
    let mut emails = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let n = i + 1;
        if n > MAX_ROWS {
            return Err(
                AppError::bad_request("invalid_csv", format!("at most {MAX_ROWS} rows / 最多 {MAX_ROWS} 行")).into()
            );
        }
        let email = record.ok().and_then(|r| r.get(at).map(str::to_string)).unwrap_or_default();
        match normalise_email(&email) {
            Ok(e) if emails.contains(&e) => {
                errors.push(RowError { row: n, reason: format!("{e} is listed twice / 邮箱重复") })
            }
            Ok(e) => emails.push(e),
            Err(_) => errors.push(RowError { row: n, reason: "bad email address / 邮箱格式错误".into() }),
        }
    }
    if !errors.is_empty() {
        return Err(UploadError::Rows(errors));
    }
    if emails.is_empty() {
        return Err(AppError::bad_request("invalid_csv", "the file lists no one / 文件中没有人员").into());
    }
    Ok(invite(conn, user_id, org_id, &emails, public_url, now)?)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InviteInfo {
    pub org_id: i64,
    pub org_zh: String,
    pub org_en: String,
    pub email: String,
}

/// What a live invite is for; 404 when it is unknown, used, revoked or expired.
pub fn invite_info(conn: &mut AnyConnection, token: &str, now: NaiveDateTime) -> Result<InviteInfo, AppError> {
    let (_, org_id, email) = model::live_invite(conn, &token_hash(token), now)?.ok_or(AppError::NotFound)?;
    let org = model::org(conn, org_id)?.ok_or(AppError::NotFound)?;
    Ok(InviteInfo { org_id, org_zh: org.name_zh, org_en: org.name_en, email })
}

/// The invited person (logged in with the invited address) joins, once.
pub fn accept(conn: &mut AnyConnection, user_id: i64, token: &str, now: NaiveDateTime) -> Result<InviteInfo, AppError> {
    db::write_tx(conn, |conn| {
        let (invite_id, org_id, email) =
            model::live_invite(conn, &token_hash(token), now)?.ok_or(AppError::NotFound)?;
        let user = crate::accounts::model::find(conn, user_id)?.ok_or(AppError::Unauthenticated)?;
        if user.email != email {
            return Err(AppError::Forbidden);
        }
        if !model::accept_invite(conn, invite_id, now)? {
            return Err(AppError::NotFound);
        }
        if model::membership(conn, user_id, org_id)?.is_none() {
            crate::accounts::model::add_membership(conn, user_id, org_id, false)?;
        }
        let org = model::org(conn, org_id)?.ok_or(AppError::NotFound)?;
        Ok(InviteInfo { org_id, org_zh: org.name_zh, org_en: org.name_en, email })
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
}

pub fn members(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<Vec<MemberView>, AppError> {
    require_member_admin(conn, user_id, org_id)?;
    Ok(model::members(conn, org_id)?
        .into_iter()
        .map(|(user_id, email, display_name, is_admin)| MemberView { user_id, email, display_name, is_admin })
        .collect())
}

/// Removes a member (not oneself: an organisation is not left without the admin acting).
pub fn remove(conn: &mut AnyConnection, user_id: i64, org_id: i64, member_id: i64) -> Result<(), AppError> {
    require_member_admin(conn, user_id, org_id)?;
    if member_id == user_id {
        return Err(AppError::unprocessable("cannot_remove_self", "you cannot remove yourself / 不能移除自己"));
    }
    db::write_tx(conn, |conn| {
        if model::remove_member(conn, org_id, member_id)? == 0 {
            return Err(AppError::NotFound);
        }
        Ok(())
    })
}

#[derive(Serialize)]
struct PointsMail {
    member_name: String,
    org_zh: String,
    points: i64,
    expires_on: String,
    reason: String,
    account_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GrantsAnswer {
    /// The grant's id (for approval when it waits).
    pub id: i64,
    /// `granted`, or `pending` when above the approval threshold (another admin approves).
    pub status: String,
    pub members: usize,
    pub points: i64,
    /// What the points cost the organisation's welfare budget, at the exchange rate.
    pub cost: String,
}

/// An organisation's points grant as its admins see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgGrantView {
    pub id: i64,
    pub status: String,
    pub members: i64,
    pub points: i64,
    pub cost: String,
    pub granted_by: String,
    pub decided_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
}

#[derive(Serialize, Deserialize)]
struct GrantRow {
    user_id: i64,
    email: String,
    name: String,
    points: i64,
    expires: NaiveDate,
    reason: String,
}

/// Welfare points from a CSV (`email, points, expires, reason`): every row checked first (the
/// member belongs to the organisation or its company, and is not the admin granting: 403;
/// points 1 to 1,000,000; a future date; a reason). The points are paid for: their value at
/// the exchange rate is drawn from the organisation's welfare budget (409 `budget_exceeded`)
/// and shows in its statement. Above the approval threshold the grant waits, budget held,
/// for another admin (`approve_grant`); otherwise a ledger lot each and a mail to each member.
pub fn grant_points(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    body: &[u8],
    public_url: &str,
    rate: crate::money::ExchangeRate,
    now: NaiveDateTime,
) -> Result<GrantsAnswer, UploadError> {
    let org = require_member_admin(conn, user_id, org_id)?;
    if org.kind == "canteen" {
        return Err(AppError::unprocessable(
            "account_not_supported",
            "welfare points are granted by a union or a company / 福利积分由工会或企业发放",
        )
        .into());
    }
    let mut reader = csv_reader(body)?;
    let at = header_of(
        &mut reader,
        &[
            &["email", "member", "邮箱"],
            &["points", "积分"],
            &["expires", "expires_at", "过期日期"],
            &["reason", "原因"],
        ],
    )?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let n = i + 1;
        if n > MAX_ROWS {
            return Err(
                AppError::bad_request("invalid_csv", format!("at most {MAX_ROWS} rows / 最多 {MAX_ROWS} 行")).into()
            );
        }
        let Ok(record) = record else {
            errors.push(RowError { row: n, reason: "unreadable row / 无法读取该行".into() });
            continue;
        };
        let cell = |k: usize| record.get(at[k]).unwrap_or("").to_string();
        let mut why: Vec<String> = Vec::new();
        let member = match normalise_email(&cell(0)) {
            Err(_) => {
                why.push("bad email address / 邮箱格式错误".into());
                None
            }
            Ok(email) => match crate::accounts::model::find_by_email(conn, &email).map_err(AppError::from)? {
                // Nobody grants points to themselves.
                Some(u) if u.id == user_id => return Err(AppError::Forbidden.into()),
                Some(u) if is_member(conn, u.id, &org)? => Some(u),
                _ => {
                    why.push(format!("{email} is not a member / 不是本机构成员"));
                    None
                }
            },
        };
        let points = cell(1).parse::<i64>().ok().filter(|p| (1..=1_000_000).contains(p));
        if points.is_none() {
            why.push("points must be a whole number from 1 to 1000000 / 积分须为 1 至 100 万的整数".into());
        }
        let expires = NaiveDate::parse_from_str(&cell(2), "%Y-%m-%d").ok().filter(|d| *d > now.date());
        if expires.is_none() {
            why.push("expires must be a future date like 2027-12-31 / 过期日期须为未来日期".into());
        }
        let reason = cell(3);
        if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
            why.push("give a reason of 1 to 200 characters / 请填写 1 至 200 字的原因".into());
        }
        match (member, points, expires) {
            (Some(u), Some(points), Some(expires)) if why.is_empty() => {
                rows.push(GrantRow { user_id: u.id, email: u.email, name: u.display_name, points, expires, reason })
            }
            _ => errors.push(RowError { row: n, reason: why.join("; ") }),
        }
    }
    if !errors.is_empty() {
        return Err(UploadError::Rows(errors));
    }
    if rows.is_empty() {
        return Err(AppError::bad_request("invalid_csv", "the file lists no grants / 文件中没有发放记录").into());
    }
    let points: i64 = rows.iter().map(|r| r.points).sum();
    let cost = rate.value_of(points);
    let budget = model::budget(conn, org.id).map_err(AppError::from)?;
    let waits = budget.and_then(|b| b.approval_threshold_fen).is_some_and(|t| cost.fen() > t);
    let rows_json = serde_json::to_string(&rows).map_err(AppError::internal)?;
    let answer = db::write_tx(conn, |conn| -> Result<GrantsAnswer, AppError> {
        if !waits {
            lock_accounts(conn, &rows)?;
        }
        if !model::draw_budget(conn, org.id, cost.fen(), now.date())? {
            return Err(AppError::conflict(
                "budget_exceeded",
                "the welfare budget cannot pay for these points / 福利预算不足以支付这些积分",
            ));
        }
        let status = if waits { "pending" } else { "granted" };
        let grant = model::NewPointsGrant {
            org_id: org.id,
            granted_by: user_id,
            status,
            members: rows.len() as i64,
            points,
            cost_fen: cost.fen(),
            rows_json: &rows_json,
            created_at: now,
        };
        let id = model::insert_points_grant(conn, &grant)?;
        if !waits {
            apply_grant(conn, &org, user_id, &rows, public_url, now)?;
        }
        Ok(GrantsAnswer { id, status: status.to_string(), members: rows.len(), points, cost: cost.to_string() })
    })?;
    Ok(answer)
}

/// The lock order puts points accounts before budgets: a grant locks its members' accounts
/// (in id order) before it touches the organisation's budget.
fn lock_accounts(conn: &mut AnyConnection, rows: &[GrantRow]) -> Result<(), AppError> {
    let mut ids: Vec<i64> = rows.iter().map(|r| r.user_id).collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        points::model::lock_account(conn, id)?;
    }
    Ok(())
}

/// The lots and mails of a grant.
fn apply_grant(
    conn: &mut AnyConnection,
    org: &Org,
    granted_by: i64,
    rows: &[GrantRow],
    public_url: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    for r in rows {
        let account_id = points::model::user_account(conn, r.user_id)?;
        let expires_at = r.expires.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN));
        let reason = format!("{}: {}", org.name_zh, r.reason);
        points::model::grant(
            conn,
            &points::model::Grant {
                account_id,
                points: r.points,
                expires_at,
                reason: &reason,
                granted_by: Some(granted_by),
                funder_org_id: Some(org.id),
            },
        )?;
        let context = PointsMail {
            member_name: r.name.clone(),
            org_zh: org.name_zh.clone(),
            points: r.points,
            expires_on: r.expires.to_string(),
            reason: r.reason.clone(),
            account_url: format!("{public_url}/account"),
        };
        mail::enqueue(conn, "welfare_points_granted", &r.email, &context, now)?;
    }
    Ok(())
}

/// The organisation's points grants, newest first (its admins only).
pub fn list_grants(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<Vec<OrgGrantView>, AppError> {
    let org = require_member_admin(conn, user_id, org_id)?;
    Ok(model::points_grants(conn, org.id)?
        .into_iter()
        .map(|g| OrgGrantView {
            id: g.id,
            status: g.status,
            members: g.members,
            points: g.points,
            cost: crate::money::Money::from_fen(g.cost_fen).to_string(),
            granted_by: g.granted_by_email,
            decided_by: g.decided_by_email,
            created_at: g.created_at,
            decided_at: g.decided_at,
        })
        .collect())
}

/// Another admin of the organisation approves (`approve`) or rejects a waiting grant: the
/// lots are written, or the budget it held is given back. The admin who asked gets 403;
/// a grant that is not waiting, 409.
pub fn decide_grant(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    grant_id: i64,
    approve: bool,
    public_url: &str,
    now: NaiveDateTime,
) -> Result<OrgGrantView, AppError> {
    let org = require_member_admin(conn, user_id, org_id)?;
    db::write_tx(conn, |conn| {
        let grant = model::points_grant(conn, org.id, grant_id)?.ok_or(AppError::NotFound)?;
        if grant.granted_by == user_id {
            return Err(AppError::Forbidden);
        }
        let to = if approve { "granted" } else { "rejected" };
        if !model::decide_points_grant(conn, grant.id, user_id, to, now)? {
            return Err(AppError::conflict(
                "not_pending",
                "this grant is not waiting for approval / 该发放不在待审批状态",
            ));
        }
        if approve {
            let rows: Vec<GrantRow> = serde_json::from_str(&grant.rows_json).map_err(AppError::internal)?;
            apply_grant(conn, &org, grant.granted_by, &rows, public_url, now)?;
        } else {
            model::give_back_budget(conn, org.id, grant.cost_fen)?;
        }
        Ok(())
    })?;
    list_grants(conn, user_id, org_id)?.into_iter().find(|g| g.id == grant_id).ok_or(AppError::NotFound)
}

/// A member of the organisation itself or of its parent company.
fn is_member(conn: &mut AnyConnection, user_id: i64, org: &Org) -> Result<bool, AppError> {
    if model::membership(conn, user_id, org.id)?.is_some() {
        return Ok(true);
    }
    match org.parent_id {
        Some(parent) => Ok(model::membership(conn, user_id, parent)?.is_some()),
        None => Ok(false),
    }
}
