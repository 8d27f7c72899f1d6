use std::sync::Arc;

use tracing::instrument;

use super::access::{Access, Need};
use super::error::{ServiceError, Subject};
use super::idempotency::{Fingerprint, TokenPolicy};
use super::pagination::{Listing, Page, PageTokens};
use crate::domain::{
    ApplicationPermission::ManageUsersAndGroups, ApplicationPermissions, ClientToken, Invocation,
    MembershipStatus, PageSize, PermissionGroup, PermissionGroupChanges,
    PermissionGroupDescription, PermissionGroupId, PermissionGroupName, User, UserId,
};
use crate::store::{GroupStore, Written};

/// Permission groups and their memberships.
#[derive(Clone)]
pub struct GroupService {
    store: Arc<dyn GroupStore>,
    access: Access,
    tokens: TokenPolicy,
    pages: PageTokens,
    max_groups: u64,
}

fn permissions_text(permissions: &ApplicationPermissions) -> String {
    permissions.to_stored()
}

impl GroupService {
    pub fn new(
        store: Arc<dyn GroupStore>,
        access: Access,
        tokens: TokenPolicy,
        pages: PageTokens,
        max_groups: u64,
    ) -> Self {
        Self {
            store,
            access,
            tokens,
            pages,
            max_groups,
        }
    }

    #[instrument(skip_all)]
    pub async fn create_group(
        &self,
        invocation: &Invocation,
        name: PermissionGroupName,
        description: Option<PermissionGroupDescription>,
        application_permissions: ApplicationPermissions,
        token: Option<ClientToken>,
    ) -> Result<PermissionGroupId, ServiceError> {
        const OPERATION: &str = "CreatePermissionGroup";
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        let id = PermissionGroupId::generate();
        let ctx = self
            .tokens
            .context(invocation, OPERATION, Some(id.as_str()), token, || {
                Fingerprint::default()
                    .member("name", Some(name.as_str()))
                    .member("description", description.as_ref().map(|d| d.as_str()))
                    .member(
                        "applicationPermissions",
                        Some(&permissions_text(&application_permissions)),
                    )
            });
        let group = PermissionGroup {
            id,
            name,
            description,
            application_permissions,
            create_time: ctx.audit.time,
            last_modified_time: ctx.audit.time,
        };
        self.store
            .insert_group(&group, self.max_groups, &ctx)
            .await
            .map(Written::into_inner)
            .map_err(|e| Subject::new(OPERATION).error(e))
    }

    #[instrument(skip_all, fields(group_id = %id))]
    pub async fn get_group(
        &self,
        invocation: &Invocation,
        id: &PermissionGroupId,
    ) -> Result<PermissionGroup, ServiceError> {
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        self.store
            .get_group(id)
            .await
            .map_err(|e| Subject::new("GetPermissionGroup").group(id).error(e))?
            .ok_or_else(|| ServiceError::GroupNotFound(id.clone()))
    }

    #[instrument(skip_all, fields(group_id = %id))]
    pub async fn update_group(
        &self,
        invocation: &Invocation,
        id: &PermissionGroupId,
        changes: PermissionGroupChanges,
        token: Option<ClientToken>,
    ) -> Result<PermissionGroupId, ServiceError> {
        const OPERATION: &str = "UpdatePermissionGroup";
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        let ctx = self
            .tokens
            .context(invocation, OPERATION, Some(id.as_str()), token, || {
                Fingerprint::default()
                    .member("permissionGroupId", Some(id.as_str()))
                    .member("name", changes.name.as_ref().map(|n| n.as_str()))
                    .member(
                        "description",
                        changes.description.as_ref().map(|d| d.as_str()),
                    )
                    .member(
                        "applicationPermissions",
                        changes
                            .application_permissions
                            .as_ref()
                            .map(permissions_text)
                            .as_deref(),
                    )
            });
        self.store
            .update_group(id, &changes, ctx.audit.time, &ctx)
            .await
            .map(Written::into_inner)
            .map_err(|e| Subject::new(OPERATION).group(id).error(e))
    }

