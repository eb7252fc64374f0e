//! Sentinel's operator surface, served on the console listener: the admin
//! API under `/api/v1`, its OpenAPI document, a landing page, the web
//! console under `/console/` (embedded assets and docs, see [`ui`]), and
//! the console's own health probes.
//!
//! The console changes the control plane only through the store, which
//! writes every change and its audit event in one transaction; the gateway
//! notices through the store's change feed. It knows provider kinds only
//! through the registry's catalog (to validate config documents) and never
//! depends on the gateway.
//!
//! Invariants: every request is scoped to the calling operator's
//! organization (another organization's names and ids answer 404, never
//! 403), and every admin handler checks the caller's grants for the
//! environment it acts on (`Caller::require`); no response carries a client key after the one that created it, a
//! key or token digest, or a secret value; every response, errors included,
//! carries `x-sentinel-request-id`; store errors are logged with that id and
//! never returned.

mod alerts;
mod applications;
mod audit;
mod auth;
mod changes;
mod clock;
mod config;
mod environments;
mod error;
mod export;
mod extract;
mod home;
mod keys;
mod login;
mod openapi;
mod operators;
mod orgs;
mod policy;
mod providers;
mod requests;
mod retention;
mod review;
mod secrets;
mod session;
mod stats;
mod ui;
mod verify;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::Response,
};
use futures_util::future::BoxFuture;
use sentinel_core::ProviderProbe;
use sentinel_providers::ProviderRegistry;
use sentinel_store::Store;

pub use auth::new_operator_token;

/// The header carrying the request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-sentinel-request-id";

/// Largest accepted request body. Config documents are at most 1 MiB
/// (`sentinel_config::MAX_DOCUMENT_BYTES`); JSON escaping of one can grow it,
/// and the rest of the envelope is small.
pub(crate) const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The readiness check the binary supplies (it knows the gateway's
/// snapshot state and the store's health).
pub type Readiness =
    Arc<dyn Fn() -> BoxFuture<'static, (StatusCode, serde_json::Value)> + Send + Sync>;

/// What the console needs from the process that serves it.
#[derive(Clone)]
pub struct ConsoleDeps {
    pub store: Store,
    /// Provider kinds, used as the catalog when validating config documents.
    pub registry: Arc<ProviderRegistry>,
    pub readiness: Readiness,
    /// The gateway's per-endpoint health (breaker state, recent errors),
    /// each entry with the organization it belongs to.
    pub provider_health: ProviderHealth,
    /// The gateway's `policy explain` for (environment id, application id,
    /// application name, query): the explanation as JSON, or why not.
    pub explain: Explainer,
    /// The gateway's metrics in the Prometheus text format, for `/metrics`.
    pub metrics: MetricsText,
    /// The gateway's provider connectivity tests.
    pub provider_tests: ProviderTests,
    /// The gateway, as `sentinel verify` drives it in-process.
    pub verify: VerifyGateway,
    /// Where error codes shown by the console link to: `{docs_base_url}/errors#{code}`.
    /// The console's own docs (`/console/docs`) unless the deployment
    /// publishes them elsewhere (server config `docs_base_url`).
    pub docs_base_url: String,
    /// What the readiness review knows about this process (store, master
    /// key origin, telemetry, TLS).
    pub server_facts: sentinel_review::ServerFacts,
}

/// What `providers test` needs from the gateway: the (provider, upstream
/// model) pairs an environment's route plans use, and one minimal call to
/// each (of one provider when given). Both take the environment id.
#[derive(Clone)]
pub struct ProviderTests {
    pub targets: TestTargets,
    pub run: RunTests,
}

/// The (provider, upstream model) pairs of an environment's route plans.
pub type TestTargets = Arc<dyn Fn(&str) -> Result<Vec<(String, String)>, String> + Send + Sync>;

/// Tests an environment's providers (one provider's when given).
pub type RunTests = Arc<
    dyn Fn(String, Option<String>) -> BoxFuture<'static, Result<Vec<ProviderProbe>, String>>
        + Send
        + Sync,
>;

impl ProviderTests {
    /// Tests that always answer `why` (no gateway in this process).
    pub fn unavailable(why: &'static str) -> Self {
        Self {
            targets: Arc::new(move |_| Err(why.to_owned())),
            run: Arc::new(move |_, _| Box::pin(async move { Err(why.to_owned()) })),
        }
    }
}

/// What `sentinel verify` needs from the gateway of this process: the
/// environment's route plans as the gateway serves them, whether its
/// snapshot accepts a key yet, and one request sent through the gateway's
/// own router in-process (never over the network: TLS may be on, and the
/// in-process markers must not be reachable from outside).
#[derive(Clone)]
pub struct VerifyGateway {
    pub plans: GatewayPlans,
    pub key: KeyCheck,
    pub send: SendThrough,
}

/// The data-plane hosts and route plans of an environment (by id).
pub type GatewayPlans = Arc<dyn Fn(&str) -> Result<ServedPlans, String> + Send + Sync>;

/// Whether the gateway's snapshot accepts the key with this id.
pub type KeyCheck = Arc<dyn Fn(&str) -> KeyInSnapshot + Send + Sync>;

/// Sends one request through the gateway's router (the error: it could
/// not be sent at all).
pub type SendThrough =
    Arc<dyn Fn(GatewayCall) -> BoxFuture<'static, Result<GatewayAnswer, String>> + Send + Sync>;

/// An environment as the gateway serves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServedPlans {
    /// The data-plane hosts bound to the environment, sorted (may be empty).
    pub hosts: Vec<String>,
    /// Each route plan, by name.
    pub plans: Vec<ServedPlan>,
}

