//! The server config: how one `sentinel serve` process listens, where it
//! keeps its data and how it bounds its work. Layered as defaults < TOML file
//! < `SENTINEL_*` environment variables < command-line flags.
//!
//! The environment is passed in as a lookup function, so tests never touch
//! the process environment, and the binary can apply its flags through the
//! same function ([`ServerConfig::apply_overrides`]) and the same checks.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{ConfigError, ConfigErrors};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable text on a terminal, JSON otherwise.
    #[default]
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

impl LogFormat {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "json" => Some(Self::Json),
            "text" => Some(Self::Text),
            _ => None,
        }
    }
}

/// Settings of one server process. Fields are public so the binary can apply
/// its flags; prefer [`ServerConfig::apply_overrides`], which checks values.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Data-plane listener (`/v1/*`).
    pub gateway_addr: SocketAddr,
    /// Operator listener (console, admin API, metrics).
    pub console_addr: SocketAddr,
    /// Directory for the embedded SQLite database and the record spool.
    pub data_dir: PathBuf,
    /// Store URL (`sqlite://…` or `postgres://…`); `None` means SQLite in
    /// `data_dir`.
    pub store: Option<String>,
    /// Redis URL for counters shared across replicas; `None` keeps them in
    /// process memory.
    pub redis: Option<String>,
    /// Prefix of every Redis key Sentinel writes, so several installations
    /// can share one Redis.
    pub redis_prefix: String,
    /// Longest wait for one Redis call, in milliseconds; past it the
    /// environment's `on_counter_failure` decides.
    pub redis_timeout_ms: u64,
    /// OTLP/HTTP collector base URL for traces (`{url}/v1/traces`); `None`
    /// exports no traces.
    pub otlp_endpoint: Option<String>,
    /// Finished requests waiting for trace export at most; beyond, their
    /// spans are dropped and counted.
    pub otlp_queue: usize,
    /// How often request records past their environment's retention are
    /// pruned, in seconds.
    pub prune_interval_s: u64,
    /// How long a graceful shutdown waits for in-flight requests, in seconds.
    pub shutdown_grace_s: u64,
    /// Largest request body accepted on the gateway, in bytes.
    pub max_body_bytes: u64,
    /// Time allowed to read request headers, in seconds.
    pub header_read_timeout_s: u64,
    /// Most connections served at once per listener.
    pub max_connections: usize,
    /// Longest a runtime thread spins, in microseconds, instead of halting
    /// its core while an upstream's answer is due within that time (only
    /// upstreams whose recent answers came that fast); 0 never spins.
    pub idle_spin_us: u64,
    /// Log line format.
    pub log_format: LogFormat,
    /// How often alert rules are evaluated, in milliseconds.
    pub alert_interval_ms: u64,
    /// Proxies (addresses or CIDR networks) whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` headers are believed. Empty: believe no one.
    pub trusted_proxies: Vec<String>,
    /// Certificates for the gateway listener to terminate TLS itself, chosen
    /// by SNI; empty serves plain HTTP.
    pub gateway_tls: Vec<TlsCertConfig>,
    /// Certificates for the console listener, as `gateway_tls`.
    pub console_tls: Vec<TlsCertConfig>,
    /// How often certificate files are checked for changes, in seconds.
    pub tls_reload_s: u64,
    /// How often the snapshot is rebuilt from the store even without a
    /// change notification, in seconds: the safety net behind the change
    /// feed.
    pub reload_interval_s: u64,
    /// Where error codes link to (`{docs_base_url}/errors#{code}`): the
    /// console's own served docs by default, or a deployment's stable docs
    /// site (`https://…`, no trailing slash needed).
    pub docs_base_url: String,
}

