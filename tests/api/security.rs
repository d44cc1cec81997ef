//! Issue 11: each finding of the security review, as a test that failed before the fix.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{
    client, csrf_from, error_code, scalar, send_json, spawn_app, spawn_app_with, spawn_instance, TestApp,
};

fn address() -> Value {
    json!({"name": "王芳", "mobile": "13900139000", "province": "河北省", "city": "张家口市", "district": "沽源县", "detail": "平定堡镇 1 号"})
}

/// A paid order of one kilo of quinoa by `c`; its order number.
async fn paid_order(app: &TestApp, c: &reqwest::Client) -> String {
    let body = json!({"lines": [{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}],
        "campaign_id": app.campaign("dragon-boat-2027"), "address": address(), "account": "personal"});
    let (status, order) = send_json(c.post(app.url("/api/v1/orders")).json(&body)).await;
    assert_eq!(status, 201, "{order}");
    if let Some(id) = order["payment_id"].as_str() {
        let (status, done) = send_json(c.post(app.url(&format!("/api/v1/payments/sandbox/{id}/complete")))).await;
        assert_eq!(status, 200, "{done}");
    }
    order["order_no"].as_str().unwrap_or_default().to_string()
}

async fn login_from(app: &TestApp, c: &reqwest::Client, address: &str, password: &str) -> reqwest::Response {
    c.post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", address)
        .json(&json!({"email": "buyer@example.com", "password": password}))
        .send()
        .await
        .expect("login")
}

// 2. The limiter counts before it checks, per (account, address), with Retry-After.
#[actix_web::test]
async fn forty_concurrent_guesses_verify_at_most_five_and_the_owner_still_gets_in() {
    let app = spawn_app_with(&[("AIDMART_TRUST_PROXY", "true")]).await;
    let attacker = client();
    let guesses = (0..40).map(|i| {
        let (app, attacker) = (&app, attacker.clone());
        async move {
            let res = login_from(app, &attacker, "203.0.113.7", &format!("guess-{i}")).await;
            let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            (res.status().as_u16(), retry_after)
        }
    });
    let answers = join_all(guesses).await;
    let verified = answers.iter().filter(|(s, _)| *s == 401).count();
    let limited: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert!(verified <= 5, "{verified} guesses were verified: {answers:?}");
    assert_eq!(verified + limited.len(), 40, "{answers:?}");
    assert!(limited.iter().all(|(_, after)| after.is_some_and(|s| s >= 1)), "429 carries Retry-After: {answers:?}");
    // The right password from the attacker's address waits too …
    assert_eq!(login_from(&app, &attacker, "203.0.113.7", "aidmart-demo").await.status(), 429);
    // … but the owner, elsewhere, is not locked out.
    let owner = client();
    assert_eq!(login_from(&app, &owner, "198.51.100.9", "aidmart-demo").await.status(), 200);
    // Without AIDMART_TRUST_PROXY the header is ignored: the peer address counts.
    let plain = spawn_app().await;
    for i in 0..5 {
        let (status, _) = plain
            .post_json("/api/v1/auth/login", &json!({"email": "buyer@example.com", "password": format!("x{i}")}))
            .await;
        assert_eq!(status, 401);
    }
    let res = login_from(&plain, &client(), "198.51.100.10", "aidmart-demo").await;
    assert_eq!(res.status(), 429, "a forged X-Forwarded-For does not open a new pair");
}

// 3. `next` is a same-site path.
#[actix_web::test]
async fn every_next_variant_redirects_on_site() {
    let app = spawn_app().await;
    app.login("buyer@example.com").await;
    for next in ["/%09/evil.example", "/%0a", "/%0d%0aX:1", "/%00", "//evil", "/%5Cevil", "/\\evil", "/%2509/evil"] {
        let res = app.get(&format!("/login?next={next}")).await;
        assert_eq!(res.status(), 303, "{next}");
        assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some("/"), "{next}");
    }
    let res = app.get("/login?next=/orders%3Fpage%3D2").await;
    assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some("/orders?page=2"));
    // The login form's hidden `next` follows the same rule.
    let anonymous = client();
    let page = anonymous.get(app.url("/login")).send().await.expect("page").text().await.unwrap_or_default();
    let form = [
        ("_csrf", csrf_from(&page)),
        ("email", "buyer@example.com".to_string()),
        ("password", "aidmart-demo".to_string()),
        ("next", "/\t/evil.example".to_string()),
    ];
    let res = anonymous.post(app.url("/login")).form(&form).send().await.expect("login");
    assert_eq!((res.status().as_u16(), res.headers().get("location").and_then(|v| v.to_str().ok())), (303, Some("/")));
}

