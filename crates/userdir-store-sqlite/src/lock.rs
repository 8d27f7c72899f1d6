//! One serving process per SQLite directory.
//!
//! Each process keeps its own GetUser cache coherent with its own writes only, so a second process
//! writing the same database would leave the first answering stale users. `serve` therefore holds
//! an exclusive OS lock (`flock`) on a file in the database's directory for as long as it runs. The
//! kernel releases the lock when the process ends however it ends (a kill -9 included), so a lock
//! can never outlive its holder; the file's content (the holder's pid and database) is only there
//! to name the holder in the refusal, and is never trusted for the decision.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name, in the database's directory.
pub const LOCK_FILE: &str = "userdir.lock";

/// Held while a process serves the database; dropping it releases the lock.
#[derive(Debug)]
pub struct DirectoryLock {
    _file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the database {database} is already served by another userdir process{holder}: \
         stop that process first, or give this one another database.path \
         (the lock is {lock}, held until that process exits)"
    )]
    Held {
        database: String,
        holder: String,
        lock: String,
    },
    #[error("cannot lock {lock}: {source}")]
    Io {
        lock: String,
        #[source]
        source: std::io::Error,
    },
}

impl DirectoryLock {
    /// Takes the lock of the directory holding `database`, or says who holds it.
    pub fn acquire(database: &Path) -> Result<Self, LockError> {
        let path = lock_path(database);
        let io = |source| LockError::Io {
            lock: path.display().to_string(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(io)?;
        match try_lock_briefly(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    database: database.display().to_string(),
                    holder: describe_holder(&mut file),
                    lock: path.display().to_string(),
                });
            }
            Err(TryLockError::Error(error)) => return Err(io(error)),
        }
        let about = format!(
            "pid {}\ndatabase {}\n",
            std::process::id(),
            database.display()
        );
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(about.as_bytes()))
            .map_err(io)?;
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How long a lock found held is tried again before it is reported held.
const RETRY_FOR: std::time::Duration = std::time::Duration::from_millis(250);

/// Tries the lock, and again for a moment if it is held: a process that just released it may
/// still share it with a child it is starting (between fork and exec the child holds a copy of
/// every descriptor, close-on-exec or not), and that copy goes away within milliseconds.
fn try_lock_briefly(file: &File) -> Result<(), TryLockError> {
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Err(TryLockError::WouldBlock) if started.elapsed() < RETRY_FOR => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn lock_path(database: &Path) -> PathBuf {
    database_dir(database).join(LOCK_FILE)
}

/// The directory holding the database file (`.` for a bare file name).
pub fn database_dir(database: &Path) -> &Path {
    database
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// " (pid N)" from the holder's note, when it left a readable one.
fn describe_holder(file: &mut File) -> String {
    let mut note = String::new();
    if file.read_to_string(&mut note).is_err() {
        return String::new();
    }
    note.lines()
        .find_map(|line| line.strip_prefix("pid "))
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        .map(|pid| format!(" (pid {pid})"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_named_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("userdir.db");
        let first = DirectoryLock::acquire(&database).expect("first lock");

        let refusal = DirectoryLock::acquire(&database).expect_err("second lock");
        let message = refusal.to_string();
        assert!(
            message.contains(&database.display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&format!("(pid {})", std::process::id())),
            "{message}"
        );

        drop(first);
        DirectoryLock::acquire(&database).expect("free again once released");
    }
}
