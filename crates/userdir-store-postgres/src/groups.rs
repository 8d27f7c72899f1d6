//! Permission groups and memberships.

use async_trait::async_trait;
use sqlx::PgConnection;
use tracing::instrument;
use userdir_core::domain::{
    ApplicationPermissions, MembershipStatus, PermissionGroup, PermissionGroupChanges,
    PermissionGroupDescription, PermissionGroupId, PermissionGroupName, Timestamp, User, UserId,
};
use userdir_core::store::rows::{GroupOfUserRow, GroupRow, MemberRow, parse_group_id};
use userdir_core::store::{GroupStore, Resource, StoreError, WriteContext, Written};

use super::counts::{Kind, count_in, count_out};
use super::{PostgresStore, db_error, is_unique_violation};

/// Both ends of a membership must exist; the group is checked first. FOR SHARE: neither can be
/// deleted until this transaction ends.
async fn require_both(
    conn: &mut PgConnection,
    group: &PermissionGroupId,
    user: &UserId,
) -> Result<(), StoreError> {
    if !group_exists(conn, group).await? {
        return Err(StoreError::NotFound(Resource::PermissionGroup));
    }
    if !user_exists(conn, user).await? {
        return Err(StoreError::NotFound(Resource::User));
    }
    Ok(())
}

