//! `userdir backup` and `userdir restore` (SQLite; PostgreSQL has pg_dump).

use std::path::Path;

use anyhow::Context;

use super::{backend, print_lines};
use crate::config::Settings;

/// Writes a consistent snapshot of the database to `target`, beside a running server.
pub async fn backup(settings: &Settings, target: &Path) -> anyhow::Result<()> {
    let backend = backend(settings);
    let database = backend.describe();
    let report = backend
        .backup(target)
        .await
        .with_context(|| format!("backing up {database} to {}", target.display()))?;
    print_lines([format!(
        "{database}: backed up to {} ({} bytes, {} users, {} permission groups; integrity ok)",
        target.display(),
        report.bytes,
        report.users,
        report.groups
    )])
}

/// Puts a backup in place of the database (refused while a server runs on it). An existing
/// database is replaced only with `replace`, and kept beside the new one.
pub async fn restore(settings: &Settings, source: &Path, replace: bool) -> anyhow::Result<()> {
    let backend = backend(settings);
    let database = backend.describe();
    if backend.exists() && !replace {
        anyhow::bail!(
            "a database exists at {database}: give --replace to put the backup in its place (the \
             current one is kept beside it, renamed)"
        );
    }
    let aside = format!(".replaced-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    let (report, kept) = backend
        .restore(source, &aside)
        .await
        .with_context(|| format!("restoring {} into {database}", source.display()))?;
    let kept = kept
        .map(|k| format!("; the previous database is kept as {}", k.display()))
        .unwrap_or_default();
    print_lines([format!(
        "{database}: restored from {} ({} users, {} permission groups){kept}",
        source.display(),
        report.users,
        report.groups
    )])
}
