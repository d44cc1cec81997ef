//! The credit ledger's rules: what a sale, a refund, a donation and a charity pledge post, how
//! entries are chained and hashed, how the chain is verified, and signed checkpoints.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{Datelike, NaiveDateTime, Timelike};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::{self, Checkpoint, Entry};
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::orders::hooks::OrderEvent;
use crate::orders::model::{LineRow, OrderRow};

/// The hash that precedes the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry says before it is numbered and chained.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: &'static str,
    pub campaign_id: i64,
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
}

/// The canonical encoding an entry's hash covers: every field, `|`-separated, absent ones
/// empty, the time in whole seconds UTC, ending with the previous entry's hash. Documented in
/// docs/ARCHITECTURE.md so anyone can recompute it. Written field by field without
/// allocating: verification runs it once per entry.
pub fn canonical_into(e: &Entry, out: &mut String) {
    fn field(out: &mut String, v: impl std::fmt::Display) {
        let _ = write!(out, "|{v}");
    }
    fn optional(out: &mut String, v: Option<i64>) {
        out.push('|');
        if let Some(v) = v {
            let _ = write!(out, "{v}");
        }
    }
    out.clear();
    out.push_str("aidmart-credit-v1");
    field(out, e.seq);
    field(out, &e.kind);
    optional(out, e.campaign_id);
    optional(out, e.producer_id);
    optional(out, e.county_id);
    optional(out, e.org_id);
    optional(out, e.project_id);
    field(out, &e.channel);
    field(out, &e.category);
    field(out, e.amount_fen);
    optional(out, e.order_line_id);
    optional(out, e.refund_id);
    optional(out, e.donation_id);
    // A payout (kind `payout`, issue 14) also covers its payout, period and reference hash;
    // every other kind's text is as it always was.
    if e.kind == "payout" {
        optional(out, e.payout_id);
        out.push('|');
        if let Some(d) = e.period_end {
            let _ = write!(out, "{}", d.format("%Y-%m-%d"));
        }
        out.push('|');
        out.push_str(e.reference_hash.as_deref().unwrap_or(""));
    }
    let t = e.created_at;
    let _ = write!(
        out,
        "|{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    field(out, &e.prev_hash);
}

/// Whether `canonical` hashes to the hex digest `hash`, without allocating.
fn hashes_to(canonical: &str, hash: &str) -> bool {
    let mut stored = [0u8; 32];
    hex::decode_to_slice(hash, &mut stored).is_ok() && Sha256::digest(canonical.as_bytes()).as_slice() == stored
}

pub fn canonical(e: &Entry) -> String {
    let mut out = String::with_capacity(160);
    canonical_into(e, &mut out);
    out
}

pub fn hash_hex(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Numbers, chains and stores the drafts after the current head, in one transaction with the
/// change they record (the caller's). Returns the stored entries.
pub fn append(conn: &mut AnyConnection, drafts: Vec<Draft>, now: NaiveDateTime) -> Result<Vec<Entry>, AppError> {
    let entries = drafts
        .into_iter()
        .map(|d| Entry {
            seq: 0,
            kind: d.kind.to_string(),
            campaign_id: Some(d.campaign_id),
            producer_id: d.producer_id,
            county_id: d.county_id,
            org_id: d.org_id,
            project_id: d.project_id,
            channel: d.channel,
            category: d.category,
            amount_fen: d.amount_fen,
            order_line_id: d.order_line_id,
            refund_id: d.refund_id,
            donation_id: d.donation_id,
            created_at: now,
            prev_hash: String::new(),
            hash: String::new(),
            payout_id: None,
            period_end: None,
            reference_hash: None,
        })
        .collect();
    chain(conn, entries, now)
}

/// Posts a payout marked paid (settlement): the producer and its county, the amount, the
/// payout, the period it closed and the SHA-256 of the bank's reference. In the caller's
/// transaction, which holds the ledger head first (the head leads the lock order).
pub fn append_payout(
    conn: &mut AnyConnection,
    producer_id: i64,
    amount_fen: i64,
    payout_id: i64,
    period_end: chrono::NaiveDate,
    reference_hash: String,
    now: NaiveDateTime,
) -> Result<Entry, AppError> {
    let county = model::producer_counties(conn, &[producer_id])?.into_iter().next().map(|(_, c)| c);
    let entry = Entry {
        seq: 0,
        kind: "payout".into(),
        campaign_id: None,
        producer_id: Some(producer_id),
        county_id: county,
        org_id: None,
        project_id: None,
        channel: "bank".into(),
        category: "payout".into(),
        amount_fen,
        order_line_id: None,
        refund_id: None,
        donation_id: None,
        created_at: now,
        prev_hash: String::new(),
        hash: String::new(),
        payout_id: Some(payout_id),
        period_end: Some(period_end),
        reference_hash: Some(reference_hash),
    };
    chain(conn, vec![entry], now)?.pop().ok_or_else(|| AppError::internal("payout entry not appended"))
}

/// Numbers and links entries after the head, and stores them and the new head.
fn chain(conn: &mut AnyConnection, drafts: Vec<Entry>, now: NaiveDateTime) -> Result<Vec<Entry>, AppError> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    let created_at = now.with_nanosecond(0).unwrap_or(now);
    let (mut seq, mut prev) = model::lock_head(conn)?;
    let mut entries = Vec::with_capacity(drafts.len());
    let mut buf = String::with_capacity(160);
    for d in drafts {
        seq += 1;
        let mut e = Entry { seq, created_at, prev_hash: prev, ..d };
        canonical_into(&e, &mut buf);
        e.hash = hash_hex(&buf);
        prev = e.hash.clone();
        entries.push(e);
    }
    model::insert_entries(conn, &entries)?;
    model::set_head(conn, seq, &prev)?;
    Ok(entries)
}

fn counties_of(conn: &mut AnyConnection, lines: &[&LineRow]) -> Result<HashMap<i64, i64>, AppError> {
    let producers: Vec<i64> = lines.iter().map(|l| l.producer_id).collect();
    Ok(model::producer_counties(conn, &producers)?.into_iter().collect())
}

/// The buyer organisation a just-paid order is credited to: the order's own (a direct purchase
/// on an organisation's account, channel `union`/`canteen`), or for an individual's own order
/// (category `helped_sales`, channel `employee`/`public`) the buyer's employer (帮助销售: staff
/// purchases count toward their unit), as they belong at the time of payment.
fn credited_org(conn: &mut AnyConnection, order: &OrderRow) -> Result<Option<i64>, AppError> {
    if order.org_id.is_some() || order.category != "helped_sales" {
        return Ok(order.org_id);
    }
    Ok(model::employer_of(conn, order.buyer_id)?)
}

/// A sale or its reversal for one line of an order, credited to `org_id`.
#[allow(clippy::too_many_arguments)]
fn line_draft(
    kind: &'static str,
    order: &OrderRow,
    org_id: Option<i64>,
    line: &LineRow,
    county: &HashMap<i64, i64>,
    amount_fen: i64,
    refund_id: Option<i64>,
) -> Draft {
    Draft {
        kind,
        campaign_id: order.campaign_id,
        producer_id: Some(line.producer_id),
        county_id: county.get(&line.producer_id).copied(),
        org_id,
        project_id: None,
        channel: order.channel.clone(),
        category: order.category.clone(),
        amount_fen,
        order_line_id: Some(line.id),
        refund_id,
        donation_id: None,
    }
}

/// The credit ledger's hook on the order lifecycle: a paid order is credited, a refund
/// reversed. The order core holds the ledger head already (it heads the lock order).
pub fn on_order(
    conn: &mut AnyConnection,
    _: &crate::orders::service::Settings,
    event: &OrderEvent,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    match event {
        OrderEvent::Paid { order, lines } => {
            credit_sale(conn, order, lines, now)?;
        }
        OrderEvent::Refunded { order, refund } => {
            let refunded: Vec<(LineRow, i64, i64)> =
                refund.lines.iter().map(|r| (r.line.clone(), r.quantity, r.value_fen)).collect();
            credit_refund(conn, order, refund.id, &refunded, now)?;
        }
        _ => {}
    }
    Ok(())
}

/// Credits a just-paid order: one sale entry per line (its whole total, whatever the tender:
/// points are settled by their issuer), one charity entry per line whose SKU pledges a
/// donation, and 0.1 charity hour to the buyer. Called once, where the order becomes paid.
pub fn credit_sale(
    conn: &mut AnyConnection,
    order: &OrderRow,
    lines: &[LineRow],
    now: NaiveDateTime,
) -> Result<Vec<Entry>, AppError> {
    let refs: Vec<&LineRow> = lines.iter().collect();
    let county = counties_of(conn, &refs)?;
    let sku_ids: Vec<i64> = lines.iter().map(|l| l.sku_id).collect();
    let pledges: HashMap<i64, (i64, i64)> =
        model::charity_pledges(conn, &sku_ids)?.into_iter().map(|(sku, fen, project)| (sku, (fen, project))).collect();
    let org_id = credited_org(conn, order)?;
    let mut drafts = Vec::with_capacity(lines.len());
    for line in lines {
        let base = line_draft("sale", order, org_id, line, &county, line.line_total_fen, None);
        if let Some(&(per_unit, project)) = pledges.get(&line.sku_id) {
            drafts.push(Draft {
                kind: "charity",
                project_id: Some(project),
                category: "donation".into(),
                amount_fen: per_unit * line.quantity,
                ..base.clone()
            });
        }
        drafts.push(base);
    }
    // Sales first, then pledges, so an order's sale entries are consecutive.
    drafts.sort_by_key(|d| d.kind != "sale");
    let entries = append(conn, drafts, now)?;
    model::add_charity_hours(conn, order.buyer_id, 1, Some(order.id), None, now)?;
    Ok(entries)
}

/// Reverses what a refund took back: per refunded line, its refunded value (cash plus the
/// points' value) and, pro rata by units, its charity pledge.
pub fn credit_refund(
    conn: &mut AnyConnection,
    order: &OrderRow,
    refund_id: i64,
    refunded: &[(LineRow, i64, i64)],
    now: NaiveDateTime,
) -> Result<Vec<Entry>, AppError> {
    let refs: Vec<&LineRow> = refunded.iter().map(|(l, _, _)| l).collect();
    let county = counties_of(conn, &refs)?;
    let line_ids: Vec<i64> = refs.iter().map(|l| l.id).collect();
    let pledges: HashMap<i64, Entry> = model::entries_for_lines(conn, &line_ids, "charity")?
        .into_iter()
        .filter_map(|e| Some((e.order_line_id?, e)))
        .collect();
    // Pledges already reversed, so units and amounts together never reverse more than pledged.
    let mut reversed: HashMap<i64, i64> = HashMap::new();
    for e in model::entries_for_lines(conn, &line_ids, "charity_reversal")? {
        if let Some(line) = e.order_line_id {
            *reversed.entry(line).or_default() -= e.amount_fen;
        }
    }
    // An order refunded in full gives back the charity hours it earned (once).
    if crate::orders::model::lines_of(conn, order.id)?.iter().all(|l| l.paid().fully_refunded()) {
        model::reverse_order_hours(conn, order.id, now)?;
    }
    // A reversal names the organisation its sale was credited to (an employee who has left since
    // still takes it back from the employer credited; a sale credited before employers were,
    // to none).
    let sale_org: HashMap<i64, Option<i64>> = model::sale_orgs(conn, &line_ids)?.into_iter().collect();
    let mut drafts = Vec::new();
    for (line, quantity, value_fen) in refunded {
        let org_id = sale_org.get(&line.id).copied().unwrap_or(order.org_id);
        if *value_fen > 0 {
            drafts.push(line_draft("sale_reversal", order, org_id, line, &county, -value_fen, Some(refund_id)));
        }
        if let Some(pledge) = pledges.get(&line.id) {
            // Whole units give back their pledge; an amount, its share of the line's value.
            let due = if *quantity > 0 {
                pledge.amount_fen / line.quantity.max(1) * quantity
            } else {
                (i128::from(pledge.amount_fen) * i128::from(*value_fen) / i128::from(line.line_total_fen.max(1))) as i64
            };
            let left = pledge.amount_fen - reversed.get(&line.id).copied().unwrap_or(0);
            let back = due.min(left);
            if back > 0 {
                drafts.push(Draft {
                    project_id: pledge.project_id,
                    category: pledge.category.clone(),
                    ..line_draft("charity_reversal", order, org_id, line, &county, -back, Some(refund_id))
                });
            }
        }
    }
    append(conn, drafts, now)
}

/// Where one order line's money was credited, for its buyer's order page.
#[derive(Debug, Clone, Serialize)]
pub struct LineCredit {
    pub line_id: i64,
    /// Filled by the caller, which knows the line's product.
    pub product_zh: String,
    pub product_en: String,
    pub seq: i64,
    pub hash: String,
    pub amount: crate::money::Money,
    pub campaign_zh: String,
    pub campaign_en: String,
    pub producer_zh: String,
    pub producer_en: String,
    pub county_zh: String,
    pub county_en: String,
}

pub fn line_credits(conn: &mut AnyConnection, line_ids: &[i64]) -> Result<Vec<LineCredit>, AppError> {
    let entries = model::entries_for_lines(conn, line_ids, "sale")?;
    let ids = |f: fn(&Entry) -> Option<i64>| entries.iter().filter_map(f).collect::<Vec<i64>>();
    let names = |rows: Vec<(i64, String, String)>| -> HashMap<i64, (String, String)> {
        rows.into_iter().map(|(id, zh, en)| (id, (zh, en))).collect()
    };
    let campaigns = names(model::campaign_names(conn, &ids(|e| e.campaign_id))?);
    let producers = names(crate::catalog::model::producer_names(conn, &ids(|e| e.producer_id))?);
    let counties = names(model::county_names(conn, &ids(|e| e.county_id))?);
    let pick =
        |m: &HashMap<i64, (String, String)>, id: Option<i64>| id.and_then(|id| m.get(&id).cloned()).unwrap_or_default();
    Ok(entries
        .into_iter()
        .map(|e| {
            let (campaign_zh, campaign_en) = pick(&campaigns, e.campaign_id);
            let (producer_zh, producer_en) = pick(&producers, e.producer_id);
            let (county_zh, county_en) = pick(&counties, e.county_id);
            LineCredit {
                line_id: e.order_line_id.unwrap_or_default(),
                product_zh: String::new(),
                product_en: String::new(),
                seq: e.seq,
                amount: crate::money::Money::from_fen(e.amount_fen),
                hash: e.hash,
                campaign_zh,
                campaign_en,
                producer_zh,
                producer_en,
                county_zh,
                county_en,
            }
        })
        .collect())
}

/// Hours are kept in tenths; shown with one decimal.
pub fn hours_text(tenths: i64) -> String {
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HoursItem {
    /// e.g. "0.1"
    pub hours: String,
    /// True for hours taken back because the order was refunded in full.
    pub reversed: bool,
    pub order_no: Option<String>,
    pub donation_id: Option<i64>,
    pub at: NaiveDateTime,
}

/// Charity hours (公益时): 0.1 for each paid assistance order and each donation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CharityHours {
    /// e.g. "1.2"
    pub total_hours: String,
    pub history: Vec<HoursItem>,
}

pub fn charity_hours(conn: &mut AnyConnection, user_id: i64) -> Result<CharityHours, AppError> {
    let (earned, rows) = model::charity_hours_of(conn, user_id, 100)?;
    let (taken_back, reversals) = model::charity_reversals_of(conn, user_id, 100)?;
    let mut history: Vec<HoursItem> = rows
        .into_iter()
        .map(|(tenths, order_no, donation_id, at)| HoursItem {
            hours: hours_text(tenths),
            reversed: false,
            order_no,
            donation_id,
            at,
        })
        .chain(reversals.into_iter().map(|(tenths, order_no, at)| HoursItem {
            hours: hours_text(tenths),
            reversed: true,
            order_no: Some(order_no),
            donation_id: None,
            at,
        }))
        .collect();
    history.sort_by_key(|item| std::cmp::Reverse(item.at));
    history.truncate(100);
    Ok(CharityHours { total_hours: hours_text((earned - taken_back).max(0)), history })
}

/// The result of walking the chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub ok: bool,
    /// Entries that verified.
    pub entries: i64,
    /// The hash of the last entry that verified.
    pub head: String,
    /// The first entry that does not verify, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Bytes of canonical encoding hashed.
    #[serde(skip)]
    pub bytes: u64,
    /// Time spent reading entries from the database, as opposed to checking them.
    #[serde(skip)]
    pub read_time: std::time::Duration,
}

