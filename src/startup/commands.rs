//! The maintenance commands (`migrate`, `check`, `audit`) and how every command prints.

use anyhow::Context;

use super::backend;
use crate::config::Settings;
use crate::escape::escape;

/// Opens the database and applies pending migrations, then closes it (`userdir migrate`).
pub async fn migrate(settings: &Settings, create: bool) -> anyhow::Result<()> {
    // A server running on the database migrated it when it started; a newer schema under it
    // would not be what it expects: the backend refuses while another process holds it.
    let backend = backend(settings);
    let database = backend.describe();
    let report = backend
        .migrate(create)
        .await
        .with_context(|| format!("migrating database {database}"))?;
    let version = |v: &i64| format!("{v:04}");
    let now_at = report.now_at.as_ref().map_or("none".into(), version);
    let line = match report.applied.as_slice() {
        [] => format!("{database}: up to date, at {now_at}"),
        applied => format!(
            "{database}: applied {} migration{} ({}), now at {now_at}",
            applied.len(),
            if applied.len() == 1 { "" } else { "s" },
            applied.iter().map(version).collect::<Vec<_>>().join(", ")
        ),
    };
    print_lines([line])
}

/// `userdir check`: the backend's consistency check; each problem a line, and a failure if any.
pub async fn check(settings: &Settings) -> anyhow::Result<()> {
    let backend = backend(settings);
    let database = backend.describe();
    let problems = backend
        .check()
        .await
        .with_context(|| format!("checking database {database}"))?;
    if problems.is_empty() {
        return print_lines([format!("{database}: ok")]);
    }
    print_lines(
        problems
            .iter()
            .map(|p| format!("{database}: {}", escape(p))),
    )?;
    anyhow::bail!("{database}: {} problem(s) found", problems.len())
}

/// How `userdir audit` prints the trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// Tab-separated columns under a header; request input escaped.
    Table,
    /// One JSON object per line, as `GET /audit` lists them.
    Jsonl,
}

/// Prints the audit trail (`userdir audit`), reading beside a running server if there is one.
pub async fn print_audit(
    settings: &Settings,
    after: i64,
    limit: u32,
    format: AuditFormat,
) -> anyhow::Result<()> {
    let backend = backend(settings);
    let events = backend
        .read_audit(after, limit)
        .await
        .with_context(|| format!("reading the audit trail of {}", backend.describe()))?;
    match format {
        AuditFormat::Table => {
            let header = "seq\ttime\trequest_id\tcaller\toperation\ttarget\toutcome\tdetail";
            let rows = events.iter().map(|event| {
                let record = &event.record;
                let time = chrono::DateTime::from_timestamp_millis(record.time.as_millis())
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default();
                format!(
                    "{}\t{time}\t{}\t{}\t{}\t{}\t{}\t{}",
                    event.seq,
                    escape(&record.request_id),
                    escape(&record.caller),
                    escape(&record.operation),
                    escape(record.target.as_deref().unwrap_or("-")),
                    escape(&event.outcome),
                    escape(record.detail.as_deref().unwrap_or("-")),
                )
            });
            print_lines(std::iter::once(header.to_owned()).chain(rows))
        }
        AuditFormat::Jsonl => print_lines(events.iter().map(|event| {
            let record = &event.record;
            let mut line = serde_json::json!({
                "seq": event.seq,
                "time": record.time.as_millis(),
                "requestId": record.request_id,
                "caller": record.caller,
                "operation": record.operation,
                "outcome": event.outcome,
            });
            if let Some(target) = &record.target {
                line["target"] = target.as_str().into();
            }
            if let Some(detail) = &record.detail {
                line["detail"] = detail.as_str().into();
            }
            line.to_string()
        })),
    }
}

/// Writes lines to stdout. A reader that stops early (`userdir audit | head`) ends the command
/// quietly rather than with a panic.
pub fn print_lines(lines: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = lines
        .into_iter()
        .try_for_each(|line| writeln!(out, "{line}"))
        .and_then(|()| out.flush());
    match written {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
