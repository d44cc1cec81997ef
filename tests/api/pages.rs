use crate::helpers::{csrf_from, spawn_app};

#[actix_web::test]
async fn every_page_renders_in_both_languages() {
    let app = spawn_app().await;
    for lang in ["zh-CN", "en"] {
        for path in
            ["/", "/counties/1", "/products/1", "/search?q=%E8%97%9C%E9%BA%A6", "/search?q=zzzz", "/login", "/register"]
        {
            let sep = if path.contains('?') { '&' } else { '?' };
            let res = app.get(&format!("{path}{sep}lang={lang}")).await;
            assert_eq!(res.status(), 200, "{path} in {lang}");
            let html = res.text().await.unwrap_or_default();
            assert!(html.contains(&format!("<html lang=\"{lang}\"")), "{path} in {lang}");
            assert!(!html.contains("{{"), "{path}: unrendered template");
        }
    }
    let home = app.get("/?lang=zh-CN").await.text().await.unwrap_or_default();
    assert!(home.contains("沽源县") && home.contains("/counties/"), "home lists aided counties");
    assert!(home.contains("端午"), "home shows the current Dragon Boat campaign");
    let county = app.get("/counties/1?lang=en").await.text().await.unwrap_or_default();
    assert!(county.contains("Guyuan"));
    let search = app.get("/search?q=%E8%97%9C%E9%BA%A6&lang=zh-CN").await.text().await.unwrap_or_default();
    assert!(search.matches("href=\"/products/").count() >= 3, "three quinoa cards");
    assert!(!search.contains("亚麻"), "flax is not quinoa");
}

#[actix_web::test]
async fn language_follows_accept_language_and_the_cookie() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/")).header("accept-language", "en-GB,en;q=0.9").send().await.expect("get");
    assert!(res.text().await.unwrap_or_default().contains("<html lang=\"en\""));
    let res = app.get("/").await;
    assert!(res.text().await.unwrap_or_default().contains("<html lang=\"zh-CN\""), "Chinese by default");
    // ?lang=en is remembered for the next page.
    app.get("/?lang=en").await;
    let res = app.get("/counties/1").await;
    assert!(res.text().await.unwrap_or_default().contains("<html lang=\"en\""));
}

#[actix_web::test]
async fn anonymous_visitors_are_sent_to_login_and_errors_are_pages() {
    let app = spawn_app().await;
    let res = app.get("/account").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some("/login?next=/account"));
    let res = app.get("/counties/424242").await;
    assert_eq!(res.status(), 404);
    assert!(res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html")));
    assert!(res.text().await.unwrap_or_default().contains("404"));
    let res = app.get("/api/v1/nope").await;
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "not_found");
    // A login page never sends the browser to another site afterwards.
    let page = app.get("/login?next=//evil.example").await.text().await.unwrap_or_default();
    assert!(page.contains("name=\"next\" value=\"/\""), "unsafe next replaced: {page}");
}

#[actix_web::test]
async fn account_page_shows_points_roles_and_organisations() {
    let app = spawn_app().await;
    let token = csrf_from(&app.get("/login").await.text().await.unwrap_or_default());
    let form = [("email", "union@example.com"), ("password", "aidmart-demo"), ("_csrf", token.as_str())];
    let res = app.client.post(app.url("/login")).form(&form).send().await.expect("login");
    assert_eq!(res.status(), 303);
    let html = app.get("/account").await.text().await.unwrap_or_default();
    assert!(html.contains("工会管理员") && html.contains("联帮集团工会委员会"), "roles and union shown");
    // Errors on pages speak the page's language only.
    let res = app.get("/counties/424242?lang=en").await;
    let html = res.text().await.unwrap_or_default();
    assert!(html.contains("This page or product does not exist.") && !html.contains("未找到"), "English error page");
    let home = app.get("/?lang=zh-CN").await.text().await.unwrap_or_default();
    assert!(home.contains("¥2,000,000.00") && home.contains("2026-01-01 起"), "grouped target, open-ended period");
    let res = app.get("/static/style.css").await;
    assert_eq!(res.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("public, max-age=86400"));
}
