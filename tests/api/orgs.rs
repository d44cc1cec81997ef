//! Organisation buying: orders on a union's or canteen's account, budgets, approvals, welfare
//! distribution, visibility, recurring canteen orders and statements.

use aidmart::orders::service::expire_unpaid;
use aidmart::orgs::canteen::{run_due, JobReport};
use chrono::{Duration, NaiveDateTime, Utc};
use serde_json::{json, Value};

use crate::helpers::{error_code, exec, scalar, send_json, spawn_app, TestApp};

fn address() -> Value {
    json!({"name": "张敏", "mobile": "13800138000", "province": "北京市", "city": "北京市", "district": "西城区", "detail": "金融大街 1 号"})
}

fn org_id(app: &TestApp, slug: &str) -> i64 {
    scalar(&mut app.conn(), &format!("SELECT id AS n FROM organisations WHERE slug = '{slug}'"))
}

fn on_account(lines: Value, account: Value) -> Value {
    json!({"lines": lines, "address": address(), "account": account})
}

async fn place(app: &TestApp, c: &reqwest::Client, body: &Value) -> (u16, Value) {
    send_json(c.post(app.url("/api/v1/orders")).json(body)).await
}

fn used_fen(app: &TestApp, org: i64) -> i64 {
    scalar(&mut app.conn(), &format!("SELECT budget_used_fen AS n FROM org_budgets WHERE org_id = {org}"))
}

/// A second union (under the demo company) whose admin is buyer@example.com.
fn second_union(app: &TestApp) -> i64 {
    let company = org_id(app, "demo-group");
    let mut conn = app.conn();
    exec(
        &mut conn,
        &format!(
            "INSERT INTO organisations (slug, kind, parent_id, name_zh, name_en, invoice_title, uscc, address)
             VALUES ('other-union', 'union', {company}, '另一工会', 'Other union', '另一工会', '81110102MC0Q3H7N5N', '上海');"
        ),
    );
    let other = org_id(app, "other-union");
    let buyer = scalar(&mut conn, "SELECT id AS n FROM users WHERE email = 'buyer@example.com'");
    exec(
        &mut conn,
        &format!(
            "INSERT INTO user_roles (user_id, role) VALUES ({buyer}, 'union_admin');
             INSERT INTO memberships (user_id, org_id, is_admin) VALUES ({buyer}, {other}, TRUE);
             INSERT INTO org_budgets (org_id, period_start, period_end, budget_total_fen, budget_used_fen)
             VALUES ({other}, '2026-01-01', '2027-12-31', 10000000, 0);"
        ),
    );
    other
}

#[actix_web::test]
async fn the_budget_never_goes_below_zero_under_concurrent_orders() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    exec(
        &mut app.conn(),
        &format!(
            "UPDATE org_budgets SET budget_total_fen = 50000, approval_threshold_fen = NULL WHERE org_id = {union}"
        ),
    );
    let admin = app.client_for("union@example.com").await;
    let before = app.stock("GY-QUINOA-1KG");
    // 2 × ¥39.90 = ¥79.80 each: six fit in ¥500, the seventh would not.
    let body = on_account(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 2}]), json!({"org_id": union}));
    let attempts: Vec<_> = (0..12).map(|_| place(&app, &admin, &body)).collect();
    let answers = futures_util::future::join_all(attempts).await;
    let placed: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
    let exceeded = answers.iter().filter(|(s, b)| *s == 409 && error_code(b) == "budget_exceeded").count();
    assert_eq!(
        (placed.len(), exceeded),
        (6, 6),
        "{:?}",
        answers.iter().map(|(s, b)| (s, error_code(b).to_string())).collect::<Vec<_>>()
    );
    for order in &placed {
        assert_eq!(order["channel"], "union");
        assert_eq!(order["category"], "direct_purchase");
        assert_eq!(order["status"], "paid", "paid on account");
        assert_eq!(order["points_used"], 0);
        assert!(order["payment_url"].is_null());
    }
    assert_eq!(used_fen(&app, union), 6 * 7980);
    assert_eq!(app.stock("GY-QUINOA-1KG"), before - 12, "refused orders hold no stock");
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM payments"), 0, "no gateway payment");
    let (status, org) = send_json(admin.get(app.url(&format!("/api/v1/orgs/{union}")))).await;
    assert_eq!(status, 200, "{org}");
    assert_eq!((org["budget_total"].as_str(), org["budget_used"].as_str()), (Some("500.00"), Some("478.80")));
    assert!(org["approval_threshold"].is_null());
    // Cancelling an unpaid order is the only way back; a paid order keeps its budget drawn.
    let (status, again) = place(&app, &admin, &body).await;
    assert_eq!((status, error_code(&again)), (409, "budget_exceeded"));
}

