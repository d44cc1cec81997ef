//! The earnings ledger's rows and their SQL: accounts (cached balances and bank details, the row
//! every change locks), entries (append-only), statements with their lines, payouts.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use serde::Serialize;

use crate::db::schema::{
    earnings_accounts, earnings_entries, order_lines, payouts, settlement_line_terms, settlement_statements,
    statement_lines,
};
use crate::db::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = earnings_accounts)]
pub struct Account {
    pub producer_id: i64,
    pub fee_bps: i64,
    pub pending_fen: i64,
    pub available_fen: i64,
    pub in_payout_fen: i64,
    pub paid_out_fen: i64,
    pub fees_fen: i64,
    pub account_name: Option<String>,
    pub bank: Option<String>,
    pub account_no: Option<String>,
    pub bank_changed_at: Option<NaiveDateTime>,
    pub payouts_held_until: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = earnings_entries)]
pub struct Entry {
    pub id: i64,
    pub producer_id: i64,
    pub kind: String,
    pub campaign_id: Option<i64>,
    pub order_line_id: Option<i64>,
    pub refund_id: Option<i64>,
    pub statement_id: Option<i64>,
    pub payout_id: Option<i64>,
    pub amount_fen: i64,
    pub pending_fen: i64,
    pub available_fen: i64,
    pub in_payout_fen: i64,
    pub paid_out_fen: i64,
    pub fees_fen: i64,
    pub cash_fen: i64,
    pub created_at: NaiveDateTime,
}

/// An entry to append; the bucket fields are what it moves.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = earnings_entries)]
pub struct NewEntry {
    pub producer_id: i64,
    pub kind: &'static str,
    pub campaign_id: Option<i64>,
    pub order_line_id: Option<i64>,
    pub refund_id: Option<i64>,
    pub statement_id: Option<i64>,
    pub payout_id: Option<i64>,
    pub amount_fen: i64,
    pub pending_fen: i64,
    pub available_fen: i64,
    pub in_payout_fen: i64,
    pub paid_out_fen: i64,
    pub fees_fen: i64,
    pub cash_fen: i64,
    pub created_at: NaiveDateTime,
}

impl NewEntry {
    pub fn new(producer_id: i64, kind: &'static str, now: NaiveDateTime) -> NewEntry {
        NewEntry {
            producer_id,
            kind,
            campaign_id: None,
            order_line_id: None,
            refund_id: None,
            statement_id: None,
            payout_id: None,
            amount_fen: 0,
            pending_fen: 0,
            available_fen: 0,
            in_payout_fen: 0,
            paid_out_fen: 0,
            fees_fen: 0,
            cash_fen: 0,
            created_at: now,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = settlement_statements)]
pub struct Statement {
    pub id: i64,
    pub producer_id: i64,
    pub period_start: Option<NaiveDate>,
    pub period_end: NaiveDate,
    pub opening_fen: i64,
    pub closing_fen: i64,
    pub payable_fen: i64,
    pub status: String,
    pub note: Option<String>,
    pub created_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub decided_by: Option<i64>,
    pub resolution: Option<String>,
    pub resolution_note: Option<String>,
    pub resolved_at: Option<NaiveDateTime>,
    pub resolved_by: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payouts)]
pub struct Payout {
    pub id: i64,
    pub statement_id: i64,
    pub producer_id: i64,
    pub amount_fen: i64,
    pub status: String,
    pub account_name: Option<String>,
    pub bank: Option<String>,
    pub account_no: Option<String>,
    pub bank_reference: Option<String>,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub decided_by: Option<i64>,
}

/// Makes sure the producer has an account row (producers are seeded after migrations).
pub fn ensure_account(conn: &mut AnyConnection, producer_id: i64) -> QueryResult<()> {
    crate::on_backend!(conn, |c| diesel::insert_into(earnings_accounts::table)
        .values(earnings_accounts::producer_id.eq(producer_id))
        .on_conflict(earnings_accounts::producer_id)
        .do_nothing()
        .execute(c))
    .map(|_| ())
}

/// Locks the producer's account row until the transaction ends (a no-op update) and returns it
/// as locked: every earnings change takes it, last in the lock order.
pub fn lock_account(conn: &mut AnyConnection, producer_id: i64) -> QueryResult<Account> {
    ensure_account(conn, producer_id)?;
    diesel::update(earnings_accounts::table.find(producer_id))
        .set(earnings_accounts::producer_id.eq(earnings_accounts::producer_id))
        .execute(conn)?;
    earnings_accounts::table.find(producer_id).select(Account::as_select()).first(conn)
}

