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

/// Fixes each line's platform rate (its producer's now; 0 without an account) on the order's
/// lines, in one statement.
pub fn fix_terms(conn: &mut AnyConnection, order_id: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO settlement_line_terms (order_line_id, fee_bps) \
         SELECT l.id, COALESCE(a.fee_bps, 0) FROM order_lines l \
         LEFT JOIN earnings_accounts a ON a.producer_id = l.producer_id WHERE l.order_id = $1",
    )
    .bind::<BigInt, _>(order_id)
    .execute(conn)
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

#[derive(QueryableByName)]
pub struct Due {
    #[diesel(sql_type = BigInt)]
    pub producer_id: i64,
    #[diesel(sql_type = BigInt)]
    pub line_id: i64,
    #[diesel(sql_type = BigInt)]
    pub campaign_id: i64,
}

/// Paid lines whose part shipped before `shipped_before` and whose earning is still pending
/// (no `available` entry), by producer, at most `limit`.
pub fn due_lines(conn: &mut AnyConnection, shipped_before: NaiveDateTime, limit: i64) -> QueryResult<Vec<Due>> {
    diesel::sql_query(
        "SELECT e.producer_id AS producer_id, e.order_line_id AS line_id, o.campaign_id AS campaign_id \
         FROM earnings_entries e \
         JOIN order_lines l ON l.id = e.order_line_id \
         JOIN orders o ON o.id = l.order_id \
         JOIN shipments s ON s.order_id = l.order_id AND s.producer_id = l.producer_id \
              AND COALESCE(s.recipient_id, 0) = COALESCE(l.recipient_id, 0) \
         WHERE e.kind = 'earning' AND s.shipped_at <= $1 \
           AND NOT EXISTS (SELECT 1 FROM earnings_entries a WHERE a.kind = 'available' AND a.order_line_id = e.order_line_id) \
         ORDER BY e.producer_id, e.order_line_id LIMIT $2",
    )
    .bind::<Timestamp, _>(shipped_before)
    .bind::<BigInt, _>(limit)
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
