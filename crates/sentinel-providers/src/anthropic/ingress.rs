//! Ingress translation for the gateway's Anthropic-style `POST /v1/messages`
//! route, used for targets that do not take Anthropic Messages natively: an
//! Anthropic Messages request becomes an OpenAI [`ChatRequest`] (which then
//! goes through the same pipeline and providers as any chat request), and the OpenAI answer is turned back into Anthropic's format
//! ([`to_messages_response`], [`stream::MessagesStreamTranslator`],
//! [`error_body`]). Everything here is pure: no I/O, no clock.
//!
//! Mapping decisions:
//! - `system` (string or text blocks) → one leading `system` message;
//! - `tool_result` blocks → `tool` messages placed before the rest of their
//!   user turn; `is_error: true` is kept by prefixing the result with
//!   `Error: ` (OpenAI has no error flag);
//! - `metadata.user_id` → `user`; `top_k` is kept as an extra `top_k` field
//!   (honoured by the `anthropic` kind and by servers that know it; OpenAI
//!   itself refuses it with a clear error);
//! - `stream: true` also sets `stream_options.include_usage`, so the final
//!   `message_delta` can report usage;
//! - `cache_control` hints are dropped (they only affect caching, never the
//!   answer); `thinking` (unless disabled), document/PDF and search-result
//!   blocks, `file` image sources, server tools (`web_search_…`, `bash_…`,
//!   …), MCP servers, containers and any unknown field are refused by name.

pub(crate) mod stream;

use serde_json::{Map, Value, json};

use super::wire::{
    Block, ImageSource, MessageContent, MessagesRequest, MessagesResponse, System, Tool,
    ToolChoice as WireToolChoice, ToolResultContent, Usage as WireUsage,
};
use crate::{
    ProviderError, ProviderErrorKind,
    chat::{
        ChatRequest, ChatResponse, Content, ContentPart, FunctionCall, FunctionDef, ImageUrl,
        Message, NamedFunction, Stop, StreamOptions, Tool as ChatTool, ToolCall, ToolChoice,
    },
};

/// Why an Anthropic request cannot be translated. Both variants are the
/// client's to fix: answer 400 with Anthropic's `invalid_request_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngressError {
    /// The body is not a valid Messages request.
    #[error("invalid messages request: {0}")]
    Invalid(String),
    /// The request uses a Messages API feature Sentinel does not translate.
    #[error("{feature} is not supported by Sentinel's /v1/messages route")]
    Unsupported {
        /// The feature, named as in Anthropic's API (e.g. `thinking`).
        feature: String,
    },
}

impl IngressError {
    fn unsupported(feature: impl Into<String>) -> Self {
        Self::Unsupported {
            feature: feature.into(),
        }
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        400
    }

    /// Low-cardinality label for metrics and records.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_request",
            Self::Unsupported { .. } => "unsupported_feature",
        }
    }

    /// The Anthropic-shaped error body for this error.
    pub fn to_body(&self, request_id: &str) -> Value {
        error_body(self.status(), &self.to_string(), request_id)
    }
}

/// Anthropic's error `type` for an HTTP status (Anthropic's documented
/// table; other 4xx statuses are `invalid_request_error`, other 5xx
/// statuses `api_error`).
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 | 503 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// An Anthropic-shaped error body:
/// `{"type":"error","error":{"type","message"},"request_id"}`.
pub fn error_body(status: u16, message: &str, request_id: &str) -> Value {
    json!({
        "type": "error",
        "error": {"type": error_type(status), "message": message},
        "request_id": request_id,
    })
}