#[actix_web::test]
async fn only_an_organisations_admin_buys_on_its_account() {
    let app = spawn_app().await;
    let (union, canteen) = (org_id(&app, "demo-group-union"), org_id(&app, "demo-group-canteen"));
    let quinoa = app.sku("GY-QUINOA-1KG");
    let lines = json!([{"sku_id": quinoa, "quantity": 1}]);
    let employee = app.client_for("employee@example.com").await;
    let (status, _) = place(&app, &employee, &on_account(lines.clone(), json!({"org_id": union}))).await;
    assert_eq!(status, 403, "a member of the company is not the union's admin");
    let manager = app.client_for("canteen@example.com").await;
    let (status, _) = place(&app, &manager, &on_account(lines.clone(), json!({"org_id": union}))).await;
    assert_eq!(status, 403, "a canteen manager cannot spend the union's budget");
    let (status, body) = place(&app, &manager, &on_account(lines.clone(), json!({"org_id": canteen}))).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_delivery_date"));
    let tomorrow = (Utc::now().date_naive() + Duration::days(1)).to_string();
    let (status, order) =
        place(&app, &manager, &on_account(lines.clone(), json!({"org_id": canteen, "delivery_date": tomorrow}))).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!((order["channel"].as_str(), order["category"].as_str()), (Some("canteen"), Some("direct_purchase")));
    assert_eq!(order["status"], "paid", "invoiced monthly: paid on account");
    let admin = app.client_for("union@example.com").await;
    let mut with_points = on_account(lines.clone(), json!({"org_id": union}));
    with_points["points"] = json!(100);
    let (status, body) = place(&app, &admin, &with_points).await;
    assert_eq!((status, error_code(&body)), (422, "points_not_accepted"));
    let (status, body) = place(&app, &admin, &on_account(lines.clone(), json!({"org_id": union, "x": 1}))).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_account"));
    let (status, _) = place(&app, &admin, &on_account(lines.clone(), json!({"org_id": 987_654}))).await;
    assert_eq!(status, 404);
    // The same person buying for themselves stays a helped sale.
    let (status, own) = place(&app, &admin, &on_account(lines, json!("personal"))).await;
    assert_eq!(status, 201, "{own}");
    assert_eq!((own["channel"].as_str(), own["category"].as_str()), (Some("employee"), Some("helped_sales")));
}

#[actix_web::test]
async fn approval_is_by_another_admin_of_the_same_union_and_rejection_or_expiry_release_everything() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    let other = second_union(&app);
    let placer = app.client_for("union@example.com").await;
    let approver = app.client_for("union2@example.com").await;
    let stranger = app.client_for("buyer@example.com").await;
    let quinoa = app.sku("GY-QUINOA-1KG");
    let stock = app.stock("GY-QUINOA-1KG");
    // 200 × ¥34.90 (tier) = ¥6,980: above the ¥5,000 threshold.
    let body = on_account(json!([{"sku_id": quinoa, "quantity": 200}]), json!({"org_id": union}));
    let (status, order) = place(&app, &placer, &body).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["total"], "6980.00");
    assert_eq!(order["status"], "awaiting_approval");
    assert!(order["payment_url"].is_null(), "not payable through the gateway");
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock - 200, "stock held while pending");
    assert_eq!(used_fen(&app, union), 698_000, "budget held while pending");
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM payments"), 0);
    let mailed = |to: &str| {
        scalar(
            &mut app.conn(),
            &format!(
                "SELECT COUNT(*) AS n FROM outbox WHERE template = 'order_approval_needed' AND recipient = '{to}'"
            ),
        )
    };
    assert_eq!((mailed("union2@example.com"), mailed("union@example.com")), (1, 0));
    let (_, pending) = send_json(approver.get(app.url(&format!("/api/v1/orgs/{union}/approvals")))).await;
    assert_eq!(pending["items"][0]["order_no"].as_str(), Some(no.as_str()));

    let approve = |c: &reqwest::Client, no: &str| c.post(app.url(&format!("/api/v1/orders/{no}/approve")));
    let reject = |c: &reqwest::Client, no: &str| c.post(app.url(&format!("/api/v1/orders/{no}/reject")));
    let (status, _) = send_json(approve(&placer, &no)).await;
    assert_eq!(status, 403, "the placer cannot approve their own order");
    let (status, _) = send_json(approve(&stranger, &no)).await;
    assert_eq!(status, 404, "another union's admin cannot approve (nor see) it");
    let (status, _) = send_json(reject(&stranger, &no).json(&json!({"reason": "no"}))).await;
    assert_eq!(status, 404);
    assert_eq!(
        scalar(&mut app.conn(), &format!("SELECT budget_used_fen AS n FROM org_budgets WHERE org_id = {other}")),
        0
    );
    // Twin approvals: one decision counts.
    let twins = futures_util::future::join_all((0..4).map(|_| send_json(approve(&approver, &no)))).await;
    assert_eq!(twins.iter().filter(|(s, _)| *s == 200).count(), 1, "{twins:?}");
    assert!(twins.iter().all(|(s, b)| *s == 200 || (*s == 409 && error_code(b) == "invalid_state")), "{twins:?}");
    let (_, paid) = send_json(approver.get(app.url(&format!("/api/v1/orgs/{union}/orders/{no}")))).await;
    assert_eq!((paid["status"].as_str(), paid["approval"].as_str()), (Some("paid"), Some("approved")));

    // Rejection: a reason is required; stock and budget come back.
    let (_, second) = place(&app, &placer, &body).await;
    let no2 = second["order_no"].as_str().unwrap_or_default().to_string();
    assert_eq!(used_fen(&app, union), 2 * 698_000);
    let (status, b) = send_json(reject(&approver, &no2)).await;
    assert_eq!((status, error_code(&b)), (400, "reason_required"));
    let (status, rejected) = send_json(reject(&approver, &no2).json(&json!({"reason": "超出本季度计划"}))).await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!((rejected["status"].as_str(), rejected["approval"].as_str()), (Some("cancelled"), Some("rejected")));
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock - 200);
    assert_eq!(used_fen(&app, union), 698_000);
    let (status, _) = send_json(approve(&approver, &no2)).await;
    assert_eq!(status, 409, "a rejected order cannot be approved");

    // Expiry: the payment-timeout job cancels it and gives everything back.
    let (_, third) = place(&app, &placer, &body).await;
    let no3 = third["order_no"].as_str().unwrap_or_default().to_string();
    let later = Utc::now().naive_utc() + Duration::hours(73);
    let cancelled = expire_unpaid(&mut app.conn(), &app.settings(), later).unwrap_or(0);
    assert_eq!(cancelled, 1);
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock - 200);
    assert_eq!(used_fen(&app, union), 698_000);
    let (_, expired) = send_json(approver.get(app.url(&format!("/api/v1/orgs/{union}/orders/{no3}")))).await;
    assert_eq!((expired["status"].as_str(), expired["approval"].as_str()), (Some("cancelled"), Some("expired")));
    let (status, _) = send_json(approve(&approver, &no3)).await;
    assert_eq!(status, 409);
}

