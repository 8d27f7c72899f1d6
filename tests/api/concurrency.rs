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

/// Creates that arrive together are committed together (SQLite's group commit, PostgreSQL's
/// creates made in one transaction), yet each is answered for itself: a taken email refuses only
/// its own create, a repeated clientToken answers its first user, and the rest are made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_arriving_together_are_each_answered_for_themselves() {
    const NEW: usize = 30;
    const TAKEN: usize = 5;
    const SAME_TOKEN: usize = 5;
    let app = spawn_app().await;
    let taken = unique_email("together-taken");
    app.sdk
        .create_user()
        .email_address(&taken)
        .r#type(UserType::AppUser)
        .send()
        .await
        .expect("the first user is created");
    let token_email = unique_email("together-token");

    let mut calls = JoinSet::new();
    let kinds = std::iter::repeat_n("new", NEW)
        .chain(std::iter::repeat_n("taken", TAKEN))
        .chain(std::iter::repeat_n("token", SAME_TOKEN));
    for (n, kind) in kinds.enumerate() {
        let sdk = app.sdk.clone();
        let create = sdk.create_user().r#type(UserType::AppUser);
        let create = match kind {
            "new" => create.email_address(unique_email(&format!("together-{n}"))),
            // Another case of the taken address is the same address.
            "taken" => create.email_address(taken.to_uppercase()),
            _ => create
                .email_address(&token_email)
                .client_token("together-token"),
        };
        calls.spawn(async move { (kind, create.send().await) });
    }
    let (mut made, mut refused, mut token_ids) = (HashSet::new(), 0, HashSet::new());
    while let Some(joined) = calls.join_next().await {
        match joined.expect("task joins") {
            ("new", Ok(out)) => {
                made.insert(out.user_id().expect("userId").to_owned());
            }
            ("taken", Err(err)) => {
                let err = err.into_service_error();
                assert!(err.is_conflict_exception(), "a taken email: {err:?}");
                refused += 1;
            }
            ("token", Ok(out)) => {
                token_ids.insert(out.user_id().expect("userId").to_owned());
            }
            (kind, other) => panic!("a {kind} create answered {other:?}"),
        }
    }
    assert_eq!(made.len(), NEW, "every new email makes a user of its own");
    assert_eq!(refused, TAKEN, "every create of the taken email is refused");
    assert_eq!(token_ids.len(), 1, "one token, one user: {token_ids:?}");

    let mut stored = HashSet::new();
    let mut pages = app
        .sdk
        .list_users()
        .max_results(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for user in page.expect("ListUsers").users() {
            stored.insert(user.user_id().expect("userId").to_owned());
        }
    }
    assert_eq!(
        stored.len(),
        1 + NEW + 1,
        "the first, the new and the token's user"
    );
    assert!(made.iter().chain(&token_ids).all(|id| stored.contains(id)));

    // They were committed together: some commit carried more than one write.
    let single = app.metric("userdir_commit_writes_bucket{le=\"1\"}").await;
    let commits = app.metric("userdir_commit_writes_count").await;
    assert!(
        single < commits,
        "no commit carried more than one write ({single} of {commits} carried one)"
    );
}
