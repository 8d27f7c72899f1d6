//! Queries on a resource type (RFC 7644 §3.4.2): `filter`, `startIndex` and `count` (1-based
//! pages), and `attributes` / `excludedAttributes`, from the query string or a `/.search` body.
//! Sorting is not offered (ServiceProviderConfig says so); `sortBy` and `sortOrder` are ignored,
//! as the RFC allows.

use scim_v2::filter::Filter;
use serde_json::{Map, Value, json};

use super::ScimError;
use super::filter;
use super::resource::member;

/// The largest page served, whatever `count` asks (ServiceProviderConfig's `filter.maxResults`).
pub const MAX_RESULTS: u32 = 1000;
/// A page's size when `count` is not given.
pub const DEFAULT_COUNT: u32 = 100;

pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// A query, parsed.
#[derive(Debug)]
pub struct Query {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: u64,
    pub count: u32,
    pub projection: Projection,
}

/// Which attributes a response carries.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    attributes: Vec<String>,
    excluded: Vec<String>,
}

impl Query {
    /// From a query string.
    pub fn from_query_string(query: &str) -> Result<Self, ScimError> {
        let mut parameters = Map::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if existing(&parameters, &name).is_some() {
                return Err(ScimError::invalid_parameter(format!(
                    "The query parameter {name} is given more than once"
                )));
            }
            parameters.insert(name.into_owned(), Value::String(value.into_owned()));
        }
        Self::from_parameters(&Value::Object(parameters), true)
    }

    /// From a `POST …/.search` body (RFC 7644 §3.4.3).
    pub fn from_search(body: &Value) -> Result<Self, ScimError> {
        let listed = member(body, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| {
                s.iter().any(|u| {
                    u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(SEARCH_REQUEST))
                })
            });
        if !listed {
            return Err(ScimError::invalid_syntax(format!(
                "A search request's schemas must list {SEARCH_REQUEST}"
            )));
        }
        Self::from_parameters(body, false)
    }

    fn from_parameters(parameters: &Value, as_text: bool) -> Result<Self, ScimError> {
        let get = |name: &str| member(parameters, name).filter(|v| !v.is_null());
        let filter = get("filter")
            .map(|f| {
                f.as_str()
                    .ok_or_else(|| ScimError::invalid_filter("filter must be a string"))
                    .and_then(filter::parse)
            })
            .transpose()?;
        let integer = |name: &str| -> Result<Option<i64>, ScimError> {
            let Some(value) = get(name) else {
                return Ok(None);
            };
            let parsed = match value {
                Value::String(text) if as_text => text.trim().parse::<i64>().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            };
            parsed
                .map(Some)
                .ok_or_else(|| ScimError::invalid_parameter(format!("{name} must be an integer")))
        };
        // Below 1 is taken as 1, and a negative count as 0 (RFC 7644 §3.4.2.4).
        let start_index = integer("startIndex")?.unwrap_or(1).max(1) as u64;
        let count = integer("count")?
            .unwrap_or(i64::from(DEFAULT_COUNT))
            .clamp(0, i64::from(MAX_RESULTS)) as u32;
        let names = |name: &str| -> Result<Vec<String>, ScimError> {
            match get(name) {
                None => Ok(Vec::new()),
                Some(Value::String(list)) => Ok(split(list)),
                Some(Value::Array(items)) if !as_text => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_owned).ok_or_else(|| {
                            ScimError::invalid_parameter(format!("{name} must list strings"))
                        })
                    })
                    .collect(),
                Some(_) => Err(ScimError::invalid_parameter(format!(
                    "{name} must be a comma-separated list of attributes"
                ))),
            }
        };
        Ok(Self {
            filter,
            start_index,
            count,
            projection: Projection::new(names("attributes")?, names("excludedAttributes")?)?,
        })
    }
}

fn existing<'a>(parameters: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    parameters
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Projection {
    pub fn new(attributes: Vec<String>, excluded: Vec<String>) -> Result<Self, ScimError> {
        if !attributes.is_empty() && !excluded.is_empty() {
            return Err(ScimError::invalid_parameter(
                "attributes and excludedAttributes cannot both be given",
            ));
        }
        Ok(Self {
            attributes,
            excluded,
        })
    }

    /// From a single-resource request's query string (only the two projection parameters).
    pub fn from_query_string(query: &str) -> Result<Self, ScimError> {
        let mut attributes = Vec::new();
        let mut excluded = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if name.eq_ignore_ascii_case("attributes") {
                attributes.extend(split(&value));
            } else if name.eq_ignore_ascii_case("excludedAttributes") {
                excluded.extend(split(&value));
            }
        }
        Self::new(attributes, excluded)
    }

    /// The resource with only the attributes asked for (`id` and `schemas` always stay).
    /// A name is `attr`, `attr.sub`, or either prefixed by a schema URN.
    pub fn apply(&self, resource: Value, schemas: &[&str]) -> Value {
        if self.attributes.is_empty() && self.excluded.is_empty() {
            return resource;
        }
        let Value::Object(full) = resource else {
            return resource;
        };
        if !self.attributes.is_empty() {
            let mut kept = Map::new();
            for always in ["schemas", "id"] {
                if let Some(v) = full.get(always) {
                    kept.insert(always.into(), v.clone());
                }
            }
            for name in &self.attributes {
                copy_path(&full, &mut kept, &split_name(name, schemas));
            }
            Value::Object(kept)
        } else {
            let mut kept = full;
            for name in &self.excluded {
                let path = split_name(name, schemas);
                let top = path.first().map(String::as_str).unwrap_or_default();
                if top.eq_ignore_ascii_case("id") || top.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                remove_path(&mut kept, &path);
            }
            Value::Object(kept)
        }
    }
}

