//! The SQL of after the parcel leaves: parcels (shipments) and their receipt, after-sales
//! cases with their lines, photos and events, and buyers' photos.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{
    after_sales, after_sales_events, after_sales_lines, after_sales_photos, orders, photos, shipments,
};
use crate::db::AnyConnection;

// ---- parcels ----

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = shipments)]
pub struct ShipmentRow {
    pub id: i64,
    pub order_id: i64,
    pub producer_id: i64,
    pub recipient_id: Option<i64>,
    pub carrier: String,
    pub tracking_no: String,
    pub shipped_at: NaiveDateTime,
    pub received_at: Option<NaiveDateTime>,
    pub after_sales_id: Option<i64>,
}

pub fn shipments_of(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<ShipmentRow>> {
    shipments::table
        .filter(shipments::order_id.eq(order_id))
        .order(shipments::id)
        .select(ShipmentRow::as_select())
        .load(conn)
}

pub fn shipment(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<ShipmentRow>> {
    shipments::table.find(id).select(ShipmentRow::as_select()).first(conn).optional()
}

/// Marks a parcel received unless it already is: true for the one call that does.
pub fn receive(conn: &mut AnyConnection, id: i64, by: Option<i64>, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(shipments::table.find(id).filter(shipments::received_at.is_null()))
        .set((shipments::received_at.eq(Some(now)), shipments::received_by.eq(by)))
        .execute(conn)?;
    Ok(n == 1)
}

/// (parcel, order) of parcels shipped before `cutoff` and not received.
pub fn unreceived_before(conn: &mut AnyConnection, cutoff: NaiveDateTime) -> QueryResult<Vec<(i64, i64)>> {
    shipments::table
        .filter(shipments::received_at.is_null())
        .filter(shipments::shipped_at.le(cutoff))
        .order(shipments::id)
        .select((shipments::id, shipments::order_id))
        .load(conn)
}

/// Orders received before `cutoff` and not yet completed (or refunded in full).
pub fn received_before(conn: &mut AnyConnection, cutoff: NaiveDateTime, statuses: &[&str]) -> QueryResult<Vec<i64>> {
    orders::table
        .filter(orders::received_at.le(cutoff))
        .filter(orders::status.eq_any(statuses))
        .order(orders::id)
        .select(orders::id)
        .load(conn)
}

// ---- photos ----

pub fn insert_photo(
    conn: &mut AnyConnection,
    file_name: &str,
    content_type: &str,
    bytes: i64,
    by: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let known: i64 = photos::table.filter(photos::file_name.eq(file_name)).count().get_result(conn)?;
    if known == 0 {
        diesel::insert_into(photos::table)
            .values((
                photos::file_name.eq(file_name),
                photos::content_type.eq(content_type),
                photos::bytes.eq(bytes),
                photos::uploaded_by.eq(by),
                photos::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The photos among `names` that exist.
pub fn known_photos(conn: &mut AnyConnection, names: &[String]) -> QueryResult<Vec<String>> {
    photos::table.filter(photos::file_name.eq_any(names)).select(photos::file_name).load(conn)
}

// ---- cases ----

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = after_sales)]
pub struct CaseRow {
    pub id: i64,
    pub order_id: i64,
    pub buyer_id: i64,
    pub producer_id: i64,
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub text: String,
    pub amount_fen: i64,
    pub agreed_fen: Option<i64>,
    pub reply: Option<String>,
    pub return_carrier: Option<String>,
    pub return_tracking_no: Option<String>,
    pub refund_id: Option<i64>,
    pub admin_note: Option<String>,
    pub decided_by: Option<i64>,
    pub reply_due_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub struct NewCase<'a> {
    pub order_id: i64,
    pub buyer_id: i64,
    pub producer_id: i64,
    pub kind: &'a str,
    pub reason: &'a str,
    pub text: &'a str,
    pub amount_fen: i64,
    pub reply_due_at: NaiveDateTime,
}

pub fn insert_case(conn: &mut AnyConnection, c: &NewCase, now: NaiveDateTime) -> QueryResult<i64> {
    diesel::insert_into(after_sales::table)
        .values((
            after_sales::order_id.eq(c.order_id),
            after_sales::buyer_id.eq(c.buyer_id),
            after_sales::producer_id.eq(c.producer_id),
            after_sales::kind.eq(c.kind),
            after_sales::status.eq("requested"),
            after_sales::reason.eq(c.reason),
            after_sales::text.eq(c.text),
            after_sales::amount_fen.eq(c.amount_fen),
            after_sales::reply_due_at.eq(c.reply_due_at),
            after_sales::created_at.eq(now),
            after_sales::updated_at.eq(now),
        ))
        .returning(after_sales::id)
        .get_result(conn)
}

pub fn insert_case_lines(conn: &mut AnyConnection, case_id: i64, lines: &[(i64, i64)]) -> QueryResult<()> {
    for (line_id, quantity) in lines {
        diesel::insert_into(after_sales_lines::table)
            .values((
                after_sales_lines::case_id.eq(case_id),
                after_sales_lines::order_line_id.eq(line_id),
                after_sales_lines::quantity.eq(quantity),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn insert_case_photos(conn: &mut AnyConnection, case_id: i64, names: &[String]) -> QueryResult<()> {
    for (i, name) in names.iter().enumerate() {
        diesel::insert_into(after_sales_photos::table)
            .values((
                after_sales_photos::case_id.eq(case_id),
                after_sales_photos::position.eq(i as i32),
                after_sales_photos::file_name.eq(name),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn add_event(
    conn: &mut AnyConnection,
    case_id: i64,
    from: Option<&str>,
    to: &str,
    actor: Option<i64>,
    note: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(after_sales_events::table)
        .values((
            after_sales_events::case_id.eq(case_id),
            after_sales_events::from_status.eq(from),
            after_sales_events::to_status.eq(to),
            after_sales_events::actor_id.eq(actor),
            after_sales_events::note.eq(note),
            after_sales_events::created_at.eq(now),
        ))
        .execute(conn)
}

/// (from, to, note, at) of a case's event.
pub type EventRow = (Option<String>, String, String, NaiveDateTime);

/// A case's events, oldest first.
pub fn events_of(conn: &mut AnyConnection, case_id: i64) -> QueryResult<Vec<EventRow>> {
    after_sales_events::table
        .filter(after_sales_events::case_id.eq(case_id))
        .order(after_sales_events::id)
        .select((
            after_sales_events::from_status,
            after_sales_events::to_status,
            after_sales_events::note,
            after_sales_events::created_at,
        ))
        .load(conn)
}

pub fn case(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<CaseRow>> {
    after_sales::table.find(id).select(CaseRow::as_select()).first(conn).optional()
}

pub fn cases_of_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<CaseRow>> {
    after_sales::table
        .filter(after_sales::order_id.eq(order_id))
        .order(after_sales::id)
        .select(CaseRow::as_select())
        .load(conn)
}

/// Cases of the given producers (or all, for admins), newest first, optionally of one status.
pub fn queue(
    conn: &mut AnyConnection,
    producers: Option<&[i64]>,
    status: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<CaseRow>> {
    let mut query = after_sales::table.order(after_sales::id.desc()).limit(limit).into_boxed();
    if let Some(p) = producers {
        query = query.filter(after_sales::producer_id.eq_any(p.to_vec()));
    }
    if let Some(s) = status {
        query = query.filter(after_sales::status.eq(s.to_string()));
    }
    query.select(CaseRow::as_select()).load(conn)
}

/// (case, line, quantity) of the given cases.
pub fn lines_of_cases(conn: &mut AnyConnection, case_ids: &[i64]) -> QueryResult<Vec<(i64, i64, i64)>> {
    after_sales_lines::table
        .filter(after_sales_lines::case_id.eq_any(case_ids))
        .order((after_sales_lines::case_id, after_sales_lines::order_line_id))
        .select((after_sales_lines::case_id, after_sales_lines::order_line_id, after_sales_lines::quantity))
        .load(conn)
}

/// (case, file name) of the given cases' photos, in order.
pub fn photos_of_cases(conn: &mut AnyConnection, case_ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    after_sales_photos::table
        .filter(after_sales_photos::case_id.eq_any(case_ids))
        .order((after_sales_photos::case_id, after_sales_photos::position))
        .select((after_sales_photos::case_id, after_sales_photos::file_name))
        .load(conn)
}

/// Moves a case from one of `from` to `to`: true for the one change that does it, so of
/// concurrent accepts, escalations and the auto-accept job exactly one acts.
pub fn move_case(conn: &mut AnyConnection, id: i64, from: &[&str], to: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(after_sales::table.find(id).filter(after_sales::status.eq_any(from)))
        .set((after_sales::status.eq(to), after_sales::updated_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn set_reply(conn: &mut AnyConnection, id: i64, reply: &str) -> QueryResult<usize> {
    diesel::update(after_sales::table.find(id)).set(after_sales::reply.eq(Some(reply))).execute(conn)
}

pub fn set_refund(conn: &mut AnyConnection, id: i64, refund_id: i64, agreed_fen: i64) -> QueryResult<usize> {
    diesel::update(after_sales::table.find(id))
        .set((after_sales::refund_id.eq(Some(refund_id)), after_sales::agreed_fen.eq(Some(agreed_fen))))
        .execute(conn)
}

pub fn set_return(conn: &mut AnyConnection, id: i64, carrier: &str, tracking: &str) -> QueryResult<usize> {
    diesel::update(after_sales::table.find(id))
        .set((after_sales::return_carrier.eq(Some(carrier)), after_sales::return_tracking_no.eq(Some(tracking))))
        .execute(conn)
}

pub fn set_decision(conn: &mut AnyConnection, id: i64, admin: i64, note: &str) -> QueryResult<usize> {
    diesel::update(after_sales::table.find(id))
        .set((after_sales::decided_by.eq(Some(admin)), after_sales::admin_note.eq(Some(note))))
        .execute(conn)
}

/// Requested cases whose reply time has passed.
pub fn unanswered(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<Vec<i64>> {
    after_sales::table
        .filter(after_sales::status.eq("requested"))
        .filter(after_sales::reply_due_at.le(now))
        .order(after_sales::id)
        .select(after_sales::id)
        .load(conn)
}

/// Accepted replacement cases of these producers whose parcel has not left.
pub fn replacements_to_ship(conn: &mut AnyConnection, producers: &[i64]) -> QueryResult<Vec<CaseRow>> {
    let shipped: Vec<Option<i64>> = shipments::table
        .filter(shipments::after_sales_id.is_not_null())
        .select(shipments::after_sales_id)
        .load(conn)?;
    let shipped: Vec<i64> = shipped.into_iter().flatten().collect();
    after_sales::table
        .filter(after_sales::producer_id.eq_any(producers))
        .filter(after_sales::kind.eq("replacement"))
        .filter(after_sales::status.eq("accepted"))
        .filter(after_sales::id.ne_all(shipped))
        .order(after_sales::id)
        .select(CaseRow::as_select())
        .load(conn)
}
