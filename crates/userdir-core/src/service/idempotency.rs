//! Idempotency tokens: a write that carries a clientToken takes effect once; repeating it with the
//! same parameters within the token's lifetime answers what the first call answered.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::domain::{ClientToken, Invocation, SharedClock, Timestamp};
use crate::report::error_chain;
use crate::store::{AuditRecord, TokenClaim, UserStore, WriteContext};

/// Builds the fingerprint of a request's parameters. Each member is written with its name and
/// length, so that no two different requests can produce the same byte stream.
#[derive(Default)]
pub struct Fingerprint(Sha256);

impl Fingerprint {
    pub fn member(mut self, name: &str, value: Option<&str>) -> Self {
        self.0.update((name.len() as u64).to_le_bytes());
        self.0.update(name.as_bytes());
        match value {
            Some(value) => {
                self.0.update([1]);
                self.0.update((value.len() as u64).to_le_bytes());
                self.0.update(value.as_bytes());
            }
            None => self.0.update([0]),
        }
        self
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// Issues token claims with the configured lifetime.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    pub ttl: Duration,
    pub clock: SharedClock,
}

impl TokenPolicy {
    /// The context of one write: its token claim (if the call carries a token) and its audit record.
    pub fn context(
        &self,
        invocation: &Invocation,
        operation: &'static str,
        target: Option<&str>,
        token: Option<ClientToken>,
        fingerprint: impl FnOnce() -> Fingerprint,
    ) -> WriteContext {
        let now = self.clock.now();
        WriteContext {
            claim: self.claim(operation, token, fingerprint, now),
            audit: audit_record(invocation, operation, target, now),
        }
    }

    fn claim(
        &self,
        operation: &'static str,
        token: Option<ClientToken>,
        fingerprint: impl FnOnce() -> Fingerprint,
        now: Timestamp,
    ) -> Option<TokenClaim> {
        token.map(|token| TokenClaim {
            operation,
            token,
            fingerprint: fingerprint().finish(),
            now,
            expires_at: now.plus(self.ttl),
        })
    }
}

/// What the audit trail records of a call.
pub fn audit_record(
    invocation: &Invocation,
    operation: &'static str,
    target: Option<&str>,
    time: Timestamp,
) -> AuditRecord {
    AuditRecord {
        time,
        request_id: invocation.request_id.clone(),
        caller: invocation.caller.to_string(),
        operation: operation.to_owned(),
        target: target.map(str::to_owned),
        detail: None,
    }
}

/// Deletes expired tokens every `interval` until shutdown, after which a token may be used afresh.
/// (Expired tokens are ignored by the write path even before they are purged.)
pub fn spawn_token_purger(
    store: Arc<dyn UserStore>,
    clock: SharedClock,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.changed() => break,
            }
            match store.purge_expired_tokens(clock.now()).await {
                Ok(0) => {}
                Ok(purged) => tracing::debug!(purged, "purged expired idempotency tokens"),
                Err(error) => {
                    tracing::error!(error = %error_chain(&error), "purging idempotency tokens failed")
                }
            }
        }
        tracing::debug!("token purger stopped");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_separate_members_unambiguously() {
        let a = Fingerprint::default()
            .member("a", Some("bc"))
            .member("d", None)
            .finish();
        let b = Fingerprint::default()
            .member("a", Some("b"))
            .member("cd", None)
            .finish();
        let c = Fingerprint::default()
            .member("a", Some("bc"))
            .member("d", Some(""))
            .finish();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            Fingerprint::default()
                .member("a", Some("bc"))
                .member("d", None)
                .finish()
        );
        assert_eq!(a.len(), 64);
    }
}
