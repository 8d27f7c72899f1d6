use std::time::Duration;

use crate::domain::{PermissionGroupId, UserId, UserStatus};
use crate::store::{Resource, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("User {0} does not exist")]
    UserNotFound(UserId),
    #[error("Permission group {0} does not exist")]
    GroupNotFound(PermissionGroupId),
    #[error("A user with this email address already exists")]
    EmailTaken,
    #[error("A permission group with this name already exists")]
    GroupNameTaken,
    #[error("clientToken was already used with different parameters for {0}")]
    TokenMismatch(&'static str),
    #[error("{operation} is not allowed while user {user} is {}", status.as_str())]
    ForbiddenInStatus {
        operation: &'static str,
        user: UserId,
        status: UserStatus,
    },
    #[error("User {user} is already a member of permission group {group}")]
    AlreadyMember {
        user: UserId,
        group: PermissionGroupId,
    },
    #[error("User {user} is not a member of permission group {group}")]
    NotMember {
        user: UserId,
        group: PermissionGroupId,
    },
    /// A group's member that is not a user (or one SCIM deleted).
    #[error("A member is not a user of this directory")]
    MemberNotFound,
    /// A write computed from a version of the resource that is no longer current.
    #[error("The resource changed since it was read")]
    Changed,
    #[error("nextToken is not valid for this request: {0}")]
    InvalidNextToken(&'static str),
    /// Wrong email, wrong password or expired temporary password: deliberately indistinct.
    #[error("Incorrect email address or password")]
    SignInFailed,
    #[error("This is a temporary password: choose a new password with POST /auth/password")]
    PasswordChangeRequired,
    #[error("The user is {} and cannot sign in", .0.as_str())]
    SignInNotAllowed(UserStatus),
    #[error("Too many sign-in attempts; retry later")]
    Throttled { retry_after: Duration },
    #[error("{0}")]
    AccessDenied(String),
    #[error("The limit of {0} is reached")]
    LimitExceeded(u64),
    #[error("{0}")]
    InvalidEnvironment(String),
    #[error("The security token included in the request is no longer valid for its user")]
    CredentialsRevoked,
    #[error("storage failure")]
    Store(#[source] StoreError),
    #[error("The service cannot take writes for now; retry later")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// What an operation was about, to turn a storage outcome into a precise error.
#[derive(Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub operation: &'static str,
    pub user: Option<&'a UserId>,
    pub group: Option<&'a PermissionGroupId>,
}

impl<'a> Subject<'a> {
    pub fn new(operation: &'static str) -> Self {
        Self {
            operation,
            user: None,
            group: None,
        }
    }

    pub fn user(mut self, user: &'a UserId) -> Self {
        self.user = Some(user);
        self
    }

    pub fn group(mut self, group: &'a PermissionGroupId) -> Self {
        self.group = Some(group);
        self
    }

    pub fn error(self, error: StoreError) -> ServiceError {
        match (error, self.user, self.group) {
            (StoreError::NotFound(Resource::User), Some(user), _) => {
                ServiceError::UserNotFound(user.clone())
            }
            (StoreError::NotFound(Resource::PermissionGroup), _, Some(group)) => {
                ServiceError::GroupNotFound(group.clone())
            }
            (StoreError::EmailTaken, _, _) => ServiceError::EmailTaken,
            (StoreError::GroupNameTaken, _, _) => ServiceError::GroupNameTaken,
            (StoreError::TokenMismatch, _, _) => ServiceError::TokenMismatch(self.operation),
            (StoreError::ForbiddenInStatus(status), Some(user), _) => {
                ServiceError::ForbiddenInStatus {
                    operation: self.operation,
                    user: user.clone(),
                    status,
                }
            }
            (StoreError::AlreadyMember, Some(user), Some(group)) => ServiceError::AlreadyMember {
                user: user.clone(),
                group: group.clone(),
            },
            (StoreError::NotMember, Some(user), Some(group)) => ServiceError::NotMember {
                user: user.clone(),
                group: group.clone(),
            },
            (StoreError::Changed, _, _) => ServiceError::Changed,
            (StoreError::LimitExceeded(limit), _, _) => ServiceError::LimitExceeded(limit),
            (StoreError::Unavailable(reason) | StoreError::Contended(reason), _, _) => {
                ServiceError::Unavailable(reason.to_string())
            }
            (other, _, _) => ServiceError::Store(other),
        }
    }
}
