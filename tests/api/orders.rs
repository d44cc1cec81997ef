use aidmart::orders::service::expire_unpaid;
use aidmart::payments::{CallbackEvent, Outcome, SandboxGateway};
use serde_json::{json, Value};

use crate::helpers::{error_code, scalar, send_json, spawn_app, spawn_app_with, TestApp};
use crate::smtp;

fn address() -> Value {
    json!({"name": "李强", "mobile": "13800138000", "province": "北京市", "city": "北京市", "district": "西城区", "detail": "金融大街 1 号"})
}

fn order_body(lines: Value, points: i64, campaign: i64) -> Value {
    json!({"lines": lines, "points": points, "campaign_id": campaign, "address": address(), "account": "personal"})
}

async fn place(app: &TestApp, c: &reqwest::Client, body: &Value, key: Option<&str>) -> (u16, Value) {
    let mut req = c.post(app.url("/api/v1/orders")).json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    send_json(req).await
}

async fn balance(app: &TestApp, c: &reqwest::Client) -> i64 {
    let (_, me) = send_json(c.get(app.url("/api/v1/me"))).await;
    me["points_balance"].as_i64().unwrap_or(-1)
}

fn fen(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or("x");
    let (whole, frac) = s.split_once('.').unwrap_or((s, "00"));
    whole.parse::<i64>().unwrap_or(-999_999) * 100 + frac.parse::<i64>().unwrap_or(-99)
}

/// Every line: points value + cash = line total; the order is the sum of its lines.
fn assert_sums(order: &Value) {
    let lines = order["lines"].as_array().cloned().unwrap_or_default();
    assert!(!lines.is_empty(), "{order}");
    for l in &lines {
        assert_eq!(fen(&l["points_value"]) + fen(&l["cash"]), fen(&l["line_total"]), "{l}");
        assert_eq!(fen(&l["unit_price"]) * l["quantity"].as_i64().unwrap_or(0), fen(&l["line_total"]), "{l}");
    }
    let sum = |k: &str| lines.iter().map(|l| fen(&l[k])).sum::<i64>();
    assert_eq!(sum("line_total"), fen(&order["total"]));
    assert_eq!(sum("points_value"), fen(&order["points_value"]));
    assert_eq!(sum("cash"), fen(&order["cash_due"]));
    assert_eq!(
        lines.iter().map(|l| l["points"].as_i64().unwrap_or(0)).sum::<i64>(),
        order["points_used"].as_i64().unwrap_or(-1)
    );
}

#[actix_web::test]
async fn employee_pays_with_points_plus_cash_through_the_sandbox() {
    let app = spawn_app().await;
    let employee = app.client_for("employee@example.com").await;
    let (quinoa, dragon) = (app.sku("GY-QUINOA-1KG"), app.campaign("dragon-boat-2027"));
    let before = app.stock("GY-QUINOA-1KG");
    // The client's word on channel and total is ignored.
    let mut body = order_body(json!([{"sku_id": quinoa, "quantity": 2}]), 1000, dragon);
    body["channel"] = json!("union");
    body["total"] = json!("0.01");
    let (status, order) = place(&app, &employee, &body, Some("k-1")).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["channel"], "employee");
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["total"], "79.80");
    assert_eq!(order["points_used"], 1000);
    assert_eq!(order["points_value"], "10.00");
    assert_eq!(order["cash_due"], "69.80");
    assert_sums(&order);
    let order_no = order["order_no"].as_str().unwrap_or_default().to_string();
    assert!(order_no.len() >= 20, "order numbers are long and random: {order_no}");
    assert!(order["payment_url"].as_str().is_some_and(|u| u.contains("/pay/sandbox/")));
    assert_eq!(app.stock("GY-QUINOA-1KG"), before - 2);
    assert_eq!(balance(&app, &employee).await, 4000);

    let payment_id = order["payment_id"].as_str().unwrap_or_default().to_string();
    let (status, done) =
        send_json(employee.post(app.url(&format!("/api/v1/payments/sandbox/{payment_id}/complete")))).await;
    assert_eq!(status, 200, "{done}");
    let (_, paid) = send_json(employee.get(app.url(&format!("/api/v1/orders/{order_no}")))).await;
    assert_eq!(paid["status"], "paid");
    assert!(paid["payment_url"].is_null());
    // Paying twice is refused; the order stays paid once.
    let (status, again) =
        send_json(employee.post(app.url(&format!("/api/v1/payments/sandbox/{payment_id}/complete")))).await;
    assert_eq!((status, error_code(&again)), (409, "payment_settled"));

    let (_, list) = send_json(employee.get(app.url("/api/v1/orders"))).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn prices_come_from_tiers_and_campaigns_and_public_buyers_pay_cash() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let (quinoa, zongzi) = (app.sku("GY-QUINOA-1KG"), app.sku("GY-ZONGZI-8"));
    let body = order_body(
        json!([{"sku_id": quinoa, "quantity": 10}, {"sku_id": zongzi, "quantity": 1}]),
        0,
        app.campaign("dragon-boat-2027"),
    );
    let (status, order) = place(&app, &buyer, &body, None).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["channel"], "public");
    assert_eq!(order["category"], "helped_sales");
    assert_eq!(order["lines"][0]["unit_price"], "36.90", "tier price for 10");
    assert_eq!(order["lines"][1]["unit_price"], "55.00", "campaign price");
    assert_eq!(order["total"], "424.00");
    assert_eq!(order["cash_due"], "424.00");
    assert_sums(&order);
}

