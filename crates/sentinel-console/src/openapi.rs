//! `GET /api/openapi.json`: the admin API described as OpenAPI 3.1. Written
//! by hand; a test checks that every route the router serves is in it and
//! nothing else is.

use std::sync::OnceLock;

use axum::Json;
use serde_json::{Map, Value, json};

pub(crate) async fn document() -> Json<Value> {
    static DOC: OnceLock<Value> = OnceLock::new();
    Json(DOC.get_or_init(build).clone())
}

/// One operation: method, path, summary, request body schema, success
/// status and response schema, and whether it needs an operator token.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Option<Value>,
    status: &'static str,
    response: Value,
    auth: bool,
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn list_of(name: &str) -> Value {
    json!({ "type": "object", "required": ["data"], "properties": { "data": { "type": "array", "items": r(name) } } })
}

fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    status: &'static str,
    response: Value,
) -> Op {
    Op {
        method,
        path,
        summary,
        body: None,
        status,
        response,
        auth: true,
    }
}

impl Op {
    fn body(mut self, schema: Value) -> Self {
        self.body = Some(schema);
        self
    }

    fn public(mut self) -> Self {
        self.auth = false;
        self
    }
}

fn operations() -> Vec<Op> {
    let mut ops = vec![
        op(
            "get",
            "/",
            "Landing page (HTML)",
            "200",
            json!({"type": "string"}),
        )
        .public(),
        op(
            "get",
            "/healthz",
            "Liveness: the console answers",
            "200",
            json!({"type": "object"}),
        )
        .public(),
        op(
            "get",
            "/readyz",
            "Readiness: the store answers and the gateway has a snapshot",
            "200",
            json!({"type": "object"}),
        )
        .public(),
        op(
            "get",
            "/metrics",
            "Prometheus metrics of this replica (text exposition format; no token, like the health probes)",
            "200",
            json!({"type": "string"}),
        )
        .public(),
        op(
            "get",
            "/api/openapi.json",
            "This document",
            "200",
            json!({"type": "object"}),
        )
        .public(),
        op(
            "get",
            "/api/v1/session",
            "The web console's current session (cookie) and its CSRF token",
            "200",
            r("Session"),
        ),
        op(
            "post",
            "/api/v1/session",
            "Sign in to the web console: exchanges an operator token for an HttpOnly, SameSite=Strict session cookie (Secure over https); audited",
            "201",
            r("Session"),
        )
        .body(json!({ "type": "object", "required": ["token"], "additionalProperties": false, "properties": { "token": { "type": "string", "description": "An operator token, sntop_…" } } }))
        .public(),
        op(
            "delete",
            "/api/v1/session",
            "Sign out: ends the session and clears its cookie (needs x-csrf-token); audited",
            "204",
            json!({}),
        ),
        op(
            "get",
            "/api/v1/whoami",
            "The calling operator and organization",
            "200",
            r("WhoAmI"),
        ),
        op(
            "get",
            "/api/v1/operators",
            "List operators (admin only)",
            "200",
            list_of("Operator"),
        ),
        op(
            "post",
            "/api/v1/operators",
            "Create an operator; the token is shown once (admin only)",
            "201",
            r("CreatedOperator"),
        )
        .body(r("CreateOperator")),
        op(
            "put",
            "/api/v1/operators/{id}/grants",
            "Replace an operator's grants (admin only; not your own)",
            "200",
            r("Operator"),
        )
        .body(r("SetGrants")),
        op(
            "post",
            "/api/v1/operators/{id}/revoke",
            "Revoke an operator; its token stops working at once (admin only; not your own)",
            "200",
            r("Operator"),
        ),
        op(
            "get",
            "/api/v1/orgs",
            "List organizations (platform administrators only)",
            "200",
            list_of("Organization"),
        ),
        op(
            "post",
            "/api/v1/orgs",
            "Create an organization and its first admin; the token is shown once (platform administrators only)",
            "201",
            r("CreatedOrganization"),
        )
        .body(r("CreateOrganization")),
        op(
            "get",
            "/api/v1/environments",
            "List environments",
            "200",
            list_of("Environment"),
        ),
        op(
            "post",
            "/api/v1/environments",
            "Create an environment",
            "201",
            r("Environment"),
        )
        .body(r("CreateEnvironment")),
        op(
            "get",
            "/api/v1/environments/{env}",
            "Show an environment",
            "200",
            r("Environment"),
        ),
        op(
            "patch",
            "/api/v1/environments/{env}",
            "Change protection or hosts",
            "200",
            r("Environment"),
        )
        .body(r("UpdateEnvironment")),
        op(
            "get",
            "/api/v1/environments/{env}/applications",
            "List applications",
            "200",
            list_of("Application"),
        ),
        op(
            "post",
            "/api/v1/environments/{env}/applications",
            "Create an application",
            "201",
            r("Application"),
        )
        .body(r("CreateApplication")),
        op(
            "get",
            "/api/v1/environments/{env}/keys",
            "List keys (metadata only)",
            "200",
            list_of("Key"),
        ),
        op(
            "post",
            "/api/v1/environments/{env}/keys",
            "Create a key; the key is shown once",
            "201",
            r("CreatedKey"),
        )
        .body(r("CreateKey")),
        op(
            "get",
            "/api/v1/environments/{env}/keys/{id}",
            "Show a key (metadata only)",
            "200",
            r("Key"),
        ),
        op(
            "post",
            "/api/v1/environments/{env}/keys/{id}/revoke",
            "Revoke a key now",
            "200",
            r("Key"),
        ),
        op(
            "post",
            "/api/v1/environments/{env}/keys/{id}/rotate",
            "Rotate a key: a new key for the same application (shown once); the old key stays valid for the overlap",
            "201",
            r("RotatedKey"),
        )
        .body(r("RotateKey")),
        op(
            "get",
            "/api/v1/environments/{env}/secrets",
            "List secrets (never values)",
            "200",
            list_of("Secret"),
        ),
        op(
            "put",
            "/api/v1/environments/{env}/secrets/{name}",
            "Create a secret or store a new version (the previous one is retired)",
            "200",
            r("Secret"),
        )
        .body(r("PutSecret")),
        op(
            "get",
            "/api/v1/environments/{env}/secrets/{name}/versions",
            "Every version of a secret: current or retired (never values)",
            "200",
            r("SecretVersions"),
        ),
        op(
            "post",
            "/api/v1/environments/{env}/secrets/{name}/rotate",
            "Store a new version of an existing secret and retire the previous one",
            "200",
            r("Secret"),
        )
        .body(r("PutSecret")),
        op(
            "get",
            "/api/v1/environments/{env}/config",
            "The current config revision (revision 0 when none)",
            "200",
            r("Revision"),
        ),
        op(
            "post",
            "/api/v1/environments/{env}/config",
            "Validate a document and open a change request for it: applied at once as the next revision (201) in an unprotected environment, pending approval (202) in a protected one",
            "201",
            r("Proposed"),
        )
        .body(r("ApplyConfig")),
        op(
            "post",
            "/api/v1/environments/{env}/config/plan",
            "Validate a document and diff it against the current revision",
            "200",
            r("Plan"),
        )
        .body(r("PlanConfig")),
        op(
            "get",
            "/api/v1/environments/{env}/config/revisions",
            "Revision history, newest first",
            "200",
            list_of("RevisionSummary"),
        ),
        op(
            "get",
            "/api/v1/environments/{env}/config/revisions/{n}",
            "One revision with its document",
            "200",
            r("Revision"),
        ),
        op(
            "get",
            "/api/v1/export/requests",
            "Request records of a time window as JSON Lines or CSV, streamed (query: env, since, until, format=jsonl|csv); audited",
            "200",
            json!({ "type": "string" }),
        ),
        op(
            "get",
            "/api/v1/export/audit",
            "Audit events of a time window as JSON Lines or CSV, streamed (query: env, since, until, format=jsonl|csv); audited",
            "200",
            json!({ "type": "string" }),
        ),
        op(
            "post",
            "/api/v1/environments/{env}/policy/explain",
            "What policy would decide for a hypothetical request of one key, rule by rule (takes no counter)",
            "200",
            r("PolicyExplanation"),
        )
        .body(r("ExplainQuery")),
        op(
            "get",
            "/api/v1/environments/{env}/alerts",
            "The environment's alert rules with their current state, and its destinations (never their URLs or secrets)",
            "200",
            r("Alerts"),
        ),
        op(
            "get",
            "/api/v1/environments/{env}/alerts/history",
            "Alert firings and resolutions with their delivery outcomes, newest first",
            "200",
            r("AlertEventPage"),
        ),
        op(
            "get",
            "/api/v1/environments/{env}/stats",
            "Traffic of a recent window, bucketed for charts: requests, client and server errors, timeouts, latency p50/p95, spend, per provider",
            "200",
            r("EnvironmentStats"),
        ),
        op(
            "get",
            "/api/v1/environments/{env}/retention",
            "How long the environment keeps request records, per its current config revision",
            "200",
            json!({ "type": "object", "properties": { "environment": { "type": "string" }, "revision": { "type": "integer" }, "requests_days": { "type": ["integer", "null"] } } }),
        ),
        op(
            "get",
            "/api/v1/environments/{env}/review",
            "The production readiness review: the review questions and the rollout checklist, each item pass, fail or unknown with evidence and fix (?staging=NAME: whose evidence counts too). Schema: docs/schemas/review.schema.json",
            "200",
            r("Review"),
        ),
        op(
            "get",
            "/api/v1/requests",
            "Search request records, newest first",
            "200",
            r("RecordPage"),
        ),
        op(
            "get",
            "/api/v1/requests/{id}",
            "One request record",
            "200",
            r("RequestRecord"),
        ),
        op(
            "get",
            "/api/v1/requests/{id}/body",
            "The request's stored bodies (when its environment keeps them); an audited sensitive read",
            "200",
            r("RequestBodies"),
        ),
        op(
            "get",
            "/api/v1/audit",
            "List audit events",
            "200",
            list_of("AuditEvent"),
        ),
        op(
            "get",
            "/api/v1/audit/verify",
            "Verify the audit hash chain; a broken chain names its first bad event",
            "200",
            json!({"type": "object", "properties": {
                "ok": {"type": "boolean"}, "events": {"type": "integer"},
                "first_bad_seq": {"type": ["integer", "null"]},
                "first_bad_id": {"type": ["string", "null"]}}}),
        ),
        op(
            "post",
            "/api/v1/environments/{env}/providers/test",
            "Make one minimal chat call (max_tokens 1) to each provider and model of the environment's route plans; outcomes are stored and audited",
            "200",
            list_of("ProviderTest"),
        )
        .body(json!({ "type": "object", "additionalProperties": false, "properties": { "provider": { "type": "string", "description": "Only this provider" } } })),
        op(
            "get",
            "/api/v1/environments/{env}/providers/tests",
            "The latest test outcome of each provider and model, and the pairs the route plans use now",
            "200",
            json!({ "type": "object", "properties": {
                "data": { "type": "array", "items": r("ProviderTest") },
                "targets": { "type": "array", "items": { "type": "object", "properties": { "provider": { "type": "string" }, "model": { "type": "string" } } } } } }),
        ),
        op(
            "post",
            "/api/v1/environments/{env}/verify",
            "sentinel verify: prove the environment's request flow (one request per route plan, a forced fallback per plan with several targets) and operator flow (key create, rotate, revoke; provider tests; a request looked up) end to end with a short-lived key of application sentinel-verify, revoked at the end; the run is stored and audited (environment.verify). 200 even when steps fail: ok says",
            "200",
            r("VerifyRun"),
        ),
        op(
            "get",
            "/api/v1/environments/{env}/verify",
            "The environment's latest sentinel verify run (404 when it has none)",
            "200",
            r("VerifyRun"),
        ),
        op(
            "get",
            "/api/v1/providers/health",
            "Circuit-breaker state and recent errors of every provider endpoint (this replica)",
            "200",
            json!({"type": "object", "properties": {"data": {"type": "array", "items": {"type": "object"}}}}),
        ),
    ];
    ops.extend(change_operations());
    ops
}

