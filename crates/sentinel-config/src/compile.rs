//! Raw document in, validated [`EnvConfig`] out. Every rule runs on every
//! field, so one `sentinel config plan` shows every problem, each with its
//! field path.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU32;

use http::{HeaderName, HeaderValue};
use sentinel_core::{
    Name, Price,
    price::{MAX_USD_PER_MTOK, parse_usd_micros},
};
use url::Url;

use crate::document::{
    RawCircuitBreaker, RawEnvDocument, RawPrice, RawProvider, RawRetention, RawRetry, RawRollout,
    RawRoutePlan, RawTarget, RawTimeouts, parse_document,
};
use crate::env::{
    Canary, EnvConfig, Policies, ProviderConfig, Retention, RetryOn, RetryPolicy, Rollout,
    RoutePlan, SecretRef, Strategy, Target, Timeouts,
};
use crate::error::{ConfigError, ConfigErrors, ConfigWarning};
use crate::safety::refused_host;

/// Validates `retention:`, naming each bad field.
fn compile_retention(raw: &RawRetention, errors: &mut Vec<ConfigError>) -> Retention {
    let mut days = |field: &str, value: Option<u32>, forever: &str| match value {
        Some(d) if !(1..=MAX_RETENTION_DAYS).contains(&d) => {
            errors.push(ConfigError::new(
                format!("retention.{field}"),
                format!("must be from 1 to {MAX_RETENTION_DAYS} days; omit it to {forever}"),
            ));
            None
        }
        d => d,
    };
    let requests_days = days("requests_days", raw.requests_days, "keep records forever");
    let bodies_days = days(
        "bodies_days",
        raw.bodies_days,
        "keep bodies as long as records",
    );
    let audit_days = days("audit_days", raw.audit_days, "keep audit events forever");
    let bodies = match raw.bodies.as_deref() {
        None => sentinel_core::BodyMode::Off,
        Some(name) => sentinel_core::BodyMode::parse(name).unwrap_or_else(|| {
            errors.push(ConfigError::new(
                "retention.bodies",
                format!("unknown mode {name:?}; use off, redacted or full"),
            ));
            sentinel_core::BodyMode::Off
        }),
    };
    if let (Some(bodies), Some(records)) = (bodies_days, requests_days)
        && bodies > records
    {
        errors.push(ConfigError::new(
            "retention.bodies_days",
            format!(
                "must not exceed requests_days ({records}): bodies are pruned sooner than records"
            ),
        ));
    }
    Retention {
        requests_days,
        bodies,
        // Bodies never outlive their records.
        bodies_days: bodies_days.or(requests_days),
        audit_days,
        audit_prune_unexported: raw.audit_prune_unexported.unwrap_or(false),
    }
}

/// The longest retention accepted, in days (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// The longest requested or upstream model name accepted, in characters.
pub const MAX_MODEL_NAME_CHARS: usize = 256;

/// What config knows about provider kinds, implemented by the provider
/// registry so that config never depends on vendor code.
pub trait ProviderCatalog {
    /// Every kind name that may appear as `kind:`.
    fn kinds(&self) -> Vec<&'static str>;

    /// Kind-specific checks of one provider (required fields, `options`).
    /// Paths are relative to the provider, e.g. `options.latency_ms`.
    fn check(&self, kind: &str, provider: &RawProvider) -> Vec<ConfigError>;
}

/// What compiling an environment's document needs to know about the
/// environment and the installation.
pub struct CompileContext<'a> {
    /// Known provider kinds and their checks.
    pub catalog: &'a dyn ProviderCatalog,
    /// The environment is protected: plain http is refused unless a
    /// provider sets `allow_http: true`.
    pub protected: bool,
    /// Whether the environment has a stored secret of this name.
    pub secret_exists: &'a dyn Fn(&str) -> bool,
}

/// Parses and validates an environment document (YAML). Returns the
/// validated config and its warnings, or every problem found.
pub fn compile(
    text: &str,
    ctx: &CompileContext<'_>,
) -> Result<(EnvConfig, Vec<ConfigWarning>), ConfigErrors> {
    compile_raw(&parse_document(text)?, ctx)
}

