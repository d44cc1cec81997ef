//! After the parcel leaves: delivery tracking, receipt, after-sales cases and the direct
//! refund's limit. coop@example.com manages guyuan-quinoa-coop (GY-QUINOA-*);
//! employee@example.com has 5,000 points (one point is one fen); GY-QUINOA-GIFT-2KG pledges
//! ¥1.00 per unit to a charity project.

use aidmart::aftersales::{delivery, service::Windows};
use chrono::{Duration, Utc};
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{error_code, exec, sample_png, scalar, send_json, spawn_app, TestApp};

const COOP: &str = "coop@example.com";

fn address() -> Value {
    json!({"name": "李强", "mobile": "13800138000", "province": "北京市", "city": "北京市", "district": "西城区", "detail": "金融大街 1 号"})
}

fn fen(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or("x");
    let (whole, frac) = s.split_once('.').unwrap_or((s, "00"));
    whole.parse::<i64>().unwrap_or(-999_999) * 100 + frac.parse::<i64>().unwrap_or(-99)
}

fn count(app: &TestApp, sql: &str) -> i64 {
    scalar(&mut app.conn(), sql)
}

/// A job as the tests run it: how many things it did (a failure counts as a huge number).
type JobFn = fn(&mut aidmart::db::AnyConnection, &aidmart::orders::service::Settings, chrono::NaiveDateTime) -> usize;

fn windows() -> Windows {
    Windows { auto_receive: Duration::days(10), after_sales: Duration::days(7), reply: Duration::hours(48) }
}

/// Places and pays an order of (sku code, quantity) with `points`; returns the order JSON.
async fn paid_order(app: &TestApp, c: &reqwest::Client, lines: &[(&str, i64)], points: i64) -> Value {
    let lines: Vec<Value> = lines.iter().map(|(code, q)| json!({"sku_id": app.sku(code), "quantity": q})).collect();
    let body =
        json!({"lines": lines, "points": points, "campaign_id": app.campaign("year-round"), "address": address()});
    let (status, order) = send_json(c.post(app.url("/api/v1/orders")).json(&body)).await;
    assert_eq!(status, 201, "{order}");
    if let Some(payment) = order["payment_id"].as_str() {
        let (status, body) = send_json(c.post(app.url(&format!("/api/v1/payments/sandbox/{payment}/complete")))).await;
        assert_eq!(status, 200, "{body}");
    }
    order
}

fn no(order: &Value) -> String {
    order["order_no"].as_str().unwrap_or_default().to_string()
}

async fn get_order(app: &TestApp, c: &reqwest::Client, no: &str) -> Value {
    let (status, v) = send_json(c.get(app.url(&format!("/api/v1/orders/{no}")))).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Ships the cooperative's part of the order; returns the parcel's id from the order JSON.
async fn ship(app: &TestApp, coop: &reqwest::Client, buyer: &reqwest::Client, no: &str, tracking: &str) -> i64 {
    let body = json!({"order_no": no, "carrier": "顺丰速运", "tracking_no": tracking});
    let (status, answer) = send_json(coop.post(app.url("/api/v1/coop/shipments")).json(&body)).await;
    assert_eq!(status, 201, "{answer}");
    let v = get_order(app, buyer, no).await;
    v["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["tracking_no"] == tracking)
        .and_then(|p| p["id"].as_i64())
        .unwrap_or_else(|| panic!("parcel listed: {v}"))
}

async fn receive(app: &TestApp, c: &reqwest::Client, no: &str, part: i64, body: Value) -> (u16, Value) {
    send_json(c.post(app.url(&format!("/api/v1/orders/{no}/parts/{part}/receipt"))).json(&body)).await
}

async fn open_case(app: &TestApp, c: &reqwest::Client, no: &str, body: Value) -> (u16, Value) {
    send_json(c.post(app.url(&format!("/api/v1/orders/{no}/after-sales"))).json(&body)).await
}

fn line_id(order: &Value, i: usize) -> i64 {
    order["lines"][i]["id"].as_i64().unwrap_or_default()
}

async fn accept(app: &TestApp, coop: &reqwest::Client, case: i64, body: Value) -> (u16, Value) {
    send_json(coop.post(app.url(&format!("/api/v1/coop/after-sales/{case}/accept"))).json(&body)).await
}

#[actix_web::test]
async fn the_direct_refund_stops_at_shipping_and_parcels_carry_checked_tracking() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("buyer@example.com").await, app.client_for(COOP).await);
    let order = paid_order(&app, &buyer, &[("GY-QUINOA-1KG", 3)], 0).await;
    let no = no(&order);
    // Before anything ships the direct refund works as it always did.
    let one = json!({"lines": [{"line_id": line_id(&order, 0), "quantity": 1}]});
    let (status, body) = send_json(buyer.post(app.url(&format!("/api/v1/orders/{no}/refunds"))).json(&one)).await;
    assert_eq!((status, fen(&body["cash"])), (201, 3990), "{body}");
    let v = get_order(&app, &buyer, &no).await;
    assert_eq!(v["parts"][0]["status"], "awaiting_shipment", "{v}");
    assert!(v["parts"][0]["id"].is_null());

    // A carrier from the list, with a number in its format.
    let ship_body =
        |carrier: &str, tracking: &str| json!({"order_no": no, "carrier": carrier, "tracking_no": tracking});
    for (carrier, tracking, code) in [
        ("FooExpress", "SF1234567890123", "invalid_carrier"),
        ("顺丰速运", "SF12345", "invalid_tracking_no"),
        ("顺丰速运", "YT1234567890123", "invalid_tracking_no"),
        ("中通", "SF1234567890123", "invalid_tracking_no"),
    ] {
        let (status, body) =
            send_json(coop.post(app.url("/api/v1/coop/shipments")).json(&ship_body(carrier, tracking))).await;
        assert_eq!((status, error_code(&body)), (400, code), "{carrier} {tracking}: {body}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM shipments"), 0);
    let part = ship(&app, &coop, &buyer, &no, "SF1234567890123").await;
    let v = get_order(&app, &buyer, &no).await;
    let p = &v["parts"][0];
    assert_eq!(
        (p["id"].as_i64(), p["status"].as_str(), p["carrier"].as_str()),
        (Some(part), Some("shipped"), Some("顺丰速运"))
    );
    assert!(p["shipped_at"].is_string() && p["received_at"].is_null() && p["after_sales"].is_array(), "{p}");

    // Afterwards: 409 use_after_sales, and nothing moves.
    let (status, body) = send_json(buyer.post(app.url(&format!("/api/v1/orders/{no}/refunds"))).json(&one)).await;
    assert_eq!((status, error_code(&body)), (409, "use_after_sales"), "{body}");
    let (status, body) = send_json(buyer.post(app.url(&format!("/api/v1/orders/{no}/refunds")))).await;
    assert_eq!((status, error_code(&body)), (409, "use_after_sales"), "{body}");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM refunds"), 1);
    // A buyer is no admin; a platform admin keeps the full refund for disputes.
    let url = app.url(&format!("/api/v1/admin/orders/{no}/refunds"));
    assert_eq!(send_json(buyer.post(&url)).await.0, 403);
    let admin = app.client_for("admin@example.com").await;
    let (status, body) = send_json(admin.post(&url)).await;
    assert_eq!((status, body["order"]["status"].as_str(), fen(&body["cash"])), (201, Some("refunded"), 7980), "{body}");
}