#[actix_web::test]
async fn a_disabled_account_places_no_order_and_its_session_ends() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let body =
        order_body(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}]), 0, app.campaign("dragon-boat-2027"));
    let (status, order) = place(&app, &buyer, &body, Some("before")).await;
    assert_eq!(status, 201, "{order}");
    let orders_before = scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM orders");
    let stock_before = app.stock("GY-QUINOA-1KG");

    crate::helpers::exec(&mut app.conn(), "UPDATE users SET disabled = TRUE WHERE email = 'buyer@example.com'");
    let (status, body_back) = place(&app, &buyer, &body, Some("after")).await;
    assert_eq!((status, error_code(&body_back)), (401, "unauthenticated"), "{body_back}");
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM orders"), orders_before);
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock_before);
    // The session ended with that answer: enabling the account again does not revive it.
    crate::helpers::exec(&mut app.conn(), "UPDATE users SET disabled = FALSE WHERE email = 'buyer@example.com'");
    let (status, _) = send_json(buyer.get(app.url("/api/v1/me"))).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn bad_orders_get_their_code_and_write_nothing() {
    let app = spawn_app().await;
    let employee = app.client_for("employee@example.com").await;
    let (quinoa, banana) = (app.sku("GY-QUINOA-1KG"), app.sku("CH-BANANA-2500G"));
    let dragon = app.campaign("dragon-boat-2027");
    let year_round = app.campaign("year-round");
    let stock = app.stock("GY-QUINOA-1KG");
    let one = |q: Value| json!([{"sku_id": quinoa, "quantity": q}]);
    let mut bad_mobile = order_body(one(json!(1)), 0, dragon);
    bad_mobile["address"]["mobile"] = json!("2380013800");
    let mut priced = order_body(one(json!(1)), 0, dragon);
    priced["lines"][0]["price"] = json!("0.01");
    let cases: Vec<(Value, u16, &str)> = vec![
        (order_body(one(json!(0)), 0, dragon), 400, "invalid_quantity"),
        (order_body(one(json!(-3)), 0, dragon), 400, "invalid_quantity"),
        (order_body(one(json!(10_001)), 0, dragon), 400, "invalid_quantity"),
        (order_body(one(json!(9_000_000_000_000_000i64)), 0, dragon), 400, "invalid_quantity"),
        (order_body(one(json!(1.5)), 0, dragon), 400, "invalid_json"),
        (order_body(json!([]), 0, dragon), 400, "invalid_quantity"),
        (order_body(json!([{"sku_id": 999_999, "quantity": 1}]), 0, dragon), 422, "unknown_sku"),
        (priced, 400, "invalid_json"),
        (order_body(one(json!(1)), -5, dragon), 400, "invalid_points"),
        (order_body(one(json!(1)), 1996, dragon), 422, "points_cap_exceeded"),
        (order_body(json!([{"sku_id": banana, "quantity": 1}]), 0, dragon), 422, "campaign_not_applicable"),
        (order_body(one(json!(1)), 0, 424_242), 422, "campaign_not_applicable"),
        (bad_mobile, 400, "invalid_address"),
        (json!({"lines": one(json!(1)), "points": 0, "campaign_id": year_round}), 400, "invalid_json"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = place(&app, &employee, &body, None).await;
        assert_eq!((got, error_code(&answer)), (status, code), "{body}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| m.len() > 5));
    }
    // A buyer with no points cannot spend any.
    let buyer = app.client_for("buyer@example.com").await;
    let (got, answer) = place(&app, &buyer, &order_body(one(json!(1)), 1, dragon), None).await;
    assert_eq!((got, error_code(&answer)), (422, "insufficient_points"));
    // Not logged in.
    let (got, answer) = place(&app, &crate::helpers::client(), &order_body(one(json!(1)), 0, dragon), None).await;
    assert_eq!((got, error_code(&answer)), (401, "unauthenticated"));

    assert_eq!(app.stock("GY-QUINOA-1KG"), stock, "no stock moved");
    assert_eq!(balance(&app, &employee).await, 5000, "no points moved");
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM orders"), 0);
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox"), 0);
}

#[actix_web::test]
async fn other_buyers_orders_do_not_exist_for_you() {
    let app = spawn_app().await;
    let employee = app.client_for("employee@example.com").await;
    let body = order_body(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}]), 0, app.campaign("year-round"));
    let (_, order) = place(&app, &employee, &body, None).await;
    let no = order["order_no"].as_str().unwrap_or_default();
    let buyer = app.client_for("buyer@example.com").await;
    for req in [
        buyer.get(app.url(&format!("/api/v1/orders/{no}"))),
        buyer.post(app.url(&format!("/api/v1/orders/{no}/cancel"))),
        buyer.post(app.url(&format!("/api/v1/orders/{no}/refunds"))),
        buyer.post(
            app.url(&format!("/api/v1/payments/sandbox/{}/complete", order["payment_id"].as_str().unwrap_or_default())),
        ),
    ] {
        let (status, body) = send_json(req).await;
        assert_eq!((status, error_code(&body)), (404, "not_found"));
    }
    let res = buyer.get(app.url(&format!("/orders/{no}"))).send().await.expect("page");
    assert_eq!(res.status(), 404);
}

