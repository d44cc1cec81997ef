//! Spending, returning and expiring points. Every change writes a ledger entry and moves the
//! cached balance in the same statement set; the balance's CHECK (>= 0) and conditional
//! updates mean no concurrency can spend a point twice.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{points_accounts, points_entries, points_lots};
use crate::db::AnyConnection;
use crate::error::AppError;

fn insufficient() -> AppError {
    AppError::unprocessable("insufficient_points", "not enough points / 积分不足")
}

/// Takes `points` from the user's unexpired lots, earliest expiry first. Call in a transaction.
pub fn spend(
    conn: &mut AnyConnection,
    user_id: i64,
    points: i64,
    reference: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    spend_as(conn, user_id, points, "spend", reference, now)
}

/// `spend`, with the ledger entries' kind (`spend` or `donation`).
pub fn spend_as(
    conn: &mut AnyConnection,
    user_id: i64,
    points: i64,
    kind: &str,
    reference: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    if points == 0 {
        return Ok(());
    }
    // The balance moves first and only if it covers the spend: concurrent spenders queue here.
    let account_id: i64 = diesel::update(
        points_accounts::table.filter(points_accounts::user_id.eq(user_id)).filter(points_accounts::balance.ge(points)),
    )
    .set(points_accounts::balance.eq(points_accounts::balance - points))
    .returning(points_accounts::id)
    .get_result(conn)
    .optional()?
    .ok_or_else(insufficient)?;
    let lots: Vec<(i64, i64)> = points_lots::table
        .filter(points_lots::account_id.eq(account_id))
        .filter(points_lots::remaining.gt(0))
        .filter(points_lots::expires_at.gt(now))
        .order((points_lots::expires_at, points_lots::id))
        .select((points_lots::id, points_lots::remaining))
        .load(conn)?;
    let mut left = points;
    let mut entries = Vec::new();
    for (lot_id, remaining) in lots {
        if left == 0 {
            break;
        }
        let take = remaining.min(left);
        let taken = diesel::update(points_lots::table.find(lot_id).filter(points_lots::remaining.ge(take)))
            .set(points_lots::remaining.eq(points_lots::remaining - take))
            .execute(conn)?;
        if taken == 1 {
            left -= take;
            entries.push((
                points_entries::account_id.eq(account_id),
                points_entries::kind.eq(kind),
                points_entries::points.eq(-take),
                points_entries::lot_id.eq(Some(lot_id)),
                points_entries::reference.eq(reference),
                points_entries::created_at.eq(now),
            ));
        }
    }
    if left > 0 {
        // The balance counted points whose lots have expired but not yet been retired.
        return Err(insufficient());
    }
    crate::on_backend!(conn, |c| diesel::insert_into(points_entries::table).values(&entries).execute(c))?;
    Ok(())
}

/// Gives back `points` spent under `reference` to the lots they came from, latest expiry first.
pub fn give_back(
    conn: &mut AnyConnection,
    user_id: i64,
    points: i64,
    reference: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    if points == 0 {
        return Ok(());
    }
    let account_id: i64 =
        points_accounts::table.filter(points_accounts::user_id.eq(user_id)).select(points_accounts::id).first(conn)?;
    // Net points taken per lot under this reference (spends are negative, returns positive).
    let flows: Vec<(Option<i64>, i64)> = points_entries::table
        .filter(points_entries::account_id.eq(account_id))
        .filter(points_entries::reference.eq(reference))
        .select((points_entries::lot_id, points_entries::points))
        .load(conn)?;
    let mut per_lot: Vec<(i64, i64)> = Vec::new();
    for (lot, p) in flows.into_iter().filter_map(|(lot, p)| lot.map(|l| (l, p))) {
        match per_lot.iter_mut().find(|(l, _)| *l == lot) {
            Some(entry) => entry.1 -= p,
            None => per_lot.push((lot, -p)),
        }
    }
    let expiries: Vec<(i64, NaiveDateTime)> = points_lots::table
        .filter(points_lots::id.eq_any(per_lot.iter().map(|(l, _)| *l)))
        .select((points_lots::id, points_lots::expires_at))
        .load(conn)?;
    per_lot.sort_by_key(|(lot, _)| std::cmp::Reverse(expiries.iter().find(|(l, _)| l == lot).map(|(_, e)| *e)));
    let mut left = points;
    let mut entries = Vec::new();
    for (lot_id, taken) in per_lot {
        let give = taken.min(left);
        if give <= 0 {
            continue;
        }
        diesel::update(points_lots::table.find(lot_id))
            .set(points_lots::remaining.eq(points_lots::remaining + give))
            .execute(conn)?;
        left -= give;
        entries.push((
            points_entries::account_id.eq(account_id),
            points_entries::kind.eq("refund"),
            points_entries::points.eq(give),
            points_entries::lot_id.eq(Some(lot_id)),
            points_entries::reference.eq(reference),
            points_entries::created_at.eq(now),
        ));
    }
    if left != 0 {
        return Err(AppError::internal(format!("cannot return {left} points under {reference}")));
    }
    crate::on_backend!(conn, |c| diesel::insert_into(points_entries::table).values(&entries).execute(c))?;
    diesel::update(points_accounts::table.find(account_id))
        .set(points_accounts::balance.eq(points_accounts::balance + points))
        .execute(conn)?;
    Ok(())
}

/// Retires what is left of every lot that has expired. Returns the points retired.
pub fn expire_due(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<i64, AppError> {
    crate::db::write_tx(conn, |conn| {
        let due: Vec<(i64, i64, i64)> = points_lots::table
            .filter(points_lots::remaining.gt(0))
            .filter(points_lots::expires_at.le(now))
            .select((points_lots::id, points_lots::account_id, points_lots::remaining))
            .load(conn)?;
        let mut retired = 0;
        for (lot_id, account_id, remaining) in due {
            let done = diesel::update(points_lots::table.find(lot_id).filter(points_lots::remaining.eq(remaining)))
                .set(points_lots::remaining.eq(0))
                .execute(conn)?;
            if done == 0 {
                continue;
            }
            diesel::update(points_accounts::table.find(account_id))
                .set(points_accounts::balance.eq(points_accounts::balance - remaining))
                .execute(conn)?;
            diesel::insert_into(points_entries::table)
                .values((
                    points_entries::account_id.eq(account_id),
                    points_entries::kind.eq("expiry"),
                    points_entries::points.eq(-remaining),
                    points_entries::lot_id.eq(Some(lot_id)),
                    points_entries::reason.eq("expired / 积分过期"),
                    points_entries::created_at.eq(now),
                ))
                .execute(conn)?;
            retired += remaining;
        }
        Ok(retired)
    })
}
