//! The binary's command line: an unknown setting stops the start (exit status 2, the setting and
//! the closest known one on stderr); `userdir config` prints the effective configuration.

use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::damage_database;

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
    let dir = crate::helpers::tempdir();
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
    let dir = crate::helpers::tempdir();
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

/// `userdir config | head`, `userdir audit | head`: a reader that goes away ends the command
/// quietly (no panic on the broken pipe).
#[test]
fn a_reader_that_stops_early_ends_the_listing_quietly() {
    let dir = crate::helpers::tempdir();
    let database = dir.path().join("userdir.db");
    let database = database.to_str().expect("a Unicode path");
    assert!(
        userdir(
            &["migrate", "--create"],
            &[("USERDIR__DATABASE__PATH", database)]
        )
        .status
        .success()
    );
    for command in ["config", "audit"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_userdir"))
            .arg(command)
            .env("USERDIR__DATABASE__PATH", database)
            .env("USERDIR__LOG__FILTER", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary runs");
        // Close the reading end before the command writes a line.
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("the command ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{command}: {stderr}");
        assert!(
            output.status.success(),
            "{command}: {:?} {stderr}",
            output.status
        );
    }
}

/// A start that fails says why on stderr, and the log (not a terminal here) carries no colour codes.
#[test]
fn a_failed_start_says_why_on_stderr_without_colour_codes() {
    let dir = crate::helpers::tempdir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("address").port().to_string();
    let database = dir.path().join("userdir.db");
    let output = userdir(
        &["serve"],
        &[
            ("USERDIR__DATABASE__PATH", database.to_str().expect("path")),
            ("USERDIR__SERVER__PORT", &port),
            ("USERDIR__AUTH__ROOT_ACCESS_KEY_ID", "AKIDCLITEST"),
            ("USERDIR__AUTH__ROOT_SECRET_ACCESS_KEY", "cli-test-secret"),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("userdir: binding 127.0.0.1:{port}")),
        "{stderr}"
    );
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        assert!(!bytes.contains(&0x1b), "{name} has escape codes");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(
        left.is_empty(),
        "a start that cannot listen creates nothing: {left:?}"
    );
}

/// `audit`, `migrate` and `scim-token` pointed at a database that is not there say so, and create
/// nothing; `migrate --create` does, and says what it applied.
#[test]
fn maintenance_commands_never_create_a_database_by_accident() {
    let dir = crate::helpers::tempdir();
    let database = dir.path().join("userdir.db");
    let path = database.to_str().expect("a Unicode path");
    let env = [("USERDIR__DATABASE__PATH", path)];
    for args in [
        &["audit"][..],
        &["migrate"][..],
        &["scim-token", "list"][..],
        &["scim-token", "create", "--name", "okta"][..],
    ] {
        let out = userdir(args, &env);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("no database at {path}"))
                && stderr.contains("USERDIR__DATABASE__PATH"),
            "{args:?}: {stderr}"
        );
        assert!(std::fs::read_dir(dir.path()).expect("dir").next().is_none());
    }
    assert!(
        userdir(&["migrate"], &env)
            .stderr
            .ends_with(b"--create to make a new one there\n"),
        "migrate names its way out"
    );

    let created = userdir(&["migrate", "--create"], &env);
    assert_eq!(
        String::from_utf8_lossy(&created.stdout),
        format!(
            "{path}: applied 7 migrations (0001, 0002, 0003, 0004, 0005, 0006, 0007), now at 0007\n"
        )
    );
    let again = userdir(&["migrate"], &env);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        format!("{path}: up to date, at 0007\n")
    );
    let jsonl = userdir(&["audit", "--format", "jsonl"], &env);
    assert!(jsonl.status.success(), "{jsonl:?}");
    assert!(jsonl.stdout.is_empty(), "an empty trail prints nothing");
}

