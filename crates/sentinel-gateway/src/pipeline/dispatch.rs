//! dispatch: walk the route plan. Each attempt asks the endpoint's circuit
//! breaker, calls the provider under the plan's time limits, classifies the
//! outcome and reports it to the breaker; then Sentinel stops, retries or
//! falls back, within `max_attempts`, the retry budget and the deadline.
//!
//! The request for each target is prepared up front by the caller (on
//! `/v1/messages`: the client's body natively for providers that support
//! it, a translated chat request for the others), so a fallback may change
//! the wire format. A target that cannot take the request is skipped (and
//! noted in the record); when no target can, the request is refused before
//! any attempt.
//!
//! Invariants: the client receives exactly one response; attempts never
//! exceed `max_attempts`; nothing is retried once a byte of an answer has
//! reached the client (the stream's first chunk is read here, before
//! committing, so a stream that fails before its first byte can still fall
//! back).

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use sentinel_config::{RetryOn, Strategy};
use sentinel_core::{AttemptRecord, ErrorCode, RequestRecord, breaker::Admission, retry};
use sentinel_providers::{
    ByteStream, Operation, ProviderError, ProviderErrorKind, UpstreamBody, UpstreamRequest,
    UpstreamResponse,
};
use tokio::time::Instant;

use super::{guard::Guarded, millis, upstream_failure};
use crate::{
    GatewayError,
    endpoint::lock,
    snapshot::{Route, TargetRuntime},
};

/// A successful attempt, ready to answer the client.
pub(crate) struct Committed<'r> {
    pub(crate) response: UpstreamResponse,
    pub(crate) target: &'r TargetRuntime,
    /// The operation sent, which is the wire format of the answer.
    pub(crate) operation: Operation,
    /// The attempt was a half-open probe (a stream reports it when it ends).
    pub(crate) probe: bool,
}

/// What one attempt ended in.
enum Outcome {
    Ok(UpstreamResponse),
    /// The provider answered with an error status.
    Status {
        status: u16,
        body: Bytes,
        retry_after: Option<Duration>,
    },
    /// No usable answer.
    Failed(ProviderError),
}

impl Outcome {
    /// The outcome class name recorded on the attempt.
    fn class(&self) -> &'static str {
        match self {
            Self::Ok(_) => "ok",
            Self::Status { status: 429, .. } => "rate_limited",
            Self::Status {
                status: 500..=599, ..
            } => "server_error",
            Self::Status { .. } => "client_error",
            Self::Failed(e) => match e.kind {
                ProviderErrorKind::Timeout => "timeout",
                ProviderErrorKind::Connect => "connect_error",
                ProviderErrorKind::Unsupported | ProviderErrorKind::InvalidRequest => {
                    "client_error"
                }
                ProviderErrorKind::Protocol | ProviderErrorKind::BodyTooLarge => "protocol_error",
            },
        }
    }

    /// The retry class, when the outcome may be retried at all.
    fn retry_class(&self) -> Option<RetryOn> {
        match self.class() {
            "rate_limited" => Some(RetryOn::RateLimited),
            "server_error" | "protocol_error" => Some(RetryOn::ServerError),
            "timeout" => Some(RetryOn::Timeout),
            "connect_error" => Some(RetryOn::ConnectError),
            _ => None,
        }
    }

    /// Whether the endpoint itself failed (what breakers count). Rate
    /// limits and client errors are not endpoint failures.
    fn endpoint_failure(&self) -> Option<String> {
        match self {
            Self::Status {
                status: status @ 500..=599,
                ..
            } => Some(format!("status {status}")),
            Self::Failed(e)
                if !matches!(
                    e.kind,
                    ProviderErrorKind::Unsupported | ProviderErrorKind::InvalidRequest
                ) =>
            {
                Some(e.to_string())
            }
            _ => None,
        }
    }

    /// What the client sees if this is the last attempt.
    fn into_error(self, provider: &str) -> GatewayError {
        match self {
            Self::Ok(_) => GatewayError::new(ErrorCode::Internal, "dispatch ended on a success"),
            Self::Status { status, body, .. } => upstream_failure(status, &body, provider),
            Self::Failed(error) => {
                let (code, message) = match error.kind {
                    ProviderErrorKind::Unsupported | ProviderErrorKind::InvalidRequest => {
                        (ErrorCode::InvalidRequest, error.message.clone())
                    }
                    ProviderErrorKind::Timeout => (
                        ErrorCode::UpstreamTimeout,
                        format!("provider {provider} did not answer in time"),
                    ),
                    _ => (
                        ErrorCode::UpstreamError,
                        format!(
                            "provider {provider} did not answer ({})",
                            error.kind.as_str()
                        ),
                    ),
                };
                GatewayError::new(code, message).with_detail(error.to_string())
            }
        }
    }
}