pub fn account(conn: &mut AnyConnection, producer_id: i64) -> QueryResult<Option<Account>> {
    earnings_accounts::table.find(producer_id).select(Account::as_select()).first(conn).optional()
}

diesel::define_sql_function!(fn coalesce(x: diesel::sql_types::Nullable<BigInt>, y: BigInt) -> BigInt);

/// Fixes each line's platform rate (its producer's now; 0 without an account) on the order's
/// lines, in one statement (built with the DSL, so that it is prepared once per connection).
/// It reads the order's lines, so they must be written before it runs.
pub fn fix_terms(order_id: i64) -> impl crate::db::Write {
    let terms = order_lines::table
        .left_join(earnings_accounts::table.on(earnings_accounts::producer_id.eq(order_lines::producer_id)))
        .filter(order_lines::order_id.eq(order_id))
        .select((order_lines::id, coalesce(earnings_accounts::fee_bps.nullable(), 0_i64)));
    diesel::insert_into(settlement_line_terms::table)
        .values(terms)
        .into_columns((settlement_line_terms::order_line_id, settlement_line_terms::fee_bps))
}

pub fn terms(conn: &mut AnyConnection, line_ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    settlement_line_terms::table
        .filter(settlement_line_terms::order_line_id.eq_any(line_ids))
        .select((settlement_line_terms::order_line_id, settlement_line_terms::fee_bps))
        .load(conn)
}

