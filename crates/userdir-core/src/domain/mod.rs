//! Typed values of the FinSpace user model. Each type can only hold a value that satisfies the model's
//! constraints, so code past the wire edge never re-checks them. Used by every layer; depends on none.

mod caller;
mod clock;
mod email;
mod enums;
mod external_id;
mod group;
mod ids;
mod page;
mod password;
mod rule;
mod scim_token;
mod text;
mod time;
mod user;

pub use caller::{Caller, Invocation};
pub use clock::{AdvancingClock, Clock, SharedClock, SystemClock};
pub use email::Email;
pub use enums::{ApiAccess, StatusChange, UserStatus, UserType};
pub use external_id::ExternalId;
pub use group::{
    ApplicationPermission, ApplicationPermissions, MembershipStatus, PermissionGroup,
    PermissionGroupChanges, PermissionGroupDescription, PermissionGroupId, PermissionGroupName,
};
pub use ids::{ClientToken, UserId};
pub use page::PageSize;
pub use password::Password;
pub use rule::{IntegerRule, Modelled, Pattern, Rule, TextRule, Violation};
pub use scim_token::{ScimToken, ScimTokenName};
pub use text::{FirstName, LastName, RoleArn};
pub use time::Timestamp;
pub use user::{NewUser, User, UserChanges};