/// Validates an already parsed document (e.g. one read from JSON).
pub fn compile_raw(
    raw: &RawEnvDocument,
    ctx: &CompileContext<'_>,
) -> Result<(EnvConfig, Vec<ConfigWarning>), ConfigErrors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    let mut providers = BTreeMap::new();
    for (key, provider) in &raw.providers {
        if let Some(compiled) = compile_provider(key, provider, ctx, &mut errors) {
            providers.insert(compiled.name.clone(), compiled);
        }
    }

    let mut route_plans = BTreeMap::new();
    let mut served_by: HashMap<&str, &str> = HashMap::new();
    let mut used = BTreeSet::new();
    for (key, plan) in &raw.route_plans {
        for target in plan.all_targets() {
            used.insert(target.provider.as_str());
        }
        let compiled = compile_route_plan(key, plan, raw, &mut served_by, &mut errors);
        if let Some(compiled) = compiled {
            route_plans.insert(compiled.name.clone(), compiled);
        }
    }

    for key in raw.providers.keys() {
        if !used.contains(key.as_str()) {
            warnings.push(ConfigWarning::new(
                format!("providers.{key}"),
                "no route plan uses this provider",
            ));
        }
    }

    let mut prices = BTreeMap::new();
    for (model, price) in &raw.prices {
        if let Some(compiled) = compile_price(model, price, &mut errors) {
            prices.insert(model.clone(), compiled);
        }
        let targeted = raw
            .route_plans
            .values()
            .any(|plan| plan.all_targets().any(|t| t.model == *model));
        if !targeted {
            warnings.push(ConfigWarning::new(
                format!("prices.{model}"),
                "no route plan target uses this upstream model",
            ));
        }
    }

    let policies = match sentinel_policy::compile(&raw.policies) {
        Ok((set, policy_warnings)) => {
            warnings.extend(
                policy_warnings
                    .into_iter()
                    .map(|w| ConfigWarning::new(w.path, w.message)),
            );
            Some(Policies::new(raw.policies.clone(), set))
        }
        Err(issues) => {
            errors.extend(
                issues
                    .into_iter()
                    .map(|i| ConfigError::new(i.path, i.message)),
            );
            None
        }
    };

    let retention = raw
        .retention
        .as_ref()
        .map(|raw| compile_retention(raw, &mut errors))
        .unwrap_or_default();

    let alerts = alerts::compile_alerts(&raw.alerts, &raw.alert_destinations, ctx, &mut errors);
    for (key, destination) in &raw.alert_destinations {
        if destination.kind == "webhook" && destination.secret.is_none() {
            warnings.push(ConfigWarning::new(
                format!("alert_destinations.{key}.secret"),
                "this webhook's bodies are not signed; set secret: secret:NAME so receivers can verify them",
            ));
        }
        let used = raw.alerts.iter().any(|rule| {
            rule.notify
                .iter()
                .any(|r| r.rsplit_once(':').map_or(r.as_str(), |(_, n)| n) == key)
        });
        if !used {
            warnings.push(ConfigWarning::new(
                format!("alert_destinations.{key}"),
                "no alert rule notifies this destination",
            ));
        }
    }

    let rollout = compile_rollout(raw.rollout.as_ref(), &mut errors);

    ConfigErrors::new(errors).into_result()?;
    Ok((
        EnvConfig::new(
            providers,
            route_plans,
            prices,
            policies.unwrap_or_default(),
            retention,
        )
        .with_alerts(alerts)
        .with_rollout(rollout),
        warnings,
    ))
}

/// `rollout:`: the applications an environment is open to, if limited.
fn compile_rollout(raw: Option<&RawRollout>, errors: &mut Vec<ConfigError>) -> Rollout {
    let Some(open_to) = raw.and_then(|r| r.open_to.as_ref()) else {
        return Rollout::default();
    };
    let mut apps = Vec::with_capacity(open_to.len());
    for (i, app) in open_to.iter().enumerate() {
        match Name::parse(app) {
            Ok(name) if apps.contains(&name) => errors.push(ConfigError::new(
                format!("rollout.open_to[{i}]"),
                format!("application {app:?} is listed twice"),
            )),
            Ok(name) => apps.push(name),
            Err(e) => errors.push(ConfigError::new(
                format!("rollout.open_to[{i}]"),
                format!("invalid application name: {e}"),
            )),
        }
    }
    Rollout {
        open_to: Some(apps),
    }
}