#[actix_web::test]
async fn receipt_is_per_parcel_once_and_a_short_delivery_opens_a_case() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("buyer@example.com").await, app.client_for(COOP).await);
    let other = app.client_for("employee@example.com").await;
    let order = paid_order(&app, &buyer, &[("GY-QUINOA-1KG", 10), ("GY-QUINOA-GIFT-2KG", 2)], 0).await;
    let no = no(&order);
    let part = ship(&app, &coop, &buyer, &no, "SF123456789012").await;
    // Another buyer does not see the parcel; a quantity above what was sent is refused.
    assert_eq!(receive(&app, &other, &no, part, json!({})).await.0, 404);
    let too_many = json!({"lines": [{"line_id": line_id(&order, 0), "quantity_received": 11}]});
    let (status, body) = receive(&app, &buyer, &no, part, too_many).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_quantity"), "{body}");
    // Nine of ten arrived (验收): received, and a refund_only case for one unit.
    let nine = json!({"lines": [{"line_id": line_id(&order, 0), "quantity_received": 9}]});
    let (status, p) = receive(&app, &buyer, &no, part, nine.clone()).await;
    assert_eq!((status, p["status"].as_str()), (200, Some("received")), "{p}");
    assert!(p["received_at"].is_string());
    assert_eq!(p["after_sales"].as_array().map(Vec::len), Some(1), "{p}");
    assert_eq!(
        (p["after_sales"][0]["type"].as_str(), fen(&p["after_sales"][0]["amount"])),
        (Some("refund_only"), 3690),
        "a tenth at the tier price"
    );
    // Repeated: 200, no change, no second case.
    let (status, again) = receive(&app, &buyer, &no, part, nine).await;
    assert_eq!((status, &again["received_at"]), (200, &p["received_at"]));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM after_sales"), 1);
    let v = get_order(&app, &buyer, &no).await;
    assert_eq!(v["status"], "received", "{v}");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM order_events WHERE to_status = 'received'"), 1);
    let case = p["after_sales"][0]["id"].as_i64().unwrap_or_default();
    let (status, c) = send_json(buyer.get(app.url(&format!("/api/v1/orders/{no}/after-sales/{case}")))).await;
    assert_eq!(
        (status, c["reason"].as_str(), c["lines"][0]["quantity"].as_i64()),
        (200, Some("short_delivery"), Some(1))
    );
    // The cooperative was mailed.
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM outbox WHERE template = 'after_sales_requested' AND recipient = 'coop@example.com'"),
        1
    );
}

#[actix_web::test]
async fn cases_are_checked_against_shipping_quantities_amounts_and_the_window() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("buyer@example.com").await, app.client_for(COOP).await);
    let order = paid_order(&app, &buyer, &[("GY-QUINOA-1KG", 2)], 0).await;
    let no = no(&order);
    let line = line_id(&order, 0);
    let case = |q: i64, amount: &str| json!({"type": "refund_only", "lines": [{"line_id": line, "quantity": q}], "reason": "damaged", "text": "压坏了", "amount": amount});
    let (status, body) = open_case(&app, &buyer, &no, case(1, "1.00")).await;
    assert_eq!((status, error_code(&body)), (409, "not_shipped"), "{body}");
    let part = ship(&app, &coop, &buyer, &no, "SF123456789013").await;
    let (status, body) = open_case(&app, &buyer, &no, case(3, "1.00")).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_quantity"), "{body}");
    let (status, body) = open_case(&app, &buyer, &no, case(1, "39.91")).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_amount"), "{body}");
    let (status, body) = open_case(
        &app,
        &buyer,
        &no,
        json!({"type": "swap", "lines": [{"line_id": line, "quantity": 1}], "reason": "damaged"}),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_type"), "{body}");
    // With a photo uploaded first.
    let png = sample_png(&[]);
    let res = buyer
        .post(app.url("/api/v1/photos"))
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 201);
    let photo: Value = res.json().await.unwrap_or_default();
    let mut body = case(1, "10.00");
    body["photos"] = json!([photo["name"]]);
    let (status, opened) = open_case(&app, &buyer, &no, body).await;
    assert_eq!((status, opened["status"].as_str()), (201, Some("requested")), "{opened}");
    assert_eq!(opened["photos"][0], photo["url"]);
    let img = buyer.get(app.url(photo["url"].as_str().unwrap_or_default())).send().await.expect("photo");
    assert_eq!(img.status(), 200);
    // Two units shipped, one claimed: one more, not two.
    let (status, body) = open_case(&app, &buyer, &no, case(2, "1.00")).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_quantity"), "{body}");
    // Received long ago: the window is closed.
    let (status, _) = receive(&app, &buyer, &no, part, json!({})).await;
    assert_eq!(status, 200);
    exec(&mut app.conn(), "UPDATE shipments SET received_at = '2026-01-01 00:00:00'");
    let (status, body) = open_case(&app, &buyer, &no, case(1, "1.00")).await;
    assert_eq!((status, error_code(&body)), (409, "window_closed"), "{body}");
}

