//! Checks `alerts:` and `alert_destinations:`: every problem with its path,
//! e.g. `alerts[0].when.signal` or `alert_destinations.ops.url`.

use std::collections::{BTreeMap, BTreeSet};

use sentinel_core::Name;
use url::Url;

use super::{CompileContext, EndpointRules, check_credential, endpoint_problems};
use crate::alert::{AlertDestination, AlertRule, Alerts, DestinationKind, DestinationUrl, Signal};
use crate::document::{RawAlertDestination, RawAlertRule};
use crate::error::ConfigError;

/// Rules a document may hold.
const MAX_RULES: usize = 100;
/// The longest window, in seconds (one day).
const MAX_WINDOW_S: u64 = 86_400;
/// The window when `for_s` is not given.
const DEFAULT_WINDOW_S: u64 = 300;
/// `min_requests` when not given.
const DEFAULT_MIN_REQUESTS: u64 = 10;

pub(super) fn compile_alerts(
    rules: &[RawAlertRule],
    destinations: &BTreeMap<String, RawAlertDestination>,
    ctx: &CompileContext<'_>,
    errors: &mut Vec<ConfigError>,
) -> Alerts {
    let mut out = Alerts::default();
    for (key, raw) in destinations {
        if let Some(d) = compile_destination(key, raw, ctx, errors) {
            out.destinations.insert(d.name.clone(), d);
        }
    }
    if rules.len() > MAX_RULES {
        errors.push(ConfigError::new(
            "alerts",
            format!("at most {MAX_RULES} alert rules"),
        ));
    }
    let mut names = BTreeSet::new();
    for (i, raw) in rules.iter().enumerate() {
        let at = format!("alerts[{i}]");
        if !names.insert(raw.name.as_str()) {
            errors.push(ConfigError::new(
                format!("{at}.name"),
                format!("rule name {:?} is used twice", raw.name),
            ));
        }
        if let Some(rule) = compile_rule(&at, raw, destinations, errors) {
            out.rules.push(rule);
        }
    }
    out
}

