//! The SQLite implementation of the store.
//!
//! SQLite allows one writer at a time, so one writer task owns the one write connection and commits
//! whatever writes are waiting as one transaction (`writer.rs`): nothing spins on SQLITE_BUSY, and
//! an idempotency token's check and record share the write's transaction. Reads use a separate
//! pool of query-only connections, which WAL lets run beside the writer; GetUser reads go through
//! a cache the writer keeps coherent (`cache.rs`), and concurrent misses share one statement
//! (`lookups.rs`).
//!
//! Limits are bound as `LIMIT CAST(?n AS INTEGER)`: SQLite's planner reads a bare bound LIMIT's
//! value, and then prepares the statement afresh every time the value is bound again.
//!
//! Durability: WAL with `synchronous = FULL` syncs the log on every commit, so an acknowledged
//! write survives a crash of the process and a power loss (NORMAL would survive only the former).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};
use tracing::instrument;

mod cache;
mod credentials;
mod groups;
mod lock;
mod lookups;
mod maintenance;
mod writer;

use cache::UserCache;
pub use lock::{DirectoryLock, LockError, database_dir};
use lookups::Lookups;
pub use maintenance::{MigrationReport, check, migrate, read_audit};
pub use writer::WriteStats;
use writer::{Batch, Isolation, TokenKey, WriteFuture, Writer};

