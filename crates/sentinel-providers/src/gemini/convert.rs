//! OpenAI chat completions and embeddings ↔ Google's `generateContent` and
//! `batchEmbedContents`. Shared by the `gemini` and `vertex` kinds, which
//! differ only in URLs and authentication.
//!
//! Mapped: system/developer messages → `systemInstruction`; user and
//! assistant turns → `contents` (roles `user`/`model`, consecutive turns of
//! one role merged); `data:` image URLs → `inlineData`; assistant
//! `tool_calls` → `functionCall` parts; tool messages → `functionResponse`
//! parts (the name found from the earlier call with the same id); `tools` →
//! `functionDeclarations` with cleaned schemas; `tool_choice` →
//! `functionCallingConfig`; temperature, top_p, max(_completion)_tokens, stop,
//! seed, presence/frequency penalties and `response_format` →
//! `generationConfig`.
//!
//! Ignored (no effect on the answer): `user`, `strict` on tools, image
//! `detail`, message `name`, `parallel_tool_calls: true`, and fields sent as
//! `null`. Everything else Sentinel cannot express is refused by name.
//!
//! Gemini 3 models need each `functionCall`'s `thoughtSignature` back on the
//! next turn; OpenAI has no field for it, so it travels inside the tool-call
//! id Sentinel hands out (`call_<nonce>~ts~<signature>`), which clients echo.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::wire::{
    BatchEmbedContentsRequest, BatchEmbedContentsResponse, Blob, Content, EmbedContentRequest,
    FunctionCall, FunctionCallingConfig, FunctionDeclaration, FunctionResponse,
    GenerateContentRequest, GenerateContentResponse, GenerationConfig, Part, Tool, ToolConfig,
    UsageMetadata,
};
use crate::{
    ProviderError, ProviderErrorKind,
    chat::{
        ChatRequest, ChatResponse, Choice, Content as OaContent, ContentPart, ResponseFormat,
        ResponseMessage, ToolCall, ToolChoice, Usage,
    },
};

/// Separates a tool-call id from the thought signature carried inside it.
const SIGNATURE_MARK: &str = "~ts~";

/// What the answer translation needs to know about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChatContext {
    /// The upstream model (the request's `model`).
    pub(crate) model: String,
    /// The client asked for a final usage chunk.
    pub(crate) include_usage: bool,
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ProviderErrorKind::InvalidRequest, message)
}

fn protocol(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Protocol, message)
}

/// Checks a model name before it goes into a URL path: no `/`, `?`, `#` or
/// `:` can reach the path. A leading `models/` is accepted and dropped.
pub(crate) fn model_segment(model: &str) -> Result<&str, ProviderError> {
    let model = model.strip_prefix("models/").unwrap_or(model);
    let ok = !model.is_empty()
        && model.len() <= 256
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(model)
    } else {
        Err(invalid(format!(
            "model {model:?} is not a valid Google model name"
        )))
    }
}

/// Translates an OpenAI chat request into a `generateContent` body.
pub(crate) fn chat_request(
    kind: &str,
    body: &[u8],
) -> Result<(GenerateContentRequest, ChatContext), ProviderError> {
    let request: ChatRequest = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("invalid chat completions request: {e}")))?;
    let mut generation = GenerationConfig::default();
    refuse_or_map_extra(kind, &request.extra, &mut generation)?;
    if request.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::unsupported(kind, "n greater than 1"));
    }
    if request.parallel_tool_calls == Some(false) {
        return Err(ProviderError::unsupported(
            kind,
            "parallel_tool_calls: false",
        ));
    }

    let (system_instruction, contents) = messages(kind, &request)?;

    let tools = match &request.tools {
        Some(tools) if !tools.is_empty() => vec![Tool {
            function_declarations: tools
                .iter()
                .map(|tool| declaration(kind, tool))
                .collect::<Result<_, _>>()?,
        }],
        _ => Vec::new(),
    };
    let tool_config = match (&request.tool_choice, tools.is_empty()) {
        (Some(choice), false) => Some(tool_config(choice)?),
        _ => None,
    };

    generation.temperature = request.temperature;
    generation.top_p = request.top_p;
    generation.max_output_tokens = request.max_output_tokens();
    generation.stop_sequences = request
        .stop
        .as_ref()
        .map(|s| s.to_vec())
        .unwrap_or_default();
    generation.seed = request.seed;
    if let Some(format) = &request.response_format {
        response_format(kind, format, &mut generation)?;
    }

    let context = ChatContext {
        model: request.model.clone(),
        include_usage: request.include_usage(),
    };
    Ok((
        GenerateContentRequest {
            contents,
            system_instruction,
            tools,
            tool_config,
            generation_config: (!generation.is_empty()).then_some(generation),
        },
        context,
    ))
}

