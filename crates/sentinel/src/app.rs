//! Start-up and shutdown of a Sentinel process.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::http::StatusCode;
use sentinel_config::{ServerConfig, TlsCertConfig, redact_url};
use sentinel_console::ConsoleDeps;
use sentinel_core::{DEFAULT_ORG, Grant, Role};
use sentinel_gateway::{BuildDeps, EndpointRegistry, Gateway, GatewaySettings};
use sentinel_limits::{Counters, MemoryCounters, RedisCounters};
use sentinel_listener::{CertFiles, Edge, ListenerLimits, TlsCerts, TrustedProxies};
use sentinel_providers::{HttpSettings, ProviderRegistry};
use sentinel_store::{AuditContext, NewOperator, Store};
use sentinel_telemetry::{TraceExporter, TraceSettings};
use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::jobs::{Jobs, run_singleton};

pub use crate::demo::DemoKey;
pub use crate::master_key::KeySource;

/// Records queued in memory before the writer falls behind.
const RECORD_QUEUE: usize = 50_000;

/// Reads a process environment variable (tests pass their own).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything `start` needs.
pub struct AppOptions {
    pub server: ServerConfig,
    /// Seed a `dev` environment with the mock provider, a route plan and a key.
    pub demo: bool,
    /// The process environment (tests pass their own).
    pub env: EnvLookup,
}

/// A running Sentinel.
#[derive(Debug)]
pub struct Running {
    pub gateway_addr: SocketAddr,
    pub console_addr: SocketAddr,
    /// `https` when the listener terminates TLS itself, else `http`.
    pub gateway_scheme: &'static str,
    pub console_scheme: &'static str,
    /// The first admin operator token, when this start created it.
    pub bootstrap_token: Option<String>,
    pub demo: Option<DemoKey>,
    pub master_key_source: KeySource,
    pub store: Store,
    shutdown: CancellationToken,
    done: JoinHandle<()>,
}

impl Running {
    /// Cancelling this token starts a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the process has shut down completely.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.done.await.context("shutdown task failed")
    }

    /// Shuts down gracefully and waits for it.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// The store URL: `--store`, or SQLite in the data directory.
pub(crate) fn store_url(server: &ServerConfig) -> anyhow::Result<String> {
    if let Some(url) = &server.store {
        return Ok(url.clone());
    }
    let path: PathBuf = server.data_dir.join("sentinel.db");
    Ok(format!("sqlite://{}?mode=rwc", path.display()))
}

/// The rate-limit and budget counters: Redis when configured (shared by
/// every replica), else this process's memory. Redis being down at start
/// is not fatal: environments' `on_counter_failure` decides per request,
/// and `/readyz` reports it.
async fn counters(server: &ServerConfig) -> anyhow::Result<Arc<dyn Counters>> {
    let Some(url) = &server.redis else {
        return Ok(Arc::new(MemoryCounters::new()));
    };
    let redis = RedisCounters::connect(
        url,
        &server.redis_prefix,
        Duration::from_millis(server.redis_timeout_ms),
    )
    .await
    .with_context(|| format!("cannot use Redis at {}", redact_url(url)))?;
    tracing::info!(redis = %redact_url(url), prefix = %server.redis_prefix, "rate limits and budgets are counted in Redis");
    Ok(Arc::new(redis))
}

/// What the readiness review may say about this process. Paths only,
/// never key material.
fn server_facts(
    store: &Store,
    server: &ServerConfig,
    master_key: &KeySource,
) -> sentinel_review::ServerFacts {
    use sentinel_review::MasterKeyOrigin;
    sentinel_review::ServerFacts {
        store_backend: store.backend_name().to_owned(),
        master_key: match master_key {
            KeySource::Environment => MasterKeyOrigin::Environment,
            KeySource::File(path) => MasterKeyOrigin::File {
                path: path.display().to_string(),
            },
            KeySource::Generated(path) => MasterKeyOrigin::Generated {
                path: path.display().to_string(),
            },
        },
        otlp_traces: server.otlp_endpoint.is_some(),
        redis_counters: server.redis.is_some(),
        gateway_tls: !server.gateway_tls.is_empty(),
        console_tls: !server.console_tls.is_empty(),
    }
}

