//! Cloud adoption (云认养): offers, adopting through the order pipeline, gapless numbering
//! under concurrency, units given back on expiry, deliveries released into the shipping
//! queue once on their dates, failed deliveries refunded by exactly their share, updates,
//! certificates and organisations adopting on account. coop@example.com manages
//! guyuan-quinoa-coop (GY-QUINOA-*); employee@example.com has 5,000 points.

use chrono::{Duration, NaiveDateTime, Utc};
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{error_code, exec, scalar, send_json, spawn_app, TestApp};

const COOP: &str = "coop@example.com";

fn address(name: &str, detail: &str) -> Value {
    json!({"name": name, "mobile": "13800138000", "province": "北京市", "city": "北京市", "district": "西城区", "detail": detail})
}

fn fen(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or("x");
    let (whole, frac) = s.split_once('.').unwrap_or((s, "00"));
    whole.parse::<i64>().unwrap_or(-999_999) * 100 + frac.parse::<i64>().unwrap_or(-99)
}

fn count(app: &TestApp, sql: &str) -> i64 {
    scalar(&mut app.conn(), sql)
}

fn product_of(app: &TestApp, sku: &str) -> i64 {
    count(app, &format!("SELECT product_id AS n FROM skus WHERE code = '{sku}'"))
}

/// Creates an offer of GY-QUINOA-1KG / GY-QUINOA-GIFT-2KG with deliveries (days from today,
/// SKU code, quantity per unit); the season runs from 10 days ago to 90 days ahead.
async fn create_offer(
    app: &TestApp,
    coop: &reqwest::Client,
    price: &str,
    units: i64,
    deliveries: &[(i64, &str, i64)],
) -> Value {
    let today = Utc::now().date_naive();
    let deliveries: Vec<Value> = deliveries
        .iter()
        .map(|(days, code, q)| json!({"date": (today + Duration::days(*days)).to_string(), "sku_id": app.sku(code), "quantity": q}))
        .collect();
    let body = json!({
        "product_id": product_of(app, "GY-QUINOA-1KG"), "kind": "plot", "title": "认养一亩藜麦 / Adopt a mu of quinoa",
        "season_start": (today - Duration::days(10)).to_string(), "season_end": (today + Duration::days(90)).to_string(),
        "price": price, "units": units, "deliveries": deliveries,
    });
    let (status, offer) = send_json(coop.post(app.url("/api/v1/coop/adoptions")).json(&body)).await;
    assert_eq!(status, 201, "{offer}");
    offer
}

async fn adopt(app: &TestApp, c: &reqwest::Client, offer: i64, body: Value) -> (u16, Value) {
    send_json(c.post(app.url(&format!("/api/v1/adoptions/{offer}/adopt"))).json(&body)).await
}

fn adopt_body(units: i64, name: &str) -> Value {
    json!({"units": units, "certificate_name": name, "address": address(name, "金融大街 1 号")})
}

async fn pay(app: &TestApp, c: &reqwest::Client, adoption: &Value) {
    let payment = adoption["order"]["payment_id"].as_str().unwrap_or_else(|| panic!("a payment: {adoption}"));
    let (status, body) = send_json(c.post(app.url(&format!("/api/v1/payments/sandbox/{payment}/complete")))).await;
    assert_eq!(status, 200, "{body}");
}

fn numbers(app: &TestApp, offer: i64) -> Vec<i64> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!(
        "SELECT number AS n FROM adopted_units WHERE offer_id = {offer} AND number IS NOT NULL ORDER BY number"
    ))
    .load::<N>(&mut app.conn())
    .expect("numbers")
    .into_iter()
    .map(|r| r.n)
    .collect()
}

/// Runs the release job on two threads at once, then once more; returns how many it released.
fn release_twice(app: &TestApp, at: NaiveDateTime) -> usize {
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let pool = app.pool.clone();
            std::thread::spawn(move || {
                aidmart::adoption::service::release_due(&mut pool.get().expect("conn"), at).expect("release job")
            })
        })
        .collect();
    let first: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    first + aidmart::adoption::service::release_due(&mut app.conn(), at).expect("release job")
}

