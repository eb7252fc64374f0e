//! An in-process upstream that speaks OpenAI's wire format: JSON answers,
//! SSE streams framed as `data: {chunk}\n\n` ending in `data: [DONE]`, and
//! OpenAI-shaped error bodies. It records every call so tests can assert on
//! what Sentinel forwarded.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;

/// How the mock answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behavior {
    /// Normal answers.
    Normal,
    /// Streams send their first chunk, then wait for [`MockOpenAi::release`].
    HoldStreamAfterFirstChunk,
    /// Every call fails with this status and an OpenAI error body.
    Fail(u16),
}

/// One scripted answer; scripted answers are used in order, one per call,
/// before falling back to the [`Behavior`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A normal answer.
    Answer,
    /// An OpenAI error with this status, and `Retry-After` when given.
    Fail {
        status: u16,
        retry_after_s: Option<u64>,
    },
    /// Accept the request and never answer.
    Hang,
    /// Stream the first chunk, then go silent forever.
    StallAfterFirstChunk,
    /// Stream the first chunk, then break the connection.
    ResetAfterFirstChunk,
    /// Answer 200 `text/event-stream` with bytes that are not SSE, then close.
    Garbage,
}

/// One call the mock received.
#[derive(Debug, Clone)]
pub struct Captured {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Captured {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug)]
struct Shared {
    calls: Mutex<Vec<Captured>>,
    behavior: Mutex<Behavior>,
    script: Mutex<std::collections::VecDeque<Step>>,
    release: watch::Sender<bool>,
}

/// A running mock upstream on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct MockOpenAi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl MockOpenAi {
    /// Starts the mock on a free loopback port.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            calls: Mutex::new(Vec::new()),
            behavior: Mutex::new(Behavior::Normal),
            script: Mutex::new(std::collections::VecDeque::new()),
            release: watch::Sender::new(false),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .with_state(shared.clone());
        let addr = crate::serve(app).await;
        Self { addr, shared }
    }

    /// The base URL to configure, including `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn set_behavior(&self, behavior: Behavior) {
        *self.shared.behavior.lock().expect("behavior lock") = behavior;
    }

    /// Queues scripted answers for the next calls.
    pub fn script(&self, steps: impl IntoIterator<Item = Step>) {
        self.shared
            .script
            .lock()
            .expect("script lock")
            .extend(steps);
    }

    /// Lets held streams finish.
    pub fn release(&self) {
        self.shared.release.send_replace(true);
    }

    pub fn calls(&self) -> Vec<Captured> {
        self.shared.calls.lock().expect("calls lock").clone()
    }
}

fn capture(
    shared: &Shared,
    path: &str,
    headers: HeaderMap,
    body: Bytes,
) -> (Behavior, Option<Step>) {
    shared.calls.lock().expect("calls lock").push(Captured {
        path: path.to_owned(),
        headers,
        body,
    });
    let step = shared.script.lock().expect("script lock").pop_front();
    (shared.behavior.lock().expect("behavior lock").clone(), step)
}

/// Answers a scripted step that is not a normal answer.
async fn scripted(step: Step, first_chunk: String) -> Option<Response> {
    let sse = |body: Body| {
        Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(body)
            .unwrap_or_else(|_| error(500))
    };
    match step {
        Step::Answer => None,
        Step::Fail {
            status,
            retry_after_s,
        } => {
            let mut response = error(status);
            if let Some(s) = retry_after_s {
                response.headers_mut().insert(header::RETRY_AFTER, s.into());
            }
            Some(response)
        }
        Step::Hang => {
            std::future::pending::<()>().await;
            None
        }
        Step::StallAfterFirstChunk => Some(sse(Body::from_stream(
            futures_util::stream::once(
                async move { Ok::<_, Infallible>(Bytes::from(first_chunk)) },
            )
            .chain(futures_util::stream::pending()),
        ))),
        Step::ResetAfterFirstChunk => Some(sse(Body::from_stream(
            futures_util::stream::once(
                async move { Ok::<_, std::io::Error>(Bytes::from(first_chunk)) },
            )
            .chain(futures_util::stream::once(async {
                // Let the first chunk reach the client before the reset.
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                Err(std::io::Error::other("connection reset by mock"))
            })),
        ))),
        Step::Garbage => Some(sse(Body::from(Bytes::from_static(
            b"\x00\x01garbage{{{\n\nnot sse at all",
        )))),
    }
}

fn error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"error": {"message": format!("mock upstream failure {}", status.as_u16()),
        "type": "server_error", "param": null, "code": null}});
    (status, axum::Json(body)).into_response()
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (behavior, step) = capture(&shared, "/v1/chat/completions", headers, body.clone());
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"].as_str().unwrap_or("unknown").to_owned();
    if let Some(step) = step {
        let first = format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-upstream-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]})
        );
        if let Some(response) = scripted(step, first).await {
            return response;
        }
    } else if let Behavior::Fail(status) = behavior {
        return error(status);
    }
    if request["stream"] != json!(true) {
        let answer = json!({
            "id": "chatcmpl-upstream-1", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from upstream", "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
        });
        return ([("x-request-id", "upstream-req-1")], axum::Json(answer)).into_response();
    }
    let include_usage = request.pointer("/stream_options/include_usage") == Some(&json!(true));
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-upstream-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
                   "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        )
    };
    let mut rest = vec![
        chunk(json!({"content": "Hello"}), Value::Null),
        chunk(json!({"content": " from upstream"}), Value::Null),
        chunk(json!({}), json!("stop")),
    ];
    if include_usage {
        rest.push(format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-upstream-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
                   "model": model, "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}})
        ));
    }
    rest.push("data: [DONE]\n\n".to_owned());
    let first = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    let hold = behavior == Behavior::HoldStreamAfterFirstChunk;
    let stream = async_stream(first, rest, hold, shared);
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| error(500))
}

fn async_stream(
    first: String,
    rest: Vec<String>,
    hold: bool,
    shared: Arc<Shared>,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::unfold(
        (0usize, first, rest, hold, shared),
        |(i, first, rest, hold, shared)| async move {
            if i == 0 {
                return Some((
                    Ok(Bytes::from(first.clone())),
                    (1, first, rest, hold, shared),
                ));
            }
            if i == 1 && hold {
                // Wait until the test has seen the first chunk at the client.
                let mut released = shared.release.subscribe();
                let _ = released.wait_for(|r| *r).await;
            }
            let item = rest.get(i - 1)?.clone();
            Some((Ok(Bytes::from(item)), (i + 1, first, rest, hold, shared)))
        },
    )
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (behavior, step) = capture(&shared, "/v1/embeddings", headers, body.clone());
    if let Some(step) = step {
        if let Some(response) = scripted(step, String::new()).await {
            return response;
        }
    } else if let Behavior::Fail(status) = behavior {
        return error(status);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    axum::Json(json!({
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
        "model": request["model"],
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }))
    .into_response()
}
