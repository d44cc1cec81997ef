//! Donation projects, points donations, milestones and the statistics behind the project page.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::accounts::model::Role;
use crate::db::schema::{donation_milestones, donation_projects, donations, users};
use crate::db::AnyConnection;
use crate::orders::status::Channel;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = donation_projects)]
pub struct Project {
    pub id: i64,
    pub slug: String,
    pub campaign_id: i64,
    pub name_zh: String,
    pub name_en: String,
    pub description_zh: String,
    pub description_en: String,
    pub milestone_fen: i64,
    pub organiser_email: String,
    pub active: bool,
}

pub fn projects(conn: &mut AnyConnection) -> QueryResult<Vec<Project>> {
    donation_projects::table.order(donation_projects::id).select(Project::as_select()).load(conn)
}

pub fn project(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<Project>> {
    donation_projects::table.find(id).select(Project::as_select()).first(conn).optional()
}

pub fn project_by_slug(conn: &mut AnyConnection, slug: &str) -> QueryResult<Option<Project>> {
    donation_projects::table
        .filter(donation_projects::slug.eq(slug))
        .select(Project::as_select())
        .first(conn)
        .optional()
}

/// (project id, donations, points, value in fen) for every project with donations.
pub fn totals(conn: &mut AnyConnection) -> QueryResult<Vec<(i64, i64, i64, i64)>> {
    use diesel::dsl::{count_star, sql};
    use diesel::sql_types::BigInt;
    donations::table
        .group_by(donations::project_id)
        .select((
            donations::project_id,
            count_star(),
            sql::<BigInt>("CAST(SUM(donations.points) AS BIGINT)"),
            sql::<BigInt>("CAST(SUM(donations.value_fen) AS BIGINT)"),
        ))
        .load(conn)
}

pub fn raised_fen(conn: &mut AnyConnection, project_id: i64) -> QueryResult<i64> {
    donations::table
        .filter(donations::project_id.eq(project_id))
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(COALESCE(SUM(donations.value_fen), 0) AS BIGINT)"))
        .first(conn)
}

pub struct NewDonation {
    pub project_id: i64,
    pub user_id: i64,
    pub points: i64,
    pub value_fen: i64,
    pub province_id: Option<i64>,
}

pub fn insert_donation(conn: &mut AnyConnection, d: &NewDonation, now: NaiveDateTime) -> QueryResult<i64> {
    diesel::insert_into(donations::table)
        .values((
            donations::project_id.eq(d.project_id),
            donations::user_id.eq(d.user_id),
            donations::points.eq(d.points),
            donations::value_fen.eq(d.value_fen),
            donations::province_id.eq(d.province_id),
            donations::created_at.eq(now),
        ))
        .returning(donations::id)
        .get_result(conn)
}

pub fn insert_milestones(
    conn: &mut AnyConnection,
    project_id: i64,
    milestones: &[i64],
    donation_id: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let rows: Vec<_> = milestones
        .iter()
        .map(|m| {
            (
                donation_milestones::project_id.eq(project_id),
                donation_milestones::milestone.eq(*m),
                donation_milestones::donation_id.eq(donation_id),
                donation_milestones::reached_at.eq(now),
            )
        })
        .collect();
    crate::on_backend!(conn, |c| diesel::insert_into(donation_milestones::table).values(&rows).execute(c))
}

/// (milestone number, reached at), in order.
pub fn milestones(conn: &mut AnyConnection, project_id: i64) -> QueryResult<Vec<(i64, NaiveDateTime)>> {
    donation_milestones::table
        .filter(donation_milestones::project_id.eq(project_id))
        .order(donation_milestones::milestone)
        .select((donation_milestones::milestone, donation_milestones::reached_at))
        .load(conn)
}

/// Donations to a project by the donor's province.
#[derive(Debug, Clone, QueryableByName)]
pub struct ProvinceStat {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub name_zh: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub name_en: Option<String>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub donors: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub points: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub value_fen: i64,
}

/// The only value in this SQL is the project's integer id.
pub fn by_province(conn: &mut AnyConnection, project_id: i64) -> QueryResult<Vec<ProvinceStat>> {
    diesel::sql_query(format!(
        "SELECT p.name_zh, p.name_en, CAST(COUNT(DISTINCT d.user_id) AS BIGINT) AS donors, \
         CAST(SUM(d.points) AS BIGINT) AS points, CAST(SUM(d.value_fen) AS BIGINT) AS value_fen \
         FROM donations d LEFT JOIN provinces p ON p.id = d.province_id \
         WHERE d.project_id = {project_id} GROUP BY p.name_zh, p.name_en ORDER BY value_fen DESC"
    ))
    .load(conn)
}

/// The donor's province and whether they are an employee (their channel).
pub fn donor(conn: &mut AnyConnection, user_id: i64) -> QueryResult<(Option<i64>, String)> {
    let province: Option<i64> = users::table.find(user_id).select(users::province_id).first(conn)?;
    let roles = crate::accounts::model::roles(conn, user_id)?;
    let employee = roles.iter().any(|r| r == Role::Employee.as_str());
    let channel = if employee { Channel::Employee } else { Channel::Public }.as_str();
    Ok((province, channel.to_string()))
}
