//! The process's async runtime.
//!
//! - [`build`] picks Tokio's scheduler for the CPUs this process may run on:
//!   one worker thread per CPU, or, with a single CPU (`taskset -c 1`, a
//!   one-CPU container), the current-thread scheduler, which does the same
//!   work without the cross-thread bookkeeping of a work-stealing pool.
//! - [`spin`] keeps the current-thread scheduler's thread, when it expects
//!   an answer within microseconds, from halting its core in the meantime
//!   (see the module for why and when).

pub mod spin;

use std::time::Duration;

pub use spin::expect_answer;

/// Builds the runtime with every driver enabled. `idle_spin` is the longest
/// the current-thread scheduler's thread may spin before it parks, when
/// told a fast answer is on its way ([`expect_answer`]); zero never spins.
///
/// With several worker threads nothing spins: the thread about to park is
/// rarely the one that owns the I/O driver (another idle worker already
/// waits in `epoll_wait`), so its spin would cost a core and save nothing.
pub fn build(idle_spin: Duration) -> std::io::Result<tokio::runtime::Runtime> {
    match std::thread::available_parallelism() {
        Ok(cpus) if cpus.get() == 1 => current_thread(idle_spin),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
}

/// The current-thread runtime, with every driver enabled and the idle spin
/// of at most `idle_spin` (zero: none).
pub fn current_thread(idle_spin: Duration) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    spin::build(&mut builder, idle_spin)
}
