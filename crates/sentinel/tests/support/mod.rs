//! A whole Sentinel process, in-process, on loopback ports, with a mock
//! OpenAI upstream and an admin client. Every test gets its own data
//! directory and (for PostgreSQL) its own database.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test harness fails loudly"
)]

use std::{sync::Arc, time::Duration};

use reqwest::{Client, StatusCode};
use sentinel::app::{self, AppOptions, Running};
use sentinel_config::ServerConfig;
use sentinel_store::MasterKey;
use sentinel_testkit::{openai_mock::MockOpenAi, postgres::TestDatabase};
use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str =
    "sntop_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
pub const UPSTREAM_SECRET: &str = "sk-upstream-CANARY-7f3a9c1e5b";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running Sentinel plus what tests need around it.
pub struct TestApp {
    pub running: Option<Running>,
    pub gateway: String,
    pub console: String,
    pub http: Client,
    pub upstream: MockOpenAi,
    pub data_dir: tempfile::TempDir,
    pub store_url: Option<String>,
    pub master_key: String,
    /// Redis URL and key prefix of the counters, when they are in Redis.
    pub redis: Option<(String, String)>,
    tweak: Tweak,
    _db: Option<TestDatabase>,
}

/// Adjusts a test app's server config before it starts.
pub type Tweak = Arc<dyn Fn(&mut ServerConfig) + Send + Sync>;

