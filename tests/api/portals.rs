//! The rest of the storefront and portals issue: campaign prices on product cards, canteen
//! pickers, statements and schedule management, the admin menu and grant history, the paged
//! ledger, local times in mail.

use chrono::{Datelike, Duration, Utc};
use serde_json::{json, Value};

use crate::helpers::{csrf_from, error_code, scalar, send_json, spawn_app, TestApp};

fn fen(yuan: &str) -> i64 {
    let (whole, frac) = yuan.split_once('.').unwrap_or((yuan, "0"));
    let whole: i64 = whole.replace(',', "").parse().unwrap_or(-1);
    let frac: i64 = format!("{frac:0<2}")[..2].parse().unwrap_or(-1);
    whole * 100 + frac
}

fn address() -> Value {
    json!({"name":"李强","mobile":"13800138000","province":"北京市","city":"北京市","district":"西城区","detail":"金融大街1号"})
}

fn org_id(app: &TestApp, slug: &str) -> i64 {
    scalar(&mut app.conn(), &format!("SELECT id AS n FROM organisations WHERE slug = '{slug}'"))
}

#[derive(diesel::QueryableByName)]
struct Pair {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    a: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    b: i64,
}

fn pairs(app: &TestApp, sql: &str) -> Vec<(i64, i64)> {
    use diesel::RunQueryDsl;
    diesel::sql_query(sql)
        .load::<Pair>(&mut *app.conn())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|p| (p.a, p.b))
        .collect()
}

#[actix_web::test]
async fn product_cards_show_the_campaign_price_the_order_charges() {
    let app = spawn_app().await;
    let buyer = app.client_for("employee@example.com").await;
    let (status, list) = app.get_json("/api/v1/products?page=1").await;
    assert_eq!(status, 200);
    let mut cards: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
    let (_, second) = app.get_json("/api/v1/products?page=2").await;
    cards.extend(second["items"].as_array().cloned().unwrap_or_default());
    let discounted: Vec<&Value> = cards.iter().filter(|c| c["campaign_price"].is_string()).collect();
    assert!(!discounted.is_empty(), "some demo products are cheaper in a running campaign");
    let zongzi = cards
        .iter()
        .find(|c| c["name_zh"] == "沽源藜麦粽子")
        .or_else(|| discounted.iter().copied().find(|c| c["name_zh"].as_str().is_some_and(|n| n.contains("粽"))));
    let zongzi = zongzi.cloned().unwrap_or_default();
    assert_eq!(zongzi["campaign_price"], "55.00", "{zongzi}");
    assert_eq!(zongzi["price_from"], "59.90", "{zongzi}");
    // Every card's campaign price is the cheapest order of one unit of one of its SKUs in a
    // campaign that is running, as the order pipeline prices it.
    for card in &discounted {
        let product = card["id"].as_i64().unwrap_or_default();
        let offers = pairs(
            &app,
            &format!(
                "SELECT s.id AS a, cp.campaign_id AS b FROM skus s JOIN campaign_products cp ON cp.product_id = s.product_id \
                 WHERE s.product_id = {product} AND s.listed AND s.stock > 0"
            ),
        );
        let mut cheapest = i64::MAX;
        for (sku, campaign) in offers {
            let (status, order) = send_json(buyer.post(app.url("/api/v1/orders")).json(&json!({
                "lines": [{"sku_id": sku, "quantity": 1}], "campaign_id": campaign, "points": 0, "address": address(),
            })))
            .await;
            if status != 201 {
                assert_eq!(error_code(&order), "campaign_not_applicable", "{order}");
                continue;
            }
            cheapest = cheapest.min(fen(order["total"].as_str().unwrap_or("")));
            let no = order["order_no"].as_str().unwrap_or_default().to_string();
            let (status, _) = send_json(buyer.post(app.url(&format!("/api/v1/orders/{no}/cancel")))).await;
            assert_eq!(status, 200);
        }
        assert_eq!(cheapest, fen(card["campaign_price"].as_str().unwrap_or("")), "card {card}");
        assert!(cheapest < fen(card["price_from"].as_str().unwrap_or("")), "below the list price: {card}");
    }
    // The pages show 活动价 beside the struck-through list price.
    for path in ["/", "/search?q=%E7%B2%BD"] {
        let html = app.get(path).await.text().await.unwrap_or_default();
        let at = html.find("¥55.00").unwrap_or_else(|| panic!("{path} shows ¥55.00"));
        let card = &html[html[..at].rfind("<article").unwrap_or(0)..];
        let card = &card[..card.find("</article>").unwrap_or(card.len())];
        assert!(card.contains("活动价") && card.contains("<del class=\"price-list\">"), "{path}: {card}");
        assert!(card.contains("59.90"), "{path}: the list price is struck through");
    }
}

