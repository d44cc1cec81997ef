//! The SQL of the cooperative portal: a manager's SKUs, stock history, parts to ship,
//! shipments and sales figures. Every query that reads a cooperative's data takes the
//! producer ids the manager manages, so scope is part of the query itself.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{
    adoption_parcels, campaigns, counties, order_lines, order_recipients, orders, producer_managers, producers,
    product_images, products, shipments, sku_price_tiers, skus, stock_movements, users,
};
use crate::db::AnyConnection;
use crate::orders::status::OrderStatus;

/// Producer ids a user manages.
pub fn managed_producers(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<i64>> {
    producer_managers::table
        .filter(producer_managers::user_id.eq(user_id))
        .order(producer_managers::producer_id)
        .select(producer_managers::producer_id)
        .load(conn)
}

pub use crate::catalog::model::producer_names;

/// What the portal shows of a SKU and its product.
#[derive(Debug, Clone, Queryable)]
pub struct SkuRow {
    pub id: i64,
    pub code: String,
    pub product_id: i64,
    pub producer_id: i64,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    pub unit_zh: String,
    pub unit_en: String,
    pub price_fen: i64,
    pub stock: i64,
    pub low_stock_threshold: i64,
    pub max_points_pct: i32,
    pub charity_donation_fen: i64,
    pub listed: bool,
    pub product_listed: bool,
    pub aid_cert_no: Option<String>,
    pub aid_cert_expires: Option<NaiveDate>,
}

type SkuSelect = (
    skus::id,
    skus::code,
    skus::product_id,
    products::producer_id,
    products::name_zh,
    products::name_en,
    skus::name_zh,
    skus::name_en,
    skus::unit_zh,
    skus::unit_en,
    skus::price_fen,
    skus::stock,
    skus::low_stock_threshold,
    skus::max_points_pct,
    skus::charity_donation_fen,
    skus::listed,
    products::listed,
    products::aid_cert_no,
    products::aid_cert_expires,
);

const SKU_SELECT: SkuSelect = (
    skus::id,
    skus::code,
    skus::product_id,
    products::producer_id,
    products::name_zh,
    products::name_en,
    skus::name_zh,
    skus::name_en,
    skus::unit_zh,
    skus::unit_en,
    skus::price_fen,
    skus::stock,
    skus::low_stock_threshold,
    skus::max_points_pct,
    skus::charity_donation_fen,
    skus::listed,
    products::listed,
    products::aid_cert_no,
    products::aid_cert_expires,
);

/// The SKUs of the given producers.
pub fn skus_of(conn: &mut AnyConnection, producer_ids: &[i64]) -> QueryResult<Vec<SkuRow>> {
    skus::table
        .inner_join(products::table)
        .filter(products::producer_id.eq_any(producer_ids))
        .order((products::id, skus::id))
        .select(SKU_SELECT)
        .load(conn)
}

/// One SKU, only if one of the given producers owns it.
pub fn sku_in(conn: &mut AnyConnection, sku_id: i64, producer_ids: &[i64]) -> QueryResult<Option<SkuRow>> {
    skus::table
        .inner_join(products::table)
        .filter(skus::id.eq(sku_id))
        .filter(products::producer_id.eq_any(producer_ids))
        .select(SKU_SELECT)
        .first(conn)
        .optional()
}

/// (code, id) of the SKUs among `codes` that the given producers own.
pub fn sku_ids_by_code(
    conn: &mut AnyConnection,
    codes: &[String],
    producer_ids: &[i64],
) -> QueryResult<Vec<(String, i64)>> {
    skus::table
        .inner_join(products::table)
        .filter(skus::code.eq_any(codes))
        .filter(products::producer_id.eq_any(producer_ids))
        .select((skus::code, skus::id))
        .load(conn)
}

pub fn stock_of(conn: &mut AnyConnection, sku_id: i64) -> QueryResult<i64> {
    skus::table.find(sku_id).select(skus::stock).first(conn)
}

/// One row of a SKU's stock history.
#[derive(Debug, Clone, Queryable)]
pub struct HistoryRow {
    pub id: i64,
    pub delta: i64,
    pub reason: String,
    pub order_no: Option<String>,
    /// The display name of whoever changed the stock by hand (never read for order changes).
    pub user_name: Option<String>,
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub at: NaiveDateTime,
}

pub fn history(conn: &mut AnyConnection, sku_id: i64, limit: i64) -> QueryResult<Vec<HistoryRow>> {
    stock_movements::table
        .left_join(orders::table.on(orders::id.nullable().eq(stock_movements::order_id)))
        .left_join(users::table.on(users::id.nullable().eq(stock_movements::user_id)))
        .filter(stock_movements::sku_id.eq(sku_id))
        .order(stock_movements::id.desc())
        .limit(limit)
        .select((
            stock_movements::id,
            stock_movements::delta,
            stock_movements::reason,
            orders::order_no.nullable(),
            users::display_name.nullable(),
            stock_movements::stock_before,
            stock_movements::stock_after,
            stock_movements::created_at,
        ))
        .load(conn)
}

/// Whether the part (cooperative, recipient) of the order that holds this line was shipped.
pub fn line_shipped(conn: &mut AnyConnection, line_id: i64) -> QueryResult<bool> {
    let (order_id, producer_id, recipient_id): (i64, i64, Option<i64>) = order_lines::table
        .find(line_id)
        .select((order_lines::order_id, order_lines::producer_id, order_lines::recipient_id))
        .first(conn)?;
    Ok(shipment_of(conn, order_id, producer_id, recipient_id)?.is_some())
}

/// A line of a part still to ship, or of one being shipped.
#[derive(Debug, Clone, Queryable)]
pub struct PartLine {
    pub order_id: i64,
    pub order_no: String,
    pub status: String,
    pub buyer_id: i64,
    pub paid_at: Option<NaiveDateTime>,
    pub order_address: String,
    pub producer_id: i64,
    pub recipient_id: Option<i64>,
    /// (name, mobile, address) of the recipient, for distributions.
    pub recipient: Option<(String, String, String)>,
    pub line_id: i64,
    pub sku_id: i64,
    pub sku_code: String,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
    pub quantity: i64,
    pub refunded_quantity: i64,
    pub line_total_fen: i64,
}

/// Statuses in which goods are owed to the buyer and not yet all on their way.
/// The states of an order with goods still to ship.
pub fn shippable() -> Vec<&'static str> {
    OrderStatus::strs(&OrderStatus::SHIPPABLE)
}

