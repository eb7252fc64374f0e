//! An in-process upstream that speaks Anthropic's Messages API
//! (`POST /v1/messages`) and checks requests the way the real API does:
//! `x-api-key` must equal the configured key (401 `authentication_error`
//! otherwise), `anthropic-version` must be present, the body must be JSON
//! with `model`, `max_tokens` and `messages` and no field the API does not
//! know (400 `invalid_request_error` otherwise). Answers are scripted per
//! call (JSON messages, SSE streams with the real event sequence, error
//! bodies with `request_id`, `retry-after` on 429); without a script it
//! answers a short text message. Every call is recorded.

use std::{
    collections::VecDeque,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

/// The top-level request fields the Messages API accepts.
const KNOWN_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
];

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 200 with this Messages response body.
    Message(Value),
    /// 200 with an SSE stream of these `(event name, data)` pairs.
    Stream(Vec<(String, Value)>),
    /// An Anthropic error body: status, error type, message; `retry_after`
    /// (seconds) becomes a `retry-after` header.
    Error {
        status: u16,
        kind: String,
        message: String,
        retry_after: Option<u64>,
    },
}

impl Reply {
    /// A complete text message.
    pub fn text(model: &str, text: &str) -> Self {
        Self::Message(json!({
            "id": "msg_mock_01", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 11, "output_tokens": 3},
        }))
    }

    /// A message that calls one tool.
    pub fn tool_use(model: &str, id: &str, name: &str, input: Value) -> Self {
        Self::Message(json!({
            "id": "msg_mock_02", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "tool_use", "id": id, "name": name, "input": input}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 40, "output_tokens": 12},
        }))
    }

    /// The documented event sequence for a text answer streamed in `pieces`.
    pub fn text_stream(model: &str, pieces: &[&str]) -> Self {
        let mut events = vec![
            message_start(model, 11),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            event("ping", json!({"type": "ping"})),
        ];
        for piece in pieces {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
            ));
        }
        events.extend(stream_end(0, "end_turn", pieces.len() as u64));
        Self::Stream(events)
    }

    /// The documented event sequence for one streamed tool call whose JSON
    /// input arrives in `json_pieces`.
    pub fn tool_use_stream(model: &str, id: &str, name: &str, json_pieces: &[&str]) -> Self {
        let mut events = vec![
            message_start(model, 40),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
            ),
        ];
        for piece in json_pieces {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        events.extend(stream_end(0, "tool_use", 12));
        Self::Stream(events)
    }

    /// A stream that starts a text answer, then fails with an `error` event.
    pub fn stream_then_error(model: &str, kind: &str, message: &str) -> Self {
        Self::Stream(vec![
            message_start(model, 11),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Partial"}}),
            ),
            event(
                "error",
                json!({"type": "error", "error": {"type": kind, "message": message}}),
            ),
        ])
    }

    /// An error answer without `retry-after`.
    pub fn error(status: u16, kind: &str, message: &str) -> Self {
        Self::Error {
            status,
            kind: kind.to_owned(),
            message: message.to_owned(),
            retry_after: None,
        }
    }
}

fn event(name: &str, data: Value) -> (String, Value) {
    (name.to_owned(), data)
}

fn message_start(model: &str, input_tokens: u64) -> (String, Value) {
    event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": "msg_mock_stream", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
    )
}

fn stream_end(index: u64, stop_reason: &str, output_tokens: u64) -> Vec<(String, Value)> {
    vec![
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ),
        event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                   "usage": {"output_tokens": output_tokens}}),
        ),
        event("message_stop", json!({"type": "message_stop"})),
    ]
}

/// One call the mock received, valid or not.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Captured {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug)]
struct Shared {
    api_key: String,
    calls: Mutex<Vec<Captured>>,
    script: Mutex<VecDeque<Reply>>,
    next_id: AtomicU64,
}