/// Checks one `prices:` entry: a valid model name and two exact decimal
/// amounts of USD per million tokens, each from 0 to 10 000.
fn compile_price(model: &str, raw: &RawPrice, errors: &mut Vec<ConfigError>) -> Option<Price> {
    let at = format!("prices.{model}");
    let before = errors.len();
    if let Some(problem) = model_name_problem(model) {
        errors.push(ConfigError::new(&at, problem));
    }
    let mut amount = |field: &str, text: &str| {
        parse_usd_micros(text, MAX_USD_PER_MTOK)
            .map_err(|e| {
                errors.push(ConfigError::new(
                    format!("{at}.{field}"),
                    format!("{e} (USD per million tokens; got {text:?})"),
                ));
            })
            .ok()
    };
    let input = amount("input_per_mtok", &raw.input_per_mtok.0);
    let output = amount("output_per_mtok", &raw.output_per_mtok.0);
    if errors.len() > before {
        return None;
    }
    Some(Price::new(input?, output?))
}

fn compile_provider(
    key: &str,
    raw: &RawProvider,
    ctx: &CompileContext<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<ProviderConfig> {
    let at = format!("providers.{key}");
    let before = errors.len();
    let name = Name::parse(key)
        .map_err(|e| errors.push(ConfigError::new(&at, format!("invalid provider name: {e}"))))
        .ok();

    let kinds = ctx.catalog.kinds();
    if kinds.contains(&raw.kind.as_str()) {
        let checks = ctx.catalog.check(&raw.kind, raw);
        errors.extend(checks.into_iter().map(|e| e.under(&at)));
    } else {
        errors.push(ConfigError::new(
            format!("{at}.kind"),
            format!(
                "unknown provider kind {:?}; known kinds: {}",
                raw.kind,
                kinds.join(", ")
            ),
        ));
    }

    let base_url = raw
        .base_url
        .as_deref()
        .and_then(|url| check_base_url(url, raw, ctx.protected, &format!("{at}.base_url"), errors));
    let credential = raw
        .credential
        .as_deref()
        .and_then(|c| check_credential(c, ctx, &format!("{at}.credential"), errors));
    let headers = check_headers(&raw.headers, &format!("{at}.headers"), errors);

    if errors.len() > before {
        return None;
    }
    Some(ProviderConfig {
        name: name?,
        kind: raw.kind.clone(),
        base_url,
        credential,
        allow_private_network: raw.allow_private_network,
        allow_http: raw.allow_http,
        headers,
        options: raw.options.clone().unwrap_or_default(),
    })
}

fn check_base_url(
    text: &str,
    raw: &RawProvider,
    protected: bool,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Url> {
    let before = errors.len();
    let mut fail = |message: String| errors.push(ConfigError::new(at, message));
    let url = match Url::parse(text) {
        Ok(url) => url,
        Err(e) => {
            fail(format!(
                "not a valid URL ({e}); write it like https://api.example.com/v1"
            ));
            return None;
        }
    };
    for message in endpoint_problems(
        &url,
        &EndpointRules {
            allow_private_network: raw.allow_private_network,
            allow_http: raw.allow_http,
            protected,
            allow_query: false,
            userinfo_hint: "store credentials as a secret and use `credential`",
        },
    ) {
        fail(message);
    }
    (errors.len() == before).then_some(url)
}

/// What an outbound endpoint URL (a provider's base URL, an alert
/// destination) must satisfy besides parsing.
pub(crate) struct EndpointRules<'a> {
    pub(crate) allow_private_network: bool,
    pub(crate) allow_http: bool,
    pub(crate) protected: bool,
    pub(crate) allow_query: bool,
    /// Where credentials belong instead of the URL's user info.
    pub(crate) userinfo_hint: &'a str,
}

/// Every rule `url` breaks, as messages (never echoing the URL). A scheme
/// other than http(s) is the only problem reported when present.
pub(crate) fn endpoint_problems(url: &Url, rules: &EndpointRules<'_>) -> Vec<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return vec![format!(
            "scheme {:?} is not supported; use https (or http)",
            url.scheme()
        )];
    }
    let mut problems = Vec::new();
    if url.host().is_none() {
        problems.push("the URL has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        problems.push(format!(
            "must not contain a user name or password; {}",
            rules.userinfo_hint
        ));
    }
    if !rules.allow_query && url.query().is_some() {
        problems.push("must not have a query string (`?…`)".to_owned());
    }
    if url.fragment().is_some() {
        problems.push("must not have a fragment (`#…`)".to_owned());
    }
    if !rules.allow_private_network
        && let Some(message) = refused_host(url)
    {
        problems.push(message);
    }
    if rules.protected && url.scheme() == "http" && !rules.allow_http {
        problems.push(
            "plain http is refused in a protected environment; use https or set allow_http: true"
                .to_owned(),
        );
    }
    problems
}

