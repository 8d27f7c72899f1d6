//! Integration tests: the real server on an ephemeral 127.0.0.1 port over a temporary SQLite file,
//! driven through the official Rust SDK, raw HTTP and the CLI. One module per area; the modules
//! that do not test SQLite's own behaviour run again on PostgreSQL (`tests/api_postgres.rs`).

// AWS marks every FinSpace user operation deprecated in its SDKs; serving them is the point of userdir.
#![allow(deprecated)]

/// The service driven by independent clients and checkers: the README's quickstart through the
/// aws CLI, schemathesis from the OpenAPI document, scim2-tester. Each holds a core for seconds.
/// libtest starts tests in name order: under `acceptance::` these start first and run beside the
/// rest of the suite, instead of alone at its end.
mod acceptance {
    mod readme;
    mod schemathesis;
    mod scim_tester;
}
mod backup;
mod cache;
mod cli;
mod concurrency;
mod create_user;
mod full_disk;
mod get_user;
mod groups;
mod helpers;
mod hostile;
mod idempotency;
mod lifecycle;
mod list_users;
mod metrics;
mod openapi;
mod ownership;
mod passwords;
mod postgres;
mod scim;
mod scim_providers;
mod scim_tokens;
mod security;
mod status;
mod update_user;
mod wire;
mod writer;
