//! Catalog rules: what a query may ask, what "current" and "certified" mean, and the views
//! that pages and the API both show.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{Campaign, CountyRow, ProductDetail, ProductSummary};
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::money::Money;
use crate::web::i18n::Lang;

pub const PER_PAGE: i64 = 20;
const MAX_QUERY_CHARS: usize = 100;

/// Raw `?q=&county=&campaign=&page=` as sent; parsed here so each mistake gets its own message.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct ProductQuery {
    /// Search text, matched as a substring of product, producer and county names (e.g. 藜麦).
    pub q: Option<String>,
    /// County id.
    pub county: Option<String>,
    /// Campaign id.
    pub campaign: Option<String>,
    /// Page number, from 1.
    pub page: Option<String>,
}

pub struct ParsedQuery {
    /// Lower-cased and escaped for LIKE.
    pub text: Option<String>,
    pub county_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub page: i64,
}

impl ProductQuery {
    pub fn parse(&self) -> Result<ParsedQuery, AppError> {
        // Control characters cannot be typed into a search box (and PostgreSQL refuses NUL).
        let cleaned: Option<String> = self.q.as_deref().map(|q| q.chars().filter(|c| !c.is_control()).collect());
        let text = match cleaned.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            Some(q) if q.chars().count() > MAX_QUERY_CHARS => {
                return Err(AppError::bad_request("invalid_query", format!("search text is limited to {MAX_QUERY_CHARS} characters / 搜索词不能超过 {MAX_QUERY_CHARS} 个字")));
            }
            Some(q) => Some(escape_like(&q.to_lowercase())),
            None => None,
        };
        let page = match parse_id(self.page.as_deref(), "page")? {
            None => 1,
            Some(p) if p > 100_000 => {
                return Err(AppError::bad_request("invalid_query", "page is too large / 页码过大"))
            }
            Some(p) => p,
        };
        Ok(ParsedQuery {
            text,
            county_id: parse_id(self.county.as_deref(), "county")?,
            campaign_id: parse_id(self.campaign.as_deref(), "campaign")?,
            page,
        })
    }
}

/// A positive whole number, or nothing when the parameter is absent or empty.
fn parse_id(raw: Option<&str>, name: &str) -> Result<Option<i64>, AppError> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(AppError::bad_request(
                "invalid_query",
                format!("{name} must be a whole number from 1 / {name} 须为不小于 1 的整数"),
            )),
        },
    }
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Ends every search text written with pinyin, so texts written before can be found and redone.
pub const SEARCH_TEXT_VERSION: &str = "#py1";

/// The text a product is found by: its names and its producer's and county's, lower-cased, each
/// also without spaces and, when it has Chinese characters, in pinyin and pinyin initials, so
/// that 沽源藜麦 is found by `limai`, `gu yuan li mai` and `gylm` as well.
pub fn search_text(parts: &[&str]) -> String {
    let mut out: Vec<String> = Vec::new();
    for part in parts.iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()) {
        let compact = compact(&part);
        if compact != part {
            out.push(compact.clone());
        }
        if let Some((full, initials)) = pinyin_forms(&compact) {
            out.push(full);
            out.push(initials);
        }
        out.push(part);
    }
    out.dedup();
    out.push(SEARCH_TEXT_VERSION.to_string());
    out.join(" | ")
}

