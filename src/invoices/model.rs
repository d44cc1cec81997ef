//! Invoice rows and their SQL: titles, requests, the order parts they cover, uploaded invoices.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{
    credit_entries, invoice_request_parts, invoice_requests, invoice_titles, invoices, order_lines, organisations,
    procurement_targets, producer_managers, producers, statement_dispute_lines, statement_reviews,
};
use crate::db::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoice_titles)]
pub struct TitleRow {
    pub id: i64,
    pub user_id: Option<i64>,
    pub org_id: Option<i64>,
    pub kind: String,
    pub name: String,
    pub uscc: String,
    pub address: String,
    pub phone: String,
    pub bank: String,
    pub account: String,
    pub is_default: bool,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = invoice_titles)]
pub struct NewTitle<'a> {
    pub user_id: Option<i64>,
    pub org_id: Option<i64>,
    pub kind: &'a str,
    pub name: &'a str,
    pub uscc: &'a str,
    pub address: &'a str,
    pub phone: &'a str,
    pub bank: &'a str,
    pub account: &'a str,
    pub is_default: bool,
    pub created_at: NaiveDateTime,
}

/// Whose titles: a buyer's own or an organisation's.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    User(i64),
    Org(i64),
}

pub fn titles_of(conn: &mut AnyConnection, owner: Owner) -> QueryResult<Vec<TitleRow>> {
    let query = invoice_titles::table.order(invoice_titles::id).select(TitleRow::as_select()).into_boxed();
    match owner {
        Owner::User(id) => query.filter(invoice_titles::user_id.eq(id)).load(conn),
        Owner::Org(id) => query.filter(invoice_titles::org_id.eq(id)).load(conn),
    }
}

pub fn insert_title(conn: &mut AnyConnection, t: &NewTitle) -> QueryResult<i64> {
    diesel::insert_into(invoice_titles::table).values(t).returning(invoice_titles::id).get_result(conn)
}

pub fn title(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<TitleRow>> {
    invoice_titles::table.find(id).select(TitleRow::as_select()).first(conn).optional()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoice_requests)]
pub struct RequestRow {
    pub id: i64,
    pub title_id: i64,
    pub requested_by: i64,
    pub org_id: Option<i64>,
    pub order_id: Option<i64>,
    pub month: Option<String>,
    pub producer_id: i64,
    pub status: String,
    pub created_at: NaiveDateTime,
}

pub struct NewRequest<'a> {
    pub title_id: i64,
    pub requested_by: i64,
    pub org_id: Option<i64>,
    pub order_id: Option<i64>,
    pub month: Option<&'a str>,
    pub producer_id: i64,
    pub created_at: NaiveDateTime,
}

pub fn insert_request(conn: &mut AnyConnection, r: &NewRequest) -> QueryResult<i64> {
    diesel::insert_into(invoice_requests::table)
        .values((
            invoice_requests::title_id.eq(r.title_id),
            invoice_requests::requested_by.eq(r.requested_by),
            invoice_requests::org_id.eq(r.org_id),
            invoice_requests::order_id.eq(r.order_id),
            invoice_requests::month.eq(r.month),
            invoice_requests::producer_id.eq(r.producer_id),
            invoice_requests::status.eq("requested"),
            invoice_requests::created_at.eq(r.created_at),
        ))
        .returning(invoice_requests::id)
        .get_result(conn)
}

