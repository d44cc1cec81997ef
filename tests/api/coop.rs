//! Cooperative portal. "Another cooperative" is a real one from the seed: coop@example.com
//! manages guyuan-quinoa-coop (GY-QUINOA-*), while GY-ZONGZI-8 belongs to
//! guyuan-bashang-foods, which coop@ does not manage. The shipping test makes coop@ a manager
//! of that second cooperative too (one SQL row), so one order has two parts to ship.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{csrf_from, error_code, exec, sample_jpeg, sample_png, scalar, send_json, spawn_app, TestApp};

const COOP: &str = "coop@example.com";

fn address() -> Value {
    json!({"name": "李强", "mobile": "13800138000", "province": "北京市", "city": "北京市", "district": "西城区", "detail": "金融大街 1 号"})
}

/// Places an order (unpaid) for `lines` of (sku id, quantity); returns (status, body).
async fn order(app: &TestApp, c: &reqwest::Client, lines: &[(i64, i64)]) -> (u16, Value) {
    let lines: Vec<Value> = lines.iter().map(|(s, q)| json!({"sku_id": s, "quantity": q})).collect();
    let body = json!({"lines": lines, "campaign_id": app.campaign("dragon-boat-2027"), "address": address()});
    send_json(c.post(app.url("/api/v1/orders")).json(&body)).await
}

async fn pay(app: &TestApp, c: &reqwest::Client, order: &Value) {
    let payment = order["payment_id"].as_str().unwrap_or_default();
    let (status, body) = send_json(c.post(app.url(&format!("/api/v1/payments/sandbox/{payment}/complete")))).await;
    assert_eq!(status, 200, "{body}");
}

async fn patch_stock(app: &TestApp, c: &reqwest::Client, sku: i64, body: Value) -> (u16, Value) {
    send_json(c.patch(app.url(&format!("/api/v1/coop/skus/{sku}/stock"))).json(&body)).await
}

fn count(app: &TestApp, sql: &str) -> i64 {
    scalar(&mut app.conn(), sql)
}

