//! The wiring behind the `sentinel` binary: open the store, bootstrap,
//! start both listeners and the background tasks, and shut them down in
//! order. Tests call [`app::start`] to run exactly what `sentinel serve` runs.

pub mod app;
mod demo;
pub mod jobs;
mod master_key;
pub mod rotate_master_key;
pub mod serve;
mod verify;
