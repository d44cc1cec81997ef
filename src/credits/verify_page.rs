//! `/ledger/verify`: the whole-ledger check as a page a person can read: how many entries were
//! checked, the head hash, the last signed checkpoint, and how to check it all independently.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;

use super::{model, service};
use crate::error::AppError;
use crate::web::page::Page;

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(verify_page);
}

#[derive(Serialize)]
struct CheckpointItem {
    entries: i64,
    head: String,
    signed_at: chrono::NaiveDateTime,
    signature: String,
}

#[derive(Serialize)]
struct VerifyData {
    ok: bool,
    entries: i64,
    head: String,
    first_bad: Option<i64>,
    reason: Option<String>,
    checkpoint: Option<CheckpointItem>,
    public_key: String,
    api_url: String,
}

#[get("/ledger/verify")]
async fn verify_page(page: Page) -> Result<HttpResponse, AppError> {
    let key = page.state.ledger_key.verifying_key();
    let (v, last) = page
        .state
        .db(move |conn| Ok((service::verify(conn, &key)?, model::checkpoints(conn, 1)?.into_iter().next())))
        .await?;
    let data = VerifyData {
        ok: v.ok,
        entries: v.entries,
        head: v.head,
        first_bad: v.first_bad,
        reason: v.reason,
        checkpoint: last.map(|c| CheckpointItem {
            entries: c.entries,
            head: c.head,
            signed_at: c.signed_at,
            signature: c.signature,
        }),
        public_key: hex::encode(page.state.ledger_key.verifying_key().as_bytes()),
        api_url: format!("{}/api/v1/ledger/verify", page.state.config.public_url),
    };
    page.render("pages/ledger_verify", &page.t("ledger_verify_title"), false, data)
}
