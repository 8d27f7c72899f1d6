//! Hostile input: what a flood of failed authentications may cost, whose word on the client's
//! address is taken, and that request input cannot forge a log line or an audit listing row.

use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use userdir_core::domain::Clock;

use crate::helpers::{
    RemoteApp, TestApp, percent_encoded, spawn_app_with, unique_email, userdir_command,
};

/// The database as the server names it in its first log line.
fn database_shown(dir: &std::path::Path) -> String {
    match crate::helpers::database_url(dir) {
        Some(url) => url,
        None => dir.join("userdir.db").display().to_string(),
    }
}

/// The database file and its WAL, in bytes (0 where the database is not a file here).
fn database_bytes(app: &TestApp) -> u64 {
    let wal = app.db_path.with_extension("db-wal");
    [&app.db_path, &wal]
        .iter()
        .map(|file| std::fs::metadata(file).map_or(0, |m| m.len()))
        .sum()
}

/// Failed authentications accounted for in the trail: (recorded one by one, counted in
/// summaries), of `operation` (or every Authenticate entry).
fn accounted(trail: &[Value], operation: &str) -> (u64, u64) {
    let counted = trail
        .iter()
        .filter(|e| e["outcome"] == "Coalesced")
        .filter_map(|e| e["detail"].as_str()?.split(' ').next()?.parse::<u64>().ok())
        .sum();
    let recorded = trail
        .iter()
        .filter(|e| e["operation"] == operation && e["outcome"] != "Coalesced")
        .count() as u64;
    (recorded, counted)
}

/// Polls the trail (bounded) until `total` failures are accounted for; returns (recorded, counted).
async fn wait_accounted(app: &TestApp, operation: &str, total: u64) -> (u64, u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (recorded, counted) = accounted(&app.audit_events().await, operation);
        if recorded + counted == total {
            return (recorded, counted);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "every failure is accounted for: {recorded} recorded + {counted} counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_failed_authentications_cannot_fill_the_disk_or_shut_out_signed_clients() {
    let app = spawn_app_with(|s| s.audit.summary_interval_secs = 1).await;
    let user_id = app.create_user(&unique_email("flooded")).await;
    let before = database_bytes(&app);

    // 5,000 requests, each claiming a 30,000-character key id (or carrying no signature at all),
    // 32 at a time, while a signed client goes on reading.
    let claimed = "A".repeat(30_000);
    // Made (and checked as a header value) once; each request shares it.
    let authorization = reqwest::header::HeaderValue::from_str(&format!(
        "AWS4-HMAC-SHA256 Credential={claimed}/20261130/us-east-1/finspace-api/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=00"
    ))
    .expect("a header value");
    let flood = futures_util::stream::iter(0..5_000)
        .map(|i| {
            let request = app.http.get(app.url(&format!("/user/{user_id}")));
            let request = if i % 10 == 0 {
                request
            } else {
                request.header("authorization", authorization.clone())
            };
            async move { request.send().await.expect("answered").status() }
        })
        .buffer_unordered(32)
        .collect::<Vec<StatusCode>>();
    let reader = async {
        let mut served = 0;
        for _ in 0..100 {
            app.sdk
                .get_user()
                .user_id(&user_id)
                .send()
                .await
                .expect("a signed client is served throughout");
            served += 1;
        }
        served
    };
    let (statuses, served) = tokio::join!(flood, reader);

    assert_eq!(served, 100);
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::FORBIDDEN || *s == StatusCode::TOO_MANY_REQUESTS),
        "only refusals: {:?}",
        statuses.iter().find(|s| !s.is_client_error())
    );
    assert!(limited > 4_000, "the address is limited: {limited} of 5000");

    // The counted failures are summarised once the keeper has run.
    let (recorded, _) = wait_accounted(&app, "Authenticate", 5_000).await;
    assert!(recorded <= 100, "recorded one by one: {recorded}");
    // (On PostgreSQL the database is not a file here: the recorded count above bounds it.)
    let grown = database_bytes(&app).saturating_sub(before);
    assert!(grown < 1_000_000, "the database grew by {grown} bytes");
}

