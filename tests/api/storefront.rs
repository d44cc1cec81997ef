//! The storefront as shoppers meet it: prices as the order charges them, the cart that follows
//! the account, local times, search as people type.

use diesel::prelude::*;
use serde_json::json;

use crate::helpers::{client, error_code, send_json, spawn_app, spawn_app_with, KillOnDrop, TestApp};

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    a: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    b: i64,
}

fn pairs(app: &TestApp, sql: &str) -> Vec<(i64, i64)> {
    diesel::sql_query(sql)
        .load::<Pair>(&mut app.conn())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|p| (p.a, p.b))
        .collect()
}

/// The number in `attr="…"` after `marker` in a page.
fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let rest = &html[at..];
    let start = rest.find(&format!("{attr}=\""))? + attr.len() + 2;
    rest[start..].split('"').next().map(str::to_string)
}

fn fen(yuan: &str) -> i64 {
    let (whole, frac) = yuan.split_once('.').unwrap_or((yuan, "0"));
    let whole: i64 = whole.replace(',', "").parse().unwrap_or(-1);
    let frac: i64 = format!("{frac:0<2}")[..2].parse().unwrap_or(-1);
    whole * 100 + frac
}

async fn empty_cart(app: &TestApp, c: &reqwest::Client) {
    let (status, cart) = send_json(c.get(app.url("/api/v1/cart"))).await;
    assert_eq!(status, 200, "{cart}");
    for item in cart["items"].as_array().cloned().unwrap_or_default() {
        let sku = item["sku_id"].as_i64().unwrap_or_default();
        let (status, _) = send_json(c.delete(app.url(&format!("/api/v1/cart/items/{sku}")))).await;
        assert_eq!(status, 200);
    }
}

const ADDRESS: &str = r#"{"name":"李强","mobile":"13800138000","province":"北京市","city":"北京市","district":"西城区","detail":"金融大街1号"}"#;

#[actix_web::test]
async fn checkout_total_equals_the_order_total_for_every_sku_in_every_campaign() {
    let app = spawn_app().await;
    let buyer = app.client_for("employee@example.com").await;
    // Every listed SKU of every campaign's products, at 1 and at each of its tier thresholds.
    let skus = pairs(
        &app,
        "SELECT cp.campaign_id AS a, s.id AS b FROM campaign_products cp JOIN skus s ON s.product_id = cp.product_id \
         WHERE s.listed ORDER BY cp.campaign_id, s.id",
    );
    let tiers = pairs(&app, "SELECT sku_id AS a, min_quantity AS b FROM sku_price_tiers");
    assert!(skus.len() >= 20, "the demo campaigns cover many SKUs: {}", skus.len());
    let address: serde_json::Value = serde_json::from_str(ADDRESS).unwrap_or_default();
    let (mut checked, mut below_list) = (0, 0);
    for (campaign, sku) in &skus {
        let mut quantities = vec![1];
        quantities.extend(tiers.iter().filter(|t| t.0 == *sku).map(|t| t.1));
        let stock = crate::helpers::scalar(&mut app.conn(), &format!("SELECT stock AS n FROM skus WHERE id = {sku}"));
        quantities.retain(|q| *q <= stock);
        for quantity in quantities {
            empty_cart(&app, &buyer).await;
            let (status, cart) = send_json(
                buyer.post(app.url("/api/v1/cart/items")).json(&json!({"sku_id": sku, "quantity": quantity})),
            )
            .await;
            assert_eq!(status, 200, "{cart}");
            let res = buyer.get(app.url(&format!("/checkout?campaign_id={campaign}"))).send().await.expect("checkout");
            assert_eq!(res.status(), 200);
            let html = res.text().await.unwrap_or_default();
            // The campaign is offered when it is running; its option is then the selected one.
            let option = format!("<option value=\"{campaign}\"");
            let Some(at) = html.find(&option) else { continue };
            let tag = html[at..].split('>').next().unwrap_or_default();
            assert!(tag.contains(" selected"), "campaign {campaign} is chosen: {tag}");
            let shown: i64 =
                attr_after(&html, "id=\"cash-due\"", "data-total-fen").and_then(|v| v.parse().ok()).unwrap_or(-1);
            let goods = html.split("id=\"goods-total\">").nth(1).and_then(|r| r.split('<').next()).map(fen);
            assert_eq!(goods, Some(shown), "the goods total and the amount due agree");
            let (status, order) = send_json(buyer.post(app.url("/api/v1/orders")).json(&json!({
                "lines": [{"sku_id": sku, "quantity": quantity}], "campaign_id": campaign, "points": 0, "address": address,
            })))
            .await;
            assert_eq!(status, 201, "sku {sku} × {quantity} in campaign {campaign}: {order}");
            let total = fen(order["total"].as_str().unwrap_or(""));
            assert_eq!(
                shown, total,
                "checkout shows what the order charges: sku {sku} × {quantity}, campaign {campaign}"
            );
            let list: i64 =
                crate::helpers::scalar(&mut app.conn(), &format!("SELECT price_fen AS n FROM skus WHERE id = {sku}"));
            if total < list * quantity {
                below_list += 1;
            }
            // Cancel, so the stock is there for the next SKU.
            let no = order["order_no"].as_str().unwrap_or_default().to_string();
            let (status, _) = send_json(buyer.post(app.url(&format!("/api/v1/orders/{no}/cancel")))).await;
            assert_eq!(status, 200);
            checked += 1;
        }
    }
    assert!(checked >= 30, "SKU × campaign × quantity combinations checked: {checked}");
    assert!(below_list >= 5, "campaign and tier prices were among them: {below_list}");
}

