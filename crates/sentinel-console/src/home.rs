//! The landing page (static, no script: it points at the web console, the
//! API and the docs) and the console's own health probes.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::ConsoleDeps;

/// No scripts, no styles, no frames, no forms: the page is static text.
const CSP: &str = "default-src 'none'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sentinel console</title>
</head>
<body>
<h1>Sentinel console</h1>
<p>This listener serves Sentinel's operator surface: the <a href="/console/">web console</a>
(sign in with an operator token), the admin API and the <code>sentinel</code> command line.
Documentation: <a href="/console/docs/operator-guide">operator guide</a>, <a href="/console/docs/errors">error codes</a>.</p>
<h2>Admin API</h2>
<ul>
<li><a href="/api/openapi.json">OpenAPI document</a> (<code>/api/openapi.json</code>): every admin route.</li>
<li>Routes live under <code>/api/v1/</code> and need <code>Authorization: Bearer sntop_…</code> (an operator token).</li>
<li>Health: <a href="/healthz">/healthz</a>, readiness: <a href="/readyz">/readyz</a>, Prometheus metrics: <a href="/metrics">/metrics</a>.</li>
</ul>
<h2>Command line</h2>
<pre>
export SENTINEL_URL=http://127.0.0.1:8081
export SENTINEL_TOKEN=sntop_…        # printed once when the first operator is created
sentinel env list
sentinel keys create --env dev --app checkout
sentinel config plan --env dev -f dev.yaml
sentinel config apply --env dev -f dev.yaml -m "first providers"
sentinel requests search --env dev --status 502
</pre>
</body>
</html>
"#;

pub(crate) async fn index() -> Response {
    let mut response = Html(INDEX).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(crate) async fn readyz(State(deps): State<ConsoleDeps>) -> (StatusCode, Json<Value>) {
    let (status, body) = (deps.readiness)().await;
    (status, Json(body))
}

/// `GET /metrics`: Prometheus text exposition. Like the health probes it
/// needs no operator token (scrapers rarely hold one): the console listener
/// is private, and the metrics carry only configured names and counts, never
/// a key, a secret or a client-supplied value.
pub(crate) async fn metrics(State(deps): State<ConsoleDeps>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        (deps.metrics)(),
    )
        .into_response()
}
