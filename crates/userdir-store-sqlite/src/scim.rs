//! What SCIM keeps beside users (`scim_users`), read from the readers through the same indexes as
//! FinSpace's reads, and SCIM's writes, each one savepoint of the writer's batch.

use async_trait::async_trait;
use tracing::instrument;

use super::groups::insert_group_row;
use super::users::insert_row;
use super::writer::Isolation;
use super::{SqliteStore, corrupt, db_error, is_unique_violation, parse_user_id};
use sqlx::SqliteConnection;
use userdir_core::domain::{
    ApiAccess, Email, ExternalId, PermissionGroup, PermissionGroupDescription, PermissionGroupId,
    PermissionGroupName, Timestamp, User, UserId, UserStatus,
};
use userdir_core::store::rows::{
    ScimGroupFullRow, ScimMemberRow, ScimUserRow, convert_all, parse_group_id,
};
use userdir_core::store::{
    MemberChanges, Resource, ScimGroup, ScimGroupState, ScimStore, ScimUser, ScimUserChange,
    StoreError, WriteContext, Written,
};

#[async_trait]
impl ScimStore for SqliteStore {
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
               WHERE u.user_id = ?1"#,
            id.as_str()
        )
        .fetch_optional(&self.reader)
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
               WHERE u.email = ?1 COLLATE NOCASE"#,
            email.as_str()
        )
        .fetch_optional(&self.reader)
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
               WHERE s.external_id = ?1
               ORDER BY u.user_id LIMIT ?2"#,
            external_id.as_str(),
            limit
        )
        .fetch_all(&self.reader)
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
               WHERE u.user_id > ?1
                 AND (s.delete_time IS NULL OR COALESCE(u.last_enabled_time, 0) > s.delete_time)
               ORDER BY u.user_id LIMIT ?3 OFFSET ?2"#,
            after,
            skip,
            limit
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    async fn scim_hidden_users(&self) -> Result<u64, StoreError> {
        let hidden = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!: i64"
               FROM scim_users AS s JOIN users AS u ON u.user_id = s.user_id
               WHERE s.delete_time IS NOT NULL
                 AND COALESCE(u.last_enabled_time, 0) <= s.delete_time"#
        )
        .fetch_one(&self.reader)
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
        let user = user.clone();
        let external_id = external_id.cloned();
        let written = self
            .write_once(Isolation::Savepoint, ctx, parse_user_id, move |tx, _| {
                Box::pin(async move {
                    insert_row(tx, &user, max_users).await?;
                    if let Some(external_id) = &external_id {
                        sqlx::query!(
                            "INSERT INTO scim_users (user_id, external_id) VALUES (?1, ?2)",
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

    #[instrument(skip_all, fields(group_id = %id))]
    async fn scim_group(&self, id: &PermissionGroupId) -> Result<Option<ScimGroup>, StoreError> {
        sqlx::query_as!(
            ScimGroupFullRow,
            r#"SELECT g.permission_group_id, g.name, g.description, g.application_permissions,
                      g.create_time, g.last_modified_time, s.external_id AS "external_id?"
               FROM permission_groups AS g
               LEFT JOIN scim_groups AS s ON s.permission_group_id = g.permission_group_id
               WHERE g.permission_group_id = ?1"#,
            id.as_str()
        )
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?
        .map(ScimGroup::try_from)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn scim_group_by_name(
        &self,
        name: &PermissionGroupName,
    ) -> Result<Option<ScimGroup>, StoreError> {
        let key = name.unique_key();
        sqlx::query_as!(
            ScimGroupFullRow,
            r#"SELECT g.permission_group_id, g.name, g.description, g.application_permissions,
                      g.create_time, g.last_modified_time, s.external_id AS "external_id?"
               FROM permission_groups AS g
               LEFT JOIN scim_groups AS s ON s.permission_group_id = g.permission_group_id
               WHERE g.name_key = ?1"#,
            key
        )
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?
        .map(ScimGroup::try_from)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn scim_groups_by_external_id(
        &self,
        external_id: &ExternalId,
        limit: u32,
    ) -> Result<Vec<ScimGroup>, StoreError> {
        let rows = sqlx::query_as!(
            ScimGroupFullRow,
            r#"SELECT g.permission_group_id, g.name, g.description, g.application_permissions,
                      g.create_time, g.last_modified_time, s.external_id AS "external_id?"
               FROM scim_groups AS s
               JOIN permission_groups AS g ON g.permission_group_id = s.permission_group_id
               WHERE s.external_id = ?1
               ORDER BY g.permission_group_id LIMIT ?2"#,
            external_id.as_str(),
            limit
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    #[instrument(skip_all)]
    async fn scim_groups(
        &self,
        after: Option<&PermissionGroupId>,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<ScimGroup>, StoreError> {
        let after = after.map_or("", PermissionGroupId::as_str);
        let skip = i64::try_from(skip).unwrap_or(i64::MAX);
        let rows = sqlx::query_as!(
            ScimGroupFullRow,
            r#"SELECT g.permission_group_id, g.name, g.description, g.application_permissions,
                      g.create_time, g.last_modified_time, s.external_id AS "external_id?"
               FROM permission_groups AS g
               LEFT JOIN scim_groups AS s ON s.permission_group_id = g.permission_group_id
               WHERE g.permission_group_id > ?1
               ORDER BY g.permission_group_id LIMIT ?3 OFFSET ?2"#,
            after,
            skip,
            limit
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    async fn scim_group_count(&self) -> Result<u64, StoreError> {
        let n = sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM permission_groups"#)
            .fetch_one(&self.reader)
            .await
            .map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    #[instrument(skip_all, fields(group_id = %id))]
    async fn scim_group_members(
        &self,
        id: &PermissionGroupId,
    ) -> Result<Vec<(UserId, Email)>, StoreError> {
        let rows = sqlx::query_as!(
            ScimMemberRow,
            r#"SELECT u.user_id AS "user_id!", u.email AS "email!"
               FROM permission_group_members AS m
               JOIN users AS u ON u.user_id = m.user_id
               LEFT JOIN scim_users AS s ON s.user_id = u.user_id
               WHERE m.permission_group_id = ?1
                 AND (s.delete_time IS NULL OR COALESCE(u.last_enabled_time, 0) > s.delete_time)
               ORDER BY m.user_id"#,
            id.as_str()
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        convert_all(rows)
    }

    #[instrument(skip_all, fields(group_id = %group.id))]
    async fn scim_insert_group(
        &self,
        group: &PermissionGroup,
        external_id: Option<&ExternalId>,
        members: &[UserId],
        max_groups: u64,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError> {
        let group = group.clone();
        let external_id = external_id.cloned();
        let members = ids_json(members);
        self.write_once(Isolation::Savepoint, ctx, parse_group_id, move |tx, _| {
            Box::pin(async move {
                insert_group_row(tx, &group, max_groups).await?;
                set_group_external_id(tx, &group.id, external_id.as_ref()).await?;
                add_members(tx, &group.id, &members, group.create_time).await?;
                Ok((group.id.clone(), group.id.as_str().to_owned()))
            })
        })
        .await
    }

    #[instrument(skip_all, fields(group_id = %id))]
    async fn scim_change_group(
        &self,
        id: &PermissionGroupId,
        expected: Timestamp,
        state: &ScimGroupState,
        members: &MemberChanges,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError> {
        let (id, state) = (id.clone(), state.clone());
        let (added, removed) = (ids_json(&members.added), ids_json(&members.removed));
        self.write_once(Isolation::Savepoint, ctx, parse_group_id, move |tx, _| {
            Box::pin(async move {
                let modified = sqlx::query_scalar!(
                    "SELECT last_modified_time FROM permission_groups
                         WHERE permission_group_id = ?1",
                    id.as_str()
                )
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?
                .ok_or(StoreError::NotFound(Resource::PermissionGroup))?;
                if modified != expected.as_millis() {
                    return Err(StoreError::Changed);
                }
                let updated = sqlx::query!(
                    "UPDATE permission_groups SET name = ?2, name_key = ?3, description = ?4,
                             application_permissions = ?5,
                             last_modified_time = MAX(?6, last_modified_time + 1)
                         WHERE permission_group_id = ?1",
                    id.as_str(),
                    state.name.as_str(),
                    state.name.unique_key(),
                    state
                        .description
                        .as_ref()
                        .map(PermissionGroupDescription::as_str),
                    state.application_permissions.to_stored(),
                    now.as_millis(),
                )
                .execute(&mut *tx)
                .await;
                match updated {
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::GroupNameTaken);
                    }
                    other => other.map_err(db_error)?,
                };
                set_group_external_id(tx, &id, state.external_id.as_ref()).await?;
                sqlx::query!(
                    "DELETE FROM permission_group_members
                         WHERE permission_group_id = ?1
                           AND user_id IN (SELECT value FROM json_each(?2))",
                    id.as_str(),
                    removed
                )
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                add_members(tx, &id, &added, now).await?;
                Ok((id.clone(), id.as_str().to_owned()))
            })
        })
        .await
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
        let id = id.clone();
        let change = change.clone();
        self.write_once(
            Isolation::Savepoint,
            ctx,
            parse_user_id,
            move |tx, batch| {
                Box::pin(async move {
                    let current = sqlx::query!(
                        "SELECT status, last_modified_time, api_access, api_access_principal_arn
                         FROM users WHERE user_id = ?1",
                        id.as_str()
                    )
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .ok_or(StoreError::NotFound(Resource::User))?;
                    if current.last_modified_time != expected.as_millis() {
                        return Err(StoreError::Changed);
                    }
                    let status = UserStatus::parse(&current.status)
                        .map_err(|v| corrupt("users.status", v))?;
                    let api_access = ApiAccess::parse(&current.api_access)
                        .map_err(|v| corrupt("users.api_access", v))?;
                    let written = change.plan(
                        status,
                        api_access,
                        current.api_access_principal_arn.as_deref(),
                    );
                    let now = now.as_millis();
                    sqlx::query!(
                        "UPDATE users SET
                             user_type = COALESCE(?2, user_type),
                             first_name = CASE WHEN ?9 THEN ?3 ELSE first_name END,
                             last_name = CASE WHEN ?9 THEN ?4 ELSE last_name END,
                             api_access = COALESCE(?5, api_access),
                             api_access_principal_arn =
                                 CASE WHEN ?9 THEN ?6 ELSE api_access_principal_arn END,
                             status = ?7,
                             last_enabled_time = CASE WHEN ?10
                                 THEN MAX(?8, last_modified_time + 1) ELSE last_enabled_time END,
                             last_disabled_time = CASE WHEN ?11
                                 THEN MAX(?8, last_modified_time + 1) ELSE last_disabled_time END,
                             credential_generation = credential_generation + ?12,
                             last_modified_time = MAX(?8, last_modified_time + 1)
                         WHERE user_id = ?1",
                        id.as_str(),
                        written.user_type,
                        written.first_name,
                        written.last_name,
                        written.api_access,
                        written.api_access_principal_arn,
                        written.status,
                        now,
                        written.replaces,
                        written.enabled,
                        written.disabled,
                        written.revokes,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    sqlx::query!(
                        "INSERT INTO scim_users (user_id, external_id, delete_time)
                         VALUES (?1, ?2, ?3)
                         ON CONFLICT (user_id) DO UPDATE SET
                             external_id = CASE WHEN ?4 THEN excluded.external_id
                                                ELSE external_id END,
                             delete_time = excluded.delete_time",
                        id.as_str(),
                        written.external_id,
                        written.delete_time(now),
                        written.replaces,
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    batch.touch(&id);
                    Ok((id.clone(), id.as_str().to_owned()))
                })
            },
        )
        .await
    }
}

/// Ids as a JSON array, for a statement to read with json_each.
fn ids_json(ids: &[UserId]) -> String {
    serde_json::Value::from(ids.iter().map(UserId::as_str).collect::<Vec<_>>()).to_string()
}

/// Sets (or, with none, forgets) a group's externalId.
async fn set_group_external_id(
    tx: &mut SqliteConnection,
    id: &PermissionGroupId,
    external_id: Option<&ExternalId>,
) -> Result<(), StoreError> {
    match external_id {
        Some(external_id) => {
            sqlx::query!(
                "INSERT INTO scim_groups (permission_group_id, external_id) VALUES (?1, ?2)
             ON CONFLICT (permission_group_id) DO UPDATE SET external_id = excluded.external_id",
                id.as_str(),
                external_id.as_str()
            )
            .execute(&mut *tx)
            .await
        }
        None => {
            sqlx::query!(
                "DELETE FROM scim_groups WHERE permission_group_id = ?1",
                id.as_str()
            )
            .execute(&mut *tx)
            .await
        }
    }
    .map(drop)
    .map_err(db_error)
}

/// Adds the users (a JSON array of ids) to the group, each of whom must be a user SCIM sees
/// (`NotFound(User)` otherwise); members already are stay as they are.
async fn add_members(
    tx: &mut SqliteConnection,
    group: &PermissionGroupId,
    users: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let unknown = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!: i64" FROM json_each(?1) AS m
           WHERE NOT EXISTS (
               SELECT 1 FROM users AS u LEFT JOIN scim_users AS s ON s.user_id = u.user_id
               WHERE u.user_id = m.value
                 AND (s.delete_time IS NULL OR COALESCE(u.last_enabled_time, 0) > s.delete_time))"#,
        users
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(db_error)?;
    if unknown > 0 {
        return Err(StoreError::NotFound(Resource::User));
    }
    sqlx::query!(
        "INSERT INTO permission_group_members
             (permission_group_id, user_id, membership_status, added_time)
         SELECT ?1, value, 'ADDITION_SUCCESS', ?3 FROM json_each(?2) WHERE true
         ON CONFLICT DO NOTHING",
        group.as_str(),
        users,
        now.as_millis()
    )
    .execute(&mut *tx)
    .await
    .map(drop)
    .map_err(db_error)
}
