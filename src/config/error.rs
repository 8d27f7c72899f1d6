//! Why a configuration cannot be used: every problem found, each naming the setting and where its
//! value came from.

use std::fmt;

use config::ConfigError;

use super::layers::Layers;
use super::show::shown;

/// One line per problem (a TOML syntax error may take several).
#[derive(Debug)]
pub struct InvalidConfig {
    problems: Vec<String>,
}

impl InvalidConfig {
    pub(super) fn new(problems: Vec<String>) -> Self {
        Self { problems }
    }

    pub(super) fn one(problem: String) -> Self {
        Self::new(vec![problem])
    }

    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("\n"))
    }
}

impl std::error::Error for InvalidConfig {}

/// A deserialisation error as a problem naming the setting, its value and where the value came
/// from: `log.format = "xml" (from /etc/userdir.toml): expected one of pretty, json`.
pub(super) fn wrong_value(error: ConfigError, layers: &Layers) -> String {
    let from = |value| {
        layers
            .origin_of(value)
            .map(|origin| format!(" (from {origin})"))
            .unwrap_or_default()
    };
    let (key, what) = match error {
        ConfigError::Type {
            key: Some(key),
            expected,
            ..
        } => (dotted(&key), format!("expected {expected}")),
        ConfigError::At {
            error,
            key: Some(key),
            ..
        } => (dotted(&key), error.to_string()),
        ConfigError::NotFound(key) => {
            // The entry missing the key says where it came from.
            let key = dotted(&key);
            let entry = key.rsplit_once('.').map(|(entry, _)| entry);
            let from = entry.and_then(|entry| layers.lookup(entry)).map(from);
            return format!("missing setting {key}{}", from.unwrap_or_default());
        }
        error => return error.to_string(),
    };
    match layers.lookup(&key) {
        Some(value) => format!("{key} = {}{}: {what}", shown(&key, value), from(value)),
        None => format!("{key}: {what}"),
    }
}

/// The config crate writes a key within an array entry without its dot (`auth.principals[0]arn`).
fn dotted(key: &str) -> String {
    let mut dotted = String::with_capacity(key.len() + 1);
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        dotted.push(c);
        if c == ']' && chars.peek().is_some_and(|next| !matches!(next, '.' | '[')) {
            dotted.push('.');
        }
    }
    dotted
}
