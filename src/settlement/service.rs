//! Settlement rules. Every paid line earns its producer its full value (cash plus the points'
//! value) as **pending**, less the platform fee (the producer's rate fixed on the line when it
//! was placed) and the payment channel's fee on the cash part, each its own entry. A refund
//! takes back what it refunded and gives back the fees' share (by cumulative share, so a line
//! refunded in full gives back its fees exactly). Once the part has shipped and
//! `AIDMART_SETTLE_AFTER_DAYS` have passed the line's pending earning becomes **available**
//! (to be switched to the `completed` lifecycle event when after-sales lands: see
//! `release_due`). A settlement run closes a period per producer into a statement; its
//! payable amount (the available balance, never below zero) moves to **in payout** at once,
//! so a later statement cannot pay it again; a refund after that is a clawback that leaves
//! the available balance negative, carried into the next statement.
//!
//! Entries are never updated. Each names what it moves between the buckets pending,
//! available, in payout, paid out and fees; the account row caches the sums and is the lock
//! every change takes (last in the lock order), so two changes of one producer queue.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use rust_decimal::Decimal;
use serde::Serialize;
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
        OrderEvent::Placed { order, .. } => {
            model::fix_terms(conn, order.id)?;
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

/// Makes the pending earnings of lines whose part shipped at least `after_days` ago available.
/// A job; each line is released once (checked again under the producer's lock, and a unique
/// index on (kind, line)), so two runs at once act once.
///
/// When the after-sales issue lands with its `completed` lifecycle event, this job's rule
/// (shipped + days, `model::due_lines`) is replaced by a call of `release_lines` from
/// `on_order` on `OrderEvent::Completed` with the order's lines.
pub fn release_due(conn: &mut AnyConnection, after_days: i64, now: NaiveDateTime) -> Result<usize, AppError> {
    let before = now - chrono::Duration::days(after_days);
    let due = model::due_lines(conn, before, 2000)?;
    let mut by_producer: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for d in due {
        by_producer.entry(d.producer_id).or_default().push((d.line_id, d.campaign_id));
    }
    let mut released = 0;
    for (producer, lines) in by_producer {
        released += crate::db::write_tx(conn, |conn| release_lines(conn, producer, &lines, now))?;
    }
    Ok(released)
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
    "created_at": "2026-11-23T01:00:00", "payout_id": null, "payout_status": null}))]
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
    pub note: Option<String>,
    pub created_at: NaiveDateTime,
    pub payout_id: Option<i64>,
    pub payout_status: Option<String>,
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
    let previous = model::latest_statement(conn, producer)?;
    if previous.as_ref().is_some_and(|p| p.period_end >= period_end) {
        return Ok(None);
    }
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
