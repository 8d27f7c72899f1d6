use crate::helpers::{failure, spawn_app};

#[tokio::test]
async fn an_unknown_user_is_resource_not_found() {
    let app = spawn_app().await;

    for user_id in [ulid::Ulid::generate().to_string(), "not-a-ulid".to_owned()] {
        assert_eq!(
            failure(
                app.sdk.get_user().user_id(&user_id).send().await,
                "no such user"
            ),
            "ResourceNotFoundException",
            "{user_id}"
        );
    }
}

#[tokio::test]
async fn a_user_id_longer_than_26_characters_is_a_validation_exception() {
    let app = spawn_app().await;

    assert_eq!(
        failure(
            app.sdk.get_user().user_id("A".repeat(27)).send().await,
            "too long"
        ),
        "ValidationException"
    );
}
