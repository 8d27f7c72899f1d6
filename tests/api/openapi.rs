//! The OpenAPI document: served without authentication, identical to the committed copy, held to
//! the service model operation by operation (methods, paths, members, required, constraints,
//! outputs, errors), and every route it names is one the server answers. Schemathesis's run from
//! it is in `acceptance/schemathesis.rs`.

use serde_json::Value;

use super::helpers::*;
use userdir::api::catalog::OPERATIONS;
use userdir::api::openapi::whole_value;

/// The user and permission-group part of the official service model (botocore's), as extracted
/// for this project: `tests/model/finspace-data-users.json`.
const MODEL: &str = include_str!("../model/finspace-data-users.json");
const COMMITTED: &str = include_str!("../../docs/openapi.json");
const EXTENSIONS_TAG: &str = "userdir extensions";

async fn served_document(app: &TestApp) -> (String, Value) {
    let response = app.get_unsigned("/openapi.json").await;
    assert_eq!(response.status(), 200, "served without signing");
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let text = response.text().await.unwrap();
    let document = serde_json::from_str(&text).expect("the document is JSON");
    (text, document)
}

#[tokio::test]
async fn the_document_is_served_and_is_the_committed_one() {
    let app = spawn_app().await;
    let (text, document) = served_document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert!(
        text == COMMITTED,
        "docs/openapi.json differs from what the server serves: regenerate it with \
         `cargo run -q -- openapi > docs/openapi.json`"
    );
    let output = userdir_command(app.dir.path())
        .arg("openapi")
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap(), text);
}

#[tokio::test]
async fn every_model_operation_is_described_as_the_model_says() {
    let app = spawn_app().await;
    let (_, document) = served_document(&app).await;
    let model: Value = serde_json::from_str(MODEL).unwrap();
    let shapes = &model["shapes"];
    let operations = model["operations"].as_object().unwrap();
    assert_eq!(operations.len(), 17);
    let check = Checker {
        document: &document,
        shapes,
    };
    for (name, operation) in operations {
        let path = operation["http"]["requestUri"].as_str().unwrap();
        let method = operation["http"]["method"].as_str().unwrap().to_lowercase();
        let described = &document["paths"][path][&method];
        assert!(
            described.is_object(),
            "{name}: {method} {path} is described"
        );
        assert_eq!(described["operationId"], name.as_str());
        assert_eq!(
            described["deprecated"].as_bool().unwrap_or(false),
            operation["deprecated"].as_bool().unwrap_or(false),
            "{name}: deprecated"
        );
        assert_eq!(described["security"][0]["sigv4"], serde_json::json!([]));
        check.input(
            name,
            described,
            &shapes[operation["input"]["shape"].as_str().unwrap()],
        );
        check.output(
            name,
            described,
            &shapes[operation["output"]["shape"].as_str().unwrap()],
        );
        for error in operation["errors"].as_array().unwrap() {
            let error = error["shape"].as_str().unwrap();
            let status = shapes[error]["error"]["httpStatusCode"].as_u64().unwrap();
            let response = &described["responses"][status.to_string()];
            let types = response["headers"]["x-amzn-ErrorType"]["schema"]["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: a {status} response"));
            assert!(
                types.iter().any(|t| t == error),
                "{name}: {status} names {error}"
            );
            let body = check.resolve(&response["content"]["application/json"]["schema"]);
            assert_eq!(
                check.resolve(&body["properties"]["message"])["type"],
                "string"
            );
        }
    }
    // Whatever else the document describes is an extension of this service, and says so.
    for (path, methods) in document["paths"].as_object().unwrap() {
        for (method, described) in methods.as_object().unwrap() {
            let name = described["operationId"].as_str().unwrap();
            if !operations.contains_key(name) {
                assert_eq!(described["tags"][0], EXTENSIONS_TAG, "{method} {path}");
            }
        }
    }
}

struct Checker<'a> {
    document: &'a Value,
    shapes: &'a Value,
}