/// Request fields outside the typed view: a few map to `generationConfig`,
/// `null` (and `false` for switches) changes nothing, the rest is refused.
fn refuse_or_map_extra(
    kind: &str,
    extra: &Map<String, Value>,
    generation: &mut GenerationConfig,
) -> Result<(), ProviderError> {
    for (key, value) in extra {
        if value.is_null() {
            continue;
        }
        let number = || {
            value
                .as_f64()
                .ok_or_else(|| invalid(format!("{key} must be a number")))
        };
        match key.as_str() {
            "presence_penalty" => generation.presence_penalty = Some(number()?),
            "frequency_penalty" => generation.frequency_penalty = Some(number()?),
            "logprobs" | "store" if value == &Value::Bool(false) => {}
            "logprobs" | "top_logprobs" => {
                return Err(ProviderError::unsupported(kind, "logprobs"));
            }
            _ => {
                return Err(ProviderError::unsupported(
                    kind,
                    &format!("request field `{key}`"),
                ));
            }
        }
    }
    Ok(())
}

/// Messages → (`systemInstruction`, `contents`).
fn messages(
    kind: &str,
    request: &ChatRequest,
) -> Result<(Option<Content>, Vec<Content>), ProviderError> {
    let mut system: Vec<Part> = Vec::new();
    let mut contents: Vec<Content> = Vec::new();
    // tool-call id → function name, from earlier assistant turns.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (i, message) in request.messages.iter().enumerate() {
        for (key, value) in &message.extra {
            // Response-only fields that clients echo back carry no instruction.
            if value.is_null() || matches!(key.as_str(), "refusal" | "annotations") {
                continue;
            }
            return Err(ProviderError::unsupported(
                kind,
                &format!("message field `{key}`"),
            ));
        }
        match message.role.as_str() {
            "system" | "developer" => {
                let parts = match &message.content {
                    Some(content) => content_parts(kind, content)?,
                    None => Vec::new(),
                };
                if parts.iter().any(|p| p.text.is_none()) {
                    return Err(ProviderError::unsupported(
                        kind,
                        "non-text content in system messages",
                    ));
                }
                system.extend(parts);
            }
            "user" => {
                let parts = match &message.content {
                    Some(content) => content_parts(kind, content)?,
                    None => return Err(invalid(format!("messages[{i}]: user content is missing"))),
                };
                push(&mut contents, "user", parts);
            }
            "assistant" => {
                let mut parts = match &message.content {
                    Some(content) => content_parts(kind, content)?,
                    None => Vec::new(),
                };
                parts.retain(|p| p.text.as_deref() != Some(""));
                for call in message.tool_calls.iter().flatten() {
                    if call.kind != "function" {
                        return Err(ProviderError::unsupported(
                            kind,
                            &format!("tool call type `{}`", call.kind),
                        ));
                    }
                    call_names.insert(call.id.as_str(), call.function.name.as_str());
                    parts.push(function_call_part(i, call)?);
                }
                if !parts.is_empty() {
                    push(&mut contents, "model", parts);
                }
            }
            "tool" => {
                let id = message.tool_call_id.as_deref().ok_or_else(|| {
                    invalid(format!("messages[{i}]: tool message without tool_call_id"))
                })?;
                let name = call_names.get(id).ok_or_else(|| {
                    invalid(format!(
                        "messages[{i}]: tool_call_id {id:?} answers no earlier assistant tool call"
                    ))
                })?;
                let text = message
                    .content
                    .as_ref()
                    .map(OaContent::text)
                    .unwrap_or_default();
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(object)) => Value::Object(object),
                    Ok(other) => json!({ "output": other }),
                    Err(_) => json!({ "output": text }),
                };
                push(
                    &mut contents,
                    "user",
                    vec![Part {
                        function_response: Some(FunctionResponse {
                            name: (*name).to_owned(),
                            response,
                        }),
                        ..Part::default()
                    }],
                );
            }
            "function" => {
                return Err(ProviderError::unsupported(
                    kind,
                    "messages with role `function` (use tool messages)",
                ));
            }
            other => return Err(invalid(format!("messages[{i}]: unknown role {other:?}"))),
        }
    }
    let system = (!system.is_empty()).then_some(Content {
        role: None,
        parts: system,
    });
    Ok((system, contents))
}