/// Everything a refund moved for one case: (cash, points) of its refund row.
fn case_refund(app: &TestApp, case: i64) -> (i64, i64) {
    let id = count(app, &format!("SELECT COALESCE(refund_id, 0) AS n FROM after_sales WHERE id = {case}"));
    (
        count(app, &format!("SELECT CAST(COALESCE(SUM(cash_fen), 0) AS BIGINT) AS n FROM refunds WHERE id = {id}")),
        count(app, &format!("SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) AS n FROM refunds WHERE id = {id}")),
    )
}

#[actix_web::test]
async fn an_accepted_refund_only_case_refunds_the_agreed_amount_across_cash_points_ledger_and_charity() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("employee@example.com").await, app.client_for(COOP).await);
    // 3 × ¥98.00 = ¥294.00, 2,999 points (¥29.99) and ¥264.01 cash.
    let order = paid_order(&app, &buyer, &[("GY-QUINOA-GIFT-2KG", 3)], 2999).await;
    let no = no(&order);
    let line = &order["lines"][0];
    let (cash, points, total) = (fen(&line["cash"]), line["points"].as_i64().unwrap_or(0), fen(&line["line_total"]));
    assert_eq!((cash + points, total), (29400, 29400));
    let part = ship(&app, &coop, &buyer, &no, "SF123456789014").await;
    receive(&app, &buyer, &no, part, json!({})).await;
    let body = json!({"type": "refund_only", "lines": [{"line_id": line_id(&order, 0), "quantity": 1}],
        "reason": "damaged", "text": "礼盒压坏", "amount": "50.00"});
    let (status, opened) = open_case(&app, &buyer, &no, body).await;
    assert_eq!(status, 201, "{opened}");
    let case = opened["id"].as_i64().unwrap_or_default();
    // A counter-offer above what was asked is refused; ¥40.00 is accepted.
    let (status, body) = accept(&app, &coop, case, json!({"amount": "60.00"})).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_amount"));
    let (status, accepted) = accept(&app, &coop, case, json!({"amount": "40.00", "reply": "抱歉，部分退款"})).await;
    assert_eq!((status, accepted["status"].as_str()), (200, Some("refunded")), "{accepted}");
    assert_eq!(fen(&accepted["refunded_amount"]), 4000);
    // Exactly ¥40.00 back, in proportion: the cash share rounded down, points take the rest.
    let (back_cash, back_points) = case_refund(&app, case);
    assert_eq!(back_cash + back_points, 4000);
    assert_eq!(back_cash, cash * 4000 / total);
    let v = get_order(&app, &buyer, &no).await;
    assert_eq!(
        (v["status"].as_str(), fen(&v["refunded_cash"]), v["refunded_points"].as_i64()),
        (Some("partially_refunded"), back_cash, Some(back_points))
    );
    assert_eq!(v["parts"][0]["after_sales"][0]["status"], "refunded");
    let refund_id = count(&app, &format!("SELECT refund_id AS n FROM after_sales WHERE id = {case}"));
    // One reversal credit for the case's refund, of the whole amount; the pledge follows.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) AS n FROM credit_entries WHERE kind = 'sale_reversal' AND refund_id = {refund_id}"
            )
        ),
        1
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT amount_fen AS n FROM credit_entries WHERE kind = 'sale_reversal' AND refund_id = {refund_id}"
            )
        ),
        -4000
    );
    assert_eq!(count(&app, &format!("SELECT amount_fen AS n FROM credit_entries WHERE kind = 'charity_reversal' AND refund_id = {refund_id}")), -(300 * 4000 / 29400));
    let (status, verify) = send_json(app.client.get(app.url("/api/v1/ledger/verify"))).await;
    assert_eq!((status, verify["ok"].as_bool()), (200, Some(true)), "{verify}");
    // Mail at each step to the other side.
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM outbox WHERE template = 'after_sales_update' AND recipient = 'employee@example.com'"), 1);
    // A second accept finds the case refunded: nothing more moves.
    let (status, body) = accept(&app, &coop, case, json!({})).await;
    assert_eq!((status, error_code(&body)), (409, "invalid_state"));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM refunds"), 1);
    // Charity hours are kept for a partial refund.
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM charity_hour_reversals"), 0);
}

