//! Invoices: titles with a checked USCC, requests per cooperative part and per month, the
//! cooperative's upload (amount checked), who may fetch the file, and the red invoice a refund
//! calls for. coop@example.com manages guyuan-quinoa-coop (GY-QUINOA-*); GY-ZONGZI-8 belongs
//! to guyuan-bashang-foods.

use chrono::{Datelike, Duration, Utc};
use serde_json::{json, Value};

use crate::helpers::{error_code, exec, scalar, send_json, spawn_app, TestApp};

pub(crate) const COOP: &str = "coop@example.com";
pub(crate) const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

/// Real-format codes (GB 32100-2015) with their correct check characters.
pub(crate) const VALID_USCC: [&str; 12] = [
    "91440300708461136T",
    "91330100716105852F",
    "91110108551385082Q",
    "91310000132200821H",
    "91110000100001809A",
    "52110000500014325F",
    "81110102MC0Q3H7N5N",
    "12100000400000624D",
    "51110000500000830U",
    "93130724MA0CX2H1B2",
    "91130724MA07L8G4X6",
    "91350100M000100Y43",
];

pub(crate) fn address() -> Value {
    json!({"name": "李强", "mobile": "13800138000", "province": "北京市", "city": "北京市", "district": "西城区", "detail": "金融大街 1 号"})
}

pub(crate) fn count(app: &TestApp, sql: &str) -> i64 {
    scalar(&mut app.conn(), sql)
}

pub(crate) fn org_id(app: &TestApp, slug: &str) -> i64 {
    count(app, &format!("SELECT id AS n FROM organisations WHERE slug = '{slug}'"))
}

pub(crate) fn producer_id(app: &TestApp, code: &str) -> i64 {
    count(app, &format!("SELECT id AS n FROM producers WHERE code = '{code}'"))
}

pub(crate) fn fen(money: &Value) -> i64 {
    let s = money.as_str().unwrap_or_default();
    let (yuan, cents) = s.split_once('.').unwrap_or((s, "00"));
    yuan.parse::<i64>().unwrap_or(0) * 100 + cents.parse::<i64>().unwrap_or(0)
}

pub(crate) fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// What the credit ledger holds for an order's lines from one producer (sales less reversals).
pub(crate) fn ledger_fen(app: &TestApp, order_no: &str, producer: i64) -> i64 {
    count(
        app,
        &format!(
            "SELECT CAST(COALESCE(SUM(c.amount_fen), 0) AS BIGINT) AS n FROM credit_entries c
             JOIN order_lines l ON l.id = c.order_line_id JOIN orders o ON o.id = l.order_id
             WHERE o.order_no = '{order_no}' AND l.producer_id = {producer} AND c.kind IN ('sale', 'sale_reversal')"
        ),
    )
}

/// Places and pays a personal order; returns it.
pub(crate) async fn paid_order(app: &TestApp, c: &reqwest::Client, lines: &[(i64, i64)]) -> Value {
    let lines: Vec<Value> = lines.iter().map(|(s, q)| json!({"sku_id": s, "quantity": q})).collect();
    let body = json!({"lines": lines, "campaign_id": app.campaign("dragon-boat-2027"), "address": address()});
    let (status, order) = send_json(c.post(app.url("/api/v1/orders")).json(&body)).await;
    assert_eq!(status, 201, "{order}");
    let payment = order["payment_id"].as_str().unwrap_or_default();
    let (status, body) = send_json(c.post(app.url(&format!("/api/v1/payments/sandbox/{payment}/complete")))).await;
    assert_eq!(status, 200, "{body}");
    order
}

pub(crate) async fn add_title(app: &TestApp, c: &reqwest::Client, path: &str, uscc: &str) -> (u16, Value) {
    send_json(c.post(app.url(path)).json(&json!({"kind": "normal", "name": "示范集团有限公司", "uscc": uscc}))).await
}

/// A multipart body (built by hand: the test client has no multipart feature).
pub(crate) struct Form(pub(crate) Vec<u8>);

pub(crate) const BOUNDARY: &str = "aidmart-test-boundary-7f3a";