/// Appends a turn, merging it into the previous one when the role repeats
/// (e.g. several tool results answer one model turn together).
fn push(contents: &mut Vec<Content>, role: &str, parts: Vec<Part>) {
    match contents.last_mut() {
        Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
        _ => contents.push(Content {
            role: Some(role.to_owned()),
            parts,
        }),
    }
}

fn content_parts(kind: &str, content: &OaContent) -> Result<Vec<Part>, ProviderError> {
    match content {
        OaContent::Text(text) => Ok(vec![Part::text(text.clone())]),
        OaContent::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text { text } => Ok(Part::text(text.clone())),
                ContentPart::ImageUrl { image_url } => match image_url.as_data() {
                    Some((mime_type, data)) => Ok(Part {
                        inline_data: Some(Blob {
                            mime_type: mime_type.to_owned(),
                            data: data.to_owned(),
                        }),
                        ..Part::default()
                    }),
                    None if image_url.url.starts_with("https://")
                        || image_url.url.starts_with("http://") =>
                    {
                        Err(ProviderError::unsupported(
                            kind,
                            "image_url with an http(s) URL (send the image inline as a data: URL)",
                        ))
                    }
                    None => Err(invalid(
                        "image_url must be a data:<type>;base64,<data> URL or an https URL",
                    )),
                },
                ContentPart::Other(value) => Err(ProviderError::unsupported(
                    kind,
                    &format!(
                        "content part type `{}`",
                        value.get("type").and_then(Value::as_str).unwrap_or("?")
                    ),
                )),
            })
            .collect(),
    }
}

fn function_call_part(i: usize, call: &ToolCall) -> Result<Part, ProviderError> {
    let arguments = call.function.arguments.trim();
    let args = if arguments.is_empty() {
        json!({})
    } else {
        serde_json::from_str::<Value>(arguments).map_err(|e| {
            invalid(format!(
                "messages[{i}]: tool call {:?} arguments are not JSON: {e}",
                call.id
            ))
        })?
    };
    if !args.is_object() {
        return Err(invalid(format!(
            "messages[{i}]: tool call {:?} arguments must be a JSON object",
            call.id
        )));
    }
    Ok(Part {
        function_call: Some(FunctionCall {
            name: call.function.name.clone(),
            args,
        }),
        thought_signature: call
            .id
            .split_once(SIGNATURE_MARK)
            .map(|(_, signature)| signature.to_owned()),
        ..Part::default()
    })
}

fn declaration(kind: &str, tool: &crate::chat::Tool) -> Result<FunctionDeclaration, ProviderError> {
    if tool.kind != "function" {
        return Err(ProviderError::unsupported(
            kind,
            &format!("tool type `{}`", tool.kind),
        ));
    }
    let parameters = match &tool.function.parameters {
        None => None,
        Some(schema) => {
            let cleaned = clean_schema(kind, schema)?;
            // Gemini rejects an OBJECT without properties; no parameters says the same.
            let empty_object = cleaned.get("type").and_then(Value::as_str) == Some("object")
                && cleaned
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_none_or(Map::is_empty);
            (!empty_object).then_some(cleaned)
        }
    };
    Ok(FunctionDeclaration {
        name: tool.function.name.clone(),
        description: tool.function.description.clone(),
        parameters,
    })
}

