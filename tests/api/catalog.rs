use crate::helpers::{error_code, exec, spawn_app};
use serde_json::Value;

fn names(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .map(|items| items.iter().map(|i| i["name_zh"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

#[actix_web::test]
async fn chinese_search_finds_every_quinoa_product() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/api/v1/products?q=%E8%97%9C%E9%BA%A6").await; // 藜麦
    assert_eq!(status, 200);
    let found = names(&body);
    // Three quinoa products from stock and the new season's on pre-sale.
    assert_eq!(body["total"], 4, "{body}");
    assert_eq!(found.len(), 4);
    assert!(found.iter().all(|n| n.contains("藜麦")), "{found:?}");
    // Every listed product whose name mentions quinoa is among them.
    let (_, all) = app.get_json("/api/v1/products").await;
    let quinoa_everywhere = names(&all).into_iter().filter(|n| n.contains("藜麦")).count();
    assert_eq!(quinoa_everywhere, 4);

    // English search is case-insensitive; a substring in the middle of a word matches.
    let (_, en) = app.get_json("/api/v1/products?q=QUINOA").await;
    assert_eq!(en["total"], 4, "{en}");
    let (_, rice) = app.get_json("/api/v1/products?q=%E5%A4%A7%E7%B1%B3").await; // 大米
    assert!(names(&rice).iter().all(|n| n.contains("大米")) && rice["total"].as_i64() >= Some(1), "{rice}");
    // LIKE wildcards in the query are literal characters.
    let (_, percent) = app.get_json("/api/v1/products?q=%25").await;
    assert_eq!(percent["total"], 0, "{percent}");
}

#[actix_web::test]
async fn products_are_paginated_without_overlap() {
    let app = spawn_app().await;
    {
        let mut conn = app.conn();
        // 35 more listed products: 45 in all, three pages of 20, 20 and 5.
        for i in 0..35 {
            exec(
                &mut conn,
                &format!(
                    "INSERT INTO products (code, producer_id, name_zh, name_en, search_text) \
                     SELECT 'extra-{i}', id, '测试商品{i}', 'Test product {i}', 'test product {i}' FROM producers WHERE code = 'raohe-rice'"
                ),
            );
        }
    }
    let mut seen = Vec::new();
    let mut total = 0;
    for page in 1..=3 {
        let (status, body) = app.get_json(&format!("/api/v1/products?page={page}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["page"], page);
        total = body["total"].as_i64().unwrap_or(-1);
        let ids: Vec<i64> =
            body["items"].as_array().map(|a| a.iter().filter_map(|i| i["id"].as_i64()).collect()).unwrap_or_default();
        if page < 3 {
            assert_eq!(ids.len(), 20, "page {page}");
        }
        seen.extend(ids);
    }
    assert_eq!(total, 45);
    assert_eq!(seen.len(), 45);
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 45, "pages overlap");
    let (_, beyond) = app.get_json("/api/v1/products?page=4").await;
    assert_eq!(beyond["items"].as_array().map(Vec::len), Some(0));
    assert_eq!(beyond["total"], 45);
}

#[actix_web::test]
async fn filters_by_county_and_campaign() {
    let app = spawn_app().await;
    let (_, counties) = app.get_json("/api/v1/counties").await;
    let guyuan = counties["items"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["code"] == "130724"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(guyuan["name_zh"], "沽源县");
    assert_eq!(guyuan["aided"], true);
    assert_eq!(guyuan["product_count"], 6);
    let (_, in_guyuan) = app.get_json(&format!("/api/v1/products?county={}", guyuan["id"])).await;
    assert_eq!(in_guyuan["total"], 6);
    assert!(in_guyuan["items"].as_array().is_some_and(|items| items.iter().all(|i| i["county_zh"] == "沽源县")));

    let (_, campaigns) = app.get_json("/api/v1/campaigns").await;
    let items = campaigns["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3);
    let dragon = items.iter().find(|c| c["slug"] == "dragon-boat-2027").cloned().unwrap_or_default();
    assert_eq!(dragon["target"], "2000000.00");
    assert!(items.iter().any(|c| c["year_round"] == true && c["ends_on"].is_null()));
    let (_, in_dragon) = app.get_json(&format!("/api/v1/products?campaign={}", dragon["id"])).await;
    assert_eq!(in_dragon["total"], 6, "{in_dragon}");
    let (_, both) = app
        .get_json(&format!("/api/v1/products?campaign={}&county={}&q=%E8%97%9C%E9%BA%A6", dragon["id"], guyuan["id"]))
        .await;
    assert_eq!(both["total"], 3, "{both}");
}

#[actix_web::test]
async fn product_detail_has_skus_with_string_prices() {
    let app = spawn_app().await;
    let (_, list) = app.get_json("/api/v1/products?q=guyuan%20quinoa").await;
    let id = list["items"][0]["id"].as_i64().unwrap_or(0);
    let (status, product) = app.get_json(&format!("/api/v1/products/{id}")).await;
    assert_eq!(status, 200);
    let skus = product["skus"].as_array().cloned().unwrap_or_default();
    assert!(skus.len() >= 2, "{product}");
    let one_kg = skus.iter().find(|s| s["code"] == "GY-QUINOA-1KG").cloned().unwrap_or_default();
    assert_eq!(one_kg["price"], "39.90");
    assert_eq!(one_kg["stock"], 500);
    assert_eq!(one_kg["max_points_share"], 0.5);
    assert!(one_kg["id"].is_i64() && one_kg["name"].is_string());
    assert_eq!(one_kg["tiers"][0]["min_quantity"], 10);
    assert_eq!(one_kg["tiers"][0]["price"], "36.90");
    assert!(product["campaigns"].as_array().is_some_and(|c| !c.is_empty()));

    let (status, missing) = app.get_json("/api/v1/products/999999").await;
    assert_eq!((status, error_code(&missing)), (404, "not_found"));
    let (status, junk) = app.get_json("/api/v1/products/abc").await;
    assert_eq!((status, error_code(&junk)), (404, "not_found"));
}

#[actix_web::test]
async fn delisted_and_expired_products_are_shown_as_such() {
    let app = spawn_app().await;
    let (_, tea) = app.get_json("/api/v1/products?q=%E9%87%91%E8%8E%B2%E8%8A%B1").await; // 金莲花: certification expired
    assert_eq!(tea["items"][0]["aid_certified"], false, "{tea}");
    let id = tea["items"][0]["id"].as_i64().unwrap_or(0);
    exec(&mut app.conn(), &format!("UPDATE products SET listed = FALSE WHERE id = {id}"));
    let (status, _) = app.get_json(&format!("/api/v1/products/{id}")).await;
    assert_eq!(status, 404);
    let (_, after) = app.get_json("/api/v1/products?q=%E9%87%91%E8%8E%B2%E8%8A%B1").await;
    assert_eq!(after["total"], 0);
}
