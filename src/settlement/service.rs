//! Settlement rules. Every paid line earns its producer its full value (cash plus the points'
//! value) as **pending**, less the platform fee (the producer's rate fixed on the line when it
//! was placed) and the payment channel's fee on the cash part, each its own entry. A refund
//! takes back what it refunded and gives back the fees' share (by cumulative share, so a line
//! refunded in full gives back its fees exactly). When the order completes (every parcel
//! received and the after-sales window closed with no case open: `OrderEvent::Completed`)
//! each line's pending earning becomes **available**. A settlement run closes a period per producer into a statement; its
//! payable amount (the available balance, never below zero) moves to **in payout** at once,
//! so a later statement cannot pay it again; a refund after that is a clawback that leaves
//! the available balance negative, carried into the next statement.
//!
//! Entries are never updated. Each names what it moves between the buckets pending,
//! available, in payout, paid out and fees; the account row caches the sums and is the lock
//! every change takes (last in the lock order), so two changes of one producer queue.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::Digest;
use utoipa::ToSchema;

use super::model::{self, Entry, NewEntry, Statement};
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::money::Money;
use crate::orders::hooks::OrderEvent;
use crate::orders::service::Settings;

/// `amount × num / den`, rounded to the fen by the one rounding rule.
pub fn share(amount_fen: i64, num: i64, den: i64) -> i64 {
    if den == 0 {
        return 0;
    }
    Money::round(Decimal::from(amount_fen) * Decimal::from(num) / Decimal::from(den) / Decimal::from(100)).fen()
}

/// The settlement hook on the order lifecycle: fixes the fee rate on each line when placed,
/// posts earnings and fees when paid, takes refunds back.
pub fn on_order(
    conn: &mut AnyConnection,
    settings: &Settings,
    event: &OrderEvent,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    match event {
        OrderEvent::Placed { order, writes, .. } => {
            writes.write(conn, model::fix_terms(order.id))?;
        }
        OrderEvent::Paid { order, lines } => {
            lock_accounts(conn, lines.iter().map(|l| l.producer_id))?;
            let ids: Vec<i64> = lines.iter().map(|l| l.id).collect();
            let rates: HashMap<i64, i64> = model::terms(conn, &ids)?.into_iter().collect();
            let mut entries = Vec::new();
            for line in lines.iter() {
                let base = NewEntry {
                    campaign_id: Some(order.campaign_id),
                    order_line_id: Some(line.id),
                    ..NewEntry::new(line.producer_id, "earning", now)
                };
                let value = line.line_total_fen;
                entries.push(NewEntry {
                    amount_fen: value,
                    pending_fen: value,
                    cash_fen: line.cash_fen,
                    ..base.clone()
                });
                let platform = share(value, rates.get(&line.id).copied().unwrap_or(0), 10_000);
                if platform != 0 {
                    entries.push(fee(&base, "platform_fee", platform, 0));
                }
                let channel = share(line.cash_fen, settings.channel_fee_bps, 10_000);
                if channel != 0 {
                    entries.push(fee(&base, "channel_fee", channel, line.cash_fen));
                }
            }
            model::append(conn, &entries)?;
        }
        OrderEvent::Refunded { order, refund } => {
            lock_accounts(conn, refund.lines.iter().map(|r| r.line.producer_id))?;
            let ids: Vec<i64> = refund.lines.iter().map(|r| r.line.id).collect();
            let known = model::line_entries(conn, &ids)?;
            let stated: Vec<i64> = model::on_statements(conn, &known.iter().map(|e| e.id).collect::<Vec<_>>())?;
            let mut entries = Vec::new();
            for r in &refund.lines {
                if r.value_fen == 0 {
                    continue;
                }
                let mine: Vec<&Entry> = known.iter().filter(|e| e.order_line_id == Some(r.line.id)).collect();
                if !mine.iter().any(|e| e.kind == "earning") {
                    // Paid before settlement existed: nothing was earned here to take back.
                    continue;
                }
                let released = mine.iter().find(|e| e.kind == "available");
                // Before the earning is available it comes off pending; after, off available,
                // and once the available amount went into a payout it is a clawback.
                let (kind, to_available) = match released {
                    None => ("refund", false),
                    Some(a) if stated.contains(&a.id) => ("clawback", true),
                    Some(_) => ("refund", true),
                };
                let base = NewEntry {
                    campaign_id: Some(order.campaign_id),
                    order_line_id: Some(r.line.id),
                    refund_id: Some(refund.id),
                    ..NewEntry::new(r.line.producer_id, kind, now)
                };
                let sum =
                    |k: &str, f: fn(&Entry) -> i64| mine.iter().filter(|e| e.kind == k).map(|e| f(e)).sum::<i64>();
                let value = r.line.line_total_fen;
                let refunded_before = -(sum("refund", |e| e.amount_fen) + sum("clawback", |e| e.amount_fen));
                let cash_before = sum("refund", |e| e.cash_fen) + sum("clawback", |e| e.cash_fen);
                let bucket = |e: NewEntry, fen: i64| {
                    if to_available {
                        NewEntry { available_fen: fen, ..e }
                    } else {
                        NewEntry { pending_fen: fen, ..e }
                    }
                };
                entries.push(bucket(
                    NewEntry { amount_fen: -r.value_fen, cash_fen: r.cash_fen, ..base.clone() },
                    -r.value_fen,
                ));
                // Each fee's share of what has now been refunded, less what was given back.
                let fees = [
                    ("platform_fee", "platform_fee_reversal", refunded_before, r.value_fen, value),
                    ("channel_fee", "channel_fee_reversal", cash_before, r.cash_fen, r.line.cash_fen),
                ];
                for (fee_kind, back_kind, before, now_refunded, whole) in fees {
                    let charged = -sum(fee_kind, |e| e.amount_fen);
                    if charged == 0 {
                        continue;
                    }
                    let given = sum(back_kind, |e| e.amount_fen);
                    let back = share(charged, before + now_refunded, whole) - given;
                    if back != 0 {
                        let e = NewEntry { kind: back_kind, amount_fen: back, fees_fen: -back, ..base.clone() };
                        entries.push(bucket(e, back));
                    }
                }
            }
            model::append(conn, &entries)?;
        }
        OrderEvent::Completed { order } => {
            // Received and the after-sales window closed with no case open: what was sold is
            // final, so each line's pending earning becomes available (per producer, in
            // producer order: the lock order within earnings).
            let lines = crate::orders::model::lines_of(conn, order.id)?;
            let mut by_producer: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
            for l in &lines {
                by_producer.entry(l.producer_id).or_default().push((l.id, order.campaign_id));
            }
            lock_accounts(conn, by_producer.keys().copied())?;
            for (producer, lines) in by_producer {
                release_lines(conn, producer, &lines, now)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn fee(base: &NewEntry, kind: &'static str, fen: i64, cash_fen: i64) -> NewEntry {
    NewEntry { kind, amount_fen: -fen, pending_fen: -fen, fees_fen: fen, cash_fen, ..base.clone() }
}

/// Locks the producers' accounts in id order (the lock order within earnings).
fn lock_accounts(conn: &mut AnyConnection, producers: impl Iterator<Item = i64>) -> Result<(), AppError> {
    let mut ids: Vec<i64> = producers.collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        model::lock_account(conn, id)?;
    }
    Ok(())
}

/// Releases one producer's lines (line id, campaign id): each line's pending net becomes
/// available, once. Runs in the caller's transaction.
pub fn release_lines(
    conn: &mut AnyConnection,
    producer: i64,
    lines: &[(i64, i64)],
    now: NaiveDateTime,
) -> Result<usize, AppError> {
    model::lock_account(conn, producer)?;
    let ids: Vec<i64> = lines.iter().map(|l| l.0).collect();
    let known = model::line_entries(conn, &ids)?;
    let mut entries = Vec::new();
    for &(line, campaign) in lines {
        let mine: Vec<&Entry> = known.iter().filter(|e| e.order_line_id == Some(line)).collect();
        if mine.iter().any(|e| e.kind == "available") || !mine.iter().any(|e| e.kind == "earning") {
            continue;
        }
        let net: i64 = mine.iter().map(|e| e.pending_fen).sum();
        entries.push(NewEntry {
            campaign_id: Some(campaign),
            order_line_id: Some(line),
            amount_fen: net,
            pending_fen: -net,
            available_fen: net,
            ..NewEntry::new(producer, "available", now)
        });
    }
    model::append(conn, &entries)?;
    Ok(entries.len())
}

// ---------------------------------------------------------------------------------------
// Balances

/// `GET /api/v1/coop/earnings`. `balance` is what the platform owes the cooperative now:
/// pending + available + in payout (negative while a clawback exceeds the rest).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"producer_id": 1, "pending": "1280.40", "available": "356.00", "in_payout": "0.00",
    "paid_out": "5120.00", "fees": "10.86", "balance": "1636.40", "fee_bps": 0}))]
