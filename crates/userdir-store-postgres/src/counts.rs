//! Limits that hold exactly however many instances create at once, without making every create
//! wait for every other (`userdir_count`, migration 0007).
//!
//! A kind's count is spread over 128 rows (`entity_counts`), each with a budget; the budgets add
//! up to the limit. A create adds to a random slot within its budget, locking that one row until
//! it commits; a slot without budget left (or a changed limit) makes the create lock every slot
//! in order, read the exact count, and share out what is left of the limit again.

use sqlx::PgConnection;
use userdir_core::store::StoreError;

use super::db_error;

const SLOTS: i16 = 128;

/// A slot to add a create's count to: any, at random, so that concurrent creates rarely meet.
pub(super) fn random_slot() -> i16 {
    rand::random_range(0..SLOTS)
}

/// What is counted.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Users,
    PermissionGroups,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::PermissionGroups => "permission_groups",
        }
    }
}

/// Counts `added` more of `kind` in the caller's transaction if at most `max` then exist;
/// `LimitExceeded` (and nothing counted) otherwise.
pub(super) async fn count_in(
    conn: &mut PgConnection,
    kind: Kind,
    added: i64,
    max: u64,
) -> Result<(), StoreError> {
    let counted = sqlx::query_scalar!(
        r#"SELECT userdir_count($1, $2, $3, $4) AS "counted!""#,
        kind.as_str(),
        random_slot(),
        added,
        i64::try_from(max).unwrap_or(i64::MAX),
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    if counted {
        Ok(())
    } else {
        Err(StoreError::LimitExceeded(max))
    }
}

/// Counts one `kind` fewer (a deleted group), in the caller's transaction.
pub(super) async fn count_out(conn: &mut PgConnection, kind: Kind) -> Result<(), StoreError> {
    bump(conn, kind.as_str(), random_slot(), -1).await
}

/// Adds `added` to one slot of `kind`'s count, in the caller's transaction.
async fn bump(
    conn: &mut PgConnection,
    kind: &str,
    slot: i16,
    added: i64,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE entity_counts SET n = n + $3 WHERE kind = $1 AND slot = $2",
        kind,
        slot,
        added,
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Counts `added` more of `kind` that were written without a limit's check (a copy), in the
/// caller's transaction: the budgets are withdrawn, so the next create reads the exact count and
/// shares out what is left of its limit.
pub(super) async fn count_copied(
    conn: &mut PgConnection,
    kind: &str,
    added: i64,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE entity_counts
         SET n = n + CASE WHEN slot = 0 THEN $2::BIGINT ELSE 0 END, budget_for = -1
         WHERE kind = $1",
        kind,
        added,
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}
