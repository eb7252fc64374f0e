//! The admin API client: one reqwest client, no redirects (a redirect could
//! carry the operator token to another host), and server errors turned into
//! messages that name the code, the message and the request id.

use std::{fmt, time::Duration};

use anyhow::Context as _;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::Conn;

pub(crate) struct Client {
    http: reqwest::Client,
    base: Url,
    token: String,
}

/// An error answer from the admin API.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiFailure {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) request_id: String,
    /// `(path, message)` for each problem of an invalid config document.
    pub(crate) errors: Vec<(String, String)>,
}

impl ApiFailure {
    /// Reads the admin API's error shape; anything else is reported with its
    /// status and the start of its body.
    pub(crate) fn from_body(status: u16, header_request_id: Option<&str>, body: &[u8]) -> Self {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let error = &value["error"];
        let text = |v: &Value| v.as_str().map(str::to_owned);
        match (text(&error["code"]), text(&error["message"])) {
            (Some(code), Some(message)) => Self {
                status,
                code,
                message,
                request_id: text(&error["request_id"])
                    .or_else(|| header_request_id.map(str::to_owned))
                    .unwrap_or_default(),
                errors: error["errors"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|e| {
                                (
                                    text(&e["path"]).unwrap_or_default(),
                                    text(&e["message"]).unwrap_or_default(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            _ => Self {
                status,
                code: format!("http_{status}"),
                message: String::from_utf8_lossy(&body[..body.len().min(200)])
                    .trim()
                    .to_owned(),
                request_id: header_request_id.unwrap_or_default().to_owned(),
                errors: Vec::new(),
            },
        }
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.message, self.code)?;
        if !self.request_id.is_empty() {
            write!(f, ", request id {}", self.request_id)?;
        }
        f.write_str(")")?;
        for (path, message) in &self.errors {
            if path.is_empty() {
                write!(f, "\n  {message}")?;
            } else {
                write!(f, "\n  {path}: {message}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

/// Joins the admin API path segments onto the server URL, encoding each
/// segment, and appends the query pairs whose values are set.
pub(crate) fn endpoint(
    base: &Url,
    segments: &[&str],
    query: &[(&str, Option<String>)],
) -> anyhow::Result<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("server URL {base} cannot have a path"))?
        .pop_if_empty()
        .extend(segments);
    let pairs: Vec<(&str, &String)> = query
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
        .collect();
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    Ok(url)
}

impl Client {
    pub(crate) fn new(conn: &Conn) -> anyhow::Result<Self> {
        let base = Url::parse(&conn.server)
            .with_context(|| format!("--server {:?} is not a URL", conn.server))?;
        if !matches!(base.scheme(), "http" | "https") {
            anyhow::bail!("--server must be an http:// or https:// URL");
        }
        let token = conn
            .token
            .clone()
            .filter(|t| !t.trim().is_empty())
            .context("no operator token: set SENTINEL_TOKEN (or pass --token)")?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("sentinel-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            base,
            token: token.trim().to_owned(),
        })
    }

    pub(crate) async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, Option<String>)],
    ) -> anyhow::Result<Value> {
        self.send(Method::GET, segments, query, None).await
    }

    pub(crate) async fn post(&self, segments: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.send(Method::POST, segments, &[], Some(body)).await
    }

    pub(crate) async fn put(&self, segments: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.send(Method::PUT, segments, &[], Some(body)).await
    }

    pub(crate) async fn patch(&self, segments: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.send(Method::PATCH, segments, &[], Some(body)).await
    }

    /// A GET whose answer is read as a stream (exports): no total time
    /// limit, only the connect timeout. Error answers become [`ApiFailure`].
    pub(crate) async fn get_stream(
        &self,
        segments: &[&str],
        query: &[(&str, Option<String>)],
    ) -> anyhow::Result<reqwest::Response> {
        let mut all = vec!["api", "v1"];
        all.extend_from_slice(segments);
        let url = endpoint(&self.base, &all, query)?;
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            // Exports run as long as they need; a stalled one is the
            // operator's to interrupt.
            .timeout(Duration::from_secs(7 * 24 * 3600))
            .send()
            .await
            .with_context(|| format!("cannot reach the Sentinel console at {}", self.base))?;
        let status = response.status();
        if status.is_redirection() {
            anyhow::bail!(
                "the server answered with a redirect ({status}); point --server at the console itself"
            );
        }
        if !status.is_success() {
            let request_id = response
                .headers()
                .get("x-sentinel-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = response.bytes().await.unwrap_or_default();
            return Err(
                ApiFailure::from_body(status.as_u16(), request_id.as_deref(), &bytes).into(),
            );
        }
        Ok(response)
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, Option<String>)],
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut all = vec!["api", "v1"];
        all.extend_from_slice(segments);
        let url = endpoint(&self.base, &all, query)?;
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the Sentinel console at {}", self.base))?;
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-sentinel-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer from {url}"))?;
        if status.is_redirection() {
            anyhow::bail!(
                "the server answered with a redirect ({status}); point --server at the console itself"
            );
        }
        if !status.is_success() {
            return Err(
                ApiFailure::from_body(status.as_u16(), request_id.as_deref(), &bytes).into(),
            );
        }
        if status == StatusCode::NO_CONTENT || bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).with_context(|| format!("the answer from {url} is not JSON"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_name_code_message_and_request_id() {
        let body = br#"{"error":{"code":"forbidden","message":"role auditor may read","request_id":"r-1"}}"#;
        let failure = ApiFailure::from_body(403, None, body);
        assert_eq!(
            failure.to_string(),
            "role auditor may read (forbidden, request id r-1)"
        );
    }

    #[test]
    fn config_errors_are_listed_one_per_line() {
        let body = br#"{"error":{"code":"invalid_config","message":"the config document has 2 error(s)","request_id":"r","errors":[{"path":"providers.a.kind","message":"unknown kind"},{"path":"","message":"bad yaml"}]}}"#;
        let text = ApiFailure::from_body(422, None, body).to_string();
        assert_eq!(
            text,
            "the config document has 2 error(s) (invalid_config, request id r)\n  providers.a.kind: unknown kind\n  bad yaml"
        );
    }

    #[test]
    fn foreign_error_bodies_keep_status_and_header_id() {
        let failure = ApiFailure::from_body(502, Some("h-1"), b"Bad Gateway");
        assert_eq!(
            failure.to_string(),
            "Bad Gateway (http_502, request id h-1)"
        );
    }

    #[test]
    fn endpoints_encode_segments_and_skip_unset_query() {
        let base = Url::parse("http://127.0.0.1:8081").unwrap();
        let url = endpoint(
            &base,
            &["api", "v1", "requests", "a/b c"],
            &[
                ("env", Some("dev".into())),
                ("app", None),
                ("since", Some("2025-01-01T00:00:00+01:00".into())),
            ],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8081/api/v1/requests/a%2Fb%20c?env=dev&since=2025-01-01T00%3A00%3A00%2B01%3A00"
        );
        let prefixed = Url::parse("https://ops.example.com/sentinel/").unwrap();
        let url = endpoint(&prefixed, &["api", "v1", "whoami"], &[]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://ops.example.com/sentinel/api/v1/whoami"
        );
    }
}
