//! Catalog rows and the queries that read them.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::images::StoredImage;
use crate::db::schema::{
    campaign_prices, campaign_products, campaigns, counties, donation_projects, organisations, producer_managers,
    producers, product_images, products, provinces, sku_price_tiers, skus, users,
};
use crate::db::AnyConnection;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = provinces)]
pub struct Province {
    pub id: i64,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = counties)]
pub struct County {
    pub id: i64,
    pub code: String,
    pub province_id: i64,
    pub name_zh: String,
    pub name_en: String,
    pub aided: bool,
    pub pairing_org_id: Option<i64>,
    pub description_zh: String,
    pub description_en: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = producers)]
pub struct Producer {
    pub id: i64,
    pub code: String,
    pub county_id: i64,
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = products)]
pub struct Product {
    pub id: i64,
    pub code: String,
    pub producer_id: i64,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
    pub aid_cert_no: Option<String>,
    pub aid_cert_expires: Option<NaiveDate>,
    pub listed: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = skus)]
pub struct Sku {
    pub id: i64,
    pub code: String,
    pub product_id: i64,
    pub name_zh: String,
    pub name_en: String,
    pub unit_zh: String,
    pub unit_en: String,
    pub price_fen: i64,
    pub stock: i64,
    pub max_points_pct: i32,
    pub listed: bool,
    pub charity_donation_fen: i64,
    pub charity_project_id: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sku_price_tiers)]
pub struct PriceTier {
    pub sku_id: i64,
    pub min_quantity: i64,
    pub price_fen: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = campaigns)]
pub struct Campaign {
    pub id: i64,
    pub slug: String,
    pub organiser_org_id: Option<i64>,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub year_round: bool,
    pub target_fen: i64,
}

/// What a product list shows of one product: the product with its producer, county and the
/// lowest listed SKU price.
#[derive(Debug, Clone)]
pub struct ProductSummary {
    pub product: Product,
    pub producer: Producer,
    pub county: County,
    pub price_from_fen: Option<i64>,
    pub in_stock: bool,
    /// Units sold and paid for, net of refunds (已售).
    pub sold: i64,
    /// The first image.
    pub image: Option<StoredImage>,
    /// (count, sum of stars) of the product's visible reviews.
    pub rating: (i64, i64),
    /// (sku_id, list price in fen) of the listed SKUs.
    pub sku_prices: Vec<(i64, i64)>,
    /// The SKUs' campaign prices, with each campaign's period.
    pub campaign_prices: Vec<CampaignSkuPrice>,
    /// The latest ship-by date of its SKUs on pre-sale (预售), if any.
    pub presale_ship_by: Option<NaiveDate>,
}

/// A campaign's price for a SKU of a product the campaign includes, with the campaign's period,
/// so a list can tell which campaigns are running today.
#[derive(Debug, Clone, Queryable)]
pub struct CampaignSkuPrice {
    pub campaign_id: i64,
    pub sku_id: i64,
    pub price_fen: i64,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
}

/// The campaign prices of the SKUs, for campaigns that include the SKU's product.
pub fn campaign_sku_prices(conn: &mut AnyConnection, sku_ids: &[i64]) -> QueryResult<Vec<CampaignSkuPrice>> {
    if sku_ids.is_empty() {
        return Ok(Vec::new());
    }
    campaign_prices::table
        .inner_join(campaigns::table)
        .inner_join(skus::table)
        .inner_join(
            campaign_products::table.on(campaign_products::campaign_id
                .eq(campaign_prices::campaign_id)
                .and(campaign_products::product_id.eq(skus::product_id))),
        )
        .filter(campaign_prices::sku_id.eq_any(sku_ids))
        .order((campaign_prices::sku_id, campaign_prices::campaign_id))
        .select((
            campaign_prices::campaign_id,
            campaign_prices::sku_id,
            campaign_prices::price_fen,
            campaigns::starts_on,
            campaigns::ends_on,
        ))
        .load(conn)
}

/// An organisation's names (zh, en), when there is one.
pub type OrgNames = Option<(String, String)>;

/// A county with what its pages show beside it.
#[derive(Debug, Clone)]
pub struct CountyRow {
    pub county: County,
    pub province: Province,
    pub pairing_org: OrgNames,
    pub product_count: i64,
}

