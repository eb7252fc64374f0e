//! Delivery of alert events: the generic webhook (a JSON body, HMAC-SHA256
//! signed over the timestamp and the body) and Slack incoming webhooks
//! (`{"text": …}`), each retried with exponential backoff on 5xx, 429,
//! timeouts and connection errors, a bounded number of times.
//!
//! Invariants: a destination's URL and secret never appear in an error, a
//! log line or a stored delivery outcome (Slack URLs embed a token); the
//! HTTP client is the providers' one (no redirects, no proxy variables,
//! connect-time DNS checks against private addresses unless the destination
//! allows them).

use std::time::Duration;

use aws_lc_rs::hmac;
use sentinel_config::{AlertDestination, DestinationKind};
use sentinel_core::{AlertEvent, Delivery};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The header carrying the signature: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-sentinel-signature";
/// The header carrying the unix time (seconds) the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-sentinel-timestamp";
/// The header carrying the event id (receivers de-duplicate on it).
pub const EVENT_ID_HEADER: &str = "x-sentinel-event-id";

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per delivery, the first included.
    pub attempts: u32,
    /// The first wait; each retry doubles it, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Time allowed for one attempt.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

/// What an alert event says, for the bodies.
#[derive(Debug, Clone)]
pub struct Notice<'a> {
    pub event: &'a AlertEvent,
    pub environment: &'a str,
    pub window_s: u64,
    pub provider: Option<&'a str>,
}

/// The generic webhook body.
pub fn webhook_body(notice: &Notice<'_>) -> Value {
    let e = notice.event;
    json!({
        "event_id": e.id,
        "alert": e.rule,
        "environment": notice.environment,
        "state": e.state,
        "signal": e.signal,
        "value": e.value,
        "threshold": e.threshold,
        "window_s": notice.window_s,
        "provider": notice.provider,
        "started_at": rfc3339(e.started_at),
        "time": rfc3339(e.time),
    })
}

/// The Slack message.
pub fn slack_body(notice: &Notice<'_>) -> Value {
    let e = notice.event;
    let value = e
        .value
        .map_or_else(|| "no data".to_owned(), |v| format!("{v:.4}"));
    let provider = notice
        .provider
        .map(|p| format!(" (provider {p})"))
        .unwrap_or_default();
    let text = if e.state == crate::state::FIRING {
        format!(
            ":rotating_light: [FIRING] {} in {}: {}{provider} is {value}, above {} over {} s (since {})",
            e.rule,
            notice.environment,
            e.signal,
            e.threshold,
            notice.window_s,
            rfc3339(e.started_at)
        )
    } else {
        format!(
            ":white_check_mark: [RESOLVED] {} in {}: {}{provider} is {value}, back within {} (fired at {})",
            e.rule,
            notice.environment,
            e.signal,
            e.threshold,
            rfc3339(e.started_at)
        )
    };
    json!({ "text": text })
}

/// `sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`. The
/// timestamp is part of the signed material so an old body cannot be
/// replayed with a fresh timestamp.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let mut out = String::from("sha256=");
    for b in tag.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A destination ready to send to: its URL and signing key resolved.
pub struct Resolved<'a> {
    pub destination: &'a AlertDestination,
    pub url: reqwest::Url,
    pub secret: Option<String>,
}

