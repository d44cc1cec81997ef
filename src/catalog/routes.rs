//! Catalog pages and `/api/v1` catalog endpoints.

use actix_web::{get, web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::model::{self, ProductFilter, ProductSummary};
use super::service::{CampaignView, CountyView, ProductCard, ProductDetailView, ProductPage, ProductQuery, PER_PAGE};
use crate::api::ApiConfig;
use crate::app::AppState;
use crate::error::AppError;
use crate::money::Money;
use crate::orders::pricing::{unit_price_fen, SkuPrice};
use crate::web::i18n::Lang;
use crate::web::list::Items;
use crate::web::page::Page;

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(home).service(county_page).service(product_page).service(search_page);
}

pub fn api(cfg: &mut ApiConfig) {
    cfg.service(list_counties)
        .service(list_products)
        .service(get_product)
        .service(list_reviews)
        .service(list_campaigns);
}

fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

/// The lowest price one unit of the product costs today, as the order prices it
/// (`orders::pricing::unit_price_fen`): each SKU with its best running campaign's price, or,
/// on a campaign's list, with that campaign's price.
fn offer_from(s: &ProductSummary, only_campaign: Option<i64>, today: chrono::NaiveDate) -> Option<i64> {
    s.sku_prices
        .iter()
        .map(|(sku_id, price_fen)| {
            let campaign_price_fen = s
                .campaign_prices
                .iter()
                .filter(|c| c.sku_id == *sku_id && only_campaign.is_none_or(|only| only == c.campaign_id))
                .filter(|c| c.starts_on <= today && c.ends_on.is_none_or(|end| today <= end))
                .map(|c| c.price_fen)
                .min();
            let sku = SkuPrice {
                sku_id: *sku_id,
                price_fen: *price_fen,
                tiers: Vec::new(),
                campaign_price_fen,
                max_points_pct: 0,
            };
            unit_price_fen(&sku, 1)
        })
        .min()
}

/// A product card with its campaign price.
fn card(s: &ProductSummary, lang: Lang, only_campaign: Option<i64>, today: chrono::NaiveDate) -> ProductCard {
    ProductCard::new(s, lang, today).with_offer(offer_from(s, only_campaign, today))
}

async fn product_page_data(state: &AppState, query: &ProductQuery, lang: Lang) -> Result<ProductPage, AppError> {
    let parsed = query.parse()?;
    let offset = (parsed.page - 1) * PER_PAGE;
    let (rows, total) = state
        .db(move |conn| {
            let filter = ProductFilter {
                text: parsed.text.as_deref(),
                county_id: parsed.county_id,
                campaign_id: parsed.campaign_id,
            };
            Ok(model::search_products(conn, &filter, offset, PER_PAGE)?)
        })
        .await?;
    let today = today();
    let items = rows.iter().map(|s| card(s, lang, parsed.campaign_id, today)).collect();
    Ok(ProductPage { items, total, page: parsed.page, per_page: PER_PAGE })
}

/// Aided counties and other counties with products.
#[utoipa::path(tag = "catalog", responses((status = 200, body = Items<CountyView>)))]
#[get("/counties")]
async fn list_counties(state: web::Data<AppState>, lang: Lang) -> Result<web::Json<Items<CountyView>>, AppError> {
    let rows = state.db(|conn| Ok(model::counties(conn, None)?)).await?;
    Ok(web::Json(Items { items: rows.into_iter().map(|r| CountyView::new(r, lang)).collect() }))
}

/// Listed products, searchable in Chinese or English, filtered by county or campaign, 20 a page.
#[utoipa::path(tag = "catalog", params(ProductQuery), responses((status = 200, body = ProductPage), (status = 400, description = "invalid_query")))]
#[get("/products")]
async fn list_products(
    state: web::Data<AppState>,
    query: web::Query<ProductQuery>,
    lang: Lang,
) -> Result<web::Json<ProductPage>, AppError> {
    Ok(web::Json(product_page_data(&state, &query, lang).await?))
}