/// Claims an order part for a request; fails on the primary key when another request has it.
pub fn insert_part(conn: &mut AnyConnection, request_id: i64, order_id: i64, producer_id: i64) -> QueryResult<()> {
    diesel::insert_into(invoice_request_parts::table)
        .values((
            invoice_request_parts::request_id.eq(request_id),
            invoice_request_parts::order_id.eq(order_id),
            invoice_request_parts::producer_id.eq(producer_id),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The request that already covers the part, if any.
pub fn part_request(conn: &mut AnyConnection, order_id: i64, producer_id: i64) -> QueryResult<Option<i64>> {
    invoice_request_parts::table
        .find((order_id, producer_id))
        .select(invoice_request_parts::request_id)
        .first(conn)
        .optional()
}

/// The (order id, producer id) parts of a request, by order id.
pub fn parts(conn: &mut AnyConnection, request_id: i64) -> QueryResult<Vec<(i64, i64)>> {
    invoice_request_parts::table
        .filter(invoice_request_parts::request_id.eq(request_id))
        .order(invoice_request_parts::order_id)
        .select((invoice_request_parts::order_id, invoice_request_parts::producer_id))
        .load(conn)
}

pub fn request(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<RequestRow>> {
    invoice_requests::table.find(id).select(RequestRow::as_select()).first(conn).optional()
}

/// Locks a request's row (a no-op update), after the orders it covers.
pub fn lock_request(conn: &mut AnyConnection, id: i64) -> QueryResult<()> {
    diesel::update(invoice_requests::table.find(id))
        .set(invoice_requests::id.eq(invoice_requests::id))
        .execute(conn)
        .map(|_| ())
}

/// Moves a request from one status to another; false when it was no longer in `from`.
pub fn set_status(conn: &mut AnyConnection, id: i64, from: &str, to: &str) -> QueryResult<bool> {
    diesel::update(invoice_requests::table.find(id).filter(invoice_requests::status.eq(from)))
        .set(invoice_requests::status.eq(to))
        .execute(conn)
        .map(|n| n == 1)
}

/// Requests of the given producers (a cooperative's), newest first, optionally by status.
pub fn requests_of_producers(
    conn: &mut AnyConnection,
    producer_ids: &[i64],
    status: Option<&str>,
) -> QueryResult<Vec<RequestRow>> {
    let mut query = invoice_requests::table
        .filter(invoice_requests::producer_id.eq_any(producer_ids))
        .order(invoice_requests::id.desc())
        .limit(200)
        .select(RequestRow::as_select())
        .into_boxed();
    if let Some(s) = status {
        query = query.filter(invoice_requests::status.eq(s.to_string()));
    }
    query.load(conn)
}

pub fn requests_of_org(conn: &mut AnyConnection, org_id: i64) -> QueryResult<Vec<RequestRow>> {
    invoice_requests::table
        .filter(invoice_requests::org_id.eq(org_id))
        .order(invoice_requests::id.desc())
        .limit(200)
        .select(RequestRow::as_select())
        .load(conn)
}

/// The requests covering any part of the order.
pub fn requests_of_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<RequestRow>> {
    let ids: Vec<i64> = invoice_request_parts::table
        .filter(invoice_request_parts::order_id.eq(order_id))
        .select(invoice_request_parts::request_id)
        .load(conn)?;
    invoice_requests::table
        .filter(invoice_requests::id.eq_any(ids))
        .order(invoice_requests::id)
        .select(RequestRow::as_select())
        .load(conn)
}

/// The ids of the part's order lines (the cooperative's goods in the order).
pub fn part_line_ids(conn: &mut AnyConnection, order_id: i64, producer_id: i64) -> QueryResult<Vec<i64>> {
    order_lines::table
        .filter(order_lines::order_id.eq(order_id))
        .filter(order_lines::producer_id.eq(producer_id))
        .select(order_lines::id)
        .load(conn)
}

/// What the credit ledger holds for these lines: their sales less their reversals, in fen.
pub fn credited_fen(conn: &mut AnyConnection, line_ids: &[i64]) -> QueryResult<i64> {
    if line_ids.is_empty() {
        return Ok(0);
    }
    let amounts: Vec<i64> = credit_entries::table
        .filter(credit_entries::order_line_id.eq_any(line_ids))
        .filter(credit_entries::kind.eq_any(["sale", "sale_reversal"]))
        .select(credit_entries::amount_fen)
        .load(conn)?;
    Ok(amounts.iter().sum())
}

/// The producers whose goods are in the order, in id order.
pub fn order_producers(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<i64>> {
    order_lines::table
        .filter(order_lines::order_id.eq(order_id))
        .select(order_lines::producer_id)
        .distinct()
        .order(order_lines::producer_id)
        .load(conn)
}

/// (Chinese, English) name of a producer.
pub fn producer_names(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<(String, String)>> {
    producers::table.find(id).select((producers::name_zh, producers::name_en)).first(conn).optional()
}

pub fn manages(conn: &mut AnyConnection, user_id: i64, producer_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        producer_managers::table
            .filter(producer_managers::user_id.eq(user_id))
            .filter(producer_managers::producer_id.eq(producer_id)),
    ))
    .get_result(conn)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoices)]
pub struct InvoiceRow {
    pub id: i64,
    pub request_id: i64,
    pub kind: String,
    pub number: String,
    pub issued_on: NaiveDate,
    pub amount_fen: i64,
    pub file_name: String,
    pub media_type: String,
    pub uploaded_by: i64,
    pub created_at: NaiveDateTime,
}

pub struct NewInvoice<'a> {
    pub request_id: i64,
    pub kind: &'a str,
    pub number: &'a str,
    pub issued_on: NaiveDate,
    pub amount_fen: i64,
    pub file_name: &'a str,
    pub media_type: &'a str,
    pub uploaded_by: i64,
    pub created_at: NaiveDateTime,
}

pub fn insert_invoice(conn: &mut AnyConnection, i: &NewInvoice) -> QueryResult<i64> {
    diesel::insert_into(invoices::table)
        .values((
            invoices::request_id.eq(i.request_id),
            invoices::kind.eq(i.kind),
            invoices::number.eq(i.number),
            invoices::issued_on.eq(i.issued_on),
            invoices::amount_fen.eq(i.amount_fen),
            invoices::file_name.eq(i.file_name),
            invoices::media_type.eq(i.media_type),
            invoices::uploaded_by.eq(i.uploaded_by),
            invoices::created_at.eq(i.created_at),
        ))
        .returning(invoices::id)
        .get_result(conn)
}

pub fn invoices_of(conn: &mut AnyConnection, request_id: i64) -> QueryResult<Vec<InvoiceRow>> {
    invoices::table
        .filter(invoices::request_id.eq(request_id))
        .order(invoices::id)
        .select(InvoiceRow::as_select())
        .load(conn)
}

pub fn invoice(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<InvoiceRow>> {
    invoices::table.find(id).select(InvoiceRow::as_select()).first(conn).optional()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = procurement_targets)]
pub struct TargetsRow {
    pub org_id: i64,
    pub year: i32,
    pub canteen_budget_fen: i64,
    pub welfare_budget_fen: i64,
    pub canteen_target_pct: i32,
    pub welfare_target_pct: i32,
    pub updated_by: i64,
    pub updated_at: NaiveDateTime,
}

pub fn targets(conn: &mut AnyConnection, org_id: i64, year: i32) -> QueryResult<Option<TargetsRow>> {
    procurement_targets::table.find((org_id, year)).select(TargetsRow::as_select()).first(conn).optional()
}

/// Writes the year's targets: an update, or an insert when there were none. The caller holds
/// the organisation's row lock, so two writers cannot both insert.
pub fn set_targets(conn: &mut AnyConnection, t: &TargetsRow) -> QueryResult<()> {
    let values = (
        procurement_targets::canteen_budget_fen.eq(t.canteen_budget_fen),
        procurement_targets::welfare_budget_fen.eq(t.welfare_budget_fen),
        procurement_targets::canteen_target_pct.eq(t.canteen_target_pct),
        procurement_targets::welfare_target_pct.eq(t.welfare_target_pct),
        procurement_targets::updated_by.eq(t.updated_by),
        procurement_targets::updated_at.eq(t.updated_at),
    );
    let updated = diesel::update(procurement_targets::table.find((t.org_id, t.year))).set(values).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(procurement_targets::table)
            .values((procurement_targets::org_id.eq(t.org_id), procurement_targets::year.eq(t.year), values))
            .execute(conn)?;
    }
    Ok(())
}

/// Locks an organisation's row (a no-op update) to serialise writers of its targets.
pub fn lock_org(conn: &mut AnyConnection, org_id: i64) -> QueryResult<usize> {
    diesel::update(organisations::table.find(org_id)).set(organisations::id.eq(organisations::id)).execute(conn)
}

/// The organisation's sub-organisations (a company's union and canteens): id, kind.
pub fn children(conn: &mut AnyConnection, org_id: i64) -> QueryResult<Vec<(i64, String)>> {
    organisations::table
        .filter(organisations::parent_id.eq(org_id))
        .order(organisations::id)
        .select((organisations::id, organisations::kind))
        .load(conn)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = statement_reviews)]