#[actix_web::test]
async fn a_case_for_the_whole_order_reverses_its_charity_hours_and_gives_an_organisation_its_budget_back() {
    let app = spawn_app().await;
    let coop = app.client_for(COOP).await;
    // A personal order refunded in full through a case: the order's charity hour goes back.
    let buyer = app.client_for("buyer@example.com").await;
    let order = paid_order(&app, &buyer, &[("GY-QUINOA-1KG", 1)], 0).await;
    let no1 = no(&order);
    let part = ship(&app, &coop, &buyer, &no1, "SF123456789015").await;
    receive(&app, &buyer, &no1, part, json!({})).await;
    let body = json!({"type": "refund_only", "lines": [{"line_id": line_id(&order, 0), "quantity": 1}], "reason": "spoiled", "text": ""});
    let (_, opened) = open_case(&app, &buyer, &no1, body).await;
    assert_eq!(fen(&opened["amount"]), 3990, "{opened}");
    let (status, _) = accept(&app, &coop, opened["id"].as_i64().unwrap_or_default(), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(get_order(&app, &buyer, &no1).await["status"], "refunded");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM charity_hour_reversals"), 1);

    // A union's order: the refund gives its budget back, and the union's admin opens the case.
    let union = count(&app, "SELECT id AS n FROM organisations WHERE slug = 'demo-group-union'");
    exec(
        &mut app.conn(),
        &format!(
            "UPDATE org_budgets SET budget_total_fen = 50000, approval_threshold_fen = NULL WHERE org_id = {union}"
        ),
    );
    let admin = app.client_for("union@example.com").await;
    let body = json!({"lines": [{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 2}], "address": address(), "account": {"org_id": union}});
    let (status, order) = send_json(admin.post(app.url("/api/v1/orders")).json(&body)).await;
    assert_eq!(status, 201, "{order}");
    let no2 = no(&order);
    let used = || count(&app, &format!("SELECT budget_used_fen AS n FROM org_budgets WHERE org_id = {union}"));
    assert_eq!(used(), 7980);
    let body = json!({"order_no": no2, "carrier": "京东物流", "tracking_no": "JDVA12345678901"});
    assert_eq!(send_json(coop.post(app.url("/api/v1/coop/shipments")).json(&body)).await.0, 201);
    // Any admin of the union confirms receipt (验收), not only the one who placed it.
    let part = count(&app, "SELECT MAX(id) AS n FROM shipments");
    let other_admin = app.client_for("union2@example.com").await;
    let (status, p) = receive(&app, &other_admin, &no2, part, json!({})).await;
    assert_eq!((status, p["status"].as_str()), (200, Some("received")), "{p}");
    assert_eq!(receive(&app, &buyer, &no2, part, json!({})).await.0, 404, "a stranger to the union");
    let case = json!({"type": "refund_only", "lines": [{"line_id": line_id(&order, 0), "quantity": 1}], "reason": "damaged", "amount": "20.00"});
    let (status, opened) = open_case(&app, &admin, &no2, case).await;
    assert_eq!(status, 201, "{opened}");
    let (status, _) = accept(&app, &coop, opened["id"].as_i64().unwrap_or_default(), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(used(), 7980 - 2000, "the budget follows the refund");
}

#[actix_web::test]
async fn concurrent_accepts_escalations_and_the_auto_accept_of_one_case_move_money_once() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("employee@example.com").await, app.client_for(COOP).await);
    let order = paid_order(&app, &buyer, &[("GY-QUINOA-GIFT-2KG", 2)], 1001).await;
    let no = no(&order);
    ship(&app, &coop, &buyer, &no, "SF123456789016").await;
    let body = json!({"type": "refund_only", "lines": [{"line_id": line_id(&order, 0), "quantity": 2}], "reason": "spoiled", "amount": "77.77"});
    let (_, opened) = open_case(&app, &buyer, &no, body).await;
    let case = opened["id"].as_i64().unwrap_or_default();
    // The reply time has passed: the job races the cooperative and the buyer.
    let later = Utc::now().naive_utc() + Duration::hours(49);
    let jobs: Vec<_> = (0..3)
        .map(|_| {
            let (pool, s) = (app.pool.clone(), app.settings());
            std::thread::spawn(move || {
                let mut conn = pool.get().expect("conn");
                aidmart::aftersales::service::auto_accept_due(&mut conn, &s, later).map_err(|e| e.to_string())
            })
        })
        .collect();
    let accepts = (0..4).map(|_| accept(&app, &coop, case, json!({})));
    let url = app.url(&format!("/api/v1/orders/{no}/after-sales/{case}/escalate"));
    let escalations = (0..3).map(|_| send_json(buyer.post(&url)));
    let (a, e) = futures_util::join!(join_all(accepts), join_all(escalations));
    let job_results: Vec<_> = jobs.into_iter().map(|j| j.join().expect("thread")).collect();
    assert!(a.iter().chain(&e).all(|(s, _)| *s < 500), "{a:?} {e:?}");
    assert!(e.iter().all(|(s, b)| *s == 409 && error_code(b) == "invalid_state"), "{e:?}");
    let won =
        a.iter().filter(|(s, _)| *s == 200).count() + job_results.iter().map(|r| r.clone().unwrap_or(0)).sum::<usize>();
    assert_eq!(won, 1, "{a:?} {job_results:?}");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM refunds"), 1, "money moved once");
    let (cash, points) = case_refund(&app, case);
    assert_eq!(cash + points, 7777);
    let v = get_order(&app, &buyer, &no).await;
    assert_eq!((fen(&v["refunded_cash"]), v["refunded_points"].as_i64()), (cash, Some(points)));
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) AS n FROM after_sales_events WHERE case_id = {case} AND to_status = 'refunded'")
        ),
        1
    );
}

