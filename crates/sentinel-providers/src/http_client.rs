//! The one way provider HTTP clients are built: redirects off, proxy
//! variables ignored, bounded bodies, and a DNS resolver that refuses
//! private, loopback, link-local and metadata addresses at connect time
//! (so a public name that later resolves to an internal address — DNS
//! rebinding — is still refused) unless the provider allows private networks.
//!
//! The client is hyper's pooled client with only what providers use on top
//! (a `POST` builder, a read idle timeout, a bounded body reader): it is on
//! every proxied request, so it carries no redirect, retry, proxy or
//! cookie layers to begin with, rather than layers switched off.
//!
//! Invariants: [`HttpClient`] is only built by [`HttpSettings::build`];
//! every connection to a host name goes through [`SafeResolver`]; nothing
//! in this module follows a redirect or reads the environment.

use std::{
    fmt,
    future::Future as _,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, future::BoxFuture};
use http_body::Body as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{
        Client,
        connect::{HttpConnector, dns::Name},
    },
    rt::{TokioExecutor, TokioTimer},
};
use url::Url;

use crate::{ProviderError, ProviderErrorKind};

/// Largest non-streaming upstream body Sentinel reads (32 MiB).
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// Resolves a host name to addresses (the system resolver by default;
/// tests substitute their own to simulate rebinding).
pub type Lookup =
    Arc<dyn Fn(String) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> + Send + Sync>;

/// Connection settings for a provider's client.
#[derive(Clone)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// Longest silence between two reads of a response (first byte included).
    pub read_idle_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    /// Let the provider reach loopback, private and link-local addresses.
    pub allow_private_network: bool,
    pub lookup: Lookup,
}

impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSettings")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_idle_timeout", &self.read_idle_timeout)
            .field("allow_private_network", &self.allow_private_network)
            .finish_non_exhaustive()
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_idle_timeout: Duration::from_secs(300),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 256,
            allow_private_network: false,
            lookup: Arc::new(|host: String| {
                Box::pin(
                    async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.collect()) },
                )
            }),
        }
    }
}

/// The resolver installed in every provider client: the lookup, then
/// [`safe_addresses`]. The connector calls it for host names only (an IP
/// literal in a base URL was judged by the config compiler).
#[derive(Clone)]
struct SafeResolver {
    allow_private_network: bool,
    lookup: Lookup,
}

impl tower_service::Service<Name> for SafeResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = name.as_str().to_owned();
        let lookup = self.lookup.clone();
        let allow = self.allow_private_network;
        Box::pin(async move {
            let addrs = lookup(host.clone()).await?;
            Ok(safe_addresses(&host, addrs, allow)?.into_iter())
        })
    }
}

/// The addresses a provider may connect to; an error naming the rule when
/// none is left.
pub(crate) fn safe_addresses(
    host: &str,
    addrs: Vec<SocketAddr>,
    allow_private_network: bool,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    if allow_private_network {
        return Ok(addrs);
    }
    let mut refused = None;
    let safe: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match sentinel_config::is_forbidden_ip(a.ip()) {
            Some(rule) => {
                refused = Some((a.ip(), rule));
                false
            }
            None => true,
        })
        .collect();
    match (safe.is_empty(), refused) {
        (true, Some((ip, rule))) => Err(format!(
            "{host} resolves to {ip}, a {rule} address; providers may not reach it unless allow_private_network is set"
        )
        .into()),
        (true, None) => Err(format!("{host} did not resolve to any address").into()),
        (false, _) => Ok(safe),
    }
}

impl HttpSettings {
    /// Builds a client: hyper's pooled client over a connector that
    /// resolves through [`SafeResolver`], with TCP_NODELAY and the connect
    /// timeout, and TLS (rustls with the platform's verifier, ALPN h2 and
    /// http/1.1) for `https` URLs. hyper's client never follows redirects
    /// (a redirect is an SSRF path) and never reads proxy environment
    /// variables (they would silently reroute traffic that carries provider
    /// credentials).
    pub(crate) fn build(&self) -> Result<HttpClient, HttpError> {
        let mut http = HttpConnector::new_with_resolver(SafeResolver {
            allow_private_network: self.allow_private_network,
            lookup: self.lookup.clone(),
        });
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.connect_timeout));
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
            .map_err(|e| HttpError::build(format!("TLS verifier: {e}")))?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpError::build(format!("TLS versions: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        // ALPN (h2, http/1.1) is set by the connector builder, which
        // requires it empty here.
        let connector = BoundedConnect {
            inner: hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_all_versions()
                .wrap_connector(http),
            timeout: self.connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .build(connector);
        Ok(HttpClient {
            client,
            read_idle_timeout: self.read_idle_timeout,
        })
    }
}

/// The resolver of [`HttpSettings::build_reqwest`]: the same connect-time
/// address checks as the providers' connector.
struct ReqwestSafeResolver {
    allow_private_network: bool,
    lookup: Lookup,
}

impl reqwest::dns::Resolve for ReqwestSafeResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.lookup.clone();
        let allow = self.allow_private_network;
        Box::pin(async move {
            let addrs = lookup(host.clone()).await?;
            let safe = safe_addresses(&host, addrs, allow)?;
            let addrs: reqwest::dns::Addrs = Box::new(safe.into_iter());
            Ok(addrs)
        })
    }
}