pub struct Earnings {
    pub producer_id: i64,
    #[schema(value_type = String)]
    pub pending: Money,
    #[schema(value_type = String)]
    pub available: Money,
    #[schema(value_type = String)]
    pub in_payout: Money,
    #[schema(value_type = String)]
    pub paid_out: Money,
    #[schema(value_type = String)]
    pub fees: Money,
    #[schema(value_type = String)]
    pub balance: Money,
    /// The platform's rate for lines placed from now on, in basis points.
    pub fee_bps: i64,
}

pub fn earnings(conn: &mut AnyConnection, producer_id: i64) -> Result<Earnings, AppError> {
    let a = model::account(conn, producer_id)?;
    let f = |v: Option<i64>| Money::from_fen(v.unwrap_or(0));
    Ok(Earnings {
        producer_id,
        pending: f(a.as_ref().map(|a| a.pending_fen)),
        available: f(a.as_ref().map(|a| a.available_fen)),
        in_payout: f(a.as_ref().map(|a| a.in_payout_fen)),
        paid_out: f(a.as_ref().map(|a| a.paid_out_fen)),
        fees: f(a.as_ref().map(|a| a.fees_fen)),
        balance: f(a.as_ref().map(|a| a.pending_fen + a.available_fen + a.in_payout_fen)),
        fee_bps: a.map_or(0, |a| a.fee_bps),
    })
}

// ---------------------------------------------------------------------------------------
// Statements

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": 12, "producer_id": 1, "period_start": "2026-11-16", "period_end": "2026-11-22",
    "opening": "0.00", "closing": "356.00", "payable": "356.00", "status": "open", "note": null,
    "created_at": "2026-11-23T01:00:00", "payout_id": null, "payout_status": null, "resolution": null,
    "resolution_note": null}))]
