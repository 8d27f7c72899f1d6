//! The wire details, checked with raw HTTP: headers, error bodies, members, and every constraint.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, damage_database, failure, import_users, skipped_on_postgres, spawn_app, spawn_app_in,
    spawn_app_with, unique_email,
};

/// Asserts an AWS rest-json error: status, `x-amzn-ErrorType`, request id, and a JSON body whose
/// message contains every `needle`. Returns the body.
async fn assert_aws_error(
    response: reqwest::Response,
    status: StatusCode,
    error_type: &str,
    needles: &[&str],
) -> Value {
    assert_eq!(response.status(), status, "status");
    let headers = response.headers().clone();
    assert_eq!(
        headers
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok()),
        Some(error_type),
        "x-amzn-ErrorType"
    );
    assert!(
        headers.contains_key("x-amzn-RequestId"),
        "every response has a request id"
    );
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "error bodies are JSON"
    );
    let body: Value = response.json().await.expect("JSON error body");
    let message = body["message"].as_str().expect("a message member");
    for needle in needles {
        assert!(
            message.contains(needle),
            "message {message:?} should contain {needle:?}"
        );
    }
    body
}

async fn post_user(app: &TestApp, body: &Value) -> reqwest::Response {
    app.request(reqwest::Method::POST, "/user")
        .json(body)
        .send()
        .await
        .expect("request is answered")
}

