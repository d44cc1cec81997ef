//! The credit ledger: every paid line credited once, refunds reversed, the hash chain verifiable
//! and tamper-evident; campaign dashboards; points donations and milestones; charity hours.

use aidmart::payments::{CallbackEvent, Outcome, SandboxGateway};
use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::helpers::{exec, scalar, send_json, spawn_app, TestApp};

fn address() -> Value {
    json!({"name": "王芳", "mobile": "13900139000", "province": "河北省", "city": "张家口市", "district": "沽源县", "detail": "平定堡镇 1 号"})
}

fn body(lines: Value, points: i64, campaign: i64) -> Value {
    json!({"lines": lines, "points": points, "campaign_id": campaign, "address": address(), "account": "personal"})
}

async fn place(app: &TestApp, c: &reqwest::Client, body: &Value) -> Value {
    let (status, order) = send_json(c.post(app.url("/api/v1/orders")).json(body)).await;
    assert_eq!(status, 201, "{order}");
    order
}

async fn pay(app: &TestApp, c: &reqwest::Client, order: &Value) {
    if let Some(id) = order["payment_id"].as_str() {
        let (status, done) = send_json(c.post(app.url(&format!("/api/v1/payments/sandbox/{id}/complete")))).await;
        assert_eq!(status, 200, "{done}");
    }
}

async fn verify(app: &TestApp, query: &str) -> Value {
    let (status, v) = send_json(app.client.get(app.url(&format!("/api/v1/ledger/verify{query}")))).await;
    assert_eq!(status, 200, "{v}");
    v
}

fn fen(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or("x");
    let (whole, frac) = s.split_once('.').unwrap_or((s, "00"));
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    whole.parse::<i64>().unwrap_or(-999_999) * 100 + sign * frac.parse::<i64>().unwrap_or(-99)
}

/// What the ledger must say a campaign raised: paid line totals less what refunds gave back
/// (cash, and points at 100 points = ¥1, so one point is one fen).
fn expected_credit(app: &TestApp, campaign: i64) -> i64 {
    scalar(
        &mut app.conn(),
        &format!(
            "SELECT CAST(COALESCE(SUM(total_fen - refunded_cash_fen - refunded_points), 0) AS BIGINT) AS n \
             FROM orders WHERE paid_at IS NOT NULL AND campaign_id = {campaign}"
        ),
    )
}

fn ledger_credit(app: &TestApp, campaign: i64) -> i64 {
    scalar(
        &mut app.conn(),
        &format!(
            "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM credit_entries \
             WHERE kind IN ('sale', 'sale_reversal') AND campaign_id = {campaign}"
        ),
    )
}

/// Makes one stored entry say something else, behind the database's back (the append-only
/// trigger has to go first).
fn tamper(app: &TestApp, seq: i64) {
    let mut conn = app.conn();
    if app.backend == "postgres" {
        exec(&mut conn, "ALTER TABLE credit_entries DISABLE TRIGGER credit_entries_append_only");
    } else {
        exec(&mut conn, "DROP TRIGGER credit_entries_no_update");
    }
    exec(&mut conn, &format!("UPDATE credit_entries SET amount_fen = amount_fen + 100 WHERE seq = {seq}"));
}

fn run_cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aidmart"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.config.database_url)
        .env("AIDMART_DATA_DIR", &app.config.data_dir)
        .env("RUST_LOG", "error")
        .output()
        .expect("run aidmart");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[actix_web::test]
