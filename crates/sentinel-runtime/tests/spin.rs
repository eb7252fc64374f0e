//! The spin on a real runtime. One test only: the hint and the counters are
//! process-wide, and a runtime built at the same time by another test would
//! open an epoll instance of its own while this one looks for its own.

use std::{
    io::Write as _,
    time::{Duration, Instant},
};

use sentinel_runtime::spin;
use tokio::io::AsyncReadExt as _;

#[test]
fn a_hinted_park_spins_until_an_event_arrives_and_returns_at_once() {
    let runtime = sentinel_runtime::current_thread(Duration::from_secs(10)).expect("runtime");
    if cfg!(target_os = "linux") {
        assert_eq!(
            spin::window(),
            Duration::from_secs(10),
            "the epoll instance was found"
        );
    }
    runtime.block_on(async {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
        ours.set_nonblocking(true).expect("nonblocking");
        let mut ours = tokio::net::UnixStream::from_std(ours).expect("register");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            (&theirs).write_all(b"x").expect("write");
            theirs
        });

        let before = spin::stats();
        let started = Instant::now();
        // An answer typically within 1 s opens the whole 10 s window.
        let expecting = spin::expect_answer(Duration::from_secs(1));
        let mut byte = [0u8; 1];
        ours.read_exact(&mut byte).await.expect("read");
        let waited = started.elapsed();
        drop(expecting);
        let _theirs = writer.join().expect("writer");

        // A spin that ran to the end of its window would have taken 10 s.
        assert!(waited < Duration::from_secs(2), "waited {waited:?}");
        if cfg!(target_os = "linux") {
            let after = spin::stats();
            assert!(after.spins > before.spins, "{before:?} → {after:?}");
            assert!(after.caught > before.caught, "{before:?} → {after:?}");
        }
    });
}