/// One product with its SKUs, price tiers and campaigns.
#[utoipa::path(tag = "catalog", params(("id" = i64, Path, description = "product id")), responses((status = 200, body = ProductDetailView), (status = 404, description = "not_found")))]
#[get("/products/{id}")]
async fn get_product(
    state: web::Data<AppState>,
    path: web::Path<i64>,
    lang: Lang,
) -> Result<web::Json<ProductDetailView>, AppError> {
    let id = path.into_inner();
    let detail = state.db(move |conn| Ok(model::product_detail(conn, id)?)).await?.ok_or(AppError::NotFound)?;
    Ok(web::Json(ProductDetailView::new(detail, lang, today())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReviewQuery {
    /// 1-based page (10 reviews each).
    pub page: Option<i64>,
}

/// A product's reviews from verified buyers, newest first with photos, and its rating.
#[utoipa::path(tag = "catalog", params(("id" = i64, Path, description = "product id"), ReviewQuery),
    responses((status = 200, body = super::service::ReviewPage), (status = 404, description = "not_found")))]
#[get("/products/{id}/reviews")]
async fn list_reviews(
    state: web::Data<AppState>,
    path: web::Path<i64>,
    query: web::Query<ReviewQuery>,
) -> Result<web::Json<super::service::ReviewPage>, AppError> {
    let (id, page) = (path.into_inner(), query.page.unwrap_or(1));
    Ok(web::Json(state.db(move |conn| super::service::review_page(conn, id, page)).await?))
}

/// All campaigns, current ones flagged.
#[utoipa::path(tag = "catalog", responses((status = 200, body = Items<CampaignView>)))]
#[get("/campaigns")]
async fn list_campaigns(state: web::Data<AppState>, lang: Lang) -> Result<web::Json<Items<CampaignView>>, AppError> {
    let rows = state.db(|conn| Ok(model::campaigns(conn)?)).await?;
    let today = today();
    Ok(web::Json(Items { items: rows.into_iter().map(|(c, org)| CampaignView::new(c, org, lang, today)).collect() }))
}

#[derive(Serialize)]
struct HomeData {
    campaigns: Vec<CampaignView>,
    counties: Vec<CountyView>,
    featured: Vec<ProductCard>,
}

#[get("/")]
async fn home(page: Page) -> Result<HttpResponse, AppError> {
    if let Some(hit) = page.cached()? {
        return Ok(hit);
    }
    let lang = page.lang;
    let loaded = page
        .state
        .db(|conn| {
            let filter = ProductFilter { text: None, county_id: None, campaign_id: None };
            Ok((model::campaigns(conn)?, model::counties(conn, None)?, model::search_products(conn, &filter, 0, 8)?.0))
        })
        .await?;
    let (campaigns, counties, featured) = &loaded;
    let today = today();
    let data = HomeData {
        campaigns: campaigns
            .iter()
            .map(|(c, org)| CampaignView::new(c.clone(), org.clone(), lang, today))
            .filter(|c| c.current)
            .collect(),
        counties: counties.iter().filter(|c| c.county.aided).map(|r| CountyView::new(r.clone(), lang)).collect(),
        featured: featured.iter().map(|s| card(s, lang, None, today)).collect(),
    };
    page.render_shared("pages/home", &page.t("title_home"), false, data)
}

#[derive(Serialize)]
struct ProducerItem {
    id: i64,
    code: String,
    name_zh: String,
    name_en: String,
    kind_label: String,
    /// Credited on the ledger (sales less refunds), paid out to it, and still owed to it.
    credited: Money,
    paid_out: Money,
    pending: Money,
}

#[derive(Serialize)]
struct CountyData {
    county: CountyView,
    producers: Vec<ProducerItem>,
    products: Vec<ProductCard>,
}

#[get("/counties/{id}")]
async fn county_page(page: Page, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    if let Some(hit) = page.cached()? {
        return Ok(hit);
    }
    let id = path.into_inner();
    let lang = page.lang;
    let loaded = page
        .state
        .db(move |conn| {
            let Some(county) = model::counties(conn, Some(id))?.pop() else {
                return Err(AppError::NotFound);
            };
            let filter = ProductFilter { text: None, county_id: Some(id), campaign_id: None };
            Ok((county, model::producers_in_county(conn, id)?, model::search_products(conn, &filter, 0, 100)?.0))
        })
        .await?;
    let (county, producers, products) = &loaded;
    // Money moves faster than the catalog: read fresh when the page is rendered, so it is at
    // most `AIDMART_PAGE_CACHE_MS` old.
    let totals = page.state.db(move |conn| Ok(crate::settlement::model::county_producer_totals(conn, id)?)).await?;
    let today = today();
    let data = CountyData {
        producers: producers
            .iter()
            .map(|p| {
                let t = totals.iter().find(|t| t.producer_id == p.id);
                let fen = |f: fn(&crate::settlement::model::ProducerTotals) -> i64| Money::from_fen(t.map_or(0, f));
                ProducerItem {
                    credited: fen(|t| t.credited),
                    paid_out: fen(|t| t.paid_out),
                    pending: fen(|t| t.owed),
                    kind_label: page.t(&format!("producer_kind_{}", p.kind)),
                    id: p.id,
                    code: p.code.clone(),
                    name_zh: p.name_zh.clone(),
                    name_en: p.name_en.clone(),
                }
            })
            .collect(),
        products: products.iter().map(|s| card(s, lang, None, today)).collect(),
        county: CountyView::new(county.clone(), lang),
    };
    let title = data.county.name.clone();
    page.render_shared("pages/county", &title, false, data)
}

/// The product view plus its producer kind in the page's language.
#[derive(Serialize)]
struct LabelledProduct<'a> {
    #[serde(flatten)]
    product: &'a super::service::ProductView,
    producer_kind_label: String,
}

