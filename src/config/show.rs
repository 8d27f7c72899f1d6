//! Values as messages and `userdir config` show them: strings quoted, secrets masked.

use config::{Value, ValueKind};

const MASK: &str = "\"********\"";

/// `value`, the value of the setting `key`: a secret (`…secret_access_key`) that is set shows as
/// `"********"`, an unset one as `""`.
pub fn shown(key: &str, value: &Value) -> String {
    let is_secret = key
        .rsplit('.')
        .next()
        .is_some_and(|name| name.ends_with("secret_access_key"));
    match &value.kind {
        // A URL's password is masked; the rest says where the database is.
        ValueKind::String(url) if key == "database.url" => {
            format!("{:?}", userdir_store_postgres::redacted(url))
        }
        ValueKind::String(text) if is_secret && text.is_empty() => "\"\"".into(),
        _ if is_secret => MASK.into(),
        _ => plain(value),
    }
}

fn plain(value: &Value) -> String {
    match &value.kind {
        ValueKind::String(text) => format!("{text:?}"),
        ValueKind::Array(items) => {
            let items: Vec<String> = items.iter().map(plain).collect();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Table(table) => {
            let mut entries: Vec<String> = table
                .iter()
                .map(|(key, value)| format!("{key} = {}", shown(key, value)))
                .collect();
            entries.sort();
            format!("{{ {} }}", entries.join(", "))
        }
        kind => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_when_set() {
        let text = |text: &str| Value::from(text);
        assert_eq!(shown("auth.root_secret_access_key", &text("s3cr3t")), MASK);
        assert_eq!(shown("auth.root_secret_access_key", &text("")), "\"\"");
        assert_eq!(
            shown("auth.principals[0].secret_access_key", &text("s")),
            MASK
        );
        assert_eq!(shown("auth.root_access_key_id", &text("AKID")), "\"AKID\"");
        assert_eq!(shown("server.port", &Value::from(8765)), "8765");
    }

    #[test]
    fn secrets_within_a_table_are_masked() {
        let table = config::Map::from([
            ("arn".to_owned(), Value::from("a")),
            ("secret_access_key".to_owned(), Value::from("s")),
        ]);
        assert_eq!(
            shown("auth.principals[0]", &Value::from(table)),
            "{ arn = \"a\", secret_access_key = \"********\" }"
        );
    }
}
