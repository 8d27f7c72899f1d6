//! The audit trail: successful writes are recorded by the store in their own transaction; this
//! records the calls that had no effect and lists the trail for those allowed to see it.

use std::sync::Arc;

use super::access::{Access, Need};
use super::error::{ServiceError, Subject};
use super::idempotency::error_chain;
use super::pagination::{Listing, Page, PageTokens};
use crate::domain::{ApplicationPermission, Invocation, PageSize};
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
