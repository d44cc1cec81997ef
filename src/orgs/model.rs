//! Organisations: companies, their trade unions and canteens; budgets, orders on account,
//! approvals, canteen schedules and member invites.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{
    canteen_schedules, memberships, order_approvals, orders, org_budgets, org_invites, org_orders, organisations,
    schedule_runs, user_roles, users,
};
use crate::db::AnyConnection;
use crate::orders::status::OrderStatus;

#[derive(Insertable)]
#[diesel(table_name = organisations)]
pub struct NewOrganisation<'a> {
    pub slug: &'a str,
    pub kind: &'a str,
    pub parent_id: Option<i64>,
    pub name_zh: &'a str,
    pub name_en: &'a str,
    pub invoice_title: &'a str,
    pub uscc: &'a str,
    pub address: &'a str,
}

pub fn id_by_slug(conn: &mut AnyConnection, slug: &str) -> QueryResult<Option<i64>> {
    organisations::table.filter(organisations::slug.eq(slug)).select(organisations::id).first(conn).optional()
}

pub fn insert(conn: &mut AnyConnection, org: &NewOrganisation) -> QueryResult<i64> {
    diesel::insert_into(organisations::table).values(org).returning(organisations::id).get_result(conn)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organisations)]
pub struct Org {
    pub id: i64,
    pub slug: String,
    pub kind: String,
    pub parent_id: Option<i64>,
    pub name_zh: String,
    pub name_en: String,
    pub invoice_title: String,
    pub uscc: String,
    pub address: String,
}

pub fn org(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<Org>> {
    organisations::table.find(id).select(Org::as_select()).first(conn).optional()
}

/// `Some(is_admin)` when the user is a member of the organisation.
pub fn membership(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> QueryResult<Option<bool>> {
    memberships::table.find((user_id, org_id)).select(memberships::is_admin).first(conn).optional()
}

/// Admins of an organisation holding `role`: (user id, email, display name).
pub fn admins_with_role(
    conn: &mut AnyConnection,
    org_id: i64,
    role: crate::accounts::model::Role,
) -> QueryResult<Vec<(i64, String, String)>> {
    memberships::table
        .inner_join(users::table.on(users::id.eq(memberships::user_id)))
        .inner_join(user_roles::table.on(user_roles::user_id.eq(memberships::user_id)))
        .filter(memberships::org_id.eq(org_id))
        .filter(memberships::is_admin.eq(true))
        .filter(user_roles::role.eq(role.as_str()))
        .filter(users::disabled.eq(false))
        .order(users::id)
        .select((users::id, users::email, users::display_name))
        .load(conn)
}

/// Members of an organisation: (user id, email, display name, is admin).
pub fn members(conn: &mut AnyConnection, org_id: i64) -> QueryResult<Vec<(i64, String, String, bool)>> {
    memberships::table
        .inner_join(users::table.on(users::id.eq(memberships::user_id)))
        .filter(memberships::org_id.eq(org_id))
        .order(users::email)
        .select((users::id, users::email, users::display_name, memberships::is_admin))
        .load(conn)
}

pub fn remove_member(conn: &mut AnyConnection, org_id: i64, user_id: i64) -> QueryResult<usize> {
    diesel::delete(memberships::table.find((user_id, org_id))).execute(conn)
}

// ---- budgets ----

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = org_budgets)]
pub struct Budget {
    pub org_id: i64,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub budget_total_fen: i64,
    pub budget_used_fen: i64,
    pub approval_threshold_fen: Option<i64>,
}

pub fn budget(conn: &mut AnyConnection, org_id: i64) -> QueryResult<Option<Budget>> {
    org_budgets::table.find(org_id).select(Budget::as_select()).first(conn).optional()
}