/// A running mock Anthropic API on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct MockAnthropic {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl MockAnthropic {
    /// Starts the mock on a free loopback port, accepting `api_key`.
    pub async fn start(api_key: &str) -> Self {
        let shared = Arc::new(Shared {
            api_key: api_key.to_owned(),
            calls: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
        });
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .fallback(not_found)
            .with_state(shared.clone());
        let addr = crate::serve(app).await;
        Self { addr, shared }
    }

    /// The base URL to configure (Sentinel appends `/v1/messages`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues the answer for the next valid call.
    pub fn push(&self, reply: Reply) {
        self.shared
            .script
            .lock()
            .expect("script lock")
            .push_back(reply);
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<Captured> {
        self.shared.calls.lock().expect("calls lock").clone()
    }
}

fn request_id(shared: &Shared) -> String {
    format!(
        "req_mock_{:04}",
        shared.next_id.fetch_add(1, Ordering::Relaxed)
    )
}

fn error_response(
    status: u16,
    kind: &str,
    message: &str,
    request_id: &str,
    retry_after: Option<u64>,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id});
    let mut response = (
        status,
        [("request-id", request_id.to_owned())],
        axum::Json(body),
    )
        .into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", header::HeaderValue::from(seconds));
    }
    response
}

async fn not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.calls.lock().expect("calls lock").push(Captured {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let id = request_id(&shared);
    error_response(404, "not_found_error", "Not found", &id, None)
}

/// Why the real API would refuse this request, if it would.
fn refusal(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<(u16, &'static str, String)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-api-key") != Some(shared.api_key.as_str()) {
        return Some((401, "authentication_error", "invalid x-api-key".into()));
    }
    if header("anthropic-version").is_none() {
        return Some((
            400,
            "invalid_request_error",
            "anthropic-version: header is required".into(),
        ));
    }
    if !header("content-type").is_some_and(|t| t.starts_with("application/json")) {
        return Some((
            400,
            "invalid_request_error",
            "content-type must be application/json".into(),
        ));
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Some((
            400,
            "invalid_request_error",
            "the request body is not valid JSON".into(),
        ));
    };
    for required in ["model", "max_tokens", "messages"] {
        if !fields.contains_key(required) {
            return Some((
                400,
                "invalid_request_error",
                format!("{required}: Field required"),
            ));
        }
    }
    if let Some(extra) = fields.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        return Some((
            400,
            "invalid_request_error",
            format!("{extra}: Extra inputs are not permitted"),
        ));
    }
    None
}

async fn messages(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.calls.lock().expect("calls lock").push(Captured {
        method: Method::POST,
        path: "/v1/messages".to_owned(),
        headers: headers.clone(),
        body: body.clone(),
    });
    let id = request_id(&shared);
    if let Some((status, kind, message)) = refusal(&shared, &headers, &body) {
        return error_response(status, kind, &message, &id, None);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"]
        .as_str()
        .unwrap_or("claude-mock")
        .to_owned();
    let streaming = request["stream"] == json!(true);
    let scripted = shared.script.lock().expect("script lock").pop_front();
    let reply = scripted.unwrap_or_else(|| {
        if streaming {
            Reply::text_stream(&model, &["Hello", " from Claude"])
        } else {
            Reply::text(&model, "Hello from Claude")
        }
    });
    match reply {
        Reply::Message(message) => ([("request-id", id)], axum::Json(message)).into_response(),
        Reply::Stream(events) => {
            let frames: Vec<Result<Bytes, Infallible>> = events
                .into_iter()
                .map(|(name, data)| Ok(Bytes::from(format!("event: {name}\ndata: {data}\n\n"))))
                .collect();
            Response::builder()
                .status(200)
                .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
                .header("request-id", id.as_str())
                .body(Body::from_stream(futures_util::stream::iter(frames)))
                .unwrap_or_else(|_| error_response(500, "api_error", "mock failure", &id, None))
        }
        Reply::Error {
            status,
            kind,
            message,
            retry_after,
        } => error_response(status, &kind, &message, &id, retry_after),
    }
}
