//! OpenAI chat completions → Anthropic Messages (requests) and back
//! (responses), for the `anthropic` provider kind.
//!
//! Mapping decisions (also in `docs/providers.md`):
//! - `system` and `developer` messages, wherever they appear, are hoisted
//!   into Anthropic's top-level `system` in order (Anthropic has no
//!   mid-conversation system turns);
//! - `tool` messages become `tool_result` blocks in a user turn; adjacent
//!   turns of the same role are merged, as Anthropic requires alternation;
//! - `user` → `metadata.user_id`; `top_k` (not OpenAI, but sent by some
//!   clients) → `top_k`; `store`, `metadata`, a message's `name` and an
//!   image's `detail` have no Anthropic counterpart and change nothing the
//!   model does, so they are ignored;
//! - everything that would change the answer and cannot be expressed is
//!   refused by name: `n > 1`, `seed`, `logprobs`, penalties, `logit_bias`,
//!   `response_format` json modes, strict tool schemas, audio and file
//!   parts, non-function tools, unknown fields.

use serde_json::{Map, Value, json};

use super::wire::{
    Block, ImageSource, Message as WireMessage, MessageContent, MessagesRequest, MessagesResponse,
    Metadata, System, Tool as WireTool, ToolChoice as WireToolChoice, ToolResultContent,
};
use crate::{
    ProviderError, ProviderErrorKind,
    chat::{
        ChatRequest, ChatResponse, Choice, Content, ContentPart, FunctionCall, ImageUrl, Message,
        ResponseMessage, Tool, ToolCall, ToolChoice, Usage,
    },
};

/// The provider kind name, as used in error messages.
pub(crate) const KIND: &str = "anthropic";

fn unsupported(feature: &str) -> ProviderError {
    ProviderError::unsupported(KIND, feature)
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ProviderErrorKind::InvalidRequest, message)
}

/// Translates an OpenAI chat request into a Messages request.
/// `default_max_tokens` is used when the client sets no cap (Anthropic
/// requires one); `stream` is whether the client asked for a stream.
pub(crate) fn to_messages_request(
    request: ChatRequest,
    default_max_tokens: u64,
    stream: bool,
) -> Result<MessagesRequest, ProviderError> {
    let max_tokens = request.max_output_tokens().unwrap_or(default_max_tokens);
    if request.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n > 1"));
    }
    if request.seed.is_some() {
        return Err(unsupported("seed"));
    }
    if let Some(format) = &request.response_format
        && format.kind != "text"
    {
        return Err(unsupported(&format!("response_format {}", format.kind)));
    }
    let top_k = extra_fields(&request.extra)?;

    let (system, messages) = convert_messages(request.messages)?;
    let tools = request.tools.map(convert_tools).transpose()?;
    let has_tools = tools.as_ref().is_some_and(|t| !t.is_empty());
    let mut tool_choice = request.tool_choice.map(convert_tool_choice).transpose()?;
    if request.parallel_tool_calls == Some(false) && has_tools {
        let choice = tool_choice.get_or_insert_with(|| WireToolChoice {
            kind: "auto".into(),
            name: None,
            disable_parallel_tool_use: None,
        });
        // `none` calls no tools at all, so there is nothing to serialize.
        if choice.kind != "none" {
            choice.disable_parallel_tool_use = Some(true);
        }
    }
    Ok(MessagesRequest {
        model: request.model,
        max_tokens: Some(max_tokens),
        system,
        messages,
        metadata: request.user.map(|user| Metadata {
            user_id: Some(user),
            extra: Map::new(),
        }),
        stop_sequences: request.stop.map(|s| s.to_vec()),
        stream: stream.then_some(true),
        temperature: request.temperature,
        top_p: request.top_p,
        top_k,
        tools,
        tool_choice,
        extra: Map::new(),
    })
}