#[actix_web::test]
async fn return_refund_waits_for_the_goods_and_replacement_moves_no_money() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("employee@example.com").await, app.client_for(COOP).await);
    let order = paid_order(&app, &buyer, &[("GY-QUINOA-1KG", 4), ("GY-QUINOA-GIFT-2KG", 2)], 500).await;
    let no = no(&order);
    ship(&app, &coop, &buyer, &no, "SF123456789017").await;
    let refunds = || count(&app, "SELECT COUNT(*) AS n FROM refunds");
    let cases = |kind: &str, line: i64, q: i64| json!({"type": kind, "lines": [{"line_id": line, "quantity": q}], "reason": "wrong_item", "text": "发错了"});
    // Return and refund: accepted, then nothing until the goods are confirmed back.
    let (status, ret) = open_case(&app, &buyer, &no, cases("return_refund", line_id(&order, 0), 2)).await;
    assert_eq!(status, 201, "{ret}");
    let rid = ret["id"].as_i64().unwrap_or_default();
    let (status, r) = accept(&app, &coop, rid, json!({})).await;
    assert_eq!((status, r["status"].as_str()), (200, Some("awaiting_return")), "{r}");
    let confirm = app.url(&format!("/api/v1/coop/after-sales/{rid}/confirm-return"));
    let (status, body) = send_json(coop.post(&confirm)).await;
    assert_eq!((status, error_code(&body)), (409, "not_returned"));
    assert_eq!(refunds(), 0, "no refund before the goods come back");
    let back = app.url(&format!("/api/v1/orders/{no}/after-sales/{rid}/return-shipment"));
    let (status, body) = send_json(buyer.post(&back).json(&json!({"carrier": "圆通", "tracking_no": "bad"}))).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_tracking_no"));
    let (status, _) =
        send_json(buyer.post(&back).json(&json!({"carrier": "圆通", "tracking_no": "YT123456789012"}))).await;
    assert_eq!(status, 200);
    assert_eq!(refunds(), 0);
    let (status, done) = send_json(coop.post(&confirm)).await;
    assert_eq!((status, done["status"].as_str()), (200, Some("refunded")), "{done}");
    let v = get_order(&app, &buyer, &no).await;
    assert_eq!(v["lines"][0]["refunded_quantity"], 2, "the units are refunded");
    let (cash, points) = case_refund(&app, rid);
    let l = &order["lines"][0];
    let half = |v: i64| v * 2 / 4;
    assert_eq!((cash, points), (half(fen(&l["cash"])), half(l["points"].as_i64().unwrap_or(0))), "the units' shares");

    // Replacement: no money, a new parcel in the cooperative's shipping queue.
    let (_, rep) = open_case(&app, &buyer, &no, cases("replacement", line_id(&order, 1), 1)).await;
    let pid = rep["id"].as_i64().unwrap_or_default();
    let (status, r) = accept(&app, &coop, pid, json!({})).await;
    assert_eq!((status, r["status"].as_str()), (200, Some("accepted")), "{r}");
    assert_eq!(refunds(), 1, "a replacement moves no money");
    let (_, pending) = send_json(coop.get(app.url("/api/v1/coop/shipments/pending"))).await;
    let queued: Vec<&Value> = pending.as_array().into_iter().flatten().filter(|p| p["after_sales_id"] == pid).collect();
    assert_eq!(queued.len(), 1, "{pending}");
    assert_eq!(
        (queued[0]["order_no"].as_str(), queued[0]["items"][0]["quantity"].as_i64()),
        (Some(no.as_str()), Some(1))
    );
    let body = json!({"order_no": no, "carrier": "EMS", "tracking_no": "EA123456789CN", "after_sales_id": pid});
    let (status, shipped) = send_json(coop.post(app.url("/api/v1/coop/shipments")).json(&body)).await;
    assert_eq!(status, 201, "{shipped}");
    let (_, c) = send_json(buyer.get(app.url(&format!("/api/v1/orders/{no}/after-sales/{pid}")))).await;
    assert_eq!(c["status"], "replaced");
    let (_, pending) = send_json(coop.get(app.url("/api/v1/coop/shipments/pending"))).await;
    assert!(pending.as_array().into_iter().flatten().all(|p| p["after_sales_id"] != pid), "{pending}");
    let v = get_order(&app, &buyer, &no).await;
    assert!(v["parts"].as_array().into_iter().flatten().any(|p| p["replaces_case"] == pid), "{v}");
    assert_eq!(refunds(), 1);
}

#[actix_web::test]
async fn rejected_cases_escalate_and_the_admin_decides() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("buyer@example.com").await, app.client_for(COOP).await);
    let admin = app.client_for("admin@example.com").await;
    let order = paid_order(&app, &buyer, &[("GY-QUINOA-1KG", 2)], 0).await;
    let no = no(&order);
    ship(&app, &coop, &buyer, &no, "SF123456789018").await;
    let body = json!({"type": "refund_only", "lines": [{"line_id": line_id(&order, 0), "quantity": 1}], "reason": "spoiled", "amount": "20.00"});
    let (_, opened) = open_case(&app, &buyer, &no, body).await;
    let id = opened["id"].as_i64().unwrap_or_default();
    let reject = app.url(&format!("/api/v1/coop/after-sales/{id}/reject"));
    let (status, body) = send_json(coop.post(&reject).json(&json!({"reply": ""}))).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_text"));
    let (status, r) = send_json(coop.post(&reject).json(&json!({"reply": "照片看不出问题"}))).await;
    assert_eq!((status, r["status"].as_str()), (200, Some("rejected")), "{r}");
    let (status, e) = send_json(buyer.post(app.url(&format!("/api/v1/orders/{no}/after-sales/{id}/escalate")))).await;
    assert_eq!((status, e["status"].as_str()), (200, Some("escalated")), "{e}");
    let (status, queue) = send_json(admin.get(app.url("/api/v1/admin/after-sales?status=escalated"))).await;
    assert_eq!((status, queue.as_array().map(Vec::len)), (200, Some(1)), "{queue}");
    assert_eq!(send_json(coop.get(app.url("/api/v1/admin/after-sales"))).await.0, 403);
    let (status, _) = send_json(admin.get(app.url("/api/v1/admin/after-sales?status=nonsense"))).await;
    assert_eq!(status, 400);
    let decide = app.url(&format!("/api/v1/admin/after-sales/{id}/decide"));
    let (status, d) =
        send_json(admin.post(&decide).json(&json!({"decision": "refund", "amount": "15.00", "note": "照片可见腐坏"})))
            .await;
    assert_eq!((status, d["status"].as_str()), (200, Some("refunded")), "{d}");
    assert_eq!(case_refund(&app, id), (1500, 0));
    let (status, _) = send_json(admin.post(&decide).json(&json!({"decision": "reject", "note": "again"}))).await;
    assert_eq!(status, 409);
    // The coop's queue lists its cases; another manager's would not.
    let (status, mine) = send_json(coop.get(app.url("/api/v1/coop/after-sales?status=refunded"))).await;
    assert_eq!((status, mine.as_array().map(Vec::len)), (200, Some(1)));
}