pub struct ProductFilter<'a> {
    /// Lower-cased, LIKE-escaped search text.
    pub text: Option<&'a str>,
    pub county_id: Option<i64>,
    pub campaign_id: Option<i64>,
}

pub fn provinces(conn: &mut AnyConnection) -> QueryResult<Vec<Province>> {
    provinces::table.order(provinces::code).select(Province::as_select()).load(conn)
}

pub fn counties(conn: &mut AnyConnection, only_id: Option<i64>) -> QueryResult<Vec<CountyRow>> {
    let mut query = counties::table
        .inner_join(provinces::table)
        .left_join(organisations::table)
        .select((
            County::as_select(),
            Province::as_select(),
            (organisations::name_zh, organisations::name_en).nullable(),
        ))
        .order(counties::code)
        .into_boxed();
    if let Some(id) = only_id {
        query = query.filter(counties::id.eq(id));
    }
    let rows: Vec<(County, Province, OrgNames)> = query.load(conn)?;
    let counts: Vec<(i64, i64)> = products::table
        .inner_join(producers::table)
        .filter(products::listed.eq(true))
        .group_by(producers::county_id)
        .select((producers::county_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(county, province, pairing_org)| {
            let product_count = counts.iter().find(|(id, _)| *id == county.id).map_or(0, |(_, n)| *n);
            CountyRow { county, province, pairing_org, product_count }
        })
        .collect())
}

pub fn producers_in_county(conn: &mut AnyConnection, county_id: i64) -> QueryResult<Vec<Producer>> {
    producers::table
        .filter(producers::county_id.eq(county_id))
        .order(producers::code)
        .select(Producer::as_select())
        .load(conn)
}

/// One page of listed products matching the filter, and how many match in all.
pub fn search_products(
    conn: &mut AnyConnection,
    filter: &ProductFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<ProductSummary>, i64)> {
    // Boxed queries cannot be cloned, so the filter is applied by one closure to both queries.
    let filtered = || {
        let mut q = products::table
            .inner_join(producers::table.inner_join(counties::table))
            .filter(products::listed.eq(true))
            .into_boxed();
        if let Some(text) = filter.text {
            // Names (and their pinyin) without spaces, or the description as typed.
            let compact = super::service::compact(text);
            q = q.filter(
                products::search_text
                    .like(format!("%{compact}%"))
                    .escape('\\')
                    .or(lower(products::description_zh).like(format!("%{text}%")).escape('\\'))
                    .or(lower(products::description_en).like(format!("%{text}%")).escape('\\')),
            );
        }
        if let Some(county_id) = filter.county_id {
            q = q.filter(producers::county_id.eq(county_id));
        }
        if let Some(campaign_id) = filter.campaign_id {
            let in_campaign = campaign_products::table
                .filter(campaign_products::campaign_id.eq(campaign_id))
                .select(campaign_products::product_id);
            q = q.filter(products::id.eq_any(in_campaign));
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn)?;
    // A name match comes before a match in the description only.
    let name_match = format!("%{}%", filter.text.map(super::service::compact).unwrap_or_default());
    let rows: Vec<(Product, Producer, County)> = filtered()
        .select((Product::as_select(), Producer::as_select(), County::as_select()))
        .order((products::search_text.like(name_match).escape('\\').desc(), products::id))
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|(p, _, _)| p.id).collect();
    let prices: Vec<(i64, i64, i64, i64)> = skus::table
        .filter(skus::product_id.eq_any(&ids))
        .filter(skus::listed.eq(true))
        .select((skus::product_id, skus::price_fen, skus::stock, skus::id))
        .load(conn)?;
    let sold = sold_counts(conn, &ids)?;
    let images = first_images(conn, &ids)?;
    let ratings = ratings(conn, &ids)?;
    let sku_ids: Vec<i64> = prices.iter().map(|p| p.3).collect();
    let offers = campaign_sku_prices(conn, &sku_ids)?;
    let presales = super::presale::of_skus(conn, &sku_ids)?;
    let items = rows
        .into_iter()
        .map(|(product, producer, county)| {
            let own = prices.iter().filter(|(pid, _, _, _)| *pid == product.id);
            let price_from_fen = own.clone().map(|(_, price, _, _)| *price).min();
            let in_stock = own.clone().any(|(_, _, stock, _)| *stock > 0);
            let sold = sold.iter().find(|s| s.0 == product.id).map_or(0, |s| s.1);
            let image = images.iter().find(|i| i.0 == product.id).map(|i| i.1.clone());
            let sku_prices: Vec<(i64, i64)> = own.map(|(_, price, _, id)| (*id, *price)).collect();
            let rating = ratings.iter().find(|r| r.0 == product.id).map_or((0, 0), |r| (r.1, r.2));
            let campaign_prices =
                offers.iter().filter(|o| sku_prices.iter().any(|s| s.0 == o.sku_id)).cloned().collect();
            let presale_ship_by =
                presales.iter().filter(|t| sku_prices.iter().any(|s| s.0 == t.sku_id)).map(|t| t.ship_by).max();
            ProductSummary {
                presale_ship_by,
                product,
                producer,
                county,
                price_from_fen,
                in_stock,
                sold,
                image,
                rating,
                sku_prices,
                campaign_prices,
            }
        })
        .collect();
    Ok((items, total))
}

