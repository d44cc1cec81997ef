//! Pre-sale terms (预售) of a SKU sold before harvest: the window (orders until `ends_at`), the
//! day its parcels join the cooperative's queue (`ships_from`), the day they must leave by
//! (`ship_by`) and how many units one buyer may hold. The cap on the total sold is the SKU's
//! stock. The rules that use them live in the order pipeline (`orders::service::place`).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::sku_presales;
use crate::db::AnyConnection;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sku_presales)]
pub struct PresaleRow {
    pub sku_id: i64,
    pub ends_at: NaiveDateTime,
    pub ships_from: NaiveDate,
    pub ship_by: NaiveDate,
    pub per_buyer_limit: i64,
}

/// A SKU's pre-sale terms as the API shows them (`presale` in SKU JSON, null when the SKU is
/// sold from stock).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct PresaleView {
    /// Orders are taken until this moment (UTC).
    pub ends_at: NaiveDateTime,
    /// The latest day the parcel leaves the cooperative.
    pub ship_by: NaiveDate,
    /// At most this many units per buyer, over their orders that are not cancelled.
    pub per_buyer_limit: i64,
    /// The day the parcels join the cooperative's shipping queue.
    pub ships_from: NaiveDate,
    /// Whether orders are still taken now.
    pub open: bool,
}

impl PresaleView {
    pub fn new(row: &PresaleRow, now: NaiveDateTime) -> PresaleView {
        PresaleView {
            ends_at: row.ends_at,
            ship_by: row.ship_by,
            per_buyer_limit: row.per_buyer_limit,
            ships_from: row.ships_from,
            open: now < row.ends_at,
        }
    }
}

/// `PUT /api/v1/coop/skus/{id}/presale`: the cooperative sets (or replaces) the terms.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresaleInput {
    /// UTC, e.g. "2027-03-31T16:00:00".
    pub ends_at: NaiveDateTime,
    pub ship_by: NaiveDate,
    pub per_buyer_limit: i64,
    /// Defaults to the day the window ends.
    #[serde(default)]
    pub ships_from: Option<NaiveDate>,
}

impl PresaleInput {
    /// The terms as stored, checked: a limit from 1 to 9999, the window still open, and
    /// ends_at ≤ ships_from ≤ ship_by (the dates being days).
    pub fn check(&self, sku_id: i64, now: NaiveDateTime) -> Result<PresaleRow, AppError> {
        let bad = |why: &str| AppError::unprocessable("invalid_presale", why.to_string());
        if !(1..=9999).contains(&self.per_buyer_limit) {
            return Err(bad("per_buyer_limit must be from 1 to 9999 / 每人限购须为 1 至 9999"));
        }
        if self.ends_at <= now {
            return Err(bad("ends_at must be in the future / 预售截止时间须在未来"));
        }
        let ships_from = self.ships_from.unwrap_or(self.ends_at.date());
        if ships_from < self.ends_at.date() || self.ship_by < ships_from {
            return Err(bad(
                "the dates must follow each other: ends_at ≤ ships_from ≤ ship_by / 日期须依次为：预售截止 ≤ 开始发货 ≤ 最晚发货",
            ));
        }
        Ok(PresaleRow {
            sku_id,
            ends_at: self.ends_at,
            ships_from,
            ship_by: self.ship_by,
            per_buyer_limit: self.per_buyer_limit,
        })
    }
}

/// The pre-sale terms of those SKUs that have them.
pub fn of_skus(conn: &mut AnyConnection, sku_ids: &[i64]) -> QueryResult<Vec<PresaleRow>> {
    sku_presales::table
        .filter(sku_presales::sku_id.eq_any(sku_ids))
        .order(sku_presales::sku_id)
        .select(PresaleRow::as_select())
        .load(conn)
}

/// Sets the terms (a delete and an insert, in the caller's transaction).
pub fn set(conn: &mut AnyConnection, row: &PresaleRow) -> QueryResult<()> {
    diesel::delete(sku_presales::table.find(row.sku_id)).execute(conn)?;
    diesel::insert_into(sku_presales::table).values(row).execute(conn)?;
    Ok(())
}

pub fn clear(conn: &mut AnyConnection, sku_id: i64) -> QueryResult<usize> {
    diesel::delete(sku_presales::table.find(sku_id)).execute(conn)
}

/// The view of `sku_id` among `rows`, if it is on pre-sale.
pub fn view_of(rows: &[PresaleRow], sku_id: i64, now: NaiveDateTime) -> Option<PresaleView> {
    rows.iter().find(|r| r.sku_id == sku_id).map(|r| PresaleView::new(r, now))
}