/// Appends entries and adds what they move to their accounts' cached balances. The caller
/// holds the accounts' locks.
pub fn append(conn: &mut AnyConnection, entries: &[NewEntry]) -> QueryResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    crate::on_backend!(conn, |c| diesel::insert_into(earnings_entries::table).values(entries).execute(c))?;
    let mut producers: Vec<i64> = entries.iter().map(|e| e.producer_id).collect();
    producers.sort_unstable();
    producers.dedup();
    for p in producers {
        let mine = entries.iter().filter(|e| e.producer_id == p);
        let (mut pe, mut av, mut ip, mut po, mut fe) = (0, 0, 0, 0, 0);
        for e in mine {
            pe += e.pending_fen;
            av += e.available_fen;
            ip += e.in_payout_fen;
            po += e.paid_out_fen;
            fe += e.fees_fen;
        }
        diesel::update(earnings_accounts::table.find(p))
            .set((
                earnings_accounts::pending_fen.eq(earnings_accounts::pending_fen + pe),
                earnings_accounts::available_fen.eq(earnings_accounts::available_fen + av),
                earnings_accounts::in_payout_fen.eq(earnings_accounts::in_payout_fen + ip),
                earnings_accounts::paid_out_fen.eq(earnings_accounts::paid_out_fen + po),
                earnings_accounts::fees_fen.eq(earnings_accounts::fees_fen + fe),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn line_entries(conn: &mut AnyConnection, line_ids: &[i64]) -> QueryResult<Vec<Entry>> {
    earnings_entries::table
        .filter(earnings_entries::order_line_id.eq_any(line_ids))
        .order(earnings_entries::id)
        .select(Entry::as_select())
        .load(conn)
}

/// Which of these entries are already on a statement.
pub fn on_statements(conn: &mut AnyConnection, entry_ids: &[i64]) -> QueryResult<Vec<i64>> {
    statement_lines::table
        .filter(statement_lines::entry_id.eq_any(entry_ids))
        .select(statement_lines::entry_id)
        .load(conn)
}

/// Producers with entries not yet on a statement, made before `before`.
pub fn producers_with_unstated(conn: &mut AnyConnection, before: NaiveDateTime) -> QueryResult<Vec<i64>> {
    let stated = statement_lines::table.select(statement_lines::entry_id);
    earnings_entries::table
        .filter(earnings_entries::created_at.lt(before))
        .filter(earnings_entries::id.ne_all(stated))
        .select(earnings_entries::producer_id)
        .distinct()
        .order(earnings_entries::producer_id)
        .load(conn)
}

pub fn unstated(conn: &mut AnyConnection, producer_id: i64, before: NaiveDateTime) -> QueryResult<Vec<Entry>> {
    let stated = statement_lines::table.select(statement_lines::entry_id);
    earnings_entries::table
        .filter(earnings_entries::producer_id.eq(producer_id))
        .filter(earnings_entries::created_at.lt(before))
        .filter(earnings_entries::id.ne_all(stated))
        .order(earnings_entries::id)
        .select(Entry::as_select())
        .load(conn)
}

pub fn latest_statement(conn: &mut AnyConnection, producer_id: i64) -> QueryResult<Option<Statement>> {
    settlement_statements::table
        .filter(settlement_statements::producer_id.eq(producer_id))
        .order(settlement_statements::period_end.desc())
        .select(Statement::as_select())
        .first(conn)
        .optional()
}

/// The producer's latest statement that was not voided (its carry opens the next one).
pub fn latest_kept_statement(conn: &mut AnyConnection, producer_id: i64) -> QueryResult<Option<Statement>> {
    settlement_statements::table
        .filter(settlement_statements::producer_id.eq(producer_id))
        .filter(settlement_statements::resolution.is_null().or(settlement_statements::resolution.ne("voided")))
        .order(settlement_statements::period_end.desc())
        .select(Statement::as_select())
        .first(conn)
        .optional()
}

/// Producers' settlement periods (`weekly` or `monthly`).
pub fn periods(conn: &mut AnyConnection, producer_ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    use crate::db::schema::producers;
    producers::table
        .filter(producers::id.eq_any(producer_ids))
        .select((producers::id, producers::settlement_period))
        .load(conn)
}

/// Every producer: id, names, period and cached balances (the admin's settlement page).
pub fn producer_rows(conn: &mut AnyConnection) -> QueryResult<Vec<(i64, String, String, String)>> {
    use crate::db::schema::producers;
    producers::table
        .order(producers::id)
        .select((producers::id, producers::name_zh, producers::name_en, producers::settlement_period))
        .load(conn)
}

pub fn set_period(conn: &mut AnyConnection, producer_id: i64, period: &str) -> QueryResult<usize> {
    use crate::db::schema::producers;
    diesel::update(producers::table.find(producer_id)).set(producers::settlement_period.eq(period)).execute(conn)
}

/// Statements of every producer, newest first, optionally of one state: `open`, `confirmed`,
/// `disputed`, or `held` (disputed and not yet decided by an admin).
pub fn statements_by_status(conn: &mut AnyConnection, status: Option<&str>, limit: i64) -> QueryResult<Vec<Statement>> {
    let mut q = settlement_statements::table
        .order((settlement_statements::period_end.desc(), settlement_statements::id.desc()))
        .limit(limit)
        .select(Statement::as_select())
        .into_boxed();
    match status {
        Some("held") => {
            q = q
                .filter(settlement_statements::status.eq("disputed"))
                .filter(settlement_statements::resolution.is_null())
        }
        Some(s) => q = q.filter(settlement_statements::status.eq(s.to_string())),
        None => {}
    }
    q.load(conn)
}

/// Records an admin's decision on a disputed statement not yet decided; false otherwise.
pub fn resolve_statement(
    conn: &mut AnyConnection,
    id: i64,
    resolution: &str,
    note: &str,
    by: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        settlement_statements::table
            .find(id)
            .filter(settlement_statements::status.eq("disputed"))
            .filter(settlement_statements::resolution.is_null()),
    )
    .set((
        settlement_statements::resolution.eq(resolution),
        settlement_statements::resolution_note.eq(note),
        settlement_statements::resolved_at.eq(now),
        settlement_statements::resolved_by.eq(by),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Takes a voided statement's entries off it (all but its own payout hold), so the next run
/// includes them.
pub fn release_statement_entries(conn: &mut AnyConnection, statement_id: i64) -> QueryResult<usize> {
    let holds = earnings_entries::table
        .filter(earnings_entries::kind.eq("payout_hold"))
        .filter(earnings_entries::statement_id.eq(statement_id))
        .select(earnings_entries::id);
    diesel::delete(
        statement_lines::table
            .filter(statement_lines::statement_id.eq(statement_id))
            .filter(statement_lines::entry_id.ne_all(holds)),
    )
    .execute(conn)
}

pub struct NewStatement {
    pub producer_id: i64,
    pub period_start: Option<NaiveDate>,
    pub period_end: NaiveDate,
    pub opening_fen: i64,
    pub closing_fen: i64,
    pub payable_fen: i64,
    pub created_at: NaiveDateTime,
}

pub fn insert_statement(conn: &mut AnyConnection, s: &NewStatement) -> QueryResult<i64> {
    diesel::insert_into(settlement_statements::table)
        .values((
            settlement_statements::producer_id.eq(s.producer_id),
            settlement_statements::period_start.eq(s.period_start),
            settlement_statements::period_end.eq(s.period_end),
            settlement_statements::opening_fen.eq(s.opening_fen),
            settlement_statements::closing_fen.eq(s.closing_fen),
            settlement_statements::payable_fen.eq(s.payable_fen),
            settlement_statements::status.eq("open"),
            settlement_statements::created_at.eq(s.created_at),
        ))
        .returning(settlement_statements::id)
        .get_result(conn)
}

pub fn insert_statement_lines(conn: &mut AnyConnection, statement_id: i64, entry_ids: &[i64]) -> QueryResult<usize> {
    if entry_ids.is_empty() {
        return Ok(0);
    }
    let values: Vec<_> = entry_ids
        .iter()
        .map(|&e| (statement_lines::statement_id.eq(statement_id), statement_lines::entry_id.eq(e)))
        .collect();
    crate::on_backend!(conn, |c| diesel::insert_into(statement_lines::table).values(&values).execute(c))
}

/// The entries most recently appended for a producer of a kind (to find a hold just written).
pub fn last_entry(conn: &mut AnyConnection, producer_id: i64, kind: &str) -> QueryResult<Option<Entry>> {
    earnings_entries::table
        .filter(earnings_entries::producer_id.eq(producer_id))
        .filter(earnings_entries::kind.eq(kind))
        .order(earnings_entries::id.desc())
        .select(Entry::as_select())
        .first(conn)
        .optional()
}

pub fn statement(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<Statement>> {
    settlement_statements::table.find(id).select(Statement::as_select()).first(conn).optional()
}

pub fn statements_of(conn: &mut AnyConnection, producer_ids: &[i64], limit: i64) -> QueryResult<Vec<Statement>> {
    settlement_statements::table
        .filter(settlement_statements::producer_id.eq_any(producer_ids))
        .order((settlement_statements::period_end.desc(), settlement_statements::id.desc()))
        .limit(limit)
        .select(Statement::as_select())
        .load(conn)
}

pub fn statement_entries(conn: &mut AnyConnection, statement_id: i64) -> QueryResult<Vec<Entry>> {
    statement_lines::table
        .inner_join(earnings_entries::table)
        .filter(statement_lines::statement_id.eq(statement_id))
        .order(earnings_entries::id)
        .select(Entry::as_select())
        .load(conn)
}

/// Moves a statement from `open` to `status` (confirmed or disputed); false when it was not open.
pub fn decide_statement(
    conn: &mut AnyConnection,
    id: i64,
    status: &str,
    note: Option<&str>,
    by: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(settlement_statements::table.find(id).filter(settlement_statements::status.eq("open")))
        .set((
            settlement_statements::status.eq(status),
            settlement_statements::note.eq(note),
            settlement_statements::decided_at.eq(now),
            settlement_statements::decided_by.eq(by),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Order numbers of lines, for statement lines.
pub fn line_orders(conn: &mut AnyConnection, line_ids: &[i64]) -> QueryResult<Vec<(i64, String, i64)>> {
    use crate::db::schema::orders;
    order_lines::table
        .inner_join(orders::table)
        .filter(order_lines::id.eq_any(line_ids))
        .select((order_lines::id, orders::order_no, order_lines::sku_id))
        .load(conn)
}

pub fn payouts_of_statements(conn: &mut AnyConnection, statement_ids: &[i64]) -> QueryResult<Vec<Payout>> {
    payouts::table.filter(payouts::statement_id.eq_any(statement_ids)).select(Payout::as_select()).load(conn)
}

pub fn insert_payout(
    conn: &mut AnyConnection,
    statement_id: i64,
    producer_id: i64,
    amount_fen: i64,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(payouts::table)
        .values((
            payouts::statement_id.eq(statement_id),
            payouts::producer_id.eq(producer_id),
            payouts::amount_fen.eq(amount_fen),
            payouts::status.eq("queued"),
            payouts::created_at.eq(now),
        ))
        .returning(payouts::id)
        .get_result(conn)
}

pub fn payout(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<Payout>> {
    payouts::table.find(id).select(Payout::as_select()).first(conn).optional()
}

/// Payouts (with the payee's current bank details and hold), oldest first, at most `limit`.
pub fn payouts_by_status(
    conn: &mut AnyConnection,
    status: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<(Payout, Account, NaiveDate, String)>> {
    use crate::db::schema::producers;
    let mut q = payouts::table
        .inner_join(settlement_statements::table)
        .inner_join(earnings_accounts::table.on(earnings_accounts::producer_id.eq(payouts::producer_id)))
        .inner_join(producers::table.on(producers::id.eq(payouts::producer_id)))
        .order(payouts::id)
        .limit(limit)
        .select((Payout::as_select(), Account::as_select(), settlement_statements::period_end, producers::name_zh))
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(payouts::status.eq(s.to_string()));
    }
    q.load(conn)
}

/// `queued → paid` with the details paid to and the reference; false when not queued.
pub fn set_paid(
    conn: &mut AnyConnection,
    id: i64,
    account: &Account,
    reference: &str,
    by: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(payouts::table.find(id).filter(payouts::status.eq("queued")))
        .set((
            payouts::status.eq("paid"),
            payouts::account_name.eq(&account.account_name),
            payouts::bank.eq(&account.bank),
            payouts::account_no.eq(&account.account_no),
            payouts::bank_reference.eq(reference),
            payouts::decided_at.eq(now),
            payouts::decided_by.eq(by),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// `queued → failed` with the reason; false when not queued.
pub fn set_failed(conn: &mut AnyConnection, id: i64, reason: &str, by: i64, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(payouts::table.find(id).filter(payouts::status.eq("queued")))
        .set((
            payouts::status.eq("failed"),
            payouts::reason.eq(reason),
            payouts::decided_at.eq(now),
            payouts::decided_by.eq(by),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

pub fn set_bank(
    conn: &mut AnyConnection,
    producer_id: i64,
    details: (&str, &str, &str),
    held_until: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(earnings_accounts::table.find(producer_id))
        .set((
            earnings_accounts::account_name.eq(details.0),
            earnings_accounts::bank.eq(details.1),
            earnings_accounts::account_no.eq(details.2),
            earnings_accounts::bank_changed_at.eq(now),
            earnings_accounts::payouts_held_until.eq(held_until),
        ))
        .execute(conn)
}

/// The producer's managers' (email, display name) and its name, for mail.
pub fn managers(conn: &mut AnyConnection, producer_id: i64) -> QueryResult<Vec<(String, String)>> {
    use crate::db::schema::{producer_managers, users};
    producer_managers::table
        .inner_join(users::table)
        .filter(producer_managers::producer_id.eq(producer_id))
        .order(users::id)
        .select((users::email, users::display_name))
        .load(conn)
}

pub fn producer_name(conn: &mut AnyConnection, producer_id: i64) -> QueryResult<(String, String)> {
    use crate::db::schema::producers;
    producers::table.find(producer_id).select((producers::name_zh, producers::name_en)).first(conn)
}

#[derive(QueryableByName)]
struct Fen {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A campaign's earnings (value less fees and refunds) and the part of them on statements whose
/// payout was paid.
pub fn campaign_sums(conn: &mut AnyConnection, campaign_id: i64) -> QueryResult<(i64, i64)> {
    let net = diesel::sql_query(
        "SELECT CAST(COALESCE(SUM(pending_fen + available_fen), 0) AS BIGINT) AS n FROM earnings_entries WHERE campaign_id = $1",
    )
    .bind::<BigInt, _>(campaign_id)
    .get_result::<Fen>(conn)?
    .n;
    let paid = diesel::sql_query(
        "SELECT CAST(COALESCE(SUM(e.available_fen), 0) AS BIGINT) AS n FROM statement_lines sl \
         JOIN earnings_entries e ON e.id = sl.entry_id JOIN payouts p ON p.statement_id = sl.statement_id \
         WHERE p.status = 'paid' AND e.campaign_id = $1",
    )
    .bind::<BigInt, _>(campaign_id)
    .get_result::<Fen>(conn)?
    .n;
    Ok((net, paid))
}

#[derive(QueryableByName)]
pub struct FundedOrder {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub reference: String,
    #[diesel(sql_type = Timestamp)]
    pub first_at: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    pub redeemed: i64,
    #[diesel(sql_type = BigInt)]
    pub returned: i64,
}

/// Points redeemed in orders (and given back by refunds) from lots the organisation funds,
/// between two instants, per order: its first movement, points taken, points given back.
pub fn funded_orders(
    conn: &mut AnyConnection,
    org_id: i64,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<FundedOrder>> {
    diesel::sql_query(
        "SELECT e.reference AS reference, MIN(e.created_at) AS first_at, \
         CAST(COALESCE(SUM(CASE WHEN e.kind = 'spend' THEN -e.points ELSE 0 END), 0) AS BIGINT) AS redeemed, \
         CAST(COALESCE(SUM(CASE WHEN e.kind = 'refund' THEN e.points ELSE 0 END), 0) AS BIGINT) AS returned \
         FROM points_entries e JOIN points_lots l ON l.id = e.lot_id \
         WHERE l.funder_org_id = $1 AND e.kind IN ('spend', 'refund') AND e.created_at >= $2 AND e.created_at < $3 \
         GROUP BY e.reference ORDER BY MIN(e.created_at), e.reference",
    )
    .bind::<BigInt, _>(org_id)
    .bind::<Timestamp, _>(from)
    .bind::<Timestamp, _>(to)
    .load(conn)
}

/// Points the organisation granted (lots it funds) between two instants.
pub fn funded_grants(
    conn: &mut AnyConnection,
    org_id: i64,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::sql_query(
        "SELECT CAST(COALESCE(SUM(granted), 0) AS BIGINT) AS n FROM points_lots \
         WHERE funder_org_id = $1 AND created_at >= $2 AND created_at < $3",
    )
    .bind::<BigInt, _>(org_id)
    .bind::<Timestamp, _>(from)
    .bind::<Timestamp, _>(to)
    .get_result::<Fen>(conn)
    .map(|f| f.n)
}

#[derive(QueryableByName)]
pub struct ProducerTotals {
    #[diesel(sql_type = BigInt)]
    pub producer_id: i64,
    #[diesel(sql_type = BigInt)]
    pub credited: i64,
    #[diesel(sql_type = BigInt)]
    pub paid_out: i64,
    #[diesel(sql_type = BigInt)]
    pub owed: i64,
}

/// Per producer of a county: credited on the credit ledger (sales less reversals), paid out,
/// and owed (pending + available + in payout).
pub fn county_producer_totals(conn: &mut AnyConnection, county_id: i64) -> QueryResult<Vec<ProducerTotals>> {
    diesel::sql_query(
        "SELECT p.id AS producer_id, \
         CAST(COALESCE((SELECT SUM(c.amount_fen) FROM credit_entries c WHERE c.producer_id = p.id \
             AND c.kind IN ('sale', 'sale_reversal')), 0) AS BIGINT) AS credited, \
         CAST(COALESCE(a.paid_out_fen, 0) AS BIGINT) AS paid_out, \
         CAST(COALESCE(a.pending_fen + a.available_fen + a.in_payout_fen, 0) AS BIGINT) AS owed \
         FROM producers p LEFT JOIN earnings_accounts a ON a.producer_id = p.id WHERE p.county_id = $1",
    )
    .bind::<BigInt, _>(county_id)
    .load(conn)
}

#[derive(QueryableByName)]
pub struct LineSettlement {
    #[diesel(sql_type = BigInt)]
    pub line_id: i64,
    #[diesel(sql_type = BigInt)]
    pub statement_id: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    pub period_start: Option<NaiveDate>,
    #[diesel(sql_type = diesel::sql_types::Date)]
    pub period_end: NaiveDate,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    pub payout_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub payout_status: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    pub ledger_seq: Option<i64>,
}

/// For an order's lines: the statement whose period settled each (the one holding its
/// `available` entry), that statement's payout and, once paid, its entry on the public ledger.
pub fn order_settlements(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<LineSettlement>> {
    diesel::sql_query(
        "SELECT l.id AS line_id, s.id AS statement_id, s.period_start AS period_start, s.period_end AS period_end, \
         p.id AS payout_id, p.status AS payout_status, c.seq AS ledger_seq \
         FROM order_lines l \
         JOIN earnings_entries e ON e.order_line_id = l.id AND e.kind = 'available' \
         JOIN statement_lines sl ON sl.entry_id = e.id \
         JOIN settlement_statements s ON s.id = sl.statement_id \
         LEFT JOIN payouts p ON p.statement_id = s.id \
         LEFT JOIN credit_entries c ON c.payout_id = p.id AND c.kind = 'payout' \
         WHERE l.order_id = $1 ORDER BY l.id",
    )
    .bind::<BigInt, _>(order_id)
    .load(conn)
}