#[actix_web::test]
async fn the_same_idempotency_key_replays_and_a_different_body_conflicts() {
    let app = spawn_app().await;
    let employee = app.client_for("employee@example.com").await;
    let body =
        order_body(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}]), 100, app.campaign("year-round"));
    let (s1, first) = place(&app, &employee, &body, Some("same-key")).await;
    let (s2, second) = place(&app, &employee, &body, Some("same-key")).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first, second, "the replay is the first answer");
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM orders"), 1);
    assert_eq!(balance(&app, &employee).await, 4900, "points spent once");
    let mut other = body.clone();
    other["points"] = json!(200);
    let (status, answer) = place(&app, &employee, &other, Some("same-key")).await;
    assert_eq!((status, error_code(&answer)), (409, "idempotency_conflict"));
    // Concurrent twins with a fresh key: one order.
    let twins: Vec<_> = (0..6).map(|_| place(&app, &employee, &body, Some("twin-key"))).collect();
    let answers = futures_util::future::join_all(twins).await;
    let numbers: std::collections::BTreeSet<String> =
        answers.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b["order_no"].to_string()).collect();
    assert_eq!(numbers.len(), 1, "{answers:?}");
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM orders"), 2);
}

#[actix_web::test]
async fn thirty_buyers_race_for_the_last_five_units() {
    let app = spawn_app().await;
    crate::helpers::exec(&mut app.conn(), "UPDATE skus SET stock = 5 WHERE code = 'RH-RICE-5KG'");
    let buyer = app.client_for("buyer@example.com").await;
    let body = order_body(json!([{"sku_id": app.sku("RH-RICE-5KG"), "quantity": 1}]), 0, app.campaign("year-round"));
    let attempts: Vec<_> = (0..30).map(|_| place(&app, &buyer, &body, None)).collect();
    let answers = futures_util::future::join_all(attempts).await;
    let placed = answers.iter().filter(|(s, _)| *s == 201).count();
    let sold_out = answers.iter().filter(|(s, b)| *s == 409 && error_code(b) == "out_of_stock").count();
    assert_eq!(
        (placed, sold_out),
        (5, 25),
        "{:?}",
        answers.iter().map(|(s, b)| (s, error_code(b).to_string())).collect::<Vec<_>>()
    );
    assert_eq!(app.stock("RH-RICE-5KG"), 0);
    // A refused order leaves nothing behind: on PostgreSQL its stock is taken in the same round
    // trip as the COMMIT, which a short SKU stops before it is sent.
    let count = |sql: &str| scalar(&mut app.conn(), sql);
    assert_eq!(count("SELECT COUNT(*) AS n FROM orders"), 5);
    assert_eq!(count("SELECT COUNT(*) AS n FROM payments"), 5);
    assert_eq!(count("SELECT COUNT(*) AS n FROM stock_movements WHERE reason = 'sale'"), 5);
    // All or nothing over SKUs: the first SKU is not taken when the second is short.
    let quinoa = app.stock("GY-QUINOA-1KG");
    let both =
        json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 2}, {"sku_id": app.sku("RH-RICE-5KG"), "quantity": 1}]);
    let (status, answer) = place(&app, &buyer, &order_body(both, 0, app.campaign("year-round")), None).await;
    assert_eq!((status, error_code(&answer)), (409, "out_of_stock"), "{answer}");
    assert_eq!(app.stock("GY-QUINOA-1KG"), quinoa);
    assert_eq!(count("SELECT COUNT(*) AS n FROM orders"), 5);
    // The order that ends its transaction with the stock still reads as placed and is payable.
    let one = json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 2}]);
    let (status, placed) = place(&app, &buyer, &order_body(one, 0, app.campaign("year-round")), Some("last-one")).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(app.stock("GY-QUINOA-1KG"), quinoa - 2);
    let (again, replayed) = place(
        &app,
        &buyer,
        &order_body(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 2}]), 0, app.campaign("year-round")),
        Some("last-one"),
    )
    .await;
    assert_eq!((again, &replayed), (201, &placed), "the key's record was committed with the order");
    assert_eq!(count("SELECT COUNT(*) AS n FROM orders"), 6);
}

