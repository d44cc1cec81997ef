//! Database access: one connection type over PostgreSQL and SQLite, its pool, and migrations.

mod deferred;
pub mod schema;

pub use deferred::{Deferred, Write};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::AppError;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs one statement on the concrete backend connection, for the few statements the
/// multi-backend dialect cannot express (batch inserts, upserts).
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::AnyConnection::Postgresql($c) => $body,
            $crate::db::AnyConnection::Sqlite($c) => $body,
        }
    };
}

pub type Pool = diesel::r2d2::Pool<Manager>;
pub type PooledConn = diesel::r2d2::PooledConnection<Manager>;

/// Which backend a `DATABASE_URL` names, chosen from its scheme (never by trial: SQLite would
/// accept any string as a file name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Postgres(String),
    Sqlite(PathBuf),
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres(url.to_string()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err("a sqlite:// URL needs a file path, e.g. sqlite://data/aidmart.db".into());
            }
            Ok(Backend::Sqlite(PathBuf::from(path)))
        } else {
            Err("must start with sqlite:// or postgres://".into())
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }
}

/// r2d2 manager that opens the right backend and prepares each SQLite connection for
/// concurrent use (WAL, busy timeout, foreign keys).
#[derive(Debug)]
pub struct Manager {
    backend: Backend,
}

impl diesel::r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        match &self.backend {
            Backend::Postgres(url) => diesel::PgConnection::establish(url)
                .map(AnyConnection::Postgresql)
                .map_err(diesel::r2d2::Error::ConnectionError),
            Backend::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1").map_err(diesel::r2d2::Error::QueryError)
    }

    /// A connection whose last statement found it dead (or that a panic left inside a
    /// transaction) is closed on its way back, not pooled.
    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// A connection is trusted without a check for this long after it was last checked out.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// When a pooled connection was last checked out (kept in its r2d2 extensions).
struct CheckedOut(std::time::Instant);

/// Takes a connection from the pool. One checked out within the last second is handed over
/// as it is; one idle for longer is asked `SELECT 1` first (PostgreSQL may have restarted, a
/// proxy may have cut it), and replaced if that fails. r2d2 would ask every time: under load
/// that is one round trip per request for nothing. A connection that breaks in use is
/// dropped on its way back (`Manager::has_broken`).
pub fn checkout(pool: &Pool) -> Result<PooledConn, AppError> {
    for _ in 0..=pool.max_size() {
        let mut conn = pool.get()?;
        let recent = PooledConn::extensions(&conn).get::<CheckedOut>().is_some_and(|t| t.0.elapsed() < TRUSTED_FOR);
        if recent || conn.batch_execute("SELECT 1").is_ok() {
            PooledConn::extensions_mut(&mut conn).insert(CheckedOut(std::time::Instant::now()));
            return Ok(conn);
        }
    }
    Err(AppError::internal("no working database connection"))
}

/// Opens a pool; for SQLite the file's folder is created first, and the file is put in WAL
/// mode by one connection before the pool opens the others.
pub fn connect(url: &str, max_size: u32) -> Result<Pool, AppError> {
    let manager = Manager { backend: Backend::from_url(url).map_err(AppError::internal)? };
    if let Backend::Sqlite(path) = &manager.backend {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| AppError::internal(format!("cannot create {}: {e}", dir.display())))?;
        }
        // Switching a new file to WAL takes an exclusive lock. r2d2 opens its first
        // connections in parallel, and one switching the file while another did was answered
        // "database is locked" without the busy timeout's wait (r2d2 logged it and retried).
        diesel::r2d2::ManageConnection::connect(&manager)
            .map_err(|e| AppError::internal(format!("cannot open the database: {e}")))?;
    }
    diesel::r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(10))
        // `checkout` checks connections idle for more than a second (r2d2 would check each).
        .test_on_check_out(false)
        .build(manager)
        .map_err(|e| AppError::internal(format!("cannot connect to the database: {e}")))
}

