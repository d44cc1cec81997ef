use crate::helpers::{client, csrf_from, error_code, spawn_app, spawn_app_with};
use serde_json::json;

#[actix_web::test]
async fn login_me_and_logout() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/api/v1/me").await;
    assert_eq!((status, error_code(&body)), (401, "unauthenticated"));

    let login = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "Employee@Example.com", "password": "aidmart-demo"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let cookie = login.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(
        cookie.contains("aidmart_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let (status, me) = app.get_json("/api/v1/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "employee@example.com");
    assert_eq!(me["points_balance"], 5000);
    assert!(me["roles"].as_array().is_some_and(|r| r.contains(&json!("employee"))));
    let org = &me["organisations"][0];
    assert!(org["id"].is_i64() && org["kind"] == "company", "{me}");

    let (status, coop) = {
        let other = client();
        let res = other
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "coop@example.com", "password": "aidmart-demo"}))
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), 200);
        let res = other.get(app.url("/api/v1/me")).send().await.expect("me");
        (res.status().as_u16(), res.json::<serde_json::Value>().await.unwrap_or_default())
    };
    assert_eq!(status, 200);
    assert_eq!(coop["producers"][0]["name_en"], "Guyuan Quinoa Growers' Cooperative");

    let res = app.client.post(app.url("/api/v1/auth/logout")).send().await.expect("logout");
    assert_eq!(res.status(), 204);
    let (status, _) = app.get_json("/api/v1/me").await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn wrong_password_is_refused_and_then_rate_limited() {
    let app = spawn_app().await;
    let (status, body) =
        app.post_json("/api/v1/auth/login", &json!({"email": "buyer@example.com", "password": "wrong"})).await;
    assert_eq!((status, error_code(&body)), (401, "invalid_credentials"));
    let (status, body) =
        app.post_json("/api/v1/auth/login", &json!({"email": "nobody@example.com", "password": "aidmart-demo"})).await;
    assert_eq!((status, error_code(&body)), (401, "invalid_credentials"));

    // The per-account limit is 5 failures: the 5th fails, then even the right password waits.
    for _ in 0..4 {
        let (status, _) =
            app.post_json("/api/v1/auth/login", &json!({"email": "buyer@example.com", "password": "wrong"})).await;
        assert_eq!(status, 401);
    }
    let (status, body) =
        app.post_json("/api/v1/auth/login", &json!({"email": "buyer@example.com", "password": "aidmart-demo"})).await;
    assert_eq!((status, error_code(&body)), (429, "rate_limited"));
    // Another account from the same address is still welcome (below the per-IP limit).
    app.login("employee@example.com").await;
}

#[actix_web::test]
async fn too_many_failures_from_one_address_are_limited() {
    let app = spawn_app_with(&[("AIDMART_LOGIN_LIMIT_PER_IP", "3")]).await;
    for i in 0..3 {
        let (status, _) = app
            .post_json("/api/v1/auth/login", &json!({"email": format!("guess{i}@example.com"), "password": "x"}))
            .await;
        assert_eq!(status, 401);
    }
    let (status, body) =
        app.post_json("/api/v1/auth/login", &json!({"email": "admin@example.com", "password": "aidmart-demo"})).await;
    assert_eq!((status, error_code(&body)), (429, "rate_limited"));
}

#[actix_web::test]
async fn admin_routes_check_the_role_on_the_server() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/api/v1/admin/users").await;
    assert_eq!((status, error_code(&body)), (401, "unauthenticated"));
    app.login("employee@example.com").await;
    let (status, body) = app.get_json("/api/v1/admin/users").await;
    assert_eq!((status, error_code(&body)), (403, "forbidden"));

    let admin = client();
    let res = admin
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "admin@example.com", "password": "aidmart-demo"}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), 200);
    let res = admin.get(app.url("/api/v1/admin/users")).send().await.expect("users");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    assert_eq!(body["items"].as_array().map(Vec::len), Some(7), "the demo users, union2@ included");
}

#[actix_web::test]
async fn forms_without_the_csrf_token_are_rejected() {
    let app = spawn_app().await;
    let form = [("email", "buyer@example.com"), ("password", "aidmart-demo"), ("_csrf", "forged")];
    let res = app.client.post(app.url("/login")).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap_or_default().contains("<html"), "pages get an HTML error page");
    let (status, _) = app.get_json("/api/v1/me").await;
    assert_eq!(status, 401, "nothing logged in");

    // With the token from the form, the same post logs in and redirects.
    let page = app.get("/login").await.text().await.unwrap_or_default();
    let token = csrf_from(&page);
    let form =
        [("email", "buyer@example.com"), ("password", "aidmart-demo"), ("_csrf", token.as_str()), ("next", "/account")];
    let res = app.client.post(app.url("/login")).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers().get("location").and_then(|v| v.to_str().ok()), Some("/account"));
    let account = app.get("/account").await.text().await.unwrap_or_default();
    assert!(account.contains("buyer@example.com"));

    // Logging out needs the token too.
    let res = app.client.post(app.url("/logout")).form(&[("_csrf", "nope")]).send().await.expect("post");
    assert_eq!(res.status(), 403);
    let (status, _) = app.get_json("/api/v1/me").await;
    assert_eq!(status, 200, "still logged in");
}

