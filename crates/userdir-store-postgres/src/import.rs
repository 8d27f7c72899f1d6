//! Bulk loading: many users in one transaction, a few thousand rows per statement (one JSON
//! array each, unpacked by `jsonb_to_recordset`).

use userdir_core::domain::{FirstName, LastName, RoleArn, Timestamp, User, UserStatus};
use userdir_core::store::{AuditRecord, StoreError, WriteContext};

use super::counts::{Kind, count_in};
use super::{PostgresStore, db_error, violated_constraint};

/// Users per INSERT.
const ROWS_PER_STATEMENT: usize = 5_000;

impl PostgresStore {
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
        let creating = users.iter().any(|u| u.status == UserStatus::Creating);
        let count = users.len() as u64;
        let chunks: Vec<String> = users
            .chunks(ROWS_PER_STATEMENT)
            .map(|chunk| serde_json::Value::Array(chunk.iter().map(row).collect()).to_string())
            .collect();
        let imported = self
            .write_once(
                &ctx,
                |_| Err(StoreError::internal("an import is never replayed")),
                |tx| {
                    let chunks = chunks.clone();
                    Box::pin(async move {
                        for rows in chunks {
                            insert_rows(&mut *tx, rows).await?;
                        }
                        let added = i64::try_from(count).unwrap_or(i64::MAX);
                        count_in(&mut *tx, Kind::Users, added, max_users).await?;
                        Ok((count, count.to_string()))
                    })
                },
            )
            .await?
            .into_inner();
        if creating {
            self.creations.announce().await;
        }
        Ok(imported)
    }
}

async fn insert_rows(tx: &mut sqlx::PgConnection, rows: String) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO users (
             user_id, email, user_type, status, api_access, api_access_principal_arn,
             first_name, last_name, create_time, last_enabled_time, last_disabled_time,
             last_modified_time, last_login_time)
         SELECT r.user_id, r.email, r.user_type, r.status, r.api_access,
                r.api_access_principal_arn, r.first_name, r.last_name, r.create_time,
                r.last_enabled_time, r.last_disabled_time, r.last_modified_time,
                r.last_login_time
         FROM jsonb_to_recordset($1::TEXT::JSONB) AS r (
             user_id TEXT, email TEXT, user_type TEXT, status TEXT, api_access TEXT,
             api_access_principal_arn TEXT, first_name TEXT, last_name TEXT,
             create_time BIGINT, last_enabled_time BIGINT, last_disabled_time BIGINT,
             last_modified_time BIGINT, last_login_time BIGINT)",
        rows,
    )
    .execute(&mut *tx)
    .await
    .map_err(|error| match violated_constraint(&error) {
        Some("users_pkey") => StoreError::IdTaken,
        Some(_) => StoreError::EmailTaken,
        None => db_error(error),
    })?;
    Ok(())
}

/// A user as a JSON object with the columns' names.
fn row(user: &User) -> serde_json::Value {
    serde_json::json!({
        "user_id": user.id.as_str(),
        "email": user.email.as_str(),
        "user_type": user.user_type.as_str(),
        "status": user.status.as_str(),
        "api_access": user.api_access.as_str(),
        "api_access_principal_arn": user.api_access_principal_arn.as_ref().map(RoleArn::as_str),
        "first_name": user.first_name.as_ref().map(FirstName::as_str),
        "last_name": user.last_name.as_ref().map(LastName::as_str),
        "create_time": user.create_time.as_millis(),
        "last_enabled_time": user.last_enabled_time.map(Timestamp::as_millis),
        "last_disabled_time": user.last_disabled_time.map(Timestamp::as_millis),
        "last_modified_time": user.last_modified_time.as_millis(),
        "last_login_time": user.last_login_time.map(Timestamp::as_millis),
    })
}
