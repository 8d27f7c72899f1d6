//! Why a configuration cannot be used: every problem found, each naming the setting and where its
//! value came from.

use std::fmt;

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
