use std::sync::LazyLock;

use regex::Regex;
use validator::{ValidateLength, ValidateRegex};

/// A broken constraint of the service model, worded the way AWS words it ("Member must ...") so that
/// clients see familiar messages. It names the rule, never the offending value: many members are
/// sensitive (emails, names) and must not be echoed into logs or responses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Violation(String);

impl Violation {
    pub fn new(rule: impl Into<String>) -> Self {
        Self(rule.into())
    }

    pub fn rule(&self) -> &str {
        &self.0
    }
}

/// A model `@pattern`. AWS matches patterns against the whole value, so the compiled form is
/// anchored; `source` is the model's text, quoted back in messages and published in the API
/// description.
pub struct Pattern {
    source: &'static str,
    matcher: Matcher,
}

enum Matcher {
    Regex(LazyLock<Regex>),
    /// A pattern simple enough to be checked directly, on every value read as well as written.
    Direct(fn(&str) -> bool),
}

impl Pattern {
    pub(crate) const fn new(source: &'static str, regex: fn() -> Regex) -> Self {
        Self {
            source,
            matcher: Matcher::Regex(LazyLock::new(regex)),
        }
    }

    const fn direct(source: &'static str, matches: fn(&str) -> bool) -> Self {
        Self {
            source,
            matcher: Matcher::Direct(matches),
        }
    }

    /// The model's text of the pattern.
    pub fn source(&self) -> &'static str {
        self.source
    }

    fn matches(&self, value: &str) -> bool {
        match &self.matcher {
            Matcher::Regex(regex) => value.validate_regex(&**regex),
            Matcher::Direct(matches) => matches(value),
        }
    }
}

/// Compiles an anchored regular expression written in this crate; a typo is a bug caught by the
/// unit tests of every pattern, not a runtime condition.
pub(crate) fn anchored(body: &str) -> Regex {
    #[allow(clippy::expect_used)]
    Regex::new(&format!(r"\A(?:{body})\z")).expect("pattern in source compiles")
}

/// `.*\S.*` — the model's "not blank" pattern, shared by most string members: one line (`.` does
/// not match a line feed) holding a character that is not white space (Unicode's White_Space,
/// which is both `\s` and `char::is_whitespace`).
pub(crate) static NOT_BLANK: Pattern = Pattern::direct(r".*\S.*", |value| {
    !value.contains('\n') && value.chars().any(|c| !c.is_whitespace())
});

/// A string member's constraints in the service model: its length (in Unicode scalar values, as
/// the model counts) and pattern.
#[derive(Clone, Copy)]
pub struct TextRule {
    pub min: u64,
    pub max: u64,
    pub pattern: Option<&'static Pattern>,
}

impl TextRule {
    pub fn check(&self, value: &str) -> Result<(), Violation> {
        let Self { min, max, pattern } = *self;
        if !value.validate_length(Some(min), None, None) {
            return Err(Violation::new(format!(
                "Member must have length greater than or equal to {min}"
            )));
        }
        if !value.validate_length(None, Some(max), None) {
            return Err(Violation::new(format!(
                "Member must have length less than or equal to {max}"
            )));
        }
        if let Some(pattern) = pattern
            && !pattern.matches(value)
        {
            return Err(Violation::new(format!(
                "Member must satisfy regular expression pattern: {}",
                pattern.source
            )));
        }
        Ok(())
    }
}

/// An integer member's bounds in the service model.
#[derive(Clone, Copy)]
pub struct IntegerRule {
    pub min: i64,
    pub max: i64,
}

impl IntegerRule {
    /// Parses the query-string form of an integer member and checks its bounds.
    pub fn parse(&self, value: &str) -> Result<i64, Violation> {
        let number: i64 = value
            .parse()
            .map_err(|_| Violation::new("Member must be an integer"))?;
        if number < self.min {
            return Err(Violation::new(format!(
                "Member must have value greater than or equal to {}",
                self.min
            )));
        }
        if number > self.max {
            return Err(Violation::new(format!(
                "Member must have value less than or equal to {}",
                self.max
            )));
        }
        Ok(number)
    }
}

/// A member's constraints as data: `parse` checks them and the API description publishes them, so
/// the two cannot disagree.
#[derive(Clone, Copy)]
pub enum Rule {
    Text(TextRule),
    OneOf(&'static [&'static str]),
    Integer(IntegerRule),
}

/// A value type of the service model: the shape it stands for and the constraints its `parse`
/// enforces.
pub trait Modelled {
    /// The model's name for the shape (e.g. `Email`).
    const SHAPE: &'static str;
    const RULE: Rule;
}

/// Gives a string type of the model its rule (`Type::TEXT`, checked by its `parse`) and names the
/// shape after the type.
macro_rules! text_shape {
    ($name:ident, $min:literal ..= $max:literal, $pattern:expr) => {
        impl $name {
            const TEXT: $crate::domain::rule::TextRule = $crate::domain::rule::TextRule {
                min: $min,
                max: $max,
                pattern: $pattern,
            };
        }

        impl $crate::domain::rule::Modelled for $name {
            const SHAPE: &'static str = stringify!($name);
            const RULE: $crate::domain::rule::Rule = $crate::domain::rule::Rule::Text(Self::TEXT);
        }
    };
}

pub(crate) use text_shape;

/// Debug output that names the type and never its value, so that personal data and secrets cannot
/// reach a log line through `{:?}`.
macro_rules! redacted_debug {
    ($($name:ident),+ $(,)?) => {$(
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    )+};
}

pub(crate) use redacted_debug;

#[cfg(test)]
mod tests {
    use super::*;

    fn text(min: u64, max: u64, pattern: Option<&'static Pattern>) -> TextRule {
        TextRule { min, max, pattern }
    }

    #[test]
    fn not_blank_needs_a_visible_character_on_one_line() {
        for (value, ok) in [
            ("a", true),
            (" a ", true),
            ("", false),
            ("   ", false),
            ("\t", false),
            ("a\nb", false),
        ] {
            assert_eq!(
                text(0, 10, Some(&NOT_BLANK)).check(value).is_ok(),
                ok,
                "value {value:?}"
            );
        }
    }

    #[test]
    fn not_blank_agrees_with_the_models_regular_expression() {
        let regex = anchored(r".*\S.*");
        let pieces = [
            "", " ", "a", "\n", "\r", "\t", "\u{a0}", "\u{2028}", "é", "\u{3000}", "\0",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let value = format!("{a}{b}{c}");
                    assert_eq!(
                        NOT_BLANK.matches(&value),
                        regex.is_match(&value),
                        "{value:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(text(2, 2, None).check("éé").is_ok());
        assert_eq!(
            text(1, 2, None).check("abc").unwrap_err().rule(),
            "Member must have length less than or equal to 2"
        );
        assert_eq!(
            text(1, 2, None).check("").unwrap_err().rule(),
            "Member must have length greater than or equal to 1"
        );
    }
}
