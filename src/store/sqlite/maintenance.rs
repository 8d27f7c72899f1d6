//! What the `migrate` and `audit` commands do to a database file: never create one by accident,
//! say what changed, and read beside a serving process without writing.

use std::path::Path;

use sqlx::migrate::Migrate;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use super::{MIGRATOR, audit_page};
use crate::store::{AuditEvent, NoDatabase, StoreError};

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied now, in order.
    pub applied: Vec<i64>,
    /// The newest version the database is at afterwards.
    pub now_at: Option<i64>,
}

/// Brings the schema of the database at `path` up to date; creates the file only if `create`.
pub async fn migrate(path: &Path, create: bool) -> Result<MigrationReport, StoreError> {
    if !create && !path.exists() {
        return Err(StoreError::NoDatabase(NoDatabase {
            path: path.to_owned(),
            hint: ", or give --create to make a new one there",
        }));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .connect()
        .await?;
    let before = applied_versions(&mut conn).await?;
    MIGRATOR.run(&mut conn).await?;
    let after = applied_versions(&mut conn).await?;
    conn.close().await?;
    super::restrict_to_owner(path)?;
    Ok(MigrationReport {
        applied: after
            .iter()
            .copied()
            .filter(|v| !before.contains(v))
            .collect(),
        now_at: after.last().copied(),
    })
}

async fn applied_versions(conn: &mut SqliteConnection) -> Result<Vec<i64>, StoreError> {
    conn.ensure_migrations_table(&MIGRATOR.table_name).await?;
    let mut versions: Vec<i64> = conn
        .list_applied_migrations(&MIGRATOR.table_name)
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

/// Up to `limit` audit entries after `after`, read through a read-only connection: usable while
/// a server runs on the database, and never creating or changing anything.
pub async fn read_audit(
    path: &Path,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    if !path.exists() {
        return Err(StoreError::NoDatabase(NoDatabase {
            path: path.to_owned(),
            hint: "",
        }));
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await?;
    let events = audit_page(&mut conn, after, limit).await;
    conn.close().await?;
    events
}
