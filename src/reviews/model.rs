//! The SQL of reviews.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{products, review_photos, reviews};
use crate::db::AnyConnection;

pub struct NewReview<'a> {
    pub order_line_id: i64,
    pub product_id: i64,
    pub buyer_id: i64,
    pub stars: i32,
    pub text: &'a str,
}

pub fn insert(conn: &mut AnyConnection, r: &NewReview, now: NaiveDateTime) -> QueryResult<i64> {
    crate::cache::pages::catalog_changed();
    diesel::insert_into(reviews::table)
        .values((
            reviews::order_line_id.eq(r.order_line_id),
            reviews::product_id.eq(r.product_id),
            reviews::buyer_id.eq(r.buyer_id),
            reviews::stars.eq(r.stars),
            reviews::text.eq(r.text),
            reviews::created_at.eq(now),
        ))
        .returning(reviews::id)
        .get_result(conn)
}

pub fn insert_photos(conn: &mut AnyConnection, review_id: i64, names: &[String]) -> QueryResult<()> {
    for (i, name) in names.iter().enumerate() {
        diesel::insert_into(review_photos::table)
            .values((
                review_photos::review_id.eq(review_id),
                review_photos::position.eq(i as i32),
                review_photos::file_name.eq(name),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn exists_for_line(conn: &mut AnyConnection, line_id: i64) -> QueryResult<bool> {
    Ok(reviews::table.filter(reviews::order_line_id.eq(line_id)).count().get_result::<i64>(conn)? > 0)
}

/// (product id, producer id) of a review.
pub fn product_of(conn: &mut AnyConnection, review_id: i64) -> QueryResult<Option<(i64, i64)>> {
    let product: Option<i64> = reviews::table.find(review_id).select(reviews::product_id).first(conn).optional()?;
    match product {
        Some(p) => Ok(Some((p, products::table.find(p).select(products::producer_id).first(conn)?))),
        None => Ok(None),
    }
}

/// Sets the cooperative's reply unless there is one: true for the one call that does.
pub fn reply(conn: &mut AnyConnection, id: i64, text: &str, by: i64, now: NaiveDateTime) -> QueryResult<bool> {
    crate::cache::pages::catalog_changed();
    let n = diesel::update(reviews::table.find(id).filter(reviews::reply.is_null()))
        .set((reviews::reply.eq(Some(text)), reviews::replied_by.eq(Some(by)), reviews::replied_at.eq(Some(now))))
        .execute(conn)?;
    Ok(n == 1)
}

/// Hides a review (kept, with the reason) unless it is hidden already.
pub fn hide(conn: &mut AnyConnection, id: i64, reason: &str, by: i64, now: NaiveDateTime) -> QueryResult<bool> {
    crate::cache::pages::catalog_changed();
    let n = diesel::update(reviews::table.find(id).filter(reviews::hidden_at.is_null()))
        .set((
            reviews::hidden_reason.eq(Some(reason)),
            reviews::hidden_by.eq(Some(by)),
            reviews::hidden_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn exists(conn: &mut AnyConnection, id: i64) -> QueryResult<bool> {
    Ok(reviews::table.find(id).count().get_result::<i64>(conn)? > 0)
}