/// The queue's parts of one order.
async fn queued(app: &TestApp, coop: &reqwest::Client, order_no: &str) -> Vec<Value> {
    let (status, parts) = send_json(coop.get(app.url("/api/v1/coop/shipments/pending"))).await;
    assert_eq!(status, 200, "{parts}");
    parts.as_array().into_iter().flatten().filter(|p| p["order_no"] == order_no).cloned().collect()
}

#[actix_web::test]
async fn thirty_concurrent_adoptions_of_ten_units_adopt_ten_numbered_one_to_ten() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("buyer@example.com").await, app.client_for(COOP).await);
    let offer = create_offer(&app, &coop, "100.00", 10, &[(30, "GY-QUINOA-1KG", 1)]).await;
    let id = offer["id"].as_i64().expect("id");
    assert_eq!((offer["available"].as_i64(), offer["deliveries"][0]["share"].as_str()), (Some(10), Some("100.00")));

    let answers = join_all((0..30).map(|i| adopt(&app, &buyer, id, adopt_body(1, &format!("李{i}"))))).await;
    let adopted: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
    let sold_out = answers.iter().filter(|(s, b)| *s == 409 && error_code(b) == "sold_out").count();
    assert_eq!((adopted.len(), sold_out), (10, 20), "{answers:?}");
    assert!(adopted.iter().all(|a| a["units"][0]["number"].is_null()), "numbered only when paid");
    assert_eq!(count(&app, &format!("SELECT units_taken AS n FROM adoption_offers WHERE id = {id}")), 10);
    // Eleventh: sold out.
    let (status, body) = adopt(&app, &buyer, id, adopt_body(1, "王五")).await;
    assert_eq!((status, error_code(&body)), (409, "sold_out"));

    // Paid all at once: numbered 1..10, no gaps, no repeats.
    join_all(adopted.iter().map(|a| pay(&app, &buyer, a))).await;
    assert_eq!(numbers(&app, id), (1..=10).collect::<Vec<i64>>());
    let (_, offer) = app.get_json(&format!("/api/v1/adoptions/{id}")).await;
    assert_eq!((offer["available"].as_i64(), offer["adopted"].as_i64()), (Some(0), Some(10)));
    // The sale is credited like any sale: one `sale` entry per paid line.
    assert_eq!(
        count(&app, "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM credit_entries WHERE kind = 'sale'"),
        10 * 10_000
    );
}

#[actix_web::test]
async fn an_expired_adoption_gives_its_units_back_and_numbers_stay_gapless() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("buyer@example.com").await, app.client_for(COOP).await);
    let offer = create_offer(&app, &coop, "50.00", 3, &[(30, "GY-QUINOA-1KG", 1)]).await;
    let id = offer["id"].as_i64().expect("id");
    let (status, unpaid) = adopt(&app, &buyer, id, adopt_body(2, "张三")).await;
    assert_eq!(status, 201, "{unpaid}");
    let (status, first) = adopt(&app, &buyer, id, adopt_body(1, "李四")).await;
    assert_eq!(status, 201, "{first}");
    pay(&app, &buyer, &first).await;
    assert_eq!(numbers(&app, id), vec![1]);
    let (status, body) = adopt(&app, &buyer, id, adopt_body(1, "王五")).await;
    assert_eq!((status, error_code(&body)), (409, "sold_out"));

    // The unpaid one times out: its units come back; it never had numbers.
    let later = Utc::now().naive_utc() + Duration::minutes(app.config.payment_timeout_mins + 1);
    let cancelled = aidmart::orders::service::expire_unpaid(&mut app.conn(), &app.settings(), later).expect("expire");
    assert_eq!(cancelled, 1);
    assert_eq!(count(&app, &format!("SELECT units_taken AS n FROM adoption_offers WHERE id = {id}")), 1);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM adoptions WHERE status = 'cancelled'"), 1);
    let (status, second) = adopt(&app, &buyer, id, adopt_body(2, "王五")).await;
    assert_eq!(status, 201, "{second}");
    pay(&app, &buyer, &second).await;
    assert_eq!(numbers(&app, id), vec![1, 2, 3]);
    // An unnumbered unit has no public page.
    let unpaid_unit = unpaid["units"][0]["id"].as_i64().expect("unit");
    assert_eq!(app.get_json(&format!("/api/v1/adopted-units/{unpaid_unit}")).await.0, 404);
}

