//! The signed-in buyer's cart rows.

use diesel::prelude::*;

use crate::db::schema::{cart_items, users};
use crate::db::AnyConnection;
use crate::error::AppError;

/// (sku_id, quantity) in the order they were added.
pub fn lines(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<(i64, i64)>> {
    cart_items::table
        .filter(cart_items::user_id.eq(user_id))
        .order(cart_items::position)
        .select((cart_items::sku_id, cart_items::quantity))
        .load(conn)
}

/// Reads the buyer's cart, applies `change` and stores the result, in one write transaction
/// that first locks the buyer's row: concurrent changes to one cart apply one after the
/// other, so none is lost and no two insert the same line.
pub fn update<F>(conn: &mut AnyConnection, user_id: i64, mut change: F) -> Result<Vec<(i64, i64)>, AppError>
where
    F: FnMut(Vec<(i64, i64)>) -> Result<Vec<(i64, i64)>, AppError>,
{
    crate::db::write_tx(conn, |conn| {
        diesel::update(users::table.find(user_id)).set(users::id.eq(users::id)).execute(conn)?;
        let changed = change(lines(conn, user_id)?)?;
        diesel::delete(cart_items::table.filter(cart_items::user_id.eq(user_id))).execute(conn)?;
        if changed.is_empty() {
            return Ok(changed);
        }
        let values: Vec<_> = changed
            .iter()
            .zip(0i64..)
            .map(|((sku_id, quantity), position)| {
                (
                    cart_items::user_id.eq(user_id),
                    cart_items::sku_id.eq(*sku_id),
                    cart_items::quantity.eq(*quantity),
                    cart_items::position.eq(position),
                )
            })
            .collect();
        crate::on_backend!(conn, |c| diesel::insert_into(cart_items::table).values(&values).execute(c))?;
        Ok(changed)
    })
}
