//! Behaviour specific to the Redis back end: replicas sharing counters,
//! key hygiene, lapsing leases, and health when Redis is unreachable,
//! silent or coming back. Needs the local Redis at 127.0.0.1:6379 (the
//! tests fail, never skip, without it).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::{
    KeyCleanup, NOW, REDIS_URL, actual, charge, connect_redis, demand, keys_under, unique_prefix,
};
use sentinel_limits::{Counters, Demand, LEASE_TTL_MS, Limit, RedisCounters};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Fails the test instead of hanging if a call ignores its timeout. Not a
/// timing assertion: the bound is many times the configured timeout.
async fn bounded<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the call returned (every call is bounded by the timeout)")
}

fn redis_connection() -> redis::Connection {
    redis::Client::open(REDIS_URL)
        .unwrap()
        .get_connection()
        .expect("Redis at 127.0.0.1:6379 answers")
}

#[tokio::test]
async fn replicas_share_every_limit() {
    let prefix = unique_prefix();
    let _cleanup = KeyCleanup(prefix.clone());
    let (a, b) = (connect_redis(&prefix).await, connect_redis(&prefix).await);

    let two = [charge("app", Limit::Concurrency(2))];
    let first = a
        .admit(&two, Demand::default(), NOW)
        .await
        .unwrap()
        .unwrap();
    b.admit(&two, Demand::default(), NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(
        a.admit(&two, Demand::default(), NOW)
            .await
            .unwrap()
            .is_err()
    );
    // A lease taken on one replica may be settled by another.
    b.settle(first.lease, actual(None, None), NOW);
    b.wait_for_settles().await;
    a.admit(&two, Demand::default(), NOW)
        .await
        .unwrap()
        .unwrap();

    let one_rpm = [charge("app", Limit::RequestsPerMinute(1))];
    a.admit(&one_rpm, Demand::default(), NOW)
        .await
        .unwrap()
        .unwrap();
    let refusal = b
        .admit(&one_rpm, Demand::default(), NOW)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refusal.used, 1);

    let day = [charge("app", Limit::SpendPerDay(100))];
    b.admit(&day, demand(0, 100), NOW).await.unwrap().unwrap();
    let refusal = a.admit(&day, demand(0, 1), NOW).await.unwrap().unwrap_err();
    assert_eq!(refusal.used, 100);
}

#[tokio::test]
async fn every_replica_hears_each_threshold_once() {
    // The alert evaluator runs on one replica: it must hear the crossings
    // that happened on the others, and each exactly once.
    let prefix = unique_prefix();
    let _cleanup = KeyCleanup(prefix.clone());
    let (a, b) = (connect_redis(&prefix).await, connect_redis(&prefix).await);
    let (mut events_a, mut events_b) = (a.subscribe(), b.subscribe());
    let mut budget = charge("app", Limit::SpendPerDay(1_000));
    budget.alert_at_permille = vec![500, 800];
    let charges = [budget];
    for (replica, real) in [(&a, 400), (&b, 200), (&a, 250), (&b, 50)] {
        let admission = replica
            .admit(&charges, demand(0, 300), NOW)
            .await
            .unwrap()
            .unwrap();
        replica.settle(admission.lease, actual(None, Some(real)), NOW);
        replica.wait_for_settles().await;
    }
    // 500‰ was crossed on b, 800‰ on a; both replicas hear both.
    for events in [&mut events_a, &mut events_b] {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.recv())
                .await
                .expect("a threshold event arrives")
                .unwrap();
            seen.push((event.threshold_permille, event.spent_micros));
        }
        assert_eq!(seen, [(500, 600), (800, 850)]);
    }
    // And nothing more: one announcement per threshold.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        events_a.try_recv().is_err(),
        "a threshold was announced twice"
    );
    assert!(
        events_b.try_recv().is_err(),
        "a threshold was announced twice"
    );
}

