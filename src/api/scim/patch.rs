//! PATCH (RFC 7644 §3.5.2) on a resource's representation: `add`, `replace` and `remove` (in any
//! case, as Entra ID capitalises them), with attribute paths, value paths with filters
//! (`members[value eq "…"]`, `emails[type eq "work"].value`) and extension URNs. The operations
//! apply one after another to a copy; the result is then read as a replace would read it, so a
//! request takes effect whole or not at all.

use scim_v2::filter::{AttrPath, PatchPath, ValFilter};
use serde_json::{Map, Value};

use super::ScimError;
use super::filter::{core_case_exact, value_filter_holds};
use super::resource::member;

/// The schema URN a PATCH request carries.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The most operations one request takes.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// What a resource is: its core schema, and the multi-valued attributes it keeps.
struct Context<'a> {
    core: &'a str,
    kept: &'a [&'a str],
}

#[derive(Debug)]
struct Operation {
    op: Op,
    path: Option<PatchPath>,
    value: Option<Value>,
}

/// Applies a PatchOp request to `resource`, whose core schema is `core` and whose multi-valued
/// attributes are `kept`. A value path into another multi-valued attribute (one the directory
/// does not keep, such as Entra ID's `phoneNumbers[type eq "work"].value`) that matches nothing
/// is no error: what it would set is not kept anyway.
pub fn apply(
    resource: &mut Value,
    request: &Value,
    core: &str,
    kept: &[&str],
) -> Result<(), ScimError> {
    let operations = read(request)?;
    let Value::Object(target) = resource else {
        return Err(ScimError::internal("a resource is not a JSON object"));
    };
    let context = Context { core, kept };
    for (index, operation) in operations.iter().enumerate() {
        apply_one(target, operation, &context).map_err(|e| {
            ScimError::new(
                e.status,
                e.scim_type,
                format!("Operations[{index}]: {}", e.detail),
            )
        })?;
    }
    Ok(())
}

fn read(request: &Value) -> Result<Vec<Operation>, ScimError> {
    let carries_schema = member(request, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP)))
        });
    if !carries_schema {
        return Err(ScimError::invalid_syntax(format!(
            "A PATCH request's schemas must list {PATCH_OP}"
        )));
    }
    let operations = member(request, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be an array"))?;
    if operations.is_empty() {
        return Err(ScimError::invalid_syntax("Operations is empty"));
    }
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            Some("tooMany"),
            format!("A PATCH request takes at most {MAX_OPERATIONS} operations"),
        ));
    }
    operations
        .iter()
        .enumerate()
        .map(|(index, operation)| {
            read_operation(operation).map_err(|e| {
                ScimError::new(
                    e.status,
                    e.scim_type,
                    format!("Operations[{index}]: {}", e.detail),
                )
            })
        })
        .collect()
}

fn read_operation(operation: &Value) -> Result<Operation, ScimError> {
    if !operation.is_object() {
        return Err(ScimError::invalid_syntax("an operation must be an object"));
    }
    let op = match member(operation, "op").and_then(Value::as_str) {
        Some(op) if op.eq_ignore_ascii_case("add") => Op::Add,
        Some(op) if op.eq_ignore_ascii_case("replace") => Op::Replace,
        Some(op) if op.eq_ignore_ascii_case("remove") => Op::Remove,
        _ => {
            return Err(ScimError::invalid_syntax(
                "op must be add, replace or remove",
            ));
        }
    };
    let path = match member(operation, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) => Some(parse_path(path)?),
        Some(_) => return Err(ScimError::invalid_path("path must be a string")),
    };
    let value = member(operation, "value").cloned();
    match (op, &path, &value) {
        (Op::Remove, None, _) => Err(ScimError::no_target("remove needs a path")),
        (Op::Add | Op::Replace, None, Some(Value::Object(_))) => Ok(()),
        (Op::Add | Op::Replace, None, _) => Err(ScimError::invalid_syntax(
            "add and replace without a path take an object of attributes as their value",
        )),
        (Op::Add | Op::Replace, Some(_), None) => {
            Err(ScimError::invalid_syntax("add and replace need a value"))
        }
        _ => Ok(()),
    }?;
    Ok(Operation { op, path, value })
}

