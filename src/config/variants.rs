//! Enum settings (`log.format`, `auth.mode`) read through serde's own string deserializer, so that
//! a value that is not one of them is reported with those accepted ("expected one of pretty, json")
//! rather than as the config crate reports it ("enum LogFormat does not have variant constructor
//! xml"). Use as `#[serde(deserialize_with = "variants::one_of")]`.

use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer};

pub fn one_of<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let text = String::deserialize(deserializer)?;
    T::deserialize(StrDeserializer::<Expected>::new(&text))
        .map_err(|Expected(message)| D::Error::custom(message))
}

/// What serde says is wrong, with an unknown variant said as the variants expected.
#[derive(Debug)]
struct Expected(String);

impl Error for Expected {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }

    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        Self(format!("expected one of {}", expected.join(", ")))
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Expected {}
