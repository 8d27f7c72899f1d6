//! What SCIM keeps beside the FinSpace members of a user, and the writes SCIM makes: each one
//! transaction, checked against the version it was computed from.

use async_trait::async_trait;

use super::{StoreError, WriteContext, Written};
use crate::domain::{
    ApiAccess, ApplicationPermissions, Email, ExternalId, FirstName, LastName, PermissionGroup,
    PermissionGroupDescription, PermissionGroupId, PermissionGroupName, RoleArn, Timestamp, User,
    UserId, UserStatus, UserType,
};

/// A user as SCIM sees it: the FinSpace user, its client's `externalId`, and when SCIM deleted
/// it, if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUser {
    pub user: User,
    pub external_id: Option<ExternalId>,
    pub delete_time: Option<Timestamp>,
}

impl ScimUser {
    /// FinSpace has no deletion: a user deleted through SCIM is disabled and no longer seen
    /// through SCIM, until it is enabled again (through FinSpace's EnableUser, or a SCIM create
    /// of its email, which brings it back).
    pub fn hidden(&self) -> bool {
        self.delete_time.is_some_and(|deleted| {
            self.user
                .last_enabled_time
                .is_none_or(|enabled| enabled.as_millis() <= deleted.as_millis())
        })
    }
}

/// A user's members as a SCIM replace sets them: every one, absent meaning none. (Email and id
/// never change.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUserState {
    pub user_type: UserType,
    pub first_name: Option<FirstName>,
    pub last_name: Option<LastName>,
    pub api_access: ApiAccess,
    pub api_access_principal_arn: Option<RoleArn>,
    /// ENABLED (or CREATING, left to the lifecycle) when true; DISABLED when false.
    pub active: bool,
    pub external_id: Option<ExternalId>,
}

/// A SCIM write to an existing user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimUserChange {
    /// Sets the user to this state (and brings a deleted one back).
    Replace(ScimUserState),
    /// Disables the user and hides it from SCIM.
    Delete,
}

/// A permission group as SCIM sees it: the group and its client's `externalId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimGroup {
    pub group: PermissionGroup,
    pub external_id: Option<ExternalId>,
}

/// A group's members as a SCIM replace sets them (its members change apart, by `MemberChanges`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimGroupState {
    pub name: PermissionGroupName,
    pub description: Option<PermissionGroupDescription>,
    pub application_permissions: ApplicationPermissions,
    pub external_id: Option<ExternalId>,
}

/// Who joins and who leaves a group: only these memberships change, so that a membership made
/// meanwhile (through FinSpace, say) or one of a user SCIM cannot see is never lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChanges {
    pub added: Vec<UserId>,
    pub removed: Vec<UserId>,
}