#[actix_web::test]
async fn each_planned_delivery_joins_the_queue_once_on_its_date_at_the_address_of_that_day() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("buyer@example.com").await, app.client_for(COOP).await);
    let offer = create_offer(&app, &coop, "120.00", 5, &[(0, "GY-QUINOA-1KG", 2), (40, "GY-QUINOA-GIFT-2KG", 1)]).await;
    let id = offer["id"].as_i64().expect("id");
    let (status, adoption) = adopt(&app, &buyer, id, adopt_body(2, "李明")).await;
    assert_eq!(status, 201, "{adoption}");
    pay(&app, &buyer, &adoption).await;
    let no = adoption["order"]["order_no"].as_str().expect("order_no").to_string();
    assert_eq!(adoption["order"]["lines"].as_array().map(Vec::len), Some(2), "one line per delivery");
    assert!(queued(&app, &coop, &no).await.is_empty(), "nothing in the queue before its date");

    // The adopter moves before the first delivery.
    let adoption_id = adoption["adoption_id"].as_i64().expect("adoption id");
    let moved = address("李明", "长安街 8 号");
    let (status, mine) =
        send_json(buyer.put(app.url(&format!("/api/v1/me/adoptions/{adoption_id}/address"))).json(&moved)).await;
    assert_eq!(status, 200, "{mine}");

    let now = Utc::now().naive_utc();
    assert_eq!(release_twice(&app, now), 1, "the first delivery, once");
    let parts = queued(&app, &coop, &no).await;
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(parts[0]["items"][0]["quantity"].as_i64(), Some(4), "2 per unit × 2 units");
    assert!(parts[0]["ship_to"]["address"].as_str().unwrap_or_default().contains("长安街 8 号"), "{parts:?}");
    assert_eq!(release_twice(&app, now + Duration::days(1)), 0, "the second is not due");

    // Shipped and received like any parcel.
    let recipient = parts[0]["recipient_id"].as_i64().expect("recipient");
    let body =
        json!({"order_no": no, "recipient_id": recipient, "carrier": "顺丰速运", "tracking_no": "SF123456789012"});
    let (status, shipped) = send_json(coop.post(app.url("/api/v1/coop/shipments")).json(&body)).await;
    assert_eq!((status, shipped["order_status"].as_str()), (201, Some("partially_shipped")), "{shipped}");
    let (status, unit) = app.get_json(&format!("/api/v1/adopted-units/{}", adoption["units"][0]["id"])).await;
    assert_eq!(status, 200, "{unit}");
    assert_eq!(
        (unit["deliveries"][0]["status"].as_str(), unit["deliveries"][1]["status"].as_str()),
        (Some("shipped"), Some("planned"))
    );
    assert!(queued(&app, &coop, &no).await.is_empty());

    assert_eq!(release_twice(&app, now + Duration::days(41)), 1, "the second delivery, once");
    let parts = queued(&app, &coop, &no).await;
    assert_eq!((parts.len(), parts[0]["items"][0]["quantity"].as_i64()), (1, Some(2)), "{parts:?}");
    assert_eq!(release_twice(&app, now + Duration::days(90)), 0);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM adoption_parcels WHERE status = 'released'"), 2);
}