fn check_credential(
    text: &str,
    ctx: &CompileContext<'_>,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<SecretRef> {
    let Some(name) = text.strip_prefix("secret:") else {
        errors.push(ConfigError::new(
            at,
            "must have the form secret:NAME, naming a stored secret of this environment",
        ));
        return None;
    };
    let name = match Name::parse(name) {
        Ok(name) => name,
        Err(e) => {
            errors.push(ConfigError::new(at, format!("invalid secret name: {e}")));
            return None;
        }
    };
    if !(ctx.secret_exists)(&name) {
        errors.push(ConfigError::new(
            at,
            format!(
                "secret {name} does not exist in this environment; set it with `sentinel secrets set`"
            ),
        ));
        return None;
    }
    Some(SecretRef(name))
}

/// Why an extra header may not be set by config, if it may not.
fn forbidden_header(name: &str) -> Option<&'static str> {
    match name {
        "authorization" | "x-api-key" | "api-key" | "x-goog-api-key" | "cookie" => {
            Some("credentials come from `credential`, never from extra headers")
        }
        "host" | "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "te"
        | "trailer" | "upgrade" => Some("Sentinel's HTTP client manages this header"),
        _ if name.starts_with("proxy-") => Some("proxy headers are never forwarded"),
        _ => None,
    }
}

fn check_headers(
    headers: &BTreeMap<String, String>,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let path = format!("{at}.{name}");
        let before = errors.len();
        let lower = match HeaderName::from_bytes(name.as_bytes()) {
            Ok(parsed) => parsed.as_str().to_owned(),
            Err(_) => {
                errors.push(ConfigError::new(
                    &path,
                    "not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)",
                ));
                continue;
            }
        };
        if let Some(why) = forbidden_header(&lower) {
            errors.push(ConfigError::new(
                &path,
                format!("{lower} may not be set as an extra header: {why}"),
            ));
        }
        if out.iter().any(|(n, _)| *n == lower) {
            errors.push(ConfigError::new(
                &path,
                format!("header {lower} is set more than once (header names ignore case)"),
            ));
        }
        if !value.is_ascii() || HeaderValue::from_str(value).is_err() {
            errors.push(ConfigError::new(
                &path,
                "not a valid HTTP header value (printable ASCII, spaces and tabs only)",
            ));
        }
        if errors.len() == before {
            out.push((lower, value.clone()));
        }
    }
    out
}

/// Checks a requested or upstream model name.
fn model_name_problem(model: &str) -> Option<String> {
    if model.is_empty() {
        Some("a model name must not be empty".to_owned())
    } else if model.chars().count() > MAX_MODEL_NAME_CHARS {
        Some(format!(
            "a model name may have at most {MAX_MODEL_NAME_CHARS} characters"
        ))
    } else if model.chars().any(char::is_control) {
        Some("a model name must not contain control characters".to_owned())
    } else {
        None
    }
}

