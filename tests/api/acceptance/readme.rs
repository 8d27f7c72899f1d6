//! The README's quickstart runs as written: its shell blocks, in order, in one fresh shell at a
//! "repository root" where `userdir` was started with no configuration, and its Python block.
//! Needs the `aws` CLI (and boto3 for the Python block): skipped loudly where they are missing,
//! and a failure under CI, whose `.ci/run` installs them.

use std::path::Path;
use std::time::Duration;

use crate::helpers::{
    RemoteApp, free_port, path_finding_python_tool, program_on_path, python_modules_available,
    python3,
};

/// The fenced blocks of `language` in the README section headed `## {section}`.
fn blocks(readme: &str, section: &str, language: &str) -> Vec<String> {
    let heading = format!("## {section}\n");
    let start = readme.find(&heading).expect("the section exists") + heading.len();
    let body = &readme[start..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    let fence = format!("```{language}\n");
    let mut found = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find(&fence) {
        let after = &rest[open + fence.len()..];
        let close = after.find("```").expect("a closed block");
        found.push(after[..close].to_owned());
        rest = &after[close + 3..];
    }
    found
}

/// Where a tool said it does not know the service, why that may be and what to do.
fn unknown_service_hint(stderr: &str) -> &'static str {
    let unknown = stderr.contains("Unknown service: 'finspace-data'")
        || stderr.contains("argument command: Invalid choice");
    if unknown {
        "\n(botocore dropped FinSpace Data in 1.43.117: `export PATH=\"$(scripts/test-python):$PATH\"` \
         gives the tests the releases pinned in tests/requirements.txt)"
    } else {
        ""
    }
}

/// A command in a fresh environment: only PATH (where `aws` is found without a shim, see
/// [`path_finding_python_tool`]), HOME at the root, and a UTF-8 locale.
fn fresh(program: &Path, root: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .current_dir(root)
        .env_clear()
        .env("PATH", path_finding_python_tool("aws"))
        .env("HOME", root)
        .env("LANG", "C.UTF-8")
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_runs_as_written() {
    if !program_on_path(
        "README quickstart check",
        "aws",
        &path_finding_python_tool("aws"),
    ) {
        return;
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let root = crate::helpers::tempdir();
    let port = free_port();
    let _server = fresh(Path::new(env!("CARGO_BIN_EXE_userdir")), root.path())
        .env("USERDIR__SERVER__PORT", port.to_string())
        .env("USERDIR__LOG__FILTER", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("userdir starts");
    RemoteApp::wait_ready(format!("http://127.0.0.1:{port}")).await;
    let here = |block: String| block.replace("127.0.0.1:8765", &format!("127.0.0.1:{port}"));

    let shell = blocks(&readme, "Quickstart", "sh");
    assert!(shell.len() >= 4, "the quickstart's shell blocks");
    let script = shell.into_iter().map(here).collect::<Vec<_>>().join("\n");
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        fresh(Path::new("bash"), root.path())
            .args(["-euo", "pipefail", "-c", &script])
            .output(),
    )
    .await
    .expect("the shell blocks finish")
    .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the shell blocks failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}{}",
        unknown_service_hint(&stderr)
    );
    for expected in [
        "\"Ada\"",
        "temporaryPassword",
        "\"operation\":\"CreateUser\"",
    ] {
        assert!(stdout.contains(expected), "{expected} in\n{stdout}");
    }

    let Some(python) = python3()
        .filter(|_| python_modules_available("README quickstart's Python block", &["boto3"]))
    else {
        return;
    };
    for block in blocks(&readme, "Quickstart", "python") {
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            fresh(python, root.path())
                .args(["-c", &here(block)])
                .output(),
        )
        .await
        .expect("the Python block finishes")
        .expect("python runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the Python block failed:\n{stderr}{}",
            unknown_service_hint(&stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = printed.lines().collect();
        assert!(
            matches!(lines.first(), Some(&"CREATING" | &"ENABLED")) && lines.len() >= 4,
            "status, the conflict's message, then every user:\n{printed}"
        );
    }
}
