//! The order lifecycle under races, late and failed payments, and every kind of order through
//! the one pipeline. Each race checks that no request got a 5xx and that the final state keeps
//! every invariant (stock, points, budget, ledger, refunds to the fen).

use aidmart::orders::service::expire_unpaid;
use aidmart::orgs::canteen::run_due;
use aidmart::payments::{CallbackEvent, Outcome, SandboxGateway};
use chrono::{Duration, Utc};
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{error_code, exec, scalar, send_json, spawn_app, TestApp};

fn address() -> Value {
    json!({"name": "李强", "mobile": "13800138000", "province": "北京市", "city": "北京市", "district": "西城区", "detail": "金融大街 1 号"})
}

fn body(lines: Value, points: i64, campaign: i64) -> Value {
    json!({"lines": lines, "points": points, "campaign_id": campaign, "address": address()})
}

async fn place(app: &TestApp, c: &reqwest::Client, body: &Value) -> Value {
    let (status, order) = send_json(c.post(app.url("/api/v1/orders")).json(body)).await;
    assert_eq!(status, 201, "{order}");
    order
}

fn fen(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or("x");
    let (whole, frac) = s.split_once('.').unwrap_or((s, "00"));
    whole.parse::<i64>().unwrap_or(-999_999) * 100 + frac.parse::<i64>().unwrap_or(-99)
}

async fn view(app: &TestApp, c: &reqwest::Client, no: &str) -> Value {
    let (status, v) = send_json(c.get(app.url(&format!("/api/v1/orders/{no}")))).await;
    assert_eq!(status, 200, "{v}");
    v
}

async fn balance(app: &TestApp, c: &reqwest::Client) -> i64 {
    let (_, me) = send_json(c.get(app.url("/api/v1/me"))).await;
    me["points_balance"].as_i64().unwrap_or(-1)
}

async fn ledger_ok(app: &TestApp) {
    let (status, v) = send_json(app.client.get(app.url("/api/v1/ledger/verify"))).await;
    assert_eq!((status, v["ok"].as_bool()), (200, Some(true)), "{v}");
}

/// Credit-ledger entries of one kind for an order's lines.
fn credits(app: &TestApp, no: &str, kind: &str) -> i64 {
    scalar(
        &mut app.conn(),
        &format!(
            "SELECT COUNT(*) AS n FROM credit_entries e JOIN order_lines l ON l.id = e.order_line_id \
             JOIN orders o ON o.id = l.order_id WHERE o.order_no = '{no}' AND e.kind = '{kind}'"
        ),
    )
}

fn no_server_errors(answers: &[(u16, Value)]) {
    let bad: Vec<&(u16, Value)> = answers.iter().filter(|(s, _)| *s >= 500).collect();
    assert!(bad.is_empty(), "5xx answers: {bad:?}");
}

#[actix_web::test]
async fn cancels_and_payments_racing_on_twenty_orders_never_fail_and_leave_each_order_consistent() {
    let app = spawn_app().await;
    let buyer = app.client_for("employee@example.com").await;
    let (quinoa, year) = (app.sku("GY-QUINOA-1KG"), app.campaign("year-round"));
    let (stock, points) = (app.stock("GY-QUINOA-1KG"), balance(&app, &buyer).await);
    let mut orders = Vec::new();
    for _ in 0..20 {
        let o = place(&app, &buyer, &body(json!([{"sku_id": quinoa, "quantity": 1}]), 10, year)).await;
        orders.push((
            o["order_no"].as_str().unwrap_or_default().to_string(),
            o["payment_id"].as_str().unwrap_or_default().to_string(),
        ));
    }
    let urls: Vec<String> = orders
        .iter()
        .flat_map(|(no, pay)| {
            [
                format!("/api/v1/orders/{no}/cancel"),
                format!("/api/v1/payments/sandbox/{pay}/complete"),
                format!("/api/v1/orders/{no}/cancel"),
                format!("/api/v1/payments/sandbox/{pay}/complete"),
            ]
        })
        .collect();
    let answers = join_all(urls.iter().map(|u| send_json(buyer.post(app.url(u))))).await;
    no_server_errors(&answers);
    assert!(answers.iter().all(|(s, _)| *s == 200 || *s == 409), "{answers:?}");
    let mut paid = 0;
    for (no, pay) in &orders {
        let v = view(&app, &buyer, no).await;
        let refunds = v["refunds"].as_array().cloned().unwrap_or_default();
        let succeeded = scalar(
            &mut app.conn(),
            &format!("SELECT COUNT(*) AS n FROM payments WHERE payment_id = '{pay}' AND status = 'succeeded'"),
        );
        match v["status"].as_str() {
            Some("paid") => {
                paid += 1;
                assert!(refunds.is_empty(), "{v}");
                assert_eq!(credits(&app, no, "sale"), 1, "one credit per line");
            }
            Some("cancelled") => {
                assert_eq!(credits(&app, no, "sale"), 0, "nothing credited: {v}");
                // Paid at the gateway after the cancel: refunded once, in full.
                assert_eq!(refunds.len() as i64, succeeded, "{v}");
                for r in &refunds {
                    assert_eq!((r["reason"].as_str(), fen(&r["amount"])), (Some("late_payment"), fen(&v["cash_due"])));
                }
            }
            other => panic!("{no} ended {other:?}"),
        }
    }
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock - paid);
    assert_eq!(balance(&app, &buyer).await, points - 10 * paid);
    ledger_ok(&app).await;
}

