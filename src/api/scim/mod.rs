//! SCIM 2.0 (RFC 7643, RFC 7644), the provisioning protocol identity providers speak. Built up in
//! steps; so far: the error shape and filters (parsed, bounded, answered from an index where an
//! equality allows, evaluated otherwise). Not yet routed.

pub mod error;
pub mod filter;

pub use error::ScimError;
