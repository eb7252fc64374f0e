//! Endpoint safety at write time (SPEC §5): a provider's base URL must not
//! point at loopback, private, link-local, metadata or otherwise special
//! addresses unless the provider says `allow_private_network: true`.
//!
//! Only what the URL itself says is checked here: IP literals (after the `url`
//! crate's normalization, so `http://2130706433/` and `http://0x7f.1/` are
//! seen as 127.0.0.1) and host names that are special by definition. Names
//! that merely *resolve* to such addresses are caught at connect time by the
//! provider HTTP client, which reuses [`is_forbidden_ip`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why an address is not a public internet address, as a rule name
/// (`"loopback"`, `"private"`, `"link-local"`, `"cloud metadata"`, …), or
/// `None` when it is an ordinary public address.
///
/// IPv6 addresses that embed an IPv4 address (v4-mapped `::ffff:a.b.c.d`,
/// v4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are
/// judged by the embedded address.
pub fn is_forbidden_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// Why a host name is special (it can only mean this machine, a cloud
/// metadata service or a private network), or `None`. Case and one trailing
/// dot are ignored.
pub fn is_forbidden_host_name(host: &str) -> Option<&'static str> {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let under = |suffix: &str| host == suffix || host.ends_with(&format!(".{suffix}"));
    if under("localhost") {
        Some("loopback")
    } else if host == "metadata.google.internal" || host == "metadata.goog" {
        Some("cloud metadata")
    } else if under("internal") || under("local") || under("home.arpa") || under("localdomain") {
        Some("private-use")
    } else {
        None
    }
}

