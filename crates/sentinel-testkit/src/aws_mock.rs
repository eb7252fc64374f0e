//! An in-process Amazon Bedrock Runtime that speaks the Converse wire
//! format: `POST /model/{modelId}/converse` answers Converse JSON,
//! `/converse-stream` answers AWS event-stream binary frames (with correct
//! prelude and message CRC32s), errors carry `x-amzn-ErrorType` and a
//! `{"message"}` body.
//!
//! Every request's SigV4 signature is recomputed here from what arrived on
//! the wire, with an implementation independent of the one in
//! `sentinel-providers`: an unknown access key answers 403
//! `UnrecognizedClientException`, a wrong signature 403
//! `InvalidSignatureException`. The mock also enforces Converse rules a
//! faulty translation would break (alternating roles starting with `user`,
//! `toolConfig` present when tool blocks are), answering 400
//! `ValidationException` like Bedrock. Calls are recorded.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use aws_lc_rs::{digest, hmac};
use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// The AWS keys the mock accepts.
#[derive(Debug, Clone)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// When set, requests must carry (and sign) this `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl AwsKeys {
    /// The JSON secret Sentinel's `bedrock` kind reads for these keys.
    pub fn secret_json(&self) -> String {
        let mut secret = json!({
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
        });
        if let Some(token) = &self.session_token {
            secret["session_token"] = json!(token);
        }
        secret.to_string()
    }
}

/// How the mock answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BedrockBehavior {
    /// A text answer, `Hello from Bedrock`.
    Text,
    /// Text and one `toolUse` of the request's first tool, with
    /// `{"city": "Paris"}`.
    ToolUse,
    /// Every call fails with this status, `x-amzn-ErrorType` and message.
    Fail {
        status: u16,
        error_type: String,
        message: String,
    },
    /// Streams start, then end with an exception message of this type.
    StreamException { exception_type: String },
    /// Streams send a frame whose message CRC is wrong.
    CorruptStream,
}

/// One call the mock received.
#[derive(Debug, Clone)]
pub struct BedrockCall {
    /// The path as it arrived (percent-encoding kept).
    pub raw_path: String,
    /// The model id, decoded from the path.
    pub model_id: String,
    pub streaming: bool,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The canonical request the mock computed to check the signature.
    pub canonical_request: String,
}