#[actix_web::test]
async fn twenty_orders_spending_the_whole_balance_leave_one_winner() {
    let app = spawn_app().await;
    let employee = app.client_for("employee@example.com").await;
    let body =
        order_body(json!([{"sku_id": app.sku("GY-QUINOA-GIFT-2KG"), "quantity": 1}]), 5000, app.campaign("year-round"));
    let attempts: Vec<_> = (0..20).map(|_| place(&app, &employee, &body, None)).collect();
    let answers = futures_util::future::join_all(attempts).await;
    let placed = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers.iter().filter(|(s, b)| *s == 422 && error_code(b) == "insufficient_points").count();
    assert_eq!(
        (placed, refused),
        (1, 19),
        "{:?}",
        answers.iter().map(|(s, b)| (s, error_code(b).to_string())).collect::<Vec<_>>()
    );
    assert_eq!(balance(&app, &employee).await, 0);
    let ledger = scalar(&mut app.conn(), "SELECT COALESCE(SUM(points), 0) AS n FROM points_entries");
    assert_eq!(ledger, 0, "every point is traceable: grants minus spends is the balance");
    assert_eq!(scalar(&mut app.conn(), "SELECT MIN(remaining) AS n FROM points_lots"), 0);
}

#[actix_web::test]
async fn cancelling_and_timing_out_give_back_stock_and_points() {
    let app = spawn_app().await;
    let employee = app.client_for("employee@example.com").await;
    let code = "GY-QUINOA-1KG";
    let stock = app.stock(code);
    let body = order_body(json!([{"sku_id": app.sku(code), "quantity": 3}]), 1500, app.campaign("year-round"));
    let (_, order) = place(&app, &employee, &body, None).await;
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    assert_eq!((app.stock(code), balance(&app, &employee).await), (stock - 3, 3500));
    let (status, cancelled) = send_json(employee.post(app.url(&format!("/api/v1/orders/{no}/cancel")))).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")));
    assert_eq!((app.stock(code), balance(&app, &employee).await), (stock, 5000));
    let (status, again) = send_json(employee.post(app.url(&format!("/api/v1/orders/{no}/cancel")))).await;
    assert_eq!((status, error_code(&again)), (409, "invalid_state"));

    // Left unpaid past the deadline: the job cancels it, once, however often it runs.
    let (_, late) = place(&app, &employee, &body, None).await;
    let late_no = late["order_no"].as_str().unwrap_or_default().to_string();
    let later = chrono::Utc::now().naive_utc() + chrono::Duration::minutes(31);
    assert_eq!(expire_unpaid(&mut app.conn(), &app.settings(), later).ok(), Some(1));
    assert_eq!(expire_unpaid(&mut app.conn(), &app.settings(), later).ok(), Some(0));
    let (_, view) = send_json(employee.get(app.url(&format!("/api/v1/orders/{late_no}")))).await;
    assert_eq!(view["status"], "cancelled");
    assert_eq!((app.stock(code), balance(&app, &employee).await), (stock, 5000));

    // Nothing left to pay: paid at once.
    let all_points =
        order_body(json!([{"sku_id": app.sku("BS-SEEDS-500G"), "quantity": 1}]), 1990, app.campaign("year-round"));
    let (status, free) = place(&app, &employee, &all_points, None).await;
    assert_eq!(status, 201, "{free}");
    assert_eq!((free["status"].as_str(), free["cash_due"].as_str()), (Some("paid"), Some("0.00")));
    assert!(free["payment_id"].is_null() && free["payment_url"].is_null());
}

