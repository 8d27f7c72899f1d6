//! What the `migrate`, `check` and `audit` commands do to a PostgreSQL database. They use one
//! connection each and work beside running instances (the migrator takes an advisory lock).

use sqlx::migrate::Migrate;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use userdir_core::store::{AuditEvent, MigrationReport, StoreError};

use super::audit::audit_page;
use super::{MIGRATOR, PostgresSettings, db_error, migrate_error, redacted};

/// Brings the schema up to date. The database itself must exist (creating one is the operator's,
/// with the owner and settings they choose).
pub async fn migrate(settings: &PostgresSettings) -> Result<MigrationReport, StoreError> {
    let mut conn = connect(settings).await?;
    let before = applied_versions(&mut conn).await?;
    MIGRATOR.run(&mut conn).await.map_err(migrate_error)?;
    let after = applied_versions(&mut conn).await?;
    conn.close().await.map_err(db_error)?;
    Ok(MigrationReport {
        applied: after
            .iter()
            .copied()
            .filter(|v| !before.contains(v))
            .collect(),
        now_at: after.last().copied(),
    })
}

async fn applied_versions(conn: &mut PgConnection) -> Result<Vec<i64>, StoreError> {
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

/// Up to `limit` audit entries after `after`.
pub async fn read_audit(
    settings: &PostgresSettings,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut conn = connect(settings).await?;
    let events = audit_page(&mut conn, after, limit).await;
    conn.close().await.map_err(db_error)?;
    events
}

/// What PostgreSQL's constraints cannot catch: kept counts that differ from the rows counted.
/// (Foreign keys, uniqueness and the CHECKs are enforced by the server itself.)
pub async fn check(settings: &PostgresSettings) -> Result<Vec<String>, StoreError> {
    let mut conn = connect(settings).await?;
    let counts = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM users) AS "users!",
                  (SELECT COALESCE(sum(n), 0)::BIGINT FROM entity_counts WHERE kind = 'users')
                      AS "users_counted!",
                  (SELECT count(*) FROM permission_groups) AS "groups!",
                  (SELECT COALESCE(sum(n), 0)::BIGINT FROM entity_counts
                      WHERE kind = 'permission_groups') AS "groups_counted!""#
    )
    .fetch_one(&mut conn)
    .await
    .map_err(db_error)?;
    conn.close().await.map_err(db_error)?;
    let mut problems = Vec::new();
    for (kind, rows, counted) in [
        ("users", counts.users, counts.users_counted),
        ("permission_groups", counts.groups, counts.groups_counted),
    ] {
        if rows != counted {
            problems.push(format!(
                "entity_counts: {kind} are counted as {counted}, but {rows} exist"
            ));
        }
    }
    Ok(problems)
}

async fn connect(settings: &PostgresSettings) -> Result<PgConnection, StoreError> {
    let options: PgConnectOptions = settings.url.parse().map_err(|e| {
        StoreError::internal(format!("database.url {}: {e}", redacted(&settings.url)))
    })?;
    options
        .application_name("userdir")
        .connect()
        .await
        .map_err(db_error)
}
