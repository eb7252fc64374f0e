//! The request path for model APIs, one stage per module, read top to
//! bottom in [`handle`]:
//!
//! 1. accept — body-size limit (headers and read time are the listener's job)
//! 2. identify — key → principal, environment from host
//! 3. decode — JSON → model, stream flag, raw fields
//! 4. policy — the rules of the applicable scopes (content rules may
//!    redact the prompt), then rate limits and a budget reservation
//!    (taken after routing, which prices the worst case)
//! 5. route and dispatch — attempts, retries and fallbacks
//! 6. respond — pass the answer through, streaming chunk by chunk
//! 7. record — the request record, with its cost from the target's price,
//!    goes to the asynchronous writer

pub(crate) mod decode;
mod dispatch;
mod guard;
pub(crate) mod identify;
mod messages;
pub(crate) mod policy;
#[cfg(any(test, feature = "bench"))]
pub(crate) mod scripted;
mod stream;
mod usage;

use std::net::SocketAddr;

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::Response,
};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sentinel_core::{ErrorCode, RecordBodies, RequestRecord};
use sentinel_providers::{Operation, UpstreamBody, UpstreamRequest, anthropic_ingress};
use tokio::time::Instant;
use tracing::Instrument as _;

use self::{decode::ModelRequest, stream::RecordedStream};
use crate::{
    Gateway,
    error::{ClientApi, GatewayError},
    sse::SseTap,
};
pub(crate) use stream::millis;

/// The response header that carries the request id, on every response.
pub const REQUEST_ID_HEADER: &str = "x-sentinel-request-id";

/// A new request's id and record.
pub(crate) fn start_record(gw: &Gateway, ingress: &str, peer: Option<SocketAddr>) -> RequestRecord {
    RequestRecord {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: gw
            .snapshot()
            .and_then(|s| s.default_org_id.clone())
            .unwrap_or_default(),
        time: crate::unix_millis(),
        ingress: ingress.to_owned(),
        client_addr: peer.map(|p| address_text(p.ip())),
        ..RequestRecord::default()
    }
}

/// `ip` as its `Display` writes it. An IPv4 address is written digit by
/// digit: its `Display` formats into a buffer and then pads that, about 1%
/// of the instructions of a whole proxied request.
fn address_text(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

/// Notes the caller's W3C trace context on the record or, when traces are
/// exported, starts a new trace.
pub(crate) fn trace_context(
    gw: &Gateway,
    headers: &axum::http::HeaderMap,
    record: &mut RequestRecord,
) {
    let incoming = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(sentinel_telemetry::TraceContext::parse);
    match incoming {
        Some(context) => {
            record.trace_id = Some(context.trace_id);
            record.parent_span_id = Some(context.parent_span_id);
        }
        None if gw.records().traces().is_some() => {
            record.trace_id = Some(sentinel_telemetry::new_trace_id());
        }
        None => {}
    }
}

/// Stamps the request id on a response.
pub(crate) fn stamp(mut response: Response, request_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    response
}

/// One dispatch of an empty chat request, for the in-process benchmarks.
#[cfg(feature = "bench")]
pub(crate) async fn dispatch_for_bench(
    route: &crate::snapshot::Route,
    record: &mut RequestRecord,
) -> bool {
    dispatch::dispatch(
        route,
        |_| {
            Ok(sentinel_providers::UpstreamRequest {
                operation: Operation::ChatCompletions,
                body: Bytes::new(),
                stream: false,
                client_headers: Default::default(),
            })
        },
        record,
        Instant::now(),
        false,
    )
    .await
    .is_ok()
}

/// The model APIs the gateway accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ingress {
    ChatCompletions,
    Embeddings,
    /// Anthropic's `POST /v1/messages`: native to providers that support
    /// it, translated to and from chat completions for the others.
    AnthropicMessages,
}

impl Ingress {
    /// The operation of an OpenAI-format request (`/v1/messages` chooses
    /// per target, see [`messages`]).
    fn operation(self) -> Operation {
        match self {
            Self::Embeddings => Operation::Embeddings,
            Self::ChatCompletions | Self::AnthropicMessages => Operation::ChatCompletions,
        }
    }

    fn api(self) -> ClientApi {
        match self {
            Self::AnthropicMessages => ClientApi::Anthropic,
            _ => ClientApi::OpenAi,
        }
    }

    fn as_str(self) -> &'static str {
        self.policy_api().as_str()
    }

    fn policy_api(self) -> sentinel_policy::Api {
        match self {
            Self::ChatCompletions => sentinel_policy::Api::ChatCompletions,
            Self::Embeddings => sentinel_policy::Api::Embeddings,
            Self::AnthropicMessages => sentinel_policy::Api::AnthropicMessages,
        }
    }
}

