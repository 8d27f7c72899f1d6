//! SCIM filters (RFC 7644 §3.4.2.2). The grammar is scim_v2's (a generated LALR parser, with a
//! depth limit); here a filter is bounded in length, its comparisons checked for what the RFC
//! refuses (ordering on booleans and null), recognised as an indexed equality where it is one,
//! and otherwise evaluated against a resource's JSON with the RFC's rules: attribute names in any
//! case, strings compared without case unless the attribute is case-exact, a multi-valued
//! attribute matching when any of its values does.

use std::cmp::Ordering;

use scim_v2::filter::{
    AttrExp, AttrPath, CompValue, CompareOp, Filter, ParseError, ValFilter, ValuePath,
};
use serde_json::Value;

use super::ScimError;

/// The longest filter taken: identity providers send short ones; a long one is a mistake or an
/// attack, and is refused before it is parsed.
pub const MAX_FILTER_BYTES: usize = 4096;

/// The schema URN of the core User resource, which may prefix its attributes in a filter.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The schema URN of the core Group resource.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Parses a `filter` parameter (or a `/.search` body's filter).
pub fn parse(text: &str) -> Result<Filter, ScimError> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(ScimError::invalid_filter(format!(
            "The filter is longer than {MAX_FILTER_BYTES} bytes"
        )));
    }
    let filter: Filter = text.trim().parse().map_err(|error| {
        ScimError::invalid_filter(format!(
            "The filter is not valid (RFC 7644 §3.4.2.2): {}",
            describe(&error)
        ))
    })?;
    check(&filter)?;
    Ok(filter)
}

/// Where the parse failed and what was expected there; the offending text is not repeated (it
/// may hold personal data).
fn describe(error: &ParseError) -> String {
    let expected = |expected: &[String]| {
        if expected.is_empty() {
            String::new()
        } else {
            format!("; expected one of {}", expected.join(", "))
        }
    };
    match error {
        ParseError::InvalidToken { location } => format!("unexpected text at offset {location}"),
        ParseError::UnrecognizedEof { expected: e, .. } => {
            format!("the filter ends too early{}", expected(e))
        }
        ParseError::UnrecognizedToken {
            token: (start, _, _),
            expected: e,
        } => format!("unexpected token at offset {start}{}", expected(e)),
        ParseError::ExtraToken {
            token: (start, _, _),
        } => format!("unexpected text after the filter at offset {start}"),
        ParseError::User { error } => error.to_string(),
    }
}

/// Refuses what parses but the RFC forbids: `gt`, `ge`, `lt` and `le` order strings, numbers and
/// dates, not booleans or null; `co`, `sw` and `ew` take strings.
fn check(filter: &Filter) -> Result<(), ScimError> {
    match filter {
        Filter::Attr(expression) => check_expression(expression),
        Filter::ValuePath(ValuePath { filter, .. }) => check_value_filter(filter),
        Filter::Not(inner) => check(inner),
        Filter::And(a, b) | Filter::Or(a, b) => {
            check(a)?;
            check(b)
        }
    }
}

fn check_value_filter(filter: &ValFilter) -> Result<(), ScimError> {
    match filter {
        ValFilter::Attr(expression) => check_expression(expression),
        ValFilter::Not(inner) => check_value_filter(inner),
        ValFilter::And(a, b) | ValFilter::Or(a, b) => {
            check_value_filter(a)?;
            check_value_filter(b)
        }
    }
}

fn check_expression(expression: &AttrExp) -> Result<(), ScimError> {
    let AttrExp::Comparison(_, op, value) = expression else {
        return Ok(());
    };
    let ordering = matches!(
        op,
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
    );
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    match value {
        CompValue::True | CompValue::False | CompValue::Null if ordering => Err(
            ScimError::invalid_filter("gt, ge, lt and le cannot compare a boolean or null"),
        ),
        CompValue::Str(_) => Ok(()),
        _ if substring => Err(ScimError::invalid_filter(
            "co, sw and ew compare strings only",
        )),
        _ => Ok(()),
    }
}

/// An equality answered from an index rather than by reading every user: what identity providers
/// send before every create (`userName eq "…"`) and to find a user again. An index must match as
/// `matches` would: `Id` and `ExternalId` exactly (caseExact), `UserName` and `Email` without
/// case (as emails are unique regardless of case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup {
    Id(String),
    UserName(String),
    Email(String),
    ExternalId(String),
}