/// The order in which targets are tried.
fn order(route: &Route) -> Vec<usize> {
    let mut order: Vec<usize> = (0..route.targets.len()).collect();
    if route.strategy == Strategy::Weighted {
        let weights: Vec<u32> = route.targets.iter().map(|t| t.weight).collect();
        if let Some(first) = retry::pick_weighted(&weights, crate::random()) {
            order.retain(|i| *i != first);
            order.sort_by_key(|i| std::cmp::Reverse(route.targets[*i].weight));
            order.insert(0, first);
        }
    }
    order
}

fn now_ms() -> i64 {
    crate::unix_millis()
}

/// The error of a forced failure, as the record shows it.
const FORCED: &str = "forced failure: sentinel verify failed this target on purpose to prove the fallback (not sent upstream)";

/// Runs the attempt loop for one request. `request_for` prepares the
/// upstream request for a target, or says why that target cannot take it.
/// With `force_fallback` (`sentinel verify` only), the first target that
/// could take the request counts as one failed attempt without being
/// called or reported to its breaker, and dispatch falls back from it.
pub(crate) async fn dispatch<'r>(
    route: &'r Route,
    request_for: impl Fn(&TargetRuntime) -> Result<UpstreamRequest, ProviderError>,
    record: &mut RequestRecord,
    started: Instant,
    force_fallback: bool,
) -> Result<Committed<'r>, GatewayError> {
    let requests: Vec<Result<UpstreamRequest, ProviderError>> =
        route.targets.iter().map(&request_for).collect();
    if let Some(Err(first)) = requests.first()
        && requests.iter().all(Result::is_err)
    {
        // Nothing to try: the client's request is the problem.
        let provider = route
            .targets
            .first()
            .map_or("", |t| t.provider_name.as_str());
        return Err(Outcome::Failed(first.clone()).into_error(provider));
    }
    let policy = &route.retry;
    let limits = route.timeouts;
    let deadline = started + Duration::from_millis(limits.total_ms);
    let order = order(route);
    lock(&route.budget).on_request(now_ms());
    // The first target from `position` on that can take the request.
    let next_servable = |position: usize| {
        (position..position + order.len())
            .map(|p| order[p % order.len()])
            .find(|i| requests[*i].is_ok())
            .unwrap_or(order[position % order.len()])
    };

    let mut noted_unservable = vec![false; route.targets.len()];
    let mut tried = vec![false; route.targets.len()];
    let mut attempts = 0u32;
    let mut position = 0usize;
    let mut last: Option<(Outcome, &str)> = None;
    let mut earliest_reopen: Option<i64> = None;
    let mut retry_number = 0u32;

    if force_fallback {
        let index = next_servable(0);
        let target = &route.targets[index];
        position = order.iter().position(|i| *i == index).map_or(1, |p| p + 1);
        attempts += 1;
        tried[index] = true;
        record.attempts.push(AttemptRecord {
            provider: target.provider_name.clone(),
            kind: target.provider.kind().to_owned(),
            upstream_model: target.upstream_model.clone(),
            outcome: "forced_failure".into(),
            started_ms: millis(started),
            error: Some(FORCED.into()),
            next: Some(if attempts < policy.max_attempts {
                "fallback: forced_failure".into()
            } else {
                "stop: max attempts reached".into()
            }),
            ..AttemptRecord::default()
        });
        last = Some((
            Outcome::Failed(ProviderError::new(ProviderErrorKind::Connect, FORCED)),
            &target.provider_name,
        ));
    }

    'attempts: while attempts < policy.max_attempts {
        // Find the next target whose breaker lets a request through.
        let mut skipped = 0;
        let (index, probe) = loop {
            if skipped == order.len() {
                break 'attempts;
            }
            let index = order[position % order.len()];
            position += 1;
            let target = &route.targets[index];
            if let Err(error) = &requests[index] {
                skipped += 1;
                if !std::mem::replace(&mut noted_unservable[index], true) {
                    record.attempts.push(AttemptRecord {
                        provider: target.provider_name.clone(),
                        kind: target.provider.kind().to_owned(),
                        upstream_model: target.upstream_model.clone(),
                        outcome: "unservable".into(),
                        started_ms: millis(started),
                        error: Some(error.to_string()),
                        next: Some("skipped: the request cannot be sent to this provider".into()),
                        ..AttemptRecord::default()
                    });
                }
                continue;
            }
            let admission = lock(&target.endpoint).admit(&target.key, now_ms());
            match admission {
                Admission::Allowed => break (index, false),
                Admission::Probe => break (index, true),
                Admission::Rejected { until } => {
                    skipped += 1;
                    earliest_reopen = Some(earliest_reopen.map_or(until, |e| e.min(until)));
                    record.attempts.push(AttemptRecord {
                        provider: target.provider_name.clone(),
                        kind: target.provider.kind().to_owned(),
                        upstream_model: target.upstream_model.clone(),
                        outcome: "circuit_open".into(),
                        started_ms: millis(started),
                        next: Some("skipped: circuit open".into()),
                        ..AttemptRecord::default()
                    });
                }
            }
        };
        let target = &route.targets[index];
        attempts += 1;

        let attempt_started = Instant::now();
        let Ok(request) = requests[index].clone() else {
            // Unreachable: the loop above only picks servable targets.
            continue;
        };
        let operation = request.operation;
        let outcome = attempt(target, request, limits, attempt_started, deadline).await;
        // A committed stream reports to its breaker when it ends.
        let streaming = matches!(
            &outcome,
            Outcome::Ok(UpstreamResponse {
                body: UpstreamBody::Stream(_),
                ..
            })
        );
        if !streaming {
            let failure = outcome.endpoint_failure();
            lock(&target.endpoint).record(
                &target.key,
                now_ms(),
                millis(attempt_started),
                failure.as_deref(),
                probe,
            );
        }
        let mut entry = AttemptRecord {
            provider: target.provider_name.clone(),
            kind: target.provider.kind().to_owned(),
            upstream_model: target.upstream_model.clone(),
            outcome: outcome.class().to_owned(),
            started_ms: i64::try_from(attempt_started.duration_since(started).as_millis())
                .unwrap_or(i64::MAX),
            latency_ms: millis(attempt_started),
            ..AttemptRecord::default()
        };
        match &outcome {
            Outcome::Status { status, .. } => entry.status = Some(*status),
            Outcome::Failed(error) => entry.error = Some(error.to_string()),
            Outcome::Ok(response) => entry.status = Some(response.status),
        }
        if let Some(status) = entry.status {
            record.upstream_status = Some(status);
        }
        record.provider = Some(target.provider_name.clone());
        record.upstream_model = Some(target.upstream_model.clone());

        if let Outcome::Ok(response) = outcome {
            record.attempts.push(entry);
            return Ok(Committed {
                response,
                target,
                operation,
                probe,
            });
        }
        tried[index] = true;

        // Decide what comes next.
        let stop = |entry: &mut AttemptRecord, why: &str| entry.next = Some(format!("stop: {why}"));
        let class = outcome.retry_class();
        let retryable = class.is_some_and(|c| policy.retries(c));
        if !retryable {
            stop(&mut entry, "not retryable");
            record.attempts.push(entry);
            return Err(outcome.into_error(&target.provider_name));
        }
        if attempts >= policy.max_attempts {
            stop(&mut entry, "max attempts reached");
            record.attempts.push(entry);
            last = Some((outcome, &target.provider_name));
            break;
        }
        if !lock(&route.budget).try_retry(now_ms()) {
            stop(&mut entry, "retry budget exhausted");
            record.attempts.push(entry);
            last = Some((outcome, &target.provider_name));
            break;
        }
        // Fall back to an untried target without waiting; wait (backoff,
        // or the upstream's Retry-After) before trying a target again.
        let next_index = next_servable(position);
        let wait_ms = if tried[next_index] {
            retry_number += 1;
            let backoff = policy.backoff.delay_ms(retry_number, crate::random());
            let asked = match &outcome {
                Outcome::Status { retry_after, .. } => {
                    retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                }
                _ => None,
            };
            match retry::retry_wait_ms(backoff, asked, policy.retry_after_cap_ms) {
                Some(ms) => ms,
                None => {
                    stop(&mut entry, "Retry-After exceeds the cap");
                    record.attempts.push(entry);
                    last = Some((outcome, &target.provider_name));
                    break;
                }
            }
        } else {
            0
        };
        if Instant::now() + Duration::from_millis(wait_ms) >= deadline {
            stop(&mut entry, "deadline");
            record.attempts.push(entry);
            last = Some((outcome, &target.provider_name));
            break;
        }
        let class_name = outcome.class();
        entry.next = Some(if tried[next_index] {
            format!("retry: {class_name}, after {wait_ms} ms")
        } else {
            format!("fallback: {class_name}")
        });
        record.attempts.push(entry);
        last = Some((outcome, &target.provider_name));
        if wait_ms > 0 {
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        }
    }

    match last {
        Some((outcome, provider)) => Err(outcome.into_error(provider)),
        None => {
            let retry_after = earliest_reopen.map_or(1, |until| {
                ((until - now_ms()).max(0) as u64).div_ceil(1000).max(1)
            });
            Err(GatewayError::new(
                ErrorCode::NoHealthyRoute,
                format!("every provider of route plan {} is failing and temporarily out of rotation; retry later", route.plan),
            )
            .with_retry_after(retry_after))
        }
    }
}

