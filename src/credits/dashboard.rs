//! What the public campaign dashboards and employers' exports show, folded from the ledger's
//! credited sales (sales minus reversals; donations and charity pledges are reported apart).

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::model;
use crate::db::AnyConnection;
use crate::error::AppError;

/// (zh, en, fen)
pub type Group = (String, String, i64);

#[derive(Debug, Clone, Default)]
pub struct CampaignCredits {
    pub credited_fen: i64,
    pub direct_purchase_fen: i64,
    pub helped_sales_fen: i64,
    pub by_county: Vec<Group>,
    pub by_producer: Vec<Group>,
    pub by_channel: Vec<Group>,
    pub by_org: Vec<Group>,
    /// ("2026-11", fen), in order.
    pub by_month: Vec<(String, i64)>,
}

fn named(sums: HashMap<Option<i64>, i64>, names: &[(i64, String, String)], none: (&str, &str)) -> Vec<Group> {
    let names: HashMap<i64, (&str, &str)> =
        names.iter().map(|(id, zh, en)| (*id, (zh.as_str(), en.as_str()))).collect();
    let mut out: Vec<Group> = sums
        .into_iter()
        .map(|(id, fen)| {
            let (zh, en) = id.and_then(|id| names.get(&id).copied()).unwrap_or(none);
            (zh.to_string(), en.to_string(), fen)
        })
        .collect();
    out.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    out
}

fn channel_name(channel: &str) -> (&'static str, &'static str) {
    match channel {
        "employee" => ("员工", "Employees"),
        "union" => ("工会", "Unions"),
        "canteen" => ("食堂", "Canteens"),
        _ => ("公众", "Public"),
    }
}

pub fn month_of(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

pub fn campaign_credits(conn: &mut AnyConnection, campaign_id: i64) -> Result<CampaignCredits, AppError> {
    let sums = model::campaign_sums(conn, campaign_id)?;
    let mut c = CampaignCredits::default();
    let (mut county, mut producer, mut org) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut channel: BTreeMap<String, i64> = BTreeMap::new();
    let mut month: BTreeMap<String, i64> = BTreeMap::new();
    for s in sums {
        c.credited_fen += s.fen;
        match s.category.as_str() {
            "direct_purchase" => c.direct_purchase_fen += s.fen,
            _ => c.helped_sales_fen += s.fen,
        }
        *county.entry(s.county_id).or_insert(0) += s.fen;
        *producer.entry(s.producer_id).or_insert(0) += s.fen;
        *org.entry(s.org_id).or_insert(0) += s.fen;
        *channel.entry(s.channel).or_insert(0) += s.fen;
        *month.entry(month_of(s.day)).or_insert(0) += s.fen;
    }
    let ids = |m: &HashMap<Option<i64>, i64>| m.keys().flatten().copied().collect::<Vec<i64>>();
    c.by_county = named(county.clone(), &model::county_names(conn, &ids(&county))?, ("其他", "Other"));
    c.by_producer =
        named(producer.clone(), &crate::catalog::model::producer_names(conn, &ids(&producer))?, ("其他", "Other"));
    c.by_org = named(org.clone(), &model::org_names(conn, &ids(&org))?, ("个人买家", "Individual buyers"));
    c.by_channel = channel
        .into_iter()
        .map(|(ch, fen)| {
            let (zh, en) = channel_name(&ch);
            (zh.to_string(), en.to_string(), fen)
        })
        .collect();
    c.by_month = month.into_iter().collect();
    Ok(c)
}

/// One row of the employers' report: per month, buyer organisation and campaign, direct
/// purchase and helped sales.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    pub month: String,
    pub buyer_zh: String,
    pub buyer_en: String,
    pub campaign_zh: String,
    pub campaign_en: String,
    pub direct_purchase_fen: i64,
    pub helped_sales_fen: i64,
}

/// Credited sales between two days (inclusive) by month, buyer organisation and campaign.
/// Buyers without an organisation are grouped as employees or the public, by channel.
pub fn org_report(conn: &mut AnyConnection, from: NaiveDate, to: NaiveDate) -> Result<Vec<ReportRow>, AppError> {
    let until = to.succ_opt().unwrap_or(to).and_time(chrono::NaiveTime::MIN);
    let sums = model::sums_between(conn, from.and_time(chrono::NaiveTime::MIN), until)?;
    // (month, org, channel when no org, campaign) → (direct purchase, helped sales)
    type Key = (String, Option<i64>, String, i64);
    let mut grouped: BTreeMap<Key, (i64, i64)> = BTreeMap::new();
    for s in sums {
        let who = if s.org_id.is_some() { String::new() } else { s.channel };
        let cell = grouped.entry((month_of(s.day), s.org_id, who, s.campaign_id)).or_insert((0, 0));
        if s.category == "direct_purchase" {
            cell.0 += s.fen;
        } else {
            cell.1 += s.fen;
        }
    }
    let org_ids: Vec<i64> = grouped.keys().filter_map(|k| k.1).collect();
    let campaign_ids: Vec<i64> = grouped.keys().map(|k| k.3).collect();
    let orgs: HashMap<i64, (String, String)> =
        model::org_names(conn, &org_ids)?.into_iter().map(|(id, zh, en)| (id, (zh, en))).collect();
    let campaigns: HashMap<i64, (String, String)> =
        model::campaign_names(conn, &campaign_ids)?.into_iter().map(|(id, zh, en)| (id, (zh, en))).collect();
    let unknown = (String::new(), String::new());
    Ok(grouped
        .into_iter()
        .map(|((month, org_id, channel, campaign_id), (direct, helped))| {
            let (buyer_zh, buyer_en) = match (org_id, channel.as_str()) {
                (Some(id), _) => orgs.get(&id).cloned().unwrap_or_default(),
                (None, "employee") => ("员工个人".into(), "Employees".into()),
                (None, _) => ("公众".into(), "Public".into()),
            };
            let (campaign_zh, campaign_en) = campaigns.get(&campaign_id).unwrap_or(&unknown).clone();
            ReportRow {
                month,
                buyer_zh,
                buyer_en,
                campaign_zh,
                campaign_en,
                direct_purchase_fen: direct,
                helped_sales_fen: helped,
            }
        })
        .collect())
}
