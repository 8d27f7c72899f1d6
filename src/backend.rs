//! The one place a storage backend is chosen and opened (SQLite or PostgreSQL). Serve, migrate, audit and every later
//! command go through a [`Backend`]: it claims the database for this process (where the backend
//! needs that), opens it as the store traits, and does the maintenance commands. Only this module
//! and the backend's own know which backend it is.

use std::sync::Arc;

use userdir_core::domain::SharedClock;
use userdir_core::store::copy::CopyStore;
use userdir_core::store::{
    AuditEvent, AuditStore, CredentialStore, GroupStore, MigrationReport, NoDatabase, ScimStore,
    ScimTokenStore, StoreError, UserCache, UserStore,
};
use userdir_store_postgres::{self as postgres, PostgresSettings, PostgresStore};
use userdir_store_sqlite::{
    self as sqlite, BackupReport, DirectoryLock, SqliteSettings, SqliteStore, TokensBeside,
};

/// The configured backend, before anything is opened.
#[derive(Debug)]
pub struct Backend {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// One process per database: it holds the directory's lock from `claim` until it closes.
    Sqlite {
        settings: SqliteSettings,
        lock: Option<DirectoryLock>,
        /// Users the GetUser cache may hold (0: none).
        cached_users: usize,
    },
    /// Shared by any number of processes; nothing to claim, and no cache (another process's write
    /// would not reach it).
    Postgres { settings: PostgresSettings },
}

/// The store, opened: every trait it serves, and what must be released when it closes.
pub struct Opened {
    pub users: Arc<dyn UserStore>,
    pub groups: Arc<dyn GroupStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub audit: Arc<dyn AuditStore>,
    /// The whole directory, table by table (`userdir copy`).
    pub copy: Arc<dyn CopyStore>,
    /// SCIM clients' bearer tokens.
    pub scim_tokens: Arc<dyn ScimTokenStore>,
    /// What SCIM keeps beside users and groups, and its writes.
    pub scim: Arc<dyn ScimStore>,
    inner: OpenedKind,
}

enum OpenedKind {
    Sqlite {
        store: SqliteStore,
        _lock: DirectoryLock,
    },
    Postgres {
        store: PostgresStore,
    },
}

impl Backend {
    /// SQLite at `settings.path`, with a GetUser cache of `cached_users` (0: none).
    pub fn sqlite(settings: SqliteSettings, cached_users: usize) -> Self {
        Self {
            kind: Kind::Sqlite {
                settings,
                lock: None,
                cached_users,
            },
        }
    }

    /// PostgreSQL at `settings.url`.
    pub fn postgres(settings: PostgresSettings) -> Self {
        Self {
            kind: Kind::Postgres { settings },
        }
    }

