//! `GET /v1/models`: the models the caller's key may use: those the
//! environment serves that no enforced `allowed_models` rule refuses.

use axum::{
    Json,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{Gateway, GatewayError, pipeline};

pub(crate) async fn list(State(gw): State<Gateway>, request: Request) -> Response {
    let started = tokio::time::Instant::now();
    let mut record = pipeline::start_record(&gw, "models", crate::peer(&request));
    pipeline::trace_context(&gw, request.headers(), &mut record);
    let Some(snapshot) = gw.snapshot() else {
        let error = GatewayError::new(
            sentinel_core::ErrorCode::Unavailable,
            "the gateway is starting; retry shortly",
        );
        return pipeline::refuse(&gw, record, started, &error);
    };
    let (parts, _) = request.into_parts();
    let principal = match pipeline::identify::identify(&snapshot, &parts, record.time, &mut record)
    {
        Ok(p) => p,
        Err(error) => return pipeline::refuse(&gw, record, started, &error),
    };
    // Models an enforced `allowed_models` rule refuses are not the key's.
    let applicable = principal
        .env
        .policies
        .applicable(&principal.app_name, &principal.key_id);
    let data: Vec<_> = principal
        .env
        .models()
        .iter()
        .filter(|model| applicable.model_allowed(model))
        .map(|id| json!({ "id": id, "object": "model", "created": 0, "owned_by": "sentinel" }))
        .collect();
    record.status = 200;
    record.latency_ms = pipeline::millis(started);
    record.ttfb_ms = Some(record.latency_ms);
    record.config_revision = principal.env.revision;
    let id = record.id.clone();
    gw.records().submit(record);
    pipeline::stamp(
        Json(json!({ "object": "list", "data": data })).into_response(),
        &id,
    )
}