fn compile_rule(
    at: &str,
    raw: &RawAlertRule,
    destinations: &BTreeMap<String, RawAlertDestination>,
    errors: &mut Vec<ConfigError>,
) -> Option<AlertRule> {
    let before = errors.len();
    let name = Name::parse(&raw.name)
        .map_err(|e| {
            errors.push(ConfigError::new(
                format!("{at}.name"),
                format!("invalid rule name: {e}"),
            ));
        })
        .ok();
    let when = &raw.when;
    let signal = Signal::parse(&when.signal);
    if signal.is_none() {
        let known: Vec<&str> = Signal::ALL.iter().map(|(_, n)| *n).collect();
        errors.push(ConfigError::new(
            format!("{at}.when.signal"),
            format!(
                "unknown signal {:?}; known: {}",
                when.signal,
                known.join(", ")
            ),
        ));
    }
    let above_at = format!("{at}.when.above");
    let above = match (signal, when.above) {
        (_, Some(v)) if !v.is_finite() || v < 0.0 => {
            errors.push(ConfigError::new(&above_at, "must be a number ≥ 0"));
            0.0
        }
        (Some(s), Some(v)) if s.is_rate() && v >= 1.0 => {
            errors.push(ConfigError::new(
                &above_at,
                format!(
                    "{} is a share of requests (0 to 1); use a value below 1, e.g. 0.05 for 5 %",
                    s.as_str()
                ),
            ));
            0.0
        }
        (Some(Signal::BudgetThreshold), Some(v)) if v > 2.0 => {
            errors.push(ConfigError::new(
                &above_at,
                "budget_threshold is a fraction of the budget (0 to 2, like alert_at), e.g. 0.8",
            ));
            0.0
        }
        (_, Some(v)) => v,
        (Some(Signal::BreakerOpen | Signal::BudgetThreshold), None) => 0.0,
        (Some(s), None) => {
            errors.push(ConfigError::new(
                &above_at,
                format!("{} needs a threshold (`above:`)", s.as_str()),
            ));
            0.0
        }
        (None, None) => 0.0,
    };
    let for_s = match when.for_s {
        None => DEFAULT_WINDOW_S,
        Some(v) if (1..=MAX_WINDOW_S).contains(&v) => v,
        Some(_) => {
            errors.push(ConfigError::new(
                format!("{at}.when.for_s"),
                format!("must be between 1 and {MAX_WINDOW_S} seconds"),
            ));
            DEFAULT_WINDOW_S
        }
    };
    let min_requests = match (signal, when.min_requests) {
        (_, None) => DEFAULT_MIN_REQUESTS,
        (Some(s), Some(_)) if !s.needs_min_requests() => {
            errors.push(ConfigError::new(
                format!("{at}.when.min_requests"),
                format!("{} is not a rate or percentile", s.as_str()),
            ));
            DEFAULT_MIN_REQUESTS
        }
        (_, Some(v)) if (1..=1_000_000).contains(&v) => v,
        (_, Some(_)) => {
            errors.push(ConfigError::new(
                format!("{at}.when.min_requests"),
                "must be between 1 and 1000000",
            ));
            DEFAULT_MIN_REQUESTS
        }
    };
    let provider = match (&when.provider, signal) {
        (None, _) => None,
        (Some(_), Some(s)) if !s.takes_provider() => {
            errors.push(ConfigError::new(
                format!("{at}.when.provider"),
                format!(
                    "{} is measured over the whole environment; only provider_error_rate and breaker_open take a provider",
                    s.as_str()
                ),
            ));
            None
        }
        (Some(p), _) => Name::parse(p)
            .map_err(|e| {
                errors.push(ConfigError::new(
                    format!("{at}.when.provider"),
                    format!("invalid provider name: {e}"),
                ));
            })
            .ok(),
    };
    if raw.notify.is_empty() {
        errors.push(ConfigError::new(
            format!("{at}.notify"),
            "name at least one destination from alert_destinations",
        ));
    }
    let mut notify = Vec::with_capacity(raw.notify.len());
    for (j, reference) in raw.notify.iter().enumerate() {
        let path = format!("{at}.notify[{j}]");
        let (kind, dest) = match reference.split_once(':') {
            Some((kind, dest)) => (Some(kind), dest),
            None => (None, reference.as_str()),
        };
        let Some(found) = destinations.get(dest) else {
            let known: Vec<&str> = destinations.keys().map(String::as_str).collect();
            errors.push(ConfigError::new(
                path,
                format!(
                    "destination {dest:?} is not defined under alert_destinations (defined: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
            continue;
        };
        if let Some(kind) = kind
            && kind != found.kind
        {
            errors.push(ConfigError::new(
                path,
                format!(
                    "destination {dest} is of kind {:?}, not {kind:?}",
                    found.kind
                ),
            ));
            continue;
        }
        match Name::parse(dest) {
            Ok(n) if notify.contains(&n) => {
                errors.push(ConfigError::new(path, format!("{dest} is listed twice")));
            }
            Ok(n) => notify.push(n),
            // The name itself is reported on the destination.
            Err(_) => {}
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(AlertRule {
        name: name?,
        signal: signal?,
        above,
        for_s,
        min_requests,
        provider,
        notify,
    })
}

fn compile_destination(
    key: &str,
    raw: &RawAlertDestination,
    ctx: &CompileContext<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<AlertDestination> {
    let at = format!("alert_destinations.{key}");
    let before = errors.len();
    let name = Name::parse(key)
        .map_err(|e| {
            errors.push(ConfigError::new(
                &at,
                format!("invalid destination name: {e}"),
            ));
        })
        .ok();
    let kind = match raw.kind.as_str() {
        "webhook" => Some(DestinationKind::Webhook),
        "slack" => Some(DestinationKind::Slack),
        other => {
            errors.push(ConfigError::new(
                format!("{at}.kind"),
                format!("unknown destination kind {other:?}; use webhook or slack"),
            ));
            None
        }
    };
    let url_at = format!("{at}.url");
    let url = if raw.url.starts_with("secret:") {
        check_credential(&raw.url, ctx, &url_at, errors).map(DestinationUrl::Secret)
    } else {
        check_url(&raw.url, raw, ctx.protected, &url_at, errors).map(DestinationUrl::Literal)
    };
    if kind == Some(DestinationKind::Slack) && raw.secret.is_some() {
        errors.push(ConfigError::new(
            format!("{at}.secret"),
            "Slack webhooks are not signed; the URL itself is the credential (use url: secret:NAME)",
        ));
    }
    let secret = raw
        .secret
        .as_deref()
        .and_then(|s| check_credential(s, ctx, &format!("{at}.secret"), errors));
    if errors.len() > before {
        return None;
    }
    Some(AlertDestination {
        name: name?,
        kind: kind?,
        url: url?,
        secret,
        allow_private_network: raw.allow_private_network,
        allow_http: raw.allow_http,
    })
}

/// Checks a destination URL written in the document; the same rules as a
/// provider's base URL (query strings are allowed: some receivers need one).
/// Never echoes the URL: it may carry a token.
fn check_url(
    text: &str,
    raw: &RawAlertDestination,
    protected: bool,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Url> {
    let before = errors.len();
    let mut fail = |message: String| errors.push(ConfigError::new(at, message));
    let Ok(url) = Url::parse(text) else {
        fail(
            "not a valid URL; write it like https://hooks.example.com/sentinel, or secret:NAME"
                .to_owned(),
        );
        return None;
    };
    for message in endpoint_problems(
        &url,
        &EndpointRules {
            allow_private_network: raw.allow_private_network,
            allow_http: raw.allow_http,
            protected,
            allow_query: true,
            userinfo_hint: "keep a URL with credentials in a secret (url: secret:NAME)",
        },
    ) {
        fail(message);
    }
    (errors.len() == before).then_some(url)
}