#[actix_web::test]
async fn a_manager_cannot_touch_another_cooperatives_sku() {
    let app = spawn_app().await;
    let coop = app.client_for(COOP).await;
    let (own, other) = (app.sku("GY-QUINOA-1KG"), app.sku("GY-ZONGZI-8"));
    let other_stock = app.stock("GY-ZONGZI-8");

    // The list holds only the manager's own SKUs.
    let (status, list) = send_json(coop.get(app.url("/api/v1/coop/skus"))).await;
    assert_eq!(status, 200, "{list}");
    let codes: Vec<&str> = list.as_array().into_iter().flatten().filter_map(|s| s["code"].as_str()).collect();
    assert_eq!(codes.len(), 4, "{codes:?}");
    assert!(codes.iter().all(|c| c.starts_with("GY-QUINOA")), "{codes:?}");

    // Another cooperative's SKU is not found, by every route, and nothing changes.
    let (status, body) = patch_stock(&app, &coop, other, json!({"delta": 5, "reason": "restock"})).await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    assert!(body.get("code").is_none() && body.get("stock").is_none(), "no data leaks: {body}");
    let (status, _) = patch_stock(&app, &coop, other, json!({"set": 0, "reason": "restock"})).await;
    assert_eq!(status, 404);
    let (status, _) = send_json(coop.get(app.url(&format!("/api/v1/coop/skus/{other}/history")))).await;
    assert_eq!(status, 404);
    let page = coop.get(app.url(&format!("/coop/skus/{other}"))).send().await.expect("page");
    assert_eq!(page.status(), 404);
    let csv = "sku_code,stock,delta,reason\nGY-ZONGZI-8,1,,theft\n";
    let (status, body) = send_json(coop.post(app.url("/api/v1/coop/stock/bulk")).json(&json!({"csv": csv}))).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_csv"), "{body}");
    assert_eq!(body["error"]["rows"][0]["row"], 2);
    // The stock page form, with a valid CSRF token, is refused the same way.
    let html =
        coop.get(app.url(&format!("/coop/skus/{own}"))).send().await.expect("page").text().await.unwrap_or_default();
    let form = [("_csrf", csrf_from(&html)), ("mode", "set".into()), ("amount", "0".into()), ("reason", "x".into())];
    let res = coop.post(app.url(&format!("/coop/skus/{other}/stock"))).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 404);
    assert_eq!(app.stock("GY-ZONGZI-8"), other_stock);
    assert_eq!(count(&app, &format!("SELECT COUNT(*) AS n FROM stock_movements WHERE sku_id = {other}")), 0);

    // Someone who manages no cooperative is refused; a visitor must log in.
    let buyer = app.client_for("buyer@example.com").await;
    let (status, _) = patch_stock(&app, &buyer, own, json!({"delta": 5, "reason": "x"})).await;
    assert_eq!(status, 403);
    let (status, _) = send_json(app.client.get(app.url("/api/v1/coop/skus"))).await;
    assert_eq!(status, 401);

    // The manager's own SKU: delta, set, and the rules on the request.
    let before = app.stock("GY-QUINOA-1KG");
    let (status, body) = patch_stock(&app, &coop, own, json!({"delta": 7, "reason": "harvest"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["before"].as_i64(), body["after"].as_i64()), (Some(before), Some(before + 7)));
    let (status, body) = patch_stock(&app, &coop, own, json!({"set": 100, "reason": "count"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["before"].as_i64(), body["after"].as_i64()), (Some(before + 7), Some(100)));
    for (bad, code) in [
        (json!({"delta": 1, "set": 3, "reason": "x"}), "invalid_stock_change"),
        (json!({"reason": "x"}), "invalid_stock_change"),
        (json!({"delta": 0, "reason": "x"}), "invalid_stock_change"),
        (json!({"set": -1, "reason": "x"}), "invalid_stock_change"),
        (json!({"delta": i64::MIN, "reason": "x"}), "invalid_stock_change"),
        (json!({"set": i64::MAX, "reason": "x"}), "invalid_stock_change"),
        (json!({"delta": 1, "reason": "  "}), "invalid_reason"),
        (json!({"delta": 1}), "invalid_json"),
        (json!({"delta": 1, "reason": "x", "stock": 3}), "invalid_json"),
    ] {
        let (status, body) = patch_stock(&app, &coop, own, bad.clone()).await;
        assert_eq!((status, error_code(&body)), (400, code), "{bad}");
    }
    let (status, body) = patch_stock(&app, &coop, own, json!({"delta": -101, "reason": "loss"})).await;
    assert_eq!((status, error_code(&body)), (409, "insufficient_stock"));
    assert_eq!(app.stock("GY-QUINOA-1KG"), 100);

    // The history: who, before, after, why; newest first.
    let (status, history) = send_json(coop.get(app.url(&format!("/api/v1/coop/skus/{own}/history")))).await;
    assert_eq!(status, 200);
    assert_eq!(history[0]["reason"], "count");
    assert_eq!(
        (history[0]["kind"].as_str(), history[0]["by"].as_str()),
        (Some("adjustment"), Some("赵建国（合作社负责人）"))
    );
    assert_eq!((history[0]["before"].as_i64(), history[0]["after"].as_i64()), (Some(before + 7), Some(100)));
    assert_eq!(history[1]["delta"], 7);
    assert_eq!(history.as_array().map(Vec::len), Some(2));
}

#[actix_web::test]
async fn twenty_concurrent_adjustments_and_sales_leave_the_arithmetic_sum() {
    let app = spawn_app().await;
    let coop = app.client_for(COOP).await;
    let buyer = app.client_for("buyer@example.com").await;
    let sku = app.sku("GY-QUINOA-1KG");
    let start = app.stock("GY-QUINOA-1KG");
    let deltas: Vec<i64> = (0..10).map(|i| if i % 2 == 0 { 9 } else { -4 }).collect();
    let sales: Vec<i64> = (0..10).map(|i| 1 + i % 3).collect();
    let adjust = deltas.iter().map(|d| {
        let coop = coop.clone();
        let app = &app;
        async move { patch_stock(app, &coop, sku, json!({"delta": d, "reason": "concurrent"})).await }
    });
    let sell = sales.iter().map(|q| {
        let buyer = buyer.clone();
        let app = &app;
        async move { order(app, &buyer, &[(sku, *q)]).await }
    });
    let (adjusted, sold) = futures_util::join!(join_all(adjust), join_all(sell));
    for (status, body) in &adjusted {
        assert_eq!(*status, 200, "{body}");
    }
    for (status, body) in &sold {
        assert_eq!(*status, 201, "{body}");
    }
    let expected = start + deltas.iter().sum::<i64>() - sales.iter().sum::<i64>();
    assert_eq!(app.stock("GY-QUINOA-1KG"), expected);

    // Twenty history rows, each exact, and together one unbroken chain from start to end.
    let mut conn = app.conn();
    let rows = count(&app, &format!("SELECT COUNT(*) AS n FROM stock_movements WHERE sku_id = {sku}"));
    assert_eq!(rows, 20);
    let bad = scalar(
        &mut conn,
        &format!(
            "SELECT COUNT(*) AS n FROM stock_movements WHERE sku_id = {sku} \
             AND (stock_after IS NULL OR stock_before IS NULL OR stock_after - stock_before <> delta)"
        ),
    );
    assert_eq!(bad, 0);
    // The befores are the start and every after but the last: one unbroken chain.
    let pairs: Vec<(Option<i64>, Option<i64>)> = {
        use aidmart::db::schema::stock_movements as m;
        use diesel::prelude::*;
        m::table.filter(m::sku_id.eq(sku)).select((m::stock_before, m::stock_after)).load(&mut conn).expect("history")
    };
    let mut befores: Vec<i64> = pairs.iter().filter_map(|p| p.0).collect();
    let mut states: Vec<i64> = pairs.iter().filter_map(|p| p.1).collect();
    states.push(start);
    let last = states.iter().position(|s| *s == expected).expect("the final stock is an after");
    states.remove(last);
    befores.sort_unstable();
    states.sort_unstable();
    assert_eq!(befores, states);
}

#[actix_web::test]
async fn a_csv_with_one_bad_row_changes_nothing() {
    let app = spawn_app().await;
    let coop = app.client_for(COOP).await;
    let codes = ["GY-QUINOA-1KG", "GY-QUINOA-GIFT-2KG", "GY-QUINOA-25KG"];
    let before: Vec<i64> = codes.iter().map(|c| app.stock(c)).collect();
    let bulk = |csv: String| {
        let coop = coop.clone();
        let url = app.url("/api/v1/coop/stock/bulk");
        async move { send_json(coop.post(url).json(&json!({"csv": csv}))).await }
    };
    let cases = [
        // A bad number on line 3.
        "sku_code,stock,delta,reason\nGY-QUINOA-1KG,480,,count\nGY-QUINOA-GIFT-2KG,,x3,oops\nGY-QUINOA-25KG,,-2,broken\n",
        // Both columns on line 4.
        "sku_code,stock,delta,reason\nGY-QUINOA-1KG,480,,count\nGY-QUINOA-GIFT-2KG,,5,\nGY-QUINOA-25KG,3,-2,both\n",
        // An unknown code on line 2.
        "sku_code,stock,delta\nNO-SUCH-SKU,1,\nGY-QUINOA-1KG,,5\n",
        // Checked row by row, but line 3 would take the stock below zero once applied.
        "sku_code,stock,delta,reason\nGY-QUINOA-1KG,480,,count\nGY-QUINOA-25KG,,-1000,loss\n",
    ];
    let bad_lines = [3, 4, 2, 3];
    for (csv, line) in cases.iter().zip(bad_lines) {
        let (status, body) = bulk(csv.to_string()).await;
        assert_eq!((status, error_code(&body)), (422, "invalid_csv"), "{csv}: {body}");
        let rows = body["error"]["rows"].as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), 1, "{body}");
        assert_eq!(rows[0]["row"], line, "{body}");
        let now: Vec<i64> = codes.iter().map(|c| app.stock(c)).collect();
        assert_eq!(now, before, "nothing changed after {csv}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM stock_movements"), 0);

    // The same file, corrected, applies every row at once.
    let good = "\u{feff}sku_code,stock,delta,reason\nGY-QUINOA-1KG,480,,count\nGY-QUINOA-GIFT-2KG,,5,\nGY-QUINOA-25KG,,-2,broken\n";
    let (status, body) = bulk(good.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"], 3);
    assert_eq!(codes.iter().map(|c| app.stock(c)).collect::<Vec<_>>(), vec![480, before[1] + 5, before[2] - 2]);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM stock_movements WHERE order_id IS NULL"), 3);

    // The page shows the rows' errors and also changes nothing.
    let html = coop.get(app.url("/coop/stock/bulk")).send().await.expect("page").text().await.unwrap_or_default();
    let form = [("_csrf", csrf_from(&html)), ("csv", cases[0].to_string())];
    let res = coop.post(app.url("/coop/stock/bulk")).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap_or_default().contains("x3"));
    assert_eq!(app.stock("GY-QUINOA-1KG"), 480);
}

