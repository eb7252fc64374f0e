//! In-process Google upstreams that speak the real wire formats: a Gemini
//! API server ([`MockGemini`]) and a Vertex AI server with its own OAuth2
//! token endpoint ([`MockVertex`]). Both check what a real server checks
//! (path, credentials, `alt=sse` on streams, body shape), answer in Google's
//! documented format (JSON, SSE streams, `{"error": {"code", "message",
//! "status"}}` bodies) and record every call.
//!
//! The token endpoint verifies each JWT assertion's RS256 signature with the
//! public half of a test-only key pair (`fixtures/test-only-google-sa-key*`)
//! and checks its `iss`, `aud`, `scope`, `iat` and `exp`.
//!
//! Answers are scripted from the request: with tools declared and no
//! function result yet, the model calls the first declared function (with a
//! thought signature); otherwise it says "Hello from Gemini".

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// The test-only service-account private key (PKCS#8 PEM). Grants nothing.
pub const TEST_SA_PRIVATE_KEY: &str = include_str!("../fixtures/test-only-google-sa-key.pem");
/// Its public key (SubjectPublicKeyInfo PEM), used to verify assertions.
pub const TEST_SA_PUBLIC_KEY: &str = include_str!("../fixtures/test-only-google-sa-key.pub.pem");
/// The test service account's email.
pub const TEST_SA_EMAIL: &str = "sentinel-test@mock-project.iam.gserviceaccount.com";
/// The test key's id.
pub const TEST_SA_KEY_ID: &str = "test-key-0001";

/// How the mocks answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Normal answers.
    Normal,
    /// Every model call fails with this status and Google's error body.
    Fail(u16),
    /// Streams stop after the first event, without a finish reason.
    CutStream,
}

/// One call a mock received.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Path and query, e.g. `/v1beta/models/m:streamGenerateContent?alt=sse`.
    pub uri: String,
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
    api_key: String,
    calls: Mutex<Vec<Captured>>,
    behavior: Mutex<Behavior>,
    /// Token endpoint URL (the JWT audience) once bound.
    token_url: Mutex<String>,
    token_requests: Mutex<usize>,
    token_lifetime_s: Mutex<u64>,
    issued: Mutex<Vec<String>>,
}

impl Shared {
    fn new(api_key: &str) -> Arc<Self> {
        Arc::new(Self {
            api_key: api_key.to_owned(),
            calls: Mutex::new(Vec::new()),
            behavior: Mutex::new(Behavior::Normal),
            token_url: Mutex::new(String::new()),
            token_requests: Mutex::new(0),
            token_lifetime_s: Mutex::new(3600),
            issued: Mutex::new(Vec::new()),
        })
    }

    fn record(&self, uri: String, headers: HeaderMap, body: Bytes) -> Behavior {
        self.calls
            .lock()
            .expect("calls lock")
            .push(Captured { uri, headers, body });
        *self.behavior.lock().expect("behavior lock")
    }
}

/// A running mock of the Gemini API on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct MockGemini {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl MockGemini {
    /// Starts the mock; it accepts only `api_key` in `x-goog-api-key`.
    pub async fn start(api_key: &str) -> Self {
        let shared = Shared::new(api_key);
        let app = Router::new()
            .route("/v1beta/models/{action}", post(gemini_call))
            .with_state(shared.clone());
        Self {
            addr: crate::serve(app).await,
            shared,
        }
    }

    /// The base URL to configure (no version path).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_behavior(&self, behavior: Behavior) {
        *self.shared.behavior.lock().expect("behavior lock") = behavior;
    }

    pub fn calls(&self) -> Vec<Captured> {
        self.shared.calls.lock().expect("calls lock").clone()
    }
}

/// A running mock of Vertex AI plus its OAuth2 token endpoint.
#[derive(Debug, Clone)]
pub struct MockVertex {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl MockVertex {
    pub async fn start() -> Self {
        let shared = Shared::new("");
        let app = Router::new()
            .route("/token", post(token))
            .route(
                "/v1/projects/{project}/locations/{location}/publishers/google/models/{action}",
                post(vertex_call),
            )
            .with_state(shared.clone());
        let addr = crate::serve(app).await;
        *shared.token_url.lock().expect("token url lock") = format!("http://{addr}/token");
        Self { addr, shared }
    }