/// Without spaces: what a query is matched as, so spacing and case do not matter.
pub fn compact(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// (full pinyin, initials) of a text with Chinese characters; other characters are kept.
fn pinyin_forms(text: &str) -> Option<(String, String)> {
    use pinyin::ToPinyin;
    let (mut full, mut initials, mut any) = (String::new(), String::new(), false);
    for (c, p) in text.chars().zip(text.to_pinyin()) {
        match p {
            Some(p) => {
                any = true;
                full.push_str(p.plain());
                initials.push_str(p.first_letter());
            }
            None => {
                full.push(c);
                initials.push(c);
            }
        }
    }
    any.then_some((full, initials))
}

/// A certification counts only while it has a number and has not expired.
pub fn aid_certified(cert_no: Option<&str>, expires: Option<NaiveDate>, today: NaiveDate) -> bool {
    cert_no.is_some_and(|n| !n.trim().is_empty()) && expires.is_none_or(|e| e >= today)
}

pub fn campaign_is_current(c: &Campaign, today: NaiveDate) -> bool {
    c.starts_on <= today && c.ends_on.is_none_or(|end| today <= end)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductCard {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub name_zh: String,
    pub name_en: String,
    pub county_id: i64,
    pub county_zh: String,
    pub county_en: String,
    pub producer_id: i64,
    pub producer_zh: String,
    pub producer_en: String,
    /// Lowest listed SKU price, e.g. "19.90".
    #[schema(value_type = Option<String>)]
    pub price_from: Option<Money>,
    /// The lowest price one unit costs today in a running campaign (活动价), as the order
    /// prices it, when it is below `price_from`; e.g. "55.00".
    #[schema(value_type = Option<String>)]
    pub campaign_price: Option<Money>,
    pub in_stock: bool,
    pub aid_certified: bool,
    /// Units sold (已售), net of refunds.
    pub sold: i64,
    /// The first photo, e.g. "/images/3f…9a-640.jpg".
    pub image: Option<String>,
    /// Its sizes for `srcset`, e.g. "/images/3f…9a-320.jpg 320w, …"; empty without derivatives.
    pub image_srcset: Option<String>,
    /// Verified buyers' reviews: the average stars and how many.
    pub rating: Rating,
    /// Sold before harvest (预售): the latest day its pre-sale SKUs ship by.
    pub presale_ship_by: Option<NaiveDate>,
}

/// The average of a product's visible reviews (one decimal; null with none) and their count.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Rating {
    pub average: Option<f64>,
    pub count: i64,
}

impl Rating {
    pub fn of(count: i64, sum: i64) -> Rating {
        let average = (count > 0).then(|| ((sum * 10) as f64 / count as f64).round() / 10.0);
        Rating { average, count }
    }
}

impl ProductCard {
    /// The card with its campaign price (computed by the caller with the order's pricing),
    /// shown only when it is below the list price.
    pub fn with_offer(mut self, offer_fen: Option<i64>) -> ProductCard {
        self.campaign_price = offer_fen.filter(|o| self.price_from.is_some_and(|p| *o < p.fen())).map(Money::from_fen);
        self
    }

    pub fn new(s: &ProductSummary, lang: Lang, today: NaiveDate) -> ProductCard {
        let p = &s.product;
        ProductCard {
            id: p.id,
            code: p.code.clone(),
            name: lang.pick(&p.name_zh, &p.name_en).to_string(),
            name_zh: p.name_zh.clone(),
            name_en: p.name_en.clone(),
            county_id: s.county.id,
            county_zh: s.county.name_zh.clone(),
            county_en: s.county.name_en.clone(),
            producer_id: s.producer.id,
            producer_zh: s.producer.name_zh.clone(),
            producer_en: s.producer.name_en.clone(),
            price_from: s.price_from_fen.map(Money::from_fen),
            campaign_price: None,
            in_stock: s.in_stock,
            aid_certified: aid_certified(p.aid_cert_no.as_deref(), p.aid_cert_expires, today),
            sold: s.sold,
            image: s.image.as_ref().map(|i| i.picture().src),
            image_srcset: s.image.as_ref().map(|i| i.picture().srcset),
            rating: Rating::of(s.rating.0, s.rating.1),
            presale_ship_by: s.presale_ship_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<ProductCard>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountyView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub name_zh: String,
    pub name_en: String,
    pub province_code: String,
    pub province_zh: String,
    pub province_en: String,
    pub aided: bool,
    pub pairing_org_zh: Option<String>,
    pub pairing_org_en: Option<String>,
    pub description_zh: String,
    pub description_en: String,
    pub product_count: i64,
}

impl CountyView {
    pub fn new(row: CountyRow, lang: Lang) -> CountyView {
        let CountyRow { county: c, province, pairing_org, product_count } = row;
        let (pairing_org_zh, pairing_org_en) = pairing_org.map_or((None, None), |(zh, en)| (Some(zh), Some(en)));
        CountyView {
            id: c.id,
            name: lang.pick(&c.name_zh, &c.name_en).to_string(),
            code: c.code,
            name_zh: c.name_zh,
            name_en: c.name_en,
            province_code: province.code,
            province_zh: province.name_zh,
            province_en: province.name_en,
            aided: c.aided,
            pairing_org_zh,
            pairing_org_en,
            description_zh: c.description_zh,
            description_en: c.description_en,
            product_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
    pub organiser_zh: Option<String>,
    pub organiser_en: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub year_round: bool,
    /// Target amount in yuan, e.g. "2000000.00".
    #[schema(value_type = String)]
    pub target: Money,
    /// Whether today falls within the campaign's period.
    pub current: bool,
}

impl CampaignView {
    pub fn new(c: Campaign, organiser: Option<(String, String)>, lang: Lang, today: NaiveDate) -> CampaignView {
        let current = campaign_is_current(&c, today);
        let (organiser_zh, organiser_en) = organiser.map_or((None, None), |(zh, en)| (Some(zh), Some(en)));
        CampaignView {
            id: c.id,
            name: lang.pick(&c.name_zh, &c.name_en).to_string(),
            slug: c.slug,
            name_zh: c.name_zh,
            name_en: c.name_en,
            description_zh: c.description_zh,
            description_en: c.description_en,
            organiser_zh,
            organiser_en,
            starts_on: c.starts_on,
            ends_on: c.ends_on,
            year_round: c.year_round,
            target: Money::from_fen(c.target_fen),
            current,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TierView {
    pub min_quantity: i64,
    #[schema(value_type = String)]
    pub price: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub name_zh: String,
    pub name_en: String,
    pub unit_zh: String,
    pub unit_en: String,
    /// Unit price in yuan, e.g. "39.90".
    #[schema(value_type = String)]
    pub price: Money,
    pub stock: i64,
    pub in_stock: bool,
    /// The largest share of the price payable by points, from 0 to 1.
    pub max_points_share: f64,
    pub max_points_pct: i32,
    pub tiers: Vec<TierView>,
    /// A donation per unit sold that the cooperative pledges to a charity project (公益宝贝).
    pub charity: Option<CharityPledge>,
    /// Sold before harvest (预售): the window, the ship-by date and the per-buyer limit; null
    /// for a SKU sold from stock. The cap on the total sold is `stock`.
    pub presale: Option<super::presale::PresaleView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CharityPledge {
    #[schema(value_type = String)]
    pub per_unit: Money,
    pub project_slug: String,
    pub project_zh: String,
    pub project_en: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignRef {
    pub id: i64,
    pub slug: String,
    pub name_zh: String,
    pub name_en: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    #[serde(flatten)]
    pub card: ProductCard,
    pub description_zh: String,
    pub description_en: String,
    pub producer_kind: String,
    pub cert_no: Option<String>,
    pub cert_expires: Option<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductDetailView {
    #[serde(flatten)]
    pub product: ProductView,
    pub skus: Vec<SkuView>,
    pub campaigns: Vec<CampaignRef>,
    /// Image URLs, e.g. "/images/3f…9a.jpg".
    pub images: Vec<String>,
    /// The same images with their sizes, for pages.
    #[serde(skip)]
    pub pictures: Vec<super::images::Picture>,
}

impl ProductDetailView {
    pub fn new(d: ProductDetail, lang: Lang, today: NaiveDate) -> ProductDetailView {
        let card = ProductCard::new(&d.summary, lang, today);
        let p = d.summary.product;
        let skus = d
            .skus
            .into_iter()
            .map(|s| SkuView {
                presale: super::presale::view_of(&d.presales, s.id, chrono::Utc::now().naive_utc()),
                charity: d
                    .charity_projects
                    .iter()
                    .find(|p| Some(p.0) == s.charity_project_id && s.charity_donation_fen > 0)
                    .map(|p| CharityPledge {
                        per_unit: Money::from_fen(s.charity_donation_fen),
                        project_slug: p.1.clone(),
                        project_zh: p.2.clone(),
                        project_en: p.3.clone(),
                    }),
                id: s.id,
                name: lang.pick(&s.name_zh, &s.name_en).to_string(),
                tiers: d
                    .tiers
                    .iter()
                    .filter(|t| t.sku_id == s.id)
                    .map(|t| TierView { min_quantity: t.min_quantity, price: Money::from_fen(t.price_fen) })
                    .collect(),
                code: s.code,
                name_zh: s.name_zh,
                name_en: s.name_en,
                unit_zh: s.unit_zh,
                unit_en: s.unit_en,
                price: Money::from_fen(s.price_fen),
                in_stock: s.stock > 0,
                stock: s.stock,
                max_points_share: f64::from(s.max_points_pct) / 100.0,
                max_points_pct: s.max_points_pct,
            })
            .collect();
        let campaigns = d
            .campaigns
            .into_iter()
            .map(|c| CampaignRef { id: c.id, slug: c.slug, name_zh: c.name_zh, name_en: c.name_en })
            .collect();
        ProductDetailView {
            product: ProductView {
                card,
                description_zh: p.description_zh,
                description_en: p.description_en,
                producer_kind: d.summary.producer.kind,
                cert_no: p.aid_cert_no,
                cert_expires: p.aid_cert_expires,
            },
            skus,
            campaigns,
            images: d.images.iter().map(|i| i.url()).collect(),
            pictures: d.images.iter().map(|i| i.picture()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str, page: &str) -> ProductQuery {
        ProductQuery { q: Some(q.into()), page: Some(page.into()), ..Default::default() }
    }

    #[test]
    fn pinyin_and_initials_find_chinese_names() {
        let text = search_text(&["沽源藜麦", "Guyuan Quinoa", "沽源县"]);
        for q in ["limai", "lm", "gylm", "guyuan", "沽源藜麦", "guyuanquinoa", "gyx"] {
            assert!(text.contains(q), "{q} in {text}");
        }
        assert!(text.ends_with(SEARCH_TEXT_VERSION));
        assert_eq!(compact(" li  mai "), "limai");
    }

    #[test]
    fn escapes_like_wildcards() {
        assert_eq!(escape_like("50%_a\\"), "50\\%\\_a\\\\");
    }

    #[test]
    fn refuses_bad_pages_and_ids() {
        for bad in ["0", "-1", "abc", "1.5", "99999999999999999999"] {
            assert!(query("藜麦", bad).parse().is_err(), "{bad}");
        }
        let ok = query("  Quinoa ", "2").parse();
        assert!(matches!(ok, Ok(ParsedQuery { page: 2, text: Some(ref t), .. }) if t == "quinoa"));
    }

    #[test]
    fn certification_expires() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        let past = today.pred_opt();
        assert!(aid_certified(Some("X-1"), Some(today), today));
        assert!(!aid_certified(Some("X-1"), past, today));
        assert!(!aid_certified(None, None, today));
        assert!(aid_certified(Some("X-1"), None, today));
    }
}

/// One review on a product page (`GET /api/v1/products/{id}/reviews`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewView {
    pub id: i64,
    pub stars: i32,
    pub text: String,
    /// The cooperative's reply, once.
    pub reply: Option<String>,
    pub created_at: chrono::NaiveDateTime,
    /// The buyer's first character and stars (李**).
    pub buyer: String,
    /// The line was refunded (in part or in full).
    pub refunded: bool,
    /// Photo URLs.
    pub photos: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewPage {
    pub rating: Rating,
    pub items: Vec<ReviewView>,
    pub page: i64,
    pub per_page: i64,
}

pub const REVIEWS_PER_PAGE: i64 = 10;

pub fn review_page(conn: &mut AnyConnection, product_id: i64, page: i64) -> Result<ReviewPage, AppError> {
    let page = page.clamp(1, 10_000);
    if super::model::product_detail(conn, product_id)?.is_none() {
        return Err(AppError::NotFound);
    }
    let (rows, _) = super::model::reviews_of(conn, product_id, (page - 1) * REVIEWS_PER_PAGE, REVIEWS_PER_PAGE)?;
    let (count, sum) = super::model::ratings(conn, &[product_id])?.first().map_or((0, 0), |r| (r.1, r.2));
    Ok(ReviewPage {
        rating: Rating::of(count, sum),
        items: rows
            .into_iter()
            .map(|r| ReviewView {
                id: r.id,
                stars: r.stars,
                text: r.text,
                reply: r.reply,
                created_at: r.created_at,
                buyer: r.buyer_name,
                refunded: r.refunded,
                photos: r.photos,
            })
            .collect(),
        page,
        per_page: REVIEWS_PER_PAGE,
    })
}