async fn each_paid_line_is_credited_once_even_when_the_callback_comes_twice_or_at_once() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let lines =
        json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 2}, {"sku_id": app.sku("GY-ZONGZI-8"), "quantity": 1}]);
    let order = place(&app, &buyer, &body(lines, 0, app.campaign("dragon-boat-2027"))).await;
    let raw = |event_id: String| {
        serde_json::to_vec(&CallbackEvent {
            event_id,
            payment_id: order["payment_id"].as_str().unwrap_or_default().into(),
            outcome: Outcome::Succeeded,
            amount_fen: fen(&order["cash_due"]),
        })
        .unwrap_or_default()
    };
    let gateway = SandboxGateway::new(&app.config.cookie_key().unwrap_or_default(), String::new());
    let now = chrono::Utc::now().timestamp();
    // Eight callbacks at once: four distinct events, each delivered twice.
    let calls = (0..8).map(|i| {
        let raw = raw(format!("evt_{}", i % 4));
        let signature = gateway.sign(&raw, now).unwrap_or_default();
        let req = app
            .client
            .post(app.url("/api/v1/payments/sandbox/webhook"))
            .header("x-sandbox-signature", signature)
            .body(raw);
        send_json(req)
    });
    let answers = join_all(calls).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    let paid = answers.iter().filter(|(_, a)| a["result"] == "paid").count();
    assert_eq!(paid, 1, "{answers:?}");

    let mut conn = app.conn();
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) AS n FROM credit_entries WHERE kind = 'sale'"), 2);
    assert_eq!(
        scalar(&mut conn, "SELECT COUNT(DISTINCT order_line_id) AS n FROM credit_entries WHERE kind = 'sale'"),
        2
    );
    let dragon = app.campaign("dragon-boat-2027");
    assert_eq!(ledger_credit(&app, dragon), fen(&order["total"]));
    assert_eq!(ledger_credit(&app, dragon), expected_credit(&app, dragon));
    let v = verify(&app, "").await;
    assert_eq!((v["ok"].as_bool(), v["entries"].as_i64()), (Some(true), Some(2)), "{v}");

    // The buyer sees where the money went, line by line, with the entry to check.
    let no = order["order_no"].as_str().unwrap_or_default();
    let page = buyer.get(app.url(&format!("/orders/{no}"))).send().await.expect("order page");
    let html = page.text().await.unwrap_or_default();
    assert_eq!(html.matches("data-testid=\"line-credit\"").count(), 2, "{html}");
    assert!(html.contains("沽源县") && html.contains("/ledger/1"), "{html}");
    assert!(html.contains("已收到付款"), "the history's notes are in the page's language: {html}");
    let entry = app.client.get(app.url("/ledger/1")).send().await.expect("entry page");
    assert_eq!(entry.status(), 200);
    assert!(entry.text().await.unwrap_or_default().contains("data-testid=\"hash-ok\""));
    // And earns 0.1 charity hour.
    let (_, hours) = send_json(buyer.get(app.url("/api/v1/me/charity-hours"))).await;
    assert_eq!(hours["total_hours"], "0.1", "{hours}");
    assert_eq!(hours["history"][0]["order_no"], no);
}