    /// The base URL to configure.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token endpoint (`options.token_url`).
    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// A service-account key file for the test key.
    pub fn service_account_json(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": "mock-project",
            "private_key_id": TEST_SA_KEY_ID,
            "private_key": TEST_SA_PRIVATE_KEY,
            "client_email": TEST_SA_EMAIL,
            "client_id": "100000000000000000001",
            "token_uri": self.token_url(),
        })
        .to_string()
    }

    /// `expires_in` of the tokens issued from now on.
    pub fn set_token_lifetime(&self, seconds: u64) {
        *self.shared.token_lifetime_s.lock().expect("lifetime lock") = seconds;
    }

    /// How many token requests arrived (valid or not).
    pub fn token_requests(&self) -> usize {
        *self.shared.token_requests.lock().expect("token count lock")
    }

    /// Forgets every issued token, as if they were revoked.
    pub fn revoke_tokens(&self) {
        self.shared.issued.lock().expect("issued lock").clear();
    }

    pub fn set_behavior(&self, behavior: Behavior) {
        *self.shared.behavior.lock().expect("behavior lock") = behavior;
    }

    /// Model calls (token requests are not included).
    pub fn calls(&self) -> Vec<Captured> {
        self.shared.calls.lock().expect("calls lock").clone()
    }
}

/// Google's error body for `status`.
pub fn google_error(status: u16, message: &str) -> Response {
    let name = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"error": {"code": status, "message": message, "status": name}});
    (code, axum::Json(body)).into_response()
}

fn failure(status: u16) -> Response {
    if status == 429 {
        // Google's quota errors carry a RetryInfo detail with the wait.
        let body = json!({"error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                 "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                                 "quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"},
            ],
        }});
        return (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    }
    let message = match status {
        400 => "Request contains an invalid argument.",
        429 => "Resource has been exhausted (e.g. check quota).",
        503 => "The model is overloaded. Please try again later.",
        _ => "Internal error encountered.",
    };
    google_error(status, message)
}

fn uri(path: &str, query: &Option<String>) -> String {
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    }
}

async fn gemini_call(
    State(shared): State<Arc<Shared>>,
    Path(action): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let behavior = shared.record(
        uri(&format!("/v1beta/models/{action}"), &query),
        headers.clone(),
        body.clone(),
    );
    if query.as_deref().is_some_and(|q| q.contains("key=")) {
        return google_error(400, "Sentinel must not put the API key in the URL.");
    }
    match headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()) {
        None => {
            return google_error(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            );
        }
        Some(key) if key != shared.api_key => {
            return google_error(400, "API key not valid. Please pass a valid API key.");
        }
        Some(_) => {}
    }
    model_call(&action, query.as_deref(), &body, behavior)
}

async fn vertex_call(
    State(shared): State<Arc<Shared>>,
    Path((project, location, action)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let behavior = shared.record(
        uri(
            &format!(
                "/v1/projects/{project}/locations/{location}/publishers/google/models/{action}"
            ),
            &query,
        ),
        headers.clone(),
        body.clone(),
    );
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let known = token.is_some_and(|t| {
        shared
            .issued
            .lock()
            .expect("issued lock")
            .iter()
            .any(|i| i == t)
    });
    if !known {
        return google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        );
    }
    model_call(&action, query.as_deref(), &body, behavior)
}

/// Answers `{model}:{method}` for either API.
fn model_call(action: &str, query: Option<&str>, body: &[u8], behavior: Behavior) -> Response {
    let Some((model, method)) = action.split_once(':') else {
        return google_error(404, "Method not found.");
    };
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return google_error(400, "Invalid JSON payload received.");
    };
    if let Behavior::Fail(status) = behavior {
        return failure(status);
    }
    match method {
        "generateContent" => match check_generate(&request) {
            Err(message) => google_error(400, &message),
            Ok(()) => axum::Json(answer(&request, model)).into_response(),
        },
        "streamGenerateContent" => {
            if query != Some("alt=sse") {
                return google_error(400, "streamGenerateContent needs alt=sse for SSE.");
            }
            if let Err(message) = check_generate(&request) {
                return google_error(400, &message);
            }
            let events = stream_events(&request, model, behavior == Behavior::CutStream);
            Response::builder()
                .status(200)
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(Body::from_stream(futures_util::stream::iter(
                    events.into_iter().map(Ok::<_, std::convert::Infallible>),
                )))
                .unwrap_or_else(|_| failure(500))
        }
        "batchEmbedContents" => batch_embed(&request, model),
        "predict" => predict(&request),
        _ => google_error(404, "Method not found."),
    }
}