#[actix_web::test]
async fn auto_receive_auto_accept_and_completion_happen_once_on_two_threads() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("buyer@example.com").await, app.client_for(COOP).await);
    let order = paid_order(&app, &buyer, &[("GY-QUINOA-1KG", 2)], 0).await;
    let no = no(&order);
    ship(&app, &coop, &buyer, &no, "SF123456789019").await;
    let run = |f: JobFn, at: chrono::NaiveDateTime| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (pool, s) = (app.pool.clone(), app.settings());
                std::thread::spawn(move || f(&mut pool.get().expect("conn"), &s, at))
            })
            .collect();
        let first: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
        // And once more afterwards: nothing left to do.
        first + f(&mut app.conn(), &app.settings(), at)
    };
    let now = Utc::now().naive_utc();
    let receive_job: JobFn = |c, s, at| delivery::auto_receive_due(c, s, windows(), at).unwrap_or(usize::MAX / 4);
    assert_eq!(run(receive_job, now + Duration::days(9)), 0, "not yet");
    let day11 = now + Duration::days(11);
    assert_eq!(run(receive_job, day11), 1, "received once");
    let v = get_order(&app, &buyer, &no).await;
    assert_eq!((v["status"].as_str(), v["parts"][0]["status"].as_str()), (Some("received"), Some("received")));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM order_events WHERE to_status = 'received'"), 1);

    // A case opened after receipt holds completion until it is settled.
    let body = json!({"type": "refund_only", "lines": [{"line_id": line_id(&order, 0), "quantity": 1}], "reason": "damaged", "amount": "5.00"});
    let (status, _) = open_case(&app, &buyer, &no, body).await;
    assert_eq!(status, 201);
    let complete_job: JobFn = |c, s, at| delivery::complete_due(c, s, windows(), at).unwrap_or(usize::MAX / 4);
    assert_eq!(run(complete_job, day11 + Duration::days(8)), 0, "an open case holds the order");
    let accept_job: JobFn =
        |c, s, at| aidmart::aftersales::service::auto_accept_due(c, s, at).unwrap_or(usize::MAX / 4);
    assert_eq!(run(accept_job, now + Duration::hours(47)), 0, "the cooperative still has time");
    assert_eq!(run(accept_job, now + Duration::hours(49)), 1, "accepted once");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM refunds"), 1);
    assert_eq!(run(complete_job, day11 + Duration::days(6)), 0, "the window is still open");
    assert_eq!(run(complete_job, day11 + Duration::days(8)), 1, "completed once");
    assert_eq!(get_order(&app, &buyer, &no).await["status"], "completed");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM order_events WHERE to_status = 'completed'"), 1);
    // Completed: no more cases.
    let body = json!({"type": "refund_only", "lines": [{"line_id": line_id(&order, 0), "quantity": 1}], "reason": "damaged", "amount": "1.00"});
    let (status, body) = open_case(&app, &buyer, &no, body).await;
    assert_eq!((status, error_code(&body)), (409, "window_closed"), "{body}");
    // An admin refund after completion leaves it partially refunded, and it is not completed
    // (nor announced) a second time.
    let admin = app.client_for("admin@example.com").await;
    let refund = app.url(&format!("/api/v1/admin/orders/{no}/refunds"));
    let (status, r) =
        send_json(admin.post(&refund).json(&json!({"lines": [{"line_id": line_id(&order, 0), "quantity": 1}]}))).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(get_order(&app, &buyer, &no).await["status"], "partially_refunded");
    assert_eq!(run(complete_job, day11 + Duration::days(9)), 0, "completed only once");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM order_events WHERE to_status = 'completed'"), 1);
}

