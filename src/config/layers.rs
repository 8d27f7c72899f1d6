//! The configuration layers, lowest precedence first: the built-in `config/default.toml`, the
//! `--config` file, then each `USERDIR__SECTION__KEY` environment variable. Each layer is collected
//! on its own and every value in it tagged with the layer it came from, so that the merged tree
//! still knows where each value came from.

use std::fmt;
use std::path::{Path, PathBuf};

use config::{Environment, File, FileFormat, Map, Source, Value, ValueKind};

use super::InvalidConfig;

const DEFAULTS: &str = include_str!("../../config/default.toml");

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    /// The environment variable's name, as it was spelled.
    Env(String),
}

impl Origin {
    /// The name `userdir config` gives it: `default`, `file PATH` or `env NAME`.
    pub fn label(&self) -> String {
        match self {
            Self::Default => "default".into(),
            Self::File(path) => format!("file {}", path.display()),
            Self::Env(name) => format!("env {name}"),
        }
    }
}

/// As error messages name it: "… (from {origin})".
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("built-in defaults"),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// The values one origin sets, as a tree of tables.
#[derive(Debug, Clone)]
pub struct Layer {
    pub origin: Origin,
    pub values: Map<String, Value>,
}

impl Source for Layer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Ok(self.values.clone())
    }
}

/// Every layer, and the tree they merge into (merged as the config crate merges sources: tables
/// deeply, anything else replaced).
#[derive(Debug)]
pub struct Layers {
    layers: Vec<Layer>,
    merged: Value,
}

impl Layers {
    /// Collects the layers; `env` is the process environment (tests pass their own).
    pub fn collect(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, InvalidConfig> {
        let mut layers = Vec::new();
        let defaults = File::from_str(DEFAULTS, FileFormat::Toml)
            .collect()
            .map_err(|error| InvalidConfig::one(format!("config/default.toml: {error}")))?;
        push(&mut layers, Origin::Default, defaults);
        if let Some(path) = file {
            let values = read_file(path)?;
            push(&mut layers, Origin::File(path.to_owned()), values);
        }
        // Sorted, so that two spellings of one variable (USERDIR__X, userdir__x) resolve the same
        // way every time.
        let mut env: Vec<_> = env.into_iter().collect();
        env.sort();
        for (name, value) in env {
            if let Some((key, value)) = env_setting(&name, &value)? {
                if key.split('.').any(str::is_empty) {
                    return Err(InvalidConfig::one(format!(
                        "environment variable {name} names no setting: a part between __ \
                         separators is empty"
                    )));
                }
                push(&mut layers, Origin::Env(name), nest(&key, value));
            }
        }
        let merged = layers
            .collect()
            .map_err(|error| InvalidConfig::one(error.to_string()))?;
        Ok(Self {
            layers,
            merged: Value::from(merged),
        })
    }

    /// The built-in defaults, whose key tree is the set of known settings.
    pub fn defaults(&self) -> &Map<String, Value> {
        &self.layers[0].values
    }

    /// The `--config` file and environment variables, in order.
    pub fn overrides(&self) -> &[Layer] {
        &self.layers[1..]
    }

    /// The effective configuration.
    pub fn merged(&self) -> &Value {
        &self.merged
    }

    /// The layer a value of [`Self::merged`] came from. Tables that several layers contribute to
    /// have none.
    pub fn origin_of(&self, value: &Value) -> Option<&Origin> {
        let index: usize = value.origin()?.parse().ok()?;
        Some(&self.layers.get(index)?.origin)
    }

    /// The merged value at `key`, a path as the config crate writes one (`auth.principals[0].arn`).
    pub fn lookup(&self, key: &str) -> Option<&Value> {
        let mut value = &self.merged;
        for segment in key.split('.') {
            let mut parts = segment.split('[');
            let name = parts.next().unwrap_or_default();
            if !name.is_empty() {
                value = match &value.kind {
                    ValueKind::Table(table) => table.get(name)?,
                    _ => return None,
                };
            }
            for index in parts {
                let index: usize = index.strip_suffix(']')?.parse().ok()?;
                value = match &value.kind {
                    ValueKind::Array(items) => items.get(index)?,
                    _ => return None,
                };
            }
        }
        Some(value)
    }
}

/// Whether the config crate reads the environment variable `name` as a setting: `USERDIR__…` in any
/// case, but not `USERDIR_CONFIG`.
pub fn is_setting(name: &str) -> bool {
    matches!(env_setting(name, ""), Ok(Some(_)))
}

fn push(layers: &mut Vec<Layer>, origin: Origin, values: Map<String, Value>) {
    let tag = layers.len().to_string();
    let values = values
        .into_iter()
        .map(|(key, value)| (key, tagged(value, &tag)))
        .collect();
    layers.push(Layer { origin, values });
}

fn tagged(value: Value, tag: &String) -> Value {
    let kind = match value.kind {
        ValueKind::Table(table) => ValueKind::Table(
            table
                .into_iter()
                .map(|(key, value)| (key, tagged(value, tag)))
                .collect(),
        ),
        ValueKind::Array(items) => {
            ValueKind::Array(items.into_iter().map(|item| tagged(item, tag)).collect())
        }
        kind => kind,
    };
    Value::new(Some(tag), kind)
}

/// The file exactly as named (whatever its extension), read as TOML.
fn read_file(path: &Path) -> Result<Map<String, Value>, InvalidConfig> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        InvalidConfig::one(format!(
            "cannot read configuration file {}: {error}",
            path.display()
        ))
    })?;
    File::from_str(&text, FileFormat::Toml)
        .collect()
        .map_err(|error| InvalidConfig::one(format!("{}: {error}", path.display())))
}

