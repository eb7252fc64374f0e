//! The gateway as `sentinel verify` drives it from the console: requests
//! go through the gateway's own router in-process (`tower::ServiceExt::
//! oneshot`), never over a socket, carrying the in-process
//! [`Verification`] extension (and [`ForceFallback`] when asked), which no
//! outside client can set.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Method, Request, header},
};
use sentinel_console::{
    GatewayAnswer, GatewayCall, KeyInSnapshot, ServedPlan, ServedPlans, VerifyGateway,
};
use sentinel_gateway::{ForceFallback, Gateway, Verification, VerifiedAttempts};
use tower::ServiceExt as _;

/// The most of a gateway answer the run reads.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// `sentinel verify`'s view of `gateway`.
pub(crate) fn verify_gateway(gateway: &Gateway) -> VerifyGateway {
    let plans_gateway = gateway.clone();
    let key_gateway = gateway.clone();
    let router = gateway.router();
    VerifyGateway {
        plans: Arc::new(move |env_id| {
            let (hosts, plans) = plans_gateway.verify_plans(env_id)?;
            Ok(ServedPlans {
                hosts,
                plans: plans
                    .into_iter()
                    .map(|p| ServedPlan {
                        plan: p.plan,
                        model: p.model,
                        targets: p.targets,
                    })
                    .collect(),
            })
        }),
        key: Arc::new(move |id| match key_gateway.key_in_snapshot(id) {
            None => KeyInSnapshot::Unknown,
            Some(true) => KeyInSnapshot::Accepted,
            Some(false) => KeyInSnapshot::Refused,
        }),
        send: Arc::new(move |call| {
            let router = router.clone();
            Box::pin(async move { send(router, call).await })
        }),
    }
}

async fn send(router: Router, call: GatewayCall) -> Result<GatewayAnswer, String> {
    let (method, uri, body) = match &call.body {
        Some(body) => (
            Method::POST,
            "/v1/chat/completions",
            Body::from(body.to_string()),
        ),
        None => (Method::GET, "/v1/models", Body::empty()),
    };
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", call.key.expose()),
        )
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(host) = &call.host {
        request = request.header(header::HOST, host);
    }
    let mut request = request
        .body(body)
        .map_err(|e| format!("could not build the request: {e}"))?;
    let extensions = request.extensions_mut();
    extensions.insert(ConnectInfo(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))));
    extensions.insert(Verification);
    if call.force_fallback {
        extensions.insert(ForceFallback);
    }
    let Ok(response) = router.oneshot(request).await;
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get(sentinel_gateway::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let attempts = response
        .extensions()
        .get::<VerifiedAttempts>()
        .map(|a| a.0.clone())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
        .await
        .map_err(|e| format!("could not read the gateway's answer: {e}"))?;
    Ok(GatewayAnswer {
        status,
        request_id,
        body: body.to_vec(),
        attempts,
    })
}
