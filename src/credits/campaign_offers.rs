//! What a campaign page sells: its products' SKUs at the price the order will charge in the
//! campaign (`orders::pricing::unit_price_fen` with the campaign's price), with a buy button.

use serde::Serialize;

use crate::app::AppState;
use crate::error::AppError;
use crate::money::Money;

#[derive(Serialize)]
pub struct Offer {
    pub product_id: i64,
    pub product_zh: String,
    pub product_en: String,
    pub sku_id: i64,
    pub sku_zh: String,
    pub sku_en: String,
    pub unit_zh: String,
    pub unit_en: String,
    pub unit_price: Money,
    pub list_price: Money,
    pub discounted: bool,
    pub in_stock: bool,
    pub image: Option<String>,
}

pub async fn offers(state: &AppState, campaign_id: i64) -> Result<Vec<Offer>, AppError> {
    let (rows, prices, images) = state
        .db(move |conn| {
            let (rows, prices) = crate::catalog::model::campaign_offers(conn, campaign_id)?;
            let mut ids: Vec<i64> = rows.iter().map(|r| r.product_id).collect();
            ids.dedup();
            let images = crate::catalog::model::first_images(conn, &ids)?;
            Ok((rows, prices, images))
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let unit = crate::orders::pricing::unit_price_fen(
                &crate::orders::pricing::SkuPrice {
                    sku_id: r.sku_id,
                    price_fen: r.price_fen,
                    tiers: Vec::new(),
                    campaign_price_fen: prices.iter().find(|p| p.0 == r.sku_id).map(|p| p.1),
                    max_points_pct: 0,
                },
                1,
            );
            Offer {
                image: images.iter().find(|i| i.0 == r.product_id).map(|i| i.1.url_for(112)),
                unit_price: Money::from_fen(unit),
                list_price: Money::from_fen(r.price_fen),
                discounted: unit < r.price_fen,
                in_stock: r.stock > 0,
                product_id: r.product_id,
                product_zh: r.product_zh,
                product_en: r.product_en,
                sku_id: r.sku_id,
                sku_zh: r.sku_zh,
                sku_en: r.sku_en,
                unit_zh: r.unit_zh,
                unit_en: r.unit_en,
            }
        })
        .collect())
}