/// Lines with units left to ship, of shippable orders, for the given producers (and, when
/// `order_id` is given, of that order only). Shipped parts are filtered by the caller.
pub fn open_lines(
    conn: &mut AnyConnection,
    producer_ids: &[i64],
    order_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<PartLine>> {
    let mut query = order_lines::table
        .inner_join(orders::table)
        .inner_join(skus::table.inner_join(products::table))
        .left_join(order_recipients::table.on(order_recipients::id.nullable().eq(order_lines::recipient_id)))
        .filter(order_lines::producer_id.eq_any(producer_ids))
        .filter(orders::status.eq_any(shippable()))
        .filter(order_lines::refunded_quantity.lt(order_lines::quantity))
        // A cloud adoption's planned delivery joins the queue on its date (`adoption`'s job).
        .filter(diesel::dsl::not(diesel::dsl::exists(
            adoption_parcels::table
                .filter(adoption_parcels::order_line_id.eq(order_lines::id))
                .filter(adoption_parcels::status.eq("planned")),
        )))
        .order((orders::paid_at, orders::id, order_lines::id))
        .limit(limit)
        .select((
            orders::id,
            orders::order_no,
            orders::status,
            orders::buyer_id,
            orders::paid_at,
            orders::address,
            order_lines::producer_id,
            order_lines::recipient_id,
            (order_recipients::name, order_recipients::mobile, order_recipients::address).nullable(),
            order_lines::id,
            order_lines::sku_id,
            skus::code,
            products::name_zh,
            products::name_en,
            skus::name_zh,
            skus::name_en,
            order_lines::quantity,
            order_lines::refunded_quantity,
            order_lines::line_total_fen,
        ))
        .into_boxed();
    if let Some(id) = order_id {
        query = query.filter(orders::id.eq(id));
    }
    query.load(conn)
}

/// (order_id, producer_id, recipient_id) of the shipments of these orders.
pub fn shipped_parts(conn: &mut AnyConnection, order_ids: &[i64]) -> QueryResult<Vec<(i64, i64, Option<i64>)>> {
    shipments::table
        .filter(shipments::order_id.eq_any(order_ids))
        .filter(shipments::after_sales_id.is_null())
        .select((shipments::order_id, shipments::producer_id, shipments::recipient_id))
        .load(conn)
}

/// (carrier, tracking_no) of a part's shipment.
pub fn shipment_of(
    conn: &mut AnyConnection,
    order_id: i64,
    producer_id: i64,
    recipient_id: Option<i64>,
) -> QueryResult<Option<(String, String)>> {
    let mut query = shipments::table
        .filter(shipments::order_id.eq(order_id))
        .filter(shipments::producer_id.eq(producer_id))
        .filter(shipments::after_sales_id.is_null())
        .select((shipments::carrier, shipments::tracking_no))
        .into_boxed();
    query = match recipient_id {
        Some(r) => query.filter(shipments::recipient_id.eq(r)),
        None => query.filter(shipments::recipient_id.is_null()),
    };
    query.first(conn).optional()
}

/// (carrier, tracking_no, received) of a part's original parcel, if it left.
pub fn parcel_of_part(
    conn: &mut AnyConnection,
    order_id: i64,
    producer_id: i64,
    recipient_id: Option<i64>,
) -> QueryResult<Option<(String, String, bool)>> {
    let mut query = shipments::table
        .filter(shipments::order_id.eq(order_id))
        .filter(shipments::producer_id.eq(producer_id))
        .filter(shipments::after_sales_id.is_null())
        .select((shipments::carrier, shipments::tracking_no, shipments::received_at))
        .into_boxed();
    query = match recipient_id {
        Some(r) => query.filter(shipments::recipient_id.eq(r)),
        None => query.filter(shipments::recipient_id.is_null()),
    };
    Ok(query.first::<(String, String, Option<NaiveDateTime>)>(conn).optional()?.map(|(c, t, r)| (c, t, r.is_some())))
}

pub struct NewShipment<'a> {
    pub order_id: i64,
    pub producer_id: i64,
    pub recipient_id: Option<i64>,
    pub carrier: &'a str,
    pub tracking_no: &'a str,
    pub shipped_by: i64,
    /// Set on a replacement parcel.
    pub after_sales_id: Option<i64>,
}