pub struct StatementView {
    pub id: i64,
    pub producer_id: i64,
    pub period_start: Option<NaiveDate>,
    pub period_end: NaiveDate,
    /// The available balance carried in from the previous statement.
    #[schema(value_type = String)]
    pub opening: Money,
    /// The available balance at close, before the payout.
    #[schema(value_type = String)]
    pub closing: Money,
    /// What this statement pays: the closing balance, never below zero.
    #[schema(value_type = String)]
    pub payable: Money,
    /// open, confirmed or disputed.
    pub status: String,
    /// The cooperative's note when it disputed.
    pub note: Option<String>,
    pub created_at: NaiveDateTime,
    pub payout_id: Option<i64>,
    pub payout_status: Option<String>,
    /// A disputed statement's admin decision: `upheld` (paid as stated) or `voided` (its
    /// entries go to the next statement); null while held.
    pub resolution: Option<String>,
    pub resolution_note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"entry_id": 301, "kind": "earning", "order_no": "A8F3K2P9Q1", "order_line_id": 88,
    "campaign_id": 1, "amount": "79.80", "pending": "79.80", "available": "0.00", "fees": "0.00",
    "created_at": "2026-11-18T03:12:00"}))]
pub struct StatementLine {
    pub entry_id: i64,
    /// earning, platform_fee, channel_fee, refund, clawback, platform_fee_reversal,
    /// channel_fee_reversal, available, payout_hold, payout, payout_failed.
    pub kind: String,
    pub order_no: Option<String>,
    pub order_line_id: Option<i64>,
    pub campaign_id: Option<i64>,
    #[schema(value_type = String)]
    pub amount: Money,
    #[schema(value_type = String)]
    pub pending: Money,
    #[schema(value_type = String)]
    pub available: Money,
    #[schema(value_type = String)]
    pub fees: Money,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatementDetail {
    #[serde(flatten)]
    pub statement: StatementView,
    pub lines: Vec<StatementLine>,
}

fn view(s: Statement, payout: Option<(i64, String)>) -> StatementView {
    StatementView {
        id: s.id,
        producer_id: s.producer_id,
        period_start: s.period_start,
        period_end: s.period_end,
        opening: Money::from_fen(s.opening_fen),
        closing: Money::from_fen(s.closing_fen),
        payable: Money::from_fen(s.payable_fen),
        status: s.status,
        note: s.note,
        created_at: s.created_at,
        payout_id: payout.as_ref().map(|p| p.0),
        payout_status: payout.map(|p| p.1),
        resolution: s.resolution,
        resolution_note: s.resolution_note,
    }
}

/// The first moment (UTC) after the period ending `period_end` in `zone`.
fn period_cutoff(zone: chrono_tz::Tz, period_end: NaiveDate) -> Option<NaiveDateTime> {
    let next = period_end.checked_add_days(Days::new(1))?;
    zone.from_local_datetime(&next.and_time(NaiveTime::MIN)).earliest().map(|t| t.naive_utc())
}

/// Closes the period ending `period_end` (a day in the store's zone, not after today) for every
/// producer with entries not yet on a statement: one statement each, with those entries, its
/// opening balance (the previous statement's carry), closing balance and payable amount, which
/// moves to "in payout" at once. A producer that already has a statement for that period (or a
/// later one) gets nothing new, also when two runs race (the account lock, then a unique key).
pub fn run_period(
    conn: &mut AnyConnection,
    zone: chrono_tz::Tz,
    period_end: NaiveDate,
    now: NaiveDateTime,
) -> Result<Vec<StatementView>, AppError> {
    let today = zone.from_utc_datetime(&now).date_naive();
    if period_end > today {
        return Err(AppError::bad_request(
            "invalid_period",
            "period_end must be today or earlier / 结算截止日不能晚于今天",
        ));
    }
    let cutoff = period_cutoff(zone, period_end)
        .ok_or_else(|| AppError::bad_request("invalid_period", "period_end is not a day / 结算截止日无效"))?
        .min(now);
    let mut created = Vec::new();
    for producer in model::producers_with_unstated(conn, cutoff)? {
        if let Some(s) = crate::db::write_tx(conn, |conn| close_one(conn, producer, period_end, cutoff, now))? {
            created.push(view(s, None));
        }
    }
    Ok(created)
}

fn close_one(
    conn: &mut AnyConnection,
    producer: i64,
    period_end: NaiveDate,
    cutoff: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<Option<Statement>, AppError> {
    let account = model::lock_account(conn, producer)?;
    if model::latest_statement(conn, producer)?.is_some_and(|p| p.period_end >= period_end) {
        return Ok(None);
    }
    // A voided statement carries nothing: its entries came back to be stated again.
    let previous = model::latest_kept_statement(conn, producer)?;
    let entries = model::unstated(conn, producer, cutoff)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let opening = previous.as_ref().map_or(0, |p| p.closing_fen - p.payable_fen);
    let closing = opening + entries.iter().map(|e| e.available_fen).sum::<i64>();
    // Never more than is available now (a refund after the cut-off may have taken some).
    let payable = closing.min(account.available_fen).max(0);
    let period_start = previous
        .as_ref()
        .and_then(|p| p.period_end.checked_add_days(Days::new(1)))
        .or_else(|| entries.iter().map(|e| e.created_at.date()).min());
    let id = model::insert_statement(
        conn,
        &model::NewStatement {
            producer_id: producer,
            period_start,
            period_end,
            opening_fen: opening,
            closing_fen: closing,
            payable_fen: payable,
            created_at: now,
        },
    )?;
    let mut ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
    if payable > 0 {
        model::append(
            conn,
            &[NewEntry {
                statement_id: Some(id),
                amount_fen: payable,
                available_fen: -payable,
                in_payout_fen: payable,
                ..NewEntry::new(producer, "payout_hold", now)
            }],
        )?;
        if let Some(hold) = model::last_entry(conn, producer, "payout_hold")? {
            ids.push(hold.id);
        }
    }
    model::insert_statement_lines(conn, id, &ids)?;
    Ok(model::statement(conn, id)?)
}

/// The last day of the latest settlement period that has ended by `today`: weekly periods
/// run Monday to Sunday, monthly ones are calendar months.
pub fn last_finished(period: &str, today: NaiveDate) -> NaiveDate {
    if period == "weekly" {
        today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()) + 1)
    } else {
        today.with_day(1).unwrap_or(today) - chrono::Duration::days(1)
    }
}

