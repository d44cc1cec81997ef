//! Writes whose results nothing reads before the transaction ends, sent in one round trip.
//!
//! An order's last writes (its settlement terms, its mail, its payment, its Idempotency-Key
//! record) are each one statement that returns nothing the order needs. On the PostgreSQL
//! hot path they are kept until the order's stock is taken and sent then as one statement
//! (`WITH w0 AS (INSERT …), w1 AS (INSERT …) INSERT …`): one round trip instead of four, each
//! part built with the DSL and its values bound, never written into the SQL. PostgreSQL
//! prepares the statement once per connection (the SQL text is its cache key, and it is the
//! same for every order of the same shape). Anywhere else each write runs at once.
//!
//! A statement inside `WITH` does not see the rows its siblings insert, so only writes that
//! do not read one another's rows may be deferred together.

use std::cell::RefCell;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::{QueryResult, RunQueryDsl};

use super::AnyConnection;

/// A write that can run now on either backend or be deferred on PostgreSQL.
pub trait Write: QueryFragment<Pg> + RunQueryDsl<AnyConnection> + ExecuteDsl<AnyConnection> + Send + 'static {}

impl<T> Write for T where T: QueryFragment<Pg> + RunQueryDsl<AnyConnection> + ExecuteDsl<AnyConnection> + Send + 'static {}

type Part = Box<dyn QueryFragment<Pg> + Send>;

/// Kept writes that are never flushed are dropped with it: its owner flushes before anything
/// that must see them and before the transaction ends (`orders::service::place`, before the
/// stock).
pub struct Deferred {
    /// `None`: each write runs at once.
    parts: Option<RefCell<Vec<Part>>>,
}

impl Deferred {
    /// Each write runs when it is made.
    pub const NOW: Deferred = Deferred { parts: None };

    /// Writes are kept until `flush` when `conn` is PostgreSQL; on SQLite (which has no
    /// writing `WITH` and no round trips to save) they run at once.
    pub fn until_flush(conn: &AnyConnection) -> Deferred {
        match conn {
            AnyConnection::Postgresql(_) => Deferred { parts: Some(RefCell::new(Vec::new())) },
            AnyConnection::Sqlite(_) => Deferred::NOW,
        }
    }

    pub fn write(&self, conn: &mut AnyConnection, statement: impl Write) -> QueryResult<()> {
        match &self.parts {
            Some(parts) => parts.borrow_mut().push(Box::new(statement)),
            None => {
                statement.execute(conn)?;
            }
        }
        Ok(())
    }

    /// Sends what was kept, as one statement. Nothing to send costs nothing.
    pub fn flush(&self, conn: &mut AnyConnection) -> QueryResult<()> {
        let Some(parts) = &self.parts else { return Ok(()) };
        let parts = parts.take();
        match conn {
            _ if parts.is_empty() => Ok(()),
            AnyConnection::Postgresql(pg) => Chain(&parts).execute(pg).map(drop),
            // `until_flush` keeps none on SQLite.
            AnyConnection::Sqlite(_) => {
                Err(diesel::result::Error::QueryBuilderError("writes deferred on SQLite".into()))
            }
        }
    }
}

/// `WITH w0 AS (<first>), … <last>`.
struct Chain<'a>(&'a [Part]);

impl QueryFragment<Pg> for Chain<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let Some((last, first)) = self.0.split_last() else { return Ok(()) };
        for (i, part) in first.iter().enumerate() {
            out.push_sql(if i == 0 { "WITH " } else { ", " });
            out.push_sql(&format!("w{i} AS ("));
            part.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        out.push_sql(" ");
        last.walk_ast(out.reborrow())
    }
}

/// No static id: diesel caches the prepared statement by its SQL text instead.
impl QueryId for Chain<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn> RunQueryDsl<Conn> for Chain<'_> {}