    /// Where the data is, for the log and for messages (a path, or a URL without its password).
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Sqlite { settings, .. } => settings.path.display().to_string(),
            Kind::Postgres { settings } => postgres::redacted(&settings.url),
        }
    }

    /// Whether several processes may serve the database at once (and so nothing about it may be
    /// kept in one process alone, such as a generated root key).
    pub fn is_shared(&self) -> bool {
        matches!(self.kind, Kind::Postgres { .. })
    }

    /// Whether the database exists already (a server's database is the operator's to create:
    /// it is taken to exist, and connecting says if it does not).
    pub fn exists(&self) -> bool {
        match &self.kind {
            Kind::Sqlite { settings, .. } => settings.path.exists(),
            Kind::Postgres { .. } => true,
        }
    }

    /// Claims the database for this process, or says who holds it; creates nothing if the
    /// database does not exist yet (then `open` claims it). Serve calls this before binding its
    /// port, so that a second start is refused for what it is.
    pub fn claim_existing(&mut self) -> Result<(), StoreError> {
        match &mut self.kind {
            Kind::Sqlite { settings, lock, .. } => {
                if lock.is_none() && settings.path.exists() {
                    *lock = Some(sqlite::claim(&settings.path)?);
                }
                Ok(())
            }
            Kind::Postgres { .. } => Ok(()),
        }
    }

    /// Claims the database for a command that changes it (refused while a server holds it); a
    /// missing one is an error naming where it was looked for, unless `create` (then `open`
    /// creates it).
    pub fn claim_for_change(&mut self, create: bool, hint: &'static str) -> Result<(), StoreError> {
        if !create && !self.exists() {
            return Err(self.missing(hint));
        }
        self.claim_existing()
    }

    /// The SCIM tokens of an existing database, for `userdir scim-token`: through the store when
    /// no server holds the database, and beside its server (those tables only) when one does.
    pub async fn open_scim_tokens(mut self, clock: SharedClock) -> Result<Tokens, StoreError> {
        if !self.exists() {
            return Err(self.missing(""));
        }
        match self.claim_existing() {
            Ok(()) => Ok(Tokens::Store(self.open(clock).await?)),
            Err(StoreError::InUse(_)) => match &self.kind {
                Kind::Sqlite { settings, .. } => Ok(Tokens::Beside(
                    TokensBeside::open(&settings.path, settings.busy_timeout).await?,
                )),
                Kind::Postgres { .. } => Err(StoreError::internal(
                    "a PostgreSQL database is never held by one process",
                )),
            },
            Err(error) => Err(error),
        }
    }

    /// Opens the store (creating the database if it is missing) with its schema up to date.
    pub async fn open(self, clock: SharedClock) -> Result<Opened, StoreError> {
        match self.kind {
            Kind::Sqlite {
                settings,
                lock,
                cached_users,
            } => {
                let lock = match lock {
                    Some(lock) => lock,
                    None => sqlite::claim(&settings.path)?,
                };
                // The cache is coherent only while this process is the database's only writer:
                // the lock just taken (held by `Opened` until it closes) makes it so.
                let cache = Arc::new(UserCache::new(cached_users));
                let store = SqliteStore::open(&settings, clock, cache).await?;
                Ok(Opened {
                    users: Arc::new(store.clone()),
                    groups: Arc::new(store.clone()),
                    credentials: Arc::new(store.clone()),
                    audit: Arc::new(store.clone()),
                    copy: Arc::new(store.clone()),
                    scim_tokens: Arc::new(store.clone()),
                    scim: Arc::new(store.clone()),
                    inner: OpenedKind::Sqlite { store, _lock: lock },
                })
            }
            Kind::Postgres { settings } => {
                let store = PostgresStore::open(&settings, clock).await?;
                Ok(Opened {
                    users: Arc::new(store.clone()),
                    groups: Arc::new(store.clone()),
                    credentials: Arc::new(store.clone()),
                    audit: Arc::new(store.clone()),
                    copy: Arc::new(store.clone()),
                    scim_tokens: Arc::new(store.clone()),
                    scim: Arc::new(store.clone()),
                    inner: OpenedKind::Postgres { store },
                })
            }
        }
    }

    /// Brings an existing database's schema up to date (creates one only if `create`); refused
    /// while another process serves it.
    pub async fn migrate(mut self, create: bool) -> Result<MigrationReport, StoreError> {
        self.claim_existing()?;
        match &self.kind {
            Kind::Sqlite { settings, .. } => sqlite::migrate(&settings.path, create).await,
            // The database is the operator's to create; its schema is ours.
            Kind::Postgres { settings } => postgres::migrate(settings).await,
        }
    }

    /// Up to `limit` audit entries after `after`, read beside a serving process if there is one;
    /// creates nothing.
    pub async fn read_audit(&self, after: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        match &self.kind {
            Kind::Sqlite { settings, .. } => sqlite::read_audit(&settings.path, after, limit).await,
            Kind::Postgres { settings } => postgres::read_audit(settings, after, limit).await,
        }
    }

    /// Every problem the backend finds in the database's own consistency (empty: none), read
    /// beside a serving process if there is one.
    pub async fn check(&self) -> Result<Vec<String>, StoreError> {
        match &self.kind {
            Kind::Sqlite { settings, .. } => sqlite::check(&settings.path).await,
            Kind::Postgres { settings } => postgres::check(settings).await,
        }
    }

    /// Writes a consistent snapshot of the database to `target` while a server may be writing it
    /// (SQLite only: PostgreSQL has its own tools, which the README names).
    pub async fn backup(&self, target: &std::path::Path) -> Result<BackupReport, StoreError> {
        match &self.kind {
            Kind::Sqlite { settings, .. } => sqlite::backup(&settings.path, target).await,
            Kind::Postgres { .. } => Err(postgres_has_its_own("backup", "pg_dump")),
        }
    }

    /// Puts the backup at `source` in place of the database (claimed first: refused while a
    /// server runs on it). An existing database is kept beside it, renamed with `aside_suffix`;
    /// says where.
    pub async fn restore(
        mut self,
        source: &std::path::Path,
        aside_suffix: &str,
    ) -> Result<(BackupReport, Option<std::path::PathBuf>), StoreError> {
        self.claim_existing()?;
        match &mut self.kind {
            Kind::Sqlite { settings, lock, .. } => {
                // Claimed even when no database exists yet: nothing may start on it mid-way.
                let _held = match lock.take() {
                    Some(lock) => lock,
                    None => sqlite::claim(&settings.path)?,
                };
                sqlite::restore(source, &settings.path, aside_suffix).await
            }
            Kind::Postgres { .. } => Err(postgres_has_its_own("restore", "pg_restore")),
        }
    }

    /// The error for a command that needs an existing database and found none.
    pub fn missing(&self, hint: &'static str) -> StoreError {
        match &self.kind {
            Kind::Sqlite { settings, .. } => StoreError::NoDatabase(NoDatabase {
                path: settings.path.clone(),
                hint,
            }),
            Kind::Postgres { settings } => StoreError::NoDatabase(NoDatabase {
                path: postgres::redacted(&settings.url).into(),
                hint: "",
            }),
        }
    }
}

impl Opened {
    /// Finishes the writes already accepted, closes the database and releases the claim.
    pub async fn close(self) {
        match self.inner {
            OpenedKind::Sqlite { store, _lock } => store.close().await,
            OpenedKind::Postgres { store } => store.close().await,
        }
    }
}

/// A database's SCIM tokens, opened for `userdir scim-token`.
pub enum Tokens {
    /// The whole store (no server holds the database).
    Store(Opened),
    /// The tokens alone, beside the SQLite server that holds the database.
    Beside(TokensBeside),
}

impl Tokens {
    pub fn store(&self) -> &dyn ScimTokenStore {
        match self {
            Tokens::Store(opened) => opened.scim_tokens.as_ref(),
            Tokens::Beside(beside) => beside,
        }
    }

    pub async fn close(self) {
        match self {
            Tokens::Store(opened) => opened.close().await,
            Tokens::Beside(beside) => beside.close().await,
        }
    }
}

fn postgres_has_its_own(command: &str, tool: &str) -> StoreError {
    StoreError::Io(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!(
            "`userdir {command}` is for SQLite; on PostgreSQL use {tool} (the README's Backups \
             section shows how)"
        ),
    ))
}