/// Finishes a refused request: record it and answer with the error.
pub(crate) fn refuse(
    gw: &Gateway,
    record: RequestRecord,
    started: Instant,
    error: &GatewayError,
) -> Response {
    refuse_as(gw, record, started, error, ClientApi::OpenAi)
}

/// [`refuse`], with the error in the client API's shape.
fn refuse_as(
    gw: &Gateway,
    mut record: RequestRecord,
    started: Instant,
    error: &GatewayError,
    api: ClientApi,
) -> Response {
    record.status = error.code.status();
    record.error_code = Some(error.code.as_str().to_owned());
    record.error_detail = error.detail.clone().or_else(|| Some(error.message.clone()));
    record.latency_ms = millis(started);
    record.ttfb_ms = Some(record.latency_ms);
    let id = record.id.clone();
    gw.records().submit(record);
    let doc_url = gw.doc_url(error.code);
    stamp(error.to_response_linked(api, &id, doc_url.as_deref()), &id)
}

/// Handles one model-API request.
pub(crate) async fn handle(gw: Gateway, ingress: Ingress, request: Request) -> Response {
    let started = Instant::now();
    let mut record = start_record(&gw, ingress.as_str(), crate::peer(&request));
    trace_context(&gw, request.headers(), &mut record);
    let verification = request.extensions().get::<crate::Verification>().is_some();
    // Every line logged for this request, its stream included, carries its id.
    let span = tracing::info_span!("request", request_id = %record.id);
    let outcome = run(&gw, ingress, request, &mut record, started)
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    // `sentinel verify` reads the attempts from the response, in-process.
    let attempts = verification.then(|| crate::VerifiedAttempts(record.attempts.clone()));
    let mut response = match outcome {
        Ok(Reply::Complete(response)) => {
            record.latency_ms = millis(started);
            record.ttfb_ms = Some(record.latency_ms);
            let id = record.id.clone();
            gw.records().submit(record);
            stamp(response, &id)
        }
        Ok(Reply::Streaming(response, id)) => stamp(response, &id),
        Err(error) => refuse_as(&gw, record, started, &error, ingress.api()),
    };
    if let Some(attempts) = attempts {
        response.extensions_mut().insert(attempts);
    }
    response
}

enum Reply {
    /// The record on the caller's side is filled in; submit it.
    Complete(Response),
    /// The record moved into the stream, which submits it when it ends.
    Streaming(Response, String),
}

