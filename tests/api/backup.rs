//! `userdir backup` beside a server under write load, `userdir restore` into a fresh directory,
//! and `userdir health` (the container's health check).

use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_finspacedata::types::UserType;

use crate::helpers::{ServeProcess, free_port, sdk_client, unique_email, userdir_command};

async fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    tokio::time::timeout(
        Duration::from_secs(60),
        userdir_command(dir).args(args).output(),
    )
    .await
    .expect("the command ends")
    .expect("the binary runs")
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_every_user_acknowledged_before_it() {
    let source = crate::helpers::tempdir();
    let server = ServeProcess::start(source.path()).await;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let sdk = sdk_client(&server.address);
            let acknowledged = acknowledged.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let created = sdk
                        .create_user()
                        .email_address(unique_email("backup"))
                        .r#type(UserType::AppUser)
                        .send()
                        .await
                        .expect("every create under load succeeds");
                    let id = created.user_id.expect("id");
                    acknowledged.lock().expect("lock").push(id);
                }
            })
        })
        .collect();
    while acknowledged.lock().expect("lock").len() < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let file = source.path().join("snapshot.db");
    let before_backup: Vec<String> = acknowledged.lock().expect("lock").clone();
    let backup = run(source.path(), &["backup", file.to_str().expect("path")]).await;
    let after_backup = acknowledged.lock().expect("lock").len();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("the writer ends");
    }
    assert!(backup.status.success(), "{}", said(&backup));
    assert!(said(&backup).contains("integrity ok"), "{}", said(&backup));
    assert!(
        after_backup > before_backup.len(),
        "writes went on during the backup ({} before, {after_backup} after)",
        before_backup.len()
    );
    let again = run(source.path(), &["backup", file.to_str().expect("path")]).await;
    assert!(!again.status.success(), "a backup never overwrites");
    assert!(said(&again).contains("exists already"), "{}", said(&again));

    let target = crate::helpers::tempdir();
    let restored = run(target.path(), &["restore", file.to_str().expect("path")]).await;
    assert!(restored.status.success(), "{}", said(&restored));
    let check = run(target.path(), &["check"]).await;
    assert!(check.status.success(), "integrity: {}", said(&check));

    let copy = ServeProcess::start(target.path()).await;
    let sdk = sdk_client(&copy.address);
    for id in &before_backup {
        sdk.get_user().user_id(id).send().await.unwrap_or_else(|e| {
            panic!("user {id}, acknowledged before the backup, is missing: {e}")
        });
    }

    let refused = run(target.path(), &["restore", file.to_str().expect("path")]).await;
    assert!(!refused.status.success());
    assert!(said(&refused).contains("--replace"), "{}", said(&refused));
    let in_use = run(
        target.path(),
        &["restore", "--replace", file.to_str().expect("path")],
    )
    .await;
    assert!(
        !in_use.status.success(),
        "refused while a server runs on it"
    );
    assert!(
        said(&in_use).contains("already served by another userdir process"),
        "{}",
        said(&in_use)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_damaged_file_and_keeps_the_database_it_replaces() {
    let dir = crate::helpers::tempdir();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"not a database at all").expect("write");
    let out = run(dir.path(), &["restore", garbage.to_str().expect("path")]).await;
    assert!(!out.status.success(), "{}", said(&out));
    assert!(
        !dir.path().join("userdir.db").exists(),
        "nothing was put in place"
    );

    let created = run(dir.path(), &["migrate", "--create"]).await;
    assert!(created.status.success(), "{}", said(&created));
    let file = dir.path().join("empty.db");
    let backup = run(dir.path(), &["backup", file.to_str().expect("path")]).await;
    assert!(backup.status.success(), "{}", said(&backup));
    let replaced = run(
        dir.path(),
        &["restore", "--replace", file.to_str().expect("path")],
    )
    .await;
    assert!(replaced.status.success(), "{}", said(&replaced));
    assert!(said(&replaced).contains("kept as"), "{}", said(&replaced));
    let kept = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".replaced-"))
        .count();
    assert_eq!(kept, 1, "the replaced database is kept beside");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_ready_for_a_serving_process_and_fails_without_one() {
    let dir = crate::helpers::tempdir();
    let server = ServeProcess::start(dir.path()).await;
    let port = server.address.rsplit(':').next().expect("port");
    let ready = tokio::time::timeout(
        Duration::from_secs(10),
        userdir_command(dir.path())
            .args(["health"])
            .env("USERDIR__SERVER__HOST", "0.0.0.0")
            .env("USERDIR__SERVER__PORT", port)
            .output(),
    )
    .await
    .expect("ends")
    .expect("runs");
    assert!(ready.status.success(), "{}", said(&ready));
    assert!(
        said(&ready).contains("/health/ready: ready"),
        "{}",
        said(&ready)
    );

    let nobody = tokio::time::timeout(
        Duration::from_secs(10),
        userdir_command(dir.path())
            .args(["health", "--timeout", "1"])
            .env("USERDIR__SERVER__PORT", free_port().to_string())
            .output(),
    )
    .await
    .expect("ends")
    .expect("runs");
    assert_eq!(nobody.status.code(), Some(1), "{}", said(&nobody));
}
