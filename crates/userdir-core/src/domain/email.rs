use super::rule::{Pattern, Violation, anchored, redacted_debug, text_shape};

static EMAIL: Pattern = Pattern::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,4}", || {
    anchored(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,4}")
});

/// A user's email address as registered (case preserved). Uniqueness is case-insensitive; the store
/// enforces it, since it needs every other address to decide.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Self::TEXT.check(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_shape!(Email, 4..=320, Some(&EMAIL));

// Emails are sensitive in the model: keep them out of Debug output and therefore out of logs.
redacted_debug!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "a@b.co",
            "first.last+tag@example.com",
            "X_Y%z@sub.domain.info",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok} should be accepted");
        }
    }

    #[test]
    fn rejects_what_the_model_pattern_rejects() {
        for bad in [
            "plainaddress",
            "a@b",
            "a@b.c",
            "a@b.toolong",
            "with space@example.com",
            " lead@example.com",
            "a@example.com\n",
            "é@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn enforces_length_bounds() {
        assert!(Email::parse("a@b").is_err());
        let long = format!("{}@example.com", "a".repeat(320));
        let err = Email::parse(&long).unwrap_err();
        assert_eq!(
            err.rule(),
            "Member must have length less than or equal to 320"
        );
    }

    #[test]
    fn debug_output_hides_the_address() {
        let email = Email::parse("secret@example.com").unwrap();
        assert!(!format!("{email:?}").contains("secret"));
    }
}