fn compile_route_plan<'a>(
    key: &'a str,
    raw: &'a RawRoutePlan,
    doc: &RawEnvDocument,
    served_by: &mut HashMap<&'a str, &'a str>,
    errors: &mut Vec<ConfigError>,
) -> Option<RoutePlan> {
    let at = format!("route_plans.{key}");
    let before = errors.len();
    let name = Name::parse(key)
        .map_err(|e| {
            errors.push(ConfigError::new(
                &at,
                format!("invalid route plan name: {e}"),
            ))
        })
        .ok();

    if raw.models.is_empty() {
        errors.push(ConfigError::new(
            format!("{at}.models"),
            "a route plan must serve at least one model name",
        ));
    }
    for (i, model) in raw.models.iter().enumerate() {
        let path = format!("{at}.models[{i}]");
        if let Some(problem) = model_name_problem(model) {
            errors.push(ConfigError::new(path, problem));
            continue;
        }
        match served_by.get(model.as_str()) {
            Some(&other) if other == key => {
                errors.push(ConfigError::new(path, format!("model {model:?} is listed twice")));
            }
            Some(&other) => errors.push(ConfigError::new(
                path,
                format!(
                    "model {model:?} is served by both route plans {other} and {key}; a model name belongs to one route plan"
                ),
            )),
            None => {
                served_by.insert(model, key);
            }
        }
    }

    let stable = PlanParts {
        strategy: raw.strategy.as_deref(),
        targets: &raw.targets,
        retry: raw.retry.as_ref(),
        timeouts: raw.timeouts.as_ref(),
        breaker: raw.circuit_breaker.as_ref(),
    };
    let (strategy, targets, retry, timeouts, breaker) = compile_parts(&at, &stable, doc, errors);
    let canary = raw.canary.as_ref().map(|canary| {
        let at = format!("{at}.canary");
        let parts = PlanParts {
            strategy: canary.strategy.as_deref().or(stable.strategy),
            targets: &canary.targets,
            retry: canary.retry.as_ref().or(stable.retry),
            timeouts: canary.timeouts.as_ref().or(stable.timeouts),
            breaker: canary.circuit_breaker.as_ref().or(stable.breaker),
        };
        let (strategy, targets, retry, timeouts, breaker) = compile_parts(&at, &parts, doc, errors);
        let share_permille = match canary.share {
            None => 0,
            Some(share) if (0.0..=1.0).contains(&share) => {
                // In range, so the product fits.
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "0..=1000"
                )]
                let permille = (share * 1000.0).round() as u32;
                permille
            }
            Some(share) => {
                errors.push(ConfigError::new(
                    format!("{at}.share"),
                    format!("share must be from 0 to 1 (a fraction of requests), got {share}"),
                ));
                0
            }
        };
        let mut applications = Vec::with_capacity(canary.applications.len());
        for (i, app) in canary.applications.iter().enumerate() {
            match Name::parse(app) {
                Ok(name) => applications.push(name),
                Err(e) => errors.push(ConfigError::new(
                    format!("{at}.applications[{i}]"),
                    format!("invalid application name: {e}"),
                )),
            }
        }
        Canary {
            share_permille,
            applications,
            strategy,
            targets,
            retry,
            timeouts,
            breaker,
        }
    });
    if errors.len() > before {
        return None;
    }
    Some(RoutePlan {
        name: name?,
        models: raw.models.clone(),
        strategy,
        targets,
        retry,
        timeouts,
        breaker,
        canary,
    })
}

/// The parts of a route plan a canary may change.
struct PlanParts<'a> {
    strategy: Option<&'a str>,
    targets: &'a [RawTarget],
    retry: Option<&'a RawRetry>,
    timeouts: Option<&'a RawTimeouts>,
    breaker: Option<&'a RawCircuitBreaker>,
}

type CompiledParts = (
    Strategy,
    Vec<Target>,
    RetryPolicy,
    Timeouts,
    sentinel_core::breaker::BreakerParams,
);