/// Change requests, rollback and promotion (`changes.rs`).
fn change_operations() -> Vec<Op> {
    vec![
        op(
            "post",
            "/api/v1/environments/{env}/config/rollback",
            "Open a change request whose document is a past revision (applied at once unless the environment is protected)",
            "201",
            r("Proposed"),
        )
        .body(r("Rollback")),
        op(
            "get",
            "/api/v1/environments/{env}/changes",
            "Change requests, newest first (query: status)",
            "200",
            list_of("ChangeRequest"),
        ),
        op(
            "get",
            "/api/v1/environments/{env}/changes/{id}",
            "One change request with its document and its diff against the current revision",
            "200",
            r("ChangeRequestDetail"),
        ),
        op(
            "post",
            "/api/v1/environments/{env}/changes/{id}/approve",
            "Approve a pending change request (approvers and admins, never its author); with apply: true, apply it too",
            "200",
            r("Proposed"),
        )
        .body(r("Approve")),
        op(
            "post",
            "/api/v1/environments/{env}/changes/{id}/reject",
            "Reject a pending change request (approvers and admins; its author may withdraw it)",
            "200",
            r("ChangeRequest"),
        )
        .body(r("Reject")),
        op(
            "post",
            "/api/v1/environments/{env}/changes/{id}/apply",
            "Apply a pending change request (approved first in a protected environment); 409 when it is stale",
            "201",
            r("Proposed"),
        ),
        op(
            "post",
            "/api/v1/environments/{env}/promotions",
            "Open a change request carrying sections of another environment's current revision (route_plans and policies by default); refuses missing providers and secrets, naming them",
            "201",
            r("Proposed"),
        )
        .body(r("Promote")),
    ]
}

