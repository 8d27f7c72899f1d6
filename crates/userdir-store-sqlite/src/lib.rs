//! The SQLite implementation of the store.
//!
//! SQLite allows one writer at a time, so one writer task owns the one write connection and commits
//! whatever writes are waiting as one transaction (`writer.rs`): nothing spins on SQLITE_BUSY, and
//! an idempotency token's check and record share the write's transaction. Reads use a separate
//! pool of query-only connections, which WAL lets run beside the writer; GetUser reads go through
//! the cache the backend hands in (`userdir_core::store::UserCache`), which the writer keeps
//! coherent; a miss reads on the request's own thread (`direct.rs`), or, where that would wait
//! for a lock, in a statement shared with the misses waiting at the same time (`lookups.rs`).
//! ListUsers' pages are read on the request's thread too, through the pool where that would wait.
//!
//! Limits are bound as `LIMIT CAST(?n AS INTEGER)`: SQLite's planner reads a bare bound LIMIT's
//! value, and then prepares the statement afresh every time the value is bound again.
//!
//! Durability: WAL with `synchronous = FULL` syncs the log on every commit, so an acknowledged
//! write survives a crash of the process and a power loss (NORMAL would survive only the former).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

mod audit;
mod backup;
mod beside;
mod copy;
mod credentials;
mod direct;
mod groups;
mod import;
mod lock;
mod lookups;
mod maintenance;
mod rows;
mod scim;
mod scim_tokens;
#[cfg(test)]
mod test_support;
mod users;
mod writer;

use audit::audit_page;
pub use backup::{BackupReport, backup, restore, verify};
pub use beside::TokensBeside;
pub use lock::{DirectoryLock, LockError, database_dir};
pub use maintenance::{check, migrate, read_audit};
use rows::users_from_json;
use userdir_core::store::rows::{corrupt, parse_user_id};
pub use writer::WriteStats;
use writer::{AheadInsert, Batch, Isolation, TokenKey, WriteFuture, Writer};

use userdir_core::domain::SharedClock;
use userdir_core::store::{
    BackendError, LocalCreations, Lookups, StoreError, UserCache, WriteContext, Written,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

#[derive(Debug, Clone)]
pub struct SqliteSettings {
    pub path: PathBuf,
    pub busy_timeout: Duration,
    pub read_connections: u32,
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The one write connection's pool; the connection itself belongs to the writer task.
    write_pool: SqlitePool,
    cache: Arc<UserCache>,
    writer: Writer,
    reader: SqlitePool,
    lookups: Lookups,
    direct: Arc<direct::DirectReads>,
    /// The database's directory, whose filesystem must have room for writes.
    dir: PathBuf,
    clock: SharedClock,
    /// One process writes the database, so its own inserts are every creation there is.
    creations: Arc<LocalCreations>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and brings its schema up to date; `clock`
    /// is the time every write is made at.
    pub async fn open(
        settings: &SqliteSettings,
        clock: SharedClock,
        cache: Arc<UserCache>,
    ) -> Result<Self, StoreError> {
        if let Some(dir) = settings.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&settings.path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(settings.busy_timeout);

        let write_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone().create_if_missing(true))
            .await
            .map_err(db_error)?;
        MIGRATOR.run(&write_pool).await.map_err(migrate_error)?;
        let writer = Writer::start(
            write_pool.acquire().await.map_err(db_error)?,
            cache.clone(),
            clock.clone(),
        );
        restrict_to_owner(&settings.path)?;

        // No ping before each acquire: a SQLite connection is a file handle on a thread of this
        // process, and sqlx's ping is one more round trip to that thread and back for every
        // read (sqlx pings each connection again as it returns to the pool).
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.read_connections.max(1))
            .test_before_acquire(false)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(db_error)?;
        Ok(Self {
            write_pool,
            cache,
            writer,
            lookups: lookups::start(reader.clone(), settings.read_connections.max(1)),
            direct: Arc::new(direct::DirectReads::new(&settings.path)),
            reader,
            dir: database_dir(&settings.path).to_owned(),
            clock,
            creations: Arc::default(),
        })
    }

    /// A write made once per clientToken and audited: if the token was used before with the
    /// same parameters, answers what it answered then (`replayed` reads the recorded result);
    /// otherwise runs `write`, which returns its value and the result to record with the token.
    async fn write_once<T, F>(
        &self,
        isolation: Isolation,
        ctx: &WriteContext,
        replayed: fn(String) -> Result<T, StoreError>,
        write: F,
    ) -> Result<Written<T>, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection, &'c mut Batch) -> WriteFuture<'c, (T, String)>
            + Send
            + 'static,
    {
        self.write_once_inserting(isolation, ctx, None, replayed, write)
            .await
    }

    /// [`Self::write_once`] for a write that creates a user with `insert`'s row.
    async fn write_once_inserting<T, F>(
        &self,
        isolation: Isolation,
        ctx: &WriteContext,
        insert: Option<AheadInsert>,
        replayed: fn(String) -> Result<T, StoreError>,
        write: F,
    ) -> Result<Written<T>, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection, &'c mut Batch) -> WriteFuture<'c, (T, String)>
            + Send
            + 'static,
    {
        let ctx = ctx.clone();
        self.writer
            .write_inserting(isolation, token_key(&ctx), insert, move |tx, batch| {
                Box::pin(async move {
                    if let Some(result) = replay_of(batch, &ctx)? {
                        return replayed(result).map(Written::Replayed);
                    }
                    let (value, result) = write(&mut *tx, &mut *batch).await?;
                    record(batch, &ctx, &result)?;
                    Ok(Written::Applied(value))
                })
            })
            .await
    }

    /// How many users the GetUser cache holds now.
    pub fn cached_users(&self) -> usize {
        self.cache.len()
    }

    /// What the writer has committed so far.
    pub fn write_stats(&self) -> &WriteStats {
        self.writer.stats()
    }

    /// Commits the writes already queued, then closes every connection; the last one to close
    /// checkpoints the WAL into the main file.
    pub async fn close(&self) {
        self.writer.close().await;
        self.direct.close();
        self.reader.close().await;
        self.write_pool.close().await;
    }
}