fn parse_path(path: &str) -> Result<PatchPath, ScimError> {
    if path.len() > super::filter::MAX_FILTER_BYTES {
        return Err(ScimError::invalid_path("the path is too long"));
    }
    path.trim().parse().map_err(|_| {
        ScimError::invalid_path("the path is not a valid attribute or value path (RFC 7644 §3.5.2)")
    })
}

fn apply_one(
    resource: &mut Map<String, Value>,
    operation: &Operation,
    context: &Context<'_>,
) -> Result<(), ScimError> {
    let core = context.core;
    match &operation.path {
        Some(path) => apply_path(
            resource,
            operation.op,
            path,
            operation.value.clone(),
            context,
        ),
        None => {
            let Some(Value::Object(attributes)) = &operation.value else {
                return Ok(());
            };
            for (name, value) in attributes {
                // An extension's attributes, as one object under its URN.
                if name.to_ascii_lowercase().starts_with("urn:")
                    && !name.eq_ignore_ascii_case(core)
                    && let Value::Object(members) = value
                {
                    let holder = holder_for(resource, Some(name), operation.op, core)?;
                    if let Some(holder) = holder {
                        for (sub, value) in members {
                            apply_attribute(holder, sub, None, operation.op, Some(value.clone()))?;
                        }
                    }
                    continue;
                }
                let path = parse_path(name)?;
                apply_path(resource, operation.op, &path, Some(value.clone()), context)?;
            }
            Ok(())
        }
    }
}

fn apply_path(
    resource: &mut Map<String, Value>,
    op: Op,
    path: &PatchPath,
    value: Option<Value>,
    context: &Context<'_>,
) -> Result<(), ScimError> {
    let core = context.core;
    let (attr, filter, sub): (&AttrPath, Option<&ValFilter>, Option<&str>) = match path {
        PatchPath::Attr(attr) => (attr, None, attr.sub_attr.as_deref()),
        PatchPath::Value(value_path) => (
            &value_path.attr,
            Some(&value_path.filter),
            value_path.sub_attr.as_deref(),
        ),
    };
    let in_core = attr
        .uri
        .as_deref()
        .is_none_or(|uri| uri.eq_ignore_ascii_case(core));
    if in_core
        && ["id", "meta", "schemas"]
            .iter()
            .any(|n| attr.name.eq_ignore_ascii_case(n))
    {
        // Okta sends the id back in a replace of a group's name: setting what is there is no
        // change.
        let same = op != Op::Remove
            && filter.is_none()
            && sub.is_none()
            && value.is_some()
            && existing_key(resource, &attr.name).and_then(|key| resource.get(&key))
                == value.as_ref();
        if same {
            return Ok(());
        }
        return Err(ScimError::mutability(format!("{} is read-only", attr.name)));
    }
    // A path that is an extension's URN itself names the extension's whole object.
    if let (Some(uri), None, None) = (attr.uri.as_deref(), filter, sub) {
        let whole = format!("{uri}:{}", attr.name);
        let listed = resource
            .get("schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| {
                s.iter()
                    .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(&whole)))
            });
        if whole.eq_ignore_ascii_case(core) {
            return Err(ScimError::invalid_path(
                "a path names an attribute, not the core schema",
            ));
        }
        if listed || existing_key(resource, &whole).is_some() {
            return apply_attribute(resource, &whole, None, op, value);
        }
    }
    let uri = if in_core { None } else { attr.uri.as_deref() };
    let Some(holder) = holder_for(resource, uri, op, core)? else {
        return Ok(());
    };
    let kept = in_core
        && context
            .kept
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&attr.name));
    match filter {
        None => apply_attribute(holder, &attr.name, sub, op, value),
        Some(filter) => apply_filtered(holder, &attr.name, filter, sub, op, value, kept),
    }
}

/// The object an attribute lives in: the resource itself, or an extension's object under its
/// URN (made if an add or replace needs it; `None` for a remove from an absent one).
fn holder_for<'a>(
    resource: &'a mut Map<String, Value>,
    uri: Option<&str>,
    op: Op,
    core: &str,
) -> Result<Option<&'a mut Map<String, Value>>, ScimError> {
    let Some(uri) = uri.filter(|uri| !uri.eq_ignore_ascii_case(core)) else {
        return Ok(Some(resource));
    };
    let key = existing_key(resource, uri).unwrap_or_else(|| uri.to_owned());
    if !resource.contains_key(&key) {
        if op == Op::Remove {
            return Ok(None);
        }
        resource.insert(key.clone(), Value::Object(Map::new()));
    }
    match resource.get_mut(&key) {
        Some(Value::Object(holder)) => Ok(Some(holder)),
        _ => Err(ScimError::invalid_path(format!(
            "{uri} is not an extension object"
        ))),
    }
}

