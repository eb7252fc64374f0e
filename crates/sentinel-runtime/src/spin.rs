//! Spin, instead of halting, while an answer is due within microseconds.
//!
//! A runtime thread with nothing to run blocks in `epoll_wait` and its core
//! halts; the next packet must wake it. On a virtual machine a halted vCPU
//! takes tens of microseconds to wake (an exit to the host, which then has
//! to reschedule it). A proxied request pays that for the client's request
//! and again for the upstream's answer, and on the benchmark machine it was
//! the largest part of the latency Sentinel added at moderate rates
//! (BENCHMARKS.md, issue 2, fourth pass).
//!
//! The gateway knows when an answer is close: it has just sent a request to
//! an upstream whose recent answers came within microseconds. It says so
//! with [`expect_answer`], and holds the returned [`Expecting`] until the
//! answer is in. Meanwhile, for up to one window, a thread about to park
//! first polls the runtime's own epoll instance for readiness (`poll(2)`
//! reports it without consuming any event), and parks once the window has
//! passed or no answer is awaited any more; when something becomes ready
//! it returns to work at once, so the spin never delays an event.
//!
//! What it costs is CPU, bounded three ways: only while a fast answer is
//! awaited, never past one window after it was asked for, and only for
//! upstreams whose typical answer comes within the window (a provider that
//! answers in milliseconds never causes a spin).
//! While spinning a thread does not run Tokio's timers, so a timer may fire
//! up to one window late; Tokio's timers have a 1 ms resolution anyway.
//!
//! The epoll instance is the `eventpoll` descriptor that building the
//! runtime opened. Where there is none (not Linux), nothing spins.

