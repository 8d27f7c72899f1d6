use std::fmt;

use ulid::Ulid;

use super::rule::{NOT_BLANK, Violation, text_shape};

/// A user's identifier. The model allows 1–26 non-blank characters; ids this service issues are
/// ULIDs (26 characters, time-ordered), so any other well-formed value simply names no user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    pub fn generate() -> Self {
        Self(Ulid::generate().to_string())
    }

    pub fn parse(value: &str) -> Result<Self, Violation> {
        Self::TEXT.check(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_shape!(UserId, 1..=26, Some(&NOT_BLANK));

/// An idempotency token chosen by the client (the SDKs generate one when the caller does not).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientToken(String);

impl ClientToken {
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Self::TEXT.check(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_shape!(ClientToken, 1..=128, Some(&NOT_BLANK));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_26_char_ulids_that_parse() {
        let id = UserId::generate();
        assert_eq!(id.as_str().len(), 26);
        assert!(Ulid::from_string(id.as_str()).is_ok());
        assert_eq!(UserId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn user_id_bounds() {
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("   ").is_err());
        assert!(UserId::parse(&"a".repeat(27)).is_err());
        assert!(UserId::parse(&"a".repeat(26)).is_ok());
    }

    #[test]
    fn client_token_bounds() {
        assert!(ClientToken::parse("").is_err());
        assert!(ClientToken::parse(" ").is_err());
        assert!(ClientToken::parse(&"t".repeat(128)).is_ok());
        assert!(ClientToken::parse(&"t".repeat(129)).is_err());
    }
}