fn change_schemas(schemas: &mut Value) {
    let ts = json!({ "type": "integer", "description": "Unix milliseconds" });
    let opt_ts = json!({ "type": ["integer", "null"], "description": "Unix milliseconds" });
    schemas["ChangeRequest"] = json!({ "type": "object", "properties": {
        "id": { "type": "integer", "description": "Number within the environment" },
        "environment": { "type": "string" },
        "kind": { "type": "string", "enum": ["apply", "rollback", "promotion"] },
        "status": { "type": "string", "enum": ["pending", "applied", "rejected", "stale"] },
        "message": { "type": "string" }, "author": { "type": "string" }, "created_at": ts,
        "base_revision": { "type": "integer" },
        "source": { "type": ["object", "null"], "properties": { "environment": { "type": "string" }, "revision": { "type": "integer" } } },
        "approvals": { "type": "array", "items": { "type": "object", "properties": { "by": { "type": "string" }, "at": ts } } },
        "decided_by": { "type": ["string", "null"] }, "decided_at": opt_ts,
        "reason": { "type": ["string", "null"] }, "applied_revision": { "type": ["integer", "null"] } } });
    schemas["ChangeRequestDetail"] = json!({ "allOf": [r("ChangeRequest"), { "type": "object", "properties": {
        "document": { "type": "string" }, "current_revision": { "type": "integer" },
        "diff": { "type": "object", "properties": { "added": { "type": "integer" }, "removed": { "type": "integer" }, "text": { "type": "string" } } } } }] });
    schemas["Proposed"] = json!({ "type": "object", "description": "With status applied, the new revision's fields too", "properties": {
        "status": { "type": "string", "enum": ["applied", "pending"] },
        "revision": { "type": "integer" }, "hash": { "type": "string" }, "parent_hash": { "type": "string" },
        "change_request": r("ChangeRequest"),
        "warnings": { "type": "array", "items": r("FieldError") } } });
    schemas["Rollback"] = json!({ "type": "object", "required": ["to"], "additionalProperties": false, "properties": {
        "to": { "type": "integer" }, "message": { "type": "string" } } });
    schemas["Approve"] = json!({ "type": "object", "additionalProperties": false, "properties": {
        "apply": { "type": "boolean", "description": "Apply right after approving" } } });
    schemas["Reject"] = json!({ "type": "object", "required": ["reason"], "additionalProperties": false, "properties": {
        "reason": { "type": "string" } } });
    schemas["Promote"] = json!({ "type": "object", "required": ["from"], "additionalProperties": false, "properties": {
        "from": { "type": "string", "description": "Source environment" },
        "only": { "type": "array", "items": { "type": "string", "enum": ["route_plans", "policies", "providers", "prices"] } },
        "message": { "type": "string" } } });
}

