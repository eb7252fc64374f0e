//! The one place where data-plane failures become HTTP responses.
//!
//! Client bodies carry the stable code, a message a person can act on and
//! the request id; never an upstream body, a credential or internal detail.
//! The operator-facing detail goes to the request record instead.

use axum::{
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sentinel_core::ErrorCode;
use serde_json::json;

/// The model API a client speaks, which decides the shape of errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientApi {
    OpenAi,
    Anthropic,
}

/// A client-visible failure of a data-plane request.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub code: ErrorCode,
    /// Shown to the client.
    pub message: String,
    /// Recorded for operators only.
    pub detail: Option<String>,
    /// Seconds for `Retry-After`, where it applies.
    pub retry_after: Option<u64>,
    /// The policy rule that refused the request, shown to the client.
    pub rule: Option<String>,
    /// Extra response headers (e.g. `x-ratelimit-*`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl GatewayError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
            retry_after: None,
            rule: None,
            headers: Vec::new(),
        }
    }

    pub fn with_rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    pub fn with_headers(mut self, headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        self.headers = headers;
        self
    }

    /// `Retry-After` and the extra headers, on any response shape.
    fn finish(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        response
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The error in the shape of the client's API.
    pub fn to_response_as(&self, api: ClientApi, request_id: &str) -> Response {
        self.to_response_linked(api, request_id, None)
    }

    /// [`Self::to_response_as`], with the code's docs entry as
    /// `error.doc_url` when there is one.
    pub fn to_response_linked(
        &self,
        api: ClientApi,
        request_id: &str,
        doc_url: Option<&str>,
    ) -> Response {
        match api {
            ClientApi::OpenAi => self.openai_response(request_id, doc_url),
            ClientApi::Anthropic => {
                let status = StatusCode::from_u16(self.code.status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut body = sentinel_providers::anthropic_ingress::error_body(
                    status.as_u16(),
                    &self.message,
                    request_id,
                );
                // Sentinel's stable code, beside Anthropic's error type.
                body["error"]["code"] = json!(self.code.as_str());
                if let Some(rule) = &self.rule {
                    body["error"]["rule"] = json!(rule);
                }
                if let Some(url) = doc_url {
                    body["error"]["doc_url"] = json!(url);
                }
                self.finish((status, axum::Json(body)).into_response())
            }
        }
    }

    /// The OpenAI-shaped error response, stamped with the request id.
    pub fn to_response(&self, request_id: &str) -> Response {
        self.openai_response(request_id, None)
    }

    fn openai_response(&self, request_id: &str, doc_url: Option<&str>) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({
            "error": {
                "message": self.message,
                "type": self.code.kind().as_str(),
                "param": null,
                "code": self.code.as_str(),
                "request_id": request_id,
            }
        });
        if let Some(rule) = &self.rule {
            body["error"]["rule"] = json!(rule);
        }
        if let Some(url) = doc_url {
            body["error"]["doc_url"] = json!(url);
        }
        self.finish((status, axum::Json(body)).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn error_body_is_openai_shaped_with_request_id() {
        let response = GatewayError::new(ErrorCode::InvalidApiKey, "the key is not valid")
            .with_detail("secret detail for operators")
            .to_response("req-1");
        assert_eq!(response.status(), 401);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"error": {"message": "the key is not valid", "type": "authentication_error",
                "param": null, "code": "invalid_api_key", "request_id": "req-1"}})
        );
    }

    #[tokio::test]
    async fn the_docs_entry_is_linked_when_set() {
        let error = GatewayError::new(ErrorCode::UpstreamTimeout, "too slow");
        let url = "https://docs.example.com/errors#upstream_timeout";
        for api in [ClientApi::OpenAi, ClientApi::Anthropic] {
            let response = error.to_response_linked(api, "r", Some(url));
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                body["error"]["doc_url"], "https://docs.example.com/errors#upstream_timeout",
                "{api:?}"
            );
        }
    }

    #[tokio::test]
    async fn retry_after_is_sent() {
        let response = GatewayError::new(ErrorCode::RateLimited, "slow down")
            .with_retry_after(7)
            .to_response("r");
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }
}