/// Hundreds of random orders (thousands of entries), paid, cancelled and partly refunded, some
/// at once: every campaign's credit equals its paid lines less refunds, to the fen; the chain
/// verifies, a kept checkpoint stays valid, and one edited row is caught exactly there.
#[actix_web::test]
async fn random_orders_and_refunds_keep_credits_exact_and_the_chain_verifiable() {
    let app = spawn_app().await;
    exec(&mut app.conn(), "UPDATE skus SET stock = 1000000");
    let admin = app.client_for("admin@example.com").await;
    for email in ["employee@example.com", "buyer@example.com"] {
        let grant = json!({"email": email, "points": 50_000_000, "reason": "test", "expires_at": "2099-12-31"});
        let (status, answer) = send_json(admin.post(app.url("/api/v1/admin/points/grants")).json(&grant)).await;
        assert_eq!(status, 201, "{answer}");
    }
    let buyers = [app.client_for("employee@example.com").await, app.client_for("buyer@example.com").await];
    let (dragon, year_round) = (app.campaign("dragon-boat-2027"), app.campaign("year-round"));
    let sku_ids = |campaign: i64| -> Vec<i64> {
        let n = scalar(
            &mut app.conn(),
            &format!("SELECT COUNT(*) AS n FROM skus s JOIN campaign_products cp ON cp.product_id = s.product_id WHERE cp.campaign_id = {campaign}"),
        );
        (0..n)
            .map(|i| {
                scalar(
                    &mut app.conn(),
                    &format!("SELECT s.id AS n FROM skus s JOIN campaign_products cp ON cp.product_id = s.product_id WHERE cp.campaign_id = {campaign} ORDER BY s.id LIMIT 1 OFFSET {i}"),
                )
            })
            .collect()
    };
    let catalog = [(dragon, sku_ids(dragon)), (year_round, sku_ids(year_round))];
    let mut rng = StdRng::seed_from_u64(20261123);
    let mut paid_orders = Vec::new();
    let mut checkpoint = None;
    for round in 0..40 {
        // Ten buyers' orders at once each round.
        let mut batch = Vec::new();
        for _ in 0..10 {
            let (campaign, skus) = &catalog[rng.gen_range(0..2)];
            let count = rng.gen_range(1..=5).min(skus.len());
            let mut chosen: Vec<i64> = Vec::new();
            while chosen.len() < count {
                let id = skus[rng.gen_range(0..skus.len())];
                if !chosen.contains(&id) {
                    chosen.push(id);
                }
            }
            let lines: Vec<Value> =
                chosen.iter().map(|id| json!({"sku_id": id, "quantity": rng.gen_range(1..=4)})).collect();
            let who = rng.gen_range(0..2);
            let points = if rng.gen_bool(0.5) { rng.gen_range(0..2000) } else { 0 };
            batch.push((who, body(json!(lines), points, *campaign), rng.gen_range(0..10)));
        }
        let placed =
            join_all(batch.iter().map(|(who, b, _)| send_json(buyers[*who].post(app.url("/api/v1/orders")).json(b))))
                .await;
        let mut to_pay = Vec::new();
        for ((who, _, fate), (status, order)) in batch.iter().zip(placed) {
            // A points share above a SKU's cap is refused; that is not this test's business.
            if status == 422 && order["error"]["code"] == "points_cap_exceeded" {
                continue;
            }
            assert_eq!(status, 201, "{order}");
            match fate {
                0 => {
                    let no = order["order_no"].as_str().unwrap_or_default();
                    if order["status"] == "pending_payment" {
                        let (s, _) =
                            send_json(buyers[*who].post(app.url(&format!("/api/v1/orders/{no}/cancel")))).await;
                        assert_eq!(s, 200);
                    }
                }
                _ => to_pay.push((*who, order)),
            }
        }
        join_all(to_pay.iter().map(|(who, order)| pay(&app, &buyers[*who], order))).await;
        for (who, order) in to_pay {
            if rng.gen_bool(0.3) {
                let line = &order["lines"][rng.gen_range(0..order["lines"].as_array().map_or(1, Vec::len))];
                let quantity = rng.gen_range(1..=line["quantity"].as_i64().unwrap_or(1));
                let no = order["order_no"].as_str().unwrap_or_default();
                let refund = json!({"lines": [{"line_id": line["id"], "quantity": quantity}], "reason": "坏果"});
                let (s, r) =
                    send_json(buyers[who].post(app.url(&format!("/api/v1/orders/{no}/refunds"))).json(&refund)).await;
                assert_eq!(s, 201, "{r}");
            }
            paid_orders.push(order);
        }
        if round == 20 {
            let v = verify(&app, "").await;
            assert_eq!(v["ok"], true, "{v}");
            checkpoint = Some((v["entries"].as_i64().unwrap_or(0), v["head"].as_str().unwrap_or_default().to_string()));
        }
    }

    let entries = scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM credit_entries");
    assert!(entries >= 1000, "thousands of entries expected, got {entries}");
    assert!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM credit_entries WHERE kind = 'sale_reversal'") > 20);
    for campaign in [dragon, year_round] {
        assert_eq!(ledger_credit(&app, campaign), expected_credit(&app, campaign), "campaign {campaign}");
        let (_, detail) = send_json(app.client.get(app.url(&format!("/api/v1/campaigns/{campaign}")))).await;
        assert_eq!(fen(&detail["credited_total"]), expected_credit(&app, campaign), "{detail}");
        let by = &detail["by_category"];
        assert_eq!(fen(&by["direct_purchase"]) + fen(&by["helped_sales"]), fen(&detail["credited_total"]));
    }
    // Every paid line has exactly one sale entry; unpaid ones none.
    assert_eq!(
        scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM credit_entries WHERE kind = 'sale'"),
        scalar(
            &mut app.conn(),
            "SELECT COUNT(*) AS n FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.paid_at IS NOT NULL"
        ),
    );
    // The charity item pledges ¥1 a unit sold, less what was refunded.
    assert_eq!(
        scalar(&mut app.conn(), "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM credit_entries WHERE kind IN ('charity', 'charity_reversal')"),
        scalar(&mut app.conn(), "SELECT CAST(COALESCE(SUM((l.quantity - l.refunded_quantity) * 100), 0) AS BIGINT) AS n FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN skus s ON s.id = l.sku_id WHERE o.paid_at IS NOT NULL AND s.code = 'GY-QUINOA-GIFT-2KG'"),
    );

    let v = verify(&app, "").await;
    assert_eq!((v["ok"].as_bool(), v["entries"].as_i64()), (Some(true), Some(entries)), "{v}");
    let (old_entries, old_head) = checkpoint.unwrap_or_default();
    let grown = verify(&app, &format!("?entries={old_entries}&head={old_head}")).await;
    assert_eq!(grown["extends_checkpoint"], true, "{grown}");
    let (ok, out) = run_cli(&app, &["ledger", "verify"]);
    assert!(ok && out.contains("ledger verifies"), "{out}");

    // Edit one row in the middle: verification stops at exactly that row.
    let victim = entries / 2;
    tamper(&app, victim);
    let v = verify(&app, "").await;
    assert_eq!((v["ok"].as_bool(), v["first_bad"].as_i64()), (Some(false), Some(victim)), "{v}");
    assert_eq!(v["entries"].as_i64(), Some(victim - 1));
    let (ok, out) = run_cli(&app, &["ledger", "verify"]);
    assert!(!ok && out.contains(&format!("at entry {victim}")), "{out}");
    if old_entries >= victim {
        let again = verify(&app, &format!("?entries={old_entries}&head={old_head}")).await;
        assert_eq!(again["ok"], false);
    }
}