/// One certificate a listener serves, and the domains it serves it for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsCertConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Host names (`api.example.com`, `*.example.com`) this certificate
    /// serves; the first entry is also the default for clients without SNI.
    #[serde(default)]
    pub domains: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            gateway_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            console_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            data_dir: PathBuf::from("./data"),
            store: None,
            redis: None,
            redis_prefix: "sentinel".to_owned(),
            redis_timeout_ms: 50,
            otlp_endpoint: None,
            otlp_queue: 4096,
            prune_interval_s: 300,
            shutdown_grace_s: 30,
            max_body_bytes: 4 * 1024 * 1024,
            header_read_timeout_s: 10,
            max_connections: 10_000,
            idle_spin_us: 300,
            log_format: LogFormat::Auto,
            alert_interval_ms: 10_000,
            trusted_proxies: Vec::new(),
            gateway_tls: Vec::new(),
            console_tls: Vec::new(),
            tls_reload_s: 10,
            reload_interval_s: 10,
            docs_base_url: DEFAULT_DOCS_BASE_URL.to_owned(),
        }
    }
}

/// The environment variables read by [`ServerConfig::load`], with the field
/// each one sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("SENTINEL_GATEWAY_ADDR", "gateway_addr"),
    ("SENTINEL_CONSOLE_ADDR", "console_addr"),
    ("SENTINEL_DATA_DIR", "data_dir"),
    ("SENTINEL_STORE", "store"),
    ("SENTINEL_REDIS", "redis"),
    ("SENTINEL_REDIS_PREFIX", "redis_prefix"),
    ("SENTINEL_REDIS_TIMEOUT_MS", "redis_timeout_ms"),
    ("SENTINEL_OTLP_ENDPOINT", "otlp_endpoint"),
    ("SENTINEL_OTLP_QUEUE", "otlp_queue"),
    ("SENTINEL_PRUNE_INTERVAL_S", "prune_interval_s"),
    ("SENTINEL_SHUTDOWN_GRACE_S", "shutdown_grace_s"),
    ("SENTINEL_MAX_BODY_BYTES", "max_body_bytes"),
    ("SENTINEL_HEADER_READ_TIMEOUT_S", "header_read_timeout_s"),
    ("SENTINEL_MAX_CONNECTIONS", "max_connections"),
    ("SENTINEL_IDLE_SPIN_US", "idle_spin_us"),
    ("SENTINEL_LOG_FORMAT", "log_format"),
    ("SENTINEL_ALERT_INTERVAL_MS", "alert_interval_ms"),
    ("SENTINEL_TRUSTED_PROXIES", "trusted_proxies"),
    ("SENTINEL_TLS_RELOAD_S", "tls_reload_s"),
    ("SENTINEL_RELOAD_INTERVAL_S", "reload_interval_s"),
    ("SENTINEL_DOCS_BASE_URL", "docs_base_url"),
];

/// The default `docs_base_url`: the docs the console serves itself.
pub const DEFAULT_DOCS_BASE_URL: &str = "/console/docs";