/// Starts Sentinel: store, bootstrap, snapshot, writer, both listeners.
pub async fn start(options: AppOptions) -> anyhow::Result<Running> {
    let server = &options.server;
    std::fs::create_dir_all(&server.data_dir)
        .with_context(|| format!("cannot create data directory {}", server.data_dir.display()))?;
    let (master_key, master_key_source) =
        crate::master_key::load(options.env.as_ref(), &server.data_dir)?;
    let store = Store::open(&store_url(server)?, master_key)
        .await
        .context("cannot open the store")?;
    crate::rotate_master_key::warn_if_unfinished(&store).await;

    let bootstrap_token = bootstrap(&store, options.env.as_ref()).await?;
    let demo = if options.demo {
        Some(crate::demo::seed(&store).await?)
    } else {
        None
    };

    let shutdown = CancellationToken::new();
    let background = CancellationToken::new();
    let tasks = TaskTracker::new();

    let grace = server.shutdown_grace();
    let (records, writer) = sentinel_gateway::record_writer(
        store.clone(),
        RECORD_QUEUE,
        server.data_dir.join("spool"),
        background.clone(),
    );
    let writer = tokio::spawn(writer);
    let records = match &server.otlp_endpoint {
        None => records,
        Some(endpoint) => {
            let settings = TraceSettings {
                queue: server.otlp_queue,
                ..TraceSettings::new(endpoint.clone())
            };
            let (exporter, task) = TraceExporter::start(settings, background.clone())
                .map_err(|e| anyhow::anyhow!("cannot export traces: {e}"))?;
            tasks.spawn(task);
            tracing::info!(otlp = %redact_url(endpoint), "traces are exported");
            records.with_traces(exporter)
        }
    };
    let counters = counters(server).await?;
    let gateway = Gateway::new(
        store.clone(),
        records,
        BuildDeps {
            registry: ProviderRegistry::standard(),
            http: HttpSettings::default(),
            endpoints: Arc::new(EndpointRegistry::default()),
        },
        GatewaySettings {
            max_body_bytes: usize::try_from(server.max_body_bytes).unwrap_or(usize::MAX),
            // Only a public docs site is worth linking from data-plane
            // errors: the default (the console's own copy) is on the
            // private operator listener.
            docs_base_url: server
                .docs_base_url
                .starts_with("http")
                .then(|| server.docs_base_url.clone()),
        },
        counters,
    );
    // Startup is the first reload.
    gateway
        .reload()
        .await
        .context("cannot build the first snapshot")?;
    tasks.spawn(gateway.clone().run_reloader(
        background.clone(),
        Duration::from_secs(server.reload_interval_s),
    ));

    // Singleton jobs: on PostgreSQL one replica at a time runs each.
    let jobs = Arc::new(Jobs::default());
    let prune_every = Duration::from_secs(server.prune_interval_s);
    let pruner_gateway = gateway.clone();
    tasks.spawn(run_singleton(
        store.clone(),
        "pruner",
        jobs.clone(),
        background.clone(),
        move |stop| pruner_gateway.clone().run_pruner(stop, prune_every),
    ));
    let events_gateway = gateway.clone();
    let events_stop = background.clone();
    tasks.spawn(async move {
        tokio::select! {
            () = events_stop.cancelled() => {}
            () = events_gateway.log_budget_events() => {}
        }
    });

    // Alerting: evaluated off the request path, over the records the
    // writer stores; deliveries run on the same tracker and stop with it.
    let (alert_store, alert_tasks, alert_gateway) = (store.clone(), tasks.clone(), gateway.clone());
    let alert_every = server.alert_interval();
    tasks.spawn(run_singleton(
        store.clone(),
        "alerts",
        jobs.clone(),
        background.clone(),
        move |stop| {
            let alerts = sentinel_alerts::Engine::new(sentinel_alerts::EngineDeps {
                store: alert_store.clone(),
                catalog: Arc::new(ProviderRegistry::standard()),
                http: HttpSettings::default(),
                retry: sentinel_alerts::RetryPolicy::default(),
                tasks: alert_tasks.clone(),
                stop,
            });
            alerts.run(alert_every, alert_gateway.counters().subscribe())
        },
    ));
    tasks.spawn(gateway.clone().run_metrics_upkeep(background.clone()));

    let explain_gateway = gateway.clone();
    let metrics_gateway = gateway.clone();
    let readiness_gateway = gateway.clone();
    let (readiness_jobs, metrics_jobs) = (jobs.clone(), jobs.clone());
    let health_gateway = gateway.clone();
    let targets_gateway = gateway.clone();
    let tests_gateway = gateway.clone();
    let console = sentinel_console::router(ConsoleDeps {
        store: store.clone(),
        registry: Arc::new(ProviderRegistry::standard()),
        readiness: Arc::new(move || {
            let gateway = readiness_gateway.clone();
            let jobs = readiness_jobs.clone();
            Box::pin(async move {
                let (status, mut body) = sentinel_gateway::readiness(&gateway).await;
                if let Some(object) = body.as_object_mut() {
                    object.insert("jobs".into(), jobs.to_json());
                }
                (status, body)
            })
                as futures_util::future::BoxFuture<'static, (StatusCode, serde_json::Value)>
        }),
        provider_health: Arc::new(move || {
            health_gateway
                .provider_health()
                .into_iter()
                .map(|h| {
                    (
                        h.org_id.clone(),
                        serde_json::to_value(&h).unwrap_or_default(),
                    )
                })
                .collect()
        }),
        explain: Arc::new(move |env_id, app_id, app_name, query| {
            let gateway = explain_gateway.clone();
            Box::pin(async move {
                let explanation =
                    sentinel_gateway::explain(&gateway, &env_id, &app_id, &app_name, &query)
                        .await?;
                serde_json::to_value(explanation).map_err(|e| e.to_string())
            })
        }),
        metrics: Arc::new(move || {
            let mut text = metrics_gateway.render_metrics();
            text.push_str(&metrics_jobs.render_metrics());
            text
        }),
        provider_tests: sentinel_console::ProviderTests {
            targets: Arc::new(move |env_id| targets_gateway.provider_targets(env_id, None)),
            run: Arc::new(move |env_id, provider| {
                let gateway = tests_gateway.clone();
                Box::pin(async move { gateway.test_providers(&env_id, provider.as_deref()).await })
            }),
        },
        verify: crate::verify::verify_gateway(&gateway),
        docs_base_url: server.docs_base_url.clone(),
        server_facts: server_facts(&store, server, &master_key_source),
    });

    let limits = ListenerLimits {
        header_read_timeout: server.header_read_timeout(),
        max_connections: server.max_connections,
        grace,
        ..ListenerLimits::default()
    };
    let gateway_listener = sentinel_listener::bind(server.gateway_addr).await?;
    let console_listener = sentinel_listener::bind(server.console_addr).await?;
    let gateway_addr = gateway_listener.local_addr()?;
    let console_addr = console_listener.local_addr()?;
    let scheme = |e: &Edge| if e.tls.is_some() { "https" } else { "http" };
    let gateway_edge =
        edge(server, &server.gateway_tls, &tasks, &background).context("gateway_tls")?;
    let console_edge =
        edge(server, &server.console_tls, &tasks, &background).context("console_tls")?;
    let (gateway_scheme, console_scheme) = (scheme(&gateway_edge), scheme(&console_edge));
    let gateway_task = tokio::spawn(sentinel_listener::serve(
        gateway_listener,
        gateway.router(),
        limits.clone(),
        gateway_edge,
        shutdown.clone(),
    ));
    let console_task = tokio::spawn(sentinel_listener::serve(
        console_listener,
        console,
        limits,
        console_edge,
        shutdown.clone(),
    ));
    tracing::info!(%gateway_addr, %console_addr, store = store.backend_name(), "sentinel is serving");

    let done_store = store.clone();
    let done_shutdown = shutdown.clone();
    let done = tokio::spawn(async move {
        done_shutdown.cancelled().await;
        tracing::info!("shutting down");
        // 1. Stop accepting and 2. drain in-flight requests and streams, on both listeners.
        let (gateway_drain, console_drain) = tokio::join!(gateway_task, console_task);
        tracing::info!(?gateway_drain, ?console_drain, "listeners drained");
        // 3. Stop background tasks (reloader, alert evaluation and
        //    deliveries) and 4. flush the record writer.
        background.cancel();
        tasks.close();
        tasks.wait().await;
        drop(gateway);
        if let Err(error) = writer.await {
            tracing::error!(%error, "record writer task failed");
        }
        // 5. Close the store.
        done_store.close().await;
        tracing::info!("shutdown complete");
    });

    Ok(Running {
        gateway_addr,
        console_addr,
        gateway_scheme,
        console_scheme,
        bootstrap_token,
        demo,
        master_key_source,
        store,
        shutdown,
        done,
    })
}