async fn group_exists(conn: &mut PgConnection, id: &PermissionGroupId) -> Result<bool, StoreError> {
    let found = sqlx::query_scalar!(
        r#"SELECT 1 AS "found!" FROM permission_groups WHERE permission_group_id = $1 FOR SHARE"#,
        id.as_str()
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(found.is_some())
}

async fn user_exists(conn: &mut PgConnection, id: &UserId) -> Result<bool, StoreError> {
    let found = sqlx::query_scalar!(
        r#"SELECT 1 AS "found!" FROM users WHERE user_id = $1"#,
        id.as_str()
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(found.is_some())
}

#[async_trait]
impl GroupStore for PostgresStore {
    #[instrument(skip_all, fields(group_id = %group.id))]
    async fn insert_group(
        &self,
        group: &PermissionGroup,
        max_groups: u64,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError> {
        self.write_once(ctx, parse_group_id, |tx| {
            let group = group.clone();
            Box::pin(async move {
                insert_group_row(tx, &group, max_groups).await?;
                Ok((group.id.clone(), group.id.as_str().to_owned()))
            })
        })
        .await
    }

    #[instrument(skip_all, fields(group_id = %id))]
    async fn get_group(
        &self,
        id: &PermissionGroupId,
    ) -> Result<Option<PermissionGroup>, StoreError> {
        let row = sqlx::query_as!(
            GroupRow,
            "SELECT permission_group_id, name, description, application_permissions, create_time,
                    last_modified_time
             FROM permission_groups WHERE permission_group_id = $1",
            id.as_str()
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(PermissionGroup::try_from).transpose()
    }

    #[instrument(skip_all, fields(group_id = %id))]
    async fn update_group(
        &self,
        id: &PermissionGroupId,
        changes: &PermissionGroupChanges,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError> {
        self.write_once(ctx, parse_group_id, |tx| {
            let (id, changes) = (id.clone(), changes.clone());
            Box::pin(async move {
                let updated = sqlx::query!(
                    "UPDATE permission_groups SET
                         name = COALESCE($2, name),
                         name_key = COALESCE($3, name_key),
                         description = COALESCE($4, description),
                         application_permissions = COALESCE($5, application_permissions),
                         last_modified_time = GREATEST($6, last_modified_time + 1)
                     WHERE permission_group_id = $1",
                    id.as_str(),
                    changes.name.as_ref().map(PermissionGroupName::as_str),
                    changes.name.as_ref().map(PermissionGroupName::unique_key),
                    changes
                        .description
                        .as_ref()
                        .map(PermissionGroupDescription::as_str),
                    changes
                        .application_permissions
                        .as_ref()
                        .map(ApplicationPermissions::to_stored),
                    now.as_millis(),
                )
                .execute(&mut *tx)
                .await;
                let updated = match updated {
                    Err(e) if is_unique_violation(&e) => return Err(StoreError::GroupNameTaken),
                    other => other.map_err(db_error)?,
                };
                if updated.rows_affected() == 0 {
                    return Err(StoreError::NotFound(Resource::PermissionGroup));
                }
                Ok((id.clone(), id.as_str().to_owned()))
            })
        })
        .await
    }

    #[instrument(skip_all, fields(group_id = %id))]
    async fn delete_group(
        &self,
        id: &PermissionGroupId,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError> {
        self.write_once(ctx, parse_group_id, |tx| {
            let id = id.clone();
            Box::pin(async move {
                // Memberships go with the group (ON DELETE CASCADE), inside this transaction.
                let deleted = sqlx::query!(
                    "DELETE FROM permission_groups WHERE permission_group_id = $1",
                    id.as_str()
                )
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound(Resource::PermissionGroup));
                }
                count_out(&mut *tx, Kind::PermissionGroups).await?;
                Ok((id.clone(), id.as_str().to_owned()))
            })
        })
        .await
    }

    #[instrument(skip_all)]
    async fn list_groups(
        &self,
        after: Option<&PermissionGroupId>,
        limit: u32,
    ) -> Result<Vec<PermissionGroup>, StoreError> {
        let rows = sqlx::query_as!(
            GroupRow,
            "SELECT permission_group_id, name, description, application_permissions, create_time,
                    last_modified_time
             FROM permission_groups WHERE permission_group_id > $1
             ORDER BY permission_group_id LIMIT $2",
            after.map_or("", PermissionGroupId::as_str),
            i64::from(limit),
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.into_iter().map(PermissionGroup::try_from).collect()
    }

    #[instrument(skip_all, fields(group_id = %group, user_id = %user))]
    async fn add_member(
        &self,
        group: &PermissionGroupId,
        user: &UserId,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError> {
        self.write_once(ctx, parse_group_id, |tx| {
            let (group, user) = (group.clone(), user.clone());
            Box::pin(async move {
                require_both(&mut *tx, &group, &user).await?;
                let inserted = sqlx::query!(
                    "INSERT INTO permission_group_members
                         (permission_group_id, user_id, membership_status, added_time)
                     VALUES ($1, $2, 'ADDITION_SUCCESS', $3)",
                    group.as_str(),
                    user.as_str(),
                    now.as_millis(),
                )
                .execute(&mut *tx)
                .await;
                match inserted {
                    Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyMember),
                    other => other.map_err(db_error)?,
                };
                Ok((group.clone(), group.as_str().to_owned()))
            })
        })
        .await
    }

    #[instrument(skip_all, fields(group_id = %group, user_id = %user))]
    async fn remove_member(
        &self,
        group: &PermissionGroupId,
        user: &UserId,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError> {
        self.write_once(ctx, parse_group_id, |tx| {
            let (group, user) = (group.clone(), user.clone());
            Box::pin(async move {
                require_both(&mut *tx, &group, &user).await?;
                let deleted = sqlx::query!(
                    "DELETE FROM permission_group_members
                     WHERE permission_group_id = $1 AND user_id = $2",
                    group.as_str(),
                    user.as_str(),
                )
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotMember);
                }
                Ok((group.clone(), group.as_str().to_owned()))
            })
        })
        .await
    }

    #[instrument(skip_all, fields(user_id = %user))]
    async fn groups_of_user(
        &self,
        user: &UserId,
        after: Option<&PermissionGroupId>,
        limit: u32,
    ) -> Result<Vec<(PermissionGroupId, PermissionGroupName, MembershipStatus)>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        if !user_exists(&mut conn, user).await? {
            return Err(StoreError::NotFound(Resource::User));
        }
        let rows = sqlx::query_as!(
            GroupOfUserRow,
            "SELECT g.permission_group_id, g.name, m.membership_status
             FROM permission_group_members m
             JOIN permission_groups g ON g.permission_group_id = m.permission_group_id
             WHERE m.user_id = $1 AND m.permission_group_id > $2
             ORDER BY m.permission_group_id LIMIT $3",
            user.as_str(),
            after.map_or("", PermissionGroupId::as_str),
            i64::from(limit),
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        rows.into_iter().map(TryFrom::try_from).collect()
    }

    #[instrument(skip_all, fields(group_id = %group))]
    async fn members_of_group(
        &self,
        group: &PermissionGroupId,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<(User, MembershipStatus)>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        if !group_exists(&mut conn, group).await? {
            return Err(StoreError::NotFound(Resource::PermissionGroup));
        }
        let rows = sqlx::query_as!(
            MemberRow,
            "SELECT u.user_id, u.email, u.user_type, u.status, u.api_access,
                    u.api_access_principal_arn, u.first_name, u.last_name, u.create_time,
                    u.last_enabled_time, u.last_disabled_time, u.last_modified_time,
                    u.last_login_time, m.membership_status
             FROM permission_group_members m
             JOIN users u ON u.user_id = m.user_id
             WHERE m.permission_group_id = $1 AND m.user_id > $2
             ORDER BY m.user_id LIMIT $3",
            group.as_str(),
            after.map_or("", UserId::as_str),
            i64::from(limit),
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        rows.into_iter().map(TryFrom::try_from).collect()
    }
}

/// Inserts a new group's row and counts it; `GroupNameTaken` if its name is taken in any case,
/// `LimitExceeded` if `max_groups` exist already.
pub(super) async fn insert_group_row(
    tx: &mut PgConnection,
    group: &PermissionGroup,
    max_groups: u64,
) -> Result<(), StoreError> {
    let inserted = sqlx::query!(
        "INSERT INTO permission_groups (
             permission_group_id, name, name_key, description,
             application_permissions, create_time, last_modified_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        group.id.as_str(),
        group.name.as_str(),
        group.name.unique_key(),
        group
            .description
            .as_ref()
            .map(PermissionGroupDescription::as_str),
        group.application_permissions.to_stored(),
        group.create_time.as_millis(),
        group.last_modified_time.as_millis(),
    )
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(StoreError::GroupNameTaken),
        other => other.map_err(db_error)?,
    };
    count_in(&mut *tx, Kind::PermissionGroups, 1, max_groups).await?;
    Ok(())
}