#[actix_web::test]
async fn refunds_return_points_and_cash_in_proportion() {
    let app = spawn_app().await;
    let employee = app.client_for("employee@example.com").await;
    let (gift, quinoa) = (app.sku("GY-QUINOA-GIFT-2KG"), app.sku("GY-QUINOA-1KG"));
    let body = order_body(
        json!([{"sku_id": gift, "quantity": 3}, {"sku_id": quinoa, "quantity": 1}]),
        2999,
        app.campaign("year-round"),
    );
    let (_, order) = place(&app, &employee, &body, None).await;
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let payment = order["payment_id"].as_str().unwrap_or_default().to_string();
    let (status, early) = send_json(employee.post(app.url(&format!("/api/v1/orders/{no}/refunds")))).await;
    assert_eq!((status, error_code(&early)), (409, "invalid_state"), "unpaid orders are cancelled, not refunded");
    send_json(employee.post(app.url(&format!("/api/v1/payments/sandbox/{payment}/complete")))).await;
    let gift_stock = app.stock("GY-QUINOA-GIFT-2KG");
    let line = &order["lines"][0];
    let line_id = line["id"].as_i64().unwrap_or(0);

    let (status, first) = send_json(
        employee
            .post(app.url(&format!("/api/v1/orders/{no}/refunds")))
            .json(&json!({"lines": [{"line_id": line_id, "quantity": 1}]})),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["order"]["status"], "partially_refunded");
    let third = |total: i64| total / 3;
    assert_eq!(fen(&first["cash"]), third(fen(&line["cash"])));
    assert_eq!(first["points"].as_i64(), Some(third(line["points"].as_i64().unwrap_or(0))));
    assert_eq!(app.stock("GY-QUINOA-GIFT-2KG"), gift_stock + 1);
    let (status, too_many) = send_json(
        employee
            .post(app.url(&format!("/api/v1/orders/{no}/refunds")))
            .json(&json!({"lines": [{"line_id": line_id, "quantity": 3}]})),
    )
    .await;
    assert_eq!((status, error_code(&too_many)), (422, "invalid_refund"));

    let (status, rest) = send_json(employee.post(app.url(&format!("/api/v1/orders/{no}/refunds")))).await;
    assert_eq!(status, 201, "{rest}");
    assert_eq!(rest["order"]["status"], "refunded");
    assert_eq!(fen(&first["cash"]) + fen(&rest["cash"]), fen(&order["cash_due"]), "all the cash back, to the fen");
    assert_eq!(first["points"].as_i64().unwrap_or(0) + rest["points"].as_i64().unwrap_or(0), 2999);
    assert_eq!(balance(&app, &employee).await, 5000);
    assert_eq!(rest["order"]["refunded_cash"], order["cash_due"]);
}