/// The shape checks a real server makes on `generateContent`.
fn check_generate(request: &Value) -> Result<(), String> {
    let contents = request["contents"]
        .as_array()
        .filter(|c| !c.is_empty())
        .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
    for (i, content) in contents.iter().enumerate() {
        match content["role"].as_str() {
            Some("user" | "model") => {}
            _ => {
                return Err(format!(
                    "* GenerateContentRequest.contents[{i}].role: must be user or model"
                ));
            }
        }
        let parts = content["parts"]
            .as_array()
            .filter(|p| !p.is_empty())
            .ok_or(format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            ))?;
        for part in parts {
            let known = [
                "text",
                "inlineData",
                "fileData",
                "functionCall",
                "functionResponse",
            ];
            if !known.iter().any(|k| part.get(*k).is_some()) {
                return Err(format!(
                    "* GenerateContentRequest.contents[{i}].parts: unknown part {part}"
                ));
            }
        }
    }
    if let Some(tools) = request.get("tools") {
        for declaration in tools[0]["functionDeclarations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(params) = declaration.get("parameters")
                && (params.to_string().contains("additionalProperties")
                    || params.to_string().contains("$schema"))
            {
                return Err(
                    "Invalid JSON payload received. Unknown name \"additionalProperties\"".into(),
                );
            }
        }
    }
    Ok(())
}

/// The model's parts for `request`.
fn reply_parts(request: &Value) -> Vec<Value> {
    let last_is_result = request["contents"]
        .as_array()
        .and_then(|c| c.last())
        .and_then(|c| c["parts"].as_array())
        .is_some_and(|parts| parts.iter().any(|p| p.get("functionResponse").is_some()));
    let function = request
        .pointer("/tools/0/functionDeclarations/0/name")
        .and_then(Value::as_str);
    match function {
        Some(name) if !last_is_result => vec![json!({
            "functionCall": {"name": name, "args": {"city": "Paris"}},
            "thoughtSignature": "c2lnLTE=",
        })],
        _ => vec![json!({"text": "Hello from Gemini"})],
    }
}

const USAGE: fn() -> Value =
    || json!({"promptTokenCount": 11, "candidatesTokenCount": 3, "totalTokenCount": 14});

fn answer(request: &Value, model: &str) -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": reply_parts(request)},
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": USAGE(),
        "modelVersion": model,
        "responseId": "mock-response-1",
    })
}

fn stream_events(request: &Value, model: &str, cut: bool) -> Vec<Bytes> {
    let parts = reply_parts(request);
    let mut events = Vec::new();
    let event = |value: Value| Bytes::from(format!("data: {value}\r\n\r\n"));
    if parts[0].get("text").is_some() {
        events.push(event(json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 11, "totalTokenCount": 11},
            "modelVersion": model, "responseId": "mock-response-1",
        })));
        if cut {
            return events;
        }
        events.push(event(json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": " from Gemini"}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": USAGE(),
            "modelVersion": model, "responseId": "mock-response-1",
        })));
    } else {
        events.push(event(json!({
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": USAGE(),
            "modelVersion": model, "responseId": "mock-response-1",
        })));
    }
    events
}

fn vector(text: &str, dims: usize) -> Vec<f64> {
    let seed = text
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    (0..dims)
        .map(|i| ((seed >> (i % 32)) % 1000) as f64 / 1000.0)
        .collect()
}

