//! The rules of reviews: only the buyer, only after the line's parcel was received, once per
//! line; the cooperative replies once; a platform admin hides one with a reason.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model;
use crate::coop::service::Manager;
use crate::db::{self, AnyConnection};
use crate::error::AppError;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"stars": 5, "text": "藜麦颗粒饱满，煮粥很香 / plump grains", "photos": []}))]
pub struct ReviewRequest {
    pub stars: i32,
    #[serde(default)]
    pub text: String,
    /// Names of photos uploaded with `POST /api/v1/photos` (at most 6).
    #[serde(default)]
    pub photos: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reply": "谢谢支持！/ thank you"}))]
pub struct ReplyRequest {
    pub reply: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "含广告 / advertising"}))]
pub struct HideRequest {
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewAnswer {
    pub id: i64,
    pub product_id: i64,
    pub stars: i32,
}

fn text(field: &'static str, t: &str, min: usize) -> Result<String, AppError> {
    let t = t.trim();
    let n = t.chars().count();
    if n < min || n > 1000 {
        return Err(AppError::bad_request(
            "invalid_text",
            format!("{field} must have {min} to 1000 characters / 文字须为 {min} 至 1000 字"),
        ));
    }
    Ok(t.to_string())
}

fn already() -> AppError {
    AppError::conflict("already_reviewed", "this item has been reviewed / 该商品已评价")
}

/// `POST /api/v1/orders/{no}/lines/{line_id}/review`.
pub fn write(
    conn: &mut AnyConnection,
    buyer_id: i64,
    order_no: &str,
    line_id: i64,
    request: &ReviewRequest,
    now: NaiveDateTime,
) -> Result<ReviewAnswer, AppError> {
    if !(1..=5).contains(&request.stars) {
        return Err(AppError::bad_request("invalid_stars", "stars are 1 to 5 / 评分须为 1 至 5 星"));
    }
    let body = text("text", &request.text, 0)?;
    if request.photos.len() > crate::aftersales::service::MAX_PHOTOS {
        return Err(AppError::unprocessable("too_many_photos", "at most 6 photos / 最多 6 张照片"));
    }
    let photos: Vec<String> = request.photos.iter().map(|p| p.trim_start_matches("/images/").to_string()).collect();
    let known = crate::aftersales::model::known_photos(conn, &photos)?;
    if photos.iter().any(|p| !known.contains(p)) {
        return Err(AppError::unprocessable(
            "unknown_photo",
            "upload each photo first (POST /api/v1/photos) / 请先上传照片",
        ));
    }
    let order = crate::orders::model::order_by_no(conn, order_no)?
        .filter(|o| o.buyer_id == buyer_id)
        .ok_or(AppError::NotFound)?;
    let lines = crate::orders::model::lines_of(conn, order.id)?;
    let line = lines.iter().find(|l| l.id == line_id).ok_or(AppError::NotFound)?;
    let received = crate::aftersales::model::shipments_of(conn, order.id)?.iter().any(|p| {
        p.after_sales_id.is_none()
            && p.producer_id == line.producer_id
            && p.recipient_id == line.recipient_id
            && p.received_at.is_some()
    });
    if !received {
        return Err(AppError::conflict("not_received", "review after the goods arrive / 确认收货后才能评价"));
    }
    let names = crate::orders::service::names_of(conn, std::slice::from_ref(line))?;
    let (product_id, _) = crate::orders::service::names_for(&names, line.sku_id);
    db::write_tx(conn, |conn| {
        if model::exists_for_line(conn, line.id)? {
            return Err(already());
        }
        let new = model::NewReview { order_line_id: line.id, product_id, buyer_id, stars: request.stars, text: &body };
        let id = model::insert(conn, &new, now).map_err(|e| match e {
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => already(),
            other => other.into(),
        })?;
        model::insert_photos(conn, id, &photos)?;
        Ok(ReviewAnswer { id, product_id, stars: request.stars })
    })
}

/// The cooperative of the reviewed product replies, once.
pub fn reply(
    conn: &mut AnyConnection,
    m: &Manager,
    id: i64,
    request: &ReplyRequest,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let reply = text("reply", &request.reply, 1)?;
    let (_, producer) = model::product_of(conn, id)?.ok_or(AppError::NotFound)?;
    if !m.producers.contains(&producer) {
        return Err(AppError::NotFound);
    }
    if !model::reply(conn, id, &reply, m.user_id, now)? {
        return Err(AppError::conflict("already_replied", "this review already has a reply / 已回复过该评价"));
    }
    Ok(())
}

/// A platform admin hides a review with a reason; it is kept.
pub fn hide(
    conn: &mut AnyConnection,
    admin_id: i64,
    id: i64,
    request: &HideRequest,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let reason = text("reason", &request.reason, 1)?;
    if !model::exists(conn, id)? {
        return Err(AppError::NotFound);
    }
    if !model::hide(conn, id, &reason, admin_id, now)? {
        return Err(AppError::conflict("already_hidden", "this review is hidden already / 该评价已隐藏"));
    }
    Ok(())
}
