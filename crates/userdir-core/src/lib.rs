//! userdir's core: the domain's types, the service's rules, and the store traits a backend
//! implements. Nothing here knows HTTP or a database; the binary puts an API in front and a
//! backend (`userdir-store-sqlite`, …) behind.

pub mod domain;
pub mod report;
pub mod service;
pub mod store;