#[actix_web::test]
async fn the_low_stock_email_is_sent_once_per_crossing() {
    let app = spawn_app().await;
    let coop = app.client_for(COOP).await;
    let buyer = app.client_for("buyer@example.com").await;
    let sku = app.sku("GY-QUINOA-25KG"); // threshold 5
                                         // On PostgreSQL an order's crossing is queued by its stock take and mailed by the "stock
                                         // alerts sent" job: run it (as its next tick would) before counting.
    let alerts = || {
        let now = chrono::Utc::now().naive_utc();
        aidmart::inventory::service::send_stock_alerts(&mut app.conn(), now).expect("stock alerts job");
        count(&app, "SELECT COUNT(*) AS n FROM outbox WHERE template = 'low_stock' AND recipient = 'coop@example.com'")
    };
    assert_eq!(patch_stock(&app, &coop, sku, json!({"set": 7, "reason": "count"})).await.0, 200);
    assert_eq!(alerts(), 0, "7 is not below 5");
    let (status, _) = order(&app, &buyer, &[(sku, 2)]).await; // 7 → 5: at the threshold, not below
    assert_eq!(status, 201);
    assert_eq!(alerts(), 0);
    let (status, first) = order(&app, &buyer, &[(sku, 1)]).await; // 5 → 4: crosses
    assert_eq!(status, 201);
    assert_eq!(alerts(), 1);
    for _ in 0..3 {
        assert_eq!(order(&app, &buyer, &[(sku, 1)]).await.0, 201); // 4 → 1: still below, no more mail
    }
    assert_eq!(alerts(), 1);
    // Back above (a cancellation and a restock), then below again: a second crossing.
    let no = first["order_no"].as_str().unwrap_or_default();
    assert_eq!(send_json(buyer.post(app.url(&format!("/api/v1/orders/{no}/cancel")))).await.0, 200);
    assert_eq!(patch_stock(&app, &coop, sku, json!({"delta": 10, "reason": "harvest"})).await.0, 200);
    assert_eq!(app.stock("GY-QUINOA-25KG"), 12);
    assert_eq!(alerts(), 1);
    assert_eq!(patch_stock(&app, &coop, sku, json!({"delta": -9, "reason": "damaged"})).await.0, 200); // 12 → 3
    assert_eq!(alerts(), 2);
    assert_eq!(patch_stock(&app, &coop, sku, json!({"set": 2, "reason": "count"})).await.0, 200);
    assert_eq!(alerts(), 2);
    let context: String = {
        use aidmart::db::schema::outbox;
        use diesel::prelude::*;
        outbox::table
            .filter(outbox::template.eq("low_stock"))
            .order(outbox::id)
            .select(outbox::context)
            .first(&mut app.conn())
            .expect("alert")
    };
    assert!(context.contains("GY-QUINOA-25KG") && context.contains("\"stock\":4"), "{context}");
}