/// `userdir check` says ok for a sound database and names what is wrong with a broken one
/// (broken here behind userdir's back, with foreign keys off: a membership of a missing group).
#[tokio::test]
async fn check_reports_a_sound_database_and_names_the_problems_of_a_broken_one() {
    let dir = crate::helpers::tempdir();
    let database = dir.path().join("userdir.db");
    let path = database.to_str().expect("a Unicode path");
    let env = [("USERDIR__DATABASE__PATH", path)];
    assert!(userdir(&["migrate", "--create"], &env).status.success());
    let sound = userdir(&["check"], &env);
    assert_eq!(sound.status.code(), Some(0), "{sound:?}");
    assert_eq!(
        String::from_utf8_lossy(&sound.stdout),
        format!("{path}: ok\n")
    );

    // Users enough to fill many pages, then a failing disk's garbage over half of them.
    let lines: String = (0..3000)
        .map(|i| format!("{{\"emailAddress\":\"c{i}@example.com\",\"type\":\"APP_USER\"}}\n"))
        .collect();
    let file = dir.path().join("users.jsonl");
    std::fs::write(&file, lines).expect("written");
    let import = userdir(&["import", file.to_str().expect("a Unicode path")], &env);
    assert!(import.status.success(), "{import:?}");
    damage_database(dir.path());

    let broken = userdir(&["check"], &env);
    assert_eq!(broken.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&broken.stdout);
    let problem = stdout.lines().next().unwrap_or_default();
    assert!(
        problem.starts_with(&format!("{path}: ")) && problem.contains("page"),
        "the damaged pages are named: {stdout}"
    );
}

/// A setting that cannot be used (here an unparsable trusted proxy) stops the start before the
/// database is touched: nothing is created on disk.
#[test]
fn a_start_refused_for_a_bad_setting_creates_nothing() {
    let dir = crate::helpers::tempdir();
    let database = dir.path().join("data").join("userdir.db");
    let out = userdir(
        &["serve"],
        &[
            ("USERDIR__DATABASE__PATH", database.to_str().expect("path")),
            ("USERDIR__SERVER__PORT", "0"),
            (
                "USERDIR__SERVER__TRUSTED_PROXIES",
                "10.0.0.0/8, proxy.local",
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"proxy.local\""), "{stderr}");
    assert!(
        std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
        "nothing was created"
    );
}

/// `userdir import` writes all of a file or nothing: a second import of the same users is refused
/// as a whole, saying why, and leaves the first import's users as they were.
#[test]
fn an_import_is_all_or_nothing() {
    let dir = crate::helpers::tempdir();
    let database = dir.path().join("userdir.db");
    let path = database.to_str().expect("a Unicode path");
    let env = [("USERDIR__DATABASE__PATH", path)];
    let file = dir.path().join("users.jsonl");
    let line =
        |n: u32| format!("{{\"emailAddress\":\"i{n}@example.com\",\"type\":\"APP_USER\"}}\n");
    std::fs::write(&file, line(1) + &line(2)).expect("written");
    let file = file.to_str().expect("a Unicode path");

    let refused = userdir(&["import", file], &env);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "no database without --create"
    );
    let first = userdir(&["import", "--create", file], &env);
    assert!(first.status.success(), "{first:?}");
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        format!("{path}: imported 2 users\n")
    );

    // One new user and one whose email (in another case) is taken: neither is written.
    let again = dir.path().join("again.jsonl");
    std::fs::write(&again, line(3) + &line(2).replace("i2@", "I2@")).expect("written");
    let second = userdir(&["import", again.to_str().expect("a Unicode path")], &env);
    assert_eq!(second.status.code(), Some(1), "{second:?}");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("nothing was imported") && stderr.contains("already registered"),
        "{stderr}"
    );
    let trail = userdir(&["audit", "--format", "jsonl"], &env);
    let imports = String::from_utf8_lossy(&trail.stdout)
        .lines()
        .filter(|line| line.contains("ImportUsers"))
        .count();
    assert_eq!(imports, 1, "only the first import happened");
}