impl ServerConfig {
    /// Defaults, then the TOML `file` if given, then the `SENTINEL_*`
    /// variables that `env` returns. Every problem is reported, each naming
    /// the field (with its line) or the variable.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let mut config = match file {
            None => Self::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new("", format!("cannot read {}: {e}", path.display()))
                })?;
                Self::from_toml_str(&text).map_err(|errors| {
                    let file = path.display().to_string();
                    ConfigErrors::new(
                        errors
                            .into_iter()
                            .map(|mut e| {
                                e.message = format!("{} (in {file})", e.message);
                                e
                            })
                            .collect(),
                    )
                })?
            }
        };
        config.apply_overrides(env)?;
        Ok(config)
    }

    /// Reads a TOML server config; absent fields keep their defaults.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigErrors> {
        let parsed = toml::de::Deserializer::parse(text)
            .map_err(|e| toml_error("", &e, text))
            .and_then(|de| {
                serde_path_to_error::deserialize::<_, Self>(de)
                    .map_err(|e| toml_error(&e.path().to_string(), e.inner(), text))
            })?;
        parsed.check().into_result()?;
        Ok(parsed)
    }

    /// Applies overrides named like the environment variables in
    /// [`ENV_VARS`] (`SENTINEL_GATEWAY_ADDR`, …). `load` calls it with the
    /// process environment; the binary calls it again with its flags mapped
    /// to the same names. Empty values count as unset. On error `self` may be
    /// partly updated.
    pub fn apply_overrides(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        for (var, _) in ENV_VARS {
            let Some(value) = lookup(var).filter(|v| !v.is_empty()) else {
                continue;
            };
            if let Err(message) = self.set(var, &value) {
                errors.push(ConfigError::new(*var, message));
            }
        }
        ConfigErrors::new(errors).into_result()?;
        // Range checks name the field; say where the value came from.
        let problems: Vec<ConfigError> = self
            .check()
            .into_iter()
            .map(|e| {
                match ENV_VARS.iter().find(|(var, field)| {
                    let of_field = e.path == *field
                        || e.path
                            .strip_prefix(field)
                            .is_some_and(|i| i.starts_with('['));
                    of_field && lookup(var).is_some()
                }) {
                    Some((var, _)) => ConfigError::new(*var, e.message),
                    None => e,
                }
            })
            .collect();
        ConfigErrors::new(problems).into_result()
    }

    /// The trusted proxies as networks (checked when the config was loaded;
    /// anything unparsable is left out).
    pub fn trusted_proxy_networks(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| parse_network(p))
            .collect()
    }

    fn set(&mut self, var: &str, value: &str) -> Result<(), String> {
        let number = |what: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("expected a whole number of {what}, got {value:?}"))
        };
        let addr = || {
            value
                .parse::<SocketAddr>()
                .map_err(|_| format!("expected an address like 127.0.0.1:8080, got {value:?}"))
        };
        match var {
            "SENTINEL_GATEWAY_ADDR" => self.gateway_addr = addr()?,
            "SENTINEL_CONSOLE_ADDR" => self.console_addr = addr()?,
            "SENTINEL_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "SENTINEL_STORE" => self.store = Some(value.to_owned()),
            "SENTINEL_REDIS" => self.redis = Some(value.to_owned()),
            "SENTINEL_REDIS_PREFIX" => self.redis_prefix = value.to_owned(),
            "SENTINEL_REDIS_TIMEOUT_MS" => self.redis_timeout_ms = number("milliseconds")?,
            "SENTINEL_OTLP_ENDPOINT" => self.otlp_endpoint = Some(value.to_owned()),
            "SENTINEL_OTLP_QUEUE" => {
                self.otlp_queue = usize::try_from(number("records")?)
                    .map_err(|_| format!("{value} is too large"))?;
            }
            "SENTINEL_PRUNE_INTERVAL_S" => self.prune_interval_s = number("seconds")?,
            "SENTINEL_SHUTDOWN_GRACE_S" => self.shutdown_grace_s = number("seconds")?,
            "SENTINEL_MAX_BODY_BYTES" => self.max_body_bytes = number("bytes")?,
            "SENTINEL_HEADER_READ_TIMEOUT_S" => self.header_read_timeout_s = number("seconds")?,
            "SENTINEL_MAX_CONNECTIONS" => {
                self.max_connections = usize::try_from(number("connections")?)
                    .map_err(|_| format!("{value} is too large"))?;
            }
            "SENTINEL_IDLE_SPIN_US" => self.idle_spin_us = number("microseconds")?,
            "SENTINEL_ALERT_INTERVAL_MS" => self.alert_interval_ms = number("milliseconds")?,
            "SENTINEL_TRUSTED_PROXIES" => {
                self.trusted_proxies = value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "SENTINEL_TLS_RELOAD_S" => self.tls_reload_s = number("seconds")?,
            "SENTINEL_RELOAD_INTERVAL_S" => self.reload_interval_s = number("seconds")?,
            "SENTINEL_DOCS_BASE_URL" => {
                self.docs_base_url = value.trim_end_matches('/').to_owned();
            }
            "SENTINEL_LOG_FORMAT" => {
                self.log_format = LogFormat::parse(value)
                    .ok_or_else(|| format!("expected auto, json or text, got {value:?}"))?;
            }
            _ => return Err(format!("{var} is not a server setting")),
        }
        Ok(())
    }

    /// Rules beyond the types, each naming its field. URLs may carry
    /// passwords, so their values are never echoed.
    fn check(&self) -> ConfigErrors {
        let mut errors = Vec::new();
        if let Some(store) = &self.store
            && !url_has_scheme(store, &["sqlite", "postgres", "postgresql"])
        {
            errors.push(ConfigError::new(
                "store",
                "expected a sqlite://… or postgres://… URL",
            ));
        }
        if let Some(redis) = &self.redis
            && !url_has_scheme(redis, &["redis", "rediss", "redis+unix", "unix"])
        {
            errors.push(ConfigError::new(
                "redis",
                "expected a redis://… or rediss://… URL",
            ));
        }
        let prefix_ok = !self.redis_prefix.is_empty()
            && self.redis_prefix.len() <= 64
            && self
                .redis_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if !prefix_ok {
            errors.push(ConfigError::new(
                "redis_prefix",
                "1 to 64 letters, digits, `-`, `_`, `.` or `:`",
            ));
        }
        if self.redis_timeout_ms == 0 || self.redis_timeout_ms > 10_000 {
            errors.push(ConfigError::new(
                "redis_timeout_ms",
                "must be from 1 to 10000 milliseconds",
            ));
        }
        if let Some(url) = &self.otlp_endpoint
            && !url_has_scheme(url, &["http", "https"])
        {
            errors.push(ConfigError::new(
                "otlp_endpoint",
                "expected an http://… or https://… URL, e.g. http://127.0.0.1:4318",
            ));
        }
        if self.otlp_queue == 0 {
            errors.push(ConfigError::new("otlp_queue", "must be at least 1"));
        }
        if self.prune_interval_s == 0 {
            errors.push(ConfigError::new("prune_interval_s", "must be at least 1"));
        }
        if !(100..=3_600_000).contains(&self.alert_interval_ms) {
            errors.push(ConfigError::new(
                "alert_interval_ms",
                "must be from 100 to 3600000 milliseconds",
            ));
        }
        if self.max_body_bytes == 0 {
            errors.push(ConfigError::new("max_body_bytes", "must be at least 1"));
        }
        if self.header_read_timeout_s == 0 {
            errors.push(ConfigError::new(
                "header_read_timeout_s",
                "must be at least 1",
            ));
        }
        if self.max_connections == 0 {
            errors.push(ConfigError::new("max_connections", "must be at least 1"));
        }
        if self.idle_spin_us > 1_000 {
            errors.push(ConfigError::new(
                "idle_spin_us",
                "must be from 0 to 1000 microseconds",
            ));
        }
        for (i, proxy) in self.trusted_proxies.iter().enumerate() {
            if parse_network(proxy).is_none() {
                errors.push(ConfigError::new(
                    format!("trusted_proxies[{i}]"),
                    format!("expected an address or a CIDR network like 10.0.0.0/8, got {proxy:?}"),
                ));
            }
        }
        for (field, certs) in [
            ("gateway_tls", &self.gateway_tls),
            ("console_tls", &self.console_tls),
        ] {
            for (i, cert) in certs.iter().enumerate() {
                for (j, domain) in cert.domains.iter().enumerate() {
                    if !valid_domain(domain) {
                        errors.push(ConfigError::new(
                            format!("{field}[{i}].domains[{j}]"),
                            format!("expected a host name like api.example.com or *.example.com, got {domain:?}"),
                        ));
                    }
                }
            }
        }
        if self.tls_reload_s == 0 {
            errors.push(ConfigError::new("tls_reload_s", "must be at least 1"));
        }
        if !(1..=86_400).contains(&self.reload_interval_s) {
            errors.push(ConfigError::new(
                "reload_interval_s",
                "must be from 1 to 86400 seconds",
            ));
        }
        let docs_ok = self.docs_base_url.starts_with('/') && !self.docs_base_url.starts_with("//")
            || url_has_scheme(&self.docs_base_url, &["http", "https"]);
        if !docs_ok
            || self
                .docs_base_url
                .chars()
                .any(|c| c.is_whitespace() || c == '"')
        {
            errors.push(ConfigError::new(
                "docs_base_url",
                "expected a path on the console such as /console/docs, or an http(s):// URL",
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            errors.push(ConfigError::new("data_dir", "must not be empty"));
        }
        ConfigErrors::new(errors)
    }

    /// [`Self::shutdown_grace_s`] as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_s)
    }

    /// [`Self::alert_interval_ms`] as a duration.
    pub fn alert_interval(&self) -> Duration {
        Duration::from_millis(self.alert_interval_ms)
    }

    /// [`Self::header_read_timeout_s`] as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_s)
    }
}