fn existing_key(object: &Map<String, Value>, name: &str) -> Option<String> {
    object
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()
}

/// Sets a member, replacing one of the same name in any case.
fn set(object: &mut Map<String, Value>, name: &str, value: Value) {
    let key = existing_key(object, name).unwrap_or_else(|| name.to_owned());
    object.insert(key, value);
}

fn unset(object: &mut Map<String, Value>, name: &str) {
    if let Some(key) = existing_key(object, name) {
        object.remove(&key);
    }
}

/// Merges sub-attributes into a complex attribute: those given replace, the rest stay.
fn merge(object: &mut Map<String, Value>, members: Map<String, Value>) {
    for (name, value) in members {
        set(object, &name, value);
    }
}

/// Two values of a multi-valued attribute are the same when their `value`s are (members of a
/// group, emails), or when they are equal.
fn same_element(a: &Value, b: &Value) -> bool {
    match (member(a, "value"), member(b, "value")) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

fn apply_attribute(
    holder: &mut Map<String, Value>,
    name: &str,
    sub: Option<&str>,
    op: Op,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let key = existing_key(holder, name).unwrap_or_else(|| name.to_owned());
    match (op, sub) {
        (Op::Remove, None) => {
            match (holder.get_mut(&key), value) {
                // Remove these values of a multi-valued attribute (as Entra ID removes members).
                (Some(Value::Array(items)), Some(Value::Array(gone))) => {
                    items.retain(|item| !gone.iter().any(|g| same_element(item, g)));
                }
                (Some(Value::Array(items)), Some(gone @ Value::Object(_))) => {
                    items.retain(|item| !same_element(item, &gone));
                }
                _ => {
                    holder.remove(&key);
                }
            }
            Ok(())
        }
        (Op::Remove, Some(sub)) => {
            match holder.get_mut(&key) {
                Some(Value::Object(object)) => unset(object, sub),
                Some(Value::Array(items)) => {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        unset(item, sub);
                    }
                }
                _ => {}
            }
            Ok(())
        }
        (_, Some(sub)) => {
            let value = value.unwrap_or(Value::Null);
            let target = holder.entry(key).or_insert(Value::Null);
            if target.is_null() {
                *target = Value::Object(Map::new());
            }
            match target {
                Value::Object(object) => set(object, sub, value),
                Value::Array(items) => {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        set(item, sub, value.clone());
                    }
                }
                _ => {
                    return Err(ScimError::invalid_path(format!(
                        "{name} has no sub-attributes"
                    )));
                }
            }
            Ok(())
        }
        (op, None) => {
            let value = value.unwrap_or(Value::Null);
            match (holder.get_mut(&key), value) {
                (Some(Value::Array(items)), Value::Array(added)) if op == Op::Add => {
                    for value in added {
                        if !items.iter().any(|item| same_element(item, &value)) {
                            items.push(value);
                        }
                    }
                }
                (Some(Value::Array(items)), value) if op == Op::Add && !value.is_null() => {
                    if !items.iter().any(|item| same_element(item, &value)) {
                        items.push(value);
                    }
                }
                (Some(Value::Object(object)), Value::Object(members)) => merge(object, members),
                (_, value) => {
                    holder.insert(key, value);
                }
            }
            Ok(())
        }
    }
}