/// The write-time verdict for a base URL whose provider does not allow
/// private networks: `Some(message)` when the host is refused.
pub(crate) fn refused_host(url: &Url) -> Option<String> {
    const HINT: &str = "set allow_private_network: true to allow it";
    match url.host()? {
        Host::Ipv4(ip) => is_forbidden_ip(IpAddr::V4(ip))
            .map(|rule| format!("{ip} is {} {rule} address; {HINT}", article(rule))),
        Host::Ipv6(ip) => is_forbidden_ip(IpAddr::V6(ip))
            .map(|rule| format!("{ip} is {} {rule} address; {HINT}", article(rule))),
        Host::Domain(name) => is_forbidden_host_name(name)
            .map(|rule| format!("{name} is {} {rule} host name; {HINT}", article(rule))),
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    // Order matters: the most specific rule names the address.
    const RULES: &[([u8; 4], u32, &str)] = &[
        ([169, 254, 169, 254], 32, "cloud metadata"), // AWS, GCP, Azure, OpenStack…
        ([169, 254, 170, 2], 32, "cloud metadata"),   // AWS ECS task metadata
        ([100, 100, 100, 200], 32, "cloud metadata"), // Alibaba Cloud
        ([255, 255, 255, 255], 32, "broadcast"),
        ([0, 0, 0, 0], 8, "unspecified"), // "this network"; 0.0.0.0 reaches localhost
        ([127, 0, 0, 0], 8, "loopback"),
        ([10, 0, 0, 0], 8, "private"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 168, 0, 0], 16, "private"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([100, 64, 0, 0], 10, "shared (CGNAT)"),
        ([192, 0, 0, 0], 24, "reserved"), // IETF protocol assignments
        ([198, 18, 0, 0], 15, "reserved"), // benchmarking
        ([192, 0, 2, 0], 24, "documentation"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    RULES
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, rule)| *rule)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // Addresses that carry an IPv4 address are as dangerous as that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if in_v6(ip, [0, 0, 0, 0, 0, 0, 0, 0], 96) {
        // v4-compatible (deprecated): never a legitimate endpoint.
        return forbidden_v4(low32).or(Some("reserved"));
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        // Well-known NAT64 prefix: reaches the embedded IPv4 address.
        return forbidden_v4(low32);
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        // 6to4: the IPv4 address sits in bits 16..48.
        return forbidden_v4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    const RULES: &[([u16; 8], u32, &str)] = &[
        ([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128, "cloud metadata"), // AWS IMDS over IPv6
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "private"),                  // unique local
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "private"),                 // site-local (deprecated)
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "private"),              // local-use NAT64
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "reserved"), // discard-only
        ([0, 0, 0, 0, 0, 0, 0, 0], 8, "reserved"),      // ::/8 leftovers
    ];
    RULES
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
        .map(|(_, _, rule)| *rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<&'static str> {
        is_forbidden_ip(s.parse().unwrap())
    }

    #[test]
    fn ipv4_rules() {
        for (addr, rule) in [
            ("127.0.0.1", Some("loopback")),
            ("127.255.255.254", Some("loopback")),
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("10.0.0.5", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.1", None),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("cloud metadata")),
            ("169.254.170.2", Some("cloud metadata")),
            ("100.100.100.200", Some("cloud metadata")),
            ("169.254.1.1", Some("link-local")),
            ("100.64.0.1", Some("shared (CGNAT)")),
            ("100.127.255.255", Some("shared (CGNAT)")),
            ("100.128.0.1", None),
            ("255.255.255.255", Some("broadcast")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("192.0.2.1", Some("documentation")),
            ("198.51.100.7", Some("documentation")),
            ("203.0.113.9", Some("documentation")),
            ("240.0.0.1", Some("reserved")),
            ("198.18.0.1", Some("reserved")),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("104.18.7.192", None),
        ] {
            assert_eq!(ip(addr), rule, "{addr}");
        }
    }

    #[test]
    fn ipv6_rules() {
        for (addr, rule) in [
            ("::1", Some("loopback")),
            ("::", Some("unspecified")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:169.254.169.254", Some("cloud metadata")),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some("loopback")),
            ("::8.8.8.8", Some("reserved")),
            ("64:ff9b::10.0.0.1", Some("private")),
            ("64:ff9b::8.8.8.8", None),
            ("2002:7f00:1::", Some("loopback")),
            ("fd00:ec2::254", Some("cloud metadata")),
            ("fd12:3456::1", Some("private")),
            ("fc00::1", Some("private")),
            ("fe80::1", Some("link-local")),
            ("fec0::1", Some("private")),
            ("ff02::1", Some("multicast")),
            ("2001:db8::1", Some("documentation")),
            ("100::1", Some("reserved")),
            ("2606:4700::1111", None),
            ("2a00:1450:4001:81b::200e", None),
        ] {
            assert_eq!(ip(addr), rule, "{addr}");
        }
    }

    #[test]
    fn host_names() {
        for (host, rule) in [
            ("localhost", Some("loopback")),
            ("LOCALHOST", Some("loopback")),
            ("localhost.", Some("loopback")),
            ("api.localhost", Some("loopback")),
            ("metadata.google.internal", Some("cloud metadata")),
            ("metadata.google.internal.", Some("cloud metadata")),
            ("vllm.internal", Some("private-use")),
            ("printer.local", Some("private-use")),
            ("nas.home.arpa", Some("private-use")),
            ("api.openai.com", None),
            ("localhost.example.com", None),
            ("notlocalhost", None),
        ] {
            assert_eq!(is_forbidden_host_name(host), rule, "{host}");
        }
    }

    #[test]
    fn url_normalization_is_relied_on() {
        for (url, verdict) in [
            (
                "http://2130706433/",
                Some("127.0.0.1 is a loopback address"),
            ),
            ("http://0x7f.1/", Some("127.0.0.1 is a loopback address")),
            (
                "http://0177.0.0.1/",
                Some("127.0.0.1 is a loopback address"),
            ),
            ("http://127.1/", Some("127.0.0.1 is a loopback address")),
            ("http://0/", Some("0.0.0.0 is an unspecified address")),
            ("http://[::1]:8000/v1", Some("::1 is a loopback address")),
            (
                "http://[::ffff:127.0.0.1]/",
                Some("::ffff:127.0.0.1 is a loopback address"),
            ),
            (
                "http://LOCALHOST:11434/",
                Some("localhost is a loopback host name"),
            ),
            (
                "http://localhost./",
                Some("localhost. is a loopback host name"),
            ),
            ("https://api.openai.com/v1", None),
            ("https://8.8.8.8/", None),
        ] {
            let parsed = Url::parse(url).unwrap();
            let got = refused_host(&parsed);
            match verdict {
                None => assert_eq!(got, None, "{url}"),
                Some(prefix) => {
                    let got = got.unwrap_or_default();
                    assert!(got.starts_with(prefix), "{url}: {got}");
                    assert!(got.ends_with("set allow_private_network: true to allow it"));
                }
            }
        }
    }
}
