//! `userdir scim-token`: tokens made (printed once, only a hash kept), listed, revoked, audited;
//! names unique regardless of case. On both backends.

use std::sync::Arc;

use userdir_core::domain::ScimToken;

use crate::helpers::{open_store, userdir_command};

async fn run(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = userdir_command(dir)
        .arg("scim-token")
        .args(args)
        .output()
        .await
        .expect("userdir scim-token runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn tokens_are_made_once_listed_and_revoked_with_an_audit_trail() {
    let dir = Arc::new(crate::helpers::tempdir());
    // A database to work on.
    drop(open_store(&dir).await);

    let (ok, printed, said) = run(dir.path(), &["create", "--name", "okta"]).await;
    assert!(ok, "{said}");
    assert!(said.contains("shown this once"), "{said}");
    let text = printed.trim();
    let token = ScimToken::parse(text).expect("a token is printed, and only that");

    let (ok, _, said) = run(dir.path(), &["create", "--name", "OKTA"]).await;
    assert!(!ok);
    assert!(said.contains("a SCIM token named OKTA exists"), "{said}");
    let (ok, _, said) = run(dir.path(), &["create", "--name", "no spaces"]).await;
    assert!(!ok);
    assert!(said.contains("token name"), "{said}");
    let (ok, _, _) = run(dir.path(), &["create", "--name", "entra"]).await;
    assert!(ok);

    let (ok, listed, _) = run(dir.path(), &["list"]).await;
    assert!(ok);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines[0], "name\tid\tcreated\trevoked");
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(
        lines[1].starts_with(&format!("okta\t{}\t", token.id())),
        "{listed}"
    );
    assert!(lines[1].ends_with("\tlive"), "{listed}");
    assert!(!listed.contains(&text[34..]), "the secret is never listed");

    // Only the hash is stored, and the printed token proves itself against it.
    let store = open_store(&dir).await;
    let stored = store
        .scim_tokens
        .scim_token(token.id())
        .await
        .expect("read")
        .expect("stored");
    assert!(token.proves(&stored.secret_hash));
    assert_eq!(stored.name.as_str(), "okta");
    store.close().await;

    let (ok, said, _) = run(dir.path(), &["revoke", "Okta"]).await;
    assert!(ok, "revoked in any case");
    assert!(said.contains("revoked"), "{said}");
    let (ok, _, said) = run(dir.path(), &["revoke", "okta"]).await;
    assert!(!ok);
    assert!(said.contains("no live SCIM token is named okta"), "{said}");
    let (_, listed, _) = run(dir.path(), &["list"]).await;
    let okta = listed.lines().nth(1).expect("okta listed");
    assert!(!okta.ends_with("\tlive"), "revoked, with its time: {okta}");
    assert!(listed.lines().nth(2).expect("entra").ends_with("\tlive"));

    let store = open_store(&dir).await;
    let trail = store.audit.list_audit(None, 100).await.expect("trail");
    store.close().await;
    let of = |operation: &str| {
        trail
            .iter()
            .filter(|e| e.record.operation == operation)
            .map(|e| e.record.target.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(of("CreateScimToken"), ["okta", "entra"]);
    assert_eq!(
        of("RevokeScimToken"),
        ["okta"],
        "the stored name, however typed"
    );
    let detail = trail
        .iter()
        .find(|e| e.record.operation == "RevokeScimToken")
        .and_then(|e| e.record.detail.clone());
    assert_eq!(detail, Some(format!("token id {}", token.id())));
}