/// On an empty store: the `default` organization and its first admin
/// operator, whose token is returned to be shown once. The token comes from
/// `SENTINEL_BOOTSTRAP_TOKEN` when set (for automation).
/// A listener's edge: its certificates (watched for changes on `tasks`)
/// and the trusted proxies.
fn edge(
    server: &ServerConfig,
    certs: &[TlsCertConfig],
    tasks: &TaskTracker,
    stop: &CancellationToken,
) -> anyhow::Result<Edge> {
    let tls = if certs.is_empty() {
        None
    } else {
        let files = certs
            .iter()
            .map(|c| CertFiles {
                cert: c.cert.clone(),
                key: c.key.clone(),
                domains: c.domains.clone(),
            })
            .collect();
        let certs = TlsCerts::load(files).map_err(anyhow::Error::msg)?;
        tasks.spawn(
            certs
                .clone()
                .watch(Duration::from_secs(server.tls_reload_s), stop.clone()),
        );
        Some(certs)
    };
    Ok(Edge {
        tls,
        trusted_proxies: TrustedProxies::new(server.trusted_proxy_networks()),
    })
}

async fn bootstrap(
    store: &Store,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<String>> {
    let org = store.ensure_org(DEFAULT_ORG).await?;
    if store.count_operators().await? > 0 {
        return Ok(None);
    }
    let (token, digest) = match env("SENTINEL_BOOTSTRAP_TOKEN") {
        Some(token) => {
            let token = token.trim().to_owned();
            let well_formed = token.strip_prefix("sntop_").is_some_and(|hex| {
                hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
            anyhow::ensure!(
                well_formed,
                "SENTINEL_BOOTSTRAP_TOKEN must look like an operator token: sntop_ followed by 64 lowercase hex characters \
                 (e.g. \"sntop_$(openssl rand -hex 32)\")"
            );
            let digest = sentinel_core::key::sha256_hex(token.as_bytes());
            (token, digest)
        }
        None => sentinel_console::new_operator_token(),
    };
    let audit = AuditContext {
        actor: "system".into(),
        source_addr: None,
        request_id: None,
    };
    // The bootstrap admin administers every environment of the default
    // organization and is the platform administrator (creates organizations).
    let grants = [Grant::everywhere(Role::Admin)];
    store
        .create_operator_with(
            &org.id,
            &NewOperator {
                name: "admin",
                grants: &grants,
                platform_admin: true,
                token_digest_hex: &digest,
            },
            &audit,
        )
        .await?;
    Ok(Some(token))
}
