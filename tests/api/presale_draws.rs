//! Pre-sale (预售): the window and the per-buyer limit in the one pipeline (also under races),
//! the shipping queue from the ship-from day, late parcels cancelled for a full refund and
//! the one notice; lucky draws (抽奖): commitment, closing once on two threads, prizes granted
//! once, and the winners recomputed by `scripts/ledger.py draw` from the public API alone.

use chrono::{Duration, Utc};
use futures_util::future::join_all;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{error_code, exec, scalar, send_json, spawn_app, TestApp};

fn address() -> Value {
    json!({"name": "李强", "mobile": "13800138000", "province": "北京市", "city": "北京市", "district": "西城区", "detail": "金融大街 1 号"})
}

fn order(sku: i64, quantity: i64, campaign: i64) -> Value {
    json!({"lines": [{"sku_id": sku, "quantity": quantity}], "campaign_id": campaign, "address": address()})
}

fn no_server_errors(answers: &[(u16, Value)]) {
    let bad: Vec<&(u16, Value)> = answers.iter().filter(|(s, _)| *s >= 500).collect();
    assert!(bad.is_empty(), "5xx answers: {bad:?}");
}

fn fen(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or("x");
    let (whole, frac) = s.split_once('.').unwrap_or((s, "00"));
    whole.parse::<i64>().unwrap_or(-999_999) * 100 + frac.parse::<i64>().unwrap_or(-99)
}

fn count(app: &TestApp, sql: &str) -> i64 {
    scalar(&mut app.conn(), sql)
}

/// Puts a SKU on pre-sale through the cooperative's API.
async fn presale(app: &TestApp, coop: &reqwest::Client, sku: i64, limit: i64, ship_in_days: i64) -> Value {
    let ends = (Utc::now() + Duration::days(2)).naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string();
    let ship_by = (Utc::now() + Duration::days(ship_in_days)).date_naive().to_string();
    let body = json!({"ends_at": ends, "ship_by": ship_by, "per_buyer_limit": limit});
    let (status, view) = send_json(coop.put(app.url(&format!("/api/v1/coop/skus/{sku}/presale"))).json(&body)).await;
    assert_eq!(status, 200, "{view}");
    view
}