async fn run(
    gw: &Gateway,
    ingress: Ingress,
    request: Request,
    record: &mut RequestRecord,
    started: Instant,
) -> Result<Reply, GatewayError> {
    let snapshot = gw.snapshot().ok_or_else(|| {
        GatewayError::new(
            ErrorCode::Unavailable,
            "the gateway is starting; retry shortly",
        )
        .with_retry_after(1)
    })?;
    let source_ip = crate::peer(&request).map(|p| p.ip());
    let (parts, body) = request.into_parts();

    // identify
    let principal = identify::identify(&snapshot, &parts, record.time, record)?;
    let policies = principal.env.policies.clone();
    let applicable = policies.applicable(&principal.app_name, &principal.key_id);

    // accept: bounded body (a policy may bound it tighter)
    let limit = policy::body_limit(&applicable, gw.max_body_bytes());
    let body = read_body(body, limit).await.map_err(|error| {
        if error.code == ErrorCode::PayloadTooLarge && limit < gw.max_body_bytes() {
            policy::body_refused(gw, &applicable, limit, error, record)
        } else {
            error
        }
    })?;
    policy::note_request(record, &parts.headers, body.len());
    // Bodies are kept only when the environment says so: the request body
    // is shared, not copied; headers (the client's key) are never kept.
    record.bodies = RecordBodies::start(principal.env.retention.bodies);
    if let Some(bodies) = record.bodies.as_mut() {
        bodies.set_request(&body);
    }

    // decode (an Anthropic body has `model` and `stream` too; it is
    // translated per target at dispatch, when the target is not native)
    let mut request = ModelRequest::decode(body).map_err(|e| {
        let code = match e {
            decode::DecodeError::Json(_) | decode::DecodeError::NotAnObject => {
                ErrorCode::InvalidJson
            }
            _ => ErrorCode::InvalidRequest,
        };
        GatewayError::new(code, e.to_string())
    })?;
    record.requested_model = Some(request.model.clone());
    record.stream = request.stream;
    // Read once: the record, the rules and the reservation all use it.
    let max_tokens = policy::requested_max_tokens(&request);
    record.max_tokens = max_tokens.and_then(|n| i64::try_from(n).ok());

    // policy: rules, then content
    let api = ingress.policy_api();
    if !applicable.is_empty() {
        policy::check_rules(
            gw,
            &applicable,
            api,
            &request,
            &parts.headers,
            source_ip,
            record,
        )?;
        request = policy::apply_content(gw, &applicable, request, record)?;
    }
    // Every OpenAI stream asks for usage; a client that did not ask never
    // sees it. (Anthropic streams always report usage.)
    let strip_usage = ingress != Ingress::AnthropicMessages
        && request.stream
        && request.ensure_stream_usage()
        && ingress == Ingress::ChatCompletions;

    // route
    let env = &principal.env;
    record.config_revision = env.revision;
    let route = env.route(&request.model).ok_or_else(|| {
        let available = env.models().join(", ");
        GatewayError::new(
            ErrorCode::ModelNotFound,
            format!(
                "model {:?} is not served in environment {}; available models: {}",
                request.model,
                env.name,
                if available.is_empty() {
                    "none"
                } else {
                    &available
                }
            ),
        )
    })?;
    let (route, canary) = route.for_request(&principal.app_name, crate::random());
    record.route_plan = Some(route.plan.clone());
    if canary {
        record.route_variant = Some("canary".to_owned());
    }

    // policy: rate limits and the budget reservation
    let grant = if applicable.is_empty() {
        policy::Grant::default()
    } else {
        let demand = policy::demand(&applicable, api, &request, max_tokens, route);
        policy::admit(
            gw,
            &applicable,
            &principal,
            policies.on_counter_failure(),
            demand,
            record,
        )
        .await?
    };
    let policy::Grant {
        mut settlement,
        headers: rate_headers,
    } = grant;

    // dispatch: attempts, retries and fallbacks
    tracing::debug!(
        request_id = %record.id, key_id = %principal.key_id, app_id = %principal.app_id,
        model = %request.model, plan = %route.plan, "dispatching"
    );
    let messages = (ingress == Ingress::AnthropicMessages)
        .then(|| messages::Messages::new(&request, route, &parts.headers));
    let operation = ingress.operation();
    let committed = dispatch::dispatch(
        route,
        |target| match &messages {
            Some(messages) => messages.request_for(target),
            None => Ok(UpstreamRequest {
                operation,
                body: request.body_for(&target.upstream_model),
                stream: request.stream,
                client_headers: Default::default(),
            }),
        },
        record,
        started,
        parts.extensions.get::<crate::ForceFallback>().is_some(),
    )
    .await;
    let committed = match committed {
        Ok(committed) => committed,
        Err(error) => {
            if let Some(settlement) = settlement.take() {
                settlement.finish(record);
            }
            return Err(error);
        }
    };
    // A native answer is already in the client's format.
    let native = committed.operation == Operation::AnthropicMessages;
    let response = committed.response;

    // respond
    record.status = response.status;
    let content_type = response
        .content_type
        .unwrap_or_else(|| "application/json".to_owned());
    match response.body {
        UpstreamBody::Full(mut body) => {
            let usage = if native {
                crate::sse::anthropic_usage(&body)
            } else {
                usage::of_answer(&body)
            };
            if let Some(usage) = usage {
                record.prompt_tokens = usage.prompt_tokens;
                record.completion_tokens = usage.completion_tokens;
                record.total_tokens = usage.total_tokens;
            }
            record.set_cost(
                committed
                    .target
                    .price
                    .as_ref()
                    .map(|(p, source)| (p, *source)),
                operation == Operation::Embeddings,
            );
            if let Some(settlement) = settlement.take() {
                settlement.finish(record);
            }
            if ingress == Ingress::AnthropicMessages && !native {
                body = chat_to_anthropic(&body)?;
            }
            if let Some(bodies) = record.bodies.as_mut() {
                bodies.set_response(&body);
            }
            let mut response = Response::builder()
                .status(response.status)
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .map_err(|e| {
                    GatewayError::new(ErrorCode::Internal, "could not build the response")
                        .with_detail(e.to_string())
                })?;
            response.headers_mut().extend(rate_headers);
            Ok(Reply::Complete(response))
        }
        UpstreamBody::Stream(stream) => {
            let encoder: Option<Box<dyn sentinel_providers::stream::StreamTranslator>> =
                match ingress {
                    Ingress::AnthropicMessages if native => None,
                    Ingress::AnthropicMessages => Some(Box::new(
                        anthropic_ingress::MessagesStreamTranslator::new()
                            .with_model(request.model.clone()),
                    )),
                    _ if strip_usage => Some(Box::new(usage::UsageStripper::default())),
                    _ => None,
                };
            let id = record.id.clone();
            let record = std::mem::take(record);
            let target = committed.target;
            let body = Body::from_stream(
                RecordedStream::new(
                    stream,
                    record,
                    started,
                    gw.records().clone(),
                    stream::BreakerReport {
                        endpoint: target.endpoint.clone(),
                        key: target.key.clone(),
                        probe: committed.probe,
                    },
                    encoder,
                    ingress.api(),
                )
                .with_tap(if native {
                    SseTap::anthropic()
                } else {
                    SseTap::default()
                })
                .with_price(target.price)
                .with_settlement(settlement),
            );
            let mut response = Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header(header::CACHE_CONTROL, "no-cache")
                .header("x-accel-buffering", "no")
                .body(body)
                .map_err(|e| {
                    GatewayError::new(ErrorCode::Internal, "could not build the response")
                        .with_detail(e.to_string())
                })?;
            response.headers_mut().extend(rate_headers);
            Ok(Reply::Streaming(response, id))
        }
    }
}