impl BedrockCall {
    /// The request body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug)]
struct Shared {
    keys: AwsKeys,
    region: String,
    calls: Mutex<Vec<BedrockCall>>,
    behavior: Mutex<BedrockBehavior>,
}

/// A running mock Bedrock Runtime on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct MockBedrock {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl MockBedrock {
    /// Starts the mock on a free loopback port, accepting `keys` for `region`.
    pub async fn start(keys: AwsKeys, region: &str) -> Self {
        let shared = Arc::new(Shared {
            keys,
            region: region.to_owned(),
            calls: Mutex::new(Vec::new()),
            behavior: Mutex::new(BedrockBehavior::Text),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let addr = crate::serve(app).await;
        Self { addr, shared }
    }

    /// The base URL to configure (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes how the following calls are answered.
    pub fn set_behavior(&self, behavior: BedrockBehavior) {
        *self.shared.behavior.lock().expect("behavior lock") = behavior;
    }

    /// Calls whose signature checked out.
    pub fn calls(&self) -> Vec<BedrockCall> {
        self.shared.calls.lock().expect("calls lock").clone()
    }
}

fn aws_error(status: u16, error_type: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [
            (
                "x-amzn-ErrorType",
                format!("{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            ),
            ("x-amzn-RequestId", "mock-request-error".to_owned()),
        ],
        axum::Json(json!({ "message": message })),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_path = uri.path().to_owned();
    let parts: Vec<&str> = raw_path.split('/').collect();
    let (model_id, streaming) = match parts.as_slice() {
        ["", "model", id, "converse"] if method == Method::POST => (decode(id), false),
        ["", "model", id, "converse-stream"] if method == Method::POST => (decode(id), true),
        _ => return aws_error(404, "UnknownOperationException", "Unknown operation"),
    };
    let canonical_request = match verify_signature(&shared, &headers, &raw_path, uri.query(), &body)
    {
        Ok(creq) => creq,
        Err(Rejection(error_type, message)) => return aws_error(403, error_type, message),
    };
    shared.calls.lock().expect("calls lock").push(BedrockCall {
        raw_path,
        model_id,
        streaming,
        headers,
        body: body.clone(),
        canonical_request,
    });
    let behavior = shared.behavior.lock().expect("behavior lock").clone();
    if let BedrockBehavior::Fail {
        status,
        error_type,
        message,
    } = &behavior
    {
        return aws_error(*status, error_type, message);
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return aws_error(400, "ValidationException", "Malformed input request"),
    };
    if let Err(message) = validate(&request) {
        return aws_error(400, "ValidationException", &message);
    }
    let tool_name = request
        .pointer("/toolConfig/tools/0/toolSpec/name")
        .and_then(Value::as_str)
        .unwrap_or("get_weather")
        .to_owned();
    if streaming {
        stream_answer(&behavior, &tool_name)
    } else {
        json_answer(&behavior, &tool_name)
    }
}

/// The Converse rules Bedrock enforces that a translation could break.
fn validate(request: &Value) -> Result<(), String> {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages is required")?;
    let mut expected = "user";
    let mut tool_blocks = false;
    for message in messages {
        if message.get("role").and_then(Value::as_str) != Some(expected) {
            return Err(
                "A conversation must start with a user message and alternate between user and assistant roles".into(),
            );
        }
        expected = if expected == "user" {
            "assistant"
        } else {
            "user"
        };
        for block in message
            .get("content")
            .and_then(Value::as_array)
            .ok_or("content must be a list")?
        {
            let keys: Vec<&String> = block
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            if keys.len() != 1 {
                return Err("a content block must set exactly one member".into());
            }
            tool_blocks |= matches!(keys[0].as_str(), "toolUse" | "toolResult");
        }
    }
    if tool_blocks && request.get("toolConfig").is_none() {
        return Err(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks.".into(),
        );
    }
    Ok(())
}

fn json_answer(behavior: &BedrockBehavior, tool_name: &str) -> Response {
    let (content, stop) = if *behavior == BedrockBehavior::ToolUse {
        (
            json!([{"text": "Let me check."},
                   {"toolUse": {"toolUseId": "tooluse_mock_1", "name": tool_name, "input": {"city": "Paris"}}}]),
            "tool_use",
        )
    } else {
        (json!([{"text": "Hello from Bedrock"}]), "end_turn")
    };
    (
        [("x-amzn-RequestId", "mock-request-1")],
        axum::Json(json!({
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16},
            "metrics": {"latencyMs": 42},
        })),
    )
        .into_response()
}

fn stream_answer(behavior: &BedrockBehavior, tool_name: &str) -> Response {
    let event = |kind: &str, payload: Value| {
        frame(
            &[
                (":event-type", kind),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            payload.to_string().as_bytes(),
        )
    };
    let mut frames = vec![event(
        "messageStart",
        json!({"role": "assistant", "p": "abc"}),
    )];
    match behavior {
        BedrockBehavior::ToolUse => {
            frames.push(event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Let me check."}}),
            ));
            frames.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
            frames.push(event(
                "contentBlockStart",
                json!({"contentBlockIndex": 1,
                "start": {"toolUse": {"toolUseId": "tooluse_mock_1", "name": tool_name}}}),
            ));
            frames.push(event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\":"}}}),
            ));
            frames.push(event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
            ));
            frames.push(event("contentBlockStop", json!({"contentBlockIndex": 1})));
            frames.push(event("messageStop", json!({"stopReason": "tool_use"})));
        }
        BedrockBehavior::StreamException { exception_type } => {
            frames.push(event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
            ));
            frames.push(frame(
                &[
                    (":exception-type", exception_type.as_str()),
                    (":content-type", "application/json"),
                    (":message-type", "exception"),
                ],
                json!({"message": "The stream failed; retry your request."})
                    .to_string()
                    .as_bytes(),
            ));
        }
        BedrockBehavior::CorruptStream => {
            let mut bad = event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Hello"}}),
            );
            let last = bad.len() - 1;
            bad[last] ^= 0xff;
            frames.push(bad);
        }
        _ => {
            frames.push(event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Hello"}}),
            ));
            frames.push(event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": " from Bedrock"}}),
            ));
            frames.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
            frames.push(event("messageStop", json!({"stopReason": "end_turn"})));
        }
    }
    if !matches!(
        behavior,
        BedrockBehavior::StreamException { .. } | BedrockBehavior::CorruptStream
    ) {
        frames.push(event(
            "metadata",
            json!({"usage": {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16},
            "metrics": {"latencyMs": 42}}),
        ));
    }
    let stream = futures_util::stream::iter(
        frames
            .into_iter()
            .map(|f| Ok::<_, std::convert::Infallible>(Bytes::from(f))),
    );
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/vnd.amazon.eventstream")
        .header("x-amzn-RequestId", "mock-request-1")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| aws_error(500, "InternalServerException", "mock failure"))
}