const PAGE: i64 = 20_000;

fn fail(v: &mut Verification, seq: i64, why: String) {
    v.ok = false;
    v.first_bad = Some(seq);
    v.reason = Some(why);
}

/// Checks pages of entries in chain order until one fails.
fn check_pages(pages: std::sync::mpsc::Receiver<Vec<Entry>>, checkpoints: &[Checkpoint]) -> Verification {
    let mut v = Verification {
        ok: true,
        entries: 0,
        head: GENESIS.to_string(),
        first_bad: None,
        reason: None,
        bytes: 0,
        read_time: std::time::Duration::ZERO,
    };
    let mut checkpoint_at: HashMap<i64, &Checkpoint> = checkpoints.iter().map(|c| (c.entries, c)).collect();
    let mut buf = String::with_capacity(192);
    for page in pages {
        for e in &page {
            let expected = v.entries + 1;
            if e.seq != expected {
                fail(&mut v, expected, format!("entry {expected} is missing"));
                return v;
            }
            if e.prev_hash != v.head {
                fail(&mut v, e.seq, format!("entry {} does not link to the hash of entry {}", e.seq, e.seq - 1));
                return v;
            }
            canonical_into(e, &mut buf);
            v.bytes += buf.len() as u64;
            if !hashes_to(&buf, &e.hash) {
                fail(&mut v, e.seq, format!("entry {} does not match its hash", e.seq));
                return v;
            }
            if let Some(c) = checkpoint_at.remove(&e.seq) {
                if c.head != e.hash {
                    let why = format!("entry {} differs from the checkpoint signed at {}", e.seq, c.signed_at);
                    fail(&mut v, e.seq, why);
                    return v;
                }
            }
            v.entries = e.seq;
            v.head.clone_from(&e.hash);
        }
    }
    v
}