pub fn insert_shipment(conn: &mut AnyConnection, s: &NewShipment, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::insert_into(shipments::table)
        .values((
            shipments::order_id.eq(s.order_id),
            shipments::producer_id.eq(s.producer_id),
            shipments::recipient_id.eq(s.recipient_id),
            shipments::carrier.eq(s.carrier),
            shipments::tracking_no.eq(s.tracking_no),
            shipments::shipped_by.eq(s.shipped_by),
            shipments::shipped_at.eq(now),
            shipments::after_sales_id.eq(s.after_sales_id),
        ))
        .execute(conn)
}

/// Takes the order's row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises
/// writers) if the order is still in one of `statuses`, so that two cooperatives shipping
/// the last two parts at once see each other's shipment and exactly one completes the order.
pub fn lock_order_in(conn: &mut AnyConnection, order_id: i64, statuses: &[&str]) -> QueryResult<bool> {
    let n = diesel::update(orders::table.find(order_id).filter(orders::status.eq_any(statuses)))
        .set(orders::status.eq(orders::status))
        .execute(conn)?;
    Ok(n == 1)
}

/// (order id, producer, recipient, units left) of every line of the order with units left.
pub fn open_parts_of(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Vec<(i64, Option<i64>)>> {
    order_lines::table
        .filter(order_lines::order_id.eq(order_id))
        .filter(order_lines::refunded_quantity.lt(order_lines::quantity))
        .select((order_lines::producer_id, order_lines::recipient_id))
        .load(conn)
}

/// A paid line of one of the given producers, for sales reports.
#[derive(Debug, Clone, Queryable)]
pub struct SaleLine {
    pub line_id: i64,
    pub product_id: i64,
    pub product_code: String,
    pub product_zh: String,
    pub product_en: String,
    pub campaign_id: i64,
    pub campaign_zh: String,
    pub campaign_en: String,
    pub paid_at: Option<NaiveDateTime>,
    pub quantity: i64,
    pub refunded_quantity: i64,
    pub unit_price_fen: i64,
}

/// Lines of orders paid in [from, to) for the given producers.
pub fn sale_lines(
    conn: &mut AnyConnection,
    producer_ids: &[i64],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<SaleLine>> {
    order_lines::table
        .inner_join(orders::table.inner_join(campaigns::table))
        .inner_join(skus::table.inner_join(products::table))
        .filter(order_lines::producer_id.eq_any(producer_ids))
        .filter(orders::paid_at.ge(from))
        .filter(orders::paid_at.lt(to))
        .order(order_lines::id)
        .select((
            order_lines::id,
            products::id,
            products::code,
            products::name_zh,
            products::name_en,
            campaigns::id,
            campaigns::name_zh,
            campaigns::name_en,
            orders::paid_at,
            order_lines::quantity,
            order_lines::refunded_quantity,
            order_lines::unit_price_fen,
        ))
        .load(conn)
}

// ---------------------------------------------------------------------------------------
// Products and SKUs

/// A product as its manager edits it.
#[derive(Debug, Clone, Queryable)]
pub struct ProductRow {
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

pub fn product_in(conn: &mut AnyConnection, id: i64, producer_ids: &[i64]) -> QueryResult<Option<ProductRow>> {
    products::table
        .filter(products::id.eq(id))
        .filter(products::producer_id.eq_any(producer_ids))
        .select((
            products::id,
            products::code,
            products::producer_id,
            products::name_zh,
            products::name_en,
            products::description_zh,
            products::description_en,
            products::aid_cert_no,
            products::aid_cert_expires,
            products::listed,
        ))
        .first(conn)
        .optional()
}

/// Product fields to change; `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = products)]
pub struct ProductChanges {
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub description_zh: Option<String>,
    pub description_en: Option<String>,
    pub aid_cert_no: Option<Option<String>>,
    pub aid_cert_expires: Option<Option<NaiveDate>>,
    pub listed: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn update_product(conn: &mut AnyConnection, id: i64, changes: &ProductChanges) -> QueryResult<usize> {
    crate::cache::pages::catalog_changed();
    diesel::update(products::table.find(id)).set(changes).execute(conn)
}

pub struct NewProduct<'a> {
    pub code: &'a str,
    pub producer_id: i64,
    pub name_zh: &'a str,
    pub name_en: &'a str,
    pub description_zh: &'a str,
    pub description_en: &'a str,
    pub aid_cert_no: Option<&'a str>,
    pub aid_cert_expires: Option<NaiveDate>,
}

pub fn insert_product(conn: &mut AnyConnection, p: &NewProduct, now: NaiveDateTime) -> QueryResult<i64> {
    crate::cache::pages::catalog_changed();
    diesel::insert_into(products::table)
        .values((
            products::code.eq(p.code),
            products::producer_id.eq(p.producer_id),
            products::name_zh.eq(p.name_zh),
            products::name_en.eq(p.name_en),
            products::description_zh.eq(p.description_zh),
            products::description_en.eq(p.description_en),
            products::aid_cert_no.eq(p.aid_cert_no),
            products::aid_cert_expires.eq(p.aid_cert_expires),
            products::listed.eq(true),
            products::created_at.eq(now),
            products::updated_at.eq(now),
        ))
        .returning(products::id)
        .get_result(conn)
}

/// Rewrites the search texts written before the current format (pinyin): run at start-up.
pub fn refresh_stale_search_texts(conn: &mut AnyConnection) -> QueryResult<usize> {
    let marker = format!("%{}", crate::catalog::service::SEARCH_TEXT_VERSION);
    let stale: Vec<i64> =
        products::table.filter(products::search_text.not_like(marker)).select(products::id).load(conn)?;
    for id in &stale {
        refresh_search_text(conn, *id)?;
    }
    Ok(stale.len())
}

/// Rewrites what search matches a product by, after its or its SKUs' names changed.
pub fn refresh_search_text(conn: &mut AnyConnection, product_id: i64) -> QueryResult<usize> {
    let (name_zh, name_en, producer_zh, producer_en, county_zh, county_en): (
        String,
        String,
        String,
        String,
        String,
        String,
    ) = products::table
        .inner_join(producers::table.inner_join(counties::table))
        .filter(products::id.eq(product_id))
        .select((
            products::name_zh,
            products::name_en,
            producers::name_zh,
            producers::name_en,
            counties::name_zh,
            counties::name_en,
        ))
        .first(conn)?;
    let sku_names: Vec<(String, String)> = skus::table
        .filter(skus::product_id.eq(product_id))
        .order(skus::id)
        .select((skus::name_zh, skus::name_en))
        .load(conn)?;
    let mut words = vec![name_zh.as_str(), name_en.as_str(), &producer_zh, &producer_en, &county_zh, &county_en];
    words.extend(sku_names.iter().flat_map(|(zh, en)| [zh.as_str(), en.as_str()]));
    diesel::update(products::table.find(product_id))
        .set(products::search_text.eq(crate::catalog::service::search_text(&words)))
        .execute(conn)
}

/// SKU fields to change; `None` leaves a field as it is. Stock changes only through
/// `add_stock`/`set_stock_if`, with history.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = skus)]
pub struct SkuChanges {
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub unit_zh: Option<String>,
    pub unit_en: Option<String>,
    pub price_fen: Option<i64>,
    pub max_points_pct: Option<i32>,
    pub low_stock_threshold: Option<i64>,
    pub charity_donation_fen: Option<i64>,
    pub listed: Option<bool>,
}

pub fn update_sku(conn: &mut AnyConnection, id: i64, changes: &SkuChanges) -> QueryResult<usize> {
    crate::cache::pages::catalog_changed();
    diesel::update(skus::table.find(id)).set(changes).execute(conn)
}

pub struct NewSku<'a> {
    pub code: &'a str,
    pub product_id: i64,
    pub name_zh: &'a str,
    pub name_en: &'a str,
    pub unit_zh: &'a str,
    pub unit_en: &'a str,
    pub price_fen: i64,
    pub max_points_pct: i32,
    pub low_stock_threshold: i64,
    pub charity_donation_fen: i64,
}

/// A new SKU starts with no stock: stock comes in through a recorded change.
pub fn insert_sku(conn: &mut AnyConnection, s: &NewSku) -> QueryResult<i64> {
    crate::cache::pages::catalog_changed();
    diesel::insert_into(skus::table)
        .values((
            skus::code.eq(s.code),
            skus::product_id.eq(s.product_id),
            skus::name_zh.eq(s.name_zh),
            skus::name_en.eq(s.name_en),
            skus::unit_zh.eq(s.unit_zh),
            skus::unit_en.eq(s.unit_en),
            skus::price_fen.eq(s.price_fen),
            skus::stock.eq(0),
            skus::max_points_pct.eq(s.max_points_pct),
            skus::low_stock_threshold.eq(s.low_stock_threshold),
            skus::charity_donation_fen.eq(s.charity_donation_fen),
            skus::listed.eq(true),
        ))
        .returning(skus::id)
        .get_result(conn)
}

/// (min_quantity, price_fen) of a SKU's quantity tiers.
pub fn tiers_of(conn: &mut AnyConnection, sku_id: i64) -> QueryResult<Vec<(i64, i64)>> {
    sku_price_tiers::table
        .filter(sku_price_tiers::sku_id.eq(sku_id))
        .order(sku_price_tiers::min_quantity)
        .select((sku_price_tiers::min_quantity, sku_price_tiers::price_fen))
        .load(conn)
}

pub fn replace_tiers(conn: &mut AnyConnection, sku_id: i64, tiers: &[(i64, i64)]) -> QueryResult<usize> {
    crate::cache::pages::catalog_changed();
    diesel::delete(sku_price_tiers::table.filter(sku_price_tiers::sku_id.eq(sku_id))).execute(conn)?;
    if tiers.is_empty() {
        return Ok(0);
    }
    let values: Vec<_> = tiers
        .iter()
        .map(|(q, p)| {
            (
                sku_price_tiers::sku_id.eq(sku_id),
                sku_price_tiers::min_quantity.eq(*q),
                sku_price_tiers::price_fen.eq(*p),
            )
        })
        .collect();
    crate::on_backend!(conn, |c| diesel::insert_into(sku_price_tiers::table).values(&values).execute(c))
}

// ---------------------------------------------------------------------------------------
// Product images

/// (file_name, content_type, bytes) of a product's images, oldest first.
pub fn images_of(conn: &mut AnyConnection, product_id: i64) -> QueryResult<Vec<(String, String, i64)>> {
    product_images::table
        .filter(product_images::product_id.eq(product_id))
        .order(product_images::id)
        .select((product_images::file_name, product_images::content_type, product_images::bytes))
        .load(conn)
}

pub fn image_count(conn: &mut AnyConnection, product_id: i64) -> QueryResult<i64> {
    product_images::table.filter(product_images::product_id.eq(product_id)).count().get_result(conn)
}

pub struct NewImage<'a> {
    pub product_id: i64,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub bytes: i64,
    pub uploaded_by: i64,
    /// The photo's width (0 when it could not be decoded).
    pub width: i32,
    /// Widths of its JPEG derivatives, comma-separated.
    pub widths: &'a str,
}

pub fn insert_image(conn: &mut AnyConnection, i: &NewImage, now: NaiveDateTime) -> QueryResult<usize> {
    crate::cache::pages::catalog_changed();
    diesel::insert_into(product_images::table)
        .values((
            product_images::product_id.eq(i.product_id),
            product_images::file_name.eq(i.file_name),
            product_images::content_type.eq(i.content_type),
            product_images::bytes.eq(i.bytes),
            product_images::uploaded_by.eq(i.uploaded_by),
            product_images::created_at.eq(now),
            product_images::width.eq(i.width),
            product_images::widths.eq(i.widths),
        ))
        .execute(conn)
}

/// Content type of a stored image file, if some product uses it.
/// A stored image's type: a product image, or a buyer's photo (after-sales, reviews).
pub fn image_type(conn: &mut AnyConnection, file_name: &str) -> QueryResult<Option<String>> {
    let product: Option<String> = product_images::table
        .filter(product_images::file_name.eq(file_name))
        .select(product_images::content_type)
        .first(conn)
        .optional()?;
    match product {
        Some(t) => Ok(Some(t)),
        None => crate::db::schema::photos::table
            .find(file_name)
            .select(crate::db::schema::photos::content_type)
            .first(conn)
            .optional(),
    }
}
