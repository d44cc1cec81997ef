//! The public ledger (API and pages), campaign dashboards and employers' credit reports.

use actix_web::{get, web, HttpResponse};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dashboard::{self, CampaignCredits, ReportRow};
use super::model::{self, Checkpoint, Entry};
use super::{charts, service};
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::catalog::service::CampaignView;
use crate::error::AppError;
use crate::money::Money;
use crate::web::download;
use crate::web::i18n::Lang;
use crate::web::page::Page;

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(api_verify)
        .service(api_checkpoints)
        .service(api_ledger)
        .service(api_ledger_entry)
        .service(api_campaign)
        .service(api_charity_hours);
}

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(ledger_page).service(entry_page).service(campaign_page).service(report_csv).service(report_xlsx);
}

/// A ledger entry as published: amounts in yuan, and the canonical text its hash covers.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub seq: i64,
    pub kind: String,
    pub campaign_id: Option<i64>,
    pub producer_id: Option<i64>,
    pub county_id: Option<i64>,
    pub org_id: Option<i64>,
    pub project_id: Option<i64>,
    pub channel: String,
    pub category: String,
    #[schema(value_type = String)]
    pub amount: Money,
    pub order_line_id: Option<i64>,
    pub refund_id: Option<i64>,
    pub donation_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub prev_hash: String,
    pub hash: String,
    /// A payout's payout, period and SHA-256 of its bank reference (null for other kinds).
    pub payout_id: Option<i64>,
    pub period_end: Option<chrono::NaiveDate>,
    pub reference_hash: Option<String>,
    /// The exact text whose SHA-256 is `hash`.
    pub canonical: String,
}

