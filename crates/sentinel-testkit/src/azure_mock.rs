//! An in-process Azure OpenAI resource: `POST
//! /openai/deployments/{deployment}/chat/completions?api-version=…` (and
//! `/embeddings`) answering OpenAI JSON and SSE with Azure's additions
//! (`prompt_filter_results`, `content_filter_results`), and Azure's error
//! bodies: 401 for a missing or wrong `api-key` (or bearer token), 404
//! `Resource not found` for an unsupported `api-version`, 404
//! `DeploymentNotFound` for an unknown deployment, 400 `content_filter` with
//! its `innererror`. Calls are recorded.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// What credential the resource accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureAuth {
    /// `api-key: <key>`.
    ApiKey(String),
    /// `Authorization: Bearer <token>` (Microsoft Entra).
    Bearer(String),
}

/// How the mock answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureBehavior {
    /// Normal answers, with Azure's filter results.
    Normal,
    /// 400 `content_filter` with `innererror.content_filter_result`.
    ContentFilterPrompt,
    /// 200, the completion cut with `finish_reason: content_filter`.
    ContentFilterCompletion,
    /// This status with Azure's `{"error": {"code", "message"}}` body.
    Fail(u16),
}

/// One call the mock received.
#[derive(Debug, Clone)]
pub struct AzureCall {
    pub deployment: String,
    /// `chat/completions` or `embeddings`.
    pub operation: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl AzureCall {
    /// The request body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug)]
struct Shared {
    auth: AzureAuth,
    api_version: String,
    deployments: Vec<String>,
    calls: Mutex<Vec<AzureCall>>,
    behavior: Mutex<AzureBehavior>,
}

/// A running mock Azure OpenAI resource on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct MockAzure {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl MockAzure {
    /// Starts the mock: it accepts `auth`, `api_version` and the listed
    /// deployments.
    pub async fn start(auth: AzureAuth, api_version: &str, deployments: &[&str]) -> Self {
        let shared = Arc::new(Shared {
            auth,
            api_version: api_version.to_owned(),
            deployments: deployments.iter().map(|d| (*d).to_owned()).collect(),
            calls: Mutex::new(Vec::new()),
            behavior: Mutex::new(AzureBehavior::Normal),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let addr = crate::serve(app).await;
        Self { addr, shared }
    }

    /// The resource endpoint to configure as `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes how the following calls are answered.
    pub fn set_behavior(&self, behavior: AzureBehavior) {
        *self.shared.behavior.lock().expect("behavior lock") = behavior;
    }

    /// Calls that passed the path, api-version and credential checks.
    pub fn calls(&self) -> Vec<AzureCall> {
        self.shared.calls.lock().expect("calls lock").clone()
    }
}

fn azure_error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("apim-request-id", "mock-apim-error")],
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn filter_results(filtered_category: Option<&str>) -> Value {
    let mut results = json!({});
    for category in ["hate", "self_harm", "sexual", "violence"] {
        let hit = filtered_category == Some(category);
        results[category] = json!({"filtered": hit, "severity": if hit { "high" } else { "safe" }});
    }
    results
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parts: Vec<&str> = uri.path().split('/').collect();
    let (deployment, operation) = match parts.as_slice() {
        ["", "openai", "deployments", d, "chat", "completions"] => (*d, "chat/completions"),
        ["", "openai", "deployments", d, "embeddings"] => (*d, "embeddings"),
        _ => return azure_error(404, "404", "Resource not found"),
    };
    if method != Method::POST {
        return azure_error(405, "405", "Method not allowed");
    }
    let query = uri.query().unwrap_or("").to_owned();
    let version_ok = query
        .split('&')
        .any(|pair| pair == format!("api-version={}", shared.api_version));
    if !version_ok {
        return azure_error(404, "404", "Resource not found");
    }
    let authorized = match &shared.auth {
        AzureAuth::ApiKey(key) => {
            headers.get("api-key").and_then(|v| v.to_str().ok()) == Some(key.as_str())
        }
        AzureAuth::Bearer(token) => {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                == Some(format!("Bearer {token}").as_str())
        }
    };
    if !authorized {
        return azure_error(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
        );
    }
    if !shared.deployments.iter().any(|d| d == deployment) {
        return azure_error(
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
        );
    }
    shared.calls.lock().expect("calls lock").push(AzureCall {
        deployment: deployment.to_owned(),
        operation: operation.to_owned(),
        query,
        headers,
        body: body.clone(),
    });
    let behavior = shared.behavior.lock().expect("behavior lock").clone();
    match behavior {
        AzureBehavior::Fail(status) => {
            let mut response = azure_error(
                status,
                &status.to_string(),
                &format!("mock azure failure {status}"),
            );
            if status == 429 {
                // Azure sends both forms; the millisecond one is more precise.
                let headers = response.headers_mut();
                headers.insert("retry-after", header::HeaderValue::from_static("2"));
                headers.insert("retry-after-ms", header::HeaderValue::from_static("1500"));
            }
            return response;
        }
        AzureBehavior::ContentFilterPrompt => {
            let body = json!({"error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
                "type": null, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": filter_results(Some("violence"))}}});
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
        _ => {}
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"].as_str().unwrap_or("unknown").to_owned();
    if operation == "embeddings" {
        return axum::Json(json!({
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
            "model": model, "usage": {"prompt_tokens": 4, "total_tokens": 4},
        }))
        .into_response();
    }
    let filtered = behavior == AzureBehavior::ContentFilterCompletion;
    let finish = if filtered { "content_filter" } else { "stop" };
    let prompt_filter =
        json!([{"prompt_index": 0, "content_filter_results": filter_results(None)}]);
    if request["stream"] != json!(true) {
        return (
            [("apim-request-id", "mock-apim-1")],
            axum::Json(json!({
                "id": "chatcmpl-azure-1", "object": "chat.completion", "created": 1_700_000_000, "model": model,
                "prompt_filter_results": prompt_filter,
                "choices": [{"index": 0, "finish_reason": finish, "logprobs": null,
                    "message": {"role": "assistant", "content": if filtered { "Hello" } else { "Hello from Azure" }, "refusal": null},
                    "content_filter_results": filter_results(filtered.then_some("violence"))}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
            })),
        )
            .into_response();
    }
    let chunk = |choices: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-azure-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
                   "model": model, "choices": choices})
        )
    };
    let mut events = vec![
        format!(
            "data: {}\n\n",
            json!({"id": "", "object": "", "created": 0, "model": "", "choices": [], "prompt_filter_results": prompt_filter})
        ),
        chunk(
            json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        ),
        chunk(
            json!([{"index": 0, "delta": {"content": "Hello"}, "finish_reason": null,
            "content_filter_results": filter_results(None)}]),
        ),
    ];
    if !filtered {
        events.push(chunk(
            json!([{"index": 0, "delta": {"content": " from Azure"}, "finish_reason": null,
            "content_filter_results": filter_results(None)}]),
        ));
    }
    events.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": finish,
        "content_filter_results": filter_results(filtered.then_some("violence"))}]),
    ));
    events.push("data: [DONE]\n\n".to_owned());
    let stream = futures_util::stream::iter(
        events
            .into_iter()
            .map(|e| Ok::<_, std::convert::Infallible>(Bytes::from(e))),
    );
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header("apim-request-id", "mock-apim-1")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| azure_error(500, "500", "mock failure"))
}