fn apply_filtered(
    holder: &mut Map<String, Value>,
    name: &str,
    filter: &ValFilter,
    sub: Option<&str>,
    op: Op,
    value: Option<Value>,
    kept: bool,
) -> Result<(), ScimError> {
    let no_target = || ScimError::no_target("the path's filter matches no value");
    // Removing what is not there leaves the resource as asked; setting what is not kept too.
    let nothing_to_do = op == Op::Remove || !kept;
    let key = existing_key(holder, name);
    let Some(Value::Array(items)) = key.as_ref().and_then(|k| holder.get_mut(k)) else {
        return if nothing_to_do {
            Ok(())
        } else {
            Err(no_target())
        };
    };
    let matched: Vec<bool> = items
        .iter()
        .map(|item| value_filter_holds(filter, item, name, core_case_exact))
        .collect();
    if !matched.contains(&true) {
        return if nothing_to_do {
            Ok(())
        } else {
            Err(no_target())
        };
    }
    match (op, sub) {
        (Op::Remove, None) => {
            let mut keep = matched.iter().map(|m| !m);
            items.retain(|_| keep.next().unwrap_or(true));
        }
        (Op::Remove, Some(sub)) => {
            for (item, _) in items.iter_mut().zip(&matched).filter(|(_, m)| **m) {
                if let Value::Object(object) = item {
                    unset(object, sub);
                }
            }
        }
        (_, Some(sub)) => {
            let value = value.unwrap_or(Value::Null);
            for (item, _) in items.iter_mut().zip(&matched).filter(|(_, m)| **m) {
                if let Value::Object(object) = item {
                    set(object, sub, value.clone());
                }
            }
        }
        (op, None) => {
            let value = value.unwrap_or(Value::Null);
            for (item, _) in items.iter_mut().zip(&matched).filter(|(_, m)| **m) {
                match (op, &mut *item, &value) {
                    (Op::Add, Value::Object(object), Value::Object(members)) => {
                        merge(object, members.clone())
                    }
                    _ => *item = value.clone(),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::scim::filter::USER_SCHEMA;

    fn patch(resource: Value, operations: Value) -> Result<Value, ScimError> {
        let mut resource = resource;
        apply(
            &mut resource,
            &json!({"schemas": [PATCH_OP], "Operations": operations}),
            USER_SCHEMA,
            &["emails", "members"],
        )?;
        Ok(resource)
    }

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA],
            "id": "u1",
            "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "active": true,
            "urn:example:ext": {"type": "APP_USER"}
        })
    }

    #[test]
    fn replace_with_and_without_a_path() {
        let patched = patch(
            user(),
            json!([
                {"op": "Replace", "path": "name.givenName", "value": "Babs"},
                {"op": "replace", "value": {"active": false, "name": {"familyName": "J"}}},
                {"op": "REPLACE", "path": "urn:example:ext:type", "value": "SUPER_USER"}
            ]),
        )
        .unwrap();
        assert_eq!(
            patched["name"],
            json!({"givenName": "Babs", "familyName": "J"})
        );
        assert_eq!(patched["active"], json!(false));
        assert_eq!(patched["urn:example:ext"]["type"], json!("SUPER_USER"));
    }

    #[test]
    fn value_paths_select_elements() {
        let patched = patch(
            user(),
            json!([
                {"op": "replace", "path": "emails[type eq \"home\"].value", "value": "b@j.org"},
                {"op": "remove", "path": "emails[type eq \"WORK\"]"}
            ]),
        )
        .unwrap();
        assert_eq!(
            patched["emails"],
            json!([{"value": "b@j.org", "type": "home"}])
        );
    }

    #[test]
    fn members_are_added_once_and_removed_by_filter_or_by_value() {
        let group = json!({"displayName": "g", "members": [{"value": "a"}]});
        let patched = patch(
            group,
            json!([
                {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}, {"value": "c"}]},
                {"op": "remove", "path": "members[value eq \"a\"]"},
                {"op": "Remove", "path": "members", "value": [{"value": "b"}]}
            ]),
        )
        .unwrap();
        assert_eq!(patched["members"], json!([{"value": "c"}]));
        // Without a value, remove takes them all.
        let emptied = patch(patched, json!([{"op": "remove", "path": "members"}])).unwrap();
        assert!(emptied.get("members").is_none());
    }

    #[test]
    fn what_cannot_be_done_is_the_rfcs_error() {
        for (operations, scim_type) in [
            (
                json!([{"op": "replace", "path": "emails[type eq \"x\"].value", "value": "v"}]),
                "noTarget",
            ),
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "meta.created", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "name[", "value": "x"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "move", "path": "name", "value": "x"}]),
                "invalidSyntax",
            ),
            (
                json!([{"op": "add", "value": "not an object"}]),
                "invalidSyntax",
            ),
            (
                json!([{"op": "add", "path": "name.givenName"}]),
                "invalidSyntax",
            ),
            (json!([]), "invalidSyntax"),
        ] {
            let error = patch(user(), operations.clone()).unwrap_err();
            assert_eq!(error.scim_type, Some(scim_type), "{operations}");
        }
        let mut resource = user();
        let no_schema = apply(&mut resource, &json!({"Operations": []}), USER_SCHEMA, &[]);
        assert_eq!(no_schema.unwrap_err().scim_type, Some("invalidSyntax"));
    }

    #[test]
    fn what_is_not_kept_may_be_set_and_the_id_resent() {
        let patched = patch(
            user(),
            json!([
                {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "555"},
                {"op": "Replace", "path": "addresses[type eq \"work\"].locality", "value": "X"},
                {"op": "replace", "value": {"id": "u1", "active": false}}
            ]),
        )
        .unwrap();
        assert_eq!(patched["active"], json!(false));
        let moved = patch(user(), json!([{"op": "replace", "value": {"id": "u2"}}]));
        assert_eq!(moved.unwrap_err().scim_type, Some("mutability"));
    }

    #[test]
    fn an_extension_urn_names_its_whole_object() {
        let patched = patch(
            user(),
            json!([{"op": "add", "path": "urn:example:ext", "value": {"type": "SUPER_USER", "apiAccess": "ENABLED"}}]),
        )
        .unwrap();
        assert_eq!(
            patched["urn:example:ext"],
            json!({"type": "SUPER_USER", "apiAccess": "ENABLED"})
        );
        let removed = patch(user(), json!([{"op": "remove", "path": "urn:example:ext"}])).unwrap();
        assert!(removed.get("urn:example:ext").is_none());
        // Listed in the schemas but not there yet: made.
        let mut bare = user();
        bare.as_object_mut().unwrap().remove("urn:example:ext");
        bare["schemas"] = json!([USER_SCHEMA, "urn:example:ext"]);
        let made = patch(
            bare,
            json!([{"op": "replace", "path": "urn:example:ext", "value": {"type": "APP_USER"}}]),
        )
        .unwrap();
        assert_eq!(made["urn:example:ext"], json!({"type": "APP_USER"}));
    }

    #[test]
    fn removing_what_is_not_there_is_not_an_error() {
        let patched = patch(
            user(),
            json!([
                {"op": "remove", "path": "members[value eq \"nobody\"]"},
                {"op": "remove", "path": "urn:other:ext:thing"},
                {"op": "remove", "path": "title"}
            ]),
        )
        .unwrap();
        assert_eq!(patched, user());
    }

    /// RFC 7644 §3.5.2's examples, on RFC 7643 §8.4's group.
    #[test]
    fn the_rfcs_group_examples() {
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
            "displayName": "Tour Guides",
            "members": [
                {"value": "2819c223-7f76-453a-919d-413861904646", "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen"},
                {"value": "902c246b-6245-4190-8e05-00816be7344a", "$ref": "https://example.com/v2/Users/902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge"}
            ]
        });
        let core = "urn:ietf:params:scim:schemas:core:2.0:Group";
        let mut added = group.clone();
        apply(&mut added, &json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": [{"display": "Babs Jensen", "$ref": "https://example.com/v2/Users/2819c223...413861904646", "value": "2819c223-7f76-453a-919d-413861904646"}]}]
        }), core, &["members"]).unwrap();
        assert_eq!(
            added["members"].as_array().unwrap().len(),
            2,
            "an existing member is not added twice"
        );
        let mut removed = group.clone();
        apply(&mut removed, &json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "remove", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]
        }), core, &["members"]).unwrap();
        assert_eq!(removed["members"].as_array().unwrap().len(), 1);
        let mut replaced = group;
        apply(&mut replaced, &json!({
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "remove", "path": "members"},
                {"op": "add", "path": "members", "value": [{"display": "James Smith", "$ref": "https://example.com/v2/Users/08e1d05d", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}]}
            ]
        }), core, &["members"]).unwrap();
        assert_eq!(
            replaced["members"],
            json!([{"display": "James Smith", "$ref": "https://example.com/v2/Users/08e1d05d", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}])
        );
    }
}
