//! Strictness: a layer may set only the keys `config/default.toml` declares. Each unknown one is
//! reported with where it came from and the closest known key, when one is close.

use std::collections::BTreeMap;

use config::{Map, Value, ValueKind};

use super::layers::{Layer, Layers};
use super::paths::{join, sorted};

/// Arrays of tables, which default to empty, and the keys of their entries.
const TABLE_ARRAYS: &[(&str, &[&str])] = &[("auth.principals", PRINCIPAL_KEYS)];

/// The fields of [`super::PrincipalSettings`].
pub(super) const PRINCIPAL_KEYS: &[&str] = &["arn", "access_key_id", "secret_access_key"];

/// How alike (Jaro-Winkler, 0 to 1) an unknown key and a known one must be for the known one to
/// be suggested: "prot" and "port" score 0.92, "foo" and "host" 0.53.
const CLOSE_ENOUGH: f64 = 0.8;

/// A problem for every key an override layer sets that no default declares.
pub fn unknown_settings(layers: &Layers) -> Vec<String> {
    let known = Known::table(layers.defaults(), "");
    let mut problems = Vec::new();
    for layer in layers.overrides() {
        let mut found = Vec::new();
        known.check(&Value::from(layer.values.clone()), "", &mut found);
        problems.extend(found.iter().map(|unknown| unknown.describe(&known, layer)));
    }
    problems
}

/// The known key tree.
enum Known {
    Table(BTreeMap<String, Known>),
    Value,
    /// An array of tables with these keys.
    TableArray(&'static [&'static str]),
}

/// An unknown key: `within` is the path of the table holding it, `key` the rest of its path.
struct Unknown {
    within: String,
    key: String,
    /// The keys that are allowed where it is (for an entry of a table array: that entry's keys).
    entry_keys: Option<&'static [&'static str]>,
}

impl Known {
    fn table(defaults: &Map<String, Value>, path: &str) -> Self {
        let children = defaults
            .iter()
            .map(|(key, value)| {
                let path = join(path, key);
                let known = match &value.kind {
                    ValueKind::Table(table) => Self::table(table, &path),
                    ValueKind::Array(_) => TABLE_ARRAYS
                        .iter()
                        .find(|(array, _)| *array == path)
                        .map_or(Self::Value, |(_, keys)| Self::TableArray(keys)),
                    _ => Self::Value,
                };
                (key.clone(), known)
            })
            .collect();
        Self::Table(children)
    }

