//! The rules of the directory: idempotency, the user lifecycle, and the mapping of storage outcomes
//! to domain errors. Works on typed domain values only; knows nothing of HTTP or SQL.

pub mod idempotency;
pub mod lifecycle;
mod users;

pub use users::{ServiceError, UserService};
