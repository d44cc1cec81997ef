//! The invoice pages and the statement's invoice columns: the buyer's titles and the order
//! page's invoice section, the organisation's titles, consolidated request, statement (invoice
//! numbers and states per line, confirm and dispute), the cooperative's queue with its upload
//! form and the disputes, and the aid-procurement page with its targets form and XLSX.

use chrono::{Datelike, Utc};
use serde_json::{json, Value};

use crate::helpers::{csrf_from, exec, send_json, spawn_app, TestApp};
use crate::invoices::{address, count, fen, ledger_fen, org_id, paid_order, producer_id, yuan, COOP, PDF, VALID_USCC};

const BOUNDARY: &str = "aidmart-page-boundary-91c2";

/// A multipart body as the cooperative page's form sends it (with its CSRF token).
fn page_upload(csrf: &str, file: &[u8], number: &str, amount: &str) -> Vec<u8> {
    let mut body = Vec::new();
    let today = Utc::now().date_naive().to_string();
    for (name, value) in [("_csrf", csrf), ("number", number), ("issued_on", today.as_str()), ("amount", amount)] {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fapiao.pdf\"\r\nContent-Type: application/pdf\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn html(c: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let res = c.get(app.url(path)).send().await.expect("page");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

/// Posts a form; returns the status, the redirect target and the body.
async fn post_form(c: &reqwest::Client, app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let res = c.post(app.url(path)).form(form).send().await.expect("form");
    let status = res.status().as_u16();
    let location = res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (status, location, res.text().await.unwrap_or_default())
}

fn place_body(lines: Value, org: i64) -> Value {
    json!({"lines": lines, "address": address(), "account": {"org_id": org}})
}

async fn place(app: &TestApp, c: &reqwest::Client, body: Value) -> String {
    let (status, order) = send_json(c.post(app.url("/api/v1/orders")).json(&body)).await;
    assert_eq!(status, 201, "{order}");
    order["order_no"].as_str().unwrap_or_default().to_string()
}

fn line<'a>(statement: &'a Value, order_no: &str) -> &'a Value {
    statement["orders"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["order_no"] == order_no))
        .unwrap_or_else(|| panic!("{order_no} on the statement: {statement}"))
}

