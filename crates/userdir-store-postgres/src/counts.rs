//! Limits that hold exactly however many instances create at once, without making every create
//! wait for every other.
//!
//! A kind's count is spread over 128 rows (`entity_counts`). A create adds one to a random slot —
//! locking that row until it commits — and then reads the sum, which covers every committed create
//! and its own. Other creates still in flight are not in the sum, but each holds a connection, so
//! there are fewer than the server's `max_connections` of them: while the sum plus that many stays
//! within the limit, no interleaving can pass it. Near the limit the create undoes its slot (in a
//! savepoint, which releases the row) and locks every slot of the kind in order instead, waiting
//! for the creates in flight and shutting out new ones: the sum it then reads is exact.

use sqlx::PgConnection;
use userdir_core::store::StoreError;

use super::db_error;
use super::write::in_savepoint;

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
/// `LimitExceeded` (and nothing counted) otherwise. `in_flight` bounds the creates that may be
/// under way elsewhere (the server's `max_connections`).
pub(super) async fn count_in(
    conn: &mut PgConnection,
    kind: Kind,
    added: i64,
    max: u64,
    in_flight: i64,
) -> Result<(), StoreError> {
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    let kind_name = kind.as_str();
    let slot = random_slot();
    let counted = in_savepoint(conn, move |conn| {
        Box::pin(async move {
            // This slot's new count, and the other slots' as committed: the same sum a second
            // statement would read, in one round trip.
            let total = sqlx::query_scalar!(
                r#"WITH bumped AS (
                       UPDATE entity_counts SET n = n + $3 WHERE kind = $1 AND slot = $2
                       RETURNING n)
                   SELECT ((SELECT n FROM bumped)
                           + (SELECT COALESCE(sum(n), 0) FROM entity_counts
                              WHERE kind = $1 AND slot <> $2))::BIGINT AS "total!""#,
                kind_name,
                slot,
                added,
            )
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
            Ok((total.saturating_add(in_flight) <= limit).then_some(()))
        })
    })
    .await?;
    if counted.is_some() {
        return Ok(());
    }
    // Near the limit: every slot, in slot order (so that two creates doing this cannot deadlock).
    let locked = sqlx::query_scalar!(
        r#"SELECT n AS "n!" FROM entity_counts WHERE kind = $1 ORDER BY slot FOR UPDATE"#,
        kind_name,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let existing: i64 = locked.iter().sum();
    if existing.saturating_add(added) > limit {
        return Err(StoreError::LimitExceeded(max));
    }
    bump(conn, kind_name, slot, added).await
}

/// Counts one `kind` fewer (a deleted group), in the caller's transaction.
pub(super) async fn count_out(conn: &mut PgConnection, kind: Kind) -> Result<(), StoreError> {
    bump(conn, kind.as_str(), random_slot(), -1).await
}

/// Adds `added` to one slot of `kind`'s count, in the caller's transaction.
pub(super) async fn bump(
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