/// One route plan as the gateway serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedPlan {
    pub plan: String,
    /// The first (by name) of the model names it serves.
    pub model: String,
    /// (provider, upstream model) of each target, in the plan's order.
    pub targets: Vec<(String, String)>,
}

/// What the gateway's snapshot knows of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyInSnapshot {
    /// Not loaded (yet).
    Unknown,
    Accepted,
    /// Revoked or expired.
    Refused,
}

/// One request `sentinel verify` sends through the gateway: `POST
/// /v1/chat/completions` with `body`, or `GET /v1/models` without.
#[derive(Clone)]
pub struct GatewayCall {
    /// The `Host` header: one of the environment's data-plane hosts.
    pub host: Option<String>,
    /// The client key, sent as `Authorization: Bearer`. Never logged.
    pub key: sentinel_core::ClientKey,
    pub body: Option<serde_json::Value>,
    /// Dispatch treats the plan's first target as failed and falls back.
    pub force_fallback: bool,
}

/// The gateway's answer to a [`GatewayCall`].
#[derive(Debug, Clone, Default)]
pub struct GatewayAnswer {
    pub status: u16,
    /// `x-sentinel-request-id`.
    pub request_id: Option<String>,
    pub body: Vec<u8>,
    /// The request's attempts, as its record has them.
    pub attempts: Vec<sentinel_core::AttemptRecord>,
}

impl VerifyGateway {
    /// A gateway that is not there (`why`): every run fails at setup.
    pub fn unavailable(why: &'static str) -> Self {
        Self {
            plans: Arc::new(move |_| Err(why.to_owned())),
            key: Arc::new(|_| KeyInSnapshot::Unknown),
            send: Arc::new(move |_| Box::pin(async move { Err(why.to_owned()) })),
        }
    }
}

/// The default of [`ConsoleDeps::docs_base_url`]: the docs this console serves.
pub use sentinel_config::DEFAULT_DOCS_BASE_URL;

/// Renders the metrics served on `/metrics`.
pub type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

pub type Explainer = Arc<
    dyn Fn(
            String,
            String,
            String,
            sentinel_policy::ExplainQuery,
        ) -> BoxFuture<'static, Result<serde_json::Value, String>>
        + Send
        + Sync,
>;

/// Supplies endpoint health as `(organization id, entry)` pairs.
pub type ProviderHealth = Arc<dyn Fn() -> Vec<(String, serde_json::Value)> + Send + Sync>;

/// The request id of the request being served, put in its extensions by the
/// outermost middleware.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// Declares the console's routes once, so the router and the route list the
/// OpenAPI test checks cannot drift.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        /// Every route the console serves, as `(method, path)`. Public so
        /// tests outside the crate (the secret-leak scan) cover every route,
        /// including ones added later.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn routes() -> Router<ConsoleDeps> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

