//! `userdir scim-token create|list|revoke`: the bearer tokens SCIM clients (identity providers)
//! present. A new token is printed once; only its secret's hash is kept. Making or revoking one is
//! audited. On SQLite they are refused while a server runs on the database (it holds it); on
//! PostgreSQL they work beside running instances, which read a token's row on every use.

use std::io::Write;

use super::{print_lines, with_store_for_change};
use crate::config::Settings;
use userdir_core::domain::{ScimToken, ScimTokenName, SharedClock};
use userdir_core::store::{AuditRecord, Resource, ScimTokenRecord, StoreError, WriteContext};

fn operator(clock: &SharedClock, operation: &str, name: &ScimTokenName, id: &str) -> WriteContext {
    WriteContext {
        claim: None,
        audit: AuditRecord {
            time: clock.now(),
            request_id: ulid::Ulid::generate().to_string(),
            caller: "operator:cli".into(),
            operation: operation.into(),
            target: Some(name.as_str().to_owned()),
            detail: Some(format!("token id {id}")),
        },
    }
}

fn token_name(name: &str) -> anyhow::Result<ScimTokenName> {
    ScimTokenName::parse(name).map_err(|v| anyhow::anyhow!("{v}"))
}

/// `userdir scim-token create --name NAME`
pub async fn create_scim_token(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let name = token_name(name)?;
    let token = ScimToken::generate();
    with_store_for_change(settings, async |store, clock| {
        let ctx = operator(clock, "CreateScimToken", &name, token.id());
        let record = ScimTokenRecord {
            id: token.id().to_owned(),
            name: name.clone(),
            secret_hash: token.secret_hash(),
            create_time: ctx.audit.time,
            revoke_time: None,
        };
        match store.scim_tokens.insert_scim_token(&record, &ctx).await {
            Err(StoreError::ScimTokenNameTaken) => anyhow::bail!(
                "a SCIM token named {} exists (names are unique regardless of case, revoked \
                 tokens included): choose another name",
                name.as_str()
            ),
            other => other?,
        }
        Ok(())
    })
    .await?;
    eprintln!(
        "SCIM token {} (id {}) created. It is shown this once; only its hash is kept:",
        name.as_str(),
        token.id()
    );
    // Unlike a listing, a token nobody received must not pass for success (a closed pipe too).
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", token.reveal())
        .and_then(|()| out.flush())
        .map_err(|error| {
            anyhow::anyhow!(
                "the new token could not be printed ({error}); it is stored but unusable: \
                 revoke it with `userdir scim-token revoke {}` and make another",
                name.as_str()
            )
        })
}

/// `userdir scim-token list`: name, id, created, and revoked (or `live`), oldest first.
pub async fn list_scim_tokens(settings: &Settings) -> anyhow::Result<()> {
    let tokens = with_store_for_change(settings, async |store, _| {
        Ok(store.scim_tokens.list_scim_tokens().await?)
    })
    .await?;
    let time = |t: userdir_core::domain::Timestamp| {
        chrono::DateTime::from_timestamp_millis(t.as_millis())
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    };
    print_lines(
        std::iter::once("name\tid\tcreated\trevoked".to_owned()).chain(tokens.iter().map(|t| {
            format!(
                "{}\t{}\t{}\t{}",
                t.name.as_str(),
                t.id,
                time(t.create_time),
                t.revoke_time.map_or("live".to_owned(), time)
            )
        })),
    )
}

/// `userdir scim-token revoke NAME`
pub async fn revoke_scim_token(settings: &Settings, name: &str) -> anyhow::Result<()> {
    let name = token_name(name)?;
    with_store_for_change(settings, async |store, clock| {
        // Audited under the stored name and the token's id, however the name was typed.
        let live = store
            .scim_tokens
            .list_scim_tokens()
            .await?
            .into_iter()
            .find(|t| {
                t.revoke_time.is_none() && t.name.as_str().eq_ignore_ascii_case(name.as_str())
            });
        let Some(live) = live else {
            anyhow::bail!("no live SCIM token is named {}", name.as_str());
        };
        let ctx = operator(clock, "RevokeScimToken", &live.name, &live.id);
        match store.scim_tokens.revoke_scim_token(&live.name, &ctx).await {
            Err(StoreError::NotFound(Resource::ScimToken)) => {
                anyhow::bail!("no live SCIM token is named {}", name.as_str())
            }
            other => other?,
        }
        Ok(())
    })
    .await?;
    print_lines([format!(
        "SCIM token {} revoked: it is refused from now on",
        name.as_str()
    )])
}
