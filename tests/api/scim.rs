//! SCIM 2.0 at `/scim/v2`, driven over HTTP as an identity provider drives it: the bearer check,
//! discovery, and users made, read, found, replaced, patched and deleted, with RFC 7644's
//! examples (adapted where this directory's userName must be an email address), seen through the
//! FinSpace SDK as well. On both backends.

use std::sync::Arc;

use aws_sdk_finspacedata::types::UserStatus;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use userdir_core::domain::{ScimToken, ScimTokenName, Timestamp};
use userdir_core::store::ScimTokenRecord;

use crate::helpers::{TestApp, open_store, operator_write, spawn_app_in, unique_email};

const SCIM_JSON: &str = "application/scim+json";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// A server with one live SCIM token, named `okta`, made before it started.
pub struct Scim {
    pub app: TestApp,
    pub token: String,
}

pub async fn scim_app() -> Scim {
    let dir = Arc::new(crate::helpers::tempdir());
    let token = ScimToken::generate();
    let store = open_store(&dir).await;
    let record = ScimTokenRecord {
        id: token.id().to_owned(),
        name: ScimTokenName::parse("okta").expect("name"),
        secret_hash: token.secret_hash(),
        create_time: Timestamp::now(),
        revoke_time: None,
    };
    store
        .scim_tokens
        .insert_scim_token(&record, &operator_write())
        .await
        .expect("token stored");
    store.close().await;
    let app = spawn_app_in(dir, |_| {}).await;
    Scim {
        app,
        token: token.reveal(),
    }
}