routes! {
    get "/" => home::index;
    get "/healthz" => home::healthz;
    get "/readyz" => home::readyz;
    get "/metrics" => home::metrics;
    get "/api/openapi.json" => openapi::document;
    get "/api/v1/whoami" => operators::whoami;
    get "/api/v1/session" => session::show;
    post "/api/v1/session" => session::create;
    delete "/api/v1/session" => session::delete;
    get "/api/v1/operators" => operators::list;
    post "/api/v1/operators" => operators::create;
    put "/api/v1/operators/{id}/grants" => operators::set_grants;
    post "/api/v1/operators/{id}/revoke" => operators::revoke;
    get "/api/v1/orgs" => orgs::list;
    post "/api/v1/orgs" => orgs::create;
    get "/api/v1/environments" => environments::list;
    post "/api/v1/environments" => environments::create;
    get "/api/v1/environments/{env}" => environments::show;
    patch "/api/v1/environments/{env}" => environments::update;
    get "/api/v1/environments/{env}/applications" => applications::list;
    post "/api/v1/environments/{env}/applications" => applications::create;
    get "/api/v1/environments/{env}/keys" => keys::list;
    post "/api/v1/environments/{env}/keys" => keys::create;
    get "/api/v1/environments/{env}/keys/{id}" => keys::show;
    post "/api/v1/environments/{env}/keys/{id}/revoke" => keys::revoke;
    post "/api/v1/environments/{env}/keys/{id}/rotate" => keys::rotate;
    get "/api/v1/environments/{env}/secrets" => secrets::list;
    put "/api/v1/environments/{env}/secrets/{name}" => secrets::put;
    get "/api/v1/environments/{env}/secrets/{name}/versions" => secrets::versions;
    post "/api/v1/environments/{env}/secrets/{name}/rotate" => secrets::rotate;
    get "/api/v1/environments/{env}/config" => config::current;
    post "/api/v1/environments/{env}/config" => config::apply;
    post "/api/v1/environments/{env}/config/plan" => config::plan;
    get "/api/v1/environments/{env}/config/revisions" => config::revisions;
    get "/api/v1/environments/{env}/config/revisions/{n}" => config::revision;
    post "/api/v1/environments/{env}/config/rollback" => changes::rollback;
    get "/api/v1/environments/{env}/changes" => changes::list;
    get "/api/v1/environments/{env}/changes/{id}" => changes::show;
    post "/api/v1/environments/{env}/changes/{id}/approve" => changes::approve;
    post "/api/v1/environments/{env}/changes/{id}/reject" => changes::reject;
    post "/api/v1/environments/{env}/changes/{id}/apply" => changes::apply;
    post "/api/v1/environments/{env}/promotions" => changes::promote;
    post "/api/v1/environments/{env}/policy/explain" => policy::explain;
    get "/api/v1/environments/{env}/alerts" => alerts::list;
    get "/api/v1/environments/{env}/alerts/history" => alerts::history;
    get "/api/v1/environments/{env}/stats" => stats::show;
    get "/api/v1/environments/{env}/retention" => retention::show;
    get "/api/v1/environments/{env}/review" => review::show;
    get "/api/v1/requests" => requests::search;
    get "/api/v1/requests/{id}" => requests::show;
    get "/api/v1/requests/{id}/body" => requests::body;
    get "/api/v1/export/requests" => export::requests;
    get "/api/v1/export/audit" => export::audit;
    get "/api/v1/audit" => audit::list;
    get "/api/v1/audit/verify" => audit::verify;
    get "/api/v1/providers/health" => providers::health;
    post "/api/v1/environments/{env}/providers/test" => providers::test;
    get "/api/v1/environments/{env}/providers/tests" => providers::tests;
    post "/api/v1/environments/{env}/verify" => verify::run;
    get "/api/v1/environments/{env}/verify" => verify::latest;
}

/// The console router. The caller serves it and may insert
/// `ConnectInfo<SocketAddr>` so audit events carry the source address.
pub fn router(deps: ConsoleDeps) -> Router {
    routes()
        .layer(axum::Extension(Arc::new(login::LoginThrottle::default())))
        .merge(ui::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(request_id))
        .with_state(deps)
}

/// Gives every request a time-ordered id, renders every error in the admin
/// API's shape, and sets the headers every answer carries.
async fn request_id(mut req: Request, next: Next) -> Response {
    let started = tokio::time::Instant::now();
    let id = uuid::Uuid::now_v7().to_string();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    req.extensions_mut().insert(RequestId(id.clone()));
    let response = next.run(req).await;
    let mut response = error::finish(response, &id, &method, &path).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if path.starts_with("/api/") {
        // Answers can hold a key or token shown once: never cache them.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    tracing::info!(
        request_id = %id,
        method,
        path,
        status = response.status().as_u16(),
        latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "console request"
    );
    response
}