/// One upstream call, sent at `sent`, under the plan's time limits.
async fn attempt(
    target: &TargetRuntime,
    request: UpstreamRequest,
    limits: sentinel_config::Timeouts,
    sent: Instant,
    deadline: Instant,
) -> Outcome {
    let first_byte = (sent + Duration::from_millis(limits.first_byte_ms)).min(deadline);
    let timeout = |what: &str| {
        Outcome::Failed(ProviderError::new(
            ProviderErrorKind::Timeout,
            format!("no {what} within {} ms", limits.first_byte_ms),
        ))
    };
    // An upstream that answers within microseconds is worth spinning for
    // rather than halting the core until its answer wakes it.
    let expecting = target
        .answer_time
        .recent()
        .map(sentinel_runtime::expect_answer);
    let response = tokio::time::timeout_at(first_byte, target.provider.send(request)).await;
    drop(expecting);
    let response = match response {
        Err(_) => return timeout("response"),
        Ok(Err(error)) => return Outcome::Failed(error),
        Ok(Ok(response)) => response,
    };
    target.answer_time.observe(sent.elapsed());
    if !(200..300).contains(&response.status) {
        let body = match response.body {
            UpstreamBody::Full(body) => body,
            UpstreamBody::Stream(_) => Bytes::new(),
        };
        return Outcome::Status {
            status: response.status,
            body,
            retry_after: response.retry_after,
        };
    }
    let UpstreamResponse {
        status,
        content_type,
        upstream_request_id,
        retry_after,
        body,
    } = response;
    let body = match body {
        UpstreamBody::Full(body) => UpstreamBody::Full(body),
        UpstreamBody::Stream(mut chunks) => {
            // Read the first chunk before committing: until a byte reaches the
            // client, a failure may still fall back.
            let first = match tokio::time::timeout_at(first_byte, chunks.next()).await {
                Err(_) => return timeout("first stream chunk"),
                Ok(None) => {
                    return Outcome::Failed(ProviderError::new(
                        ProviderErrorKind::Protocol,
                        "the stream ended before its first chunk",
                    ));
                }
                Ok(Some(Err(error))) => return Outcome::Failed(error),
                Ok(Some(Ok(first))) => first,
            };
            let rest: ByteStream =
                Box::pin(futures_util::stream::once(async move { Ok(first) }).chain(chunks));
            UpstreamBody::Stream(
                Guarded::new(rest, Duration::from_millis(limits.stream_idle_ms), deadline).boxed(),
            )
        }
    };
    Outcome::Ok(UpstreamResponse {
        status,
        content_type,
        upstream_request_id,
        retry_after,
        body,
    })
}