#[tokio::test]
async fn leases_of_a_crashed_replica_lapse() {
    let prefix = unique_prefix();
    let _cleanup = KeyCleanup(prefix.clone());
    let (crashed, survivor) = (connect_redis(&prefix).await, connect_redis(&prefix).await);
    let one = [charge("app", Limit::Concurrency(1))];
    // Admitted, never settled.
    crashed
        .admit(&one, Demand::default(), NOW)
        .await
        .unwrap()
        .unwrap();
    assert!(
        survivor
            .admit(&one, Demand::default(), NOW)
            .await
            .unwrap()
            .is_err()
    );

    let mut connection = redis_connection();
    let key = format!("{{{prefix}}}:concurrency:app");
    let leases: Vec<(String, i64)> = redis::cmd("ZRANGE")
        .arg(&key)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut connection)
        .unwrap();
    let (seconds, micros): (i64, i64) = redis::cmd("TIME").query(&mut connection).unwrap();
    let server_now = seconds * 1000 + micros / 1000;
    let [(lease, expiry)] = leases.as_slice() else {
        panic!("one lease: {leases:?}");
    };
    let ttl_left = expiry - server_now;
    assert!(
        (LEASE_TTL_MS - 60_000..=LEASE_TTL_MS).contains(&ttl_left),
        "{ttl_left}"
    );
    // Let the lease's time run out.
    let _: i64 = redis::cmd("ZADD")
        .arg(&key)
        .arg("XX")
        .arg(server_now - 1)
        .arg(lease)
        .query(&mut connection)
        .unwrap();
    survivor
        .admit(&one, Demand::default(), NOW)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn every_key_carries_a_ttl_and_the_prefix_hash_tag() {
    let prefix = unique_prefix();
    let _cleanup = KeyCleanup(prefix.clone());
    let counters = connect_redis(&prefix).await;
    let mut day = charge("app", Limit::SpendPerDay(1_000));
    day.alert_at_permille = vec![100];
    let charges = [
        charge("app", Limit::RequestsPerMinute(10)),
        charge("app", Limit::TokensPerMinute(1_000)),
        charge("app", Limit::Concurrency(5)),
        day,
        charge("app", Limit::SpendPerMonth(1_000)),
    ];
    let settled = counters
        .admit(&charges, demand(500, 300), NOW)
        .await
        .unwrap()
        .unwrap();
    let _in_flight = counters
        .admit(&charges[2..3], Demand::default(), NOW)
        .await
        .unwrap()
        .unwrap();
    counters.settle(settled.lease, actual(Some(200), Some(250)), NOW);
    counters.wait_for_settles().await;
    assert!(counters.health().ok, "{:?}", counters.health());

    let mut keys = keys_under(&prefix);
    keys.sort();
    let tag = format!("{{{prefix}}}:");
    let kinds: Vec<&str> = keys
        .iter()
        .map(|key| {
            key.strip_prefix(&tag)
                .expect("hash-tagged")
                .split(':')
                .next()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "alert",
            "concurrency",
            "rpm",
            "spend_day",
            "spend_month",
            "tpm"
        ]
    );
    let mut connection = redis_connection();
    for key in &keys {
        let ttl_ms: i64 = redis::cmd("PTTL").arg(key).query(&mut connection).unwrap();
        assert!(ttl_ms > 0, "{key} has no TTL ({ttl_ms})");
    }
}

#[tokio::test]
async fn unreachable_redis_fails_calls_and_reports_it_without_the_password() {
    let url = "redis://:hunter2@127.0.0.1:1";
    let counters = bounded(RedisCounters::connect(url, "p", Duration::from_millis(500)))
        .await
        .expect("starting with Redis down is not an error");
    let health = counters.health();
    assert_eq!((health.backend, health.ok), ("redis", false));
    let reported = health.last_error.expect("the failed initial ping");
    assert!(!reported.contains("hunter2"), "{reported}");

    let charges = [charge("app", Limit::RequestsPerMinute(1))];
    let error = bounded(counters.admit(&charges, Demand::default(), NOW))
        .await
        .expect_err("no decision without Redis");
    assert!(!error.to_string().contains("hunter2"), "{error}");
    assert!(bounded(counters.usage(&charges, NOW)).await.is_err());
    assert!(!counters.health().ok);
    let debug = format!("{counters:?}");
    assert!(
        debug.contains("127.0.0.1:1") && !debug.contains("hunter2"),
        "{debug}"
    );
}

