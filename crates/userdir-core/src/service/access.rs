//! Authorization: what a caller may do, decided before any lookup of the resource acted on, so that
//! a refusal reveals nothing about other users or groups.
//!
//! Root (and the anonymous mode, and a SCIM client) may do everything except obtain programmatic credentials, which
//! needs a principal. A principal may do only that. A user acting through temporary credentials
//! may do everything if SUPER_USER; as APP_USER, what the union of its groups' permissions allows,
//! and always GetUser and ListPermissionGroupsByUser on itself.

use std::sync::Arc;

use super::error::{ServiceError, Subject};
use crate::domain::{ApplicationPermission, Caller, Invocation, UserId, UserType};
use crate::store::UserStore;

/// What an operation needs of its caller.
#[derive(Debug, Clone, Copy)]
pub enum Need<'a> {
    Permission(ApplicationPermission),
    /// The permission, or the caller being this user.
    PermissionOrSelf(ApplicationPermission, &'a UserId),
    /// A principal key (GetProgrammaticAccessCredentials).
    Principal,
}

#[derive(Clone)]
pub struct Access {
    store: Arc<dyn UserStore>,
}

fn denied(message: impl Into<String>) -> ServiceError {
    ServiceError::AccessDenied(message.into())
}

impl Access {
    pub fn new(store: Arc<dyn UserStore>) -> Self {
        Self { store }
    }

    pub async fn require(
        &self,
        invocation: &Invocation,
        need: Need<'_>,
    ) -> Result<(), ServiceError> {
        let permission = match (&invocation.caller, need) {
            (Caller::Principal(_), Need::Principal) => return Ok(()),
            (_, Need::Principal) => {
                return Err(denied(
                    "Only a principal key may call GetProgrammaticAccessCredentials",
                ));
            }
            (Caller::Principal(_), _) => {
                return Err(denied(
                    "A principal key may only call GetProgrammaticAccessCredentials",
                ));
            }
            (Caller::Root | Caller::Anonymous | Caller::Scim(_), _) => return Ok(()),
            (Caller::User(id), Need::PermissionOrSelf(_, target)) if id == target => return Ok(()),
            (Caller::User(_), Need::Permission(p) | Need::PermissionOrSelf(p, _)) => p,
        };
        let Caller::User(id) = &invocation.caller else {
            return Err(denied("Unknown caller"));
        };
        self.user_may(id, permission).await
    }

    /// Whether `user` holds `permission` (SUPER_USER holds them all).
    pub async fn user_may(
        &self,
        user: &UserId,
        permission: ApplicationPermission,
    ) -> Result<(), ServiceError> {
        let profile = self
            .store
            .caller_profile(user)
            .await
            .map_err(|e| Subject::new("Authorize").error(e))?
            .ok_or_else(|| denied("The calling user no longer exists"))?;
        if profile.user_type == UserType::SuperUser || profile.permissions.contains(permission) {
            Ok(())
        } else {
            Err(denied(format!(
                "This call requires the {} permission, which none of the caller's permission groups grants",
                permission.as_str()
            )))
        }
    }
}