fn upload_form(file: &[u8], number: &str, issued_on: &str, amount: &str) -> Form {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"invoice.pdf\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(b"\r\n");
    for (name, value) in [("number", number), ("issued_on", issued_on), ("amount", amount)] {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    Form(body)
}

pub(crate) trait Multipart {
    fn multipart(self, form: Form) -> Self;
}

impl Multipart for reqwest::RequestBuilder {
    fn multipart(self, form: Form) -> Self {
        self.header("content-type", format!("multipart/form-data; boundary={BOUNDARY}")).body(form.0)
    }
}

async fn upload(app: &TestApp, c: &reqwest::Client, request: i64, file: &[u8], amount: &str) -> (u16, Value) {
    let today = Utc::now().date_naive().to_string();
    let form = upload_form(file, "26112000000012345678", &today, amount);
    send_json(c.post(app.url(&format!("/api/v1/coop/invoice-requests/{request}/invoice"))).multipart(form)).await
}

async fn file_status(app: &TestApp, c: &reqwest::Client, invoice: i64) -> (u16, Vec<u8>) {
    let res = c.get(app.url(&format!("/api/v1/invoices/{invoice}/file"))).send().await.expect("file");
    let status = res.status().as_u16();
    (status, res.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
}

#[actix_web::test]
async fn titles_check_the_uscc_check_character() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let charset = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    for code in VALID_USCC {
        let (status, body) = add_title(&app, &buyer, "/api/v1/me/invoice-titles", &code.to_lowercase()).await;
        assert_eq!(status, 201, "{code}: {body}");
        assert_eq!(body["uscc"], code, "stored upper-cased");
        // Every other check character is refused, and the message names the right one.
        let last = code.chars().last().unwrap_or('0');
        let wrong = charset.chars().find(|c| *c != last).unwrap_or('0');
        let altered = format!("{}{wrong}", &code[..17]);
        let (status, body) = add_title(&app, &buyer, "/api/v1/me/invoice-titles", &altered).await;
        assert_eq!((status, error_code(&body)), (422, "invalid_uscc"), "{altered}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("expected '{last}'")), "{altered}: {message}");
    }
    // Malformed codes: wrong length, letters that are never used (I, O, S, V, Z).
    for bad in ["91440300708461136", "91440300708461136TT", "9144030070846113OT", "91440300708461136Z"] {
        let (status, body) = add_title(&app, &buyer, "/api/v1/me/invoice-titles", bad).await;
        assert_eq!((status, error_code(&body)), (422, "invalid_uscc"), "{bad}: {body}");
    }
    let (status, list) = send_json(buyer.get(app.url("/api/v1/me/invoice-titles"))).await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), VALID_USCC.len());
    assert_eq!(items.iter().filter(|t| t["is_default"] == true).count(), 1);

    // A special invoice needs the bank details.
    let special = json!({"kind": "special", "name": "示范集团有限公司工会委员会", "uscc": VALID_USCC[0], "address": "北京市西城区金融大街 1 号"});
    let union = org_id(&app, "demo-group-union");
    let admin = app.client_for("union@example.com").await;
    let path = format!("/api/v1/orgs/{union}/invoice-titles");
    let (status, body) = send_json(admin.post(app.url(&path)).json(&special)).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_title"), "{body}");
    let mut full = special.clone();
    full["phone"] = json!("010-66000000");
    full["bank"] = json!("中国工商银行北京金融街支行");
    full["account"] = json!("0200001234567890123");
    let (status, body) = send_json(admin.post(app.url(&path)).json(&full)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["kind"].as_str(), body["is_default"].as_bool()), (Some("special"), Some(true)));
    let (status, body) =
        send_json(admin.post(app.url(&path)).json(&json!({"kind": "vat", "name": "x", "uscc": VALID_USCC[0]}))).await;
    assert_eq!((status, error_code(&body)), (422, "invalid_title"));
    // Not the employee's organisation: not found; buyer's own list is not the union's.
    let employee = app.client_for("employee@example.com").await;
    let (status, _) = send_json(employee.get(app.url(&path))).await;
    assert_eq!(status, 404);
    let (status, _) = add_title(&app, &employee, &path, VALID_USCC[1]).await;
    assert_eq!(status, 404);
    let (_, list) = send_json(admin.get(app.url(&path))).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn an_invoice_is_checked_seen_by_its_parties_only_and_a_refund_calls_for_a_red_one() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let coop = app.client_for(COOP).await;
    let (quinoa_coop, foods) = (producer_id(&app, "guyuan-quinoa-coop"), producer_id(&app, "guyuan-bashang-foods"));
    let order = paid_order(&app, &buyer, &[(app.sku("GY-QUINOA-1KG"), 3), (app.sku("GY-ZONGZI-8"), 1)]).await;
    let order_no = order["order_no"].as_str().unwrap_or_default().to_string();
    let quinoa_line = order["lines"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["sku_id"] == app.sku("GY-QUINOA-1KG")).cloned())
        .unwrap_or_default();

    // Another buyer's title, or an unpaid order, cannot be used.
    let employee = app.client_for("employee@example.com").await;
    let (_, foreign) = add_title(&app, &employee, "/api/v1/me/invoice-titles", VALID_USCC[2]).await;
    let requests = format!("/api/v1/orders/{order_no}/invoice-requests");
    let (status, _) = send_json(buyer.post(app.url(&requests)).json(&json!({"title_id": foreign["id"]}))).await;
    assert_eq!(status, 404);
    let (status, _) = send_json(employee.post(app.url(&requests)).json(&json!({"title_id": foreign["id"]}))).await;
    assert_eq!(status, 404, "another buyer's order");

    let (_, title) = add_title(&app, &buyer, "/api/v1/me/invoice-titles", VALID_USCC[0]).await;
    let (status, body) = send_json(buyer.post(app.url(&requests)).json(&json!({"title_id": title["id"]}))).await;
    assert_eq!(status, 201, "{body}");
    let items = body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "one request per cooperative part: {body}");
    let mine = items.iter().find(|r| r["producer_id"] == quinoa_coop).cloned().unwrap_or_default();
    assert!(items.iter().any(|r| r["producer_id"] == foods));
    let expected = ledger_fen(&app, &order_no, quinoa_coop);
    assert_eq!(fen(&mine["amount"]), expected);
    assert_eq!(expected, fen(&quinoa_line["line_total"]));
    let (status, body) = send_json(buyer.post(app.url(&requests)).json(&json!({"title_id": title["id"]}))).await;
    assert_eq!((status, error_code(&body)), (409, "already_requested"));

    // The cooperative sees its own request only.
    let (status, list) = send_json(coop.get(app.url("/api/v1/coop/invoice-requests?status=requested"))).await;
    assert_eq!(status, 200, "{list}");
    let seen: Vec<i64> = list["items"].as_array().into_iter().flatten().filter_map(|r| r["id"].as_i64()).collect();
    assert_eq!(seen, vec![mine["id"].as_i64().unwrap_or(0)]);
    let (status, body) = send_json(coop.get(app.url("/api/v1/coop/invoice-requests?status=bogus"))).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_status"));
    let request = mine["id"].as_i64().unwrap_or(0);
    let other_request = items.iter().find(|r| r["producer_id"] == foods).and_then(|r| r["id"].as_i64()).unwrap_or(0);

    // The amount must match; the file must be a PDF or OFD; the number 8 or 20 digits.
    let (status, body) = upload(&app, &coop, request, PDF, &yuan(expected + 1)).await;
    assert_eq!((status, error_code(&body)), (422, "amount_mismatch"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains(&yuan(expected)), "{body}");
    let (status, body) = upload(&app, &coop, request, b"<html><script>alert(1)</script>", &yuan(expected)).await;
    assert_eq!((status, error_code(&body)), (422, "unsupported_invoice_file"));
    let form = upload_form(PDF, "12-34", "2026-11-26", &yuan(expected));
    let (status, body) =
        send_json(coop.post(app.url(&format!("/api/v1/coop/invoice-requests/{request}/invoice"))).multipart(form))
            .await;
    assert_eq!((status, error_code(&body)), (422, "invalid_invoice_number"));
    // Another cooperative's request is not found.
    let (status, _) = upload(&app, &coop, other_request, PDF, "1.00").await;
    assert_eq!(status, 404);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM invoices"), 0);

    let (status, body) = upload(&app, &coop, request, PDF, &yuan(expected)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "issued");
    let invoice = body["invoices"][0]["id"].as_i64().unwrap_or(0);
    let (status, body) = upload(&app, &coop, request, PDF, &yuan(expected)).await;
    assert_eq!((status, error_code(&body)), (409, "already_issued"));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM outbox WHERE template = 'invoice_issued' AND recipient = 'buyer@example.com'"
        ),
        1
    );

    // Visible to the buyer, the issuing cooperative and platform admins; to nobody else.
    let (status, bytes) = file_status(&app, &buyer, invoice).await;
    assert_eq!((status, bytes.as_slice()), (200, PDF));
    assert_eq!(file_status(&app, &coop, invoice).await.0, 200);
    assert_eq!(file_status(&app, &app.client_for("admin@example.com").await, invoice).await.0, 200);
    assert_eq!(file_status(&app, &employee, invoice).await.0, 404, "another buyer");
    assert_eq!(
        file_status(&app, &app.client_for("union@example.com").await, invoice).await.0,
        404,
        "another organisation"
    );
    // Another cooperative's manager.
    let mut conn = app.conn();
    let canteen_manager = count(&app, "SELECT id AS n FROM users WHERE email = 'canteen@example.com'");
    exec(
        &mut conn,
        &format!(
            "INSERT INTO user_roles (user_id, role) VALUES ({canteen_manager}, 'coop_manager');
             INSERT INTO producer_managers (user_id, producer_id) VALUES ({canteen_manager}, {foods});"
        ),
    );
    let other_coop = app.client_for("canteen@example.com").await;
    assert_eq!(file_status(&app, &other_coop, invoice).await.0, 404, "another cooperative");
    assert_eq!(file_status(&app, &reqwest::Client::new(), invoice).await.0, 401);
    assert_eq!(file_status(&app, &buyer, invoice + 1000).await.0, 404);

    // A refund after invoicing flags it; the red invoice must be for what was refunded.
    let refund = json!({"lines": [{"line_id": quinoa_line["id"], "quantity": 1}]});
    let (status, body) =
        send_json(buyer.post(app.url(&format!("/api/v1/orders/{order_no}/refunds"))).json(&refund)).await;
    assert_eq!(status, 201, "{body}");
    let (_, seen) = send_json(buyer.get(app.url(&requests))).await;
    let flagged =
        seen["items"].as_array().and_then(|l| l.iter().find(|r| r["id"] == request).cloned()).unwrap_or_default();
    assert_eq!(flagged["status"], "red_needed", "{seen}");
    assert_eq!(flagged["invoices"][0]["red_needed"], true);
    let now_fen = ledger_fen(&app, &order_no, quinoa_coop);
    assert!(now_fen < expected);
    assert_eq!(fen(&flagged["amount"]), now_fen);
    let (_, listed) = send_json(coop.get(app.url("/api/v1/coop/invoice-requests?status=red_needed"))).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    let (status, body) = upload(&app, &coop, request, PDF, &yuan(expected)).await;
    assert_eq!((status, error_code(&body)), (422, "amount_mismatch"));
    let (status, body) = upload(&app, &coop, request, b"PK\x03\x04ofd-body", &yuan(expected - now_fen)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["status"].as_str(), body["invoices"][1]["kind"].as_str()), (Some("issued"), Some("red")));
    assert_eq!(fen(&body["invoiced"]), now_fen, "blue less red is what was kept");
    let red = body["invoices"][1]["id"].as_i64().unwrap_or(0);
    let res = buyer.get(app.url(&format!("/api/v1/invoices/{red}/file"))).send().await.expect("red");
    assert_eq!(res.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/ofd"));
    assert!(res
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .starts_with("attachment"));
}

