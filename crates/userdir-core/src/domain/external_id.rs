//! A SCIM client's own identifier for a resource (RFC 7643 §3.1 `externalId`): kept exactly as
//! sent (it is case-exact) and findable by equality. The RFC sets no length; identity providers
//! send object ids and user principal names, so 1 024 bytes of UTF-8 is ample, and keeps every
//! value within what an index entry may hold (PostgreSQL's btree takes at most 2 704 bytes).

use super::rule::Violation;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    pub const MAX_BYTES: usize = 1024;

    pub fn parse(value: &str) -> Result<Self, Violation> {
        if !(1..=Self::MAX_BYTES).contains(&value.len()) {
            return Err(Violation::new(format!(
                "externalId must be 1 to {} bytes of UTF-8",
                Self::MAX_BYTES
            )));
        }
        if value.chars().any(char::is_control) {
            return Err(Violation::new(
                "externalId must not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_control_characters_are_refused() {
        assert!(ExternalId::parse("").is_err());
        assert!(ExternalId::parse(&"x".repeat(1025)).is_err());
        assert!(ExternalId::parse("a\nb").is_err());
        assert_eq!(
            ExternalId::parse("00u1abc/Ünï").unwrap().as_str(),
            "00u1abc/Ünï"
        );
        assert!(ExternalId::parse(&"é".repeat(512)).is_ok());
        assert!(
            ExternalId::parse(&"é".repeat(513)).is_err(),
            "bytes, not characters"
        );
        assert!(ExternalId::parse(&"x".repeat(1024)).is_ok());
    }
}
