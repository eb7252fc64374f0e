//! Who the client is: the peer address, or — only when the peer is one of
//! the operator's trusted proxies — the address and scheme that proxy
//! reports in `X-Forwarded-For` / `X-Forwarded-Proto`. Anyone else's
//! forwarding headers are ignored, so a client cannot choose the address
//! its requests are recorded and policed under.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client of one request, put in the request's extensions by the
/// listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address: the peer, or what a trusted proxy reported.
    pub addr: IpAddr,
    /// The client reached Sentinel over https: TLS terminated here, or a
    /// trusted proxy said so.
    pub https: bool,
}

/// Networks whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request that arrived from `peer` over TLS or not.
    ///
    /// `X-Forwarded-For` is read right to left (every proxy appends the
    /// address it saw): the first address that is not a trusted proxy is the
    /// client. Values that do not parse end the walk, as an untrusted hop.
    pub fn client(&self, peer: IpAddr, tls: bool, headers: &HeaderMap) -> ClientInfo {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return ClientInfo {
                addr: peer,
                https: tls,
            };
        }
        let mut addr = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Some(hop) = parse_hop(hop) else { break };
            addr = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        // The proxy nearest to us sets the scheme; take its (last) value.
        let forwarded_https = headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
        ClientInfo {
            addr,
            https: tls || forwarded_https,
        }
    }
}

/// An address from `X-Forwarded-For`: `1.2.3.4`, `1.2.3.4:567`, `::1` or
/// `[::1]:567`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| canonical(s.ip()))
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they carry.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ])
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_cannot_choose_their_address() {
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-proto", "https"),
        ]);
        let client = proxies().client(ip("203.0.113.9"), false, &h);
        assert_eq!(
            client,
            ClientInfo {
                addr: ip("203.0.113.9"),
                https: false
            }
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let client = proxies().client(ip("10.1.2.3"), false, &h);
        assert_eq!(
            client,
            ClientInfo {
                addr: ip("198.51.100.7"),
                https: true
            }
        );
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_hop() {
        // The client put a fake address first; the trusted proxy appended
        // the address it really saw, then another trusted proxy forwarded.
        let h = headers(&[
            ("x-forwarded-for", "127.0.0.1, 198.51.100.7"),
            ("x-forwarded-for", "10.9.9.9"),
        ]);
        let client = proxies().client(ip("10.1.2.3"), false, &h);
        assert_eq!(client.addr, ip("198.51.100.7"));
    }

    #[test]
    fn garbage_ends_the_walk_and_ports_are_accepted() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7:5555, nonsense, 10.0.0.2")]);
        let client = proxies().client(ip("::1"), true, &h);
        assert_eq!(
            client,
            ClientInfo {
                addr: ip("10.0.0.2"),
                https: true
            }
        );
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(
            proxies().client(ip("::1"), false, &h).addr,
            ip("2001:db8::1")
        );
    }

    #[test]
    fn mapped_addresses_are_matched_as_ipv4() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        let client = proxies().client(ip("::ffff:10.0.0.1"), false, &h);
        assert_eq!(client.addr, ip("198.51.100.7"));
    }

    #[test]
    fn without_forwarding_headers_the_proxy_is_the_client() {
        let client = proxies().client(ip("10.0.0.1"), false, &HeaderMap::new());
        assert_eq!(
            client,
            ClientInfo {
                addr: ip("10.0.0.1"),
                https: false
            }
        );
    }
}
