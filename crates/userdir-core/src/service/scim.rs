//! The rules SCIM clients are held to: the same authorization, limits, lifecycle and audit trail
//! as the FinSpace operations, plus SCIM's own: a user deleted through SCIM is disabled and hidden
//! (FinSpace has no deletion), and a create of its email brings it back.

use std::sync::Arc;

use tracing::instrument;

use super::access::{Access, Need};
use super::error::{ServiceError, Subject};
use super::idempotency::TokenPolicy;
use crate::domain::{
    ApiAccess, ApplicationPermission::ManageUsersAndGroups, Email, ExternalId, Invocation, NewUser,
    PermissionGroup, PermissionGroupId, PermissionGroupName, ScimToken, ScimTokenName, Timestamp,
    UserId, UserStatus,
};
use crate::store::{
    GroupStore, MemberChanges, Resource, ScimGroup, ScimGroupState, ScimStore, ScimTokenStore,
    ScimUser, ScimUserChange, ScimUserState, StoreError, UserStore, Written,
};

#[derive(Clone)]
pub struct ScimService {
    store: Arc<dyn ScimStore>,
    users: Arc<dyn UserStore>,
    bearer_tokens: Arc<dyn ScimTokenStore>,
    groups: Arc<dyn GroupStore>,
    access: Access,
    tokens: TokenPolicy,
    limits: ScimLimits,
}

/// The directory's limits, as every create is held to them.
#[derive(Debug, Clone, Copy)]
pub struct ScimLimits {
    pub max_users: u64,
    pub max_groups: u64,
}

/// What a SCIM create did: made a user, or brought back one SCIM had deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(UserId),
    Restored(UserId),
}

impl ScimService {
    pub fn new(
        store: Arc<dyn ScimStore>,
        users: Arc<dyn UserStore>,
        bearer_tokens: Arc<dyn ScimTokenStore>,
        groups: Arc<dyn GroupStore>,
        tokens: TokenPolicy,
        limits: ScimLimits,
    ) -> Self {
        Self {
            access: Access::new(users.clone()),
            store,
            users,
            bearer_tokens,
            groups,
            tokens,
            limits,
        }
    }

    /// The name of the live token `presented` is, if it is one: read from the store on every
    /// request, so that a revocation holds at once on every instance; the secret compared in
    /// constant time.
    pub async fn token_name(&self, presented: &str) -> Result<Option<ScimTokenName>, ServiceError> {
        let Some(token) = ScimToken::parse(presented) else {
            return Ok(None);
        };
        let record = self
            .bearer_tokens
            .scim_token(token.id())
            .await
            .map_err(|e| Subject::new("Authenticate").error(e))?;
        Ok(record
            .filter(|r| r.revoke_time.is_none() && token.proves(&r.secret_hash))
            .map(|r| r.name))
    }

    async fn allowed(&self, invocation: &Invocation) -> Result<(), ServiceError> {
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await
    }

    /// The user, unless there is none or SCIM deleted it.
    #[instrument(skip_all, fields(user_id = %id))]
    pub async fn user(
        &self,
        invocation: &Invocation,
        id: &UserId,
    ) -> Result<ScimUser, ServiceError> {
        self.allowed(invocation).await?;
        self.store
            .scim_user(id)
            .await
            .map_err(|e| Subject::new("ScimGetUser").user(id).error(e))?
            .filter(|user| !user.hidden())
            .ok_or_else(|| ServiceError::UserNotFound(id.clone()))
    }

    /// The user registered with `email` (in any case), unless SCIM deleted it.
    pub async fn user_by_email(
        &self,
        invocation: &Invocation,
        email: &Email,
    ) -> Result<Option<ScimUser>, ServiceError> {
        self.allowed(invocation).await?;
        Ok(self
            .store
            .scim_user_by_email(email)
            .await
            .map_err(|e| Subject::new("ScimListUsers").error(e))?
            .filter(|user| !user.hidden()))
    }

    /// Up to `limit` users with this externalId, in id order, but those SCIM deleted.
    pub async fn users_by_external_id(
        &self,
        invocation: &Invocation,
        external_id: &ExternalId,
        limit: u32,
    ) -> Result<Vec<ScimUser>, ServiceError> {
        self.allowed(invocation).await?;
        let mut users = self
            .store
            .scim_users_by_external_id(external_id, limit)
            .await
            .map_err(|e| Subject::new("ScimListUsers").error(e))?;
        users.retain(|user| !user.hidden());
        Ok(users)
    }