/// Walks the whole chain in order: numbering without gaps, each entry linked to the previous
/// hash and hashing to its stored hash; then the head row and every signed checkpoint must
/// agree with the chain.
pub fn verify(conn: &mut AnyConnection, public_key: &VerifyingKey) -> Result<Verification, AppError> {
    let checkpoints = model::all_checkpoints(conn)?;
    // Reading rows is the slow part: one thread reads pages while another checks them.
    let mut v = std::thread::scope(|scope| -> Result<Verification, AppError> {
        let (pages, received) = std::sync::mpsc::sync_channel::<Vec<Entry>>(2);
        let checker = scope.spawn(|| check_pages(received, &checkpoints));
        let mut read_time = std::time::Duration::ZERO;
        let mut after = 0;
        loop {
            let started = std::time::Instant::now();
            let page = model::entries_after(conn, after, PAGE)?;
            read_time += started.elapsed();
            let Some(last) = page.last().map(|e| e.seq) else { break };
            after = last;
            // The checker hangs up when it finds a bad entry: nothing more to read.
            if pages.send(page).is_err() {
                break;
            }
        }
        drop(pages);
        let mut v = checker.join().map_err(|_| AppError::internal("the ledger checker failed"))?;
        v.read_time = read_time;
        Ok(v)
    })?;
    if !v.ok {
        return Ok(v);
    }
    let (head_entries, head_hash) = model::head(conn)?;
    let found = v.entries;
    if head_entries != v.entries || head_hash != v.head {
        fail(&mut v, found + 1, format!("the ledger head names {head_entries} entries but the chain has {found}"));
        return Ok(v);
    }
    if let Some(c) = checkpoints.iter().find(|c| c.entries > v.entries) {
        fail(&mut v, found + 1, format!("a checkpoint names {} entries; the chain has {found}", c.entries));
        return Ok(v);
    }
    if let Some(c) = checkpoints.iter().find(|c| !signature_ok(c, public_key)) {
        fail(&mut v, c.entries, format!("the checkpoint at entry {} is not signed by this ledger's key", c.entries));
    }
    Ok(v)
}

