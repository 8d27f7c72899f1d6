//! How every write runs: one transaction that claims the write's clientToken (if it has one),
//! makes its effect, records the token's answer and the audit entry, and commits.
//!
//! The token's row is claimed first: an INSERT that a second call with the same token, on any
//! instance, waits behind until the first commits (or rolls back). The second then finds the
//! first's answer and replays it, or its own INSERT goes through if the first left nothing. So one
//! token makes one effect, and every caller gets the same answer.

use std::future::Future;
use std::pin::Pin;

use sqlx::PgConnection;
use userdir_core::store::{AuditRecord, StoreError, TokenClaim, WriteContext, Written};

use super::{PostgresStore, db_error};

/// A write's own statements, run inside its transaction.
pub(super) type WriteFuture<'c, T> =
    Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

/// How often a write is tried when PostgreSQL aborts it for a conflict with a concurrent one
/// (a deadlock or a serialization failure), which a second try resolves.
const ATTEMPTS: u32 = 3;

impl PostgresStore {
    /// A write made once per clientToken and audited: if the token was used before with the
    /// same parameters, answers what it answered then (`replayed` reads the recorded result);
    /// otherwise runs `write`, which returns its value and the result to record with the token.
    pub(super) async fn write_once<T, F>(
        &self,
        ctx: &WriteContext,
        replayed: fn(String) -> Result<T, StoreError>,
        write: F,
    ) -> Result<Written<T>, StoreError>
    where
        T: Send,
        F: for<'c> Fn(&'c mut PgConnection) -> WriteFuture<'c, (T, String)> + Send + Sync,
    {
        retrying(|| self.try_write_once(ctx, replayed, &write)).await
    }

    async fn try_write_once<T, F>(
        &self,
        ctx: &WriteContext,
        replayed: fn(String) -> Result<T, StoreError>,
        write: &F,
    ) -> Result<Written<T>, Retry>
    where
        T: Send,
        F: for<'c> Fn(&'c mut PgConnection) -> WriteFuture<'c, (T, String)> + Send + Sync,
    {
        let started = std::time::Instant::now();
        let mut tx = self.pool.begin().await.map_err(retry_or_fail)?;
        if let Some(claim) = &ctx.claim
            && let Some((fingerprint, result)) = claim_token(&mut tx, claim).await?
        {
            return if fingerprint == claim.fingerprint {
                replayed(result).map(Written::Replayed).map_err(Retry::Fail)
            } else {
                Err(Retry::Fail(StoreError::TokenMismatch))
            };
        }
        let (value, result) = write(&mut tx).await.map_err(Retry::from)?;
        match &ctx.claim {
            // The token's answer and the audit entry in one round trip.
            Some(claim) => {
                let audit = &ctx.audit;
                sqlx::query!(
                    "WITH answered AS (
                         UPDATE idempotency_tokens SET result = $3
                         WHERE operation = $1 AND client_token = $2)
                     INSERT INTO audit_events
                         (time, request_id, caller, operation, target, outcome, detail)
                     VALUES ($4, $5, $6, $7, $8, 'SUCCESS', $9)",
                    claim.operation,
                    claim.token.as_str(),
                    result,
                    audit.time.as_millis(),
                    audit.request_id,
                    audit.caller,
                    audit.operation,
                    audit.target,
                    audit.detail,
                )
                .execute(&mut *tx)
                .await
                .map_err(retry_or_fail)?;
            }
            None => append(&mut tx, &ctx.audit, "SUCCESS")
                .await
                .map_err(retry_or_fail)?,
        }
        tx.commit().await.map_err(retry_or_fail)?;
        self.watch.committed(1, started.elapsed());
        Ok(Written::Applied(value))
    }

    /// A write with no clientToken and no audit entry of its own (the lifecycle, purges, keys),
    /// tried again as `write_once` is.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'c> Fn(&'c mut PgConnection) -> WriteFuture<'c, T> + Send + Sync,
    {
        retrying(|| async {
            let started = std::time::Instant::now();
            let mut tx = self.pool.begin().await.map_err(retry_or_fail)?;
            let value = write(&mut tx).await.map_err(Retry::from)?;
            tx.commit().await.map_err(retry_or_fail)?;
            self.watch.committed(1, started.elapsed());
            Ok(value)
        })
        .await
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has been aborted `ATTEMPTS` times for a
/// concurrent transaction.
pub(super) async fn retrying<T, A>(mut attempt: impl FnMut() -> A) -> Result<T, StoreError>
where
    A: Future<Output = Result<T, Retry>>,
{
    let mut tried = 1;
    loop {
        match attempt().await {
            Err(Retry::Again(_)) if tried < ATTEMPTS => tried += 1,
            Err(Retry::Again(error) | Retry::Fail(error)) => return Err(error),
            Ok(value) => return Ok(value),
        }
    }
}

/// Claims the token for this write; if a live claim exists already (committed by an earlier or
/// concurrent call, which this one waited for), returns its fingerprint and answer instead.
async fn claim_token(
    conn: &mut PgConnection,
    claim: &TokenClaim,
) -> Result<Option<(String, String)>, Retry> {
    // An expired row left for the purger is taken over; a live one is left as it is.
    let claimed = sqlx::query_scalar!(
        r#"INSERT INTO idempotency_tokens
               (operation, client_token, fingerprint, result, created_at, expires_at)
           VALUES ($1, $2, $3, '', $4, $5)
           ON CONFLICT (operation, client_token) DO UPDATE SET
               fingerprint = EXCLUDED.fingerprint,
               result = '',
               created_at = EXCLUDED.created_at,
               expires_at = EXCLUDED.expires_at
           WHERE idempotency_tokens.expires_at <= EXCLUDED.created_at
           RETURNING 1 AS "claimed!""#,
        claim.operation,
        claim.token.as_str(),
        claim.fingerprint,
        claim.now.as_millis(),
        claim.expires_at.as_millis(),
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(retry_or_fail)?;
    if claimed.is_some() {
        return Ok(None);
    }
    let earlier = sqlx::query!(
        "SELECT fingerprint, result FROM idempotency_tokens
         WHERE operation = $1 AND client_token = $2",
        claim.operation,
        claim.token.as_str(),
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(retry_or_fail)?;
    Ok(Some((earlier.fingerprint, earlier.result)))
}

/// Appends an audit entry in the transaction (or on the connection) given.
pub(super) async fn append(
    conn: &mut PgConnection,
    record: &AuditRecord,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO audit_events (time, request_id, caller, operation, target, outcome, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        record.time.as_millis(),
        record.request_id,
        record.caller,
        record.operation,
        record.target,
        outcome,
        record.detail,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A failed attempt: worth another (PostgreSQL aborted it for a concurrent one), or final.
pub(super) enum Retry {
    Again(StoreError),
    Fail(StoreError),
}

pub(super) fn retry_or_fail(error: sqlx::Error) -> Retry {
    Retry::from(db_error(error))
}

impl From<StoreError> for Retry {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Contended(_) => Retry::Again(error),
            other => Retry::Fail(other),
        }
    }
}