/// Checks the fields the typed request does not know. Returns `top_k`.
fn extra_fields(extra: &Map<String, Value>) -> Result<Option<u64>, ProviderError> {
    let mut top_k = None;
    for (name, value) in extra {
        let harmless = match name.as_str() {
            _ if value.is_null() => true,
            "top_k" => {
                top_k = Some(
                    value
                        .as_u64()
                        .ok_or_else(|| invalid("top_k must be a non-negative integer"))?,
                );
                true
            }
            // Stored-completion settings of OpenAI's own platform.
            "store" | "metadata" => true,
            "logprobs" => value == &Value::Bool(false),
            "frequency_penalty" | "presence_penalty" => value.as_f64() == Some(0.0),
            "logit_bias" => value.as_object().is_some_and(Map::is_empty),
            "service_tier" => matches!(value.as_str(), Some("auto" | "default")),
            "modalities" => value == &json!(["text"]),
            _ => false,
        };
        if !harmless {
            return Err(unsupported(name));
        }
    }
    Ok(top_k)
}

/// Hoists system messages and builds alternating turns.
fn convert_messages(
    messages: Vec<Message>,
) -> Result<(Option<System>, Vec<WireMessage>), ProviderError> {
    let mut system: Vec<Block> = Vec::new();
    let mut turns: Vec<(String, Vec<Block>)> = Vec::new();
    for (i, message) in messages.into_iter().enumerate() {
        for (field, value) in &message.extra {
            // `refusal` echoes an earlier answer; a null field is unset.
            if !value.is_null() && field != "refusal" {
                return Err(unsupported(&format!(
                    "{field} on {} messages",
                    message.role
                )));
            }
        }
        let (role, blocks) = match message.role.as_str() {
            "system" | "developer" => {
                system.extend(text_blocks(message.content, &message.role)?);
                continue;
            }
            "user" => ("user", user_blocks(message.content)?),
            "assistant" => ("assistant", assistant_blocks(message)?),
            "tool" => ("user", vec![tool_result(message, i)?]),
            "function" => return Err(unsupported("function messages (use tool messages)")),
            other => {
                return Err(invalid(format!("messages[{i}]: unknown role {other:?}")));
            }
        };
        match turns.last_mut() {
            Some((last, existing)) if last == role => existing.extend(blocks),
            _ => turns.push((role.to_owned(), blocks)),
        }
    }
    let system = match system.as_slice() {
        [] => None,
        [Block::Text { text }] => Some(System::Text(text.clone())),
        _ => Some(System::Blocks(system)),
    };
    let messages = turns
        .into_iter()
        .map(|(role, blocks)| WireMessage {
            role,
            content: MessageContent::Blocks(blocks),
        })
        .collect();
    Ok((system, messages))
}

/// Text-only content (system messages, assistant text, tool results).
fn text_blocks(content: Option<Content>, role: &str) -> Result<Vec<Block>, ProviderError> {
    match content {
        None => Ok(Vec::new()),
        Some(Content::Text(text)) => Ok(vec![Block::Text { text }]),
        Some(Content::Parts(parts)) => parts
            .into_iter()
            .map(|part| match part {
                ContentPart::Text { text } => Ok(Block::Text { text }),
                ContentPart::ImageUrl { .. } => {
                    Err(unsupported(&format!("image content in {role} messages")))
                }
                ContentPart::Other(value) => Err(unsupported(&part_name(&value, role))),
            })
            .collect(),
    }
}

fn part_name(value: &Value, role: &str) -> String {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    format!("{kind} content parts in {role} messages")
}

fn user_blocks(content: Option<Content>) -> Result<Vec<Block>, ProviderError> {
    match content {
        None => Err(invalid("user messages need content")),
        Some(Content::Text(text)) => Ok(vec![Block::Text { text }]),
        Some(Content::Parts(parts)) => parts
            .into_iter()
            .map(|part| match part {
                ContentPart::Text { text } => Ok(Block::Text { text }),
                ContentPart::ImageUrl { image_url } => image_block(&image_url),
                ContentPart::Other(value) => Err(unsupported(&part_name(&value, "user"))),
            })
            .collect(),
    }
}

fn image_block(image: &ImageUrl) -> Result<Block, ProviderError> {
    let source = if let Some((media_type, data)) = image.as_data() {
        ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        }
    } else if image.url.starts_with("https://") {
        ImageSource::Url {
            url: image.url.clone(),
        }
    } else {
        return Err(unsupported(
            "image URLs other than https:// and base64 data: URLs",
        ));
    };
    Ok(Block::Image { source })
}