#[actix_web::test]
async fn a_failed_delivery_refunds_exactly_its_share_and_the_rest_stands() {
    let app = spawn_app().await;
    let (employee, coop) = (app.client_for("employee@example.com").await, app.client_for(COOP).await);
    // ¥100.00 a unit: ¥25.00 for the first delivery (1 box), ¥75.00 for the second (3 boxes).
    let offer = create_offer(&app, &coop, "100.00", 5, &[(0, "GY-QUINOA-1KG", 1), (20, "GY-QUINOA-1KG", 3)]).await;
    let id = offer["id"].as_i64().expect("id");
    let shares: Vec<i64> = offer["deliveries"].as_array().expect("plan").iter().map(|d| fen(&d["share"])).collect();
    assert_eq!(shares, vec![2500, 7500]);
    let mut body = adopt_body(2, "周芳");
    body["points"] = json!(1000);
    let (status, adoption) = adopt(&app, &employee, id, body).await;
    assert_eq!(status, 201, "{adoption}");
    assert_eq!(adoption["order"]["points_used"].as_i64(), Some(1000));
    pay(&app, &employee, &adoption).await;
    let no = adoption["order"]["order_no"].as_str().expect("no").to_string();
    let second = offer["deliveries"][1]["id"].as_i64().expect("delivery");
    let points_before = count(&app, "SELECT balance AS n FROM points_accounts WHERE user_id = (SELECT id FROM users WHERE email = 'employee@example.com')");

    let other = app.client_for("buyer@example.com").await;
    let url = format!("/api/v1/coop/adoptions/{id}/deliveries/{second}/fail");
    let (status, _) = send_json(other.post(app.url(&url)).json(&json!({"reason": "x"}))).await;
    assert_eq!(status, 403, "a buyer cannot");
    let (status, body) = send_json(coop.post(app.url(&url)).json(&json!({"reason": ""}))).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_reason"));
    let (status, answer) = send_json(coop.post(app.url(&url)).json(&json!({"reason": "冰雹毁了收成 / hail"}))).await;
    assert_eq!(status, 200, "{answer}");
    let cash = fen(&answer["refunded_cash"]);
    let points = answer["refunded_points"].as_i64().expect("points");
    assert_eq!(answer["failed"].as_i64(), Some(1));
    // Exactly the delivery's share of both units, in the tenders as paid.
    assert_eq!(cash + points, 2 * 7500, "{answer}");
    let points_after = count(&app, "SELECT balance AS n FROM points_accounts WHERE user_id = (SELECT id FROM users WHERE email = 'employee@example.com')");
    assert_eq!(points_after - points_before, points);
    assert_eq!(
        count(
            &app,
            "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM credit_entries WHERE kind = 'sale_reversal'"
        ),
        -15_000,
        "reversed in the ledger"
    );
    // Again: nothing more.
    let (status, again) = send_json(coop.post(app.url(&url)).json(&json!({"reason": "again"}))).await;
    assert_eq!((status, again["failed"].as_i64()), (200, Some(0)));

    let (_, order) = send_json(employee.get(app.url(&format!("/api/v1/orders/{no}")))).await;
    assert_eq!(order["status"], "partially_refunded");
    assert_eq!(order["lines"][0]["refunded_quantity"].as_i64(), Some(0), "the first delivery stands");
    assert_eq!(order["lines"][1]["refunded_quantity"].as_i64(), Some(6));
    // The first still ships on its date; the failed one never joins the queue.
    let now = Utc::now().naive_utc();
    assert_eq!(release_twice(&app, now + Duration::days(30)), 1);
    let parts = queued(&app, &coop, &no).await;
    assert_eq!((parts.len(), parts[0]["items"][0]["quantity"].as_i64()), (1, Some(2)), "{parts:?}");
    let (_, unit) = app.get_json(&format!("/api/v1/adopted-units/{}", adoption["units"][1]["id"])).await;
    assert_eq!(unit["deliveries"][1]["status"], "failed");
    assert_eq!(unit["deliveries"][1]["failed_reason"], "冰雹毁了收成 / hail");
    assert_eq!(unit["adoption_status"], "paid");
}

