//! One serving process per database: a second `serve` is refused, the lock dies with its holder,
//! and read-only commands work beside a running server.

use std::time::Duration;

use aws_sdk_finspacedata::types::UserType;

use crate::helpers::{
    ServeProcess, free_port, sdk_client, spawn_app, test_settings, unique_email, userdir_command,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_the_same_database_is_refused_and_the_first_keeps_serving() {
    let dir = crate::helpers::tempdir();
    let first = ServeProcess::start(dir.path()).await;
    let first_pid = first.child.id().expect("pid");

    let second = tokio::time::timeout(
        Duration::from_secs(10),
        userdir_command(dir.path())
            .arg("serve")
            .env("USERDIR__SERVER__PORT", free_port().to_string())
            .output(),
    )
    .await
    .expect("the second serve exits at once")
    .expect("the second serve runs");
    assert!(!second.status.success(), "the second serve was refused");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&second.stdout),
        String::from_utf8_lossy(&second.stderr)
    );
    let database = dir.path().join("userdir.db");
    assert!(
        said.contains(&database.display().to_string()),
        "names the database: {said}"
    );
    assert!(
        said.contains(&format!("pid {first_pid}")),
        "names the other process: {said}"
    );

    let sdk = sdk_client(&first.address);
    let id = sdk
        .create_user()
        .email_address(unique_email("first"))
        .r#type(UserType::AppUser)
        .send()
        .await
        .expect("the first still writes")
        .user_id
        .expect("id");
    sdk.get_user()
        .user_id(&id)
        .send()
        .await
        .expect("the first still reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_dies_with_a_server_killed_by_sigkill() {
    let dir = crate::helpers::tempdir();
    let mut first = ServeProcess::start(dir.path()).await;
    first.child.start_kill().expect("SIGKILL");
    first.child.wait().await.expect("the first ends");

    let second = ServeProcess::start(dir.path()).await;
    sdk_client(&second.address)
        .list_users()
        .max_results(10)
        .send()
        .await
        .expect("the next start serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_reads_beside_a_running_server() {
    let dir = crate::helpers::tempdir();
    let server = ServeProcess::start(dir.path()).await;
    let id = sdk_client(&server.address)
        .create_user()
        .email_address(unique_email("audited"))
        .r#type(UserType::AppUser)
        .send()
        .await
        .expect("create")
        .user_id
        .expect("id");

    let audit = tokio::time::timeout(
        Duration::from_secs(10),
        userdir_command(dir.path()).arg("audit").output(),
    )
    .await
    .expect("audit ends")
    .expect("audit runs");
    let listing = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit.status.success(),
        "audit beside serve: {listing}{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    assert!(
        listing
            .lines()
            .any(|line| line.contains("CreateUser") && line.contains(&id)),
        "the running server's write is listed: {listing}"
    );

    // Migrating changes the schema under the server's feet: refused while it runs.
    let migrate = userdir_command(dir.path())
        .arg("migrate")
        .output()
        .await
        .expect("migrate runs");
    assert_eq!(migrate.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&migrate.stderr);
    assert!(
        stderr.contains("already served by another userdir process"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_second_application_in_one_process_is_refused_too() {
    let app = spawn_app().await;
    let mut settings = test_settings(&app.dir);
    settings.database.path = app.db_path.clone();
    let refusal = match userdir::startup::Application::build(&settings).await {
        Ok(_) => panic!("a second server on the same database started"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        refusal.contains("already served by another userdir process"),
        "{refusal}"
    );
    app.sdk
        .list_users()
        .max_results(10)
        .send()
        .await
        .expect("the first keeps serving");
}