fn parameters(path: &str) -> Vec<Value> {
    let mut params = Vec::new();
    for (name, description) in [
        ("env", "Environment name"),
        (
            "id",
            "Key id, request id, operator id or change request number",
        ),
        ("name", "Secret name"),
        ("n", "Revision number"),
    ] {
        if path.contains(&format!("{{{name}}}")) {
            params.push(json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } }));
        }
    }
    let query: &[(&str, &str, &str)] = match path {
        "/api/v1/requests" => &[
            ("env", "string", "Environment name"),
            ("app", "string", "Application name (needs env)"),
            ("key", "string", "Key id"),
            ("status", "integer", "HTTP status the client received"),
            (
                "error_code",
                "string",
                "Stable error code the client received",
            ),
            ("model", "string", "Requested model"),
            (
                "provider",
                "string",
                "Provider that answered (the last tried)",
            ),
            (
                "policy",
                "string",
                "Policy decision: allowed, denied, rate_limited, budget_exceeded, counters_unavailable",
            ),
            (
                "min_latency_ms",
                "integer",
                "Only requests that took at least this long",
            ),
            (
                "since",
                "string",
                "Unix milliseconds or RFC 3339, inclusive",
            ),
            (
                "until",
                "string",
                "Unix milliseconds or RFC 3339, exclusive",
            ),
            ("cursor", "string", "next_cursor of the previous page"),
            ("limit", "integer", "1 to 500, default 50"),
        ],
        "/api/v1/providers/health" => &[("env", "string", "Environment name")],
        "/api/v1/environments/{env}/changes" => {
            &[("status", "string", "pending, applied, rejected or stale")]
        }
        "/api/v1/environments/{env}/stats" => {
            &[("window", "string", "15m, 1h (default), 6h, 24h or 7d")]
        }
        "/api/v1/export/requests" | "/api/v1/export/audit" => &[
            (
                "env",
                "string",
                "Environment name (all environments when absent)",
            ),
            (
                "since",
                "string",
                "Required: unix milliseconds or RFC 3339, inclusive",
            ),
            (
                "until",
                "string",
                "Unix milliseconds or RFC 3339, exclusive",
            ),
            ("format", "string", "jsonl (default) or csv"),
        ],
        "/api/v1/environments/{env}/alerts/history" => &[
            ("rule", "string", "Only this alert rule"),
            ("cursor", "string", "next_cursor of the previous page"),
            ("limit", "integer", "1 to 500, default 50"),
        ],
        "/api/v1/audit" => &[
            ("action", "string", "e.g. key.create"),
            ("env", "string", "Environment name"),
            (
                "since",
                "string",
                "Unix milliseconds or RFC 3339, inclusive",
            ),
            (
                "until",
                "string",
                "Unix milliseconds or RFC 3339, exclusive",
            ),
            ("limit", "integer", "1 to 500, default 50"),
        ],
        _ => &[],
    };
    for (name, ty, description) in query {
        params.push(json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": ty } }));
    }
    params
}

fn error_responses(op: &Op) -> Map<String, Value> {
    let mut out = Map::new();
    let error = json!({ "description": "Error", "content": { "application/json": { "schema": r("Error") } } });
    if op.auth {
        out.insert("401".into(), error.clone());
        out.insert("403".into(), error.clone());
    }
    if op.path.contains('{') {
        out.insert("404".into(), error.clone());
    }
    if op.body.is_some()
        || op.path.contains("requests")
        || op.path.contains("audit")
        || op.path.ends_with("/history")
    {
        out.insert("400".into(), error.clone());
    }
    if op.body.is_some() {
        out.insert("409".into(), error.clone());
        out.insert("413".into(), error.clone());
    }
    if op.method == "post"
        && (op.path.ends_with("/config")
            || op.path.ends_with("/rollback")
            || op.path.ends_with("/promotions")
            || op.path.ends_with("/approve")
            || op.path.ends_with("/apply"))
    {
        out.insert("422".into(), error.clone());
    }
    if op.method == "post"
        && (op.path.ends_with("/config")
            || op.path.ends_with("/rollback")
            || op.path.ends_with("/promotions"))
    {
        out.insert(
            "202".into(),
            json!({ "description": "Change request opened, pending approval (protected environment)",
                    "content": { "application/json": { "schema": r("Proposed") } } }),
        );
    }
    out.insert("500".into(), error);
    out
}