#[actix_web::test]
async fn donations_racing_points_only_orders_all_succeed_and_the_points_add_up() {
    let app = spawn_app().await;
    let admin = app.client_for("admin@example.com").await;
    let grant =
        json!({"email": "employee@example.com", "points": 100000, "reason": "test", "expires_at": "2099-12-31"});
    assert_eq!(send_json(admin.post(app.url("/api/v1/admin/points/grants")).json(&grant)).await.0, 201);
    let buyer = app.client_for("employee@example.com").await;
    let before = balance(&app, &buyer).await;
    let project = scalar(&mut app.conn(), "SELECT id AS n FROM donation_projects WHERE slug = 'love-library'");
    let seeds = app.sku("BS-SEEDS-500G");
    let stock = app.stock("BS-SEEDS-500G");
    let order = body(json!([{"sku_id": seeds, "quantity": 1}]), 1990, app.campaign("year-round"));
    let donation = json!({"project_id": project, "points": 50});
    let requests = (0..40).map(|i| {
        let req = if i % 2 == 0 {
            buyer.post(app.url("/api/v1/orders")).json(&order)
        } else {
            buyer.post(app.url("/api/v1/donations")).json(&donation)
        };
        send_json(req)
    });
    let answers = join_all(requests).await;
    no_server_errors(&answers);
    assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");
    assert!(answers.iter().step_by(2).all(|(_, o)| o["status"] == "paid"), "paid entirely with points");
    assert_eq!(balance(&app, &buyer).await, before - 20 * 1990 - 20 * 50);
    assert_eq!(app.stock("BS-SEEDS-500G"), stock - 20);
    let mut conn = app.conn();
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) AS n FROM credit_entries WHERE kind = 'sale'"), 20);
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) AS n FROM credit_entries WHERE kind = 'donation'"), 20);
    ledger_ok(&app).await;
}