async fn pay(app: &TestApp, c: &reqwest::Client, placed: &Value) {
    let pay = placed["payment_id"].as_str().unwrap_or_default();
    let (status, body) = send_json(c.post(app.url(&format!("/api/v1/payments/sandbox/{pay}/complete")))).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn presale_refuses_beyond_the_per_buyer_limit_and_after_its_window_also_concurrently() {
    let app = spawn_app().await;
    let coop = app.client_for("coop@example.com").await;
    let (sku, year) = (app.sku("GY-QUINOA-GIFT-2KG"), app.campaign("year-round"));
    let view = presale(&app, &coop, sku, 3, 30).await;
    assert_eq!(view["presale"]["per_buyer_limit"], 3, "{view}");
    // Bad terms are refused, never a 5xx.
    for bad in [
        json!({"ends_at": "2020-01-01T00:00:00", "ship_by": "2030-01-01", "per_buyer_limit": 1}),
        json!({"ends_at": "2030-01-01T00:00:00", "ship_by": "2029-01-01", "per_buyer_limit": 1}),
        json!({"ends_at": "2030-01-01T00:00:00", "ship_by": "2030-02-01", "per_buyer_limit": 0}),
    ] {
        let (status, body) = send_json(coop.put(app.url(&format!("/api/v1/coop/skus/{sku}/presale"))).json(&bad)).await;
        assert_eq!((status, error_code(&body)), (422, "invalid_presale"), "{bad}");
    }
    // Another cooperative's SKU is not found.
    let other = app.sku("GY-ZONGZI-8");
    let (status, _) = send_json(
        coop.put(app.url(&format!("/api/v1/coop/skus/{other}/presale")))
            .json(&json!({"ends_at": "2030-01-01T00:00:00", "ship_by": "2030-02-01", "per_buyer_limit": 1})),
    )
    .await;
    assert_eq!(status, 404);

    // The SKU JSON carries the terms.
    let product = count(&app, &format!("SELECT product_id AS n FROM skus WHERE id = {sku}"));
    let (_, detail) = app.get_json(&format!("/api/v1/products/{product}")).await;
    let shown = detail["skus"].as_array().and_then(|s| s.iter().find(|s| s["id"] == sku)).cloned().unwrap_or_default();
    assert_eq!(shown["presale"]["ship_by"], view["presale"]["ship_by"], "{shown}");
    let plain = detail["skus"].as_array().and_then(|s| s.iter().find(|s| s["id"] != sku)).cloned().unwrap_or_default();
    assert!(plain["presale"].is_null(), "{plain}");

    let buyer = app.client_for("employee@example.com").await;
    let url = app.url("/api/v1/orders");
    let (status, first) = send_json(buyer.post(&url).json(&order(sku, 2, year))).await;
    assert_eq!(status, 201, "{first}");
    let (status, body) = send_json(buyer.post(&url).json(&order(sku, 2, year))).await;
    assert_eq!((status, error_code(&body)), (409, "limit_reached"), "2 + 2 > 3: {body}");
    let (status, _) = send_json(buyer.post(&url).json(&order(sku, 1, year))).await;
    assert_eq!(status, 201, "2 + 1 = 3 is allowed");
    let (status, body) = send_json(buyer.post(&url).json(&order(sku, 1, year))).await;
    assert_eq!((status, error_code(&body)), (409, "limit_reached"));
    // A cancelled order no longer counts.
    let no = first["order_no"].as_str().unwrap_or_default();
    assert_eq!(send_json(buyer.post(app.url(&format!("/api/v1/orders/{no}/cancel")))).await.0, 200);
    let (status, _) = send_json(buyer.post(&url).json(&order(sku, 2, year))).await;
    assert_eq!(status, 201);

    // Concurrently: 12 orders of one unit by one buyer with a limit of 1: exactly one passes.
    let stock = app.stock("GY-QUINOA-GIFT-2KG");
    presale(&app, &coop, sku, 1, 30).await;
    let other_buyer = app.client_for("buyer@example.com").await;
    let answers = join_all((0..12).map(|_| send_json(other_buyer.post(&url).json(&order(sku, 1, year))))).await;
    no_server_errors(&answers);
    assert_eq!(answers.iter().filter(|(s, _)| *s == 201).count(), 1, "{answers:?}");
    assert!(answers.iter().filter(|(s, _)| *s != 201).all(|(s, b)| *s == 409 && error_code(b) == "limit_reached"));
    assert_eq!(app.stock("GY-QUINOA-GIFT-2KG"), stock - 1);

    // After the window: refused, also concurrently, and nothing is taken.
    exec(&mut app.conn(), &format!("UPDATE sku_presales SET ends_at = '2020-01-01 00:00:00' WHERE sku_id = {sku}"));
    let union = app.client_for("union2@example.com").await;
    let answers = join_all((0..6).map(|_| send_json(union.post(&url).json(&order(sku, 1, year))))).await;
    no_server_errors(&answers);
    assert!(answers.iter().all(|(s, b)| *s == 409 && error_code(b) == "presale_closed"), "{answers:?}");
    assert_eq!(app.stock("GY-QUINOA-GIFT-2KG"), stock - 1);
    // Ended pre-sale: sold from stock again.
    let (status, view) = send_json(coop.delete(app.url(&format!("/api/v1/coop/skus/{sku}/presale")))).await;
    assert_eq!((status, view["presale"].is_null()), (200, true), "{view}");
    let (status, _) = send_json(union.post(&url).json(&order(sku, 5, year))).await;
    assert_eq!(status, 201);
}

#[actix_web::test]
async fn a_late_presale_parcel_can_be_cancelled_for_a_full_refund_and_not_before() {
    let app = spawn_app().await;
    let coop = app.client_for("coop@example.com").await;
    let (sku, year) = (app.sku("GY-QUINOA-1KG"), app.campaign("year-round"));
    presale(&app, &coop, sku, 5, 30).await;
    let buyer = app.client_for("employee@example.com").await;
    let body =
        json!({"lines": [{"sku_id": sku, "quantity": 2}], "campaign_id": year, "points": 300, "address": address()});
    let (status, placed) = send_json(buyer.post(app.url("/api/v1/orders")).json(&body)).await;
    assert_eq!(status, 201, "{placed}");
    pay(&app, &buyer, &placed).await;
    let no = placed["order_no"].as_str().unwrap_or_default().to_string();
    let stock = app.stock("GY-QUINOA-1KG");
    let pending = |c: reqwest::Client| {
        let url = app.url("/api/v1/coop/shipments/pending");
        async move { send_json(c.get(url)).await.1 }
    };
    let holds = |parts: &Value| parts.as_array().is_some_and(|p| p.iter().any(|p| p["order_no"] == no.as_str()));
    // Shipped from the day the window ends (in two days): not yet in the cooperative's queue.
    assert!(!holds(&pending(coop.clone()).await), "not before its ship-from day");

    let cancel = app.url(&format!("/api/v1/orders/{no}/presale-cancel"));
    let (status, early) = send_json(buyer.post(&cancel)).await;
    assert_eq!((status, error_code(&early)), (409, "presale_not_late"), "{early}");
    // Another buyer cannot touch it.
    let stranger = app.client_for("buyer@example.com").await;
    assert_eq!(send_json(stranger.post(&cancel)).await.0, 404);

    // Ship-by was 8 days ago (grace 7): late.
    let today = Utc::now().date_naive();
    let past = |d: i64| (today - Duration::days(d)).to_string();
    exec(
        &mut app.conn(),
        &format!(
            "UPDATE sku_presales SET ends_at = '{} 00:00:00', ships_from = '{}', ship_by = '{}' WHERE sku_id = {sku}",
            past(20),
            past(20),
            past(8)
        ),
    );
    assert!(holds(&pending(coop.clone()).await), "in the queue from its ship-from day");
    // The notice goes out once, whichever way the job runs.
    let s = app.settings();
    let now = Utc::now().naive_utc();
    let runs: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (pool, s) = (app.pool.clone(), &s);
                scope.spawn(move || {
                    let mut conn = pool.get().expect("conn");
                    aidmart::orders::presale::notify_late(&mut conn, s, 7, today, now).expect("job")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert_eq!(runs.iter().sum::<usize>(), 1, "{runs:?}");
    assert_eq!(aidmart::orders::presale::notify_late(&mut app.conn(), &s, 7, today, now).expect("job"), 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM outbox WHERE template = 'presale_late' AND recipient = 'employee@example.com'"
        ),
        1
    );
    // The order page offers the cancellation.
    let html =
        buyer.get(app.url(&format!("/orders/{no}"))).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains(&format!("/orders/{no}/presale-cancel")), "the page has the button");

    let answers = join_all((0..4).map(|_| send_json(buyer.post(&cancel)))).await;
    no_server_errors(&answers);
    let done: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
    assert_eq!(done.len(), 1, "refunded once: {answers:?}");
    let refund = done[0];
    assert_eq!(fen(&refund["cash"]), fen(&placed["cash_due"]), "all the cash back: {refund}");
    assert_eq!(refund["points"], placed["points_used"], "all the points back");
    assert_eq!(refund["order"]["status"], "refunded");
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock + 2, "unshipped units back on the shelf");
    assert!(!holds(&pending(coop).await), "no longer to ship");
    let (_, ledger) = send_json(app.client.get(app.url("/api/v1/ledger/verify"))).await;
    assert_eq!(ledger["ok"], true, "{ledger}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn run_ledger_script(app: &TestApp, id: i64) -> (bool, String) {
    let out = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ledger.py"))
        .args(["draw", &app.base, &id.to_string()])
        .output()
        .expect("python3 runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[actix_web::test]
async fn a_draw_closes_once_grants_once_and_its_winners_are_recomputed_by_the_script() {
    let app = spawn_app().await;
    let admin = app.client_for("admin@example.com").await;
    let (quinoa, seeds, year) = (app.sku("GY-QUINOA-1KG"), app.sku("BS-SEEDS-500G"), app.campaign("year-round"));
    let closes = (Utc::now() + Duration::hours(2)).naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string();
    let request = json!({"campaign_id": year, "title": "端午抽奖", "entry_rule": "paid_order", "closes_at": closes,
        "prizes": [{"kind": "points", "points": 500, "count": 2}, {"kind": "product", "sku_id": seeds, "count": 1}]});
    // Only organisers open draws; bad terms are 4xx.
    let buyer = app.client_for("buyer@example.com").await;
    assert_eq!(send_json(buyer.post(app.url("/api/v1/draws")).json(&request)).await.0, 403);
    assert_eq!(send_json(app.client.post(app.url("/api/v1/draws")).json(&request)).await.0, 401);
    let mut bad = request.clone();
    bad["prizes"] = json!([{"kind": "points", "count": 1}]);
    let (status, body) = send_json(admin.post(app.url("/api/v1/draws")).json(&bad)).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_draw"));
    bad = request.clone();
    bad["campaign_id"] = json!(999_999);
    assert_eq!(send_json(admin.post(app.url("/api/v1/draws")).json(&bad)).await.0, 422);

    let (status, draw) = send_json(admin.post(app.url("/api/v1/draws")).json(&request)).await;
    assert_eq!(status, 201, "{draw}");
    let id = draw["id"].as_i64().unwrap_or_default();
    let commitment = draw["commitment"].as_str().unwrap_or_default().to_string();
    assert_eq!(commitment.len(), 64);
    let (_, open) = app.get_json(&format!("/api/v1/draws/{id}")).await;
    assert!(open["seed"].is_null(), "the seed is secret until the close: {open}");
    assert_eq!(send_json(buyer.post(app.url(&format!("/api/v1/draws/{id}/close")))).await.0, 403);

    // Five paid orders by three buyers, one unpaid (no entry).
    let employee = app.client_for("employee@example.com").await;
    let union = app.client_for("union@example.com").await;
    for c in [&employee, &buyer, &union, &employee, &buyer] {
        let (status, placed) = send_json(c.post(app.url("/api/v1/orders")).json(&order(quinoa, 1, year))).await;
        assert_eq!(status, 201, "{placed}");
        pay(&app, c, &placed).await;
    }
    assert_eq!(send_json(union.post(app.url("/api/v1/orders")).json(&order(quinoa, 1, year))).await.0, 201);
    let stock = app.stock("BS-SEEDS-500G");

    // Closed on two threads at once: drawn once, same answer.
    let close = app.url(&format!("/api/v1/draws/{id}/close"));
    let other_admin = app.client_for("admin@example.com").await;
    let answers = join_all([send_json(admin.post(&close)), send_json(other_admin.post(&close))]).await;
    no_server_errors(&answers);
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(answers[0].1["winners"], answers[1].1["winners"]);
    let again = aidmart::draws::service::close_due(
        &mut app.conn(),
        &app.settings(),
        Utc::now().naive_utc() + Duration::hours(3),
    );
    assert_eq!(again.expect("job"), 0, "the job finds nothing left to close");
    assert_eq!(count(&app, &format!("SELECT COUNT(*) AS n FROM draw_entries WHERE draw_id = {id}")), 5);
    assert_eq!(count(&app, &format!("SELECT COUNT(*) AS n FROM draw_winners WHERE draw_id = {id}")), 3);
    // Points prizes granted once: two lots of 500.
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM points_lots WHERE reason LIKE '%端午抽奖%'"), 2);
    assert_eq!(
        count(
            &app,
            "SELECT CAST(COALESCE(SUM(granted), 0) AS BIGINT) AS n FROM points_lots WHERE reason LIKE '%端午抽奖%'"
        ),
        1000
    );
    // The product prize is a paid gift order shipped to the winner: stock taken.
    assert_eq!(app.stock("BS-SEEDS-500G"), stock - 1);
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) AS n FROM draw_winners w JOIN orders o ON o.id = w.order_id WHERE w.draw_id = {id} AND o.status = 'paid'")),
        1
    );

    let (_, closed) = app.get_json(&format!("/api/v1/draws/{id}")).await;
    let seed = closed["seed"].as_str().unwrap_or_default();
    assert_eq!(sha256_hex(&hex::decode(seed).expect("hex seed")), commitment, "the seed hashes to the commitment");
    assert_eq!(closed["entries"].as_array().map(Vec::len), Some(5));
    assert!(closed["entries"].as_array().is_some_and(|e| e
        .iter()
        .all(|e| e["masked_name"].as_str().is_some_and(|n| n.ends_with('*') && n.chars().count() == 2))));
    let (ok, out) = run_ledger_script(&app, id);
    assert!(ok && out.contains("match"), "{out}");

    // The page shows the commitment, seed and how to check.
    let html = app.get(&format!("/draws/{id}")).await.text().await.unwrap_or_default();
    assert!(html.contains(&commitment) && html.contains(seed) && html.contains("scripts/ledger.py draw"));
    let list = app.get("/draws").await.text().await.unwrap_or_default();
    assert!(list.contains(&format!("/draws/{id}")) && list.contains("端午抽奖"), "the list of draws");
    let (_, listed) = app.get_json("/api/v1/draws").await;
    assert!(listed["items"].as_array().is_some_and(|d| d.iter().any(|d| d["id"] == id)));

    // Tampering with one published entry is caught by the script.
    exec(&mut app.conn(), &format!("UPDATE draw_entries SET masked_name = 'X*' WHERE draw_id = {id} AND number = 1"));
    let (ok, out) = run_ledger_script(&app, id);
    assert!(!ok && out.contains("MISMATCH"), "{out}");
}

#[actix_web::test]
async fn an_organisations_donation_draw_is_paid_from_its_budget_and_gives_back_what_it_did_not_use() {
    let app = spawn_app().await;
    let union = app.client_for("union@example.com").await;
    let org = count(&app, "SELECT id AS n FROM organisations WHERE slug = 'demo-group-union'");
    exec(&mut app.conn(), &format!("UPDATE org_budgets SET budget_used_fen = 0 WHERE org_id = {org}"));
    let used =
        |app: &TestApp| count(app, &format!("SELECT budget_used_fen AS n FROM org_budgets WHERE org_id = {org}"));
    let year = app.campaign("year-round");
    let (_, projects) = send_json(app.client.get(app.url("/api/v1/donation-projects"))).await;
    let project = &projects["items"][0];
    let campaign = project["campaign_id"].as_i64().unwrap_or(year);
    let closes = (Utc::now() + Duration::hours(1)).naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string();
    let request = json!({"campaign_id": campaign, "title": "爱心捐赠抽奖", "entry_rule": "donation", "min_points": 100,
        "org_id": org, "closes_at": closes, "prizes": [{"kind": "points", "points": 1000, "count": 3}]});
    // Only the organisation's admins.
    let employee = app.client_for("employee@example.com").await;
    assert_eq!(send_json(employee.post(app.url("/api/v1/draws")).json(&request)).await.0, 403);
    let before = used(&app);
    let (status, draw) = send_json(union.post(app.url("/api/v1/draws")).json(&request)).await;
    assert_eq!(status, 201, "{draw}");
    let held = used(&app) - before;
    assert!(held > 0, "3000 points' value is held from the budget");
    let id = draw["id"].as_i64().unwrap_or_default();
    // One donation of 100 points (an entry) and one of 50 (too small).
    for points in [100, 50] {
        let body = json!({"project_id": project["id"], "points": points});
        assert_eq!(send_json(employee.post(app.url("/api/v1/donations")).json(&body)).await.0, 201);
    }
    // The job closes it at closes_at.
    let later = Utc::now().naive_utc() + Duration::hours(2);
    let closed = aidmart::draws::service::close_due(&mut app.conn(), &app.settings(), later).expect("job");
    assert_eq!(closed, 1);
    let (_, view) = app.get_json(&format!("/api/v1/draws/{id}")).await;
    assert_eq!(view["entries"].as_array().map(Vec::len), Some(1), "{view}");
    assert_eq!(view["winners"].as_array().map(Vec::len), Some(1));
    // One prize of three was won: two thirds of what was held went back.
    assert_eq!(used(&app) - before, held / 3);
    let (ok, out) = run_ledger_script(&app, id);
    assert!(ok, "{out}");
}

#[actix_web::test]
async fn the_ship_by_date_is_shown_wherever_the_price_is_and_the_coop_page_sets_the_terms() {
    let app = spawn_app().await;
    let coop = app.client_for("coop@example.com").await;
    let sku = app.sku("GY-QUINOA-GIFT-2KG");
    // The cooperative's SKU page form, the end time typed in the store's zone.
    let page = |c: &reqwest::Client, path: String| {
        let url = app.url(&path);
        let c = c.clone();
        async move { c.get(url).send().await.expect("page").text().await.unwrap_or_default() }
    };
    let html = page(&coop, format!("/coop/skus/{sku}")).await;
    let ship_by = (Utc::now() + Duration::days(40)).date_naive().to_string();
    let ends = (Utc::now() + Duration::days(10)).naive_utc().format("%Y-%m-%dT%H:%M").to_string();
    let form = [
        ("_csrf", crate::helpers::csrf_from(&html)),
        ("action", "save".into()),
        ("ends_at", ends),
        ("ships_from", String::new()),
        ("ship_by", ship_by.clone()),
        ("per_buyer_limit", "4".into()),
    ];
    let res = coop.post(app.url(&format!("/coop/skus/{sku}/presale"))).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 200);
    assert_eq!(count(&app, &format!("SELECT per_buyer_limit AS n FROM sku_presales WHERE sku_id = {sku}")), 4);
    let mut bad = form.clone();
    bad[4].1 = "2020-01-01".into();
    let res = coop.post(app.url(&format!("/coop/skus/{sku}/presale"))).form(&bad).send().await.expect("post");
    assert_eq!(res.status(), 422, "ship-by before the window's end");

    let product = count(&app, &format!("SELECT product_id AS n FROM skus WHERE id = {sku}"));
    let html = app.get(&format!("/products/{product}")).await.text().await.unwrap_or_default();
    assert!(html.contains("data-testid=\"presale\"") && html.contains(&ship_by), "product page");
    let html = app.get("/search?q=limai").await.text().await.unwrap_or_default();
    assert!(html.contains(&ship_by), "product cards");
    let buyer = app.client_for("employee@example.com").await;
    let (status, cart) =
        send_json(buyer.post(app.url("/api/v1/cart/items")).json(&json!({"sku_id": sku, "quantity": 1}))).await;
    assert_eq!(status, 200, "{cart}");
    for path in ["/cart", "/checkout"] {
        let html = page(&buyer, path.to_string()).await;
        assert!(html.contains(&ship_by), "{path}");
    }
    let (status, placed) =
        send_json(buyer.post(app.url("/api/v1/orders")).json(&order(sku, 1, app.campaign("year-round")))).await;
    assert_eq!(status, 201, "{placed}");
    let no = placed["order_no"].as_str().unwrap_or_default();
    let html = page(&buyer, format!("/orders/{no}")).await;
    assert!(html.contains(&ship_by), "order page");
    // Draw pages render for anyone.
    for path in ["/draws"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    let (_, catalogue) = app.get_json("/api/v1/products?q=limai").await;
    assert!(catalogue["items"].as_array().is_some_and(|i| i.iter().any(|p| p["presale_ship_by"] == ship_by.as_str())));
}