fn build() -> Value {
    let mut paths = Map::new();
    for op in operations() {
        let mut responses = error_responses(&op);
        let content = if op.path == "/" {
            json!({ "text/html": { "schema": op.response } })
        } else if op.path == "/metrics" {
            json!({ "text/plain": { "schema": op.response } })
        } else if op.path.starts_with("/api/v1/export/") {
            json!({
                "application/jsonl": { "schema": { "type": "string", "description": "one JSON object per line" } },
                "text/csv": { "schema": { "type": "string", "description": "a header line, then one row per item" } },
            })
        } else {
            json!({ "application/json": { "schema": op.response } })
        };
        responses.insert(
            op.status.into(),
            json!({ "description": op.summary, "content": content }),
        );
        let mut operation = json!({
            "summary": op.summary,
            "parameters": parameters(op.path),
            "responses": responses,
        });
        if let Some(body) = &op.body {
            operation["requestBody"] =
                json!({ "required": true, "content": { "application/json": { "schema": body } } });
        }
        if !op.auth {
            operation["security"] = json!([]);
        }
        let entry = paths.entry(op.path).or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Sentinel admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The operator surface of Sentinel. Every answer carries x-sentinel-request-id; errors are {\"error\":{\"code\",\"message\",\"request_id\"}}. Keys and operator tokens are shown once, in the answer that creates them. Secret values and digests are never returned."
        },
        "servers": [{ "url": "/" }],
        "security": [{ "operatorToken": [] }, { "consoleSession": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "operatorToken": { "type": "http", "scheme": "bearer", "description": "An operator token, sntop_<64 hex>" },
                "consoleSession": { "type": "apiKey", "in": "cookie", "name": "sentinel_session", "description": "The web console's session (POST /api/v1/session); state-changing requests also need the x-csrf-token header" }
            },
            "schemas": schemas(),
        }
    })
}