/// The session cookie a response set, as a `Cookie` header value.
fn session_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("aidmart_session="))
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_string()
}

async fn me_with(app: &TestApp, cookie: &str) -> u16 {
    let res = client().get(app.url("/api/v1/me")).header("cookie", cookie).send().await.expect("me");
    res.status().as_u16()
}

// 4. Sessions end on every store (this runs with Redis when TEST_REDIS_URL is set, and with
// cookie sessions otherwise).
#[actix_web::test]
async fn a_copied_cookie_stops_working_after_logout_and_everywhere() {
    let app = spawn_app().await;
    let login = |c: reqwest::Client| {
        let url = app.url("/api/v1/auth/login");
        async move {
            c.post(url)
                .json(&json!({"email": "buyer@example.com", "password": "aidmart-demo"}))
                .send()
                .await
                .expect("login")
        }
    };
    let browser = client();
    let copied = session_cookie(&login(browser.clone()).await);
    assert!(!copied.is_empty());
    assert_eq!(me_with(&app, &copied).await, 200);
    let res = browser.post(app.url("/api/v1/auth/logout")).send().await.expect("logout");
    assert_eq!(res.status(), 204);
    assert_eq!(me_with(&app, &copied).await, 401, "the copy died with the session");

    // "Log out everywhere" ends every session of the user.
    let (laptop, phone) = (client(), client());
    let laptop_cookie = session_cookie(&login(laptop.clone()).await);
    let phone_cookie = session_cookie(&login(phone.clone()).await);
    assert_eq!((me_with(&app, &laptop_cookie).await, me_with(&app, &phone_cookie).await), (200, 200));
    let res = phone.post(app.url("/api/v1/auth/logout-everywhere")).send().await.expect("everywhere");
    assert_eq!(res.status(), 204);
    assert_eq!((me_with(&app, &laptop_cookie).await, me_with(&app, &phone_cookie).await), (401, 401));

    // A new password on /account ends the other sessions; this browser stays logged in.
    let (laptop, phone) = (client(), client());
    let laptop_cookie = session_cookie(&login(laptop.clone()).await);
    login(phone.clone()).await;
    let page = phone.get(app.url("/account")).send().await.expect("account").text().await.unwrap_or_default();
    let form = [
        ("_csrf", csrf_from(&page)),
        ("current_password", "aidmart-demo".to_string()),
        ("new_password", "quinoa fields at dawn".to_string()),
        ("new_password_confirm", "quinoa fields at dawn".to_string()),
    ];
    let res = phone.post(app.url("/account/password")).form(&form).send().await.expect("password");
    assert_eq!(res.status(), 200);
    assert_eq!(me_with(&app, &laptop_cookie).await, 401);
    assert_eq!(phone.get(app.url("/api/v1/me")).send().await.expect("me").status(), 200);
    // The account page offers both.
    assert!(page.contains("action=\"/account/logout-everywhere\"") && page.contains("action=\"/account/password\""));
}