/// Schema keywords Google's OpenAPI-subset `Schema` accepts.
const SCHEMA_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "propertyOrdering",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "anyOf",
    "default",
    "example",
];

/// Rewrites a JSON Schema into Google's `Schema` subset:
/// `type: [T, "null"]` → `type: T, nullable: true`; `const: v` → `enum: [v]`;
/// `oneOf` → `anyOf`; keywords Google rejects (`$schema`, `$id`,
/// `additionalProperties`, `examples`, `exclusiveMinimum`, `$comment`, …)
/// are dropped. `$ref` cannot be expressed and is refused.
pub(crate) fn clean_schema(kind: &str, schema: &Value) -> Result<Value, ProviderError> {
    let Some(object) = schema.as_object() else {
        return Ok(schema.clone());
    };
    if object.contains_key("$ref") {
        return Err(ProviderError::unsupported(
            kind,
            "JSON Schema `$ref` in tool parameters or response_format",
        ));
    }
    let mut out = Map::new();
    for (key, value) in object {
        match key.as_str() {
            "type" => match value {
                Value::Array(types) => {
                    let mut real = types.iter().filter(|t| t.as_str() != Some("null"));
                    match (real.next(), real.next()) {
                        (Some(t), None) => {
                            out.insert("type".into(), t.clone());
                            if types.len() > 1 {
                                out.insert("nullable".into(), Value::Bool(true));
                            }
                        }
                        _ => {
                            return Err(ProviderError::unsupported(
                                kind,
                                "JSON Schema `type` arrays with several non-null types",
                            ));
                        }
                    }
                }
                other => {
                    out.insert("type".into(), other.clone());
                }
            },
            "const" => {
                out.insert("enum".into(), Value::Array(vec![value.clone()]));
            }
            "properties" => {
                let mut properties = Map::new();
                for (name, sub) in value.as_object().into_iter().flatten() {
                    properties.insert(name.clone(), clean_schema(kind, sub)?);
                }
                out.insert("properties".into(), Value::Object(properties));
            }
            "items" => {
                out.insert("items".into(), clean_schema(kind, value)?);
            }
            "anyOf" | "oneOf" => {
                let variants = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| clean_schema(kind, v))
                    .collect::<Result<Vec<_>, _>>()?;
                out.insert("anyOf".into(), Value::Array(variants));
            }
            "allOf" | "not" | "if" | "then" | "else" | "patternProperties" => {
                return Err(ProviderError::unsupported(
                    kind,
                    &format!("JSON Schema `{key}` in tool parameters or response_format"),
                ));
            }
            known if SCHEMA_KEYWORDS.contains(&known) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {} // dropped: Google rejects keywords outside its subset
        }
    }
    Ok(Value::Object(out))
}

fn tool_config(choice: &ToolChoice) -> Result<ToolConfig, ProviderError> {
    let (mode, allowed_function_names) = match choice {
        ToolChoice::Mode(mode) => match mode.as_str() {
            "auto" => ("AUTO", Vec::new()),
            "none" => ("NONE", Vec::new()),
            "required" => ("ANY", Vec::new()),
            other => return Err(invalid(format!("unknown tool_choice {other:?}"))),
        },
        ToolChoice::Named { kind, function } if kind == "function" => {
            ("ANY", vec![function.name.clone()])
        }
        ToolChoice::Named { kind, .. } => {
            return Err(invalid(format!("unknown tool_choice type {kind:?}")));
        }
    };
    Ok(ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode,
            allowed_function_names,
        },
    })
}