/// Passwords in the store and Redis URLs are redacted.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("gateway_addr", &self.gateway_addr)
            .field("console_addr", &self.console_addr)
            .field("data_dir", &self.data_dir)
            .field("store", &self.store.as_deref().map(redact_url))
            .field("redis", &self.redis.as_deref().map(redact_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .field(
                "otlp_endpoint",
                &self.otlp_endpoint.as_deref().map(redact_url),
            )
            .field("otlp_queue", &self.otlp_queue)
            .field("prune_interval_s", &self.prune_interval_s)
            .field("shutdown_grace_s", &self.shutdown_grace_s)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("header_read_timeout_s", &self.header_read_timeout_s)
            .field("max_connections", &self.max_connections)
            .field("idle_spin_us", &self.idle_spin_us)
            .field("log_format", &self.log_format)
            .field("alert_interval_ms", &self.alert_interval_ms)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("gateway_tls", &self.gateway_tls)
            .field("console_tls", &self.console_tls)
            .field("tls_reload_s", &self.tls_reload_s)
            .field("reload_interval_s", &self.reload_interval_s)
            .field("docs_base_url", &self.docs_base_url)
            .finish()
    }
}

/// A URL with its password replaced by `***`, for logs and debug output.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => match parsed.set_password(Some("***")) {
            Ok(()) => parsed.to_string(),
            Err(()) => "<redacted>".to_owned(),
        },
        Ok(_) => url.to_owned(),
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