fn schemas() -> Value {
    let ts = json!({ "type": "integer", "description": "Unix milliseconds" });
    let opt_ts = json!({ "type": ["integer", "null"], "description": "Unix milliseconds" });
    let mut schemas = json!({
        "Error": {
            "type": "object", "required": ["error"],
            "properties": { "error": {
                "type": "object", "required": ["code", "message", "request_id"],
                "properties": {
                    "code": { "type": "string", "enum": ["unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict", "invalid_request", "invalid_config", "payload_too_large", "too_many_requests", "internal"] },
                    "message": { "type": "string" },
                    "request_id": { "type": "string" },
                    "errors": { "type": "array", "items": r("FieldError") }
                }
            } }
        },
        "FieldError": { "type": "object", "required": ["path", "message"], "properties": { "path": { "type": "string" }, "message": { "type": "string" } } },
        "Operator": { "type": "object", "properties": {
            "id": { "type": "string" }, "name": { "type": "string" },
            "grants": { "type": "array", "items": r("Grant") },
            "platform_admin": { "type": "boolean" },
            "created_at": ts, "revoked_at": opt_ts } },
        "CreateOperator": { "type": "object", "required": ["name"], "additionalProperties": false,
            "description": "Either role (with optional environments) or grants", "properties": {
            "name": { "type": "string" }, "role": { "type": "string", "enum": ["admin", "operator", "approver", "auditor"] },
            "environments": { "type": "array", "items": { "type": "string" }, "description": "Leave out for every environment" },
            "grants": { "type": "array", "items": r("GrantBody") } } },
        "WhoAmI": { "allOf": [r("Operator"), { "type": "object", "properties": { "organization": { "type": "object", "properties": { "id": { "type": "string" }, "name": { "type": "string" } } } } }] },
        "Environment": { "type": "object", "properties": {
            "id": { "type": "string" }, "name": { "type": "string" }, "protected": { "type": "boolean" },
            "hosts": { "type": "array", "items": { "type": "string" } }, "created_at": ts } },
        "CreateEnvironment": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$" }, "protected": { "type": "boolean" },
            "hosts": { "type": "array", "items": { "type": "string" } } } },
        "UpdateEnvironment": { "type": "object", "additionalProperties": false, "properties": {
            "protected": { "type": "boolean" }, "hosts": { "type": "array", "items": { "type": "string" } } } },
        "Application": { "type": "object", "properties": {
            "id": { "type": "string" }, "name": { "type": "string" }, "environment": { "type": "string" }, "created_at": ts } },
        "CreateApplication": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$" } } },
        "Key": { "type": "object", "properties": {
            "id": { "type": "string" }, "name": { "type": "string" }, "prefix": { "type": "string" },
            "environment": { "type": "string" }, "application": { "type": "string" }, "app_id": { "type": "string" },
            "state": { "type": "string", "enum": ["active", "revoked", "expired"] },
            "created_at": ts, "expires_at": opt_ts, "revoked_at": opt_ts, "last_used_at": opt_ts } },
        "CreatedKey": { "allOf": [r("Key"), { "type": "object", "required": ["key"], "properties": { "key": { "type": "string", "description": "The client key. Shown once" } } }] },
        "CreateKey": { "type": "object", "required": ["application"], "additionalProperties": false, "properties": {
            "application": { "type": "string" }, "name": { "type": "string" },
            "expires_at": { "type": "integer", "description": "Unix milliseconds" },
            "expires_in_days": { "type": "integer", "minimum": 1 } } },
        "Secret": { "type": "object", "properties": {
            "name": { "type": "string" }, "environment": { "type": "string" }, "version": { "type": "integer" },
            "fingerprint": { "type": "string" }, "created_at": ts, "updated_at": ts } },
        "PutSecret": { "type": "object", "required": ["value"], "additionalProperties": false, "properties": {
            "value": { "type": "string", "writeOnly": true },
            "allow_reuse": { "type": "boolean", "description": "Accept a value that is current in another environment (admins only; audited)" } } },
        "SecretVersions": { "type": "object", "properties": {
            "name": { "type": "string" }, "environment": { "type": "string" },
            "data": { "type": "array", "items": { "type": "object", "properties": {
                "version": { "type": "integer" }, "state": { "type": "string", "enum": ["current", "retired"] },
                "fingerprint": { "type": "string" }, "created_at": ts, "retired_at": opt_ts } } } } },
        "Revision": { "type": "object", "properties": {
            "environment": { "type": "string" }, "revision": { "type": "integer" }, "document": { "type": "string" },
            "author": { "type": "string" }, "message": { "type": "string" }, "created_at": opt_ts,
            "hash": { "type": "string" }, "parent_hash": { "type": "string" } } },
        "RevisionSummary": { "type": "object", "properties": {
            "revision": { "type": "integer" }, "author": { "type": "string" }, "message": { "type": "string" },
            "created_at": ts, "hash": { "type": "string" }, "parent_hash": { "type": "string" } } },
        "PlanConfig": { "type": "object", "required": ["document"], "additionalProperties": false, "properties": { "document": { "type": "string" } } },
        "ApplyConfig": { "type": "object", "required": ["document", "message"], "additionalProperties": false, "properties": {
            "document": { "type": "string" }, "message": { "type": "string" },
            "base_revision": { "type": "integer", "description": "Fail with 409 if the latest revision is not this one" } } },
        "Plan": { "type": "object", "properties": {
            "valid": { "type": "boolean" }, "base_revision": { "type": "integer" },
            "errors": { "type": "array", "items": r("FieldError") }, "warnings": { "type": "array", "items": r("FieldError") },
            "diff": { "type": "object", "properties": { "added": { "type": "integer" }, "removed": { "type": "integer" }, "text": { "type": "string" } } } } },
        "RecordPage": { "type": "object", "properties": {
            "data": { "type": "array", "items": r("RequestRecord") }, "next_cursor": { "type": ["string", "null"] } } },
        "RequestRecord": { "type": "object", "description": "One data-plane request: ids, environment, application, key, model, provider attempts, status, error code, tokens, cost and timings", "properties": {
            "id": { "type": "string" }, "time": ts, "env_name": { "type": ["string", "null"] }, "app_name": { "type": ["string", "null"] },
            "key_id": { "type": ["string", "null"] }, "requested_model": { "type": ["string", "null"] }, "status": { "type": "integer" },
            "error_code": { "type": ["string", "null"] }, "attempts": { "type": "array", "items": { "type": "object" } } } },
        "AuditEvent": { "type": "object", "properties": {
            "id": { "type": "string" }, "seq": { "type": "integer" }, "time": ts, "actor": { "type": "string" },
            "action": { "type": "string" }, "target": { "type": "string" }, "env_id": { "type": ["string", "null"] },
            "details": { "type": "object" }, "source_addr": { "type": ["string", "null"] },
            "prev_hash": { "type": "string" }, "hash": { "type": "string" } } }
    });
    schemas["ExplainQuery"] = json!({ "type": "object", "required": ["key", "model"], "additionalProperties": false, "properties": {
            "key": { "type": "string", "description": "key id (16 hex digits), never the key" },
            "model": { "type": "string" },
            "api": { "type": "string", "enum": ["chat_completions", "embeddings", "anthropic_messages"] },
            "tokens": { "type": "integer", "minimum": 0, "description": "output-token cap the request would ask for" },
            "body_bytes": { "type": "integer", "minimum": 0 },
            "source_ip": { "type": "string" },
            "headers": { "type": "array", "items": { "type": "string" } } } });
    schemas["PolicyExplanation"] = json!({ "type": "object", "required": ["decision", "checks", "limits", "demand"], "properties": {
            "decision": { "type": "string", "enum": ["allowed", "denied", "rate_limited", "budget_exceeded"] },
            "rule": { "type": ["string", "null"] },
            "revision": { "type": ["integer", "null"] },
            "served": { "type": "boolean" },
            "checks": { "type": "array", "items": { "type": "object" } },
            "limits": { "type": "array", "items": { "type": "object" } },
            "demand": { "type": "object" },
            "counters_error": { "type": ["string", "null"] } } });
    // Added here: one more field inside the literal above passes the
    // json! macro's recursion limit.
    let record = &mut schemas["RequestRecord"]["properties"];
    record["cost_micros"] = json!({ "type": ["integer", "null"],
        "description": "the request's cost in micro-USD (1 USD = 1000000); null when the price or token counts are unknown" });
    record["price_source"] =
        json!({ "type": ["string", "null"], "enum": ["builtin", "environment", "unknown", null] });
    alert_schemas(&mut schemas);
    access_schemas(&mut schemas);
    change_schemas(&mut schemas);
    retention_schemas(&mut schemas);
    console_schemas(&mut schemas);
    schemas
}