#[actix_web::test]
async fn random_concurrent_cases_never_refund_a_line_more_than_was_paid() {
    use rand::{Rng, SeedableRng};
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("employee@example.com").await, app.client_for(COOP).await);
    let admin = app.client_for("admin@example.com").await;
    let order = paid_order(&app, &buyer, &[("GY-QUINOA-1KG", 7), ("GY-QUINOA-GIFT-2KG", 5)], 3333).await;
    let no = no(&order);
    ship(&app, &coop, &buyer, &no, "SF123456789020").await;
    let seed: u64 = rand::thread_rng().gen();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut opened = Vec::new();
    for _ in 0..14 {
        let line = rng.gen_range(0..2);
        let kind = ["refund_only", "refund_only", "return_refund"][rng.gen_range(0..3)];
        let mut body = json!({"type": kind, "lines": [{"line_id": line_id(&order, line), "quantity": rng.gen_range(1..4)}], "reason": "other"});
        if kind == "refund_only" {
            let cents: i64 = rng.gen_range(1..30000);
            body["amount"] = json!(format!("{}.{:02}", cents / 100, cents % 100));
        }
        let (status, c) = open_case(&app, &buyer, &no, body).await;
        assert!(status < 500, "seed {seed}: {c}");
        if status == 201 {
            opened.push((c["id"].as_i64().unwrap_or_default(), kind));
        }
    }
    // Every case accepted twice at once (and returns confirmed twice at once), and an admin's
    // full refund in the middle.
    let accepts =
        opened.iter().flat_map(|(id, _)| [accept(&app, &coop, *id, json!({})), accept(&app, &coop, *id, json!({}))]);
    let refund = send_json(
        admin
            .post(app.url(&format!("/api/v1/admin/orders/{no}/refunds")))
            .json(&json!({"lines": [{"line_id": line_id(&order, 1), "quantity": 1}]})),
    );
    let (answers, r) = futures_util::join!(join_all(accepts), refund);
    assert!(answers.iter().all(|(s, _)| *s < 500) && r.0 < 500, "seed {seed}: {answers:?} {r:?}");
    for (id, kind) in opened.iter().filter(|(_, k)| *k == "return_refund") {
        let back = app.url(&format!("/api/v1/orders/{no}/after-sales/{id}/return-shipment"));
        send_json(buyer.post(&back).json(&json!({"carrier": "中通", "tracking_no": "731234567890"}))).await;
        let confirm = app.url(&format!("/api/v1/coop/after-sales/{id}/confirm-return"));
        let (a, b) = futures_util::join!(send_json(coop.post(&confirm)), send_json(coop.post(&confirm)));
        assert!(a.0 < 500 && b.0 < 500, "seed {seed} {kind}: {a:?} {b:?}");
    }
    // Per line: what went back never passes what was paid, by tender and by value.
    for i in 0..2 {
        let l = &order["lines"][i];
        let id = line_id(&order, i);
        let back_cash = count(
            &app,
            &format!(
                "SELECT CAST(COALESCE(SUM(cash_fen), 0) AS BIGINT) AS n FROM refund_lines WHERE order_line_id = {id}"
            ),
        );
        let back_points = count(
            &app,
            &format!(
                "SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) AS n FROM refund_lines WHERE order_line_id = {id}"
            ),
        );
        assert!(back_cash <= fen(&l["cash"]), "seed {seed}: line {i} cash {back_cash} > {}", l["cash"]);
        assert!(back_points <= l["points"].as_i64().unwrap_or(0), "seed {seed}: line {i} points {back_points}");
        let credited = count(&app, &format!("SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM credit_entries WHERE order_line_id = {id} AND kind IN ('sale', 'sale_reversal')"));
        assert!(credited >= 0, "seed {seed}: line {i} reversed more than sold ({credited})");
        assert_eq!(
            credited,
            fen(&l["line_total"]) - back_cash - back_points,
            "seed {seed}: the ledger follows the refunds"
        );
    }
    let v = get_order(&app, &buyer, &no).await;
    let cash: i64 = count(&app, "SELECT CAST(COALESCE(SUM(cash_fen), 0) AS BIGINT) AS n FROM refunds");
    assert_eq!(fen(&v["refunded_cash"]), cash, "seed {seed}");
    // No case moved money twice.
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM after_sales WHERE refund_id IS NOT NULL"),
        count(&app, "SELECT COUNT(*) AS n FROM refunds WHERE reason LIKE 'after-sales case%'"),
        "seed {seed}"
    );
}

#[actix_web::test]
async fn reviews_need_receipt_come_once_per_line_and_make_the_products_rating() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("buyer@example.com").await, app.client_for(COOP).await);
    let employee = app.client_for("employee@example.com").await;
    let admin = app.client_for("admin@example.com").await;
    let product = count(&app, "SELECT product_id AS n FROM skus WHERE code = 'GY-QUINOA-1KG'");
    let review = |c: &reqwest::Client, no: &str, line: i64, stars: i64| {
        let url = app.url(&format!("/api/v1/orders/{no}/lines/{line}/review"));
        send_json(c.post(url).json(&json!({"stars": stars, "text": "很好"})))
    };
    let a = paid_order(&app, &buyer, &[("GY-QUINOA-1KG", 2)], 0).await;
    let (na, la) = (no(&a), line_id(&a, 0));
    let (status, body) = review(&buyer, &na, la, 5).await;
    assert_eq!((status, error_code(&body)), (409, "not_received"), "{body}");
    let part = ship(&app, &coop, &buyer, &na, "SF123456789021").await;
    let (status, body) = review(&buyer, &na, la, 5).await;
    assert_eq!((status, error_code(&body)), (409, "not_received"), "shipped is not received: {body}");
    receive(&app, &buyer, &na, part, json!({})).await;
    assert_eq!(review(&buyer, &na, la, 6).await.0, 400);
    assert_eq!(review(&employee, &na, la, 5).await.0, 404, "only the buyer");
    let (status, first) = review(&buyer, &na, la, 5).await;
    assert_eq!(status, 201, "{first}");
    let (status, body) = review(&buyer, &na, la, 4).await;
    assert_eq!((status, error_code(&body)), (409, "already_reviewed"));
    // A second buyer's 2 stars, on a line refunded in part through a case.
    let b = paid_order(&app, &employee, &[("GY-QUINOA-1KG", 1)], 0).await;
    let (nb, lb) = (no(&b), line_id(&b, 0));
    let part = ship(&app, &coop, &employee, &nb, "SF123456789022").await;
    receive(&app, &employee, &nb, part, json!({})).await;
    let case = json!({"type": "refund_only", "lines": [{"line_id": lb, "quantity": 1}], "reason": "damaged", "amount": "5.00"});
    let (_, opened) = open_case(&app, &employee, &nb, case).await;
    accept(&app, &coop, opened["id"].as_i64().unwrap_or_default(), json!({})).await;
    let (status, second) = review(&employee, &nb, lb, 2).await;
    assert_eq!(status, 201, "{second}");
    let (status, page) = send_json(app.client.get(app.url(&format!("/api/v1/products/{product}/reviews")))).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!((page["rating"]["count"].as_i64(), page["rating"]["average"].as_f64()), (Some(2), Some(3.5)), "{page}");
    assert_eq!(page["items"][0]["id"], second["id"], "newest first");
    assert_eq!(
        (page["items"][0]["refunded"].as_bool(), page["items"][1]["refunded"].as_bool()),
        (Some(true), Some(false))
    );
    let (_, p) = send_json(app.client.get(app.url(&format!("/api/v1/products/{product}")))).await;
    assert_eq!((p["rating"]["count"].as_i64(), p["rating"]["average"].as_f64()), (Some(2), Some(3.5)), "{p}");
    // The cooperative replies once; an admin hides one with a reason and the rating follows.
    let rid = second["id"].as_i64().unwrap_or_default();
    let reply = app.url(&format!("/api/v1/coop/reviews/{rid}/reply"));
    assert_eq!(send_json(coop.post(&reply).json(&json!({"reply": "抱歉，已补偿"}))).await.0, 204);
    let (status, body) = send_json(coop.post(&reply).json(&json!({"reply": "again"}))).await;
    assert_eq!((status, error_code(&body)), (409, "already_replied"));
    let hide = app.url(&format!("/api/v1/admin/reviews/{rid}/hide"));
    assert_eq!(send_json(coop.post(&hide).json(&json!({"reason": "x"}))).await.0, 403);
    assert_eq!(send_json(admin.post(&hide).json(&json!({"reason": "含不实信息"}))).await.0, 204);
    let (_, page) = send_json(app.client.get(app.url(&format!("/api/v1/products/{product}/reviews")))).await;
    assert_eq!((page["rating"]["count"].as_i64(), page["rating"]["average"].as_f64()), (Some(1), Some(5.0)), "{page}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM reviews WHERE hidden_reason IS NOT NULL"),
        1,
        "kept, with its reason"
    );
}