/// Sets (or replaces) the budget of the current period; what was used is kept.
pub fn set_budget(
    conn: &mut AnyConnection,
    org_id: i64,
    period: (NaiveDate, NaiveDate),
    total_fen: i64,
    threshold_fen: Option<i64>,
) -> QueryResult<usize> {
    let n = diesel::update(org_budgets::table.find(org_id))
        .set((
            org_budgets::period_start.eq(period.0),
            org_budgets::period_end.eq(period.1),
            org_budgets::budget_total_fen.eq(total_fen),
            org_budgets::approval_threshold_fen.eq(threshold_fen),
        ))
        .execute(conn)?;
    if n == 1 {
        return Ok(n);
    }
    diesel::insert_into(org_budgets::table)
        .values((
            org_budgets::org_id.eq(org_id),
            org_budgets::period_start.eq(period.0),
            org_budgets::period_end.eq(period.1),
            org_budgets::budget_total_fen.eq(total_fen),
            org_budgets::approval_threshold_fen.eq(threshold_fen),
        ))
        .execute(conn)
}

/// Draws `fen` from the budget only if it stays within the total and the period is open: a
/// conditional update, so concurrent orders can never overspend it.
pub fn draw_budget(conn: &mut AnyConnection, org_id: i64, fen: i64, today: NaiveDate) -> QueryResult<bool> {
    let n = diesel::update(
        org_budgets::table
            .find(org_id)
            .filter((org_budgets::budget_used_fen + fen).le(org_budgets::budget_total_fen))
            .filter(org_budgets::period_start.le(today))
            .filter(org_budgets::period_end.ge(today)),
    )
    .set(org_budgets::budget_used_fen.eq(org_budgets::budget_used_fen + fen))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn give_back_budget(conn: &mut AnyConnection, org_id: i64, fen: i64) -> QueryResult<usize> {
    diesel::update(org_budgets::table.find(org_id).filter(org_budgets::budget_used_fen.ge(fen)))
        .set(org_budgets::budget_used_fen.eq(org_budgets::budget_used_fen - fen))
        .execute(conn)
}

// ---- orders on account ----

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = org_orders)]
pub struct OrgOrder {
    pub order_id: i64,
    pub org_id: i64,
    pub placed_by: i64,
    pub delivery_date: Option<NaiveDate>,
    pub budget_fen: i64,
    pub budget_released: bool,
    pub created_at: NaiveDateTime,
}

pub fn insert_org_order(conn: &mut AnyConnection, row: &OrgOrder) -> QueryResult<usize> {
    diesel::insert_into(org_orders::table).values(row).execute(conn)
}

pub fn org_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Option<OrgOrder>> {
    org_orders::table.find(order_id).select(OrgOrder::as_select()).first(conn).optional()
}