/// Grants and organizations (split out: one `json!` that large overflows
/// the macro recursion limit).
fn access_schemas(schemas: &mut Value) {
    let ts = json!({ "type": "integer", "description": "Unix milliseconds" });
    schemas["Grant"] = json!({ "type": "object", "properties": {
            "role": { "type": "string", "enum": ["admin", "operator", "approver", "auditor"] },
            "environment": { "type": ["string", "null"], "description": "null: every environment" } } });
    schemas["GrantBody"] = json!({ "type": "object", "required": ["role"], "additionalProperties": false, "properties": {
            "role": { "type": "string", "enum": ["admin", "operator", "approver", "auditor"] },
            "environments": { "type": ["array", "null"], "items": { "type": "string" }, "description": "Leave out for every environment" } } });
    schemas["SetGrants"] = json!({ "type": "object", "required": ["grants"], "additionalProperties": false, "properties": {
            "grants": { "type": "array", "items": r("GrantBody") } } });
    schemas["Organization"] = json!({ "type": "object", "properties": {
            "id": { "type": "string" }, "name": { "type": "string" }, "created_at": ts } });
    schemas["CreateOrganization"] = json!({ "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$" },
            "admin_name": { "type": "string", "description": "The first admin's name (default admin)" } } });
    schemas["CreatedOrganization"] = json!({ "allOf": [r("Organization"), { "type": "object", "required": ["admin"], "properties": { "admin": r("CreatedOperator") } }] });
    schemas["CreatedOperator"] = json!({ "allOf": [r("Operator"), { "type": "object", "required": ["token"], "properties": { "token": { "type": "string", "description": "Shown once" } } }] });
}

/// Key rotation, stored bodies, provider tests and verification runs.
fn retention_schemas(schemas: &mut Value) {
    let ts = json!({ "type": "integer", "description": "Unix milliseconds" });
    schemas["ProviderTest"] = json!({ "type": "object", "required": ["provider", "model", "ok", "latency_ms", "time"], "properties": {
        "provider": { "type": "string" }, "model": { "type": "string" }, "ok": { "type": "boolean" },
        "status": { "type": ["integer", "null"], "description": "The upstream's HTTP status, when it answered" },
        "latency_ms": { "type": "integer" },
        "error": { "type": ["string", "null"], "description": "A status or error class; never the upstream's body" },
        "time": ts } });
    schemas["VerifyRun"] = json!({ "type": "object", "required": ["id", "env_id", "actor", "started_at", "duration_ms", "ok", "steps"], "properties": {
        "id": { "type": "string" }, "env_id": { "type": "string" },
        "actor": { "type": "string", "description": "The operator who started the run" },
        "started_at": ts, "duration_ms": { "type": "integer" },
        "ok": { "type": "boolean", "description": "Every step passed" },
        "steps": { "type": "array", "items": r("VerifyStep") } } });
    schemas["VerifyStep"] = json!({ "type": "object", "required": ["kind", "name", "ok", "duration_ms", "detail"], "properties": {
        "kind": { "type": "string", "enum": ["setup", "request", "fallback", "key_create", "key_rotate", "key_revoke", "provider_test", "request_lookup", "cleanup"] },
        "name": { "type": "string" }, "ok": { "type": "boolean" }, "duration_ms": { "type": "integer" },
        "detail": { "type": "string", "description": "What happened; key ids and prefixes only, never a key" },
        "request_id": { "type": "string", "description": "The gateway request the step made, when it made one" } } });
    schemas["RotateKey"] = json!({ "type": "object", "additionalProperties": false, "description": "Exactly one of overlap_s and overlap_minutes (0 to 30 days)", "properties": {
        "overlap_s": { "type": "integer", "minimum": 0 },
        "overlap_minutes": { "type": "integer", "minimum": 0 } } });
    schemas["RotatedKey"] = json!({ "allOf": [r("CreatedKey"), { "type": "object", "required": ["replaces"], "properties": { "replaces": r("Key") } }] });
    schemas["Review"] = json!({ "type": "object", "description": "See docs/schemas/review.schema.json for the full schema",
        "required": ["schema", "organization", "environment", "generated_at", "ready", "summary", "questions", "checklist"],
        "properties": { "schema": { "type": "string" }, "environment": { "type": "string" }, "ready": { "type": "boolean" },
            "questions": { "type": "array", "items": { "type": "object" } }, "checklist": { "type": "array", "items": { "type": "object" } } } });
    schemas["RequestBodies"] = json!({ "type": "object", "required": ["mode", "request_truncated", "response_truncated"], "properties": {
        "mode": { "type": "string", "enum": ["redacted", "full"] },
        "request": { "type": ["string", "null"], "description": "The body the client sent (never its headers), cut at 256 KiB" },
        "request_truncated": { "type": "boolean" },
        "response": { "type": ["string", "null"], "description": "The body the client received (a stream's events), cut at 256 KiB" },
        "response_truncated": { "type": "boolean" } } });
}

