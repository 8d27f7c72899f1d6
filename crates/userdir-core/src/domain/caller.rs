use std::fmt;

use super::{RoleArn, ScimTokenName, UserId};

/// Who is calling, as established by authentication.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// The root credentials: may do everything.
    Root,
    /// No authentication (the explicitly configured anonymous mode): treated as root.
    Anonymous,
    /// A principal key: may only obtain programmatic credentials for its user.
    Principal(RoleArn),
    /// Temporary credentials from GetProgrammaticAccessCredentials, acting as this user.
    User(UserId),
    /// A SCIM client (an identity provider) with a live token of this name: manages users and
    /// groups, as root does, through the SCIM endpoint only.
    Scim(ScimTokenName),
}

impl fmt::Display for Caller {
    /// The form written to the audit trail and logs; never a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Root => f.write_str("root"),
            Caller::Anonymous => f.write_str("anonymous"),
            Caller::Principal(arn) => write!(f, "principal:{}", arn.as_str()),
            Caller::User(id) => write!(f, "user:{id}"),
            Caller::Scim(name) => write!(f, "scim:{}", name.as_str()),
        }
    }
}

/// One API call: who made it, and the request id it is traced and audited under.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub caller: Caller,
    pub request_id: String,
}
