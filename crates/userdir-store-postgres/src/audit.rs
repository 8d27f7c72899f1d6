//! The audit trail: appending refusals, pruning by age, and reading pages.

use async_trait::async_trait;
use sqlx::PgConnection;
use userdir_core::domain::Timestamp;
use userdir_core::store::rows::AuditRow;
use userdir_core::store::{AuditEvent, AuditRecord, AuditStore, StoreError};

use super::write::append;
use super::{PostgresStore, db_error};

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, record: &AuditRecord, outcome: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        append(&mut conn, record, outcome).await.map_err(db_error)
    }

    async fn prune_audit(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let deleted = sqlx::query!(
            "DELETE FROM audit_events WHERE seq IN (
                 SELECT seq FROM audit_events WHERE time < $1 ORDER BY seq LIMIT $2)",
            before.as_millis(),
            i64::from(limit),
        )
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(deleted.rows_affected())
    }

    async fn list_audit(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        audit_page(&mut conn, after.unwrap_or(0), limit).await
    }
}

/// Up to `limit` audit entries after sequence number `after`, oldest first.
pub(super) async fn audit_page(
    conn: &mut PgConnection,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let rows = sqlx::query_as!(
        AuditRow,
        "SELECT seq, time, request_id, caller, operation, target, outcome, detail
         FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        after,
        i64::from(limit),
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(rows.into_iter().map(AuditEvent::from).collect())
}