fn url_has_scheme(url: &str, schemes: &[&str]) -> bool {
    Url::parse(url).is_ok_and(|u| schemes.contains(&u.scheme()))
}

fn toml_error(path: &str, err: &toml::de::Error, text: &str) -> ConfigErrors {
    let path = if path == "." { "" } else { path };
    let message = err.message().trim().replace('\n', " ");
    let error = ConfigError::new(path, message);
    let error = match err.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            error.at(line, column)
        }
        None => error,
    };
    ConfigErrors::single(error)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (u64, u64) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line as u64, column as u64)
}

/// `10.0.0.0/8`, `2001:db8::/32`, or a single address.
fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

/// A host name, optionally with one leading `*.` label.
fn valid_domain(domain: &str) -> bool {
    let name = domain.strip_prefix("*.").unwrap_or(domain);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn toml_paths(text: &str) -> Vec<String> {
        match ServerConfig::from_toml_str(text) {
            Ok(_) => vec![],
            Err(e) => e.into_iter().map(|e| e.path).collect(),
        }
    }

    #[test]
    fn defaults() {
        let config = ServerConfig::load(None, &no_env).unwrap();
        assert_eq!(config, ServerConfig::default());
        assert_eq!(config.gateway_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.console_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(config.shutdown_grace(), Duration::from_secs(30));
        assert_eq!(config.header_read_timeout(), Duration::from_secs(10));
        assert_eq!(config.max_connections, 10_000);
        assert_eq!(config.idle_spin_us, 300);
        assert_eq!(config.log_format, LogFormat::Auto);
        assert_eq!(
            ServerConfig::from_toml_str("").unwrap(),
            ServerConfig::default()
        );
    }

    #[test]
    fn file_values_override_defaults() {
        let config = ServerConfig::from_toml_str(
            "gateway_addr = \"0.0.0.0:9000\"\nstore = \"postgres://u:p@db/sentinel\"\nlog_format = \"json\"\nmax_body_bytes = 1024\n",
        )
        .unwrap();
        assert_eq!(config.gateway_addr.to_string(), "0.0.0.0:9000");
        assert_eq!(config.console_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.max_body_bytes, 1024);
        assert!(
            !format!("{config:?}").contains(":p@"),
            "password must be redacted"
        );
    }

    #[test]
    fn file_errors_name_field_and_line() {
        assert_eq!(toml_paths("bogus = 1\n"), ["bogus"]);
        assert_eq!(toml_paths("log_format = \"xml\"\n"), ["log_format"]);
        assert_eq!(toml_paths("gateway_addr = \"nope\"\n"), ["gateway_addr"]);
        assert_eq!(toml_paths("max_connections = -1\n"), ["max_connections"]);
        assert_eq!(
            toml_paths("shutdown_grace_s = \"30\"\n"),
            ["shutdown_grace_s"]
        );
        assert_eq!(
            toml_paths("max_body_bytes = 0\nmax_connections = 0\n"),
            ["max_body_bytes", "max_connections"]
        );
        assert_eq!(toml_paths("idle_spin_us = 1001\n"), ["idle_spin_us"]);
        assert_eq!(toml_paths("idle_spin_us = 0\n"), Vec::<String>::new());
        assert_eq!(toml_paths("store = \"mysql://x\"\n"), ["store"]);
        assert_eq!(toml_paths("redis = \"http://x\"\n"), ["redis"]);
        assert_eq!(toml_paths("a = 1\na = 2\n").len(), 1);
        assert_eq!(toml_paths("[gateway\n").len(), 1);

        let err = ServerConfig::from_toml_str("data_dir = \"x\"\n\nbogus = 1\n").unwrap_err();
        let location = err.errors[0].location.unwrap();
        assert_eq!((location.line, location.column), (3, 1));
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn store_password_is_never_echoed() {
        let err = ServerConfig::load(None, &env_of(&[("SENTINEL_STORE", "mysql://u:hunter2@db")]))
            .unwrap_err();
        assert_eq!(err.paths(), ["SENTINEL_STORE"]);
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn env_overrides_file() {
        let dir = std::env::temp_dir().join(format!("sentinel-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("server.toml");
        std::fs::write(
            &file,
            "gateway_addr = \"0.0.0.0:9000\"\nshutdown_grace_s = 5\n",
        )
        .unwrap();
        let env = env_of(&[
            ("SENTINEL_SHUTDOWN_GRACE_S", "7"),
            ("SENTINEL_DATA_DIR", "/var/lib/sentinel"),
            ("SENTINEL_STORE", "sqlite:///tmp/x.db"),
            ("SENTINEL_REDIS", "redis://cache:6379"),
            ("SENTINEL_MAX_BODY_BYTES", "2048"),
            ("SENTINEL_IDLE_SPIN_US", "0"),
            ("SENTINEL_LOG_FORMAT", "text"),
            ("SENTINEL_CONSOLE_ADDR", "[::1]:9001"),
            ("SENTINEL_GATEWAY_ADDR", ""),
        ]);
        let config = ServerConfig::load(Some(&file), &env).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(config.gateway_addr.to_string(), "0.0.0.0:9000");
        assert_eq!(config.console_addr.to_string(), "[::1]:9001");
        assert_eq!(config.shutdown_grace_s, 7);
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/sentinel"));
        assert_eq!(config.store.as_deref(), Some("sqlite:///tmp/x.db"));
        assert_eq!(config.redis.as_deref(), Some("redis://cache:6379"));
        assert_eq!(config.max_body_bytes, 2048);
        assert_eq!(config.idle_spin_us, 0);
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        let err = ServerConfig::load(
            None,
            &env_of(&[
                ("SENTINEL_GATEWAY_ADDR", "localhost"),
                ("SENTINEL_MAX_BODY_BYTES", "4MB"),
                ("SENTINEL_LOG_FORMAT", "yaml"),
                ("SENTINEL_SHUTDOWN_GRACE_S", "-1"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            err.paths(),
            [
                "SENTINEL_GATEWAY_ADDR",
                "SENTINEL_SHUTDOWN_GRACE_S",
                "SENTINEL_MAX_BODY_BYTES",
                "SENTINEL_LOG_FORMAT"
            ]
        );
        let err =
            ServerConfig::load(None, &env_of(&[("SENTINEL_MAX_BODY_BYTES", "0")])).unwrap_err();
        assert_eq!(err.paths(), ["SENTINEL_MAX_BODY_BYTES"]);
    }

    #[test]
    fn missing_file_is_an_error() {
        let err =
            ServerConfig::load(Some(Path::new("/nonexistent/sentinel.toml")), &no_env).unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
    }

    #[test]
    fn flags_apply_last_through_the_same_checks() {
        let mut config =
            ServerConfig::load(None, &env_of(&[("SENTINEL_GATEWAY_ADDR", "0.0.0.0:1")])).unwrap();
        config
            .apply_overrides(&env_of(&[("SENTINEL_GATEWAY_ADDR", "0.0.0.0:2")]))
            .unwrap();
        assert_eq!(config.gateway_addr.to_string(), "0.0.0.0:2");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://u:secret@db/x"),
            "postgres://u:***@db/x"
        );
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
    }

    #[test]
    fn trusted_proxies_and_tls_are_checked_with_their_paths() {
        let text = r#"
trusted_proxies = ["10.0.0.0/8", "192.168.1.7", "not-a-network"]
[[gateway_tls]]
cert = "/etc/sentinel/api.pem"
key = "/etc/sentinel/api.key"
domains = ["api.example.com", "*.example.com", "bad domain"]
"#;
        assert_eq!(
            toml_paths(text),
            ["trusted_proxies[2]", "gateway_tls[0].domains[2]"]
        );
        let good = ServerConfig::from_toml_str(
            "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n[[console_tls]]\ncert = \"c.pem\"\nkey = \"c.key\"\n",
        )
        .unwrap();
        assert_eq!(good.trusted_proxy_networks().len(), 2);
        assert_eq!(good.console_tls[0].domains, Vec::<String>::new());

        let mut config = ServerConfig::default();
        config
            .apply_overrides(&env_of(&[(
                "SENTINEL_TRUSTED_PROXIES",
                "10.1.0.0/16, 127.0.0.1",
            )]))
            .unwrap();
        assert_eq!(config.trusted_proxies, ["10.1.0.0/16", "127.0.0.1"]);
        let error = ServerConfig::default()
            .apply_overrides(&env_of(&[("SENTINEL_TRUSTED_PROXIES", "everyone")]))
            .unwrap_err();
        assert!(
            error.to_string().contains("SENTINEL_TRUSTED_PROXIES"),
            "{error}"
        );
    }

    #[test]
    fn docs_base_url_is_a_console_path_or_a_web_url() {
        assert_eq!(ServerConfig::default().docs_base_url, "/console/docs");
        let config = ServerConfig::load(
            None,
            &env_of(&[(
                "SENTINEL_DOCS_BASE_URL",
                "https://docs.example.com/sentinel/",
            )]),
        )
        .unwrap();
        assert_eq!(config.docs_base_url, "https://docs.example.com/sentinel");
        for bad in ["ftp://x", "docs", "//evil.example", "/a b"] {
            let errors =
                ServerConfig::from_toml_str(&format!("docs_base_url = \"{bad}\"\n")).unwrap_err();
            assert_eq!(errors.errors[0].path, "docs_base_url", "{bad}");
        }
    }
}