fn csv_of(rows: &[&str]) -> String {
    let mut s = String::from("name,mobile,address,sku,quantity\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

#[actix_web::test]
async fn a_recipients_file_with_one_bad_row_imports_nothing_and_names_that_row() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    let admin = app.client_for("union@example.com").await;
    let stock = app.stock("GY-QUINOA-1KG");
    let post = |path: &str, body: String| {
        admin.post(app.url(&format!("/api/v1/orgs/{union}/{path}"))).header("content-type", "text/csv").body(body)
    };
    let bad = csv_of(&[
        "张三,13800138000,北京市西城区金融大街 1 号,GY-QUINOA-1KG,2",
        "李四,1380013800,北京市海淀区中关村 2 号,GY-QUINOA-1KG,1",
        "王五,13900139000,上海市浦东新区 3 号,GY-QUINOA-1KG,1",
    ]);
    for path in ["distributions/preview", "distributions"] {
        let (status, body) = send_json(post(path, bad.clone())).await;
        assert_eq!((status, error_code(&body)), (422, "invalid_rows"), "{body}");
        let rows = body["error"]["rows"].as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), 1, "{body}");
        assert_eq!(rows[0]["row"], 2);
        assert!(rows[0]["reason"].as_str().is_some_and(|r| r.contains("mobile")), "{body}");
    }
    let several = csv_of(&[
        "张三,13800138000,,GY-QUINOA-1KG,2",
        "李四,13800138001,北京市海淀区 2 号,NO-SUCH-SKU,1",
        "王五,13900139000,上海市浦东新区 3 号,GY-QUINOA-1KG,0",
        "赵六,13700137000,广州市天河区 4 号,GY-QUINOA-1KG,1",
    ]);
    let (status, body) = send_json(post("distributions", several)).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_rows"), "{body}");
    let named: Vec<i64> =
        body["error"]["rows"].as_array().into_iter().flatten().filter_map(|r| r["row"].as_i64()).collect();
    assert_eq!(named, vec![1, 2, 3], "every bad row, in order: {body}");
    let mut conn = app.conn();
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) AS n FROM orders"), 0, "nothing imported");
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) AS n FROM order_recipients"), 0);
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock);
    assert_eq!(used_fen(&app, union), 0);

    let good = csv_of(&[
        "张三,13800138000,北京市西城区金融大街 1 号,GY-QUINOA-1KG,2",
        "李四,13800138001,北京市海淀区中关村 2 号,GY-QUINOA-1KG,1",
        "王五,13900139000,上海市浦东新区 3 号,GY-ZONGZI-8,1",
    ]);
    let (status, preview) = send_json(post("distributions/preview", good.clone())).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!((preview["recipients"].as_i64(), preview["units"].as_i64()), (Some(3), Some(4)));
    assert_eq!(preview["needs_approval"], false);
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) AS n FROM orders"), 0, "a preview writes nothing");
    let (status, order) = send_json(post("distributions", good)).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["total"], preview["total"]);
    assert_eq!((order["channel"].as_str(), order["category"].as_str()), (Some("union"), Some("direct_purchase")));
    assert_eq!(order["lines"].as_array().map(Vec::len), Some(3), "a line per recipient and SKU");
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) AS n FROM order_recipients"), 3);
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) AS n FROM order_lines WHERE recipient_id IS NULL"), 0);
    assert_eq!(app.stock("GY-QUINOA-1KG"), stock - 3);
    assert!(used_fen(&app, union) > 0);
    // Only a union admin may upload.
    let employee = app.client_for("employee@example.com").await;
    let res = employee
        .post(app.url(&format!("/api/v1/orgs/{union}/distributions/preview")))
        .header("content-type", "text/csv")
        .body(csv_of(&["张三,13800138000,北京,GY-QUINOA-1KG,1"]))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 403);
}

