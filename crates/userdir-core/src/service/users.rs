use std::sync::Arc;

use tracing::instrument;

use super::access::{Access, Need};
use super::error::{ServiceError, Subject};
use super::idempotency::{Fingerprint, TokenPolicy};
use super::pagination::{Listing, Page, PageTokens};
use crate::domain::{
    ApplicationPermission::ManageUsersAndGroups, ClientToken, Invocation, NewUser, PageSize,
    StatusChange, User, UserChanges, UserId,
};
use crate::store::{UserStore, Written};

/// The user operations, with their rules: idempotency by clientToken, CREATING on creation (the
/// lifecycle task enables), partial updates that never touch email or id, and the ENABLED ⇄
/// DISABLED state machine.
#[derive(Clone)]
pub struct UserService {
    store: Arc<dyn UserStore>,
    access: Access,
    tokens: TokenPolicy,
    pages: PageTokens,
    max_users: u64,
}

impl UserService {
    pub fn new(
        store: Arc<dyn UserStore>,
        tokens: TokenPolicy,
        pages: PageTokens,
        max_users: u64,
    ) -> Self {
        Self {
            access: Access::new(store.clone()),
            store,
            tokens,
            pages,
            max_users,
        }
    }

    #[instrument(skip_all)]
    pub async fn create_user(
        &self,
        invocation: &Invocation,
        new_user: NewUser,
        token: Option<ClientToken>,
    ) -> Result<UserId, ServiceError> {
        const OPERATION: &str = "CreateUser";
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        let id = UserId::generate();
        let ctx = self
            .tokens
            .context(invocation, OPERATION, Some(id.as_str()), token, || {
                fingerprint_new_user(&new_user)
            });
        let user = new_user.into_user(id, ctx.audit.time);
        let written = self
            .store
            .insert_user(&user, self.max_users, &ctx)
            .await
            .map_err(|e| Subject::new(OPERATION).error(e))?;
        Ok(written.into_inner())
    }

    #[instrument(skip_all, fields(user_id = %id))]
    pub async fn get_user(
        &self,
        invocation: &Invocation,
        id: &UserId,
    ) -> Result<Arc<User>, ServiceError> {
        self.access
            .require(invocation, Need::PermissionOrSelf(ManageUsersAndGroups, id))
            .await?;
        self.store
            .get_user(id)
            .await
            .map_err(|e| Subject::new("GetUser").user(id).error(e))?
            .ok_or_else(|| ServiceError::UserNotFound(id.clone()))
    }

    #[instrument(skip_all, fields(user_id = %id))]
    pub async fn update_user(
        &self,
        invocation: &Invocation,
        id: &UserId,
        changes: UserChanges,
        token: Option<ClientToken>,
    ) -> Result<UserId, ServiceError> {
        const OPERATION: &str = "UpdateUser";
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        let ctx = self
            .tokens
            .context(invocation, OPERATION, Some(id.as_str()), token, || {
                fingerprint_changes(id, &changes)
            });
        self.store
            .update_user(id, &changes, ctx.audit.time, &ctx)
            .await
            .map(Written::into_inner)
            .map_err(|e| Subject::new(OPERATION).user(id).error(e))
    }

    /// ListUsers: users in id order, one page at a time.
    #[instrument(skip_all)]
    pub async fn list_users(
        &self,
        invocation: &Invocation,
        size: PageSize,
        next_token: Option<&str>,
    ) -> Result<Page<User>, ServiceError> {
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        let after = self
            .pages
            .read_after(next_token, Listing::Users, UserId::parse)?;
        let fetched = self
            .store
            .list_users(after.as_ref(), size.get() + 1)
            .await
            .map_err(|e| Subject::new("ListUsers").error(e))?;
        Ok(Page::from_fetched(
            fetched,
            size.get(),
            &self.pages,
            Listing::Users,
            |u| u.id.as_str(),
        ))
    }

    /// EnableUser / DisableUser, as `UserStatus::after` allows.
    #[instrument(skip_all, fields(user_id = %id, ?change))]
    pub async fn change_status(
        &self,
        invocation: &Invocation,
        id: &UserId,
        change: StatusChange,
        token: Option<ClientToken>,
    ) -> Result<UserId, ServiceError> {
        let operation = match change {
            StatusChange::Enable => "EnableUser",
            StatusChange::Disable => "DisableUser",
        };
        self.access
            .require(invocation, Need::Permission(ManageUsersAndGroups))
            .await?;
        let ctx = self
            .tokens
            .context(invocation, operation, Some(id.as_str()), token, || {
                Fingerprint::default().member("userId", Some(id.as_str()))
            });
        self.store
            .change_status(id, change, ctx.audit.time, &ctx)
            .await
            .map(Written::into_inner)
            .map_err(|e| Subject::new(operation).user(id).error(e))
    }

    pub fn cache_stats(&self) -> Option<crate::store::CacheStats> {
        self.store.cache_stats()
    }

    /// Users by status (metrics).
    pub async fn users_by_status(&self) -> Result<crate::store::StatusCounts, ServiceError> {
        self.store
            .users_by_status()
            .await
            .map_err(ServiceError::Store)
    }

    /// The store's connection pools (metrics).
    pub fn pool_stats(&self) -> Vec<crate::store::PoolStats> {
        self.store.pool_stats()
    }

    /// How many idempotency tokens the store keeps.
    pub async fn stored_tokens(&self) -> Result<u64, ServiceError> {
        self.store
            .stored_tokens()
            .await
            .map_err(ServiceError::Store)
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> Result<(), ServiceError> {
        self.store.ping().await.map_err(ServiceError::Store)
    }
}

fn fingerprint_new_user(user: &NewUser) -> Fingerprint {
    Fingerprint::default()
        .member("emailAddress", Some(user.email.as_str()))
        .member("type", Some(user.user_type.as_str()))
        .member("firstName", user.first_name.as_ref().map(|n| n.as_str()))
        .member("lastName", user.last_name.as_ref().map(|n| n.as_str()))
        .member("apiAccess", user.api_access.map(|a| a.as_str()))
        .member(
            "apiAccessPrincipalArn",
            user.api_access_principal_arn.as_ref().map(|a| a.as_str()),
        )
}

fn fingerprint_changes(id: &UserId, changes: &UserChanges) -> Fingerprint {
    Fingerprint::default()
        .member("userId", Some(id.as_str()))
        .member("type", changes.user_type.map(|t| t.as_str()))
        .member("firstName", changes.first_name.as_ref().map(|n| n.as_str()))
        .member("lastName", changes.last_name.as_ref().map(|n| n.as_str()))
        .member("apiAccess", changes.api_access.map(|a| a.as_str()))
        .member(
            "apiAccessPrincipalArn",
            changes
                .api_access_principal_arn
                .as_ref()
                .map(|a| a.as_str()),
        )
}