#[actix_web::test]
async fn shipping_the_last_part_ships_the_order() {
    let app = spawn_app().await;
    let coop = app.client_for(COOP).await;
    let buyer = app.client_for("buyer@example.com").await;
    let (quinoa, zongzi) = (app.sku("GY-QUINOA-1KG"), app.sku("GY-ZONGZI-8"));
    let (status, placed) = order(&app, &buyer, &[(quinoa, 2), (zongzi, 1)]).await;
    assert_eq!(status, 201, "{placed}");
    let order_no = placed["order_no"].as_str().unwrap_or_default().to_string();
    let ship = |producer: Option<i64>, tracking: &str| {
        let mut body = json!({"order_no": order_no, "carrier": "顺丰速运", "tracking_no": tracking});
        if let Some(p) = producer {
            body["producer_id"] = json!(p);
        }
        coop.post(app.url("/api/v1/coop/shipments")).json(&body)
    };
    // Unpaid orders are not shipped.
    let (status, pending) = send_json(coop.get(app.url("/api/v1/coop/shipments/pending"))).await;
    assert_eq!((status, pending.as_array().map(Vec::len)), (200, Some(0)), "{pending}");
    assert_eq!(send_json(ship(None, "SF100000000001")).await.0, 404);
    pay(&app, &buyer, &placed).await;

    // Only the manager's own part is listed; the other cooperative's part is not theirs.
    let (_, pending) = send_json(coop.get(app.url("/api/v1/coop/shipments/pending"))).await;
    assert_eq!(pending.as_array().map(Vec::len), Some(1), "{pending}");
    assert_eq!(pending[0]["items"][0]["sku_code"], "GY-QUINOA-1KG");
    assert_eq!(pending[0]["items"][0]["quantity"], 2);
    assert_eq!(pending[0]["ship_to"]["name"], "李强");
    let csv = coop.get(app.url("/api/v1/coop/shipments/pick-list.csv")).send().await.expect("csv");
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap_or_default();
    assert!(csv.contains(&order_no) && csv.contains("GY-QUINOA-1KG") && !csv.contains("GY-ZONGZI-8"), "{csv}");
    let foods = scalar(&mut app.conn(), "SELECT id AS n FROM producers WHERE code = 'guyuan-bashang-foods'");
    assert_eq!(send_json(ship(Some(foods), "SF100000000002")).await.0, 404);

    let (status, body) = send_json(ship(None, "bad tracking!")).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_tracking_no"));
    let (status, body) = send_json(ship(None, "SF100000000001")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["order_status"], "partially_shipped", "one part of two");
    let (status, body) = send_json(ship(None, "SF100000000001")).await;
    assert_eq!((status, error_code(&body)), (409, "already_shipped"));
    let (_, seen) = send_json(buyer.get(app.url(&format!("/api/v1/orders/{order_no}")))).await;
    assert_eq!(seen["status"], "partially_shipped");

    // Now coop@ also manages the second cooperative and ships its part: the order is shipped.
    let user = scalar(&mut app.conn(), "SELECT id AS n FROM users WHERE email = 'coop@example.com'");
    exec(&mut app.conn(), &format!("INSERT INTO producer_managers (user_id, producer_id) VALUES ({user}, {foods})"));
    let (status, body) = send_json(ship(None, "SF100000000002")).await;
    assert_eq!((status, error_code(&body)), (400, "producer_required"));
    let (status, body) = send_json(ship(Some(foods), "SF100000000002")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["order_status"], "shipped");
    let (_, seen) = send_json(buyer.get(app.url(&format!("/api/v1/orders/{order_no}")))).await;
    assert_eq!(seen["status"], "shipped");
    let (_, pending) = send_json(coop.get(app.url("/api/v1/coop/shipments/pending"))).await;
    assert_eq!(pending.as_array().map(Vec::len), Some(0));
    let mails = count(
        &app,
        "SELECT COUNT(*) AS n FROM outbox WHERE template = 'order_shipped' AND recipient = 'buyer@example.com'",
    );
    assert_eq!(mails, 2, "one email per part");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM shipments"), 2);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM order_events WHERE to_status = 'shipped'"), 1);
    // Once shipped, the buyer's direct refund is refused (after-sales instead); a platform
    // admin's dispute refund does not put stock back on the shelf.
    let stock = app.stock("GY-QUINOA-1KG");
    let (status, body) =
        send_json(buyer.post(app.url(&format!("/api/v1/orders/{order_no}/refunds"))).json(&json!({}))).await;
    assert_eq!((status, error_code(&body)), (409, "use_after_sales"), "{body}");
    let admin = app.client_for("admin@example.com").await;
    let (status, body) =
        send_json(admin.post(app.url(&format!("/api/v1/admin/orders/{order_no}/refunds"))).json(&json!({}))).await;
    assert_eq!((status, body["order"]["status"].as_str()), (201, Some("refunded")), "{body}");
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock);
}