/// The setting one environment variable makes, as the config crate reads it (prefix and separators
/// stripped, lowercased, numbers and booleans parsed): a dotted key and its value.
fn env_setting(name: &str, value: &str) -> Result<Option<(String, Value)>, InvalidConfig> {
    let single = Map::from([(name.to_owned(), value.to_owned())]);
    let collected = Environment::with_prefix("USERDIR")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .source(Some(single))
        .collect()
        .map_err(|error| InvalidConfig::one(format!("environment variable {name}: {error}")))?;
    Ok(collected.into_iter().next())
}

/// `a.b.c = v` as nested tables `{a: {b: {c: v}}}`, the shape a file's values have.
fn nest(key: &str, value: Value) -> Map<String, Value> {
    let mut segments = key.rsplit('.');
    let last = segments.next().unwrap_or_default();
    let mut table = Map::from([(last.to_owned(), value)]);
    for segment in segments {
        table = Map::from([(segment.to_owned(), Value::from(table))]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn only_double_underscore_variables_are_settings() {
        assert!(is_setting("USERDIR__SERVER__PORT"));
        assert!(is_setting("userdir__server__port"));
        assert!(is_setting("USERDIR__SERVR__PORT"), "unknown, but a setting");
        assert!(!is_setting("USERDIR_CONFIG"));
        assert!(!is_setting("USERDIRX"));
        assert!(!is_setting("PATH"));
    }

    #[test]
    fn each_value_remembers_its_layer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("local.conf");
        std::fs::write(&file, "[server]\nport = 9000\n").unwrap();
        let layers = Layers::collect(
            Some(&file),
            env(&[("USERDIR__LOG__FORMAT", "json"), ("HOME", "/root")]),
        )
        .expect("layers collect");
        let origin = |key| layers.origin_of(layers.lookup(key).expect(key)).cloned();
        assert_eq!(origin("server.host"), Some(Origin::Default));
        assert_eq!(origin("server.port"), Some(Origin::File(file.clone())));
        assert_eq!(
            origin("log.format"),
            Some(Origin::Env("USERDIR__LOG__FORMAT".into()))
        );
        assert_eq!(layers.overrides().len(), 2, "the file and one variable");
    }

    #[test]
    fn a_variable_with_an_empty_part_is_refused() {
        for name in ["USERDIR__SERVER____PORT", "USERDIR__", "USERDIR__SERVER__"] {
            let error = Layers::collect(None, env(&[(name, "1")])).expect_err(name);
            assert_eq!(
                error.to_string(),
                format!(
                    "environment variable {name} names no setting: a part between __ separators \
                     is empty"
                )
            );
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let error = Layers::collect(Some(Path::new("/nonexistent/userdir.toml")), env(&[]))
            .expect_err("a missing file is an error");
        assert!(
            error
                .to_string()
                .starts_with("cannot read configuration file /nonexistent/userdir.toml: "),
            "{error}"
        );
    }
}