#[actix_web::test]
async fn updates_reach_unit_pages_and_mail_adopters_and_certificates_are_the_adopters() {
    let app = spawn_app().await;
    let (buyer, employee, coop) = (
        app.client_for("buyer@example.com").await,
        app.client_for("employee@example.com").await,
        app.client_for(COOP).await,
    );
    let offer = create_offer(&app, &coop, "80.00", 5, &[(30, "GY-QUINOA-1KG", 1)]).await;
    let id = offer["id"].as_i64().expect("id");
    let (_, a) = adopt(&app, &buyer, id, adopt_body(1, "李明")).await;
    pay(&app, &buyer, &a).await;
    let (_, b) = adopt(&app, &employee, id, adopt_body(2, "周芳")).await;
    pay(&app, &employee, &b).await;
    let unit_a = a["units"][0]["id"].as_i64().expect("unit");
    let unit_b = b["units"][1]["id"].as_i64().expect("unit");

    let post = |body: Value| send_json(coop.post(app.url(&format!("/api/v1/coop/adoptions/{id}/updates"))).json(&body));
    let (status, all) = post(json!({"text": "播种完成 / sown"})).await;
    assert_eq!((status, all["mailed"].as_i64()), (201, Some(2)), "{all}");
    let (status, one) = post(json!({"text": "您的藜麦出苗了 / your quinoa is up", "unit_ids": [unit_b]})).await;
    assert_eq!((status, one["mailed"].as_i64()), (201, Some(1)), "{one}");
    let (status, bad) = post(json!({"text": "x", "unit_ids": [999_999]})).await;
    assert_eq!((status, error_code(&bad)), (422, "unknown_unit"));
    let (status, _) =
        send_json(buyer.post(app.url(&format!("/api/v1/coop/adoptions/{id}/updates"))).json(&json!({"text": "x"})))
            .await;
    assert_eq!(status, 403);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM outbox WHERE template = 'adoption_update' AND recipient = 'employee@example.com'"), 2);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM outbox WHERE template = 'adoption_update' AND recipient = 'buyer@example.com'"
        ),
        1
    );

    let (_, page_a) = app.get_json(&format!("/api/v1/adopted-units/{unit_a}")).await;
    let (_, page_b) = app.get_json(&format!("/api/v1/adopted-units/{unit_b}")).await;
    assert_eq!(
        (page_a["updates"].as_array().map(Vec::len), page_b["updates"].as_array().map(Vec::len)),
        (Some(1), Some(2))
    );
    assert_eq!((page_a["adopter"].as_str(), page_a["number"].as_i64()), (Some("李*"), Some(1)));
    assert!(!page_a.to_string().contains("李明"), "the public sees a masked name");

    // The certificate: the adopter's, with number, name, cooperative, county and a QR code.
    let res = buyer.get(app.url(&format!("/adopted-units/{unit_a}/certificate.svg"))).send().await.expect("svg");
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap_or_default().starts_with("image/svg+xml"));
    let svg = res.text().await.expect("body");
    for needle in ["No. 1", "李明", "沽源", "<svg x=", "<path"] {
        assert!(svg.contains(needle), "{needle} in {svg}");
    }
    let res = employee.get(app.url(&format!("/adopted-units/{unit_a}/certificate.svg"))).send().await.expect("svg");
    assert_eq!(res.status(), 404, "someone else's certificate");
    let res = buyer.get(app.url(&format!("/adopted-units/{unit_a}"))).send().await.expect("page");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.expect("html").contains("李*"));
}

