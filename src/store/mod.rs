//! Persistence behind a trait, so that the service never sees SQL and a second backend can be added
//! beside the SQLite one.

mod sqlite;

use async_trait::async_trait;

pub use sqlite::{SqliteStore, StoreSettings};

use crate::domain::{ClientToken, Timestamp, User, UserChanges, UserId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such record")]
    NotFound,
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("the idempotency token was used before with different parameters")]
    TokenMismatch,
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("cannot prepare the database location")]
    Io(#[from] std::io::Error),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A write's claim on an idempotency token, checked and recorded in the same transaction as the
/// write itself, so that concurrent calls with one token cannot both take effect.
#[derive(Debug, Clone)]
pub struct TokenClaim {
    pub operation: &'static str,
    pub token: ClientToken,
    /// Hash of the request's parameters: a reuse with other parameters is refused.
    pub fingerprint: String,
    pub now: Timestamp,
    pub expires_at: Timestamp,
}

/// How a write went: carried out now, or answered from an earlier call with the same token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written<T> {
    Applied(T),
    Replayed(T),
}

impl<T> Written<T> {
    pub fn into_inner(self) -> T {
        match self {
            Written::Applied(value) | Written::Replayed(value) => value,
        }
    }
}

#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a new user; `EmailTaken` if another user has the address in any case.
    async fn insert_user(
        &self,
        user: &User,
        claim: Option<&TokenClaim>,
    ) -> Result<Written<UserId>, StoreError>;

    async fn get_user(&self, id: &UserId) -> Result<Option<User>, StoreError>;

    /// Applies the given changes and moves lastModifiedTime; `NotFound` if there is no such user.
    async fn update_user(
        &self,
        id: &UserId,
        changes: &UserChanges,
        now: Timestamp,
        claim: Option<&TokenClaim>,
    ) -> Result<Written<UserId>, StoreError>;

    /// Promotes every user CREATING since `created_by` or earlier to ENABLED; returns how many.
    async fn activate_users(
        &self,
        created_by: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError>;

    /// The creation time of the oldest user still CREATING, if any.
    async fn oldest_creating(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Forgets idempotency tokens whose lifetime is over; returns how many.
    async fn purge_expired_tokens(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Proves the database answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}