/// The last day of the period `today` lies in; its statement is made the day after.
pub fn current_end(period: &str, today: NaiveDate) -> NaiveDate {
    if period == "weekly" {
        today + chrono::Duration::days(6 - i64::from(today.weekday().num_days_from_monday()))
    } else {
        let first = today.with_day(1).unwrap_or(today);
        first.checked_add_months(chrono::Months::new(1)).map_or(today, |n| n - chrono::Duration::days(1))
    }
}

/// The day the producer's current period closes into a statement (the day after it ends).
pub fn next_settlement(
    conn: &mut AnyConnection,
    zone: chrono_tz::Tz,
    producer: i64,
    now: NaiveDateTime,
) -> Result<NaiveDate, AppError> {
    let period = model::periods(conn, &[producer])?.pop().map_or_else(|| "monthly".to_string(), |p| p.1);
    let today = zone.from_utc_datetime(&now).date_naive();
    Ok(current_end(&period, today) + chrono::Duration::days(1))
}

/// The job: closes each producer's last finished period (weekly or monthly, its own) into a
/// statement, as the admin's run does and with its guarantees (the producer's lock, then the
/// unique period): a producer already stated for that period or a later one gets nothing, so
/// two runs at once, or on two servers, make one statement. Returns the statements made.
pub fn run_due(conn: &mut AnyConnection, zone: chrono_tz::Tz, now: NaiveDateTime) -> Result<usize, AppError> {
    let today = zone.from_utc_datetime(&now).date_naive();
    let producers = model::producers_with_unstated(conn, now)?;
    let mut made = 0;
    for (producer, period) in model::periods(conn, &producers)? {
        let period_end = last_finished(&period, today);
        let Some(cutoff) = period_cutoff(zone, period_end) else { continue };
        let cutoff = cutoff.min(now);
        // A read first, so a quiet producer costs no write transaction every interval.
        if model::latest_statement(conn, producer)?.is_some_and(|p| p.period_end >= period_end)
            || model::unstated(conn, producer, cutoff)?.is_empty()
        {
            continue;
        }
        if crate::db::write_tx(conn, |conn| close_one(conn, producer, period_end, cutoff, now))?.is_some() {
            made += 1;
        }
    }
    Ok(made)
}

/// `PUT /api/v1/admin/producers/{id}/settlement-period`.
#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"period": "weekly"}))]
pub struct PeriodInput {
    /// `weekly` (Monday to Sunday) or `monthly`.
    pub period: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"producer_id": 1, "name": "沽源县藜麦种植专业合作社", "period": "weekly",
    "next_settlement": "2026-11-30", "pending": "1280.40", "available": "0.00", "in_payout": "356.00", "paid_out": "5120.00"}))]
pub struct ProducerSettlement {
    pub producer_id: i64,
    pub name: String,
    pub period: String,
    /// The day its current period closes into a statement (store time zone).
    pub next_settlement: NaiveDate,
    #[schema(value_type = String)]
    pub pending: Money,
    #[schema(value_type = String)]
    pub available: Money,
    #[schema(value_type = String)]
    pub in_payout: Money,
    #[schema(value_type = String)]
    pub paid_out: Money,
}

/// Every producer's period, next settlement day and balances (the admin's settlement page).
pub fn producer_settlements(
    conn: &mut AnyConnection,
    zone: chrono_tz::Tz,
    now: NaiveDateTime,
) -> Result<Vec<ProducerSettlement>, AppError> {
    let today = zone.from_utc_datetime(&now).date_naive();
    let mut out = Vec::new();
    for (id, name_zh, _, period) in model::producer_rows(conn)? {
        let a = model::account(conn, id)?;
        let f = |g: fn(&model::Account) -> i64| Money::from_fen(a.as_ref().map_or(0, g));
        out.push(ProducerSettlement {
            producer_id: id,
            name: name_zh,
            next_settlement: current_end(&period, today) + chrono::Duration::days(1),
            period,
            pending: f(|a| a.pending_fen),
            available: f(|a| a.available_fen),
            in_payout: f(|a| a.in_payout_fen),
            paid_out: f(|a| a.paid_out_fen),
        });
    }
    Ok(out)
}

/// Sets a producer's settlement period (platform admins); an unknown producer is 404.
pub fn set_period(
    conn: &mut AnyConnection,
    zone: chrono_tz::Tz,
    producer: i64,
    input: &PeriodInput,
    now: NaiveDateTime,
) -> Result<ProducerSettlement, AppError> {
    let period = input.period.trim();
    if !["weekly", "monthly"].contains(&period) {
        return Err(AppError::bad_request(
            "invalid_period",
            "the period is weekly or monthly / 结算周期须为 weekly 或 monthly",
        ));
    }
    crate::db::write_tx(conn, |conn| {
        if model::set_period(conn, producer, period)? == 0 {
            return Err(AppError::NotFound);
        }
        Ok(())
    })?;
    producer_settlements(conn, zone, now)?.into_iter().find(|p| p.producer_id == producer).ok_or(AppError::NotFound)
}