/// A listed product with everything its page shows.
#[derive(Debug, Clone)]
pub struct ProductDetail {
    pub summary: ProductSummary,
    pub skus: Vec<Sku>,
    pub tiers: Vec<PriceTier>,
    pub campaigns: Vec<Campaign>,
    /// (id, slug, zh, en) of the charity projects the SKUs pledge to.
    pub charity_projects: Vec<(i64, String, String, String)>,
    /// The product's images, first uploaded first.
    pub images: Vec<StoredImage>,
    /// (campaign_id, sku_id, price_fen): the campaign prices of the SKUs.
    pub campaign_prices: Vec<(i64, i64, i64)>,
    /// The pre-sale terms of the SKUs on pre-sale.
    pub presales: Vec<super::presale::PresaleRow>,
}

pub fn product_detail(conn: &mut AnyConnection, product_id: i64) -> QueryResult<Option<ProductDetail>> {
    let row: Option<(Product, Producer, County)> = products::table
        .inner_join(producers::table.inner_join(counties::table))
        .filter(products::id.eq(product_id))
        .filter(products::listed.eq(true))
        .select((Product::as_select(), Producer::as_select(), County::as_select()))
        .first(conn)
        .optional()?;
    let Some((product, producer, county)) = row else {
        return Ok(None);
    };
    let skus: Vec<Sku> = skus::table
        .filter(skus::product_id.eq(product.id))
        .filter(skus::listed.eq(true))
        .order(skus::price_fen)
        .select(Sku::as_select())
        .load(conn)?;
    let sku_ids: Vec<i64> = skus.iter().map(|s| s.id).collect();
    let tiers = sku_price_tiers::table
        .filter(sku_price_tiers::sku_id.eq_any(&sku_ids))
        .order((sku_price_tiers::sku_id, sku_price_tiers::min_quantity))
        .select(PriceTier::as_select())
        .load(conn)?;
    let campaigns = campaigns::table
        .inner_join(campaign_products::table)
        .filter(campaign_products::product_id.eq(product.id))
        .order(campaigns::id)
        .select(Campaign::as_select())
        .load(conn)?;
    let project_ids: Vec<i64> = skus.iter().filter_map(|s| s.charity_project_id).collect();
    let charity_projects = donation_projects::table
        .filter(donation_projects::id.eq_any(&project_ids))
        .select((
            donation_projects::id,
            donation_projects::slug,
            donation_projects::name_zh,
            donation_projects::name_en,
        ))
        .load(conn)?;
    let images = product_images::table
        .filter(product_images::product_id.eq(product.id))
        .order(product_images::id)
        .select((product_images::file_name, product_images::width, product_images::widths))
        .load::<(String, i32, String)>(conn)?
        .into_iter()
        .map(|(file_name, width, widths)| StoredImage { file_name, width, widths })
        .collect::<Vec<_>>();
    let campaign_prices = campaign_prices::table
        .filter(campaign_prices::sku_id.eq_any(&sku_ids))
        .select((campaign_prices::campaign_id, campaign_prices::sku_id, campaign_prices::price_fen))
        .load(conn)?;
    let price_from_fen = skus.iter().map(|s| s.price_fen).min();
    let in_stock = skus.iter().any(|s| s.stock > 0);
    let sold = sold_counts(conn, &[product.id])?.first().map_or(0, |s| s.1);
    let image = images.first().cloned();
    let sku_prices = skus.iter().map(|s| (s.id, s.price_fen)).collect();
    let offers = campaign_sku_prices(conn, &sku_ids)?;
    let rating = ratings(conn, &[product.id])?.first().map_or((0, 0), |r| (r.1, r.2));
    let presales = super::presale::of_skus(conn, &sku_ids)?;
    Ok(Some(ProductDetail {
        campaign_prices,
        summary: ProductSummary {
            presale_ship_by: presales.iter().map(|t| t.ship_by).max(),
            product,
            producer,
            county,
            price_from_fen,
            in_stock,
            sold,
            image,
            rating,
            sku_prices,
            campaign_prices: offers,
        },
        skus,
        tiers,
        campaigns,
        charity_projects,
        images,
        presales,
    }))
}

