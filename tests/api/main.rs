//! Integration tests: the real server on an ephemeral 127.0.0.1 port over a temporary SQLite file,
//! driven through the official Rust SDK and through raw HTTP. One binary, one module per area.

// AWS marks every FinSpace user operation deprecated in its SDKs; serving them is the point of userdir.
#![allow(deprecated)]

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
mod ownership;
mod passwords;
mod readme;
mod security;
mod status;
mod update_user;
mod wire;
mod writer;
