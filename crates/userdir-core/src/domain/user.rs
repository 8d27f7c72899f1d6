use super::{
    ApiAccess, Email, FirstName, LastName, RoleArn, Timestamp, UserId, UserStatus, UserType,
};

/// A user as stored and served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub user_type: UserType,
    pub status: UserStatus,
    pub api_access: ApiAccess,
    pub api_access_principal_arn: Option<RoleArn>,
    pub first_name: Option<FirstName>,
    pub last_name: Option<LastName>,
    pub create_time: Timestamp,
    pub last_enabled_time: Option<Timestamp>,
    pub last_disabled_time: Option<Timestamp>,
    pub last_modified_time: Timestamp,
    pub last_login_time: Option<Timestamp>,
}

/// What CreateUser asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: Email,
    pub user_type: UserType,
    pub first_name: Option<FirstName>,
    pub last_name: Option<LastName>,
    pub api_access: Option<ApiAccess>,
    pub api_access_principal_arn: Option<RoleArn>,
}

impl NewUser {
    /// The user as first stored: CREATING, with API access off unless asked for.
    pub fn into_user(self, id: UserId, now: Timestamp) -> User {
        User {
            id,
            email: self.email,
            user_type: self.user_type,
            status: UserStatus::Creating,
            api_access: self.api_access.unwrap_or(ApiAccess::Disabled),
            api_access_principal_arn: self.api_access_principal_arn,
            first_name: self.first_name,
            last_name: self.last_name,
            create_time: now,
            last_enabled_time: None,
            last_disabled_time: None,
            last_modified_time: now,
            last_login_time: None,
        }
    }
}

/// What UpdateUser may change; `None` leaves a member as it is. Email and id never change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    pub user_type: Option<UserType>,
    pub first_name: Option<FirstName>,
    pub last_name: Option<LastName>,
    pub api_access: Option<ApiAccess>,
    pub api_access_principal_arn: Option<RoleArn>,
}