#[actix_web::test]
async fn reports_and_portal_pages() {
    let app = spawn_app().await;
    let coop = app.client_for(COOP).await;
    let buyer = app.client_for("buyer@example.com").await;
    let quinoa = app.sku("GY-QUINOA-1KG");
    let (_, placed) = order(&app, &buyer, &[(quinoa, 3)]).await;
    pay(&app, &buyer, &placed).await;
    let unit = placed["lines"][0]["unit_price"].as_str().unwrap_or_default().to_string();
    let today = chrono::Utc::now().date_naive();
    let q = format!("from={}&to={}", today - chrono::Duration::days(1), today);
    let (status, rows) = send_json(coop.get(app.url(&format!("/api/v1/coop/reports/sales?by=product&{q}")))).await;
    assert_eq!(status, 200, "{rows}");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["key"], "guyuan-quinoa");
    assert_eq!(rows[0]["units"], 3);
    let expected = unit.replace('.', "").parse::<i64>().unwrap_or(0) * 3;
    assert_eq!(rows[0]["credited"], format!("{}.{:02}", expected / 100, expected % 100));
    let (_, by_campaign) = send_json(coop.get(app.url(&format!("/api/v1/coop/reports/sales?by=campaign&{q}")))).await;
    assert_eq!(by_campaign[0]["units"], 3);
    // A refunded unit leaves the credited amount, which comes from the ledger's reversals.
    let order_no = placed["order_no"].as_str().unwrap_or_default();
    let refund = json!({"lines": [{"line_id": placed["lines"][0]["id"], "quantity": 1}]});
    let (status, _) = send_json(buyer.post(app.url(&format!("/api/v1/orders/{order_no}/refunds"))).json(&refund)).await;
    assert_eq!(status, 201);
    let (_, after) = send_json(coop.get(app.url(&format!("/api/v1/coop/reports/sales?by=product&{q}")))).await;
    let two = expected / 3 * 2;
    assert_eq!(
        (after[0]["units"].as_i64(), after[0]["credited"].as_str()),
        (Some(2), Some(format!("{}.{:02}", two / 100, two % 100).as_str()))
    );
    let csv =
        coop.get(app.url(&format!("/api/v1/coop/reports/sales?by=month&{q}&format=csv"))).send().await.expect("csv");
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap_or_default();
    assert!(csv.contains("key,name_zh,name_en,units,credited"), "{csv}");
    let xlsx = coop.get(app.url(&format!("/api/v1/coop/reports/sales?{q}&format=xlsx"))).send().await.expect("xlsx");
    assert_eq!(xlsx.status(), 200);
    assert!(xlsx.bytes().await.map(|b| b.starts_with(b"PK")).unwrap_or(false), "an xlsx is a zip");
    let (status, body) = send_json(coop.get(app.url("/api/v1/coop/reports/sales?format=pdf"))).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_format"));

    let html =
        coop.get(app.url("/coop/reports?by=campaign")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains("<option value=\"campaign\" selected>"), "the chosen grouping stays selected");
    // Every portal page renders for the manager and is refused to a buyer.
    for path in ["/coop", &format!("/coop/skus/{quinoa}"), "/coop/stock/bulk", "/coop/shipping", "/coop/reports"] {
        let res = coop.get(app.url(path)).send().await.expect("page");
        assert_eq!(res.status(), 200, "{path}");
        let res = buyer.get(app.url(path)).send().await.expect("page");
        assert_eq!(res.status(), 403, "{path}");
    }
    let html = coop.get(app.url("/account")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains("href=\"/coop\""), "the account page links to the portal");
    // The expired tea certification is flagged for its manager.
    let tea_manager = scalar(&mut app.conn(), "SELECT id AS n FROM users WHERE email = 'coop@example.com'");
    let workshop = scalar(&mut app.conn(), "SELECT id AS n FROM producers WHERE code = 'guyuan-bashang-workshop'");
    exec(
        &mut app.conn(),
        &format!("INSERT INTO producer_managers (user_id, producer_id) VALUES ({tea_manager}, {workshop})"),
    );
    let (_, skus) = send_json(coop.get(app.url("/api/v1/coop/skus"))).await;
    let tea = skus.as_array().into_iter().flatten().find(|s| s["code"] == "GY-TEA-30G").cloned().unwrap_or_default();
    assert_eq!(tea["cert_expired"], true, "{tea}");
    let html = coop.get(app.url("/coop")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains("coop_cert_expired") || html.contains("认证已过期"), "the warning is shown");
}

