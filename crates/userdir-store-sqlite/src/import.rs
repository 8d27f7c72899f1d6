//! Bulk loading: many users in one transaction, a few thousand rows per statement.
//!
//! The rows travel as one JSON array per statement and `json_each` unpacks them, so that a
//! statement's text (and its prepared plan) is the same whatever the number of rows.

use userdir_core::domain::{FirstName, LastName, RoleArn, Timestamp, User};
use userdir_core::store::{AuditRecord, StoreError, WriteContext};

use super::writer::{Isolation, JsonRows};
use super::{SqliteStore, db_error};

/// Users per INSERT: large enough that statement overhead vanishes, small enough that one JSON
/// array stays a few megabytes.
const ROWS_PER_STATEMENT: usize = 5_000;

impl SqliteStore {
    pub(super) async fn import(
        &self,
        users: Vec<User>,
        max_users: u64,
        audit: &AuditRecord,
    ) -> Result<u64, StoreError> {
        let ctx = WriteContext {
            claim: None,
            audit: audit.clone(),
        };
        let creating = users
            .iter()
            .any(|u| u.status == userdir_core::domain::UserStatus::Creating);
        let imported = self
            .write_once(
                Isolation::Savepoint,
                &ctx,
                |_| Err(StoreError::internal("an import is never replayed")),
                move |tx, _| {
                    Box::pin(async move {
                        for chunk in users.chunks(ROWS_PER_STATEMENT) {
                            insert_rows(&mut *tx, chunk).await?;
                        }
                        let existing =
                            sqlx::query_scalar!("SELECT n FROM entity_counts WHERE kind = 'users'")
                                .fetch_one(&mut *tx)
                                .await
                                .map_err(db_error)?;
                        if u64::try_from(existing).unwrap_or(0) > max_users {
                            return Err(StoreError::LimitExceeded(max_users));
                        }
                        let count = users.len() as u64;
                        Ok((count, count.to_string()))
                    })
                },
            )
            .await?
            .into_inner();
        if creating {
            self.creations.signal();
        }
        Ok(imported)
    }
}

async fn insert_rows(tx: &mut sqlx::SqliteConnection, users: &[User]) -> Result<(), StoreError> {
    let mut rows = JsonRows::default();
    for user in users {
        rows.push(&row_of(user))
            .map_err(|e| StoreError::internal(format!("serializing a user's row: {e}")))?;
    }
    let rows = rows.into_text();
    sqlx::query!(
        "INSERT INTO users (
             user_id, email, user_type, status, api_access, api_access_principal_arn,
             first_name, last_name, create_time, last_enabled_time, last_disabled_time,
             last_modified_time, last_login_time)
         SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4,
                r.value ->> 5, r.value ->> 6, r.value ->> 7, r.value ->> 8, r.value ->> 9,
                r.value ->> 10, r.value ->> 11, r.value ->> 12
         FROM json_each(?1) AS r",
        rows,
    )
    .execute(&mut *tx)
    .await
    .map_err(|error| match error.as_database_error() {
        Some(e) if e.is_unique_violation() && e.message().contains("users.user_id") => {
            StoreError::IdTaken
        }
        Some(e) if e.is_unique_violation() => StoreError::EmailTaken,
        _ => db_error(error),
    })?;
    Ok(())
}

/// Inserts every one of `rows` (made by [`row`]), or none if the users would then number more
/// than `max_users`: whether they went in. The count is read once, before the first row, so the
/// rows are all-or-nothing; a taken email fails the statement, which then changes nothing.
pub(super) async fn insert_all_within_limit(
    tx: &mut sqlx::SqliteConnection,
    rows: JsonRows,
    max_users: u64,
) -> Result<bool, sqlx::Error> {
    let wanted = rows.len() as u64;
    let count = i64::try_from(wanted).unwrap_or(i64::MAX);
    let limit = i64::try_from(max_users).unwrap_or(i64::MAX);
    let rows = rows.into_text();
    let inserted = sqlx::query!(
        "WITH budget AS MATERIALIZED (SELECT n FROM entity_counts WHERE kind = 'users')
         INSERT INTO users (
             user_id, email, user_type, status, api_access, api_access_principal_arn,
             first_name, last_name, create_time, last_enabled_time, last_disabled_time,
             last_modified_time, last_login_time)
         SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4,
                r.value ->> 5, r.value ->> 6, r.value ->> 7, r.value ->> 8, r.value ->> 9,
                r.value ->> 10, r.value ->> 11, r.value ->> 12
         FROM budget, jsonb_each(?1) AS r
         WHERE budget.n + ?2 <= ?3",
        rows,
        count,
        limit,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted != 0 && inserted != wanted {
        return Err(sqlx::Error::Protocol(format!(
            "{inserted} of {wanted} rows inserted where all or none were to be"
        )));
    }
    Ok(inserted != 0)
}

/// A user as the text of a JSON array in the INSERT's column order.
pub(super) fn row(user: &User) -> Result<String, StoreError> {
    serde_json::to_string(&row_of(user))
        .map_err(|error| StoreError::internal(format!("serializing a user's row: {error}")))
}

/// A user's columns in the INSERT's order (serialized as a JSON array).
#[allow(clippy::type_complexity, reason = "the INSERT's columns, in order")]
fn row_of(
    user: &User,
) -> (
    &str,
    &str,
    &str,
    &str,
    &str,
    Option<&str>,
    Option<&str>,
    Option<&str>,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
) {
    (
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
    )
}