pub struct ReviewRow {
    pub id: i64,
    pub org_id: i64,
    pub month: String,
    pub status: String,
    pub note: String,
    pub decided_by: i64,
    pub created_at: NaiveDateTime,
}

/// The latest review of an organisation's month (its state), if any.
pub fn latest_review(conn: &mut AnyConnection, org_id: i64, month: &str) -> QueryResult<Option<ReviewRow>> {
    statement_reviews::table
        .filter(statement_reviews::org_id.eq(org_id))
        .filter(statement_reviews::month.eq(month))
        .order(statement_reviews::id.desc())
        .select(ReviewRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert_review(
    conn: &mut AnyConnection,
    org_id: i64,
    month: &str,
    status: &str,
    note: &str,
    decided_by: i64,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(statement_reviews::table)
        .values((
            statement_reviews::org_id.eq(org_id),
            statement_reviews::month.eq(month),
            statement_reviews::status.eq(status),
            statement_reviews::note.eq(note),
            statement_reviews::decided_by.eq(decided_by),
            statement_reviews::created_at.eq(now),
        ))
        .returning(statement_reviews::id)
        .get_result(conn)
}

pub fn insert_dispute_line(conn: &mut AnyConnection, review_id: i64, order_id: i64) -> QueryResult<usize> {
    diesel::insert_into(statement_dispute_lines::table)
        .values((statement_dispute_lines::review_id.eq(review_id), statement_dispute_lines::order_id.eq(order_id)))
        .execute(conn)
}

pub fn dispute_orders(conn: &mut AnyConnection, review_id: i64) -> QueryResult<Vec<i64>> {
    statement_dispute_lines::table
        .filter(statement_dispute_lines::review_id.eq(review_id))
        .order(statement_dispute_lines::order_id)
        .select(statement_dispute_lines::order_id)
        .load(conn)
}

/// Disputes naming an order that holds goods of these producers, newest first: (review, order id).
pub fn disputes_for_producers(conn: &mut AnyConnection, producer_ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    let lines: Vec<(i64, i64)> = statement_dispute_lines::table
        .order(statement_dispute_lines::review_id.desc())
        .limit(2000)
        .select((statement_dispute_lines::review_id, statement_dispute_lines::order_id))
        .load(conn)?;
    let order_ids: Vec<i64> = lines.iter().map(|l| l.1).collect();
    let theirs: Vec<i64> = order_lines::table
        .filter(order_lines::order_id.eq_any(&order_ids))
        .filter(order_lines::producer_id.eq_any(producer_ids))
        .select(order_lines::order_id)
        .distinct()
        .load(conn)?;
    Ok(lines.into_iter().filter(|l| theirs.contains(&l.1)).collect())
}

pub fn review(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<ReviewRow>> {
    statement_reviews::table.find(id).select(ReviewRow::as_select()).first(conn).optional()
}

/// Every producer (id, Chinese name, English name), for the consolidated request's choice.
pub fn all_producers(conn: &mut AnyConnection) -> QueryResult<Vec<(i64, String, String)>> {
    producers::table.order(producers::id).select((producers::id, producers::name_zh, producers::name_en)).load(conn)
}
