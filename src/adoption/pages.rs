//! Adoption pages: the offers, an offer with its adopt form, a unit's public page, the
//! certificate (page and printable SVG), and the cooperative's adoption management.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpResponse, ResponseError};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::service::{self, AdoptOutcome, AdoptRequest, DeliveryInput, FailRequest, OfferInput, UpdateInput};
use crate::error::AppError;
use crate::money::Money;
use crate::orders::service::{Address, Buyer};
use crate::web::forms::CsrfForm;
use crate::web::page::{see_other, Page};

pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(offers_page)
        .service(offer_page)
        .service(adopt_submit)
        .service(certificate_svg)
        .service(certificate_page)
        .service(unit_page)
        .service(coop_list_page)
        .service(coop_create_submit)
        .service(coop_offer_page)
        .service(coop_update_submit)
        .service(coop_fail_submit);
}

fn now() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

/// A bad input shown on the page (with its status); a fault or "not found" passed on.
fn form_error(page: &Page, e: AppError) -> Result<(String, StatusCode), AppError> {
    match e {
        e @ (AppError::Internal(_) | AppError::Unavailable | AppError::NotFound | AppError::Forbidden) => Err(e),
        e => Ok((page.error_text(&e), e.status_code())),
    }
}

fn with_status(mut res: HttpResponse, status: StatusCode) -> HttpResponse {
    *res.status_mut() = status;
    res
}

#[derive(Serialize)]
struct OffersData {
    offers: Vec<service::OfferView>,
}

#[get("/adoptions")]
async fn offers_page(page: Page) -> Result<HttpResponse, AppError> {
    let offers = page.state.db(service::offers).await?;
    page.render("pages/adoptions", &page.t("adoption_offers_title"), false, OffersData { offers })
}

#[derive(Serialize, Deserialize, Default, Clone)]
struct AdoptForm {
    #[serde(default)]
    units: String,
    #[serde(default)]
    certificate_name: String,
    #[serde(default)]
    points: String,
    #[serde(flatten)]
    address: AddressForm,
}

#[derive(Serialize, Deserialize, Default, Clone)]
struct AddressForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    mobile: String,
    #[serde(default)]
    province: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    district: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    division_code: String,
}

impl AddressForm {
    fn address(&self) -> Address {
        Address {
            name: self.name.trim().to_string(),
            mobile: self.mobile.trim().to_string(),
            province: self.province.trim().to_string(),
            city: self.city.trim().to_string(),
            district: self.district.trim().to_string(),
            detail: self.detail.trim().to_string(),
        }
    }
}

#[derive(Serialize)]
struct OfferData {
    offer: service::OfferView,
    form: AdoptForm,
    address: AddressForm,
    signed_in: bool,
    sold_out: bool,
    error: Option<String>,
    login_url: String,
}

async fn render_offer(page: &Page, id: i64, form: AdoptForm, error: Option<String>) -> Result<HttpResponse, AppError> {
    let offer = page.state.db(move |conn| service::offer(conn, id)).await?;
    let title = offer.title.clone();
    let data = OfferData {
        sold_out: offer.available == 0,
        offer,
        address: form.address.clone(),
        form,
        signed_in: page.user.is_some(),
        error,
        login_url: format!("/login?next=/adoptions/{id}"),
    };
    page.render("pages/adoption_offer", &title, page.user.is_some(), data)
}

#[get("/adoptions/{id}")]
async fn offer_page(page: Page, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let form = AdoptForm { units: "1".into(), points: "0".into(), ..AdoptForm::default() };
    render_offer(&page, path.into_inner(), form, None).await
}

