//! OpenAI chat completions ↔ Bedrock Converse.
//!
//! Request mapping (anything else is refused by name, never dropped):
//!
//! | OpenAI | Converse |
//! |---|---|
//! | `system` / `developer` messages (text) | `system` blocks, in order |
//! | `user` text, `image_url` with a `data:` URL (png, jpeg, gif, webp) | `text`, `image` blocks |
//! | `assistant` content and `tool_calls` | `text`, `toolUse` blocks (arguments parsed to JSON) |
//! | `tool` messages | `toolResult` blocks in a user turn |
//! | consecutive turns of the same role | merged into one turn (Converse needs alternation) |
//! | `tools` (functions) | `toolConfig.tools[].toolSpec` with `inputSchema.json` |
//! | `tool_choice` `auto` / `required` / named | `toolChoice` `auto` / `any` / `tool` |
//! | `tool_choice: none` | tools left out (refused when the conversation already holds tool calls) |
//! | `max_tokens` / `max_completion_tokens`, `temperature`, `top_p`, `stop` | `inferenceConfig` |
//! | `stream`, `stream_options.include_usage` | ConverseStream, final usage chunk |
//! | `n: 1`, `parallel_tool_calls: true`, `response_format: text`, `user`, image `detail` | accepted, no effect |
//!
//! Response mapping: text blocks are joined into `content`, `toolUse` blocks
//! become `tool_calls` (arguments as JSON text); other blocks (reasoning,
//! citations) are not relayed. `stopReason` → `finish_reason` by
//! [`finish_reason`]; `usage.inputTokens`/`outputTokens` → `usage`.

use serde_json::{Value, json};

use super::wire::{
    ContentBlock, ConverseRequest, ConverseResponse, ImageBlock, ImageSource, InferenceConfig,
    InputSchema, Message, SystemBlock, Tool, ToolChoice, ToolConfig, ToolResultBlock,
    ToolResultContent, ToolSpec, ToolUseBlock,
};
use crate::{
    ProviderError, ProviderErrorKind,
    chat::{
        ChatRequest, ChatResponse, Choice, Content, ContentPart, FunctionCall, ResponseMessage,
        ToolCall, ToolChoice as OpenAiToolChoice, Usage,
    },
};

const KIND: &str = "bedrock";

fn unsupported(feature: &str) -> ProviderError {
    ProviderError::unsupported(KIND, feature)
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ProviderErrorKind::InvalidRequest, message)
}

/// OpenAI `finish_reason` for a Converse `stopReason`.
pub(crate) fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        // end_turn, stop_sequence, and reasons added later
        _ => "stop",
    }
}

/// Translates a chat request into a Converse request body.
pub(crate) fn to_converse(request: &ChatRequest) -> Result<ConverseRequest, ProviderError> {
    refuse_unknown_fields(request)?;
    if request.n.is_some_and(|n| n != 1) {
        return Err(unsupported("n other than 1"));
    }
    if request.parallel_tool_calls == Some(false) {
        return Err(unsupported("parallel_tool_calls=false"));
    }
    if request.seed.is_some() {
        return Err(unsupported("seed"));
    }
    if let Some(format) = &request.response_format
        && format.kind != "text"
    {
        return Err(unsupported(&format!("response_format {}", format.kind)));
    }

    let mut system = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    let mut has_tool_blocks = false;
    for (i, message) in request.messages.iter().enumerate() {
        refuse_unknown_message_fields(i, &message.extra)?;
        if message.name.is_some() {
            return Err(unsupported("the name field on messages"));
        }
        let (role, blocks) = match message.role.as_str() {
            "system" | "developer" => {
                let text = text_only(message.content.as_ref(), &message.role)?;
                if !text.is_empty() {
                    system.push(SystemBlock { text });
                }
                continue;
            }
            "user" => ("user", user_blocks(message.content.as_ref())?),
            "assistant" => {
                let mut blocks = Vec::new();
                let text = text_only(message.content.as_ref(), "assistant")?;
                if !text.is_empty() {
                    blocks.push(ContentBlock::Text(text));
                }
                for call in message.tool_calls.iter().flatten() {
                    if call.kind != "function" {
                        return Err(unsupported(&format!("{} tool calls", call.kind)));
                    }
                    let input = if call.function.arguments.trim().is_empty() {
                        json!({})
                    } else {
                        serde_json::from_str(&call.function.arguments).map_err(|_| {
                            invalid(format!(
                                "messages[{i}]: arguments of tool call {} are not valid JSON",
                                call.id
                            ))
                        })?
                    };
                    has_tool_blocks = true;
                    blocks.push(ContentBlock::ToolUse(ToolUseBlock {
                        tool_use_id: call.id.clone(),
                        name: call.function.name.clone(),
                        input,
                    }));
                }
                ("assistant", blocks)
            }
            "tool" => {
                let id = message.tool_call_id.clone().ok_or_else(|| {
                    invalid(format!("messages[{i}]: a tool message needs tool_call_id"))
                })?;
                has_tool_blocks = true;
                let text = text_only(message.content.as_ref(), "tool")?;
                (
                    "user",
                    vec![ContentBlock::ToolResult(ToolResultBlock {
                        tool_use_id: id,
                        content: vec![ToolResultContent::Text(text)],
                    })],
                )
            }
            other => return Err(unsupported(&format!("the message role {other:?}"))),
        };
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(Message {
                role,
                content: blocks,
            }),
        }
    }

    let inference = InferenceConfig {
        max_tokens: request.max_output_tokens(),
        temperature: request.temperature,
        top_p: request.top_p,
        stop_sequences: request
            .stop
            .as_ref()
            .map(|s| s.to_vec())
            .unwrap_or_default(),
    };
    Ok(ConverseRequest {
        messages,
        system,
        inference_config: (!inference.is_empty()).then_some(inference),
        tool_config: tool_config(request, has_tool_blocks)?,
    })
}

