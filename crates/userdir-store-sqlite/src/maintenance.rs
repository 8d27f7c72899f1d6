//! What the `migrate` and `audit` commands do to a database file: never create one by accident,
//! say what changed, and read beside a serving process without writing.

use crate::{db_error, migrate_error};
use std::path::Path;

use sqlx::migrate::Migrate;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use super::{MIGRATOR, audit_page};
use userdir_core::store::{AuditEvent, MigrationReport, NoDatabase, StoreError};

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
        .await
        .map_err(db_error)?;
    let before = applied_versions(&mut conn).await?;
    MIGRATOR.run(&mut conn).await.map_err(migrate_error)?;
    let after = applied_versions(&mut conn).await?;
    conn.close().await.map_err(db_error)?;
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
    conn.ensure_migrations_table(&MIGRATOR.table_name)
        .await
        .map_err(migrate_error)?;
    let mut versions: Vec<i64> = conn
        .list_applied_migrations(&MIGRATOR.table_name)
        .await
        .map_err(migrate_error)?
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
    let mut conn = open_read_only(path).await?;
    let events = audit_page(&mut conn, after, limit).await;
    conn.close().await.map_err(db_error)?;
    events
}

/// Every problem SQLite finds in the database at `path` (its own `integrity_check`, and rows
/// whose foreign key names a missing parent); empty if there is none. Read-only: usable beside a
/// serving process.
pub async fn check(path: &Path) -> Result<Vec<String>, StoreError> {
    let mut conn = open_read_only(path).await?;
    let mut problems: Vec<String> = sqlx::query_scalar::<_, String>("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(db_error)?
        .into_iter()
        .filter(|line| line != "ok")
        .collect();
    let orphans = sqlx::query_as::<_, (String, String)>(
        "SELECT \"table\", parent FROM pragma_foreign_key_check",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(db_error)?;
    problems.extend(
        orphans
            .into_iter()
            .map(|(table, parent)| format!("{table}: a row refers to a missing {parent} row")),
    );
    conn.close().await.map_err(db_error)?;
    Ok(problems)
}

/// A read-only connection to an existing database: never creates one, never writes.
pub(crate) async fn open_read_only(path: &Path) -> Result<SqliteConnection, StoreError> {
    if !path.exists() {
        return Err(StoreError::NoDatabase(NoDatabase {
            path: path.to_owned(),
            hint: "",
        }));
    }
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(db_error)
}