#[actix_web::test]
async fn union_members_cannot_see_another_unions_orders() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    let other = second_union(&app);
    let admin = app.client_for("union@example.com").await;
    let (_, order) = place(
        &app,
        &admin,
        &on_account(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}]), json!({"org_id": union})),
    )
    .await;
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let stranger = app.client_for("buyer@example.com").await;
    let (status, _) = send_json(stranger.get(app.url(&format!("/api/v1/orgs/{union}/orders")))).await;
    assert_eq!(status, 403);
    let (status, _) = send_json(stranger.get(app.url(&format!("/api/v1/orgs/{union}/orders/{no}")))).await;
    assert_eq!(status, 403);
    let (status, _) = send_json(stranger.get(app.url(&format!("/api/v1/orgs/{other}/orders/{no}")))).await;
    assert_eq!(status, 404, "not in its own union's orders either");
    let (status, _) = send_json(stranger.get(app.url(&format!("/api/v1/orders/{no}")))).await;
    assert_eq!(status, 404);
    let (status, _) = send_json(stranger.get(app.url(&format!("/api/v1/orgs/{union}")))).await;
    assert_eq!(status, 404, "not a member");
    let (_, own) = send_json(stranger.get(app.url(&format!("/api/v1/orgs/{other}/orders")))).await;
    assert_eq!(own["items"].as_array().map(Vec::len), Some(0));
    // The other admin of the same union sees it.
    let colleague = app.client_for("union2@example.com").await;
    let (status, list) = send_json(colleague.get(app.url(&format!("/api/v1/orgs/{union}/orders")))).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["order_no"].as_str(), Some(no.as_str()));
    // A plain member sees the organisation but not its budget.
    let employee_id = scalar(&mut app.conn(), "SELECT id AS n FROM users WHERE email = 'employee@example.com'");
    exec(
        &mut app.conn(),
        &format!("INSERT INTO memberships (user_id, org_id, is_admin) VALUES ({employee_id}, {union}, FALSE)"),
    );
    let employee = app.client_for("employee@example.com").await;
    let (status, org) = send_json(employee.get(app.url(&format!("/api/v1/orgs/{union}")))).await;
    assert_eq!(status, 200);
    assert!(org.get("budget_total").is_none() && org.get("approval_threshold").is_none(), "{org}");
    let (status, _) = send_json(employee.get(app.url(&format!("/api/v1/orgs/{union}/orders")))).await;
    assert_eq!(status, 403);
    let (_, mine) = send_json(admin.get(app.url(&format!("/api/v1/orgs/{union}")))).await;
    assert_eq!(mine["approval_threshold"], "5000.00");
}

fn run(app: &TestApp, now: NaiveDateTime) -> JobReport {
    run_due(&mut app.conn(), &app.settings(), now).unwrap_or_else(|e| panic!("job: {e}"))
}