fn tool_config(
    request: &ChatRequest,
    has_tool_blocks: bool,
) -> Result<Option<ToolConfig>, ProviderError> {
    let tools = request.tools.as_deref().unwrap_or_default();
    let choice = match &request.tool_choice {
        None => None,
        Some(OpenAiToolChoice::Mode(mode)) => match mode.as_str() {
            "auto" => Some(ToolChoice::Auto {}),
            "required" => Some(ToolChoice::Any {}),
            "none" => {
                if has_tool_blocks {
                    return Err(unsupported(
                        "tool_choice \"none\" in a conversation that holds tool calls",
                    ));
                }
                return Ok(None);
            }
            other => return Err(unsupported(&format!("tool_choice {other:?}"))),
        },
        Some(OpenAiToolChoice::Named { kind, function }) => {
            if kind != "function" {
                return Err(unsupported(&format!("tool_choice of type {kind:?}")));
            }
            Some(ToolChoice::Tool {
                name: function.name.clone(),
            })
        }
    };
    if tools.is_empty() {
        if choice.is_some() {
            return Err(invalid("tool_choice is set but no tools are given"));
        }
        return Ok(None);
    }
    let mut specs = Vec::with_capacity(tools.len());
    for tool in tools {
        if tool.kind != "function" {
            return Err(unsupported(&format!("{} tools", tool.kind)));
        }
        if tool.function.strict == Some(true) {
            return Err(unsupported("strict function schemas"));
        }
        specs.push(Tool {
            tool_spec: ToolSpec {
                name: tool.function.name.clone(),
                description: tool.function.description.clone(),
                input_schema: InputSchema {
                    json: tool
                        .function
                        .parameters
                        .clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                },
            },
        });
    }
    Ok(Some(ToolConfig {
        tools: specs,
        tool_choice: choice,
    }))
}

/// Request fields with no Converse equivalent. `user` is accepted and has
/// no effect (it is an abuse-tracking hint, not a model parameter); nulls
/// are what some SDKs send for "unset".
fn refuse_unknown_fields(request: &ChatRequest) -> Result<(), ProviderError> {
    for (key, value) in &request.extra {
        if value.is_null() {
            continue;
        }
        return Err(unsupported(key));
    }
    Ok(())
}

/// Message fields other SDKs echo back from earlier answers (`refusal: null`,
/// `annotations: []`) are harmless; anything with content is refused.
fn refuse_unknown_message_fields(
    index: usize,
    extra: &serde_json::Map<String, Value>,
) -> Result<(), ProviderError> {
    for (key, value) in extra {
        let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
        if !empty {
            return Err(unsupported(&format!(
                "the message field {key} (messages[{index}])"
            )));
        }
    }
    Ok(())
}

/// The text of a message that may hold only text.
fn text_only(content: Option<&Content>, role: &str) -> Result<String, ProviderError> {
    match content {
        None => Ok(String::new()),
        Some(Content::Text(text)) => Ok(text.clone()),
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            for part in parts {
                match part {
                    ContentPart::Text { text: t } => text.push_str(t),
                    ContentPart::ImageUrl { .. } => {
                        return Err(unsupported(&format!("image content in {role} messages")));
                    }
                    ContentPart::Other(value) => return Err(unsupported(&part_name(value))),
                }
            }
            Ok(text)
        }
    }
}

fn user_blocks(content: Option<&Content>) -> Result<Vec<ContentBlock>, ProviderError> {
    match content {
        None => Ok(Vec::new()),
        Some(Content::Text(text)) => Ok(vec![ContentBlock::Text(text.clone())]),
        Some(Content::Parts(parts)) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text { text } => Ok(ContentBlock::Text(text.clone())),
                ContentPart::ImageUrl { image_url } => {
                    let Some((media_type, data)) = image_url.as_data() else {
                        return Err(unsupported(
                            "image URLs other than data: URLs (send the image inline as base64)",
                        ));
                    };
                    let format = match media_type {
                        "image/png" => "png",
                        "image/jpeg" | "image/jpg" => "jpeg",
                        "image/gif" => "gif",
                        "image/webp" => "webp",
                        other => return Err(unsupported(&format!("images of type {other}"))),
                    };
                    Ok(ContentBlock::Image(ImageBlock {
                        format,
                        source: ImageSource {
                            bytes: data.to_owned(),
                        },
                    }))
                }
                ContentPart::Other(value) => Err(unsupported(&part_name(value))),
            })
            .collect(),
    }
}

fn part_name(value: &Value) -> String {
    match value.get("type").and_then(Value::as_str) {
        Some(kind) => format!("{kind} content parts"),
        None => "content parts without a type".to_owned(),
    }
}

/// Translates a Converse response into a `chat.completion`.
pub(crate) fn from_converse(
    response: ConverseResponse,
    id: String,
    created: u64,
    model: String,
) -> ChatResponse {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in response
        .output
        .message
        .map(|m| m.content)
        .unwrap_or_default()
    {
        if let Some(t) = block.text {
            text.push_str(&t);
        }
        if let Some(tool) = block.tool_use {
            tool_calls.push(ToolCall {
                id: tool.tool_use_id,
                kind: "function".into(),
                function: FunctionCall {
                    name: tool.name,
                    arguments: tool.input.to_string(),
                },
            });
        }
    }
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(text)
    };
    ChatResponse {
        id,
        object: "chat.completion".into(),
        created,
        model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: None,
            },
            finish_reason: Some(finish_reason(&response.stop_reason).to_owned()),
            logprobs: None,
        }],
        usage: response
            .usage
            .map(|u| Usage::new(u.input_tokens, u.output_tokens)),
    }
}
