//! What Okta and Microsoft Entra ID send, replayed from their public SCIM documentation:
//! - Okta: "SCIM 2.0 protocol reference" / "Build a SCIM API service" (developer.okta.com,
//!   docs/api/openapi/okta-scim/guides/scim-20): the import and matching GETs, the create with a
//!   password and an empty `groups`, the full-user PUT, deactivation by a no-path PATCH, the
//!   group push (create, rename with the id sent back, members added and removed by filter).
//! - Entra ID: "Tutorial: Develop and plan provisioning for a SCIM endpoint"
//!   (learn.microsoft.com, entra/identity/app-provisioning/use-scim-to-provision-users-and-groups):
//!   the `userName eq` lookup before every create, the create with the enterprise extension and
//!   `roles`, capitalised PATCH ops, `emails[type eq "work"].value`, "False" as a string, the
//!   group membership check `id eq … and members[value eq …]`, members added and removed with
//!   `$ref: null`, and deletes.
//!
//! Bodies are the documents' own, but for userName: their samples use bare names, and this
//! directory's userName is the user's email address (Okta's default, and Entra's with
//! userPrincipalName mapped, as the README says).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::unique_email;
use crate::scim::{Scim, scim_app};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

fn query(filter: &str) -> String {
    form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

async fn ok(scim: &Scim, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = scim.send(method.clone(), path, body).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

#[tokio::test]
async fn okta_provisions_deactivates_and_pushes_groups() {
    let scim = scim_app().await;
    let email = unique_email("test.user");
    // Import and matching: Okta pages through users, and looks for the one it is about to make.
    let page = ok(&scim, Method::GET, "/Users?startIndex=1&count=2", None).await;
    assert_eq!(page["schemas"], json!([LIST]));
    let filter = format!("userName eq \"{email}\"");
    let found = ok(
        &scim,
        Method::GET,
        &format!("/Users?filter={}&startIndex=1&count=100", query(&filter)),
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 0);
    assert_eq!(found["Resources"], json!([]));

    let (status, user) = scim
        .send(
            Method::POST,
            "/Users",
            Some(json!({
                "schemas": [USER],
                "userName": email,
                "name": {"givenName": "Test", "familyName": "User"},
                "emails": [{"primary": true, "value": email, "type": "work"}],
                "displayName": "Test User",
                "locale": "en-US",
                "externalId": "00ujl29u0le5T6Aj10h7",
                "groups": [],
                "password": "1mz050nq",
                "active": true
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let id = user["id"].as_str().expect("id").to_owned();
    assert!(
        user.get("password").is_none(),
        "a password is never returned"
    );
    let found = ok(
        &scim,
        Method::GET,
        &format!("/Users?filter={}&startIndex=1&count=100", query(&filter)),
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id.as_str());

    // Profile push: the whole user, id and all.
    let mut full = ok(&scim, Method::GET, &format!("/Users/{id}"), None).await;
    full["name"] = json!({"givenName": "Another", "familyName": "User"});
    full["password"] = json!("t1meMa$heen");
    let replaced = ok(&scim, Method::PUT, &format!("/Users/{id}"), Some(full)).await;
    assert_eq!(replaced["name"]["givenName"], "Another");
    assert_eq!(replaced["externalId"], "00ujl29u0le5T6Aj10h7");
    // Password sync (not kept here: no change), then deactivation.
    ok(
        &scim,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"password": "t1meMa$heen"}}]})),
    )
    .await;
    let deactivated = ok(
        &scim,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]})),
    )
    .await;
    assert_eq!(deactivated["active"], false);
    assert_eq!(
        scim.app.get_user(&id).await.status(),
        Some(&aws_sdk_finspacedata::types::UserStatus::Disabled)
    );
    let reactivated = ok(
        &scim,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": true}}]})),
    )
    .await;
    assert_eq!(reactivated["active"], true);

    // Group push.
    let name = format!("Test SCIMv2 {}", ulid::Ulid::generate());
    let (status, group) = scim
        .send(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": name, "members": []})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_str().expect("id").to_owned();
    let found = ok(
        &scim,
        Method::GET,
        &format!(
            "/Groups?filter={}&startIndex=1&count=100",
            query(&format!("displayName eq \"{name}\""))
        ),
        None,
    )
    .await;
    assert_eq!(found["Resources"][0]["id"], group_id.as_str());
    let renamed = ok(
        &scim,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "value": {"id": group_id, "displayName": format!("{name} renamed")}}
        ]})),
    )
    .await;
    assert_eq!(renamed["displayName"], format!("{name} renamed"));
    let added = ok(
        &scim,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": id, "display": email}]}
        ]})),
    )
    .await;
    assert_eq!(added["members"][0]["value"], id.as_str());
    assert_eq!(
        added["members"][0]["$ref"],
        scim.app.url(&format!("/scim/v2/Users/{id}"))
    );
    let removed = ok(
        &scim,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{id}\"]")}
        ]})),
    )
    .await;
    assert_eq!(removed["members"], json!([]));
    let (status, _) = scim
        .send(Method::DELETE, &format!("/Groups/{group_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn entra_id_provisions_updates_and_deletes() {
    let scim = scim_app().await;
    let upn = unique_email("Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1");
    // Before every create, a lookup by userName: none yet.
    let lookup = format!("/Users?filter={}", query(&format!("userName eq \"{upn}\"")));
    let none = ok(&scim, Method::GET, &lookup, None).await;
    assert_eq!(none["totalResults"], 0);
    // A bare name (the tutorial's sample) is no email address: it matches no user, and a
    // create with it is refused, naming the rule.
    let bare = format!(
        "/Users?filter={}",
        query("userName eq \"Test_User_dfeef4c5-5681-4387-b016-bdf221e82081\"")
    );
    assert_eq!(ok(&scim, Method::GET, &bare, None).await["totalResults"], 0);

    let create = |user_name: String| {
        json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": user_name,
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": []
        })
    };
    let (status, error) = scim
        .send(
            Method::POST,
            "/Users",
            Some(create(
                "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1".into(),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["scimType"], "invalidValue");
    assert!(
        error["detail"]
            .as_str()
            .is_some_and(|d| d.contains("userName")),
        "{error}"
    );
    let (status, user) = scim
        .send(Method::POST, "/Users", Some(create(upn.clone())))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let id = user["id"].as_str().expect("id").to_owned();
    assert_eq!(user["userName"], upn.as_str());
    assert_eq!(user["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    let found = ok(&scim, Method::GET, &lookup, None).await;
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    // Its externalId finds it too.
    let by_external = format!(
        "/Users?filter={}",
        query("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"")
    );
    assert_eq!(
        ok(&scim, Method::GET, &by_external, None).await["totalResults"],
        1
    );

    // Updates, as Entra sends them.
    let updated = ok(
        &scim,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "555-0100"},
            {"op": "Add", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "701984"}
        ]})),
    )
    .await;
    assert_eq!(updated["name"]["familyName"], "updatedFamilyName");
    assert_eq!(
        updated["emails"][0]["value"],
        upn.as_str(),
        "the one address is the userName"
    );
    let disabled = ok(
        &scim,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})),
    )
    .await;
    assert_eq!(disabled["active"], false);

    // Groups: create, the lookup without members, membership changes and checks, a rename.
    let name = format!("displayName {}", ulid::Ulid::generate());
    let (status, group) = scim
        .send(
            Method::POST,
            "/Groups",
            Some(json!({
                "schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": name,
                "meta": {"resourceType": "Group"}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_str().expect("id").to_owned();
    let listed = ok(
        &scim,
        Method::GET,
        &format!(
            "/Groups?excludedAttributes=members&filter={}",
            query(&format!("displayName eq \"{name}\""))
        ),
        None,
    )
    .await;
    assert_eq!(listed["totalResults"], 1);
    assert!(listed["Resources"][0].get("members").is_none());
    let membership = format!(
        "/Groups?excludedAttributes=members&filter={}",
        query(&format!(
            "id eq \"{group_id}\" and members[value eq \"{id}\"]"
        ))
    );
    assert_eq!(
        ok(&scim, Method::GET, &membership, None).await["totalResults"],
        0
    );
    ok(
        &scim,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}]}
        ]})),
    )
    .await;
    assert_eq!(
        ok(&scim, Method::GET, &membership, None).await["totalResults"],
        1
    );
    ok(
        &scim,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": id}]}
        ]})),
    )
    .await;
    assert_eq!(
        ok(&scim, Method::GET, &membership, None).await["totalResults"],
        0
    );
    let renamed = ok(
        &scim,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "path": "displayName", "value": format!("{name}updatedDisplayName")}
        ]})),
    )
    .await;
    assert_eq!(renamed["displayName"], format!("{name}updatedDisplayName"));

    // Deletes.
    let (status, _) = scim
        .send(Method::DELETE, &format!("/Groups/{group_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = scim
        .send(Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        ok(&scim, Method::GET, &lookup, None).await["totalResults"],
        0
    );
}