#[actix_web::test]
async fn managers_create_edit_list_and_delist_their_products() {
    let app = spawn_app().await;
    let coop = app.client_for(COOP).await;
    let new_product = json!({"code": "gy-quinoa-flakes", "name_zh": "藜麦片", "name_en": "Quinoa flakes",
        "description_zh": "即食藜麦片", "aid_cert_no": "XFBF-130724-2026-0099", "aid_cert_expires": "2030-12-31"});
    let (status, product) = send_json(coop.post(app.url("/api/v1/coop/products")).json(&new_product)).await;
    assert_eq!(status, 201, "{product}");
    assert_eq!(product["aid_certified"], true);
    let pid = product["id"].as_i64().unwrap_or(0);
    let (status, body) = send_json(coop.post(app.url("/api/v1/coop/products")).json(&new_product)).await;
    assert_eq!((status, error_code(&body)), (409, "code_taken"));
    let mut nameless = new_product.clone();
    nameless["code"] = json!("other-code");
    nameless["name_zh"] = json!(" ");
    let (status, body) = send_json(coop.post(app.url("/api/v1/coop/products")).json(&nameless)).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_product"));

    let sku = json!({"code": "GY-FLAKES-500G", "name_zh": "500克袋装", "name_en": "500 g bag", "unit_zh": "袋",
        "unit_en": "bag", "price": "25.80", "max_points_pct": 30, "charity_donation": "0.50", "low_stock_threshold": 10,
        "tiers": [{"min_quantity": 10, "price": "23.80"}]});
    let (status, created) =
        send_json(coop.post(app.url(&format!("/api/v1/coop/products/{pid}/skus"))).json(&sku)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!((created["stock"].as_i64(), created["price"].as_str()), (Some(0), Some("25.80")));
    let sid = created["id"].as_i64().unwrap_or(0);
    let mut bad_tier = sku.clone();
    bad_tier["code"] = json!("GY-FLAKES-1KG");
    bad_tier["tiers"] = json!([{"min_quantity": 10, "price": "30.00"}]);
    let (status, body) =
        send_json(coop.post(app.url(&format!("/api/v1/coop/products/{pid}/skus"))).json(&bad_tier)).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_product"), "a tier dearer than the SKU");

    // Another cooperative's product and SKU are not found.
    let zongzi_product = scalar(&mut app.conn(), "SELECT id AS n FROM products WHERE code = 'guyuan-quinoa-zongzi'");
    let zongzi = app.sku("GY-ZONGZI-8");
    let mut valid = sku.clone();
    valid["code"] = json!("GY-ZONGZI-NEW");
    let (status, _) =
        send_json(coop.post(app.url(&format!("/api/v1/coop/products/{zongzi_product}/skus"))).json(&valid)).await;
    assert_eq!(status, 404);
    let (status, _) = send_json(
        coop.patch(app.url(&format!("/api/v1/coop/products/{zongzi_product}"))).json(&json!({"listed": false})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) =
        send_json(coop.patch(app.url(&format!("/api/v1/coop/skus/{zongzi}"))).json(&json!({"price": "0.01"}))).await;
    assert_eq!(status, 404);
    assert_eq!(count(&app, &format!("SELECT price_fen AS n FROM skus WHERE id = {zongzi}")), 5990);

    // Edit a SKU: price and tiers checked together; stock is not editable here.
    let (status, body) =
        send_json(coop.patch(app.url(&format!("/api/v1/coop/skus/{sid}"))).json(&json!({"price": "20.00"}))).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_product"), "the tier would be dearer: {body}");
    let (status, body) = send_json(
        coop.patch(app.url(&format!("/api/v1/coop/skus/{sid}")))
            .json(&json!({"price": "20.00", "tiers": [], "low_stock_threshold": 3})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["price"].as_str(), body["low_stock_threshold"].as_i64()), (Some("20.00"), Some(3)));
    let (status, body) =
        send_json(coop.patch(app.url(&format!("/api/v1/coop/skus/{sid}"))).json(&json!({"stock": 5}))).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_json"));

    // Found by search, and gone from the catalog once delisted.
    let (_, found) = send_json(app.client.get(app.url("/api/v1/products?q=%E8%97%9C%E9%BA%A6%E7%89%87"))).await;
    assert!(found.to_string().contains("gy-quinoa-flakes") || found.to_string().contains("藜麦片"), "{found}");
    let (status, _) = send_json(app.client.get(app.url(&format!("/api/v1/products/{pid}")))).await;
    assert_eq!(status, 200);
    let (status, body) =
        send_json(coop.patch(app.url(&format!("/api/v1/coop/products/{pid}"))).json(&json!({"listed": false}))).await;
    assert_eq!((status, body["listed"].as_bool()), (200, Some(false)), "{body}");
    let (status, _) = send_json(app.client.get(app.url(&format!("/api/v1/products/{pid}")))).await;
    assert_eq!(status, 404, "a delisted product is not shown");
    let (status, _) =
        send_json(coop.patch(app.url(&format!("/api/v1/coop/products/{pid}"))).json(&json!({"listed": true}))).await;
    assert_eq!(status, 200);

    // An expired certification hides the aid badge from buyers and warns the manager.
    let (status, body) = send_json(
        coop.patch(app.url(&format!("/api/v1/coop/products/{pid}"))).json(&json!({"aid_cert_expires": "2020-01-01"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["aid_certified"].as_bool(), body["cert_expired"].as_bool()), (Some(false), Some(true)));
    let (_, public) = send_json(app.client.get(app.url(&format!("/api/v1/products/{pid}")))).await;
    assert!(public.to_string().contains("\"aid_certified\":false"), "{public}");
    let html = coop
        .get(app.url(&format!("/coop/products/{pid}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .unwrap_or_default();
    assert!(html.contains("role=\"alert\""), "the manager is warned");
    let html = app
        .client
        .get(app.url(&format!("/products/{pid}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .unwrap_or_default();
    assert!(!html.contains("badge-aid"), "no aid badge on the product page");

    // The edit pages post through CSRF-checked forms.
    let csrf = csrf_from(
        &coop.get(app.url(&format!("/coop/skus/{sid}"))).send().await.expect("page").text().await.unwrap_or_default(),
    );
    let form = [
        ("_csrf", csrf.as_str()),
        ("price", "21.00"),
        ("low_stock_threshold", "4"),
        ("max_points_pct", "20"),
        ("charity_donation", "0.30"),
    ];
    let res = coop.post(app.url(&format!("/coop/skus/{sid}/edit"))).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 200);
    assert_eq!(count(&app, &format!("SELECT price_fen AS n FROM skus WHERE id = {sid}")), 2100);
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) AS n FROM skus WHERE id = {sid} AND listed")),
        0,
        "unticked: delisted"
    );
}

#[actix_web::test]
async fn shipping_by_csv_marks_every_part_or_none() {
    let app = spawn_app().await;
    let coop = app.client_for(COOP).await;
    let buyer = app.client_for("buyer@example.com").await;
    let quinoa = app.sku("GY-QUINOA-1KG");
    let mut numbers = Vec::new();
    for _ in 0..2 {
        let (status, placed) = order(&app, &buyer, &[(quinoa, 1)]).await;
        assert_eq!(status, 201);
        pay(&app, &buyer, &placed).await;
        numbers.push(placed["order_no"].as_str().unwrap_or_default().to_string());
    }
    let (a, b) = (&numbers[0], &numbers[1]);
    let bulk = |csv: String| send_json(coop.post(app.url("/api/v1/coop/shipments/bulk")).json(&json!({"csv": csv})));
    let bad = format!(
        "order_no,carrier,tracking_no\n{a},顺丰速运,SF200000000001\nAM-NO-SUCH-ORDER,顺丰速运,SF200000000002\n"
    );
    let (status, body) = bulk(bad).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_csv"), "{body}");
    assert_eq!(body["error"]["rows"][0]["row"], 3);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM shipments"), 0);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM outbox WHERE template = 'order_shipped'"), 0);
    let twice = format!("order_no,carrier,tracking_no\n{a},顺丰速运,SF200000000001\n{a},顺丰速运,SF200000000001\n");
    let (status, body) = bulk(twice).await;
    assert_eq!((status, body["error"]["rows"][0]["row"].as_i64()), (422, Some(3)), "{body}");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM shipments"), 0);

    let good = format!("order_no,carrier,tracking_no\n{a},顺丰速运,SF200000000001\n{b},中通,731000000002\n");
    let (status, body) = bulk(good).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(2));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM orders WHERE status = 'shipped'"), 2);
}

/// Images the cooperative's manager uploaded (the seed gives each product a demo photo too).
const UPLOADED: &str = "SELECT COUNT(*) AS n FROM product_images WHERE uploaded_by = (SELECT id FROM users WHERE email = 'coop@example.com')";

#[actix_web::test]
async fn product_images_are_checked_stored_and_cached() {
    let app = spawn_app().await;
    let coop = app.client_for(COOP).await;
    let quinoa = scalar(&mut app.conn(), "SELECT id AS n FROM products WHERE code = 'guyuan-quinoa'");
    let zongzi = scalar(&mut app.conn(), "SELECT id AS n FROM products WHERE code = 'guyuan-quinoa-zongzi'");
    let png = sample_png(&[]);
    let upload = |product: i64, body: Vec<u8>, declared: &str| {
        coop.post(app.url(&format!("/api/v1/coop/products/{product}/images")))
            .header("content-type", declared.to_string())
            .body(body)
    };
    let (status, image) = send_json(upload(quinoa, png.clone(), "image/png")).await;
    assert_eq!(status, 201, "{image}");
    let url = image["url"].as_str().unwrap_or_default().to_string();
    assert!(url.starts_with("/images/") && url.ends_with(".png"), "{url}");
    // The same picture again is kept once.
    assert_eq!(send_json(upload(quinoa, png.clone(), "image/png")).await.0, 201);
    assert_eq!(count(&app, UPLOADED), 1);
    // The declared type is not trusted; size is capped; another cooperative's product is 404.
    let (status, body) = send_json(upload(quinoa, b"<html>hello</html>".to_vec(), "image/jpeg")).await;
    assert_eq!((status, error_code(&body)), (422, "unsupported_image"));
    // Magic bytes are not enough: the structure is checked, and markup inside is refused.
    let mut magic_only = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    magic_only.extend_from_slice(b"not really pixels, but the magic bytes say PNG");
    let (status, body) = send_json(upload(quinoa, magic_only, "image/png")).await;
    assert_eq!((status, error_code(&body)), (422, "unsupported_image"));
    let polyglot = sample_png(&[(b"tEXt", b"c\0<html><script>alert(document.cookie)</script></html>")]);
    let (status, body) = send_json(upload(quinoa, polyglot, "image/png")).await;
    assert_eq!((status, error_code(&body)), (422, "unsupported_image"));
    let mut big = vec![0xFF, 0xD8, 0xFF];
    big.resize(2 * 1024 * 1024 + 1, 0);
    let (status, body) = send_json(upload(quinoa, big, "image/jpeg")).await;
    assert_eq!((status, error_code(&body)), (422, "image_too_large"));
    assert_eq!(send_json(upload(zongzi, png.clone(), "image/png")).await.0, 404);
    assert_eq!(count(&app, UPLOADED), 1);

    // Served from the data directory with long-lived caching and an ETag.
    let res = app.get(&url).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let disposition = res.headers()["content-disposition"].to_str().unwrap_or_default().to_string();
    assert!(disposition.starts_with("inline; filename=") && disposition.contains(".png"), "{disposition}");
    assert!(res.headers()["cache-control"].to_str().unwrap_or_default().contains("immutable"));
    let etag = res.headers()["etag"].to_str().unwrap_or_default().to_string();
    assert_eq!(res.bytes().await.map(|b| b.to_vec()).unwrap_or_default(), png);
    let res = app.client.get(app.url(&url)).header("if-none-match", etag).send().await.expect("request");
    assert_eq!(res.status(), 304);
    // Buyers see it on the product page and in the API.
    let product_page = app.get(&format!("/products/{quinoa}")).await.text().await.unwrap_or_default();
    assert!(product_page.contains(&format!("src=\"{url}\"")), "{product_page}");
    let (_, detail) = send_json(app.client.get(app.url(&format!("/api/v1/products/{quinoa}")))).await;
    // After the demo photo the seed gives it.
    assert_eq!(detail["images"][1].as_str(), Some(url.as_str()));
    assert_eq!(app.get(&format!("/images/{}.png", "0".repeat(64))).await.status(), 404);
    assert_eq!(app.get("/images/..%2Fsecret.key").await.status(), 404);

    // The product page uploads with a multipart form.
    let html = coop
        .get(app.url(&format!("/coop/products/{quinoa}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .unwrap_or_default();
    assert!(html.contains(&url), "the page shows the image");
    let jpeg = sample_jpeg();
    let boundary = "XyZboundary42";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n",
        csrf_from(&html)
    )
    .into_bytes();
    body.extend_from_slice(&jpeg);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = coop
        .post(app.url(&format!("/coop/products/{quinoa}/images")))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 200);
    assert_eq!(count(&app, &format!("{UPLOADED} AND content_type = 'image/jpeg'")), 1);
}

#[actix_web::test]
async fn a_distribution_ships_per_recipient_and_a_race_ships_a_part_once() {
    let app = spawn_app().await;
    let coop = app.client_for(COOP).await;
    let buyer = app.client_for("buyer@example.com").await;
    let (one, gift) = (app.sku("GY-QUINOA-1KG"), app.sku("GY-QUINOA-GIFT-2KG"));
    let (status, placed) = order(&app, &buyer, &[(one, 1), (gift, 1)]).await;
    assert_eq!(status, 201, "{placed}");
    pay(&app, &buyer, &placed).await;
    let order_no = placed["order_no"].as_str().unwrap_or_default().to_string();
    // As a union's welfare distribution records them: each line names its recipient.
    let order_id = scalar(&mut app.conn(), &format!("SELECT id AS n FROM orders WHERE order_no = '{order_no}'"));
    exec(
        &mut app.conn(),
        &format!(
            "INSERT INTO order_recipients (order_id, name, mobile, address) VALUES \
             ({order_id}, '王芳', '13900000001', '北京市 西城区 金融大街 2 号'), \
             ({order_id}, '张伟', '13900000002', '{{\"name\":\"张伟\",\"mobile\":\"13900000002\",\"province\":\"河北省\",\"city\":\"张家口市\",\"district\":\"沽源县\",\"detail\":\"平定堡镇 1 号\"}}')"
        ),
    );
    let first =
        scalar(&mut app.conn(), &format!("SELECT MIN(id) AS n FROM order_recipients WHERE order_id = {order_id}"));
    exec(&mut app.conn(), &format!("UPDATE order_lines SET recipient_id = {first} WHERE sku_id = {one}"));
    exec(&mut app.conn(), &format!("UPDATE order_lines SET recipient_id = {} WHERE sku_id = {gift}", first + 1));

    let (_, pending) = send_json(coop.get(app.url("/api/v1/coop/shipments/pending"))).await;
    assert_eq!(pending.as_array().map(Vec::len), Some(2), "{pending}");
    assert_eq!(pending[0]["ship_to"]["name"], "王芳");
    assert_eq!(pending[0]["ship_to"]["address"], "北京市 西城区 金融大街 2 号");
    assert_eq!(pending[1]["ship_to"]["address"], "河北省 张家口市 沽源县 平定堡镇 1 号");

    // Two requests race to ship the first recipient's parcel: exactly one wins.
    let ship = |recipient: i64, tracking: &'static str| {
        let body = json!({"order_no": order_no, "recipient_id": recipient, "carrier": "EMS", "tracking_no": tracking});
        send_json(coop.post(app.url("/api/v1/coop/shipments")).json(&body))
    };
    let (a, b) = futures_util::join!(ship(first, "EA000000001CN"), ship(first, "EA000000002CN"));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM shipments"), 1);
    let (status, body) = ship(first + 1, "EA000000003CN").await;
    assert_eq!((status, body["order_status"].as_str()), (201, Some("shipped")), "{body}");
}