/// One event-stream message with string headers.
pub fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut encoded_headers = Vec::new();
    for (name, value) in headers {
        encoded_headers.push(u8::try_from(name.len()).expect("short header name"));
        encoded_headers.extend_from_slice(name.as_bytes());
        encoded_headers.push(7);
        encoded_headers.extend_from_slice(
            &u16::try_from(value.len())
                .expect("short header value")
                .to_be_bytes(),
        );
        encoded_headers.extend_from_slice(value.as_bytes());
    }
    let total = 12 + encoded_headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).expect("small frame").to_be_bytes());
    out.extend_from_slice(
        &u32::try_from(encoded_headers.len())
            .expect("small headers")
            .to_be_bytes(),
    );
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&encoded_headers);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

// ------------------------------------------------------------- SigV4 check

/// Why a signature check failed: the AWS error type and message of a 403.
struct Rejection(&'static str, &'static str);

/// Recomputes the request's signature; `Ok(canonical request)` when it
/// matches, else the 403 AWS would give.
fn verify_signature(
    shared: &Shared,
    headers: &HeaderMap,
    raw_path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<String, Rejection> {
    let incomplete = |why: &'static str| Rejection("IncompleteSignatureException", why);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(Rejection(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ))?;
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| incomplete("Unsupported authorization algorithm"))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in fields.split(',') {
        let (key, value) = field
            .trim()
            .split_once('=')
            .ok_or_else(|| incomplete("Malformed Authorization header"))?;
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => return Err(incomplete("Malformed Authorization header")),
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(incomplete(
            "Authorization header requires Credential, SignedHeaders and Signature",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = scope.as_slice() else {
        return Err(incomplete("Malformed credential scope"));
    };
    let keys = &shared.keys;
    if *access_key != keys.access_key_id {
        return Err(Rejection(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let header_value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(token) = &keys.session_token
        && (header_value("x-amz-security-token") != Some(token.as_str())
            || !signed_headers
                .split(';')
                .any(|h| h == "x-amz-security-token"))
    {
        return Err(Rejection(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let bad_signature = || {
        Rejection(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )
    };
    let amz_date = header_value("x-amz-date").ok_or_else(bad_signature)?;
    if *region != shared.region
        || *service != "bedrock"
        || *terminator != "aws4_request"
        || !amz_date.starts_with(date)
    {
        return Err(bad_signature());
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host")
        || !names.contains(&"x-amz-date")
        || names.windows(2).any(|w| w[0] >= w[1])
    {
        return Err(bad_signature());
    }
    // Canonical request, from the request as received.
    let payload_hash = hex(digest::digest(&digest::SHA256, body).as_ref());
    let mut canonical = format!(
        "POST\n{}\n{}\n",
        canonical_path(raw_path),
        query.unwrap_or("")
    );
    for name in &names {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(bad_signature());
        }
        canonical += &format!("{name}:{}\n", values.join(","));
    }
    canonical += &format!("\n{signed_headers}\n{payload_hash}");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mut key = format!("AWS4{}", keys.secret_access_key).into_bytes();
    for part in [
        *date,
        *region,
        *service,
        "aws4_request",
        string_to_sign.as_str(),
    ] {
        key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes())
            .as_ref()
            .to_vec();
    }
    if hex(&key) != signature {
        return Err(bad_signature());
    }
    Ok(canonical)
}

/// Each path segment as received, URI-encoded once more (`%` → `%25`).
fn canonical_path(raw: &str) -> String {
    const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    raw.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|b| {
                    if UNRESERVED.contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-decodes a path segment.
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_value = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex_value {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
        s
    })
}
