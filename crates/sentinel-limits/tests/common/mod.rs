//! Test harness: one back end per test (in memory, or Redis under a key
//! prefix of its own, deleted when the test ends, even on failure).

#![allow(dead_code, reason = "each test file uses part of the harness")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::Arc;
use std::time::Duration;

use sentinel_limits::{
    Actual, Admission, Charge, Counters, Demand, Limit, MemoryCounters, RedisCounters, Refusal,
    UnixMillis,
};

pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// The `now` given to the memory back end (Redis uses its own clock):
/// 2025-06-15T12:00:30Z, mid-minute, mid-day, mid-month.
pub const NOW: UnixMillis = 1_749_988_830_000;

pub fn charge(scope: &str, limit: Limit) -> Charge {
    Charge {
        scope: scope.to_owned(),
        rule: format!("{scope}.{limit:?}"),
        limit,
        enforce: true,
        alert_at_permille: Vec::new(),
    }
}

pub fn demand(tokens: u64, cost_micros: u64) -> Demand {
    Demand {
        tokens,
        cost_micros,
    }
}

pub fn actual(tokens: Option<u64>, cost_micros: Option<u64>) -> Actual {
    Actual {
        tokens,
        cost_micros,
    }
}

/// A key prefix no other test (or test run) uses.
pub fn unique_prefix() -> String {
    format!("sentinel-test-{}", uuid::Uuid::new_v4().simple())
}

/// Connects to the local Redis; fails the test if it does not answer.
pub async fn connect_redis(prefix: &str) -> RedisCounters {
    let counters = RedisCounters::connect(REDIS_URL, prefix, REDIS_TIMEOUT)
        .await
        .expect("a valid Redis configuration");
    let health = counters.health();
    assert!(
        health.ok,
        "Redis at {REDIS_URL} is unreachable ({:?}); the Redis tests need it: \
         redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no",
        health.last_error
    );
    counters
}

/// The keys under `prefix`, read with a connection of the test's own.
pub fn keys_under(prefix: &str) -> Vec<String> {
    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut connection = client.get_connection().unwrap();
    redis::cmd("KEYS")
        .arg(format!("{{{prefix}}}:*"))
        .query(&mut connection)
        .unwrap()
}

/// Deletes the keys under a prefix when dropped.
pub struct KeyCleanup(pub String);

impl Drop for KeyCleanup {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(REDIS_URL) else {
            return;
        };
        let Ok(mut connection) = client.get_connection() else {
            return;
        };
        let pattern = format!("{{{}}}:*", self.0);
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut connection)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

/// A back end under test.
pub struct Backend {
    pub counters: Arc<dyn Counters>,
    redis: Option<Arc<RedisCounters>>,
    _cleanup: Option<KeyCleanup>,
}

impl Backend {
    pub fn memory() -> Self {
        Self {
            counters: Arc::new(MemoryCounters::new()),
            redis: None,
            _cleanup: None,
        }
    }

    pub async fn redis() -> Self {
        let prefix = unique_prefix();
        let counters = Arc::new(connect_redis(&prefix).await);
        Self {
            counters: counters.clone(),
            redis: Some(counters),
            _cleanup: Some(KeyCleanup(prefix)),
        }
    }

    /// Admits, failing the test if the back end cannot decide.
    pub async fn admit(&self, charges: &[Charge], demand: Demand) -> Result<Admission, Refusal> {
        self.counters
            .admit(charges, demand, NOW)
            .await
            .expect("the back end decides")
    }

    pub fn settle(&self, admission: Admission, actual: Actual) {
        self.counters.settle(admission.lease, actual, NOW);
    }

    /// Waits for background settles (Redis) to finish.
    pub async fn settled(&self) {
        if let Some(redis) = &self.redis {
            redis.wait_for_settles().await;
        }
    }

    /// The current use of `charge`'s counter.
    pub async fn used(&self, charge: &Charge) -> u64 {
        let usage = self
            .counters
            .usage(std::slice::from_ref(charge), NOW)
            .await
            .expect("the back end answers");
        usage[0].used
    }
}
