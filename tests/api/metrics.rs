//! `GET /metrics`: parsed with the Prometheus project's own text parser (the Python client's),
//! its figures checked against what the test did; the root-only and separate-listener settings.

use std::collections::HashMap;
use std::process::Stdio;

use aws_sdk_finspacedata::types::UserStatus;
use reqwest::Method;
use tokio::io::AsyncWriteExt;

use crate::helpers::{
    TestApp, python_command, python_modules_available, spawn_app, spawn_app_with, unique_email,
};
use userdir::config::MetricsAccess;

/// A sample's name and labels (sorted).
type SampleKey = (String, Vec<(String, String)>);
/// A sample as the parser prints it: name, labels, value.
type Parsed = (String, Vec<(String, String)>, f64);
/// Every sample, by name and labels.
type Samples = HashMap<SampleKey, f64>;

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append([s.name, sorted(s.labels.items()), s.value])
print(json.dumps(samples))
"#;

/// The exposition parsed by `prometheus_client.parser`; None (skipped, loudly) where Python or the
/// package is missing, except under CI, which installs it.
async fn parse(text: &str) -> Option<Samples> {
    if !python_modules_available("metrics parse check", &["prometheus_client"]) {
        return None;
    }
    let mut child = python_command()
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).await.expect("write");
    drop(stdin);
    let out = child.wait_with_output().await.expect("python3 ends");
    assert!(
        out.status.success(),
        "the Prometheus parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Parsed> = serde_json::from_slice(&out.stdout).expect("JSON");
    Some(
        parsed
            .into_iter()
            .map(|(name, labels, value)| ((name, labels), value))
            .collect(),
    )
}

fn sample(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    *samples
        .get(&(name.to_owned(), labels.clone()))
        .unwrap_or_else(|| panic!("{name}{labels:?} is not exposed"))
}

async fn scrape(app: &TestApp) -> String {
    let res = app.get_unsigned("/metrics").await;
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    res.text().await.expect("text")
}

#[tokio::test]
async fn metrics_count_what_was_done_and_parse_as_prometheus_text() {
    let app = spawn_app().await;
    let first = app.create_user(&unique_email("metrics")).await;
    let second = app.create_user(&unique_email("metrics")).await;
    // A CREATING user cannot be disabled yet.
    app.wait_for_status(&second, UserStatus::Enabled).await;
    app.disable_user(&second).await;
    app.get_user(&first).await;
    let missing = app
        .sdk
        .get_user()
        .user_id("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .send()
        .await;
    assert!(missing.is_err());
    let unsigned = app.get_unsigned("/user").await;
    assert_eq!(unsigned.status(), 403);
    app.wait_for_status(&first, UserStatus::Enabled).await;

    let text = scrape(&app).await;
    for family in [
        "userdir_requests_total",
        "userdir_request_duration_seconds",
        "userdir_throttled_total",
        "userdir_commit_writes",
        "userdir_commit_duration_seconds",
        "userdir_users",
        "userdir_idempotency_tokens",
        "userdir_lifecycle_backlog",
        "userdir_db_connections_open",
        "userdir_user_cache_hits_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} in\n{text}"
        );
    }
    let Some(samples) = parse(&text).await else {
        return;
    };
    let requests = |operation: &str, outcome: &str| {
        sample(
            &samples,
            "userdir_requests_total",
            &[("operation", operation), ("outcome", outcome)],
        )
    };
    assert_eq!(requests("CreateUser", "Success"), 2.0);
    assert_eq!(requests("DisableUser", "Success"), 1.0);
    assert_eq!(requests("GetUser", "ResourceNotFoundException"), 1.0);
    assert!(requests("GetUser", "Success") >= 1.0);
    assert_eq!(
        requests("ListUsers", "MissingAuthenticationTokenException"),
        1.0
    );
    let get_users = sample(
        &samples,
        "userdir_request_duration_seconds_count",
        &[("operation", "GetUser")],
    );
    assert_eq!(
        get_users,
        requests("GetUser", "Success") + requests("GetUser", "ResourceNotFoundException")
    );
    assert!(
        sample(
            &samples,
            "userdir_request_duration_seconds_bucket",
            &[("operation", "CreateUser"), ("le", "+Inf")]
        ) == 2.0
    );
    assert_eq!(
        sample(&samples, "userdir_users", &[("status", "DISABLED")]),
        1.0
    );
    assert_eq!(
        sample(&samples, "userdir_users", &[("status", "ENABLED")]),
        1.0
    );
    assert_eq!(
        sample(&samples, "userdir_users", &[("status", "CREATING")]),
        0.0
    );
    assert_eq!(sample(&samples, "userdir_lifecycle_backlog", &[]), 0.0);
    assert_eq!(sample(&samples, "userdir_throttled_total", &[]), 0.0);
    // Two creates and a disable at least (the activation commits too).
    assert!(sample(&samples, "userdir_commit_writes_sum", &[]) >= 3.0);
    assert!(sample(&samples, "userdir_commit_duration_seconds_count", &[]) >= 1.0);
    let pools: Vec<_> = samples
        .keys()
        .filter(|(name, _)| name == "userdir_db_connections_max")
        .collect();
    assert!(!pools.is_empty(), "pool figures exposed");
    for ((_, labels), value) in samples
        .iter()
        .filter(|((n, _), _)| n == "userdir_db_connections_max")
    {
        assert!(*value >= 1.0, "{labels:?}");
    }
}

#[tokio::test]
async fn metrics_can_require_the_root_key() {
    let app = spawn_app_with(|s| s.metrics.access = MetricsAccess::Root).await;
    let unsigned = app.get_unsigned("/metrics").await;
    assert_eq!(unsigned.status(), 403);
    let signed = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .expect("sent");
    assert_eq!(signed.status(), 200);
    let text = signed.text().await.expect("text");
    assert!(text.contains("userdir_requests_total"), "{text}");
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let app = spawn_app_with(|s| s.metrics.listen = "127.0.0.1:0".into()).await;
    let port = app.metrics_port.expect("a metrics listener");
    let own = format!("http://127.0.0.1:{port}");
    let on_api = app.get_unsigned("/metrics").await;
    assert_eq!(on_api.status(), 404, "not on the API's port");
    let scraped = app
        .http
        .get(format!("{own}/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(scraped.status(), 200);
    let api_there = app
        .http
        .get(format!("{own}/health/live"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        api_there.status(),
        404,
        "only /metrics on the metrics listener"
    );
    app.create_user(&unique_email("split")).await;
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(|s| s.metrics.access = MetricsAccess::Off).await;
    let res = app.get_unsigned("/metrics").await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let signed = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .expect("sent");
    assert_eq!(signed.status(), 404);
}
