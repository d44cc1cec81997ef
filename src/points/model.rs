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
