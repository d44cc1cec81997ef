//! Credit ledger rows and their SQL: entries, the chain head, checkpoints, charity hours, and the
//! totals dashboards and exports read.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{
    campaigns, charity_hours, counties, credit_entries, ledger_checkpoints, ledger_head, memberships, orders,
    organisations, producers, skus,
};
use crate::db::AnyConnection;

/// Kinds that count towards a campaign's credited sales.
pub const SALE_KINDS: [&str; 2] = ["sale", "sale_reversal"];

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = credit_entries)]
pub struct Entry {
    pub seq: i64,
    pub kind: String,
    /// None only for a payout, which belongs to no campaign.
    pub campaign_id: Option<i64>,
    pub producer_id: Option<i64>,
    pub county_id: Option<i64>,
    pub org_id: Option<i64>,
    pub project_id: Option<i64>,
    pub channel: String,
    pub category: String,
    pub amount_fen: i64,
    pub order_line_id: Option<i64>,
    pub refund_id: Option<i64>,
    pub donation_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub prev_hash: String,
    pub hash: String,
    /// A payout's own fields (settlement): which payout, the period it closed, and the
    /// SHA-256 (hex) of the bank's reference. Hashed into the canonical text of payouts only.
    pub payout_id: Option<i64>,
    pub period_end: Option<NaiveDate>,
    pub reference_hash: Option<String>,
}

/// Locks the chain's head row for the rest of the transaction and returns (entries, head hash).
/// The no-op update takes PostgreSQL's row lock; on SQLite the write transaction already holds
/// the database's write lock.
pub fn lock_head(conn: &mut AnyConnection) -> QueryResult<(i64, String)> {
    diesel::update(ledger_head::table.find(1))
        .set(ledger_head::entries.eq(ledger_head::entries))
        .returning((ledger_head::entries, ledger_head::hash))
        .get_result(conn)
}

pub fn head(conn: &mut AnyConnection) -> QueryResult<(i64, String)> {
    ledger_head::table.find(1).select((ledger_head::entries, ledger_head::hash)).first(conn)
}

pub fn set_head(conn: &mut AnyConnection, entries: i64, hash: &str) -> QueryResult<usize> {
    diesel::update(ledger_head::table.find(1))
        .set((ledger_head::entries.eq(entries), ledger_head::hash.eq(hash)))
        .execute(conn)
}

pub fn insert_entries(conn: &mut AnyConnection, entries: &[Entry]) -> QueryResult<usize> {
    crate::on_backend!(conn, |c| diesel::insert_into(credit_entries::table).values(entries).execute(c))
}

/// Entries after `after`, in chain order.
pub fn entries_after(conn: &mut AnyConnection, after: i64, limit: i64) -> QueryResult<Vec<Entry>> {
    credit_entries::table
        .filter(credit_entries::seq.gt(after))
        .order(credit_entries::seq)
        .limit(limit)
        .select(Entry::as_select())
        .load(conn)
}

pub fn entry(conn: &mut AnyConnection, seq: i64) -> QueryResult<Option<Entry>> {
    credit_entries::table.find(seq).select(Entry::as_select()).first(conn).optional()
}

/// The entries of one kind posted for these order lines.
pub fn entries_for_lines(conn: &mut AnyConnection, line_ids: &[i64], kind: &str) -> QueryResult<Vec<Entry>> {
    credit_entries::table
        .filter(credit_entries::order_line_id.eq_any(line_ids))
        .filter(credit_entries::kind.eq(kind))
        .order(credit_entries::seq)
        .select(Entry::as_select())
        .load(conn)
}

/// The organisation an individual buyer's own purchases are credited to (帮助销售): the
/// company they are a member of (the lowest id if several); else the organisation above their
/// first membership (a union's or canteen's company), or that organisation itself; None for a
/// buyer who belongs to none.
pub fn employer_of(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Option<i64>> {
    let rows: Vec<(i64, String, Option<i64>)> = memberships::table
        .inner_join(organisations::table)
        .filter(memberships::user_id.eq(user_id))
        .select((organisations::id, organisations::kind, organisations::parent_id))
        .order(organisations::id)
        .load(conn)?;
    Ok(match rows.iter().find(|r| r.1 == "company") {
        Some(company) => Some(company.0),
        None => rows.first().map(|r| r.2.unwrap_or(r.0)),
    })
}

/// The organisation each line's sale was credited to (line id → org), for its reversals.
pub fn sale_orgs(conn: &mut AnyConnection, line_ids: &[i64]) -> QueryResult<Vec<(i64, Option<i64>)>> {
    credit_entries::table
        .filter(credit_entries::order_line_id.eq_any(line_ids))
        .filter(credit_entries::kind.eq("sale"))
        .select((credit_entries::order_line_id.assume_not_null(), credit_entries::org_id))
        .load(conn)
}

/// (producer id, county id) for each producer.
pub fn producer_counties(conn: &mut AnyConnection, producer_ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    producers::table.filter(producers::id.eq_any(producer_ids)).select((producers::id, producers::county_id)).load(conn)
}

/// (SKU id, pledge per unit in fen, charity project) for the SKUs that pledge something.
pub fn charity_pledges(conn: &mut AnyConnection, sku_ids: &[i64]) -> QueryResult<Vec<(i64, i64, i64)>> {
    let rows: Vec<(i64, i64, Option<i64>)> = skus::table
        .filter(skus::id.eq_any(sku_ids))
        .filter(skus::charity_donation_fen.gt(0))
        .filter(skus::charity_project_id.is_not_null())
        .select((skus::id, skus::charity_donation_fen, skus::charity_project_id))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(sku, fen, project)| project.map(|p| (sku, fen, p))).collect())
}

