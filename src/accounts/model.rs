//! Users, their roles, organisation memberships and managed producers.

use diesel::prelude::*;

use crate::db::schema::{
    email_verifications, memberships, organisations, producer_managers, producers, provinces, user_roles, users,
};
use crate::db::AnyConnection;

/// What a user may do; stored as its `as_str()` spelling in `user_roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Buyer,
    Employee,
    UnionAdmin,
    CanteenManager,
    CoopManager,
    PlatformAdmin,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::Buyer, Role::Employee, Role::UnionAdmin, Role::CanteenManager, Role::CoopManager, Role::PlatformAdmin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Employee => "employee",
            Role::UnionAdmin => "union_admin",
            Role::CanteenManager => "canteen_manager",
            Role::CoopManager => "coop_manager",
            Role::PlatformAdmin => "platform_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub province_id: Option<i64>,
    pub disabled: bool,
    /// False until the emailed confirmation link is followed.
    pub verified: bool,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub display_name: &'a str,
    pub province_id: Option<i64>,
}

/// An organisation as seen from one of its members.
#[derive(Debug, Clone, Queryable)]
pub struct Membership {
    pub org_id: i64,
    pub slug: String,
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    pub is_admin: bool,
}

pub fn find_by_email(conn: &mut AnyConnection, email: &str) -> QueryResult<Option<User>> {
    users::table.filter(users::email.eq(email)).select(User::as_select()).first(conn).optional()
}

pub fn find(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<User>> {
    users::table.find(id).select(User::as_select()).first(conn).optional()
}

/// (email, display name, disabled, is an employee) of user `id`, in one statement: what an
/// order needs to know of its buyer.
pub fn buyer_facts(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<(String, String, bool, bool)>> {
    let employee = user_roles::table
        .filter(user_roles::user_id.eq(users::id))
        .filter(user_roles::role.eq(Role::Employee.as_str()));
    users::table
        .find(id)
        .select((users::email, users::display_name, users::disabled, diesel::dsl::exists(employee)))
        .get_result(conn)
        .optional()
}

pub fn insert(conn: &mut AnyConnection, user: &NewUser) -> QueryResult<i64> {
    diesel::insert_into(users::table).values(user).returning(users::id).get_result(conn)
}

pub fn roles(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<String>> {
    user_roles::table
        .filter(user_roles::user_id.eq(user_id))
        .select(user_roles::role)
        .order(user_roles::role)
        .load(conn)
}

pub fn add_roles(conn: &mut AnyConnection, user_id: i64, roles: &[&str]) -> QueryResult<usize> {
    let rows: Vec<_> = roles.iter().map(|r| (user_roles::user_id.eq(user_id), user_roles::role.eq(*r))).collect();
    crate::on_backend!(conn, |c| diesel::insert_into(user_roles::table).values(&rows).execute(c))
}

pub fn memberships(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<Membership>> {
    memberships::table
        .inner_join(organisations::table)
        .filter(memberships::user_id.eq(user_id))
        .order(organisations::id)
        .select((
            organisations::id,
            organisations::slug,
            organisations::kind,
            organisations::name_zh,
            organisations::name_en,
            memberships::is_admin,
        ))
        .load(conn)
}

pub fn add_membership(conn: &mut AnyConnection, user_id: i64, org_id: i64, is_admin: bool) -> QueryResult<usize> {
    diesel::insert_into(memberships::table)
        .values((memberships::user_id.eq(user_id), memberships::org_id.eq(org_id), memberships::is_admin.eq(is_admin)))
        .execute(conn)
}

pub fn add_producer_manager(conn: &mut AnyConnection, user_id: i64, producer_id: i64) -> QueryResult<usize> {
    diesel::insert_into(producer_managers::table)
        .values((producer_managers::user_id.eq(user_id), producer_managers::producer_id.eq(producer_id)))
        .execute(conn)
}

/// The producers a cooperative manager manages: (id, name_zh, name_en).
pub fn managed_producers(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<(i64, String, String)>> {
    producer_managers::table
        .inner_join(producers::table)
        .filter(producer_managers::user_id.eq(user_id))
        .select((producers::id, producers::name_zh, producers::name_en))
        .load(conn)
}

pub fn province_names(conn: &mut AnyConnection, province_id: i64) -> QueryResult<Option<(String, String)>> {
    provinces::table.find(province_id).select((provinces::name_zh, provinces::name_en)).first(conn).optional()
}

pub fn province_id_by_code(conn: &mut AnyConnection, code: &str) -> QueryResult<Option<i64>> {
    provinces::table.filter(provinces::code.eq(code)).select(provinces::id).first(conn).optional()
}

/// All users with their roles, for the platform admin: (id, email, display_name, roles).
/// A user as the admin list shows them: id, email, display name, roles.
pub type UserWithRoles = (i64, String, String, Vec<String>);

pub fn list_with_roles(conn: &mut AnyConnection) -> QueryResult<Vec<UserWithRoles>> {
    let people: Vec<(i64, String, String)> =
        users::table.order(users::id).select((users::id, users::email, users::display_name)).load(conn)?;
    let all_roles: Vec<(i64, String)> = user_roles::table.select((user_roles::user_id, user_roles::role)).load(conn)?;
    Ok(people
        .into_iter()
        .map(|(id, email, name)| {
            let roles = all_roles.iter().filter(|(uid, _)| *uid == id).map(|(_, r)| r.clone()).collect();
            (id, email, name, roles)
        })
        .collect())
}

pub fn set_verified(conn: &mut AnyConnection, user_id: i64, verified: bool) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id)).set(users::verified.eq(verified)).execute(conn)
}

pub fn set_password(conn: &mut AnyConnection, user_id: i64, hash: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id)).set(users::password_hash.eq(hash)).execute(conn)
}

pub fn add_verification(
    conn: &mut AnyConnection,
    token_hash: &str,
    user_id: i64,
    expires_at: chrono::NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(email_verifications::table)
        .values((
            email_verifications::token_hash.eq(token_hash),
            email_verifications::user_id.eq(user_id),
            email_verifications::expires_at.eq(expires_at),
        ))
        .execute(conn)
}

/// Marks an unused, unexpired confirmation link used (once, conditionally); its user.
pub fn use_verification(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: chrono::NaiveDateTime,
) -> QueryResult<Option<i64>> {
    let used = diesel::update(
        email_verifications::table
            .filter(email_verifications::token_hash.eq(token_hash))
            .filter(email_verifications::used_at.is_null())
            .filter(email_verifications::expires_at.gt(now)),
    )
    .set(email_verifications::used_at.eq(now))
    .execute(conn)?;
    if used == 0 {
        return Ok(None);
    }
    email_verifications::table
        .filter(email_verifications::token_hash.eq(token_hash))
        .select(email_verifications::user_id)
        .first(conn)
        .optional()
}
