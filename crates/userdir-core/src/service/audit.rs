//! The audit trail: successful writes are recorded by the store in their own transaction; this
//! records the calls that had no effect, summarises the failed authentications that were only
//! counted, deletes entries past their retention, and lists the trail for those allowed to see it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::access::{Access, Need};
use super::error::{ServiceError, Subject};
use super::failures::{FailedAuthentications, Tally};
use super::pagination::{Listing, Page, PageTokens};
use crate::domain::{ApplicationPermission, Invocation, PageSize, SharedClock, Timestamp};
use crate::report::error_chain;
use crate::store::{AuditEvent, AuditRecord, AuditStore};

#[derive(Clone)]
pub struct AuditService {
    store: Arc<dyn AuditStore>,
    access: Access,
    pages: PageTokens,
}

impl AuditService {
    pub fn new(store: Arc<dyn AuditStore>, access: Access, pages: PageTokens) -> Self {
        Self {
            store,
            access,
            pages,
        }
    }

    /// Records a refused or failed call, or a failed authentication. A failure to record is
    /// logged, not passed on: the caller's answer is already decided.
    pub async fn record_refusal(&self, record: AuditRecord, outcome: &str) {
        if let Err(error) = self.store.append_audit(&record, outcome).await {
            tracing::error!(error = %error_chain(&error), "could not append to the audit trail");
        }
    }

    /// Writes one entry for each address whose failed authentications were only counted.
    pub async fn write_summaries(&self, tally: Vec<(Option<IpAddr>, Tally)>, now: Timestamp) {
        for (address, tally) in tally {
            let from = address.map_or("other addresses".to_owned(), |a| a.to_string());
            let record = AuditRecord {
                time: now,
                request_id: ulid::Ulid::generate().to_string(),
                caller: "unauthenticated".into(),
                operation: "Authenticate".into(),
                target: None,
                detail: Some(format!(
                    "{} failed authentications from {from} between {} and {}, counted, not \
                     recorded one by one",
                    tally.count,
                    rfc3339(tally.first),
                    rfc3339(tally.last)
                )),
            };
            self.record_refusal(record, COALESCED).await;
        }
    }

    /// Deletes the entries made before `before`, in slices that keep other writes moving.
    pub async fn prune(&self, before: Timestamp) -> Result<u64, ServiceError> {
        const SLICE: u32 = 5000;
        let mut deleted = 0;
        loop {
            let n = self
                .store
                .prune_audit(before, SLICE)
                .await
                .map_err(|e| Subject::new("PruneAuditTrail").error(e))?;
            deleted += n;
            if n < u64::from(SLICE) {
                return Ok(deleted);
            }
        }
    }

    pub async fn list(
        &self,
        invocation: &Invocation,
        size: PageSize,
        next_token: Option<&str>,
    ) -> Result<Page<AuditEvent>, ServiceError> {
        self.access
            .require(
                invocation,
                Need::Permission(ApplicationPermission::ViewAuditData),
            )
            .await?;
        let after = self
            .pages
            .read_after(next_token, Listing::AuditEvents, |key| {
                key.parse::<i64>()
                    .map_err(|_| crate::domain::Violation::new("not a sequence number"))
            })?;
        let fetched = self
            .store
            .list_audit(after, size.get() + 1)
            .await
            .map_err(|e| Subject::new("ListAuditEvents").error(e))?;
        let keys: Vec<String> = fetched.iter().map(|e| e.seq.to_string()).collect();
        let mut page = Page::from_fetched(
            fetched.into_iter().zip(keys).collect::<Vec<_>>(),
            size.get(),
            &self.pages,
            Listing::AuditEvents,
            |(_, key)| key.as_str(),
        );
        Ok(Page {
            items: page.items.drain(..).map(|(event, _)| event).collect(),
            next_token: page.next_token,
        })
    }
}

/// The outcome of a summary entry.
pub const COALESCED: &str = "Coalesced";

fn rfc3339(time: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(time.as_millis())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// How the audit keeper runs.
pub struct Upkeep {
    /// How often counted failures are summarised (and retention looked at).
    pub interval: Duration,
    /// Entries older than this are deleted; `None` keeps them all.
    pub retention: Option<Duration>,
    /// Rate limiters whose recovered keys are forgotten at each tick, so that callers who come
    /// once (a fresh address, a fresh email) do not hold memory for good.
    pub limiters: Vec<Box<dyn Fn() + Send + Sync>>,
}

/// Every `interval`: writes the summaries of counted failures and forgets recovered addresses;
/// about hourly (by `clock`), deletes entries past their retention. On shutdown, writes the last
/// summaries.
pub fn spawn_audit_keeper(
    audit: AuditService,
    failures: Arc<FailedAuthentications>,
    clock: SharedClock,
    upkeep: Upkeep,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    const PRUNE_EVERY: Duration = Duration::from_secs(3600);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(upkeep.interval.max(Duration::from_millis(100)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned_at: Option<Timestamp> = None;
        loop {
            let stopping = tokio::select! {
                _ = ticks.tick() => false,
                _ = shutdown.changed() => true,
            };
            let now = clock.now();
            audit.write_summaries(failures.take_tally(), now).await;
            if stopping {
                break;
            }
            failures.forget_recovered();
            for forget in &upkeep.limiters {
                forget();
            }
            let Some(retention) = upkeep.retention else {
                continue;
            };
            if pruned_at.is_some_and(|at| now.minus(PRUNE_EVERY).as_millis() < at.as_millis()) {
                continue;
            }
            pruned_at = Some(now);
            match audit.prune(now.minus(retention)).await {
                Ok(0) => {}
                Ok(deleted) => {
                    tracing::info!(deleted, "audit entries past their retention deleted")
                }
                Err(error) => tracing::error!(%error, "deleting old audit entries failed"),
            }
        }
        tracing::debug!("audit keeper stopped");
    })
}