/// A SKU with the price one unit costs today, as the order prices it: the lowest of its list
/// price and its running campaigns' prices (`orders::pricing::unit_price_fen`).
#[derive(Serialize)]
struct OfferedSku<'a> {
    #[serde(flatten)]
    sku: &'a super::service::SkuView,
    unit_price: Money,
    list_price: Money,
    discounted: bool,
    campaign_zh: Option<String>,
    campaign_en: Option<String>,
}

#[derive(Serialize)]
struct ProductData<'a> {
    product: LabelledProduct<'a>,
    skus: Vec<OfferedSku<'a>>,
    /// The first SKU on sale, whose price the bar at the bottom shows.
    bar: Option<BarPrice>,
    campaigns: &'a [super::service::CampaignRef],
    images: Vec<super::images::Picture>,
    /// The newest reviews from verified buyers.
    reviews: super::service::ReviewPage,
    /// Live and upcoming flash sales of the product.
    flash_sales: Vec<crate::flash::pages::SaleBox>,
}

#[derive(Serialize)]
struct BarPrice {
    unit_price: Money,
    list_price: Money,
    discounted: bool,
}

#[get("/products/{id}")]
async fn product_page(page: Page, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    if let Some(hit) = page.cached()? {
        return Ok(hit);
    }
    let id = path.into_inner();
    let (detail, reviews) = page
        .state
        .db(move |conn| Ok((model::product_detail(conn, id)?, super::service::review_page(conn, id, 1)?)))
        .await?;
    let detail = detail.ok_or(AppError::NotFound)?;
    let today = today();
    let running: Vec<(i64, String, String)> = detail
        .campaigns
        .iter()
        .filter(|c| super::service::campaign_is_current(c, today))
        .map(|c| (c.id, c.name_zh.clone(), c.name_en.clone()))
        .collect();
    let campaign_prices = detail.campaign_prices.clone();
    let view = ProductDetailView::new(detail, page.lang, today);
    let title = view.product.card.name.clone();
    let skus: Vec<OfferedSku> = view
        .skus
        .iter()
        .map(|sku| {
            let best = campaign_prices
                .iter()
                .filter(|(c, s, _)| *s == sku.id && running.iter().any(|r| r.0 == *c))
                .min_by_key(|(_, _, p)| *p);
            let list = sku.price.fen();
            let unit = crate::orders::pricing::unit_price_fen(
                &crate::orders::pricing::SkuPrice {
                    sku_id: sku.id,
                    price_fen: list,
                    tiers: Vec::new(),
                    campaign_price_fen: best.map(|b| b.2),
                    max_points_pct: sku.max_points_pct,
                },
                1,
            );
            let campaign = best.filter(|_| unit < list).and_then(|b| running.iter().find(|r| r.0 == b.0));
            OfferedSku {
                sku,
                unit_price: Money::from_fen(unit),
                list_price: sku.price,
                discounted: unit < list,
                campaign_zh: campaign.map(|c| c.1.clone()),
                campaign_en: campaign.map(|c| c.2.clone()),
            }
        })
        .collect();
    let bar = skus.iter().find(|s| s.sku.in_stock).map(|s| BarPrice {
        unit_price: s.unit_price,
        list_price: s.list_price,
        discounted: s.discounted,
    });
    let product = LabelledProduct {
        product: &view.product,
        producer_kind_label: page.t(&format!("producer_kind_{}", view.product.producer_kind)),
    };
    let images = view.pictures.clone();
    let flash_sales = crate::flash::pages::showing(&page.state, Some(id), None).await?;
    let data = ProductData { product, skus, bar, campaigns: &view.campaigns, images, reviews, flash_sales };
    page.render_shared("pages/product", &title, true, data)
}

#[derive(Serialize)]
struct SearchData {
    q: String,
    results: Vec<ProductCard>,
    total: i64,
    page: i64,
    prev_url: Option<String>,
    next_url: Option<String>,
}

#[get("/search")]
async fn search_page(page: Page, query: web::Query<ProductQuery>) -> Result<HttpResponse, AppError> {
    if let Some(hit) = page.cached()? {
        return Ok(hit);
    }
    let result = product_page_data(&page.state, &query, page.lang).await?;
    let q = query.q.clone().unwrap_or_default();
    let url = |p: i64| {
        format!(
            "/search?{}",
            serde_urlencoded::to_string([("q", q.as_str()), ("page", &p.to_string())]).unwrap_or_default()
        )
    };
    let data = SearchData {
        prev_url: (result.page > 1).then(|| url(result.page - 1)),
        next_url: (result.page * PER_PAGE < result.total).then(|| url(result.page + 1)),
        q: q.clone(),
        results: result.items,
        total: result.total,
        page: result.page,
    };
    page.render_shared("pages/search", &page.t("title_search"), false, data)
}
