//! A distribution parcel's recipient confirms receipt through the parcel's link, with no
//! account: union@example.com administers demo-group-union; coop@example.com ships the
//! quinoa (GY-QUINOA-*) of guyuan-quinoa-coop.

use serde_json::Value;

use crate::helpers::{client, csrf_from, scalar, send_json, spawn_app, TestApp};

fn count(app: &TestApp, sql: &str) -> i64 {
    scalar(&mut app.conn(), sql)
}

/// A union distribution to three people, each parcel shipped; returns the order number and,
/// per recipient, (recipient id, parcel id, receipt link) as the organisation's order JSON
/// lists them.
async fn shipped_distribution(app: &TestApp) -> (String, Vec<(i64, i64, String)>) {
    let union = count(app, "SELECT id AS n FROM organisations WHERE slug = 'demo-group-union'");
    let admin = app.client_for("union@example.com").await;
    let coop = app.client_for("coop@example.com").await;
    let csv = "name,mobile,address,sku,quantity\n张三,13800138000,北京市西城区 1 号,GY-QUINOA-1KG,1\n李四,13900139000,上海市浦东新区 2 号,GY-QUINOA-1KG,2\n王五,13700137000,广州市天河区 3 号,GY-QUINOA-1KG,1\n";
    let (status, order) = send_json(
        admin
            .post(app.url(&format!("/api/v1/orgs/{union}/distributions")))
            .header("content-type", "text/csv")
            .body(csv),
    )
    .await;
    assert_eq!((status, order["status"].as_str()), (201, Some("paid")), "{order}");
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let org_order = |app: &TestApp| {
        let (admin, url) = (admin.clone(), app.url(&format!("/api/v1/orgs/{union}/orders/{no}")));
        async move { send_json(admin.get(url)).await }
    };
    // Before shipping: parcels waiting, no links.
    let (status, v) = org_order(app).await;
    assert_eq!(status, 200, "{v}");
    let parts = v["parts"].as_array().cloned().unwrap_or_default();
    assert_eq!(parts.len(), 3, "{v}");
    assert!(parts.iter().all(|p| p["status"] == "awaiting_shipment" && p.get("receipt_url").is_none()), "{v}");
    let recipients: Vec<i64> = parts.iter().filter_map(|p| p["recipient_id"].as_i64()).collect();
    for (i, r) in recipients.iter().enumerate() {
        let body = serde_json::json!({"order_no": no, "recipient_id": r, "carrier": "顺丰速运",
                                      "tracking_no": format!("SF12345678901{i}")});
        let (status, answer) = send_json(coop.post(app.url("/api/v1/coop/shipments")).json(&body)).await;
        assert_eq!(status, 201, "{answer}");
    }
    let (_, v) = org_order(app).await;
    assert_eq!(v["status"], "shipped", "{v}");
    let out: Vec<(i64, i64, String)> = v["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let url = p["receipt_url"].as_str().unwrap_or_else(|| panic!("a link per shipped parcel: {v}"));
            let path = url.strip_prefix(&app.base).unwrap_or_else(|| panic!("on the site: {url}")).to_string();
            (p["recipient_id"].as_i64().unwrap_or_default(), p["id"].as_i64().unwrap_or_default(), path)
        })
        .collect();
    assert_eq!(out.len(), 3);
    (no, out)
}