#[post("/adoptions/{id}/adopt")]
async fn adopt_submit(page: Page, path: web::Path<i64>, form: CsrfForm<AdoptForm>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let form = form.0;
    let me = match crate::accounts::routes::require_me(&page.state, &page.session).await {
        Ok(me) => me,
        Err(AppError::Unauthenticated) => return Ok(see_other(&format!("/login?next=/adoptions/{id}"))),
        Err(e) => return Err(e),
    };
    let buyer = Buyer::from(me);
    let request = AdoptRequest {
        units: form.units.trim().parse().unwrap_or(0),
        certificate_name: form.certificate_name.clone(),
        address: form.address.address(),
        points: form.points.trim().parse().unwrap_or(if form.points.trim().is_empty() { 0 } else { -1 }),
        account: None,
    };
    let s = page.state.order_settings();
    match page.state.db(move |conn| service::adopt(conn, &s, &buyer, id, &request, None, now())).await {
        Ok(AdoptOutcome::New(view)) => Ok(see_other(&format!("/orders/{}", view.order.order_no))),
        Ok(AdoptOutcome::Replayed(_)) => Ok(see_other("/orders")),
        Err(e) => {
            let (message, status) = form_error(&page, e)?;
            Ok(with_status(render_offer(&page, id, form, Some(message)).await?, status))
        }
    }
}

#[derive(Serialize)]
struct UnitData {
    unit: service::UnitView,
    unit_url: String,
}

#[get("/adopted-units/{id}")]
async fn unit_page(page: Page, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let unit = page.state.db(move |conn| service::unit_view(conn, id)).await?;
    let title = format!("{} · No. {}", unit.offer.title, unit.number);
    let data = UnitData { unit_url: format!("{}/adopted-units/{id}", page.state.config.public_url), unit };
    page.render("pages/adopted_unit", &title, false, data)
}

async fn my_certificate(page: &Page, id: i64) -> Result<service::Certificate, AppError> {
    let user = crate::web::session::require_user(&page.session)?;
    let public_url = page.state.config.public_url.clone();
    page.state.db(move |conn| service::certificate(conn, user.id, id, &public_url)).await
}

/// The printable certificate (SVG): for the adopter only.
#[get("/adopted-units/{id}/certificate.svg")]
async fn certificate_svg(page: Page, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let cert = my_certificate(&page, path.into_inner()).await?;
    let svg = crate::web::templates::render(&page.state.templates, "pages/adoption_certificate_svg", &cert)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"))
        .insert_header((header::CONTENT_DISPOSITION, format!("inline; filename=\"certificate-{}.svg\"", cert.unit_id)))
        .body(svg))
}

#[derive(Serialize)]
struct CertificateData {
    cert: service::Certificate,
}

#[get("/adopted-units/{id}/certificate")]
async fn certificate_page(page: Page, path: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    if page.user.is_none() {
        return Ok(see_other(&format!("/login?next=/adopted-units/{id}/certificate")));
    }
    let cert = my_certificate(&page, id).await?;
    page.render("pages/adoption_certificate", &page.t("adoption_certificate_title"), false, CertificateData { cert })
}

// ---- the cooperative ----

async fn page_manager(
    page: &Page,
    here: &str,
) -> Result<Result<crate::coop::service::Manager, HttpResponse>, AppError> {
    if page.user.is_none() {
        return Ok(Err(see_other(&format!("/login?next={here}"))));
    }
    Ok(Ok(crate::coop::routes::manager(&page.state, &page.session).await?))
}

#[derive(Serialize, Deserialize, Default, Clone)]
struct OfferForm {
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    season_start: String,
    #[serde(default)]
    season_end: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    units: String,
    #[serde(default)]
    date_1: String,
    #[serde(default)]
    sku_1: String,
    #[serde(default)]
    qty_1: String,
    #[serde(default)]
    date_2: String,
    #[serde(default)]
    sku_2: String,
    #[serde(default)]
    qty_2: String,
    #[serde(default)]
    date_3: String,
    #[serde(default)]
    sku_3: String,
    #[serde(default)]
    qty_3: String,
}

fn date(s: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::bad_request("invalid_date", "dates are YYYY-MM-DD / 日期格式应为 YYYY-MM-DD"))
}

fn number(s: &str, code: &'static str) -> Result<i64, AppError> {
    s.trim().parse().map_err(|_| AppError::bad_request(code, "a whole number is expected / 须为整数"))
}

