//! userdir: a self-hosted, persistent user directory that speaks the AWS FinSpace Data user API.

pub mod api;
pub mod config;
pub mod domain;
pub mod escape;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
