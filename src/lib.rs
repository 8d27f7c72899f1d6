//! userdir: a self-hosted, persistent user directory that speaks the AWS FinSpace Data user API.

pub mod api;
pub mod backend;
pub mod config;
pub mod escape;
pub mod memory;
pub mod startup;
pub mod telemetry;
