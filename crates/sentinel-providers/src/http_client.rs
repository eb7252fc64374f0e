//! The one way provider HTTP clients are built: redirects off, proxy
//! variables ignored, bounded bodies, and a DNS resolver that refuses
//! private, loopback, link-local and metadata addresses at connect time
//! (so a public name that later resolves to an internal address — DNS
//! rebinding — is still refused) unless the provider allows private networks.

use std::{fmt, net::SocketAddr, sync::Arc, time::Duration};

use futures_util::future::BoxFuture;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

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

/// The resolver installed in every provider client.
struct SafeResolver {
    allow_private_network: bool,
    lookup: Lookup,
}

impl reqwest::dns::Resolve for SafeResolver {
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
    /// Builds a client with redirects disabled (a redirect is an SSRF path)
    /// and proxy environment variables ignored (they would silently reroute
    /// traffic that carries provider credentials). Other outbound callers
    /// (alert webhooks) use it too, for the same connect-time DNS checks.
    pub fn build(&self) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(SafeResolver {
                allow_private_network: self.allow_private_network,
                lookup: self.lookup.clone(),
            }))
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_idle_timeout)
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .build()
    }
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
pub(crate) async fn read_capped(
    response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, ProviderError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let mut body = BytesMut::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(ProviderError::from_reqwest)?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
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
}