#[actix_web::test]
async fn a_schedule_places_exactly_one_order_per_due_date() {
    let app = spawn_app().await;
    let canteen = org_id(&app, "demo-group-canteen");
    let manager = app.client_for("canteen@example.com").await;
    let today = Utc::now().date_naive();
    let rice = app.sku("RH-RICE-5KG");
    let body = json!({
        "cadence": "weekly", "first_delivery": (today + Duration::days(1)).to_string(),
        "end_date": (today + Duration::days(20)).to_string(), "lead_days": 2,
        "lines": [{"sku_id": rice, "quantity": 3}], "address": address()
    });
    let (status, schedule) =
        send_json(manager.post(app.url(&format!("/api/v1/orgs/{canteen}/schedules"))).json(&body)).await;
    assert_eq!(status, 201, "{schedule}");
    let (status, refused) = send_json(
        app.client_for("union@example.com")
            .await
            .post(app.url(&format!("/api/v1/orgs/{canteen}/schedules")))
            .json(&body),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let orders =
        |app: &TestApp| scalar(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM orders WHERE org_id = {canteen}"));
    let now = Utc::now().naive_utc();
    // The job twice in a row: one order.
    assert_eq!(run(&app, now), JobReport { placed: 1, failed: 0 });
    assert_eq!(run(&app, now), JobReport::default());
    assert_eq!(orders(&app), 1);
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE template = 'canteen_order_placed'"), 1);
    // Two instances at once, a week later: one order between them.
    let week = now + Duration::days(7);
    let reports: Vec<JobReport> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|_| s.spawn(|| run(&app, week))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    assert_eq!(reports.iter().map(|r| r.placed).sum::<usize>(), 1, "{reports:?}");
    assert_eq!(orders(&app), 2);
    let delivery =
        scalar(&mut app.conn(), "SELECT COUNT(DISTINCT delivery_date) AS n FROM schedule_runs WHERE status = 'placed'");
    assert_eq!(delivery, 2);
    // Out of stock: recorded and mailed, not silent; and recorded once.
    exec(&mut app.conn(), "UPDATE skus SET stock = 1 WHERE code = 'RH-RICE-5KG'");
    let fortnight = now + Duration::days(14);
    assert_eq!(run(&app, fortnight), JobReport { placed: 0, failed: 1 });
    assert_eq!(run(&app, fortnight), JobReport::default());
    assert_eq!(orders(&app), 2);
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM schedule_runs WHERE status = 'failed'"), 1);
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE template = 'canteen_order_failed'"), 1);
    let (_, view) = send_json(manager.get(app.url(&format!("/api/v1/orgs/{canteen}/schedules")))).await;
    let runs = view["runs"].as_array().cloned().unwrap_or_default();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0]["status"], "failed");
    assert!(runs[0]["reason"].as_str().is_some_and(|r| !r.is_empty()));
    // The end date ends it.
    assert_eq!(run(&app, now + Duration::days(40)), JobReport::default());
    assert_eq!(view["schedules"][0]["cadence"], "weekly");

    // The month's statement: every order, as JSON, CSV and XLSX.
    let month = (today + Duration::days(1)).format("%Y-%m").to_string();
    let (status, statement) =
        send_json(manager.get(app.url(&format!("/api/v1/orgs/{canteen}/statements?month={month}")))).await;
    assert_eq!(status, 200, "{statement}");
    let first_no = statement["orders"][0]["order_no"].as_str().unwrap_or_default().to_string();
    assert!(!first_no.is_empty(), "{statement}");
    let csv = manager
        .get(app.url(&format!("/api/v1/orgs/{canteen}/statements?month={month}&format=csv")))
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap_or_default();
    assert!(text.contains(&first_no) && text.contains("合计"), "{text}");
    let xlsx = manager
        .get(app.url(&format!("/api/v1/orgs/{canteen}/statements?month={month}&format=xlsx")))
        .send()
        .await
        .expect("xlsx");
    assert_eq!(xlsx.status(), 200);
    let bytes = xlsx.bytes().await.unwrap_or_default();
    assert!(bytes.starts_with(b"PK"), "an XLSX file is a zip");
    let (status, _) =
        send_json(manager.get(app.url(&format!("/api/v1/orgs/{canteen}/statements?month=2026-13")))).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn the_union_and_canteen_portals_show_their_data_and_act_through_forms() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    let placer = app.client_for("union@example.com").await;
    let body = on_account(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 200}]), json!({"org_id": union}));
    let (_, pending) = place(&app, &placer, &body).await;
    let no = pending["order_no"].as_str().unwrap_or_default().to_string();

    let approver = app.client_for("union2@example.com").await;
    let html = approver.get(app.url("/union")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains("<progress class=\"budget-bar\""), "budget bar");
    assert!(html.contains("6,980.00") || html.contains("6980.00"), "the pending order and its total");
    assert!(html.contains(&format!("/union/orders/{no}/approve")), "an approve form");
    // The approver decides with the facts: who placed it, its lines, recipients, the budget left,
    // a state that says it waits for approval, and a confirmation before approving.
    assert!(html.contains("下单人") && html.contains("union@example.com"), "the placer");
    assert!(html.contains("沽源藜麦") && html.contains("× 200"), "the order's lines");
    assert!(html.contains("收件人数") && html.contains("批准后预算余额"), "recipients and budget after approval");
    assert!(html.contains("data-confirm=") && html.contains("/static/confirm.js"), "approval asks first");
    assert!(html.contains("待审批") && !html.contains(">待支付<"), "the state reads 待审批");
    let csrf = crate::helpers::csrf_from(&html);
    // Preview of a pasted file with a bad row names the row and writes nothing.
    let form = [
        ("_csrf", csrf.as_str()),
        ("org", &union.to_string()),
        ("csv", "name,mobile,address\n张三,13800138000,北京市西城区 1 号\n李四,12345,北京市\n"),
        ("sku", "GY-QUINOA-1KG"),
        ("quantity", "1"),
        ("action", "preview"),
    ];
    let res = approver.post(app.url("/union/distribution")).form(&form).send().await.expect("preview");
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap_or_default();
    // The line the approver sees in the file (the header is line 1), in Chinese only.
    assert!(text.contains("第 3 行：手机号须为 1 开头的 11 位数字") && !text.contains("bad mobile"), "{text}");
    let res = approver
        .post(app.url(&format!("/union/orders/{no}/approve")))
        .form(&[("_csrf", csrf.as_str()), ("org", &union.to_string())])
        .send()
        .await
        .expect("approve");
    assert_eq!(res.status(), 303);
    let (_, order) = send_json(approver.get(app.url(&format!("/api/v1/orgs/{union}/orders/{no}")))).await;
    assert_eq!(order["status"], "paid");
    // Without the CSRF token nothing happens.
    let res = approver
        .post(app.url(&format!("/union/orders/{no}/reject")))
        .form(&[("_csrf", "forged"), ("org", &union.to_string()), ("reason", "x")])
        .send()
        .await
        .expect("reject");
    assert_eq!(res.status(), 403);
    // Someone who administers no union is refused.
    let buyer = app.client_for("buyer@example.com").await;
    assert_eq!(buyer.get(app.url("/union")).send().await.expect("page").status(), 403);

    let canteen = org_id(&app, "demo-group-canteen");
    let manager = app.client_for("canteen@example.com").await;
    let tomorrow = Utc::now().date_naive() + Duration::days(1);
    let (status, _) = place(
        &app,
        &manager,
        &on_account(
            json!([{"sku_id": app.sku("RH-RICE-5KG"), "quantity": 4}]),
            json!({"org_id": canteen, "delivery_date": tomorrow.to_string()}),
        ),
    )
    .await;
    assert_eq!(status, 201);
    let html = manager.get(app.url("/canteen")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains(&tomorrow.to_string()), "the upcoming delivery");
    let month = tomorrow.format("%Y-%m").to_string();
    let res =
        manager.get(app.url(&format!("/canteen/statement?org={canteen}&month={month}"))).send().await.expect("page");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap_or_default().contains(&tomorrow.to_string()));
    assert_eq!(
        placer
            .get(app.url(&format!("/canteen/statement?org={canteen}&month={month}")))
            .send()
            .await
            .expect("page")
            .status(),
        403
    );
}

