//! Request extractors whose failures use the admin API's error shape:
//! a malformed body or query answers 400 `invalid_request` with a message
//! that names the problem, a body over the limit 413.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body. The content type is not required (scripts forget
/// it); the body must parse as the expected shape.
pub(crate) struct Json<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!(
                    "request body is larger than {} bytes",
                    crate::MAX_BODY_BYTES
                ))
            } else {
                ApiError::InvalidRequest(format!("could not read request body: {rejection}"))
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses a JSON body, naming the field that is wrong.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::InvalidRequest(
            "request body is empty; a JSON object is expected".into(),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::InvalidRequest(format!("invalid JSON body: {e}")))
}

/// A query string parsed into `T`.
pub(crate) struct Query<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| {
                ApiError::InvalidRequest(format!("invalid query string: {}", e.body_text()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
    }

    fn message(bytes: &[u8]) -> String {
        match parse_json::<Body>(bytes) {
            Err(ApiError::InvalidRequest(m)) => m,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        assert!(message(b"").contains("empty"));
        assert!(message(b"{").contains("invalid JSON body"));
        assert!(message(b"{}").contains("missing field `name`"));
        assert!(message(br#"{"name":"a","x":1}"#).contains("unknown field `x`"));
        assert_eq!(parse_json::<Body>(br#"{"name":"a"}"#).unwrap().name, "a");
    }
}
