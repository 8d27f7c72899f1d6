//! The PostgreSQL implementation of the store: one database that any number of userdir instances
//! share, each instance a pool of connections.
//!
//! Every write is one transaction, committed before it is answered (`synchronous_commit` stays
//! on: a 200 means committed). A write made under a clientToken first claims the token's row
//! (`write.rs`), so that the same token sent to two instances at once makes one effect: the second
//! waits on the first's row and then answers what the first did. Limits are counted in
//! `entity_counts` (`counts.rs`), exactly however many instances create at once.
//!
//! Nothing is cached between requests: a write acknowledged by one instance is read by the next
//! request on any other. Creations reach every instance's lifecycle task through LISTEN/NOTIFY
//! (`creations.rs`), and each task also scans on a timer, so no wake-up is lost to a dropped
//! connection.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod audit;
mod copy;
mod counts;
mod creations;
mod credentials;
mod groups;
mod import;
mod lookups;
mod maintenance;
mod scim;
mod scim_tokens;
mod together;
mod users;
mod write;

use creations::SharedCreations;
pub use maintenance::{check, migrate, read_audit};
use userdir_core::domain::SharedClock;
use userdir_core::store::{BackendError, CommitWatch, Lookups, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// How to reach the database, and the pool's bounds.
#[derive(Clone)]
pub struct PostgresSettings {
    /// `postgres://user:password@host:port/database?options` (or `postgresql://`).
    pub url: String,
    /// Connections this instance opens at most. One of them is held for as long as the store is
    /// open, listening for creations, so fewer than 2 leave none for anything else (the
    /// configuration refuses them: `database.max_connections`).
    pub max_connections: u32,
    /// How long a request waits for a free connection (or for a new one to connect) before it
    /// fails with 503.
    pub acquire_timeout: Duration,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &redacted(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

/// The URL with its password (if any, in the authority or as a `password` parameter) replaced,
/// for logs and messages.
pub fn redacted(url: &str) -> String {
    if url.is_empty() {
        return String::new();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<an unparsable URL>".into();
    };
    let (address, query) = match rest.split_once('?') {
        Some((address, query)) => (address, Some(query)),
        None => (rest, None),
    };
    let address = match address.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{credentials}@{host}"),
        },
        None => address.to_owned(),
    };
    let query = query.map(|query| {
        let parameters: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("password", _)) => "password=***".to_owned(),
                _ => pair.to_owned(),
            })
            .collect();
        format!("?{}", parameters.join("&"))
    });
    format!("{scheme}://{address}{}", query.unwrap_or_default())
}

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    clock: SharedClock,
    creations: Arc<SharedCreations>,
    /// Told of each committed write (metrics).
    watch: Arc<CommitWatch>,
    /// GetUser's reads, gathered into shared statements.
    lookups: Lookups,
    /// CreateUser's creates, made together.
    together: together::Together,
}

impl PostgresStore {
    /// Connects, brings the schema up to date (the migrator holds an advisory lock, so instances
    /// starting together take turns) and starts listening for creations.
    pub async fn open(settings: &PostgresSettings, clock: SharedClock) -> Result<Self, StoreError> {
        let pool = pool(settings).await?;
        MIGRATOR.run(&pool).await.map_err(migrate_error)?;
        let creations = Arc::new(SharedCreations::listen(&pool).await?);
        let watch = Arc::<CommitWatch>::default();
        Ok(Self {
            lookups: lookups::start(pool.clone(), settings.max_connections.max(1)),
            together: together::Together::start(pool.clone(), watch.clone()),
            pool,
            clock,
            creations,
            watch,
        })
    }

    /// Waits for the transactions under way, then closes every connection.
    pub async fn close(&self) {
        self.creations.stop();
        self.pool.close().await;
    }
}

async fn pool(settings: &PostgresSettings) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = settings.url.parse().map_err(|e| {
        StoreError::internal(format!("database.url {}: {e}", redacted(&settings.url)))
    })?;
    PgPoolOptions::new()
        .max_connections(settings.max_connections.max(1))
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options.application_name("userdir"))
        .await
        .map_err(db_error)
}

/// Whether PostgreSQL failed the statement with SQLSTATE `code`.
fn has_code(error: &sqlx::Error, code: &str) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == code)
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Which constraint a unique violation broke, if it was one.
fn violated_constraint(error: &sqlx::Error) -> Option<&str> {
    error
        .as_database_error()
        .filter(|e| e.is_unique_violation())
        .and_then(|e| e.constraint())
}

// PostgreSQL's failures become the store's. A server that cannot be reached, a pool with no free
// connection within its timeout, or a server shutting down are Unavailable (503: a retry may
// succeed once it is back); a transaction aborted for a concurrent one is Contended (tried again
// by the write's loop); anything else is Internal. Above the store no sqlx type is seen.
fn db_error(error: sqlx::Error) -> StoreError {
    let detail = BackendError::from_error(&error);
    if is_unavailable(&error) {
        StoreError::Unavailable(detail)
    } else if is_contended(&error) {
        StoreError::Contended(detail)
    } else {
        StoreError::Internal(detail)
    }
}

/// 40001: serialization_failure; 40P01: deadlock_detected.
fn is_contended(error: &sqlx::Error) -> bool {
    has_code(error, "40001") || has_code(error, "40P01")
}

fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        other => other
            .as_database_error()
            .and_then(|e| e.code())
            // 57P01-57P03: the server is shutting down or cannot accept connections yet;
            // 08xxx: the connection failed; 53xxx: out of resources (disk full, too many
            // connections).
            .is_some_and(|code| {
                code.starts_with("57P") || code.starts_with("08") || code.starts_with("53")
            }),
    }
}

fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(inner) => db_error(inner),
        other => StoreError::Internal(BackendError::from_error(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(
            redacted("postgres://userdir:s3cret@db.internal:5432/userdir"),
            "postgres://userdir:***@db.internal:5432/userdir"
        );
        assert_eq!(
            redacted("postgresql://a:b:c@host/db?sslmode=require"),
            "postgresql://a:***@host/db?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://userdir@localhost/userdir?host=/run/postgresql"),
            "postgres://userdir@localhost/userdir?host=/run/postgresql"
        );
        assert_eq!(
            redacted("postgres://u@h/db?sslmode=require&password=s3cret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(redacted(""), "");
        assert_eq!(redacted("not a url"), "<an unparsable URL>");
    }
}