#[actix_web::test]
async fn thirty_concurrent_refunds_of_one_unit_return_exactly_what_was_paid() {
    let app = spawn_app().await;
    let buyer = app.client_for("employee@example.com").await;
    let (quinoa, year) = (app.sku("GY-QUINOA-1KG"), app.campaign("year-round"));
    let (stock, points) = (app.stock("GY-QUINOA-1KG"), balance(&app, &buyer).await);
    // An odd number of points, so that the shares of single units do not divide evenly.
    let order = place(&app, &buyer, &body(json!([{"sku_id": quinoa, "quantity": 30}]), 1001, year)).await;
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let pay = order["payment_id"].as_str().unwrap_or_default();
    assert_eq!(send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{pay}/complete")))).await.0, 200);
    let line = order["lines"][0]["id"].as_i64().unwrap_or_default();
    let one = json!({"lines": [{"line_id": line, "quantity": 1}]});
    let url = app.url(&format!("/api/v1/orders/{no}/refunds"));
    let answers = join_all((0..30).map(|_| send_json(buyer.post(&url).json(&one)))).await;
    no_server_errors(&answers);
    assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");
    let cash: i64 = answers.iter().map(|(_, a)| fen(&a["cash"])).sum();
    let returned: i64 = answers.iter().map(|(_, a)| a["points"].as_i64().unwrap_or(0)).sum();
    let v = view(&app, &buyer, &no).await;
    assert_eq!(v["status"], "refunded");
    assert_eq!((cash, returned), (fen(&v["cash_due"]), 1001), "every fen and point back");
    assert_eq!((fen(&v["refunded_cash"]), v["refunded_points"].as_i64()), (cash, Some(1001)));
    assert_eq!(v["refunds"].as_array().map(Vec::len), Some(30));
    assert_eq!((app.stock("GY-QUINOA-1KG"), balance(&app, &buyer).await), (stock, points));
    let net = scalar(
        &mut app.conn(),
        &format!(
            "SELECT CAST(COALESCE(SUM(e.amount_fen), 0) AS BIGINT) AS n FROM credit_entries e \
             JOIN order_lines l ON l.id = e.order_line_id WHERE l.id = {line} AND e.kind IN ('sale', 'sale_reversal')"
        ),
    );
    assert_eq!(net, 0, "the reversals undo the sale to the fen");
    ledger_ok(&app).await;
}

#[actix_web::test]
async fn approve_reject_and_cancel_racing_let_exactly_one_decide() {
    let app = spawn_app().await;
    let union = scalar(&mut app.conn(), "SELECT id AS n FROM organisations WHERE slug = 'demo-group-union'");
    let placer = app.client_for("union@example.com").await;
    let approver = app.client_for("union2@example.com").await;
    let quinoa = app.sku("GY-QUINOA-1KG");
    exec(&mut app.conn(), "UPDATE skus SET stock = 5000 WHERE code = 'GY-QUINOA-1KG'");
    let used = |app: &TestApp| {
        scalar(&mut app.conn(), &format!("SELECT budget_used_fen AS n FROM org_budgets WHERE org_id = {union}"))
    };
    for round in 0..4 {
        let (stock, budget) = (app.stock("GY-QUINOA-1KG"), used(&app));
        // 200 × ¥34.90 = ¥6,980: above the union's ¥5,000 threshold.
        let order_body =
            json!({"lines": [{"sku_id": quinoa, "quantity": 200}], "address": address(), "account": {"org_id": union}});
        let order = place(&app, &placer, &order_body).await;
        assert_eq!(order["status"], "awaiting_approval");
        let no = order["order_no"].as_str().unwrap_or_default().to_string();
        let reject = json!({"reason": "预算另有安排"});
        let calls = vec![
            send_json(approver.post(app.url(&format!("/api/v1/orders/{no}/approve")))),
            send_json(approver.post(app.url(&format!("/api/v1/orders/{no}/reject"))).json(&reject)),
            send_json(placer.post(app.url(&format!("/api/v1/orders/{no}/cancel")))),
            send_json(approver.post(app.url(&format!("/api/v1/orders/{no}/approve")))),
            send_json(approver.post(app.url(&format!("/api/v1/orders/{no}/reject"))).json(&reject)),
            send_json(placer.post(app.url(&format!("/api/v1/orders/{no}/cancel")))),
        ];
        let answers = join_all(calls).await;
        no_server_errors(&answers);
        let won = answers.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(won, 1, "round {round}: {answers:?}");
        let status = view(&app, &placer, &no).await["status"].as_str().unwrap_or_default().to_string();
        match status.as_str() {
            "paid" => {
                assert_eq!((app.stock("GY-QUINOA-1KG"), used(&app)), (stock - 200, budget + 698_000));
                assert_eq!(credits(&app, &no, "sale"), 1);
            }
            "cancelled" => {
                assert_eq!((app.stock("GY-QUINOA-1KG"), used(&app)), (stock, budget));
                assert_eq!(credits(&app, &no, "sale"), 0);
            }
            other => panic!("round {round} ended {other}"),
        }
    }
    ledger_ok(&app).await;
}

/// The gateway's own callback for a payment, signed with the server's key, as JSON bytes.
fn signed_callback(app: &TestApp, event_id: &str, payment_id: &str, amount_fen: i64) -> (Vec<u8>, String) {
    let event = CallbackEvent {
        event_id: event_id.into(),
        payment_id: payment_id.into(),
        outcome: Outcome::Succeeded,
        amount_fen,
    };
    let raw = serde_json::to_vec(&event).unwrap_or_default();
    let key = app.config.cookie_key().unwrap_or_default();
    let signature = SandboxGateway::new(&key, String::new()).sign(&raw, Utc::now().timestamp()).unwrap_or_default();
    (raw, signature)
}

#[actix_web::test]
async fn a_payment_after_cancel_or_timeout_is_refunded_once_and_credits_nothing() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let (quinoa, year) = (app.sku("GY-QUINOA-1KG"), app.campaign("year-round"));
    let stock = app.stock("GY-QUINOA-1KG");

    // Cancelled by the buyer, then paid at the gateway's page anyway.
    let order = place(&app, &buyer, &body(json!([{"sku_id": quinoa, "quantity": 2}]), 0, year)).await;
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let pay = order["payment_id"].as_str().unwrap_or_default().to_string();
    assert_eq!(send_json(buyer.post(app.url(&format!("/api/v1/orders/{no}/cancel")))).await.0, 200);
    let (status, done) = send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{pay}/complete")))).await;
    assert_eq!(status, 200, "{done}");
    let v = view(&app, &buyer, &no).await;
    assert_eq!(v["status"], "cancelled");
    let refunds = v["refunds"].as_array().cloned().unwrap_or_default();
    assert_eq!(refunds.len(), 1, "{v}");
    assert_eq!(
        (refunds[0]["reason"].as_str(), fen(&refunds[0]["amount"])),
        (Some("late_payment"), fen(&order["cash_due"]))
    );
    assert!(refunds[0]["created_at"].is_string());
    assert_eq!(credits(&app, &no, "sale"), 0);
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock);
    let mailed = scalar(
        &mut app.conn(),
        "SELECT COUNT(*) AS n FROM outbox WHERE template = 'late_payment_refunded' AND recipient = 'buyer@example.com'",
    );
    assert_eq!(mailed, 1);

    // The gateway calls again, with the same event and with a new one: nothing more moves.
    let webhook = app.url("/api/v1/payments/sandbox/webhook");
    for (event, expected) in
        [("evt_again_a", "already_settled"), ("evt_again_a", "duplicate"), ("evt_again_b", "already_settled")]
    {
        let (raw, signature) = signed_callback(&app, event, &pay, fen(&order["cash_due"]));
        let (status, answer) = send_json(
            app.client
                .post(&webhook)
                .header("content-type", "application/json")
                .header("x-sandbox-signature", signature)
                .body(raw),
        )
        .await;
        assert_eq!((status, answer["result"].as_str()), (200, Some(expected)), "{answer}");
    }
    assert_eq!(view(&app, &buyer, &no).await["refunds"].as_array().map(Vec::len), Some(1), "refunded once");

    // Timed out, then paid.
    let order = place(&app, &buyer, &body(json!([{"sku_id": quinoa, "quantity": 1}]), 0, year)).await;
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let pay = order["payment_id"].as_str().unwrap_or_default().to_string();
    let later = Utc::now().naive_utc() + Duration::minutes(31);
    assert_eq!(expire_unpaid(&mut app.conn(), &app.settings(), later).ok(), Some(1));
    let (status, done) = send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{pay}/complete")))).await;
    assert_eq!(status, 200, "{done}");
    let v = view(&app, &buyer, &no).await;
    assert_eq!((v["status"].as_str(), v["refunds"][0]["reason"].as_str()), (Some("cancelled"), Some("late_payment")));
    let (status, again) = send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{pay}/complete")))).await;
    assert_eq!((status, error_code(&again)), (409, "payment_settled"));
    assert_eq!(view(&app, &buyer, &no).await["refunds"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock);
    ledger_ok(&app).await;
}

