//! Settlement runs by the job on each cooperative's own period, an admin's decision on a
//! disputed statement, and who funds the points (organisations' funding statements).

use chrono::{Datelike, Weekday};
use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::helpers::{csrf_from, error_code, exec, scalar, send_json, spawn_app, TestApp};
use crate::settlement::{address, check_invariants, complete_some, fen, ids, random_orders, today};

fn year_round_skus(app: &TestApp) -> Vec<i64> {
    let year_round = app.campaign("year-round");
    ids(
        app,
        &format!("SELECT s.id AS n FROM skus s JOIN campaign_products cp ON cp.product_id = s.product_id WHERE cp.campaign_id = {year_round}"),
    )
}

/// Each producer's statements chain: each opens with the carry of the last one not voided,
/// closes at opening + what its entries made available (its own hold aside), and pays no more
/// than its closing balance.
fn check_statement_chain(app: &TestApp) {
    let c = &mut app.conn();
    for p in ids(app, "SELECT DISTINCT producer_id AS n FROM settlement_statements") {
        let mut carry = 0;
        for s in ids(
            app,
            &format!("SELECT id AS n FROM settlement_statements WHERE producer_id = {p} AND (resolution IS NULL OR resolution <> 'voided')"),
        ) {
            let get = |c: &mut aidmart::db::AnyConnection, col: &str| {
                scalar(c, &format!("SELECT {col} AS n FROM settlement_statements WHERE id = {s}"))
            };
            let (opening, closing, payable) = (get(c, "opening_fen"), get(c, "closing_fen"), get(c, "payable_fen"));
            let moved = scalar(
                c,
                &format!("SELECT CAST(COALESCE(SUM(e.available_fen), 0) AS BIGINT) AS n FROM statement_lines sl JOIN earnings_entries e ON e.id = sl.entry_id WHERE sl.statement_id = {s} AND NOT (e.kind = 'payout_hold' AND e.statement_id = {s})"),
            );
            assert_eq!(opening, carry, "statement {s}");
            assert_eq!(closing, opening + moved, "statement {s}");
            assert!(payable >= 0 && payable <= closing.max(0), "statement {s}");
            carry = closing - payable;
        }
    }
    // No entry is on two statements; every entry is on at most one (the unique key), and a
    // voided statement keeps only its hold and the hold's release.
    assert_eq!(
        scalar(
            c,
            "SELECT COUNT(*) AS n FROM statement_lines sl JOIN settlement_statements s ON s.id = sl.statement_id \
             JOIN earnings_entries e ON e.id = sl.entry_id WHERE s.resolution = 'voided' AND e.kind NOT IN ('payout_hold', 'hold_released')"
        ),
        0
    );
}

