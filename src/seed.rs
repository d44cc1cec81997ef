//! Demo and reference data from the human-editable TOML files in `seed/`. Loading is
//! idempotent: rows are matched by code, slug or email, and existing rows are left alone.

use chrono::{NaiveDate, NaiveTime};
use diesel::prelude::*;
use serde::Deserialize;
use std::fmt;
use std::path::Path;
use toml::value::Datetime;

use crate::catalog::service::search_text;
use crate::db::schema::{
    campaign_prices, campaign_products, campaigns, counties, donation_projects, producers, products, provinces,
    sku_price_tiers, skus,
};
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::money::Money;
use crate::{accounts, orgs, points};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Adoptions {
    #[serde(default)]
    offer: Vec<OfferSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfferSeed {
    product: String,
    manager: String,
    kind: String,
    title: String,
    season_start: Datetime,
    season_end: Datetime,
    price: String,
    units: i64,
    delivery: Vec<DeliverySeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliverySeed {
    date: Datetime,
    sku: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Geography {
    province: Vec<ProvinceSeed>,
    county: Vec<CountySeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvinceSeed {
    code: String,
    name_zh: String,
    name_en: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountySeed {
    code: String,
    province: String,
    name_zh: String,
    name_en: String,
    aided: bool,
    pairing_org: Option<String>,
    #[serde(default)]
    description_zh: String,
    #[serde(default)]
    description_en: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Organisations {
    organisation: Vec<OrganisationSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganisationSeed {
    slug: String,
    kind: String,
    parent: Option<String>,
    name_zh: String,
    #[serde(default)]
    name_en: String,
    invoice_title: String,
    uscc: String,
    #[serde(default)]
    address: String,
    /// Welfare budget of the current period (unions; canteens optionally), e.g. "200000.00".
    budget: Option<String>,
    budget_period: Option<[Datetime; 2]>,
    approval_threshold: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Producers {
    producer: Vec<ProducerSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProducerSeed {
    code: String,
    county: String,
    kind: String,
    name_zh: String,
    name_en: String,
    #[serde(default)]
    description_zh: String,
    #[serde(default)]
    description_en: String,
    /// Where settlement pays it (demo details).
    bank: Option<BankSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BankSeed {
    account_name: String,
    bank: String,
    account_no: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Products {
    product: Vec<ProductSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductSeed {
    code: String,
    producer: String,
    name_zh: String,
    name_en: String,
    #[serde(default)]
    description_zh: String,
    #[serde(default)]
    description_en: String,
    aid_cert_no: Option<String>,
    aid_cert_expires: Option<Datetime>,
    sku: Vec<SkuSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkuSeed {
    code: String,
    name_zh: String,
    name_en: String,
    unit_zh: String,
    unit_en: String,
    price: String,
    stock: i64,
    max_points_share: i32,
    #[serde(default)]
    low_stock_threshold: i64,
    #[serde(default)]
    tiers: Vec<TierSeed>,
    /// Sold before harvest: days from the seed's loading.
    #[serde(default)]
    presale: Option<PresaleSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresaleSeed {
    ends_in_days: i64,
    ships_from_in_days: i64,
    ship_by_in_days: i64,
    per_buyer_limit: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierSeed {
    min_quantity: i64,
    price: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Campaigns {
    campaign: Vec<CampaignSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignSeed {
    slug: String,
    organiser: Option<String>,
    name_zh: String,
    name_en: String,
    #[serde(default)]
    description_zh: String,
    #[serde(default)]
    description_en: String,
    starts_on: Datetime,
    ends_on: Option<Datetime>,
    year_round: bool,
    target: String,
    products: Vec<String>,
    #[serde(default)]
    prices: Vec<CampaignPriceSeed>,
    #[serde(default)]
    donation_project: Vec<ProjectSeed>,
}

/// A points-donation project of a campaign, and the SKUs whose sales pledge to it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectSeed {
    slug: String,
    name_zh: String,
    name_en: String,
    #[serde(default)]
    description_zh: String,
    #[serde(default)]
    description_en: String,
    milestone: String,
    organiser_email: String,
    #[serde(default)]
    charity_skus: Vec<CharitySkuSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CharitySkuSeed {
    sku: String,
    per_unit: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignPriceSeed {
    sku: String,
    price: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Users {
    user: Vec<UserSeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserSeed {
    email: String,
    display_name: String,
    password: String,
    roles: Vec<String>,
    province: Option<String>,
    #[serde(default)]
    organisations: Vec<MembershipSeed>,
    #[serde(default)]
    points: i64,
    points_expire: Option<Datetime>,
    producer: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembershipSeed {
    org: String,
    admin: bool,
}

/// What a load added.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub provinces: usize,
    pub counties: usize,
    pub organisations: usize,
    pub producers: usize,
    pub products: usize,
    pub skus: usize,
    pub campaigns: usize,
    pub users: usize,
}

impl Report {
    pub fn is_nothing(&self) -> bool {
        *self == Report::default()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "added {} provinces, {} counties, {} organisations, {} producers, {} products, {} SKUs, {} campaigns, {} users",
            self.provinces, self.counties, self.organisations, self.producers, self.products, self.skus, self.campaigns, self.users
        )
    }
}

fn invalid(file: &str, message: impl fmt::Display) -> AppError {
    AppError::unprocessable("invalid_seed", format!("seed/{file}: {message}"))
}

/// The demo data built into the binary, so `aidmart serve` works from any folder.
#[derive(rust_embed::RustEmbed)]
#[folder = "seed/"]
struct EmbeddedSeed;

/// The default seed folder; when the working folder has none, the embedded copy is used.
pub const DEFAULT_DIR: &str = "seed";

/// A seed file's text: from `dir` (AIDMART_SEED_DIR, or `seed/` in the working folder when it
/// exists), else, for the default folder only, from the copy embedded in the binary.
pub fn seed_text(dir: &Path, file: &str) -> Result<String, AppError> {
    let path = dir.join(file);
    let embedded = dir == Path::new(DEFAULT_DIR) && !dir.is_dir();
    if embedded {
        let data = EmbeddedSeed::get(file)
            .ok_or_else(|| AppError::unprocessable("invalid_seed", format!("no embedded seed/{file}")))?;
        return String::from_utf8(data.data.into_owned()).map_err(|e| invalid(file, e));
    }
    std::fs::read_to_string(&path)
        .map_err(|e| AppError::unprocessable("invalid_seed", format!("cannot read {}: {e}", path.display())))
}

fn read<T: for<'de> Deserialize<'de>>(dir: &Path, file: &str) -> Result<T, AppError> {
    toml::from_str(&seed_text(dir, file)?).map_err(|e| invalid(file, e))
}

fn date(file: &str, d: &Datetime) -> Result<NaiveDate, AppError> {
    d.date
        .and_then(|d| NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day)))
        .ok_or_else(|| invalid(file, format!("'{d}' is not a date")))
}

fn fen(file: &str, amount: &str) -> Result<i64, AppError> {
    amount.parse::<Money>().map(Money::fen).map_err(|e| invalid(file, e))
}

/// True when no reference data has been loaded yet.
pub fn is_empty(conn: &mut AnyConnection) -> Result<bool, AppError> {
    let n: i64 = provinces::table.count().get_result(conn)?;
    Ok(n == 0)
}

/// Loads every seed file in one transaction: all of it, or nothing.
pub fn load(conn: &mut AnyConnection, dir: &Path) -> Result<Report, AppError> {
    let geography: Geography = read(dir, "geography.toml")?;
    let organisations: Organisations = read(dir, "organisations.toml")?;
    let producer_file: Producers = read(dir, "producers.toml")?;
    let product_file: Products = read(dir, "products.toml")?;
    let campaign_file: Campaigns = read(dir, "campaigns.toml")?;
    let user_file: Users = read(dir, "users.toml")?;
    // Optional: a seed folder made before cloud adoption has none.
    let adoption_file: Adoptions = if dir.join(ADOPTIONS).is_file() || (dir == Path::new(DEFAULT_DIR) && !dir.is_dir())
    {
        read(dir, ADOPTIONS)?
    } else {
        Adoptions { offer: Vec::new() }
    };
    // Passwords are hashed before the transaction, which then stays short.
    let hashes =
        user_file.user.iter().map(|u| accounts::service::hash_password(&u.password)).collect::<Result<Vec<_>, _>>()?;

    db::write_tx(conn, |conn| {
        let mut report = Report::default();
        load_geography_and_orgs(conn, &geography, &organisations, &mut report)?;
        load_catalog(conn, &producer_file, &product_file, &mut report)?;
        load_campaigns(conn, &campaign_file, &mut report)?;
        load_donation_projects(conn, &campaign_file)?;
        load_users(conn, &user_file, &hashes, &mut report)?;
        load_adoptions(conn, &adoption_file)?;
        Ok(report)
    })
}

fn load_geography_and_orgs(
    conn: &mut AnyConnection,
    geo: &Geography,
    orgs_file: &Organisations,
    report: &mut Report,
) -> Result<(), AppError> {
    for p in &geo.province {
        let exists: Option<i64> =
            provinces::table.filter(provinces::code.eq(&p.code)).select(provinces::id).first(conn).optional()?;
        if exists.is_none() {
            diesel::insert_into(provinces::table)
                .values((
                    provinces::code.eq(&p.code),
                    provinces::name_zh.eq(&p.name_zh),
                    provinces::name_en.eq(&p.name_en),
                ))
                .execute(conn)?;
            report.provinces += 1;
        }
    }
    const ORGS: &str = "organisations.toml";
    for o in &orgs_file.organisation {
        if orgs::model::id_by_slug(conn, &o.slug)?.is_some() {
            continue;
        }
        if !orgs::service::KINDS.contains(&o.kind.as_str()) {
            return Err(invalid(
                ORGS,
                format!("{}: kind '{}' is not one of {:?}", o.slug, o.kind, orgs::service::KINDS),
            ));
        }
        let uscc = orgs::service::validate_uscc(&o.uscc).map_err(|e| invalid(ORGS, format!("{}: {e}", o.slug)))?;
        let parent_id = match &o.parent {
            Some(slug) => Some(
                orgs::model::id_by_slug(conn, slug)?
                    .ok_or_else(|| invalid(ORGS, format!("{}: unknown parent '{slug}'", o.slug)))?,
            ),
            None => None,
        };
        let new = orgs::model::NewOrganisation {
            slug: &o.slug,
            kind: &o.kind,
            parent_id,
            name_zh: &o.name_zh,
            name_en: &o.name_en,
            invoice_title: &o.invoice_title,
            uscc: &uscc,
            address: &o.address,
        };
        let org_id = orgs::model::insert(conn, &new)?;
        if let (Some(budget), Some([start, end])) = (&o.budget, &o.budget_period) {
            let threshold = o.approval_threshold.as_deref().map(|t| fen(ORGS, t)).transpose()?;
            let period = (date(ORGS, start)?, date(ORGS, end)?);
            orgs::model::set_budget(conn, org_id, period, fen(ORGS, budget)?, threshold)?;
        }
        report.organisations += 1;
    }
    const GEO: &str = "geography.toml";
    for c in &geo.county {
        let exists: Option<i64> =
            counties::table.filter(counties::code.eq(&c.code)).select(counties::id).first(conn).optional()?;
        if exists.is_some() {
            continue;
        }
        let province_id: i64 = provinces::table
            .filter(provinces::code.eq(&c.province))
            .select(provinces::id)
            .first(conn)
            .optional()?
            .ok_or_else(|| invalid(GEO, format!("county {}: unknown province '{}'", c.code, c.province)))?;
        let pairing_org_id = match &c.pairing_org {
            Some(slug) => Some(
                orgs::model::id_by_slug(conn, slug)?
                    .ok_or_else(|| invalid(GEO, format!("county {}: unknown organisation '{slug}'", c.code)))?,
            ),
            None => None,
        };
        diesel::insert_into(counties::table)
            .values((
                counties::code.eq(&c.code),
                counties::province_id.eq(province_id),
                counties::name_zh.eq(&c.name_zh),
                counties::name_en.eq(&c.name_en),
                counties::aided.eq(c.aided),
                counties::pairing_org_id.eq(pairing_org_id),
                counties::description_zh.eq(&c.description_zh),
                counties::description_en.eq(&c.description_en),
            ))
            .execute(conn)?;
        report.counties += 1;
    }
    Ok(())
}

fn load_catalog(
    conn: &mut AnyConnection,
    producer_file: &Producers,
    product_file: &Products,
    report: &mut Report,
) -> Result<(), AppError> {
    const PRODUCERS: &str = "producers.toml";
    for p in &producer_file.producer {
        let exists: Option<i64> =
            producers::table.filter(producers::code.eq(&p.code)).select(producers::id).first(conn).optional()?;
        if exists.is_some() {
            continue;
        }
        if !["cooperative", "leading_enterprise", "assistance_workshop"].contains(&p.kind.as_str()) {
            return Err(invalid(PRODUCERS, format!("{}: unknown kind '{}'", p.code, p.kind)));
        }
        let county_id: i64 = counties::table
            .filter(counties::code.eq(&p.county))
            .select(counties::id)
            .first(conn)
            .optional()?
            .ok_or_else(|| invalid(PRODUCERS, format!("{}: unknown county '{}'", p.code, p.county)))?;
        diesel::insert_into(producers::table)
            .values((
                producers::code.eq(&p.code),
                producers::county_id.eq(county_id),
                producers::kind.eq(&p.kind),
                producers::name_zh.eq(&p.name_zh),
                producers::name_en.eq(&p.name_en),
                producers::description_zh.eq(&p.description_zh),
                producers::description_en.eq(&p.description_en),
            ))
            .execute(conn)?;
        if let Some(b) = &p.bank {
            use crate::db::schema::earnings_accounts as ea;
            let id: i64 = producers::table.filter(producers::code.eq(&p.code)).select(producers::id).first(conn)?;
            if b.account_name.trim().is_empty() || !b.account_no.chars().all(|c| c.is_ascii_digit()) {
                return Err(invalid(PRODUCERS, format!("{}: bank details need a name and a numeric account", p.code)));
            }
            diesel::insert_into(ea::table)
                .values((
                    ea::producer_id.eq(id),
                    ea::account_name.eq(&b.account_name),
                    ea::bank.eq(&b.bank),
                    ea::account_no.eq(&b.account_no),
                ))
                .execute(conn)?;
        }
        report.producers += 1;
    }
    const PRODUCTS: &str = "products.toml";
    for p in &product_file.product {
        let exists: Option<i64> =
            products::table.filter(products::code.eq(&p.code)).select(products::id).first(conn).optional()?;
        if exists.is_some() {
            continue;
        }
        let (producer_id, producer_zh, producer_en, county_zh, county_en): (i64, String, String, String, String) =
            producers::table
                .inner_join(counties::table)
                .filter(producers::code.eq(&p.producer))
                .select((producers::id, producers::name_zh, producers::name_en, counties::name_zh, counties::name_en))
                .first(conn)
                .optional()?
                .ok_or_else(|| invalid(PRODUCTS, format!("{}: unknown producer '{}'", p.code, p.producer)))?;
        let mut words =
            vec![p.name_zh.as_str(), p.name_en.as_str(), &producer_zh, &producer_en, &county_zh, &county_en];
        words.extend(p.sku.iter().flat_map(|s| [s.name_zh.as_str(), s.name_en.as_str()]));
        let expires = p.aid_cert_expires.as_ref().map(|d| date(PRODUCTS, d)).transpose()?;
        let product_id: i64 = diesel::insert_into(products::table)
            .values((
                products::code.eq(&p.code),
                products::producer_id.eq(producer_id),
                products::name_zh.eq(&p.name_zh),
                products::name_en.eq(&p.name_en),
                products::description_zh.eq(&p.description_zh),
                products::description_en.eq(&p.description_en),
                products::aid_cert_no.eq(&p.aid_cert_no),
                products::aid_cert_expires.eq(expires),
                products::search_text.eq(search_text(&words)),
            ))
            .returning(products::id)
            .get_result(conn)?;
        report.products += 1;
        for s in &p.sku {
            if !(0..=100).contains(&s.max_points_share) || s.stock < 0 {
                return Err(invalid(PRODUCTS, format!("{}: max_points_share must be 0..=100 and stock >= 0", s.code)));
            }
            let sku_id: i64 = diesel::insert_into(skus::table)
                .values((
                    skus::code.eq(&s.code),
                    skus::product_id.eq(product_id),
                    skus::name_zh.eq(&s.name_zh),
                    skus::name_en.eq(&s.name_en),
                    skus::unit_zh.eq(&s.unit_zh),
                    skus::unit_en.eq(&s.unit_en),
                    skus::price_fen.eq(fen(PRODUCTS, &s.price)?),
                    skus::stock.eq(s.stock),
                    skus::max_points_pct.eq(s.max_points_share),
                    skus::low_stock_threshold.eq(s.low_stock_threshold),
                ))
                .returning(skus::id)
                .get_result(conn)?;
            report.skus += 1;
            let tiers = s
                .tiers
                .iter()
                .map(|t| {
                    Ok((
                        sku_price_tiers::sku_id.eq(sku_id),
                        sku_price_tiers::min_quantity.eq(t.min_quantity),
                        sku_price_tiers::price_fen.eq(fen(PRODUCTS, &t.price)?),
                    ))
                })
                .collect::<Result<Vec<_>, AppError>>()?;
            if !tiers.is_empty() {
                crate::on_backend!(conn, |c| diesel::insert_into(sku_price_tiers::table).values(&tiers).execute(c))?;
            }
            if let Some(t) = &s.presale {
                let now = chrono::Utc::now().naive_utc();
                let day = |d: i64| (now + chrono::Duration::days(d)).date();
                let input = crate::catalog::presale::PresaleInput {
                    ends_at: now + chrono::Duration::days(t.ends_in_days),
                    ships_from: Some(day(t.ships_from_in_days)),
                    ship_by: day(t.ship_by_in_days),
                    per_buyer_limit: t.per_buyer_limit,
                };
                let row = input.check(sku_id, now).map_err(|e| invalid(PRODUCTS, format!("{}: {e}", s.code)))?;
                crate::catalog::presale::set(conn, &row)?;
            }
        }
    }
    Ok(())
}

fn load_campaigns(conn: &mut AnyConnection, file: &Campaigns, report: &mut Report) -> Result<(), AppError> {
    const FILE: &str = "campaigns.toml";
    for c in &file.campaign {
        let exists: Option<i64> =
            campaigns::table.filter(campaigns::slug.eq(&c.slug)).select(campaigns::id).first(conn).optional()?;
        if exists.is_some() {
            continue;
        }
        let organiser = match &c.organiser {
            Some(slug) => Some(
                orgs::model::id_by_slug(conn, slug)?
                    .ok_or_else(|| invalid(FILE, format!("{}: unknown organiser '{slug}'", c.slug)))?,
            ),
            None => None,
        };
        let ends_on = c.ends_on.as_ref().map(|d| date(FILE, d)).transpose()?;
        let campaign_id: i64 = diesel::insert_into(campaigns::table)
            .values((
                campaigns::slug.eq(&c.slug),
                campaigns::organiser_org_id.eq(organiser),
                campaigns::name_zh.eq(&c.name_zh),
                campaigns::name_en.eq(&c.name_en),
                campaigns::description_zh.eq(&c.description_zh),
                campaigns::description_en.eq(&c.description_en),
                campaigns::starts_on.eq(date(FILE, &c.starts_on)?),
                campaigns::ends_on.eq(ends_on),
                campaigns::year_round.eq(c.year_round),
                campaigns::target_fen.eq(fen(FILE, &c.target)?),
            ))
            .returning(campaigns::id)
            .get_result(conn)?;
        report.campaigns += 1;
        let product_ids: Vec<i64> =
            products::table.filter(products::code.eq_any(&c.products)).select(products::id).load(conn)?;
        if product_ids.len() != c.products.len() {
            return Err(invalid(FILE, format!("{}: some products are unknown", c.slug)));
        }
        let links: Vec<_> = product_ids
            .iter()
            .map(|id| (campaign_products::campaign_id.eq(campaign_id), campaign_products::product_id.eq(*id)))
            .collect();
        crate::on_backend!(conn, |c| diesel::insert_into(campaign_products::table).values(&links).execute(c))?;
        for price in &c.prices {
            let sku_id: i64 = skus::table
                .filter(skus::code.eq(&price.sku))
                .filter(skus::product_id.eq_any(&product_ids))
                .select(skus::id)
                .first(conn)
                .optional()?
                .ok_or_else(|| {
                    invalid(FILE, format!("{}: SKU '{}' is not in the campaign's products", c.slug, price.sku))
                })?;
            diesel::insert_into(campaign_prices::table)
                .values((
                    campaign_prices::campaign_id.eq(campaign_id),
                    campaign_prices::sku_id.eq(sku_id),
                    campaign_prices::price_fen.eq(fen(FILE, &price.price)?),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

fn load_donation_projects(conn: &mut AnyConnection, file: &Campaigns) -> Result<(), AppError> {
    const FILE: &str = "campaigns.toml";
    for c in &file.campaign {
        for p in &c.donation_project {
            let exists: Option<i64> = donation_projects::table
                .filter(donation_projects::slug.eq(&p.slug))
                .select(donation_projects::id)
                .first(conn)
                .optional()?;
            if exists.is_some() {
                continue;
            }
            let milestone_fen = fen(FILE, &p.milestone)?;
            if milestone_fen <= 0 {
                return Err(invalid(FILE, format!("{}: the milestone must be more than zero", p.slug)));
            }
            let campaign_id: i64 =
                campaigns::table.filter(campaigns::slug.eq(&c.slug)).select(campaigns::id).first(conn)?;
            let project_id: i64 = diesel::insert_into(donation_projects::table)
                .values((
                    donation_projects::slug.eq(&p.slug),
                    donation_projects::campaign_id.eq(campaign_id),
                    donation_projects::name_zh.eq(&p.name_zh),
                    donation_projects::name_en.eq(&p.name_en),
                    donation_projects::description_zh.eq(&p.description_zh),
                    donation_projects::description_en.eq(&p.description_en),
                    donation_projects::milestone_fen.eq(milestone_fen),
                    donation_projects::organiser_email.eq(&p.organiser_email),
                ))
                .returning(donation_projects::id)
                .get_result(conn)?;
            for pledge in &p.charity_skus {
                let updated = diesel::update(skus::table.filter(skus::code.eq(&pledge.sku)))
                    .set((
                        skus::charity_donation_fen.eq(fen(FILE, &pledge.per_unit)?),
                        skus::charity_project_id.eq(Some(project_id)),
                    ))
                    .execute(conn)?;
                if updated != 1 {
                    return Err(invalid(FILE, format!("{}: unknown SKU '{}'", p.slug, pledge.sku)));
                }
            }
        }
    }
    Ok(())
}

fn load_users(conn: &mut AnyConnection, file: &Users, hashes: &[String], report: &mut Report) -> Result<(), AppError> {
    const FILE: &str = "users.toml";
    for (u, hash) in file.user.iter().zip(hashes) {
        let email =
            accounts::service::normalise_email(&u.email).map_err(|e| invalid(FILE, format!("{}: {e}", u.email)))?;
        if accounts::model::find_by_email(conn, &email)?.is_some() {
            continue;
        }
        if let Some(bad) = u.roles.iter().find(|r| accounts::model::Role::parse(r).is_none()) {
            return Err(invalid(FILE, format!("{email}: unknown role '{bad}'")));
        }
        let province_id = match &u.province {
            Some(code) => Some(
                accounts::model::province_id_by_code(conn, code)?
                    .ok_or_else(|| invalid(FILE, format!("{email}: unknown province '{code}'")))?,
            ),
            None => None,
        };
        let new =
            accounts::model::NewUser { email: &email, password_hash: hash, display_name: &u.display_name, province_id };
        let user_id = accounts::model::insert(conn, &new)?;
        let roles: Vec<&str> = u.roles.iter().map(String::as_str).collect();
        accounts::model::add_roles(conn, user_id, &roles)?;
        for m in &u.organisations {
            let org_id = orgs::model::id_by_slug(conn, &m.org)?
                .ok_or_else(|| invalid(FILE, format!("{email}: unknown organisation '{}'", m.org)))?;
            accounts::model::add_membership(conn, user_id, org_id, m.admin)?;
        }
        if let Some(code) = &u.producer {
            let producer_id: i64 = producers::table
                .filter(producers::code.eq(code))
                .select(producers::id)
                .first(conn)
                .optional()?
                .ok_or_else(|| invalid(FILE, format!("{email}: unknown producer '{code}'")))?;
            accounts::model::add_producer_manager(conn, user_id, producer_id)?;
        }
        if u.points > 0 {
            let expires =
                u.points_expire.as_ref().ok_or_else(|| invalid(FILE, format!("{email}: points need points_expire")))?;
            let account_id = points::model::user_account(conn, user_id)?;
            let grant = points::model::Grant {
                account_id,
                points: u.points,
                expires_at: date(FILE, expires)?.and_time(NaiveTime::MIN),
                reason: "demo welfare points / 示例福利积分",
                granted_by: None,
                // Welfare of the member's (first) organisation, as the migration reads old lots.
                funder_org_id: accounts::model::memberships(conn, user_id)?.first().map(|m| m.org_id),
            };
            points::model::grant(conn, &grant)?;
        }
        report.users += 1;
    }
    Ok(())
}

const ADOPTIONS: &str = "adoptions.toml";

fn load_adoptions(conn: &mut AnyConnection, file: &Adoptions) -> Result<(), AppError> {
    use crate::adoption::service as asvc;
    use crate::db::schema::adoption_offers;
    for o in &file.offer {
        let bad = |why: String| invalid(ADOPTIONS, format!("{}: {why}", o.title));
        let product_id: i64 = products::table
            .filter(products::code.eq(&o.product))
            .select(products::id)
            .first(conn)
            .optional()?
            .ok_or_else(|| bad(format!("unknown product '{}'", o.product)))?;
        let exists: Option<i64> = adoption_offers::table
            .filter(adoption_offers::product_id.eq(product_id))
            .filter(adoption_offers::title.eq(&o.title))
            .select(adoption_offers::id)
            .first(conn)
            .optional()?;
        if exists.is_some() {
            continue;
        }
        let manager = accounts::model::find_by_email(conn, &o.manager)?
            .ok_or_else(|| bad(format!("unknown manager '{}'", o.manager)))?;
        let m = crate::coop::service::Manager {
            user_id: manager.id,
            producers: crate::coop::model::managed_producers(conn, manager.id)?,
        };
        let mut deliveries = Vec::with_capacity(o.delivery.len());
        for d in &o.delivery {
            let sku_id: i64 = skus::table
                .filter(skus::code.eq(&d.sku))
                .select(skus::id)
                .first(conn)
                .optional()?
                .ok_or_else(|| bad(format!("unknown SKU '{}'", d.sku)))?;
            deliveries.push(asvc::DeliveryInput { date: date(ADOPTIONS, &d.date)?, sku_id, quantity: d.quantity });
        }
        let input = asvc::OfferInput {
            product_id,
            kind: o.kind.clone(),
            title: o.title.clone(),
            season_start: date(ADOPTIONS, &o.season_start)?,
            season_end: date(ADOPTIONS, &o.season_end)?,
            price: o.price.parse::<Money>().map_err(&bad)?,
            units: o.units,
            deliveries,
        };
        asvc::create_offer(conn, &m, &input, chrono::Utc::now().naive_utc()).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}

/// A seed file's bytes, from the folder or the embedded copy as [`seed_text`] chooses; `None`
/// when there is no such file.
fn seed_bytes(dir: &Path, file: &str) -> Option<Vec<u8>> {
    if dir == Path::new(DEFAULT_DIR) && !dir.is_dir() {
        return EmbeddedSeed::get(file).map(|f| f.data.into_owned());
    }
    std::fs::read(dir.join(file)).ok()
}

/// Gives each seed product without a photo its demo photo, `images/<product>.jpg` with its
/// 320 and 640 px derivatives (drawn by `examples/draw_seed_images.rs`, part of the project),
/// stored as an upload would be, under `images_dir` by content hash. Safe to run again: a
/// product that has a photo is left alone. Returns how many photos were added.
pub fn load_images(conn: &mut AnyConnection, dir: &Path, images_dir: &Path) -> Result<usize, AppError> {
    use crate::catalog::images::derivative_name;
    use crate::db::schema::{product_images, user_roles};
    use sha2::Digest;
    let product_file: Products = read(dir, "products.toml")?;
    let Some(owner) = user_roles::table
        .filter(user_roles::role.eq("platform_admin"))
        .order(user_roles::user_id)
        .select(user_roles::user_id)
        .first::<i64>(conn)
        .optional()?
    else {
        return Ok(0);
    };
    let write = |name: &str, bytes: &[u8]| -> Result<(), AppError> {
        let path = images_dir.join(name);
        if path.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(images_dir)
            .map_err(|e| AppError::internal(format!("{}: {e}", images_dir.display())))?;
        let tmp = images_dir.join(format!("{name}.seed.tmp"));
        std::fs::write(&tmp, bytes).map_err(|e| AppError::internal(format!("{}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(|e| AppError::internal(format!("{}: {e}", path.display())))
    };
    let mut added = 0;
    for p in &product_file.product {
        let Some(original) = seed_bytes(dir, &format!("images/{}.jpg", p.code)) else { continue };
        let Some(product_id) =
            products::table.filter(products::code.eq(&p.code)).select(products::id).first::<i64>(conn).optional()?
        else {
            continue;
        };
        let has: i64 =
            product_images::table.filter(product_images::product_id.eq(product_id)).count().get_result(conn)?;
        if has > 0 {
            continue;
        }
        let name = format!("{}.jpg", hex::encode(sha2::Sha256::digest(&original)));
        let mut widths = Vec::new();
        for w in [320u32, 640] {
            if let Some(bytes) = seed_bytes(dir, &format!("images/{}-{w}.jpg", p.code)) {
                write(&derivative_name(&name, w), &bytes)?;
                widths.push(w.to_string());
            }
        }
        write(&name, &original)?;
        let width = jpeg_width(&original).unwrap_or(0);
        diesel::insert_into(product_images::table)
            .values((
                product_images::product_id.eq(product_id),
                product_images::file_name.eq(&name),
                product_images::content_type.eq("image/jpeg"),
                product_images::bytes.eq(original.len() as i64),
                product_images::uploaded_by.eq(owner),
                product_images::created_at.eq(chrono::Utc::now().naive_utc()),
                product_images::width.eq(width),
                product_images::widths.eq(widths.join(",")),
            ))
            .execute(conn)?;
        added += 1;
    }
    Ok(added)
}

/// A baseline or progressive JPEG's width, from its frame header.
fn jpeg_width(bytes: &[u8]) -> Option<i32> {
    let mut i = 2;
    while i + 9 < bytes.len() {
        if bytes[i] != 0xFF {
            return None;
        }
        let marker = bytes[i + 1];
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if matches!(marker, 0xC0..=0xC3) {
            return Some(i32::from(u16::from_be_bytes([bytes[i + 7], bytes[i + 8]])));
        }
        i += 2 + len;
    }
    None
}