use super::{
    AuditEvent, AuditRecord, AuditStore, CacheStats, CallerProfile, Creations, LocalCreations,
    Resource, StoreError, UserStore, WriteContext, Written,
};
use crate::domain::{
    ApiAccess, ApplicationPermissions, Email, FirstName, LastName, RoleArn, SharedClock,
    StatusChange, Timestamp, User, UserChanges, UserId, UserStatus, UserType, Violation,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub path: PathBuf,
    pub busy_timeout: Duration,
    pub read_connections: u32,
    /// How many users the GetUser cache holds (0: no cache).
    pub cached_users: usize,
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The one write connection's pool; the connection itself belongs to the writer task.
    write_pool: SqlitePool,
    cache: Arc<UserCache>,
    writer: Writer,
    reader: SqlitePool,
    lookups: Lookups,
    /// The database's directory, whose filesystem must have room for writes.
    dir: PathBuf,
    clock: SharedClock,
    /// One process writes the database, so its own inserts are every creation there is.
    creations: Arc<LocalCreations>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and brings its schema up to date; `clock`
    /// is the time every write is made at.
    pub async fn open(settings: &StoreSettings, clock: SharedClock) -> Result<Self, StoreError> {
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
            .await?;
        MIGRATOR.run(&write_pool).await?;
        let cache = Arc::new(UserCache::new(settings.cached_users));
        let writer = Writer::start(write_pool.acquire().await?, cache.clone(), clock.clone());
        restrict_to_owner(&settings.path)?;

        let reader = SqlitePoolOptions::new()
            .max_connections(settings.read_connections.max(1))
            .connect_with(options.pragma("query_only", "ON"))
            .await?;
        Ok(Self {
            write_pool,
            cache,
            writer,
            lookups: Lookups::start(reader.clone()),
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
        let ctx = ctx.clone();
        self.writer
            .write(isolation, token_key(&ctx), move |tx, batch| {
                Box::pin(async move {
                    if let Some(result) = replay_of(batch, &ctx)? {
                        return replayed(result).map(Written::Replayed);
                    }
                    let (value, result) = write(&mut *tx, &mut *batch).await?;
                    record(batch, &ctx, &result);
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
fn record(batch: &mut Batch, ctx: &WriteContext, result: &str) {
    batch.record(ctx.claim.as_ref(), &ctx.audit, result);
}

fn parse_user_id(result: String) -> Result<UserId, StoreError> {
    UserId::parse(&result).map_err(|v| corrupt("idempotency_tokens.result", v))
}

fn corrupt(column: &str, violation: Violation) -> StoreError {
    StoreError::internal(format!("stored data is invalid: {column}: {violation}"))
}

// SQLite's failures become the store's: a full or failing disk is Unavailable (writes resume
// when it recovers), anything else Internal. Above the store no sqlx type is seen.
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let detail = super::BackendError::from_error(&error);
        if writer::is_unwritable(&error) {
            StoreError::Unavailable(detail)
        } else {
            StoreError::Internal(detail)
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Internal(super::BackendError::from_error(&error))
    }
}

/// A `users` row: from `query_as!`, or (for pages) from a JSON array of the same columns in the
/// same order, which serde reads into a struct field by field.
#[derive(serde::Deserialize)]
struct UserRow {
    user_id: String,
    email: String,
    user_type: String,
    status: String,
    api_access: String,
    api_access_principal_arn: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    create_time: i64,
    last_enabled_time: Option<i64>,
    last_disabled_time: Option<i64>,
    last_modified_time: i64,
    last_login_time: Option<i64>,
}

/// Users from a JSON array of `UserRow`s (as `json_group_array(json_array(...))` gives them),
/// in user id order.
fn users_from_json(json: &str, what: &str) -> Result<Vec<User>, StoreError> {
    let mut rows: Vec<UserRow> = serde_json::from_str(json)
        .map_err(|e| StoreError::internal(format!("stored data is invalid: {what}: {e}")))?;
    rows.sort_unstable_by(|a, b| a.user_id.cmp(&b.user_id));
    rows.into_iter().map(User::try_from).collect()
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        let ts = |millis: Option<i64>| millis.map(Timestamp::from_millis);
        Ok(User {
            id: UserId::parse(&row.user_id).map_err(|v| corrupt("users.user_id", v))?,
            email: Email::parse(&row.email).map_err(|v| corrupt("users.email", v))?,
            user_type: UserType::parse(&row.user_type)
                .map_err(|v| corrupt("users.user_type", v))?,
            status: UserStatus::parse(&row.status).map_err(|v| corrupt("users.status", v))?,
            api_access: ApiAccess::parse(&row.api_access)
                .map_err(|v| corrupt("users.api_access", v))?,
            api_access_principal_arn: row
                .api_access_principal_arn
                .as_deref()
                .map(RoleArn::parse)
                .transpose()
                .map_err(|v| corrupt("users.api_access_principal_arn", v))?,
            first_name: row
                .first_name
                .as_deref()
                .map(FirstName::parse)
                .transpose()
                .map_err(|v| corrupt("users.first_name", v))?,
            last_name: row
                .last_name
                .as_deref()
                .map(LastName::parse)
                .transpose()
                .map_err(|v| corrupt("users.last_name", v))?,
            create_time: Timestamp::from_millis(row.create_time),
            last_enabled_time: ts(row.last_enabled_time),
            last_disabled_time: ts(row.last_disabled_time),
            last_modified_time: Timestamp::from_millis(row.last_modified_time),
            last_login_time: ts(row.last_login_time),
        })
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, record: &AuditRecord, outcome: &str) -> Result<(), StoreError> {
        let (record, outcome) = (record.clone(), outcome.to_owned());
        self.writer
            .write(Isolation::SingleStatement, None, move |_, batch| {
                Box::pin(async move {
                    batch.audit(&record, &outcome);
                    Ok(())
                })
            })
            .await
    }

    async fn prune_audit(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let before = before.as_millis();
        self.writer
            .write(Isolation::SingleStatement, None, move |tx, _| {
                Box::pin(async move {
                    // Entries are appended in time order, so the oldest are the first by seq:
                    // the scan stops after `limit` of them rather than reading the whole trail.
                    let deleted = sqlx::query!(
                        "DELETE FROM audit_events WHERE seq IN (
                             SELECT seq FROM audit_events WHERE time < ?1
                             ORDER BY seq LIMIT CAST(?2 AS INTEGER))",
                        before,
                        limit,
                    )
                    .execute(&mut *tx)
                    .await?;
                    Ok(deleted.rows_affected())
                })
            })
            .await
    }

    async fn list_audit(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        audit_page(&mut conn, after.unwrap_or(0), limit).await
    }
}

/// Up to `limit` audit entries after sequence number `after`, oldest first.
async fn audit_page(
    conn: &mut SqliteConnection,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let rows = sqlx::query!(
        "SELECT seq, time, request_id, caller, operation, target, outcome, detail
         FROM audit_events WHERE seq > ?1 ORDER BY seq LIMIT CAST(?2 AS INTEGER)",
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| AuditEvent {
            seq: row.seq,
            record: AuditRecord {
                time: Timestamp::from_millis(row.time),
                request_id: row.request_id,
                caller: row.caller,
                operation: row.operation,
                target: row.target,
                detail: row.detail,
            },
            outcome: row.outcome,
        })
        .collect())
}

#[async_trait]
impl UserStore for SqliteStore {
    #[instrument(skip_all, fields(user_id = %user.id))]
    async fn insert_user(
        &self,
        user: &User,
        max_users: u64,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError> {
        let user = user.clone();
        let written = self
            .write_once(
                Isolation::SingleStatement,
                ctx,
                parse_user_id,
                move |tx, _| {
                    Box::pin(async move {
                        let max_users = i64::try_from(max_users).unwrap_or(i64::MAX);
                        // The limit is checked by the INSERT itself: one statement, one round trip.
                        let inserted = sqlx::query!(
                            "INSERT INTO users (
                             user_id, email, user_type, status, api_access,
                             api_access_principal_arn, first_name, last_name, create_time,
                             last_enabled_time, last_disabled_time, last_modified_time,
                             last_login_time)
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13
                         WHERE (SELECT n FROM entity_counts WHERE kind = 'users') < ?14",
                            user.id.as_str(),
                            user.email.as_str(),
                            user.user_type.as_str(),
                            user.status.as_str(),
                            user.api_access.as_str(),
                            user.api_access_principal_arn.as_ref().map(RoleArn::as_str),
                            user.first_name.as_ref().map(FirstName::as_str),
                            user.last_name.as_ref().map(LastName::as_str),
                            user.create_time.as_millis(),
                            user.last_enabled_time.map(Timestamp::as_millis),
                            user.last_disabled_time.map(Timestamp::as_millis),
                            user.last_modified_time.as_millis(),
                            user.last_login_time.map(Timestamp::as_millis),
                            max_users,
                        )
                        .execute(&mut *tx)
                        .await;
                        match inserted {
                            Err(e) if is_unique_violation(&e) => {
                                return Err(StoreError::EmailTaken);
                            }
                            Ok(done) if done.rows_affected() == 0 => {
                                return Err(StoreError::LimitExceeded(
                                    u64::try_from(max_users).unwrap_or(0),
                                ));
                            }
                            other => other?,
                        };

                        Ok((user.id.clone(), user.id.as_str().to_owned()))
                    })
                },
            )
            .await;
        if let Ok(Written::Applied(_)) = &written {
            self.creations.signal();
        }
        written
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn get_user(&self, id: &UserId) -> Result<Option<Arc<User>>, StoreError> {
        if let Some(user) = self.cache.get(id) {
            return Ok(Some(user));
        }
        let generation = self.cache.generation();
        let Some(user) = self.lookups.get(id).await? else {
            return Ok(None);
        };
        let user = Arc::new(user);
        self.cache.offer(user.clone(), generation);
        Ok(Some(user))
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn update_user(
        &self,
        id: &UserId,
        changes: &UserChanges,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError> {
        let id = id.clone();
        let changes = changes.clone();
        self.write_once(
            Isolation::SingleStatement,
            ctx,
            parse_user_id,
            move |tx, batch| {
                Box::pin(async move {
                    let updated = sqlx::query!(
                        "UPDATE users SET
                         user_type = COALESCE(?2, user_type),
                         first_name = COALESCE(?3, first_name),
                         last_name = COALESCE(?4, last_name),
                         credential_generation = credential_generation + (
                             (?5 IS 'DISABLED' AND api_access IS NOT 'DISABLED')
                             OR (?6 IS NOT NULL AND ?6 IS NOT api_access_principal_arn)),
                         api_access = COALESCE(?5, api_access),
                         api_access_principal_arn = COALESCE(?6, api_access_principal_arn),
                         last_modified_time = ?7
                     WHERE user_id = ?1",
                        id.as_str(),
                        changes.user_type.map(UserType::as_str),
                        changes.first_name.as_ref().map(FirstName::as_str),
                        changes.last_name.as_ref().map(LastName::as_str),
                        changes.api_access.map(ApiAccess::as_str),
                        changes
                            .api_access_principal_arn
                            .as_ref()
                            .map(RoleArn::as_str),
                        now.as_millis(),
                    )
                    .execute(&mut *tx)
                    .await?;
                    if updated.rows_affected() == 0 {
                        return Err(StoreError::NotFound(Resource::User));
                    }

                    batch.touch(&id);
                    Ok((id.clone(), id.as_str().to_owned()))
                })
            },
        )
        .await
    }

    #[instrument(skip_all)]
    async fn activate_users(
        &self,
        created_by: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let now = now.as_millis();
        let created_by = created_by.as_millis();
        self.writer
            .write(Isolation::SingleStatement, None, move |tx, batch| {
                Box::pin(async move {
                    let enabled = sqlx::query_scalar!(
                        "UPDATE users SET status = 'ENABLED', last_enabled_time = ?1,
                             last_modified_time = ?1
                         WHERE status = 'CREATING' AND create_time <= ?2
                         RETURNING user_id",
                        now,
                        created_by,
                    )
                    .fetch_all(&mut *tx)
                    .await?;
                    for id in &enabled {
                        if let Ok(id) = UserId::parse(id) {
                            batch.touch(&id);
                        }
                    }
                    Ok(enabled.len() as u64)
                })
            })
            .await
    }

    #[instrument(skip_all)]
    async fn oldest_creating(&self) -> Result<Option<Timestamp>, StoreError> {
        let oldest = sqlx::query_scalar!(
            "SELECT create_time FROM users WHERE status = 'CREATING'
             ORDER BY create_time LIMIT 1"
        )
        .fetch_optional(&self.reader)
        .await?;
        Ok(oldest.map(Timestamp::from_millis))
    }

    #[instrument(skip_all)]
    async fn purge_expired_tokens(&self, now: Timestamp) -> Result<u64, StoreError> {
        let now = now.as_millis();
        self.writer
            .write(Isolation::SingleStatement, None, move |tx, _| {
                Box::pin(async move {
                    let done =
                        sqlx::query!("DELETE FROM idempotency_tokens WHERE expires_at <= ?1", now)
                            .execute(&mut *tx)
                            .await?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }

    /// Reads work, the database's filesystem has room, and writes work unless the last batch
    /// failed for want of disk; then a probe write tells whether they work again.
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar!("SELECT 1 AS one")
            .fetch_one(&self.reader)
            .await?;
        if let Some(free) = free_bytes(&self.dir).filter(|free| *free < MIN_FREE_BYTES) {
            return Err(StoreError::unavailable(format!(
                "{free} bytes free on {}",
                self.dir.display()
            )));
        }
        if self.writer.stats().unwritable() {
            self.writer
                .write(Isolation::SingleStatement, None, |tx, _| {
                    Box::pin(async move {
                        sqlx::query!("UPDATE entity_counts SET n = n WHERE kind = 'users'")
                            .execute(&mut *tx)
                            .await?;
                        Ok(())
                    })
                })
                .await?;
        }
        Ok(())
    }

    #[instrument(skip_all)]
    async fn list_users(
        &self,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        let after = after.map_or("", UserId::as_str);
        // The page comes back as one JSON value rather than a row per user: the driver copies
        // every value of every row it returns, which cost more than the rest of a page together.
        // (The aggregate's order is SQLite's to choose, so the rows are sorted here.)
        let page = sqlx::query_scalar!(
            r#"SELECT json_group_array(json_array(
                      user_id, email, user_type, status, api_access, api_access_principal_arn,
                      first_name, last_name, create_time, last_enabled_time, last_disabled_time,
                      last_modified_time, last_login_time)) AS "page!: String"
               FROM (SELECT * FROM users WHERE user_id > ?1 ORDER BY user_id
                     LIMIT CAST(?2 AS INTEGER))"#,
            after,
            limit,
        )
        .fetch_one(&self.reader)
        .await?;
        users_from_json(&page, "a page of users")
    }

    #[instrument(skip_all, fields(user_id = %id, ?change))]
    async fn change_status(
        &self,
        id: &UserId,
        change: StatusChange,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError> {
        let id = id.clone();
        self.write_once(
            Isolation::SingleStatement,
            ctx,
            parse_user_id,
            move |tx, batch| {
                Box::pin(async move {
                    let current = sqlx::query_scalar!(
                        "SELECT status FROM users WHERE user_id = ?1",
                        id.as_str()
                    )
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound(Resource::User))?;
                    let current =
                        UserStatus::parse(&current).map_err(|v| corrupt("users.status", v))?;
                    let next = current
                        .after(change)
                        .map_err(StoreError::ForbiddenInStatus)?;

                    let now = now.as_millis();
                    match next {
                        Some(UserStatus::Enabled) => {
                            sqlx::query!(
                                "UPDATE users SET status = 'ENABLED', last_enabled_time = ?2,
                                 last_modified_time = ?2
                             WHERE user_id = ?1",
                                id.as_str(),
                                now,
                            )
                            .execute(&mut *tx)
                            .await?;
                        }
                        Some(UserStatus::Disabled) => {
                            sqlx::query!(
                                "UPDATE users SET status = 'DISABLED', last_disabled_time = ?2,
                                 last_modified_time = ?2,
                                 credential_generation = credential_generation + 1
                             WHERE user_id = ?1",
                                id.as_str(),
                                now,
                            )
                            .execute(&mut *tx)
                            .await?;
                        }
                        // Already there (or CREATING, which `after` never yields): nothing to
                        // write.
                        Some(UserStatus::Creating) | None => {}
                    }
                    batch.touch(&id);
                    Ok((id.clone(), id.as_str().to_owned()))
                })
            },
        )
        .await
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn caller_profile(&self, id: &UserId) -> Result<Option<CallerProfile>, StoreError> {
        let row = sqlx::query!(
            r#"SELECT u.user_type AS "user_type!", u.status AS "status!",
                      u.api_access AS "api_access!",
                      u.credential_generation AS "credential_generation!",
                      group_concat(g.application_permissions) AS "permissions: String"
               FROM users u
               LEFT JOIN permission_group_members m ON m.user_id = u.user_id
               LEFT JOIN permission_groups g ON g.permission_group_id = m.permission_group_id
               WHERE u.user_id = ?1
               GROUP BY u.user_id"#,
            id.as_str()
        )
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| {
            Ok(CallerProfile {
                user_type: UserType::parse(&row.user_type)
                    .map_err(|v| corrupt("users.user_type", v))?,
                status: UserStatus::parse(&row.status).map_err(|v| corrupt("users.status", v))?,
                api_access: ApiAccess::parse(&row.api_access)
                    .map_err(|v| corrupt("users.api_access", v))?,
                permissions: ApplicationPermissions::from_stored(
                    row.permissions.as_deref().unwrap_or(""),
                )
                .map_err(|v| corrupt("permission_groups.application_permissions", v))?,
                credential_generation: row.credential_generation,
            })
        })
        .transpose()
    }

    #[instrument(skip_all)]
    async fn users_of_principal(
        &self,
        arn: &RoleArn,
        limit: u32,
    ) -> Result<Vec<UserId>, StoreError> {
        let ids = sqlx::query_scalar!(
            "SELECT user_id FROM users WHERE api_access_principal_arn = ?1 ORDER BY user_id
             LIMIT CAST(?2 AS INTEGER)",
            arn.as_str(),
            limit,
        )
        .fetch_all(&self.reader)
        .await?;
        ids.iter()
            .map(|id| UserId::parse(id).map_err(|v| corrupt("users.user_id", v)))
            .collect()
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        Some(self.cache.stats())
    }

    fn creations(&self) -> Arc<dyn Creations> {
        self.creations.clone()
    }

    async fn server_key(&self, purpose: &str, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let purpose = purpose.to_owned();
        let now = self.clock.now().as_millis();
        let key = self
            .writer
            .write(Isolation::SingleStatement, None, move |tx, _| {
                Box::pin(async move {
                    let fresh = fresh.as_slice();
                    sqlx::query!(
                        "INSERT INTO server_keys (purpose, key, create_time) VALUES (?1, ?2, ?3)
                         ON CONFLICT (purpose) DO NOTHING",
                        purpose,
                        fresh,
                        now,
                    )
                    .execute(&mut *tx)
                    .await?;
                    let key = sqlx::query_scalar!(
                        "SELECT key FROM server_keys WHERE purpose = ?1",
                        purpose
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    Ok((purpose, key))
                })
            })
            .await?;
        let (purpose, key) = key;
        <[u8; 32]>::try_from(key.as_slice()).map_err(|_| {
            StoreError::internal(format!(
                "stored data is invalid: server_keys.key of {purpose}"
            ))
        })
    }
}
