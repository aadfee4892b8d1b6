//! The samples the worker runs out of the box (the seed systems of this project). Each sample is
//! a module registering its orchestrators, activities and entities; [`register_all`] adds them
//! all to a registry.

mod hello;
pub mod hello_counter;

use crate::core::Registry;

/// A registry with every sample registered.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    register_all(&mut r);
    r
}

/// Registers every sample.
pub fn register_all(registry: &mut Registry) {
    hello::register(registry);
    hello_counter::register(registry);
}