impl OfferForm {
    fn input(&self) -> Result<OfferInput, AppError> {
        let mut deliveries = Vec::new();
        for (d, s, q) in [
            (&self.date_1, &self.sku_1, &self.qty_1),
            (&self.date_2, &self.sku_2, &self.qty_2),
            (&self.date_3, &self.sku_3, &self.qty_3),
        ] {
            if d.trim().is_empty() && s.trim().is_empty() {
                continue;
            }
            deliveries.push(DeliveryInput {
                date: date(d)?,
                sku_id: number(s, "invalid_deliveries")?,
                quantity: number(q, "invalid_deliveries")?,
            });
        }
        Ok(OfferInput {
            product_id: number(&self.product_id, "invalid_product")?,
            kind: self.kind.trim().to_string(),
            title: self.title.clone(),
            season_start: date(&self.season_start)?,
            season_end: date(&self.season_end)?,
            price: self
                .price
                .trim()
                .parse::<Money>()
                .map_err(|_| AppError::bad_request("invalid_price", "the price is yuan, e.g. 399.00 / 价格格式错误"))?,
            units: number(&self.units, "invalid_units")?,
            deliveries,
        })
    }
}

#[derive(Serialize)]
struct SkuChoice {
    id: i64,
    product_id: i64,
    label: String,
}

#[derive(Serialize)]
struct ProductChoice {
    id: i64,
    label: String,
}

#[derive(Serialize)]
struct CoopListData {
    offers: Vec<service::OfferView>,
    products: Vec<ProductChoice>,
    skus: Vec<SkuChoice>,
    kinds: Vec<&'static str>,
    form: OfferForm,
    error: Option<String>,
}

async fn render_coop_list(
    page: &Page,
    m: crate::coop::service::Manager,
    form: OfferForm,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let today = now().date();
    let (offers, skus) = page
        .state
        .db(move |conn| Ok((service::coop_offers(conn, &m)?, crate::coop::service::skus(conn, &m, today)?)))
        .await?;
    let mut products: Vec<ProductChoice> = Vec::new();
    for s in &skus {
        if !products.iter().any(|p| p.id == s.product_id) {
            products.push(ProductChoice { id: s.product_id, label: s.product_zh.clone() });
        }
    }
    let skus = skus
        .iter()
        .map(|s| SkuChoice { id: s.id, product_id: s.product_id, label: format!("{} · {}", s.product_zh, s.sku_zh) })
        .collect();
    let data = CoopListData { offers, products, skus, kinds: service::KINDS.to_vec(), form, error };
    page.render("pages/coop_adoptions", &page.t("coop_adoptions_title"), true, data)
}

#[get("/coop/adoptions")]
async fn coop_list_page(page: Page) -> Result<HttpResponse, AppError> {
    let m = match page_manager(&page, "/coop/adoptions").await? {
        Ok(m) => m,
        Err(redirect) => return Ok(redirect),
    };
    let today = now().date();
    let form = OfferForm {
        kind: "tree".into(),
        units: "10".into(),
        season_start: today.to_string(),
        season_end: (today + chrono::Duration::days(180)).to_string(),
        qty_1: "1".into(),
        ..OfferForm::default()
    };
    render_coop_list(&page, m, form, None).await
}

#[post("/coop/adoptions")]
async fn coop_create_submit(page: Page, form: CsrfForm<OfferForm>) -> Result<HttpResponse, AppError> {
    let m = match page_manager(&page, "/coop/adoptions").await? {
        Ok(m) => m,
        Err(redirect) => return Ok(redirect),
    };
    let form = form.0;
    let m2 = m.clone();
    let result = match form.input() {
        Ok(input) => page.state.db(move |conn| service::create_offer(conn, &m2, &input, now())).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(offer) => Ok(see_other(&format!("/coop/adoptions/{}", offer.id))),
        Err(e) => {
            let (message, status) = form_error(&page, e)?;
            Ok(with_status(render_coop_list(&page, m, form, Some(message)).await?, status))
        }
    }
}