pub fn campaigns(conn: &mut AnyConnection) -> QueryResult<Vec<(Campaign, OrgNames)>> {
    campaigns::table
        .left_join(organisations::table)
        .order((campaigns::year_round, campaigns::starts_on))
        .select((Campaign::as_select(), (organisations::name_zh, organisations::name_en).nullable()))
        .load(conn)
}

/// (product_id, image) of each product's first image, for cards, carts and orders.
pub fn first_images(conn: &mut AnyConnection, product_ids: &[i64]) -> QueryResult<Vec<(i64, StoredImage)>> {
    let rows: Vec<(i64, String, i32, String)> = product_images::table
        .filter(product_images::product_id.eq_any(product_ids))
        .order((product_images::product_id, product_images::id))
        .select((product_images::product_id, product_images::file_name, product_images::width, product_images::widths))
        .load(conn)?;
    let mut out: Vec<(i64, StoredImage)> = Vec::new();
    for (product_id, file_name, width, widths) in rows {
        if out.last().is_none_or(|l| l.0 != product_id) {
            out.push((product_id, StoredImage { file_name, width, widths }));
        }
    }
    Ok(out)
}

#[derive(QueryableByName)]
struct Sold {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    product_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    sold: i64,
}

/// (product_id, units sold): paid order lines, refunded units taken off.
pub fn sold_counts(conn: &mut AnyConnection, product_ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    // Whole numbers only, so writing them into the statement is safe.
    let ids = product_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let sql = format!(
        "SELECT s.product_id AS product_id, CAST(SUM(l.quantity - l.refunded_quantity) AS BIGINT) AS sold \
         FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN skus s ON s.id = l.sku_id \
         WHERE s.product_id IN ({ids}) AND o.status IN ('paid', 'shipped', 'delivered', 'completed', 'partially_refunded') \
         GROUP BY s.product_id"
    );
    Ok(diesel::sql_query(sql).load::<Sold>(conn)?.into_iter().map(|s| (s.product_id, s.sold)).collect())
}

/// Emails of the managers of a producer.
pub fn producer_manager_emails(conn: &mut AnyConnection, producer_id: i64) -> QueryResult<Vec<String>> {
    producer_managers::table
        .inner_join(users::table)
        .filter(producer_managers::producer_id.eq(producer_id))
        .select(users::email)
        .load(conn)
}

/// (producer_id, name_zh, name_en)
pub fn producer_names(conn: &mut AnyConnection, ids: &[i64]) -> QueryResult<Vec<(i64, String, String)>> {
    producers::table
        .filter(producers::id.eq_any(ids))
        .order(producers::id)
        .select((producers::id, producers::name_zh, producers::name_en))
        .load(conn)
}

/// A SKU on sale in a campaign, with its product and the campaign's price for it, if any.
#[derive(Debug, Clone, Queryable)]
pub struct CampaignOfferRow {
    pub product_id: i64,
    pub product_zh: String,
    pub product_en: String,
    pub sku_id: i64,
    pub sku_zh: String,
    pub sku_en: String,
    pub unit_zh: String,
    pub unit_en: String,
    pub price_fen: i64,
    pub stock: i64,
}

/// (sku_id, price in fen) pairs.
pub type SkuPrices = Vec<(i64, i64)>;

