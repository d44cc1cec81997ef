use crate::helpers::{error_code, spawn_app};

#[actix_web::test]
async fn malformed_json_gets_a_400_with_a_code() {
    let app = spawn_app().await;
    let cases: [(&str, Option<&str>); 5] = [
        ("{", Some("application/json")),
        ("", Some("application/json")),
        ("[]", Some("application/json")),
        ("{\"email\": 5, \"password\": []}", Some("application/json")),
        ("{\"email\":\"buyer@example.com\"}", Some("application/json")),
    ];
    for (body, content_type) in cases {
        let mut req = app.client.post(app.url("/api/v1/auth/login")).body(body.to_string());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let json: serde_json::Value = res.json().await.unwrap_or_default();
        assert_eq!((status, error_code(&json)), (400, "invalid_json"), "body {body:?}");
        assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[actix_web::test]
async fn malformed_query_strings_get_a_400_with_a_code() {
    let app = spawn_app().await;
    for query in [
        "page=abc",
        "page=0",
        "page=-1",
        "page=1.5",
        "county=x",
        "campaign=%FF",
        "page=99999999999999999999",
        &format!("q={}", "藜".repeat(101)),
    ] {
        let (status, body) = app.get_json(&format!("/api/v1/products?{query}")).await;
        assert_eq!((status, error_code(&body)), (400, "invalid_query"), "{query}");
    }
    // Harmless oddities are accepted.
    for query in ["", "q=", "page=", "q=%20%20", "unknown=1", "q=%E8%97%9C%E9%BA%A6&q=x"] {
        let (status, body) = app.get_json(&format!("/api/v1/products?{query}")).await;
        assert!(status == 200 || status == 400, "{query}: {status} {body}");
    }
}

/// Whatever is thrown at the server, it answers with something other than a 5xx.
#[actix_web::test]
async fn no_input_produces_a_server_error() {
    let app = spawn_app().await;
    let paths = [
        "/",
        "/counties/0",
        "/counties/-1",
        "/counties/abc",
        "/counties/99999999999999999999",
        "/products/0",
        "/products/%00",
        "/search?q=%00%01",
        "/search?q=%25%5F%5C",
        "/search?page=abc",
        "/search?q='%20OR%201=1--",
        "/api/v1/products?q=%00",
        "/api/v1/products?q=%F0%9F%8D%9A",
        "/api/v1/products/1%20OR%201=1",
        "/api/v1/counties?x=%zz",
        "/static/../Cargo.toml",
        "/static/nope.css",
        "/login?next=//evil.example",
        "/account",
        "/api/v1/me",
        "/nope",
        "/api/v1/nope",
        "/metrics?x=1",
        "/?lang=xx",
        "/?lang=%FF",
    ];
    for path in paths {
        let res = app.get(path).await;
        assert!(res.status().as_u16() < 500, "GET {path} gave {}", res.status());
    }
    let posts: [(&str, &str, &str); 9] = [
        (
            "/register",
            "application/x-www-form-urlencoded",
            "_csrf=x&email=a%00@b.cn&display_name=%00&password=12345678&password_confirm=12345678&province=1%00",
        ),
        ("/api/v1/auth/login", "application/json", "{\"email\":\"a\\u0000@example.com\",\"password\":\"x\\u0000\"}"),
        ("/login", "application/x-www-form-urlencoded", "email=a%00b&password=%00&_csrf=x"),
        ("/login", "application/x-www-form-urlencoded", "email=%FF&password"),
        ("/login", "application/json", "{}"),
        ("/register", "application/x-www-form-urlencoded", "_csrf=&email=a"),
        ("/logout", "text/plain", "hello"),
        ("/api/v1/auth/logout", "application/json", "{"),
        ("/api/v1/auth/login", "application/json", "{\"email\":\"\\ud800\",\"password\":\"x\"}"),
    ];
    for (path, ct, body) in posts {
        let res = app.client.post(app.url(path)).header("content-type", ct).body(body).send().await.expect("request");
        assert!(res.status().as_u16() < 500, "POST {path} {body:?} gave {}", res.status());
    }
    let huge = "x".repeat(2 * 1024 * 1024);
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 400);
}