#[actix_web::test]
async fn the_pages_walk_from_receipt_to_a_refund_in_both_languages() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("buyer@example.com").await, app.client_for(COOP).await);
    let admin = app.client_for("admin@example.com").await;
    let order = paid_order(&app, &buyer, &[("GY-QUINOA-1KG", 2)], 0).await;
    let no = no(&order);
    ship(&app, &coop, &buyer, &no, "SF123456789023").await;
    let base = app.base.clone();
    let page = |c: &reqwest::Client, path: String| {
        let (c, url) = (c.clone(), format!("{base}{path}"));
        async move {
            let res = c.get(url).send().await.expect("page");
            (res.status().as_u16(), res.text().await.unwrap_or_default())
        }
    };
    let (status, html) = page(&buyer, format!("/orders/{no}?lang=zh-CN")).await;
    assert_eq!(status, 200);
    assert!(html.contains("确认收货") && html.contains("SF123456789023") && html.contains("申请售后"), "{html}");
    let part = count(&app, "SELECT id AS n FROM shipments");
    let form = [("_csrf", crate::helpers::csrf_from(&html))];
    let res =
        buyer.post(app.url(&format!("/orders/{no}/parts/{part}/receipt"))).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 303);
    let (_, html) = page(&buyer, format!("/orders/{no}")).await;
    assert!(html.contains("已收货") && html.contains("发表评价") && !html.contains("data-testid=\"confirm-receipt\""));
    // Open a case with a photo through the form.
    let (status, form_html) = page(&buyer, format!("/orders/{no}/after-sales/new?line={}", line_id(&order, 0))).await;
    assert_eq!(status, 200);
    let csrf = crate::helpers::csrf_from(&form_html);
    let boundary = "----aidmart-test-boundary";
    let mut body: Vec<u8> = Vec::new();
    let fields = [
        ("_csrf", csrf),
        ("type", "refund_only".to_string()),
        ("line_id", line_id(&order, 0).to_string()),
        ("quantity", "1".to_string()),
        ("reason", "damaged".to_string()),
        ("amount", "12.50".to_string()),
        ("text", "压坏了".to_string()),
    ];
    for (name, value) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n")
            .as_bytes(),
    );
    body.extend(sample_png(&[]));
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = buyer
        .post(app.url(&format!("/orders/{no}/after-sales")))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    let case_url = res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (status, html) = page(&buyer, case_url.clone()).await;
    assert_eq!(status, 200);
    assert!(html.contains("待合作社处理") && html.contains("<img src=\"/images/"), "{html}");
    // The cooperative's queue shows it with its photo and accepts in one tap.
    let (status, html) = page(&coop, "/coop/after-sales".into()).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-testid=\"accept-case\"") && html.contains("<img src=\"/images/"));
    let case = count(&app, "SELECT id AS n FROM after_sales");
    let form = [("_csrf", crate::helpers::csrf_from(&html))];
    let res = coop.post(app.url(&format!("/coop/after-sales/{case}/accept"))).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 303);
    let (_, html) = page(&buyer, case_url).await;
    assert!(html.contains("已退款") && html.contains("¥12.50"), "{html}");
    let (_, html) = page(&buyer, format!("/orders/{no}?lang=en")).await;
    assert!(html.contains("Refunded") && html.contains("After-sales case"), "{html}");
    for (c, path) in
        [(&coop, "/coop/after-sales?lang=en"), (&admin, "/admin/after-sales"), (&admin, "/admin/after-sales?lang=en")]
    {
        let (status, html) = page(c, path.into()).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains("{{"), "{path}");
    }
    assert_eq!(page(&buyer, "/admin/after-sales".into()).await.0, 403);
    assert_eq!(page(&buyer, "/coop/after-sales".into()).await.0, 403);

    // A review with a photo through the order page's form; the product page shows both.
    let (_, html) = page(&buyer, format!("/orders/{no}")).await;
    assert!(html.contains("enctype=\"multipart/form-data\"") && html.contains("name=\"photo\""), "{html}");
    let mut body: Vec<u8> = Vec::new();
    for (name, value) in [("_csrf", crate::helpers::csrf_from(&html)), ("stars", "4".into()), ("text", "很新鲜".into())]
    {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"b.png\"\r\nContent-Type: image/png\r\n\r\n")
            .as_bytes(),
    );
    body.extend(sample_png(&[]));
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let res = buyer
        .post(app.url(&format!("/orders/{no}/lines/{}/review", line_id(&order, 0))))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM review_photos"), 1);
    let product = order["lines"][0]["product_id"].as_i64().unwrap_or_default();
    let (_, reviews) = send_json(app.client.get(app.url(&format!("/api/v1/products/{product}/reviews")))).await;
    let first = &reviews["items"][0];
    assert_eq!((first["stars"].as_i64(), first["photos"].as_array().map(Vec::len)), (Some(4), Some(1)), "{reviews}");
}
