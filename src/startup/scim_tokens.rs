//! `userdir scim-token create|list|revoke`: the bearer tokens SCIM clients (identity providers)
//! present. A new token is printed once; only its secret's hash is kept. Making or revoking one is
//! audited. They work beside running servers (which read a token's row on every use, so a
//! revocation holds from the next request): on PostgreSQL as any client does, on SQLite through
//! a connection that touches the tokens and the audit trail only.

use std::io::Write;

use std::sync::Arc;

use anyhow::Context;

use super::{backend, print_lines};
use crate::config::Settings;
use userdir_core::domain::{ScimToken, ScimTokenName, SharedClock, SystemClock};
use userdir_core::store::{
    AuditRecord, Resource, ScimTokenRecord, ScimTokenStore, StoreError, WriteContext,
};

/// Runs `action` on the configured database's tokens and closes it, whatever `action` answered.
async fn with_tokens<T>(
    settings: &Settings,
    action: impl AsyncFnOnce(&dyn ScimTokenStore, &SharedClock) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let backend = backend(settings);
    let database = backend.describe();
    let clock: SharedClock = Arc::new(SystemClock);
    let tokens = backend
        .open_scim_tokens(clock.clone())
        .await
        .with_context(|| format!("opening database {database}"))?;
    let outcome = action(tokens.store(), &clock).await;
    tokens.close().await;
    outcome
}

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
    with_tokens(settings, async |tokens, clock| {
        let ctx = operator(clock, "CreateScimToken", &name, token.id());
        let record = ScimTokenRecord {
            id: token.id().to_owned(),
            name: name.clone(),
            secret_hash: token.secret_hash(),
            create_time: ctx.audit.time,
            revoke_time: None,
        };
        match tokens.insert_scim_token(&record, &ctx).await {
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
    let tokens = with_tokens(settings, async |tokens, _| {
        Ok(tokens.list_scim_tokens().await?)
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
    with_tokens(settings, async |tokens, clock| {
        // Audited under the stored name and the token's id, however the name was typed.
        let live = tokens.list_scim_tokens().await?.into_iter().find(|t| {
            t.revoke_time.is_none() && t.name.as_str().eq_ignore_ascii_case(name.as_str())
        });
        let Some(live) = live else {
            anyhow::bail!("no live SCIM token is named {}", name.as_str());
        };
        let ctx = operator(clock, "RevokeScimToken", &live.name, &live.id);
        match tokens.revoke_scim_token(&live.name, &ctx).await {
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