#[actix_web::test]
async fn forged_and_replayed_webhooks_change_nothing() {
    let app = spawn_app().await;
    let employee = app.client_for("employee@example.com").await;
    let body = order_body(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}]), 0, app.campaign("year-round"));
    let (_, order) = place(&app, &employee, &body, None).await;
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let event = CallbackEvent {
        event_id: "evt_test_1".into(),
        payment_id: order["payment_id"].as_str().unwrap_or_default().into(),
        outcome: Outcome::Succeeded,
        amount_fen: fen(&order["cash_due"]),
    };
    let raw = serde_json::to_vec(&event).unwrap_or_default();
    let webhook = app.url("/api/v1/payments/sandbox/webhook");
    let anyone = crate::helpers::client();
    let now = chrono::Utc::now().timestamp();
    // Signed with a key the server does not hold, or not at all.
    let forger = SandboxGateway::new(b"not the server's key", String::new());
    for signature in [forger.sign(&raw, now).unwrap_or_default(), String::new(), "t=1,v1=zz".into()] {
        let (status, answer) =
            send_json(anyone.post(&webhook).header("x-sandbox-signature", signature).body(raw.clone())).await;
        assert_eq!((status, error_code(&answer)), (400, "invalid_signature"));
    }
    let (_, still) = send_json(employee.get(app.url(&format!("/api/v1/orders/{no}")))).await;
    assert_eq!(still["status"], "pending_payment");

    // The real gateway's signature: applied once; the replay is recognised.
    let key = app.config.cookie_key().unwrap_or_default();
    let gateway = SandboxGateway::new(&key, String::new());
    let signed = gateway.sign(&raw, now).unwrap_or_default();
    let (status, first) =
        send_json(anyone.post(&webhook).header("x-sandbox-signature", &signed).body(raw.clone())).await;
    assert_eq!((status, first["result"].as_str()), (200, Some("paid")));
    let (status, replay) =
        send_json(anyone.post(&webhook).header("x-sandbox-signature", &signed).body(raw.clone())).await;
    assert_eq!((status, replay["result"].as_str()), (200, Some("duplicate")));
    // An old signature is refused even when genuine.
    let stale = gateway.sign(&raw, now - 3600).unwrap_or_default();
    let (status, answer) =
        send_json(anyone.post(&webhook).header("x-sandbox-signature", stale).body(raw.clone())).await;
    assert_eq!((status, error_code(&answer)), (400, "stale_callback"));
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM order_events WHERE to_status = 'paid'"), 1);
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE template = 'payment_received'"), 1);
}