#[actix_web::test]
async fn a_failed_payment_can_be_retried_and_ends_paid_with_one_credit_per_line() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let year = app.campaign("year-round");
    let lines =
        json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}, {"sku_id": app.sku("RH-RICE-5KG"), "quantity": 1}]);
    let order = place(&app, &buyer, &body(lines, 0, year)).await;
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let first = order["payment_id"].as_str().unwrap_or_default().to_string();
    let fail = json!({"outcome": "failed"});
    let url = |id: &str| app.url(&format!("/api/v1/payments/sandbox/{id}/complete"));
    assert_eq!(send_json(buyer.post(url(&first)).json(&fail)).await.0, 200);
    let v = view(&app, &buyer, &no).await;
    assert_eq!(v["status"], "pending_payment");
    let second = v["payment_id"].as_str().unwrap_or_default().to_string();
    assert!(!second.is_empty() && second != first, "a new payment is offered: {v}");
    assert!(v["payment_url"].as_str().is_some_and(|u| u.ends_with(&second)));
    let page = buyer.get(app.url(&format!("/orders/{no}"))).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
    assert_eq!(page, 200);
    let html =
        buyer.get(app.url(&format!("/orders/{no}"))).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains(&format!("/pay/sandbox/{second}")), "the page offers the new payment");
    let (status, stale) = send_json(buyer.post(url(&first))).await;
    assert_eq!((status, error_code(&stale)), (409, "payment_settled"));
    assert_eq!(send_json(buyer.post(url(&second))).await.0, 200);
    let v = view(&app, &buyer, &no).await;
    assert_eq!(v["status"], "paid");
    assert_eq!(credits(&app, &no, "sale"), 2, "one sale credit per line");
    ledger_ok(&app).await;
}