/// Compiles the parts of a plan (or of its canary) found at `at`.
fn compile_parts(
    at: &str,
    raw: &PlanParts<'_>,
    doc: &RawEnvDocument,
    errors: &mut Vec<ConfigError>,
) -> CompiledParts {
    let strategy = match raw.strategy {
        None | Some("fallback") => Strategy::Fallback,
        Some("weighted") => Strategy::Weighted,
        Some(other) => {
            errors.push(ConfigError::new(
                format!("{at}.strategy"),
                format!("unknown strategy {other:?}; use fallback or weighted"),
            ));
            Strategy::Fallback
        }
    };

    if raw.targets.is_empty() || raw.targets.len() > MAX_TARGETS {
        errors.push(ConfigError::new(
            format!("{at}.targets"),
            format!("a route plan needs 1 to {MAX_TARGETS} targets"),
        ));
    }
    for (i, target) in raw.targets.iter().enumerate() {
        if raw.targets[..i]
            .iter()
            .any(|t| t.provider == target.provider && t.model == target.model)
        {
            errors.push(ConfigError::new(
                format!("{at}.targets[{i}]"),
                format!(
                    "target {}/{} is listed twice",
                    target.provider, target.model
                ),
            ));
        }
    }
    let retry = compile_retry(at, raw.retry, raw.targets.len(), errors);
    let timeouts = compile_timeouts(at, raw.timeouts, errors);
    let breaker = compile_breaker(at, raw.breaker, errors);
    let mut targets = Vec::with_capacity(raw.targets.len());
    for (i, target) in raw.targets.iter().enumerate() {
        let path = format!("{at}.targets[{i}]");
        let provider = if doc.providers.contains_key(&target.provider) {
            // An invalid name is reported once, on the provider itself.
            Name::parse(&target.provider).ok()
        } else {
            let known: Vec<&str> = doc.providers.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            errors.push(ConfigError::new(
                format!("{path}.provider"),
                format!(
                    "provider {:?} is not defined under providers (defined: {known})",
                    target.provider
                ),
            ));
            None
        };
        if let Some(problem) = model_name_problem(&target.model) {
            errors.push(ConfigError::new(format!("{path}.model"), problem));
        }
        let weight = match target.weight.map(NonZeroU32::new) {
            None => NonZeroU32::MIN,
            Some(Some(weight)) => weight,
            Some(None) => {
                errors.push(ConfigError::new(
                    format!("{path}.weight"),
                    "weight must be at least 1",
                ));
                NonZeroU32::MIN
            }
        };
        if let Some(provider) = provider {
            targets.push(Target {
                provider,
                model: target.model.clone(),
                weight,
            });
        }
    }

    (strategy, targets, retry, timeouts, breaker)
}

/// Targets a route plan may list.
const MAX_TARGETS: usize = 16;
/// Longest time limit accepted anywhere (one hour).
const MAX_MS: u64 = 3_600_000;

/// Reads an optional number, checking it lies in `range`.
fn bounded<T: PartialOrd + Copy + std::fmt::Display>(
    path: String,
    value: Option<T>,
    default: T,
    range: std::ops::RangeInclusive<T>,
    errors: &mut Vec<ConfigError>,
) -> T {
    match value {
        None => default,
        Some(v) if range.contains(&v) => v,
        Some(_) => {
            errors.push(ConfigError::new(
                path,
                format!("must be between {} and {}", range.start(), range.end()),
            ));
            default
        }
    }
}