#[tokio::test]
async fn a_silent_redis_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    // Accepts connections and never answers.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let counters = bounded(RedisCounters::connect(
        &url,
        "p",
        Duration::from_millis(200),
    ))
    .await
    .unwrap();
    assert!(!counters.health().ok);
    let charges = [charge("app", Limit::Concurrency(1))];
    assert!(
        bounded(counters.admit(&charges, Demand::default(), NOW))
            .await
            .is_err()
    );
    assert!(!counters.health().ok);
    silent.abort();
}

#[tokio::test]
async fn scripts_are_loaded_again_after_a_script_flush() {
    let prefix = unique_prefix();
    let _cleanup = KeyCleanup(prefix.clone());
    let counters = connect_redis(&prefix).await;
    let rpm = [charge("app", Limit::RequestsPerMinute(10))];
    counters
        .admit(&rpm, Demand::default(), NOW)
        .await
        .unwrap()
        .unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut redis_connection())
        .unwrap();
    counters
        .admit(&rpm, Demand::default(), NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counters.usage(&rpm, NOW).await.unwrap()[0].used, 2);
}

#[tokio::test]
async fn unusable_prefixes_are_refused() {
    for prefix in ["", "a}b", "a b"] {
        let error = RedisCounters::connect(REDIS_URL, prefix, Duration::from_secs(1))
            .await
            .expect_err("prefix refused");
        assert!(error.to_string().contains("prefix"), "{error}");
    }
}

/// A TCP proxy to the local Redis that can be cut (dropping every
/// connection and refusing to forward new ones) and restored.
struct Proxy {
    url: String,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(up: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let (state, watcher) = watch::channel(up);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !*watcher.borrow() {
                    continue; // Dropped: the client sees the connection close.
                }
                tokio::spawn(forward(inbound, watcher.clone()));
            }
        });
        Self {
            url,
            up: state,
            task,
        }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.set_up(false);
        self.task.abort();
    }
}

async fn forward(mut inbound: TcpStream, mut up: watch::Receiver<bool>) {
    let Ok(mut outbound) = TcpStream::connect("127.0.0.1:6379").await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
}

/// Pings until Redis answers (the connection is remade in the background).
async fn until_answering(counters: &RedisCounters) {
    for _ in 0..100 {
        if counters.ping().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "Redis never answered through the proxy: {:?}",
        counters.health()
    );
}

#[tokio::test]
async fn health_follows_redis_going_away_and_coming_back() {
    let prefix = unique_prefix();
    let _cleanup = KeyCleanup(prefix.clone());
    let proxy = Proxy::start(false).await;
    let counters = Arc::new(
        bounded(RedisCounters::connect(
            &proxy.url,
            &prefix,
            Duration::from_secs(1),
        ))
        .await
        .expect("starting with Redis down is not an error"),
    );
    assert!(!counters.health().ok);

    proxy.set_up(true);
    bounded(until_answering(&counters)).await;
    let health = counters.health();
    assert!(health.ok && health.last_error.is_none(), "{health:?}");
    let day = [charge("app", Limit::SpendPerDay(1_000))];
    let admission = counters
        .admit(&day, demand(0, 100), NOW)
        .await
        .unwrap()
        .unwrap();

    // The settle fails in the background: health says so, and the
    // reservation stays counted.
    proxy.set_up(false);
    counters.settle(admission.lease, actual(None, Some(10)), NOW);
    bounded(counters.wait_for_settles()).await;
    let health = counters.health();
    assert!(!health.ok && health.last_error.is_some(), "{health:?}");

    proxy.set_up(true);
    bounded(until_answering(&counters)).await;
    assert!(counters.health().ok);
    assert_eq!(counters.usage(&day, NOW).await.unwrap()[0].used, 100);
}
