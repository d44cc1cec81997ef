use aidmart::{db, seed};
use diesel::connection::SimpleConnection;
use std::path::Path;

use crate::helpers::spawn_app;

fn count(conn: &mut db::AnyConnection, table: &str) -> i64 {
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<Count>(conn)
        .map(|c| c.n)
        .expect("count")
}

const TABLES: [&str; 12] = [
    "provinces",
    "counties",
    "organisations",
    "producers",
    "products",
    "skus",
    "sku_price_tiers",
    "campaigns",
    "campaign_products",
    "users",
    "user_roles",
    "points_entries",
];

#[actix_web::test]
async fn migrations_apply_and_seeding_twice_changes_nothing() {
    let app = spawn_app().await;
    let mut conn = app.conn();
    assert_eq!(db::migrate(&mut conn).ok(), Some(0), "{}: all migrations were applied at start", app.backend);
    let before: Vec<i64> = TABLES.iter().map(|t| count(&mut conn, t)).collect();
    assert!(before[4] >= 9 && before[5] >= 15 && before[1] >= 4, "{before:?}");
    let report = seed::load(&mut conn, Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/seed"))).expect("seed again");
    assert!(report.is_nothing(), "second load added: {report}");
    let after: Vec<i64> = TABLES.iter().map(|t| count(&mut conn, t)).collect();
    assert_eq!(before, after);
}

#[actix_web::test]
async fn constraints_refuse_what_must_never_happen() {
    let app = spawn_app().await;
    let mut conn = app.conn();
    for sql in [
        "UPDATE skus SET stock = -1 WHERE code = 'GY-QUINOA-1KG'",
        "UPDATE skus SET price_fen = 0 WHERE code = 'GY-QUINOA-1KG'",
        "UPDATE skus SET max_points_pct = 101 WHERE code = 'GY-QUINOA-1KG'",
        "UPDATE points_accounts SET balance = -1",
        "UPDATE points_entries SET points = 1",
        "DELETE FROM points_entries",
        "INSERT INTO organisations (slug, kind, name_zh, invoice_title, uscc) VALUES ('x', 'union', 'x', 'x', '91350100M000100Y43')",
    ] {
        assert!(conn.batch_execute(sql).is_err(), "{}: {sql} was allowed", app.backend);
    }
    assert_eq!(count(&mut conn, "points_entries"), 1, "the employee's grant is still there");
}

#[actix_web::test]
async fn a_broken_seed_file_loads_nothing() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let source = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/seed"));
    for entry in std::fs::read_dir(source).expect("seed dir").flatten().filter(|e| e.path().is_file()) {
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    // A new organisation is valid; the new user after it names an unknown organisation.
    let orgs = std::fs::read_to_string(dir.path().join("organisations.toml")).expect("read");
    std::fs::write(
        dir.path().join("organisations.toml"),
        format!("{orgs}\n[[organisation]]\nslug = \"other-co\"\nkind = \"company\"\nname_zh = \"另一家\"\ninvoice_title = \"另一家公司\"\nuscc = \"91350100M000100Y43\"\n"),
    )
    .expect("write");
    let users = std::fs::read_to_string(dir.path().join("users.toml")).expect("read");
    std::fs::write(
        dir.path().join("users.toml"),
        format!("{users}\n[[user]]\nemail = \"late@example.com\"\ndisplay_name = \"x\"\npassword = \"aidmart-demo\"\nroles = [\"buyer\"]\norganisations = [{{ org = \"missing\", admin = false }}]\n"),
    )
    .expect("write");
    let mut conn = app.conn();
    let result = seed::load(&mut conn, dir.path());
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("users.toml") && message.contains("missing"), "{message}");
    assert_eq!(count(&mut conn, "organisations"), 3, "the valid organisation was rolled back too");
}