/// The indexed equality a filter is, or one side of its `and` is: every user the filter matches
/// is among the lookup's.
pub fn user_lookup(filter: &Filter) -> Option<UserLookup> {
    let (path, value) = match filter {
        Filter::And(a, b) => return user_lookup(a).or_else(|| user_lookup(b)),
        Filter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(value))) => {
            (path, value)
        }
        // emails[value eq "…"]
        Filter::ValuePath(ValuePath { attr, filter }) if is(attr, USER_SCHEMA, "emails") => {
            match filter.as_ref() {
                ValFilter::Attr(AttrExp::Comparison(inner, CompareOp::Eq, CompValue::Str(v)))
                    if inner.uri.is_none()
                        && inner.sub_attr.is_none()
                        && inner.name.eq_ignore_ascii_case("value") =>
                {
                    return Some(UserLookup::Email(v.clone()));
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    if !in_schema(path, USER_SCHEMA) {
        return None;
    }
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    let value = value.clone();
    match (name.as_str(), sub.as_deref()) {
        ("id", None) => Some(UserLookup::Id(value)),
        ("username", None) => Some(UserLookup::UserName(value)),
        ("externalid", None) => Some(UserLookup::ExternalId(value)),
        ("emails", Some("value")) => Some(UserLookup::Email(value)),
        _ => None,
    }
}

/// An equality on a group answered from an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupLookup {
    Id(String),
    DisplayName(String),
    ExternalId(String),
}

/// The indexed equality a group filter is, or one side of its `and` is.
pub fn group_lookup(filter: &Filter) -> Option<GroupLookup> {
    match filter {
        Filter::And(a, b) => group_lookup(a).or_else(|| group_lookup(b)),
        Filter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(value)))
            if in_schema(path, GROUP_SCHEMA) && path.sub_attr.is_none() =>
        {
            let value = value.clone();
            match path.name.to_ascii_lowercase().as_str() {
                "id" => Some(GroupLookup::Id(value)),
                "displayname" => Some(GroupLookup::DisplayName(value)),
                "externalid" => Some(GroupLookup::ExternalId(value)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether a filter names the attribute anywhere (so that a resource evaluated without it
/// would be judged wrongly).
pub fn mentions(filter: &Filter, attribute: &str) -> bool {
    let names = |path: &AttrPath| path.name.eq_ignore_ascii_case(attribute);
    let expression = |e: &AttrExp| match e {
        AttrExp::Present(path) | AttrExp::Comparison(path, _, _) => names(path),
    };
    match filter {
        Filter::Attr(e) => expression(e),
        Filter::ValuePath(ValuePath { attr, .. }) => names(attr),
        Filter::Not(inner) => mentions(inner, attribute),
        Filter::And(a, b) | Filter::Or(a, b) => mentions(a, attribute) || mentions(b, attribute),
    }
}

fn in_schema(path: &AttrPath, schema: &str) -> bool {
    path.uri
        .as_deref()
        .is_none_or(|uri| uri.eq_ignore_ascii_case(schema))
}

fn is(path: &AttrPath, schema: &str, name: &str) -> bool {
    in_schema(path, schema) && path.sub_attr.is_none() && path.name.eq_ignore_ascii_case(name)
}

/// Which string attributes compare with case (RFC 7643 `caseExact`); the rest compare without.
pub type CaseExact = fn(name: &str, sub_attr: Option<&str>) -> bool;

/// The core schemas' case-exact strings: identifiers and versions.
pub fn core_case_exact(name: &str, sub_attr: Option<&str>) -> bool {
    let name = name.to_ascii_lowercase();
    match sub_attr.map(str::to_ascii_lowercase).as_deref() {
        None => matches!(name.as_str(), "id" | "externalid"),
        Some("value" | "$ref") => name == "members" || name == "groups",
        Some("version" | "location") => name == "meta",
        Some(_) => false,
    }
}

/// Whether a resource (its SCIM JSON) matches the filter.
pub fn matches(filter: &Filter, resource: &Value, case_exact: CaseExact) -> bool {
    match filter {
        Filter::Attr(expression) => expression_holds(expression, resource, None, case_exact),
        Filter::ValuePath(ValuePath { attr, filter }) => elements(resource, attr, true)
            .iter()
            .any(|element| value_filter_holds(filter, element, &attr.name, case_exact)),
        Filter::Not(inner) => !matches(inner, resource, case_exact),
        Filter::And(a, b) => matches(a, resource, case_exact) && matches(b, resource, case_exact),
        Filter::Or(a, b) => matches(a, resource, case_exact) || matches(b, resource, case_exact),
    }
}

/// A value filter (inside `attr[…]`), on one element of the attribute `parent`.
pub fn value_filter_holds(
    filter: &ValFilter,
    element: &Value,
    parent: &str,
    case_exact: CaseExact,
) -> bool {
    match filter {
        ValFilter::Attr(expression) => {
            expression_holds(expression, element, Some(parent), case_exact)
        }
        ValFilter::Not(inner) => !value_filter_holds(inner, element, parent, case_exact),
        ValFilter::And(a, b) => {
            value_filter_holds(a, element, parent, case_exact)
                && value_filter_holds(b, element, parent, case_exact)
        }
        ValFilter::Or(a, b) => {
            value_filter_holds(a, element, parent, case_exact)
                || value_filter_holds(b, element, parent, case_exact)
        }
    }
}

/// An attribute expression on `resource` (or, inside `parent[…]`, on one of its elements).
fn expression_holds(
    expression: &AttrExp,
    resource: &Value,
    parent: Option<&str>,
    case_exact: CaseExact,
) -> bool {
    let (path, comparison) = match expression {
        AttrExp::Present(path) => (path, None),
        AttrExp::Comparison(path, op, value) => (path, Some((op, value))),
    };
    let top_level = parent.is_none();
    // A complex attribute compared as a whole is compared through its `value`, under that
    // sub-attribute's case rule.
    let through_value = path.sub_attr.is_none()
        && elements(resource, path, top_level)
            .first()
            .is_some_and(|e| e.is_object());
    let exact = match (parent, through_value) {
        (Some(parent), _) => case_exact(parent, Some(&path.name)),
        (None, true) => case_exact(&path.name, Some("value")),
        (None, false) => case_exact(&path.name, path.sub_attr.as_deref()),
    };
    let mut found = values(resource, path, top_level);
    // Unassigned, null and empty are one state (RFC 7643 §2.5): `eq null` holds for it, and
    // `ne` of any value too (`ne` is `not eq`).
    found.retain(|v| present(v));
    match comparison {
        None => !found.is_empty(),
        Some((op, value)) if found.is_empty() => compare(&Value::Null, op, value, exact),
        Some((op, value)) => found.iter().any(|v| compare(v, op, value, exact)),
    }
}

/// The elements of the attribute a path names (one, or each of a multi-valued attribute's).
fn elements<'a>(resource: &'a Value, path: &AttrPath, top_level: bool) -> Vec<&'a Value> {
    let holder = match path.uri.as_deref() {
        // Core attributes sit at the top; an extension's under its URN.
        Some(uri)
            if top_level
                && !uri.eq_ignore_ascii_case(USER_SCHEMA)
                && !uri.eq_ignore_ascii_case(GROUP_SCHEMA) =>
        {
            match member(resource, uri) {
                Some(extension) => extension,
                None => return Vec::new(),
            }
        }
        _ => resource,
    };
    let Some(attribute) = member(holder, &path.name) else {
        return Vec::new();
    };
    match attribute {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    }
}

/// The values an attribute path reaches: a multi-valued attribute gives each of its values, and
/// a complex one compared as a whole gives its `value` sub-attribute (`emails co "…"`).
fn values<'a>(resource: &'a Value, path: &AttrPath, top_level: bool) -> Vec<&'a Value> {
    let elements = elements(resource, path, top_level);
    match path.sub_attr.as_deref() {
        Some(sub) => elements
            .into_iter()
            .filter_map(|e| member(e, sub))
            .collect(),
        None => elements
            .into_iter()
            .map(|e| match e {
                Value::Object(_) => member(e, "value").unwrap_or(e),
                other => other,
            })
            .collect(),
    }
}

/// A member of a JSON object, its name matched without case (RFC 7643 §2.1).
fn member<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    let object = object.as_object()?;
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// `pr`: there, and neither null nor empty.
fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(members) => !members.is_empty(),
        _ => true,
    }
}

