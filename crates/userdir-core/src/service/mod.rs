//! The rules of the directory: authorization, idempotency, the user lifecycle and state machine,
//! pagination, passwords, programmatic credentials, and the mapping of storage outcomes to domain
//! errors. Works on typed domain values only; knows nothing of HTTP or SQL.

pub mod access;
pub mod audit;
pub mod credentials;
mod error;
pub mod failures;
mod groups;
pub mod idempotency;
pub mod lifecycle;
pub mod pagination;
pub mod passwords;
mod scim;
mod users;

pub use error::ServiceError;
pub use groups::GroupService;
pub use pagination::Page;
pub use passwords::{PasswordHashing, PasswordService, SignedIn};
pub use scim::{Created, ScimLimits, ScimService};
pub use users::UserService;