#[actix_web::test]
async fn product_cart_and_checkout_show_the_campaign_price() {
    let app = spawn_app().await;
    let zongzi = app.sku("GY-ZONGZI-8");
    let product: i64 =
        crate::helpers::scalar(&mut app.conn(), &format!("SELECT product_id AS n FROM skus WHERE id = {zongzi}"));
    let html = app.get(&format!("/products/{product}")).await.text().await.unwrap_or_default();
    assert!(html.contains("活动价"), "the campaign price is named");
    assert!(html.contains("55.00") && html.contains("<del class=\"price-list\">"), "¥55.00 beside the struck ¥59.90");
    assert!(html.contains("59.90"));
    let buyer = app.client_for("employee@example.com").await;
    send_json(buyer.post(app.url("/api/v1/cart/items")).json(&json!({"sku_id": zongzi, "quantity": 2}))).await;
    let (_, cart) = send_json(buyer.get(app.url("/api/v1/cart"))).await;
    assert_eq!(cart["total"], "110.00", "the cart is priced in the campaign the checkout picks: {cart}");
    assert_eq!(cart["items"][0]["unit_price"], "55.00");
    assert_eq!(cart["items"][0]["list_price"], "59.90");
    let page = buyer.get(app.url("/cart")).send().await.expect("cart").text().await.unwrap_or_default();
    assert!(page.contains("110.00") && page.contains("<del"), "cart page");
    let checkout = buyer.get(app.url("/checkout")).send().await.expect("checkout").text().await.unwrap_or_default();
    assert!(checkout.contains("积分抵扣"), "the points deduction line is shown before submitting");
    assert!(checkout.contains("data-total-fen=\"11000\""), "checkout total ¥110.00");
}

