//! Organisations: companies, their trade unions and canteens.

use diesel::prelude::*;

use crate::db::schema::organisations;
use crate::db::AnyConnection;

#[derive(Insertable)]
#[diesel(table_name = organisations)]
pub struct NewOrganisation<'a> {
    pub slug: &'a str,
    pub kind: &'a str,
    pub parent_id: Option<i64>,
    pub name_zh: &'a str,
    pub name_en: &'a str,
    pub invoice_title: &'a str,
    pub uscc: &'a str,
    pub address: &'a str,
}

pub fn id_by_slug(conn: &mut AnyConnection, slug: &str) -> QueryResult<Option<i64>> {
    organisations::table.filter(organisations::slug.eq(slug)).select(organisations::id).first(conn).optional()
}

pub fn insert(conn: &mut AnyConnection, org: &NewOrganisation) -> QueryResult<i64> {
    diesel::insert_into(organisations::table).values(org).returning(organisations::id).get_result(conn)
}