/// `urn:…:User:name.givenName` → ["name", "givenName"]; an extension's attribute →
/// [urn, attr, (sub)].
fn split_name(name: &str, schemas: &[&str]) -> Vec<String> {
    for schema in schemas {
        let prefixed = name
            .as_bytes()
            .get(..schema.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(schema.as_bytes()));
        if !prefixed {
            continue;
        }
        // The schema's URN is ASCII, so the byte after it starts a character.
        match &name[schema.len()..] {
            "" => return vec![(*schema).to_owned()],
            rest if rest.starts_with(':') => {
                let mut path: Vec<String> = Vec::new();
                if *schema != schemas[0] {
                    path.push((*schema).to_owned());
                }
                path.extend(rest[1..].split('.').map(str::to_owned));
                return path;
            }
            _ => {}
        }
    }
    name.split('.').map(str::to_owned).collect()
}

fn key_of(object: &Map<String, Value>, name: &str) -> Option<String> {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(key) = key_of(from, first) else {
        return;
    };
    let value = &from[&key];
    if rest.is_empty() {
        to.insert(key, value.clone());
        return;
    }
    match value {
        Value::Object(inner) => {
            let slot = to.entry(key).or_insert_with(|| json!({}));
            if let Value::Object(slot) = slot {
                copy_path(inner, slot, rest);
            }
        }
        // A sub-attribute of a multi-valued attribute: that sub-attribute of each value.
        Value::Array(items) => {
            let picked: Vec<Value> = items
                .iter()
                .filter_map(Value::as_object)
                .map(|item| {
                    let mut kept = Map::new();
                    copy_path(item, &mut kept, rest);
                    Value::Object(kept)
                })
                .collect();
            to.insert(key, Value::Array(picked));
        }
        _ => {}
    }
}

fn remove_path(object: &mut Map<String, Value>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(key) = key_of(object, first) else {
        return;
    };
    if rest.is_empty() {
        object.remove(&key);
        return;
    }
    match object.get_mut(&key) {
        Some(Value::Object(inner)) => remove_path(inner, rest),
        Some(Value::Array(items)) => {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                remove_path(item, rest);
            }
        }
        _ => {}
    }
}

/// A ListResponse.
pub fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const EXT: &str = "urn:x:ext";

    fn resource() -> Value {
        json!({
            "schemas": [USER], "id": "1", "userName": "a@b.c",
            "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@b.c", "type": "work"}],
            "meta": {"version": "W/\"1\""},
            EXT: {"type": "APP_USER", "status": "ENABLED"}
        })
    }

    #[test]
    fn attributes_keep_what_is_asked_and_the_identifiers() {
        let projection = Projection::new(
            vec![
                "userName".into(),
                "name.familyName".into(),
                "emails.value".into(),
                format!("{EXT}:type"),
            ],
            vec![],
        )
        .unwrap();
        assert_eq!(
            projection.apply(resource(), &[USER, EXT]),
            json!({
                "schemas": [USER], "id": "1", "userName": "a@b.c",
                "name": {"familyName": "B"}, "emails": [{"value": "a@b.c"}],
                EXT: {"type": "APP_USER"}
            })
        );
        let core_prefixed = Projection::new(vec![format!("{USER}:userName")], vec![]).unwrap();
        assert_eq!(
            core_prefixed.apply(resource(), &[USER, EXT]),
            json!({"schemas": [USER], "id": "1", "userName": "a@b.c"})
        );
    }

    #[test]
    fn excluded_attributes_drop_all_but_the_identifiers() {
        let projection = Projection::new(
            vec![],
            vec!["id".into(), "name".into(), "meta".into(), EXT.into()],
        )
        .unwrap();
        let kept = projection.apply(resource(), &[USER, EXT]);
        assert_eq!(
            kept,
            json!({"schemas": [USER], "id": "1", "userName": "a@b.c", "emails": [{"value": "a@b.c", "type": "work"}]})
        );
    }

    #[test]
    fn any_name_is_taken_without_a_panic() {
        let long = format!("{}é", "a".repeat(41));
        for name in [long.as_str(), "é", "urn:x:ext:é", "urn:x:exté", ""] {
            let projection = Projection::new(vec![name.to_owned()], vec![]).unwrap();
            let _ = projection.apply(resource(), &[USER, EXT]);
            let excluded = Projection::new(vec![], vec![name.to_owned()]).unwrap();
            let _ = excluded.apply(resource(), &[USER, EXT]);
        }
    }

    #[test]
    fn paging_parameters_are_bounded_and_checked() {
        let query = Query::from_query_string("startIndex=0&count=100000").unwrap();
        assert_eq!((query.start_index, query.count), (1, MAX_RESULTS));
        let query = Query::from_query_string("count=-5").unwrap();
        assert_eq!(query.count, 0);
        assert!(Query::from_query_string("count=ten").is_err());
        assert!(Query::from_query_string("count=1&count=2").is_err());
        assert!(Query::from_query_string("attributes=a&excludedAttributes=b").is_err());
        let error = Query::from_query_string("filter=userName%20eq").unwrap_err();
        assert_eq!(error.scim_type, Some("invalidFilter"));
    }

    #[test]
    fn a_search_body_must_say_what_it_is() {
        assert!(Query::from_search(&json!({"filter": "userName eq \"a\""})).is_err());
        let query = Query::from_search(&json!({
            "schemas": [SEARCH_REQUEST], "filter": "userName eq \"a\"", "startIndex": 2, "count": 5,
            "attributes": ["userName"]
        }))
        .unwrap();
        assert_eq!((query.start_index, query.count), (2, 5));
        assert!(query.filter.is_some());
    }
}