#[cfg(test)]
mod tests {
    use std::{
        collections::VecDeque,
        sync::{Arc, Mutex},
    };

    use super::*;
    use crate::pipeline::scripted::{ALL, Script, route};

    /// An empty chat request for any target.
    fn chat(_: &TargetRuntime) -> Result<UpstreamRequest, ProviderError> {
        Ok(UpstreamRequest {
            operation: Operation::ChatCompletions,
            body: Bytes::new(),
            stream: false,
            client_headers: Default::default(),
        })
    }

    #[tokio::test]
    async fn targets_that_cannot_take_the_request_are_skipped() {
        let script = Arc::new(Mutex::new(VecDeque::from([Script::Status(500)])));
        let calls = Arc::new(Mutex::new(0));
        let route = route(2, 3, &script, &calls);
        let refuse = |target: &TargetRuntime| {
            if target.provider_name == "p1" {
                Err(ProviderError::new(
                    ProviderErrorKind::InvalidRequest,
                    "thinking is not supported",
                ))
            } else {
                chat(target)
            }
        };
        let mut record = RequestRecord::default();
        let committed = dispatch(&route, refuse, &mut record, Instant::now(), false)
            .await
            .unwrap();
        assert_eq!(committed.target.provider_name, "p0");
        assert_eq!(*calls.lock().unwrap(), 2, "p0 failed, p1 skipped, p0 again");
        let outcomes: Vec<&str> = record.attempts.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["server_error", "unservable", "ok"]);