/// What the ledger credits each of these order lines: its sale less its reversals, in fen.
pub fn credited_by_line(
    conn: &mut AnyConnection,
    line_ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, i64>> {
    let mut credited = std::collections::HashMap::new();
    for chunk in line_ids.chunks(5000) {
        let rows: Vec<(Option<i64>, i64)> = credit_entries::table
            .filter(credit_entries::order_line_id.eq_any(chunk))
            .filter(credit_entries::kind.eq_any(SALE_KINDS))
            .select((credit_entries::order_line_id, credit_entries::amount_fen))
            .load(conn)?;
        for (line, fen) in rows {
            if let Some(line) = line {
                *credited.entry(line).or_insert(0) += fen;
            }
        }
    }
    Ok(credited)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = ledger_checkpoints)]
pub struct Checkpoint {
    pub entries: i64,
    pub head: String,
    pub signed_at: NaiveDateTime,
    pub public_key: String,
    pub signature: String,
}

pub fn latest_checkpoint(conn: &mut AnyConnection) -> QueryResult<Option<Checkpoint>> {
    ledger_checkpoints::table
        .order(ledger_checkpoints::entries.desc())
        .select(Checkpoint::as_select())
        .first(conn)
        .optional()
}

pub fn checkpoints(conn: &mut AnyConnection, limit: i64) -> QueryResult<Vec<Checkpoint>> {
    ledger_checkpoints::table
        .order(ledger_checkpoints::entries.desc())
        .limit(limit)
        .select(Checkpoint::as_select())
        .load(conn)
}

pub fn all_checkpoints(conn: &mut AnyConnection) -> QueryResult<Vec<Checkpoint>> {
    ledger_checkpoints::table.order(ledger_checkpoints::entries).select(Checkpoint::as_select()).load(conn)
}

pub fn insert_checkpoint(conn: &mut AnyConnection, checkpoint: &Checkpoint) -> QueryResult<usize> {
    diesel::insert_into(ledger_checkpoints::table).values(checkpoint).execute(conn)
}

pub fn add_charity_hours(
    conn: &mut AnyConnection,
    user_id: i64,
    tenths: i64,
    order_id: Option<i64>,
    donation_id: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(charity_hours::table)
        .values((
            charity_hours::user_id.eq(user_id),
            charity_hours::tenths.eq(tenths),
            charity_hours::order_id.eq(order_id),
            charity_hours::donation_id.eq(donation_id),
            charity_hours::created_at.eq(now),
        ))
        .execute(conn)
}

/// Takes back the hours an order earned, once (a no-op when it earned none or was reversed).
pub fn reverse_order_hours(conn: &mut AnyConnection, order_id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    use crate::db::schema::charity_hour_reversals as rev;
    let earned: Option<(i64, i64)> = charity_hours::table
        .filter(charity_hours::order_id.eq(order_id))
        .select((charity_hours::user_id, charity_hours::tenths))
        .first(conn)
        .optional()?;
    let Some((user_id, tenths)) = earned else {
        return Ok(0);
    };
    let done: bool =
        diesel::select(diesel::dsl::exists(rev::table.filter(rev::order_id.eq(order_id)))).get_result(conn)?;
    if done {
        return Ok(0);
    }
    diesel::insert_into(rev::table)
        .values((rev::user_id.eq(user_id), rev::order_id.eq(order_id), rev::tenths.eq(tenths), rev::created_at.eq(now)))
        .execute(conn)
}

/// A reversal of charity hours: (tenths, order number, when).
pub type ReversalRow = (i64, String, NaiveDateTime);