fn compile_retry(
    at: &str,
    raw: Option<&crate::document::RawRetry>,
    targets: usize,
    errors: &mut Vec<ConfigError>,
) -> RetryPolicy {
    let default = crate::document::RawRetry::default();
    let raw = raw.unwrap_or(&default);
    let at = format!("{at}.retry");
    // By default every target is tried once, and a lone target gets one retry.
    let default_attempts = u32::try_from(targets.clamp(2, MAX_TARGETS)).unwrap_or(2);
    let max_attempts = bounded(
        format!("{at}.max_attempts"),
        raw.max_attempts,
        default_attempts,
        1..=10,
        errors,
    );
    let base_ms = bounded(
        format!("{at}.backoff_ms"),
        raw.backoff_ms,
        100,
        0..=60_000,
        errors,
    );
    let max_ms = bounded(
        format!("{at}.max_backoff_ms"),
        raw.max_backoff_ms,
        2_000,
        0..=MAX_MS,
        errors,
    );
    if max_ms < base_ms {
        errors.push(ConfigError::new(
            format!("{at}.max_backoff_ms"),
            "must not be below backoff_ms",
        ));
    }
    let retry_after_cap_ms = bounded(
        format!("{at}.retry_after_cap_ms"),
        raw.retry_after_cap_ms,
        5_000,
        0..=MAX_MS,
        errors,
    );
    let budget_ratio = bounded(
        format!("{at}.budget_ratio"),
        raw.budget_ratio,
        0.2,
        0.0..=1.0,
        errors,
    );
    let on = match &raw.on {
        None => RetryOn::ALL.iter().map(|(c, _)| *c).collect(),
        Some(names) => names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let class = RetryOn::parse(name);
                if class.is_none() {
                    let known: Vec<&str> = RetryOn::ALL.iter().map(|(_, n)| *n).collect();
                    errors.push(ConfigError::new(
                        format!("{at}.on[{i}]"),
                        format!(
                            "unknown outcome class {name:?}; known: {}",
                            known.join(", ")
                        ),
                    ));
                }
                class
            })
            .collect(),
    };
    RetryPolicy {
        max_attempts,
        backoff: sentinel_core::retry::Backoff { base_ms, max_ms },
        retry_after_cap_ms,
        on,
        budget_ratio,
    }
}

fn compile_timeouts(
    at: &str,
    raw: Option<&crate::document::RawTimeouts>,
    errors: &mut Vec<ConfigError>,
) -> Timeouts {
    let default = Timeouts::default();
    let Some(raw) = raw else { return default };
    let at = format!("{at}.timeouts");
    let t = Timeouts {
        connect_ms: bounded(
            format!("{at}.connect_ms"),
            raw.connect_ms,
            default.connect_ms,
            1..=MAX_MS,
            errors,
        ),
        first_byte_ms: bounded(
            format!("{at}.first_byte_ms"),
            raw.first_byte_ms,
            default.first_byte_ms,
            1..=MAX_MS,
            errors,
        ),
        total_ms: bounded(
            format!("{at}.total_ms"),
            raw.total_ms,
            default.total_ms,
            1..=MAX_MS,
            errors,
        ),
        stream_idle_ms: bounded(
            format!("{at}.stream_idle_ms"),
            raw.stream_idle_ms,
            default.stream_idle_ms,
            1..=MAX_MS,
            errors,
        ),
    };
    if t.first_byte_ms > t.total_ms {
        errors.push(ConfigError::new(
            format!("{at}.first_byte_ms"),
            "must not exceed total_ms",
        ));
    }
    t
}

fn compile_breaker(
    at: &str,
    raw: Option<&crate::document::RawCircuitBreaker>,
    errors: &mut Vec<ConfigError>,
) -> sentinel_core::breaker::BreakerParams {
    let default = sentinel_core::breaker::BreakerParams::default();
    let Some(raw) = raw else { return default };
    let at = format!("{at}.circuit_breaker");
    let failure_ratio = bounded(
        format!("{at}.failure_ratio"),
        raw.failure_ratio,
        default.failure_ratio,
        0.01..=1.0,
        errors,
    );
    let min_requests = bounded(
        format!("{at}.min_requests"),
        raw.min_requests,
        default.min_requests,
        1..=100_000,
        errors,
    );
    let window_s = bounded(
        format!("{at}.window_s"),
        raw.window_s,
        30,
        1..=3_600,
        errors,
    );
    let open_s = bounded(format!("{at}.open_s"), raw.open_s, 30, 1..=3_600, errors);
    let half_open_probes = bounded(
        format!("{at}.half_open_probes"),
        raw.half_open_probes,
        1,
        1..=100,
        errors,
    );
    sentinel_core::breaker::BreakerParams {
        failure_ratio,
        min_requests,
        window_ms: i64::try_from(window_s * 1_000).unwrap_or(i64::MAX),
        open_ms: i64::try_from(open_s * 1_000).unwrap_or(i64::MAX),
        half_open_probes,
    }
}

mod alerts;
#[cfg(test)]
mod tests;
