//! Lucky draws (抽奖): an organiser (a platform admin, or an organisation's admin for draws the
//! organisation funds) opens a draw for a campaign and a period, publishing the commitment to a
//! secret seed. At close (the organiser, or the job at `closes_at`) the entries are frozen, the
//! seed revealed and the winners drawn by `procedure`, all in one transaction that first holds
//! the ledger head, then the draw's row (a conditional open → closed update): two closers,
//! however they race, draw once. Points prizes are granted as lots (an organisation's are paid
//! from its welfare budget, held when the draw is created); product prizes become gift orders
//! through the one placement pipeline.

use chrono::{Duration, NaiveDateTime};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, DrawRow, EntryRow, PrizeRow, WinnerRow};
use super::procedure::{self, EntryLine};
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::money::ExchangeRate;
use crate::orders::pricing::PricedLine;
use crate::orders::service::{self as orders, Draft, PreparedLine, Settings, Settle};
use crate::orders::status::{Category, Channel};
use crate::points;

/// Most prizes (counting each `count`) one draw hands out.
pub const MAX_PRIZES: i64 = 1000;
/// How long a points prize lasts.
const PRIZE_POINTS_DAYS: i64 = 365;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrizeInput {
    /// `points` or `product`.
    pub kind: String,
    #[serde(default)]
    pub points: Option<i64>,
    #[serde(default)]
    pub sku_id: Option<i64>,
    pub count: i64,
}

/// `POST /api/v1/draws`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawRequest {
    pub campaign_id: i64,
    pub title: String,
    /// `paid_order` (each order of the campaign paid in the period is an entry) or `donation`
    /// (each donation to the campaign's projects of at least `min_points`).
    pub entry_rule: String,
    #[serde(default)]
    pub min_points: Option<i64>,
    pub prizes: Vec<PrizeInput>,
    /// UTC, e.g. "2027-06-30T12:00:00": the period ends and the job closes the draw.
    pub closes_at: NaiveDateTime,
    /// The period's start (UTC); default: now.
    #[serde(default)]
    pub opens_at: Option<NaiveDateTime>,
    /// The organisation that funds the draw (its admins organise it); none: the platform
    /// (platform admins only).
    #[serde(default)]
    pub org_id: Option<i64>,
}