#[actix_web::test]
async fn the_ledger_refuses_updates_and_deletes() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let order = place(
        &app,
        &buyer,
        &body(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}]), 0, app.campaign("year-round")),
    )
    .await;
    pay(&app, &buyer, &order).await;
    let mut conn = app.conn();
    use diesel::connection::SimpleConnection;
    assert!(conn.batch_execute("UPDATE credit_entries SET amount_fen = 1").is_err());
    assert!(conn.batch_execute("DELETE FROM credit_entries").is_err());
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) AS n FROM credit_entries WHERE amount_fen = 3990"), 1);
}

#[actix_web::test]
async fn checkpoints_are_signed_and_published() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let order = place(
        &app,
        &buyer,
        &body(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}]), 0, app.campaign("year-round")),
    )
    .await;
    pay(&app, &buyer, &order).await;
    let key = ed25519_dalek::SigningKey::from_bytes(&app.config.ledger_seed().expect("ledger key"));
    let now = chrono::Utc::now().naive_utc();
    let made = aidmart::credits::service::checkpoint(&mut app.conn(), &key, now).expect("checkpoint");
    assert!(made.is_some());
    // Nothing new: no second checkpoint for the same head.
    assert!(aidmart::credits::service::checkpoint(&mut app.conn(), &key, now).expect("checkpoint").is_none());
    let (status, published) = send_json(app.client.get(app.url("/api/v1/ledger/checkpoints"))).await;
    assert_eq!(status, 200);
    let c = &published["checkpoints"][0];
    assert_eq!(c["entries"], 1);
    let public = hex::decode(published["public_key"].as_str().unwrap_or_default()).unwrap_or_default();
    let public = ed25519_dalek::VerifyingKey::from_bytes(&public.try_into().unwrap_or([0; 32])).expect("public key");
    let signature = hex::decode(c["signature"].as_str().unwrap_or_default()).unwrap_or_default();
    let signature = ed25519_dalek::Signature::from_slice(&signature).expect("signature");
    use ed25519_dalek::Verifier;
    assert!(public.verify(c["message"].as_str().unwrap_or_default().as_bytes(), &signature).is_ok());
    assert!(c["message"].as_str().unwrap_or_default().contains(c["head"].as_str().unwrap_or("?")));
    let v = verify(&app, &format!("?entries=1&head={}", c["head"].as_str().unwrap_or_default())).await;
    assert_eq!((v["ok"].as_bool(), v["extends_checkpoint"].as_bool()), (Some(true), Some(true)), "{v}");
    let (status, _) = send_json(app.client.get(app.url("/api/v1/ledger/verify?entries=1"))).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn donations_take_multiples_of_fifty_points_up_to_the_balance() {
    let app = spawn_app().await;
    let employee = app.client_for("employee@example.com").await;
    let (_, projects) = send_json(app.client.get(app.url("/api/v1/donation-projects"))).await;
    let project = projects["items"][0]["id"].as_i64().expect("a seeded project");
    let donate = |points: i64| json!({"project_id": project, "points": points});
    for points in [0, 49, 75, -50] {
        let (status, answer) = send_json(employee.post(app.url("/api/v1/donations")).json(&donate(points))).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("invalid_donation")), "{points}: {answer}");
    }
    let (status, answer) = send_json(employee.post(app.url("/api/v1/donations")).json(&donate(5050))).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("insufficient_points")), "{answer}");
    let (status, answer) = send_json(app.client.post(app.url("/api/v1/donations")).json(&donate(50))).await;
    assert_eq!(status, 401, "{answer}");
    let (status, answer) =
        send_json(employee.post(app.url("/api/v1/donations")).json(&json!({"project_id": 999_999, "points": 50})))
            .await;
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("unknown_project")));
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM donations"), 0);

    let (status, answer) = send_json(employee.post(app.url("/api/v1/donations")).json(&donate(150))).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!((answer["value"].as_str(), answer["points"].as_i64()), (Some("1.50"), Some(150)));
    let (_, me) = send_json(employee.get(app.url("/api/v1/me"))).await;
    assert_eq!(me["points_balance"], 4850);
    let seq = answer["ledger_seq"].as_i64().unwrap_or(0);
    let (_, entry) = send_json(app.client.get(app.url(&format!("/api/v1/ledger/{seq}")))).await;
    assert_eq!((entry["kind"].as_str(), entry["amount"].as_str()), (Some("donation"), Some("1.50")), "{entry}");
    assert_eq!(entry["project_id"].as_i64(), Some(project));
    let (_, hours) = send_json(employee.get(app.url("/api/v1/me/charity-hours"))).await;
    assert_eq!(hours["total_hours"], "0.1");
    // The project page shows it, by the donor's province.
    let html =
        app.client.get(app.url("/donate/love-library")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains("¥1.50") && html.contains("北京"), "{html}");
}

