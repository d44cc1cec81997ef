//! Cloud adoption's rows and their SQL.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{
    adopted_units, adoption_deliveries, adoption_offers, adoption_parcels, adoption_update_units, adoption_updates,
    adoptions, counties, order_recipients, producers, products, skus,
};
use crate::db::AnyConnection;

#[derive(Debug, Clone, Queryable)]
pub struct OfferRow {
    pub id: i64,
    pub producer_id: i64,
    pub product_id: i64,
    pub kind: String,
    pub title: String,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
    pub price_fen: i64,
    pub units: i64,
    pub units_taken: i64,
    pub units_numbered: i64,
    pub created_by: i64,
    pub created_at: NaiveDateTime,
}

pub struct NewOffer<'a> {
    pub producer_id: i64,
    pub product_id: i64,
    pub kind: &'a str,
    pub title: &'a str,
    pub season_start: NaiveDate,
    pub season_end: NaiveDate,
    pub price_fen: i64,
    pub units: i64,
    pub created_by: i64,
}

pub fn insert_offer(conn: &mut AnyConnection, o: &NewOffer, now: NaiveDateTime) -> QueryResult<i64> {
    diesel::insert_into(adoption_offers::table)
        .values((
            adoption_offers::producer_id.eq(o.producer_id),
            adoption_offers::product_id.eq(o.product_id),
            adoption_offers::kind.eq(o.kind),
            adoption_offers::title.eq(o.title),
            adoption_offers::season_start.eq(o.season_start),
            adoption_offers::season_end.eq(o.season_end),
            adoption_offers::price_fen.eq(o.price_fen),
            adoption_offers::units.eq(o.units),
            adoption_offers::created_by.eq(o.created_by),
            adoption_offers::created_at.eq(now),
        ))
        .returning(adoption_offers::id)
        .get_result(conn)
}

#[derive(Debug, Clone, Queryable)]
pub struct DeliveryRow {
    pub id: i64,
    pub offer_id: i64,
    pub seq: i32,
    pub due_on: NaiveDate,
    pub sku_id: i64,
    pub quantity: i64,
    pub share_fen: i64,
}

/// (offer, seq, date, sku, quantity, share of a unit's price)
pub fn insert_deliveries(
    conn: &mut AnyConnection,
    rows: &[(i64, i32, NaiveDate, i64, i64, i64)],
) -> QueryResult<usize> {
    let mut n = 0;
    for (offer_id, seq, due_on, sku_id, quantity, share_fen) in rows {
        n += diesel::insert_into(adoption_deliveries::table)
            .values((
                adoption_deliveries::offer_id.eq(offer_id),
                adoption_deliveries::seq.eq(seq),
                adoption_deliveries::due_on.eq(due_on),
                adoption_deliveries::sku_id.eq(sku_id),
                adoption_deliveries::quantity.eq(quantity),
                adoption_deliveries::share_fen.eq(share_fen),
            ))
            .execute(conn)?;
    }
    Ok(n)
}

