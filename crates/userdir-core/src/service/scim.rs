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
    ScimToken, ScimTokenName, Timestamp, UserId, UserStatus,
};
use crate::store::{
    ScimStore, ScimTokenStore, ScimUser, ScimUserChange, ScimUserState, StoreError, UserStore,
    Written,
};

#[derive(Clone)]
pub struct ScimService {
    store: Arc<dyn ScimStore>,
    users: Arc<dyn UserStore>,
    bearer_tokens: Arc<dyn ScimTokenStore>,
    access: Access,
    tokens: TokenPolicy,
    max_users: u64,
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
        tokens: TokenPolicy,
        max_users: u64,
    ) -> Self {
        Self {
            access: Access::new(users.clone()),
            store,
            users,
            bearer_tokens,
            tokens,
            max_users,
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
        let inserted = self
            .store
            .scim_insert_user(&user, external_id.as_ref(), self.max_users, &ctx)
            .await;
        match inserted {
            Ok(written) => Ok(Created::New(written.into_inner())),
            Err(StoreError::EmailTaken) => {
                let existing = self
                    .store
                    .scim_user_by_email(&new_user.email)
                    .await
                    .map_err(|e| Subject::new(OPERATION).error(e))?;
                let Some(existing) = existing.filter(ScimUser::hidden) else {
                    return Err(ServiceError::EmailTaken);
                };
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
                self.write(
                    invocation,
                    OPERATION,
                    &id,
                    existing.user.last_modified_time,
                    &ScimUserChange::Replace(state),
                )
                .await?;
                Ok(Created::Restored(id))
            }
            Err(other) => Err(Subject::new(OPERATION).error(other)),
        }
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