use std::{
    sync::{
        Arc, OnceLock,
        atomic::{AtomicI32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// When parking threads spin: the configured window and the latest hinted
/// deadline, in nanoseconds after [`epoch`].
struct Hint {
    /// 0 while no runtime spins.
    window_ns: AtomicU64,
    until_ns: AtomicU64,
    /// Fast answers asked for and not yet in.
    awaited: AtomicU64,
}

impl Hint {
    const fn new() -> Self {
        Self {
            window_ns: AtomicU64::new(0),
            until_ns: AtomicU64::new(0),
            awaited: AtomicU64::new(0),
        }
    }

    /// Whether an answer that typically takes `typical` is worth spinning
    /// for; if so, it is awaited until [`Hint::answered`].
    fn expect(&self, now_ns: u64, typical: Duration) -> bool {
        let window = self.window_ns.load(Ordering::Relaxed);
        let typical = u64::try_from(typical.as_nanos()).unwrap_or(u64::MAX);
        if window == 0 || typical > window {
            return false;
        }
        self.awaited.fetch_add(1, Ordering::Relaxed);
        self.until_ns
            .fetch_max(now_ns.saturating_add(window), Ordering::Relaxed);
        true
    }

    fn answered(&self) {
        self.awaited.fetch_sub(1, Ordering::Relaxed);
    }

    /// The deadline of a spin starting at `now_ns`, if one is due.
    fn spin_until(&self, now_ns: u64) -> Option<u64> {
        if self.awaited.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let until = self.until_ns.load(Ordering::Relaxed);
        (now_ns < until).then_some(until)
    }
}

static HINT: Hint = Hint::new();
static SPINS: AtomicU64 = AtomicU64::new(0);
static CAUGHT: AtomicU64 = AtomicU64::new(0);

/// How often threads spun, and how many of those spins ended because an
/// event arrived (the rest ran to their deadline and then parked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub spins: u64,
    pub caught: u64,
}

/// The spin counters since the process started.
pub fn stats() -> Stats {
    Stats {
        spins: SPINS.load(Ordering::Relaxed),
        caught: CAUGHT.load(Ordering::Relaxed),
    }
}

/// The window a runtime was built with, zero when nothing spins.
pub fn window() -> Duration {
    Duration::from_nanos(HINT.window_ns.load(Ordering::Relaxed))
}

/// Tells the runtime an answer is on its way that typically takes
/// `typical`: when that is within the window, a thread about to park in the
/// next window spins instead, until the returned guard is dropped (when the
/// answer is in, or the wait for it is given up). Ignored when no runtime
/// spins.
pub fn expect_answer(typical: Duration) -> Expecting {
    Expecting {
        counted: HINT.expect(now_ns(), typical),
    }
}

/// An answer being awaited; see [`expect_answer`].
#[derive(Debug)]
#[must_use = "the answer stops being awaited when this is dropped"]
pub struct Expecting {
    counted: bool,
}

impl Drop for Expecting {
    fn drop(&mut self) {
        if self.counted {
            HINT.answered();
        }
    }
}

/// Builds `builder`'s runtime with the spin installed; a zero `window`
/// builds it unchanged.
pub(crate) fn build(
    builder: &mut tokio::runtime::Builder,
    window: Duration,
) -> std::io::Result<tokio::runtime::Runtime> {
    if window.is_zero() || !cfg!(target_os = "linux") {
        return builder.build();
    }
    let epoll = Arc::new(AtomicI32::new(-1));
    let hook = epoll.clone();
    builder.on_thread_park(move || {
        let fd = hook.load(Ordering::Relaxed);
        if fd >= 0 {
            spin(fd);
        }
    });
    let before = epoll_fds();
    let runtime = builder.build()?;
    // The I/O driver opens its epoll instance first, then keeps a duplicate
    // of it (mio's `Registry::try_clone`): the lowest new descriptor is the
    // instance itself, and either reports the same readiness.
    let opened = epoll_fds()
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .min();
    if let Some(fd) = opened {
        epoll.store(fd, Ordering::Relaxed);
        HINT.window_ns.store(
            u64::try_from(window.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
    Ok(runtime)
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Polls the epoll instance `fd` until it has an event, the window has
/// passed or no answer is awaited any more.
fn spin(fd: i32) {
    if HINT.spin_until(now_ns()).is_none() {
        return;
    }
    SPINS.fetch_add(1, Ordering::Relaxed);
    loop {
        if ready(fd) {
            CAUGHT.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if HINT.spin_until(now_ns()).is_none() {
            return;
        }
        std::hint::spin_loop();
    }
}

/// Whether the epoll instance `fd` has an event ready, without taking it.
#[cfg(target_os = "linux")]
#[allow(
    unsafe_code,
    reason = "one poll(2) call on a descriptor the runtime owns"
)]
fn ready(fd: i32) -> bool {
    let mut entry = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `poll` reads and writes only the one `pollfd` given, which
    // lives in this frame. `fd` is the runtime's epoll instance: this runs
    // in the runtime's park hook, on the runtime's own threads, so the
    // runtime and with it the descriptor are alive.
    unsafe { libc::poll(&mut entry, 1, 0) > 0 }
}

/// Off Linux no hook is installed ([`build`] returns early), so this is
/// never called; it exists so the module compiles everywhere.
#[cfg(not(target_os = "linux"))]
fn ready(_fd: i32) -> bool {
    true
}

/// The process's open epoll descriptors.
fn epoll_fds() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|target| target.as_os_str() == "anon_inode:[eventpoll]")
        })
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: u64 = 1_000;

    #[test]
    fn a_fast_answer_opens_one_window_and_a_later_one_extends_it() {
        let hint = Hint::new();
        hint.window_ns.store(100 * US, Ordering::Relaxed);
        assert_eq!(hint.spin_until(0), None, "no hint, no spin");
        assert!(hint.expect(1_000 * US, Duration::from_micros(60)));
        assert_eq!(hint.spin_until(1_000 * US), Some(1_100 * US));
        assert_eq!(hint.spin_until(1_099 * US), Some(1_100 * US));
        assert_eq!(hint.spin_until(1_100 * US), None, "over after the window");
        assert!(hint.expect(1_050 * US, Duration::from_micros(100)));
        assert_eq!(hint.spin_until(1_120 * US), Some(1_150 * US));
        // An earlier hint never shortens a later window.
        assert!(hint.expect(1_010 * US, Duration::from_micros(10)));
        assert_eq!(hint.spin_until(1_120 * US), Some(1_150 * US));
    }

    #[test]
    fn the_spin_ends_when_no_answer_is_awaited_any_more() {
        let hint = Hint::new();
        hint.window_ns.store(100 * US, Ordering::Relaxed);
        assert!(hint.expect(0, Duration::from_micros(50)));
        assert!(hint.expect(10 * US, Duration::from_micros(50)));
        hint.answered();
        assert_eq!(
            hint.spin_until(20 * US),
            Some(110 * US),
            "one still awaited"
        );
        hint.answered();
        assert_eq!(hint.spin_until(20 * US), None, "both are in");
    }

    #[test]
    fn a_slow_answer_or_a_runtime_without_a_window_never_spins() {
        let hint = Hint::new();
        assert!(
            !hint.expect(0, Duration::from_micros(50)),
            "no runtime spins"
        );
        assert_eq!(hint.spin_until(0), None);
        hint.window_ns.store(100 * US, Ordering::Relaxed);
        // A provider that answers in 2 ms never causes a spin.
        assert!(!hint.expect(0, Duration::from_millis(2)));
        assert!(!hint.expect(0, Duration::from_micros(101)));
        assert!(!hint.expect(0, Duration::MAX));
        assert_eq!(hint.spin_until(0), None);
        assert_eq!(hint.awaited.load(Ordering::Relaxed), 0);
    }
}
