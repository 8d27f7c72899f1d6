//! The integration suite again, on PostgreSQL: the same test modules as `tests/api/main.rs`, but
//! those of SQLite's own behaviour (the directory lock, a full disk, its files and CLI), each test
//! on a fresh database of a private cluster (`api/postgres.rs`). The backend is chosen by this
//! binary's name.

// AWS marks every FinSpace user operation deprecated in its SDKs; serving them is the point of userdir.
#![allow(deprecated)]

/// As in `api/main.rs`: the slow outside checker first (libtest starts tests in name order).
#[path = "api/acceptance"]
mod acceptance {
    mod scim_tester;
}
#[path = "api/cache.rs"]
mod cache;
#[path = "api/concurrency.rs"]
mod concurrency;
#[path = "api/create_user.rs"]
mod create_user;
#[path = "api/get_user.rs"]
mod get_user;
#[path = "api/groups.rs"]
mod groups;
#[path = "api/helpers.rs"]
mod helpers;
#[path = "api/hostile.rs"]
mod hostile;
#[path = "api/idempotency.rs"]
mod idempotency;
#[path = "api/instances.rs"]
mod instances;
#[path = "api/lifecycle.rs"]
mod lifecycle;
#[path = "api/list_users.rs"]
mod list_users;
#[path = "api/metrics.rs"]
mod metrics;
#[path = "api/passwords.rs"]
mod passwords;
#[path = "api/pg_backup.rs"]
mod pg_backup;
#[path = "api/postgres.rs"]
mod postgres;
#[path = "api/scim.rs"]
mod scim;
#[path = "api/scim_providers.rs"]
mod scim_providers;
#[path = "api/scim_tokens.rs"]
mod scim_tokens;
#[path = "api/security.rs"]
mod security;
#[path = "api/status.rs"]
mod status;
#[path = "api/update_user.rs"]
mod update_user;
#[path = "api/wire.rs"]
mod wire;
#[path = "api/writer.rs"]
mod writer;
