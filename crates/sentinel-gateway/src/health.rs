//! `/healthz` (the process is up) and `/readyz` (it can serve: snapshot
//! loaded, store answering, record writer keeping up).

use std::{sync::atomic::Ordering, time::Duration};

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;

use crate::Gateway;

pub(crate) async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub(crate) async fn readyz(State(gw): State<Gateway>) -> impl IntoResponse {
    let (status, body) = readiness(&gw).await;
    (status, Json(body))
}

/// The readiness report shared by both listeners.
pub async fn readiness(gw: &Gateway) -> (StatusCode, serde_json::Value) {
    let snapshot = gw.snapshot();
    let snapshot_ok = snapshot.is_some();
    let store_ok = matches!(
        tokio::time::timeout(Duration::from_secs(2), gw.store().ping()).await,
        Ok(Ok(()))
    );
    let records = gw.records();
    let writer_ok = !records.backed_up();
    // Unreachable counters make the replica unready only where an
    // environment refuses what it cannot count (`on_counter_failure:
    // closed`); elsewhere requests go through uncounted and this says so.
    let counters = gw.counters().health();
    let fail_closed = snapshot.as_ref().is_some_and(|s| s.any_env_fails_closed());
    let counters_ok = counters.ok || !fail_closed;
    let ready = snapshot_ok && store_ok && writer_ok && counters_ok;
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "components": {
            "snapshot": match &snapshot {
                Some(s) => json!({ "state": "loaded", "generation": s.generation, "environments": s.env_count(),
                                   "keys": s.key_count(), "problems": s.problems }),
                None => json!({ "state": "not_loaded" }),
            },
            "store": { "state": if store_ok { "ok" } else { "unreachable" }, "backend": gw.store().backend_name() },
            "record_writer": {
                "state": if writer_ok { "ok" } else { "backed_up" },
                "backlog": records.backlog(),
                "capacity": records.stats().capacity,
                "written": records.stats().written.load(Ordering::Relaxed),
                "dropped": records.stats().dropped.load(Ordering::Relaxed),
            },
            "traces": match records.traces() {
                Some(traces) => json!({ "state": "exporting", "spans": traces.stats().to_json() }),
                None => json!({ "state": "off" }),
            },
            "counters": {
                "state": if counters.ok { "ok" } else if fail_closed { "unreachable" } else { "degraded" },
                "backend": counters.backend,
                "last_error": counters.last_error,
                "policy": gw.policy_stats().to_json(),
            },
        }
    });
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        body,
    )
}
