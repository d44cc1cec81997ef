//! Flash sales (直播秒杀): admission first, never oversold, on SQLite, PostgreSQL and
//! PostgreSQL + Redis (with the sale's Redis state deleted mid-race, as after a restart).

use aidmart::flash::service::close_ended;
use aidmart::orders::service::expire_unpaid;
use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::helpers::{error_code, exec, scalar, send_json, spawn_app_with, TestApp};

fn address() -> Value {
    json!({"name": "王芳", "mobile": "13900139000", "province": "河北省", "city": "张家口市", "district": "沽源县", "detail": "平定堡镇 8 号"})
}

fn time(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

pub(crate) async fn app() -> TestApp {
    spawn_app_with(&[("AIDMART_LOGIN_LIMIT_PER_IP", "100000"), ("AIDMART_JOB_INTERVAL_SECS", "3600")]).await
}

/// Makes a sale as `maker` and returns its answer.
pub(crate) async fn make_sale(app: &TestApp, maker: &reqwest::Client, body: Value) -> (u16, Value) {
    send_json(maker.post(app.url("/api/v1/flash-sales")).json(&body)).await
}

/// A sale of `quantity` units of `sku` at 9.90, `limit` per buyer, live for two hours.
pub(crate) fn live_sale(sku: i64, quantity: i64, limit: i64) -> Value {
    let now = Utc::now().naive_utc();
    json!({"sku_id": sku, "price": "9.90", "quantity": quantity, "per_buyer_limit": limit,
        "starts_at": time(now - Duration::minutes(1)), "ends_at": time(now + Duration::hours(2)),
        "stream_url": "https://live.example.com/guyuan"})
}

async fn buy(app: &TestApp, c: &reqwest::Client, sale: i64, quantity: i64, key: Option<&str>) -> (u16, Value) {
    buy_at(&app.base, c, sale, quantity, key).await
}

/// Buys in a sale through the instance at `base`.
pub(crate) async fn buy_at(
    base: &str,
    c: &reqwest::Client,
    sale: i64,
    quantity: i64,
    key: Option<&str>,
) -> (u16, Value) {
    let mut req = c
        .post(format!("{base}/api/v1/flash-sales/{sale}/orders"))
        .json(&json!({"quantity": quantity, "points": 0, "address": address()}));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    send_json(req).await
}

/// `n` new buyers (the demo password), logged in.
pub(crate) async fn buyers(app: &TestApp, n: usize) -> Vec<reqwest::Client> {
    for i in 0..n {
        exec(
            &mut app.conn(),
            &format!(
                "INSERT INTO users (email, password_hash, display_name, disabled, created_at, verified) \
                 SELECT 'flash{i}@example.com', password_hash, 'Flash {i}', disabled, created_at, verified \
                 FROM users WHERE email = 'buyer@example.com'"
            ),
        );
    }
    let emails: Vec<String> = (0..n).map(|i| format!("flash{i}@example.com")).collect();
    let mut clients = Vec::with_capacity(n);
    for chunk in emails.chunks(10) {
        clients.extend(futures_util::future::join_all(chunk.iter().map(|e| app.client_for(e))).await);
    }
    clients
}

async fn remaining(app: &TestApp, sale: i64) -> i64 {
    remaining_at(&app.base, sale).await
}

/// The sale's remaining units as the instance at `base` shows them.
pub(crate) async fn remaining_at(base: &str, sale: i64) -> i64 {
    let (_, view) = send_json(crate::helpers::client().get(format!("{base}/api/v1/flash-sales/{sale}"))).await;
    view["remaining"].as_i64().unwrap_or(-1)
}

/// Deletes the sale's admission state in Redis (what a restart without persistence does).
async fn flush_redis(app: &TestApp, sale: i64) -> bool {
    let Some(url) = app.config.redis_url.clone() else { return false };
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client.get_multiplexed_tokio_connection().await.expect("redis connection");
    let key = aidmart::flash::admission::key(&app.config.redis_prefix, sale);
    let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.expect("DEL");
    true
}

/// 300 attempts by 100 buyers (3 each) at once, spread round-robin over the instances at
/// `bases` (the n-th attempt to `bases[n % len]`, so with three instances each buyer tries
/// each of them once). With `flush_midway` (and Redis), the first 30 attempts go first, then
/// the sale's Redis state is deleted, then the other 270 go at once while it is deleted again
/// in their midst.
pub(crate) async fn race(
    app: &TestApp,
    bases: &[String],
    clients: &[reqwest::Client],
    sale: i64,
    flush_midway: bool,
) -> Vec<(u16, Value)> {
    let attempt = |n: usize, (i, round): (usize, usize)| {
        let (c, base) = (&clients[i], &bases[n % bases.len()]);
        async move { buy_at(base, c, sale, 1, Some(&format!("race-{sale}-{i}-{round}"))).await }
    };
    let order: Vec<(usize, usize)> = (0..3).flat_map(|round| (0..clients.len()).map(move |i| (i, round))).collect();
    if !flush_midway {
        return futures_util::future::join_all(order.iter().enumerate().map(|(n, &a)| attempt(n, a))).await;
    }
    let mut answers = futures_util::future::join_all(order[..30].iter().enumerate().map(|(n, &a)| attempt(n, a))).await;
    assert_eq!(answers.iter().filter(|(s, _)| *s == 201).count(), 30, "{:?}", codes(&answers));
    flush_redis(app, sale).await;
    let rest = futures_util::future::join_all(order.iter().enumerate().skip(30).map(|(n, &a)| attempt(n, a)));
    let flusher = async {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        flush_redis(app, sale).await
    };
    let (rest, flushed) = futures_util::future::join(rest, flusher).await;
    answers.extend(rest);
    if let Some(url) = app.config.redis_url.clone().filter(|_| flushed) {
        // Attempts came after the deletion: they seeded the state again from the database.
        let client = redis::Client::open(url).expect("redis url");
        let mut conn = client.get_multiplexed_tokio_connection().await.expect("redis connection");
        let key = aidmart::flash::admission::key(&app.config.redis_prefix, sale);
        let exists: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut conn).await.expect("EXISTS");
        assert_eq!(exists, 1, "the state was seeded again after the deletion");
    }
    answers
}

