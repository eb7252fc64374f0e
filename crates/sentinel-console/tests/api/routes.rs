//! Fills every admin route (`sentinel_console::ROUTES`) with identifiers and
//! a body that passes validation, so the role matrix and the isolation proof
//! reach each handler's checks. A route added later without a body here
//! fails these tests until it gets one.

use serde_json::{Value, json};

use crate::support::VALID_DOC;

/// The identifiers a route is filled with.
#[derive(Debug, Clone)]
pub struct Ids {
    /// Environment name (`{env}`).
    pub env: String,
    /// Client key id (`{id}` under keys, and the key of policy explain).
    pub key: String,
    /// Request record id (`{id}` under requests).
    pub record: String,
    /// Operator id (`{id}` under operators).
    pub operator: String,
}

/// Routes every client may call without a token, and the console's
/// sign-in and sign-out (`/api/v1/session`, which take a token in the body
/// or a session cookie; `tests/api/session.rs` covers them).
pub fn is_public(path: &str) -> bool {
    !path.starts_with("/api/v1/") || path == "/api/v1/session"
}

/// The route's path with its parameters filled in.
pub fn path(route: &str, ids: &Ids) -> String {
    let id = if route.starts_with("/api/v1/operators/") {
        ids.operator.as_str()
    } else if route.contains("/changes/") {
        // Change requests are numbered per environment.
        "1"
    } else if route.starts_with("/api/v1/requests/") {
        ids.record.as_str()
    } else {
        ids.key.as_str()
    };
    route
        .replace("{env}", &ids.env)
        .replace("{id}", id)
        .replace("{name}", "openai")
        .replace("{n}", "1")
}

/// Query parameters a route requires.
pub fn required_query(route: &str) -> Option<&'static str> {
    route.starts_with("/api/v1/export/").then_some("since=0")
}

/// A body that passes the route's validation, for routes that take one.
pub fn body(method: &str, route: &str, ids: &Ids) -> Option<Value> {
    let body = match (method, route) {
        ("post", "/api/v1/operators") => json!({"name": "probe", "role": "auditor"}),
        ("put", "/api/v1/operators/{id}/grants") => json!({"grants": [{"role": "auditor"}]}),
        ("post", "/api/v1/operators/{id}/revoke") => return None,
        ("post", "/api/v1/orgs") => json!({"name": "probe-org"}),
        ("post", "/api/v1/environments") => json!({"name": "probe-env"}),
        ("patch", "/api/v1/environments/{env}") => json!({"hosts": []}),
        ("post", "/api/v1/environments/{env}/applications") => json!({"name": "probe-app"}),
        ("post", "/api/v1/environments/{env}/keys") => {
            json!({"application": "checkout", "name": "probe"})
        }
        ("post", "/api/v1/environments/{env}/keys/{id}/revoke") => return None,
        ("post", "/api/v1/environments/{env}/keys/{id}/rotate") => json!({"overlap_s": 60}),
        ("post", "/api/v1/environments/{env}/providers/test") => json!({}),
        ("post", "/api/v1/environments/{env}/verify") => return None,
        ("put", "/api/v1/environments/{env}/secrets/{name}") => {
            json!({"value": format!("sk-probe-put-{}", ids.env)})
        }
        ("post", "/api/v1/environments/{env}/secrets/{name}/rotate") => {
            json!({"value": format!("sk-probe-rotated-{}", ids.env)})
        }
        ("post", "/api/v1/environments/{env}/config") => {
            json!({"document": VALID_DOC, "message": "probe"})
        }
        ("post", "/api/v1/environments/{env}/config/plan") => json!({"document": VALID_DOC}),
        ("post", "/api/v1/environments/{env}/config/rollback") => json!({"to": 1}),
        ("post", "/api/v1/environments/{env}/changes/{id}/approve")
        | ("post", "/api/v1/environments/{env}/changes/{id}/apply") => return None,
        ("post", "/api/v1/environments/{env}/changes/{id}/reject") => {
            json!({"reason": "probe"})
        }
        ("post", "/api/v1/environments/{env}/promotions") => json!({"from": ids.env}),
        ("post", "/api/v1/environments/{env}/policy/explain") => {
            json!({"key": ids.key, "model": "chat-default"})
        }
        ("get", _) => return None,
        _ => panic!("{method} {route}: give this route a valid body in tests/api/routes.rs"),
    };
    Some(body)
}