/// The listed SKUs of a campaign's listed products, and the campaign's prices: (sku_id, fen).
pub fn campaign_offers(conn: &mut AnyConnection, campaign_id: i64) -> QueryResult<(Vec<CampaignOfferRow>, SkuPrices)> {
    let in_campaign = campaign_products::table
        .filter(campaign_products::campaign_id.eq(campaign_id))
        .select(campaign_products::product_id);
    let rows = skus::table
        .inner_join(products::table)
        .filter(products::id.eq_any(in_campaign))
        .filter(products::listed.eq(true))
        .filter(skus::listed.eq(true))
        .order((products::id, skus::price_fen))
        .select((
            products::id,
            products::name_zh,
            products::name_en,
            skus::id,
            skus::name_zh,
            skus::name_en,
            skus::unit_zh,
            skus::unit_en,
            skus::price_fen,
            skus::stock,
        ))
        .load(conn)?;
    let prices = campaign_prices::table
        .filter(campaign_prices::campaign_id.eq(campaign_id))
        .select((campaign_prices::sku_id, campaign_prices::price_fen))
        .load(conn)?;
    Ok((rows, prices))
}

/// (product, count, sum of stars) of the visible (not hidden) reviews of these products.
pub fn ratings(conn: &mut AnyConnection, product_ids: &[i64]) -> QueryResult<Vec<(i64, i64, i64)>> {
    use crate::db::schema::reviews;
    let rows: Vec<(i64, i32)> = reviews::table
        .filter(reviews::product_id.eq_any(product_ids))
        .filter(reviews::hidden_at.is_null())
        .select((reviews::product_id, reviews::stars))
        .load(conn)?;
    let mut out: Vec<(i64, i64, i64)> = Vec::new();
    for (product, stars) in rows {
        match out.iter_mut().find(|r| r.0 == product) {
            Some(r) => {
                r.1 += 1;
                r.2 += i64::from(stars);
            }
            None => out.push((product, 1, i64::from(stars))),
        }
    }
    Ok(out)
}

/// One visible review as a product page shows it.
#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub id: i64,
    pub stars: i32,
    pub text: String,
    pub reply: Option<String>,
    pub created_at: chrono::NaiveDateTime,
    pub buyer_name: String,
    /// The line was refunded (in part or in full).
    pub refunded: bool,
    pub photos: Vec<String>,
}

/// A product's visible reviews, newest first, and how many there are.
pub fn reviews_of(
    conn: &mut AnyConnection,
    product_id: i64,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<ReviewRow>, i64)> {
    use crate::db::schema::{order_lines, review_photos, reviews, users};
    let visible = || reviews::table.filter(reviews::product_id.eq(product_id)).filter(reviews::hidden_at.is_null());
    let total: i64 = visible().count().get_result(conn)?;
    type Row = (i64, i32, String, Option<String>, chrono::NaiveDateTime, i64, i64);
    let rows: Vec<Row> = visible()
        .order((reviews::created_at.desc(), reviews::id.desc()))
        .offset(offset)
        .limit(limit)
        .select((
            reviews::id,
            reviews::stars,
            reviews::text,
            reviews::reply,
            reviews::created_at,
            reviews::buyer_id,
            reviews::order_line_id,
        ))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let buyers: Vec<i64> = rows.iter().map(|r| r.5).collect();
    let lines: Vec<i64> = rows.iter().map(|r| r.6).collect();
    let names: Vec<(i64, String)> =
        users::table.filter(users::id.eq_any(&buyers)).select((users::id, users::display_name)).load(conn)?;
    let refunded: Vec<(i64, i64, i64, i64)> = order_lines::table
        .filter(order_lines::id.eq_any(&lines))
        .select((
            order_lines::id,
            order_lines::refunded_quantity,
            order_lines::refunded_cash_fen,
            order_lines::refunded_pv_fen,
        ))
        .load(conn)?;
    let photos: Vec<(i64, String)> = review_photos::table
        .filter(review_photos::review_id.eq_any(&ids))
        .order((review_photos::review_id, review_photos::position))
        .select((review_photos::review_id, review_photos::file_name))
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(|(id, stars, text, reply, created_at, buyer, line)| {
            // Buyers are shown by their first character only (李**).
            let name = names.iter().find(|n| n.0 == buyer).map(|n| n.1.clone()).unwrap_or_default();
            let buyer_name = format!("{}**", name.chars().next().unwrap_or('*'));
            ReviewRow {
                id,
                stars,
                text,
                reply,
                created_at,
                buyer_name,
                refunded: refunded.iter().any(|r| r.0 == line && (r.1 > 0 || r.2 > 0 || r.3 > 0)),
                photos: photos.iter().filter(|p| p.0 == id).map(|p| format!("/images/{}", p.1)).collect(),
            }
        })
        .collect();
    Ok((items, total))
}
