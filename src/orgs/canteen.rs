//! Staff canteens: recurring orders placed by a background job, and monthly statements.
//!
//! Exactly one order per (schedule, delivery date): the job claims the pair in
//! `schedule_runs` (unique key) in the same transaction as the order, so a second run of the
//! job, here or on another instance, fails on the key and writes nothing. A placement that
//! fails (out of stock, say) is recorded as a failed run and mailed to the manager.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account::{self, Placement};
use super::model::{self, Schedule};
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::mail;
use crate::money::Money;
use crate::orders::service::{self as orders, Address, LineRequest, Settings};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// weekly or fortnightly
    pub cadence: String,
    pub first_delivery: NaiveDate,
    pub end_date: NaiveDate,
    /// How many days before each delivery the order is placed (0 to 30; 2 if left out).
    #[serde(default = "default_lead")]
    pub lead_days: i32,
    pub lines: Vec<LineRequest>,
    pub address: Address,
    pub campaign_id: Option<i64>,
}

fn default_lead() -> i32 {
    2
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct StoredLine {
    sku_id: i64,
    quantity: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduleView {
    pub id: i64,
    pub cadence: String,
    pub next_delivery: NaiveDate,
    pub end_date: NaiveDate,
    pub lead_days: i32,
    /// Whether the job will place its next order (false when paused, cancelled or ended).
    pub active: bool,
    /// `active`, `paused`, `cancelled` or `ended` (past its end date).
    pub status: String,
    pub lines: Vec<ScheduleLineView>,
    /// What one delivery costs at today's prices, e.g. "239.40"; absent when a SKU is no
    /// longer on sale.
    #[schema(value_type = Option<String>)]
    pub amount: Option<Money>,
    pub address: Address,
    pub campaign_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduleLineView {
    pub sku_id: i64,
    pub quantity: i64,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    /// Today's unit price as the order will charge it, e.g. "39.90".
    #[schema(value_type = Option<String>)]
    pub unit_price: Option<Money>,
    #[schema(value_type = Option<String>)]
    pub line_total: Option<Money>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunView {
    pub schedule_id: i64,
    pub delivery_date: NaiveDate,
    /// placed or failed
    pub status: String,
    pub order_no: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SchedulesView {
    pub schedules: Vec<ScheduleView>,
    pub runs: Vec<RunView>,
}

fn invalid(message: &str) -> AppError {
    AppError::bad_request("invalid_schedule", message.to_string())
}

fn step(cadence: &str) -> Duration {
    if cadence == "fortnightly" {
        Duration::days(14)
    } else {
        Duration::days(7)
    }
}

/// What the schedule's state reads as: its stored status, or `ended` once it ran past its end.
pub fn status_of(s: &Schedule) -> &str {
    match s.status.as_str() {
        "active" if !s.active => "ended",
        other => other,
    }
}

/// The schedule with its lines' names and today's prices (the order's own pricing).
fn schedule_view(conn: &mut AnyConnection, s: &Schedule, today: NaiveDate) -> Result<ScheduleView, AppError> {
    let stored: Vec<StoredLine> = serde_json::from_str(&s.lines).unwrap_or_default();
    let requested: Vec<LineRequest> =
        stored.iter().map(|l| LineRequest { sku_id: l.sku_id, quantity: l.quantity }).collect();
    let priced = match orders::prepare(conn, &requested, s.campaign_id, today) {
        Ok(p) => Some(p.lines),
        Err(AppError::Internal(e)) => return Err(AppError::Internal(e)),
        Err(_) => None,
    };
    let names = crate::orders::model::line_names(conn, &stored.iter().map(|l| l.sku_id).collect::<Vec<_>>())?;
    let lines = stored
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let p = priced.as_ref().and_then(|p| p.get(i));
            let n = names.iter().find(|n| n.0 == l.sku_id);
            let name = |k: usize| {
                let stored = n.map(|n| [&n.2, &n.3, &n.4, &n.5][k].clone());
                p.map(|p| p.names[k].clone()).or(stored).unwrap_or_default()
            };
            ScheduleLineView {
                sku_id: l.sku_id,
                quantity: l.quantity,
                product_zh: name(0),
                product_en: name(1),
                sku_zh: name(2),
                sku_en: name(3),
                unit_price: p.map(|p| Money::from_fen(p.priced.unit_price_fen)),
                line_total: p.map(|p| Money::from_fen(p.priced.line_total_fen)),
            }
        })
        .collect();
    Ok(ScheduleView {
        id: s.id,
        cadence: s.cadence.clone(),
        next_delivery: s.next_delivery,
        end_date: s.end_date,
        lead_days: s.lead_days,
        active: s.active,
        status: status_of(s).to_string(),
        amount: priced.map(|p| Money::from_fen(p.iter().map(|l| l.priced.line_total_fen).sum())),
        lines,
        address: serde_json::from_str(&s.address).map_err(AppError::internal)?,
        campaign_id: s.campaign_id,
    })
}

pub fn require_canteen(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<model::Org, AppError> {
    let org = account::require_admin(conn, user_id, org_id)?;
    if org.kind != "canteen" {
        return Err(AppError::unprocessable("account_not_supported", "schedules are for canteens / 定期订单仅限食堂"));
    }
    Ok(org)
}

/// Checks a schedule's terms; the lines must be orderable now (on sale, valid quantities,
/// campaign running). Returns the lines and address as stored.
fn checked_terms(
    conn: &mut AnyConnection,
    r: &ScheduleRequest,
    today: NaiveDate,
) -> Result<(String, String), AppError> {
    if !["weekly", "fortnightly"].contains(&r.cadence.as_str()) {
        return Err(invalid("cadence is weekly or fortnightly / 周期须为每周或每两周"));
    }
    if r.first_delivery < today || r.end_date < r.first_delivery || r.end_date > today + Duration::days(366) {
        return Err(invalid(
            "the first delivery is today or later and the end date within a year after it / 首次送达日期不能早于今天，结束日期须在一年内",
        ));
    }
    if !(0..=30).contains(&r.lead_days) {
        return Err(invalid("lead_days is from 0 to 30 / 提前天数须为 0 至 30"));
    }
    r.address.validate()?;
    orders::prepare(conn, &r.lines, r.campaign_id, today)?;
    let lines: Vec<StoredLine> =
        r.lines.iter().map(|l| StoredLine { sku_id: l.sku_id, quantity: l.quantity }).collect();
    let lines = serde_json::to_string(&lines).map_err(AppError::internal)?;
    let address = serde_json::to_string(&r.address).map_err(AppError::internal)?;
    Ok((lines, address))
}

pub fn create_schedule(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    r: &ScheduleRequest,
    now: NaiveDateTime,
) -> Result<ScheduleView, AppError> {
    require_canteen(conn, user_id, org_id)?;
    let today = now.date();
    let (lines, address) = checked_terms(conn, r, today)?;
    let id = db::write_tx(conn, |conn| -> Result<i64, AppError> {
        Ok(model::insert_schedule(
            conn,
            &model::NewSchedule {
                org_id,
                created_by: user_id,
                cadence: &r.cadence,
                next_delivery: r.first_delivery,
                end_date: r.end_date,
                lead_days: r.lead_days,
                lines: &lines,
                address: &address,
                campaign_id: r.campaign_id,
                created_at: now,
            },
        )?)
    })?;
    let s = model::schedule(conn, id)?.ok_or(AppError::NotFound)?;
    schedule_view(conn, &s, today)
}

/// The canteen's schedule, or 404 (also for another organisation's).
fn own_schedule(conn: &mut AnyConnection, org_id: i64, schedule_id: i64) -> Result<Schedule, AppError> {
    model::schedule(conn, schedule_id)?.filter(|s| s.org_id == org_id).ok_or(AppError::NotFound)
}

fn changed_meanwhile() -> AppError {
    AppError::conflict("busy", "the schedule was changed meanwhile; try again / 定期订单刚被修改，请重试")
}

/// Rewrites a schedule's terms (not a cancelled one); a paused one stays paused.
pub fn edit_schedule(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    schedule_id: i64,
    r: &ScheduleRequest,
    now: NaiveDateTime,
) -> Result<ScheduleView, AppError> {
    require_canteen(conn, user_id, org_id)?;
    let today = now.date();
    let s = own_schedule(conn, org_id, schedule_id)?;
    if s.status == "cancelled" {
        return Err(AppError::conflict(
            "invalid_state",
            "a cancelled schedule cannot be edited / 已取消的定期订单不能修改",
        ));
    }
    let (lines, address) = checked_terms(conn, r, today)?;
    let edit = model::ScheduleEdit {
        cadence: &r.cadence,
        next_delivery: r.first_delivery,
        end_date: r.end_date,
        lead_days: r.lead_days,
        lines: &lines,
        address: &address,
        campaign_id: r.campaign_id,
        active: s.status == "active",
    };
    let done = db::write_tx(conn, |conn| -> Result<bool, AppError> {
        Ok(model::edit_schedule(conn, s.id, &s.status, s.next_delivery, &edit)?)
    })?;
    if !done {
        return Err(changed_meanwhile());
    }
    let s = own_schedule(conn, org_id, schedule_id)?;
    schedule_view(conn, &s, today)
}

/// What a canteen's admin may do to a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleAction {
    Pause,
    Resume,
    Cancel,
}

/// Pauses (active → paused), resumes (paused → active, from the first delivery not in the
/// past) or cancels (active or paused → cancelled) a schedule, by one conditional update.
pub fn change_schedule(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    schedule_id: i64,
    action: ScheduleAction,
    now: NaiveDateTime,
) -> Result<ScheduleView, AppError> {
    require_canteen(conn, user_id, org_id)?;
    let today = now.date();
    let s = own_schedule(conn, org_id, schedule_id)?;
    let state = status_of(&s).to_string();
    let refused = |what: &str| {
        AppError::conflict(
            "invalid_state",
            format!("a schedule that is {state} cannot be {what} / 定期订单当前状态不允许此操作"),
        )
    };
    let (to, next, active) = match action {
        ScheduleAction::Pause if state == "active" => ("paused", s.next_delivery, false),
        ScheduleAction::Pause => return Err(refused("paused")),
        ScheduleAction::Resume if state == "paused" => {
            // Deliveries missed while paused are skipped.
            let mut next = s.next_delivery;
            while next < today {
                next += step(&s.cadence);
            }
            ("active", next, next <= s.end_date)
        }
        ScheduleAction::Resume => return Err(refused("resumed")),
        ScheduleAction::Cancel if state == "active" || state == "paused" => ("cancelled", s.next_delivery, false),
        ScheduleAction::Cancel => return Err(refused("cancelled")),
    };
    let done = db::write_tx(conn, |conn| -> Result<bool, AppError> {
        Ok(model::set_schedule_status(conn, s.id, &s.status, s.next_delivery, to, next, active)?)
    })?;
    if !done {
        return Err(changed_meanwhile());
    }
    let s = own_schedule(conn, org_id, schedule_id)?;
    schedule_view(conn, &s, today)
}

pub fn schedules(conn: &mut AnyConnection, user_id: i64, org_id: i64) -> Result<SchedulesView, AppError> {
    schedules_on(conn, user_id, org_id, chrono::Utc::now().date_naive())
}

pub fn schedules_on(
    conn: &mut AnyConnection,
    user_id: i64,
    org_id: i64,
    today: NaiveDate,
) -> Result<SchedulesView, AppError> {
    require_canteen(conn, user_id, org_id)?;
    let rows = model::schedules_of(conn, org_id)?;
    let schedules = rows.iter().map(|s| schedule_view(conn, s, today)).collect::<Result<Vec<_>, _>>()?;
    let runs = model::runs_of_org(conn, org_id, 50)?
        .into_iter()
        .map(|(schedule_id, delivery_date, status, order_no, reason)| RunView {
            schedule_id,
            delivery_date,
            status,
            order_no,
            reason,
        })
        .collect();
    Ok(SchedulesView { schedules, runs })
}

/// A SKU the canteen can order, with what it costs (the order's pricing: list price, tiers,
/// the year-round campaign's price).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PickerItem {
    pub sku_id: i64,
    pub code: String,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    pub unit_zh: String,
    pub unit_en: String,
    /// One unit's price, e.g. "39.90".
    #[schema(value_type = String)]
    pub unit_price: Money,
    pub price_fen: i64,
    pub campaign_price_fen: Option<i64>,
    /// Quantity tiers as `min:fen` pairs joined by commas, for the page's live total.
    pub tiers: String,
}

/// Every SKU a canteen order can hold today, priced as the order prices it.
pub fn picker(conn: &mut AnyConnection) -> Result<Vec<PickerItem>, AppError> {
    let Some(campaign) = crate::orders::model::year_round_campaign(conn)? else { return Ok(Vec::new()) };
    let listed = model::listed_skus(conn)?;
    let ids: Vec<i64> = listed.iter().map(|l| l.0).collect();
    let rows = crate::orders::model::sale_rows(conn, &ids, Some(campaign))?;
    let mut out = Vec::new();
    for (sku_id, code, unit_zh, unit_en) in listed {
        let own: Vec<_> = rows.iter().filter(|r| r.sku_id == sku_id).collect();
        let Some(first) = own.first() else { continue };
        if !first.sellable || first.in_campaign.is_none() {
            continue;
        }
        let tiers: Vec<(i64, i64)> = own.iter().filter_map(|r| r.tier).collect();
        let price = crate::orders::pricing::SkuPrice {
            sku_id,
            price_fen: first.price_fen,
            tiers: tiers.clone(),
            campaign_price_fen: first.campaign_price_fen,
            max_points_pct: first.max_points_pct,
        };
        out.push(PickerItem {
            sku_id,
            code,
            product_zh: first.product_zh.clone(),
            product_en: first.product_en.clone(),
            sku_zh: first.sku_zh.clone(),
            sku_en: first.sku_en.clone(),
            unit_zh,
            unit_en,
            unit_price: Money::from_fen(crate::orders::pricing::unit_price_fen(&price, 1)),
            price_fen: first.price_fen,
            campaign_price_fen: first.campaign_price_fen,
            tiers: tiers.iter().map(|(m, p)| format!("{m}:{p}")).collect::<Vec<_>>().join(","),
        });
    }
    Ok(out)
}

#[derive(Serialize)]
struct PlacedMail {
    manager_name: String,
    org_zh: String,
    order_no: String,
    delivery_date: String,
    total: Money,
    portal_url: String,
}

#[derive(Serialize)]
struct FailedMail {
    manager_name: String,
    org_zh: String,
    delivery_date: String,
    reason: String,
    portal_url: String,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobReport {
    pub placed: usize,
    pub failed: usize,
}

/// Places the order of one (schedule, delivery date), all or nothing.
fn place_run(
    conn: &mut AnyConnection,
    settings: &Settings,
    s: &Schedule,
    delivery: NaiveDate,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    db::write_tx(conn, |conn| {
        // First: a twin that claimed this pair makes this insert fail (or wait, then fail).
        let run_id = model::insert_run(conn, s.id, delivery, "placed", None, "", now)?;
        // Then the schedule's row: paused, cancelled or edited meanwhile means no order.
        if !model::claim_schedule(conn, s.id, delivery)? {
            return Err(AppError::conflict("schedule_changed", "the schedule was changed / 定期订单已变更"));
        }
        let org = account::require_admin(conn, s.created_by, s.org_id)?;
        let buyer = orders::buyer_of(conn, s.created_by)?;
        let stored: Vec<StoredLine> = serde_json::from_str(&s.lines).map_err(AppError::internal)?;
        let requested: Vec<LineRequest> =
            stored.iter().map(|l| LineRequest { sku_id: l.sku_id, quantity: l.quantity }).collect();
        let address: Address = serde_json::from_str(&s.address).map_err(AppError::internal)?;
        let prepared = orders::prepare(conn, &requested, s.campaign_id, now.date())?;
        let placement = Placement {
            org: &org,
            buyer: &buyer,
            address: &address,
            lines: prepared.lines,
            recipients: Vec::new(),
            campaign_id: prepared.campaign_id,
            delivery_date: Some(delivery),
        };
        let order = account::place(conn, settings, placement, now)?.order;
        model::set_run_order(conn, run_id, order.id)?;
        let next = delivery + step(&s.cadence);
        model::advance_schedule(conn, s.id, delivery, next, next <= s.end_date)?;
        let context = PlacedMail {
            manager_name: buyer.display_name.clone(),
            org_zh: org.name_zh.clone(),
            order_no: order.order_no.clone(),
            delivery_date: delivery.to_string(),
            total: Money::from_fen(order.total_fen),
            portal_url: format!("{}/canteen?org={}", settings.public_url, org.id),
        };
        mail::enqueue(conn, "canteen_order_placed", &buyer.email, &context, now)?;
        Ok(())
    })
}

/// Records a failed placement once, moves the schedule on, and tells the manager.
fn record_failure(
    conn: &mut AnyConnection,
    settings: &Settings,
    s: &Schedule,
    delivery: NaiveDate,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    db::write_tx(conn, |conn| {
        model::insert_run(conn, s.id, delivery, "failed", None, reason, now)?;
        let next = delivery + step(&s.cadence);
        model::advance_schedule(conn, s.id, delivery, next, next <= s.end_date)?;
        if let Some(user) = crate::accounts::model::find(conn, s.created_by)? {
            let org_zh = model::org(conn, s.org_id)?.map(|o| o.name_zh).unwrap_or_default();
            let context = FailedMail {
                manager_name: user.display_name,
                org_zh,
                delivery_date: delivery.to_string(),
                reason: reason.to_string(),
                portal_url: format!("{}/canteen?org={}", settings.public_url, s.org_id),
            };
            mail::enqueue(conn, "canteen_order_failed", &user.email, &context, now)?;
        }
        Ok(())
    })
}

/// The job: places every order whose time has come. Safe to run twice or on two instances.
pub fn run_due(conn: &mut AnyConnection, settings: &Settings, now: NaiveDateTime) -> Result<JobReport, AppError> {
    let today = now.date();
    let mut report = JobReport::default();
    for s in model::due_schedules(conn, today + Duration::days(30))? {
        let delivery = s.next_delivery;
        if delivery > s.end_date {
            model::advance_schedule(conn, s.id, delivery, delivery, false)?;
            continue;
        }
        if today < delivery - Duration::days(i64::from(s.lead_days)) {
            continue;
        }
        let outcome = if delivery < today {
            Err(AppError::unprocessable(
                "delivery_missed",
                "the delivery date passed before the order could be placed / 送达日期已过，未能下单",
            ))
        } else {
            place_run(conn, settings, &s, delivery, now)
        };
        match outcome {
            Ok(()) => report.placed += 1,
            Err(e) => {
                if e.code() == "schedule_changed" || model::run_exists(conn, s.id, delivery)? {
                    // A twin run placed (or recorded) it.
                    continue;
                }
                tracing::warn!(schedule = s.id, %delivery, error = %e, "scheduled canteen order failed");
                if record_failure(conn, settings, &s, delivery, &e.public_message(), now).is_ok() {
                    report.failed += 1;
                }
            }
        }
    }
    Ok(report)
}

// ---- statements ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatementLine {
    /// The order's id (none for a points grant's line).
    #[serde(skip)]
    pub order_id: Option<i64>,
    pub order_no: String,
    pub placed_at: NaiveDateTime,
    pub delivery_date: Option<NaiveDate>,
    pub status: String,
    #[schema(value_type = String)]
    pub total: Money,
    #[schema(value_type = String)]
    pub refunded: Money,
    #[schema(value_type = String)]
    pub net: Money,
    /// The order's products and quantities.
    pub items: Vec<StatementItem>,
    /// Where the line stands with invoices (its cooperative parts together): `not_requested`,
    /// `partly_requested`, `requested`, `issued`, `red_needed` (a refund after invoicing calls
    /// for a red invoice); `not_applicable` for a points grant.
    pub invoice_state: String,
    /// The numbers of the invoices issued for it, blue and red, oldest first.
    pub invoice_numbers: Vec<String>,
    pub invoices: Vec<StatementInvoice>,
    /// Named by the month's latest review, a dispute.
    pub disputed: bool,
}

/// An invoice issued for a line of the statement (for one cooperative's part).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatementInvoice {
    pub id: i64,
    /// `blue` or `red` (红字发票).
    pub kind: String,
    pub number: String,
    pub issued_on: NaiveDate,
    #[schema(value_type = String)]
    pub amount: Money,
    pub producer_zh: String,
    pub producer_en: String,
    pub file_url: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatementItem {
    pub sku_id: i64,
    pub sku_code: String,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    pub quantity: i64,
    pub refunded_quantity: i64,
    #[schema(value_type = String)]
    pub unit_price: Money,
    #[schema(value_type = String)]
    pub line_total: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Statement {
    pub org_id: i64,
    pub org_slug: String,
    pub org_zh: String,
    pub invoice_title: String,
    pub uscc: String,
    /// YYYY-MM
    pub month: String,
    pub orders: Vec<StatementLine>,
    #[schema(value_type = String)]
    pub total: Money,
    #[schema(value_type = String)]
    pub refunded: Money,
    #[schema(value_type = String)]
    pub net: Money,
    /// Reconciliation (对账): `confirmed` or `disputed` by the latest review; none yet: null.
    pub review_status: Option<String>,
    /// The latest dispute's note.
    pub review_note: String,
}

/// `2026-11` → the first day of that month.
pub fn parse_month(raw: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(&format!("{}-01", raw.trim()), "%Y-%m-%d")
        .map_err(|_| AppError::bad_request("invalid_month", "month must look like 2026-11 / 月份格式须为 2026-11"))
}

fn next_month(first: NaiveDate) -> NaiveDate {
    let (y, m) = if first.month() == 12 { (first.year() + 1, 1) } else { (first.year(), first.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(first)
}

/// Every paid (or later) order of the month, by delivery date (placing date when none).
pub fn statement(conn: &mut AnyConnection, user_id: i64, org_id: i64, month: NaiveDate) -> Result<Statement, AppError> {
    let org = account::require_admin(conn, user_id, org_id)?;
    let rows = model::statement_orders(conn, org_id, month, next_month(month))?;
    let ids: Vec<i64> = rows.iter().map(|(o, _)| o.id).collect();
    let items = model::statement_items(conn, &ids)?;
    let mut orders: Vec<StatementLine> = rows
        .into_iter()
        .map(|(o, delivery_date)| StatementLine {
            items: items
                .iter()
                .filter(|i| i.0 == o.id)
                .map(|i| StatementItem {
                    sku_id: i.1,
                    sku_code: i.2.clone(),
                    product_zh: i.3.clone(),
                    product_en: i.4.clone(),
                    sku_zh: i.5.clone(),
                    sku_en: i.6.clone(),
                    quantity: i.7,
                    refunded_quantity: i.8,
                    unit_price: Money::from_fen(i.9),
                    line_total: Money::from_fen(i.10),
                })
                .collect(),
            order_id: Some(o.id),
            order_no: o.order_no,
            placed_at: o.created_at,
            delivery_date,
            status: o.status,
            invoice_state: "not_requested".into(),
            invoice_numbers: Vec::new(),
            invoices: Vec::new(),
            disputed: false,
            total: Money::from_fen(o.total_fen),
            refunded: Money::from_fen(o.refunded_cash_fen),
            net: Money::from_fen(o.total_fen - o.refunded_cash_fen),
        })
        .collect();
    // Welfare points granted that month are paid from the same budget: a line each.
    for (id, at, cost_fen) in model::granted_points_between(conn, org_id, month, next_month(month))? {
        orders.push(StatementLine {
            order_id: None,
            invoice_state: "not_applicable".into(),
            invoice_numbers: Vec::new(),
            invoices: Vec::new(),
            disputed: false,
            order_no: format!("points grant #{id} / 积分发放 #{id}"),
            placed_at: at,
            delivery_date: None,
            status: "points_grant".into(),
            total: Money::from_fen(cost_fen),
            refunded: Money::from_fen(0),
            net: Money::from_fen(cost_fen),
            items: Vec::new(),
        });
    }
    let sum = |f: fn(&StatementLine) -> i64| orders.iter().map(f).sum::<i64>();
    let total = sum(|l| l.total.fen());
    let refunded = sum(|l| l.refunded.fen());
    Ok(Statement {
        org_id: org.id,
        org_slug: org.slug,
        org_zh: org.name_zh,
        invoice_title: org.invoice_title,
        uscc: org.uscc,
        month: month.format("%Y-%m").to_string(),
        orders,
        total: Money::from_fen(total),
        refunded: Money::from_fen(refunded),
        net: Money::from_fen(total - refunded),
        review_status: None,
        review_note: String::new(),
    })
}

const HEADER: [&str; 10] = [
    "订单号 order_no",
    "下单时间 placed_at",
    "送达日期 delivery_date",
    "状态 status",
    "金额 total (¥)",
    "已退款 refunded (¥)",
    "净额 net (¥)",
    "商品与数量 items",
    "发票号码 invoice numbers",
    "开票状态 invoice state",
];

/// A line's invoice state in both languages, for the sheets.
pub fn invoice_state_label(state: &str) -> &'static str {
    match state {
        "not_requested" => "未申请 not requested",
        "partly_requested" => "部分申请 partly requested",
        "requested" => "待开票 requested",
        "issued" => "已开票 issued",
        "red_needed" => "待开红字发票 red invoice needed",
        _ => "—",
    }
}

/// The invoice numbers of a line as one cell (red ones marked).
fn numbers_cell(l: &StatementLine) -> String {
    l.invoices
        .iter()
        .map(|i| if i.kind == "red" { format!("红字 red {}", i.number) } else { i.number.clone() })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The products of a line as one cell: `沽源藜麦 1kg × 6; …`.
fn items_cell(l: &StatementLine) -> String {
    l.items.iter().map(|i| format!("{} {} × {}", i.product_zh, i.sku_zh, i.quantity)).collect::<Vec<_>>().join("; ")
}

fn cells(l: &StatementLine, zone: chrono_tz::Tz) -> [String; 10] {
    [
        l.order_no.clone(),
        crate::web::time::local(zone, l.placed_at),
        l.delivery_date.map(|d| d.to_string()).unwrap_or_default(),
        l.status.clone(),
        l.total.to_string(),
        l.refunded.to_string(),
        l.net.to_string(),
        items_cell(l),
        numbers_cell(l),
        invoice_state_label(&l.invoice_state).to_string(),
    ]
}

pub fn statement_csv(s: &Statement, zone: chrono_tz::Tz) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER).map_err(AppError::internal)?;
    for l in &s.orders {
        w.write_record(cells(l, zone)).map_err(AppError::internal)?;
    }
    let (total, refunded, net) = (s.total.to_string(), s.refunded.to_string(), s.net.to_string());
    w.write_record(["合计 total", "", "", "", total.as_str(), refunded.as_str(), net.as_str(), "", "", ""])
        .map_err(AppError::internal)?;
    w.into_inner().map_err(AppError::internal)
}

pub fn statement_xlsx(s: &Statement, zone: chrono_tz::Tz) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Format, Workbook};
    let e = AppError::internal;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let bold = Format::new().set_bold();
    let amount = Format::new().set_num_format("0.00");
    sheet.write_string_with_format(0, 0, format!("{} 对账单 statement {}", s.org_zh, s.month), &bold).map_err(e)?;
    sheet.write_string(1, 0, format!("{} · {}", s.invoice_title, s.uscc)).map_err(e)?;
    for (c, h) in HEADER.iter().enumerate() {
        sheet.write_string_with_format(3, c as u16, *h, &bold).map_err(e)?;
    }
    // Amounts as numbers (to the fen) so the sheet can add them up.
    let yuan = |m: &Money| m.fen() as f64 / 100.0;
    let mut row = 4u32;
    for l in &s.orders {
        let c = cells(l, zone);
        for (i, text) in c.iter().enumerate().take(4) {
            sheet.write_string(row, i as u16, text).map_err(e)?;
        }
        sheet.write_number_with_format(row, 4, yuan(&l.total), &amount).map_err(e)?;
        sheet.write_number_with_format(row, 5, yuan(&l.refunded), &amount).map_err(e)?;
        sheet.write_number_with_format(row, 6, yuan(&l.net), &amount).map_err(e)?;
        for (i, text) in c.iter().enumerate().skip(7) {
            sheet.write_string(row, i as u16, text).map_err(e)?;
        }
        row += 1;
    }
    sheet.write_string_with_format(row, 0, "合计 total", &bold).map_err(e)?;
    sheet.write_number_with_format(row, 4, yuan(&s.total), &amount).map_err(e)?;
    sheet.write_number_with_format(row, 5, yuan(&s.refunded), &amount).map_err(e)?;
    sheet.write_number_with_format(row, 6, yuan(&s.net), &amount).map_err(e)?;
    sheet.set_column_width(0, 28).map_err(e)?;
    book.save_to_buffer().map_err(e)
}
