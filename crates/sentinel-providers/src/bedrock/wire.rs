//! Bedrock Converse / ConverseStream wire types (JSON over HTTP: field
//! names in camelCase, union members as single-key objects, blob fields as
//! base64 strings).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /model/{modelId}/converse` (and `/converse-stream`) request body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConverseRequest {
    pub(crate) messages: Vec<Message>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) system: Vec<SystemBlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) inference_config: Option<InferenceConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_config: Option<ToolConfig>,
}

/// A conversation turn: `user` or `assistant`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Message {
    pub(crate) role: &'static str,
    pub(crate) content: Vec<ContentBlock>,
}

/// `{"text": "…"}` in the `system` list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SystemBlock {
    pub(crate) text: String,
}

/// A request content block (a union: exactly one member set).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ContentBlock {
    Text(String),
    Image(ImageBlock),
    ToolUse(ToolUseBlock),
    ToolResult(ToolResultBlock),
}

/// `{"format": "png", "source": {"bytes": "<base64>"}}`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ImageBlock {
    pub(crate) format: &'static str,
    pub(crate) source: ImageSource,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ImageSource {
    /// Base64, as the client sent it in its data URL.
    pub(crate) bytes: String,
}

/// A tool call the assistant made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolUseBlock {
    pub(crate) tool_use_id: String,
    pub(crate) name: String,
    /// The arguments as a JSON value (not text).
    pub(crate) input: Value,
}

/// The result of a tool call, sent in a user turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolResultBlock {
    pub(crate) tool_use_id: String,
    pub(crate) content: Vec<ToolResultContent>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ToolResultContent {
    Text(String),
}

/// `maxTokens`, `temperature`, `topP`, `stopSequences`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InferenceConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) stop_sequences: Vec<String>,
}

impl InferenceConfig {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolConfig {
    pub(crate) tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<ToolChoice>,
}

/// `{"toolSpec": {...}}`
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Tool {
    pub(crate) tool_spec: ToolSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolSpec {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    pub(crate) input_schema: InputSchema,
}

/// `{"json": <JSON Schema>}`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct InputSchema {
    pub(crate) json: Value,
}

/// `{"auto": {}}`, `{"any": {}}` or `{"tool": {"name": "…"}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ToolChoice {
    Auto {},
    Any {},
    Tool { name: String },
}

/// The Converse response body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConverseResponse {
    pub(crate) output: Output,
    pub(crate) stop_reason: String,
    #[serde(default)]
    pub(crate) usage: Option<TokenUsage>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Output {
    #[serde(default)]
    pub(crate) message: Option<OutputMessage>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct OutputMessage {
    #[serde(default)]
    pub(crate) content: Vec<OutputBlock>,
}

/// A response content block. Members other than `text` and `toolUse`
/// (reasoning, citations, images, …) are kept in `other` and not relayed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutputBlock {
    #[serde(default)]
    pub(crate) text: Option<String>,
    #[serde(default)]
    pub(crate) tool_use: Option<ToolUseBlock>,
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

/// `usage` in responses and stream metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenUsage {
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
}

/// `contentBlockStart` payload.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContentBlockStartEvent {
    pub(crate) content_block_index: u64,
    #[serde(default)]
    pub(crate) start: Option<BlockStart>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlockStart {
    #[serde(default)]
    pub(crate) tool_use: Option<ToolUseStart>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolUseStart {
    pub(crate) tool_use_id: String,
    pub(crate) name: String,
}

/// `contentBlockDelta` payload.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContentBlockDeltaEvent {
    pub(crate) content_block_index: u64,
    pub(crate) delta: BlockDelta,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlockDelta {
    #[serde(default)]
    pub(crate) text: Option<String>,
    #[serde(default)]
    pub(crate) tool_use: Option<ToolUseDelta>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct ToolUseDelta {
    /// A piece of the arguments' JSON text.
    pub(crate) input: String,
}

/// `messageStop` payload.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageStopEvent {
    pub(crate) stop_reason: String,
}

/// `metadata` payload.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct MetadataEvent {
    #[serde(default)]
    pub(crate) usage: Option<TokenUsage>,
}