#[actix_web::test]
async fn statement_lines_carry_invoice_numbers_and_states_and_the_pages_reconcile() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    let admin = app.client_for("union@example.com").await;
    let coop = app.client_for(COOP).await;
    let (quinoa, zongzi) = (app.sku("GY-QUINOA-1KG"), app.sku("GY-ZONGZI-8"));
    let quinoa_coop = producer_id(&app, "guyuan-quinoa-coop");
    let both = place(
        &app,
        &admin,
        place_body(json!([{"sku_id": quinoa, "quantity": 2}, {"sku_id": zongzi, "quantity": 1}]), union),
    )
    .await;
    let quinoa_only = place(&app, &admin, place_body(json!([{"sku_id": quinoa, "quantity": 1}]), union)).await;
    let zongzi_only = place(&app, &admin, place_body(json!([{"sku_id": zongzi, "quantity": 1}]), union)).await;
    let month = Utc::now().date_naive().format("%Y-%m").to_string();

    // The organisation's titles, from its page: a wrong check character keeps what was typed.
    let (status, page) = html(&admin, &app, &format!("/org/invoices?org={union}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("按月合并开票") && page.contains("还没有发票抬头"), "{page}");
    let csrf = csrf_from(&page);
    let good = VALID_USCC[3];
    let bad = format!("{}{}", &good[..17], if good.ends_with('0') { '1' } else { '0' });
    let org = union.to_string();
    let title = |uscc: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("org", org.clone()),
            ("kind", "normal".to_string()),
            ("name", "联帮集团有限公司工会委员会".to_string()),
            ("uscc", uscc.to_string()),
        ]
    };
    let form = title(&bad);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = post_form(&admin, &app, "/org/invoices/titles", &pairs).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("role=\"alert\"") && body.contains(&format!("应为 {}", &good[17..])), "{body}");
    assert!(body.contains(&format!("value=\"{bad}\"")), "the typed code is kept");
    let form = title(good);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, location, _) = post_form(&admin, &app, "/org/invoices/titles", &pairs).await;
    assert_eq!((status, location.as_str()), (303, format!("/org/invoices?org={union}&notice=title_added").as_str()));
    let (_, titles) = send_json(admin.get(app.url(&format!("/api/v1/orgs/{union}/invoice-titles")))).await;
    assert_eq!(titles["items"][0]["is_default"], true, "{titles}");
    let title_id = titles["items"][0]["id"].as_i64().unwrap_or(0).to_string();

    // The consolidated request for the quinoa cooperative, from the page.
    let producer = quinoa_coop.to_string();
    let request = [
        ("_csrf", csrf.as_str()),
        ("org", org.as_str()),
        ("title_id", title_id.as_str()),
        ("month", month.as_str()),
        ("producer_id", producer.as_str()),
    ];
    let (status, location, body) = post_form(&admin, &app, "/org/invoices/requests", &request).await;
    assert_eq!(
        (status, location.as_str()),
        (303, format!("/org/invoices?org={union}&notice=requested").as_str()),
        "{body}"
    );
    let (status, _, body) = post_form(&admin, &app, "/org/invoices/requests", &request).await;
    assert_eq!(status, 409, "asked twice: {body}");
    assert!(body.contains("role=\"alert\""));

    // The cooperative's queue and upload form: a wrong amount is answered on the page.
    let (status, page) = html(&coop, &app, "/coop/invoices?status=requested").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&both) && page.contains(&quinoa_only) && !page.contains(&zongzi_only), "{page}");
    let (_, list) = send_json(coop.get(app.url("/api/v1/coop/invoice-requests"))).await;
    let request_id = list["items"][0]["id"].as_i64().unwrap_or(0);
    let due = ledger_fen(&app, &both, quinoa_coop) + ledger_fen(&app, &quinoa_only, quinoa_coop);
    assert!(page.contains(&format!("value=\"{}\"", yuan(due))), "the amount due is offered");
    assert_eq!(html(&coop, &app, "/coop/invoices?status=bogus").await.0, 400);
    let csrf_coop = csrf_from(&page);
    let send = |body: Vec<u8>| {
        coop.post(app.url(&format!("/coop/invoices/{request_id}")))
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body)
            .send()
    };
    let res = send(page_upload(&csrf_coop, PDF, "26112000000012345678", &yuan(due + 1))).await.expect("upload");
    assert_eq!(res.status(), 422);
    let text = res.text().await.unwrap_or_default();
    assert!(text.contains("role=\"alert\"") && text.contains(&yuan(due)), "{text}");
    let res = send(page_upload("forged", PDF, "26112000000012345678", &yuan(due))).await.expect("upload");
    assert_eq!(res.status(), 403, "the page's form needs its token");
    let res = send(page_upload(&csrf_coop, PDF, "26112000000012345678", &yuan(due))).await.expect("upload");
    assert_eq!(res.status(), 303);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM invoices"), 1);

    // The statement: each line's invoice numbers and state, in JSON, CSV and on the page.
    let path = format!("/api/v1/orgs/{union}/statements?month={month}");
    let (status, statement) = send_json(admin.get(app.url(&path))).await;
    assert_eq!(status, 200, "{statement}");
    assert_eq!(line(&statement, &both)["invoice_state"], "partly_requested", "the zongzi part is open");
    assert_eq!(line(&statement, &both)["invoice_numbers"], json!(["26112000000012345678"]));
    assert_eq!(line(&statement, &quinoa_only)["invoice_state"], "issued");
    assert_eq!(line(&statement, &quinoa_only)["invoices"][0]["kind"], "blue");
    assert_eq!(line(&statement, &zongzi_only)["invoice_state"], "not_requested");
    assert_eq!(line(&statement, &zongzi_only)["invoice_numbers"], json!([]));
    assert!(statement["review_status"].is_null());
    let csv = admin.get(app.url(&format!("{path}&format=csv"))).send().await.expect("csv");
    let csv = csv.text().await.unwrap_or_default();
    let row = |no: &str| csv.lines().find(|l| l.starts_with(no)).unwrap_or_default().to_string();
    assert!(csv.contains("发票号码 invoice numbers") && csv.contains("开票状态 invoice state"), "{csv}");
    assert!(
        row(&quinoa_only).contains("26112000000012345678") && row(&quinoa_only).ends_with("已开票 issued"),
        "{csv}"
    );
    assert!(row(&both).ends_with("部分申请 partly requested") && row(&zongzi_only).ends_with("未申请 not requested"));
    let xlsx = admin.get(app.url(&format!("{path}&format=xlsx"))).send().await.expect("xlsx");
    assert!(xlsx.bytes().await.map(|b| b.starts_with(b"PK")).unwrap_or(false));
    let statement_page = format!("/org/statement?org={union}&month={month}");
    let (status, page) = html(&admin, &app, &statement_page).await;
    assert_eq!(status, 200);
    assert!(page.contains("26112000000012345678") && page.contains("部分申请") && page.contains("待确认"), "{page}");

    // A refund after invoicing: the line calls for a red invoice.
    let (_, order) = send_json(admin.get(app.url(&format!("/api/v1/orders/{quinoa_only}")))).await;
    let line_id = order["lines"][0]["id"].as_i64().unwrap_or(0);
    let refund = json!({"lines": [{"line_id": line_id, "quantity": 1}]});
    let (status, body) =
        send_json(admin.post(app.url(&format!("/api/v1/orders/{quinoa_only}/refunds"))).json(&refund)).await;
    assert_eq!(status, 201, "{body}");
    let (_, statement) = send_json(admin.get(app.url(&path))).await;
    assert_eq!(line(&statement, &quinoa_only)["invoice_state"], "red_needed");
    assert_eq!(line(&statement, &both)["invoice_state"], "red_needed", "one request covers both");
    let (_, page) = html(&coop, &app, "/coop/invoices?status=red_needed").await;
    assert!(page.contains("上传红字发票"), "{page}");

    // Reconciliation from the page: a dispute needs a note, names lines, the cooperative sees it.
    let (_, page) = html(&admin, &app, &statement_page).await;
    let csrf = csrf_from(&page);
    let dispute = |note: &str| {
        format!("_csrf={csrf}&org={union}&month={month}&lines={both}&lines={zongzi_only}&note={}", url_escape(note))
    };
    let post_raw = |body: String| {
        admin
            .post(app.url("/org/statement/dispute"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let res = post_raw(dispute("")).await.expect("dispute");
    assert_eq!(res.status(), 422);
    let res = post_raw(dispute("粽子少了一盒")).await.expect("dispute");
    assert_eq!(res.status(), 303);
    let (_, statement) = send_json(admin.get(app.url(&path))).await;
    assert_eq!(
        (statement["review_status"].as_str(), statement["review_note"].as_str()),
        (Some("disputed"), Some("粽子少了一盒"))
    );
    assert_eq!(
        (line(&statement, &both)["disputed"].as_bool(), line(&statement, &quinoa_only)["disputed"].as_bool()),
        (Some(true), Some(false))
    );
    let (_, page) = html(&coop, &app, "/coop/invoices").await;
    assert!(page.contains("粽子少了一盒") && page.contains(&both), "{page}");
    let (_, page) = html(&admin, &app, &statement_page).await;
    assert!(page.contains("有异议"), "{page}");
    let confirm = [("_csrf", csrf.as_str()), ("org", org.as_str()), ("month", month.as_str())];
    let (status, _, _) = post_form(&admin, &app, "/org/statement/confirm", &confirm).await;
    assert_eq!(status, 303);
    let (_, statement) = send_json(admin.get(app.url(&path))).await;
    assert_eq!(statement["review_status"], "confirmed");
    let (status, _, body) = post_form(&admin, &app, "/org/statement/confirm", &confirm).await;
    assert_eq!(status, 409, "{body}");
    let (_, page) = html(&admin, &app, &statement_page).await;
    assert!(page.contains("已确认") && !page.contains("action=\"/org/statement/confirm\""), "{page}");

    // Only the organisation's admins; forms need their token; both languages render.
    let employee = app.client_for("employee@example.com").await;
    assert_eq!(html(&employee, &app, &format!("/org/invoices?org={union}")).await.0, 404);
    assert_eq!(html(&employee, &app, &statement_page).await.0, 403, "as the statement API answers");
    let forged = [("_csrf", "forged"), ("org", org.as_str()), ("month", month.as_str())];
    assert_eq!(post_form(&admin, &app, "/org/statement/confirm", &forged).await.0, 403);
    for path in [
        format!("/org/invoices?org={union}&lang=en"),
        format!("{statement_page}&lang=en"),
        "/coop/invoices?lang=en".into(),
    ] {
        let c = if path.starts_with("/coop") { &coop } else { &admin };
        let (status, page) = html(c, &app, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(page.contains("<html lang=\"en\"") && !page.contains("{{"), "{path}");
    }
}

fn url_escape(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[actix_web::test]
async fn buyers_ask_from_the_order_page_and_the_procurement_page_reports_and_sets_targets() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let (quinoa, zongzi) = (app.sku("GY-QUINOA-1KG"), app.sku("GY-ZONGZI-8"));

    // The buyer's titles page.
    let (status, page) = html(&buyer, &app, "/account/invoices").await;
    assert_eq!(status, 200);
    let csrf = csrf_from(&page);
    let good = VALID_USCC[0];
    let bad = format!("{}{}", &good[..17], if good.ends_with('A') { 'B' } else { 'A' });
    let form = |uscc: &str, kind: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("kind", kind.to_string()),
            ("name", "李强".to_string()),
            ("uscc", uscc.to_string()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, String)> = f;
        buyer.post(app.url("/account/invoices")).form(&pairs).send()
    };
    let res = send(form(&bad, "normal")).await.expect("title");
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap_or_default().contains(&format!("应为 {}", &good[17..])));
    let res = send(form(good, "special")).await.expect("title");
    assert_eq!(res.status(), 422, "a special invoice needs the bank details");
    let res = send(form(good, "normal")).await.expect("title");
    assert_eq!(res.status(), 303);
    let (_, page) = html(&buyer, &app, "/account/invoices").await;
    assert!(page.contains(good) && page.contains("默认"), "{page}");

    // The order page: ask for the invoices of both cooperative parts, then see them issued.
    let order = paid_order(&app, &buyer, &[(quinoa, 1), (zongzi, 1)]).await;
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let (status, page) = html(&buyer, &app, &format!("/orders/{no}")).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("action=\"/orders/{no}/invoices\"")), "{page}");
    let (_, titles) = send_json(buyer.get(app.url("/api/v1/me/invoice-titles"))).await;
    let title = titles["items"][0]["id"].as_i64().unwrap_or(0).to_string();
    let csrf = csrf_from(&page);
    let (status, location, _) =
        post_form(&buyer, &app, &format!("/orders/{no}/invoices"), &[("_csrf", &csrf), ("title_id", &title)]).await;
    assert_eq!((status, location), (303, format!("/orders/{no}?notice=invoice_requested#invoices")));
    let (_, page) = html(&buyer, &app, &format!("/orders/{no}?notice=invoice_requested")).await;
    assert_eq!(page.matches("data-testid=\"invoice-request\"").count(), 2, "{page}");
    assert!(page.contains("已申请发票") && !page.contains(&format!("action=\"/orders/{no}/invoices\"")));
    let (_, list) = send_json(app.client_for(COOP).await.get(app.url("/api/v1/coop/invoice-requests"))).await;
    let request = list["items"][0]["id"].as_i64().unwrap_or(0);
    let amount = list["items"][0]["amount"].as_str().unwrap_or_default().to_string();
    let coop = app.client_for(COOP).await;
    let (_, coop_page) = html(&coop, &app, "/coop/invoices").await;
    let body = page_upload(&csrf_from(&coop_page), PDF, "12345678", &amount);
    let res = coop
        .post(app.url(&format!("/coop/invoices/{request}")))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 303);
    let invoice = count(&app, "SELECT MAX(id) AS n FROM invoices");
    let (_, page) = html(&buyer, &app, &format!("/orders/{no}")).await;
    assert!(page.contains(&format!("/api/v1/invoices/{invoice}/file")) && page.contains("已开票"), "{page}");
    // Another buyer sees neither the section's requests nor the order.
    let employee = app.client_for("employee@example.com").await;
    assert_eq!(html(&employee, &app, &format!("/orders/{no}")).await.0, 404);
    let (status, _, _) =
        post_form(&employee, &app, &format!("/orders/{no}/invoices"), &[("_csrf", "x"), ("title_id", &title)]).await;
    assert_eq!(status, 403);

    // The procurement page of the company (union@example.com made its admin), with an
    // employee's own order credited to it as helped sales.
    let company = org_id(&app, "demo-group");
    let union_admin = count(&app, "SELECT id AS n FROM users WHERE email = 'union@example.com'");
    exec(
        &mut app.conn(),
        &format!("UPDATE memberships SET is_admin = TRUE WHERE org_id = {company} AND user_id = {union_admin}"),
    );
    let admin = app.client_for("union@example.com").await;
    let staff = paid_order(&app, &employee, &[(quinoa, 2)]).await;
    let year = Utc::now().year();
    let page_path = format!("/org/procurement?org={company}&year={year}");
    let (status, page) = html(&admin, &app, &page_path).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("直接采购") && page.contains("帮助销售") && page.contains("<progress"), "{page}");
    assert!(page.contains(&format!("¥{}", yuan(fen(&staff["total"])))), "the staff order is a helped sale: {page}");
    let csrf = csrf_from(&page);
    let y = year.to_string();
    let targets = |pct: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("org", company.to_string()),
            ("year", y.clone()),
            ("canteen_food_budget", "1000.00".to_string()),
            ("union_welfare_budget", "5000.00".to_string()),
            ("canteen_target_pct", pct.to_string()),
            ("welfare_target_pct", "30".to_string()),
        ]
    };
    let res = admin.post(app.url("/org/procurement/targets")).form(&targets("101")).send().await.expect("targets");
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap_or_default().contains("value=\"101\""), "what was typed is kept");
    let res = admin.post(app.url("/org/procurement/targets")).form(&targets("10")).send().await.expect("targets");
    assert_eq!(res.status(), 303);
    let (_, report) =
        send_json(admin.get(app.url(&format!("/api/v1/orgs/{company}/procurement-report?year={year}")))).await;
    assert_eq!((report["targets"]["set"].as_bool(), report["welfare"]["target_pct"].as_i64()), (Some(true), Some(30)));
    let (_, page) = html(&admin, &app, &page_path).await;
    let share = report["canteen"]["share_pct"].as_str().unwrap_or_default().to_string();
    assert!(page.contains(&format!("data-testid=\"share-canteen\">{share}%")), "{share}: {page}");
    let xlsx = admin.get(app.url(&format!("{page_path}&format=xlsx"))).send().await.expect("xlsx");
    assert_eq!(xlsx.status(), 200);
    assert!(xlsx.bytes().await.map(|b| b.starts_with(b"PK")).unwrap_or(false));
    assert_eq!(html(&employee, &app, &page_path).await.0, 403, "a member who is not an admin");
    assert_eq!(html(&buyer, &app, &page_path).await.0, 404);
    assert_eq!(html(&admin, &app, &format!("/org/procurement?org={company}&year=1999")).await.0, 400);
    let (status, page) = html(&admin, &app, &format!("{page_path}&lang=en")).await;
    assert!(status == 200 && page.contains("Helped sales") && !page.contains("{{"), "{page}");
}