/// Claims the database at `path` for this process: creates its directory if needed and takes
/// the directory's lock, or says which process holds it.
pub fn claim(path: &Path) -> Result<DirectoryLock, StoreError> {
    let dir = database_dir(path);
    std::fs::create_dir_all(dir).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("creating the database directory {}: {e}", dir.display()),
        )
    })?;
    DirectoryLock::acquire(path).map_err(|error| {
        let message = error.to_string();
        match error {
            LockError::Held { .. } => StoreError::InUse(message),
            LockError::Io { source, .. } => {
                StoreError::Io(std::io::Error::new(source.kind(), message))
            }
        }
    })
}

/// The database holds password hashes and the server's keys: only its owner may read it.
fn restrict_to_owner(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            files.push(name.into());
        }
        for file in files.iter().filter(|f| f.exists()) {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Below this much free space on its filesystem, the database is not ready: a write may fail any
/// moment (SQLite needs room for WAL frames, and the checkpoint for the main file).
const MIN_FREE_BYTES: u64 = 1 << 20;

/// The space an unprivileged writer may still use on the filesystem holding `dir`.
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let stats = rustix::fs::statvfs(dir).ok()?;
        Some(stats.f_bavail.saturating_mul(stats.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// The earlier answer for this write's token, if it is still alive; `TokenMismatch` if the token
/// was used for other parameters.
fn replay_of(batch: &Batch, ctx: &WriteContext) -> Result<Option<String>, StoreError> {
    let Some(claim) = &ctx.claim else {
        return Ok(None);
    };
    match batch.earlier(claim) {
        Some((fingerprint, result)) if *fingerprint == claim.fingerprint => {
            Ok(Some(result.clone()))
        }
        Some(_) => Err(StoreError::TokenMismatch),
        None => Ok(None),
    }
}

/// The token a write claims, for the writer to look up with its batch-mates'.
fn token_key(ctx: &WriteContext) -> Option<TokenKey> {
    ctx.claim
        .as_ref()
        .map(|claim| (claim.operation, claim.token.as_str().to_owned()))
}

/// Completes a successful write: its token (with the answer it produced) and its audit entry are
/// written at the end of its batch, in the same transaction.
fn record(batch: &mut Batch, ctx: &WriteContext, result: &str) -> Result<(), StoreError> {
    batch.record(ctx.claim.as_ref(), &ctx.audit, result)
}

// SQLite's failures become the store's: a full or failing disk is Unavailable (writes resume
// when it recovers), anything else Internal. Above the store no sqlx type is seen.
fn db_error(error: sqlx::Error) -> StoreError {
    let detail = BackendError::from_error(&error);
    if writer::is_unwritable(&error) {
        StoreError::Unavailable(detail)
    } else {
        StoreError::Internal(detail)
    }
}

fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Internal(BackendError::from_error(&error))
}
