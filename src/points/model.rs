//! Points accounts, lots and the append-only ledger of entries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{points_accounts, points_entries, points_lots};
use crate::db::AnyConnection;

/// The user's cached balance (0 when they have no account yet).
pub fn user_balance(conn: &mut AnyConnection, user_id: i64) -> QueryResult<i64> {
    Ok(points_accounts::table
        .filter(points_accounts::user_id.eq(user_id))
        .select(points_accounts::balance)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// The user's account id, created on first use.
/// Locks the user's points account (if any) until the transaction ends: a no-op update, so a
/// path can take it in the lock order before it locks an order.
pub fn lock_account(conn: &mut AnyConnection, user_id: i64) -> QueryResult<()> {
    diesel::update(points_accounts::table.filter(points_accounts::user_id.eq(user_id)))
        .set(points_accounts::balance.eq(points_accounts::balance))
        .execute(conn)
        .map(|_| ())
}

pub fn user_account(conn: &mut AnyConnection, user_id: i64) -> QueryResult<i64> {
    if let Some(id) = points_accounts::table
        .filter(points_accounts::user_id.eq(user_id))
        .select(points_accounts::id)
        .first(conn)
        .optional()?
    {
        return Ok(id);
    }
    diesel::insert_into(points_accounts::table)
        .values(points_accounts::user_id.eq(user_id))
        .returning(points_accounts::id)
        .get_result(conn)
}

pub struct Grant<'a> {
    pub account_id: i64,
    pub points: i64,
    pub expires_at: NaiveDateTime,
    pub reason: &'a str,
    pub granted_by: Option<i64>,
    /// Who funds the lot: the organisation whose welfare it is, or (None) the platform.
    pub funder_org_id: Option<i64>,
}

/// Grants a lot: the lot, its ledger entry and the cached balance move together. Call inside
/// a transaction.
pub fn grant(conn: &mut AnyConnection, g: &Grant) -> QueryResult<i64> {
    let lot_id: i64 = diesel::insert_into(points_lots::table)
        .values((
            points_lots::account_id.eq(g.account_id),
            points_lots::granted.eq(g.points),
            points_lots::remaining.eq(g.points),
            points_lots::expires_at.eq(g.expires_at),
            points_lots::reason.eq(g.reason),
            points_lots::granted_by.eq(g.granted_by),
            points_lots::funder.eq(if g.funder_org_id.is_some() { "organisation" } else { "platform" }),
            points_lots::funder_org_id.eq(g.funder_org_id),
        ))
        .returning(points_lots::id)
        .get_result(conn)?;
    diesel::insert_into(points_entries::table)
        .values((
            points_entries::account_id.eq(g.account_id),
            points_entries::kind.eq("grant"),
            points_entries::points.eq(g.points),
            points_entries::lot_id.eq(lot_id),
            points_entries::reason.eq(g.reason),
        ))
        .execute(conn)?;
    diesel::update(points_accounts::table.find(g.account_id))
        .set(points_accounts::balance.eq(points_accounts::balance + g.points))
        .execute(conn)?;
    Ok(lot_id)
}

/// A lot granted by a platform admin, for the admin page: who got it, how many, why, by whom.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PlatformGrant {
    pub lot_id: i64,
    pub email: String,
    pub points: i64,
    pub reason: String,
    pub expires_at: NaiveDateTime,
    pub granted_by: String,
    pub created_at: NaiveDateTime,
    /// Points of the lot not yet spent or expired.
    pub remaining: i64,
    /// `active`, `used` (nothing left) or `expired`.
    pub status: String,
}

/// What became of a lot: `active`, `used` (nothing left) or `expired`.
pub fn lot_status(remaining: i64, expires_at: NaiveDateTime, now: NaiveDateTime) -> &'static str {
    if expires_at <= now {
        "expired"
    } else if remaining <= 0 {
        "used"
    } else {
        "active"
    }
}

/// One of a user's lots, for their account page: how many, why, until when, what is left.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LotView {
    pub lot_id: i64,
    pub granted: i64,
    pub remaining: i64,
    pub reason: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    /// `active`, `used` or `expired`.
    pub status: String,
}

/// The user's lots, the ones still usable first (earliest expiry first, as they are spent),
/// then the used and expired ones, newest first; at most `limit`.
pub fn user_lots(conn: &mut AnyConnection, user_id: i64, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<LotView>> {
    type Row = (i64, i64, i64, String, NaiveDateTime, NaiveDateTime);
    let rows: Vec<Row> = points_lots::table
        .inner_join(points_accounts::table)
        .filter(points_accounts::user_id.eq(user_id))
        .order(points_lots::id.desc())
        .limit(limit)
        .select((
            points_lots::id,
            points_lots::granted,
            points_lots::remaining,
            points_lots::reason,
            points_lots::expires_at,
            points_lots::created_at,
        ))
        .load(conn)?;
    let mut lots: Vec<LotView> = rows
        .into_iter()
        .map(|(lot_id, granted, remaining, reason, expires_at, created_at)| LotView {
            status: lot_status(remaining, expires_at, now).to_string(),
            lot_id,
            granted,
            remaining,
            reason,
            expires_at,
            created_at,
        })
        .collect();
    lots.sort_by(|a, b| {
        let (a_on, b_on) = (a.status == "active", b.status == "active");
        b_on.cmp(&a_on).then(if a_on { a.expires_at.cmp(&b.expires_at) } else { b.lot_id.cmp(&a.lot_id) })
    });
    Ok(lots)
}

/// The latest lots granted by platform admins, newest first.
pub fn platform_grants(conn: &mut AnyConnection, limit: i64, now: NaiveDateTime) -> QueryResult<Vec<PlatformGrant>> {
    use crate::db::schema::{user_roles, users};
    let admins: Vec<i64> =
        user_roles::table.filter(user_roles::role.eq("platform_admin")).select(user_roles::user_id).load(conn)?;
    type Row = (i64, Option<i64>, i64, String, NaiveDateTime, Option<i64>, NaiveDateTime, i64);
    let rows: Vec<Row> = points_lots::table
        .inner_join(points_accounts::table)
        .filter(points_lots::granted_by.eq_any(&admins))
        .order(points_lots::id.desc())
        .limit(limit)
        .select((
            points_lots::id,
            points_accounts::user_id,
            points_lots::granted,
            points_lots::reason,
            points_lots::expires_at,
            points_lots::granted_by,
            points_lots::created_at,
            points_lots::remaining,
        ))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().flat_map(|r| [r.1, r.5]).flatten().collect();
    let emails: std::collections::HashMap<i64, String> = users::table
        .filter(users::id.eq_any(&ids))
        .select((users::id, users::email))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    let email = |id: Option<i64>| id.and_then(|i| emails.get(&i).cloned()).unwrap_or_default();
    Ok(rows
        .into_iter()
        .map(|(lot_id, user, points, reason, expires_at, by, created_at, remaining)| PlatformGrant {
            status: lot_status(remaining, expires_at, now).to_string(),
            remaining,
            lot_id,
            email: email(user),
            points,
            reason,
            expires_at,
            granted_by: email(by),
            created_at,
        })
        .collect())
}