async fn page(c: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let res = c.get(app.url(path)).send().await.expect("page");
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

/// Opens the link and presses 确认收货 as a phone with no account would.
async fn confirm(app: &TestApp, path: &str) -> (u16, String) {
    let phone = client();
    let (status, html) = page(&phone, app, path).await;
    assert_eq!(status, 200, "{html}");
    let res = phone.post(app.url(path)).form(&[("_csrf", csrf_from(&html))]).send().await.expect("post");
    let status = res.status().as_u16();
    let location = res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!((status, location.as_str()), (303, path));
    page(&phone, app, path).await
}

fn received(app: &TestApp, part: i64) -> i64 {
    count(app, &format!("SELECT COUNT(*) AS n FROM shipments WHERE id = {part} AND received_at IS NOT NULL"))
}

#[actix_web::test]
async fn a_recipients_link_confirms_only_their_own_parcel_and_the_last_one_makes_the_order_received() {
    let app = spawn_app().await;
    let (no, parcels) = shipped_distribution(&app).await;
    let (_, first, link) = &parcels[0];
    // The page, in Chinese by default: who, what, how it travels, and the button.
    let phone = client();
    let (status, html) = page(&phone, &app, link).await;
    assert_eq!(status, 200);
    assert!(html.contains("张三 138****8000") && !html.contains("13800138000"), "{html}");
    assert!(html.contains("SF123456789010") && html.contains("顺丰速运") && html.contains("× 1"), "{html}");
    assert!(html.contains("确认收货") && html.contains("待收货") && html.contains("data-testid=\"recipient-confirm\""));
    let (status, html) = page(&phone, &app, &format!("{link}?lang=en")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Confirm receipt") && html.contains("On its way"), "{html}");

    let (status, html) = confirm(&app, link).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("已收货") && html.contains("data-testid=\"received-at\"") && !html.contains("recipient-confirm")
    );
    assert_eq!(received(&app, *first), 1);
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) AS n FROM shipments WHERE id = {first} AND received_by IS NULL")),
        1
    );
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM shipments WHERE received_at IS NOT NULL"), 1, "only its own");
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) AS n FROM orders WHERE order_no = '{no}' AND status = 'shipped'")),
        1
    );
    let at = count(
        &app,
        &format!("SELECT COUNT(*) AS n FROM order_events WHERE note = 'parcel {first} received by its recipient'"),
    );
    assert_eq!(at, 1);

    // Repeated: the same page, nothing changes.
    let before: String = {
        use aidmart::db::schema::shipments;
        use diesel::prelude::*;
        shipments::table
            .find(first)
            .select(shipments::received_at)
            .first::<Option<chrono::NaiveDateTime>>(&mut app.conn())
            .ok()
            .flatten()
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    let phone = client();
    let (_, html) = page(&phone, &app, link).await;
    assert!(!html.contains("recipient-confirm") && html.contains("已收货"));
    // (A received parcel's page has no form; the session's token comes from another page.)
    let (_, html) = page(&phone, &app, &parcels[1].2).await;
    let res = phone.post(app.url(link)).form(&[("_csrf", csrf_from(&html))]).send().await.expect("post");
    assert_eq!(res.status(), 303);
    let after: String = {
        use aidmart::db::schema::shipments;
        use diesel::prelude::*;
        shipments::table
            .find(first)
            .select(shipments::received_at)
            .first::<Option<chrono::NaiveDateTime>>(&mut app.conn())
            .ok()
            .flatten()
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    assert_eq!(before, after);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM order_events WHERE note LIKE '%received by its recipient'"), 1);

    // The other two recipients confirm; with the last parcel the order is received.
    let (_, second, link) = &parcels[1];
    confirm(&app, link).await;
    assert_eq!(received(&app, *second), 1);
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) AS n FROM orders WHERE order_no = '{no}' AND status = 'shipped'")),
        1
    );
    let (_, _, link) = &parcels[2];
    confirm(&app, link).await;
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) AS n FROM orders WHERE order_no = '{no}' AND status = 'received'")),
        1
    );
}