pub fn offer(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<OfferRow>> {
    adoption_offers::table.find(id).first(conn).optional()
}

/// Every offer, newest first (at most `limit`).
pub fn offers(conn: &mut AnyConnection, producer_ids: Option<&[i64]>, limit: i64) -> QueryResult<Vec<OfferRow>> {
    let mut q = adoption_offers::table.order(adoption_offers::id.desc()).limit(limit).into_boxed();
    if let Some(ids) = producer_ids {
        q = q.filter(adoption_offers::producer_id.eq_any(ids));
    }
    q.load(conn)
}

pub fn deliveries_of(conn: &mut AnyConnection, offer_id: i64) -> QueryResult<Vec<DeliveryRow>> {
    adoption_deliveries::table
        .filter(adoption_deliveries::offer_id.eq(offer_id))
        .order(adoption_deliveries::seq)
        .load(conn)
}

/// (producer zh, producer en, county zh, county en) of a producer.
pub fn producer_place(conn: &mut AnyConnection, producer_id: i64) -> QueryResult<(String, String, String, String)> {
    producers::table
        .inner_join(counties::table)
        .filter(producers::id.eq(producer_id))
        .select((producers::name_zh, producers::name_en, counties::name_zh, counties::name_en))
        .first(conn)
}

/// (product id, producer id, name zh, name en) of a product.
pub fn product(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<(i64, i64, String, String)>> {
    products::table
        .find(id)
        .select((products::id, products::producer_id, products::name_zh, products::name_en))
        .first(conn)
        .optional()
}

/// A delivery SKU as an order line needs it.
#[derive(Debug, Clone, Queryable)]
pub struct SkuInfo {
    pub id: i64,
    pub product_id: i64,
    pub producer_id: i64,
    pub max_points_pct: i32,
    pub product_zh: String,
    pub product_en: String,
    pub sku_zh: String,
    pub sku_en: String,
}

pub fn skus_info(conn: &mut AnyConnection, ids: &[i64]) -> QueryResult<Vec<SkuInfo>> {
    skus::table
        .inner_join(products::table)
        .filter(skus::id.eq_any(ids))
        .select((
            skus::id,
            skus::product_id,
            products::producer_id,
            skus::max_points_pct,
            products::name_zh,
            products::name_en,
            skus::name_zh,
            skus::name_en,
        ))
        .load(conn)
}

/// Holds `n` units of the offer if that many are left (the offer's row lock, by the
/// conditional update). False when sold out.
pub fn take_units(conn: &mut AnyConnection, offer_id: i64, n: i64) -> QueryResult<bool> {
    let changed = diesel::update(
        adoption_offers::table.find(offer_id).filter((adoption_offers::units_taken + n).le(adoption_offers::units)),
    )
    .set(adoption_offers::units_taken.eq(adoption_offers::units_taken + n))
    .execute(conn)?;
    Ok(changed == 1)
}

pub fn give_back_units(conn: &mut AnyConnection, offer_id: i64, n: i64) -> QueryResult<usize> {
    diesel::update(adoption_offers::table.find(offer_id).filter(adoption_offers::units_taken.ge(n)))
        .set(adoption_offers::units_taken.eq(adoption_offers::units_taken - n))
        .execute(conn)
}

/// Hands out the next `n` numbers of the offer (locks its row): returns the last one.
pub fn next_numbers(conn: &mut AnyConnection, offer_id: i64, n: i64) -> QueryResult<i64> {
    diesel::update(adoption_offers::table.find(offer_id))
        .set(adoption_offers::units_numbered.eq(adoption_offers::units_numbered + n))
        .returning(adoption_offers::units_numbered)
        .get_result(conn)
}

#[derive(Debug, Clone, Queryable)]
pub struct AdoptionRow {
    pub id: i64,
    pub offer_id: i64,
    pub order_id: i64,
    pub user_id: i64,
    pub org_id: Option<i64>,
    pub units: i64,
    pub certificate_name: String,
    pub address: String,
    pub status: String,
    pub created_at: NaiveDateTime,
}

pub struct NewAdoption<'a> {
    pub offer_id: i64,
    pub order_id: i64,
    pub user_id: i64,
    pub org_id: Option<i64>,
    pub units: i64,
    pub certificate_name: &'a str,
    pub address: &'a str,
}

pub fn insert_adoption(conn: &mut AnyConnection, a: &NewAdoption, now: NaiveDateTime) -> QueryResult<i64> {
    diesel::insert_into(adoptions::table)
        .values((
            adoptions::offer_id.eq(a.offer_id),
            adoptions::order_id.eq(a.order_id),
            adoptions::user_id.eq(a.user_id),
            adoptions::org_id.eq(a.org_id),
            adoptions::units.eq(a.units),
            adoptions::certificate_name.eq(a.certificate_name),
            adoptions::address.eq(a.address),
            adoptions::created_at.eq(now),
        ))
        .returning(adoptions::id)
        .get_result(conn)
}

pub fn adoption(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<AdoptionRow>> {
    adoptions::table.find(id).first(conn).optional()
}

pub fn adoption_of_order(conn: &mut AnyConnection, order_id: i64) -> QueryResult<Option<AdoptionRow>> {
    adoptions::table.filter(adoptions::order_id.eq(order_id)).first(conn).optional()
}

pub fn adoptions_of_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<AdoptionRow>> {
    adoptions::table.filter(adoptions::user_id.eq(user_id)).order(adoptions::id.desc()).limit(200).load(conn)
}

/// Moves an adoption from one of `from` to `to`; false when it was not in them.
pub fn set_adoption_status(conn: &mut AnyConnection, id: i64, from: &[&str], to: &str) -> QueryResult<bool> {
    let n = diesel::update(adoptions::table.find(id).filter(adoptions::status.eq_any(from)))
        .set(adoptions::status.eq(to))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn set_adoption_address(conn: &mut AnyConnection, id: i64, address: &str) -> QueryResult<usize> {
    diesel::update(adoptions::table.find(id)).set(adoptions::address.eq(address)).execute(conn)
}

/// Writes `n` unnumbered units of an adoption; returns their ids.
pub fn insert_units(conn: &mut AnyConnection, offer_id: i64, adoption_id: i64, n: i64) -> QueryResult<Vec<i64>> {
    let mut ids = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for _ in 0..n {
        ids.push(
            diesel::insert_into(adopted_units::table)
                .values((adopted_units::offer_id.eq(offer_id), adopted_units::adoption_id.eq(adoption_id)))
                .returning(adopted_units::id)
                .get_result(conn)?,
        );
    }
    Ok(ids)
}

#[derive(Debug, Clone, Queryable)]
pub struct UnitRow {
    pub id: i64,
    pub offer_id: i64,
    pub adoption_id: i64,
    pub number: Option<i64>,
}

pub fn units_of(conn: &mut AnyConnection, adoption_id: i64) -> QueryResult<Vec<UnitRow>> {
    adopted_units::table.filter(adopted_units::adoption_id.eq(adoption_id)).order(adopted_units::id).load(conn)
}

pub fn unit(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<UnitRow>> {
    adopted_units::table.find(id).first(conn).optional()
}

pub fn number_unit(conn: &mut AnyConnection, unit_id: i64, number: i64) -> QueryResult<usize> {
    diesel::update(adopted_units::table.find(unit_id).filter(adopted_units::number.is_null()))
        .set(adopted_units::number.eq(number))
        .execute(conn)
}

/// Numbered units of an offer: (unit id, number, adoption id).
pub fn numbered_units(conn: &mut AnyConnection, offer_id: i64) -> QueryResult<Vec<(i64, i64, i64)>> {
    adopted_units::table
        .filter(adopted_units::offer_id.eq(offer_id))
        .filter(adopted_units::number.is_not_null())
        .order(adopted_units::number)
        .select((adopted_units::id, adopted_units::number.assume_not_null(), adopted_units::adoption_id))
        .load(conn)
}

#[derive(Debug, Clone, Queryable)]
pub struct ParcelRow {
    pub id: i64,
    pub adoption_id: i64,
    pub delivery_id: i64,
    pub order_line_id: i64,
    pub recipient_id: i64,
    pub status: String,
    pub released_at: Option<NaiveDateTime>,
    pub failed_reason: Option<String>,
    pub failed_at: Option<NaiveDateTime>,
}

/// (adoption, delivery, order line, recipient)
pub fn insert_parcels(conn: &mut AnyConnection, rows: &[(i64, i64, i64, i64)]) -> QueryResult<usize> {
    let mut n = 0;
    for (adoption_id, delivery_id, line_id, recipient_id) in rows {
        n += diesel::insert_into(adoption_parcels::table)
            .values((
                adoption_parcels::adoption_id.eq(adoption_id),
                adoption_parcels::delivery_id.eq(delivery_id),
                adoption_parcels::order_line_id.eq(line_id),
                adoption_parcels::recipient_id.eq(recipient_id),
            ))
            .execute(conn)?;
    }
    Ok(n)
}

pub fn parcels_of(conn: &mut AnyConnection, adoption_id: i64) -> QueryResult<Vec<ParcelRow>> {
    adoption_parcels::table
        .filter(adoption_parcels::adoption_id.eq(adoption_id))
        .order(adoption_parcels::delivery_id)
        .load(conn)
}

/// Planned parcels of paid adoptions whose delivery date has come: (parcel id, adoption id).
pub fn due_parcels(conn: &mut AnyConnection, today: NaiveDate) -> QueryResult<Vec<(i64, i64)>> {
    adoption_parcels::table
        .inner_join(adoption_deliveries::table)
        .inner_join(adoptions::table)
        .filter(adoption_parcels::status.eq("planned"))
        .filter(adoptions::status.eq("paid"))
        .filter(adoption_deliveries::due_on.le(today))
        .order(adoption_parcels::id)
        .select((adoption_parcels::id, adoption_parcels::adoption_id))
        .limit(1000)
        .load(conn)
}

/// Moves a parcel from one of `from` to `to`; false when someone else moved it first.
pub fn move_parcel(
    conn: &mut AnyConnection,
    id: i64,
    from: &[&str],
    to: &str,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let target = adoption_parcels::table.find(id).filter(adoption_parcels::status.eq_any(from));
    let n = match to {
        "released" => diesel::update(target)
            .set((adoption_parcels::status.eq(to), adoption_parcels::released_at.eq(now)))
            .execute(conn)?,
        "failed" => diesel::update(target)
            .set((
                adoption_parcels::status.eq(to),
                adoption_parcels::failed_reason.eq(reason),
                adoption_parcels::failed_at.eq(now),
            ))
            .execute(conn)?,
        _ => diesel::update(target).set(adoption_parcels::status.eq(to)).execute(conn)?,
    };
    Ok(n == 1)
}

/// Parcels of one planned delivery that may still fail (planned or released): (id, adoption).
pub fn open_parcels_of_delivery(conn: &mut AnyConnection, delivery_id: i64) -> QueryResult<Vec<(i64, i64)>> {
    adoption_parcels::table
        .inner_join(adoptions::table)
        .filter(adoption_parcels::delivery_id.eq(delivery_id))
        .filter(adoption_parcels::status.eq_any(["planned", "released"]))
        .filter(adoptions::status.eq("paid"))
        .order(adoption_parcels::id)
        .select((adoption_parcels::id, adoption_parcels::adoption_id))
        .load(conn)
}

pub fn parcel(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<ParcelRow>> {
    adoption_parcels::table.find(id).first(conn).optional()
}

pub fn set_recipient(conn: &mut AnyConnection, id: i64, name: &str, mobile: &str, address: &str) -> QueryResult<usize> {
    diesel::update(order_recipients::table.find(id))
        .set((
            order_recipients::name.eq(name),
            order_recipients::mobile.eq(mobile),
            order_recipients::address.eq(address),
        ))
        .execute(conn)
}

pub fn insert_update(
    conn: &mut AnyConnection,
    offer_id: i64,
    author_id: i64,
    text: &str,
    photos: &str,
    all_units: bool,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(adoption_updates::table)
        .values((
            adoption_updates::offer_id.eq(offer_id),
            adoption_updates::author_id.eq(author_id),
            adoption_updates::text.eq(text),
            adoption_updates::photos.eq(photos),
            adoption_updates::all_units.eq(all_units),
            adoption_updates::created_at.eq(now),
        ))
        .returning(adoption_updates::id)
        .get_result(conn)
}

pub fn insert_update_units(conn: &mut AnyConnection, update_id: i64, unit_ids: &[i64]) -> QueryResult<usize> {
    let mut n = 0;
    for unit_id in unit_ids {
        n += diesel::insert_into(adoption_update_units::table)
            .values((adoption_update_units::update_id.eq(update_id), adoption_update_units::unit_id.eq(unit_id)))
            .execute(conn)?;
    }
    Ok(n)
}

/// Updates a unit sees, newest first: those to all units of its offer and those naming it.
/// (id, text, photos JSON, created_at)
pub fn updates_for_unit(
    conn: &mut AnyConnection,
    offer_id: i64,
    unit_id: i64,
) -> QueryResult<Vec<(i64, String, String, NaiveDateTime)>> {
    let named = adoption_update_units::table
        .filter(adoption_update_units::unit_id.eq(unit_id))
        .select(adoption_update_units::update_id);
    adoption_updates::table
        .filter(adoption_updates::offer_id.eq(offer_id))
        .filter(adoption_updates::all_units.eq(true).or(adoption_updates::id.eq_any(named)))
        .order(adoption_updates::id.desc())
        .limit(100)
        .select((adoption_updates::id, adoption_updates::text, adoption_updates::photos, adoption_updates::created_at))
        .load(conn)
}

/// (id, text, photos JSON, all_units, created_at)
pub type UpdateRow = (i64, String, String, bool, NaiveDateTime);

/// Every update of an offer, newest first.
pub fn updates_of_offer(conn: &mut AnyConnection, offer_id: i64) -> QueryResult<Vec<UpdateRow>> {
    adoption_updates::table
        .filter(adoption_updates::offer_id.eq(offer_id))
        .order(adoption_updates::id.desc())
        .limit(100)
        .select((
            adoption_updates::id,
            adoption_updates::text,
            adoption_updates::photos,
            adoption_updates::all_units,
            adoption_updates::created_at,
        ))
        .load(conn)
}

/// Paid adoptions of an offer: for mailing updates and the cooperative's list.
pub fn paid_adoptions_of_offer(conn: &mut AnyConnection, offer_id: i64) -> QueryResult<Vec<AdoptionRow>> {
    adoptions::table
        .filter(adoptions::offer_id.eq(offer_id))
        .filter(adoptions::status.eq_any(["paid", "refunded"]))
        .order(adoptions::id)
        .load(conn)
}
