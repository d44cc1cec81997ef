//! The SQL of flash sales and their orders.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{flash_orders, flash_sales, products, skus};
use crate::db::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = flash_sales)]
pub struct SaleRow {
    pub id: i64,
    pub sku_id: i64,
    pub campaign_id: i64,
    pub price_fen: i64,
    pub quantity: i64,
    pub sold: i64,
    pub per_buyer_limit: i64,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub stream_url: Option<String>,
    pub generation: i64,
    pub closed_at: Option<NaiveDateTime>,
    pub returned: i64,
    pub created_by: i64,
    pub created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = flash_sales)]
pub struct NewSale<'a> {
    pub sku_id: i64,
    pub campaign_id: i64,
    pub price_fen: i64,
    pub quantity: i64,
    pub per_buyer_limit: i64,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub stream_url: Option<&'a str>,
    pub created_by: i64,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut AnyConnection, sale: &NewSale) -> QueryResult<i64> {
    diesel::insert_into(flash_sales::table).values(sale).returning(flash_sales::id).get_result(conn)
}

pub fn find(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<SaleRow>> {
    flash_sales::table.find(id).select(SaleRow::as_select()).first(conn).optional()
}

/// A sale with its SKU's and product's names and list price.
pub type Listed = (SaleRow, (i64, String, String, String, String, i64));

fn names() -> (skus::product_id, products::name_zh, products::name_en, skus::name_zh, skus::name_en, skus::price_fen) {
    (skus::product_id, products::name_zh, products::name_en, skus::name_zh, skus::name_en, skus::price_fen)
}

pub fn listed(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<Listed>> {
    flash_sales::table
        .inner_join(skus::table.inner_join(products::table))
        .filter(flash_sales::id.eq(id))
        .select((SaleRow::as_select(), names()))
        .first(conn)
        .optional()
}

/// Which sales a list shows, by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    All,
    Upcoming,
    Live,
    Ended,
}

/// Sales by status at `now`, soonest ending first for upcoming and live ones, latest ended
/// first for ended ones; optionally only a product's or a campaign's.
pub fn list(
    conn: &mut AnyConnection,
    when: When,
    product_id: Option<i64>,
    campaign_id: Option<i64>,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Listed>> {
    let mut q = flash_sales::table
        .inner_join(skus::table.inner_join(products::table))
        .select((SaleRow::as_select(), names()))
        .into_boxed();
    q = match when {
        When::All => q.order(flash_sales::id.desc()),
        When::Upcoming => q.filter(flash_sales::starts_at.gt(now)).order(flash_sales::starts_at),
        When::Live => q
            .filter(flash_sales::starts_at.le(now))
            .filter(flash_sales::ends_at.gt(now))
            .filter(flash_sales::closed_at.is_null())
            .order(flash_sales::ends_at),
        When::Ended => q
            .filter(flash_sales::ends_at.le(now).or(flash_sales::closed_at.is_not_null()))
            .order(flash_sales::ends_at.desc()),
    };
    if let Some(p) = product_id {
        q = q.filter(skus::product_id.eq(p));
    }
    if let Some(c) = campaign_id {
        q = q.filter(flash_sales::campaign_id.eq(c));
    }
    q.limit(limit).load(conn)
}

/// Takes `quantity` units of the sale for an order: one conditional update (it locks the
/// sale's row until the transaction ends, so the buyer's count read next is exact). False
/// when the sale is not running or has not that many left.
pub fn take(conn: &mut AnyConnection, sale_id: i64, quantity: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        flash_sales::table
            .find(sale_id)
            .filter(flash_sales::sold.le(flash_sales::quantity - quantity))
            .filter(flash_sales::closed_at.is_null())
            .filter(flash_sales::starts_at.le(now))
            .filter(flash_sales::ends_at.gt(now)),
    )
    .set(flash_sales::sold.eq(flash_sales::sold + quantity))
    .execute(conn)?;
    Ok(n == 1)
}

/// Units of a cancelled order come back to the sale: `sold` goes down and the generation up
/// (admission state seeded before is rebuilt). Returns whether the sale had already closed
/// (then the caller puts the units on the shelf instead).
pub fn give_back(conn: &mut AnyConnection, sale_id: i64, quantity: i64) -> QueryResult<Option<NaiveDateTime>> {
    diesel::update(flash_sales::table.find(sale_id))
        .set((
            flash_sales::sold.eq(flash_sales::sold - quantity),
            flash_sales::generation.eq(flash_sales::generation + 1),
        ))
        .returning(flash_sales::closed_at)
        .get_result(conn)
}

/// Closes an ended sale once: `(sku_id, units returned, created_by)`, or `None` when it was
/// closed already (by another run) or has not ended.
pub fn close(conn: &mut AnyConnection, sale_id: i64, now: NaiveDateTime) -> QueryResult<Option<(i64, i64, i64)>> {
    diesel::update(
        flash_sales::table.find(sale_id).filter(flash_sales::closed_at.is_null()).filter(flash_sales::ends_at.le(now)),
    )
    .set((flash_sales::closed_at.eq(Some(now)), flash_sales::returned.eq(flash_sales::quantity - flash_sales::sold)))
    .returning((flash_sales::sku_id, flash_sales::returned, flash_sales::created_by))
    .get_result(conn)
    .optional()
}

/// Sales that ended and still hold their unsold units.
pub fn due_to_close(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<Vec<i64>> {
    flash_sales::table
        .filter(flash_sales::closed_at.is_null())
        .filter(flash_sales::ends_at.le(now))
        .order(flash_sales::id)
        .select(flash_sales::id)
        .load(conn)
}

/// The units the buyer holds in the sale (orders not cancelled).
pub fn bought_by(conn: &mut AnyConnection, sale_id: i64, buyer_id: i64) -> QueryResult<i64> {
    let rows: Vec<i64> = flash_orders::table
        .filter(flash_orders::sale_id.eq(sale_id))
        .filter(flash_orders::buyer_id.eq(buyer_id))
        .filter(flash_orders::cancelled.eq(false))
        .select(flash_orders::quantity)
        .load(conn)?;
    Ok(rows.iter().sum())
}

pub fn insert_order(
    conn: &mut AnyConnection,
    order_id: i64,
    sale_id: i64,
    buyer_id: i64,
    quantity: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(flash_orders::table)
        .values((
            flash_orders::order_id.eq(order_id),
            flash_orders::sale_id.eq(sale_id),
            flash_orders::buyer_id.eq(buyer_id),
            flash_orders::quantity.eq(quantity),
            flash_orders::created_at.eq(now),
        ))
        .execute(conn)
}

/// Marks the order's sale units cancelled, once: `(sale_id, quantity)`, or `None` when the
/// order is not a sale's or was cancelled already.
pub fn cancel_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Option<(i64, i64)>> {
    diesel::update(flash_orders::table.find(order_id).filter(flash_orders::cancelled.eq(false)))
        .set(flash_orders::cancelled.eq(true))
        .returning((flash_orders::sale_id, flash_orders::quantity))
        .get_result(conn)
        .optional()
}

/// Every buyer's units in the sale (orders not cancelled), read in one statement so that
/// they add up to what the sale sold at one moment.
pub fn holdings(conn: &mut AnyConnection, sale_id: i64) -> QueryResult<Vec<(i64, i64)>> {
    flash_orders::table
        .filter(flash_orders::sale_id.eq(sale_id))
        .filter(flash_orders::cancelled.eq(false))
        .select((flash_orders::buyer_id, flash_orders::quantity))
        .load(conn)
}

/// The producer of a SKU, and whether the SKU exists.
pub fn sku_producer(conn: &mut AnyConnection, sku_id: i64) -> QueryResult<Option<i64>> {
    skus::table
        .inner_join(products::table)
        .filter(skus::id.eq(sku_id))
        .select(products::producer_id)
        .first(conn)
        .optional()
}
