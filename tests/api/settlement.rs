//! Settlement with the cooperatives: the earnings ledger adds up for every producer, to the
//! fen, after random orders, partial refunds, completions, settlement runs and payouts; runs are
//! idempotent per producer and period, also when two run at once.

use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use aidmart::aftersales::service::Windows;

use crate::helpers::{error_code, exec, scalar, send_json, spawn_app, TestApp};

pub(crate) fn address() -> Value {
    json!({"name": "王芳", "mobile": "13900139000", "province": "河北省", "city": "张家口市", "district": "沽源县", "detail": "平定堡镇 1 号"})
}

pub(crate) fn fen(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or("x");
    let (whole, frac) = s.split_once('.').unwrap_or((s, "00"));
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    whole.parse::<i64>().unwrap_or(-999_999) * 100 + sign * frac.parse::<i64>().unwrap_or(-99)
}

pub(crate) fn ids(app: &TestApp, sql: &str) -> Vec<i64> {
    let n = scalar(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM ({sql}) q"));
    (0..n).map(|i| scalar(&mut app.conn(), &format!("SELECT n FROM ({sql}) q ORDER BY n LIMIT 1 OFFSET {i}"))).collect()
}

/// Every producer gets an account; even producers pay the platform 2.5%.
pub(crate) fn set_fee_rates(app: &TestApp) {
    exec(
        &mut app.conn(),
        "INSERT INTO earnings_accounts (producer_id) SELECT id FROM producers WHERE id NOT IN (SELECT producer_id FROM earnings_accounts); \
         UPDATE earnings_accounts SET fee_bps = 250 WHERE producer_id % 2 = 0",
    );
}

/// The invariants, for every producer:
/// - pending + available + in payout + paid out + fees = value of paid lines − refunds (the
///   credit ledger's sales less reversals, and the order lines' own figures);
/// - the account's cached balances are the sums of its entries;
/// - a line refunded in full keeps no fee and no earning;
/// - an unrefunded line's fees are exactly its rates.
pub(crate) fn check_invariants(app: &TestApp, channel_bps: i64) {
    let producers = ids(app, "SELECT id AS n FROM producers");
    let mut c = app.conn();
    for p in producers {
        let sum = |c: &mut aidmart::db::AnyConnection, col: &str| {
            scalar(
                c,
                &format!(
                    "SELECT CAST(COALESCE(SUM({col}), 0) AS BIGINT) AS n FROM earnings_entries WHERE producer_id = {p}"
                ),
            )
        };
        let buckets = ["pending_fen", "available_fen", "in_payout_fen", "paid_out_fen", "fees_fen"];
        let total: i64 = buckets.iter().map(|b| sum(&mut c, b)).sum();
        let credited = scalar(
            &mut c,
            &format!("SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM credit_entries WHERE producer_id = {p} AND kind IN ('sale', 'sale_reversal')"),
        );
        let lines = scalar(
            &mut c,
            &format!("SELECT CAST(COALESCE(SUM(l.line_total_fen), 0) AS BIGINT) AS n FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.paid_at IS NOT NULL AND l.producer_id = {p}"),
        );
        let refunded = scalar(
            &mut c,
            &format!("SELECT CAST(COALESCE(SUM(rl.cash_fen + rl.points), 0) AS BIGINT) AS n FROM refund_lines rl JOIN order_lines l ON l.id = rl.order_line_id WHERE l.producer_id = {p}"),
        );
        assert_eq!(total, credited, "producer {p}: buckets vs credit ledger");
        assert_eq!(total, lines - refunded, "producer {p}: buckets vs paid lines − refunds");
        for b in buckets {
            let cached = scalar(
                &mut c,
                &format!(
                    "SELECT CAST(COALESCE(SUM({b}), 0) AS BIGINT) AS n FROM earnings_accounts WHERE producer_id = {p}"
                ),
            );
            assert_eq!(cached, sum(&mut c, b), "producer {p}: cached {b}");
        }
        assert!(sum(&mut c, "in_payout_fen") >= 0 && sum(&mut c, "paid_out_fen") >= 0, "producer {p}");
    }
    // Fully refunded lines: nothing earned, no fee kept.
    assert_eq!(
        scalar(
            &mut c,
            "SELECT COUNT(*) AS n FROM (SELECT e.order_line_id FROM earnings_entries e JOIN order_lines l ON l.id = e.order_line_id \
             WHERE l.refunded_quantity = l.quantity GROUP BY e.order_line_id \
             HAVING SUM(e.fees_fen) <> 0 OR SUM(e.pending_fen + e.available_fen + e.in_payout_fen + e.paid_out_fen) <> 0) q"
        ),
        0
    );
    // Unrefunded lines: the platform's rate fixed at placing and the channel's on the cash part
    // (half to even; with integer fen and a 10000 divisor ties are rare and counted alike).
    let wrong = scalar(
        &mut c,
        &format!(
            "SELECT COUNT(*) AS n FROM (SELECT e.order_line_id, SUM(e.fees_fen) AS fees, MAX(l.line_total_fen) AS v, MAX(l.cash_fen) AS cash, MAX(t.fee_bps) AS bps \
             FROM earnings_entries e JOIN order_lines l ON l.id = e.order_line_id JOIN settlement_line_terms t ON t.order_line_id = l.id \
             WHERE l.refunded_quantity = 0 GROUP BY e.order_line_id) q \
             WHERE ABS(q.fees * 10000 - (q.v * q.bps + q.cash * {channel_bps})) > 10000"
        ),
    );
    assert_eq!(wrong, 0, "lines whose fees are not their rates");
}

pub(crate) async fn grant(app: &TestApp, email: &str, points: i64) {
    let admin = app.client_for("admin@example.com").await;
    let grant = json!({"email": email, "points": points, "reason": "test", "expires_at": "2099-12-31"});
    let (status, answer) = send_json(admin.post(app.url("/api/v1/admin/points/grants")).json(&grant)).await;
    assert_eq!(status, 201, "{answer}");
}

/// Places and pays `n` random orders (some with points) and returns them.
pub(crate) async fn random_orders(
    app: &TestApp,
    buyer: &reqwest::Client,
    rng: &mut StdRng,
    skus: &[i64],
    n: usize,
    with_points: bool,
) -> Vec<Value> {
    let year_round = app.campaign("year-round");
    let mut bodies = Vec::new();
    for _ in 0..n {
        let count = rng.gen_range(1..=3).min(skus.len());
        let mut chosen: Vec<i64> = Vec::new();
        while chosen.len() < count {
            let id = skus[rng.gen_range(0..skus.len())];
            if !chosen.contains(&id) {
                chosen.push(id);
            }
        }
        let lines: Vec<Value> =
            chosen.iter().map(|id| json!({"sku_id": id, "quantity": rng.gen_range(1..=4)})).collect();
        let points = if with_points && rng.gen_bool(0.5) { rng.gen_range(0..1500) } else { 0 };
        bodies.push(json!({"lines": lines, "points": points, "campaign_id": year_round, "address": address(), "account": "personal"}));
    }
    let placed = join_all(bodies.iter().map(|b| send_json(buyer.post(app.url("/api/v1/orders")).json(b)))).await;
    let mut orders = Vec::new();
    for (status, order) in placed {
        if status == 422 && order["error"]["code"] == "points_cap_exceeded" {
            continue;
        }
        assert_eq!(status, 201, "{order}");
        if let Some(id) = order["payment_id"].as_str() {
            let (s, done) = send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{id}/complete")))).await;
            assert_eq!(s, 200, "{done}");
        }
        orders.push(order);
    }
    orders
}

/// Refunds a random share of the orders, a random line and quantity each, as a platform admin
/// does (shipped and completed orders too: a buyer's own refund stops at shipping).
pub(crate) async fn refund_some(
    app: &TestApp,
    buyer: &reqwest::Client,
    rng: &mut StdRng,
    orders: &[Value],
    share: f64,
) -> usize {
    let admin = app.client_for("admin@example.com").await;
    let mut done = 0;
    for order in orders {
        if !rng.gen_bool(share) {
            continue;
        }
        let no = order["order_no"].as_str().unwrap_or_default();
        let (_, now) = send_json(buyer.get(app.url(&format!("/api/v1/orders/{no}")))).await;
        let lines: Vec<&Value> = now["lines"]
            .as_array()
            .map(|l| l.iter().filter(|l| l["quantity"].as_i64() > l["refunded_quantity"].as_i64()).collect())
            .unwrap_or_default();
        if lines.is_empty() {
            continue;
        }
        let line = lines[rng.gen_range(0..lines.len())];
        let left = line["quantity"].as_i64().unwrap_or(1) - line["refunded_quantity"].as_i64().unwrap_or(0);
        let quantity = if rng.gen_bool(0.3) { left } else { rng.gen_range(1..=left) };
        let refund = json!({"lines": [{"line_id": line["id"], "quantity": quantity}], "reason": "坏果"});
        let (s, r) = send_json(admin.post(app.url(&format!("/api/v1/admin/orders/{no}/refunds"))).json(&refund)).await;
        assert_eq!(s, 201, "{r}");
        done += 1;
    }
    done
}

/// Completes a random share of the paid orders not yet shipped through the order lifecycle:
/// each cooperative ships its part, the parcels are received (the auto-receive job), and the
/// completion job closes them after the after-sales window (here none), which announces
/// `Completed`: the settlement hook makes those lines' earnings available.
pub(crate) fn complete_some(app: &TestApp, rng: &mut StdRng, share: f64) -> usize {
    let candidates = ids(
        app,
        "SELECT o.id AS n FROM orders o WHERE o.status IN ('paid', 'partially_refunded') \
         AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = o.id)",
    );
    let shipper = scalar(&mut app.conn(), "SELECT id AS n FROM users WHERE email = 'coop@example.com'");
    let settings = app.settings();
    // Shipped, received and completed a few seconds ago, so a run for today includes them.
    let now = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(3);
    let mut chosen = 0;
    let mut conn = app.conn();
    for order in candidates {
        if !rng.gen_bool(share) {
            continue;
        }
        chosen += 1;
        let no = aidmart::orders::model::order_by_id(&mut conn, order).expect("order").order_no;
        for producer in ids(app, &format!("SELECT DISTINCT producer_id AS n FROM order_lines WHERE order_id = {order} AND quantity > refunded_quantity")) {
            let m = aidmart::coop::service::Manager { user_id: shipper, producers: vec![producer] };
            let request = aidmart::coop::service::ShipRequest {
                order_no: no.clone(),
                producer_id: None,
                recipient_id: None,
                carrier: "顺丰速运".into(),
                tracking_no: format!("SF{}", 100_000_000_000 + order * 100 + producer),
                after_sales_id: None,
            };
            aidmart::coop::service::ship(&mut conn, &m, &request, &settings, now).expect("ship");
        }
    }
    let none = Windows {
        auto_receive: chrono::Duration::zero(),
        after_sales: chrono::Duration::zero(),
        reply: chrono::Duration::hours(48),
    };
    let later = now + chrono::Duration::seconds(1);
    aidmart::aftersales::delivery::auto_receive_due(&mut conn, &settings, none, later).expect("receive");
    let completed =
        aidmart::aftersales::delivery::complete_due(&mut conn, &settings, none, later + chrono::Duration::seconds(1))
            .expect("complete");
    assert!(completed >= chosen, "every order shipped here completes ({completed} < {chosen})");
    completed
}

pub(crate) fn today(app: &TestApp) -> String {
    let now = chrono::Utc::now().naive_utc();
    aidmart::web::time::local_date(app.config.timezone, now).to_string()
}

#[actix_web::test]
async fn earnings_add_up_for_every_producer_after_random_orders_refunds_and_settlements() {
    let app = spawn_app().await;
    exec(&mut app.conn(), "UPDATE skus SET stock = 1000000");
    set_fee_rates(&app);
    grant(&app, "employee@example.com", 50_000_000).await;
    let buyer = app.client_for("employee@example.com").await;
    let year_round = app.campaign("year-round");
    let skus = ids(
        &app,
        &format!("SELECT s.id AS n FROM skus s JOIN campaign_products cp ON cp.product_id = s.product_id WHERE cp.campaign_id = {year_round}"),
    );
    let mut rng = StdRng::seed_from_u64(20261126);
    let mut all = Vec::new();
    let mut periods = 0;
    for round in 0..12 {
        let orders = random_orders(&app, &buyer, &mut rng, &skus, 10, true).await;
        all.extend(orders);
        // Refunds before completion (off pending), then complete some orders (their earnings
        // become available), then refunds again (off available, or clawbacks once a statement
        // moved the money into a payout).
        refund_some(&app, &buyer, &mut rng, &all, 0.15).await;
        check_invariants(&app, 60);
        complete_some(&app, &mut rng, 0.5);
        check_invariants(&app, 60);
        refund_some(&app, &buyer, &mut rng, &all, 0.1).await;
        check_invariants(&app, 60);
        if round % 4 == 3 {
            // One run a "period": each closes a later day, as the weekly job would (run as of
            // that day, which lies ahead of the real clock).
            periods += 1;
            let later = chrono::Utc::now().naive_utc() + chrono::Duration::days(periods);
            let day = aidmart::web::time::local_date(app.config.timezone, later);
            let mut conn = app.conn();
            let made =
                aidmart::settlement::service::run_period(&mut conn, app.config.timezone, day, later).expect("run");
            assert!(!made.is_empty());
            let again =
                aidmart::settlement::service::run_period(&mut conn, app.config.timezone, day, later).expect("run");
            assert!(again.is_empty());
            check_invariants(&app, 60);
            // The demo cooperative confirms its open statements (a fresh session: an idle
            // keep-alive connection may have been closed by the server meanwhile).
            let coop = app.client_for("coop@example.com").await;
            let (_, mine) = send_json(coop.get(app.url("/api/v1/coop/statements"))).await;
            for st in mine.as_array().cloned().unwrap_or_default() {
                if st["status"] == "open" {
                    let (s, v) =
                        send_json(coop.post(app.url(&format!("/api/v1/coop/statements/{}/confirm", st["id"])))).await;
                    assert_eq!(s, 200, "{v}");
                }
            }
            check_invariants(&app, 60);
        }
    }
    assert!(periods >= 3);
    let c = &mut app.conn();
    assert!(scalar(c, "SELECT COUNT(*) AS n FROM earnings_entries WHERE kind = 'refund'") > 10);
    assert!(scalar(c, "SELECT COUNT(*) AS n FROM earnings_entries WHERE kind = 'clawback'") > 0);
    assert!(scalar(c, "SELECT COUNT(*) AS n FROM earnings_entries WHERE kind = 'platform_fee_reversal'") > 0);
    assert!(scalar(c, "SELECT COUNT(*) AS n FROM earnings_entries WHERE kind = 'channel_fee_reversal'") > 0);
    assert!(scalar(c, "SELECT COUNT(*) AS n FROM settlement_statements") >= 6);
    // Every statement: closing = opening + what its lines made available (before the hold),
    // each statement opens with the previous one's carry, and the payable is never more than
    // the closing balance.
    for p in ids(&app, "SELECT DISTINCT producer_id AS n FROM settlement_statements") {
        let mut carry = 0;
        for s in ids(&app, &format!("SELECT id AS n FROM settlement_statements WHERE producer_id = {p}")) {
            let opening = scalar(c, &format!("SELECT opening_fen AS n FROM settlement_statements WHERE id = {s}"));
            let closing = scalar(c, &format!("SELECT closing_fen AS n FROM settlement_statements WHERE id = {s}"));
            let payable = scalar(c, &format!("SELECT payable_fen AS n FROM settlement_statements WHERE id = {s}"));
            let moved = scalar(
                c,
                &format!("SELECT CAST(COALESCE(SUM(e.available_fen), 0) AS BIGINT) AS n FROM statement_lines sl JOIN earnings_entries e ON e.id = sl.entry_id WHERE sl.statement_id = {s} AND e.kind <> 'payout_hold'"),
            );
            assert_eq!(opening, carry, "statement {s}");
            assert_eq!(closing, opening + moved, "statement {s}");
            assert!(payable >= 0 && payable <= closing.max(0), "statement {s}");
            carry = closing - payable;
        }
    }
    // The earnings API says what the ledger says.
    let coop = app.client_for("coop@example.com").await;
    let producer = scalar(c, "SELECT id AS n FROM producers WHERE code = 'guyuan-quinoa-coop'");
    let (s, e) = send_json(coop.get(app.url("/api/v1/coop/earnings"))).await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(e["producer_id"].as_i64(), Some(producer));
    let mut acct =
        |col: &str| scalar(c, &format!("SELECT {col} AS n FROM earnings_accounts WHERE producer_id = {producer}"));
    assert_eq!(fen(&e["pending"]), acct("pending_fen"));
    assert_eq!(fen(&e["available"]), acct("available_fen"));
    assert_eq!(fen(&e["paid_out"]), acct("paid_out_fen"));
    assert_eq!(fen(&e["balance"]), acct("pending_fen + available_fen + in_payout_fen"));
}

#[actix_web::test]
async fn a_settlement_run_makes_one_statement_per_producer_and_period_even_when_two_run_at_once() {
    let app = spawn_app().await;
    exec(&mut app.conn(), "UPDATE skus SET stock = 1000000");
    let buyer = app.client_for("buyer@example.com").await;
    let admin = app.client_for("admin@example.com").await;
    let coop = app.client_for("coop@example.com").await;
    let year_round = app.campaign("year-round");
    let skus = ids(
        &app,
        &format!("SELECT s.id AS n FROM skus s JOIN campaign_products cp ON cp.product_id = s.product_id WHERE cp.campaign_id = {year_round}"),
    );
    let mut rng = StdRng::seed_from_u64(7);
    let orders = random_orders(&app, &buyer, &mut rng, &skus, 12, false).await;
    assert!(!orders.is_empty());
    complete_some(&app, &mut rng, 1.0);
    let producers = scalar(&mut app.conn(), "SELECT COUNT(DISTINCT producer_id) AS n FROM earnings_entries");

    // Not a future day; not a date at all.
    let (s, v) =
        send_json(admin.post(app.url("/api/v1/admin/settlements/run")).json(&json!({"period_end": "2099-01-01"})))
            .await;
    assert_eq!((s, error_code(&v)), (400, "invalid_period"), "{v}");
    let (s, _) =
        send_json(admin.post(app.url("/api/v1/admin/settlements/run")).json(&json!({"period_end": "tomorrow"}))).await;
    assert_eq!(s, 400);
    let (s, _) =
        send_json(coop.post(app.url("/api/v1/admin/settlements/run")).json(&json!({"period_end": today(&app)}))).await;
    assert_eq!(s, 403);

    let body = json!({"period_end": today(&app)});
    let runs =
        join_all((0..2).map(|_| send_json(admin.post(app.url("/api/v1/admin/settlements/run")).json(&body)))).await;
    let mut made = 0;
    for (s, v) in &runs {
        assert_eq!(*s, 200, "{v}");
        made += v.as_array().map_or(0, Vec::len) as i64;
    }
    assert_eq!(made, producers, "{runs:?}");
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM settlement_statements"), producers);
    let (s, again) = send_json(admin.post(app.url("/api/v1/admin/settlements/run")).json(&body)).await;
    assert_eq!((s, again.as_array().map(Vec::len)), (200, Some(0)), "{again}");
    // Every entry made so far is on exactly one statement.
    assert_eq!(
        scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM statement_lines"),
        scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM earnings_entries")
    );

    // The cooperative sees its own statement with its lines, as JSON, CSV and XLSX.
    let (s, list) = send_json(coop.get(app.url("/api/v1/coop/statements"))).await;
    assert_eq!(s, 200, "{list}");
    let mine = list.as_array().cloned().unwrap_or_default();
    assert_eq!(mine.len(), 1, "{list}");
    let st = &mine[0];
    let id = st["id"].as_i64().unwrap_or(0);
    let (s, detail) = send_json(coop.get(app.url(&format!("/api/v1/coop/statements/{id}")))).await;
    assert_eq!(s, 200, "{detail}");
    let lines = detail["lines"].as_array().cloned().unwrap_or_default();
    assert!(lines.iter().any(|l| l["kind"] == "earning" && l["order_no"].is_string()), "{detail}");
    let earned: i64 = lines.iter().filter(|l| l["kind"] == "available").map(|l| fen(&l["amount"])).sum();
    assert_eq!(fen(&detail["closing"]), earned);
    assert_eq!(fen(&detail["payable"]), earned.max(0));
    let csv = coop.get(app.url(&format!("/api/v1/coop/statements/{id}?format=csv"))).send().await.expect("csv");
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap_or("").starts_with("text/csv"));
    let text = csv.text().await.unwrap_or_default();
    assert!(
        text.contains("earning") && text.contains(&detail["payable"].as_str().unwrap_or("?").to_string()),
        "{text}"
    );
    let xlsx = coop.get(app.url(&format!("/api/v1/coop/statements/{id}?format=xlsx"))).send().await.expect("xlsx");
    assert_eq!(xlsx.status(), 200);
    assert!(xlsx.bytes().await.map(|b| b.starts_with(b"PK")).unwrap_or(false));
    let (s, v) = send_json(coop.get(app.url(&format!("/api/v1/coop/statements/{id}?format=pdf")))).await;
    assert_eq!((s, error_code(&v)), (400, "invalid_format"));

    // Another cooperative's statement is not found; so are its earnings.
    let other = scalar(
        &mut app.conn(),
        &format!("SELECT id AS n FROM settlement_statements WHERE id <> {id} ORDER BY id LIMIT 1"),
    );
    let (s, _) = send_json(coop.get(app.url(&format!("/api/v1/coop/statements/{other}")))).await;
    assert_eq!(s, 404);
    let (s, _) = send_json(coop.post(app.url(&format!("/api/v1/coop/statements/{other}/confirm")))).await;
    assert_eq!(s, 404);
    let other_producer =
        scalar(&mut app.conn(), &format!("SELECT producer_id AS n FROM settlement_statements WHERE id = {other}"));
    let (s, _) = send_json(coop.get(app.url(&format!("/api/v1/coop/earnings?producer_id={other_producer}")))).await;
    assert_eq!(s, 404);
    let (s, _) = send_json(buyer.get(app.url("/api/v1/coop/earnings"))).await;
    assert_eq!(s, 403);

    // A dispute needs a note; confirm and dispute each happen once.
    let (s, v) =
        send_json(coop.post(app.url(&format!("/api/v1/coop/statements/{id}/dispute"))).json(&json!({"note": "  "})))
            .await;
    assert_eq!((s, error_code(&v)), (400, "invalid_note"));
    let both =
        join_all((0..2).map(|_| send_json(coop.post(app.url(&format!("/api/v1/coop/statements/{id}/confirm")))))).await;
    let oks = both.iter().filter(|(s, _)| *s == 200).count();
    let conflicts = both.iter().filter(|(s, v)| *s == 409 && error_code(v) == "invalid_state").count();
    assert_eq!((oks, conflicts), (1, 1), "{both:?}");
    let (s, v) = send_json(
        coop.post(app.url(&format!("/api/v1/coop/statements/{id}/dispute"))).json(&json!({"note": "金额不对"})),
    )
    .await;
    assert_eq!((s, error_code(&v)), (409, "invalid_state"));
    let (_, after) = send_json(coop.get(app.url(&format!("/api/v1/coop/statements/{id}")))).await;
    assert_eq!(after["status"], "confirmed");
    if fen(&after["payable"]) > 0 {
        assert_eq!(after["payout_status"], "queued", "{after}");
        assert_eq!(scalar(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM payouts WHERE statement_id = {id}")), 1);
    }
    check_invariants(&app, 60);
}

#[actix_web::test]
async fn earnings_become_available_once_the_order_completes() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let coop = app.client_for("coop@example.com").await;
    let sku = app.sku("GY-QUINOA-1KG");
    let body = json!({"lines": [{"sku_id": sku, "quantity": 2}], "points": 0, "campaign_id": app.campaign("year-round"), "address": address(), "account": "personal"});
    let order = {
        let (s, order) = send_json(buyer.post(app.url("/api/v1/orders")).json(&body)).await;
        assert_eq!(s, 201, "{order}");
        let id = order["payment_id"].as_str().unwrap_or_default();
        let (s, _) = send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{id}/complete")))).await;
        assert_eq!(s, 200);
        order
    };
    let no = order["order_no"].as_str().unwrap_or_default();
    let total = fen(&order["total"]);
    let channel = aidmart::settlement::service::share(total, 60, 10_000);
    let earnings = || async {
        let (_, e) = send_json(coop.get(app.url("/api/v1/coop/earnings"))).await;
        (fen(&e["pending"]), fen(&e["available"]), fen(&e["fees"]))
    };
    assert_eq!(earnings().await, (total - channel, 0, channel));

    let windows = Windows {
        auto_receive: chrono::Duration::days(10),
        after_sales: chrono::Duration::days(7),
        reply: chrono::Duration::hours(48),
    };
    let complete = |at: chrono::NaiveDateTime| {
        aidmart::aftersales::delivery::complete_due(&mut app.conn(), &app.settings(), windows, at).expect("job")
    };
    let now = chrono::Utc::now().naive_utc();
    // Shipped, not received: nothing completes, however late; the money stays pending.
    let ship = json!({"order_no": no, "carrier": "顺丰速运", "tracking_no": "SF123456789012"});
    let (s, v) = send_json(coop.post(app.url("/api/v1/coop/shipments")).json(&ship)).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(complete(now + chrono::Duration::days(9)), 0);
    assert_eq!(earnings().await, (total - channel, 0, channel));
    // Received: still pending while the after-sales window is open.
    let (_, view) = send_json(buyer.get(app.url(&format!("/api/v1/orders/{no}")))).await;
    let part = view["parts"][0]["id"].as_i64().unwrap_or(0);
    let (s, v) =
        send_json(buyer.post(app.url(&format!("/api/v1/orders/{no}/parts/{part}/receipt"))).json(&json!({}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(complete(now + chrono::Duration::days(6)), 0);
    assert_eq!(earnings().await, (total - channel, 0, channel));
    // The window closed with no case: the order completes, once, also with two jobs at once,
    // and its earning becomes available once.
    let later = now + chrono::Duration::days(8);
    let twins: Vec<_> = (0..2)
        .map(|_| {
            let (pool, settings) = (app.pool.clone(), app.settings());
            std::thread::spawn(move || {
                let mut c = pool.get().expect("conn");
                aidmart::aftersales::delivery::complete_due(&mut c, &settings, windows, later).expect("job")
            })
        })
        .collect();
    let completed: usize = twins.into_iter().map(|t| t.join().unwrap_or(99)).sum();
    assert_eq!(completed, 1);
    assert_eq!(earnings().await, (0, total - channel, channel));
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM earnings_entries WHERE kind = 'available'"), 1);
    let (_, view) = send_json(buyer.get(app.url(&format!("/api/v1/orders/{no}")))).await;
    assert_eq!(view["status"], "completed");
    check_invariants(&app, 60);
}

/// `python3 scripts/ledger.py verify URL`, off the runtime the server runs on.
async fn ledger_py(app: &TestApp) -> (bool, String) {
    let base = app.base.clone();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ledger.py");
    let out = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new("python3").args([script, "verify", &base]).output()
    })
    .await
    .expect("join")
    .expect("python3 runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[actix_web::test]
async fn payouts_move_money_once_and_are_posted_to_the_ledger_chain() {
    let app = spawn_app().await;
    exec(&mut app.conn(), "UPDATE skus SET stock = 1000000");
    let buyer = app.client_for("buyer@example.com").await;
    let admin = app.client_for("admin@example.com").await;
    let coop = app.client_for("coop@example.com").await;
    let year_round = app.campaign("year-round");
    let skus = ids(
        &app,
        &format!("SELECT s.id AS n FROM skus s JOIN campaign_products cp ON cp.product_id = s.product_id WHERE cp.campaign_id = {year_round}"),
    );
    let mut rng = StdRng::seed_from_u64(14);
    random_orders(&app, &buyer, &mut rng, &skus, 16, false).await;
    complete_some(&app, &mut rng, 1.0);
    let (s, made) =
        send_json(admin.post(app.url("/api/v1/admin/settlements/run")).json(&json!({"period_end": today(&app)}))).await;
    assert_eq!(s, 200, "{made}");
    let statements = made.as_array().cloned().unwrap_or_default();
    assert!(statements.len() >= 4, "{made}");
    // Every cooperative confirms (the demo one through the API, the others as their managers would).
    let coop_producer = scalar(&mut app.conn(), "SELECT id AS n FROM producers WHERE code = 'guyuan-quinoa-coop'");
    let now = chrono::Utc::now().naive_utc();
    for st in &statements {
        let (id, producer) = (st["id"].as_i64().unwrap_or(0), st["producer_id"].as_i64().unwrap_or(0));
        if producer == coop_producer {
            let (s, v) = send_json(coop.post(app.url(&format!("/api/v1/coop/statements/{id}/confirm")))).await;
            assert_eq!((s, &v["payout_status"]), (200, &json!("queued")), "{v}");
        } else {
            aidmart::settlement::service::decide(&mut app.conn(), &[producer], id, true, None, 1, now)
                .expect("confirm");
        }
    }
    check_invariants(&app, 60);

    let (s, queue) = send_json(admin.get(app.url("/api/v1/admin/payouts?status=queued"))).await;
    assert_eq!(s, 200, "{queue}");
    let queue = queue.as_array().cloned().unwrap_or_default();
    assert_eq!(queue.len(), statements.len());
    assert!(queue.iter().all(|p| p["account_no"].is_string() && p["held_until"].is_null()), "{queue:?}");
    let csv = admin.get(app.url("/api/v1/admin/payouts.csv")).send().await.expect("csv");
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap_or_default();
    for p in &queue {
        let row = format!(
            "{},{},{},{},",
            p["account_name"].as_str().unwrap_or("?"),
            p["bank"].as_str().unwrap_or("?"),
            p["account_no"].as_str().unwrap_or("?"),
            p["amount"].as_str().unwrap_or("?")
        );
        assert!(text.contains(&row), "{row} not in {text}");
    }
    for (who, path) in [(&coop, "/api/v1/admin/payouts"), (&buyer, "/api/v1/admin/payouts.csv")] {
        let (s, _) = send_json(who.get(app.url(path))).await;
        assert_eq!(s, 403);
    }
    let (s, v) = send_json(admin.get(app.url("/api/v1/admin/payouts?status=lost"))).await;
    assert_eq!((s, error_code(&v)), (400, "invalid_status"));

    // The demo cooperative changes its bank details: its payout is held for 24 hours, out of
    // the batch file, and every manager is told.
    let mine = queue.iter().find(|p| p["producer_id"].as_i64() == Some(coop_producer)).cloned().unwrap_or_default();
    let others: Vec<i64> = queue
        .iter()
        .filter(|p| p["producer_id"].as_i64() != Some(coop_producer))
        .filter_map(|p| p["id"].as_i64())
        .collect();
    let (s, v) = send_json(coop.put(app.url("/api/v1/coop/bank-account")).json(
        &json!({"account_name": "沽源县藜麦种植专业合作社", "bank": "中国银行", "account_no": "6217-ABCD-0000"}),
    ))
    .await;
    assert_eq!((s, error_code(&v)), (400, "invalid_bank_account"), "{v}");
    let change = json!({"account_name": "沽源县藜麦种植专业合作社", "bank": "中国银行张家口分行", "account_no": "6217 9000 0001 2345 678"});
    let (s, v) = send_json(coop.put(app.url("/api/v1/coop/bank-account")).json(&change)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["account_no"], "6217900000012345678");
    assert!(v["payouts_held_until"].is_string(), "{v}");
    assert_eq!(
        scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE template = 'bank_account_changed' AND recipient = 'coop@example.com'"),
        1
    );
    let mine_id = mine["id"].as_i64().unwrap_or(0);
    let (s, v) = send_json(
        admin.post(app.url(&format!("/api/v1/admin/payouts/{mine_id}/paid"))).json(&json!({"bank_reference": "R1"})),
    )
    .await;
    assert_eq!((s, error_code(&v)), (409, "payout_on_hold"), "{v}");
    let text =
        admin.get(app.url("/api/v1/admin/payouts.csv")).send().await.expect("csv").text().await.unwrap_or_default();
    assert!(!text.contains("6217900000012345678"), "{text}");
    // The same details again change nothing and mail nobody.
    let (s, _) = send_json(coop.put(app.url("/api/v1/coop/bank-account")).json(&change)).await;
    assert_eq!(s, 200);
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE template = 'bank_account_changed'"), 1);

    // Paid and failed at once: one wins, money moves once. Paid twice at once: once.
    let (a, b) = (others[0], others[1]);
    let paid = |id: i64, r: &str| {
        admin.post(app.url(&format!("/api/v1/admin/payouts/{id}/paid"))).json(&json!({"bank_reference": r}))
    };
    let failed = |id: i64| {
        admin
            .post(app.url(&format!("/api/v1/admin/payouts/{id}/failed")))
            .json(&json!({"reason": "账号不存在，银行退回"}))
    };
    let (x, y) = futures_util::join!(send_json(paid(a, "ABC20261126000123")), send_json(failed(a)));
    let wins = [&x, &y].iter().filter(|(s, _)| *s == 200).count();
    let conflicts = [&x, &y].iter().filter(|(s, v)| *s == 409 && error_code(v) == "invalid_state").count();
    assert_eq!((wins, conflicts), (1, 1), "{x:?} {y:?}");
    let both = join_all((0..3).map(|_| send_json(paid(b, "ABC20261126000124")))).await;
    assert!(both.iter().all(|(s, v)| *s == 200 && v["status"] == "paid"), "{both:?}");
    // Failing twice is one failure.
    for id in &others[2..] {
        let twice = join_all((0..2).map(|_| send_json(failed(*id)))).await;
        assert!(twice.iter().all(|(s, v)| *s == 200 && v["status"] == "failed"), "{twice:?}");
    }
    let (s, v) = send_json(paid(b, "  ")).await;
    assert_eq!((s, error_code(&v)), (400, "invalid_reference"));
    let (s, _) = send_json(paid(999_999, "X")).await;
    assert_eq!(s, 404);
    check_invariants(&app, 60);

    let c = &mut app.conn();
    assert_eq!(
        scalar(c, &format!("SELECT COUNT(*) AS n FROM earnings_entries WHERE kind = 'payout' AND payout_id = {b}")),
        1
    );
    // Paid out = the payouts marked paid = the ledger's payout entries, per producer.
    assert_eq!(
        scalar(c, "SELECT CAST(COALESCE(SUM(paid_out_fen), 0) AS BIGINT) AS n FROM earnings_accounts"),
        scalar(c, "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM payouts WHERE status = 'paid'"),
    );
    assert_eq!(
        scalar(c, "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM credit_entries WHERE kind = 'payout'"),
        scalar(c, "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM payouts WHERE status = 'paid'"),
    );
    assert_eq!(
        scalar(c, "SELECT COUNT(*) AS n FROM (SELECT p.producer_id FROM payouts p WHERE p.status = 'paid' GROUP BY p.producer_id \
                   HAVING SUM(p.amount_fen) <> (SELECT SUM(e.amount_fen) FROM credit_entries e WHERE e.kind = 'payout' AND e.producer_id = p.producer_id)) q"),
        0
    );
    // The entry holds the reference's hash, never the reference or the account number.
    let paid_count = scalar(c, "SELECT COUNT(*) AS n FROM payouts WHERE status = 'paid'");
    assert_eq!(scalar(c, "SELECT COUNT(*) AS n FROM credit_entries WHERE kind = 'payout'"), paid_count);
    assert!(paid_count >= 1);
    let (s, ledger) = send_json(app.client.get(app.url("/api/v1/ledger?limit=1000"))).await;
    assert_eq!(s, 200);
    let text = ledger.to_string();
    assert!(!text.contains("ABC20261126000124") && !text.contains("6228480418123456789"));
    let entry = ledger["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "payout").cloned())
        .unwrap_or_default();
    assert_eq!(entry["reference_hash"].as_str().map(str::len), Some(64), "{entry}");
    assert!(entry["campaign_id"].is_null() && entry["period_end"].is_string(), "{entry}");
    let (s, v) = send_json(app.client.get(app.url("/api/v1/ledger/verify"))).await;
    assert_eq!((s, &v["ok"]), (200, &json!(true)), "{v}");
    let (ok, out) = ledger_py(&app).await;
    assert!(ok && out.starts_with("ok:"), "{out}");

    // The buyer's order page follows a paid line to its statement and the payout's ledger entry.
    let seq = scalar(c, &format!("SELECT seq AS n FROM credit_entries WHERE kind = 'payout' AND payout_id = {b}"));
    let statement_b = scalar(c, &format!("SELECT statement_id AS n FROM payouts WHERE id = {b}"));
    let order_id = scalar(
        c,
        &format!("SELECT MIN(l.order_id) AS n FROM statement_lines sl JOIN earnings_entries e ON e.id = sl.entry_id \
                  JOIN order_lines l ON l.id = e.order_line_id WHERE sl.statement_id = {statement_b} AND e.kind = 'available'"),
    );
    let order_no = aidmart::orders::model::order_by_id(c, order_id).expect("order").order_no;
    let html =
        buyer.get(app.url(&format!("/orders/{order_no}"))).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains("data-testid=\"line-settlement\"") && html.contains(&format!("#{statement_b}")), "{html}");
    assert!(html.contains(&format!("href=\"/ledger/{seq}\" data-testid=\"payout-ledger-link\"")), "{html}");
    // The cooperative's public page (its county's list) shows credited, paid out and pending.
    let paid_producer = scalar(c, &format!("SELECT producer_id AS n FROM payouts WHERE id = {b}"));
    let county = scalar(c, &format!("SELECT county_id AS n FROM producers WHERE id = {paid_producer}"));
    let paid_fen =
        scalar(c, &format!("SELECT paid_out_fen AS n FROM earnings_accounts WHERE producer_id = {paid_producer}"));
    let html = app.get(&format!("/counties/{county}")).await.text().await.unwrap_or_default();
    let shown = format!(
        "data-testid=\"producer-paid-out-{paid_producer}\">¥{}",
        aidmart::web::templates::group_digits(&aidmart::money::Money::from_fen(paid_fen).to_string())
    );
    assert!(paid_fen > 0 && html.contains(&shown), "{shown} not in {html}");

    // The campaign shows what reached the cooperatives and what is on its way.
    let (s, detail) = send_json(app.client.get(app.url(&format!("/api/v1/campaigns/{year_round}")))).await;
    assert_eq!(s, 200, "{detail}");
    let paid_lines = scalar(
        c,
        &format!("SELECT CAST(COALESCE(SUM(e.available_fen), 0) AS BIGINT) AS n FROM statement_lines sl JOIN earnings_entries e ON e.id = sl.entry_id \
                  JOIN payouts p ON p.statement_id = sl.statement_id WHERE p.status = 'paid' AND e.campaign_id = {year_round}"),
    );
    let net = scalar(
        c,
        &format!("SELECT CAST(COALESCE(SUM(pending_fen + available_fen), 0) AS BIGINT) AS n FROM earnings_entries WHERE campaign_id = {year_round}"),
    );
    assert!(paid_lines > 0);
    assert_eq!((fen(&detail["paid_out"]), fen(&detail["pending"])), (paid_lines, net - paid_lines), "{detail}");
    let page = app.get("/campaigns/year-round").await.text().await.unwrap_or_default();
    assert!(page.contains("已付合作社") && page.contains("data-testid=\"paid-out\""), "campaign page");

    // A failed payout's money is available again, and the next statement shows it.
    let failed_fen: i64 =
        scalar(c, "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM payouts WHERE status = 'failed'");
    assert!(failed_fen > 0);
    let later = chrono::Utc::now().naive_utc() + chrono::Duration::days(1);
    let day = aidmart::web::time::local_date(app.config.timezone, later);
    let next = aidmart::settlement::service::run_period(c, app.config.timezone, day, later).expect("run");
    // Each cooperative whose payout was decided gets a statement showing it (paid or failed).
    let decided = ids(&app, "SELECT producer_id AS n FROM payouts WHERE status IN ('paid', 'failed')");
    assert_eq!(next.iter().map(|s| s.producer_id).collect::<Vec<_>>(), decided, "{next:?}");
    for st in &next {
        let status = scalar(
            c,
            &format!(
                "SELECT CAST(CASE WHEN status = 'failed' THEN 1 ELSE 0 END AS BIGINT) AS n FROM payouts WHERE producer_id = {}",
                st.producer_id
            ),
        );
        let kind = if status == 1 { "payout_failed" } else { "payout" };
        let lines = scalar(
            c,
            &format!("SELECT COUNT(*) AS n FROM statement_lines sl JOIN earnings_entries e ON e.id = sl.entry_id WHERE sl.statement_id = {} AND e.kind = '{kind}'", st.id),
        );
        assert_eq!(lines, 1, "{st:?}");
        if status == 1 {
            assert!(st.payable.fen() > 0, "the failed amount is payable again: {st:?}");
        }
    }
    check_invariants(&app, 60);
}

#[actix_web::test]
async fn the_cooperative_earnings_page_shows_the_money_and_confirms_a_statement_on_a_form() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let sku = app.sku("GY-QUINOA-1KG");
    let body = json!({"lines": [{"sku_id": sku, "quantity": 3}], "points": 0, "campaign_id": app.campaign("year-round"), "address": address(), "account": "personal"});
    let (s, order) = send_json(buyer.post(app.url("/api/v1/orders")).json(&body)).await;
    assert_eq!(s, 201, "{order}");
    let (s, _) = send_json(buyer.post(
        app.url(&format!("/api/v1/payments/sandbox/{}/complete", order["payment_id"].as_str().unwrap_or_default())),
    ))
    .await;
    assert_eq!(s, 200);
    let mut rng = StdRng::seed_from_u64(1);
    complete_some(&app, &mut rng, 1.0);
    let admin = app.client_for("admin@example.com").await;
    let (s, made) =
        send_json(admin.post(app.url("/api/v1/admin/settlements/run")).json(&json!({"period_end": today(&app)}))).await;
    assert_eq!(s, 200, "{made}");

    let coop = app.client_for("coop@example.com").await;
    let page = coop.get(app.url("/coop/earnings")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("<h1>收入</h1>") && html.contains("data-testid=\"earnings-in-payout\""), "{html}");
    assert!(html.contains("6228480418123456789"), "the seeded bank details are in the form");
    let id = scalar(&mut app.conn(), "SELECT s.id AS n FROM settlement_statements s JOIN producers p ON p.id = s.producer_id WHERE p.code = 'guyuan-quinoa-coop'");
    assert!(
        html.contains(&format!("/coop/earnings/statements/{id}/confirm")),
        "an open statement has a confirm button"
    );
    let csrf = crate::helpers::csrf_from(&html);

    // A bad account number is shown on the page, nothing saved.
    let res = coop
        .post(app.url("/coop/earnings/bank"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("account_name", "沽源县藜麦种植专业合作社"),
            ("bank", "中国银行"),
            ("account_no", "abc"),
        ])
        .send()
        .await
        .expect("bank");
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap_or_default().contains("账号须为 8 至 30 位数字"));
    // No token: refused.
    let res = coop
        .post(app.url(&format!("/coop/earnings/statements/{id}/confirm")))
        .form(&[("x", "1")])
        .send()
        .await
        .expect("confirm");
    assert!(res.status() == 400 || res.status() == 403, "{}", res.status());
    let res = coop
        .post(app.url(&format!("/coop/earnings/statements/{id}/confirm")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("confirm");
    assert_eq!(res.status(), 303);
    let html =
        coop.get(app.url("/coop/earnings?done=confirmed")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains("对账单已确认") && html.contains("已确认，待付款"), "{html}");
    assert!(!html.contains(&format!("/coop/earnings/statements/{id}/confirm")));
    // Not a manager: no page.
    let res = buyer.get(app.url("/coop/earnings")).send().await.expect("page");
    assert_eq!(res.status(), 403);
}