/// The rows the pipeline writes for every order: its stock movements and (once paid) its credits.
fn through_pipeline(app: &TestApp, no: &str, paid: bool) {
    let mut conn = app.conn();
    let lines = scalar(
        &mut conn,
        &format!(
            "SELECT COUNT(*) AS n FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.order_no = '{no}'"
        ),
    );
    let sales = scalar(
        &mut conn,
        &format!("SELECT COUNT(*) AS n FROM stock_movements m JOIN orders o ON o.id = m.order_id WHERE o.order_no = '{no}' AND m.reason = 'sale'"),
    );
    assert!(lines > 0 && sales > 0, "{no}: stock taken by the pipeline");
    assert_eq!(credits(app, no, "sale"), if paid { lines } else { 0 }, "{no}");
}

#[actix_web::test]
async fn every_kind_of_order_goes_through_the_one_pipeline() {
    let app = spawn_app().await;
    let year = app.campaign("year-round");
    let quinoa = app.sku("GY-QUINOA-1KG");
    let org = |slug: &str| scalar(&mut app.conn(), &format!("SELECT id AS n FROM organisations WHERE slug = '{slug}'"));
    let (union, canteen) = (org("demo-group-union"), org("demo-group-canteen"));

    // Personal, paid through the gateway.
    let buyer = app.client_for("buyer@example.com").await;
    let o = place(&app, &buyer, &body(json!([{"sku_id": quinoa, "quantity": 1}]), 0, year)).await;
    assert_eq!(o["status"], "pending_payment");
    let pay = o["payment_id"].as_str().unwrap_or_default();
    assert_eq!(send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{pay}/complete")))).await.0, 200);
    let no = o["order_no"].as_str().unwrap_or_default();
    assert_eq!(view(&app, &buyer, no).await["status"], "paid");
    through_pipeline(&app, no, true);

    // Personal, paid entirely with points.
    let employee = app.client_for("employee@example.com").await;
    let o =
        place(&app, &employee, &body(json!([{"sku_id": app.sku("BS-SEEDS-500G"), "quantity": 1}]), 1990, year)).await;
    assert_eq!(o["status"], "paid");
    through_pipeline(&app, o["order_no"].as_str().unwrap_or_default(), true);

    // A union's small order: paid on account; a large one: awaiting approval.
    let admin = app.client_for("union@example.com").await;
    let small =
        json!({"lines": [{"sku_id": quinoa, "quantity": 2}], "address": address(), "account": {"org_id": union}});
    let o = place(&app, &admin, &small).await;
    assert_eq!((o["status"].as_str(), o["channel"].as_str()), (Some("paid"), Some("union")));
    through_pipeline(&app, o["order_no"].as_str().unwrap_or_default(), true);
    let large =
        json!({"lines": [{"sku_id": quinoa, "quantity": 200}], "address": address(), "account": {"org_id": union}});
    let o = place(&app, &admin, &large).await;
    assert_eq!(o["status"], "awaiting_approval");
    through_pipeline(&app, o["order_no"].as_str().unwrap_or_default(), false);

    // A canteen's order for a delivery date.
    let manager = app.client_for("canteen@example.com").await;
    let tomorrow = (Utc::now().date_naive() + Duration::days(1)).to_string();
    let rice = app.sku("RH-RICE-5KG");
    let c = json!({"lines": [{"sku_id": rice, "quantity": 3}], "address": address(),
                   "account": {"org_id": canteen, "delivery_date": tomorrow}});
    let o = place(&app, &manager, &c).await;
    assert_eq!((o["status"].as_str(), o["channel"].as_str()), (Some("paid"), Some("canteen")));
    through_pipeline(&app, o["order_no"].as_str().unwrap_or_default(), true);

    // A welfare distribution: one order, a line per recipient.
    let csv = "name,mobile,address,sku,quantity\n张三,13800138000,北京市西城区 1 号,GY-QUINOA-1KG,1\n李四,13900139000,上海市浦东新区 2 号,GY-QUINOA-1KG,2\n";
    let (status, o) = send_json(
        admin
            .post(app.url(&format!("/api/v1/orgs/{union}/distributions")))
            .header("content-type", "text/csv")
            .body(csv),
    )
    .await;
    assert_eq!((status, o["status"].as_str()), (201, Some("paid")), "{o}");
    assert_eq!(o["lines"].as_array().map(Vec::len), Some(2));
    through_pipeline(&app, o["order_no"].as_str().unwrap_or_default(), true);

    // A recurring canteen order, placed by the job.
    let schedule = json!({"cadence": "weekly", "first_delivery": tomorrow, "end_date": (Utc::now().date_naive() + Duration::days(20)).to_string(),
                          "lead_days": 2, "lines": [{"sku_id": rice, "quantity": 2}], "address": address()});
    let (status, s) =
        send_json(manager.post(app.url(&format!("/api/v1/orgs/{canteen}/schedules"))).json(&schedule)).await;
    assert_eq!(status, 201, "{s}");
    let report = run_due(&mut app.conn(), &app.settings(), Utc::now().naive_utc()).unwrap_or_default();
    assert_eq!(report.placed, 1);
    let no: String = {
        use aidmart::db::schema::{orders, schedule_runs};
        use diesel::prelude::*;
        schedule_runs::table
            .inner_join(orders::table.on(orders::id.nullable().eq(schedule_runs::order_id)))
            .select(orders::order_no)
            .first(&mut app.conn())
            .unwrap_or_default()
    };
    assert_eq!(
        scalar(
            &mut app.conn(),
            &format!("SELECT COUNT(*) AS n FROM orders WHERE order_no = '{no}' AND status = 'paid'")
        ),
        1
    );
    through_pipeline(&app, &no, true);
    ledger_ok(&app).await;
}

#[actix_web::test]
async fn a_form_without_its_token_changes_nothing() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let order = place(
        &app,
        &buyer,
        &body(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}]), 0, app.campaign("year-round")),
    )
    .await;
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let pay = order["payment_id"].as_str().unwrap_or_default().to_string();
    for (path, form) in
        [(format!("/orders/{no}/cancel"), vec![]), (format!("/pay/sandbox/{pay}"), vec![("outcome", "succeed")])]
    {
        let mut with_wrong = form.clone();
        with_wrong.push(("_csrf", "not-the-token"));
        for fields in [form, with_wrong] {
            let res = buyer.post(app.url(&path)).form(&fields).send().await.expect("request");
            assert_eq!(res.status().as_u16(), 403, "{path}");
        }
    }
    assert_eq!(view(&app, &buyer, &no).await["status"], "pending_payment");
    // With the page's token, the same form works.
    let page =
        buyer.get(app.url(&format!("/orders/{no}"))).send().await.expect("page").text().await.unwrap_or_default();
    let token = crate::helpers::csrf_from(&page);
    let res = buyer
        .post(app.url(&format!("/orders/{no}/cancel")))
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(view(&app, &buyer, &no).await["status"], "cancelled");
}