#[actix_web::test]
async fn the_job_closes_each_cooperatives_last_period_once_even_on_two_threads() {
    let app = spawn_app().await;
    exec(&mut app.conn(), "UPDATE skus SET stock = 1000000");
    let buyer = app.client_for("buyer@example.com").await;
    let admin = app.client_for("admin@example.com").await;
    let coop = app.client_for("coop@example.com").await;
    let mut rng = StdRng::seed_from_u64(41);
    random_orders(&app, &buyer, &mut rng, &year_round_skus(&app), 12, false).await;
    complete_some(&app, &mut rng, 1.0);
    let guyuan = scalar(&mut app.conn(), "SELECT id AS n FROM producers WHERE code = 'guyuan-quinoa-coop'");

    // Periods: monthly by default; an admin makes the demo cooperative weekly.
    let (s, list) = send_json(admin.get(app.url("/api/v1/admin/settlement/producers"))).await;
    assert_eq!(s, 200, "{list}");
    assert!(list.as_array().is_some_and(|l| !l.is_empty() && l.iter().all(|p| p["period"] == "monthly")), "{list}");
    let put = |id: i64, body: Value| {
        admin.put(app.url(&format!("/api/v1/admin/producers/{id}/settlement-period"))).json(&body)
    };
    let (s, v) = send_json(put(guyuan, json!({"period": "daily"}))).await;
    assert_eq!((s, error_code(&v)), (400, "invalid_period"), "{v}");
    let (s, _) = send_json(put(999_999, json!({"period": "weekly"}))).await;
    assert_eq!(s, 404);
    let (s, _) = send_json(
        coop.put(app.url(&format!("/api/v1/admin/producers/{guyuan}/settlement-period")))
            .json(&json!({"period": "weekly"})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, v) = send_json(put(guyuan, json!({"period": "weekly"}))).await;
    assert_eq!((s, &v["period"]), (200, &json!("weekly")), "{v}");
    let next = chrono::NaiveDate::parse_from_str(v["next_settlement"].as_str().unwrap_or(""), "%Y-%m-%d").expect("day");
    assert_eq!(next.weekday(), Weekday::Mon, "a weekly period ends on Sunday; its statement comes on Monday");
    let html = coop.get(app.url("/coop/earnings")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(
        html.contains(&format!("<strong>{next}</strong>")) && html.contains("每周结算"),
        "next settlement on the page"
    );

    // Nothing has finished yet: everything was earned today.
    let zone = app.config.timezone;
    let now = chrono::Utc::now().naive_utc();
    assert_eq!(aidmart::settlement::service::run_due(&mut app.conn(), zone, now).expect("job"), 0);
    // Forty days on, every cooperative's last period has ended: two jobs at once (two threads,
    // as on two servers) make one statement each.
    let later = now + chrono::Duration::days(40);
    let producers = scalar(&mut app.conn(), "SELECT COUNT(DISTINCT producer_id) AS n FROM earnings_entries");
    let twins: Vec<_> = (0..2)
        .map(|_| {
            let pool = app.pool.clone();
            std::thread::spawn(move || {
                let mut c = pool.get().expect("conn");
                aidmart::settlement::service::run_due(&mut c, zone, later).expect("job")
            })
        })
        .collect();
    let made: usize = twins.into_iter().map(|t| t.join().unwrap_or(999)).sum();
    assert_eq!(made as i64, producers);
    assert_eq!(scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM settlement_statements"), producers);
    let local = aidmart::web::time::local_date(zone, later);
    for (id, producer) in ids(&app, "SELECT id AS n FROM settlement_statements").into_iter().map(|id| {
        (id, scalar(&mut app.conn(), &format!("SELECT producer_id AS n FROM settlement_statements WHERE id = {id}")))
    }) {
        let (_, st) = send_json(admin.get(app.url(&format!("/api/v1/admin/statements/{id}")))).await;
        let end = chrono::NaiveDate::parse_from_str(st["period_end"].as_str().unwrap_or(""), "%Y-%m-%d").expect("day");
        let expected =
            aidmart::settlement::service::last_finished(if producer == guyuan { "weekly" } else { "monthly" }, local);
        assert_eq!(end, expected, "{st}");
        if producer == guyuan {
            assert_eq!(end.weekday(), Weekday::Sun);
        } else {
            assert_eq!(end.succ_opt().map(|d| d.day()), Some(1), "a monthly period ends on the month's last day");
        }
    }
    // Every entry is on a statement; again, later, or the admin's run for today: nothing new.
    assert_eq!(
        scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM statement_lines"),
        scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM earnings_entries")
    );
    assert_eq!(aidmart::settlement::service::run_due(&mut app.conn(), zone, later).expect("job"), 0);
    let (s, again) =
        send_json(admin.post(app.url("/api/v1/admin/settlements/run")).json(&json!({"period_end": today(&app)}))).await;
    assert_eq!((s, again.as_array().map(Vec::len)), (200, Some(0)), "{again}");
    check_statement_chain(&app);
    check_invariants(&app, 60);
}

#[actix_web::test]
async fn an_admin_upholds_or_voids_a_disputed_statement_once() {
    let app = spawn_app().await;
    exec(&mut app.conn(), "UPDATE skus SET stock = 1000000");
    let buyer = app.client_for("buyer@example.com").await;
    let admin = app.client_for("admin@example.com").await;
    let coop = app.client_for("coop@example.com").await;
    let mut rng = StdRng::seed_from_u64(77);
    random_orders(&app, &buyer, &mut rng, &year_round_skus(&app), 14, false).await;
    complete_some(&app, &mut rng, 1.0);
    let (s, made) =
        send_json(admin.post(app.url("/api/v1/admin/settlements/run")).json(&json!({"period_end": today(&app)}))).await;
    assert_eq!(s, 200, "{made}");
    let statements = made.as_array().cloned().unwrap_or_default();
    assert!(statements.len() >= 2, "{made}");
    let guyuan = scalar(&mut app.conn(), "SELECT id AS n FROM producers WHERE code = 'guyuan-quinoa-coop'");
    let mine = statements.iter().find(|s| s["producer_id"].as_i64() == Some(guyuan)).cloned().expect("guyuan's");
    let other = statements.iter().find(|s| s["producer_id"].as_i64() != Some(guyuan)).cloned().expect("another");
    let (mine_id, other_id) = (mine["id"].as_i64().unwrap_or(0), other["id"].as_i64().unwrap_or(0));
    let other_producer = other["producer_id"].as_i64().unwrap_or(0);
    assert!(fen(&mine["payable"]) > 0 && fen(&other["payable"]) > 0);

    let uphold = |id: i64, note: &str| {
        admin.post(app.url(&format!("/api/v1/admin/statements/{id}/uphold"))).json(&json!({"note": note}))
    };
    let void = |id: i64, note: &str| {
        admin.post(app.url(&format!("/api/v1/admin/statements/{id}/void"))).json(&json!({"note": note}))
    };
    // Only a disputed statement can be decided.
    let (s, v) = send_json(uphold(mine_id, "核对无误")).await;
    assert_eq!((s, error_code(&v)), (409, "invalid_state"), "{v}");
    let (s, v) = send_json(
        coop.post(app.url(&format!("/api/v1/coop/statements/{mine_id}/dispute"))).json(&json!({"note": "少算了一笔"})),
    )
    .await;
    assert_eq!((s, &v["status"]), (200, &json!("disputed")), "{v}");
    let now = chrono::Utc::now().naive_utc();
    aidmart::settlement::service::decide(&mut app.conn(), &[other_producer], other_id, false, Some("退款未扣"), 1, now)
        .expect("dispute");
    let (s, held) = send_json(admin.get(app.url("/api/v1/admin/statements?status=held"))).await;
    assert_eq!(s, 200, "{held}");
    let held_ids: Vec<i64> = held.as_array().into_iter().flatten().filter_map(|s| s["id"].as_i64()).collect();
    assert_eq!(held_ids.len(), 2, "{held}");
    assert!(held_ids.contains(&mine_id) && held_ids.contains(&other_id));
    let (s, v) = send_json(admin.get(app.url("/api/v1/admin/statements?status=lost"))).await;
    assert_eq!((s, error_code(&v)), (400, "invalid_status"));
    for path in
        [format!("/api/v1/admin/statements/{mine_id}/uphold"), format!("/api/v1/admin/statements/{mine_id}/void")]
    {
        let (s, _) = send_json(coop.post(app.url(&path)).json(&json!({"note": "自己裁决"}))).await;
        assert_eq!(s, 403);
    }
    let (s, v) = send_json(uphold(mine_id, "   ")).await;
    assert_eq!((s, error_code(&v)), (400, "invalid_note"));
    let (s, _) = send_json(uphold(999_999, "x")).await;
    assert_eq!(s, 404);

    // Upheld (twice at once: once): a payout of the payable, the cooperative mailed.
    let both = join_all((0..2).map(|_| send_json(uphold(mine_id, "已电话核对，退款已计入下期")))).await;
    let oks: Vec<&Value> = both.iter().filter(|(s, _)| *s == 200).map(|(_, v)| v).collect();
    assert_eq!(oks.len(), 1, "{both:?}");
    assert!(both.iter().any(|(s, v)| *s == 409 && error_code(v) == "invalid_state"), "{both:?}");
    assert_eq!((&oks[0]["resolution"], &oks[0]["payout_status"]), (&json!("upheld"), &json!("queued")), "{}", oks[0]);
    assert_eq!(
        scalar(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM payouts WHERE statement_id = {mine_id}")),
        1
    );
    assert_eq!(
        scalar(
            &mut app.conn(),
            "SELECT COUNT(*) AS n FROM outbox WHERE template = 'statement_resolved' AND recipient = 'coop@example.com'"
        ),
        1
    );
    let (s, v) = send_json(void(mine_id, "改判")).await;
    assert_eq!((s, error_code(&v)), (409, "invalid_state"));

    // Voided: its entries come off it, its hold returns to available, and the next run states
    // them again.
    let available = |app: &TestApp| {
        scalar(
            &mut app.conn(),
            &format!("SELECT available_fen AS n FROM earnings_accounts WHERE producer_id = {other_producer}"),
        )
    };
    let before = available(&app);
    let (s, v) = send_json(void(other_id, "退款未扣，作废重出")).await;
    assert_eq!((s, &v["resolution"], &v["payout_id"]), (200, &json!("voided"), &json!(null)), "{v}");
    assert_eq!(available(&app), before + fen(&other["payable"]));
    let (s, _) = send_json(uphold(other_id, "改判")).await;
    assert_eq!(s, 409);
    let later = chrono::Utc::now().naive_utc() + chrono::Duration::days(1);
    let day = aidmart::web::time::local_date(app.config.timezone, later);
    let next = aidmart::settlement::service::run_period(&mut app.conn(), app.config.timezone, day, later).expect("run");
    let again = next.iter().find(|s| s.producer_id == other_producer).expect("the voided entries are stated again");
    assert_eq!(again.opening.fen(), 0, "a voided statement carries nothing");
    assert_eq!(
        (again.closing.to_string(), again.payable.to_string()),
        (other["closing"].as_str().unwrap_or("?").to_string(), other["payable"].as_str().unwrap_or("?").to_string())
    );
    check_statement_chain(&app);
    check_invariants(&app, 60);

    // The admin's settlement page lists what waits and decides it on a form.
    let (s, _) = send_json(
        coop.post(app.url(&format!("/api/v1/coop/statements/{}/dispute", again.id))).json(&json!({"note": "x"})),
    )
    .await;
    assert!(s == 404 || s == 200, "{s}");
    aidmart::settlement::service::decide(
        &mut app.conn(),
        &[other_producer],
        again.id,
        false,
        Some("还是不对"),
        1,
        later,
    )
    .expect("dispute");
    let html = admin.get(app.url("/admin/settlement")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(
        html.contains("<h1>结算</h1>") && html.contains(&format!("/admin/settlement/statements/{}/decide", again.id)),
        "{html}"
    );
    let csrf = csrf_from(&html);
    let res = admin
        .post(app.url(&format!("/admin/settlement/statements/{}/decide", again.id)))
        .form(&[("_csrf", csrf.as_str()), ("decision", "uphold"), ("note", "维持")])
        .send()
        .await
        .expect("decide");
    assert_eq!(res.status(), 303);
    let (_, st) = send_json(admin.get(app.url(&format!("/api/v1/admin/statements/{}", again.id)))).await;
    assert_eq!((&st["resolution"], &st["payout_status"]), (&json!("upheld"), &json!("queued")), "{st}");
    let page = coop.get(app.url("/coop/earnings")).send().await.expect("page").text().await.unwrap_or_default();
    assert!(page.contains("已电话核对，退款已计入下期"), "the cooperative sees the decision");
}

#[actix_web::test]
async fn funding_statements_list_the_points_redeemed_from_each_organisations_lots() {
    let app = spawn_app().await;
    let employee = app.client_for("employee@example.com").await;
    let union = app.client_for("union@example.com").await;
    let admin = app.client_for("admin@example.com").await;
    let buyer = app.client_for("buyer@example.com").await;
    let union_id = scalar(&mut app.conn(), "SELECT id AS n FROM organisations WHERE slug = 'demo-group-union'");
    let group_id = scalar(&mut app.conn(), "SELECT id AS n FROM organisations WHERE slug = 'demo-group'");
    // The seeded welfare points are the employee's organisation's (as the migration reads them).
    assert_eq!(
        scalar(
            &mut app.conn(),
            &format!(
                "SELECT COUNT(*) AS n FROM points_lots WHERE funder = 'organisation' AND funder_org_id = {group_id}"
            )
        ),
        1
    );
    // The union grants welfare points expiring first (so spent first): its lot is its own.
    let (s, v) = send_json(
        union
            .post(app.url(&format!("/api/v1/orgs/{union_id}/points-grants")))
            .header("content-type", "text/csv")
            .body("email,points,expires,reason\nemployee@example.com,1000,2027-06-30,端午慰问\n"),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        scalar(
            &mut app.conn(),
            &format!("SELECT COUNT(*) AS n FROM points_lots WHERE funder_org_id = {union_id} AND granted = 1000")
        ),
        1
    );
    // An admin's grant is the platform's.
    crate::settlement::grant(&app, "buyer@example.com", 700).await;
    assert_eq!(
        scalar(&mut app.conn(), "SELECT COUNT(*) AS n FROM points_lots WHERE funder = 'platform' AND funder_org_id IS NULL AND granted = 700"),
        1
    );

    let sku = app.sku("GY-QUINOA-1KG");
    let body = json!({"lines": [{"sku_id": sku, "quantity": 4}], "points": 800, "campaign_id": app.campaign("year-round"), "address": address(), "account": "personal"});
    let (s, order) = send_json(employee.post(app.url("/api/v1/orders")).json(&body)).await;
    assert_eq!(s, 201, "{order}");
    let (s, _) = send_json(employee.post(
        app.url(&format!("/api/v1/payments/sandbox/{}/complete", order["payment_id"].as_str().unwrap_or_default())),
    ))
    .await;
    assert_eq!(s, 200);
    let no = order["order_no"].as_str().unwrap_or_default().to_string();
    let line = order["lines"][0]["id"].clone();
    let (s, r) = send_json(
        employee
            .post(app.url(&format!("/api/v1/orders/{no}/refunds")))
            .json(&json!({"lines": [{"line_id": line, "quantity": 1}]})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let returned = r["points"].as_i64().unwrap_or(0);
    assert!(returned > 0, "{r}");

    let month =
        aidmart::web::time::local_date(app.config.timezone, chrono::Utc::now().naive_utc()).format("%Y-%m").to_string();
    let url = |org: i64, rest: &str| app.url(&format!("/api/v1/orgs/{org}/funding-statements/{month}{rest}"));
    let (s, st) = send_json(union.get(url(union_id, ""))).await;
    assert_eq!(s, 200, "{st}");
    assert_eq!((st["points_redeemed"].as_i64(), st["points_returned"].as_i64()), (Some(800), Some(returned)), "{st}");
    assert_eq!(st["points"].as_i64(), Some(800 - returned));
    assert_eq!(fen(&st["value"]), app.config.exchange_rate.value_of(800 - returned).fen());
    assert_eq!(st["points_granted"].as_i64(), Some(1000));
    assert_eq!(st["lines"][0]["order_no"], no.as_str());
    // The cooperative is paid the line's full value whatever the tender.
    let earned = scalar(
        &mut app.conn(),
        "SELECT CAST(SUM(amount_fen) AS BIGINT) AS n FROM earnings_entries WHERE kind = 'earning'",
    );
    assert_eq!(earned, fen(&order["total"]));
    // The group funded none of it; only its and the platform's admins may look.
    let (s, g) = send_json(admin.get(url(group_id, ""))).await;
    assert_eq!((s, g["points"].as_i64()), (200, Some(0)), "{g}");
    let (s, _) = send_json(admin.get(url(union_id, ""))).await;
    assert_eq!(s, 200);
    for who in [&employee, &buyer] {
        let (s, _) = send_json(who.get(url(union_id, ""))).await;
        assert_eq!(s, 403);
    }
    let (s, _) = send_json(admin.get(url(999_999, ""))).await;
    assert_eq!(s, 404);
    let (s, v) = send_json(union.get(app.url(&format!("/api/v1/orgs/{union_id}/funding-statements/2026-13")))).await;
    assert_eq!((s, error_code(&v)), (400, "invalid_month"));
    let (s, v) = send_json(union.get(url(union_id, "?format=pdf"))).await;
    assert_eq!((s, error_code(&v)), (400, "invalid_format"));
    let csv = union.get(url(union_id, "?format=csv")).send().await.expect("csv");
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap_or_default();
    assert!(text.contains(&no) && text.contains(st["value"].as_str().unwrap_or("?")), "{text}");
    let xlsx = union.get(url(union_id, "?format=xlsx")).send().await.expect("xlsx");
    assert!(xlsx.bytes().await.map(|b| b.starts_with(b"PK")).unwrap_or(false));
    // The organisation portal's page.
    let html = union.get(app.url(&format!("/orgs/{union_id}/funding?month={month}"))).send().await.expect("page");
    assert_eq!(html.status(), 200);
    let html = html.text().await.unwrap_or_default();
    assert!(html.contains("积分出资对账") && html.contains(&no), "{html}");
    let portal = union.get(app.url("/union")).send().await.expect("portal").text().await.unwrap_or_default();
    assert!(portal.contains(&format!("/orgs/{union_id}/funding")));
}