fn assistant_blocks(message: Message) -> Result<Vec<Block>, ProviderError> {
    // Anthropic refuses empty text blocks; an empty assistant text is no text.
    let mut blocks: Vec<Block> = text_blocks(message.content, "assistant")?
        .into_iter()
        .filter(|b| !matches!(b, Block::Text { text } if text.is_empty()))
        .collect();
    for call in message.tool_calls.unwrap_or_default() {
        if call.kind != "function" {
            return Err(unsupported(&format!("{} tool calls", call.kind)));
        }
        // Anthropic's `input` is an object; OpenAI's arguments are its JSON text.
        let input = if call.function.arguments.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str::<Value>(&call.function.arguments) {
                Ok(value @ Value::Object(_)) => value,
                _ => {
                    return Err(invalid(format!(
                        "tool call {} has arguments that are not a JSON object",
                        call.id
                    )));
                }
            }
        };
        blocks.push(Block::ToolUse {
            id: call.id,
            name: call.function.name,
            input,
        });
    }
    Ok(blocks)
}

fn tool_result(message: Message, index: usize) -> Result<Block, ProviderError> {
    let tool_use_id = message.tool_call_id.ok_or_else(|| {
        invalid(format!(
            "messages[{index}]: tool messages need tool_call_id"
        ))
    })?;
    let content = match message.content {
        None => None,
        Some(Content::Text(text)) => Some(ToolResultContent::Text(text)),
        Some(content) => Some(ToolResultContent::Blocks(text_blocks(
            Some(content),
            "tool",
        )?)),
    };
    Ok(Block::ToolResult {
        tool_use_id,
        content,
        is_error: None,
    })
}

fn convert_tools(tools: Vec<Tool>) -> Result<Vec<WireTool>, ProviderError> {
    tools
        .into_iter()
        .map(|tool| {
            if tool.kind != "function" {
                return Err(unsupported(&format!("{} tools", tool.kind)));
            }
            if tool.function.strict == Some(true) {
                return Err(unsupported("strict function schemas"));
            }
            Ok(WireTool {
                kind: None,
                name: tool.function.name,
                description: tool.function.description,
                input_schema: Some(
                    tool.function
                        .parameters
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                ),
                extra: Map::new(),
            })
        })
        .collect()
}

fn convert_tool_choice(choice: ToolChoice) -> Result<WireToolChoice, ProviderError> {
    let (kind, name) = match choice {
        ToolChoice::Mode(mode) => match mode.as_str() {
            "none" => ("none", None),
            "auto" => ("auto", None),
            "required" => ("any", None),
            other => return Err(invalid(format!("tool_choice {other:?} is not known"))),
        },
        ToolChoice::Named { kind, function } if kind == "function" => ("tool", Some(function.name)),
        ToolChoice::Named { kind, .. } => {
            return Err(unsupported(&format!("tool_choice of type {kind}")));
        }
    };
    Ok(WireToolChoice {
        kind: kind.to_owned(),
        name,
        disable_parallel_tool_use: None,
    })
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub(crate) fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn and anything newer.
        _ => "stop",
    }
}

/// Translates a Messages response into a `chat.completion`. `created` is
/// the Unix time to report (Anthropic sends none).
pub(crate) fn to_chat_response(response: MessagesResponse, created: u64) -> ChatResponse {
    let mut text: Option<String> = None;
    let mut tool_calls = Vec::new();
    for block in response.content {
        match block {
            Block::Text { text: piece } => text.get_or_insert_with(String::new).push_str(&piece),
            Block::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                kind: "function".into(),
                function: FunctionCall {
                    name,
                    arguments: input.to_string(),
                },
            }),
            // Thinking and server-tool blocks only appear when requested,
            // and this provider never requests them.
            _ => {}
        }
    }
    ChatResponse {
        id: response.id,
        object: "chat.completion".into(),
        created,
        model: response.model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: text,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: None,
            },
            finish_reason: response
                .stop_reason
                .as_deref()
                .map(|r| finish_reason(r).to_owned()),
            logprobs: None,
        }],
        usage: Some(Usage::new(
            response.usage.prompt_tokens().unwrap_or(0),
            response.usage.output_tokens.unwrap_or(0),
        )),
    }
}
