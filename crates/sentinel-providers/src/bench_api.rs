//! Entry points for `benches/translation.rs` (cargo feature `bench`): the
//! same per-request work each translating provider does around its HTTP
//! call, minus the network. Not an API: the translators stay private and
//! this module exists only so the benchmarks measure the real code paths.

use bytes::Bytes;

use crate::{
    ProviderError, ProviderErrorKind, anthropic, bedrock, chat::ChatRequest, gemini,
    stream::StreamTranslator,
};

fn encode(value: &impl serde::Serialize) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(value)
        .map_err(|e| ProviderError::new(ProviderErrorKind::Protocol, format!("cannot encode: {e}")))
}

fn parse_chat(body: &[u8]) -> Result<ChatRequest, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|e| ProviderError::new(ProviderErrorKind::InvalidRequest, e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|e| ProviderError::new(ProviderErrorKind::Protocol, e.to_string()))
}

/// OpenAI chat request bytes → Anthropic Messages request bytes.
pub fn anthropic_request(body: &[u8]) -> Result<Vec<u8>, ProviderError> {
    let chat = parse_chat(body)?;
    let stream = chat.stream.unwrap_or(false);
    encode(&anthropic::convert::to_messages_request(
        chat, 4096, stream,
    )?)
}

/// Anthropic Messages response bytes → OpenAI `chat.completion` bytes.
pub fn anthropic_response(body: &[u8]) -> Result<Vec<u8>, ProviderError> {
    let message: anthropic::wire::MessagesResponse = parse(body)?;
    encode(&anthropic::convert::to_chat_response(
        message,
        1_700_000_000,
    ))
}

/// Anthropic SSE → OpenAI chunks.
pub fn anthropic_stream(include_usage: bool) -> impl StreamTranslator {
    anthropic::stream::ChunkTranslator::new(include_usage, 1_700_000_000)
}

/// OpenAI chat request bytes → Gemini `generateContent` request bytes.
pub fn gemini_request(body: &[u8]) -> Result<Vec<u8>, ProviderError> {
    let (request, context) = gemini::convert::chat_request("gemini", body)?;
    gemini::convert::model_segment(&context.model)?;
    encode(&request)
}

fn gemini_context(model: &str, include_usage: bool) -> gemini::convert::ChatContext {
    gemini::convert::ChatContext {
        model: model.to_owned(),
        include_usage,
    }
}

/// Gemini `generateContent` response bytes → OpenAI `chat.completion` bytes.
pub fn gemini_response(model: &str, body: &[u8]) -> Result<Bytes, ProviderError> {
    gemini::convert::chat_response(&gemini_context(model, false), body)
}

/// Gemini SSE (`alt=sse`) → OpenAI chunks.
pub fn gemini_stream(model: &str, include_usage: bool) -> impl StreamTranslator {
    gemini::stream::GeminiStream::new(gemini_context(model, include_usage))
}

/// OpenAI chat request bytes → Bedrock Converse request bytes.
pub fn bedrock_request(body: &[u8]) -> Result<Vec<u8>, ProviderError> {
    let chat = parse_chat(body)?;
    encode(&bedrock::convert::to_converse(&chat)?)
}

/// Bedrock Converse response bytes → OpenAI `chat.completion` bytes.
pub fn bedrock_response(model: &str, body: &[u8]) -> Result<Vec<u8>, ProviderError> {
    let response: bedrock::wire::ConverseResponse = parse(body)?;
    encode(&bedrock::convert::from_converse(
        response,
        "chatcmpl-bench".into(),
        1_700_000_000,
        model.to_owned(),
    ))
}

/// The SigV4 signature every Bedrock request carries (the body hash
/// included), with fixed test credentials. Returns the `Authorization` value.
pub fn bedrock_sign(path: &str, body: &[u8]) -> String {
    let credentials = bedrock::sigv4::AwsCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
    };
    let amz_date = "20250101T000000Z";
    let payload_hash = bedrock::sigv4::sha256_hex(body);
    let headers = [
        ("content-type".to_owned(), "application/json".to_owned()),
        (
            "host".to_owned(),
            "bedrock-runtime.us-east-1.amazonaws.com".to_owned(),
        ),
        ("x-amz-content-sha256".to_owned(), payload_hash.clone()),
        ("x-amz-date".to_owned(), amz_date.to_owned()),
    ];
    bedrock::sigv4::sign(
        &credentials,
        "us-east-1",
        "bedrock",
        amz_date,
        &bedrock::sigv4::RequestToSign {
            method: "POST",
            path,
            query: "",
            headers: &headers,
            payload_hash: &payload_hash,
        },
    )
    .authorization
}

/// Bedrock ConverseStream (AWS event-stream framing) → OpenAI chunks.
pub fn bedrock_stream(model: &str, include_usage: bool) -> impl StreamTranslator {
    bedrock::stream::ConverseStreamTranslator::new(
        "chatcmpl-bench".into(),
        1_700_000_000,
        model.to_owned(),
        include_usage,
    )
}