    /// Collects the unknown keys of `value`, found at `path`. A value of the wrong shape (a number
    /// where a table belongs) is left for deserialisation to report.
    fn check(&self, value: &Value, path: &str, found: &mut Vec<Unknown>) {
        match (self, &value.kind) {
            (Self::Table(children), ValueKind::Table(table)) => {
                for (key, value) in sorted(table) {
                    match children.get(key) {
                        Some(known) => known.check(value, &join(path, key), found),
                        None => {
                            for key in leaves(key, value) {
                                found.push(Unknown {
                                    within: path.to_owned(),
                                    key,
                                    entry_keys: None,
                                });
                            }
                        }
                    }
                }
            }
            (Self::TableArray(keys), ValueKind::Array(entries)) => {
                for (index, entry) in entries.iter().enumerate() {
                    let ValueKind::Table(table) = &entry.kind else {
                        continue;
                    };
                    for (key, _) in sorted(table) {
                        if !keys.contains(&key.as_str()) {
                            found.push(Unknown {
                                within: format!("{path}[{index}]"),
                                key: key.clone(),
                                entry_keys: Some(keys),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn get(&self, path: &str) -> Option<&Self> {
        path.split('.')
            .filter(|segment| !segment.is_empty())
            .try_fold(self, |known, segment| match known {
                Self::Table(children) => children.get(segment),
                _ => None,
            })
    }

    /// Every path under this table, tables included, relative to it.
    fn paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        if let Self::Table(children) = self {
            for (key, known) in children {
                paths.push(key.clone());
                paths.extend(known.paths().iter().map(|path| join(key, path)));
            }
        }
        paths
    }
}

impl Unknown {
    fn describe(&self, root: &Known, layer: &Layer) -> String {
        let path = join(&self.within, &self.key);
        let mut problem = format!("unknown setting {path} (from {})", layer.origin);
        let suggestions = self.suggestions(root);
        if !suggestions.is_empty() {
            problem += &format!(" — did you mean {}?", suggestions.join(" or "));
        } else if let Some(keys) = self.entry_keys {
            let array = self.within.rsplit_once('[').map_or("", |(array, _)| array);
            problem += &format!(" — {array} entries have {}", keys.join(", "));
        } else if let Some(Known::Table(children)) = root.get(&self.within) {
            let keys: Vec<&str> = children.keys().map(String::as_str).collect();
            match self.within.as_str() {
                "" => problem += &format!(" — the sections are {}", keys.join(", ")),
                within => problem += &format!(" — {within} has {}", keys.join(", ")),
            }
        }
        problem
    }

    /// The closest key allowed where this one is, if it is close enough; else, when the last
    /// segment is the name of a setting elsewhere (`port` at the top), those settings.
    fn suggestions(&self, root: &Known) -> Vec<String> {
        let candidates = match self.entry_keys {
            Some(keys) => keys.iter().map(|key| key.to_string()).collect(),
            None => root.get(&self.within).map(Known::paths).unwrap_or_default(),
        };
        let closest = candidates
            .iter()
            .map(|candidate| (strsim::jaro_winkler(&self.key, candidate), candidate))
            .filter(|(score, _)| *score >= CLOSE_ENOUGH)
            .max_by(|(a, _), (b, _)| a.total_cmp(b));
        if let Some((_, closest)) = closest {
            return vec![join(&self.within, closest)];
        }
        let name = self.key.rsplit('.').next().unwrap_or_default();
        root.paths()
            .into_iter()
            .filter(|path| {
                path.rsplit('.').next() == Some(name)
                    && matches!(root.get(path), Some(Known::Value))
            })
            .collect()
    }
}

/// The paths of the values in `value`, found at `key`: the key itself, or, for a table that is not
/// empty, the keys of the values within.
fn leaves(key: &str, value: &Value) -> Vec<String> {
    match &value.kind {
        ValueKind::Table(table) if !table.is_empty() => sorted(table)
            .flat_map(|(child, value)| leaves(&join(key, child), value))
            .collect(),
        _ => vec![key.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::testing::problems;
    use crate::config::{PrincipalSettings, Settings};

    #[test]
    fn an_unknown_key_is_named_with_the_closest_known_one() {
        assert_eq!(
            problems("[server]\nprot = 9000\n", &[]),
            ["unknown setting server.prot (from F) — did you mean server.port?"]
        );
    }

    #[test]
    fn an_unknown_section_is_named_key_by_key() {
        assert_eq!(
            problems("[servr]\nport = 9000\nhost = \"::\"\n[nothing]\n", &[]),
            [
                "unknown setting nothing (from F) — the sections are audit, auth, database, idempotency, \
                 lifecycle, limits, log, metrics, scim, server, sign_in, throttle",
                "unknown setting servr.host (from F) — did you mean server.host?",
                "unknown setting servr.port (from F) — did you mean server.port?",
            ]
        );
    }

    #[test]
    fn a_key_far_from_any_known_one_lists_its_section() {
        let found = problems("[log]\nlevel = \"debug\"\n", &[]);
        assert_eq!(
            found,
            ["unknown setting log.level (from F) — log has filter, format"]
        );
    }

    #[test]
    fn a_key_in_the_wrong_section_names_where_it_belongs() {
        assert_eq!(
            problems("port = 9000\n[server]\npath = \"x.db\"\n", &[]),
            [
                "unknown setting port (from F) — did you mean server.port?",
                "unknown setting server.path (from F) — did you mean database.path?",
            ]
        );
    }

    #[test]
    fn an_unknown_key_in_a_principal_is_named() {
        let file = "[[auth.principals]]\narn = \"arn:aws:iam::1:role/A\"\naccess_key_id = \"AKIA1\"\n\
                    secret_access_key = \"s\"\n\n[[auth.principals]]\narn = \"arn:aws:iam::1:role/B\"\n\
                    acces_key_id = \"AKIA2\"\nsecret_access_key = \"s\"\n";
        let found = problems(file, &[]);
        assert_eq!(
            found[0],
            "unknown setting auth.principals[1].acces_key_id (from F) — did you mean \
             auth.principals[1].access_key_id?"
        );
    }

    #[test]
    fn an_unknown_key_in_a_principal_far_from_any_lists_the_keys() {
        let file = "[[auth.principals]]\narn = \"a\"\naccess_key_id = \"k\"\n\
                    secret_access_key = \"s\"\nrole = \"r\"\n";
        assert_eq!(
            problems(file, &[]),
            [
                "unknown setting auth.principals[0].role (from F) — auth.principals entries have \
                 arn, access_key_id, secret_access_key"
            ]
        );
    }

    #[test]
    fn an_unknown_environment_variable_is_named() {
        assert_eq!(
            problems(
                "",
                &[
                    ("USERDIR__SERVR__PORT", "9000"),
                    ("USERDIR__SERVER__PORT", "9000"),
                    ("USERDIR_CONFIG", "elsewhere.toml"),
                    ("USERDIRECTORY", "x"),
                ]
            ),
            [
                "unknown setting servr.port (from environment variable USERDIR__SERVR__PORT) — \
                 did you mean server.port?"
            ]
        );
    }

    #[test]
    fn every_unknown_setting_is_reported_at_once() {
        let found = problems(
            "[server]\nprot = 1\nworkrs = 2\n",
            &[("USERDIR__LOG__FROMAT", "json")],
        );
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[2].contains("log.fromat"), "{found:?}");
    }

    #[test]
    fn the_principal_keys_are_the_fields_of_a_principal() {
        let entry = |keys: &[&str]| {
            let table: Map<String, Value> = keys
                .iter()
                .map(|key| (key.to_string(), Value::from("x")))
                .collect();
            Value::from(table).try_deserialize::<PrincipalSettings>()
        };
        entry(PRINCIPAL_KEYS).expect("these keys make a principal");
        for missing in PRINCIPAL_KEYS {
            let keys: Vec<&str> = PRINCIPAL_KEYS
                .iter()
                .copied()
                .filter(|key| key != missing)
                .collect();
            assert!(entry(&keys).is_err(), "{missing} is a field");
        }
    }

    #[test]
    fn defaults_and_known_keys_pass() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("userdir.toml");
        std::fs::write(
            &path,
            "[server]\nport = 1\n[[auth.principals]]\narn = \"a\"\naccess_key_id = \"k\"\n\
             secret_access_key = \"s\"\n",
        )
        .unwrap();
        let env = [("USERDIR__LOG__FILTER".to_owned(), "debug".to_owned())];
        Settings::load_from(Some(Path::new(&path)), env).expect("all keys are known");
    }
}
