//! A SCIM client's own identifier for a resource (RFC 7643 §3.1 `externalId`): kept exactly as
//! sent (it is case-exact) and findable by equality. The RFC sets no length; identity providers
//! send object ids and user principal names, so 1 024 characters is ample and bounds the index.

use super::rule::Violation;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(value: &str) -> Result<Self, Violation> {
        let length = value.chars().count();
        if !(1..=Self::MAX_CHARS).contains(&length) {
            return Err(Violation::new(format!(
                "externalId must have 1 to {} characters",
                Self::MAX_CHARS
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
        assert!(ExternalId::parse(&"é".repeat(1024)).is_ok());
    }
}