/// The `<select name="sku_id">` option of a SKU in the canteen form, and its label.
fn option_for(html: &str, sku: i64) -> &str {
    let marker = format!("<option value=\"{sku}\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("the picker offers SKU {sku}"));
    let rest = &html[at..];
    &rest[..rest.find("</option>").unwrap_or(rest.len())]
}

#[actix_web::test]
async fn canteen_orders_come_from_a_picker_with_prices_and_keep_the_input_after_an_error() {
    let app = spawn_app().await;
    let canteen = org_id(&app, "demo-group-canteen");
    let manager = app.client_for("canteen@example.com").await;
    let html = manager.get(app.url("/canteen")).send().await.expect("page").text().await.unwrap_or_default();
    let rice = app.sku("RH-RICE-5KG");
    let option = option_for(&html, rice);
    let price: i64 = scalar(&mut app.conn(), &format!("SELECT price_fen AS n FROM skus WHERE id = {rice}"));
    assert!(option.contains(&format!("data-price=\"{price}\"")) && option.contains('¥'), "{option}");
    assert!(html.contains("name=\"sku_id\"") && html.contains("/static/canteen.js"), "a picker and the live total");
    assert!(html.contains("class=\"live-total\""));
    let csrf = csrf_from(&html);
    let org = canteen.to_string();
    let tomorrow = (Utc::now().date_naive() + Duration::days(1)).to_string();
    let rice_id = rice.to_string();
    let mut form = vec![
        ("_csrf", csrf.as_str()),
        ("org", org.as_str()),
        ("sku_id", rice_id.as_str()),
        ("quantity", "6"),
        ("delivery_date", tomorrow.as_str()),
        ("name", "刘军"),
        ("mobile", "12345"),
        ("province", "北京市"),
        ("city", "北京市"),
        ("district", "西城区"),
        ("detail", "金融大街 1 号 B1 层"),
    ];
    // A bad mobile number: the reason is shown and every typed field is kept.
    let res = manager.post(app.url("/canteen/orders")).form(&form).send().await.expect("order");
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap_or_default();
    assert!(page.contains("role=\"alert\""), "the error is shown");
    for kept in ["value=\"刘军\"", "value=\"12345\"", "value=\"6\"", "value=\"金融大街 1 号 B1 层\""] {
        assert!(page.contains(kept), "{kept} is kept");
    }
    assert!(option_for(&page, rice).contains(" selected"), "the chosen product stays chosen");
    assert_eq!(scalar(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM orders WHERE org_id = {canteen}")), 0);
    form[6] = ("mobile", "13800138000");
    let res = manager.post(app.url("/canteen/orders")).form(&form).send().await.expect("order");
    assert_eq!(res.status(), 303);
    let (_, list) = send_json(manager.get(app.url(&format!("/api/v1/orgs/{canteen}/orders")))).await;
    assert_eq!(list["items"][0]["total"], format!("{}.{:02}", price * 6 / 100, price * 6 % 100));
    let (status, picker) = send_json(manager.get(app.url(&format!("/api/v1/orgs/{canteen}/canteen-products")))).await;
    assert_eq!(status, 200);
    assert!(picker["items"].as_array().is_some_and(|a| a.iter().any(|i| i["sku_id"] == rice)), "{picker}");
    let buyer = app.client_for("buyer@example.com").await;
    let (status, _) = send_json(buyer.get(app.url(&format!("/api/v1/orgs/{canteen}/canteen-products")))).await;
    assert!(status == 403 || status == 404, "only the canteen's admins: {status}");
}

#[actix_web::test]
async fn a_delivery_next_month_is_in_a_reachable_statement_with_its_products() {
    let app = spawn_app().await;
    let canteen = org_id(&app, "demo-group-canteen");
    let manager = app.client_for("canteen@example.com").await;
    let today = Utc::now().date_naive();
    let first_next = if today.month() == 12 {
        chrono::NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)
    } else {
        chrono::NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)
    }
    .unwrap_or(today);
    let delivery = first_next + Duration::days(3);
    let rice = app.sku("RH-RICE-5KG");
    let (status, order) = send_json(manager.post(app.url("/api/v1/orders")).json(&json!({
        "lines": [{"sku_id": rice, "quantity": 7}], "address": address(),
        "account": {"org_id": canteen, "delivery_date": delivery.to_string()},
    })))
    .await;
    assert_eq!(status, 201, "{order}");
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let month = delivery.format("%Y-%m").to_string();
    let html = manager.get(app.url("/canteen")).send().await.expect("page").text().await.unwrap_or_default();
    let link = format!("/canteen/statement?org={canteen}&amp;month={month}");
    assert!(html.contains(&link), "the portal links next month's statement ({month})");
    let this_month = today.format("%Y-%m").to_string();
    assert!(html.contains(&format!("month={this_month}")), "and this month's");
    let (status, statement) =
        send_json(manager.get(app.url(&format!("/api/v1/orgs/{canteen}/statements?month={month}")))).await;
    assert_eq!(status, 200);
    let line = statement["orders"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["order_no"] == no.as_str()).cloned())
        .unwrap_or_default();
    assert_eq!(line["items"][0]["sku_id"], rice, "{statement}");
    assert_eq!(line["items"][0]["quantity"], 7);
    assert_eq!(line["items"][0]["product_zh"], "饶河大米");
    let page = manager
        .get(app.url(&format!("/canteen/statement?org={canteen}&month={month}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .unwrap_or_default();
    assert!(page.contains(&no) && page.contains("× 7"), "the statement page lists products and quantities");
    let csv = manager
        .get(app.url(&format!("/api/v1/orgs/{canteen}/statements?month={month}&format=csv")))
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .unwrap_or_default();
    assert!(csv.contains("× 7") && !csv.contains("UTC"), "{csv}");
}

#[actix_web::test]
async fn schedules_show_what_they_deliver_and_can_be_paused_edited_resumed_and_cancelled() {
    let app = spawn_app().await;
    let canteen = org_id(&app, "demo-group-canteen");
    let manager = app.client_for("canteen@example.com").await;
    let today = Utc::now().date_naive();
    let rice = app.sku("RH-RICE-5KG");
    let price: i64 = scalar(&mut app.conn(), &format!("SELECT price_fen AS n FROM skus WHERE id = {rice}"));
    let body = |quantity: i64| {
        json!({
            "cadence": "weekly", "first_delivery": (today + Duration::days(3)).to_string(),
            "end_date": (today + Duration::days(60)).to_string(), "lead_days": 2,
            "lines": [{"sku_id": rice, "quantity": quantity}], "address": address(),
        })
    };
    let (status, created) =
        send_json(manager.post(app.url(&format!("/api/v1/orgs/{canteen}/schedules"))).json(&body(4))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap_or_default();
    assert_eq!(created["status"], "active");
    assert_eq!(created["lines"][0]["product_zh"], "饶河大米");
    assert_eq!(fen(created["amount"].as_str().unwrap_or("")), price * 4, "{created}");
    let html = manager.get(app.url("/canteen")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains("饶河大米") && html.contains("× 4"), "the portal shows what it delivers");
    let base = format!("/api/v1/orgs/{canteen}/schedules/{id}");
    // Paused: the job places nothing.
    let (status, paused) = send_json(manager.post(app.url(&format!("{base}/pause")))).await;
    assert_eq!((status, paused["status"].as_str(), paused["active"].as_bool()), (200, Some("paused"), Some(false)));
    let report =
        aidmart::orgs::canteen::run_due(&mut app.conn(), &app.settings(), Utc::now().naive_utc() + Duration::days(2))
            .unwrap_or_else(|e| panic!("job: {e}"));
    assert_eq!(report.placed + report.failed, 0, "a paused schedule places nothing");
    let (status, body_again) = send_json(manager.post(app.url(&format!("{base}/pause")))).await;
    assert_eq!((status, error_code(&body_again)), (409, "invalid_state"));
    // Edited while paused: new quantity, still paused.
    let (status, edited) = send_json(manager.put(app.url(&base)).json(&body(9))).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!((edited["status"].as_str(), edited["lines"][0]["quantity"].as_i64()), (Some("paused"), Some(9)));
    assert_eq!(fen(edited["amount"].as_str().unwrap_or("")), price * 9);
    // Resumed from the page's form.
    let html = manager.get(app.url("/canteen")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(html.contains(&format!("/canteen/schedules/{id}/resume")), "a resume button");
    let csrf = csrf_from(&html);
    let org = canteen.to_string();
    let res = manager
        .post(app.url(&format!("/canteen/schedules/{id}/resume")))
        .form(&[("_csrf", csrf.as_str()), ("org", org.as_str())])
        .send()
        .await
        .expect("resume");
    assert_eq!(res.status(), 303);
    let (_, view) = send_json(manager.get(app.url(&format!("/api/v1/orgs/{canteen}/schedules")))).await;
    assert_eq!(view["schedules"][0]["status"], "active");
    // Another canteen's schedule is not found; a buyer is refused.
    let buyer = app.client_for("buyer@example.com").await;
    let (status, _) = send_json(buyer.post(app.url(&format!("{base}/cancel")))).await;
    assert!(status == 403 || status == 404, "{status}");
    let (status, _) =
        send_json(manager.post(app.url(&format!("/api/v1/orgs/{canteen}/schedules/999999/cancel")))).await;
    assert_eq!(status, 404);
    // Cancelled for good.
    let (status, cancelled) = send_json(manager.post(app.url(&format!("{base}/cancel")))).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")));
    for action in ["resume", "pause", "cancel"] {
        let (status, body) = send_json(manager.post(app.url(&format!("{base}/{action}")))).await;
        assert_eq!((status, error_code(&body)), (409, "invalid_state"), "{action} after cancel");
    }
    let (status, _) = send_json(manager.put(app.url(&base)).json(&body(2))).await;
    assert_eq!(status, 409);
    let report =
        aidmart::orgs::canteen::run_due(&mut app.conn(), &app.settings(), Utc::now().naive_utc() + Duration::days(2))
            .unwrap_or_else(|e| panic!("job: {e}"));
    assert_eq!(report.placed, 0, "a cancelled schedule places nothing");
}

#[actix_web::test]
async fn admins_have_a_menu_a_grant_history_and_buyers_see_their_points_lots() {
    let app = spawn_app().await;
    let admin = app.client_for("admin@example.com").await;
    let home = admin.get(app.url("/admin")).send().await.expect("admin");
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap_or_default();
    for link in [
        "/admin/points",
        "/admin/points#grant-history",
        "/admin/users",
        "/ledger",
        "/ledger/verify",
        "/reports/credits",
    ] {
        assert!(html.contains(&format!("href=\"{link}")), "the admin menu links {link}");
    }
    let account = admin.get(app.url("/account")).send().await.expect("account").text().await.unwrap_or_default();
    assert!(account.contains("href=\"/admin\""), "the account page leads admins in");
    let users = admin.get(app.url("/admin/users")).send().await.expect("users");
    assert_eq!(users.status(), 200);
    assert!(users.text().await.unwrap_or_default().contains("buyer@example.com"));
    let expires = (Utc::now().date_naive() + Duration::days(90)).to_string();
    let (status, granted) = send_json(admin.post(app.url("/api/v1/admin/points/grants")).json(&json!({
        "email": "buyer@example.com", "points": 300, "reason": "志愿服务奖励", "expires_at": expires,
    })))
    .await;
    assert_eq!(status, 201, "{granted}");
    let (status, grants) = send_json(admin.get(app.url("/api/v1/admin/points/grants"))).await;
    assert_eq!(status, 200);
    assert_eq!((grants[0]["status"].as_str(), grants[0]["remaining"].as_i64()), (Some("active"), Some(300)));
    let page = admin.get(app.url("/admin/points")).send().await.expect("grants").text().await.unwrap_or_default();
    assert!(page.contains("id=\"grant-history\"") && page.contains("志愿服务奖励") && page.contains("有效"), "history");
    assert!(page.contains("admin@example.com"), "who granted it");
    // The buyer sees the lot: how many, why, until when.
    let buyer = app.client_for("buyer@example.com").await;
    let (status, lots) = send_json(buyer.get(app.url("/api/v1/me/points/lots"))).await;
    assert_eq!(status, 200);
    let lot = lots["items"]
        .as_array()
        .and_then(|a| a.iter().find(|l| l["reason"] == "志愿服务奖励").cloned())
        .unwrap_or_default();
    assert_eq!((lot["granted"].as_i64(), lot["status"].as_str()), (Some(300), Some("active")), "{lots}");
    let mine = buyer.get(app.url("/account")).send().await.expect("account").text().await.unwrap_or_default();
    // A date is the end of that day (UTC), shown in Beijing time.
    let until = chrono::NaiveDate::parse_from_str(&expires, "%Y-%m-%d")
        .map(|d| {
            (d.and_hms_opt(23, 59, 59).unwrap_or_default() + Duration::hours(8)).format("%Y-%m-%d %H:%M").to_string()
        })
        .unwrap_or_default();
    assert!(mine.contains("志愿服务奖励") && mine.contains(&format!("有效期至 {until}")), "the account page: {until}");
    assert!(!mine.contains("href=\"/admin\""), "no admin link for a buyer");
    assert_eq!(buyer.get(app.url("/admin")).send().await.expect("admin").status(), 403);
    assert_eq!(buyer.get(app.url("/admin/users")).send().await.expect("users").status(), 403);
    assert_eq!(app.get("/api/v1/me/points/lots").await.status(), 401);
}

#[actix_web::test]
async fn the_ledger_list_is_paged_and_names_county_and_cooperative() {
    let app = spawn_app().await;
    let buyer = app.client_for("employee@example.com").await;
    // Enough paid orders for more than one page of 50 entries.
    let mut entries = scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM credit_entries");
    while entries <= 50 {
        let (status, order) = send_json(buyer.post(app.url("/api/v1/orders")).json(&json!({
            "lines": [{"sku_id": app.sku("GY-QUINOA-1KG"), "quantity": 1}, {"sku_id": app.sku("RH-RICE-5KG"), "quantity": 1}],
            "points": 0, "address": address(),
        })))
        .await;
        assert_eq!(status, 201, "{order}");
        let payment = order["payment_id"].as_str().unwrap_or_default();
        let (status, _) = send_json(buyer.post(app.url(&format!("/api/v1/payments/sandbox/{payment}/complete")))).await;
        assert_eq!(status, 200);
        entries = scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM credit_entries");
    }
    let first = app.get("/ledger").await.text().await.unwrap_or_default();
    assert!(first.contains(&format!("/ledger/{entries}\"")), "page 1 starts at the newest entry");
    assert!(!first.contains(&format!("/ledger/{}\"", entries - 50)), "50 a page");
    assert!(first.contains("沽源县") && first.contains("合作社"), "county and cooperative columns");
    assert!(first.contains("href=\"/ledger?page=2\""), "a link to the next page");
    let second = app.get("/ledger?page=2").await.text().await.unwrap_or_default();
    assert!(second.contains(&format!("/ledger/{}\"", entries - 50)) && second.contains("href=\"/ledger?page=1\""));
    assert!(first.contains("href=\"/ledger/verify\""), "校验整本账 opens the page, not JSON");
    assert_eq!(app.get("/ledger?page=abc").await.status(), 400);
    assert_eq!(app.get("/ledger?page=999").await.status(), 404);
}

#[actix_web::test]
async fn mails_print_times_in_the_store_zone() {
    let app = spawn_app().await;
    let union = org_id(&app, "demo-group-union");
    let admin = app.client_for("union@example.com").await;
    let (status, answer) = send_json(
        admin.post(app.url(&format!("/api/v1/orgs/{union}/invites"))).json(&json!({"email": "new@example.com"})),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let expires = answer["expires_at"]
        .as_str()
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").ok())
        .unwrap_or_default();
    let local = (expires + Duration::hours(8)).format("%Y-%m-%d %H:%M").to_string();
    #[derive(diesel::QueryableByName)]
    struct C {
        #[diesel(sql_type = diesel::sql_types::Text)]
        context: String,
    }
    let row: C = {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT context FROM outbox WHERE template = 'org_invite' ORDER BY id DESC LIMIT 1")
            .get_result(&mut *app.conn())
            .expect("an invite mail")
    };
    let messages = std::sync::Arc::new(aidmart::web::i18n::Messages::load().expect("catalogs"));
    let templates = aidmart::web::templates::registry(messages, None, chrono_tz::Asia::Shanghai).expect("templates");
    assert!(
        aidmart::mail::compose(&templates, "store@example.com", "org_invite", "new@example.com", &row.context).is_ok(),
        "the mail renders"
    );
    let context: Value = serde_json::from_str(&row.context).unwrap_or_default();
    let text = ["email/org_invite/body.txt", "email/org_invite/body.html"]
        .iter()
        .map(|t| templates.render(t, &context).unwrap_or_else(|e| panic!("{t}: {e}")))
        .collect::<String>();
    assert!(text.contains(&local), "the invite's expiry in Beijing time, {local}");
    assert!(!text.contains("UTC"), "no UTC in the mail");
}

#[actix_web::test]
async fn photos_get_resized_derivatives_and_pages_use_srcset() {
    let app = spawn_app().await;
    // The demo data ships a photo for every product, with its smaller sizes.
    let without = scalar(
        &mut app.conn(),
        "SELECT COUNT(*) AS n FROM products p WHERE p.listed AND NOT EXISTS (SELECT 1 FROM product_images i WHERE i.product_id = p.id AND i.widths = '320,640')",
    );
    assert_eq!(without, 0, "every listed demo product has a photo with derivatives");
    let home = app.get("/").await.text().await.unwrap_or_default();
    assert!(home.contains("srcset=\"/images/") && home.contains("-320.jpg 320w") && home.contains("loading=\"lazy\""));
    // An upload of 900 × 600 gets 320 and 640 px JPEGs, not a larger one.
    let coop = app.client_for("coop@example.com").await;
    let quinoa = scalar(&mut app.conn(), "SELECT id AS n FROM products WHERE code = 'guyuan-quinoa'");
    let picture = image::RgbImage::from_fn(900, 600, |x, y| image::Rgb([(x / 4) as u8, (y / 3) as u8, 120]));
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode");
    let (status, uploaded) = send_json(
        coop.post(app.url(&format!("/api/v1/coop/products/{quinoa}/images")))
            .header("content-type", "image/png")
            .body(png),
    )
    .await;
    assert_eq!(status, 201, "{uploaded}");
    let url = uploaded["url"].as_str().unwrap_or_default().to_string();
    let stem = url.trim_end_matches(".png").to_string();
    for (width, height) in [(320, 213), (640, 426)] {
        let res = app.get(&format!("{stem}-{width}.jpg")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        let bytes = res.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        let size = image::load_from_memory(&bytes).map(|i| (i.width(), i.height())).ok();
        assert_eq!(size, Some((width, height)));
    }
    assert_eq!(app.get(&format!("{stem}-1280.jpg")).await.status(), 404, "no upscaled copy");
    assert_eq!(app.get(&format!("/images/{}-640.jpg", "0".repeat(64))).await.status(), 404);
    let page = app.get(&format!("/products/{quinoa}")).await.text().await.unwrap_or_default();
    assert!(page.contains(&format!("{stem}-320.jpg 320w, {stem}-640.jpg 640w, {url} 900w")), "the gallery's srcset");
    // Cart, checkout and order pages show small copies.
    let buyer = app.client_for("employee@example.com").await;
    let sku = app.sku("GY-QUINOA-1KG");
    send_json(buyer.post(app.url("/api/v1/cart/items")).json(&json!({"sku_id": sku, "quantity": 1}))).await;
    for path in ["/cart", "/checkout"] {
        let html = buyer.get(app.url(path)).send().await.expect("page").text().await.unwrap_or_default();
        assert!(html.contains("class=\"thumb\" src=\"/images/") && html.contains("-320.jpg"), "{path} shows a photo");
    }
    let (status, order) = send_json(buyer.post(app.url("/api/v1/orders")).json(&json!({
        "lines": [{"sku_id": sku, "quantity": 1}], "points": 0, "address": address(),
    })))
    .await;
    assert_eq!(status, 201);
    let no = order["order_no"].as_str().unwrap_or_default();
    let html =
        buyer.get(app.url(&format!("/orders/{no}"))).send().await.expect("order").text().await.unwrap_or_default();
    assert!(
        html.contains("class=\"thumb\" src=\"/images/") && html.contains("-320.jpg"),
        "the order page shows a photo"
    );
}

#[actix_web::test]
async fn a_pause_racing_the_job_either_stops_the_order_or_follows_it_and_stays_paused() {
    let app = spawn_app().await;
    let canteen = org_id(&app, "demo-group-canteen");
    let manager = app.client_for("canteen@example.com").await;
    let today = Utc::now().date_naive();
    let first = today + Duration::days(1);
    let mut ids = Vec::new();
    for _ in 0..8 {
        let (status, created) = send_json(manager.post(app.url(&format!("/api/v1/orgs/{canteen}/schedules"))).json(&json!({
            "cadence": "weekly", "first_delivery": first.to_string(), "end_date": (today + Duration::days(60)).to_string(),
            "lead_days": 2, "lines": [{"sku_id": app.sku("RH-RICE-5KG"), "quantity": 1}], "address": address(),
        })))
        .await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_i64().unwrap_or_default());
    }
    // The job (on its own thread and connection) and eight pauses at once.
    let (mut conn, settings) = (app.conn(), app.settings());
    let job = std::thread::spawn(move || aidmart::orgs::canteen::run_due(&mut conn, &settings, Utc::now().naive_utc()));
    let pauses = futures_util::future::join_all(
        ids.iter().map(|id| send_json(manager.post(app.url(&format!("/api/v1/orgs/{canteen}/schedules/{id}/pause"))))),
    )
    .await;
    let report = job.join().expect("job thread").unwrap_or_else(|e| panic!("job: {e}"));
    assert_eq!(report.failed, 0, "a pause is not a failure");
    for ((status, body), id) in pauses.iter().zip(&ids) {
        assert!(*status == 200 || (*status == 409 && error_code(body) == "busy"), "{id}: {status} {body}");
    }
    let mut placed = 0;
    for id in &ids {
        let runs =
            scalar(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM schedule_runs WHERE schedule_id = {id}"));
        let (_, view) = send_json(manager.get(app.url(&format!("/api/v1/orgs/{canteen}/schedules")))).await;
        let s =
            view["schedules"].as_array().and_then(|a| a.iter().find(|s| s["id"] == *id).cloned()).unwrap_or_default();
        let next = s["next_delivery"].as_str().unwrap_or_default().to_string();
        if runs == 1 {
            placed += 1;
            assert_eq!(next, (first + Duration::days(7)).to_string(), "{id}: placed, then moved on");
        } else {
            assert_eq!((runs, next.as_str()), (0, first.to_string().as_str()), "{id}: stopped before any order");
        }
        // Whoever came first, a schedule whose pause was answered 200 stays paused.
        let paused_ok = pauses[ids.iter().position(|x| x == id).unwrap_or(0)].0 == 200;
        if paused_ok {
            assert_eq!((s["status"].as_str(), s["active"].as_bool()), (Some("paused"), Some(false)), "{id}: {s}");
        }
    }
    assert_eq!(report.placed, placed, "the job's count is the orders placed");
    let orders = scalar(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM orders WHERE org_id = {canteen}"));
    assert_eq!(orders as usize, placed, "one order per placed run, none after a pause");
}
