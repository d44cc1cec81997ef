//! Address rows. A buyer has at most one default; the newest address used becomes it.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::addresses;
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::orders::service::Address;

/// Most addresses one buyer keeps.
pub const MAX_ADDRESSES: i64 = 20;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = addresses)]
pub struct AddressRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub mobile: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub detail: String,
    pub division_code: String,
    pub is_default: bool,
}

pub fn list(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<AddressRow>> {
    addresses::table
        .filter(addresses::user_id.eq(user_id))
        .order((addresses::is_default.desc(), addresses::id.desc()))
        .select(AddressRow::as_select())
        .load(conn)
}

pub fn default_of(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Option<AddressRow>> {
    Ok(list(conn, user_id)?.into_iter().next())
}

fn same(row: &AddressRow, a: &Address) -> bool {
    row.name == a.name.trim()
        && row.mobile == a.mobile.trim()
        && row.province == a.province.trim()
        && row.city == a.city.trim()
        && row.district == a.district.trim()
        && row.detail == a.detail.trim()
}

/// Keeps `address` in the book as the default: an identical one is reused, otherwise it is
/// added (the oldest non-default goes when the book is full).
pub fn remember(conn: &mut AnyConnection, user_id: i64, address: &Address) -> Result<i64, AppError> {
    add(conn, user_id, address, "", true)
}

pub fn add(
    conn: &mut AnyConnection,
    user_id: i64,
    a: &Address,
    division_code: &str,
    make_default: bool,
) -> Result<i64, AppError> {
    crate::db::write_tx(conn, |conn| {
        let rows = list(conn, user_id)?;
        let id = match rows.iter().find(|r| same(r, a)) {
            Some(r) => r.id,
            None => {
                if rows.len() as i64 >= MAX_ADDRESSES {
                    if let Some(oldest) = rows.iter().filter(|r| !r.is_default).min_by_key(|r| r.id) {
                        diesel::delete(addresses::table.find(oldest.id)).execute(conn)?;
                    }
                }
                diesel::insert_into(addresses::table)
                    .values((
                        addresses::user_id.eq(user_id),
                        addresses::name.eq(a.name.trim()),
                        addresses::mobile.eq(a.mobile.trim()),
                        addresses::province.eq(a.province.trim()),
                        addresses::city.eq(a.city.trim()),
                        addresses::district.eq(a.district.trim()),
                        addresses::detail.eq(a.detail.trim()),
                        addresses::division_code.eq(division_code),
                        addresses::is_default.eq(false),
                    ))
                    .returning(addresses::id)
                    .get_result(conn)?
            }
        };
        if make_default || rows.is_empty() {
            set_default_in_tx(conn, user_id, id)?;
        }
        Ok(id)
    })
}

fn set_default_in_tx(conn: &mut AnyConnection, user_id: i64, id: i64) -> QueryResult<usize> {
    diesel::update(addresses::table.filter(addresses::user_id.eq(user_id)))
        .set(addresses::is_default.eq(false))
        .execute(conn)?;
    diesel::update(addresses::table.filter(addresses::user_id.eq(user_id)).filter(addresses::id.eq(id)))
        .set(addresses::is_default.eq(true))
        .execute(conn)
}

/// Makes one of the buyer's addresses the default; another buyer's is "not found".
pub fn set_default(conn: &mut AnyConnection, user_id: i64, id: i64) -> Result<(), AppError> {
    crate::db::write_tx(conn, |conn| match set_default_in_tx(conn, user_id, id)? {
        0 => Err(AppError::NotFound),
        _ => Ok(()),
    })
}

/// Deletes one of the buyer's addresses; if it was the default, the newest left becomes it.
pub fn delete(conn: &mut AnyConnection, user_id: i64, id: i64) -> Result<(), AppError> {
    crate::db::write_tx(conn, |conn| {
        let n = diesel::delete(addresses::table.filter(addresses::user_id.eq(user_id)).filter(addresses::id.eq(id)))
            .execute(conn)?;
        if n == 0 {
            return Err(AppError::NotFound);
        }
        let rows = list(conn, user_id)?;
        if !rows.iter().any(|r| r.is_default) {
            if let Some(newest) = rows.iter().max_by_key(|r| r.id) {
                set_default_in_tx(conn, user_id, newest.id)?;
            }
        }
        Ok(())
    })
}