/// Waits for the mail worker to send every queued mail; fails on any rendering error.
async fn all_mail_sent(app: &TestApp) {
    // Jobs run with a future clock in these tests queue their mail for then.
    exec(&mut app.conn(), "UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00' WHERE sent_at IS NULL");
    for _ in 0..100 {
        let left = scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL");
        if left == 0 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL"), 0, "mail sent");
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE last_error IS NOT NULL"), 0);
}

fn invite_token(app: &TestApp, email: &str) -> String {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct C {
        #[diesel(sql_type = diesel::sql_types::Text)]
        context: String,
    }
    let row: C = diesel::sql_query(format!(
        "SELECT context FROM outbox WHERE template = 'org_invite' AND recipient = '{email}' ORDER BY id DESC LIMIT 1"
    ))
    .get_result(&mut *app.conn())
    .expect("an invite mail");
    let context: Value = serde_json::from_str(&row.context).unwrap_or_default();
    let url = context["accept_url"].as_str().unwrap_or_default();
    url.rsplit('/').next().unwrap_or_default().to_string()
}

#[actix_web::test]
async fn members_are_invited_imported_and_removed_and_granted_welfare_points() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    let admin = app.client_for("union@example.com").await;
    let employee = app.client_for("employee@example.com").await;
    let buyer = app.client_for("buyer@example.com").await;
    let invites = |app: &TestApp| scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM org_invites");

    let (status, _) = send_json(
        employee.post(app.url(&format!("/api/v1/orgs/{union}/invites"))).json(&json!({"email": "x@example.com"})),
    )
    .await;
    assert_eq!(status, 403, "only the union's admins invite");
    let (status, answer) = send_json(
        admin.post(app.url(&format!("/api/v1/orgs/{union}/invites"))).json(&json!({"email": "Buyer@Example.com"})),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let token = invite_token(&app, "buyer@example.com");
    assert_eq!(token.len(), 40);
    let accept = |c: &reqwest::Client, t: &str| c.post(app.url(&format!("/api/v1/invites/{t}/accept")));
    let (status, _) = send_json(accept(&employee, &token)).await;
    assert_eq!(status, 403, "the link is for the invited address only");
    let (status, _) = send_json(accept(&buyer, "not-a-token")).await;
    assert_eq!(status, 404);
    let (status, joined) = send_json(accept(&buyer, &token)).await;
    assert_eq!(status, 200, "{joined}");
    let (status, _) = send_json(accept(&buyer, &token)).await;
    assert_eq!(status, 404, "single use");
    let (status, _) = send_json(buyer.get(app.url(&format!("/api/v1/orgs/{union}")))).await;
    assert_eq!(status, 200, "now a member");
    // The invite page works too (and asks the right person).
    let html = employee.get(app.url(&format!("/invites/{token}"))).send().await.expect("page").status();
    assert_eq!(html, 404, "a used link is gone");

    // Import: one bad address and nobody is invited.
    let import = |body: &str| {
        admin
            .post(app.url(&format!("/api/v1/orgs/{union}/members/import")))
            .header("content-type", "text/csv")
            .body(body.to_string())
    };
    let before = invites(&app);
    let (status, bad) = send_json(import("email,name\na@example.com,甲\nnot-an-email,乙\n")).await;
    assert_eq!((status, error_code(&bad)), (422, "invalid_rows"), "{bad}");
    assert_eq!(bad["error"]["rows"][0]["row"], 2);
    assert_eq!(invites(&app), before);
    let (status, ok) = send_json(import("email,name\na@example.com,甲\nb@example.com,乙\n")).await;
    assert_eq!(status, 201, "{ok}");
    assert_eq!(invites(&app), before + 2);

    // Removal.
    let buyer_id = scalar(&mut app.conn(), "SELECT id AS n FROM users WHERE email = 'buyer@example.com'");
    let admin_id = scalar(&mut app.conn(), "SELECT id AS n FROM users WHERE email = 'union@example.com'");
    let (status, _) = send_json(employee.delete(app.url(&format!("/api/v1/orgs/{union}/members/{buyer_id}")))).await;
    assert_eq!(status, 403);
    let (status, b) = send_json(admin.delete(app.url(&format!("/api/v1/orgs/{union}/members/{admin_id}")))).await;
    assert_eq!((status, error_code(&b)), (422, "cannot_remove_self"));
    let res = admin.delete(app.url(&format!("/api/v1/orgs/{union}/members/{buyer_id}"))).send().await.expect("delete");
    assert_eq!(res.status(), 204);
    let (status, _) = send_json(buyer.get(app.url(&format!("/api/v1/orgs/{union}")))).await;
    assert_eq!(status, 404, "removed");
    let (_, list) = send_json(admin.get(app.url(&format!("/api/v1/orgs/{union}/members")))).await;
    assert!(list["items"].as_array().is_some_and(|m| m.iter().all(|m| m["email"] != "buyer@example.com")));

    // Welfare points: a non-member in the file and nothing is granted.
    let grant = |body: &str| {
        admin
            .post(app.url(&format!("/api/v1/orgs/{union}/points-grants")))
            .header("content-type", "text/csv")
            .body(body.to_string())
    };
    let entries = |app: &TestApp| scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM points_entries");
    let ledger = entries(&app);
    let (status, bad) = send_json(grant(
        "email,points,expires,reason\nemployee@example.com,100,2030-12-31,端午慰问\nbuyer@example.com,50,2030-12-31,端午慰问\nemployee@example.com,-1,2020-01-01,\n",
    ))
    .await;
    assert_eq!((status, error_code(&bad)), (422, "invalid_rows"), "{bad}");
    let rows: Vec<i64> =
        bad["error"]["rows"].as_array().into_iter().flatten().filter_map(|r| r["row"].as_i64()).collect();
    assert_eq!(rows, vec![2, 3]);
    assert_eq!(entries(&app), ledger);
    let (status, granted) = send_json(grant(
        "email,points,expires,reason\nemployee@example.com,100,2030-12-31,端午慰问\nunion2@example.com,300,2030-12-31,端午慰问\n",
    ))
    .await;
    assert_eq!(status, 201, "{granted}");
    assert_eq!((granted["members"].as_i64(), granted["points"].as_i64()), (Some(2), Some(400)));
    assert_eq!(entries(&app), ledger + 2, "a ledger lot each");
    let (_, me) = send_json(employee.get(app.url("/api/v1/me"))).await;
    assert_eq!(me["points_balance"], 5100);
    assert_eq!(
        scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE template = 'welfare_points_granted'"),
        2
    );
    all_mail_sent(&app).await;
}

#[actix_web::test]
async fn every_organisation_mail_renders() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    let placer = app.client_for("union@example.com").await;
    let body = on_account(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 200}]), json!({"org_id": union}));
    let (status, _) = place(&app, &placer, &body).await;
    assert_eq!(status, 201);
    let canteen = org_id(&app, "demo-group-canteen");
    let manager = app.client_for("canteen@example.com").await;
    let today = Utc::now().date_naive();
    let schedule = json!({
        "cadence": "fortnightly", "first_delivery": (today + Duration::days(1)).to_string(),
        "end_date": (today + Duration::days(30)).to_string(), "lead_days": 3,
        "lines": [{"sku_id": app.sku("RH-RICE-5KG"), "quantity": 2}], "address": address()
    });
    let (status, _) =
        send_json(manager.post(app.url(&format!("/api/v1/orgs/{canteen}/schedules"))).json(&schedule)).await;
    assert_eq!(status, 201);
    let now = Utc::now().naive_utc();
    assert_eq!(run(&app, now).placed, 1);
    exec(&mut app.conn(), "UPDATE skus SET stock = 0 WHERE code = 'RH-RICE-5KG'");
    assert_eq!(run(&app, now + Duration::days(14)).failed, 1);
    for template in ["order_approval_needed", "canteen_order_placed", "canteen_order_failed"] {
        let n = scalar(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM outbox WHERE template = '{template}'"));
        assert_eq!(n, 1, "{template}");
    }
    all_mail_sent(&app).await;
}

