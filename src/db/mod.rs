//! Database access: one connection type over PostgreSQL and SQLite, its pool, and migrations.

pub mod schema;

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

    fn has_broken(&self, _conn: &mut AnyConnection) -> bool {
        false
    }
}

/// Opens a pool; for SQLite the file's folder is created first.
pub fn connect(url: &str, max_size: u32) -> Result<Pool, AppError> {
    let backend = Backend::from_url(url).map_err(AppError::internal)?;
    if let Backend::Sqlite(path) = &backend {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| AppError::internal(format!("cannot create {}: {e}", dir.display())))?;
        }
    }
    diesel::r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(10))
        .build(Manager { backend })
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

/// Runs `f` in a write transaction. On SQLite it starts with `BEGIN IMMEDIATE` so that
/// concurrent writers queue on the busy timeout instead of failing with "database is locked"
/// when a read lock would have to be upgraded.
pub fn write_tx<T, E>(conn: &mut AnyConnection, f: impl FnOnce(&mut AnyConnection) -> Result<T, E>) -> Result<T, E>
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
    match f(conn) {
        Ok(value) => {
            Tm::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            Tm::rollback_transaction(conn)?;
            Err(e)
        }
    }
}
