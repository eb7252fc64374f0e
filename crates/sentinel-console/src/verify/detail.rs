//! What a step of a verification run says about a gateway answer: its
//! status, error code and message (the gateway's words for clients, never
//! a secret), and the path of its attempts, e.g. `openai-main/gpt-4o-mini
//! failed (forced) -> backup/llama ok 200`.

use sentinel_core::AttemptRecord;
use serde_json::Value;

use super::Outcome;
use crate::GatewayAnswer;

/// A request step: a 2xx answer, and which target gave it.
pub(super) fn answered(answer: &GatewayAnswer) -> Outcome {
    if (200..300).contains(&answer.status) {
        Ok(format!(
            "answered {}; {}",
            answer.status,
            path(&answer.attempts)
        ))
    } else {
        Err(refusal(answer))
    }
}

/// A fallback step: a 2xx answer given by a later target than the one
/// made to fail.
pub(super) fn fell_back(answer: &GatewayAnswer) -> Outcome {
    let path = path(&answer.attempts);
    if !(200..300).contains(&answer.status) {
        return Err(refusal(answer));
    }
    let forced_first = answer
        .attempts
        .first()
        .is_some_and(|a| a.outcome == "forced_failure");
    let later_answered = answer
        .attempts
        .iter()
        .skip(1)
        .any(|a| a.outcome == "ok" && !same_target(a, &answer.attempts[0]));
    if forced_first && later_answered {
        Ok(format!("answered {} by a fallback; {path}", answer.status))
    } else {
        Err(format!(
            "answered {}, but not by a fallback target; {path}",
            answer.status
        ))
    }
}

fn same_target(a: &AttemptRecord, b: &AttemptRecord) -> bool {
    a.provider == b.provider && a.upstream_model == b.upstream_model
}

/// An error answer: status, code and message (the gateway's words for
/// clients, which carry no secret), and the attempts.
pub(super) fn refusal(answer: &GatewayAnswer) -> String {
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let error = &body["error"];
    let code = error["code"]
        .as_str()
        .map(|code| format!(" {code}"))
        .unwrap_or_default();
    let message = error["message"]
        .as_str()
        .map(|message| format!(": {message}"))
        .unwrap_or_default();
    let attempts = if answer.attempts.is_empty() {
        String::new()
    } else {
        format!("; {}", path(&answer.attempts))
    };
    format!("HTTP {}{code}{message}{attempts}", answer.status)
}

/// The attempts of a request, e.g. `openai-main/gpt-4o-mini failed
/// (forced) -> backup/llama ok 200`.
pub(super) fn path(attempts: &[AttemptRecord]) -> String {
    if attempts.is_empty() {
        return "no attempt".into();
    }
    attempts
        .iter()
        .map(|a| {
            let target = format!("{}/{}", a.provider, a.upstream_model);
            match (a.outcome.as_str(), a.status) {
                ("forced_failure", _) => format!("{target} failed (forced)"),
                ("circuit_open" | "unservable", _) => {
                    format!("{target} skipped ({})", a.outcome)
                }
                (outcome, Some(status)) => format!("{target} {outcome} {status}"),
                (outcome, None) => format!("{target} {outcome}"),
            }
        })
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(provider: &str, outcome: &str, status: Option<u16>) -> AttemptRecord {
        AttemptRecord {
            provider: provider.into(),
            upstream_model: "m".into(),
            outcome: outcome.into(),
            status,
            ..AttemptRecord::default()
        }
    }

    #[test]
    fn paths_name_each_attempt() {
        let attempts = [
            attempt("a", "forced_failure", None),
            attempt("b", "server_error", Some(500)),
            attempt("c", "ok", Some(200)),
        ];
        assert_eq!(
            path(&attempts),
            "a/m failed (forced) -> b/m server_error 500 -> c/m ok 200"
        );
        assert_eq!(path(&[]), "no attempt");
    }

    #[test]
    fn a_fallback_needs_a_later_target_to_answer() {
        let answer = |status, attempts: Vec<AttemptRecord>| GatewayAnswer {
            status,
            attempts,
            ..GatewayAnswer::default()
        };
        assert!(
            fell_back(&answer(
                200,
                vec![
                    attempt("a", "forced_failure", None),
                    attempt("b", "ok", Some(200))
                ]
            ))
            .is_ok()
        );
        // The forced target answering itself (a one-target plan) is no fallback.
        assert!(
            fell_back(&answer(
                200,
                vec![
                    attempt("a", "forced_failure", None),
                    attempt("a", "ok", Some(200))
                ]
            ))
            .is_err()
        );
        assert!(fell_back(&answer(200, vec![attempt("b", "ok", Some(200))])).is_err());
        let refused = GatewayAnswer {
            status: 502,
            body: br#"{"error":{"code":"upstream_error","message":"provider b failed"}}"#.to_vec(),
            attempts: vec![attempt("a", "forced_failure", None)],
            ..GatewayAnswer::default()
        };
        assert_eq!(
            fell_back(&refused).unwrap_err(),
            "HTTP 502 upstream_error: provider b failed; a/m failed (forced)"
        );
    }
}
