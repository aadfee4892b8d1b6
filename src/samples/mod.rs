//! The samples the worker runs out of the box (the seed systems of this project). Each sample is
//! a module registering its orchestrators, activities and entities; [`register_all`] adds them
//! all to a registry.
//!
//! | sample | orchestrator | module |
//! |---|---|---|
//! | the file pipeline | `OrchestratorFunc` | [`pipeline`] |
//! | hello with a counter entity | `message_orchestrator` | [`hello_counter`] |
//! | job monitor | `job_monitor` | [`monitor`] |
//! | backup (fan-out/fan-in) | `backup_site_content` | [`backup`] |
//! | eternal singleton | `eternal_orchestrator` | [`eternal`] |
//! | transfers in critical sections | `transfer`, `audit` | [`transfer`] |
//!
//! The samples that touch blobs get their storage from a [`SamplesConfig`] (`DataStorage`,
//! `DataContainer`, … with defaults that work on the hub's own storage).

pub mod backup;
pub mod config;
pub mod eternal;
mod hello;
pub mod hello_counter;
pub mod monitor;
pub mod pipeline;
pub mod transfer;

pub use config::{ConfigError, SamplesConfig, SETTING_NAMES};

use crate::core::Registry;

/// A registry with every sample registered, the ones that handle data on `config`'s storage.
/// Building it sends nothing; `SamplesConfig::new(hub_storage)` gives the defaults.
pub fn registry(config: &SamplesConfig) -> Registry {
    let mut r = Registry::new();
    register_all(&mut r, config);
    r
}

/// Registers every sample.
pub fn register_all(registry: &mut Registry, config: &SamplesConfig) {
    hello::register(registry);
    hello_counter::register(registry);
    pipeline::register(registry, config);
    monitor::register(registry, config);
    backup::register(registry, config);
    eternal::register(registry, config);
    transfer::register(registry);
}