    #[instrument(skip_all, fields(group_id = %id))]
    pub async fn delete_group(
        &self,
        invocation: &Invocation,
        id: &PermissionGroupId,
        token: Option<ClientToken>,
    ) -> Result<PermissionGroupId, ServiceError> {
        const OPERATION: &str = "DeletePermissionGroup";
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        let ctx = self
            .tokens
            .context(invocation, OPERATION, Some(id.as_str()), token, || {
                Fingerprint::default().member("permissionGroupId", Some(id.as_str()))
            });
        self.store
            .delete_group(id, &ctx)
            .await
            .map(Written::into_inner)
            .map_err(|e| Subject::new(OPERATION).group(id).error(e))
    }

    #[instrument(skip_all)]
    pub async fn list_groups(
        &self,
        invocation: &Invocation,
        size: PageSize,
        next_token: Option<&str>,
    ) -> Result<Page<PermissionGroup>, ServiceError> {
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        let listing = Listing::PermissionGroups;
        let after = self
            .pages
            .read_after(next_token, listing, PermissionGroupId::parse)?;
        let fetched = self
            .store
            .list_groups(after.as_ref(), size.get() + 1)
            .await
            .map_err(|e| Subject::new("ListPermissionGroups").error(e))?;
        Ok(Page::from_fetched(
            fetched,
            size.get(),
            &self.pages,
            listing,
            |g| g.id.as_str(),
        ))
    }

    /// AssociateUserToPermissionGroup (`add`) and DisassociateUserFromPermissionGroup.
    #[instrument(skip_all, fields(group_id = %group, user_id = %user, add))]
    pub async fn change_membership(
        &self,
        invocation: &Invocation,
        group: &PermissionGroupId,
        user: &UserId,
        add: bool,
        token: Option<ClientToken>,
    ) -> Result<(), ServiceError> {
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        let operation = if add {
            "AssociateUserToPermissionGroup"
        } else {
            "DisassociateUserFromPermissionGroup"
        };
        let ctx = self
            .tokens
            .context(invocation, operation, Some(group.as_str()), token, || {
                Fingerprint::default()
                    .member("permissionGroupId", Some(group.as_str()))
                    .member("userId", Some(user.as_str()))
            });
        let outcome = if add {
            self.store
                .add_member(group, user, ctx.audit.time, &ctx)
                .await
        } else {
            self.store.remove_member(group, user, &ctx).await
        };
        outcome
            .map(|_| ())
            .map_err(|e| Subject::new(operation).user(user).group(group).error(e))
    }

    #[instrument(skip_all, fields(user_id = %user))]
    pub async fn groups_of_user(
        &self,
        invocation: &Invocation,
        user: &UserId,
        size: PageSize,
        next_token: Option<&str>,
    ) -> Result<Page<(PermissionGroupId, PermissionGroupName, MembershipStatus)>, ServiceError>
    {
        self.access
            .require(
                invocation,
                Need::PermissionOrSelf(ManageUsersAndGroups, user),
            )
            .await?;
        let listing = Listing::GroupsOfUser(user.as_str());
        let after = self
            .pages
            .read_after(next_token, listing, PermissionGroupId::parse)?;
        let fetched = self
            .store
            .groups_of_user(user, after.as_ref(), size.get() + 1)
            .await
            .map_err(|e| {
                Subject::new("ListPermissionGroupsByUser")
                    .user(user)
                    .error(e)
            })?;
        Ok(Page::from_fetched(
            fetched,
            size.get(),
            &self.pages,
            listing,
            |(id, _, _)| id.as_str(),
        ))
    }

    #[instrument(skip_all, fields(group_id = %group))]
    pub async fn members_of_group(
        &self,
        invocation: &Invocation,
        group: &PermissionGroupId,
        size: PageSize,
        next_token: Option<&str>,
    ) -> Result<Page<(User, MembershipStatus)>, ServiceError> {
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        let listing = Listing::MembersOfGroup(group.as_str());
        let after = self.pages.read_after(next_token, listing, UserId::parse)?;
        let fetched = self
            .store
            .members_of_group(group, after.as_ref(), size.get() + 1)
            .await
            .map_err(|e| {
                Subject::new("ListUsersByPermissionGroup")
                    .group(group)
                    .error(e)
            })?;
        Ok(Page::from_fetched(
            fetched,
            size.get(),
            &self.pages,
            listing,
            |(u, _)| u.id.as_str(),
        ))
    }
}
