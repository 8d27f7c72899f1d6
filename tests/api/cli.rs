//! The binary's command line: an unknown setting stops the start (exit status 2, the setting and
//! the closest known one on stderr); `userdir config` prints the effective configuration.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with `args` and, of the USERDIR variables, only those in `env`.
fn userdir(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_userdir"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().to_uppercase().starts_with("USERDIR") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

fn config_file(dir: &Path, text: &str) -> String {
    let file = dir.join("userdir.toml");
    std::fs::write(&file, text).expect("writes the file");
    file.to_str().expect("a Unicode path").to_owned()
}

#[test]
fn an_unknown_setting_stops_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    let file = config_file(dir.path(), "[server]\nprot = 9000\n");
    let out = userdir(
        &["--config", &file, "serve"],
        &[("USERDIR__SERVR__PORT", "9000")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "userdir: invalid configuration: unknown setting server.prot (from {file}) — did you \
             mean server.port?\n\
             userdir: invalid configuration: unknown setting servr.port (from environment \
             variable USERDIR__SERVR__PORT) — did you mean server.port?\n"
        )
    );
}

#[test]
fn config_prints_each_setting_with_its_source() {
    let dir = tempfile::tempdir().expect("dir");
    let file = config_file(
        dir.path(),
        "[server]\nport = 9000\n[auth]\nroot_secret_access_key = \"root-secret\"\n",
    );
    let out = userdir(
        &["--config", &file, "config"],
        &[("USERDIR__LOG__FORMAT", "json")],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "server.host = \"127.0.0.1\"  # default".to_owned(),
        format!("server.port = 9000  # file {file}"),
        "log.format = \"json\"  # env USERDIR__LOG__FORMAT".to_owned(),
        format!("auth.root_secret_access_key = \"********\"  # file {file}"),
        "auth.principals = []  # default".to_owned(),
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} in\n{stdout}");
    }
    assert!(!stdout.contains("root-secret"));
}
