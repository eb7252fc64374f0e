//! Vertex AI text embeddings (`:predict`) ↔ OpenAI embeddings. Chat
//! translation is the Gemini API's, in `gemini::convert`.
//!
//! Request: `{"instances": [{"content": "…"}, …], "parameters":
//! {"outputDimensionality": N}}`. Answer: `{"predictions": [{"embeddings":
//! {"values": […], "statistics": {"token_count": n, "truncated": false}}}]}`;
//! token counts are summed into OpenAI `usage`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{ProviderError, ProviderErrorKind, gemini::convert::EmbeddingsRequest};

/// `:predict` body for an embeddings request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PredictRequest {
    pub(crate) instances: Vec<Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub(crate) parameters: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
struct PredictResponse {
    #[serde(default)]
    predictions: Vec<Prediction>,
}

#[derive(Debug, Default, Deserialize)]
struct Prediction {
    #[serde(default)]
    embeddings: PredictedEmbedding,
}

#[derive(Debug, Default, Deserialize)]
struct PredictedEmbedding {
    #[serde(default)]
    values: Vec<f64>,
    #[serde(default)]
    statistics: Option<Statistics>,
}

#[derive(Debug, Default, Deserialize)]
struct Statistics {
    #[serde(default)]
    token_count: f64,
}

pub(crate) fn predict_request(request: &EmbeddingsRequest) -> PredictRequest {
    let mut parameters = Map::new();
    if let Some(dimensions) = request.dimensions {
        parameters.insert("outputDimensionality".into(), json!(dimensions));
    }
    PredictRequest {
        instances: request
            .inputs
            .iter()
            .map(|text| json!({ "content": text }))
            .collect(),
        parameters,
    }
}

/// A `:predict` answer → (vectors in input order, total input tokens).
pub(crate) fn predict_vectors(body: &[u8]) -> Result<(Vec<Vec<f64>>, u64), ProviderError> {
    let response: PredictResponse = serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(
            ProviderErrorKind::Protocol,
            format!("invalid predict answer: {e}"),
        )
    })?;
    let mut tokens = 0u64;
    let vectors = response
        .predictions
        .into_iter()
        .map(|p| {
            tokens += p
                .embeddings
                .statistics
                .map(|s| s.token_count.max(0.0) as u64)
                .unwrap_or(0);
            p.embeddings.values
        })
        .collect();
    Ok((vectors, tokens))
}
