//! Online backups of a database file and their restoration.
//!
//! `VACUUM INTO` reads the database in one read transaction: in WAL mode that is a consistent
//! snapshot taken without stopping the serving process's writes (they go on into the WAL beside
//! it). The copy is written under a temporary name, checked, synced and only then renamed into
//! place, so a backup file either is whole or does not exist.

use std::path::{Path, PathBuf};

use sqlx::{Connection, SqliteConnection};

use crate::{db_error, maintenance};
use userdir_core::store::StoreError;

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub bytes: u64,
    pub users: i64,
    pub groups: i64,
}

/// Writes a consistent snapshot of the database at `path` to `target`, beside a serving process
/// if there is one. Refuses to overwrite an existing `target`.
pub async fn backup(path: &Path, target: &Path) -> Result<BackupReport, StoreError> {
    if target.exists() {
        return Err(invalid(format!(
            "{} exists already: give a new file name (a backup never overwrites)",
            target.display()
        )));
    }
    let partial = sibling(target, ".partial");
    let _ = std::fs::remove_file(&partial);
    let mut conn = maintenance::open_read_only(path).await?;
    let written = sqlx::query("VACUUM INTO ?")
        .bind(partial.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await
        .map_err(db_error);
    conn.close().await.map_err(db_error)?;
    if let Err(error) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    let report = match verify(&partial).await {
        Ok(report) => report,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    super::restrict_to_owner(&partial)?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, target)?;
    sync_dir(target);
    Ok(report)
}

/// Puts the backup at `source` in place of the database at `path`, which the caller has claimed
/// (no server runs on it). An existing database is kept beside it, renamed with `aside_suffix`;
/// returns that name, if there was one.
pub async fn restore(
    source: &Path,
    path: &Path,
    aside_suffix: &str,
) -> Result<(BackupReport, Option<PathBuf>), StoreError> {
    let report = verify(source).await?;
    let incoming = sibling(path, ".restoring");
    std::fs::copy(source, &incoming)?;
    std::fs::File::open(&incoming)?.sync_all()?;
    let mut aside = None;
    if path.exists() {
        let kept = sibling(path, aside_suffix);
        for suffix in ["-wal", "-shm"] {
            let from = sibling(path, suffix);
            if from.exists() {
                std::fs::rename(&from, sibling(&kept, suffix))?;
            }
        }
        std::fs::rename(path, &kept)?;
        aside = Some(kept);
    }
    std::fs::rename(&incoming, path)?;
    super::restrict_to_owner(path)?;
    sync_dir(path);
    Ok((report, aside))
}

/// Checks that `file` is a whole userdir database: SQLite's integrity check passes, and its
/// tables are there. Says what it holds.
pub async fn verify(file: &Path) -> Result<BackupReport, StoreError> {
    let problems = maintenance::check(file).await?;
    if let Some(first) = problems.first() {
        return Err(invalid(format!(
            "{} is damaged ({} problem(s); the first: {first})",
            file.display(),
            problems.len()
        )));
    }
    let mut conn = maintenance::open_read_only(file).await?;
    let counts = counts(&mut conn).await;
    conn.close().await.map_err(db_error)?;
    let (users, groups) = counts.map_err(|_| {
        invalid(format!(
            "{} is not a userdir database (it has no users or groups table)",
            file.display()
        ))
    })?;
    Ok(BackupReport {
        bytes: std::fs::metadata(file)?.len(),
        users,
        groups,
    })
}

async fn counts(conn: &mut SqliteConnection) -> Result<(i64, i64), StoreError> {
    let users = sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM users"#)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    let groups = sqlx::query_scalar!(r#"SELECT count(*) AS "n!: i64" FROM permission_groups"#)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok((users, groups))
}

fn invalid(message: String) -> StoreError {
    StoreError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        message,
    ))
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Makes a rename durable: syncs the directory holding `path` (best effort: not every
/// filesystem allows opening a directory).
fn sync_dir(path: &Path) {
    let dir = crate::database_dir(path);
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}