    /// Up to `limit` users in id order (those SCIM deleted left out), after `after` and past the
    /// first `skip`.
    pub async fn users(
        &self,
        invocation: &Invocation,
        after: Option<&UserId>,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<ScimUser>, ServiceError> {
        self.allowed(invocation).await?;
        self.store
            .scim_users(after, skip, limit)
            .await
            .map_err(|e| Subject::new("ScimListUsers").error(e))
    }

    /// How many users SCIM sees.
    pub async fn user_count(&self, invocation: &Invocation) -> Result<u64, ServiceError> {
        self.allowed(invocation).await?;
        let subject = || Subject::new("ScimListUsers");
        let counts = self
            .users
            .users_by_status()
            .await
            .map_err(|e| subject().error(e))?;
        let total = counts.creating + counts.enabled + counts.disabled;
        let hidden = self
            .store
            .scim_hidden_users()
            .await
            .map_err(|e| subject().error(e))?;
        Ok(total.saturating_sub(hidden))
    }

    /// Creates a user (CREATING, as CreateUser does, or DISABLED if it is to be inactive); if its
    /// email belongs to a user SCIM deleted, brings that one back with these members instead.
    #[instrument(skip_all)]
    pub async fn create_user(
        &self,
        invocation: &Invocation,
        new_user: NewUser,
        active: bool,
        external_id: Option<ExternalId>,
    ) -> Result<Created, ServiceError> {
        const OPERATION: &str = "ScimCreateUser";
        self.allowed(invocation).await?;
        let id = UserId::generate();
        let ctx = self.tokens.context(
            invocation,
            OPERATION,
            Some(id.as_str()),
            None,
            Default::default,
        );
        let now = ctx.audit.time;
        let mut user = new_user.clone().into_user(id, now);
        if !active {
            user.status = UserStatus::Disabled;
            user.last_disabled_time = Some(now);
        }
        // A user SCIM deleted comes back rather than a new one being made (and so whatever the
        // limit on users, which it already counts toward).
        let existing = self
            .store
            .scim_user_by_email(&new_user.email)
            .await
            .map_err(|e| Subject::new(OPERATION).error(e))?;
        if let Some(existing) = existing.filter(ScimUser::hidden) {
            let state = ScimUserState {
                user_type: new_user.user_type,
                first_name: new_user.first_name,
                last_name: new_user.last_name,
                api_access: new_user.api_access.unwrap_or(ApiAccess::Disabled),
                api_access_principal_arn: new_user.api_access_principal_arn,
                active,
                external_id,
            };
            let id = existing.user.id.clone();
            return match self
                .write(
                    invocation,
                    OPERATION,
                    &id,
                    existing.user.last_modified_time,
                    &ScimUserChange::Replace(state),
                )
                .await
            {
                Ok(_) => Ok(Created::Restored(id)),
                // Brought back (or changed) by another request meanwhile: it exists.
                Err(ServiceError::Changed) => Err(ServiceError::EmailTaken),
                Err(other) => Err(other),
            };
        }
        self.store
            .scim_insert_user(&user, external_id.as_ref(), self.limits.max_users, &ctx)
            .await
            .map(|written| Created::New(written.into_inner()))
            .map_err(|e| Subject::new(OPERATION).error(e))
    }

    /// Makes `change` to the user, if it is still at the version last modified at `expected`
    /// (`Changed` otherwise), as `operation` in the audit trail.
    #[instrument(skip_all, fields(user_id = %id))]
    pub async fn change_user(
        &self,
        invocation: &Invocation,
        operation: &'static str,
        id: &UserId,
        expected: Timestamp,
        change: &ScimUserChange,
    ) -> Result<UserId, ServiceError> {
        self.allowed(invocation).await?;
        self.write(invocation, operation, id, expected, change)
            .await
    }

    /// The group, if there is one.
    #[instrument(skip_all, fields(group_id = %id))]
    pub async fn group(
        &self,
        invocation: &Invocation,
        id: &PermissionGroupId,
    ) -> Result<ScimGroup, ServiceError> {
        self.allowed(invocation).await?;
        self.store
            .scim_group(id)
            .await
            .map_err(|e| Subject::new("ScimGetGroup").group(id).error(e))?
            .ok_or_else(|| ServiceError::GroupNotFound(id.clone()))
    }

    /// The group's members SCIM sees, with their email addresses.
    pub async fn group_members(
        &self,
        invocation: &Invocation,
        id: &PermissionGroupId,
    ) -> Result<Vec<(UserId, Email)>, ServiceError> {
        self.allowed(invocation).await?;
        self.store
            .scim_group_members(id)
            .await
            .map_err(|e| Subject::new("ScimGetGroup").group(id).error(e))
    }

    /// The group of this name (in any case), if there is one.
    pub async fn group_by_name(
        &self,
        invocation: &Invocation,
        name: &PermissionGroupName,
    ) -> Result<Option<ScimGroup>, ServiceError> {
        self.allowed(invocation).await?;
        self.store
            .scim_group_by_name(name)
            .await
            .map_err(|e| Subject::new("ScimListGroups").error(e))
    }

    /// Up to `limit` groups with this externalId, in id order.
    pub async fn groups_by_external_id(
        &self,
        invocation: &Invocation,
        external_id: &ExternalId,
        limit: u32,
    ) -> Result<Vec<ScimGroup>, ServiceError> {
        self.allowed(invocation).await?;
        self.store
            .scim_groups_by_external_id(external_id, limit)
            .await
            .map_err(|e| Subject::new("ScimListGroups").error(e))
    }

    /// Up to `limit` groups in id order, after `after` and past the first `skip`.
    pub async fn groups(
        &self,
        invocation: &Invocation,
        after: Option<&PermissionGroupId>,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<ScimGroup>, ServiceError> {
        self.allowed(invocation).await?;
        self.store
            .scim_groups(after, skip, limit)
            .await
            .map_err(|e| Subject::new("ScimListGroups").error(e))
    }

    pub async fn group_count(&self, invocation: &Invocation) -> Result<u64, ServiceError> {
        self.allowed(invocation).await?;
        self.store
            .scim_group_count()
            .await
            .map_err(|e| Subject::new("ScimListGroups").error(e))
    }

    /// Creates a group with its members (`MemberNotFound` if one is not a user SCIM sees).
    #[instrument(skip_all)]
    pub async fn create_group(
        &self,
        invocation: &Invocation,
        state: ScimGroupState,
        members: &[UserId],
    ) -> Result<PermissionGroupId, ServiceError> {
        const OPERATION: &str = "ScimCreateGroup";
        self.allowed(invocation).await?;
        let id = PermissionGroupId::generate();
        let ctx = self.tokens.context(
            invocation,
            OPERATION,
            Some(id.as_str()),
            None,
            Default::default,
        );
        let now = ctx.audit.time;
        let group = PermissionGroup {
            id,
            name: state.name,
            description: state.description,
            application_permissions: state.application_permissions,
            create_time: now,
            last_modified_time: now,
        };
        self.store
            .scim_insert_group(
                &group,
                state.external_id.as_ref(),
                members,
                self.limits.max_groups,
                &ctx,
            )
            .await
            .map(Written::into_inner)
            .map_err(|e| member_or(e, Subject::new(OPERATION).group(&group.id)))
    }

    /// Sets the group to `state` and makes the member changes, if it is still at the version
    /// last modified at `expected` (`Changed` otherwise).
    #[instrument(skip_all, fields(group_id = %id))]
    pub async fn change_group(
        &self,
        invocation: &Invocation,
        operation: &'static str,
        id: &PermissionGroupId,
        expected: Timestamp,
        state: &ScimGroupState,
        members: &MemberChanges,
    ) -> Result<PermissionGroupId, ServiceError> {
        self.allowed(invocation).await?;
        let ctx = self.tokens.context(
            invocation,
            operation,
            Some(id.as_str()),
            None,
            Default::default,
        );
        self.store
            .scim_change_group(id, expected, state, members, ctx.audit.time, &ctx)
            .await
            .map(Written::into_inner)
            .map_err(|e| member_or(e, Subject::new(operation).group(id)))
    }

    /// Deletes the group and its memberships (its users stay).
    #[instrument(skip_all, fields(group_id = %id))]
    pub async fn delete_group(
        &self,
        invocation: &Invocation,
        id: &PermissionGroupId,
    ) -> Result<(), ServiceError> {
        const OPERATION: &str = "ScimDeleteGroup";
        self.allowed(invocation).await?;
        let ctx = self.tokens.context(
            invocation,
            OPERATION,
            Some(id.as_str()),
            None,
            Default::default,
        );
        self.groups
            .delete_group(id, &ctx)
            .await
            .map(drop)
            .map_err(|e| Subject::new(OPERATION).group(id).error(e))
    }

    async fn write(
        &self,
        invocation: &Invocation,
        operation: &'static str,
        id: &UserId,
        expected: Timestamp,
        change: &ScimUserChange,
    ) -> Result<UserId, ServiceError> {
        let ctx = self.tokens.context(
            invocation,
            operation,
            Some(id.as_str()),
            None,
            Default::default,
        );
        self.store
            .scim_change_user(id, expected, change, ctx.audit.time, &ctx)
            .await
            .map(Written::into_inner)
            .map_err(|e| Subject::new(operation).user(id).error(e))
    }
}

/// A member that is no user SCIM sees is the request's mistake, not a missing group.
fn member_or(error: StoreError, subject: Subject<'_>) -> ServiceError {
    match error {
        StoreError::NotFound(Resource::User) => ServiceError::MemberNotFound,
        other => subject.error(other),
    }
}