impl TestApp {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, None).await
    }

    /// [`TestApp::start`] with the counters in Redis at (URL, key prefix).
    pub async fn start_with(backend: Backend, redis: Option<(String, String)>) -> Self {
        Self::start_tweaked(backend, redis, Arc::new(|_| {})).await
    }

    /// [`TestApp::start_with`], with the server config adjusted by `tweak`.
    pub async fn start_tweaked(
        backend: Backend,
        redis: Option<(String, String)>,
        tweak: Tweak,
    ) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDatabase::create().await),
        };
        let store_url = db.as_ref().map(|d| d.url.clone());
        let master_key = MasterKey::generate().to_text();
        let upstream = MockOpenAi::start().await;
        let running = Self::boot(
            data_dir.path(),
            store_url.clone(),
            &master_key,
            redis.clone(),
            tweak.clone(),
        )
        .await;
        let http = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            gateway: format!("http://{}", running.gateway_addr),
            console: format!("http://{}", running.console_addr),
            running: Some(running),
            http,
            upstream,
            data_dir,
            store_url,
            master_key,
            redis,
            tweak,
            _db: db,
        }
    }

    /// A direct connection to the app's store, for tests that plant data.
    pub async fn store(&self) -> sentinel_store::Store {
        let url = self.store_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.path().join("sentinel.db").display()
            )
        });
        sentinel_store::Store::open(&url, MasterKey::parse(&self.master_key).unwrap())
            .await
            .unwrap()
    }

    /// A second Sentinel process on the same store (PostgreSQL) and the
    /// same counters, with its own data directory: a replica.
    pub async fn replica(&self, data_dir: &std::path::Path) -> Running {
        assert!(
            self.store_url.is_some(),
            "replicas share a PostgreSQL store; start the app on Backend::Postgres"
        );
        Self::boot(
            data_dir,
            self.store_url.clone(),
            &self.master_key,
            self.redis.clone(),
            self.tweak.clone(),
        )
        .await
    }

    /// [`TestApp::replica`], with its server config further adjusted by
    /// `tweak` (e.g. its store reached through a proxy the test can cut).
    pub async fn replica_with(
        &self,
        data_dir: &std::path::Path,
        tweak: impl Fn(&mut ServerConfig) + Send + Sync + 'static,
    ) -> Running {
        let base = self.tweak.clone();
        let tweak: Tweak = Arc::new(move |server| {
            base(server);
            tweak(server);
        });
        Self::boot(
            data_dir,
            self.store_url.clone(),
            &self.master_key,
            self.redis.clone(),
            tweak,
        )
        .await
    }

    async fn boot(
        data_dir: &std::path::Path,
        store: Option<String>,
        master_key: &str,
        redis: Option<(String, String)>,
        tweak: Tweak,
    ) -> Running {
        let mut server = ServerConfig {
            gateway_addr: "127.0.0.1:0".parse().unwrap(),
            console_addr: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.to_path_buf(),
            store,
            shutdown_grace_s: 5,
            // Retention tests wait for the pruner; elsewhere it finds nothing.
            prune_interval_s: 1,
            // Alert rules are evaluated often, so alert tests finish fast.
            alert_interval_ms: 200,
            ..ServerConfig::default()
        };
        if let Some((url, prefix)) = redis {
            server.redis = Some(url);
            server.redis_prefix = prefix;
            // Generous: a loaded CI machine must not fail calls that work.
            server.redis_timeout_ms = 2000;
        }
        tweak(&mut server);
        let master_key = master_key.to_owned();
        let env = move |name: &str| match name {
            "SENTINEL_MASTER_KEY" => Some(master_key.clone()),
            "SENTINEL_BOOTSTRAP_TOKEN" => Some(ADMIN_TOKEN.to_owned()),
            _ => None,
        };
        app::start(AppOptions {
            server,
            demo: false,
            env: Arc::new(env),
        })
        .await
        .unwrap()
    }

    /// Starts the app again on the same data directory and store with
    /// another master key (after a master-key rotation).
    pub async fn restart_with_key(&mut self, master_key: &str) {
        self.stop().await;
        let running = Self::boot(
            self.data_dir.path(),
            self.store_url.clone(),
            master_key,
            self.redis.clone(),
            self.tweak.clone(),
        )
        .await;
        self.gateway = format!("http://{}", running.gateway_addr);
        self.console = format!("http://{}", running.console_addr);
        self.master_key = master_key.to_owned();
        self.running = Some(running);
    }

    /// Stops gracefully and waits for everything (records included) to flush.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
    }

    // ---- console (admin API) ----

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.console))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn admin_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, body) = self.admin(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path} → {status}: {body}");
        body
    }

    pub async fn create_env(&self, name: &str, hosts: &[&str]) {
        self.admin_ok(
            reqwest::Method::POST,
            "/api/v1/environments",
            Some(json!({"name": name, "hosts": hosts})),
        )
        .await;
    }

    pub async fn create_app(&self, env: &str, name: &str) {
        self.admin_ok(
            reqwest::Method::POST,
            &format!("/api/v1/environments/{env}/applications"),
            Some(json!({"name": name})),
        )
        .await;
    }

    /// Creates a key and returns (full key, key id).
    pub async fn create_key(&self, env: &str, app: &str) -> (String, String) {
        let body = self
            .admin_ok(
                reqwest::Method::POST,
                &format!("/api/v1/environments/{env}/keys"),
                Some(json!({"application": app, "name": "test"})),
            )
            .await;
        (
            body["key"].as_str().unwrap().to_owned(),
            body["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Sets a secret as the admin. Fixtures give every environment the same
    /// mock credential on purpose, so reuse across environments is allowed
    /// here (and audited); the refusal itself is tested in `secrets.rs`.
    pub async fn set_secret(&self, env: &str, name: &str, value: &str) {
        self.admin_ok(
            reqwest::Method::PUT,
            &format!("/api/v1/environments/{env}/secrets/{name}"),
            Some(json!({"value": value, "allow_reuse": true})),
        )
        .await;
    }

    pub async fn apply_config(&self, env: &str, document: &str) -> Value {
        self.admin_ok(
            reqwest::Method::POST,
            &format!("/api/v1/environments/{env}/config"),
            Some(json!({"document": document, "message": "test config"})),
        )
        .await
    }

    /// The document routing `gpt-test` to the mock upstream as `up-model`.
    pub fn upstream_document(&self) -> String {
        format!(
            "providers:\n  upstream:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream-key\n    allow_private_network: true\nroute_plans:\n  chat:\n    models: [gpt-test]\n    targets:\n      - {{ provider: upstream, model: up-model }}\n",
            self.upstream.base_url()
        )
    }

    /// A ready environment `env` (with `hosts`), app `app`, the upstream
    /// secret and config, and a key; waits until the gateway serves it.
    pub async fn setup_env(&self, env: &str, hosts: &[&str]) -> (String, String) {
        self.create_env(env, hosts).await;
        self.create_app(env, "checkout").await;
        self.set_secret(env, "upstream-key", UPSTREAM_SECRET).await;
        self.apply_config(env, &self.upstream_document()).await;
        let (key, id) = self.create_key(env, "checkout").await;
        self.wait_for_model(&key, "gpt-test").await;
        (key, id)
    }

    /// An environment `env` with app `checkout`, the upstream secret, the
    /// given document and a key; waits until the gateway serves `model`.
    pub async fn setup_with_document(&self, env: &str, document: &str, model: &str) -> String {
        self.create_env(env, &[]).await;
        self.create_app(env, "checkout").await;
        self.set_secret(env, "upstream-key", UPSTREAM_SECRET).await;
        self.apply_config(env, document).await;
        let (key, _) = self.create_key(env, "checkout").await;
        self.wait_for_model(&key, model).await;
        key
    }

    /// Polls `/v1/models` until the key is accepted and the model is listed.
    pub async fn wait_for_model(&self, key: &str, model: &str) {
        for _ in 0..200 {
            let response = self
                .http
                .get(format!("{}/v1/models", self.gateway))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            if response.status() == 200 {
                let body: Value = response.json().await.unwrap();
                if body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["id"] == model)
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the gateway never served model {model}");
    }

    /// Polls the admin API until the record exists and returns it.
    pub async fn record(&self, request_id: &str) -> Value {
        for _ in 0..400 {
            let (status, body) = self
                .admin(
                    reqwest::Method::GET,
                    &format!("/api/v1/requests/{request_id}"),
                    None,
                )
                .await;
            if status == 200 {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("request record {request_id} never appeared");
    }

    // ---- gateway ----

    pub fn chat(&self, key: Option<&str>, body: Value) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(format!("{}/v1/chat/completions", self.gateway))
            .json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request
    }
}

/// A Redis key prefix no other test uses.
pub fn unique_redis_prefix(name: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test-{name}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// The request id header of a response, which must always be present.
pub fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-sentinel-request-id")
        .expect("every response carries x-sentinel-request-id")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Runs an async test body against both store backends.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::support::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::support::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// What an admin command of the binary printed: exit code, stdout, stderr.
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// Runs an admin command of the `sentinel` binary (`bin`: the test's
/// `env!("CARGO_BIN_EXE_sentinel")`) against the app as the bootstrap
/// admin, piped (so no progress display).
pub fn admin_cli(bin: &str, app: &TestApp, args: &[&str]) -> CliOutput {
    let output = std::process::Command::new(bin)
        .args(args)
        .env("SENTINEL_URL", &app.console)
        .env("SENTINEL_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    CliOutput {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