#[async_trait]
pub trait ScimStore: Send + Sync + 'static {
    /// The user with this id, hidden or not.
    async fn scim_user(&self, id: &UserId) -> Result<Option<ScimUser>, StoreError>;

    /// The user registered with `email` in any case, hidden or not (through the email index).
    async fn scim_user_by_email(&self, email: &Email) -> Result<Option<ScimUser>, StoreError>;

    /// Up to `limit` users whose externalId is exactly this one, in id order (through an index).
    async fn scim_users_by_external_id(
        &self,
        external_id: &ExternalId,
        limit: u32,
    ) -> Result<Vec<ScimUser>, StoreError>;

    /// Up to `limit` users not hidden, in id order: after `after`, skipping the first `skip`.
    async fn scim_users(
        &self,
        after: Option<&UserId>,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<ScimUser>, StoreError>;

    /// How many users are hidden (through an index on the few that SCIM deleted).
    async fn scim_hidden_users(&self) -> Result<u64, StoreError>;

    /// Stores a new user with its externalId, as `UserStore::insert_user` does otherwise.
    async fn scim_insert_user(
        &self,
        user: &User,
        external_id: Option<&ExternalId>,
        max_users: u64,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError>;

    /// The group with this id.
    async fn scim_group(&self, id: &PermissionGroupId) -> Result<Option<ScimGroup>, StoreError>;

    /// The group whose name is `name` regardless of case (through the name index).
    async fn scim_group_by_name(
        &self,
        name: &PermissionGroupName,
    ) -> Result<Option<ScimGroup>, StoreError>;

    /// Up to `limit` groups whose externalId is exactly this one, in id order.
    async fn scim_groups_by_external_id(
        &self,
        external_id: &ExternalId,
        limit: u32,
    ) -> Result<Vec<ScimGroup>, StoreError>;

    /// Up to `limit` groups in id order, after `after`, skipping the first `skip`.
    async fn scim_groups(
        &self,
        after: Option<&PermissionGroupId>,
        skip: u64,
        limit: u32,
    ) -> Result<Vec<ScimGroup>, StoreError>;

    /// How many groups there are.
    async fn scim_group_count(&self) -> Result<u64, StoreError>;

    /// The group's members SCIM sees (not hidden), in id order, with their email addresses.
    async fn scim_group_members(
        &self,
        id: &PermissionGroupId,
    ) -> Result<Vec<(UserId, Email)>, StoreError>;

    /// Stores a new group with its externalId and members, in one transaction;
    /// `GroupNameTaken`, `LimitExceeded`, or `NotFound(User)` if a member is not a user SCIM
    /// sees.
    async fn scim_insert_group(
        &self,
        group: &PermissionGroup,
        external_id: Option<&ExternalId>,
        members: &[UserId],
        max_groups: u64,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError>;

    /// Sets the group to `state` and makes `members`' changes, if it was last modified at
    /// `expected` (`Changed` otherwise; lastModifiedTime moves as for a user's change;
    /// `NotFound(PermissionGroup)` if there is none;
    /// `GroupNameTaken`; `NotFound(User)` if an added member is not a user SCIM sees).
    async fn scim_change_group(
        &self,
        id: &PermissionGroupId,
        expected: Timestamp,
        state: &ScimGroupState,
        members: &MemberChanges,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<PermissionGroupId>, StoreError>;

    /// Makes `change` to the user if it was last modified at `expected` (`Changed` otherwise;
    /// `NotFound` if there is no such user), moving its status as the change asks (recording the
    /// time of an enable or disable, and revoking its temporary credentials on a disable or a
    /// loss of API access), and its lastModifiedTime to `now`, or a millisecond past the last
    /// if that is not earlier (so that every write moves the version a later one checks).
    async fn scim_change_user(
        &self,
        id: &UserId,
        expected: Timestamp,
        change: &ScimUserChange,
        now: Timestamp,
        ctx: &WriteContext,
    ) -> Result<Written<UserId>, StoreError>;
}

/// The columns a SCIM change writes, given the user's current status, API access and principal:
/// worked out once here so that every backend moves a user the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimWritePlan<'a> {
    /// Whether the members (type, names, access, principal, externalId) are replaced; a delete
    /// leaves them.
    pub replaces: bool,
    pub user_type: Option<&'static str>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub api_access: Option<&'static str>,
    pub api_access_principal_arn: Option<&'a str>,
    pub external_id: Option<&'a str>,
    /// The status afterwards.
    pub status: &'static str,
    /// The user is enabled by this write (lastEnabledTime moves).
    pub enabled: bool,
    /// The user is disabled by this write (lastDisabledTime moves).
    pub disabled: bool,
    /// 1 if temporary credentials issued before must stop working, else 0.
    pub revokes: i64,
    /// The user is hidden from SCIM by this write.
    pub deletes: bool,
}

impl ScimWritePlan<'_> {
    /// The delete time to store: `now` for a delete, none otherwise (a replace brings a deleted
    /// user back).
    pub fn delete_time(&self, now: i64) -> Option<i64> {
        self.deletes.then_some(now)
    }
}

impl ScimUserChange {
    pub fn plan(
        &self,
        status: UserStatus,
        api_access: ApiAccess,
        principal: Option<&str>,
    ) -> ScimWritePlan<'_> {
        let active = match self {
            ScimUserChange::Replace(state) => state.active,
            ScimUserChange::Delete => false,
        };
        let (after, enabled, disabled) = match (status, active) {
            (UserStatus::Disabled, true) => (UserStatus::Enabled, true, false),
            (UserStatus::Disabled, false) => (UserStatus::Disabled, false, false),
            (UserStatus::Creating | UserStatus::Enabled, false) => {
                (UserStatus::Disabled, false, true)
            }
            (current, true) => (current, false, false),
        };
        match self {
            ScimUserChange::Delete => ScimWritePlan {
                replaces: false,
                user_type: None,
                first_name: None,
                last_name: None,
                api_access: None,
                api_access_principal_arn: None,
                external_id: None,
                status: after.as_str(),
                enabled,
                disabled,
                revokes: i64::from(disabled),
                deletes: true,
            },
            ScimUserChange::Replace(state) => {
                let new_principal = state.api_access_principal_arn.as_ref().map(RoleArn::as_str);
                let loses_access =
                    api_access == ApiAccess::Enabled && state.api_access == ApiAccess::Disabled;
                let revokes = disabled || loses_access || new_principal != principal;
                ScimWritePlan {
                    replaces: true,
                    user_type: Some(state.user_type.as_str()),
                    first_name: state.first_name.as_ref().map(FirstName::as_str),
                    last_name: state.last_name.as_ref().map(LastName::as_str),
                    api_access: Some(state.api_access.as_str()),
                    api_access_principal_arn: new_principal,
                    external_id: state.external_id.as_ref().map(ExternalId::as_str),
                    status: after.as_str(),
                    enabled,
                    disabled,
                    revokes: i64::from(revokes),
                    deletes: false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(active: bool) -> ScimUserState {
        ScimUserState {
            user_type: UserType::AppUser,
            first_name: None,
            last_name: None,
            api_access: ApiAccess::Disabled,
            api_access_principal_arn: None,
            active,
            external_id: None,
        }
    }

    #[test]
    fn status_moves_as_active_asks_and_only_a_real_move_is_stamped() {
        let replace = |active| ScimUserChange::Replace(state(active));
        for (status, change, after, enabled, disabled) in [
            (
                UserStatus::Creating,
                replace(true),
                "CREATING",
                false,
                false,
            ),
            (
                UserStatus::Creating,
                replace(false),
                "DISABLED",
                false,
                true,
            ),
            (UserStatus::Enabled, replace(true), "ENABLED", false, false),
            (UserStatus::Enabled, replace(false), "DISABLED", false, true),
            (UserStatus::Disabled, replace(true), "ENABLED", true, false),
            (
                UserStatus::Disabled,
                replace(false),
                "DISABLED",
                false,
                false,
            ),
            (
                UserStatus::Enabled,
                ScimUserChange::Delete,
                "DISABLED",
                false,
                true,
            ),
            (
                UserStatus::Disabled,
                ScimUserChange::Delete,
                "DISABLED",
                false,
                false,
            ),
        ] {
            let plan = change.plan(status, ApiAccess::Disabled, None);
            assert_eq!(
                (plan.status, plan.enabled, plan.disabled),
                (after, enabled, disabled),
                "{status:?} {change:?}"
            );
            assert_eq!(plan.revokes, i64::from(disabled));
        }
    }

    #[test]
    fn losing_api_access_or_changing_principal_revokes_credentials() {
        let change = ScimUserChange::Replace(state(true));
        assert_eq!(
            change
                .plan(UserStatus::Enabled, ApiAccess::Enabled, None)
                .revokes,
            1
        );
        assert_eq!(
            change
                .plan(
                    UserStatus::Enabled,
                    ApiAccess::Disabled,
                    Some("arn:aws:iam::1:role/r")
                )
                .revokes,
            1
        );
        assert_eq!(
            change
                .plan(UserStatus::Enabled, ApiAccess::Disabled, None)
                .revokes,
            0
        );
    }

    #[test]
    fn hidden_until_enabled_after_the_delete() {
        let user = User {
            id: UserId::generate(),
            email: Email::parse("a@example.com").unwrap(),
            user_type: UserType::AppUser,
            status: UserStatus::Disabled,
            api_access: ApiAccess::Disabled,
            api_access_principal_arn: None,
            first_name: None,
            last_name: None,
            create_time: Timestamp::from_millis(1),
            last_enabled_time: Some(Timestamp::from_millis(2)),
            last_disabled_time: Some(Timestamp::from_millis(3)),
            last_modified_time: Timestamp::from_millis(3),
            last_login_time: None,
        };
        let mut scim = ScimUser {
            user,
            external_id: None,
            delete_time: None,
        };
        assert!(!scim.hidden());
        scim.delete_time = Some(Timestamp::from_millis(3));
        assert!(scim.hidden());
        scim.user.last_enabled_time = Some(Timestamp::from_millis(4));
        assert!(!scim.hidden());
    }
}