#[actix_web::test]
async fn the_cart_follows_the_account_and_takes_in_the_anonymous_cart() {
    let app = spawn_app().await;
    let (quinoa, rice) = (app.sku("GY-QUINOA-1KG"), app.sku("RH-RICE-5KG"));
    // On a phone, signed in: two bags of quinoa.
    let phone = app.client_for("buyer@example.com").await;
    let (status, cart) =
        send_json(phone.post(app.url("/api/v1/cart/items")).json(&json!({"sku_id": quinoa, "quantity": 2}))).await;
    assert_eq!(status, 200, "{cart}");
    assert_eq!(cart["count"], 2);
    // On a laptop, not yet signed in: rice and one more bag of quinoa.
    let laptop = client();
    for (sku, q) in [(rice, 1), (quinoa, 1)] {
        let (status, body) =
            send_json(laptop.post(app.url("/api/v1/cart/items")).json(&json!({"sku_id": sku, "quantity": q}))).await;
        assert_eq!(status, 200, "{body}");
    }
    let page = laptop.get(app.url("/")).send().await.expect("home").text().await.unwrap_or_default();
    assert!(page.contains("class=\"cart-count\">2<"), "the header counts the anonymous cart");
    let res = laptop
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "buyer@example.com", "password": "aidmart-demo"}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), 200);
    let (_, merged) = send_json(laptop.get(app.url("/api/v1/cart"))).await;
    let lines: Vec<(i64, i64)> = merged["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|i| (i["sku_id"].as_i64().unwrap_or(0), i["quantity"].as_i64().unwrap_or(0)))
        .collect();
    assert_eq!(lines, vec![(quinoa, 3), (rice, 1)], "quantities add up, the account's lines first");
    // The phone sees the same cart, once.
    let (_, on_phone) = send_json(phone.get(app.url("/api/v1/cart"))).await;
    assert_eq!(on_phone["count"], 4);
    let (_, again) = send_json(laptop.get(app.url("/api/v1/cart"))).await;
    assert_eq!(again["count"], 4, "the anonymous cart is merged once");
    let (status, _) = send_json(phone.delete(app.url(&format!("/api/v1/cart/items/{rice}")))).await;
    assert_eq!(status, 200);
    let (_, after) = send_json(laptop.get(app.url("/api/v1/cart"))).await;
    assert_eq!(after["count"], 3);
    let (status, set) =
        send_json(phone.put(app.url(&format!("/api/v1/cart/items/{quinoa}"))).json(&json!({"quantity": 1}))).await;
    assert_eq!((status, set["count"].as_i64()), (200, Some(1)));
    // Refusals.
    let (status, body) =
        send_json(phone.post(app.url("/api/v1/cart/items")).json(&json!({"sku_id": 999_999, "quantity": 1}))).await;
    assert_eq!((status, error_code(&body)), (422, "unknown_sku"));
    let (status, body) =
        send_json(phone.post(app.url("/api/v1/cart/items")).json(&json!({"sku_id": quinoa, "quantity": 0}))).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_quantity"));
    let (status, body) = send_json(
        phone.post(app.url("/api/v1/cart/items")).json(&json!({"sku_id": quinoa, "quantity": 1, "price": "0.01"})),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_json"), "a price is not the client's to send");
}

#[actix_web::test]
async fn times_on_pages_are_in_the_configured_zone() {
    for (zone, hours) in [("Asia/Shanghai", 8), ("UTC", 0)] {
        let app = spawn_app_with(&[("AIDMART_TIMEZONE", zone)]).await;
        let buyer = app.client_for("employee@example.com").await;
        let address: serde_json::Value = serde_json::from_str(ADDRESS).unwrap_or_default();
        let (status, order) = send_json(buyer.post(app.url("/api/v1/orders")).json(&json!({
            "lines": [{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}], "points": 0, "address": address,
        })))
        .await;
        assert_eq!(status, 201, "{order}");
        let no = order["order_no"].as_str().unwrap_or_default();
        let created: chrono::NaiveDateTime = order["created_at"]
            .as_str()
            .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").ok())
            .unwrap_or_default();
        let local = (created + chrono::Duration::hours(hours)).format("%Y-%m-%d %H:%M").to_string();
        let page =
            buyer.get(app.url(&format!("/orders/{no}"))).send().await.expect("order").text().await.unwrap_or_default();
        assert!(page.contains(&local), "{zone}: the order page shows {local}");
        let deadline = order["payment_deadline"]
            .as_str()
            .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").ok())
            .map(|d| (d + chrono::Duration::hours(hours)).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let countdown = format!("请在 {deadline} 前完成支付");
        assert!(page.contains(&countdown) && page.contains("data-seconds-left=\""), "{zone}: {countdown}");
        let list = buyer.get(app.url("/orders")).send().await.expect("orders").text().await.unwrap_or_default();
        assert!(list.contains(&local), "{zone}: the order list shows {local}");
        assert!(!has_iso_time(&page) && !has_iso_time(&list), "{zone}: no raw ISO times");
    }
}

/// Whether the text holds a raw `2026-11-26T15:34` time.
fn has_iso_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.windows(14).any(|w| {
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        digits(0..4)
            && w[4] == b'-'
            && digits(5..7)
            && w[7] == b'-'
            && digits(8..10)
            && w[10] == b'T'
            && digits(11..13)
            && w[13] == b':'
    })
}

#[test]
fn iso_times_are_recognised() {
    assert!(has_iso_time("at 2026-11-26T15:34:13.66"));
    assert!(!has_iso_time("at 2026-11-26 23:34"));
}

#[actix_web::test]
async fn the_binary_serves_the_demo_store_from_an_empty_folder() {
    let folder = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let url = format!("sqlite://{}", folder.path().join("store.db").display());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_aidmart"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(folder.path())
        .env_clear()
        .env("DATABASE_URL", &url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the binary");
    let _server = KillOnDrop(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = client();
    let mut ready = false;
    for _ in 0..240 {
        if let Ok(res) = http.get(format!("{base}/healthz")).send().await {
            if res.status() == 200 {
                ready = true;
                break;
            }
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(ready, "the server answered /healthz within a minute");
    let home = http.get(format!("{base}/")).send().await.expect("home").text().await.unwrap_or_default();
    assert!(home.contains("沽源县") && home.contains("端午"), "the demo store, from the data built into the binary");
    let search = http.get(format!("{base}/search?q=%E8%97%9C%E9%BA%A6")).send().await.expect("search");
    assert_eq!(search.status(), 200);
    assert!(!folder.path().join("seed").exists(), "no seed folder was needed");
}

#[actix_web::test]
async fn search_finds_pinyin_and_initials_and_ranks_names_first() {
    let app = spawn_app().await;
    for q in ["limai", "lm", "LiMai", "li%20mai", "%E6%B2%BD%E6%BA%90%20%E8%97%9C%E9%BA%A6", "gylm", "Guyuan%20Quinoa"]
    {
        let (status, body) = app.get_json(&format!("/api/v1/products?q={q}")).await;
        assert_eq!(status, 200);
        let names: Vec<&str> = body["items"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["name_zh"].as_str()).collect())
            .unwrap_or_default();
        assert!(names.contains(&"沽源藜麦"), "?q={q} finds 沽源藜麦: {names:?}");
        let page = app.get(&format!("/search?q={q}")).await.text().await.unwrap_or_default();
        assert!(page.contains("沽源藜麦"), "the search page too, for {q}");
    }
    // Cooperatives and counties are found by their pinyin as well.
    let (_, body) = app.get_json("/api/v1/products?q=kangbao").await;
    assert!(body["total"].as_i64().unwrap_or(0) >= 2, "康保 by pinyin: {body}");
    // A word only in a description comes after the products named by it.
    let (_, body) = app.get_json("/api/v1/products?q=%E8%97%9C%E9%BA%A6").await;
    let names: Vec<String> = body["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["name_zh"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let first_other = names.iter().position(|n| !n.contains("藜麦")).unwrap_or(names.len());
    assert!(names[..first_other].len() >= 3 && names[first_other..].iter().all(|n| !n.contains("藜麦")), "{names:?}");
}

#[actix_web::test]
async fn products_show_what_has_sold_and_counties_without_products_are_coming_soon() {
    let app = spawn_app().await;
    let buyer = app.client_for("employee@example.com").await;
    let address: serde_json::Value = serde_json::from_str(ADDRESS).unwrap_or_default();
    let (status, order) = send_json(buyer.post(app.url("/api/v1/orders")).json(&json!({
        "lines": [{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 3}], "points": 0, "address": address,
    })))
    .await;
    assert_eq!(status, 201, "{order}");
    let product: i64 = crate::helpers::scalar(
        &mut app.conn(),
        &format!("SELECT product_id AS n FROM skus WHERE id = {}", app.sku("GY-QUINOA-1KG")),
    );
    let before = app.get(&format!("/products/{product}")).await.text().await.unwrap_or_default();
    assert!(!before.contains("已售 3 件"), "unpaid orders are not sales");
    let payment = order["payment_id"].as_str().unwrap_or_default();
    let (status, _) = send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{payment}/complete")))).await;
    assert_eq!(status, 200);
    let (_, detail) = app.get_json(&format!("/api/v1/products/{product}")).await;
    assert_eq!(detail["sold"], 3, "{detail}");
    // The catalog cache may hold the page for a moment.
    let mut shown = false;
    for _ in 0..20 {
        let page = app.get(&format!("/products/{product}")).await.text().await.unwrap_or_default();
        if page.contains("已售 3 件") {
            shown = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(shown, "the product page says 已售 3 件");
    let empty: i64 = crate::helpers::scalar(
        &mut app.conn(),
        "SELECT COUNT(*) AS n FROM counties c WHERE c.aided AND NOT EXISTS (SELECT 1 FROM producers p JOIN products x ON x.producer_id = p.id WHERE p.county_id = c.id AND x.listed)",
    );
    let home = app.get("/").await.text().await.unwrap_or_default();
    assert_eq!(home.matches("即将上架").count() as i64, empty, "each aided county without products is marked 即将上架");
}

#[actix_web::test]
async fn chinese_pages_name_stock_changes_in_chinese() {
    let app = spawn_app().await;
    let buyer = app.client_for("employee@example.com").await;
    let address: serde_json::Value = serde_json::from_str(ADDRESS).unwrap_or_default();
    let sku = app.sku("GY-QUINOA-1KG");
    let (status, order) = send_json(buyer.post(app.url("/api/v1/orders")).json(&json!({
        "lines": [{"sku_id": sku, "quantity": 1}], "points": 0, "address": address,
    })))
    .await;
    assert_eq!(status, 201, "{order}");
    let no = order["order_no"].as_str().unwrap_or_default();
    let (status, _) = send_json(buyer.post(app.url(&format!("/api/v1/orders/{no}/cancel")))).await;
    assert_eq!(status, 200);
    let coop = app.client_for("coop@example.com").await;
    let page = coop.get(app.url(&format!("/coop/skus/{sku}"))).send().await.expect("sku page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("售出") && html.contains("订单取消"), "the sale and the cancellation, in Chinese");
    assert!(!html.contains(">sale") && !html.contains(">cancel<"), "no stored English codes");
    assert!(!has_iso_time(&html), "no raw times");
}

#[actix_web::test]
async fn the_address_book_fills_checkout_with_the_default_address() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let page = buyer.get(app.url("/account/addresses")).send().await.expect("book").text().await.unwrap_or_default();
    let csrf = crate::helpers::csrf_from(&page);
    let add = |name: &'static str, district: &'static str, code: &'static str, default: bool| {
        let mut form = vec![
            ("_csrf", csrf.clone()),
            ("name", name.to_string()),
            ("mobile", "13800138000".to_string()),
            ("province", "河北省".to_string()),
            ("city", "张家口市".to_string()),
            ("district", district.to_string()),
            ("detail", "平定堡镇 1 号".to_string()),
            ("division_code", code.to_string()),
        ];
        if default {
            form.push(("make_default", "1".to_string()));
        }
        buyer.post(app.url("/account/addresses")).form(&form).send()
    };
    assert_eq!(add("赵六", "沽源县", "130724", true).await.expect("add").status(), 303);
    assert_eq!(add("钱七", "康保县", "130723", false).await.expect("add").status(), 303);
    let bad = add("孙八", "沽源县", "x", true).await.expect("add");
    let bad_form = [
        ("_csrf", csrf.as_str()),
        ("name", "孙八"),
        ("mobile", "123"),
        ("province", "河北省"),
        ("city", "张家口市"),
        ("district", "沽源县"),
        ("detail", "1 号"),
    ];
    assert_eq!(bad.status(), 303, "a code the picker does not know is dropped, the address kept");
    let refused = buyer.post(app.url("/account/addresses")).form(&bad_form).send().await.expect("bad");
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap_or_default().contains("value=\"孙八\""), "typed input kept after an error");
    let code: i64 =
        crate::helpers::scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM addresses WHERE division_code = '130724'");
    assert_eq!(code, 1, "the county's GB/T 2260 code is kept with the address");

    send_json(buyer.post(app.url("/api/v1/cart/items")).json(&json!({"sku_id": app.sku("GY-QUINOA-1KG")}))).await;
    let checkout = buyer.get(app.url("/checkout")).send().await.expect("checkout").text().await.unwrap_or_default();
    assert!(
        checkout.contains("id=\"addr-name\" type=\"text\" name=\"name\" value=\"孙八\""),
        "the default is pre-filled"
    );
    let id = crate::helpers::scalar(&mut app.conn(), "SELECT id AS n FROM addresses WHERE name = '钱七'");
    let res = buyer
        .post(app.url(&format!("/account/addresses/{id}/default")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("default");
    assert_eq!(res.status(), 303);
    let checkout = buyer.get(app.url("/checkout")).send().await.expect("checkout").text().await.unwrap_or_default();
    assert!(checkout.contains("value=\"钱七\""), "the new default is pre-filled");
    // Nobody else can touch it.
    let other = app.client_for("employee@example.com").await;
    let other_page =
        other.get(app.url("/account/addresses")).send().await.expect("book").text().await.unwrap_or_default();
    assert!(!other_page.contains("钱七"));
    let other_csrf = crate::helpers::csrf_from(&other_page);
    let res = other
        .post(app.url(&format!("/account/addresses/{id}/delete")))
        .form(&[("_csrf", other_csrf.as_str())])
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 404);
    let res = buyer
        .post(app.url(&format!("/account/addresses/{id}/delete")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), 303);
    let left = crate::helpers::scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM addresses WHERE is_default");
    assert_eq!(left, 1, "another address became the default");
    let divisions = app.get("/static/divisions.json").await;
    assert_eq!(divisions.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    let map: serde_json::Value = divisions.json().await.unwrap_or_default();
    assert_eq!(
        (map["13"].as_str(), map["1307"].as_str(), map["130724"].as_str()),
        (Some("河北省"), Some("张家口市"), Some("沽源县"))
    );
}

#[actix_web::test]
async fn the_ledger_check_is_a_page_people_can_read() {
    let app = spawn_app().await;
    let res = app.get("/ledger/verify").await;
    assert_eq!(res.status(), 200);
    assert!(res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/html")));
    let html = res.text().await.unwrap_or_default();
    assert!(html.contains("data-testid=\"verify-ok\"") && html.contains("校验通过"), "verified");
    assert!(html.contains("scripts/ledger.py verify") && html.contains("/api/v1/ledger/checkpoints"), "how to check");
    let home = app.get("/").await.text().await.unwrap_or_default();
    assert!(home.contains("href=\"/ledger/verify\""), "the footer links the page, not raw JSON");
    let (status, api) = app.get_json("/api/v1/ledger/verify").await;
    assert_eq!((status, api["ok"].as_bool()), (200, Some(true)));
}

#[actix_web::test]
async fn campaign_pages_sell_at_campaign_prices() {
    let app = spawn_app().await;
    let html = app.get("/campaigns/dragon-boat-2027").await.text().await.unwrap_or_default();
    let zongzi = app.sku("GY-ZONGZI-8");
    let at = html.find(&format!("name=\"sku_id\" value=\"{zongzi}\"")).unwrap_or(0);
    assert!(at > 0, "a buy button for the zongzi gift box");
    let card = &html[html[..at].rfind("<li class=\"panel offer\">").unwrap_or(0)..at];
    assert!(
        card.contains("55.00") && card.contains("<del") && card.contains("59.90"),
        "the campaign price beside the list price"
    );
    assert!(html.contains("action=\"/cart/add\""));
    let year_round = app.get("/campaigns/year-round").await.text().await.unwrap_or_default();
    assert!(year_round.matches("class=\"panel offer\"").count() >= 9, "every product of the year-round campaign");
}

#[actix_web::test]
async fn cooperatives_ship_ticked_parcels_with_a_carrier_from_the_list() {
    let app = spawn_app().await;
    let buyer = app.client_for("employee@example.com").await;
    let address: serde_json::Value = serde_json::from_str(ADDRESS).unwrap_or_default();
    let mut numbers = Vec::new();
    for _ in 0..2 {
        let (status, order) = send_json(buyer.post(app.url("/api/v1/orders")).json(&json!({
            "lines": [{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}], "points": 0, "address": address,
        })))
        .await;
        assert_eq!(status, 201, "{order}");
        let payment = order["payment_id"].as_str().unwrap_or_default();
        let (status, _) = send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{payment}/complete")))).await;
        assert_eq!(status, 200);
        numbers.push(order["order_no"].as_str().unwrap_or_default().to_string());
    }
    let coop = app.client_for("coop@example.com").await;
    let html = coop.get(app.url("/coop/shipping")).send().await.expect("page").text().await.unwrap_or_default();
    for carrier in ["顺丰速运", "京东物流", "中通", "圆通", "韵达", "申通", "EMS", "中国邮政"] {
        assert!(html.contains(&format!("<option value=\"{carrier}\">")), "{carrier} offered");
    }
    assert!(html.contains("name=\"pick\""), "parcels are ticked, not one form each");
    let index = |no: &str| -> String {
        let at = html.find(&format!("value=\"{no},")).unwrap_or(0);
        html[..at].rsplit("name=\"key_").next().unwrap_or_default().split('"').next().unwrap_or_default().to_string()
    };
    let (a, b) = (index(&numbers[0]), index(&numbers[1]));
    let csrf = crate::helpers::csrf_from(&html);
    let key = |i: &str| {
        let at =
            html.find(&format!("name=\"key_{i}\" value=\"")).unwrap_or(0) + format!("name=\"key_{i}\" value=\"").len();
        html[at..].split('"').next().unwrap_or_default().to_string()
    };
    // A carrier not on the list is refused; so is a ticked parcel without a tracking number.
    let form = vec![
        ("_csrf".to_string(), csrf.clone()),
        ("carrier".to_string(), "FooExpress".to_string()),
        ("pick".to_string(), a.clone()),
        (format!("key_{a}"), key(&a)),
        (format!("tracking_{a}"), "SF100000001001".to_string()),
    ];
    let res = coop.post(app.url("/coop/shipping/selected")).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 400);
    let form = vec![
        ("_csrf".to_string(), csrf.clone()),
        ("carrier".to_string(), "顺丰速运".to_string()),
        ("pick".to_string(), a.clone()),
        (format!("key_{a}"), key(&a)),
        (format!("tracking_{a}"), "SF100000001001".to_string()),
        ("pick".to_string(), b.clone()),
        (format!("key_{b}"), key(&b)),
        (format!("tracking_{b}"), String::new()),
    ];
    let res = coop.post(app.url("/coop/shipping/selected")).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap_or_default().contains(&numbers[1]), "the order without a tracking number is named");
    let mut form = form;
    form[7].1 = "SF100000001002".to_string();
    let res = coop.post(app.url("/coop/shipping/selected")).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 200);
    for no in &numbers {
        let (_, order) = send_json(buyer.get(app.url(&format!("/api/v1/orders/{no}")))).await;
        assert_eq!(order["status"], "shipped", "{no}: {order}");
    }
}

#[actix_web::test]
async fn concurrent_cart_changes_of_one_buyer_are_all_kept() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let skus: Vec<i64> = ["GY-QUINOA-1KG", "RH-RICE-5KG"].iter().map(|code| app.sku(code)).collect();
    // 16 adds at once from "two tabs": eight per SKU, on an empty cart (the first insert races).
    let adds = (0..16).map(|i| {
        let (buyer, url, sku) = (buyer.clone(), app.url("/api/v1/cart/items"), skus[i % 2]);
        async move { send_json(buyer.post(url).json(&json!({"sku_id": sku, "quantity": 1}))).await }
    });
    for (status, body) in futures_util::future::join_all(adds).await {
        assert_eq!(status, 200, "{body}");
    }
    let (_, cart) = send_json(buyer.get(app.url("/api/v1/cart"))).await;
    let mut lines: Vec<(i64, i64)> = cart["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|i| (i["sku_id"].as_i64().unwrap_or(0), i["quantity"].as_i64().unwrap_or(0)))
        .collect();
    lines.sort_unstable();
    let mut expected = vec![(skus[0], 8), (skus[1], 8)];
    expected.sort_unstable();
    assert_eq!(lines, expected, "no add is lost and no line is doubled");
}
