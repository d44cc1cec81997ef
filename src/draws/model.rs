//! Draw rows and the queries behind creating, closing and showing a draw.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{donation_projects, donations, draw_entries, draw_prizes, draw_winners, draws, orders, users};
use crate::db::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = draws)]
pub struct DrawRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub campaign_id: i64,
    pub org_id: Option<i64>,
    pub created_by: i64,
    pub title: String,
    pub entry_rule: String,
    pub min_points: Option<i64>,
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    pub seed: String,
    pub commitment: String,
    pub status: String,
    pub closed_at: Option<NaiveDateTime>,
    pub ledger_entries: Option<i64>,
    pub ledger_head: Option<String>,
    pub entries_hash: Option<String>,
    pub budget_fen: i64,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = draw_prizes)]
pub struct PrizeRow {
    pub draw_id: i64,
    pub position: i32,
    pub kind: String,
    pub points: Option<i64>,
    pub sku_id: Option<i64>,
    pub count: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = draw_entries)]
pub struct EntryRow {
    pub draw_id: i64,
    pub number: i64,
    pub kind: String,
    pub ref_id: i64,
    pub user_id: i64,
    pub masked_name: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = draw_winners)]
pub struct WinnerRow {
    pub draw_id: i64,
    pub rank: i64,
    pub entry_number: i64,
    pub prize_position: i32,
    pub lot_id: Option<i64>,
    pub order_id: Option<i64>,
    pub note: Option<String>,
}

pub fn insert_draw(conn: &mut AnyConnection, d: &DrawRow) -> QueryResult<i64> {
    diesel::insert_into(draws::table).values(d).returning(draws::id).get_result(conn)
}

pub fn insert_prizes(conn: &mut AnyConnection, rows: &[PrizeRow]) -> QueryResult<usize> {
    let mut n = 0;
    for r in rows {
        n += diesel::insert_into(draw_prizes::table).values(r).execute(conn)?;
    }
    Ok(n)
}

pub fn draw(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<DrawRow>> {
    draws::table.find(id).select(DrawRow::as_select()).first(conn).optional()
}

pub fn prizes(conn: &mut AnyConnection, draw_id: i64) -> QueryResult<Vec<PrizeRow>> {
    draw_prizes::table
        .filter(draw_prizes::draw_id.eq(draw_id))
        .order(draw_prizes::position)
        .select(PrizeRow::as_select())
        .load(conn)
}

pub fn entries(conn: &mut AnyConnection, draw_id: i64) -> QueryResult<Vec<EntryRow>> {
    draw_entries::table
        .filter(draw_entries::draw_id.eq(draw_id))
        .order(draw_entries::number)
        .select(EntryRow::as_select())
        .load(conn)
}

pub fn winners(conn: &mut AnyConnection, draw_id: i64) -> QueryResult<Vec<WinnerRow>> {
    draw_winners::table
        .filter(draw_winners::draw_id.eq(draw_id))
        .order(draw_winners::rank)
        .select(WinnerRow::as_select())
        .load(conn)
}

/// Open draws whose closing time has come.
pub fn due(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<Vec<i64>> {
    draws::table
        .filter(draws::status.eq("open"))
        .filter(draws::closes_at.le(now))
        .order(draws::id)
        .select(draws::id)
        .load(conn)
}

/// The newest draws, for the list.
pub fn recent(conn: &mut AnyConnection, limit: i64) -> QueryResult<Vec<DrawRow>> {
    draws::table.order(draws::id.desc()).limit(limit).select(DrawRow::as_select()).load(conn)
}

/// Closes an open draw: one conditional update, so of two closers exactly one goes on.
pub fn mark_closed(
    conn: &mut AnyConnection,
    id: i64,
    ledger: (i64, &str),
    entries_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(draws::table.find(id).filter(draws::status.eq("open")))
        .set((
            draws::status.eq("closed"),
            draws::closed_at.eq(now),
            draws::ledger_entries.eq(ledger.0),
            draws::ledger_head.eq(ledger.1),
            draws::entries_hash.eq(entries_hash),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// (ref id, user id, display name) of the paid orders of the campaign paid in [from, to), in
/// the order they were paid; orders cancelled or refunded in full do not take part.
pub fn paid_orders(
    conn: &mut AnyConnection,
    campaign_id: i64,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<(i64, i64, String)>> {
    orders::table
        .inner_join(users::table)
        .filter(orders::campaign_id.eq(campaign_id))
        .filter(orders::paid_at.ge(from))
        .filter(orders::paid_at.lt(to))
        .filter(orders::status.ne_all(["cancelled", "refunded", "pending_payment", "awaiting_approval"]))
        .order((orders::paid_at, orders::id))
        .select((orders::id, orders::buyer_id, users::display_name))
        .load(conn)
}

/// (donation id, user id, display name) of donations of at least `min_points` to the campaign's
/// projects made in [from, to), in order.
pub fn donations_of(
    conn: &mut AnyConnection,
    campaign_id: i64,
    min_points: i64,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<(i64, i64, String)>> {
    donations::table
        .inner_join(donation_projects::table)
        .inner_join(users::table.on(users::id.eq(donations::user_id)))
        .filter(donation_projects::campaign_id.eq(campaign_id))
        .filter(donations::points.ge(min_points))
        .filter(donations::created_at.ge(from))
        .filter(donations::created_at.lt(to))
        .order((donations::created_at, donations::id))
        .select((donations::id, donations::user_id, users::display_name))
        .load(conn)
}

pub fn insert_entries(conn: &mut AnyConnection, rows: &[EntryRow]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    crate::on_backend!(conn, |c| diesel::insert_into(draw_entries::table).values(rows).execute(c))
}

pub fn insert_winner(conn: &mut AnyConnection, w: &WinnerRow) -> QueryResult<usize> {
    diesel::insert_into(draw_winners::table).values(w).execute(conn)
}

/// What became of a product prize: its gift order, or why there is none.
pub fn set_gift(
    conn: &mut AnyConnection,
    draw_id: i64,
    rank: i64,
    order_id: Option<i64>,
    note: Option<&str>,
) -> QueryResult<usize> {
    diesel::update(draw_winners::table.find((draw_id, rank)))
        .set((draw_winners::order_id.eq(order_id), draw_winners::note.eq(note)))
        .execute(conn)
}

/// Whether a campaign has this id.
pub fn campaign_exists(conn: &mut AnyConnection, campaign_id: i64) -> QueryResult<bool> {
    use crate::db::schema::campaigns;
    let n: i64 = campaigns::table.filter(campaigns::id.eq(campaign_id)).count().get_result(conn)?;
    Ok(n > 0)
}
