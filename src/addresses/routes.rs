//! The address book page: the buyer's addresses, the default first; add one with the
//! province / city / county picker (static/address.js over static/divisions.json), choose the
//! default, delete. Checkout starts from the default and remembers each address used.

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::model::{self, AddressRow};
use crate::error::AppError;
use crate::orders::service::Address;
use crate::web::page::{see_other, Page};
use crate::web::session;

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(book_page).service(add_address).service(make_default).service(remove_address);
}

#[derive(Serialize, Deserialize, Default, Clone)]
struct AddressFields {
    name: String,
    mobile: String,
    province: String,
    city: String,
    district: String,
    detail: String,
    #[serde(default)]
    division_code: String,
}

#[derive(Serialize)]
struct BookData {
    addresses: Vec<AddressRow>,
    form: AddressFields,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct BookQuery {
    notice: Option<String>,
}

async fn render(
    page: &Page,
    form: AddressFields,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let user = session::require_user(&page.session)?;
    let addresses = page.state.db(move |conn| Ok(model::list(conn, user.id)?)).await?;
    page.render("pages/addresses", &page.t("addresses_title"), true, BookData { addresses, form, notice, error })
}

#[get("/account/addresses")]
async fn book_page(page: Page, query: web::Query<BookQuery>) -> Result<HttpResponse, AppError> {
    if page.user.is_none() {
        return Ok(see_other("/login?next=/account/addresses"));
    }
    let notice = match query.notice.as_deref() {
        Some(key @ ("added" | "default" | "deleted")) => Some(page.t(&format!("addresses_notice_{key}"))),
        _ => None,
    };
    render(&page, AddressFields::default(), notice, None).await
}

#[derive(Deserialize)]
struct AddForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(flatten)]
    fields: AddressFields,
    make_default: Option<String>,
}

/// Only a code the picker knows is kept (six digits); anything else is dropped.
fn division_code(raw: &str) -> &str {
    let code = raw.trim();
    if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
        code
    } else {
        ""
    }
}

#[post("/account/addresses")]
async fn add_address(page: Page, form: web::Form<AddForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let form = form.into_inner();
    let f = form.fields.clone();
    let address = Address {
        name: f.name.trim().to_string(),
        mobile: f.mobile.trim().to_string(),
        province: f.province.trim().to_string(),
        city: f.city.trim().to_string(),
        district: f.district.trim().to_string(),
        detail: f.detail.trim().to_string(),
    };
    if let Err(e) = address.validate() {
        let text = page.error_text(&e);
        let mut response = render(&page, form.fields, None, Some(text)).await?;
        *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
        return Ok(response);
    }
    let code = division_code(&f.division_code).to_string();
    let as_default = form.make_default.is_some();
    page.state.db(move |conn| model::add(conn, user.id, &address, &code, as_default)).await?;
    Ok(see_other("/account/addresses?notice=added"))
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

#[post("/account/addresses/{id}/default")]
async fn make_default(page: Page, path: web::Path<i64>, form: web::Form<CsrfForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let id = path.into_inner();
    page.state.db(move |conn| model::set_default(conn, user.id, id)).await?;
    Ok(see_other("/account/addresses?notice=default"))
}

#[post("/account/addresses/{id}/delete")]
async fn remove_address(page: Page, path: web::Path<i64>, form: web::Form<CsrfForm>) -> Result<HttpResponse, AppError> {
    session::verify_csrf(&page.session, &form.csrf)?;
    let user = session::require_user(&page.session)?;
    let id = path.into_inner();
    page.state.db(move |conn| model::delete(conn, user.id, id)).await?;
    Ok(see_other("/account/addresses?notice=deleted"))
}
