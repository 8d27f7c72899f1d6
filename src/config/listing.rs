//! `userdir config`: every effective setting, one a line, with where its value came from.

use config::{Value, ValueKind};

use super::layers::{Layers, Origin};
use super::paths::{join, sorted};
use super::show::shown;

/// `section.key = value  # source`, in key order; each entry of an array of tables (principals)
/// key by key, as `auth.principals[0].arn`.
pub fn lines(layers: &Layers) -> Vec<String> {
    let mut lines = Vec::new();
    walk(layers, layers.merged(), "", &mut lines);
    lines
}

fn walk(layers: &Layers, value: &Value, path: &str, lines: &mut Vec<String>) {
    match &value.kind {
        ValueKind::Table(table) => {
            for (key, value) in sorted(table) {
                walk(layers, value, &join(path, key), lines);
            }
        }
        ValueKind::Array(entries)
            if !entries.is_empty()
                && entries
                    .iter()
                    .all(|entry| matches!(entry.kind, ValueKind::Table(_))) =>
        {
            for (index, entry) in entries.iter().enumerate() {
                walk(layers, entry, &format!("{path}[{index}]"), lines);
            }
        }
        _ => {
            let source = layers
                .origin_of(value)
                .map_or_else(|| "unknown".into(), Origin::label);
            lines.push(format!("{path} = {}  # {source}", shown(path, value)));
        }
    }
}