#[actix_web::test]
async fn register_creates_a_public_buyer() {
    let app = spawn_app().await;
    let page = app.get("/register").await.text().await.unwrap_or_default();
    let token = csrf_from(&page);
    let mut form = vec![
        ("_csrf", token.as_str()),
        ("email", "new.buyer@example.com"),
        ("display_name", "新买家"),
        ("password", "terraced quinoa fields"),
        ("password_confirm", "different"),
        ("province", "13"),
    ];
    let res = app.client.post(app.url("/register")).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap_or_default().contains("role=\"alert\""));

    // Registered, but usable only once the emailed link is followed.
    form[4] = ("password_confirm", "terraced quinoa fields");
    let res = app.client.post(app.url("/register")).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 200);
    let (status, _) = app.get_json("/api/v1/me").await;
    assert_eq!(status, 401);
    let context = {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Ctx {
            #[diesel(sql_type = diesel::sql_types::Text)]
            context: String,
        }
        diesel::sql_query("SELECT context FROM outbox WHERE template = 'verify_email'")
            .get_result::<Ctx>(&mut app.conn())
            .map(|c| c.context)
            .unwrap_or_default()
    };
    let link: serde_json::Value = serde_json::from_str(&context).unwrap_or_default();
    let url = link["verify_url"].as_str().unwrap_or_default();
    let path = url.find("/verify/").map(|i| &url[i..]).unwrap_or_default();
    assert_eq!(app.get(path).await.status(), 200, "{url}");
    let (status, body) = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "new.buyer@example.com", "password": "terraced quinoa fields"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, me) = app.get_json("/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["roles"], json!(["buyer"]));
    assert_eq!(me["province_zh"], "河北省");

    // The same email again gets the same answer; the owner is told by mail.
    let other = client();
    let page = other.get(app.url("/register")).send().await.expect("get").text().await.unwrap_or_default();
    let token = csrf_from(&page);
    let form = [
        ("_csrf", token.as_str()),
        ("email", "NEW.buyer@example.com"),
        ("display_name", "x"),
        ("password", "terraced quinoa fields"),
        ("password_confirm", "terraced quinoa fields"),
    ];
    let res = other.post(app.url("/register")).form(&form).send().await.expect("post");
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn registration_mails_are_delivered_over_smtp_and_the_link_works() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("smtp port");
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let inbox = crate::smtp::serve(listener);
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let app = crate::helpers::spawn_app_with(&[("SMTP_URL", &smtp_url), ("AIDMART_MAIL_POLL_MS", "100")]).await;
    let anonymous = crate::helpers::client();
    for email in ["new.grower@example.com", "buyer@example.com"] {
        let body = serde_json::json!({"email": email, "password": "quinoa fields at dawn", "display_name": "新农人"});
        let res = anonymous.post(app.url("/api/v1/auth/register")).json(&body).send().await.expect("register");
        assert_eq!(res.status(), 202);
    }
    let mut waited = 0;
    while inbox.messages().len() < 2 && waited < 100 {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    let messages = inbox.messages();
    let to = |who: &str| messages.iter().find(|(rcpt, _)| rcpt.iter().any(|r| r == who)).map(|(_, m)| m.clone());
    // The new address gets the link (both the text and the HTML part render).
    // (Quoted-printable soft line breaks undone.)
    let welcome = to("new.grower@example.com").expect("the verification mail arrives").replace("=\r\n", "");
    assert!(welcome.contains("Content-Type: text/html") && welcome.contains("Content-Type: text/plain"));
    let start = welcome.find("/verify/").expect("a verification link") + "/verify/".len();
    let token: String = welcome[start..].chars().take_while(char::is_ascii_alphanumeric).collect();
    assert_eq!(token.len(), 40, "{welcome}");
    // The owner of an existing account is told instead.
    let exists = to("buyer@example.com").expect("the account-exists mail arrives");
    assert!(!exists.contains("/verify/"));
    // Following the link makes the account usable.
    let res = anonymous.get(app.url(&format!("/verify/{token}"))).send().await.expect("verify");
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    let login = serde_json::json!({"email": "new.grower@example.com", "password": "quinoa fields at dawn"});
    let res = anonymous.post(app.url("/api/v1/auth/login")).json(&login).send().await.expect("login");
    assert_eq!(res.status(), 200);
}