#[actix_web::test]
async fn a_platform_admin_sets_the_budget_but_not_below_what_is_used() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    let admin = app.client_for("union@example.com").await;
    let (status, _) = place(
        &app,
        &admin,
        &on_account(json!([{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 2}]), json!({"org_id": union})),
    )
    .await;
    assert_eq!(status, 201);
    let body = |total: &str| json!({"budget_total": total, "period_start": "2026-01-01", "period_end": "2027-12-31", "approval_threshold": "1000.00"});
    let (status, _) =
        send_json(admin.post(app.url(&format!("/api/v1/orgs/{union}/budget"))).json(&body("999999.00"))).await;
    assert_eq!(status, 403, "a union admin does not set their own budget");
    let platform = app.client_for("admin@example.com").await;
    let (status, b) =
        send_json(platform.post(app.url(&format!("/api/v1/orgs/{union}/budget"))).json(&body("50.00"))).await;
    assert_eq!((status, error_code(&b)), (409, "budget_below_used"));
    let (status, b) =
        send_json(platform.post(app.url(&format!("/api/v1/orgs/{union}/budget"))).json(&body("1000.00"))).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(
        (b["budget_total"].as_str(), b["budget_used"].as_str(), b["budget_left"].as_str()),
        (Some("1000.00"), Some("79.80"), Some("920.20"))
    );
    let (_, org) = send_json(admin.get(app.url(&format!("/api/v1/orgs/{union}")))).await;
    assert_eq!(org["approval_threshold"], "1000.00");
}