async fn sign_in_status(app: &TestApp, forwarded_for: &str) -> StatusCode {
    app.http
        .post(app.url("/auth/sign-in"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"emailAddress": unique_email("nobody"), "password": "Wrong-Password-1"}))
        .send()
        .await
        .expect("answered")
        .status()
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let behind_proxy = spawn_app_with(|s| {
        s.server.trusted_proxies = "127.0.0.0/8".into();
        s.sign_in.attempts_per_client_per_minute = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            sign_in_status(&behind_proxy, "198.51.100.1").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in_status(&behind_proxy, "198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the client named by the proxy is throttled"
    );
    assert_eq!(
        sign_in_status(&behind_proxy, "198.51.100.2").await,
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy is not"
    );

    let direct = spawn_app_with(|s| s.sign_in.attempts_per_client_per_minute = 2).await;
    for claimed in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(
            sign_in_status(&direct, claimed).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in_status(&direct, "198.51.100.3").await,
        StatusCode::TOO_MANY_REQUESTS,
        "an untrusted peer's X-Forwarded-For is ignored"
    );
}

#[tokio::test]
async fn old_audit_entries_are_deleted_past_their_retention() {
    let app = spawn_app_with(|s| {
        s.audit.retention_days = 1;
        s.audit.summary_interval_secs = 1;
    })
    .await;
    let old = app.create_user(&unique_email("old")).await;
    app.clock.advance(Duration::from_secs(2 * 86_400));
    // Signed as a client whose clock agrees with the server's.
    let later = SystemTime::from(app.clock.now());
    let created: Value = app
        .request(Method::POST, "/user")
        .json(&json!({"emailAddress": unique_email("new"), "type": "APP_USER"}))
        .signed_at(later)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    let new = created["userId"].as_str().expect("userId").to_owned();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let trail = app.audit_events_at(later).await;
        let targets: Vec<&str> = trail.iter().filter_map(|e| e["target"].as_str()).collect();
        assert!(targets.contains(&new.as_str()), "a recent entry stays");
        if !targets.contains(&old.as_str()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the two-day-old entry is deleted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every control character a terminal acts on, and the Unicode line separator.
const HOSTILE: &str = "a\rb\tc\u{8}d\u{7f}e\u{b}f\u{1b}[31mg\u{1b}]0;t\u{7}h\u{2028}";

/// Characters that must never reach a log or a listing from request input, but for `allowed`.
fn raw_controls(bytes: &[u8], allowed: &[char]) -> Vec<char> {
    let text = String::from_utf8_lossy(bytes);
    text.chars()
        .filter(|c| !allowed.contains(c) && (c.is_control() || *c == '\u{2028}'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_input_cannot_forge_log_lines_or_audit_rows() {
    let dir = crate::helpers::tempdir();
    let port = crate::helpers::free_port();
    let mut child = userdir_command(dir.path())
        .arg("serve")
        .env("USERDIR__SERVER__PORT", port.to_string())
        .env("USERDIR__LOG__FILTER", "info,userdir=debug")
        .env("USERDIR__LOG__FORMAT", "pretty")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let app = RemoteApp::wait_ready(format!("http://127.0.0.1:{port}")).await;

    // In a path: a refused write (audited with its target) and a read.
    let id = percent_encoded(HOSTILE);
    let update = app
        .request(Method::PUT, &format!("/user/{id}"))
        .json(&json!({"firstName": "x"}))
        .send()
        .await
        .expect("answered");
    assert!(update.status().is_client_error(), "{}", update.status());
    let read = app
        .request(Method::GET, &format!("/user/{id}"))
        .send()
        .await
        .expect("answered");
    assert!(read.status().is_client_error());
    // In headers: a claimed key holding a TAB, and a date that is not one.
    let claimed = app
        .http
        .get(app.url("/user?maxResults=1"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AK\tID/20261130/us-east-1/finspace-api/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=00",
        )
        .header("x-amz-date", "2026\t1130")
        .send()
        .await
        .expect("answered");
    assert_eq!(claimed.status(), StatusCode::FORBIDDEN);

    let listing = userdir_command(dir.path())
        .arg("audit")
        .output()
        .await
        .expect("audit runs");
    assert!(listing.status.success());
    let table = String::from_utf8_lossy(&listing.stdout);
    for line in table.lines() {
        assert_eq!(line.matches('\t').count(), 7, "8 columns: {line:?}");
    }
    let columns = |line: &str| line.split('\t').map(str::to_owned).collect::<Vec<_>>();
    assert!(
        table
            .lines()
            .map(columns)
            .any(|c| c[4] == "UpdateUser" && c[5].contains("\\r") && c[5].contains("\\u{1b}")),
        "the refused write's target is listed, escaped:\n{table}"
    );
    assert!(
        table
            .lines()
            .map(columns)
            .any(|c| c[3] == "unauthenticated:AK\\tID"),
        "the claimed key is listed, escaped:\n{table}"
    );
    assert_eq!(
        raw_controls(&listing.stdout, &['\t', '\n']),
        Vec::<char>::new(),
        "{table}"
    );

    // The log: stop the server so that everything is flushed, then read it whole.
    let _ = tokio::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().expect("pid").to_string())
        .status()
        .await;
    let output = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = child.wait().await;
        let mut stdout = Vec::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut out, &mut stdout).await;
        }
        stdout
    })
    .await
    .expect("the server stops");
    let log = String::from_utf8_lossy(&output);
    assert!(
        log.contains("\\u{1b}") && log.contains("\\r"),
        "request input reaches the log escaped:\n{log}"
    );
    assert_eq!(raw_controls(&output, &['\n']), Vec::<char>::new(), "{log}");
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.contains("userdir starting")
            && first.contains(concat!("version=", env!("CARGO_PKG_VERSION")))
            && first.contains(&database_shown(dir.path()))
            && first.contains("config_files=none"),
        "the first line says what runs on what: {first}"
    );
    for line in log.lines() {
        assert!(
            line.starts_with("20"),
            "every line is one the server began: {line:?}"
        );
    }
}

#[tokio::test]
async fn failed_sign_ins_cost_an_audit_entry_only_within_the_failure_budget() {
    let app = spawn_app_with(|s| {
        s.auth.failures_per_client_per_minute = 5;
        s.audit.summary_interval_secs = 1;
    })
    .await;
    // Malformed, wrong and throttled sign-ins alike: none has a caller. (Mostly malformed: a
    // wrong password costs an argon2 verification.)
    for i in 0..300 {
        let body = if i % 20 != 0 {
            json!({"emailAddress": "not an email"})
        } else {
            json!({"emailAddress": unique_email("guess"), "password": "Wrong-Password-1"})
        };
        let status = app
            .http
            .post(app.url("/auth/sign-in"))
            .json(&body)
            .send()
            .await
            .expect("answered")
            .status();
        assert!(status.is_client_error(), "{status}");
    }
    let (recorded, _) = wait_accounted(&app, "SignIn", 300).await;
    assert!(
        recorded <= 5,
        "{recorded} sign-in refusals recorded one by one"
    );
}