#[actix_web::test]
async fn a_tampered_or_borrowed_token_and_an_ordinary_parcel_are_not_found() {
    let app = spawn_app().await;
    let (_, parcels) = shipped_distribution(&app).await;
    let (_, first, link) = &parcels[0];
    let (_, second, _) = &parcels[1];
    let token = link.rsplit('/').next().unwrap_or_default().to_string();
    let mut flipped = token.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap_or_default();
    let phone = client();
    for path in [
        format!("/receipt/{first}/{flipped}"),
        format!("/receipt/{second}/{token}"),
        format!("/receipt/{first}/{}", &token[..23]),
        format!("/receipt/{first}/{}", token.to_uppercase()),
        format!("/receipt/{first}/{token}0"),
        format!("/receipt/x/{token}"),
        format!("/receipt/999999/{token}"),
    ] {
        assert_eq!(page(&phone, &app, &path).await.0, 404, "{path}");
    }
    // Posting with a wrong token (and a valid form token) receives nothing.
    let (_, html) = page(&phone, &app, link).await;
    let form = [("_csrf", csrf_from(&html))];
    let res = phone.post(app.url(&format!("/receipt/{second}/{token}"))).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 404);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM shipments WHERE received_at IS NOT NULL"), 0);
    // Without the form token: refused, nothing received.
    let res = client().post(app.url(link)).form(&[("_csrf", "nope")]).send().await.expect("post");
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM shipments WHERE received_at IS NOT NULL"), 0);

    // An ordinary buyer's parcel has no recipient: no link works for it, even a correctly
    // derived one.
    let buyer = app.client_for("buyer@example.com").await;
    let coop = app.client_for("coop@example.com").await;
    let body = serde_json::json!({"lines": [{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}],
        "campaign_id": app.campaign("year-round"),
        "address": {"name": "李强", "mobile": "13800138000", "province": "北京市", "city": "北京市", "district": "西城区", "detail": "金融大街 1 号"}});
    let (status, order) = send_json(buyer.post(app.url("/api/v1/orders")).json(&body)).await;
    assert_eq!(status, 201, "{order}");
    if let Some(payment) = order["payment_id"].as_str() {
        let (status, _) = send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{payment}/complete")))).await;
        assert_eq!(status, 200);
    }
    let no = order["order_no"].as_str().unwrap_or_default();
    let ship = serde_json::json!({"order_no": no, "carrier": "顺丰速运", "tracking_no": "SF1234567890999"});
    let (status, _) = send_json(coop.post(app.url("/api/v1/coop/shipments")).json(&ship)).await;
    assert_eq!(status, 201);
    let (_, v) = send_json(buyer.get(app.url(&format!("/api/v1/orders/{no}")))).await;
    let part = v["parts"][0]["id"].as_i64().unwrap_or_default();
    assert!(v["parts"][0].get("receipt_url").is_none(), "{v}");
    let key = aidmart::aftersales::delivery::receipt_key(&secret_key(&app));
    let derived = aidmart::aftersales::delivery::receipt_token(&key, part).unwrap_or_default();
    assert_eq!(page(&phone, &app, &format!("/receipt/{part}/{derived}")).await.0, 404);
    // The derivation is the one the links use.
    let derived = aidmart::aftersales::delivery::receipt_token(&key, *first).unwrap_or_default();
    assert_eq!(format!("/receipt/{first}/{derived}"), *link);
}

fn secret_key(app: &TestApp) -> Vec<u8> {
    app.config.cookie_key().unwrap_or_default()
}

#[actix_web::test]
async fn the_union_admins_order_page_lists_each_recipients_link_and_others_see_none() {
    let app = spawn_app().await;
    let (no, parcels) = shipped_distribution(&app).await;
    let admin = app.client_for("union@example.com").await;
    let (status, html) = page(&admin, &app, &format!("/orders/{no}")).await;
    assert_eq!(status, 200);
    for (_, _, link) in &parcels {
        assert!(html.contains(&format!("{}{link}", app.base)), "{html}");
    }
    assert!(html.contains("李四 139****9000") && html.contains("转发给收件人确认收货"), "{html}");
    // Another union's view of the JSON: not theirs.
    let employee = app.client_for("employee@example.com").await;
    let union = count(&app, "SELECT id AS n FROM organisations WHERE slug = 'demo-group-union'");
    let res = employee.get(app.url(&format!("/api/v1/orgs/{union}/orders/{no}"))).send().await.expect("get");
    assert!(res.status() == 403 || res.status() == 404, "{}", res.status());
    let body: Value = serde_json::from_str(&res.text().await.unwrap_or_default()).unwrap_or_default();
    assert!(body.get("parts").is_none());
}