#[actix_web::test]
async fn a_canteen_manager_orders_and_schedules_from_the_portal() {
    let app = spawn_app().await;
    let canteen = org_id(&app, "demo-group-canteen");
    let manager = app.client_for("canteen@example.com").await;
    let html = manager.get(app.url("/canteen")).send().await.expect("page").text().await.unwrap_or_default();
    let csrf = crate::helpers::csrf_from(&html);
    let org = canteen.to_string();
    let tomorrow = (Utc::now().date_naive() + Duration::days(1)).to_string();
    let end = (Utc::now().date_naive() + Duration::days(30)).to_string();
    let mut form = vec![
        ("_csrf", csrf.as_str()),
        ("org", org.as_str()),
        ("sku", "RH-RICE-5KG"),
        ("quantity", "6"),
        ("delivery_date", tomorrow.as_str()),
        ("name", "刘军"),
        ("mobile", "13800138000"),
        ("province", "北京市"),
        ("city", "北京市"),
        ("district", "西城区"),
        ("detail", "金融大街 1 号 B1 层"),
    ];
    let res = manager.post(app.url("/canteen/orders")).form(&form).send().await.expect("order");
    assert_eq!(res.status(), 303);
    let (_, list) = send_json(manager.get(app.url(&format!("/api/v1/orgs/{canteen}/orders")))).await;
    assert_eq!(list["items"][0]["delivery_date"].as_str(), Some(tomorrow.as_str()));
    assert_eq!(list["items"][0]["channel"], "canteen");
    // A bad SKU is shown on the page, and nothing is ordered.
    form[2] = ("sku", "NO-SUCH-SKU");
    let res = manager.post(app.url("/canteen/orders")).form(&form).send().await.expect("order");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap_or_default().contains("role=\"alert\""));
    assert_eq!(scalar(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM orders WHERE org_id = {canteen}")), 1);
    form[2] = ("sku", "RH-RICE-5KG");
    form.extend([("cadence", "weekly"), ("end_date", end.as_str()), ("lead_days", "2")]);
    let res = manager.post(app.url("/canteen/schedules")).form(&form).send().await.expect("schedule");
    assert_eq!(res.status(), 303);
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM canteen_schedules"), 1);
    // A union admin cannot act for the canteen.
    let union = app.client_for("union@example.com").await;
    let union_html = union.get(app.url("/union")).send().await.expect("page").text().await.unwrap_or_default();
    let union_csrf = crate::helpers::csrf_from(&union_html);
    form[0] = ("_csrf", union_csrf.as_str());
    let res = union.post(app.url("/canteen/schedules")).form(&form).send().await.expect("schedule");
    assert_eq!(res.status(), 403, "with a valid token of its own: refused for not being the canteen's admin");
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM canteen_schedules"), 1);
}