#[actix_web::test]
async fn an_organisation_adopts_many_units_on_its_account_and_offers_are_scoped() {
    let app = spawn_app().await;
    let (union_admin, coop, buyer) = (
        app.client_for("union@example.com").await,
        app.client_for(COOP).await,
        app.client_for("buyer@example.com").await,
    );
    let union = count(&app, "SELECT id AS n FROM organisations WHERE slug = 'demo-group-union'");
    exec(&mut app.conn(), &format!("UPDATE org_budgets SET approval_threshold_fen = NULL WHERE org_id = {union}"));
    let offer = create_offer(&app, &coop, "60.00", 100, &[(30, "GY-QUINOA-1KG", 1)]).await;
    let id = offer["id"].as_i64().expect("id");
    let mut body = adopt_body(50, "联通工会");
    body["account"] = json!({"org_id": union});
    let (status, adoption) = adopt(&app, &union_admin, id, body.clone()).await;
    assert_eq!(status, 201, "{adoption}");
    assert_eq!(
        (adoption["order"]["status"].as_str(), adoption["order"]["channel"].as_str()),
        (Some("paid"), Some("union"))
    );
    let nums: Vec<i64> =
        adoption["units"].as_array().expect("units").iter().filter_map(|u| u["number"].as_i64()).collect();
    assert_eq!(nums, (1..=50).collect::<Vec<i64>>());
    let (status, denied) = adopt(&app, &buyer, id, body).await;
    assert_eq!(status, 403, "{denied}");

    // Another cooperative's product, bad input: refused.
    let today = Utc::now().date_naive();
    let other = count(&app, "SELECT id AS n FROM products WHERE code = 'guyuan-quinoa-zongzi'");
    let offer_body = |product: i64, price: &str| {
        json!({"product_id": product, "kind": "tree", "title": "t", "season_start": today.to_string(),
            "season_end": (today + Duration::days(9)).to_string(), "price": price, "units": 3,
            "deliveries": [{"date": today.to_string(), "sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}]})
    };
    let (status, _) = send_json(coop.post(app.url("/api/v1/coop/adoptions")).json(&offer_body(other, "10.00"))).await;
    assert_eq!(status, 404);
    let mine = product_of(&app, "GY-QUINOA-1KG");
    let (status, body) = send_json(coop.post(app.url("/api/v1/coop/adoptions")).json(&offer_body(mine, "0.00"))).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_price"));
    let (status, body) =
        send_json(buyer.post(app.url("/api/v1/coop/adoptions")).json(&offer_body(mine, "10.00"))).await;
    assert_eq!(status, 403, "{body}");
    let (status, list) = app.get_json("/api/v1/adoptions").await;
    assert_eq!(status, 200);
    assert!(list["items"].as_array().expect("items").iter().any(|o| o["id"] == id));
    assert_eq!(app.get_json("/api/v1/adoptions/999999").await.0, 404);
    let (status, body) =
        adopt(&app, &buyer, id, json!({"units": 0, "certificate_name": "a", "address": address("a", "b")})).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_units"));
}

#[actix_web::test]
async fn an_idempotency_key_replays_the_adoption() {
    let app = spawn_app().await;
    let (buyer, coop) = (app.client_for("buyer@example.com").await, app.client_for(COOP).await);
    let offer = create_offer(&app, &coop, "10.00", 5, &[(30, "GY-QUINOA-1KG", 1)]).await;
    let id = offer["id"].as_i64().expect("id");
    let send = |body: Value| {
        send_json(
            buyer.post(app.url(&format!("/api/v1/adoptions/{id}/adopt"))).header("Idempotency-Key", "k-1").json(&body),
        )
    };
    let answers = join_all((0..4).map(|_| send(adopt_body(1, "李明")))).await;
    assert!(answers.iter().all(|(s, _)| *s == 201 || *s == 409), "{answers:?}");
    let first = answers.iter().find(|(s, _)| *s == 201).map(|(_, b)| b.clone()).expect("one 201");
    let (status, again) = send(adopt_body(1, "李明")).await;
    assert_eq!((status, &again["adoption_id"]), (201, &first["adoption_id"]));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM adoptions"), 1);
    let (status, body) = send(adopt_body(2, "李明")).await;
    assert_eq!((status, error_code(&body)), (409, "idempotency_conflict"));
}

#[actix_web::test]
async fn the_pages_walk_from_the_seeded_offer_to_a_certificate_and_the_cooperatives_forms() {
    use crate::helpers::csrf_from;
    let app = spawn_app().await;
    // The demo store shows the seeded offer.
    for lang in ["zh-CN", "en"] {
        let res = app.get(&format!("/adoptions?lang={lang}")).await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap_or_default();
        assert!(html.contains("Bashang quinoa") && !html.contains("{{"), "{html}");
    }
    let seeded = count(&app, "SELECT MIN(id) AS n FROM adoption_offers");
    let html = app.get(&format!("/adoptions/{seeded}")).await.text().await.unwrap_or_default();
    assert!(html.contains("/login?next"), "anonymous: sign in to adopt");

    // The cooperative creates an offer through its form, then posts an update.
    let coop = crate::helpers::client();
    let login = |c: reqwest::Client, email: &'static str| {
        let app = &app;
        async move {
            let page = c.get(app.url("/login")).send().await.expect("login page").text().await.unwrap_or_default();
            let token = csrf_from(&page);
            let form = [("email", email), ("password", "aidmart-demo"), ("_csrf", token.as_str())];
            let res = c.post(app.url("/login")).form(&form).send().await.expect("login");
            assert_eq!(res.status(), 303);
            c
        }
    };
    let coop = login(coop, COOP).await;
    let page = coop.get(app.url("/coop/adoptions")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap_or_default();
    let token = csrf_from(&html);
    let today = Utc::now().date_naive();
    let sku = app.sku("GY-QUINOA-1KG").to_string();
    let product = product_of(&app, "GY-QUINOA-1KG").to_string();
    let (start, end) = (today.to_string(), (today + Duration::days(60)).to_string());
    let mut form = vec![
        ("_csrf", token.as_str()),
        ("product_id", product.as_str()),
        ("kind", "tree"),
        ("title", "认养一棵苹果树"),
        ("season_start", start.as_str()),
        ("season_end", end.as_str()),
        ("price", "abc"),
        ("units", "3"),
        ("date_1", end.as_str()),
        ("sku_1", sku.as_str()),
        ("qty_1", "2"),
    ];
    let res = coop.post(app.url("/coop/adoptions")).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 400, "a bad price is shown on the page");
    assert!(res.text().await.unwrap_or_default().contains("role=\"alert\""));
    form[6] = ("price", "30.00");
    let res = coop.post(app.url("/coop/adoptions")).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap_or_default().to_string();
    let id: i64 = location.rsplit('/').next().and_then(|s| s.parse().ok()).expect("offer id");

    // A buyer adopts through the offer page's form and pays.
    let buyer = login(crate::helpers::client(), "buyer@example.com").await;
    let html =
        buyer.get(app.url(&format!("/adoptions/{id}"))).send().await.expect("offer").text().await.unwrap_or_default();
    assert!(html.contains(&format!("action=\"/adoptions/{id}/adopt\"")), "{html}");
    let token = csrf_from(&html);
    let mut form = vec![
        ("_csrf", token.as_str()),
        ("units", "1"),
        ("certificate_name", "李明"),
        ("points", "0"),
        ("name", "李明"),
        ("mobile", "12345"),
        ("province", "北京市"),
        ("city", "北京市"),
        ("district", "西城区"),
        ("detail", "金融大街 1 号"),
    ];
    let res = buyer.post(app.url(&format!("/adoptions/{id}/adopt"))).form(&form).send().await.expect("adopt");
    assert_eq!(res.status(), 400, "a bad mobile number is shown on the page");
    form[5] = ("mobile", "13800138000");
    let res = buyer.post(app.url(&format!("/adoptions/{id}/adopt"))).form(&form).send().await.expect("adopt");
    assert_eq!(res.status(), 303);
    assert!(res.headers()["location"].to_str().unwrap_or_default().starts_with("/orders/AM"));
    let payment: String = {
        use aidmart::db::schema::payments;
        use diesel::prelude::*;
        payments::table.order(payments::id.desc()).select(payments::payment_id).first(&mut app.conn()).expect("payment")
    };
    let (status, _) = send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{payment}/complete")))).await;
    assert_eq!(status, 200);
    let unit = count(&app, &format!("SELECT MIN(id) AS n FROM adopted_units WHERE offer_id = {id}"));
    for path in [format!("/adopted-units/{unit}"), format!("/adopted-units/{unit}/certificate")] {
        for lang in ["zh-CN", "en"] {
            let res = buyer.get(app.url(&format!("{path}?lang={lang}"))).send().await.expect("page");
            assert_eq!(res.status(), 200, "{path}");
            assert!(!res.text().await.unwrap_or_default().contains("{{"));
        }
    }

    // The cooperative's offer page: an update to unit No. 1, then a failed delivery.
    let html = coop
        .get(app.url(&format!("/coop/adoptions/{id}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .unwrap_or_default();
    assert!(html.contains("No. 1") && html.contains("李*"), "{html}");
    let token = csrf_from(&html);
    let form = [("_csrf", token.as_str()), ("text", "开花了\n花很多"), ("numbers", "1")];
    let res = coop.post(app.url(&format!("/coop/adoptions/{id}/updates"))).form(&form).send().await.expect("update");
    assert_eq!(res.status(), 303);
    let html = app.get(&format!("/adopted-units/{unit}")).await.text().await.unwrap_or_default();
    assert!(html.contains("开花了"));
    let delivery = count(&app, &format!("SELECT id AS n FROM adoption_deliveries WHERE offer_id = {id}"));
    let form = [("_csrf", token.as_str()), ("reason", "冻害")];
    let res = coop
        .post(app.url(&format!("/coop/adoptions/{id}/deliveries/{delivery}/fail")))
        .form(&form)
        .send()
        .await
        .expect("fail");
    assert_eq!(res.status(), 303);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM adoption_parcels WHERE status = 'failed'"), 1);
    // Someone else's offer page is not found.
    let res = buyer.get(app.url(&format!("/coop/adoptions/{id}"))).send().await.expect("page");
    assert!(res.status() == 403 || res.status() == 404);
}
