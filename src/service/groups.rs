use std::sync::Arc;

use tracing::instrument;

use super::error::{ServiceError, Subject};
use super::idempotency::{Fingerprint, TokenPolicy};
use super::pagination::{Listing, Page, PageTokens};
use crate::domain::{
    ApplicationPermissions, ClientToken, MembershipStatus, PageSize, PermissionGroup,
    PermissionGroupChanges, PermissionGroupDescription, PermissionGroupId, PermissionGroupName,
    Timestamp, User, UserId,
};
use crate::store::{GroupStore, Written};

/// Permission groups and their memberships.
#[derive(Clone)]
pub struct GroupService {
    store: Arc<dyn GroupStore>,
    tokens: TokenPolicy,
    pages: PageTokens,
}

fn permissions_text(permissions: &ApplicationPermissions) -> String {
    permissions.to_stored()
}

fn read_after<T>(
    pages: &PageTokens,
    token: Option<&str>,
    listing: Listing<'_>,
    parse: impl Fn(&str) -> Result<T, crate::domain::Violation>,
) -> Result<Option<T>, ServiceError> {
    token
        .map(|t| pages.read(t, listing))
        .transpose()?
        .map(|key| parse(&key))
        .transpose()
        .map_err(|_| ServiceError::InvalidNextToken("it is malformed"))
}

impl GroupService {
    pub fn new(store: Arc<dyn GroupStore>, tokens: TokenPolicy, pages: PageTokens) -> Self {
        Self {
            store,
            tokens,
            pages,
        }
    }

    #[instrument(skip_all)]
    pub async fn create_group(
        &self,
        name: PermissionGroupName,
        description: Option<PermissionGroupDescription>,
        application_permissions: ApplicationPermissions,
        token: Option<ClientToken>,
    ) -> Result<PermissionGroupId, ServiceError> {
        const OPERATION: &str = "CreatePermissionGroup";
        let now = Timestamp::now();
        let claim = self.tokens.claim(
            OPERATION,
            token,
            || {
                Fingerprint::default()
                    .member("name", Some(name.as_str()))
                    .member("description", description.as_ref().map(|d| d.as_str()))
                    .member(
                        "applicationPermissions",
                        Some(&permissions_text(&application_permissions)),
                    )
            },
            now,
        );
        let group = PermissionGroup {
            id: PermissionGroupId::generate(),
            name,
            description,
            application_permissions,
            create_time: now,
            last_modified_time: now,
        };
        self.store
            .insert_group(&group, claim.as_ref())
            .await
            .map(Written::into_inner)
            .map_err(|e| Subject::new(OPERATION).error(e))
    }

    #[instrument(skip_all, fields(group_id = %id))]
    pub async fn get_group(&self, id: &PermissionGroupId) -> Result<PermissionGroup, ServiceError> {
        self.store
            .get_group(id)
            .await
            .map_err(|e| Subject::new("GetPermissionGroup").group(id).error(e))?
            .ok_or_else(|| ServiceError::GroupNotFound(id.clone()))
    }

    #[instrument(skip_all, fields(group_id = %id))]
    pub async fn update_group(
        &self,
        id: &PermissionGroupId,
        changes: PermissionGroupChanges,
        token: Option<ClientToken>,
    ) -> Result<PermissionGroupId, ServiceError> {
        const OPERATION: &str = "UpdatePermissionGroup";
        let now = Timestamp::now();
        let claim = self.tokens.claim(
            OPERATION,
            token,
            || {
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
            },
            now,
        );
        self.store
            .update_group(id, &changes, now, claim.as_ref())
            .await
            .map(Written::into_inner)
            .map_err(|e| Subject::new(OPERATION).group(id).error(e))
    }

    #[instrument(skip_all, fields(group_id = %id))]
    pub async fn delete_group(
        &self,
        id: &PermissionGroupId,
        token: Option<ClientToken>,
    ) -> Result<PermissionGroupId, ServiceError> {
        const OPERATION: &str = "DeletePermissionGroup";
        let claim = self.tokens.claim(
            OPERATION,
            token,
            || Fingerprint::default().member("permissionGroupId", Some(id.as_str())),
            Timestamp::now(),
        );
        self.store
            .delete_group(id, claim.as_ref())
            .await
            .map(Written::into_inner)
            .map_err(|e| Subject::new(OPERATION).group(id).error(e))
    }

    #[instrument(skip_all)]
    pub async fn list_groups(
        &self,
        size: PageSize,
        next_token: Option<&str>,
    ) -> Result<Page<PermissionGroup>, ServiceError> {
        let listing = Listing::PermissionGroups;
        let after = read_after(&self.pages, next_token, listing, PermissionGroupId::parse)?;
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
        group: &PermissionGroupId,
        user: &UserId,
        add: bool,
        token: Option<ClientToken>,
    ) -> Result<(), ServiceError> {
        let operation = if add {
            "AssociateUserToPermissionGroup"
        } else {
            "DisassociateUserFromPermissionGroup"
        };
        let now = Timestamp::now();
        let claim = self.tokens.claim(
            operation,
            token,
            || {
                Fingerprint::default()
                    .member("permissionGroupId", Some(group.as_str()))
                    .member("userId", Some(user.as_str()))
            },
            now,
        );
        let outcome = if add {
            self.store
                .add_member(group, user, now, claim.as_ref())
                .await
        } else {
            self.store.remove_member(group, user, claim.as_ref()).await
        };
        outcome
            .map(|_| ())
            .map_err(|e| Subject::new(operation).user(user).group(group).error(e))
    }

    #[instrument(skip_all, fields(user_id = %user))]
    pub async fn groups_of_user(
        &self,
        user: &UserId,
        size: PageSize,
        next_token: Option<&str>,
    ) -> Result<Page<(PermissionGroupId, PermissionGroupName, MembershipStatus)>, ServiceError>
    {
        let listing = Listing::GroupsOfUser(user.as_str());
        let after = read_after(&self.pages, next_token, listing, PermissionGroupId::parse)?;
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
        group: &PermissionGroupId,
        size: PageSize,
        next_token: Option<&str>,
    ) -> Result<Page<(User, MembershipStatus)>, ServiceError> {
        let listing = Listing::MembersOfGroup(group.as_str());
        let after = read_after(&self.pages, next_token, listing, UserId::parse)?;
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
