use std::sync::Arc;

use tokio::sync::Notify;
use tracing::instrument;

use super::idempotency::{Fingerprint, TokenPolicy};
use crate::domain::{ClientToken, NewUser, Timestamp, User, UserChanges, UserId};
use crate::store::{StoreError, UserStore, Written};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("User {0} does not exist")]
    UserNotFound(UserId),
    #[error("A user with this email address already exists")]
    EmailTaken,
    #[error("clientToken was already used with different parameters for {0}")]
    TokenMismatch(&'static str),
    #[error("storage failure")]
    Store(#[source] StoreError),
}

impl ServiceError {
    fn from_store(error: StoreError, operation: &'static str, user: Option<&UserId>) -> Self {
        match (error, user) {
            (StoreError::NotFound, Some(id)) => ServiceError::UserNotFound(id.clone()),
            (StoreError::EmailTaken, _) => ServiceError::EmailTaken,
            (StoreError::TokenMismatch, _) => ServiceError::TokenMismatch(operation),
            (other, _) => ServiceError::Store(other),
        }
    }
}

/// The user operations, with their rules: idempotency by clientToken, CREATING on creation (the
/// lifecycle task enables), and partial updates that never touch email or id.
#[derive(Clone)]
pub struct UserService {
    store: Arc<dyn UserStore>,
    tokens: TokenPolicy,
    new_user_created: Arc<Notify>,
}

impl UserService {
    pub fn new(
        store: Arc<dyn UserStore>,
        tokens: TokenPolicy,
        new_user_created: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            tokens,
            new_user_created,
        }
    }

    #[instrument(skip_all)]
    pub async fn create_user(
        &self,
        new_user: NewUser,
        token: Option<ClientToken>,
    ) -> Result<UserId, ServiceError> {
        const OPERATION: &str = "CreateUser";
        let now = Timestamp::now();
        let claim = self
            .tokens
            .claim(OPERATION, token, || fingerprint_new_user(&new_user), now);
        let user = new_user.into_user(UserId::generate(), now);
        let written = self
            .store
            .insert_user(&user, claim.as_ref())
            .await
            .map_err(|e| ServiceError::from_store(e, OPERATION, None))?;
        if let Written::Applied(_) = written {
            self.new_user_created.notify_one();
        }
        Ok(written.into_inner())
    }

    #[instrument(skip_all, fields(user_id = %id))]
    pub async fn get_user(&self, id: &UserId) -> Result<User, ServiceError> {
        self.store
            .get_user(id)
            .await
            .map_err(|e| ServiceError::from_store(e, "GetUser", Some(id)))?
            .ok_or_else(|| ServiceError::UserNotFound(id.clone()))
    }

    #[instrument(skip_all, fields(user_id = %id))]
    pub async fn update_user(
        &self,
        id: &UserId,
        changes: UserChanges,
        token: Option<ClientToken>,
    ) -> Result<UserId, ServiceError> {
        const OPERATION: &str = "UpdateUser";
        let now = Timestamp::now();
        let claim = self
            .tokens
            .claim(OPERATION, token, || fingerprint_changes(id, &changes), now);
        self.store
            .update_user(id, &changes, now, claim.as_ref())
            .await
            .map(Written::into_inner)
            .map_err(|e| ServiceError::from_store(e, OPERATION, Some(id)))
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