/// Translates an Anthropic Messages request body into an OpenAI chat
/// request.
pub fn to_chat_request(body: &[u8]) -> Result<ChatRequest, IngressError> {
    let request: MessagesRequest =
        serde_json::from_slice(body).map_err(|e| IngressError::Invalid(e.to_string()))?;
    for (name, value) in &request.extra {
        let harmless = match name.as_str() {
            _ if value.is_null() => true,
            "thinking" => value.get("type").and_then(Value::as_str) == Some("disabled"),
            "service_tier" => value.as_str() == Some("auto"),
            _ => false,
        };
        if !harmless {
            return Err(IngressError::unsupported(name.as_str()));
        }
    }
    let max_tokens = request
        .max_tokens
        .ok_or_else(|| IngressError::Invalid("max_tokens: field required".into()))?;

    let mut messages = Vec::new();
    if let Some(system) = request.system {
        messages.push(Message {
            role: "system".into(),
            content: Some(system_content(system)?),
            ..Message::default()
        });
    }
    for (i, message) in request.messages.into_iter().enumerate() {
        match message.role.as_str() {
            "user" => user_messages(message.content, &mut messages)?,
            "assistant" => messages.push(assistant_message(message.content)?),
            other => {
                return Err(IngressError::Invalid(format!(
                    "messages.{i}.role: {other:?} is not user or assistant"
                )));
            }
        }
    }
    let stream = request.stream == Some(true);
    let mut extra = Map::new();
    if let Some(top_k) = request.top_k {
        extra.insert("top_k".into(), top_k.into());
    }
    let (tool_choice, parallel_tool_calls) = match request.tool_choice {
        Some(choice) => convert_tool_choice(choice)?,
        None => (None, None),
    };
    Ok(ChatRequest {
        model: request.model,
        messages,
        stream: stream.then_some(true),
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
        temperature: request.temperature,
        top_p: request.top_p,
        max_tokens: Some(max_tokens),
        stop: request.stop_sequences.map(Stop::Many),
        tools: request.tools.map(convert_tools).transpose()?,
        tool_choice,
        parallel_tool_calls,
        user: request.metadata.and_then(|m| m.user_id),
        extra,
        ..ChatRequest::default()
    })
}

fn block_name(block: &Block) -> String {
    format!("{} content blocks", block.type_name())
}

fn system_content(system: System) -> Result<Content, IngressError> {
    match system {
        System::Text(text) => Ok(Content::Text(text)),
        System::Blocks(blocks) => blocks
            .into_iter()
            .map(|block| match block {
                Block::Text { text } => Ok(ContentPart::Text { text }),
                other => Err(IngressError::unsupported(format!(
                    "{} in system",
                    block_name(&other)
                ))),
            })
            .collect::<Result<_, _>>()
            .map(Content::Parts),
    }
}

fn image_part(source: ImageSource) -> Result<ContentPart, IngressError> {
    let url = match source {
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        ImageSource::Url { url } => url,
        ImageSource::Other(value) => {
            let kind = value
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            return Err(IngressError::unsupported(format!("{kind} image sources")));
        }
    };
    Ok(ContentPart::ImageUrl {
        image_url: ImageUrl { url, detail: None },
    })
}

/// A user turn: its `tool_result` blocks become `tool` messages first, then
/// the rest becomes one user message.
fn user_messages(content: MessageContent, out: &mut Vec<Message>) -> Result<(), IngressError> {
    let blocks = match content {
        MessageContent::Text(text) => {
            out.push(Message {
                role: "user".into(),
                content: Some(Content::Text(text)),
                ..Message::default()
            });
            return Ok(());
        }
        MessageContent::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::new();
    for block in blocks {
        match block {
            Block::Text { text } => parts.push(ContentPart::Text { text }),
            Block::Image { source } => parts.push(image_part(source)?),
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => out.push(Message {
                role: "tool".into(),
                content: Some(tool_result_content(content, is_error == Some(true))?),
                tool_call_id: Some(tool_use_id),
                ..Message::default()
            }),
            Block::ToolUse { .. } => {
                return Err(IngressError::Invalid(
                    "tool_use blocks belong in assistant turns".into(),
                ));
            }
            other => return Err(IngressError::unsupported(block_name(&other))),
        }
    }
    if !parts.is_empty() {
        out.push(Message {
            role: "user".into(),
            content: Some(Content::Parts(parts)),
            ..Message::default()
        });
    }
    Ok(())
}

fn tool_result_content(
    content: Option<ToolResultContent>,
    is_error: bool,
) -> Result<Content, IngressError> {
    let mut text = match content {
        None => String::new(),
        Some(ToolResultContent::Text(text)) => text,
        Some(ToolResultContent::Blocks(blocks)) => {
            let mut text = String::new();
            for block in blocks {
                match block {
                    Block::Text { text: piece } => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(&piece);
                    }
                    other => {
                        return Err(IngressError::unsupported(format!(
                            "{} in tool_result",
                            block_name(&other)
                        )));
                    }
                }
            }
            text
        }
    };
    if is_error {
        text.insert_str(0, "Error: ");
    }
    Ok(Content::Text(text))
}