impl HttpSettings {
    /// A reqwest client with the same protections, for Sentinel's other
    /// outbound calls (alert webhooks): redirects disabled (a redirect is an
    /// SSRF path), proxy environment variables ignored, and every resolved
    /// address checked at connect (no DNS rebinding).
    pub fn build_reqwest(&self) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(ReqwestSafeResolver {
                allow_private_network: self.allow_private_network,
                lookup: self.lookup.clone(),
            }))
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_idle_timeout)
            .build()
    }
}

type Connector = BoundedConnect;
type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector<SafeResolver>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The connector with the connect timeout around all of connecting (name
/// resolution, TCP and the TLS handshake), not only the TCP connect the
/// inner connector bounds.
#[derive(Clone)]
struct BoundedConnect {
    inner: HttpsConnector,
    timeout: Duration,
}

impl tower_service::Service<http::Uri> for BoundedConnect {
    type Response = <HttpsConnector as tower_service::Service<http::Uri>>::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timeout",
                )) as BoxError),
            }
        })
    }
}

/// A provider's HTTP client: cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    read_idle_timeout: Duration,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("read_idle_timeout", &self.read_idle_timeout)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A `POST` to `url`, sent by [`RequestBuilder::send`].
    pub(crate) fn post(&self, url: Url) -> RequestBuilder<'_> {
        RequestBuilder {
            client: self,
            uri: url.as_str().parse().ok(),
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
            invalid_header: false,
        }
    }

    /// A `POST` to a fixed endpoint, parsed once when the provider was
    /// built (the OpenAI-format kinds, on every proxied request).
    pub(crate) fn post_to(&self, endpoint: &Endpoint) -> RequestBuilder<'_> {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, endpoint.host.clone());
        RequestBuilder {
            client: self,
            uri: Some(endpoint.uri.clone()),
            headers,
            body: Bytes::new(),
            invalid_header: false,
        }
    }
}

/// An upstream URL parsed once for sending: the request URI and the `Host`
/// header it implies (which the client would otherwise format per request).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    uri: http::Uri,
    host: http::HeaderValue,
}

impl Endpoint {
    /// `None` when `url` has no host or is not a valid URI.
    pub(crate) fn new(url: &Url) -> Option<Self> {
        let uri: http::Uri = url.as_str().parse().ok()?;
        let host = uri.host()?;
        // What hyper-util sends: the port only when it is not the scheme's.
        let default_port = match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        };
        let host = match uri.port_u16() {
            Some(port) if Some(port) != default_port => format!("{host}:{port}"),
            _ => host.to_owned(),
        };
        let host = http::HeaderValue::try_from(host).ok()?;
        Some(Self { uri, host })
    }

    pub(crate) fn uri(&self) -> &http::Uri {
        &self.uri
    }
}

/// One request being put together; header values that do not parse make
/// [`RequestBuilder::send`] fail without sending anything. It borrows the
/// client: building a request clones nothing of the pool or connector.
pub(crate) struct RequestBuilder<'c> {
    client: &'c HttpClient,
    /// `None` when the URL is not a valid URI (refused at send).
    uri: Option<http::Uri>,
    headers: http::HeaderMap,
    body: Bytes,
    invalid_header: bool,
}