#[actix_web::test]
async fn mail_reaches_a_real_smtp_server_even_after_an_outage() {
    // A port where nothing listens yet: the first deliveries fail.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = reserved.local_addr().map(|a| a.port()).unwrap_or(0);
    drop(reserved);
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(&[("SMTP_URL", &smtp_url), ("AIDMART_MAIL_POLL_MS", "100")]).await;
    let employee = app.client_for("employee@example.com").await;
    // Placed and paid: the buyer's two mails and the cooperative's shipping note.
    let body =
        order_body(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 2}]), 1000, app.campaign("year-round"));
    let (status, order) = place(&app, &employee, &body, None).await;
    assert_eq!(status, 201, "{order}");
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let (_, paid) = send_json(employee.post(
        app.url(&format!("/api/v1/payments/sandbox/{}/complete", order["payment_id"].as_str().unwrap_or_default())),
    ))
    .await;
    assert_eq!(paid["outcome"], "succeeded");

    let mut waited = 0;
    while scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE attempts > 0") < 3 && waited < 100 {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(
        scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NOT NULL"),
        0,
        "nothing sent while SMTP is down"
    );
    assert!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE last_error IS NOT NULL") >= 3);

    // SMTP comes back: everything queued arrives, nothing lost.
    let inbox = smtp::serve(std::net::TcpListener::bind(("127.0.0.1", port)).expect("smtp port"));
    crate::helpers::exec(&mut app.conn(), "UPDATE outbox SET next_attempt_at = created_at");
    let mut waited = 0;
    while inbox.messages().len() < 3 && waited < 100 {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    let messages = inbox.messages();
    assert_eq!(messages.len(), 3, "{:?}", messages.iter().map(|m| &m.0).collect::<Vec<_>>());
    let to = |who: &str| {
        messages.iter().filter(|(rcpt, _)| rcpt.iter().any(|r| r == who)).map(|(_, m)| m.clone()).collect::<Vec<_>>()
    };
    let buyer_mail = to("employee@example.com");
    assert_eq!(buyer_mail.len(), 2);
    assert!(buyer_mail.iter().all(|m| m.contains(&no)));
    let coop_mail = to("coop@example.com");
    assert_eq!(coop_mail.len(), 1, "the cooperative is told what to ship");
    assert!(coop_mail[0].contains("Content-Type: text/html") && coop_mail[0].contains("Content-Type: text/plain"));
    // The worker marks a message sent just after the server took it: wait for the mark.
    let unsent = |app: &TestApp| scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL");
    let mut waited = 0;
    while unsent(&app) > 0 && waited < 50 {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(unsent(&app), 0);
}

/// How many SQL statements one checkout issues (target: at most 16; the settlement hook's
/// one `INSERT … SELECT` fixing the platform rate on the lines made it 16), counted by
/// diesel's instrumentation around the same service call the API makes.
#[actix_web::test]
async fn one_checkout_issues_few_statements() {
    use aidmart::orders::service::{place_once, write_personal, Buyer, OrderRequest, Outcome};
    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use diesel::Connection;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Counter(Arc<AtomicUsize>);
    impl Instrumentation for Counter {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                self.0.fetch_add(1, Ordering::SeqCst);
                if std::env::var("SHOW_SQL").is_ok() {
                    println!("SQL: {}", query.to_string().chars().take(110).collect::<String>());
                }
            }
        }
    }

    let app = spawn_app().await;
    let body =
        order_body(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 2}]), 500, app.campaign("year-round"));
    let request: OrderRequest = serde_json::from_value(body).expect("request");
    let settings = app.settings();
    let employee_id = scalar(&mut app.conn(), "SELECT id AS n FROM users WHERE email = 'employee@example.com'");
    let buyer =
        Buyer {
            id: employee_id, email: "employee@example.com".into(), display_name: "李强".into(), is_employee: true
        };
    let mut conn = app.conn();
    let count = Arc::new(AtomicUsize::new(0));
    conn.set_instrumentation(Counter(count.clone()));
    let now = chrono::Utc::now().naive_utc();
    let placed =
        place_once(&mut conn, buyer.id, &request, Some(("count-key", "hash")), now, |conn, prepared, record| {
            write_personal(conn, &settings, &buyer, &request, prepared, record, now)
        });
    assert!(matches!(placed, Ok(Outcome::New(_))));
    let statements = count.load(Ordering::SeqCst);
    println!("one checkout ({}) issued {statements} SQL statements", app.backend);
    assert!(statements >= 5, "the counter counts ({statements})");
    // PostgreSQL: the catalog read, BEGIN, four for the points, the order, its lines, the
    // terms, mail, payment and key record as one statement, the stock with the COMMIT.
    let target = if app.backend == "postgres" { 10 } else { 16 };
    assert!(statements <= target, "target: at most {target} statements, got {statements}");
}