fn compare(actual: &Value, op: &CompareOp, expected: &CompValue, exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(actual), CompValue::Str(expected)) => {
            // dateTime values compare as instants, whatever their offsets and fractions.
            if let (Ok(a), Ok(e)) = (
                chrono::DateTime::parse_from_rfc3339(actual),
                chrono::DateTime::parse_from_rfc3339(expected),
            ) && !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
            {
                return ordered(op, a.cmp(&e));
            }
            let fold = |s: &str| {
                if exact {
                    s.to_owned()
                } else {
                    s.to_lowercase()
                }
            };
            let (a, e) = (fold(actual), fold(expected));
            match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                _ => ordered(op, a.cmp(&e)),
            }
        }
        (Value::Number(actual), CompValue::Number(expected)) => {
            match (actual.as_f64(), expected.as_f64()) {
                (Some(a), Some(e)) => a.partial_cmp(&e).is_some_and(|o| ordered(op, o)),
                _ => false,
            }
        }
        (Value::Bool(actual), CompValue::True | CompValue::False) => {
            let expected = matches!(expected, CompValue::True);
            match op {
                CompareOp::Eq => *actual == expected,
                CompareOp::Ne => *actual != expected,
                _ => false,
            }
        }
        (Value::Null, CompValue::Null) => matches!(op, CompareOp::Eq),
        (_, CompValue::Null) => matches!(op, CompareOp::Ne),
        _ => matches!(op, CompareOp::Ne),
    }
}