impl RequestBuilder<'_> {
    /// Adds a header (appended: a name may repeat).
    pub(crate) fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<http::HeaderName>,
        V: TryInto<http::HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => self.invalid_header = true,
        }
        self
    }

    pub(crate) fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request and waits for the response head, at most the read
    /// idle timeout (connecting is bounded by its own, shorter timeout).
    pub(crate) async fn send(self) -> Result<Response, HttpError> {
        if self.invalid_header {
            return Err(HttpError::build("invalid header name or value".into()));
        }
        let uri = self
            .uri
            .ok_or_else(|| HttpError::build("the URL is not a valid URI".into()))?;
        let mut request = http::Request::new(Full::new(self.body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers;
        let idle = self.client.read_idle_timeout;
        let response = tokio::time::timeout(idle, self.client.client.request(request))
            .await
            .map_err(|_| HttpError::timeout("no response head within the read timeout"))?
            .map_err(HttpError::from_client)?;
        Ok(Response {
            response,
            read_idle_timeout: idle,
        })
    }
}

/// A response whose head has arrived; the body is read through
/// [`Response::bytes_stream`] (or [`read_capped`]).
#[derive(Debug)]
pub(crate) struct Response {
    response: http::Response<Incoming>,
    read_idle_timeout: Duration,
}

impl Response {
    pub(crate) fn status(&self) -> http::StatusCode {
        self.response.status()
    }

    pub(crate) fn headers(&self) -> &http::HeaderMap {
        self.response.headers()
    }

    /// The announced body length, if any.
    pub(crate) fn content_length(&self) -> Option<u64> {
        http_body::Body::size_hint(self.response.body()).exact()
    }

    /// The body's data chunks as they arrive. A chunk that takes longer than
    /// the read idle timeout ends the stream with a timeout error.
    pub(crate) fn bytes_stream(self) -> BodyStream {
        BodyStream {
            body: self.response.into_body(),
            idle: self.read_idle_timeout,
            deadline: None,
        }
    }
}

/// See [`Response::bytes_stream`].
pub(crate) struct BodyStream {
    body: Incoming,
    idle: Duration,
    /// Armed while waiting for the next chunk; reset after each.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl futures_util::Stream for BodyStream {
    type Item = Result<Bytes, HttpError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        this.deadline = None;
                        return Poll::Ready(Some(Ok(data)));
                    }
                    Err(_trailers) => {}
                },
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Some(Err(HttpError::from_hyper(&error))));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {
                    let idle = this.idle;
                    let deadline = this
                        .deadline
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                    return match deadline.as_mut().poll(cx) {
                        Poll::Ready(()) => {
                            this.deadline = None;
                            Poll::Ready(Some(Err(HttpError::timeout(
                                "the response body stalled beyond the read timeout",
                            ))))
                        }
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

/// Why an HTTP exchange failed, classified for [`ProviderError`]. Its text
/// never contains the URL.
#[derive(Debug)]
pub struct HttpError {
    kind: ProviderErrorKind,
    message: String,
}

impl HttpError {
    fn build(message: String) -> Self {
        Self {
            kind: ProviderErrorKind::Protocol,
            message: format!("request could not be built: {message}"),
        }
    }

    fn timeout(message: &str) -> Self {
        Self {
            kind: ProviderErrorKind::Timeout,
            message: message.to_owned(),
        }
    }

    fn from_client(error: hyper_util::client::legacy::Error) -> Self {
        let timed_out = chain(&error).any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        });
        let kind = if timed_out {
            ProviderErrorKind::Timeout
        } else if error.is_connect() {
            ProviderErrorKind::Connect
        } else {
            ProviderErrorKind::Protocol
        };
        let mut message = if error.is_connect() {
            if timed_out {
                "connect timeout".to_owned()
            } else {
                "error connecting".to_owned()
            }
        } else {
            "error sending request".to_owned()
        };
        for cause in chain(&error).skip(1) {
            message.push_str(": ");
            message.push_str(&cause.to_string());
        }
        Self { kind, message }
    }

    fn from_hyper(error: &hyper::Error) -> Self {
        let kind = if error.is_timeout() {
            ProviderErrorKind::Timeout
        } else {
            ProviderErrorKind::Protocol
        };
        let mut message = "error reading the response body".to_owned();
        for cause in chain(error) {
            message.push_str(": ");
            message.push_str(&cause.to_string());
        }
        Self { kind, message }
    }

    /// Which class of failure this is.
    pub fn kind(&self) -> ProviderErrorKind {
        self.kind
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

/// An error and its sources, outermost first.
fn chain<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// How long the upstream asked callers to wait: `retry-after-ms` (Azure's
/// millisecond form) or `Retry-After` in whole seconds.
pub(crate) fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    number("retry-after-ms")
        .map(Duration::from_millis)
        .or_else(|| number(http::header::RETRY_AFTER.as_str()).map(Duration::from_secs))
}

/// Reads a whole response body, refusing more than `limit` bytes.
pub(crate) async fn read_capped(response: Response, limit: usize) -> Result<Bytes, ProviderError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let mut chunks = response.bytes_stream();
    // A body that arrives as one chunk (most answers) is returned as it
    // is; only a body in several chunks is copied into one buffer.
    let Some(first) = chunks.next().await else {
        return Ok(Bytes::new());
    };
    let first = first.map_err(ProviderError::from_http)?;
    if first.len() > limit {
        return Err(too_large(limit));
    }
    let Some(second) = chunks.next().await else {
        return Ok(first);
    };
    let mut body = BytesMut::from(first);
    let mut next = Some(second);
    while let Some(chunk) = next {
        let chunk = chunk.map_err(ProviderError::from_http)?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
        next = chunks.next().await;
    }
    Ok(body.freeze())
}