/// Applies every pending migration of the connection's backend.
pub fn migrate(conn: &mut AnyConnection) -> Result<usize, AppError> {
    let applied = match conn {
        AnyConnection::Postgresql(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(|e| AppError::internal(format!("migration failed: {e}")))
}

fn in_transaction(c: &mut diesel::SqliteConnection) -> bool {
    type SqliteTm = <diesel::SqliteConnection as Connection>::TransactionManager;
    SqliteTm::transaction_manager_status_mut(c).transaction_depth().ok().flatten().is_some()
}

/// How many times a transaction that PostgreSQL aborted as a deadlock victim or a
/// serialization failure is run again before the error is returned.
const TX_ATTEMPTS: usize = 4;

/// Whether PostgreSQL aborted the transaction only because of its timing (a deadlock or a
/// serialization failure): running it again is then safe and should succeed.
pub fn is_retryable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        Error::DatabaseError(_, info) => info.message().contains("deadlock detected"),
        _ => false,
    }
}

/// Runs `f` in a write transaction. On SQLite it starts with `BEGIN IMMEDIATE` so that
/// concurrent writers queue on the busy timeout instead of failing with "database is locked"
/// when a read lock would have to be upgraded. On PostgreSQL a transaction aborted by a
/// deadlock or a serialization failure is rolled back and run again, a bounded number of
/// times, so the client never sees it (every path takes its locks in one order, see
/// ARCHITECTURE.md, so this is the exception).
pub fn write_tx<T, E>(conn: &mut AnyConnection, mut f: impl FnMut(&mut AnyConnection) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error> + TxError,
{
    let mut attempt = 1;
    loop {
        match write_tx_once(conn, &mut f) {
            Err(e) if attempt < TX_ATTEMPTS && e.is_retryable() && !in_any_transaction(conn) => {
                attempt += 1;
                tracing::debug!(attempt, "transaction retried after a deadlock or serialization failure");
                std::thread::sleep(Duration::from_millis(2 * attempt as u64));
            }
            other => {
                // A catalog change made inside is announced again now that it is visible.
                if !in_any_transaction(conn) {
                    crate::cache::pages::after_transaction();
                }
                return other;
            }
        }
    }
}

/// Errors that can tell whether they came from a retryable database failure.
pub trait TxError {
    fn is_retryable(&self) -> bool;
}

impl TxError for diesel::result::Error {
    fn is_retryable(&self) -> bool {
        is_retryable(self)
    }
}

/// True inside a transaction that is not nested in another (no savepoint between).
pub fn in_outermost_transaction(conn: &mut AnyConnection) -> bool {
    type Tm = <AnyConnection as Connection>::TransactionManager;
    Tm::transaction_manager_status_mut(conn).transaction_depth().ok().flatten().is_some_and(|d| d.get() == 1)
}

fn in_any_transaction(conn: &mut AnyConnection) -> bool {
    type Tm = <AnyConnection as Connection>::TransactionManager;
    Tm::transaction_manager_status_mut(conn).transaction_depth().ok().flatten().is_some()
}

fn write_tx_once<T, E>(conn: &mut AnyConnection, f: &mut impl FnMut(&mut AnyConnection) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    type Tm = <AnyConnection as Connection>::TransactionManager;
    // Only the outermost SQLite transaction begins IMMEDIATE; a nested one is a savepoint.
    let sqlite_outermost = match conn {
        AnyConnection::Sqlite(c) => !in_transaction(c),
        AnyConnection::Postgresql(_) => false,
    };
    match conn {
        AnyConnection::Sqlite(c) if sqlite_outermost => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        _ => Tm::begin_transaction(conn)?,
    }
    // `inventory::take_and_commit` may have ended the transaction itself (PostgreSQL's hot
    // path); then there is nothing left to commit, nor to roll back if its COMMIT failed.
    match f(conn) {
        Ok(value) => {
            if in_any_transaction(conn) {
                Tm::commit_transaction(conn)?;
            }
            Ok(value)
        }
        Err(e) => {
            if in_any_transaction(conn) {
                Tm::rollback_transaction(conn)?;
            }
            Err(e)
        }
    }
}

/// Locks the credit ledger's head row until the transaction ends. Every transaction that may
/// append to the ledger takes it first: it heads the lock order (ARCHITECTURE.md).
pub fn lock_ledger_head(conn: &mut AnyConnection) -> QueryResult<(i64, String)> {
    use schema::ledger_head;
    diesel::update(ledger_head::table.find(1))
        .set(ledger_head::entries.eq(ledger_head::entries))
        .returning((ledger_head::entries, ledger_head::hash))
        .get_result(conn)
}
