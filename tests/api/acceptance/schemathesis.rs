//! The OpenAPI document the server serves, put to an independent checker that generates requests
//! from it (`tests/api/openapi.rs` holds the document itself to the service model).

use userdir::api::catalog::OPERATIONS;

use crate::helpers::*;

/// Schemathesis (PyPI) generates requests from the document, valid and not, signs them through a
/// hook (`tests/schemathesis/userdir_hooks.py`) and checks every answer against the document: no
/// 5xx, only documented statuses, headers and bodies, invalid input refused, valid input accepted
/// (the checks left out, and why, are in `tests/schemathesis/schemathesis.toml`). Bounded: a fixed
/// number of examples per operation and a fixed seed (about a thousand requests), and a time limit.
#[tokio::test]
async fn schemathesis_finds_nothing_wrong() {
    if !python_modules_available("schemathesis run", &["schemathesis", "botocore"]) {
        return;
    }
    let app = spawn_app_with(|s| {
        // Thousands of requests in a minute are the point here, not throttling.
        s.throttle.requests_per_second = 1_000_000;
        s.throttle.burst = 1_000_000;
        s.auth.failures_per_client_per_minute = 1_000_000;
        // Enough room for every user and group the run creates.
        s.limits.max_users = 1_000_000;
        s.limits.max_permission_groups = 1_000_000;
    })
    .await;
    let hooks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis");
    let run = python_command()
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(format!("{hooks}/schemathesis.toml"))
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args(["--url", &app.address])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", "12"])
        // One worker: Python's lock keeps a second from adding speed, and two threads parsing
        // lambdas at once trip CPython 3.11's "AST constructor recursion depth mismatch" in
        // hypothesis when the machine is busy (seen failing one run in two that way).
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .args(["--seed", "20261130"])
        .args(["--generation-database", "none"])
        .args(["--no-color"])
        // Its cache and the hook's bytecode go to the test's directory, not the source tree.
        .current_dir(app.dir.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // Except hypothesis's tables of which characters each codec encodes, derived from this
        // Python's Unicode data alone: made afresh in each test's directory, they cost 1.8
        // CPU-seconds a run (a loop over every code point). Examples are not stored (`none` above).
        .env(
            "HYPOTHESIS_STORAGE_DIRECTORY",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/hypothesis"),
        )
        .env("PYTHONPATH", hooks)
        .env("SCHEMATHESIS_HOOKS", "userdir_hooks")
        .env("USERDIR_TEST_ACCESS_KEY_ID", ROOT.access_key_id)
        .env("USERDIR_TEST_SECRET_ACCESS_KEY", ROOT.secret)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(600), run)
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("schemathesis runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}"
    );
    // It must have tested every operation (but the document's own URL, which it leaves out) with
    // many requests, not stopped at the document.
    let every = format!("Selected: {0}/{0}", OPERATIONS.len() - 1);
    assert!(
        report.lines().any(|line| line.trim() == every),
        "{every}:\n{report}"
    );
    let generated: u64 = report
        .lines()
        .find_map(|line| line.trim().split_once(" generated, "))
        .and_then(|(count, _)| count.parse().ok())
        .unwrap_or_else(|| panic!("a count of test cases:\n{report}"));
    assert!(generated >= 500, "{generated} test cases:\n{report}");
    eprintln!("schemathesis: {generated} test cases, every check passed");
}
