//! Dotted key paths (`server.port`) and tables walked in key order.

use config::{Map, Value};

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The entries of `table` ordered by key (the config crate's tables are unordered).
pub fn sorted(table: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| *key);
    entries.into_iter()
}