fn batch_embed(request: &Value, model: &str) -> Response {
    let Some(requests) = request["requests"].as_array() else {
        return google_error(
            400,
            "* BatchEmbedContentsRequest.requests: requests is not specified",
        );
    };
    let mut embeddings = Vec::new();
    for (i, item) in requests.iter().enumerate() {
        if item["model"] != json!(format!("models/{model}")) {
            return google_error(
                400,
                &format!(
                    "* BatchEmbedContentsRequest.requests[{i}].model: model must be models/{model}"
                ),
            );
        }
        let Some(text) = item
            .pointer("/content/parts/0/text")
            .and_then(Value::as_str)
        else {
            return google_error(
                400,
                &format!("* BatchEmbedContentsRequest.requests[{i}].content: no text"),
            );
        };
        let dims = item["outputDimensionality"].as_u64().unwrap_or(4) as usize;
        embeddings.push(json!({"values": vector(text, dims)}));
    }
    axum::Json(json!({"embeddings": embeddings})).into_response()
}

fn predict(request: &Value) -> Response {
    let Some(instances) = request["instances"].as_array() else {
        return google_error(400, "instances is not specified");
    };
    let dims = request
        .pointer("/parameters/outputDimensionality")
        .and_then(Value::as_u64)
        .unwrap_or(4) as usize;
    let mut predictions = Vec::new();
    for instance in instances {
        let Some(text) = instance["content"].as_str() else {
            return google_error(400, "instance content must be a string");
        };
        predictions.push(json!({"embeddings": {
            "values": vector(text, dims),
            "statistics": {"token_count": text.split_whitespace().count(), "truncated": false},
        }}));
    }
    axum::Json(json!({"predictions": predictions, "metadata": {"billableCharacterCount": 10}}))
        .into_response()
}

/// RFC 6749 error answer from the token endpoint.
fn grant_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": "invalid_grant", "error_description": message})),
    )
        .into_response()
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    *shared.token_requests.lock().expect("token count lock") += 1;
    if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        != Some("application/x-www-form-urlencoded")
    {
        return grant_error("Bad Request: form body expected");
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if field("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})),
        )
            .into_response();
    }
    let Some(assertion) = field("assertion") else {
        return grant_error("Missing assertion.");
    };
    let audience = shared.token_url.lock().expect("token url lock").clone();
    if let Err(message) = verify_assertion(assertion, &audience) {
        return grant_error(&message);
    }
    let lifetime = *shared.token_lifetime_s.lock().expect("lifetime lock");
    let mut issued = shared.issued.lock().expect("issued lock");
    let access_token = format!("ya29.mock-{}", issued.len() + 1);
    issued.push(access_token.clone());
    axum::Json(
        json!({"access_token": access_token, "expires_in": lifetime, "token_type": "Bearer"}),
    )
    .into_response()
}

/// Checks an RS256 service-account assertion; the error reads like Google's.
pub fn verify_assertion(assertion: &str, audience: &str) -> Result<(), String> {
    let pieces: Vec<&str> = assertion.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = pieces[..] else {
        return Err(
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe".into(),
        );
    };
    let decode = |s: &str| -> Result<Value, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "Invalid JWT: bad base64".to_owned())?;
        serde_json::from_slice(&bytes).map_err(|_| "Invalid JWT: bad JSON".to_owned())
    };
    let header = decode(header_b64)?;
    if header["alg"] != "RS256" || header["kid"] != TEST_SA_KEY_ID {
        return Err("Invalid JWT Signature.".into());
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| "Invalid JWT Signature.".to_owned())?;
    let public_key = pem_der(TEST_SA_PUBLIC_KEY, "PUBLIC KEY").expect("test public key fixture");
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key,
    )
    .verify(format!("{header_b64}.{claims_b64}").as_bytes(), &signature)
    .map_err(|_| "Invalid JWT Signature.".to_owned())?;
    let claims = decode(claims_b64)?;
    if claims["iss"] != TEST_SA_EMAIL {
        return Err("Invalid email or User ID".into());
    }
    if claims["aud"] != audience {
        return Err("Invalid JWT: Failed audience check.".into());
    }
    if claims["scope"].as_str().is_none_or(|s| {
        !s.split(' ')
            .any(|s| s == "https://www.googleapis.com/auth/cloud-platform")
    }) {
        return Err("Invalid OAuth scope or ID token audience provided.".into());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err(
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe".into(),
        );
    };
    if iat > now + 60 || exp <= now || exp <= iat || exp - iat > 3600 {
        return Err("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.".into());
    }
    Ok(())
}

fn pem_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let text: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}