/// Marks the order's budget as given back, once: true for the one caller that did it.
pub fn mark_budget_released(conn: &mut AnyConnection, order_id: i64) -> QueryResult<bool> {
    let n = diesel::update(org_orders::table.find(order_id).filter(org_orders::budget_released.eq(false)))
        .set(org_orders::budget_released.eq(true))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn recipient_count(conn: &mut AnyConnection, order_id: i64) -> QueryResult<i64> {
    use crate::db::schema::order_recipients;
    order_recipients::table.filter(order_recipients::order_id.eq(order_id)).count().get_result(conn)
}

/// An order of an organisation with its delivery date and approval status.
pub type OrgOrderRow = (crate::orders::model::OrderRow, Option<NaiveDate>, Option<String>);

/// An organisation's orders, newest first, with their delivery date and approval status.
pub fn orders_of_org(conn: &mut AnyConnection, org_id: i64, limit: i64) -> QueryResult<Vec<OrgOrderRow>> {
    orders::table
        .left_join(org_orders::table.on(org_orders::order_id.eq(orders::id)))
        .left_join(order_approvals::table.on(order_approvals::order_id.eq(orders::id)))
        .filter(orders::org_id.eq(org_id))
        .order(orders::id.desc())
        .limit(limit)
        .select((
            crate::orders::model::OrderRow::as_select(),
            org_orders::delivery_date.nullable(),
            order_approvals::status.nullable(),
        ))
        .load(conn)
}

/// A canteen's orders delivered (or, without a date, placed) within [from, to).
pub fn statement_orders(
    conn: &mut AnyConnection,
    org_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<(crate::orders::model::OrderRow, Option<NaiveDate>)>> {
    let rows: Vec<(crate::orders::model::OrderRow, Option<NaiveDate>)> = orders::table
        .left_join(org_orders::table.on(org_orders::order_id.eq(orders::id)))
        .filter(orders::org_id.eq(org_id))
        .filter(orders::status.ne_all(OrderStatus::strs(&[
            OrderStatus::Cancelled,
            OrderStatus::PendingPayment,
            OrderStatus::AwaitingApproval,
        ])))
        .order(orders::id)
        .select((crate::orders::model::OrderRow::as_select(), org_orders::delivery_date.nullable()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(o, d)| {
            let day = d.unwrap_or(o.created_at.date());
            from <= day && day < to
        })
        .collect())
}

// ---- approvals ----

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_approvals)]
pub struct Approval {
    pub order_id: i64,
    pub org_id: i64,
    pub status: String,
    pub placed_by: i64,
    pub decided_by: Option<i64>,
    pub reason: String,
    pub expires_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

pub fn insert_approval(conn: &mut AnyConnection, row: &Approval) -> QueryResult<usize> {
    diesel::insert_into(order_approvals::table).values(row).execute(conn)
}

pub fn approval(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Option<Approval>> {
    order_approvals::table.find(order_id).select(Approval::as_select()).first(conn).optional()
}

/// Decides a pending, unexpired approval: true for the one caller whose decision counts.
pub fn decide(
    conn: &mut AnyConnection,
    order_id: i64,
    status: &str,
    user_id: i64,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        order_approvals::table
            .find(order_id)
            .filter(order_approvals::status.eq("pending"))
            .filter(order_approvals::expires_at.gt(now))
            .filter(order_approvals::placed_by.ne(user_id)),
    )
    .set((
        order_approvals::status.eq(status),
        order_approvals::decided_by.eq(Some(user_id)),
        order_approvals::reason.eq(reason),
        order_approvals::decided_at.eq(Some(now)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Closes a still-pending approval when its order is cancelled.
pub fn close_approval(conn: &mut AnyConnection, order_id: i64, status: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(order_approvals::table.find(order_id).filter(order_approvals::status.eq("pending")))
        .set((order_approvals::status.eq(status), order_approvals::decided_at.eq(Some(now))))
        .execute(conn)
}

/// Pending approvals of an organisation: (order, approval).
pub fn pending_approvals(
    conn: &mut AnyConnection,
    org_id: i64,
) -> QueryResult<Vec<(crate::orders::model::OrderRow, Approval)>> {
    orders::table
        .inner_join(order_approvals::table.on(order_approvals::order_id.eq(orders::id)))
        .filter(order_approvals::org_id.eq(org_id))
        .filter(order_approvals::status.eq("pending"))
        .filter(orders::status.eq(OrderStatus::AwaitingApproval.as_str()))
        .order(orders::id.desc())
        .select((crate::orders::model::OrderRow::as_select(), Approval::as_select()))
        .load(conn)
}

// ---- canteen schedules ----

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = canteen_schedules)]
pub struct Schedule {
    pub id: i64,
    pub org_id: i64,
    pub created_by: i64,
    pub cadence: String,
    pub next_delivery: NaiveDate,
    pub end_date: NaiveDate,
    pub lead_days: i32,
    pub lines: String,
    pub address: String,
    pub campaign_id: Option<i64>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    /// `active`, `paused` or `cancelled` (an active schedule past its end date has `active` false).
    pub status: String,
}

#[derive(Insertable)]
#[diesel(table_name = canteen_schedules)]
pub struct NewSchedule<'a> {
    pub org_id: i64,
    pub created_by: i64,
    pub cadence: &'a str,
    pub next_delivery: NaiveDate,
    pub end_date: NaiveDate,
    pub lead_days: i32,
    pub lines: &'a str,
    pub address: &'a str,
    pub campaign_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

pub fn insert_schedule(conn: &mut AnyConnection, row: &NewSchedule) -> QueryResult<i64> {
    diesel::insert_into(canteen_schedules::table).values(row).returning(canteen_schedules::id).get_result(conn)
}

pub fn schedules_of(conn: &mut AnyConnection, org_id: i64) -> QueryResult<Vec<Schedule>> {
    canteen_schedules::table
        .filter(canteen_schedules::org_id.eq(org_id))
        .order(canteen_schedules::id.desc())
        .select(Schedule::as_select())
        .load(conn)
}

pub fn schedule(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<Schedule>> {
    canteen_schedules::table.find(id).select(Schedule::as_select()).first(conn).optional()
}

/// Active schedules whose next delivery is on or before `horizon` (today + the largest lead).
pub fn due_schedules(conn: &mut AnyConnection, horizon: NaiveDate) -> QueryResult<Vec<Schedule>> {
    canteen_schedules::table
        .filter(canteen_schedules::active.eq(true))
        .filter(canteen_schedules::next_delivery.le(horizon))
        .order(canteen_schedules::id)
        .select(Schedule::as_select())
        .load(conn)
}

/// Moves the schedule past `from`, only if no one else did. It never switches a schedule on:
/// `active` false (the end date passed) is written, true leaves what is there, so a pause that
/// committed meanwhile stays.
pub fn advance_schedule(
    conn: &mut AnyConnection,
    id: i64,
    from: NaiveDate,
    to: NaiveDate,
    active: bool,
) -> QueryResult<bool> {
    let target = canteen_schedules::table.find(id).filter(canteen_schedules::next_delivery.eq(from));
    let n = if active {
        diesel::update(target).set(canteen_schedules::next_delivery.eq(to)).execute(conn)?
    } else {
        diesel::update(target)
            .set((canteen_schedules::next_delivery.eq(to), canteen_schedules::active.eq(false)))
            .execute(conn)?
    };
    Ok(n == 1)
}

/// Locks the schedule for the job's run of `from` (a no-op update), if it is still switched on
/// and still at that delivery: false when it was paused, cancelled or moved meanwhile.
pub fn claim_schedule(conn: &mut AnyConnection, id: i64, from: NaiveDate) -> QueryResult<bool> {
    let n = diesel::update(
        canteen_schedules::table
            .find(id)
            .filter(canteen_schedules::active.eq(true))
            .filter(canteen_schedules::next_delivery.eq(from)),
    )
    .set(canteen_schedules::active.eq(true))
    .execute(conn)?;
    Ok(n == 1)
}

/// Moves a schedule from `from_status` (and the `next_delivery` it was read with) to
/// `to_status`; false when someone changed it first.
pub fn set_schedule_status(
    conn: &mut AnyConnection,
    id: i64,
    from_status: &str,
    read_next: NaiveDate,
    to_status: &str,
    next_delivery: NaiveDate,
    active: bool,
) -> QueryResult<bool> {
    let n = diesel::update(
        canteen_schedules::table
            .find(id)
            .filter(canteen_schedules::status.eq(from_status))
            .filter(canteen_schedules::next_delivery.eq(read_next)),
    )
    .set((
        canteen_schedules::status.eq(to_status),
        canteen_schedules::next_delivery.eq(next_delivery),
        canteen_schedules::active.eq(active),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// What an edit may change.
pub struct ScheduleEdit<'a> {
    pub cadence: &'a str,
    pub next_delivery: NaiveDate,
    pub end_date: NaiveDate,
    pub lead_days: i32,
    pub lines: &'a str,
    pub address: &'a str,
    pub campaign_id: Option<i64>,
    pub active: bool,
}

/// Rewrites a schedule that still has the status and next delivery it was read with.
pub fn edit_schedule(
    conn: &mut AnyConnection,
    id: i64,
    read_status: &str,
    read_next: NaiveDate,
    e: &ScheduleEdit,
) -> QueryResult<bool> {
    let n = diesel::update(
        canteen_schedules::table
            .find(id)
            .filter(canteen_schedules::status.eq(read_status))
            .filter(canteen_schedules::next_delivery.eq(read_next)),
    )
    .set((
        canteen_schedules::cadence.eq(e.cadence),
        canteen_schedules::next_delivery.eq(e.next_delivery),
        canteen_schedules::end_date.eq(e.end_date),
        canteen_schedules::lead_days.eq(e.lead_days),
        canteen_schedules::lines.eq(e.lines),
        canteen_schedules::address.eq(e.address),
        canteen_schedules::campaign_id.eq(e.campaign_id),
        canteen_schedules::active.eq(e.active),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn stop_schedule(conn: &mut AnyConnection, id: i64) -> QueryResult<usize> {
    diesel::update(canteen_schedules::table.find(id)).set(canteen_schedules::active.eq(false)).execute(conn)
}

/// Claims (schedule, delivery date): fails on the unique key when a twin got there first.
pub fn insert_run(
    conn: &mut AnyConnection,
    schedule_id: i64,
    delivery_date: NaiveDate,
    status: &str,
    order_id: Option<i64>,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(schedule_runs::table)
        .values((
            schedule_runs::schedule_id.eq(schedule_id),
            schedule_runs::delivery_date.eq(delivery_date),
            schedule_runs::status.eq(status),
            schedule_runs::order_id.eq(order_id),
            schedule_runs::reason.eq(reason),
            schedule_runs::created_at.eq(now),
        ))
        .returning(schedule_runs::id)
        .get_result(conn)
}

pub fn set_run_order(conn: &mut AnyConnection, run_id: i64, order_id: i64) -> QueryResult<usize> {
    diesel::update(schedule_runs::table.find(run_id)).set(schedule_runs::order_id.eq(Some(order_id))).execute(conn)
}

pub fn run_exists(conn: &mut AnyConnection, schedule_id: i64, delivery_date: NaiveDate) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        schedule_runs::table
            .filter(schedule_runs::schedule_id.eq(schedule_id))
            .filter(schedule_runs::delivery_date.eq(delivery_date)),
    ))
    .get_result(conn)
}

/// (schedule id, delivery date, status, order no, reason), newest first.
pub type RunRow = (i64, NaiveDate, String, Option<String>, String);

pub fn runs_of_org(conn: &mut AnyConnection, org_id: i64, limit: i64) -> QueryResult<Vec<RunRow>> {
    schedule_runs::table
        .inner_join(canteen_schedules::table.on(canteen_schedules::id.eq(schedule_runs::schedule_id)))
        .left_join(orders::table.on(orders::id.nullable().eq(schedule_runs::order_id)))
        .filter(canteen_schedules::org_id.eq(org_id))
        .order(schedule_runs::id.desc())
        .limit(limit)
        .select((
            schedule_runs::schedule_id,
            schedule_runs::delivery_date,
            schedule_runs::status,
            orders::order_no.nullable(),
            schedule_runs::reason,
        ))
        .load(conn)
}

// ---- invites ----

pub fn insert_invite(
    conn: &mut AnyConnection,
    org_id: i64,
    email: &str,
    token_hash: &str,
    invited_by: i64,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(org_invites::table)
        .values((
            org_invites::org_id.eq(org_id),
            org_invites::email.eq(email),
            org_invites::token_hash.eq(token_hash),
            org_invites::invited_by.eq(invited_by),
            org_invites::expires_at.eq(expires_at),
            org_invites::created_at.eq(now),
        ))
        .returning(org_invites::id)
        .get_result(conn)
}

/// (invite id, org id, email) of a live invite with this token hash.
pub fn live_invite(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<(i64, i64, String)>> {
    org_invites::table
        .filter(org_invites::token_hash.eq(token_hash))
        .filter(org_invites::accepted_at.is_null())
        .filter(org_invites::revoked.eq(false))
        .filter(org_invites::expires_at.gt(now))
        .select((org_invites::id, org_invites::org_id, org_invites::email))
        .first(conn)
        .optional()
}

/// Uses the invite once: true for the one caller that did.
pub fn accept_invite(conn: &mut AnyConnection, invite_id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(org_invites::table.find(invite_id).filter(org_invites::accepted_at.is_null()))
        .set(org_invites::accepted_at.eq(Some(now)))
        .execute(conn)?;
    Ok(n == 1)
}

/// (sku id, code, stock, on sale) for SKU codes: on sale when the SKU and its product are listed.
pub fn skus_by_code(conn: &mut AnyConnection, codes: &[String]) -> QueryResult<Vec<(i64, String, i64, bool)>> {
    use crate::db::schema::{products, skus};
    skus::table
        .inner_join(products::table.on(products::id.eq(skus::product_id)))
        .filter(skus::code.eq_any(codes))
        .select((skus::id, skus::code, skus::stock, skus::listed.and(products::listed)))
        .load(conn)
}

// ---- welfare points grants ----

pub struct NewPointsGrant<'a> {
    pub org_id: i64,
    pub granted_by: i64,
    pub status: &'a str,
    pub members: i64,
    pub points: i64,
    pub cost_fen: i64,
    pub rows_json: &'a str,
    pub created_at: NaiveDateTime,
}

pub fn insert_points_grant(conn: &mut AnyConnection, g: &NewPointsGrant) -> QueryResult<i64> {
    use crate::db::schema::org_points_grants as pg;
    diesel::insert_into(pg::table)
        .values((
            pg::org_id.eq(g.org_id),
            pg::granted_by.eq(g.granted_by),
            pg::status.eq(g.status),
            pg::members.eq(g.members),
            pg::points.eq(g.points),
            pg::cost_fen.eq(g.cost_fen),
            pg::rows_json.eq(g.rows_json),
            pg::created_at.eq(g.created_at),
        ))
        .returning(pg::id)
        .get_result(conn)
}

#[derive(Debug, Clone, Queryable)]
pub struct PointsGrantRow {
    pub id: i64,
    pub granted_by: i64,
    pub status: String,
    pub cost_fen: i64,
    pub rows_json: String,
}

pub fn points_grant(conn: &mut AnyConnection, org_id: i64, id: i64) -> QueryResult<Option<PointsGrantRow>> {
    use crate::db::schema::org_points_grants as pg;
    pg::table
        .filter(pg::id.eq(id))
        .filter(pg::org_id.eq(org_id))
        .select((pg::id, pg::granted_by, pg::status, pg::cost_fen, pg::rows_json))
        .first(conn)
        .optional()
}

/// `pending → to`, once; false when the grant was not pending (or the decider asked for it).
pub fn decide_points_grant(
    conn: &mut AnyConnection,
    id: i64,
    decided_by: i64,
    to: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    use crate::db::schema::org_points_grants as pg;
    let n = diesel::update(
        pg::table.filter(pg::id.eq(id)).filter(pg::status.eq("pending")).filter(pg::granted_by.ne(decided_by)),
    )
    .set((pg::status.eq(to), pg::decided_by.eq(decided_by), pg::decided_at.eq(now)))
    .execute(conn)?;
    Ok(n == 1)
}

#[derive(Debug, Clone)]
pub struct PointsGrantListRow {
    pub id: i64,
    pub status: String,
    pub members: i64,
    pub points: i64,
    pub cost_fen: i64,
    pub granted_by_email: String,
    pub decided_by_email: Option<String>,
    pub created_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
}

pub fn points_grants(conn: &mut AnyConnection, org_id: i64) -> QueryResult<Vec<PointsGrantListRow>> {
    use crate::db::schema::org_points_grants as pg;
    type Row = (i64, String, i64, i64, i64, i64, Option<i64>, NaiveDateTime, Option<NaiveDateTime>);
    let rows: Vec<Row> = pg::table
        .filter(pg::org_id.eq(org_id))
        .order(pg::id.desc())
        .limit(200)
        .select((
            pg::id,
            pg::status,
            pg::members,
            pg::points,
            pg::cost_fen,
            pg::granted_by,
            pg::decided_by,
            pg::created_at,
            pg::decided_at,
        ))
        .load(conn)?;
    let mut ids: Vec<i64> = rows.iter().flat_map(|r| [Some(r.5), r.6]).flatten().collect();
    ids.sort_unstable();
    ids.dedup();
    let emails: std::collections::HashMap<i64, String> = users::table
        .filter(users::id.eq_any(&ids))
        .select((users::id, users::email))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|(id, status, members, points, cost_fen, by, decided, created_at, decided_at)| PointsGrantListRow {
            id,
            status,
            members,
            points,
            cost_fen,
            granted_by_email: emails.get(&by).cloned().unwrap_or_default(),
            decided_by_email: decided.and_then(|d| emails.get(&d).cloned()),
            created_at,
            decided_at,
        })
        .collect())
}

/// Granted welfare points of a period for the statement: (id, when, cost in fen).
pub fn granted_points_between(
    conn: &mut AnyConnection,
    org_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<(i64, NaiveDateTime, i64)>> {
    use crate::db::schema::org_points_grants as pg;
    pg::table
        .filter(pg::org_id.eq(org_id))
        .filter(pg::status.eq("granted"))
        .filter(pg::created_at.ge(from.and_time(chrono::NaiveTime::MIN)))
        .filter(pg::created_at.lt(to.and_time(chrono::NaiveTime::MIN)))
        .order(pg::id)
        .select((pg::id, pg::created_at, pg::cost_fen))
        .load(conn)
}

/// One product line of a statement's order: (order_id, sku_id, sku code, product zh, product en,
/// sku zh, sku en, quantity, refunded units, unit price fen, line total fen). Lines of the same
/// SKU (one per recipient in a distribution) are added up.
pub type StatementItemRow = (i64, i64, String, String, String, String, String, i64, i64, i64, i64);

pub fn statement_items(conn: &mut AnyConnection, order_ids: &[i64]) -> QueryResult<Vec<StatementItemRow>> {
    use crate::db::schema::{order_lines, products, skus};
    let rows: Vec<StatementItemRow> = order_lines::table
        .inner_join(skus::table.on(skus::id.eq(order_lines::sku_id)))
        .inner_join(products::table.on(products::id.eq(skus::product_id)))
        .filter(order_lines::order_id.eq_any(order_ids))
        .order((order_lines::order_id, order_lines::id))
        .select((
            order_lines::order_id,
            order_lines::sku_id,
            skus::code,
            products::name_zh,
            products::name_en,
            skus::name_zh,
            skus::name_en,
            order_lines::quantity,
            order_lines::refunded_quantity,
            order_lines::unit_price_fen,
            order_lines::line_total_fen,
        ))
        .load(conn)?;
    let mut out: Vec<StatementItemRow> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|o| o.0 == r.0 && o.1 == r.1 && o.9 == r.9) {
            Some(o) => {
                o.7 += r.7;
                o.8 += r.8;
                o.10 += r.10;
            }
            None => out.push(r),
        }
    }
    Ok(out)
}

/// Every listed SKU of a listed product, for the canteen's product picker: (sku_id, code).
pub fn listed_skus(conn: &mut AnyConnection) -> QueryResult<Vec<(i64, String, String, String)>> {
    use crate::db::schema::{products, skus};
    skus::table
        .inner_join(products::table.on(products::id.eq(skus::product_id)))
        .filter(skus::listed.eq(true))
        .filter(products::listed.eq(true))
        .order((products::id, skus::price_fen))
        .select((skus::id, skus::code, skus::unit_zh, skus::unit_en))
        .load(conn)
}