fn response_format(
    kind: &str,
    format: &ResponseFormat,
    generation: &mut GenerationConfig,
) -> Result<(), ProviderError> {
    match format.kind.as_str() {
        "text" => {}
        "json_object" => generation.response_mime_type = Some("application/json"),
        "json_schema" => {
            let schema = format
                .json_schema
                .as_ref()
                .and_then(|s| s.get("schema"))
                .ok_or_else(|| invalid("response_format json_schema needs json_schema.schema"))?;
            generation.response_mime_type = Some("application/json");
            generation.response_schema = Some(clean_schema(kind, schema)?);
        }
        other => {
            return Err(ProviderError::unsupported(
                kind,
                &format!("response_format type `{other}`"),
            ));
        }
    }
    Ok(())
}

/// A fresh random hex string of `bytes` bytes.
pub(crate) fn nonce(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The system RNG does not fail on supported platforms; zeros would
    // still be a usable (if not unique) id.
    let _ = aws_lc_rs::rand::fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tool-call id that carries the part's thought signature, if any.
pub(crate) fn tool_call_id(signature: Option<&str>) -> String {
    match signature {
        Some(signature) => format!("call_{}{SIGNATURE_MARK}{signature}", nonce(12)),
        None => format!("call_{}", nonce(12)),
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `chatcmpl-<responseId>` or a fresh id.
pub(crate) fn completion_id(response_id: Option<&str>) -> String {
    match response_id {
        Some(id) if !id.is_empty() => format!("chatcmpl-{id}"),
        _ => format!("chatcmpl-{}", nonce(12)),
    }
}

/// Google finish reason → OpenAI `finish_reason`.
pub(crate) fn finish_reason(reason: &str, made_tool_calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        _ if made_tool_calls => "tool_calls",
        _ => "stop",
    }
}

/// `usageMetadata` → OpenAI usage: tool-use prompt tokens count as prompt,
/// thinking tokens as completion (as OpenAI counts reasoning tokens).
pub(crate) fn usage(metadata: &UsageMetadata) -> Usage {
    Usage::new(
        metadata.prompt_token_count + metadata.tool_use_prompt_token_count,
        metadata.candidates_token_count + metadata.thoughts_token_count,
    )
}

/// A `generateContent` answer → an OpenAI `chat.completion` body.
pub(crate) fn chat_response(context: &ChatContext, body: &[u8]) -> Result<Bytes, ProviderError> {
    let response: GenerateContentResponse = serde_json::from_slice(body)
        .map_err(|e| protocol(format!("invalid generateContent answer: {e}")))?;
    let candidate = response.candidates.first();
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for part in candidate
        .and_then(|c| c.content.as_ref())
        .map(|c| c.parts.as_slice())
        .unwrap_or_default()
    {
        if part.thought == Some(true) {
            continue;
        }
        if let Some(t) = &part.text {
            text.push_str(t);
        }
        if let Some(call) = &part.function_call {
            tool_calls.push(ToolCall {
                id: tool_call_id(part.thought_signature.as_deref()),
                kind: "function".into(),
                function: crate::chat::FunctionCall {
                    name: call.name.clone(),
                    arguments: call.args.to_string(),
                },
            });
        }
    }
    let finish = match candidate {
        Some(c) => c
            .finish_reason
            .as_deref()
            .map(|r| finish_reason(r, !tool_calls.is_empty())),
        // No candidate: the prompt itself was blocked.
        None => Some("content_filter"),
    };
    let content = if text.is_empty() && (candidate.is_none() || !tool_calls.is_empty()) {
        None
    } else {
        Some(text)
    };
    let answer = ChatResponse {
        id: completion_id(response.response_id.as_deref()),
        object: "chat.completion".into(),
        created: unix_now(),
        model: response
            .model_version
            .clone()
            .unwrap_or_else(|| context.model.clone()),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: None,
            },
            finish_reason: finish.map(str::to_owned),
            logprobs: None,
        }],
        usage: response.usage_metadata.as_ref().map(usage),
    };
    serde_json::to_vec(&answer)
        .map(Bytes::from)
        .map_err(|e| protocol(format!("cannot encode the answer: {e}")))
}