/// Who asks: their id and whether they are a platform admin.
#[derive(Debug, Clone, Copy)]
pub struct Organiser {
    pub user_id: i64,
    pub platform_admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PrizeView {
    pub position: i32,
    pub kind: String,
    pub points: Option<i64>,
    pub sku_id: Option<i64>,
    pub count: i64,
    pub name_zh: String,
    pub name_en: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntryView {
    pub number: i64,
    /// `order` or `donation`.
    pub kind: String,
    pub ref_id: i64,
    /// The first character of the entrant's name and a star, e.g. 李*.
    pub masked_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WinnerView {
    /// 1 for the first drawn.
    pub rank: i64,
    pub entry_number: i64,
    pub masked_name: String,
    /// The prize's position in `prizes`.
    pub prize_position: i32,
    /// The prize was handed over: points granted, or a gift order placed.
    pub awarded: bool,
    /// Why a product prize could not be sent (no address, out of stock …).
    pub note: Option<String>,
}

/// A draw as anyone sees it. `seed`, `ledger_head`, `entries_hash`, `entries` and `winners`
/// are filled once it is closed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DrawView {
    pub id: i64,
    pub campaign_id: i64,
    pub org_id: Option<i64>,
    pub title: String,
    pub entry_rule: String,
    pub min_points: Option<i64>,
    pub opens_at: NaiveDateTime,
    pub closes_at: NaiveDateTime,
    /// `open` or `closed`.
    pub status: String,
    /// hex(SHA-256(seed bytes)), published at creation.
    pub commitment: String,
    pub prizes: Vec<PrizeView>,
    pub closed_at: Option<NaiveDateTime>,
    /// The seed (64 hex digits), revealed at close.
    pub seed: Option<String>,
    /// The credit ledger's entry count and head hash when the draw closed.
    pub ledger_entries: Option<i64>,
    pub ledger_head: Option<String>,
    /// hex(SHA-256) of the entry lines `number|kind|ref_id|masked_name\n`.
    pub entries_hash: Option<String>,
    pub entries: Vec<EntryView>,
    pub winners: Vec<WinnerView>,
}

fn invalid(why: &str) -> AppError {
    AppError::bad_request("invalid_draw", why.to_string())
}

fn check(request: &DrawRequest, now: NaiveDateTime) -> Result<(NaiveDateTime, Option<i64>), AppError> {
    let title = request.title.trim();
    if title.is_empty() || title.chars().count() > 100 {
        return Err(invalid("title must have 1 to 100 characters / 标题须为 1 至 100 字"));
    }
    let min_points = match (request.entry_rule.as_str(), request.min_points) {
        ("paid_order", None) => None,
        ("paid_order", Some(_)) => {
            return Err(invalid("min_points applies to the donation rule only / 仅捐赠抽奖可设最低积分"))
        }
        ("donation", None) => Some(crate::donations::service::STEP),
        ("donation", Some(p)) if (1..=100_000_000).contains(&p) => Some(p),
        ("donation", Some(_)) => {
            return Err(invalid("min_points must be from 1 to 100000000 / 最低积分须为 1 至 1 亿"))
        }
        _ => return Err(invalid("entry_rule must be paid_order or donation / 参与规则须为 paid_order 或 donation")),
    };
    let opens_at = request.opens_at.unwrap_or(now);
    if request.closes_at <= now || request.closes_at > now + Duration::days(366) || opens_at >= request.closes_at {
        return Err(invalid(
            "closes_at must be in the next year and after opens_at / 截止时间须在一年内且晚于开始时间",
        ));
    }
    if request.prizes.is_empty() || request.prizes.len() > 20 {
        return Err(invalid("a draw has 1 to 20 prizes / 奖项须为 1 至 20 个"));
    }
    let mut total = 0;
    for p in &request.prizes {
        let ok = match (p.kind.as_str(), p.points, p.sku_id) {
            ("points", Some(points), None) => (1..=1_000_000).contains(&points),
            ("product", None, Some(_)) => true,
            _ => false,
        };
        if !ok || !(1..=MAX_PRIZES).contains(&p.count) {
            return Err(invalid(
                "each prize is {\"kind\":\"points\",\"points\":1-1000000} or {\"kind\":\"product\",\"sku_id\"}, with a count from 1 to 1000 / 奖项格式错误",
            ));
        }
        total += p.count;
    }
    if total > MAX_PRIZES {
        return Err(invalid("at most 1000 prizes in all / 奖品总数最多 1000"));
    }
    Ok((opens_at, min_points))
}

/// Whether the user may act for an organisation's draw: 403 otherwise, 404 if it does not exist.
fn require_org(conn: &mut AnyConnection, who: Organiser, org_id: i64) -> Result<(), AppError> {
    crate::orgs::members::require_member_admin(conn, who.user_id, org_id).map(|_| ())
}

/// `POST /api/v1/draws`.
pub fn create(
    conn: &mut AnyConnection,
    who: Organiser,
    request: &DrawRequest,
    rate: ExchangeRate,
    now: NaiveDateTime,
) -> Result<DrawView, AppError> {
    let (opens_at, min_points) = check(request, now)?;
    match request.org_id {
        Some(org_id) => require_org(conn, who, org_id)?,
        None if who.platform_admin => {}
        None => return Err(AppError::Forbidden),
    }
    if !model::campaign_exists(conn, request.campaign_id)? {
        return Err(AppError::unprocessable("unknown_campaign", "no campaign has this id / 帮扶活动不存在"));
    }
    let sku_ids: Vec<i64> = request.prizes.iter().filter_map(|p| p.sku_id).collect();
    for id in &sku_ids {
        let rows = crate::orders::model::sale_rows(conn, &[*id], Some(request.campaign_id))?;
        if !rows.iter().any(|r| r.sellable) {
            return Err(AppError::unprocessable(
                "unknown_sku",
                format!("SKU {id} does not exist or is not on sale / 商品规格不存在或已下架"),
            ));
        }
    }
    if !crate::catalog::presale::of_skus(conn, &sku_ids)?.is_empty() {
        return Err(invalid("a pre-sale SKU cannot be a prize / 预售商品不能作为奖品"));
    }
    let points: i64 = request.prizes.iter().map(|p| p.points.unwrap_or(0) * p.count).sum();
    let budget_fen = if request.org_id.is_some() { rate.value_of(points).fen() } else { 0 };
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let id = db::write_tx(conn, |conn| {
        if let Some(org_id) = request.org_id {
            if budget_fen > 0 && !crate::orgs::model::draw_budget(conn, org_id, budget_fen, now.date())? {
                return Err(AppError::conflict(
                    "budget_exceeded",
                    "the welfare budget cannot pay for these points / 福利预算不足以支付这些积分",
                ));
            }
        }
        let id = model::insert_draw(
            conn,
            &DrawRow {
                id: 0,
                campaign_id: request.campaign_id,
                org_id: request.org_id,
                created_by: who.user_id,
                title: request.title.trim().to_string(),
                entry_rule: request.entry_rule.clone(),
                min_points,
                opens_at,
                closes_at: request.closes_at,
                seed: hex::encode(seed),
                commitment: procedure::commitment(&seed),
                status: "open".into(),
                closed_at: None,
                ledger_entries: None,
                ledger_head: None,
                entries_hash: None,
                budget_fen,
                created_at: now,
            },
        )?;
        let prizes: Vec<PrizeRow> = request
            .prizes
            .iter()
            .enumerate()
            .map(|(i, p)| PrizeRow {
                draw_id: id,
                position: i as i32 + 1,
                kind: p.kind.clone(),
                points: p.points,
                sku_id: p.sku_id,
                count: p.count,
            })
            .collect();
        model::insert_prizes(conn, &prizes)?;
        Ok(id)
    })?;
    view(conn, id)
}

/// Whether `who` organises this draw: its creator, a platform admin, or an admin of the
/// organisation that funds it.
fn may_close(conn: &mut AnyConnection, who: Organiser, d: &DrawRow) -> Result<bool, AppError> {
    if who.platform_admin || who.user_id == d.created_by {
        return Ok(true);
    }
    match d.org_id {
        Some(org_id) => match require_org(conn, who, org_id) {
            Ok(()) => Ok(true),
            Err(AppError::Forbidden | AppError::NotFound) => Ok(false),
            Err(e) => Err(e),
        },
        None => Ok(false),
    }
}

/// `POST /api/v1/draws/{id}/close`: by its organiser (403 for anyone else); closing a closed
/// draw changes nothing and answers the same.
pub fn close_by(
    conn: &mut AnyConnection,
    s: &Settings,
    who: Organiser,
    id: i64,
    now: NaiveDateTime,
) -> Result<DrawView, AppError> {
    let d = model::draw(conn, id)?.ok_or(AppError::NotFound)?;
    if !may_close(conn, who, &d)? {
        return Err(AppError::Forbidden);
    }
    close(conn, s, id, now)?;
    view(conn, id)
}

/// The job: closes every open draw whose time has come. Safe on two threads or instances.
pub fn close_due(conn: &mut AnyConnection, s: &Settings, now: NaiveDateTime) -> Result<usize, AppError> {
    let mut closed = 0;
    for id in model::due(conn, now)? {
        match close(conn, s, id, now) {
            Ok(true) => closed += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(draw = id, error = %e, "draw not closed"),
        }
    }
    Ok(closed)
}

/// Closes the draw once: false when it was already closed. One transaction: the ledger head
/// (its hash goes into the draw), the draw's row (conditional update), the entries, the
/// winners, their points accounts (in id order) and the organisation's budget (the unused
/// part of what it held goes back), then gift orders through the pipeline.
pub fn close(conn: &mut AnyConnection, s: &Settings, id: i64, now: NaiveDateTime) -> Result<bool, AppError> {
    db::write_tx(conn, |conn| {
        let (ledger_entries, ledger_head) = db::lock_ledger_head(conn)?;
        let d = model::draw(conn, id)?.ok_or(AppError::NotFound)?;
        if d.status != "open" {
            return Ok(false);
        }
        let until = now.min(d.closes_at);
        let found = match d.entry_rule.as_str() {
            "donation" => model::donations_of(conn, d.campaign_id, d.min_points.unwrap_or(1), d.opens_at, until)?,
            _ => model::paid_orders(conn, d.campaign_id, d.opens_at, until)?,
        };
        let kind = if d.entry_rule == "donation" { "donation" } else { "order" };
        let entries: Vec<EntryRow> = found
            .into_iter()
            .enumerate()
            .map(|(i, (ref_id, user_id, name))| EntryRow {
                draw_id: d.id,
                number: i as i64 + 1,
                kind: kind.to_string(),
                ref_id,
                user_id,
                masked_name: procedure::mask(&name),
            })
            .collect();
        let lines = entry_lines(&entries);
        let entries_hash = procedure::entries_hash(&lines);
        if !model::mark_closed(conn, d.id, (ledger_entries, &ledger_head), &entries_hash, now)? {
            return Ok(false);
        }
        model::insert_entries(conn, &entries)?;
        let base = procedure::base(&d.seed, &ledger_head, &entries_hash)
            .ok_or_else(|| AppError::internal("draw seed or ledger head is not 32 bytes of hex"))?;
        let prizes = model::prizes(conn, d.id)?;
        let slots: Vec<&PrizeRow> =
            prizes.iter().flat_map(|p| std::iter::repeat_n(p, usize::try_from(p.count).unwrap_or(0))).collect();
        let numbers: Vec<i64> = entries.iter().map(|e| e.number).collect();
        let drawn = procedure::winners(&base, &numbers, slots.len());
        let won: Vec<(i64, &EntryRow, &PrizeRow)> = drawn
            .iter()
            .zip(&slots)
            .enumerate()
            .filter_map(|(i, (n, p))| entries.iter().find(|e| e.number == *n).map(|e| (i as i64 + 1, e, *p)))
            .collect();
        // Points accounts in id order (the lock order), then the grants.
        let mut accounts: Vec<i64> = won.iter().filter(|w| w.2.kind == "points").map(|w| w.1.user_id).collect();
        accounts.sort_unstable();
        accounts.dedup();
        for user_id in &accounts {
            points::model::lock_account(conn, *user_id)?;
        }
        let reason = format!("抽奖奖品 / draw prize: {}", d.title);
        let mut granted_points = 0;
        for (rank, entry, prize) in &won {
            let mut row = WinnerRow {
                draw_id: d.id,
                rank: *rank,
                entry_number: entry.number,
                prize_position: prize.position,
                lot_id: None,
                order_id: None,
                note: None,
            };
            if let Some(p) = prize.points {
                let account_id = points::model::user_account(conn, entry.user_id)?;
                row.lot_id = Some(points::model::grant(
                    conn,
                    &points::model::Grant {
                        account_id,
                        points: p,
                        expires_at: now + Duration::days(PRIZE_POINTS_DAYS),
                        reason: &reason,
                        granted_by: Some(d.created_by),
                        // The organisation funds its draw's points; the platform its own.
                        funder_org_id: d.org_id,
                    },
                )?);
                granted_points += p;
            }
            model::insert_winner(conn, &row)?;
        }
        if let Some(org_id) = d.org_id {
            let used = d.budget_fen.min(s.rate.value_of(granted_points).fen());
            if d.budget_fen > used {
                crate::orgs::model::give_back_budget(conn, org_id, d.budget_fen - used)?;
            }
        }
        for (rank, entry, prize) in &won {
            if let Some(sku_id) = prize.sku_id {
                let (order_id, note) = match gift_order(conn, s, &d, entry.user_id, sku_id, now) {
                    Ok(order_id) => (Some(order_id), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                model::set_gift(conn, d.id, *rank, order_id, note.as_deref())?;
            }
        }
        Ok(true)
    })
}

fn entry_lines(entries: &[EntryRow]) -> Vec<EntryLine> {
    entries
        .iter()
        .map(|e| EntryLine {
            number: e.number,
            kind: e.kind.clone(),
            ref_id: e.ref_id,
            masked_name: e.masked_name.clone(),
        })
        .collect()
}

/// A product prize: an order through the pipeline, bought by the draw's organiser at the
/// SKU's list price on account (paid at once) and shipped to the winner's default address
/// (else the address of their latest order) by the SKU's cooperative like any parcel. Run in
/// a savepoint: when it cannot be placed (no address, out of stock) nothing of it stays and
/// the reason is kept on the winner's row.
fn gift_order(
    conn: &mut AnyConnection,
    s: &Settings,
    d: &DrawRow,
    winner: i64,
    sku_id: i64,
    now: NaiveDateTime,
) -> Result<i64, AppError> {
    let address = winner_address(conn, winner)?.ok_or_else(|| {
        AppError::unprocessable("no_address", "the winner has no address on file / 中奖者没有收货地址")
    })?;
    // A SKU put on pre-sale since the draw opened would lock the organiser's row after the
    // winners' points accounts (against the lock order): such a prize waits for the organiser.
    if !crate::catalog::presale::of_skus(conn, &[sku_id])?.is_empty() {
        return Err(AppError::unprocessable("presale_prize", "the prize is on pre-sale / 奖品正在预售"));
    }
    db::write_tx(conn, |conn| {
        let rows = crate::orders::model::sale_rows(conn, &[sku_id], Some(d.campaign_id))?;
        let row = rows
            .iter()
            .find(|r| r.sellable)
            .ok_or_else(|| AppError::unprocessable("unknown_sku", "the prize is no longer on sale / 奖品已下架"))?;
        let line = PreparedLine {
            priced: PricedLine {
                sku_id,
                quantity: 1,
                unit_price_fen: row.price_fen,
                line_total_fen: row.price_fen,
                points: 0,
                points_value_fen: 0,
                cash_fen: row.price_fen,
            },
            producer_id: row.producer_id,
            max_points_pct: row.max_points_pct,
            product_id: row.product_id,
            names: [row.product_zh.clone(), row.product_en.clone(), row.sku_zh.clone(), row.sku_en.clone()],
            recipient: Some(0),
            presale: row.presale,
        };
        let buyer = orders::buyer_of(conn, d.created_by)?;
        let recipient = (
            address.name.clone(),
            address.mobile.clone(),
            format!("{} {} {} {}", address.province, address.city, address.district, address.detail),
        );
        let draft = Draft {
            buyer: &buyer,
            org_id: None,
            channel: Channel::Public,
            category: Category::HelpedSales,
            campaign_id: d.campaign_id,
            address: &address,
            lines: vec![line],
            recipients: vec![recipient],
            points: 0,
            settle: Settle::OnAccount,
            delivery_date: None,
            record: None,
            reserved: false,
            ends_transaction: false,
        };
        Ok(orders::place(conn, s, draft, now)?.order.id)
    })
}

fn winner_address(conn: &mut AnyConnection, user_id: i64) -> Result<Option<orders::Address>, AppError> {
    if let Some(a) = crate::addresses::model::default_of(conn, user_id)? {
        return Ok(Some(orders::Address {
            name: a.name,
            mobile: a.mobile,
            province: a.province,
            city: a.city,
            district: a.district,
            detail: a.detail,
        }));
    }
    match crate::orders::model::orders_of(conn, user_id, 1)?.into_iter().next() {
        Some(o) => Ok(serde_json::from_str(&o.address).ok()),
        None => Ok(None),
    }
}

/// The draw as anyone sees it (the seed only once closed).
pub fn view(conn: &mut AnyConnection, id: i64) -> Result<DrawView, AppError> {
    let d = model::draw(conn, id)?.ok_or(AppError::NotFound)?;
    let prizes = model::prizes(conn, id)?;
    let sku_ids: Vec<i64> = prizes.iter().filter_map(|p| p.sku_id).collect();
    let names = crate::orders::model::line_names(conn, &sku_ids)?;
    let prizes: Vec<PrizeView> = prizes
        .into_iter()
        .map(|p| {
            let (name_zh, name_en) = match (p.points, p.sku_id) {
                (Some(points), _) => (format!("{points} 积分"), format!("{points} points")),
                (_, Some(sku)) => names
                    .iter()
                    .find(|n| n.0 == sku)
                    .map(|n| (format!("{}（{}）", n.2, n.4), format!("{} ({})", n.3, n.5)))
                    .unwrap_or_default(),
                _ => Default::default(),
            };
            PrizeView {
                position: p.position,
                kind: p.kind,
                points: p.points,
                sku_id: p.sku_id,
                count: p.count,
                name_zh,
                name_en,
            }
        })
        .collect();
    let closed = d.status == "closed";
    let (entries, winners) = if closed {
        let entries = model::entries(conn, id)?;
        let winners = model::winners(conn, id)?
            .into_iter()
            .map(|w| WinnerView {
                rank: w.rank,
                entry_number: w.entry_number,
                masked_name: entries
                    .iter()
                    .find(|e| e.number == w.entry_number)
                    .map(|e| e.masked_name.clone())
                    .unwrap_or_default(),
                prize_position: w.prize_position,
                awarded: w.lot_id.is_some() || w.order_id.is_some(),
                note: w.note,
            })
            .collect();
        let entries = entries
            .into_iter()
            .map(|e| EntryView { number: e.number, kind: e.kind, ref_id: e.ref_id, masked_name: e.masked_name })
            .collect();
        (entries, winners)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(DrawView {
        id: d.id,
        campaign_id: d.campaign_id,
        org_id: d.org_id,
        title: d.title,
        entry_rule: d.entry_rule,
        min_points: d.min_points,
        opens_at: d.opens_at,
        closes_at: d.closes_at,
        status: d.status,
        commitment: d.commitment,
        prizes,
        closed_at: d.closed_at,
        seed: closed.then_some(d.seed),
        ledger_entries: d.ledger_entries,
        ledger_head: d.ledger_head,
        entries_hash: d.entries_hash,
        entries,
        winners,
    })
}

/// The newest draws (open and closed), for the list.
pub fn list(conn: &mut AnyConnection) -> Result<Vec<DrawView>, AppError> {
    let ids: Vec<i64> = model::recent(conn, 50)?.into_iter().map(|d| d.id).collect();
    ids.into_iter().map(|id| view(conn, id)).collect()
}
