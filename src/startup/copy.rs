//! `userdir copy --to TARGET`: the whole directory, from the configured database into another
//! backend's (SQLite → PostgreSQL is the upgrade path; the other way round works too). Every
//! table is copied in pages, oldest references first; rows the target has already are kept, so a
//! copy that stopped is finished by running it again. Server keys are copied with the rest, so
//! page tokens and temporary credentials issued before keep working.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use userdir_core::domain::{SharedClock, SystemClock};
use userdir_core::store::AuditRecord;
use userdir_core::store::copy::Table;

use super::{backend, print_lines};
use crate::config::Settings;

/// How often a long table's progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Copies the configured database into `to` (a `postgres://` URL, or a SQLite file path),
/// `page` rows at a time, then compares the tables' counts.
pub async fn copy(settings: &Settings, to: &str, page: u32) -> anyhow::Result<()> {
    let mut target_settings = settings.clone();
    if to.starts_with("postgres://") || to.starts_with("postgresql://") {
        target_settings.database.url = to.to_owned();
    } else {
        target_settings.database.url.clear();
        target_settings.database.path = to.into();
    }
    let mut source = backend(settings);
    let mut target = backend(&target_settings);
    anyhow::ensure!(
        source.describe() != target.describe(),
        "the target is the configured database itself ({})",
        source.describe()
    );
    // Neither may change under the copy: a SQLite database is claimed from any server on it.
    source.claim_for_change(false, "")?;
    target.claim_for_change(true, "")?;
    let (from_name, to_name) = (source.describe(), target.describe());
    let clock: SharedClock = Arc::new(SystemClock);
    let from = source
        .open(clock.clone())
        .await
        .with_context(|| format!("opening the source {from_name}"))?;
    let into = match target.open(clock.clone()).await {
        Ok(into) => into,
        Err(error) => {
            from.close().await;
            return Err(error).with_context(|| format!("opening the target {to_name}"));
        }
    };
    let copied = async {
        let mut lines = Vec::new();
        for table in Table::ALL {
            let total = from.copy.count(table).await?;
            let before = into.copy.count(table).await?;
            let (mut after, mut read, mut new) = (None::<String>, 0u64, 0u64);
            let mut reported = Instant::now();
            loop {
                let rows = from.copy.export(table, after.as_deref(), page).await?;
                if rows.is_empty() {
                    break;
                }
                after = rows.last_key();
                read += rows.len() as u64;
                new += into.copy.absorb(rows).await?;
                if reported.elapsed() >= PROGRESS_EVERY {
                    eprintln!("userdir copy: {}: {read} of {total}", table.name());
                    reported = Instant::now();
                }
            }
            let now = into.copy.count(table).await?;
            anyhow::ensure!(
                now >= total,
                "{}: the source has {total} rows, but the target only {now} after the copy \
                 (a row of the target may have had the same email or name as a different one of \
                 the source)",
                table.name()
            );
            lines.push(format!(
                "{}: {read} copied ({new} new, {} there already); source {total}, target {now}{}",
                table.name(),
                read - new,
                if before > 0 {
                    format!(" (it held {before} before)")
                } else {
                    String::new()
                }
            ));
        }
        let record = AuditRecord {
            time: clock.now(),
            request_id: ulid::Ulid::generate().to_string(),
            caller: "operator:cli".into(),
            operation: "CopyDirectory".into(),
            target: None,
            detail: Some(format!("copied from {from_name}")),
        };
        into.audit.append_audit(&record, "SUCCESS").await?;
        anyhow::Ok(lines)
    }
    .await;
    from.close().await;
    into.close().await;
    let mut lines = copied.with_context(|| format!("copying {from_name} to {to_name}"))?;
    lines.push(format!(
        "{from_name} copied to {to_name}; every table's count checked"
    ));
    print_lines(lines)
}