#[derive(Serialize)]
struct CoopOfferData {
    view: service::CoopOfferView,
    error: Option<String>,
    notice: Option<String>,
}

async fn render_coop_offer(
    page: &Page,
    m: crate::coop::service::Manager,
    id: i64,
    error: Option<String>,
    notice: Option<String>,
) -> Result<HttpResponse, AppError> {
    let view = page.state.db(move |conn| service::coop_offer_view(conn, &m, id)).await?;
    let title = view.offer.title.clone();
    page.render("pages/coop_adoption", &title, true, CoopOfferData { view, error, notice })
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

#[get("/coop/adoptions/{id}")]
async fn coop_offer_page(
    page: Page,
    path: web::Path<i64>,
    q: web::Query<NoticeQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let m = match page_manager(&page, &format!("/coop/adoptions/{id}")).await? {
        Ok(m) => m,
        Err(redirect) => return Ok(redirect),
    };
    let notice = match q.notice.as_deref() {
        Some("posted") => Some(page.t("coop_adoption_update_posted")),
        Some("failed") => Some(page.t("coop_adoption_delivery_failed")),
        _ => None,
    };
    render_coop_offer(&page, m, id, None, notice).await
}

#[derive(Deserialize)]
struct UpdateForm {
    #[serde(default)]
    text: String,
    /// Unit numbers, separated by commas or spaces; empty: every unit.
    #[serde(default)]
    numbers: String,
}

#[post("/coop/adoptions/{id}/updates")]
async fn coop_update_submit(
    page: Page,
    path: web::Path<i64>,
    form: CsrfForm<UpdateForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let m = match page_manager(&page, &format!("/coop/adoptions/{id}")).await? {
        Ok(m) => m,
        Err(redirect) => return Ok(redirect),
    };
    let form = form.0;
    let public_url = page.state.config.public_url.clone();
    let m2 = m.clone();
    let result = page
        .state
        .db(move |conn| {
            let numbers: Vec<&str> =
                form.numbers.split([',', ' ', '，']).map(str::trim).filter(|s| !s.is_empty()).collect();
            let unit_ids = if numbers.is_empty() {
                None
            } else {
                let view = service::coop_offer_view(conn, &m2, id)?;
                let mut ids = Vec::with_capacity(numbers.len());
                for n in numbers {
                    let n: i64 = n.trim_start_matches('#').parse().unwrap_or(-1);
                    ids.push(view.units.iter().find(|u| u.number == n).map_or(-1, |u| u.id));
                }
                Some(ids)
            };
            let input = UpdateInput { text: form.text.clone(), photos: Vec::new(), unit_ids };
            service::post_update(conn, &m2, id, &input, &public_url, now())
        })
        .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/coop/adoptions/{id}?notice=posted"))),
        Err(e) => {
            let (message, status) = form_error(&page, e)?;
            Ok(with_status(render_coop_offer(&page, m, id, Some(message), None).await?, status))
        }
    }
}

#[derive(Deserialize)]
struct FailForm {
    #[serde(default)]
    reason: String,
}

#[post("/coop/adoptions/{id}/deliveries/{delivery_id}/fail")]
async fn coop_fail_submit(
    page: Page,
    path: web::Path<(i64, i64)>,
    form: CsrfForm<FailForm>,
) -> Result<HttpResponse, AppError> {
    let (id, delivery_id) = path.into_inner();
    let m = match page_manager(&page, &format!("/coop/adoptions/{id}")).await? {
        Ok(m) => m,
        Err(redirect) => return Ok(redirect),
    };
    let request = FailRequest { reason: form.0.reason };
    let s = page.state.order_settings();
    let m2 = m.clone();
    match page.state.db(move |conn| service::fail_delivery(conn, &s, &m2, id, delivery_id, &request, now())).await {
        Ok(_) => Ok(see_other(&format!("/coop/adoptions/{id}?notice=failed"))),
        Err(e) => {
            let (message, status) = form_error(&page, e)?;
            Ok(with_status(render_coop_offer(&page, m, id, Some(message), None).await?, status))
        }
    }
}
