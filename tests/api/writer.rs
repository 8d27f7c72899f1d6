//! Durability across kill -9: every create the server acknowledged is in the database after it.

use aws_sdk_finspacedata::types::UserType as WireUserType;
use tokio::task::JoinSet;
use userdir_core::domain::{SystemClock, UserId};

use crate::helpers::{ServeProcess, sdk_client, test_settings, unique_email};

/// Starts the real binary, acknowledges creates, kills it with SIGKILL, and finds every
/// acknowledged user in the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_creates_survive_kill_9() {
    let dir = crate::helpers::tempdir();
    let ServeProcess { mut child, address } = ServeProcess::start(dir.path()).await;

    let sdk = sdk_client(&address);
    let mut creates = JoinSet::new();
    for i in 0..200 {
        let sdk = sdk.clone();
        creates.spawn(async move {
            sdk.create_user()
                .email_address(unique_email(&format!("k{i}")))
                .r#type(WireUserType::AppUser)
                .send()
                .await
        });
    }
    let mut acknowledged = Vec::new();
    while let Some(done) = creates.join_next().await {
        if let Ok(out) = done.expect("joins") {
            acknowledged.push(out.user_id().expect("id").to_owned());
        }
        if acknowledged.len() == 150 {
            child.start_kill().expect("SIGKILL");
        }
    }
    child.wait().await.expect("the child ends");

    assert!(
        acknowledged.len() >= 150,
        "{} creates acknowledged before the kill",
        acknowledged.len()
    );
    let settings = test_settings(&dir);
    let opened = userdir::startup::backend(&settings)
        .open(std::sync::Arc::new(SystemClock))
        .await
        .expect("the store opens");
    let store = opened.users.clone();
    for id in &acknowledged {
        let id = UserId::parse(id).expect("id");
        assert!(
            store.get_user(&id).await.expect("read").is_some(),
            "acknowledged user {id} lost to kill -9"
        );
    }
    opened.close().await;
}