fn codes(answers: &[(u16, Value)]) -> Vec<(u16, String)> {
    answers.iter().map(|(s, b)| (*s, error_code(b).to_string())).collect()
}

/// The SKU of the race's sale.
pub(crate) const RACE_SKU: &str = "RH-RICE-5KG";

/// The race's sale: 40 units of `RACE_SKU` (stock set to 100 first) at 9.90, one per buyer,
/// live now, made by the admin; its id.
pub(crate) async fn sale_of_forty(app: &TestApp) -> i64 {
    exec(&mut app.conn(), &format!("UPDATE skus SET stock = 100 WHERE code = '{RACE_SKU}'"));
    let admin = app.client_for("admin@example.com").await;
    let (status, sale) = make_sale(app, &admin, live_sale(app.sku(RACE_SKU), 40, 1)).await;
    assert_eq!(status, 201, "{sale}");
    assert_eq!((sale["status"].as_str(), sale["remaining"].as_i64()), (Some("live"), Some(40)));
    assert_eq!(app.stock(RACE_SKU), 60, "the sale's units are set aside at once");
    sale["id"].as_i64().unwrap_or(0)
}

/// What the race must end with: exactly 40 orders at the sale price, every other attempt a
/// 409 `sold_out` or `limit_reached` (never a 5xx), no buyer over the limit, 0 remaining as
/// every instance at `bases` shows it, and the stock still initial - 40.
pub(crate) async fn assert_sold_exactly_forty(app: &TestApp, bases: &[String], sale: i64, answers: &[(u16, Value)]) {
    let placed = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(placed, 40, "{:?}", codes(answers));
    assert!(
        answers.iter().all(|(s, b)| *s == 201 || (*s == 409 && ["sold_out", "limit_reached"].contains(&error_code(b)))),
        "{:?}",
        codes(answers)
    );
    assert_eq!(scalar(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM flash_orders WHERE sale_id = {sale}")), 40);
    assert_eq!(
        scalar(
            &mut app.conn(),
            &format!(
                "SELECT COALESCE(MAX(c), 0) AS n FROM \
                 (SELECT COUNT(*) AS c FROM flash_orders WHERE sale_id = {sale} GROUP BY buyer_id) t"
            )
        ),
        1,
        "no buyer holds more than the limit"
    );
    let sale_orders = answers.iter().filter(|(s, _)| *s == 201).map(|(_, o)| o).collect::<Vec<_>>();
    assert!(sale_orders.iter().all(|o| o["total"] == "9.90" && o["status"] == "pending_payment"), "{sale_orders:?}");
    for base in bases {
        assert_eq!(remaining_at(base, sale).await, 0, "remaining as {base} shows it");
    }
    assert_eq!(app.stock(RACE_SKU), 60, "stock = initial - 40: the orders took from the sale, not the shelf");
}

async fn exactly_the_quantity_sells(flush_midway: bool) {
    let app = app().await;
    let code = RACE_SKU;
    let id = sale_of_forty(&app).await;
    let clients = buyers(&app, 100).await;

    let bases = [app.base.clone()];
    let answers = race(&app, &bases, &clients, id, flush_midway).await;
    assert_sold_exactly_forty(&app, &bases, id, &answers).await;
    let (_, again) = buy(&app, &clients[0], id, 1, None).await;
    assert!(["sold_out", "limit_reached"].contains(&error_code(&again)), "{again}");

    // Unpaid past the sale's payment time (10 minutes): cancelled, the units back in the sale.
    let later = Utc::now().naive_utc() + Duration::minutes(11);
    assert_eq!(expire_unpaid(&mut app.conn(), &app.settings(), later).ok(), Some(40));
    assert_eq!(remaining(&app, id).await, 40);
    assert_eq!(app.stock(code), 60, "units went back to the sale, not the shelf");
    // Buyable again (admission is rebuilt from the database within a second).
    let winner = answers.iter().position(|(s, _)| *s == 201).unwrap_or(0) % 100;
    let mut status = 0;
    for _ in 0..40 {
        let (s, body) = buy(&app, &clients[winner], id, 1, None).await;
        status = s;
        if s == 201 {
            break;
        }
        // Until the instance sees the new generation (within a second): the buyer's old unit
        // in the admission state, or the instance's memo that the sale was sold out.
        assert!(["limit_reached", "sold_out"].contains(&error_code(&body)), "{body}");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 201, "a buyer whose order expired may buy again");
    assert_eq!(remaining(&app, id).await, 39);

    // The sale ends: the 39 unsold units go back to the shelf, once, even when two runs race.
    let end = Utc::now().naive_utc() + Duration::hours(3);
    let (a, b) = futures_util::future::join(
        actix_web::rt::task::spawn_blocking({
            let pool = app.pool.clone();
            move || pool.get().map(|mut c| close_ended(&mut c, end).unwrap_or(99)).unwrap_or(99)
        }),
        actix_web::rt::task::spawn_blocking({
            let pool = app.pool.clone();
            move || pool.get().map(|mut c| close_ended(&mut c, end).unwrap_or(99)).unwrap_or(99)
        }),
    )
    .await;
    assert_eq!(a.unwrap_or(99) + b.unwrap_or(99), 1, "closed exactly once");
    assert_eq!(close_ended(&mut app.conn(), end).ok(), Some(0));
    assert_eq!(app.stock(code), 99);
    let (_, view) = app.get_json(&format!("/api/v1/flash-sales/{id}")).await;
    assert_eq!(view["status"], "ended");
    // The last order, left unpaid after the end: its unit goes to the shelf.
    assert_eq!(expire_unpaid(&mut app.conn(), &app.settings(), end).ok(), Some(1));
    assert_eq!(app.stock(code), 100);
    let movements = scalar(
        &mut app.conn(),
        &format!("SELECT COALESCE(SUM(delta), 0) AS n FROM stock_movements WHERE sku_id = {}", app.sku(code)),
    );
    assert_eq!(movements, 0, "the movements add up: -40 reserved, +39 returned, +1 cancelled after the end");
}

#[actix_web::test]
async fn three_hundred_attempts_sell_exactly_forty_and_expired_units_come_back() {
    exactly_the_quantity_sells(false).await;
}

#[actix_web::test]
async fn the_sale_resumes_from_the_database_when_redis_loses_its_state() {
    // Without Redis this is the same race with the in-process admission.
    exactly_the_quantity_sells(true).await;
}

#[actix_web::test]
async fn who_may_make_a_sale_and_what_buying_answers() {
    let app = app().await;
    let admin = app.client_for("admin@example.com").await;
    let coop = app.client_for("coop@example.com").await;
    let buyer = app.client_for("buyer@example.com").await;
    let employee = app.client_for("employee@example.com").await;
    let (quinoa, rice) = (app.sku("GY-QUINOA-1KG"), app.sku("RH-RICE-5KG"));

    // A buyer makes no sales; a manager only for its own cooperative's SKUs.
    let (status, _) = make_sale(&app, &buyer, live_sale(quinoa, 5, 1)).await;
    assert_eq!(status, 403);
    let (status, body) = make_sale(&app, &coop, live_sale(rice, 5, 1)).await;
    assert_eq!(status, 404, "another cooperative's SKU: {body}");
    let (status, body) = make_sale(&app, &coop, live_sale(999_999, 5, 1)).await;
    assert_eq!(status, 404, "{body}");
    let (status, anonymous) =
        send_json(app.client.post(app.url("/api/v1/flash-sales")).json(&live_sale(quinoa, 5, 1))).await;
    assert_eq!(status, 401, "{anonymous}");
    let stock = app.stock("GY-QUINOA-1KG");
    let (status, body) = make_sale(&app, &coop, live_sale(quinoa, stock + 1, 1)).await;
    assert_eq!((status, error_code(&body)), (409, "insufficient_stock"));
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock, "nothing set aside");
    let mut bad = live_sale(quinoa, 5, 6);
    assert_eq!(make_sale(&app, &coop, bad.clone()).await.0, 400, "limit above the quantity");
    bad["per_buyer_limit"] = json!(1);
    bad["ends_at"] = bad["starts_at"].clone();
    assert_eq!(make_sale(&app, &coop, bad.clone()).await.0, 400, "ends before it starts");
    bad = live_sale(quinoa, 5, 1);
    bad["stream_url"] = json!("javascript:alert(1)");
    assert_eq!(make_sale(&app, &coop, bad).await.0, 400);

    let (status, sale) = make_sale(&app, &coop, live_sale(quinoa, 5, 2)).await;
    assert_eq!(status, 201, "{sale}");
    let id = sale["id"].as_i64().unwrap_or(0);
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock - 5);
    for field in ["id", "sku_id", "price", "quantity", "remaining", "per_buyer_limit", "starts_at", "ends_at", "status"]
    {
        assert!(!sale[field].is_null(), "{field} in {sale}");
    }
    assert_eq!(sale["price"], "9.90");

    // Not logged in: 401. Unknown sale: 404.
    let (status, _) = buy(&app, &app.client, id, 1, None).await;
    assert_eq!(status, 401);
    assert_eq!(buy(&app, &buyer, 999_999, 1, None).await.0, 404);
    assert_eq!(app.get_json("/api/v1/flash-sales/999999").await.0, 404);

    // Over the limit in one order; then an order with points (within the SKU's cap), replayed
    // by its Idempotency-Key.
    let (status, body) = buy(&app, &buyer, id, 3, None).await;
    assert_eq!((status, error_code(&body)), (409, "limit_reached"));
    let body = json!({"quantity": 2, "points": 300, "address": address()});
    let req = || {
        employee
            .post(app.url(&format!("/api/v1/flash-sales/{id}/orders")))
            .header("Idempotency-Key", "flash-once")
            .json(&body)
    };
    let (status, order) = send_json(req()).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!((order["total"].as_str(), order["points_used"].as_i64()), (Some("19.80"), Some(300)));
    assert_eq!((order["points_value"].as_str(), order["cash_due"].as_str()), (Some("3.00"), Some("16.80")));
    let (status, replay) = send_json(req()).await;
    assert_eq!((status, &replay["order_no"]), (201, &order["order_no"]));
    let (status, other) = send_json(
        employee
            .post(app.url(&format!("/api/v1/flash-sales/{id}/orders")))
            .header("Idempotency-Key", "flash-once")
            .json(&json!({"quantity": 1, "points": 0, "address": address()})),
    )
    .await;
    assert_eq!((status, error_code(&other)), (409, "idempotency_conflict"));
    let (status, body) = buy(&app, &employee, id, 1, None).await;
    assert_eq!((status, error_code(&body)), (409, "limit_reached"));
    let too_many = json!({"quantity": 1, "points": 100_000, "address": address()});
    let (status, body) =
        send_json(buyer.post(app.url(&format!("/api/v1/flash-sales/{id}/orders"))).json(&too_many)).await;
    assert_eq!((status, error_code(&body)), (422, "points_cap_exceeded"), "{body}");
    let (status, _) = buy(&app, &buyer, id, 2, None).await;
    assert_eq!(status, 201);
    let (status, body) = buy(&app, &admin, id, 2, None).await;
    assert_eq!((status, error_code(&body)), (409, "sold_out"));
    assert_eq!(remaining(&app, id).await, 1);
    // Another buyer's order is not there for you.
    let no = order["order_no"].as_str().unwrap_or_default();
    assert_eq!(send_json(buyer.get(app.url(&format!("/api/v1/orders/{no}")))).await.0, 404);

    // Not started, and ended.
    let now = Utc::now().naive_utc();
    let mut later = live_sale(quinoa, 2, 1);
    later["starts_at"] = json!(time(now + Duration::hours(1)));
    later["ends_at"] = json!(format!("{}+08:00", (now + Duration::hours(10)).format("%Y-%m-%dT%H:%M:%S")));
    let (status, upcoming) = make_sale(&app, &admin, later).await;
    assert_eq!((status, upcoming["status"].as_str()), (201, Some("upcoming")), "{upcoming}");
    let up = upcoming["id"].as_i64().unwrap_or(0);
    let (status, body) = buy(&app, &buyer, up, 1, None).await;
    assert_eq!((status, error_code(&body)), (409, "not_started"));
    let (_, done) = make_sale(&app, &admin, live_sale(quinoa, 2, 1)).await;
    let done = done["id"].as_i64().unwrap_or(0);
    exec(
        &mut app.conn(),
        &format!(
            "UPDATE flash_sales SET starts_at = '2026-01-01 08:00:00', ends_at = '2026-01-01 09:00:00' WHERE id = {done}"
        ),
    );
    let (status, body) = buy(&app, &buyer, done, 1, None).await;
    assert_eq!((status, error_code(&body)), (409, "ended"));

    // Lists by status.
    let ids = |v: &Value| v["items"].as_array().map(|a| a.iter().filter_map(|s| s["id"].as_i64()).collect::<Vec<_>>());
    let (_, live) = app.get_json("/api/v1/flash-sales?status=live").await;
    assert_eq!(ids(&live), Some(vec![id]));
    let (_, up_list) = app.get_json("/api/v1/flash-sales?status=upcoming").await;
    assert_eq!(ids(&up_list), Some(vec![up]));
    let (_, ended) = app.get_json("/api/v1/flash-sales?status=ended").await;
    assert_eq!(ids(&ended), Some(vec![done]));
    assert_eq!(app.get_json("/api/v1/flash-sales?status=soon").await.0, 400);

    // The product page shows the live sale, its price, what is left and the stream.
    let page = app.get(&format!("/products/{}", sale["product_id"])).await.text().await.unwrap_or_default();
    assert!(page.contains("data-flash-sale") && page.contains("9.90"), "{page}");
    assert!(page.contains("https://live.example.com/guyuan"));
}