/// The statements of the manager's producers, newest first.
pub fn statements(conn: &mut AnyConnection, producers: &[i64]) -> Result<Vec<StatementView>, AppError> {
    let rows = model::statements_of(conn, producers, 200)?;
    let ids: Vec<i64> = rows.iter().map(|s| s.id).collect();
    let payouts: HashMap<i64, (i64, String)> =
        model::payouts_of_statements(conn, &ids)?.into_iter().map(|p| (p.statement_id, (p.id, p.status))).collect();
    Ok(rows
        .into_iter()
        .map(|s| {
            let p = payouts.get(&s.id).cloned();
            view(s, p)
        })
        .collect())
}

/// One of the manager's statements with its lines; another producer's is "not found".
pub fn statement(conn: &mut AnyConnection, producers: &[i64], id: i64) -> Result<StatementDetail, AppError> {
    let s = model::statement(conn, id)?.filter(|s| producers.contains(&s.producer_id)).ok_or(AppError::NotFound)?;
    let entries = model::statement_entries(conn, s.id)?;
    let line_ids: Vec<i64> = entries.iter().filter_map(|e| e.order_line_id).collect();
    let orders: HashMap<i64, String> =
        model::line_orders(conn, &line_ids)?.into_iter().map(|(line, no, _)| (line, no)).collect();
    let payout = model::payouts_of_statements(conn, &[s.id])?.into_iter().next().map(|p| (p.id, p.status));
    let lines = entries
        .into_iter()
        .map(|e| StatementLine {
            entry_id: e.id,
            order_no: e.order_line_id.and_then(|l| orders.get(&l).cloned()),
            kind: e.kind,
            order_line_id: e.order_line_id,
            campaign_id: e.campaign_id,
            amount: Money::from_fen(e.amount_fen),
            pending: Money::from_fen(e.pending_fen),
            available: Money::from_fen(e.available_fen),
            fees: Money::from_fen(e.fees_fen),
            created_at: e.created_at,
        })
        .collect();
    Ok(StatementDetail { statement: view(s, payout), lines })
}

/// The cooperative confirms (`note` ignored) or disputes (`note` required) an open statement.
/// A confirmed statement with a payable amount joins the payout queue.
pub fn decide(
    conn: &mut AnyConnection,
    producers: &[i64],
    id: i64,
    confirm: bool,
    note: Option<&str>,
    by: i64,
    now: NaiveDateTime,
) -> Result<StatementView, AppError> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if !confirm && note.is_none_or(|n| n.chars().count() > 500) {
        return Err(AppError::bad_request(
            "invalid_note",
            "say what is wrong in 1 to 500 characters / 请用 1 至 500 字说明问题",
        ));
    }
    let producer = model::statement(conn, id)?
        .filter(|s| producers.contains(&s.producer_id))
        .ok_or(AppError::NotFound)?
        .producer_id;
    crate::db::write_tx(conn, |conn| {
        model::lock_account(conn, producer)?;
        let status = if confirm { "confirmed" } else { "disputed" };
        if !model::decide_statement(conn, id, status, note, by, now)? {
            let s = model::statement(conn, id)?.ok_or(AppError::NotFound)?;
            return Err(AppError::conflict(
                "invalid_state",
                format!("the statement is {} already / 对账单已处理（{}）", s.status, s.status),
            ));
        }
        let s = model::statement(conn, id)?.ok_or(AppError::NotFound)?;
        let mut payout = None;
        if confirm && s.payable_fen > 0 {
            let pid = model::insert_payout(conn, s.id, producer, s.payable_fen, now)?;
            payout = Some((pid, "queued".to_string()));
        }
        Ok(view(s, payout))
    })
}

/// Statements of every producer for the platform admin, newest first (at most 500), by
/// `status`: open, confirmed, disputed, or held (disputed, waiting for an admin).
pub fn admin_statements(conn: &mut AnyConnection, status: Option<&str>) -> Result<Vec<StatementView>, AppError> {
    if let Some(s) = status {
        if !["open", "confirmed", "disputed", "held"].contains(&s) {
            return Err(AppError::bad_request(
                "invalid_status",
                "status is open, confirmed, disputed or held / 状态须为 open、confirmed、disputed 或 held",
            ));
        }
    }
    let rows = model::statements_by_status(conn, status, 500)?;
    let ids: Vec<i64> = rows.iter().map(|s| s.id).collect();
    let payouts: HashMap<i64, (i64, String)> =
        model::payouts_of_statements(conn, &ids)?.into_iter().map(|p| (p.statement_id, (p.id, p.status))).collect();
    Ok(rows
        .into_iter()
        .map(|s| {
            let p = payouts.get(&s.id).cloned();
            view(s, p)
        })
        .collect())
}

/// `POST /api/v1/admin/statements/{id}/uphold` and `…/void`.
#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "已与合作社电话核对，退款已计入下期 / checked by phone"}))]
pub struct ResolveInput {
    /// Why, 1 to 500 characters; the cooperative's managers are mailed it.
    pub note: String,
}

#[derive(Serialize)]
struct ResolvedMail<'a> {
    display_name: &'a str,
    producer_zh: &'a str,
    producer_en: &'a str,
    period: String,
    upheld: bool,
    payable: String,
    note: &'a str,
}