#[actix_web::test]
async fn each_milestone_fires_once_even_under_concurrent_donations() {
    let app = spawn_app().await;
    // A milestone every ¥10 (1,000 points) so that 5,000 points cross five of them.
    exec(&mut app.conn(), "UPDATE donation_projects SET milestone_fen = 1000");
    let admin = app.client_for("admin@example.com").await;
    let grant = json!({"email": "buyer@example.com", "points": 5000, "reason": "test", "expires_at": "2099-12-31"});
    let (status, _) = send_json(admin.post(app.url("/api/v1/admin/points/grants")).json(&grant)).await;
    assert_eq!(status, 201);
    let donors = [app.client_for("employee@example.com").await, app.client_for("buyer@example.com").await];
    let project = scalar(&mut app.conn(), "SELECT id AS n FROM donation_projects WHERE slug = 'love-library'");
    let calls = (0..40).map(|i| {
        let req = donors[i % 2].post(app.url("/api/v1/donations")).json(&json!({"project_id": project, "points": 250}));
        send_json(req)
    });
    let answers = join_all(calls).await;
    assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");
    let crossed: Vec<i64> = answers
        .iter()
        .flat_map(|(_, a)| a["milestones_crossed"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m.as_i64())
        .collect();
    let mut sorted = crossed.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=10).collect::<Vec<i64>>(), "{crossed:?}");
    let mut conn = app.conn();
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) AS n FROM donation_milestones"), 10);
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) AS n FROM outbox WHERE template = 'donation_milestone'"), 10);
    assert_eq!(scalar(&mut conn, "SELECT CAST(SUM(value_fen) AS BIGINT) AS n FROM donations"), 10_000);
    let v = verify(&app, "").await;
    assert_eq!((v["ok"].as_bool(), v["entries"].as_i64()), (Some(true), Some(40)), "{v}");
}

#[actix_web::test]
async fn dashboards_and_reports_show_the_credits() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let order = place(
        &app,
        &buyer,
        &body(json!([{"sku_id": app.sku("GY-ZONGZI-8"), "quantity": 2}]), 0, app.campaign("dragon-boat-2027")),
    )
    .await;
    pay(&app, &buyer, &order).await;
    let html = app
        .client
        .get(app.url("/campaigns/dragon-boat-2027"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .unwrap_or_default();
    assert!(html.contains("data-testid=\"credited-total\">¥110.00"), "{html}");
    assert!(html.matches("<svg").count() >= 6, "charts are server-rendered SVG");
    assert!(html.contains("沽源县"));
    let csv = app.client.get(app.url("/reports/credits.csv?from=2026-01-01&to=2027-12-31")).send().await.expect("csv");
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap_or_default();
    assert!(text.contains("公众,Public,端午消费帮扶 · 走进联帮集团") && text.contains(",0.00,110.00,110.00"), "{text}");
    let xlsx = app.client.get(app.url("/reports/credits.xlsx?from=2026-01-01")).send().await.expect("xlsx");
    assert_eq!(xlsx.status(), 200);
    assert!(xlsx.bytes().await.unwrap_or_default().starts_with(b"PK"), "an XLSX is a zip file");
    let bad = app.client.get(app.url("/reports/credits.csv?from=yesterday")).send().await.expect("bad");
    assert_eq!(bad.status(), 400);
    let missing = app.client.get(app.url("/campaigns/no-such-campaign")).send().await.expect("404");
    assert_eq!(missing.status(), 404);
}