/// Whether entry `entries` still has hash `head`: how the holder of an old checkpoint checks
/// that the ledger only grew since.
pub fn extends(conn: &mut AnyConnection, entries: i64, head: &str) -> Result<bool, AppError> {
    if entries == 0 {
        return Ok(head == GENESIS);
    }
    Ok(model::entry(conn, entries)?.is_some_and(|e| e.hash == head))
}

/// What a checkpoint's signature covers.
pub fn checkpoint_message(entries: i64, head: &str, signed_at: NaiveDateTime) -> String {
    format!("aidmart-ledger-checkpoint-v1|{entries}|{head}|{}", signed_at.format("%Y-%m-%dT%H:%M:%SZ"))
}

fn signature_ok(c: &Checkpoint, key: &VerifyingKey) -> bool {
    let Ok(bytes) = hex::decode(&c.signature) else { return false };
    let Ok(signature) = Signature::from_slice(&bytes) else { return false };
    c.public_key == hex::encode(key.as_bytes())
        && key.verify(checkpoint_message(c.entries, &c.head, c.signed_at).as_bytes(), &signature).is_ok()
}

/// Signs the current head unless the latest checkpoint already covers it. Safe to run on
/// several instances: the checkpoint's key is its entry count.
pub fn checkpoint(
    conn: &mut AnyConnection,
    key: &SigningKey,
    now: NaiveDateTime,
) -> Result<Option<Checkpoint>, AppError> {
    crate::db::write_tx(conn, |conn| {
        let (entries, head) = model::head(conn)?;
        let latest = model::latest_checkpoint(conn)?;
        if entries == 0 || latest.is_some_and(|c| c.entries >= entries) {
            return Ok(None);
        }
        let signed_at = now.with_nanosecond(0).unwrap_or(now);
        let signature = key.sign(checkpoint_message(entries, &head, signed_at).as_bytes());
        let c = Checkpoint {
            entries,
            head,
            signed_at,
            public_key: hex::encode(key.verifying_key().as_bytes()),
            signature: hex::encode(signature.to_bytes()),
        };
        model::insert_checkpoint(conn, &c)?;
        Ok(Some(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn entry() -> Entry {
        Entry {
            seq: 1,
            kind: "sale".into(),
            campaign_id: Some(2),
            producer_id: Some(3),
            county_id: Some(4),
            org_id: None,
            project_id: None,
            channel: "public".into(),
            category: "helped_sales".into(),
            amount_fen: 3990,
            order_line_id: Some(7),
            refund_id: None,
            donation_id: None,
            created_at: NaiveDate::from_ymd_opt(2026, 11, 23).and_then(|d| d.and_hms_opt(8, 30, 0)).unwrap(),
            prev_hash: GENESIS.into(),
            hash: String::new(),
            payout_id: None,
            period_end: None,
            reference_hash: None,
        }
    }

    #[test]
    fn a_payout_covers_its_payout_period_and_reference_hash() {
        let payout = Entry {
            kind: "payout".into(),
            campaign_id: None,
            category: "payout".into(),
            channel: "bank".into(),
            order_line_id: None,
            payout_id: Some(9),
            period_end: NaiveDate::from_ymd_opt(2026, 11, 22),
            reference_hash: Some("ab".repeat(32)),
            ..entry()
        };
        assert_eq!(
            canonical(&payout),
            format!(
                "aidmart-credit-v1|1|payout||3|4|||bank|payout|3990||||9|2026-11-22|{}|2026-11-23T08:30:00Z|{GENESIS}",
                "ab".repeat(32)
            )
        );
        let other = Entry { reference_hash: Some("cd".repeat(32)), ..payout.clone() };
        assert_ne!(hash_hex(&canonical(&payout)), hash_hex(&canonical(&other)));
        let period = Entry { period_end: NaiveDate::from_ymd_opt(2026, 11, 29), ..payout.clone() };
        assert_ne!(hash_hex(&canonical(&payout)), hash_hex(&canonical(&period)));
    }

    #[test]
    fn canonical_encoding_is_stable() {
        assert_eq!(
            canonical(&entry()),
            format!("aidmart-credit-v1|1|sale|2|3|4|||public|helped_sales|3990|7|||2026-11-23T08:30:00Z|{GENESIS}")
        );
        // Computed independently: `printf '%s' '<the line above>' | sha256sum`.
        assert_eq!(hash_hex(&canonical(&entry())), "1f43c2ee5d9b83b4487e1187a4c3358118bd6a0d2eb2519e5e1336eda093767e");
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = hash_hex(&canonical(&entry()));
        let variants = [
            Entry { amount_fen: 3991, ..entry() },
            Entry { org_id: Some(1), ..entry() },
            Entry { county_id: None, ..entry() },
            Entry { prev_hash: "1".repeat(64), ..entry() },
            Entry { kind: "sale_reversal".into(), ..entry() },
        ];
        for v in variants {
            assert_ne!(hash_hex(&canonical(&v)), base);
        }
    }

    #[test]
    fn checkpoint_signatures_verify_only_with_their_key() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let at = entry().created_at;
        let c = Checkpoint {
            entries: 5,
            head: "ab".repeat(32),
            signed_at: at,
            public_key: hex::encode(key.verifying_key().as_bytes()),
            signature: hex::encode(key.sign(checkpoint_message(5, &"ab".repeat(32), at).as_bytes()).to_bytes()),
        };
        assert!(signature_ok(&c, &key.verifying_key()));
        assert!(!signature_ok(&c, &other.verifying_key()));
        assert!(!signature_ok(&Checkpoint { entries: 6, ..c.clone() }, &key.verifying_key()));
    }
}