impl From<Entry> for EntryView {
    fn from(e: Entry) -> EntryView {
        let canonical = service::canonical(&e);
        EntryView {
            seq: e.seq,
            kind: e.kind,
            campaign_id: e.campaign_id,
            producer_id: e.producer_id,
            county_id: e.county_id,
            org_id: e.org_id,
            project_id: e.project_id,
            channel: e.channel,
            category: e.category,
            amount: Money::from_fen(e.amount_fen),
            order_line_id: e.order_line_id,
            refund_id: e.refund_id,
            donation_id: e.donation_id,
            created_at: e.created_at,
            prev_hash: e.prev_hash,
            hash: e.hash,
            payout_id: e.payout_id,
            period_end: e.period_end,
            reference_hash: e.reference_hash,
            canonical,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    /// Entries after this number (default 0: from the first).
    after: Option<i64>,
    /// At most this many (1–1000, default 100).
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerPage {
    entries: Vec<EntryView>,
    /// Pass as `after` for the next page; absent on the last page.
    next_after: Option<i64>,
}

/// The credit ledger, in chain order.
#[utoipa::path(tag = "ledger", params(LedgerQuery), responses((status = 200, body = LedgerPage), (status = 400, description = "invalid_query")))]
#[get("/ledger")]
async fn api_ledger(
    state: web::Data<AppState>,
    query: web::Query<LedgerQuery>,
) -> Result<web::Json<LedgerPage>, AppError> {
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(100);
    if after < 0 || !(1..=1000).contains(&limit) {
        return Err(AppError::bad_request("invalid_query", "after must be ≥ 0 and limit 1–1000 / 参数超出范围"));
    }
    let entries = state.db(move |conn| Ok(model::entries_after(conn, after, limit)?)).await?;
    let next_after = if entries.len() as i64 == limit { entries.last().map(|e| e.seq) } else { None };
    Ok(web::Json(LedgerPage { entries: entries.into_iter().map(EntryView::from).collect(), next_after }))
}

/// One ledger entry, with the canonical text its hash covers.
#[utoipa::path(tag = "ledger", params(("seq" = i64, Path, description = "entry number")), responses((status = 200, body = EntryView), (status = 404, description = "not_found")))]
#[get("/ledger/{seq}")]
async fn api_ledger_entry(state: web::Data<AppState>, path: web::Path<i64>) -> Result<web::Json<EntryView>, AppError> {
    let seq = path.into_inner();
    let entry = state.db(move |conn| Ok(model::entry(conn, seq)?)).await?.ok_or(AppError::NotFound)?;
    Ok(web::Json(entry.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    /// With `head`: an old checkpoint's entry count, to check that the ledger only grew since.
    entries: Option<i64>,
    /// With `entries`: that checkpoint's head hash.
    head: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyAnswer {
    #[serde(flatten)]
    verification: service::Verification,
    /// Present when a checkpoint was given: whether entry `entries` still has hash `head`.
    #[serde(skip_serializing_if = "Option::is_none")]
    extends_checkpoint: Option<bool>,
}

/// Walks the whole chain and the signed checkpoints. `ok` is false, with the first bad entry,
/// if anything was changed, removed or reordered.
#[utoipa::path(tag = "ledger", params(VerifyQuery), responses((status = 200, body = VerifyAnswer), (status = 400, description = "invalid_query")))]
#[get("/ledger/verify")]
async fn api_verify(
    state: web::Data<AppState>,
    query: web::Query<VerifyQuery>,
) -> Result<web::Json<VerifyAnswer>, AppError> {
    let checkpoint = match (query.entries, query.head.clone()) {
        (Some(n), Some(h)) if n >= 0 && h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Some((n, h)),
        (None, None) => None,
        _ => {
            return Err(AppError::bad_request(
                "invalid_query",
                "give both entries (≥ 0) and head (64 hex characters), or neither / 参数不完整",
            ))
        }
    };
    let key = state.ledger_key.verifying_key();
    let (verification, extends_checkpoint) = state
        .db(move |conn| {
            let v = service::verify(conn, &key)?;
            let extends = match checkpoint {
                Some((n, h)) => Some(service::extends(conn, n, &h.to_ascii_lowercase())?),
                None => None,
            };
            Ok((v, extends))
        })
        .await?;
    Ok(web::Json(VerifyAnswer { verification, extends_checkpoint }))
}

#[derive(Serialize, ToSchema)]
pub struct CheckpointView {
    entries: i64,
    head: String,
    signed_at: NaiveDateTime,
    /// The exact text that was signed.
    message: String,
    /// Ed25519 signature, hex.
    signature: String,
}

#[derive(Serialize, ToSchema)]
pub struct Checkpoints {
    /// The Ed25519 public key that signs checkpoints, hex.
    public_key: String,
    checkpoints: Vec<CheckpointView>,
}

/// Signed checkpoints (entry count + head hash), newest first: keep one, and later check with
/// `/ledger/verify?entries=…&head=…` that the ledger only grew.
#[utoipa::path(tag = "ledger", responses((status = 200, body = Checkpoints)))]
#[get("/ledger/checkpoints")]
async fn api_checkpoints(state: web::Data<AppState>) -> Result<web::Json<Checkpoints>, AppError> {
    let rows = state.db(|conn| Ok(model::checkpoints(conn, 100)?)).await?;
    Ok(web::Json(Checkpoints {
        public_key: hex::encode(state.ledger_key.verifying_key().as_bytes()),
        checkpoints: rows.into_iter().map(checkpoint_view).collect(),
    }))
}

fn checkpoint_view(c: Checkpoint) -> CheckpointView {
    CheckpointView {
        message: service::checkpoint_message(c.entries, &c.head, c.signed_at),
        entries: c.entries,
        head: c.head,
        signed_at: c.signed_at,
        signature: c.signature,
    }
}

#[derive(Serialize, ToSchema)]
pub struct CategoryTotals {
    #[schema(value_type = String)]
    direct_purchase: Money,
    #[schema(value_type = String)]
    helped_sales: Money,
}

#[derive(Serialize, ToSchema)]
pub struct GroupTotal {
    name_zh: String,
    name_en: String,
    #[schema(value_type = String)]
    amount: Money,
}

#[derive(Serialize, ToSchema)]
pub struct CampaignDetail {
    #[serde(flatten)]
    campaign: CampaignView,
    /// Sales credited to the campaign in the ledger, net of refunds.
    #[schema(value_type = String)]
    credited_total: Money,
    /// Paid out to the cooperatives: what the campaign's lines added to settlement statements
    /// whose payout was marked paid.
    #[schema(value_type = String)]
    paid_out: Money,
    /// Earned by the cooperatives (value less fees and refunds) and not yet paid out.
    #[schema(value_type = String)]
    pending: Money,
    /// Progress towards the target, in percent (0 when there is no target).
    progress_pct: f64,
    by_category: CategoryTotals,
    by_county: Vec<GroupTotal>,
    by_cooperative: Vec<GroupTotal>,
    by_organisation: Vec<GroupTotal>,
    by_channel: Vec<GroupTotal>,
    by_month: Vec<GroupTotal>,
}

fn groups(list: &[dashboard::Group]) -> Vec<GroupTotal> {
    list.iter()
        .map(|(zh, en, fen)| GroupTotal { name_zh: zh.clone(), name_en: en.clone(), amount: Money::from_fen(*fen) })
        .collect()
}

fn progress(credited_fen: i64, target_fen: i64) -> f64 {
    if target_fen <= 0 {
        return 0.0;
    }
    (credited_fen as f64 * 1000.0 / target_fen as f64).round() / 10.0
}

async fn load_campaign(
    state: &AppState,
    find: impl Fn(&crate::catalog::model::Campaign) -> bool + Send + 'static,
    lang: Lang,
) -> Result<(CampaignView, CampaignCredits), AppError> {
    let (campaign, organiser, credits) = state
        .db(move |conn| {
            let (campaign, organiser) =
                crate::catalog::model::campaigns(conn)?.into_iter().find(|(c, _)| find(c)).ok_or(AppError::NotFound)?;
            let credits = dashboard::campaign_credits(conn, campaign.id)?;
            Ok((campaign, organiser, credits))
        })
        .await?;
    Ok((CampaignView::new(campaign, organiser, lang, Utc::now().date_naive()), credits))
}

fn detail(campaign: CampaignView, c: &CampaignCredits, settled: (Money, Money)) -> CampaignDetail {
    let months: Vec<dashboard::Group> = c.by_month.iter().map(|(m, fen)| (m.clone(), m.clone(), *fen)).collect();
    CampaignDetail {
        credited_total: Money::from_fen(c.credited_fen),
        paid_out: settled.0,
        pending: settled.1,
        progress_pct: progress(c.credited_fen, campaign.target.fen()),
        by_category: CategoryTotals {
            direct_purchase: Money::from_fen(c.direct_purchase_fen),
            helped_sales: Money::from_fen(c.helped_sales_fen),
        },
        by_county: groups(&c.by_county),
        by_cooperative: groups(&c.by_producer),
        by_organisation: groups(&c.by_org),
        by_channel: groups(&c.by_channel),
        by_month: groups(&months),
        campaign,
    }
}

/// One campaign with its credited total, target and breakdowns, from the ledger.
#[utoipa::path(tag = "ledger", params(("id" = i64, Path, description = "campaign id")), responses((status = 200, body = CampaignDetail), (status = 404, description = "not_found")))]
#[get("/campaigns/{id}")]
async fn api_campaign(
    state: web::Data<AppState>,
    path: web::Path<i64>,
    lang: Lang,
) -> Result<web::Json<CampaignDetail>, AppError> {
    let id = path.into_inner();
    let (campaign, credits) = load_campaign(&state, move |c| c.id == id, lang).await?;
    let settled = state.db(move |conn| crate::settlement::service::campaign_totals(conn, id)).await?;
    Ok(web::Json(detail(campaign, &credits, settled)))
}

#[derive(Serialize)]
struct CampaignPageData {
    campaign: CampaignDetail,
    /// What the campaign sells, at its prices.
    offers: Vec<super::campaign_offers::Offer>,
    /// Live and upcoming flash sales credited to the campaign.
    flash_sales: Vec<crate::flash::pages::SaleBox>,
    has_target: bool,
    progress_width: f64,
    category_chart: charts::BarChart,
    county_chart: charts::BarChart,
    producer_chart: charts::BarChart,
    org_chart: charts::BarChart,
    channel_chart: charts::BarChart,
    month_chart: charts::ColumnChart,
    report_from: String,
    report_to: String,
}

#[get("/campaigns/{slug}")]
async fn campaign_page(page: Page, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    if let Some(hit) = page.cached()? {
        return Ok(hit);
    }
    let slug = path.into_inner();
    let (campaign, c) = load_campaign(&page.state, move |c| c.slug == slug, page.lang).await?;
    let title = campaign.name.clone();
    let offers = super::campaign_offers::offers(&page.state, campaign.id).await?;
    let id = campaign.id;
    let flash_sales = crate::flash::pages::showing(&page.state, None, Some(id)).await?;
    let settled = page.state.db(move |conn| crate::settlement::service::campaign_totals(conn, id)).await?;
    let detail = detail(campaign, &c, settled);
    let (zh_direct, en_direct) = ("直接采购", "Direct purchase");
    let (zh_helped, en_helped) = ("帮助销售", "Helped sales");
    let today = Utc::now().date_naive();
    let data = CampaignPageData {
        has_target: detail.campaign.target.fen() > 0,
        progress_width: detail.progress_pct.clamp(0.0, 100.0),
        category_chart: charts::bars(vec![
            (zh_direct.into(), en_direct.into(), c.direct_purchase_fen),
            (zh_helped.into(), en_helped.into(), c.helped_sales_fen),
        ]),
        county_chart: charts::bars(c.by_county.clone()),
        producer_chart: charts::bars(c.by_producer.clone()),
        org_chart: charts::bars(c.by_org.clone()),
        channel_chart: charts::bars(c.by_channel.clone()),
        month_chart: charts::columns(c.by_month.clone()),
        report_from: format!("{}-01-01", today.year()),
        report_to: today.to_string(),
        campaign: detail,
        offers,
        flash_sales,
    };
    page.render_shared("pages/campaign", &title, true, data)
}

#[derive(Serialize)]
struct LedgerRow {
    seq: i64,
    kind_label: String,
    amount: Money,
    created_at: NaiveDateTime,
    hash: String,
    county_zh: Option<String>,
    county_en: Option<String>,
    producer_zh: Option<String>,
    producer_en: Option<String>,
}

#[derive(Serialize)]
struct LedgerPageData {
    entries: Vec<LedgerRow>,
    head_entries: i64,
    head: String,
    public_key: String,
    checkpoints: Vec<CheckpointView>,
    page: i64,
    pages: i64,
    prev_page: Option<i64>,
    next_page: Option<i64>,
}

/// Entries on one page of `/ledger`.
const LEDGER_PAGE_SIZE: i64 = 50;

#[derive(Deserialize)]
struct LedgerPageQuery {
    page: Option<String>,
}

/// The entries, newest first, 50 a page, with their county and cooperative, and the
/// checkpoints, with links for anyone to verify.
#[get("/ledger")]
async fn ledger_page(page: Page, query: web::Query<LedgerPageQuery>) -> Result<HttpResponse, AppError> {
    let wanted = match query.page.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => 1,
        Some(p) => p.parse::<i64>().ok().filter(|n| (1..=10_000_000).contains(n)).ok_or_else(|| {
            AppError::bad_request("invalid_query", "page must be a whole number from 1 / 页码须为不小于 1 的整数")
        })?,
    };
    let ((entries, head), mut recent, checkpoints, counties, producers) = page
        .state
        .db(move |conn| {
            let head = model::head(conn)?;
            // Page 1 ends at the head; page n ends 50 × (n - 1) entries before it.
            let last = head.0 - (wanted - 1) * LEDGER_PAGE_SIZE;
            let first_after = (last - LEDGER_PAGE_SIZE).max(0);
            let recent =
                if last > 0 { model::entries_after(conn, first_after, last - first_after)? } else { Vec::new() };
            let county_ids: Vec<i64> = recent.iter().filter_map(|e| e.county_id).collect();
            let producer_ids: Vec<i64> = recent.iter().filter_map(|e| e.producer_id).collect();
            Ok((
                head,
                recent,
                model::checkpoints(conn, 10)?,
                model::county_names(conn, &county_ids)?,
                crate::catalog::model::producer_names(conn, &producer_ids)?,
            ))
        })
        .await?;
    let pages = ((entries + LEDGER_PAGE_SIZE - 1) / LEDGER_PAGE_SIZE).max(1);
    if wanted > pages {
        return Err(AppError::NotFound);
    }
    recent.reverse();
    let name = |names: &[(i64, String, String)], id: Option<i64>| {
        names.iter().find(|n| Some(n.0) == id).map(|n| (n.1.clone(), n.2.clone())).unzip()
    };
    let data = LedgerPageData {
        entries: recent
            .into_iter()
            .map(|e| {
                let (county_zh, county_en) = name(&counties, e.county_id);
                let (producer_zh, producer_en) = name(&producers, e.producer_id);
                LedgerRow {
                    seq: e.seq,
                    kind_label: page.t(&format!("ledger_kind_{}", e.kind)),
                    amount: Money::from_fen(e.amount_fen),
                    created_at: e.created_at,
                    hash: e.hash,
                    county_zh,
                    county_en,
                    producer_zh,
                    producer_en,
                }
            })
            .collect(),
        head_entries: entries,
        head,
        public_key: hex::encode(page.state.ledger_key.verifying_key().as_bytes()),
        checkpoints: checkpoints.into_iter().map(checkpoint_view).collect(),
        page: wanted,
        pages,
        prev_page: (wanted > 1).then_some(wanted - 1),
        next_page: (wanted < pages).then_some(wanted + 1),
    };
    page.render("pages/ledger", &page.t("ledger_title"), false, data)
}

#[derive(Serialize)]
struct EntryPageData {
    kind_label: String,
    category_label: String,
    entry: EntryView,
    recomputed: String,
    hash_ok: bool,
    link_ok: bool,
    campaign_zh: String,
    campaign_en: String,
    producer_zh: String,
    producer_en: String,
    county_zh: String,
    county_en: String,
}

/// One entry: its fields, its canonical text, its hash recomputed here, and whether it links
/// to the entry before it.
#[get("/ledger/{seq}")]
async fn entry_page(page: Page, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let seq = path.into_inner();
    let (entry, prev, names) = page
        .state
        .db(move |conn| {
            let entry = model::entry(conn, seq)?.ok_or(AppError::NotFound)?;
            let prev =
                if seq > 1 { model::entry(conn, seq - 1)?.map(|p| p.hash) } else { Some(service::GENESIS.into()) };
            let campaign = model::campaign_names(conn, &entry.campaign_id.into_iter().collect::<Vec<_>>())?.pop();
            let producer =
                crate::catalog::model::producer_names(conn, &entry.producer_id.into_iter().collect::<Vec<_>>())?.pop();
            let county = model::county_names(conn, &entry.county_id.into_iter().collect::<Vec<_>>())?.pop();
            Ok((entry, prev, [campaign, producer, county]))
        })
        .await?;
    let recomputed = service::hash_hex(&service::canonical(&entry));
    let [campaign, producer, county] = names.map(|n| n.map(|(_, zh, en)| (zh, en)).unwrap_or_default());
    let data = EntryPageData {
        kind_label: page.t(&format!("ledger_kind_{}", entry.kind)),
        category_label: page.t(&format!("category_{}", entry.category)),
        hash_ok: recomputed == entry.hash,
        link_ok: prev.as_deref() == Some(entry.prev_hash.as_str()),
        recomputed,
        entry: entry.into(),
        campaign_zh: campaign.0,
        campaign_en: campaign.1,
        producer_zh: producer.0,
        producer_en: producer.1,
        county_zh: county.0,
        county_en: county.1,
    };
    page.render("pages/ledger_entry", &format!("#{seq}"), false, data)
}

/// My charity hours (公益时) and where they came from, newest first.
#[utoipa::path(tag = "ledger", responses((status = 200, body = service::CharityHours), (status = 401, description = "unauthenticated")))]
#[get("/me/charity-hours")]
async fn api_charity_hours(
    state: web::Data<AppState>,
    session: actix_session::Session,
) -> Result<web::Json<service::CharityHours>, AppError> {
    let me = crate::accounts::routes::require_me(&state, &session).await?;
    Ok(web::Json(state.db(move |conn| service::charity_hours(conn, me.id)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
}

fn report_period(q: &ReportQuery) -> Result<(NaiveDate, NaiveDate), AppError> {
    let today = Utc::now().date_naive();
    let parse = |v: &Option<String>, default: NaiveDate| match v.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
            AppError::bad_request("invalid_query", format!("'{s}' is not a date like 2026-11-23 / 日期格式错误"))
        }),
    };
    let from = parse(&q.from, NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today))?;
    let to = parse(&q.to, today)?;
    if to < from || (to - from).num_days() > 3660 {
        return Err(AppError::bad_request(
            "invalid_query",
            "the period must run forwards, at most ten years / 起止日期无效",
        ));
    }
    Ok((from, to))
}

async fn report_rows(state: &AppState, q: &ReportQuery) -> Result<(NaiveDate, NaiveDate, Vec<ReportRow>), AppError> {
    let (from, to) = report_period(q)?;
    let rows = state.db(move |conn| dashboard::org_report(conn, from, to)).await?;
    Ok((from, to, rows))
}

const REPORT_HEADER: [&str; 8] = [
    "月份 month",
    "购买方 buyer",
    "buyer (en)",
    "活动 campaign",
    "campaign (en)",
    "直接采购 direct purchase",
    "帮助销售 helped sales",
    "合计 total",
];

/// Credited sales by month, buyer organisation and campaign, as CSV (UTF-8 with BOM, so
/// spreadsheet programs read the Chinese correctly).
#[get("/reports/credits.csv")]
async fn report_csv(state: web::Data<AppState>, query: web::Query<ReportQuery>) -> Result<HttpResponse, AppError> {
    let (from, to, rows) = report_rows(&state, &query).await?;
    let mut out = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    out.write_record(REPORT_HEADER).map_err(AppError::internal)?;
    for r in &rows {
        out.write_record([
            r.month.clone(),
            r.buyer_zh.clone(),
            r.buyer_en.clone(),
            r.campaign_zh.clone(),
            r.campaign_en.clone(),
            Money::from_fen(r.direct_purchase_fen).to_string(),
            Money::from_fen(r.helped_sales_fen).to_string(),
            Money::from_fen(r.direct_purchase_fen + r.helped_sales_fen).to_string(),
        ])
        .map_err(AppError::internal)?;
    }
    let body = out.into_inner().map_err(AppError::internal)?;
    Ok(download::csv(&format!("aidmart-credits-{from}-{to}.csv"), body))
}

/// The same report as an XLSX workbook, amounts as numbers in yuan.
#[get("/reports/credits.xlsx")]
async fn report_xlsx(state: web::Data<AppState>, query: web::Query<ReportQuery>) -> Result<HttpResponse, AppError> {
    let (from, to, rows) = report_rows(&state, &query).await?;
    let body = web::block(move || report_workbook(&rows)).await.map_err(AppError::internal)??;
    Ok(download::xlsx(&format!("aidmart-credits-{from}-{to}.xlsx"), body))
}

fn report_workbook(rows: &[ReportRow]) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let bold = Format::new().set_bold();
    let yuan = Format::new().set_num_format("#,##0.00");
    let x = |e: rust_xlsxwriter::XlsxError| AppError::internal(e);
    for (col, title) in REPORT_HEADER.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *title, &bold).map_err(x)?;
    }
    let amount = |fen: i64| Money::from_fen(fen).amount().try_into().unwrap_or(0.0_f64);
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        for (col, text) in [&r.month, &r.buyer_zh, &r.buyer_en, &r.campaign_zh, &r.campaign_en].iter().enumerate() {
            sheet.write_string(row, col as u16, text.as_str()).map_err(x)?;
        }
        sheet.write_number_with_format(row, 5, amount(r.direct_purchase_fen), &yuan).map_err(x)?;
        sheet.write_number_with_format(row, 6, amount(r.helped_sales_fen), &yuan).map_err(x)?;
        sheet.write_number_with_format(row, 7, amount(r.direct_purchase_fen + r.helped_sales_fen), &yuan).map_err(x)?;
    }
    sheet.set_column_width(1, 24).map_err(x)?;
    sheet.set_column_width(3, 24).map_err(x)?;
    book.save_to_buffer().map_err(x)
}