#[actix_web::test]
async fn a_monthly_request_covers_exactly_the_orgs_orders_from_that_coop_that_month() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    let canteen = org_id(&app, "demo-group-canteen");
    let admin = app.client_for("union@example.com").await;
    let (quinoa, zongzi) = (app.sku("GY-QUINOA-1KG"), app.sku("GY-ZONGZI-8"));
    let coop_id = producer_id(&app, "guyuan-quinoa-coop");
    let place = |c: reqwest::Client, lines: Value, account: Value| {
        let app = &app;
        async move {
            let body = json!({"lines": lines, "address": address(), "account": account});
            let (status, order) = send_json(c.post(app.url("/api/v1/orders")).json(&body)).await;
            assert_eq!(status, 201, "{order}");
            order["order_no"].as_str().unwrap_or_default().to_string()
        }
    };
    let both = place(
        admin.clone(),
        json!([{"sku_id": quinoa, "quantity": 2}, {"sku_id": zongzi, "quantity": 1}]),
        json!({"org_id": union}),
    )
    .await;
    let quinoa_only = place(admin.clone(), json!([{"sku_id": quinoa, "quantity": 1}]), json!({"org_id": union})).await;
    let zongzi_only = place(admin.clone(), json!([{"sku_id": zongzi, "quantity": 1}]), json!({"org_id": union})).await;
    let last_month = place(admin.clone(), json!([{"sku_id": quinoa, "quantity": 1}]), json!({"org_id": union})).await;
    let today = Utc::now().date_naive();
    let first = today.with_day(1).unwrap_or(today);
    let earlier = first - Duration::days(10);
    exec(
        &mut app.conn(),
        &format!("UPDATE orders SET created_at = '{earlier} 10:00:00' WHERE order_no = '{last_month}'"),
    );
    exec(&mut app.conn(), &format!("UPDATE org_orders SET delivery_date = NULL WHERE order_id = (SELECT id FROM orders WHERE order_no = '{last_month}')"));
    // Another organisation's order and a personal order, from the same cooperative.
    let canteen_manager = app.client_for("canteen@example.com").await;
    let tomorrow = (today + Duration::days(1)).to_string();
    place(
        canteen_manager,
        json!([{"sku_id": quinoa, "quantity": 1}]),
        json!({"org_id": canteen, "delivery_date": tomorrow}),
    )
    .await;
    paid_order(&app, &app.client_for("union@example.com").await, &[(quinoa, 1)]).await;

    let path = format!("/api/v1/orgs/{union}/invoice-titles");
    let (status, title) = add_title(&app, &admin, &path, VALID_USCC[3]).await;
    assert_eq!(status, 201, "{title}");
    let month = first.format("%Y-%m").to_string();
    let requests = format!("/api/v1/orgs/{union}/invoice-requests");
    // A buyer's own title is not the organisation's.
    let (_, own) = add_title(&app, &admin, "/api/v1/me/invoice-titles", VALID_USCC[4]).await;
    let body = json!({"title_id": own["id"], "month": month, "producer_id": coop_id});
    let (status, _) = send_json(admin.post(app.url(&requests)).json(&body)).await;
    assert_eq!(status, 404);
    let (status, body) = send_json(
        admin
            .post(app.url(&requests))
            .json(&json!({"title_id": title["id"], "month": "2026-13", "producer_id": coop_id})),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_month"));

    let body = json!({"title_id": title["id"], "month": month, "producer_id": coop_id});
    let (status, request) = send_json(admin.post(app.url(&requests)).json(&body)).await;
    assert_eq!(status, 201, "{request}");
    let mut covered: Vec<String> =
        request["order_nos"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
    covered.sort();
    let mut expected_orders = vec![both.clone(), quinoa_only.clone()];
    expected_orders.sort();
    assert_eq!(covered, expected_orders, "this organisation, this cooperative, this month; nothing else");
    assert!(!covered.contains(&zongzi_only) && !covered.contains(&last_month));
    let expected = ledger_fen(&app, &both, coop_id) + ledger_fen(&app, &quinoa_only, coop_id);
    assert_eq!(fen(&request["amount"]), expected);
    assert_eq!((request["scope"].as_str(), request["month"].as_str()), (Some("monthly"), Some(month.as_str())));

    // Covered once: again is 409; the order's other cooperative can still be asked per order.
    let (status, body) = send_json(admin.post(app.url(&requests)).json(&body)).await;
    assert_eq!((status, error_code(&body)), (409, "already_requested"));
    let (status, parts) = send_json(
        admin.post(app.url(&format!("/api/v1/orders/{both}/invoice-requests"))).json(&json!({"title_id": title["id"]})),
    )
    .await;
    assert_eq!(status, 201, "{parts}");
    assert_eq!(parts["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(parts["items"][0]["producer_id"], coop_id);
    let empty = json!({"title_id": title["id"], "month": "2025-01", "producer_id": coop_id});
    let (status, body) = send_json(admin.post(app.url(&requests)).json(&empty)).await;
    assert_eq!((status, error_code(&body)), (409, "nothing_to_invoice"));
    // Only the organisation's admins.
    let employee = app.client_for("employee@example.com").await;
    let again = json!({"title_id": title["id"], "month": month, "producer_id": coop_id});
    let (status, _) = send_json(employee.post(app.url(&requests)).json(&again)).await;
    assert_eq!(status, 403);
    let (status, list) = send_json(admin.get(app.url(&requests))).await;
    assert_eq!((status, list["items"].as_array().map(Vec::len)), (200, Some(2)));
    // The cooperative sees the consolidated request with its orders.
    let (_, list) = send_json(app.client_for(COOP).await.get(app.url("/api/v1/coop/invoice-requests"))).await;
    assert_eq!(list["items"][0]["order_nos"].as_array().map(Vec::len), Some(2), "{list}");
}

/// What the ledger credits an organisation for a year, by category (sales less reversals).
fn ledger_org_fen(app: &TestApp, org: i64, category: &str, year: i32) -> i64 {
    count(
        app,
        &format!(
            "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM credit_entries
             WHERE org_id = {org} AND category = '{category}' AND kind IN ('sale', 'sale_reversal')
             AND created_at >= '{year}-01-01 00:00:00' AND created_at < '{}-01-01 00:00:00'",
            year + 1
        ),
    )
}

#[actix_web::test]
async fn the_procurement_report_equals_the_ledger_to_the_fen_and_shares_follow_the_targets() {
    let app = spawn_app().await;
    let (company, union, canteen) =
        (org_id(&app, "demo-group"), org_id(&app, "demo-group-union"), org_id(&app, "demo-group-canteen"));
    let union_admin = count(&app, "SELECT id AS n FROM users WHERE email = 'union@example.com'");
    exec(
        &mut app.conn(),
        &format!("UPDATE memberships SET is_admin = TRUE WHERE org_id = {company} AND user_id = {union_admin}"),
    );
    let admin = app.client_for("union@example.com").await;
    let (quinoa, zongzi) = (app.sku("GY-QUINOA-1KG"), app.sku("GY-ZONGZI-8"));
    let place = |c: reqwest::Client, lines: Value, account: Value| {
        let app = &app;
        async move {
            let body = json!({"lines": lines, "address": address(), "account": account});
            let (status, order) = send_json(c.post(app.url("/api/v1/orders")).json(&body)).await;
            assert_eq!(status, 201, "{order}");
        }
    };
    // Direct purchases: the union's and the canteen's orders on account.
    place(
        admin.clone(),
        json!([{"sku_id": quinoa, "quantity": 2}, {"sku_id": zongzi, "quantity": 3}]),
        json!({"org_id": union}),
    )
    .await;
    let tomorrow = (Utc::now().date_naive() + Duration::days(1)).to_string();
    place(
        app.client_for("canteen@example.com").await,
        json!([{"sku_id": quinoa, "quantity": 5}]),
        json!({"org_id": canteen, "delivery_date": tomorrow}),
    )
    .await;
    // Helped sales: employees' own orders (their points and cash), credited by the ledger to
    // their employer. employee@example.com belongs to the company; union@example.com to the
    // company and its union (the company is the employer). A part of one is refunded.
    let employee = app.client_for("employee@example.com").await;
    let first = paid_order(&app, &employee, &[(quinoa, 3), (zongzi, 1)]).await;
    let second = paid_order(&app, &admin, &[(zongzi, 2)]).await;
    let quinoa_line = first["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["sku_id"].as_i64() == Some(quinoa))
        .and_then(|l| l["id"].as_i64())
        .unwrap_or_default();
    let no = first["order_no"].as_str().unwrap_or_default();
    let refund = json!({"lines": [{"line_id": quinoa_line, "quantity": 1}], "reason": "test"});
    let (status, body) = send_json(employee.post(app.url(&format!("/api/v1/orders/{no}/refunds"))).json(&refund)).await;
    assert_eq!(status, 201, "{body}");
    // What those orders come to: their totals less what was refunded (cash and points' value).
    let orders_net = count(
        &app,
        &format!(
            "SELECT CAST(SUM(l.line_total_fen - l.refunded_cash_fen - l.refunded_pv_fen) AS BIGINT) AS n
             FROM order_lines l JOIN orders o ON o.id = l.order_id
             WHERE o.order_no IN ('{no}', '{}')",
            second["order_no"].as_str().unwrap_or_default()
        ),
    );
    assert!(orders_net > 0);
    // A buyer who belongs to no organisation is credited to none.
    let buyer = app.client_for("buyer@example.com").await;
    let stranger = paid_order(&app, &buyer, &[(quinoa, 1)]).await;
    let stranger_no = stranger["order_no"].as_str().unwrap_or_default();
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) AS n FROM credit_entries c JOIN order_lines l ON l.id = c.order_line_id
                 JOIN orders o ON o.id = l.order_id WHERE o.order_no = '{stranger_no}' AND c.org_id IS NULL"
            )
        ),
        1
    );
    // The employees' entries (sales and the reversal) name the company, channel `employee`
    // and category `helped_sales`; the organisations' own orders keep their channels.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) AS n FROM credit_entries WHERE org_id = {company} AND kind IN ('sale', 'sale_reversal')
                 AND (channel <> 'employee' OR category <> 'helped_sales')"
            )
        ),
        0
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) AS n FROM credit_entries WHERE org_id = {company} AND kind = 'sale_reversal'")
        ),
        1
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) AS n FROM credit_entries WHERE org_id IN ({union}, {canteen})
                 AND (channel NOT IN ('union', 'canteen') OR category <> 'direct_purchase')"
            )
        ),
        0
    );
    let (_, v) = send_json(app.client.get(app.url("/api/v1/ledger/verify"))).await;
    assert_eq!(v["ok"].as_bool(), Some(true), "{v}");

    let year = Utc::now().year();
    let targets = format!("/api/v1/orgs/{company}/procurement-targets/{year}");
    let (status, body) = send_json(admin.get(app.url(&targets))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["set"].as_bool(), body["canteen_target_pct"].as_i64()), (Some(false), Some(10)));
    let (status, body) =
        send_json(admin.put(app.url(&targets)).json(
            &json!({"canteen_food_budget": "100.00", "union_welfare_budget": "100.00", "welfare_target_pct": 101}),
        ))
        .await;
    assert_eq!((status, error_code(&body)), (422, "invalid_target"));
    let set = json!({"canteen_food_budget": "100.00", "union_welfare_budget": "100000.00", "welfare_target_pct": 30});
    let (status, body) = send_json(admin.put(app.url(&targets)).json(&set)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["set"].as_bool(), body["canteen_target_pct"].as_i64(), body["welfare_target_pct"].as_i64()),
        (Some(true), Some(10), Some(30))
    );

    let (status, report) =
        send_json(admin.get(app.url(&format!("/api/v1/orgs/{company}/procurement-report?year={year}")))).await;
    assert_eq!(status, 200, "{report}");
    let orgs = report["orgs"].as_array().cloned().unwrap_or_default();
    let ids: Vec<i64> = orgs.iter().filter_map(|o| o["org_id"].as_i64()).collect();
    assert_eq!(ids.first(), Some(&company));
    assert!(ids.contains(&union) && ids.contains(&canteen), "{ids:?}");
    let (mut direct_sum, mut helped_sum) = (0, 0);
    for o in &orgs {
        let id = o["org_id"].as_i64().unwrap_or(0);
        let (direct, helped) =
            (ledger_org_fen(&app, id, "direct_purchase", year), ledger_org_fen(&app, id, "helped_sales", year));
        assert_eq!((fen(&o["direct_purchase"]), fen(&o["helped_sales"])), (direct, helped), "org {id}");
        let months: i64 = o["months"].as_array().into_iter().flatten().map(|m| fen(&m["total"])).sum();
        assert_eq!(months, direct + helped);
        direct_sum += direct;
        helped_sum += helped;
    }
    // Helped sales are exactly the employees' orders less the refund, all credited to the company.
    assert!(direct_sum > 0 && helped_sum == orders_net, "both kinds present: {report}");
    let company_row = orgs.iter().find(|o| o["org_id"] == company).cloned().unwrap_or_default();
    assert_eq!(fen(&company_row["helped_sales"]), orders_net);
    let this_month = format!("{year:04}-{:02}", Utc::now().month());
    let month = company_row["months"].as_array().into_iter().flatten().find(|m| m["month"] == this_month.as_str());
    assert_eq!(month.map(|m| fen(&m["helped_sales"])), Some(orders_net), "{company_row}");
    assert_eq!((fen(&report["direct_purchase"]), fen(&report["helped_sales"])), (direct_sum, helped_sum));
    // Shares: the canteen target counts the canteen and the company's own (staff) figures.
    let total_of = |id: i64| orgs.iter().find(|o| o["org_id"] == id).map_or(0, |o| fen(&o["total"]));
    let canteen_counted = total_of(company) + total_of(canteen);
    assert_eq!(fen(&report["canteen"]["counted"]), canteen_counted);
    assert_eq!(report["canteen"]["target_amount"], "10.00");
    // Budget ¥100.00: the share in percent is the counted yuan figure.
    assert_eq!(report["canteen"]["share_pct"], yuan(canteen_counted));
    assert_eq!(
        (report["canteen"]["progress_pct"].as_i64(), report["canteen"]["reached"].as_bool()),
        (Some(100), Some(true))
    );
    let union_counted = total_of(union);
    assert_eq!(fen(&report["welfare"]["counted"]), union_counted);
    assert_eq!(report["welfare"]["target_amount"], "30000.00");
    assert_eq!(report["welfare"]["progress_pct"].as_i64(), Some(union_counted * 100 / 3_000_000));
    assert_eq!(report["welfare"]["reached"], false);

    // The employers' report reads the same entries once each: the company's row holds the
    // employees' helped sales (no "员工个人" row for them any more), and every column adds up to
    // the ledger's total for the year.
    let csv = app
        .client
        .get(app.url(&format!("/reports/credits.csv?from={year}-01-01&to={year}-12-31")))
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .filter(|r: &Vec<String>| r.len() == 8)
        .collect();
    let column = |i: usize, who: Option<&str>| -> i64 {
        rows.iter().filter(|r| who.is_none_or(|w| r[1] == w)).map(|r| fen(&Value::from(r[i].clone()))).sum()
    };
    let company_name = "联帮集团（示例）";
    assert_eq!(column(6, Some(company_name)), orders_net, "{csv}");
    assert_eq!(column(5, Some(company_name)), 0);
    assert_eq!(column(6, Some("员工个人")), 0, "{csv}");
    let ledger_total = |category: &str| {
        count(
            &app,
            &format!(
                "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS n FROM credit_entries
                 WHERE category = '{category}' AND kind IN ('sale', 'sale_reversal')"
            ),
        )
    };
    assert_eq!((column(5, None), column(6, None)), (ledger_total("direct_purchase"), ledger_total("helped_sales")));
    let xlsx = admin
        .get(app.url(&format!("/api/v1/orgs/{company}/procurement-report?year={year}&format=xlsx")))
        .send()
        .await
        .expect("xlsx");
    assert_eq!(xlsx.status(), 200);
    assert!(xlsx.bytes().await.map(|b| b.starts_with(b"PK")).unwrap_or(false));
    // Only the organisation's admins; a bad year is refused.
    assert_eq!(send_json(employee.get(app.url(&targets))).await.0, 403);
    assert_eq!(
        send_json(buyer.get(app.url(&format!("/api/v1/orgs/{company}/procurement-report?year={year}")))).await.0,
        404
    );
    let (status, body) =
        send_json(admin.get(app.url(&format!("/api/v1/orgs/{company}/procurement-report?year=1999")))).await;
    assert_eq!(status, 400, "{body}");
}