impl Scim {
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .http
            .request(method, self.app.url(&format!("/scim/v2{path}")))
            .bearer_auth(&self.token)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request
                .header("content-type", SCIM_JSON)
                .body(body.to_string());
        }
        let response = request.send().await.expect("answered");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("a JSON body")
        };
        (status, value)
    }

    pub async fn create(&self, email: &str) -> Value {
        let (status, user) = self
            .send(
                Method::POST,
                "/Users",
                Some(json!({"schemas": [USER], "userName": email, "name": {"givenName": "Ann", "familyName": "Lee"}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        user
    }
}

#[tokio::test]
async fn without_a_live_bearer_token_nothing_is_served() {
    let scim = scim_app().await;
    let url = scim.app.url("/scim/v2/Users");
    for (authorization, why) in [
        (None, "no header"),
        (Some("Basic dXNlcjpwYXNz".to_owned()), "not a bearer token"),
        (Some("Bearer nonsense".to_owned()), "not a token"),
        (
            Some(format!("Bearer {}", ScimToken::generate().reveal())),
            "a token never made",
        ),
        (
            Some(format!("Bearer {}x", scim.token)),
            "a live token's id with another secret",
        ),
    ] {
        let mut request = scim.app.http.get(&url);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("answered");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"userdir SCIM\""
        );
        assert_eq!(response.headers()["content-type"], SCIM_JSON);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["status"], "401", "{why}");
        assert_eq!(
            body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
        );
    }
    // A SigV4 root signature is not a SCIM credential either.
    let signed = scim
        .app
        .request(Method::GET, "/scim/v2/Users")
        .send()
        .await
        .expect("answered");
    assert_eq!(signed.status(), StatusCode::UNAUTHORIZED);
    let trail = scim.app.audit_events().await;
    assert!(
        trail
            .iter()
            .any(|e| e["operation"] == "Authenticate" && e["outcome"] == "Unauthorized"),
        "failed authentications are audited: {trail:?}"
    );
}

#[tokio::test]
async fn discovery_says_what_is_supported() {
    let scim = scim_app().await;
    let (status, config) = scim.send(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["filter"]["supported"], true);
    assert_eq!(config["etag"]["supported"], true);
    assert_eq!(config["sort"]["supported"], false);
    assert_eq!(config["bulk"]["supported"], false);
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );
    let (status, schemas) = scim.send(Method::GET, "/Schemas", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .expect("schemas")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&USER), "{ids:?}");
    let extension = ids
        .iter()
        .find(|id| id.contains("finspace"))
        .expect("the FinSpace extension is declared");
    let (status, one) = scim
        .send(Method::GET, &format!("/Schemas/{extension}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], *extension);
    let (status, types) = scim.send(Method::GET, "/ResourceTypes", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    assert_eq!(
        types["Resources"][0]["schemaExtensions"][0]["schema"],
        *extension
    );
    let (status, _) = scim.send(Method::GET, "/Nothing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = scim
        .send(Method::POST, "/ServiceProviderConfig", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

/// RFC 7644 §3.3's create, §3.4.1's read, §3.5.1's replace, §3.5.2's patch and §3.6's delete, on
/// one user, each step seen through the FinSpace SDK too.
#[tokio::test]
async fn a_user_lives_through_scim_and_finspace_sees_it() {
    let scim = scim_app().await;
    let email = unique_email("bjensen");
    // §3.3, with an email address for a userName.
    let body = json!({
        "schemas": [USER],
        "userName": email,
        "externalId": "bjensen",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"}
    });
    let response = scim
        .request(Method::POST, "/Users")
        .header("content-type", SCIM_JSON)
        .body(body.to_string())
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["content-type"], SCIM_JSON);
    let location = response.headers()["location"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let etag = response.headers()["etag"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let user: Value = response.json().await.expect("JSON");
    let id = user["id"].as_str().expect("an id").to_owned();
    assert_eq!(id.len(), 26, "a FinSpace (ULID) id");
    assert_eq!(location, scim.app.url(&format!("/scim/v2/Users/{id}")));
    assert_eq!(user["meta"]["location"], location);
    assert_eq!(user["meta"]["version"], etag);
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(user["meta"]["resourceType"], "User");
    assert_eq!(user["userName"], email);
    assert_eq!(user["externalId"], "bjensen");
    assert_eq!(user["active"], true);
    assert_eq!(
        user["emails"],
        json!([{"value": email, "type": "work", "primary": true}])
    );

    let finspace = scim.app.get_user(&id).await;
    assert_eq!(finspace.email_address(), Some(email.as_str()));
    assert_eq!(finspace.first_name(), Some("Barbara"));
    assert_eq!(finspace.last_name(), Some("Jensen"));
    scim.app.wait_for_status(&id, UserStatus::Enabled).await;

    // §3.4.1, and a conditional read.
    let (status, read) = scim.send(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["userName"], email);
    assert_eq!(
        read["urn:userdir:scim:schemas:extension:finspace:2.0:User"],
        json!({"type": "APP_USER", "apiAccess": "DISABLED"})
    );
    let version = read["meta"]["version"]
        .as_str()
        .expect("version")
        .to_owned();
    let unchanged = scim
        .request(Method::GET, &format!("/Users/{id}"))
        .header("if-none-match", &version)
        .send()
        .await
        .expect("answered");
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    // §3.5.1: a replace; the userName may come in another case, but not change.
    let (status, replaced) = scim
        .send(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [USER], "userName": email.to_uppercase(), "name": {"givenName": "Babs"}, "externalId": "bjensen"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["name"]["givenName"], "Babs");
    assert!(
        replaced["name"].get("familyName").is_none(),
        "a replace clears what it leaves out"
    );
    assert_ne!(
        replaced["meta"]["version"],
        version.as_str(),
        "the version moves"
    );
    let finspace = scim.app.get_user(&id).await;
    assert_eq!(finspace.first_name(), Some("Babs"));
    assert_eq!(finspace.last_name(), None);
    let (status, error) = scim
        .send(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [USER], "userName": unique_email("other")})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["scimType"], "mutability");

    // A write that names an old version is refused, and changes nothing.
    let stale = scim
        .request(Method::PATCH, &format!("/Users/{id}"))
        .header("if-match", &version)
        .header("content-type", SCIM_JSON)
        .body(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]}).to_string())
        .send()
        .await
        .expect("answered");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        scim.app.get_user(&id).await.status(),
        Some(&UserStatus::Enabled)
    );

    // §3.5.2, as Entra ID deactivates: `Replace`, and "False" as a string.
    let (status, patched) = scim
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "path": "name.familyName", "value": "Jensen"}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["active"], false);
    let finspace = scim.app.get_user(&id).await;
    assert_eq!(finspace.status(), Some(&UserStatus::Disabled));
    assert_eq!(finspace.last_name(), Some("Jensen"));
    // Enabled again through FinSpace: active again through SCIM.
    scim.app.enable_user(&id).await;
    let (_, read) = scim.send(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(read["active"], true);

    // §3.6: deleted, the user is disabled and gone from SCIM; FinSpace keeps it, DISABLED.
    let (status, _) = scim
        .send(Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = scim.send(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(gone["status"], "404");
    let (status, _) = scim
        .send(Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let filter = format!("/Users?filter=userName%20eq%20%22{email}%22");
    let (_, found) = scim.send(Method::GET, &filter, None).await;
    assert_eq!(found["totalResults"], 0);
    assert_eq!(
        scim.app.get_user(&id).await.status(),
        Some(&UserStatus::Disabled)
    );
    // Created again, it comes back: the same user, enabled.
    let again = scim.create(&email).await;
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["active"], true);
    assert_eq!(
        scim.app.get_user(&id).await.status(),
        Some(&UserStatus::Enabled)
    );

    // Every use is in the audit trail under the token's name.
    let trail = scim.app.audit_events().await;
    let by_scim: Vec<&str> = trail
        .iter()
        .filter(|e| e["caller"] == "scim:okta")
        .filter_map(|e| e["operation"].as_str())
        .collect();
    for operation in [
        "ScimCreateUser",
        "ScimGetUser",
        "ScimReplaceUser",
        "ScimPatchUser",
        "ScimDeleteUser",
        "ScimListUsers",
    ] {
        assert!(by_scim.contains(&operation), "{operation} in {by_scim:?}");
    }
}

#[tokio::test]
async fn bad_input_is_the_rfcs_400_and_a_taken_email_409() {
    let scim = scim_app().await;
    let email = unique_email("taken");
    scim.create(&email).await;
    let (status, error) = scim
        .send(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": email.to_uppercase()})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error["scimType"], "uniqueness");
    for (body, scim_type, names) in [
        (
            json!({"schemas": [USER], "userName": "bjensen"}),
            "invalidValue",
            "userName",
        ),
        (json!({"schemas": [USER]}), "invalidValue", "userName"),
        (
            json!({"userName": unique_email("n"), "name": {"givenName": ""}}),
            "invalidValue",
            "givenName",
        ),
        (
            json!({"userName": unique_email("a"), "active": "maybe"}),
            "invalidValue",
            "active",
        ),
        (
            json!({"userName": unique_email("e"), "externalId": 7}),
            "invalidValue",
            "externalId",
        ),
        (
            json!({"userName": unique_email("t"), "urn:userdir:scim:schemas:extension:finspace:2.0:User": {"type": "ROOT"}}),
            "invalidValue",
            "type",
        ),
    ] {
        let (status, error) = scim.send(Method::POST, "/Users", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error["scimType"], scim_type, "{body}");
        assert!(
            error["detail"].as_str().expect("detail").contains(names),
            "{error}"
        );
    }
    let not_json = scim
        .request(Method::POST, "/Users")
        .header("content-type", SCIM_JSON)
        .body("{\"userName\":")
        .send()
        .await
        .expect("answered");
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let body: Value = not_json.json().await.expect("JSON");
    assert_eq!(body["scimType"], "invalidSyntax");
    let wrong_type = scim
        .request(Method::POST, "/Users")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("answered");
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, error) = scim
        .send(Method::GET, "/Users?filter=userName%20eq", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["scimType"], "invalidFilter");
    let (status, _) = scim.send(Method::GET, "/Users/not-an-id", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lists_page_filter_and_project() {
    let scim = scim_app().await;
    let tag = unique_email("list").replace('@', "-at-");
    let mut ids = Vec::new();
    for n in 0..5 {
        let user = scim.create(&format!("{tag}-{n}@example.com")).await;
        ids.push(user["id"].as_str().expect("id").to_owned());
    }
    // A user made through FinSpace is a SCIM user too.
    let finspace_email = format!("{tag}-fs@example.com");
    let finspace_id = scim.app.create_user(&finspace_email).await;
    scim.app
        .wait_for_status(&finspace_id, UserStatus::Enabled)
        .await;
    scim.app.disable_user(&finspace_id).await;
    let (status, found) = scim
        .send(
            Method::GET,
            &format!(
                "/Users?filter=userName%20eq%20%22{}%22",
                finspace_email.to_uppercase()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], finspace_id.as_str());
    assert_eq!(
        found["Resources"][0]["active"], false,
        "disabled through FinSpace"
    );

    let (_, all) = scim
        .send(Method::GET, "/Users?startIndex=2&count=2", None)
        .await;
    assert_eq!(all["totalResults"], 6);
    assert_eq!(all["startIndex"], 2);
    assert_eq!(all["itemsPerPage"], 2);
    assert_eq!(all["Resources"][0]["id"], ids[1].as_str());

    // A filter no index answers is evaluated on every user.
    let filter = format!("userName sw \"{tag}\" and active eq true");
    let (status, page) = scim
        .send(
            Method::GET,
            &format!(
                "/Users?filter={}&count=3&attributes=userName",
                urlencode(&filter)
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["itemsPerPage"], 3);
    let first = &page["Resources"][0];
    assert_eq!(first.as_object().expect("object").len(), 3, "{first}");
    assert!(
        first["userName"].is_string() && first["id"].is_string() && first["schemas"].is_array()
    );

    // The same through POST /.search.
    let (status, searched) = scim
        .send(
            Method::POST,
            "/Users/.search",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": filter, "startIndex": 5, "count": 10,
                "excludedAttributes": ["meta", "emails"]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{searched}");
    assert_eq!(searched["totalResults"], 5);
    assert_eq!(searched["itemsPerPage"], 1);
    assert!(searched["Resources"][0].get("meta").is_none());
    assert!(searched["Resources"][0].get("userName").is_some());

    // externalId is found by equality, exactly.
    let (status, _) = scim
        .send(
            Method::PATCH,
            &format!("/Users/{}", ids[0]),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "externalId", "value": format!("{tag}-ext")}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, exact) = scim
        .send(
            Method::GET,
            &format!(
                "/Users?filter={}",
                urlencode(&format!("externalId eq \"{tag}-ext\""))
            ),
            None,
        )
        .await;
    assert_eq!(exact["totalResults"], 1);
    assert_eq!(exact["Resources"][0]["id"], ids[0].as_str());
    let (_, other_case) = scim
        .send(
            Method::GET,
            &format!(
                "/Users?filter={}",
                urlencode(&format!("externalId eq \"{}-EXT\"", tag.to_uppercase()))
            ),
            None,
        )
        .await;
    assert_eq!(other_case["totalResults"], 0, "externalId is case-exact");
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Tokens are made, listed and revoked with `userdir scim-token` while the server runs (on SQLite
/// beside the process that holds the database), and a revoked one is refused from the next
/// request on.
#[tokio::test]
async fn tokens_change_beside_a_running_server_and_a_revocation_holds_at_once() {
    let scim = scim_app().await;
    let (status, _) = scim.send(Method::GET, "/Users?count=0", None).await;
    assert_eq!(status, StatusCode::OK);
    let cli = |args: &'static [&'static str]| {
        let mut command = crate::helpers::userdir_command(scim.app.dir.path());
        command.arg("scim-token").args(args);
        async move { command.output().await.expect("userdir scim-token runs") }
    };
    let made = cli(&["create", "--name", "entra"]).await;
    assert!(made.status.success(), "{made:?}");
    let entra = String::from_utf8_lossy(&made.stdout).trim().to_owned();
    let works = scim
        .app
        .http
        .get(scim.app.url("/scim/v2/Users?count=0"))
        .bearer_auth(&entra)
        .send()
        .await
        .expect("answered");
    assert_eq!(
        works.status(),
        StatusCode::OK,
        "a token made meanwhile works"
    );
    let listed = cli(&["list"]).await;
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains("okta\t") && listed.contains("entra\t"),
        "{listed}"
    );

    let revoked = cli(&["revoke", "OKTA"]).await;
    assert!(revoked.status.success(), "{revoked:?}");
    let (status, body) = scim.send(Method::GET, "/Users?count=0", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let trail = scim.app.audit_events().await;
    assert!(
        trail
            .iter()
            .any(|e| e["operation"] == "RevokeScimToken" && e["target"] == "okta"),
        "the revocation is audited in the server's own trail"
    );
}

#[tokio::test]
async fn each_token_is_held_to_the_request_rate_on_its_own() {
    let dir = Arc::new(crate::helpers::tempdir());
    let store = open_store(&dir).await;
    let mut tokens = Vec::new();
    for name in ["okta", "entra"] {
        let token = ScimToken::generate();
        let record = ScimTokenRecord {
            id: token.id().to_owned(),
            name: ScimTokenName::parse(name).expect("name"),
            secret_hash: token.secret_hash(),
            create_time: Timestamp::now(),
            revoke_time: None,
        };
        store
            .scim_tokens
            .insert_scim_token(&record, &operator_write())
            .await
            .expect("token stored");
        tokens.push(token.reveal());
    }
    store.close().await;
    let app = spawn_app_in(dir, |settings| {
        settings.throttle.requests_per_second = 1;
        settings.throttle.burst = 3;
    })
    .await;
    let get = async |token: &str| {
        app.http
            .get(app.url("/scim/v2/ServiceProviderConfig"))
            .bearer_auth(token)
            .send()
            .await
            .expect("answered")
    };
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get(&tokens[0]).await.status());
    }
    assert!(
        statuses[..3].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let throttled = get(&tokens[0]).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
    let body: Value = throttled.json().await.expect("JSON");
    assert_eq!(body["status"], "429");
    assert_eq!(
        get(&tokens[1]).await.status(),
        StatusCode::OK,
        "another token has its own budget"
    );
}

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const GROUP_EXTENSION: &str = "urn:userdir:scim:schemas:extension:finspace:2.0:Group";

async fn finspace_members(app: &TestApp, group: &str) -> Vec<String> {
    let mut members: Vec<String> = app
        .sdk
        .list_users_by_permission_group()
        .permission_group_id(group)
        .max_results(100)
        .send()
        .await
        .expect("ListUsersByPermissionGroup")
        .users()
        .iter()
        .filter_map(|u| u.user_id().map(str::to_owned))
        .collect();
    members.sort();
    members
}

/// RFC 7643 §8.4's group (with this directory's users), then what Entra ID and Okta send to
/// keep a group in step: members added and removed by PATCH, a rename with the id sent back, a
/// lookup by displayName, and a delete. Each step seen through the FinSpace SDK.
#[tokio::test]
async fn groups_are_permission_groups_and_their_members_memberships() {
    let scim = scim_app().await;
    let babs = scim.create(&unique_email("babs")).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mandy = scim.create(&unique_email("mandy")).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let name = format!("Tour Guides {}", ulid::Ulid::generate());
    let (status, group) = scim
        .send(
            Method::POST,
            "/Groups",
            Some(json!({
                "schemas": [GROUP],
                "displayName": name,
                "externalId": "tour-guides",
                "members": [{"value": babs, "display": "Babs Jensen"}]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let id = group["id"].as_str().expect("id").to_owned();
    assert_eq!(group["displayName"], name.as_str());
    assert_eq!(group["externalId"], "tour-guides");
    assert_eq!(group["members"][0]["value"], babs.as_str());
    assert_eq!(group["members"][0]["type"], "User");
    assert_eq!(group["meta"]["resourceType"], "Group");
    assert!(
        group.get(GROUP_EXTENSION).is_none(),
        "no description or permissions: the extension is unassigned"
    );
    let finspace = scim
        .app
        .sdk
        .get_permission_group()
        .permission_group_id(&id)
        .send()
        .await
        .expect("GetPermissionGroup");
    assert_eq!(
        finspace.permission_group().and_then(|g| g.name()),
        Some(name.as_str())
    );
    assert_eq!(finspace_members(&scim.app, &id).await, [babs.as_str()]);

    // A member SCIM cannot see (added through FinSpace, then deleted through SCIM) is not undone
    // by SCIM's changes to the members it sees: they change by who joins and who leaves.
    let other = scim.app.create_user(&unique_email("other")).await;
    scim.app.associate(&id, &other).await;
    let (status, _) = scim
        .send(Method::DELETE, &format!("/Users/{other}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, seen) = scim.send(Method::GET, &format!("/Groups/{id}"), None).await;
    assert_eq!(
        seen["members"].as_array().map(Vec::len),
        Some(1),
        "a hidden user is no member SCIM sees: {seen}"
    );

    // Entra ID: Add and Remove members with a value list.
    let (status, patched) = scim
        .send(
            Method::PATCH,
            &format!("/Groups/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": mandy}]},
                {"op": "Remove", "path": "members", "value": [{"value": babs}]}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let mut expected = vec![mandy.clone(), other.clone()];
    expected.sort();
    assert_eq!(finspace_members(&scim.app, &id).await, expected);

    // Okta: a rename sends the id back; then a remove by filter.
    let renamed = format!("{name} (renamed)");
    let (status, patched) = scim
        .send(
            Method::PATCH,
            &format!("/Groups/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "value": {"id": id, "displayName": renamed}},
                {"op": "remove", "path": format!("members[value eq \"{mandy}\"]")}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["displayName"], renamed.as_str());
    assert_eq!(finspace_members(&scim.app, &id).await, [other.as_str()]);

    // Found by displayName in any case, without its members if asked.
    let filter = format!("displayName eq \"{}\"", renamed.to_uppercase());
    let (status, found) = scim
        .send(
            Method::GET,
            &format!(
                "/Groups?filter={}&excludedAttributes=members",
                form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    assert!(found["Resources"][0].get("members").is_none());

    // A replace sets the members (a user unknown here is refused, and nothing changes).
    let (status, error) = scim
        .send(
            Method::PUT,
            &format!("/Groups/{id}"),
            Some(json!({"schemas": [GROUP], "displayName": renamed, "members": [{"value": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["scimType"], "invalidValue");
    assert_eq!(finspace_members(&scim.app, &id).await, [other.as_str()]);
    let (status, replaced) = scim
        .send(
            Method::PUT,
            &format!("/Groups/{id}"),
            Some(json!({
                "schemas": [GROUP], "displayName": renamed, "members": [{"value": babs}],
                GROUP_EXTENSION: {"applicationPermissions": ["ViewAuditData"], "description": "guides"}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(
        replaced["externalId"],
        Value::Null,
        "a replace clears what it leaves out"
    );
    let mut expected = vec![babs.clone(), other.clone()];
    expected.sort();
    assert_eq!(finspace_members(&scim.app, &id).await, expected);
    let finspace = scim
        .app
        .sdk
        .get_permission_group()
        .permission_group_id(&id)
        .send()
        .await
        .expect("GetPermissionGroup");
    let group = finspace.permission_group().expect("group");
    assert_eq!(group.description(), Some("guides"));
    assert_eq!(group.application_permissions().len(), 1);

    // Another group may not take its name.
    let (status, error) = scim
        .send(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": renamed.to_lowercase()})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error["scimType"], "uniqueness");

    let (status, _) = scim
        .send(Method::DELETE, &format!("/Groups/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = scim.send(Method::GET, &format!("/Groups/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let gone = scim
        .app
        .sdk
        .get_permission_group()
        .permission_group_id(&id)
        .send()
        .await;
    assert!(gone.is_err(), "deleted through FinSpace's eyes too");
    let trail = scim.app.audit_events().await;
    for operation in [
        "ScimCreateGroup",
        "ScimPatchGroup",
        "ScimReplaceGroup",
        "ScimDeleteGroup",
        "ScimListGroups",
    ] {
        assert!(
            trail
                .iter()
                .any(|e| e["operation"] == operation && e["caller"] == "scim:okta"),
            "{operation}"
        );
    }
}

#[tokio::test]
async fn versions_and_methods_are_answered_as_http_has_them() {
    let scim = scim_app().await;
    let created = scim.create(&unique_email("etag")).await;
    let id = created["id"].as_str().expect("id");
    scim.app.wait_for_status(id, UserStatus::Enabled).await;
    let (_, user) = scim.send(Method::GET, &format!("/Users/{id}"), None).await;
    let version = user["meta"]["version"].as_str().expect("version");
    // The version does not depend on the host name the client used.
    let other_host = scim
        .request(Method::GET, &format!("/Users/{id}"))
        .header("host", "directory.example.com")
        .send()
        .await
        .expect("answered");
    let body: Value = other_host.json().await.expect("JSON");
    assert_eq!(body["meta"]["version"], version);
    assert!(
        body["meta"]["location"]
            .as_str()
            .is_some_and(|l| l.starts_with("http://directory.example.com/")),
        "{body}"
    );
    let unchanged = scim
        .request(Method::GET, &format!("/Users/{id}"))
        .header("if-none-match", version)
        .send()
        .await
        .expect("answered");
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.headers()["etag"], version);
    let garbled = scim
        .request(Method::DELETE, &format!("/Users/{id}"))
        .header(
            "if-match",
            reqwest::header::HeaderValue::from_bytes(b"\xff").expect("bytes"),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(garbled.status(), StatusCode::PRECONDITION_FAILED);
    let wrong = scim
        .request(Method::POST, &format!("/Users/{id}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.headers()["allow"], "GET, PUT, PATCH, DELETE");

    // A replace that does not say `active` leaves it as it is.
    let (status, _) = scim
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, replaced) = scim
        .send(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [USER], "userName": user["userName"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replaced["active"], false);
    // A no-op PATCH changes nothing, and is audited all the same.
    let before = scim.app.audit_events().await.len();
    let (status, same) = scim
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["meta"]["version"], replaced["meta"]["version"]);
    let trail = scim.app.audit_events().await;
    assert!(trail.len() > before);
    assert!(
        trail
            .iter()
            .any(|e| e["operation"] == "ScimPatchUser" && e["detail"] == "nothing to change")
    );
}

/// `[scim] prefix` moves the endpoint, `enabled = false` takes it away, and a prefix that
/// cannot be served stops the start with a message naming it.
#[tokio::test]
async fn the_endpoint_is_where_the_configuration_says_or_nowhere() {
    let Scim { app, token } = scim_app().await;
    let dir = app.stop().await;
    let moved = spawn_app_in(dir.clone(), |s| s.scim.prefix = "/idp/scim".into()).await;
    let at = |app: &TestApp, path: &str| app.http.get(app.url(path)).bearer_auth(&token).send();
    let served = at(&moved, "/idp/scim/ServiceProviderConfig")
        .await
        .expect("answered");
    assert_eq!(served.status(), StatusCode::OK);
    let old = at(&moved, "/scim/v2/ServiceProviderConfig")
        .await
        .expect("answered");
    assert_ne!(old.status(), StatusCode::OK);
    assert!(
        old.headers().get("x-amzn-errortype").is_some(),
        "the API's own answer"
    );
    let dir = moved.stop().await;
    let off = spawn_app_in(dir.clone(), |s| s.scim.enabled = false).await;
    let gone = at(&off, "/scim/v2/ServiceProviderConfig")
        .await
        .expect("answered");
    assert_ne!(gone.status(), StatusCode::OK);
    assert!(gone.headers().get("x-amzn-errortype").is_some());
    off.stop().await;
    let mut settings = crate::helpers::test_settings(&dir);
    settings.scim.prefix = "/user/scim".into();
    let refused = userdir::startup::Application::build(&settings).await;
    let message = refused.err().map(|e| format!("{e:#}")).unwrap_or_default();
    assert!(
        message.contains("scim.prefix") && message.contains("/user"),
        "{message}"
    );
}
