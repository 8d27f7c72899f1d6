//! The audit trail: appending refusals, pruning by age, and reading pages.

use crate::db_error;
use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::SqliteStore;
use super::writer::Isolation;
use userdir_core::domain::Timestamp;
use userdir_core::store::rows::AuditRow;
use userdir_core::store::{AuditEvent, AuditRecord, AuditStore, StoreError};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, record: &AuditRecord, outcome: &str) -> Result<(), StoreError> {
        let (record, outcome) = (record.clone(), outcome.to_owned());
        self.writer
            .write(Isolation::SingleStatement, None, move |_, batch| {
                Box::pin(async move { batch.audit(&record, &outcome) })
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
                    .await
                    .map_err(db_error)?;
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
        let mut conn = self.reader.acquire().await.map_err(db_error)?;
        audit_page(&mut conn, after.unwrap_or(0), limit).await
    }
}

/// Up to `limit` audit entries after sequence number `after`, oldest first.
pub(super) async fn audit_page(
    conn: &mut SqliteConnection,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let rows = sqlx::query_as!(
        AuditRow,
        "SELECT seq, time, request_id, caller, operation, target, outcome, detail
         FROM audit_events WHERE seq > ?1 ORDER BY seq LIMIT CAST(?2 AS INTEGER)",
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(rows.into_iter().map(AuditEvent::from).collect())
}