// A token found live is trusted for a second by the instance that checked it: an ended session
// stops working at once where it ended, and on another instance within that second.
#[actix_web::test]
async fn another_instance_stops_honouring_an_ended_session_within_a_second() {
    let app = spawn_app().await;
    let other = spawn_instance(&app, "second").await;
    let browser = client();
    let cookie = session_cookie(&login_from(&app, &browser, "127.0.0.1", "aidmart-demo").await);
    let me_at_other = || {
        let (url, cookie) = (format!("{other}/api/v1/me"), cookie.clone());
        async move { client().get(url).header("cookie", cookie).send().await.expect("me").status().as_u16() }
    };
    assert_eq!(me_at_other().await, 200, "the other instance now remembers the token as live");
    let res = browser.post(app.url("/api/v1/auth/logout-everywhere")).send().await.expect("everywhere");
    assert_eq!(res.status(), 204);
    assert_eq!(me_with(&app, &cookie).await, 401, "at once on the instance that ended it");
    let ended = std::time::Instant::now();
    while me_at_other().await != 401 {
        assert!(ended.elapsed() < std::time::Duration::from_millis(1500), "still honoured after a second");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn assert_security_headers(res: &reqwest::Response, what: &str) {
    let h = res.headers();
    let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let scripts = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap_or_default();
    assert!(scripts.contains("'self'") && !scripts.contains("unsafe-inline"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert_eq!(h.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"), "{what}");
    assert_eq!(h.get("referrer-policy").and_then(|v| v.to_str().ok()), Some("same-origin"), "{what}");
}

// 5. Security headers on pages, API answers (errors too) and images; no inline scripts.
#[actix_web::test]
async fn security_headers_are_on_every_response() {
    let app = spawn_app().await;
    let page = app.get("/").await;
    assert_security_headers(&page, "home page");
    assert!(page.headers().get("strict-transport-security").is_none(), "no HSTS over plain HTTP by default");
    let html = page.text().await.unwrap_or_default();
    assert!(!html.contains("<script>") && !html.contains("onclick="), "no inline scripts");
    assert_security_headers(&app.get("/api/v1/products").await, "API answer");
    assert_security_headers(&app.get("/api/v1/nope").await, "API error");
    assert_security_headers(&app.get("/static/style.css").await, "static file");

    let coop = app.client_for("coop@example.com").await;
    let quinoa = scalar(&mut app.conn(), "SELECT id AS n FROM products WHERE code = 'guyuan-quinoa'");
    let (status, image) = send_json(
        coop.post(app.url(&format!("/api/v1/coop/products/{quinoa}/images")))
            .header("content-type", "image/png")
            .body(crate::helpers::sample_png(&[])),
    )
    .await;
    assert_eq!(status, 201, "{image}");
    let res = app.get(image["url"].as_str().unwrap_or_default()).await;
    assert_security_headers(&res, "image");
    let disposition = res.headers().get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(disposition.starts_with("inline; filename="), "{disposition}");

    let secure = spawn_app_with(&[("AIDMART_COOKIE_SECURE", "true")]).await;
    let res = secure.get("/").await;
    let hsts = res.headers().get("strict-transport-security").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(hsts.starts_with("max-age="), "{hsts}");
}

// 6. JSON endpoints take only JSON; CSV endpoints only CSV.
#[actix_web::test]
async fn text_plain_to_a_json_endpoint_is_415() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let body = json!({"lines": [{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}],
        "campaign_id": app.campaign("dragon-boat-2027"), "address": address()})
    .to_string();
    for (path, ct) in [
        ("/api/v1/orders", "text/plain"),
        ("/api/v1/orders", "application/x-www-form-urlencoded"),
        ("/api/v1/auth/login", "text/plain;charset=UTF-8"),
        ("/api/v1/orgs/2/distributions/preview", "application/json"),
        ("/api/v1/orgs/2/points-grants", "text/plain"),
    ] {
        let res = buyer
            .post(app.url(path))
            .header("content-type", ct)
            .header("origin", "https://evil.example")
            .body(body.clone())
            .send()
            .await
            .expect("post");
        let status = res.status().as_u16();
        let answer: Value = res.json().await.unwrap_or_default();
        assert_eq!((status, error_code(&answer)), (415, "unsupported_media_type"), "{path} as {ct}");
    }
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM orders"), 0);
}

// 7. /metrics is private.
#[actix_web::test]
async fn metrics_need_their_own_listener_or_a_token() {
    let app = spawn_app().await;
    assert_eq!(app.get("/metrics").await.status(), 404);

    let token = "a-metrics-token-of-some-length";
    let with_token = spawn_app_with(&[("AIDMART_METRICS_TOKEN", token)]).await;
    assert_eq!(with_token.get("/metrics").await.status(), 401);
    let wrong = with_token.client.get(with_token.url("/metrics")).bearer_auth("a-metrics-token-of-some-lengtH");
    assert_eq!(wrong.send().await.expect("metrics").status(), 401);
    let res = with_token.client.get(with_token.url("/metrics")).bearer_auth(token).send().await.expect("metrics");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap_or_default().contains("aidmart_http_requests_total"));

    let private = spawn_app_with(&[("AIDMART_METRICS_BIND", "127.0.0.1:0")]).await;
    assert_eq!(private.get("/metrics").await.status(), 404, "not on the public listener");
    let port = private.metrics_port.unwrap_or_default();
    let res = client().get(format!("http://127.0.0.1:{port}/metrics")).send().await.expect("metrics");
    assert_eq!(res.status(), 200);
}

// 8. Cooperatives see orders, not people.
#[actix_web::test]
async fn stock_history_names_the_order_and_the_kind_never_the_buyer() {
    let app = spawn_app().await;
    let buyer = app.client_for("employee@example.com").await;
    let order_no = paid_order(&app, &buyer).await;
    let coop = app.client_for("coop@example.com").await;
    let sku = app.sku("GY-QUINOA-1KG");
    let (status, history) = send_json(coop.get(app.url(&format!("/api/v1/coop/skus/{sku}/history")))).await;
    assert_eq!(status, 200, "{history}");
    let sale = &history[0];
    assert_eq!((sale["kind"].as_str(), sale["order_no"].as_str()), (Some("sale"), Some(order_no.as_str())), "{sale}");
    assert!(sale["by"].is_null(), "{sale}");
    assert!(!history.to_string().contains('@'), "no email in {history}");
    let page = coop.get(app.url(&format!("/coop/skus/{sku}"))).send().await.expect("page");
    assert!(!page.text().await.unwrap_or_default().contains("employee@example.com"));
}

async fn register(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    app.post_json("/api/v1/auth/register", &json!({"email": email, "password": password, "display_name": "新买家"}))
        .await
}

/// The token in the last confirmation link mailed to `email`.
fn mailed_token(app: &TestApp, email: &str) -> String {
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    #[derive(QueryableByName)]
    struct Ctx {
        #[diesel(sql_type = Text)]
        context: String,
    }
    let rows: Vec<Ctx> = diesel::sql_query(
        "SELECT context FROM outbox WHERE template = 'verify_email' AND recipient = $1 ORDER BY id DESC",
    )
    .bind::<Text, _>(email)
    .load(&mut app.conn())
    .unwrap_or_default();
    let context: Value = rows.first().and_then(|r| serde_json::from_str(&r.context).ok()).unwrap_or_default();
    context["verify_url"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string()
}

// 9. Registration: strong passwords, the same answer for known and new emails, a link first.
#[actix_web::test]
async fn registration_refuses_weak_passwords_and_does_not_reveal_accounts() {
    let app = spawn_app().await;
    for weak in ["12345678", "password", "password123", "1234567890", "qwertyuiop", "aidmartaidmart"] {
        let (status, body) = register(&app, "new.buyer@example.com", weak).await;
        assert_eq!((status, error_code(&body)), (422, "weak_password"), "{weak}");
    }
    let (new_status, new_answer) = register(&app, "new.buyer@example.com", "quinoa fields at dawn").await;
    let (old_status, old_answer) = register(&app, "Buyer@Example.com", "quinoa fields at dawn").await;
    assert_eq!((new_status, &new_answer), (old_status, &old_answer), "{new_answer} vs {old_answer}");
    assert_eq!(new_status, 202);
    let count = |template: &str, to: &str| {
        scalar(
            &mut app.conn(),
            &format!("SELECT COUNT(*) AS n FROM outbox WHERE template = '{template}' AND recipient = '{to}'"),
        )
    };
    assert_eq!(count("account_exists", "buyer@example.com"), 1, "the owner is told instead");
    assert_eq!(count("verify_email", "new.buyer@example.com"), 1);
    // The existing account is untouched.
    app.login("buyer@example.com").await;

    // Not usable before the link is followed; usable after; the link works once.
    let credentials = json!({"email": "new.buyer@example.com", "password": "quinoa fields at dawn"});
    let try_login = || app.post_json("/api/v1/auth/login", &credentials);
    let (status, body) = try_login().await;
    assert_eq!((status, error_code(&body)), (403, "email_not_verified"));
    let token = mailed_token(&app, "new.buyer@example.com");
    assert_eq!(token.len(), 40);
    assert_eq!(app.get(&format!("/verify/{token}")).await.status(), 200);
    assert_eq!(app.get(&format!("/verify/{token}")).await.status(), 404);
    let (status, me) = try_login().await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["roles"], json!(["buyer"]));

    // The page flow answers the same for a known email and shows the notice.
    let visitor = client();
    let page = visitor.get(app.url("/register")).send().await.expect("page").text().await.unwrap_or_default();
    let form = [
        ("_csrf", csrf_from(&page)),
        ("email", "employee@example.com".to_string()),
        ("display_name", "x".to_string()),
        ("password", "another long passphrase".to_string()),
        ("password_confirm", "another long passphrase".to_string()),
    ];
    let res = visitor.post(app.url("/register")).form(&form).send().await.expect("register");
    assert_eq!(res.status(), 200);
    assert_eq!(count("account_exists", "employee@example.com"), 1);
}

// 10. Charity hours follow refunds.
#[actix_web::test]
async fn a_full_refund_reverses_the_charity_hours_its_order_earned() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    for _ in 0..2 {
        let order_no = paid_order(&app, &buyer).await;
        let (_, hours) = send_json(buyer.get(app.url("/api/v1/me/charity-hours"))).await;
        assert_eq!(hours["total_hours"], "0.1", "{hours}");
        let res = buyer.post(app.url(&format!("/api/v1/orders/{order_no}/refunds"))).send().await.expect("refund");
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap_or_default());
        let (_, hours) = send_json(buyer.get(app.url("/api/v1/me/charity-hours"))).await;
        assert_eq!(hours["total_hours"], "0.0", "{hours}");
        assert_eq!(hours["history"][0]["reversed"], true, "{hours}");
    }
}

// 12. No 5xx from input: NUL and other control characters, and dates out of range.
#[actix_web::test]
async fn every_listed_5xx_input_answers_4xx_with_the_error_envelope() {
    let app = spawn_app().await;
    let buyer = app.client_for("buyer@example.com").await;
    let order_no = paid_order(&app, &buyer).await;
    let union = app.client_for("union@example.com").await;
    let coop = app.client_for("coop@example.com").await;

    async fn expect_4xx(res: reqwest::Response, what: &str, json: bool) {
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        assert!((400..500).contains(&status), "{what}: {status} {text}");
        if json {
            let body: Value = serde_json::from_str(&text).unwrap_or_default();
            assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{what}: {text}");
        }
    }
    for path in ["/api/v1/orders/%00", "/api/v1/orders/AM%00"] {
        expect_4xx(buyer.get(app.url(path)).send().await.expect("get"), path, true).await;
    }
    for path in ["/orders/AM%00", "/pay/sandbox/%00", "/donate/%00"] {
        expect_4xx(buyer.get(app.url(path)).send().await.expect("get"), path, false).await;
    }
    for action in ["cancel", "refunds", "approve", "reject"] {
        let path = format!("/api/v1/orders/%00/{action}");
        expect_4xx(union.post(app.url(&path)).send().await.expect("post"), &path, true).await;
    }
    let refund = buyer
        .post(app.url(&format!("/api/v1/orders/{order_no}/refunds")))
        .json(&json!({"reason": "bad\u{0000}reason"}));
    expect_4xx(refund.send().await.expect("refund"), "refund reason with NUL", true).await;
    let bulk = coop
        .post(app.url("/api/v1/coop/stock/bulk"))
        .json(&json!({"csv": "sku_code,stock\nGY-QUINOA-1KG\u{0000},5\n"}));
    expect_4xx(bulk.send().await.expect("bulk"), "bulk stock CSV with NUL", true).await;
    let ship = coop
        .post(app.url("/api/v1/coop/shipments/bulk"))
        .json(&json!({"csv": format!("order_no,carrier,tracking_no\n{order_no}\u{0000},顺丰速运,SF1\n")}));
    expect_4xx(ship.send().await.expect("ship"), "bulk ship CSV with NUL", true).await;
    let preview = |query: &str, csv: &str| {
        union
            .post(app.url(&format!("/api/v1/orgs/2/distributions/preview{query}")))
            .header("content-type", "text/csv")
            .body(csv.to_string())
    };
    let csv = "name,mobile,address,sku,quantity\n李强,13800138000,北京市西城区,GY-QUINOA-1KG\0,1\n";
    expect_4xx(preview("", csv).send().await.expect("preview"), "distribution with NUL", true).await;
    let csv = "name,mobile,address\n李强,13800138000,北京市西城区\n";
    expect_4xx(preview("?sku=%00&quantity=1", csv).send().await.expect("preview"), "?sku=%00", true).await;
    for path in [
        "/api/v1/coop/reports/sales?from=%2B262142-12-25&to=%2B262142-12-31",
        "/api/v1/coop/reports/sales?from=-262143-01-01&to=-262143-01-05&format=xlsx",
    ] {
        expect_4xx(coop.get(app.url(path)).send().await.expect("report"), path, true).await;
    }
    let res = app.get("/reports/credits.xlsx?from=-262143-01-01&to=-262143-01-05").await;
    expect_4xx(res, "credits.xlsx with year -262143", false).await;
    let res = app.get("/reports/credits.csv?from=%2B262142-12-25&to=%2B262142-12-31").await;
    expect_4xx(res, "credits.csv with year 262142", false).await;
}

// 1. Points come from somewhere: no self-grants, the budget pays, big grants wait.
#[actix_web::test]
async fn org_points_grants_are_paid_from_the_budget_and_never_to_oneself() {
    let app = spawn_app().await;
    let union = scalar(&mut app.conn(), "SELECT id AS n FROM organisations WHERE kind = 'union'");
    let admin = app.client_for("union@example.com").await;
    let grant = |c: &reqwest::Client, csv: &str| {
        c.post(app.url(&format!("/api/v1/orgs/{union}/points-grants")))
            .header("content-type", "text/csv")
            .body(format!("email,points,expires,reason\n{csv}\n"))
    };
    let used =
        || scalar(&mut app.conn(), &format!("SELECT budget_used_fen AS n FROM org_budgets WHERE org_id = {union}"));
    let balance = |email: &str| {
        scalar(
            &mut app.conn(),
            &format!(
                "SELECT CAST(COALESCE(SUM(a.balance), 0) AS BIGINT) AS n FROM points_accounts a JOIN users u ON u.id = a.user_id WHERE u.email = '{email}'"
            ),
        )
    };
    let before = used();
    for _ in 0..2 {
        let (status, body) = send_json(grant(&admin, "union@example.com,1000000,2027-12-31,self")).await;
        assert_eq!((status, error_code(&body)), (403, "forbidden"), "{body}");
    }
    assert_eq!((balance("union@example.com"), used()), (0, before));

    // 1,000 points at 100 a yuan cost the budget ¥10.00 and show in the month's statement.
    let (status, answer) = send_json(grant(&admin, "employee@example.com,1000,2027-12-31,端午慰问")).await;
    assert_eq!(
        (status, answer["status"].as_str(), answer["cost"].as_str()),
        (201, Some("granted"), Some("10.00")),
        "{answer}"
    );
    assert_eq!(used(), before + 1000);
    assert_eq!(balance("employee@example.com"), 6000);
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let (status, statement) =
        send_json(admin.get(app.url(&format!("/api/v1/orgs/{union}/statements?month={month}")))).await;
    assert_eq!(status, 200, "{statement}");
    let lines = statement["orders"].as_array().cloned().unwrap_or_default();
    assert!(lines.iter().any(|l| l["status"] == "points_grant" && l["net"] == "10.00"), "{statement}");

    // Above the threshold (¥5,000) the grant waits, budget held, for another admin.
    let (status, pending) = send_json(grant(&admin, "employee@example.com,1000000,2027-12-31,年终福利")).await;
    assert_eq!((status, pending["status"].as_str()), (202, Some("pending")), "{pending}");
    assert_eq!(used(), before + 1000 + 1_000_000);
    assert_eq!(balance("employee@example.com"), 6000);
    let id = pending["id"].as_i64().unwrap_or_default();
    let approve = |c: &reqwest::Client| c.post(app.url(&format!("/api/v1/orgs/{union}/points-grants/{id}/approve")));
    let (status, body) = send_json(approve(&admin)).await;
    assert_eq!((status, error_code(&body)), (403, "forbidden"), "not by the admin who asked");
    let chair = app.client_for("union2@example.com").await;
    let (status, decided) = send_json(approve(&chair)).await;
    assert_eq!((status, decided["status"].as_str()), (200, Some("granted")), "{decided}");
    assert_eq!(balance("employee@example.com"), 1_006_000);
    assert_eq!(send_json(approve(&chair)).await.0, 409, "decided once");
    let (_, listed) = send_json(admin.get(app.url(&format!("/api/v1/orgs/{union}/points-grants")))).await;
    assert_eq!(listed[0]["decided_by"], "union2@example.com", "{listed}");

    // Beyond the budget: 409, nothing granted.
    crate::helpers::exec(
        &mut app.conn(),
        &format!("UPDATE org_budgets SET budget_total_fen = budget_used_fen + 500 WHERE org_id = {union}"),
    );
    let (status, body) = send_json(grant(&admin, "employee@example.com,1000,2027-12-31,超预算")).await;
    assert_eq!((status, error_code(&body)), (409, "budget_exceeded"), "{body}");
    assert_eq!(balance("employee@example.com"), 1_006_000);

    // Platform grants record the reason and the admin, and are listed for admins.
    let platform = app.client_for("admin@example.com").await;
    let (status, body) =
        send_json(platform.post(app.url("/api/v1/admin/points/grants")).json(
            &json!({"email": "buyer@example.com", "points": 300, "reason": "活动补偿", "expires_at": "2027-12-31"}),
        ))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, grants) = send_json(platform.get(app.url("/api/v1/admin/points/grants"))).await;
    assert_eq!(status, 200, "{grants}");
    assert_eq!(
        (grants[0]["reason"].as_str(), grants[0]["granted_by"].as_str()),
        (Some("活动补偿"), Some("admin@example.com"))
    );
    assert_eq!(grants.as_array().map(Vec::len), Some(1), "org grants are not platform grants: {grants}");
    let page = platform.get(app.url("/admin/points")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(page.contains("活动补偿") && page.contains("admin@example.com"), "{page}");
}

#[actix_web::test]
async fn registrations_are_limited_per_address_and_per_email() {
    let app =
        spawn_app_with(&[("AIDMART_REGISTER_LIMIT_PER_IP", "5"), ("AIDMART_REGISTER_LIMIT_PER_EMAIL", "2")]).await;
    let strong = "quinoa fields at dawn";
    // One email, again and again: the owner's inbox gets two mails, then 429.
    for _ in 0..2 {
        assert_eq!(register(&app, "victim@example.com", strong).await.0, 202);
    }
    let res = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"email": "Victim@example.com ", "password": strong, "display_name": "新买家"}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 429, "the same address in other case and spacing counts too");
    assert!(res.headers().get("retry-after").is_some());
    let mails = scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM outbox WHERE recipient = 'victim@example.com'");
    assert_eq!(mails, 2);
    // Many emails from one address: five attempts in the hour (the three above count), then 429.
    assert_eq!(register(&app, "a@example.com", strong).await.0, 202);
    assert_eq!(register(&app, "b@example.com", strong).await.0, 202);
    let (status, body) = register(&app, "c@example.com", strong).await;
    assert_eq!((status, error_code(&body)), (429, "rate_limited"), "{body}");
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM users WHERE email = 'c@example.com'"), 0);
}