/// Sends one event to one destination, retrying as `policy` says, until it
/// succeeds, fails for good, or `stop` is cancelled.
pub async fn deliver(
    client: &reqwest::Client,
    target: &Resolved<'_>,
    notice: &Notice<'_>,
    policy: RetryPolicy,
    stop: &CancellationToken,
    now: impl Fn() -> i64,
) -> Delivery {
    let kind = target.destination.kind;
    let body = match kind {
        DestinationKind::Webhook => webhook_body(notice),
        DestinationKind::Slack => slack_body(notice),
    };
    let body = body.to_string().into_bytes();
    let mut outcome = Delivery {
        destination: target.destination.name.to_string(),
        kind: kind.as_str().to_owned(),
        ok: false,
        attempts: 0,
        status: None,
        error: None,
        at: now(),
    };
    let mut backoff = policy.base_backoff;
    for attempt in 1..=policy.attempts.max(1) {
        outcome.attempts = attempt;
        let sent_at = now();
        let mut request = client
            .post(target.url.clone())
            .timeout(policy.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "sentinel-alerts")
            .header(EVENT_ID_HEADER, notice.event.id.as_str());
        if kind == DestinationKind::Webhook {
            let timestamp = sent_at / 1_000;
            request = request.header(TIMESTAMP_HEADER, timestamp.to_string());
            if let Some(secret) = &target.secret {
                request = request.header(
                    SIGNATURE_HEADER,
                    signature(secret.as_bytes(), timestamp, &body),
                );
            }
        }
        let retry = match request.body(body.clone()).send().await {
            Ok(response) => {
                let status = response.status();
                outcome.status = Some(status.as_u16());
                if status.is_success() {
                    outcome.ok = true;
                    outcome.error = None;
                    outcome.at = now();
                    return outcome;
                }
                outcome.error = Some(format!("the destination answered {}", status.as_u16()));
                status.is_server_error() || status.as_u16() == 429
            }
            Err(error) => {
                outcome.status = None;
                outcome.error = Some(describe(&error).to_owned());
                true
            }
        };
        outcome.at = now();
        if !retry || attempt >= policy.attempts {
            break;
        }
        tokio::select! {
            () = stop.cancelled() => {
                outcome.error = Some(format!(
                    "{}; retries stopped by shutdown",
                    outcome.error.as_deref().unwrap_or("failed")
                ));
                break;
            }
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(policy.max_backoff);
    }
    outcome
}

/// A fixed description of a transport error: reqwest's own text names the
/// URL, which may carry a token.
fn describe(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect (refused, unreachable, or a private address the destination does not allow)"
    } else {
        "the request failed"
    }
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn event(state: &str) -> AlertEvent {
        AlertEvent {
            id: "01".into(),
            env_id: "e".into(),
            rule: "provider-failures".into(),
            signal: "provider_error_rate".into(),
            state: state.into(),
            value: Some(0.25),
            threshold: 0.05,
            time: 1_700_000_060_000,
            started_at: 1_700_000_000_000,
            deliveries: vec![],
        }
    }

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_and_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = signature(b"Jefe", 0, b"what do ya want for nothing?");
        assert!(sig.starts_with("sha256="));
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let expected = hmac::sign(&key, b"0.what do ya want for nothing?");
        let hex: String = expected
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sig, format!("sha256={hex}"));
        // The RFC's own vector, to pin the primitive.
        let rfc = hmac::sign(&key, b"what do ya want for nothing?");
        let rfc: String = rfc.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            rfc,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Another timestamp, another signature: no replay with a new time.
        assert_ne!(sig, signature(b"Jefe", 1, b"what do ya want for nothing?"));
    }

    #[test]
    fn bodies_say_what_fired() {
        let firing = event("firing");
        let notice = Notice {
            event: &firing,
            environment: "prod",
            window_s: 60,
            provider: Some("openai"),
        };
        let body = webhook_body(&notice);
        assert_eq!(body["alert"], "provider-failures");
        assert_eq!(body["environment"], "prod");
        assert_eq!(body["state"], "firing");
        assert_eq!(body["value"], 0.25);
        assert_eq!(body["threshold"], 0.05);
        assert_eq!(body["started_at"], "2023-11-14T22:13:20Z");
        let slack = slack_body(&notice);
        let text = slack["text"].as_str().unwrap();
        assert!(
            text.contains("[FIRING] provider-failures in prod"),
            "{text}"
        );
        assert!(text.contains("provider openai"), "{text}");
        let resolved = event("resolved");
        let notice = Notice {
            event: &resolved,
            ..notice
        };
        assert!(
            slack_body(&notice)["text"]
                .as_str()
                .unwrap()
                .contains("[RESOLVED]")
        );
    }
}