/// Hours taken back from a user: the total, and the reversals, newest first.
pub fn charity_reversals_of(
    conn: &mut AnyConnection,
    user_id: i64,
    limit: i64,
) -> QueryResult<(i64, Vec<ReversalRow>)> {
    use crate::db::schema::charity_hour_reversals as rev;
    let total: i64 = rev::table
        .filter(rev::user_id.eq(user_id))
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(COALESCE(SUM(tenths), 0) AS BIGINT)"))
        .first(conn)?;
    let rows = rev::table
        .inner_join(orders::table.on(orders::id.eq(rev::order_id)))
        .filter(rev::user_id.eq(user_id))
        .order(rev::id.desc())
        .limit(limit)
        .select((rev::tenths, orders::order_no, rev::created_at))
        .load(conn)?;
    Ok((total, rows))
}

/// (tenths, order number, donation id, when), newest first.
pub type HoursRow = (i64, Option<String>, Option<i64>, NaiveDateTime);

pub fn charity_hours_of(conn: &mut AnyConnection, user_id: i64, limit: i64) -> QueryResult<(i64, Vec<HoursRow>)> {
    let total: i64 = charity_hours::table
        .filter(charity_hours::user_id.eq(user_id))
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(COALESCE(SUM(tenths), 0) AS BIGINT)"))
        .first(conn)?;
    let rows = charity_hours::table
        .left_join(orders::table.on(orders::id.nullable().eq(charity_hours::order_id)))
        .filter(charity_hours::user_id.eq(user_id))
        .order(charity_hours::id.desc())
        .limit(limit)
        .select((
            charity_hours::tenths,
            orders::order_no.nullable(),
            charity_hours::donation_id,
            charity_hours::created_at,
        ))
        .load(conn)?;
    Ok((total, rows))
}

/// One group of a campaign's credited sales: (key, its name in zh and en, amount in fen).
#[derive(Debug, Clone, Serialize)]
pub struct Total {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub fen: i64,
}

/// A campaign's credited sales summed per (county, producer, org, channel, category, day).
#[derive(Debug, Clone, QueryableByName)]
pub struct SaleSum {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub campaign_id: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    pub county_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    pub producer_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    pub org_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub channel: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub category: String,
    #[diesel(sql_type = diesel::sql_types::Date)]
    pub day: NaiveDate,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub fen: i64,
}

/// Sums of sales and reversals grouped by day and everything the dashboards and reports
/// show. Grouping by an expression is beyond diesel's checked DSL, so this is SQL text; the
/// only values in it are an integer and timestamps formatted here, never user text.
fn sale_sums(conn: &mut AnyConnection, condition: &str) -> QueryResult<Vec<SaleSum>> {
    let sql = format!(
        "SELECT campaign_id, county_id, producer_id, org_id, channel, category, date(created_at) AS day, \
         CAST(SUM(amount_fen) AS BIGINT) AS fen FROM credit_entries \
         WHERE kind IN ('sale', 'sale_reversal') AND {condition} \
         GROUP BY campaign_id, county_id, producer_id, org_id, channel, category, date(created_at)"
    );
    diesel::sql_query(sql).load(conn)
}

pub fn campaign_sums(conn: &mut AnyConnection, campaign_id: i64) -> QueryResult<Vec<SaleSum>> {
    sale_sums(conn, &format!("campaign_id = {campaign_id}"))
}

/// Credited sales of every campaign from `from` until (not including) `until`.
pub fn sums_between(conn: &mut AnyConnection, from: NaiveDateTime, until: NaiveDateTime) -> QueryResult<Vec<SaleSum>> {
    let f = "%Y-%m-%d %H:%M:%S";
    sale_sums(conn, &format!("created_at >= '{}' AND created_at < '{}'", from.format(f), until.format(f)))
}

pub fn county_names(conn: &mut AnyConnection, ids: &[i64]) -> QueryResult<Vec<(i64, String, String)>> {
    counties::table
        .filter(counties::id.eq_any(ids))
        .select((counties::id, counties::name_zh, counties::name_en))
        .load(conn)
}

pub fn org_names(conn: &mut AnyConnection, ids: &[i64]) -> QueryResult<Vec<(i64, String, String)>> {
    organisations::table
        .filter(organisations::id.eq_any(ids))
        .select((organisations::id, organisations::name_zh, organisations::name_en))
        .load(conn)
}

pub fn campaign_names(conn: &mut AnyConnection, ids: &[i64]) -> QueryResult<Vec<(i64, String, String)>> {
    campaigns::table
        .filter(campaigns::id.eq_any(ids))
        .select((campaigns::id, campaigns::name_zh, campaigns::name_en))
        .load(conn)
}