impl Checker<'_> {
    /// Follows a `$ref` into the components.
    fn resolve<'v>(&'v self, schema: &'v Value) -> &'v Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference
                    .strip_prefix("#/components/schemas/")
                    .expect("a component reference");
                let found = &self.document["components"]["schemas"][name];
                assert!(found.is_object(), "{reference} exists");
                found
            }
            None => schema,
        }
    }

    fn input(&self, operation: &str, described: &Value, input: &Value) {
        let required: Vec<&str> = input["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let parameters = described["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let body = self.resolve(&described["requestBody"]["content"]["application/json"]["schema"]);
        let mut body_members = Vec::new();
        let mut parameter_count = 0;
        for (member, spec) in input["members"].as_object().unwrap() {
            let context = format!("{operation}.{member}");
            let shape = &self.shapes[spec["shape"].as_str().unwrap()];
            let place = match spec["location"].as_str() {
                Some("uri") => Some("path"),
                Some("querystring") => Some("query"),
                None => None,
                Some(other) => panic!("{context}: location {other}"),
            };
            let is_required = required.contains(&member.as_str());
            match place {
                Some(place) => {
                    parameter_count += 1;
                    let wire_name = spec["locationName"].as_str().unwrap();
                    let parameter = parameters
                        .iter()
                        .find(|p| p["name"] == wire_name && p["in"] == place)
                        .unwrap_or_else(|| panic!("{context}: a {place} parameter"));
                    assert_eq!(
                        parameter["required"].as_bool().unwrap_or(false),
                        is_required,
                        "{context}: required"
                    );
                    self.same_shape(&context, &parameter["schema"], shape);
                }
                None => {
                    body_members.push(member.as_str());
                    let mut property = &body["properties"][member];
                    assert!(property.is_object(), "{context}: in the body");
                    let listed = body["required"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|n| n == member));
                    assert_eq!(listed, is_required, "{context}: required");
                    // An optional member may be null (taken as absent); a required one may not.
                    if let Some(either) = property["anyOf"].as_array() {
                        assert!(!is_required, "{context}: null allowed only when optional");
                        assert_eq!(either.len(), 2, "{context}");
                        assert_eq!(either[1], serde_json::json!({"type": "null"}), "{context}");
                        property = &either[0];
                    }
                    self.same_shape(&context, property, shape);
                }
            }
        }
        assert_eq!(
            parameters.len(),
            parameter_count,
            "{operation}: no other parameters"
        );
        let body_required = input["members"]
            .as_object()
            .unwrap()
            .iter()
            .any(|(m, spec)| spec["location"].is_null() && required.contains(&m.as_str()));
        assert_eq!(
            described["requestBody"]["required"]
                .as_bool()
                .unwrap_or(false),
            body_required,
            "{operation}: the body is required when a member of it is"
        );
        let described_members = body["properties"]
            .as_object()
            .map(|p| p.len())
            .unwrap_or_default();
        assert_eq!(
            described_members,
            body_members.len(),
            "{operation}: no other body members"
        );
    }

    fn output(&self, operation: &str, described: &Value, output: &Value) {
        let schema =
            self.resolve(&described["responses"]["200"]["content"]["application/json"]["schema"]);
        let members: Vec<(&String, &Value)> = output["members"]
            .as_object()
            .unwrap()
            .iter()
            // A member bound to the HTTP status is not in the body.
            .filter(|(_, spec)| spec["location"] != "statusCode")
            .collect();
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            properties.len(),
            members.len(),
            "{operation}: output members"
        );
        for (member, spec) in members {
            let context = format!("{operation} output {member}");
            let shape = &self.shapes[spec["shape"].as_str().unwrap()];
            assert!(properties.contains_key(member), "{context}: described");
            self.same_shape(&context, &properties[member], shape);
        }
    }

    /// The described schema carries the model shape's type and every constraint.
    fn same_shape(&self, context: &str, schema: &Value, shape: &Value) {
        let schema = self.resolve(schema);
        let shape_type = shape["type"].as_str().unwrap();
        let expected = match shape_type {
            "string" => "string",
            "integer" | "long" => "integer",
            "list" => "array",
            "structure" => "object",
            other => panic!("{context}: model type {other}"),
        };
        assert_eq!(schema["type"], expected, "{context}: type");
        match shape_type {
            "string" => {
                let min = shape["min"].as_u64().unwrap_or(0);
                assert_eq!(
                    schema["minLength"].as_u64().unwrap_or(0),
                    min,
                    "{context}: min"
                );
                assert_eq!(schema["maxLength"], shape["max"], "{context}: max");
                let pattern = shape["pattern"].as_str().map(whole_value);
                assert_eq!(
                    schema["pattern"].as_str(),
                    pattern.as_deref(),
                    "{context}: pattern"
                );
                assert_eq!(schema["enum"], shape["enum"], "{context}: enum");
            }
            "integer" | "long" => {
                for (ours, theirs) in [("minimum", "min"), ("maximum", "max")] {
                    assert_eq!(
                        schema[ours].as_f64(),
                        shape[theirs].as_f64(),
                        "{context}: {theirs}"
                    );
                }
            }
            "list" => {
                let item = &self.shapes[shape["member"]["shape"].as_str().unwrap()];
                self.same_shape(context, &schema["items"], item);
            }
            _ => {
                let members = shape["members"].as_object().unwrap();
                let properties = schema["properties"].as_object().unwrap();
                assert_eq!(properties.len(), members.len(), "{context}: members");
                for (member, spec) in members {
                    let inner = &self.shapes[spec["shape"].as_str().unwrap()];
                    self.same_shape(&format!("{context}.{member}"), &properties[member], inner);
                }
            }
        }
    }
}

#[test]
fn patterns_are_published_anchored() {
    // Said once in full, so that the model comparison's use of `whole_value` is not only the
    // implementation checked against itself.
    let document: Value = serde_json::from_str(COMMITTED).unwrap();
    assert_eq!(
        document["components"]["schemas"]["Email"]["pattern"],
        r"^(?:[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,4})$"
    );
    assert_eq!(
        document["components"]["schemas"]["RoleArn"]["pattern"],
        r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$"
    );
}

#[tokio::test]
async fn every_described_route_is_served() {
    let app = spawn_app().await;
    let (_, document) = served_document(&app).await;
    let mut count = 0;
    for (path, methods) in document["paths"].as_object().unwrap() {
        for (method, described) in methods.as_object().unwrap() {
            let concrete = path
                .replace("{userId}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
                .replace("{permissionGroupId}", "01ARZ3NDEKTSV4RRFFQ69G5FAW");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app.request(method.clone(), &concrete).send().await.unwrap();
            let error_type = response
                .headers()
                .get("x-amzn-ErrorType")
                .map(|v| v.to_str().unwrap().to_owned());
            assert_ne!(
                error_type.as_deref(),
                Some("UnknownOperationException"),
                "{method} {path} ({}) is routed",
                described["operationId"]
            );
            assert!(response.status().as_u16() < 500, "{method} {path}");
            count += 1;
        }
    }
    assert_eq!(
        count,
        OPERATIONS.len(),
        "every route of the catalog is described"
    );
}
