//! What SCIM keeps beside users (`scim_users`), read through the same indexes as FinSpace's reads,
//! and SCIM's writes, each its own transaction with the user's row locked.

use async_trait::async_trait;
use tracing::instrument;
use userdir_core::domain::{ApiAccess, Email, ExternalId, Timestamp, User, UserId, UserStatus};
use userdir_core::store::rows::{ScimUserRow, convert_all, corrupt, parse_user_id};
use userdir_core::store::{
    Resource, ScimStore, ScimUser, ScimUserChange, StoreError, WriteContext, Written,
};

use super::users::insert_row;
use super::{PostgresStore, db_error};

#[async_trait]
impl ScimStore for PostgresStore {
    #[instrument(skip_all, fields(user_id = %id))]
    async fn scim_user(&self, id: &UserId) -> Result<Option<ScimUser>, StoreError> {
        sqlx::query_as!(
            ScimUserRow,
            r#"SELECT u.user_id, u.email, u.user_type, u.status, u.api_access,
                      u.api_access_principal_arn, u.first_name, u.last_name, u.create_time,
                      u.last_enabled_time, u.last_disabled_time, u.last_modified_time,
                      u.last_login_time, s.external_id AS "external_id?",
                      s.delete_time AS "delete_time?"
               FROM users AS u LEFT JOIN scim_users AS s ON s.user_id = u.user_id
               WHERE u.user_id = $1"#,
            id.as_str()
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .map(ScimUser::try_from)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn scim_user_by_email(&self, email: &Email) -> Result<Option<ScimUser>, StoreError> {
        sqlx::query_as!(
            ScimUserRow,
            r#"SELECT u.user_id, u.email, u.user_type, u.status, u.api_access,
                      u.api_access_principal_arn, u.first_name, u.last_name, u.create_time,
                      u.last_enabled_time, u.last_disabled_time, u.last_modified_time,
                      u.last_login_time, s.external_id AS "external_id?",
                      s.delete_time AS "delete_time?"
               FROM users AS u LEFT JOIN scim_users AS s ON s.user_id = u.user_id
               WHERE lower(u.email) = lower($1)"#,
            email.as_str()
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .map(ScimUser::try_from)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn scim_users_by_external_id(
        &self,
        external_id: &ExternalId,
        limit: u32,
    ) -> Result<Vec<ScimUser>, StoreError> {
        let rows = sqlx::query_as!(
            ScimUserRow,
            r#"SELECT u.user_id, u.email, u.user_type, u.status, u.api_access,
                      u.api_access_principal_arn, u.first_name, u.last_name, u.create_time,
                      u.last_enabled_time, u.last_disabled_time, u.last_modified_time,
                      u.last_login_time, s.external_id AS "external_id?",
                      s.delete_time AS "delete_time?"
               FROM scim_users AS s JOIN users AS u ON u.user_id = s.user_id
               WHERE s.external_id = $1
               ORDER BY u.user_id LIMIT $2"#,
            external_id.as_str(),
            i64::from(limit)
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    #[instrument(skip_all)]
    async fn scim_users(
        &self,
        after: Option<&UserId>,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<ScimUser>, StoreError> {
        let after = after.map_or("", UserId::as_str);
        let skip = i64::try_from(skip).unwrap_or(i64::MAX);
        let rows = sqlx::query_as!(
            ScimUserRow,
            r#"SELECT u.user_id, u.email, u.user_type, u.status, u.api_access,
                      u.api_access_principal_arn, u.first_name, u.last_name, u.create_time,
                      u.last_enabled_time, u.last_disabled_time, u.last_modified_time,
                      u.last_login_time, s.external_id AS "external_id?",
                      s.delete_time AS "delete_time?"
               FROM users AS u LEFT JOIN scim_users AS s ON s.user_id = u.user_id
               WHERE u.user_id > $1
                 AND (s.delete_time IS NULL OR COALESCE(u.last_enabled_time, 0) > s.delete_time)
               ORDER BY u.user_id LIMIT $3 OFFSET $2"#,
            after,
            skip,
            i64::from(limit)
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    async fn scim_hidden_users(&self) -> Result<u64, StoreError> {
        let hidden = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!"
               FROM scim_users AS s JOIN users AS u ON u.user_id = s.user_id
               WHERE s.delete_time IS NOT NULL
                 AND COALESCE(u.last_enabled_time, 0) <= s.delete_time"#
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(u64::try_from(hidden).unwrap_or(0))
    }

    #[instrument(skip_all, fields(user_id = %user.id))]
    async fn scim_insert_user(
        &self,
        user: &User,
        external_id: Option<&ExternalId>,
        max_users: u64,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError> {
        let in_flight = self.max_connections;
        let written = self
            .write_once(ctx, parse_user_id, |tx| {
                let user = user.clone();
                let external_id = external_id.cloned();
                Box::pin(async move {
                    insert_row(tx, &user, max_users, in_flight).await?;
                    if let Some(external_id) = &external_id {
                        sqlx::query!(
                            "INSERT INTO scim_users (user_id, external_id) VALUES ($1, $2)",
                            user.id.as_str(),
                            external_id.as_str()
                        )
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    }
                    Ok((user.id.clone(), user.id.as_str().to_owned()))
                })
            })
            .await;
        if let Ok(Written::Applied(_)) = &written {
            self.creations.signal();
        }
        written
    }

    #[instrument(skip_all, fields(user_id = %id))]
    async fn scim_change_user(
        &self,
        id: &UserId,
        expected: Timestamp,
        change: &ScimUserChange,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError> {
        self.write_once(ctx, parse_user_id, |tx| {
            let (id, change) = (id.clone(), change.clone());
            Box::pin(async move {
                let current = sqlx::query!(
                    "SELECT status, last_modified_time, api_access, api_access_principal_arn
                     FROM users WHERE user_id = $1 FOR UPDATE",
                    id.as_str()
                )
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?
                .ok_or(StoreError::NotFound(Resource::User))?;
                if current.last_modified_time != expected.as_millis() {
                    return Err(StoreError::Changed);
                }
                let status =
                    UserStatus::parse(&current.status).map_err(|v| corrupt("users.status", v))?;
                let api_access = ApiAccess::parse(&current.api_access)
                    .map_err(|v| corrupt("users.api_access", v))?;
                let written = change.plan(
                    status,
                    api_access,
                    current.api_access_principal_arn.as_deref(),
                );
                let now = now.as_millis();
                let stamp = |moved: bool| moved.then_some(now);
                sqlx::query!(
                    "UPDATE users SET
                         user_type = COALESCE($2, user_type),
                         first_name = CASE WHEN $9 THEN $3 ELSE first_name END,
                         last_name = CASE WHEN $9 THEN $4 ELSE last_name END,
                         api_access = COALESCE($5, api_access),
                         api_access_principal_arn =
                             CASE WHEN $9 THEN $6 ELSE api_access_principal_arn END,
                         status = $7,
                         last_enabled_time = COALESCE($10, last_enabled_time),
                         last_disabled_time = COALESCE($11, last_disabled_time),
                         credential_generation = credential_generation + $12,
                         last_modified_time = $8
                     WHERE user_id = $1",
                    id.as_str(),
                    written.user_type,
                    written.first_name,
                    written.last_name,
                    written.api_access,
                    written.api_access_principal_arn,
                    written.status,
                    now,
                    written.replaces,
                    stamp(written.enabled),
                    stamp(written.disabled),
                    written.revokes,
                )
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                sqlx::query!(
                    "INSERT INTO scim_users (user_id, external_id, delete_time)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (user_id) DO UPDATE SET
                         external_id = CASE WHEN $4 THEN excluded.external_id
                                            ELSE scim_users.external_id END,
                         delete_time = excluded.delete_time",
                    id.as_str(),
                    written.external_id,
                    written.delete_time(now),
                    written.replaces,
                )
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                Ok((id.clone(), id.as_str().to_owned()))
            })
        })
        .await
    }
}