/// A complete OpenAI answer as an Anthropic Messages response.
fn chat_to_anthropic(body: &[u8]) -> Result<Bytes, GatewayError> {
    let message = anthropic_ingress::to_messages_response(body).map_err(|e| {
        GatewayError::new(
            ErrorCode::UpstreamError,
            "the provider's answer could not be translated",
        )
        .with_detail(e.to_string())
    })?;
    Ok(Bytes::from(message.to_string()))
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(GatewayError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        )),
        Err(error) => Err(GatewayError::new(
            ErrorCode::InvalidRequest,
            "could not read the request body",
        )
        .with_detail(error.to_string())),
    }
}

/// What the client sees when the provider answered with an error status.
///
/// Upstream bodies are not passed through (they can echo credentials or
/// internal detail); for requests the provider judged invalid, only its
/// error message is relayed, because the client needs it to fix the request.
pub(crate) fn upstream_failure(status: u16, body: &[u8], provider: &str) -> GatewayError {
    let upstream_message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        });
    let detail = format!(
        "provider {provider} answered {status}: {}",
        upstream_message.as_deref().unwrap_or("(no error message)")
    );
    let error = match status {
        401 | 403 => GatewayError::new(
            ErrorCode::UpstreamError,
            format!(
                "provider {provider} refused Sentinel's credential; an operator must check its secret"
            ),
        ),
        429 => GatewayError::new(
            ErrorCode::RateLimited,
            format!("provider {provider} is rate limiting requests; retry later"),
        )
        .with_retry_after(1),
        400..=499 => {
            let mut message: String = upstream_message
                .unwrap_or_else(|| "no message".to_owned())
                .chars()
                .take(1000)
                .collect();
            message.insert_str(
                0,
                &format!("provider {provider} rejected the request ({status}): "),
            );
            GatewayError::new(ErrorCode::InvalidRequest, message)
        }
        _ => GatewayError::new(
            ErrorCode::UpstreamError,
            format!("provider {provider} failed with status {status}"),
        ),
    };
    error.with_detail(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_display_writes_them() {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        for octet in 0..=255u8 {
            for ip in [
                Ipv4Addr::new(octet, 0, 9, 255),
                Ipv4Addr::new(10, octet, 100, 1),
                Ipv4Addr::new(255, 99, octet, 10),
                Ipv4Addr::new(1, 200, 0, octet),
            ] {
                assert_eq!(address_text(IpAddr::V4(ip)), ip.to_string());
            }
        }
        for ip in [
            Ipv6Addr::LOCALHOST,
            "2001:db8::1".parse().unwrap(),
            "::ffff:192.0.2.1".parse().unwrap(),
        ] {
            assert_eq!(address_text(IpAddr::V6(ip)), ip.to_string());
        }
    }

    #[test]
    fn upstream_statuses_map_to_client_codes() {
        let body =
            br#"{"error":{"message":"max_tokens is too large","type":"invalid_request_error"}}"#;
        let e = upstream_failure(400, body, "p");
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.message.contains("max_tokens is too large"));
        assert_eq!(
            upstream_failure(401, b"{}", "p").code,
            ErrorCode::UpstreamError
        );
        assert_eq!(upstream_failure(429, b"", "p").code, ErrorCode::RateLimited);
        assert_eq!(
            upstream_failure(503, b"<html>", "p").code,
            ErrorCode::UpstreamError
        );
        assert!(
            !upstream_failure(401, br#"{"error":{"message":"bad key sk-123"}}"#, "p")
                .message
                .contains("sk-123")
        );
    }
}
