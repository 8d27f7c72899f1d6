use std::collections::HashMap;

use aws_sdk_finspacedata::types::UserType;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::helpers::{TestApp, percent_encoded, spawn_app, unique_email};

/// Creates `count` users, a few at a time, and returns their ids.
async fn seed_users(app: &TestApp, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(25) {
        let mut calls = JoinSet::new();
        for i in chunk {
            let sdk = app.sdk.clone();
            let email = unique_email(&format!("seed{i}"));
            calls.spawn(async move {
                sdk.create_user()
                    .email_address(email)
                    .r#type(UserType::AppUser)
                    .send()
                    .await
                    .expect("CreateUser")
                    .user_id()
                    .expect("userId")
                    .to_owned()
            });
        }
        while let Some(id) = calls.join_next().await {
            ids.push(id.expect("task joins"));
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_paginator_sees_every_user_exactly_once_despite_concurrent_inserts() {
    // Arrange: 260 users exist before the walk.
    let app = spawn_app().await;
    let existing = seed_users(&app, 260).await;

    // Act: walk with pages of 37 while another task keeps inserting users.
    let inserter = {
        let sdk = app.sdk.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                sdk.create_user()
                    .email_address(unique_email(&format!("during{i}")))
                    .r#type(UserType::AppUser)
                    .send()
                    .await
                    .expect("concurrent CreateUser");
            }
        })
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut pages = app.sdk.list_users().max_results(37).into_paginator().send();
    let mut page_count = 0;
    while let Some(page) = pages.next().await {
        let page = page.expect("ListUsers page");
        page_count += 1;
        assert!(
            page.users().len() <= 37,
            "a page holds at most maxResults users"
        );
        for user in page.users() {
            *seen
                .entry(user.user_id().expect("userId").to_owned())
                .or_default() += 1;
        }
    }
    inserter.await.expect("inserter finished");

    // Assert
    for id in &existing {
        assert_eq!(seen.get(id), Some(&1), "user {id} seen exactly once");
    }
    assert!(
        seen.values().all(|&n| n == 1),
        "no user repeated across pages"
    );
    assert!(
        page_count >= 8,
        "260 users in pages of 37 take at least 8 pages, took {page_count}"
    );
}

#[tokio::test]
async fn pages_are_in_id_order_and_the_last_has_no_next_token() {
    let app = spawn_app().await;
    let mut ids = seed_users(&app, 5).await;
    ids.sort();

    let first = app
        .sdk
        .list_users()
        .max_results(3)
        .send()
        .await
        .expect("page 1");
    let token = first.next_token().expect("more pages follow").to_owned();
    let second = app
        .sdk
        .list_users()
        .max_results(3)
        .next_token(token)
        .send()
        .await
        .expect("page 2");

    let listed: Vec<&str> = first
        .users()
        .iter()
        .chain(second.users())
        .filter_map(|u| u.user_id())
        .collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(second.next_token(), None, "the last page has no nextToken");
    let full = &first.users()[0];
    assert!(
        full.email_address().is_some() && full.create_time() > 0,
        "list items are whole users"
    );
}

#[tokio::test]
async fn max_results_is_required_and_bounded() {
    let app = spawn_app().await;
    let cases = [
        ("", "must not be null"),
        ("?maxResults=0", "greater than or equal to 1"),
        ("?maxResults=101", "less than or equal to 100"),
        ("?maxResults=ten", "must be an integer"),
        ("?maxResults=5&maxResults=6", "at most once"),
    ];

    for (query, rule) in cases {
        let response = app
            .request(reqwest::Method::GET, &format!("/user{query}"))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.expect("JSON");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("'maxResults'") && message.contains(rule),
            "{query}: {message}"
        );
    }
}

#[tokio::test]
async fn forged_truncated_and_foreign_tokens_are_validation_errors() {
    let app = spawn_app().await;
    seed_users(&app, 3).await;
    let genuine = app
        .sdk
        .list_users()
        .max_results(1)
        .send()
        .await
        .expect("page 1");
    let token = genuine.next_token().expect("a token").to_owned();
    app.sdk
        .create_permission_group()
        .name("token-source")
        .application_permissions(aws_sdk_finspacedata::types::ApplicationPermission::CreateDataset)
        .send()
        .await
        .expect("group 1");
    app.sdk
        .create_permission_group()
        .name("token-source-2")
        .application_permissions(aws_sdk_finspacedata::types::ApplicationPermission::CreateDataset)
        .send()
        .await
        .expect("group 2");
    let foreign = app
        .sdk
        .list_permission_groups()
        .max_results(1)
        .send()
        .await
        .expect("groups page")
        .next_token()
        .expect("a groups token")
        .to_owned();
    let mut flipped = token.clone().into_bytes();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
    let cases = [
        ("tampered", String::from_utf8(flipped).expect("ascii")),
        ("truncated", token[..token.len() - 3].to_owned()),
        ("foreign", foreign),
        ("garbage", "not-a-token".to_owned()),
        ("other version", format!("9{}", &token[1..])),
    ];

    for (case, bad) in cases {
        let response = app
            .request(
                reqwest::Method::GET,
                &format!("/user?maxResults=1&nextToken={}", percent_encoded(&bad)),
            )
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        assert_eq!(
            response.headers()["x-amzn-ErrorType"],
            "ValidationException",
            "{case}"
        );
        let body: Value = response.json().await.expect("JSON");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("nextToken"),
            "{case}: {body}"
        );
    }
}