/// A platform admin decides a disputed statement held for them: `uphold` (as stated; a
/// positive payable joins the payout queue) or void (its entries come off it for the next
/// run, and its hold returns to available). Once: a second decision, or one on a statement
/// that is not disputed, is 409 `invalid_state`. Every manager of the cooperative is mailed.
pub fn resolve(
    conn: &mut AnyConnection,
    id: i64,
    uphold: bool,
    note: &str,
    by: i64,
    now: NaiveDateTime,
) -> Result<StatementView, AppError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > 500 {
        return Err(AppError::bad_request("invalid_note", "say why in 1 to 500 characters / 请用 1 至 500 字说明理由"));
    }
    let producer = model::statement(conn, id)?.ok_or(AppError::NotFound)?.producer_id;
    crate::db::write_tx(conn, |conn| {
        model::lock_account(conn, producer)?;
        let resolution = if uphold { "upheld" } else { "voided" };
        if !model::resolve_statement(conn, id, resolution, note, by, now)? {
            let s = model::statement(conn, id)?.ok_or(AppError::NotFound)?;
            let state = s.resolution.unwrap_or(s.status);
            return Err(AppError::conflict(
                "invalid_state",
                format!("only a disputed statement waiting for a decision can be decided; it is {state} / 该对账单不在待裁决状态（{state}）"),
            ));
        }
        let s = model::statement(conn, id)?.ok_or(AppError::NotFound)?;
        let mut payout = None;
        if uphold && s.payable_fen > 0 {
            let pid = model::insert_payout(conn, s.id, producer, s.payable_fen, now)?;
            payout = Some((pid, "queued".to_string()));
        }
        if !uphold {
            model::release_statement_entries(conn, s.id)?;
            if s.payable_fen > 0 {
                model::append(
                    conn,
                    &[NewEntry {
                        statement_id: Some(s.id),
                        amount_fen: s.payable_fen,
                        in_payout_fen: -s.payable_fen,
                        available_fen: s.payable_fen,
                        ..NewEntry::new(producer, "hold_released", now)
                    }],
                )?;
                if let Some(back) = model::last_entry(conn, producer, "hold_released")? {
                    model::insert_statement_lines(conn, s.id, &[back.id])?;
                }
            }
        }
        let (zh, en) = model::producer_name(conn, producer)?;
        let period = format!("{} – {}", s.period_start.map(|p| p.to_string()).unwrap_or_default(), s.period_end);
        for (email, display_name) in model::managers(conn, producer)? {
            let mail = ResolvedMail {
                display_name: &display_name,
                producer_zh: &zh,
                producer_en: &en,
                period: period.clone(),
                upheld: uphold,
                payable: Money::from_fen(s.payable_fen).to_string(),
                note,
            };
            crate::mail::enqueue(conn, "statement_resolved", &email, &mail, now)?;
        }
        Ok(view(s, payout))
    })
}

/// Any statement with its lines, for a platform admin.
pub fn admin_statement(conn: &mut AnyConnection, id: i64) -> Result<StatementDetail, AppError> {
    let producer = model::statement(conn, id)?.ok_or(AppError::NotFound)?.producer_id;
    statement(conn, &[producer], id)
}

// ---------------------------------------------------------------------------------------
// Payouts

/// A payout in the queue (or done), with the payee's bank details.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": 4, "statement_id": 12, "producer_id": 1, "payee": "沽源县藜麦种植专业合作社",
    "period_end": "2026-11-22", "amount": "356.00", "status": "queued", "account_name": "沽源县藜麦种植专业合作社",
    "bank": "中国农业银行沽源县支行", "account_no": "6228480418123456789", "held_until": null,
    "bank_reference": null, "reason": null, "created_at": "2026-11-23T02:00:00", "decided_at": null}))]
pub struct PayoutView {
    pub id: i64,
    pub statement_id: i64,
    pub producer_id: i64,
    pub payee: String,
    pub period_end: NaiveDate,
    #[schema(value_type = String)]
    pub amount: Money,
    /// queued, paid or failed.
    pub status: String,
    /// The details it was paid to (paid), else the producer's current ones.
    pub account_name: Option<String>,
    pub bank: Option<String>,
    pub account_no: Option<String>,
    /// Bank details changed recently: not payable before this time (UTC).
    pub held_until: Option<NaiveDateTime>,
    pub bank_reference: Option<String>,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
}

fn payout_view(
    p: model::Payout,
    a: model::Account,
    period_end: NaiveDate,
    payee: String,
    now: NaiveDateTime,
) -> PayoutView {
    let paid = p.status == "paid";
    PayoutView {
        id: p.id,
        statement_id: p.statement_id,
        producer_id: p.producer_id,
        payee,
        period_end,
        amount: Money::from_fen(p.amount_fen),
        account_name: if paid { p.account_name } else { a.account_name },
        bank: if paid { p.bank } else { a.bank },
        account_no: if paid { p.account_no } else { a.account_no },
        held_until: a.payouts_held_until.filter(|h| *h > now && !paid),
        status: p.status,
        bank_reference: p.bank_reference,
        reason: p.reason,
        created_at: p.created_at,
        decided_at: p.decided_at,
    }
}

pub fn payouts(
    conn: &mut AnyConnection,
    status: Option<&str>,
    now: NaiveDateTime,
) -> Result<Vec<PayoutView>, AppError> {
    if let Some(s) = status {
        if !["queued", "paid", "failed"].contains(&s) {
            return Err(AppError::bad_request(
                "invalid_status",
                "status is queued, paid or failed / 状态须为 queued、paid 或 failed",
            ));
        }
    }
    Ok(model::payouts_by_status(conn, status, 1000)?
        .into_iter()
        .map(|(p, a, period, payee)| payout_view(p, a, period, payee, now))
        .collect())
}

fn one_payout(conn: &mut AnyConnection, id: i64, now: NaiveDateTime) -> Result<PayoutView, AppError> {
    // The queue is small; a payout is found among all of them by id.
    let p = model::payout(conn, id)?.ok_or(AppError::NotFound)?;
    let a = model::account(conn, p.producer_id)?.ok_or(AppError::NotFound)?;
    let s = model::statement(conn, p.statement_id)?.ok_or(AppError::NotFound)?;
    let (payee, _) = model::producer_name(conn, p.producer_id)?;
    Ok(payout_view(p, a, s.period_end, payee, now))
}

