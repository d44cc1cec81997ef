//! The signed-in buyer's cart rows.

use diesel::prelude::*;

use crate::db::schema::cart_items;
use crate::db::AnyConnection;

/// (sku_id, quantity) in the order they were added.
pub fn lines(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<(i64, i64)>> {
    cart_items::table
        .filter(cart_items::user_id.eq(user_id))
        .order(cart_items::position)
        .select((cart_items::sku_id, cart_items::quantity))
        .load(conn)
}

/// Replaces the buyer's cart with `lines`, in one write transaction.
pub fn replace(conn: &mut AnyConnection, user_id: i64, lines: &[(i64, i64)]) -> Result<(), crate::error::AppError> {
    crate::db::write_tx(conn, |conn| {
        diesel::delete(cart_items::table.filter(cart_items::user_id.eq(user_id))).execute(conn)?;
        if lines.is_empty() {
            return Ok(());
        }
        let values: Vec<_> = lines
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
        Ok(())
    })
}