fn too_large(limit: usize) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::BodyTooLarge,
        format!("upstream response exceeds {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_answers_are_dropped_and_all_private_is_refused() {
        let mixed = vec![addr("10.0.0.1:0"), addr("93.184.216.34:0")];
        assert_eq!(
            safe_addresses("x", mixed.clone(), false).unwrap(),
            vec![addr("93.184.216.34:0")]
        );
        assert_eq!(safe_addresses("x", mixed.clone(), true).unwrap(), mixed);
        let error = safe_addresses("rebind.example", vec![addr("127.0.0.1:0")], false)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("rebind.example resolves to 127.0.0.1, a loopback address"),
            "{error}"
        );
        let error = safe_addresses("m", vec![addr("169.254.169.254:0")], false)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("metadata") || error.contains("link-local"),
            "{error}"
        );
    }

    #[test]
    fn an_endpoint_carries_the_host_header_the_client_would_send() {
        let host = |url: &str| {
            let endpoint = Endpoint::new(&Url::parse(url).unwrap()).unwrap();
            (
                endpoint.host.to_str().unwrap().to_owned(),
                endpoint.uri.to_string(),
            )
        };
        assert_eq!(
            host("https://api.openai.com/v1/chat/completions"),
            (
                "api.openai.com".into(),
                "https://api.openai.com/v1/chat/completions".into()
            )
        );
        assert_eq!(host("https://gw.example:443/v1").0, "gw.example");
        assert_eq!(host("http://127.0.0.1:80/v1").0, "127.0.0.1");
        assert_eq!(host("http://127.0.0.1:8080/v1").0, "127.0.0.1:8080");
        assert_eq!(host("https://[::1]:8443/v1").0, "[::1]:8443");
        assert_eq!(host("http://h.example/v1?x=1").1, "http://h.example/v1?x=1");
    }

    /// Serves one HTTP/1.1 response whose body is sent as `chunks`
    /// (chunked encoding, one write and a pause per chunk); returns the URL.
    async fn chunked_server(chunks: &'static [&'static str]) -> Url {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 4096];
            let _ = socket.read(&mut head).await.unwrap();
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            for chunk in chunks {
                let frame = format!("{:x}\r\n{chunk}\r\n", chunk.len());
                socket.write_all(frame.as_bytes()).await.unwrap();
                socket.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            socket.write_all(b"0\r\n\r\n").await.unwrap();
        });
        url
    }

    async fn read_from(
        chunks: &'static [&'static str],
        limit: usize,
    ) -> Result<Bytes, ProviderError> {
        let client = HttpSettings {
            allow_private_network: true,
            ..HttpSettings::default()
        }
        .build()
        .unwrap();
        let response = client
            .post(chunked_server(chunks).await)
            .send()
            .await
            .unwrap();
        read_capped(response, limit).await
    }

    #[tokio::test]
    async fn a_capped_read_joins_the_chunks_and_refuses_a_body_over_the_cap() {
        assert_eq!(read_from(&["hello"], 5).await.unwrap(), "hello");
        assert_eq!(read_from(&[], 5).await.unwrap(), "");
        assert_eq!(
            read_from(&["hel", "lo ", "world"], 11).await.unwrap(),
            "hello world"
        );
        for (chunks, limit) in [
            (&["hello!"][..], 5),
            (&["hel", "lo!"][..], 5),
            (&["he", "ll", "o", "!"][..], 5),
        ] {
            let error = read_from(chunks, limit).await.unwrap_err();
            assert_eq!(error.kind, ProviderErrorKind::BodyTooLarge, "{chunks:?}");
        }
    }
}
