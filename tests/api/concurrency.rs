use std::collections::HashSet;

use aws_sdk_finspacedata::types::UserType;
use tokio::task::JoinSet;

use crate::helpers::{spawn_app, unique_email};

const CONCURRENT: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_with_one_email_make_exactly_one_user() {
    let app = spawn_app().await;
    let email = unique_email("race");

    let mut calls = JoinSet::new();
    for _ in 0..CONCURRENT {
        let sdk = app.sdk.clone();
        let email = email.clone();
        calls.spawn(async move {
            sdk.create_user()
                .email_address(email)
                .r#type(UserType::AppUser)
                .send()
                .await
        });
    }
    let (mut created, mut conflicts) = (0, 0);
    while let Some(result) = calls.join_next().await {
        match result.expect("task joins") {
            Ok(_) => created += 1,
            Err(err) => {
                let err = err.into_service_error();
                assert!(
                    err.is_conflict_exception(),
                    "expected ConflictException, got {err:?}"
                );
                conflicts += 1;
            }
        }
    }

    assert_eq!(created, 1, "exactly one create succeeds");
    assert_eq!(
        conflicts,
        CONCURRENT - 1,
        "every other create is a conflict"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_with_one_token_all_answer_the_same_user() {
    let app = spawn_app().await;
    let email = unique_email("token-race");

    let mut calls = JoinSet::new();
    for _ in 0..CONCURRENT {
        let sdk = app.sdk.clone();
        let email = email.clone();
        calls.spawn(async move {
            sdk.create_user()
                .email_address(email)
                .r#type(UserType::AppUser)
                .client_token("one-token-for-all")
                .send()
                .await
        });
    }
    let mut ids = HashSet::new();
    while let Some(result) = calls.join_next().await {
        let output = result.expect("task joins").expect("every call succeeds");
        ids.insert(output.user_id().expect("userId").to_owned());
    }

    assert_eq!(
        ids.len(),
        1,
        "all {CONCURRENT} answers name the same user: {ids:?}"
    );
    let stored = app
        .sdk
        .list_users()
        .max_results(100)
        .send()
        .await
        .expect("ListUsers");
    assert_eq!(stored.users().len(), 1, "one user was stored");
}