#[tokio::test]
async fn success_responses_carry_a_request_id_and_json() {
    let app = spawn_app().await;

    let response = post_user(
        &app,
        &json!({"emailAddress": unique_email("wire"), "type": "APP_USER"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let request_id = response
        .headers()
        .get("x-amzn-RequestId")
        .expect("request id")
        .clone();
    assert!(!request_id.is_empty());
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "only userId: {body}"
    );
    assert_eq!(body["userId"].as_str().map(str::len), Some(26));
}

#[tokio::test]
async fn absent_optional_members_are_omitted_not_null() {
    let app = spawn_app_with(|s| s.lifecycle.activation_delay_ms = 3_600_000).await;
    let user_id = app.create_user(&unique_email("sparse")).await;

    let body: Value = app
        .request(reqwest::Method::GET, &format!("/user/{user_id}"))
        .send()
        .await
        .expect("GetUser")
        .json()
        .await
        .expect("JSON body");

    let object = body.as_object().expect("an object");
    for absent in [
        "firstName",
        "lastName",
        "apiAccessPrincipalArn",
        "lastEnabledTime",
        "lastDisabledTime",
        "lastLoginTime",
    ] {
        assert!(
            !object.contains_key(absent),
            "{absent} should be omitted: {body}"
        );
    }
    for present in [
        "userId",
        "status",
        "emailAddress",
        "type",
        "apiAccess",
        "createTime",
        "lastModifiedTime",
    ] {
        assert!(
            object.contains_key(present),
            "{present} should be served: {body}"
        );
    }
    assert!(body["createTime"].is_i64(), "times are epoch milliseconds");
    assert!(object.values().all(|v| !v.is_null()), "no nulls: {body}");
}

#[tokio::test]
async fn the_legacy_api_access_spelling_is_accepted() {
    let app = spawn_app().await;

    let response = post_user(
        &app,
        &json!({"emailAddress": unique_email("legacy"), "type": "APP_USER", "ApiAccess": "ENABLED"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let user_id = response.json::<Value>().await.expect("JSON")["userId"]
        .as_str()
        .expect("id")
        .to_owned();
    let user = app.get_user(&user_id).await;
    assert_eq!(
        user.api_access(),
        Some(&aws_sdk_finspacedata::types::ApiAccess::Enabled)
    );

    let both = post_user(
        &app,
        &json!({"emailAddress": unique_email("both"), "type": "APP_USER",
                "apiAccess": "ENABLED", "ApiAccess": "DISABLED"}),
    )
    .await;
    assert_aws_error(
        both,
        StatusCode::BAD_REQUEST,
        "ValidationException",
        &["apiAccess"],
    )
    .await;
}

#[tokio::test]
async fn malformed_bodies_are_validation_errors() {
    let app = spawn_app().await;
    let cases: &[(&str, &str, &str)] = &[
        ("application/json", "{\"emailAddress\": ", "not valid JSON"),
        ("application/json", "[1, 2]", "JSON object"),
        ("application/json", "\"a string\"", "JSON object"),
        (
            "text/plain",
            "{\"emailAddress\": \"a@b.co\", \"type\": \"APP_USER\"}",
            "Content-Type",
        ),
        ("application/xml", "<user/>", "Content-Type"),
    ];

    for (content_type, body, needle) in cases {
        let response = app
            .request(reqwest::Method::POST, "/user")
            .content_type(content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("answered");
        assert_aws_error(
            response,
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &[needle],
        )
        .await;
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let app = spawn_app_with(|s| s.server.body_limit_bytes = 1024).await;

    let response = post_user(
        &app,
        &json!({"emailAddress": unique_email("big"), "type": "APP_USER", "padding": "x".repeat(2048)}),
    )
    .await;

    assert_aws_error(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "ValidationException",
        &["1024 bytes"],
    )
    .await;
}

#[tokio::test]
async fn an_oversized_chunked_body_is_refused_too() {
    let app = spawn_app_with(|s| s.server.body_limit_bytes = 1024).await;
    let body = format!("{{\"padding\": \"{}\"}}", "x".repeat(4096));

    let response = app
        .request(reqwest::Method::POST, "/user")
        .content_type("application/json")
        .body(body)
        .chunked()
        .send()
        .await
        .expect("answered");

    assert_aws_error(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "ValidationException",
        &["1024 bytes"],
    )
    .await;
}

#[tokio::test]
async fn every_violation_is_reported_at_once() {
    let app = spawn_app().await;

    let response = post_user(&app, &json!({"firstName": 5})).await;

    let body = assert_aws_error(
        response,
        StatusCode::BAD_REQUEST,
        "ValidationException",
        &[
            "3 validation errors detected",
            "'emailAddress'",
            "'type'",
            "'firstName'",
            "must not be null",
            "must be a string",
        ],
    )
    .await;
    assert_eq!(body["reason"], "FIELD_VALIDATION_FAILED");
}

#[tokio::test]
async fn every_create_user_constraint_is_enforced() {
    let app = spawn_app().await;
    let long_arn = format!("arn:aws:iam::123456789012:role/{}", "r".repeat(2048));
    // (member, value, the rule the message must name)
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "emailAddress",
            json!("a@b"),
            "length greater than or equal to 4",
        ),
        (
            "emailAddress",
            json!(format!("{}@example.com", "a".repeat(320))),
            "length less than or equal to 320",
        ),
        (
            "emailAddress",
            json!("no-at-sign.example.com"),
            "regular expression pattern",
        ),
        (
            "emailAddress",
            json!("a@example.c"),
            "regular expression pattern",
        ),
        (
            "emailAddress",
            json!("a b@example.com"),
            "regular expression pattern",
        ),
        ("emailAddress", json!(42), "must be a string"),
        (
            "type",
            json!("ADMIN"),
            "enum value set: [SUPER_USER, APP_USER]",
        ),
        ("type", json!("app_user"), "enum value set"),
        ("type", json!(true), "must be a string"),
        ("firstName", json!(""), "length greater than or equal to 1"),
        (
            "firstName",
            json!("   "),
            "regular expression pattern: .*\\S.*",
        ),
        (
            "firstName",
            json!("x".repeat(51)),
            "length less than or equal to 50",
        ),
        ("lastName", json!(""), "length greater than or equal to 1"),
        ("lastName", json!("\t"), "regular expression pattern"),
        (
            "lastName",
            json!("y".repeat(51)),
            "length less than or equal to 50",
        ),
        ("lastName", json!(["a"]), "must be a string"),
        (
            "apiAccess",
            json!("YES"),
            "enum value set: [ENABLED, DISABLED]",
        ),
        (
            "ApiAccess",
            json!("enabled"),
            "enum value set: [ENABLED, DISABLED]",
        ),
        (
            "apiAccessPrincipalArn",
            json!("arn:aws:iam::1:role"),
            "length greater than or equal to 20",
        ),
        (
            "apiAccessPrincipalArn",
            json!("arn:aws:iam::123456789012:user/Bob"),
            "regular expression pattern",
        ),
        (
            "apiAccessPrincipalArn",
            json!(long_arn),
            "length less than or equal to 2048",
        ),
        (
            "clientToken",
            json!(""),
            "length greater than or equal to 1",
        ),
        ("clientToken", json!(" "), "regular expression pattern"),
        (
            "clientToken",
            json!("t".repeat(129)),
            "length less than or equal to 128",
        ),
        ("clientToken", json!({"a": 1}), "must be a string"),
    ];

    for (member, value, rule) in cases {
        let mut body = json!({"emailAddress": unique_email("constraint"), "type": "APP_USER"});
        body[member] = value;
        let response = post_user(&app, &body).await;
        let reported = if member == "ApiAccess" {
            "ApiAccess"
        } else {
            member
        };
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "case {member} = {}",
            body[member]
        );
        assert_aws_error(
            response,
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &[&format!("'{reported}'"), rule],
        )
        .await;
    }
}

#[tokio::test]
async fn every_update_user_constraint_is_enforced() {
    let app = spawn_app().await;
    let user_id = app.create_user(&unique_email("update-constraints")).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("type", json!("ROOT"), "enum value set"),
        ("firstName", json!(""), "length greater than or equal to 1"),
        (
            "lastName",
            json!("z".repeat(51)),
            "length less than or equal to 50",
        ),
        ("apiAccess", json!("ON"), "enum value set"),
        (
            "apiAccessPrincipalArn",
            json!("not-an-arn-but-long-enough"),
            "regular expression pattern",
        ),
        (
            "clientToken",
            json!("t".repeat(129)),
            "length less than or equal to 128",
        ),
    ];

    for (member, value, rule) in cases {
        let response = app
            .request(reqwest::Method::PUT, &format!("/user/{user_id}"))
            .json(&json!({ member: value }))
            .send()
            .await
            .expect("answered");
        assert_aws_error(
            response,
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &[&format!("'{member}'"), rule],
        )
        .await;
    }
}

#[tokio::test]
async fn user_ids_in_the_path_are_validated() {
    let app = spawn_app().await;
    let cases = [
        ("A".repeat(27), "length less than or equal to 26"),
        ("%20%20".to_owned(), "regular expression pattern"),
    ];

    for (user_id, rule) in cases {
        let response = app
            .request(reqwest::Method::GET, &format!("/user/{user_id}"))
            .send()
            .await
            .expect("answered");
        assert_aws_error(
            response,
            StatusCode::BAD_REQUEST,
            "ValidationException",
            &["'userId'", rule],
        )
        .await;
    }
}

#[tokio::test]
async fn not_found_and_conflict_bodies_carry_a_reason() {
    let app = spawn_app().await;
    let missing = ulid::Ulid::generate().to_string();

    let response = app
        .request(reqwest::Method::GET, &format!("/user/{missing}"))
        .send()
        .await
        .expect("answered");
    let body = assert_aws_error(
        response,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        &[&missing],
    )
    .await;
    assert_eq!(body["reason"], "USER_NOT_FOUND");

    let email = unique_email("dup");
    app.create_user(&email).await;
    let response = post_user(
        &app,
        &json!({"emailAddress": email.to_uppercase(), "type": "APP_USER"}),
    )
    .await;
    let body = assert_aws_error(
        response,
        StatusCode::CONFLICT,
        "ConflictException",
        &["already exists"],
    )
    .await;
    assert_eq!(body["reason"], "EMAIL_ALREADY_REGISTERED");
    assert!(
        !body["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&email),
        "the email is not echoed"
    );
}

#[tokio::test]
async fn unknown_routes_answer_in_the_aws_format() {
    let app = spawn_app().await;

    let response = app
        .request(reqwest::Method::GET, "/users/x")
        .send()
        .await
        .expect("answered");
    assert_aws_error(
        response,
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        &["GET /users/x"],
    )
    .await;

    // A known path with a method none of its operations has: 405, saying which it allows.
    let response = app
        .request(reqwest::Method::DELETE, "/user")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.headers()["allow"], "GET, POST");
    assert_aws_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "UnknownOperationException",
        &["DELETE /user", "allows GET, POST"],
    )
    .await;
    // On an open path too, with no signature needed.
    let response = app
        .request(reqwest::Method::PUT, "/health/live")
        .unsigned()
        .send()
        .await
        .expect("answered");
    assert_eq!(response.headers()["allow"], "GET");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn an_internal_fault_is_a_500_that_leaks_nothing() {
    if skipped_on_postgres("a fault made by damaging the database file") {
        return;
    }
    // Users enough to fill many pages; once the server runs, a failing disk's garbage over half
    // of them.
    let dir = std::sync::Arc::new(crate::helpers::tempdir());
    let ids: Vec<String> = (0..3000)
        .map(|_| ulid::Ulid::generate().to_string())
        .collect();
    let lines: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            format!("{{\"userId\":\"{id}\",\"emailAddress\":\"f{i}@example.com\",\"type\":\"APP_USER\"}}\n")
        })
        .collect();
    import_users(dir.path(), &lines).await;
    let app = spawn_app_in(dir.clone(), |_| {}).await;
    damage_database(dir.path());

    let mut fault = None;
    for id in &ids {
        let response = app
            .request(reqwest::Method::GET, &format!("/user/{id}"))
            .send()
            .await
            .expect("answered");
        if response.status() != StatusCode::OK {
            fault = Some((id.clone(), response));
            break;
        }
    }
    let (user_id, response) = fault.expect("a user on a damaged page");
    let body = assert_aws_error(
        response,
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerException",
        &["unknown error"],
    )
    .await;
    let text = body.to_string();
    for secret in ["users", "sqlite", "SQL", "table"] {
        assert!(!text.contains(secret), "{secret:?} leaked: {text}");
    }
    assert_eq!(
        failure(
            app.sdk.get_user().user_id(&user_id).send().await,
            "the fault persists"
        ),
        "InternalServerException",
        "the SDK sees InternalServerException"
    );
}

#[tokio::test]
async fn health_probes_answer() {
    let app = spawn_app().await;

    for path in ["/health/live", "/health/ready"] {
        let response = app
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.headers().contains_key("x-amzn-RequestId"));
    }
}