#[actix_web::test]
async fn admins_grant_points_in_lots_that_expire() {
    let app = spawn_app().await;
    let grant = json!({"email": "buyer@example.com", "points": 300, "reason": "端午福利", "expires_at": "2099-06-30"});
    let employee = app.client_for("employee@example.com").await;
    let (status, body) = send_json(employee.post(app.url("/api/v1/admin/points/grants")).json(&grant)).await;
    assert_eq!((status, error_code(&body)), (403, "forbidden"));
    let admin = app.client_for("admin@example.com").await;
    for (bad, code) in [
        (
            json!({"email": "buyer@example.com", "points": 0, "reason": "x", "expires_at": "2099-01-01"}),
            "invalid_points",
        ),
        (
            json!({"email": "buyer@example.com", "points": 5, "reason": "x", "expires_at": "2001-01-01"}),
            "invalid_expiry",
        ),
        (json!({"email": "buyer@example.com", "points": 5, "reason": "x", "expires_at": "soon"}), "invalid_expiry"),
        (
            json!({"email": "buyer@example.com", "points": 5, "reason": " ", "expires_at": "2099-01-01"}),
            "invalid_reason",
        ),
    ] {
        let (status, body) = send_json(admin.post(app.url("/api/v1/admin/points/grants")).json(&bad)).await;
        assert_eq!((status, error_code(&body)), (400, code), "{bad}");
    }
    let (status, body) = send_json(
        admin
            .post(app.url("/api/v1/admin/points/grants"))
            .json(&json!({"email": "nobody@example.com", "points": 5, "reason": "x", "expires_at": "2099-01-01"})),
    )
    .await;
    assert_eq!((status, error_code(&body)), (422, "unknown_user"));
    let (status, body) = send_json(admin.post(app.url("/api/v1/admin/points/grants")).json(&grant)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["balance"], 300);
    // A second lot that expires sooner is spent first.
    let soon = json!({"email": "buyer@example.com", "points": 100, "reason": "短期", "expires_at": "2098-01-01"});
    send_json(admin.post(app.url("/api/v1/admin/points/grants")).json(&soon)).await;
    let buyer = app.client_for("buyer@example.com").await;
    let body =
        order_body(json!([{"sku_id": app.sku("GY-QUINOA-GIFT-2KG"), "quantity": 1}]), 150, app.campaign("year-round"));
    let (status, _) = place(&app, &buyer, &body, None).await;
    assert_eq!(status, 201);
    let remaining = |reason: &str| {
        scalar(&mut app.conn(), &format!("SELECT remaining AS n FROM points_lots WHERE reason = '{reason}'"))
    };
    assert_eq!((remaining("短期"), remaining("端午福利")), (0, 250));
    // The expiry job retires what is left once the date has passed.
    let later = chrono::NaiveDate::from_ymd_opt(2099, 7, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default();
    // The buyer's 250 and the employee's 5,000 demo points (expiring 2027-12-31).
    assert_eq!(aidmart::points::service::expire_due(&mut app.conn(), later).ok(), Some(5250));
    assert_eq!(aidmart::points::service::expire_due(&mut app.conn(), later).ok(), Some(0));
    assert_eq!(balance(&app, &buyer).await, 0);
    let ledger = scalar(&mut app.conn(), "SELECT COALESCE(SUM(e.points), 0) AS n FROM points_entries e JOIN points_accounts a ON a.id = e.account_id JOIN users u ON u.id = a.user_id WHERE u.email = 'buyer@example.com'");
    assert_eq!(ledger, 0, "grants − spends − expiry = balance");
}