/// An OpenAI embeddings request, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EmbeddingsRequest {
    pub(crate) model: String,
    pub(crate) inputs: Vec<String>,
    pub(crate) dimensions: Option<u64>,
    /// `encoding_format: "base64"`: vectors as base64 little-endian f32.
    pub(crate) base64: bool,
}

/// Parses and checks an OpenAI `/v1/embeddings` body.
pub(crate) fn embeddings_request(
    kind: &str,
    body: &[u8],
) -> Result<EmbeddingsRequest, ProviderError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("invalid embeddings request: {e}")))?;
    let Value::Object(object) = value else {
        return Err(invalid("embeddings request must be a JSON object"));
    };
    let mut request = EmbeddingsRequest {
        model: String::new(),
        inputs: Vec::new(),
        dimensions: None,
        base64: false,
    };
    for (key, value) in &object {
        match key.as_str() {
            "model" => {
                request.model = value
                    .as_str()
                    .ok_or_else(|| invalid("model must be a string"))?
                    .to_owned();
            }
            "input" => {
                request.inputs = match value {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(items) if items.iter().all(Value::is_string) => items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    Value::Array(_) => {
                        return Err(ProviderError::unsupported(
                            kind,
                            "token-array embedding input (send text)",
                        ));
                    }
                    _ => return Err(invalid("input must be a string or an array of strings")),
                };
            }
            "dimensions" if !value.is_null() => {
                request.dimensions = Some(
                    value
                        .as_u64()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| invalid("dimensions must be a positive integer"))?,
                );
            }
            "encoding_format" => match value.as_str() {
                None | Some("float") => {}
                Some("base64") => request.base64 = true,
                Some(other) => return Err(invalid(format!("unknown encoding_format {other:?}"))),
            },
            "user" | "dimensions" => {}
            _ if value.is_null() => {}
            _ => {
                return Err(ProviderError::unsupported(
                    kind,
                    &format!("request field `{key}`"),
                ));
            }
        }
    }
    if request.inputs.is_empty() {
        return Err(invalid("input must not be empty"));
    }
    Ok(request)
}

/// The Gemini API's `batchEmbedContents` body for `request`.
pub(crate) fn batch_embed_body(
    request: &EmbeddingsRequest,
    model: &str,
) -> BatchEmbedContentsRequest {
    BatchEmbedContentsRequest {
        requests: request
            .inputs
            .iter()
            .map(|text| EmbedContentRequest {
                model: format!("models/{model}"),
                content: Content {
                    role: None,
                    parts: vec![Part::text(text.clone())],
                },
                output_dimensionality: request.dimensions,
            })
            .collect(),
    }
}

/// A `batchEmbedContents` answer → the vectors, in input order.
pub(crate) fn batch_embed_vectors(body: &[u8]) -> Result<Vec<Vec<f64>>, ProviderError> {
    let response: BatchEmbedContentsResponse = serde_json::from_slice(body)
        .map_err(|e| protocol(format!("invalid batchEmbedContents answer: {e}")))?;
    Ok(response.embeddings.into_iter().map(|e| e.values).collect())
}

/// Vectors → an OpenAI embeddings list body.
pub(crate) fn embeddings_response(
    request: &EmbeddingsRequest,
    vectors: Vec<Vec<f64>>,
    prompt_tokens: u64,
) -> Result<Bytes, ProviderError> {
    if vectors.len() != request.inputs.len() {
        return Err(protocol(format!(
            "upstream returned {} embeddings for {} inputs",
            vectors.len(),
            request.inputs.len()
        )));
    }
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(index, values)| {
            let embedding = if request.base64 {
                use base64::Engine as _;
                let bytes: Vec<u8> = values
                    .iter()
                    .flat_map(|v| (*v as f32).to_le_bytes())
                    .collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(values)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let body = json!({
        "object": "list",
        "data": data,
        "model": request.model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    });
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| protocol(format!("cannot encode the answer: {e}")))
}