fn assistant_message(content: MessageContent) -> Result<Message, IngressError> {
    let blocks = match content {
        MessageContent::Text(text) => {
            return Ok(Message {
                role: "assistant".into(),
                content: Some(Content::Text(text)),
                ..Message::default()
            });
        }
        MessageContent::Blocks(blocks) => blocks,
    };
    let mut text: Option<String> = None;
    let mut calls = Vec::new();
    for block in blocks {
        match block {
            Block::Text { text: piece } => text.get_or_insert_with(String::new).push_str(&piece),
            Block::ToolUse { id, name, input } => calls.push(ToolCall {
                id,
                kind: "function".into(),
                function: FunctionCall {
                    name,
                    arguments: input.to_string(),
                },
            }),
            other => return Err(IngressError::unsupported(block_name(&other))),
        }
    }
    Ok(Message {
        role: "assistant".into(),
        content: text.map(Content::Text),
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..Message::default()
    })
}

fn convert_tools(tools: Vec<Tool>) -> Result<Vec<ChatTool>, IngressError> {
    tools
        .into_iter()
        .map(|tool| {
            if let Some(kind) = tool.kind.as_deref().filter(|k| *k != "custom") {
                return Err(IngressError::unsupported(format!("server tool {kind}")));
            }
            if let Some(field) = tool
                .extra
                .iter()
                .find(|(k, v)| k.as_str() != "cache_control" && !v.is_null())
                .map(|(k, _)| k)
            {
                return Err(IngressError::unsupported(format!("{field} on tools")));
            }
            let parameters = tool.input_schema.ok_or_else(|| {
                IngressError::Invalid(format!("tool {}: input_schema is required", tool.name))
            })?;
            Ok(ChatTool {
                kind: "function".into(),
                function: FunctionDef {
                    name: tool.name,
                    description: tool.description,
                    parameters: Some(parameters),
                    strict: None,
                },
            })
        })
        .collect()
}

fn convert_tool_choice(
    choice: WireToolChoice,
) -> Result<(Option<ToolChoice>, Option<bool>), IngressError> {
    let mode = |m: &str| Some(ToolChoice::Mode(m.to_owned()));
    let converted = match choice.kind.as_str() {
        "auto" => mode("auto"),
        "any" => mode("required"),
        "none" => mode("none"),
        "tool" => Some(ToolChoice::Named {
            kind: "function".into(),
            function: NamedFunction {
                name: choice.name.ok_or_else(|| {
                    IngressError::Invalid("tool_choice.name is required for type tool".into())
                })?,
            },
        }),
        other => {
            return Err(IngressError::Invalid(format!(
                "tool_choice.type {other:?} is not auto, any, tool or none"
            )));
        }
    };
    let parallel = (choice.disable_parallel_tool_use == Some(true)).then_some(false);
    Ok((converted, parallel))
}

/// OpenAI `finish_reason` → Anthropic `stop_reason`.
pub(crate) fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

fn protocol(message: String) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Protocol, message)
}

/// Translates an OpenAI `chat.completion` body into an Anthropic Messages
/// response. Fails (as a protocol error: the upstream's answer is at fault)
/// when the body is not a completion or a tool call's arguments are not a
/// JSON object.
pub fn to_messages_response(body: &[u8]) -> Result<Value, ProviderError> {
    let response: ChatResponse = serde_json::from_slice(body)
        .map_err(|e| protocol(format!("upstream answer is not a chat completion: {e}")))?;
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| protocol("upstream answer has no choices".into()))?;
    let mut content = Vec::new();
    let text = choice.message.content.or(choice.message.refusal);
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        content.push(Block::Text { text });
    }
    for call in choice.message.tool_calls.unwrap_or_default() {
        content.push(Block::ToolUse {
            input: tool_input(&call.function.arguments)?,
            id: call.id,
            name: call.function.name,
        });
    }
    let usage = response.usage.unwrap_or_default();
    let message = MessagesResponse {
        id: response.id,
        kind: "message".into(),
        role: "assistant".into(),
        model: response.model,
        content,
        stop_reason: Some(stop_reason(choice.finish_reason.as_deref().unwrap_or("stop")).into()),
        stop_sequence: None,
        usage: WireUsage {
            input_tokens: Some(usage.prompt_tokens),
            output_tokens: Some(usage.completion_tokens),
            ..WireUsage::default()
        },
    };
    serde_json::to_value(message).map_err(|e| protocol(format!("cannot encode: {e}")))
}

/// A tool call's JSON arguments as a `tool_use` input object.
pub(crate) fn tool_input(arguments: &str) -> Result<Value, ProviderError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(protocol(
            "upstream tool call arguments are not a JSON object".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
