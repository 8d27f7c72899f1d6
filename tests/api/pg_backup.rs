//! The README's PostgreSQL backup, for real: `pg_dump --format=custom` of a serving database,
//! `pg_restore` into an empty one, and a server on the copy has every user, group and membership,
//! and takes the page tokens of the original (the server's keys travel with the data).

use std::process::Command;
use std::sync::Arc;

use aws_sdk_finspacedata::types::ApplicationPermission;

use crate::helpers::{database_url, spawn_app_in, unique_email};
use crate::instances::members_of;
use crate::postgres::{find_tool, new_database};

fn run(command: &mut Command) {
    let out = command.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_dump_and_pg_restore_carry_the_whole_directory() {
    let original = spawn_app_in(Arc::new(crate::helpers::tempdir()), |_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(original.create_user(&unique_email("dump")).await);
    }
    let group = original
        .create_group("Dumped", ApplicationPermission::ViewAuditData)
        .await;
    original.associate(&group, &ids[0]).await;
    let page = original
        .sdk
        .list_users()
        .max_results(2)
        .send()
        .await
        .expect("page");
    let token = page.next_token.expect("a next page");

    let source = database_url(original.dir.path()).expect("the PostgreSQL run");
    let dump = original.dir.path().join("userdir.dump");
    run(Command::new(find_tool("pg_dump").expect("pg_dump"))
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&source)); // libpq takes the same URL
    let target = new_database();
    run(Command::new(find_tool("pg_restore").expect("pg_restore"))
        .args(["--no-owner", "--exit-on-error", "-d"])
        .arg(&target)
        .arg(&dump));
    original.stop().await;

    let copy = spawn_app_in(Arc::new(crate::helpers::tempdir()), move |s| {
        s.database.url = target.clone();
    })
    .await;
    for id in &ids {
        copy.get_user(id).await;
    }
    assert_eq!(members_of(&copy, &group).await, [ids[0].clone()]);
    let next = copy
        .sdk
        .list_users()
        .max_results(2)
        .next_token(token)
        .send()
        .await
        .expect("the original's page token works on the restored copy");
    assert_eq!(next.users().len(), 2);
}