#[actix_web::test]
async fn an_org_confirms_or_disputes_its_statement_and_the_cooperative_sees_disputes() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    let admin = app.client_for("union@example.com").await;
    let (quinoa, zongzi) = (app.sku("GY-QUINOA-1KG"), app.sku("GY-ZONGZI-8"));
    let mut orders = Vec::new();
    for sku in [quinoa, zongzi] {
        let body =
            json!({"lines": [{"sku_id": sku, "quantity": 1}], "address": address(), "account": {"org_id": union}});
        let (status, order) = send_json(admin.post(app.url("/api/v1/orders")).json(&body)).await;
        assert_eq!(status, 201, "{order}");
        orders.push(order["order_no"].as_str().unwrap_or_default().to_string());
    }
    let month = Utc::now().date_naive().format("%Y-%m").to_string();
    let base = format!("/api/v1/orgs/{union}/statements/{month}");
    // Lines must be on the statement; a note is needed.
    let (status, body) = send_json(
        admin.post(app.url(&format!("{base}/dispute"))).json(&json!({"lines": ["AM0"], "note": "少了 2 袋"})),
    )
    .await;
    assert_eq!((status, error_code(&body)), (422, "invalid_lines"), "{body}");
    let (status, body) =
        send_json(admin.post(app.url(&format!("{base}/dispute"))).json(&json!({"lines": [orders[1]], "note": " "})))
            .await;
    assert_eq!((status, error_code(&body)), (422, "note_required"));
    let employee = app.client_for("employee@example.com").await;
    assert_eq!(send_json(employee.post(app.url(&format!("{base}/confirm")))).await.0, 403);
    let (status, body) =
        send_json(admin.post(app.url(&format!("/api/v1/orgs/{union}/statements/2025-01/confirm")))).await;
    assert_eq!((status, error_code(&body)), (409, "empty_statement"));

    let dispute = json!({"lines": [orders[1]], "note": "粽子外包装破损，数量少了 1 盒"});
    let (status, body) = send_json(admin.post(app.url(&format!("{base}/dispute"))).json(&dispute)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["status"].as_str(), body["lines"][0].as_str()), (Some("disputed"), Some(orders[1].as_str())));
    // The zongzi's maker sees it; the quinoa cooperative, whose order is not disputed, does not.
    let coop = app.client_for(COOP).await;
    let (status, seen) = send_json(coop.get(app.url("/api/v1/coop/statement-disputes"))).await;
    assert_eq!((status, seen["items"].as_array().map(Vec::len)), (200, Some(0)), "{seen}");
    let canteen_manager = count(&app, "SELECT id AS n FROM users WHERE email = 'canteen@example.com'");
    let foods = producer_id(&app, "guyuan-bashang-foods");
    exec(
        &mut app.conn(),
        &format!(
            "INSERT INTO user_roles (user_id, role) VALUES ({canteen_manager}, 'coop_manager');
             INSERT INTO producer_managers (user_id, producer_id) VALUES ({canteen_manager}, {foods});"
        ),
    );
    let maker = app.client_for("canteen@example.com").await;
    let (_, seen) = send_json(maker.get(app.url("/api/v1/coop/statement-disputes"))).await;
    assert_eq!(seen["items"].as_array().map(Vec::len), Some(1), "{seen}");
    assert_eq!(
        (seen["items"][0]["lines"][0].as_str(), seen["items"][0]["month"].as_str()),
        (Some(orders[1].as_str()), Some(month.as_str()))
    );
    assert!(seen["items"][0]["note"].as_str().unwrap_or_default().contains("破损"));

    // Confirmed once; then neither again nor a dispute.
    let (status, body) = send_json(admin.post(app.url(&format!("{base}/confirm")))).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")), "{body}");
    let (status, body) = send_json(admin.post(app.url(&format!("{base}/confirm")))).await;
    assert_eq!((status, error_code(&body)), (409, "already_confirmed"));
    let (status, body) = send_json(admin.post(app.url(&format!("{base}/dispute"))).json(&dispute)).await;
    assert_eq!((status, error_code(&body)), (409, "already_confirmed"));
}