/// The console's session and overview schemas.
fn console_schemas(schemas: &mut Value) {
    let ts = json!({ "type": "integer", "description": "Unix milliseconds" });
    schemas["Session"] = json!({ "type": "object", "required": ["csrf_token", "expires_at", "operator"], "properties": {
        "csrf_token": { "type": ["string", "null"], "description": "Send as x-csrf-token on every state-changing request made with the session cookie; null for a Bearer caller, which needs none" },
        "expires_at": { "type": ["integer", "null"], "description": "Unix milliseconds; null for a Bearer caller" },
        "operator": r("Operator") } });
    schemas["EnvironmentStats"] = json!({ "type": "object", "properties": {
        "environment": { "type": "string" }, "window": { "type": "string" }, "since": ts, "until": ts,
        "bucket_ms": { "type": "integer" }, "truncated": { "type": "boolean" },
        "totals": r("StatsCounts"),
        "buckets": { "type": "array", "items": { "allOf": [r("StatsCounts"), { "type": "object", "properties": { "start": ts } }] } },
        "providers": { "type": "array", "items": { "type": "object", "properties": {
            "provider": { "type": "string" }, "requests": { "type": "integer" }, "server_errors": { "type": "integer" } } } } } });
    schemas["StatsCounts"] = json!({ "type": "object", "properties": {
        "requests": { "type": "integer" }, "client_errors": { "type": "integer" }, "server_errors": { "type": "integer" },
        "timeouts": { "type": "integer" }, "p50_ms": { "type": ["integer", "null"] }, "p95_ms": { "type": ["integer", "null"] },
        "cost_micros": { "type": "integer", "description": "micro-USD" } } });
}

fn alert_schemas(schemas: &mut Value) {
    let ts = json!({ "type": "integer", "description": "Unix milliseconds" });
    schemas["Alerts"] = json!({ "type": "object", "properties": {
        "environment": { "type": "string" }, "revision": { "type": ["integer", "null"] },
        "rules": { "type": "array", "items": r("AlertRule") },
        "destinations": { "type": "array", "items": { "type": "object", "properties": {
            "name": { "type": "string" }, "kind": { "type": "string", "enum": ["webhook", "slack"] },
            "url_from": { "type": "string", "enum": ["document", "secret"] }, "signed": { "type": "boolean" } } } },
        "problems": { "type": "array", "items": { "type": "string" } } } });
    schemas["AlertRule"] = json!({ "type": "object", "properties": {
        "name": { "type": "string" }, "signal": { "type": "string" }, "above": { "type": "number" },
        "for_s": { "type": "integer" }, "min_requests": { "type": "integer" }, "provider": { "type": ["string", "null"] },
        "notify": { "type": "array", "items": { "type": "string" } },
        "state": { "type": "string", "enum": ["ok", "firing", "unknown"] }, "value": { "type": ["number", "null"] },
        "since": { "type": ["integer", "null"] }, "evaluated_at": { "type": ["integer", "null"] } } });
    schemas["AlertEventPage"] = json!({ "type": "object", "properties": {
        "data": { "type": "array", "items": r("AlertEvent") }, "next_cursor": { "type": ["string", "null"] } } });
    schemas["AlertEvent"] = json!({ "type": "object", "properties": {
        "id": { "type": "string" }, "env_id": { "type": "string" }, "rule": { "type": "string" },
        "signal": { "type": "string" }, "state": { "type": "string", "enum": ["firing", "resolved"] },
        "value": { "type": ["number", "null"] }, "threshold": { "type": "number" }, "time": ts, "started_at": ts,
        "deliveries": { "type": "array", "items": { "type": "object", "properties": {
            "destination": { "type": "string" }, "kind": { "type": "string" }, "ok": { "type": "boolean" },
            "attempts": { "type": "integer" }, "status": { "type": ["integer", "null"] },
            "error": { "type": ["string", "null"] }, "at": ts } } } } });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every route the router serves is documented, and the document lists
    /// no route the router does not serve.
    #[test]
    fn document_matches_the_router() {
        let doc = build();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect();
        let served: BTreeSet<(String, String)> = crate::ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented, served);
    }

    #[test]
    fn every_reference_resolves() {
        let doc = build();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
