use super::rule::{NOT_BLANK, Pattern, Violation, anchored, redacted_debug, text_shape};

/// Declares a bounded, sensitive text member: its Debug output is redacted so that personal data
/// never reaches a log line through `{:?}`.
macro_rules! sensitive_text {
    ($(#[$doc:meta])* $name:ident, $min:literal ..= $max:literal, $pattern:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, Violation> {
                Self::TEXT.check(value)?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        redacted_debug!($name);
        text_shape!($name, $min..=$max, Some($pattern));
    };
}

sensitive_text!(
    /// A user's first name (1–50 characters, not blank).
    FirstName, 1..=50, &NOT_BLANK
);

sensitive_text!(
    /// A user's last name (1–50 characters, not blank).
    LastName, 1..=50, &NOT_BLANK
);

static ROLE_ARN: Pattern = Pattern::new(
    r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$",
    // `\d` is spelt [0-9]: the model means ASCII digits, the regex crate's `\d` is Unicode-wide.
    || anchored(r"arn:aws[a-z\-]*:iam::[0-9]{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"),
);

/// The IAM role allowed to obtain programmatic credentials for a user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleArn(String);

impl RoleArn {
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Self::TEXT.check(value)?;
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_shape!(RoleArn, 20..=2048, Some(&ROLE_ARN));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_not_blank() {
        assert!(FirstName::parse("Ada").is_ok());
        assert!(FirstName::parse("").is_err());
        assert!(FirstName::parse("  ").is_err());
        assert!(LastName::parse(&"x".repeat(50)).is_ok());
        assert!(LastName::parse(&"x".repeat(51)).is_err());
    }

    #[test]
    fn names_are_redacted_in_debug_output() {
        let name = FirstName::parse("Ada").unwrap();
        assert_eq!(format!("{name:?}"), "FirstName(<redacted>)");
    }

    #[test]
    fn role_arns_follow_the_model_pattern() {
        for ok in [
            "arn:aws:iam::123456789012:role/Analyst",
            "arn:aws-us-gov:iam::123456789012:role/path/to/Role_1+=,.@-",
        ] {
            assert!(RoleArn::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "arn:aws:iam::12345678901:role/short-account",
            "arn:aws:iam::123456789012:user/NotARole",
            "arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/UnicodeDigits",
            "xarn:aws:iam::123456789012:role/Prefix",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
        }
    }
}