        // No target can take it: refused before any call.
        let mut record = RequestRecord::default();
        let error = dispatch(
            &route,
            |_| {
                Err(ProviderError::new(
                    ProviderErrorKind::InvalidRequest,
                    "thinking is not supported",
                ))
            },
            &mut record,
            Instant::now(),
            false,
        )
        .await
        .err()
        .unwrap();
        assert_eq!(error.code, ErrorCode::InvalidRequest);
        assert_eq!(error.message, "thinking is not supported");
        assert!(record.attempts.is_empty());
        assert_eq!(*calls.lock().unwrap(), 2);
    }

    /// For every sequence of three upstream outcomes, every plan shape and
    /// every attempt limit: attempts never exceed the limit, each attempt is
    /// recorded, the client gets exactly one answer, and a success is the
    /// answer whenever an attempt succeeded.
    #[tokio::test]
    async fn attempts_stay_within_the_plan_for_any_outcome_sequence() {
        let mut cases = 0;
        for a in ALL {
            for b in ALL {
                for c in ALL {
                    for targets in 1..=2 {
                        for max_attempts in 1..=3 {
                            let script = Arc::new(Mutex::new(VecDeque::from([a, b, c])));
                            let calls = Arc::new(Mutex::new(0));
                            let route = route(targets, max_attempts, &script, &calls);
                            let mut record = RequestRecord::default();
                            let result =
                                dispatch(&route, chat, &mut record, Instant::now(), false).await;
                            let made = *calls.lock().unwrap();
                            assert!(
                                made >= 1 && made <= max_attempts,
                                "{a:?} {b:?} {c:?}: {made} calls"
                            );
                            assert_eq!(
                                record.attempts.len() as u32,
                                made,
                                "every attempt is recorded"
                            );
                            let succeeded = record.attempts.iter().any(|at| at.outcome == "ok");
                            assert_eq!(
                                result.is_ok(),
                                succeeded,
                                "{a:?} {b:?} {c:?} x{max_attempts}"
                            );
                            if result.is_err() {
                                assert!(
                                    record
                                        .attempts
                                        .last()
                                        .unwrap()
                                        .next
                                        .as_deref()
                                        .unwrap_or("")
                                        .starts_with("stop")
                                );
                            }
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 6 * 6 * 6 * 2 * 3);
    }

    #[tokio::test]
    async fn a_forced_fallback_skips_the_first_target_without_calling_it() {
        let script = Arc::new(Mutex::new(VecDeque::from([Script::Ok])));
        let calls = Arc::new(Mutex::new(0));
        let plan = route(2, 3, &script, &calls);
        let mut record = RequestRecord::default();
        let committed = dispatch(&plan, chat, &mut record, Instant::now(), true)
            .await
            .unwrap();
        assert_eq!(committed.target.provider_name, "p1");
        assert_eq!(*calls.lock().unwrap(), 1, "only the fallback is called");
        let outcomes: Vec<&str> = record.attempts.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["forced_failure", "ok"]);
        assert_eq!(record.attempts[0].provider, "p0");
        assert!(
            record.attempts[0]
                .error
                .as_deref()
                .unwrap()
                .contains("forced")
        );
        // With one attempt allowed, the forced failure is the answer.
        let plan = route(2, 1, &script, &calls);
        let mut record = RequestRecord::default();
        let error = dispatch(&plan, chat, &mut record, Instant::now(), true)
            .await
            .err()
            .unwrap();
        assert_eq!(error.code, ErrorCode::UpstreamError);
        assert_eq!(record.attempts.len(), 1);
        assert_eq!(*calls.lock().unwrap(), 1, "nothing more was called");
    }

    #[tokio::test]
    async fn an_open_circuit_everywhere_answers_no_healthy_route_fast() {
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let calls = Arc::new(Mutex::new(0));
        let route = route(2, 3, &script, &calls);
        for target in &route.targets {
            let mut state = lock(&target.endpoint);
            for _ in 0..1_000 {
                state.record(&target.key, now_ms(), 1, Some("down"), false);
            }
        }
        let mut record = RequestRecord::default();
        let error = dispatch(&route, chat, &mut record, Instant::now(), false)
            .await
            .err()
            .unwrap();
        assert_eq!(error.code, ErrorCode::NoHealthyRoute);
        assert!(error.retry_after.is_some());
        assert_eq!(*calls.lock().unwrap(), 0);
        assert!(record.attempts.iter().all(|a| a.outcome == "circuit_open"));
    }
}