fn ordered(op: &CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Every filter of RFC 7644 §3.4.2.2's examples.
    const RFC_EXAMPLES: &[&str] = &[
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r#"title pr"#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ];

    /// RFC 7643 §8.2's full representation of a user, trimmed.
    fn babs() -> Value {
        json!({
            "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "701984",
            "userName": "bjensen@example.com",
            "name": {"familyName": "Jensen", "givenName": "Barbara", "middleName": "Jane"},
            "title": "Tour Guide",
            "userType": "Employee",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "ims": [{"value": "someaimhandle", "type": "aim"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984",
                "costCenter": "4130"
            },
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"3694e05e9dff591\""
            }
        })
    }

    fn holds(filter: &str) -> bool {
        matches(&parse(filter).unwrap(), &babs(), core_case_exact)
    }

    fn refused(filter: &str) -> ScimError {
        let error = parse(filter).expect_err(filter);
        assert_eq!(error.scim_type, Some("invalidFilter"), "{filter}");
        assert_eq!(error.status, 400);
        error
    }

    #[test]
    fn every_example_of_the_rfc_parses() {
        for example in RFC_EXAMPLES {
            assert!(parse(example).is_ok(), "{example}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let a = || Box::new(parse(r#"a eq "1""#).unwrap());
        let b = || Box::new(parse(r#"b eq "2""#).unwrap());
        let c = || Box::new(parse(r#"c eq "3""#).unwrap());
        assert_eq!(
            parse(r#"a eq "1" or b eq "2" and c eq "3""#).unwrap(),
            Filter::Or(a(), Box::new(Filter::And(b(), c())))
        );
        assert_eq!(
            parse(r#"(a eq "1" or b eq "2") and c eq "3""#).unwrap(),
            Filter::And(Box::new(Filter::Or(a(), b())), c())
        );
        assert_eq!(
            parse(r#"not (a eq "1") and b eq "2""#).unwrap(),
            Filter::And(Box::new(Filter::Not(a())), b())
        );
    }

    #[test]
    fn operators_and_attribute_names_take_any_case() {
        assert!(holds(r#"USERNAME EQ "BJENSEN@EXAMPLE.COM""#));
        assert!(holds(r#"userName Eq "bjensen@example.com" AND Title PR"#));
        assert!(holds(r#"NOT (userName eq "nobody")"#));
    }

    #[test]
    fn strings_are_json_strings() {
        let Filter::Attr(AttrExp::Comparison(_, _, value)) =
            parse(r#"displayName eq "a \"quoted\" \\ name \u00e9""#).unwrap()
        else {
            panic!("a comparison");
        };
        assert_eq!(value, CompValue::Str("a \"quoted\" \\ name é".into()));
    }

    #[test]
    fn what_is_not_a_filter_is_invalid_filter_never_a_panic() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName xx "a""#,
            r#"(userName eq "a""#,
            r#"userName eq "a")"#,
            r#"userName eq "a" and"#,
            r#"userName eq "unterminated"#,
            r#"userName eq 'single'"#,
            r#"userName eq "a" userName eq "b""#,
            r#"emails[type eq "work""#,
            r#"emails[emails[type eq "x"]]"#,
            r#"userName eq "\x""#,
            r#"not userName eq "a""#,
            "\u{0}",
        ] {
            refused(bad);
        }
    }

    #[test]
    fn huge_or_deep_filters_are_refused_before_they_cost_anything() {
        refused(&format!(
            r#"userName eq "{}""#,
            "a".repeat(MAX_FILTER_BYTES)
        ));
        let deep = format!("{}title pr{}", "not (".repeat(200), ")".repeat(200));
        refused(&deep);
        // Parentheses alone add no depth: the parser keeps its own stack, and length bounds them.
        let grouped = format!("{}title pr{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&grouped).is_ok());
        let long_chain = vec!["title pr"; 300].join(" and ");
        refused(&long_chain);
    }

    #[test]
    fn ordering_booleans_or_null_and_substrings_of_non_strings_are_refused() {
        refused("active gt true");
        refused("title le null");
        refused("active co true");
        refused("age sw 5");
        assert!(parse("active eq true").is_ok());
        assert!(parse("age gt 5").is_ok());
    }

    #[test]
    fn details_name_the_place_not_the_text() {
        let error = refused(r#"userName eq "secret@example.com" extra"#);
        assert!(!error.detail.contains("secret"), "{}", error.detail);
        assert!(error.detail.contains("offset"), "{}", error.detail);
    }

    #[test]
    fn the_rfc_examples_evaluate_as_the_rfc_means_them() {
        assert!(holds(r#"userName eq "bjensen@example.com""#));
        assert!(!holds(r#"userName ne "bjensen@example.com""#));
        assert!(holds(r#"name.familyName co "ense""#));
        assert!(holds(r#"userName sw "BJ""#));
        assert!(holds(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b""#
        ));
        assert!(holds("title pr"));
        assert!(!holds("nickName pr"));
        assert!(holds(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#));
        assert!(holds(r#"meta.lastModified gt "2011-05-13T04:42:33+00:00""#));
        assert!(!holds(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#));
        assert!(holds(r#"meta.lastModified lt "2012-01-01T00:00:00Z""#));
        assert!(holds(r#"title pr and userType eq "employee""#));
        assert!(holds(r#"title pr or userType eq "Intern""#));
        assert!(holds(
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#
        ));
        assert!(holds(
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#
        ));
        assert!(!holds(
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#
        ));
        assert!(holds(
            r#"userType eq "Employee" and (emails.type eq "work")"#
        ));
        assert!(holds(
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#
        ));
        // The work address is not at jensen.org: the bracket applies both tests to one element.
        assert!(!holds(
            r#"emails[type eq "work" and value co "@jensen.org"]"#
        ));
        assert!(holds(
            r#"emails[type eq "home" and value co "@jensen.org"]"#
        ));
        assert!(holds(r#"emails[not (type eq "work")]"#));
        assert!(holds(r#"active eq true and not (active eq false)"#));
        assert!(holds(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#
        ));
    }

    #[test]
    fn dates_compare_as_instants_under_every_operator() {
        assert!(holds(r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#));
        assert!(!holds(
            r#"meta.lastModified ne "2011-05-13T06:42:34+02:00""#
        ));
        assert!(holds(r#"meta.lastModified gt "2011-05-13T05:42:34+02:00""#));
        assert!(holds(r#"meta.lastModified lt "2011-05-13T04:42:34.001Z""#));
        assert!(holds(r#"meta.lastModified eq "2011-05-13T04:42:34.000Z""#));
        // Substrings stay textual.
        assert!(holds(r#"meta.lastModified sw "2011-05""#));
    }

    #[test]
    fn unassigned_null_and_empty_are_one_state() {
        assert!(holds("nickName eq null"));
        assert!(!holds("nickName pr"));
        assert!(holds(r#"nickName ne "x""#));
        assert!(holds(r#"not (nickName eq "x")"#));
        assert!(!holds("title eq null"));
        assert!(holds("title ne null"));
        let mut empty = babs();
        empty["phoneNumbers"] = json!([]);
        empty["displayName"] = json!("");
        let check = |f: &str| matches(&parse(f).unwrap(), &empty, core_case_exact);
        assert!(check("phoneNumbers eq null"));
        assert!(!check("phoneNumbers pr"));
        assert!(check("displayName eq null"));
        assert!(check("active eq true"));
    }

    #[test]
    fn a_complex_attribute_compared_whole_uses_its_values_case_rule() {
        let group =
            json!({"members": [{"value": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "display": "Babs"}]});
        let check = |f: &str| matches(&parse(f).unwrap(), &group, core_case_exact);
        assert!(check(r#"members eq "01ARZ3NDEKTSV4RRFFQ69G5FAV""#));
        assert!(!check(r#"members eq "01arz3ndektsv4rrffq69g5fav""#));
        assert!(!check(r#"members.value eq "01arz3ndektsv4rrffq69g5fav""#));
    }

    #[test]
    fn identifiers_compare_with_case_and_other_strings_without() {
        assert!(holds(r#"externalId eq "701984""#));
        assert!(holds(r#"id eq "2819c223-7f76-453a-919d-413861904646""#));
        assert!(!holds(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
        assert!(holds(r#"name.givenName eq "BARBARA""#));
    }

    #[test]
    fn group_equalities_are_lookups_and_members_are_noticed() {
        let lookup = |f: &str| group_lookup(&parse(f).unwrap());
        assert_eq!(
            lookup(r#"displayName eq "Admins""#),
            Some(GroupLookup::DisplayName("Admins".into()))
        );
        assert_eq!(
            lookup(r#"externalId eq "x" and members pr"#),
            Some(GroupLookup::ExternalId("x".into()))
        );
        assert_eq!(lookup(r#"displayName co "A""#), None);
        assert!(mentions(
            &parse(r#"not (members[value eq "u"])"#).unwrap(),
            "members"
        ));
        assert!(mentions(
            &parse(r#"displayName eq "a" or members.value eq "u""#).unwrap(),
            "members"
        ));
        assert!(!mentions(
            &parse(r#"displayName eq "a""#).unwrap(),
            "members"
        ));
    }

    #[test]
    fn equalities_on_indexed_attributes_are_lookups() {
        let lookup = |f: &str| user_lookup(&parse(f).unwrap());
        assert_eq!(
            lookup(r#"userName eq "Test_User_1@contoso.com""#),
            Some(UserLookup::UserName("Test_User_1@contoso.com".into()))
        );
        assert_eq!(
            lookup(r#"urn:ietf:params:scim:schemas:core:2.0:User:USERNAME EQ "a@b.co""#),
            Some(UserLookup::UserName("a@b.co".into()))
        );
        assert_eq!(
            lookup(r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#),
            Some(UserLookup::ExternalId(
                "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef".into()
            ))
        );
        assert_eq!(
            lookup(r#"id eq "01ARZ3NDEKTSV4RRFFQ69G5FAV""#),
            Some(UserLookup::Id("01ARZ3NDEKTSV4RRFFQ69G5FAV".into()))
        );
        assert_eq!(
            lookup(r#"emails.value eq "a@b.co""#),
            Some(UserLookup::Email("a@b.co".into()))
        );
        assert_eq!(
            lookup(r#"emails[value eq "a@b.co"]"#),
            Some(UserLookup::Email("a@b.co".into()))
        );
        assert_eq!(
            lookup(r#"active eq true and (userName eq "a@b.co" and name.givenName pr)"#),
            Some(UserLookup::UserName("a@b.co".into())),
            "one side of an and narrows the whole"
        );
        for scan in [
            r#"userName ne "a@b.co""#,
            r#"userName co "a""#,
            r#"userName eq "a" or userName eq "b""#,
            r#"not (userName eq "a")"#,
            r#"emails[type eq "work"]"#,
            r#"name.givenName eq "a""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "a""#,
            "userName pr",
        ] {
            assert_eq!(lookup(scan), None, "{scan}");
        }
    }
}