/// The bank batch file (批量代发) of the queued payouts that may be paid now: payee name, bank,
/// account number, amount, memo. Payouts held by a recent change of bank details, or of a
/// cooperative without bank details, are left out until they can be paid.
pub fn payouts_csv(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["收款人 payee name", "开户行 bank", "账号 account number", "金额 amount", "用途 memo"])
        .map_err(AppError::internal)?;
    for p in payouts(conn, Some("queued"), now)? {
        let (Some(name), Some(bank), Some(no)) = (&p.account_name, &p.bank, &p.account_no) else { continue };
        if p.held_until.is_some() {
            continue;
        }
        let memo = format!("助农集市结算 {} 付款{}", p.period_end, p.id);
        w.write_record([safe(name), safe(bank), safe(no), p.amount.to_string(), memo]).map_err(AppError::internal)?;
    }
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(w.into_inner().map_err(AppError::internal)?);
    Ok(out)
}

/// Text a spreadsheet will not run as a formula.
fn safe(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// Marks a queued payout paid with the bank's reference: the money moves from "in payout" to
/// "paid out" and a `payout` entry (with the SHA-256 of the reference) joins the credit
/// ledger's chain, all in one transaction that takes the ledger head first, then the
/// producer's account. Marking it paid again changes nothing (the same answer); a failed one
/// is 409. Of "paid" and "failed" at once, one wins.
pub fn mark_paid(
    conn: &mut AnyConnection,
    id: i64,
    reference: &str,
    by: i64,
    now: NaiveDateTime,
) -> Result<PayoutView, AppError> {
    let reference = reference.trim();
    if reference.is_empty() || reference.chars().count() > 100 {
        return Err(AppError::bad_request(
            "invalid_reference",
            "give the bank's reference, 1 to 100 characters / 请填写 1 至 100 字的银行流水号",
        ));
    }
    let producer = model::payout(conn, id)?.ok_or(AppError::NotFound)?.producer_id;
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_ledger_head(conn)?;
        let account = model::lock_account(conn, producer)?;
        let p = model::payout(conn, id)?.ok_or(AppError::NotFound)?;
        match p.status.as_str() {
            "paid" => return one_payout(conn, id, now),
            "failed" => {
                return Err(AppError::conflict("invalid_state", "the payout failed already / 该付款已标记失败"));
            }
            _ => {}
        }
        if account.payouts_held_until.is_some_and(|h| h > now) {
            return Err(AppError::conflict(
                "payout_on_hold",
                "the bank details changed less than 24 hours ago / 收款账户 24 小时内有变更，暂停付款",
            ));
        }
        if account.account_no.is_none() {
            return Err(AppError::conflict(
                "no_bank_account",
                "the cooperative has no bank details / 合作社未设置收款账户",
            ));
        }
        if !model::set_paid(conn, id, &account, reference, by, now)? {
            return Err(AppError::conflict("invalid_state", "the payout is not queued / 该付款不在待付队列"));
        }
        let statement = model::statement(conn, p.statement_id)?.ok_or(AppError::NotFound)?;
        model::append(
            conn,
            &[NewEntry {
                payout_id: Some(id),
                statement_id: Some(p.statement_id),
                amount_fen: p.amount_fen,
                in_payout_fen: -p.amount_fen,
                paid_out_fen: p.amount_fen,
                ..NewEntry::new(producer, "payout", now)
            }],
        )?;
        let digest = hex::encode(sha2::Sha256::digest(reference.as_bytes()));
        crate::credits::service::append_payout(conn, producer, p.amount_fen, id, statement.period_end, digest, now)?;
        one_payout(conn, id, now)
    })
}

/// Marks a queued payout failed: its amount returns to "available" (the next statement shows
/// it). Again changes nothing; a paid one is 409.
pub fn mark_failed(
    conn: &mut AnyConnection,
    id: i64,
    reason: &str,
    by: i64,
    now: NaiveDateTime,
) -> Result<PayoutView, AppError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(AppError::bad_request(
            "invalid_reason",
            "give a reason of 1 to 200 characters / 请填写 1 至 200 字的原因",
        ));
    }
    let producer = model::payout(conn, id)?.ok_or(AppError::NotFound)?.producer_id;
    crate::db::write_tx(conn, |conn| {
        model::lock_account(conn, producer)?;
        let p = model::payout(conn, id)?.ok_or(AppError::NotFound)?;
        match p.status.as_str() {
            "failed" => return one_payout(conn, id, now),
            "paid" => return Err(AppError::conflict("invalid_state", "the payout was paid already / 该付款已完成")),
            _ => {}
        }
        if !model::set_failed(conn, id, reason, by, now)? {
            return Err(AppError::conflict("invalid_state", "the payout is not queued / 该付款不在待付队列"));
        }
        model::append(
            conn,
            &[NewEntry {
                payout_id: Some(id),
                statement_id: Some(p.statement_id),
                amount_fen: p.amount_fen,
                in_payout_fen: -p.amount_fen,
                available_fen: p.amount_fen,
                ..NewEntry::new(producer, "payout_failed", now)
            }],
        )?;
        one_payout(conn, id, now)
    })
}

// ---------------------------------------------------------------------------------------
// Bank details

/// `PUT /api/v1/coop/bank-account`.
#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"account_name": "沽源县藜麦种植专业合作社", "bank": "中国农业银行沽源县支行", "account_no": "6228480418123456789"}))]
pub struct BankInput {
    /// Needed only by a manager of several cooperatives.
    pub producer_id: Option<i64>,
    pub account_name: String,
    pub bank: String,
    /// Digits only (spaces are dropped), 8 to 30 of them.
    pub account_no: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"producer_id": 1, "account_name": "沽源县藜麦种植专业合作社", "bank": "中国农业银行沽源县支行",
    "account_no": "6228480418123456789", "changed_at": "2026-11-26T09:00:00", "payouts_held_until": "2026-11-27T09:00:00"}))]
