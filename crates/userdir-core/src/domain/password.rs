use super::rule::{NOT_BLANK, TextRule, Violation, redacted_debug, text_shape};

/// A password as it crosses the wire. Never printed: Debug is redacted and there is no Display.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// What sign-in accepts as a password offered (extension).
    pub const OFFERED: TextRule = TextRule {
        min: 1,
        max: 256,
        pattern: None,
    };

    /// The length and pattern of a password a user chooses (extension); `parse_chosen` also asks
    /// for a mix of character classes.
    pub const CHOSEN: TextRule = TextRule {
        min: 12,
        max: 128,
        pattern: Some(&NOT_BLANK),
    };

    /// The model's `Password` shape (temporary passwords): 8–20 characters, not blank.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Self::TEXT.check(value)?;
        Ok(Self(value.to_owned()))
    }

    /// A password offered at sign-in: only bounded, so that any stored password can be tried and
    /// hashing cost stays bounded.
    pub fn parse_offered(value: &str) -> Result<Self, Violation> {
        Self::OFFERED.check(value)?;
        Ok(Self(value.to_owned()))
    }

    /// A password a user chooses (sign-in extension policy): 12–128 characters with at least three
    /// of lower case, upper case, digits and other characters.
    pub fn parse_chosen(value: &str) -> Result<Self, Violation> {
        Self::CHOSEN.check(value)?;
        let classes = [
            value.chars().any(|c| c.is_lowercase()),
            value.chars().any(|c| c.is_uppercase()),
            value.chars().any(|c| c.is_ascii_digit()),
            value.chars().any(|c| !c.is_alphanumeric()),
        ];
        if classes.iter().filter(|&&present| present).count() < 3 {
            return Err(Violation::new(
                "Member must mix at least three of: lower case, upper case, digits, other characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// Wraps a password this service generated.
    pub(crate) fn generated(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

redacted_debug!(Password);
text_shape!(Password, 8..=20, Some(&NOT_BLANK));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_passwords_follow_the_policy() {
        assert!(Password::parse_chosen("Correct-Horse-9").is_ok());
        assert!(Password::parse_chosen("short-A1").is_err(), "too short");
        assert!(
            Password::parse_chosen("alllowercaseletters").is_err(),
            "one class"
        );
        assert!(
            Password::parse_chosen("lowercase-and-symbols").is_err(),
            "two classes"
        );
        assert!(
            Password::parse_chosen("lowercase-and-digits-1").is_ok(),
            "three classes"
        );
    }

    #[test]
    fn passwords_never_print() {
        let p = Password::parse("Secret-123").unwrap();
        assert!(!format!("{p:?}").contains("Secret"));
    }
}
