//! Points donations (积分捐赠): multiples of 50 points, valued at the exchange rate, credited in
//! the ledger; each milestone a project's total crosses is recorded once and its organiser told.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{self, NewDonation, Project};
use crate::credits::service::Draft;
use crate::db::{self, AnyConnection};
use crate::error::AppError;
use crate::mail;
use crate::money::{ExchangeRate, Money};

/// Donations are made in steps of this many points.
pub const STEP: i64 = 50;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DonationRequest {
    pub project_id: i64,
    pub points: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProjectView {
    pub id: i64,
    pub slug: String,
    pub campaign_id: i64,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
    pub active: bool,
    /// Each multiple of this amount is a milestone.
    #[schema(value_type = String)]
    pub milestone: Money,
    #[schema(value_type = String)]
    pub raised: Money,
    pub donations: i64,
    pub points: i64,
    pub milestones_reached: i64,
}

impl ProjectView {
    pub fn new(p: Project, donations: i64, points: i64, raised_fen: i64) -> ProjectView {
        ProjectView {
            milestones_reached: raised_fen / p.milestone_fen,
            milestone: Money::from_fen(p.milestone_fen),
            raised: Money::from_fen(raised_fen),
            id: p.id,
            slug: p.slug,
            campaign_id: p.campaign_id,
            name_zh: p.name_zh,
            name_en: p.name_en,
            description_zh: p.description_zh,
            description_en: p.description_en,
            active: p.active,
            donations,
            points,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DonationView {
    pub donation_id: i64,
    pub points: i64,
    #[schema(value_type = String)]
    pub value: Money,
    /// The ledger entry that records it.
    pub ledger_seq: i64,
    pub ledger_hash: String,
    /// Milestones this donation crossed (usually none).
    pub milestones_crossed: Vec<i64>,
    #[schema(value_type = String)]
    pub project_raised: Money,
}

#[derive(Serialize)]
struct MilestoneMail {
    project_zh: String,
    project_en: String,
    milestone: i64,
    amount: Money,
    raised: Money,
    project_url: String,
}

pub fn check_points(points: i64) -> Result<(), AppError> {
    if points <= 0 || points % STEP != 0 {
        return Err(AppError::unprocessable(
            "invalid_donation",
            format!("donate a positive multiple of {STEP} points, not {points} / 请捐赠 {STEP} 的整数倍积分"),
        ));
    }
    Ok(())
}

/// The milestones passed going from `before` to `after` (fen): those in (before, after].
pub fn crossed(before: i64, after: i64, milestone_fen: i64) -> Vec<i64> {
    ((before / milestone_fen + 1)..=(after / milestone_fen)).collect()
}

pub fn donate(
    conn: &mut AnyConnection,
    user_id: i64,
    request: &DonationRequest,
    rate: ExchangeRate,
    public_url: &str,
    now: NaiveDateTime,
) -> Result<DonationView, AppError> {
    check_points(request.points)?;
    let value_fen = rate.value_of(request.points).fen();
    db::write_tx(conn, |conn| {
        let project = model::project(conn, request.project_id)?.ok_or_else(|| {
            AppError::unprocessable("unknown_project", "no donation project has this id / 捐赠项目不存在")
        })?;
        if !project.active {
            return Err(AppError::unprocessable(
                "project_closed",
                "this project no longer takes donations / 该项目已结束",
            ));
        }
        // Appends to the ledger queue on its head; taking it first also makes the project's
        // running total below exact under concurrent donations, so each milestone fires once.
        crate::credits::model::lock_head(conn)?;
        crate::points::service::spend_as(
            conn,
            user_id,
            request.points,
            "donation",
            &format!("donation:{}", project.slug),
            now,
        )?;
        let (province_id, channel) = model::donor(conn, user_id)?;
        let before = model::raised_fen(conn, project.id)?;
        let donation_id = model::insert_donation(
            conn,
            &NewDonation { project_id: project.id, user_id, points: request.points, value_fen, province_id },
            now,
        )?;
        let after = before + value_fen;
        let milestones = crossed(before, after, project.milestone_fen);
        if !milestones.is_empty() {
            model::insert_milestones(conn, project.id, &milestones, donation_id, now)?;
            for m in &milestones {
                let context = MilestoneMail {
                    project_zh: project.name_zh.clone(),
                    project_en: project.name_en.clone(),
                    milestone: *m,
                    amount: Money::from_fen(m * project.milestone_fen),
                    raised: Money::from_fen(after),
                    project_url: format!("{public_url}/donate/{}", project.slug),
                };
                mail::enqueue(conn, "donation_milestone", &project.organiser_email, &context, now)?;
            }
        }
        let entries = crate::credits::service::append(
            conn,
            vec![Draft {
                kind: "donation",
                campaign_id: project.campaign_id,
                producer_id: None,
                county_id: None,
                org_id: None,
                project_id: Some(project.id),
                channel,
                category: "donation".into(),
                amount_fen: value_fen,
                order_line_id: None,
                refund_id: None,
                donation_id: Some(donation_id),
            }],
            now,
        )?;
        crate::credits::model::add_charity_hours(conn, user_id, 1, None, Some(donation_id), now)?;
        let entry = entries.into_iter().next().ok_or_else(|| AppError::internal("donation without ledger entry"))?;
        Ok(DonationView {
            donation_id,
            points: request.points,
            value: Money::from_fen(value_fen),
            ledger_seq: entry.seq,
            ledger_hash: entry.hash,
            milestones_crossed: milestones,
            project_raised: Money::from_fen(after),
        })
    })
}

pub fn project_views(conn: &mut AnyConnection) -> Result<Vec<ProjectView>, AppError> {
    let totals = model::totals(conn)?;
    Ok(model::projects(conn)?
        .into_iter()
        .map(|p| {
            let (count, points, fen) =
                totals.iter().find(|t| t.0 == p.id).map(|t| (t.1, t.2, t.3)).unwrap_or((0, 0, 0));
            ProjectView::new(p, count, points, fen)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_multiples_of_fifty() {
        for bad in [0, 49, 75, -50, 51] {
            assert!(check_points(bad).is_err(), "{bad}");
        }
        for good in [50, 100, 5000] {
            assert!(check_points(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn milestones_crossed_once_each() {
        assert_eq!(crossed(0, 999, 1000), Vec::<i64>::new());
        assert_eq!(crossed(999, 1000, 1000), vec![1]);
        assert_eq!(crossed(1000, 1500, 1000), Vec::<i64>::new());
        assert_eq!(crossed(1500, 3200, 1000), vec![2, 3]);
    }
}