pub struct BankView {
    pub producer_id: i64,
    pub account_name: Option<String>,
    pub bank: Option<String>,
    pub account_no: Option<String>,
    pub changed_at: Option<NaiveDateTime>,
    /// After a change (not the first setting), payouts wait until this time (UTC).
    pub payouts_held_until: Option<NaiveDateTime>,
}

#[derive(Serialize)]
struct BankMail<'a> {
    display_name: &'a str,
    producer_zh: &'a str,
    producer_en: &'a str,
    account_name: &'a str,
    bank: &'a str,
    account_tail: String,
    held: bool,
}

/// The producer's bank details, if set.
pub fn bank(conn: &mut AnyConnection, producer: i64, now: NaiveDateTime) -> Result<Option<BankView>, AppError> {
    Ok(model::account(conn, producer)?.filter(|a| a.account_no.is_some()).map(|a| BankView {
        producer_id: producer,
        account_name: a.account_name,
        bank: a.bank,
        account_no: a.account_no,
        changed_at: a.bank_changed_at,
        payouts_held_until: a.payouts_held_until.filter(|h| *h > now),
    }))
}

/// Sets the producer's bank details. A change of details already set holds its payouts for 24
/// hours; every setting is mailed to all its managers (the account number's last four digits).
/// Setting the same details again changes nothing.
pub fn set_bank(
    conn: &mut AnyConnection,
    producer: i64,
    input: &BankInput,
    now: NaiveDateTime,
) -> Result<BankView, AppError> {
    let name = input.account_name.trim();
    let bank = input.bank.trim();
    let number: String = input.account_no.chars().filter(|c| !c.is_whitespace()).collect();
    if name.is_empty() || name.chars().count() > 100 || bank.is_empty() || bank.chars().count() > 100 {
        return Err(AppError::bad_request(
            "invalid_bank_account",
            "account name and bank need 1 to 100 characters / 户名和开户行须为 1 至 100 字",
        ));
    }
    if !(8..=30).contains(&number.len()) || !number.chars().all(|c| c.is_ascii_digit()) {
        return Err(AppError::bad_request(
            "invalid_bank_account",
            "the account number is 8 to 30 digits / 账号须为 8 至 30 位数字",
        ));
    }
    crate::db::write_tx(conn, |conn| {
        let before = model::lock_account(conn, producer)?;
        let same = before.account_name.as_deref() == Some(name)
            && before.bank.as_deref() == Some(bank)
            && before.account_no.as_deref() == Some(number.as_str());
        if !same {
            let changed = before.account_no.is_some();
            let held = if changed { Some(now + chrono::Duration::hours(24)) } else { before.payouts_held_until };
            model::set_bank(conn, producer, (name, bank, &number), held, now)?;
            let (zh, en) = model::producer_name(conn, producer)?;
            let tail: String = number.chars().skip(number.len().saturating_sub(4)).collect();
            for (email, display_name) in model::managers(conn, producer)? {
                let mail = BankMail {
                    display_name: &display_name,
                    producer_zh: &zh,
                    producer_en: &en,
                    account_name: name,
                    bank,
                    account_tail: tail.clone(),
                    held: changed,
                };
                crate::mail::enqueue(conn, "bank_account_changed", &email, &mail, now)?;
            }
        }
        let a = model::lock_account(conn, producer)?;
        Ok(BankView {
            producer_id: producer,
            account_name: a.account_name,
            bank: a.bank,
            account_no: a.account_no,
            changed_at: a.bank_changed_at,
            payouts_held_until: a.payouts_held_until.filter(|h| *h > now),
        })
    })
}

/// A campaign's money on its way to the cooperatives: `paid_out` is what its lines added to
/// statements whose payout was marked paid; `pending` is the rest of what they earned (value
/// less fees and refunds), not yet paid out.
pub fn campaign_totals(conn: &mut AnyConnection, campaign_id: i64) -> Result<(Money, Money), AppError> {
    let (net, paid) = model::campaign_sums(conn, campaign_id)?;
    Ok((Money::from_fen(paid), Money::from_fen(net - paid)))
}

#[cfg(test)]
mod tests {
    use super::{current_end, last_finished};
    use chrono::NaiveDate;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn weekly_periods_run_monday_to_sunday() {
        // 2026-11-23 is a Monday, 2026-11-29 a Sunday.
        assert_eq!(last_finished("weekly", day("2026-11-23")), day("2026-11-22"));
        assert_eq!(last_finished("weekly", day("2026-11-29")), day("2026-11-22"));
        assert_eq!(last_finished("weekly", day("2026-11-30")), day("2026-11-29"));
        assert_eq!(current_end("weekly", day("2026-11-23")), day("2026-11-29"));
        assert_eq!(current_end("weekly", day("2026-11-29")), day("2026-11-29"));
    }

    #[test]
    fn monthly_periods_are_calendar_months() {
        assert_eq!(last_finished("monthly", day("2026-12-01")), day("2026-11-30"));
        assert_eq!(last_finished("monthly", day("2026-11-30")), day("2026-10-31"));
        assert_eq!(last_finished("monthly", day("2027-03-15")), day("2027-02-28"));
        assert_eq!(current_end("monthly", day("2028-02-10")), day("2028-02-29"));
        assert_eq!(current_end("monthly", day("2026-12-31")), day("2026-12-31"));
    }
}
