//! Content rules over the prompt's text: deny patterns and redaction of
//! personal data and secrets before the request is forwarded.
//!
//! Only text a model reads is inspected: string values under the body's
//! `messages`, `input`, `prompt`, `system` and `instructions`, skipping
//! structural fields (`role`, `type`, ids, names) and binary payloads
//! (`url`, `data`, `image_url`, `file_data`). All patterns are `regex`
//! (linear time: a hostile prompt cannot make matching explode).

use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

/// Top-level body fields that hold prompt text.
const TEXT_FIELDS: [&str; 5] = ["messages", "input", "prompt", "system", "instructions"];

/// Keys below those fields whose values are not prompt text.
const SKIPPED_KEYS: [&str; 10] = [
    "role",
    "type",
    "id",
    "tool_call_id",
    "name",
    "url",
    "data",
    "image_url",
    "file_data",
    "cache_control",
];

/// Kinds of data that can be redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PiiKind {
    Email,
    Phone,
    Card,
    Secret,
}

impl PiiKind {
    pub const ALL: [PiiKind; 4] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Card,
        PiiKind::Secret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Card => "card",
            Self::Secret => "secret",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// What a match is replaced with.
    pub fn placeholder(self) -> &'static str {
        match self {
            Self::Email => "[REDACTED_EMAIL]",
            Self::Phone => "[REDACTED_PHONE]",
            Self::Card => "[REDACTED_CARD]",
            Self::Secret => "[REDACTED_SECRET]",
        }
    }

    fn regex(self) -> &'static Regex {
        match self {
            Self::Email => &EMAIL,
            Self::Phone => &PHONE,
            Self::Card => &CARD,
            Self::Secret => &SECRET,
        }
    }

    /// Replaces every match in `text`; returns the new text and the count,
    /// or `None` when nothing matched.
    pub fn redact(self, text: &str) -> Option<(String, usize)> {
        let mut count = 0;
        let replaced = self.regex().replace_all(text, |caps: &Captures<'_>| {
            let found = caps.get(0).map_or("", |m| m.as_str());
            if self == Self::Card && !luhn_valid(found) {
                return found.to_owned();
            }
            count += 1;
            self.placeholder().to_owned()
        });
        (count > 0).then(|| (replaced.into_owned(), count))
    }
}

#[allow(
    clippy::expect_used,
    reason = "constant patterns; every one is compiled by the unit tests"
)]
fn constant(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid constant pattern")
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    constant(
        r"(?i)\b[a-z0-9._%+\-]+@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,}\b",
    )
});

/// International numbers with a `+` and 8–15 digits (separators allowed),
/// and North American style `(555) 123-4567` / `555-123-4567`.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    constant(
        r"(?:\+\d{1,3}[\s.\-]?(?:\(?\d{1,4}\)?[\s.\-]?){1,4}\d{2,4}\b|\(\d{3}\)\s?\d{3}[\s.\-]\d{4}\b|\b\d{3}[.\-]\d{3}[.\-]\d{4}\b)",
    )
});

/// 13–19 digits, optionally grouped by spaces or dashes; matches are kept
/// only when the Luhn checksum holds.
static CARD: LazyLock<Regex> = LazyLock::new(|| constant(r"\b\d(?:[ \-]?\d){12,18}\b"));

/// Credential formats of common providers and of Sentinel itself, private
/// keys and bearer tokens.
static SECRET: LazyLock<Regex> = LazyLock::new(|| {
    constant(concat!(
        r"(?:\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}",
        r"|\bsnt_[a-z0-9]+_[0-9a-f]{16}_[0-9a-f]{64}\b",
        r"|\bsntop_[0-9a-f]{64}\b",
        r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        r"|\bAIza[0-9A-Za-z_\-]{35}",
        r"|\bgh[pousr]_[A-Za-z0-9]{36,}",
        r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}",
        r"|\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
        r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)",
    ))
});

fn luhn_valid(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A compiled deny pattern.
#[derive(Debug, Clone)]
pub struct DenyPattern {
    /// The id as written; the rule id is `<scope>.content.deny.<id>`.
    pub id: String,
    pub regex: Regex,
    /// What the client is told.
    pub message: Option<String>,
}

/// Calls `visit` on every prompt string of a JSON body.
pub fn for_each_text(body: &Value, visit: &mut dyn FnMut(&str)) {
    if let Value::Object(map) = body {
        for field in TEXT_FIELDS {
            if let Some(value) = map.get(field) {
                walk(value, visit);
            }
        }
    }
}

fn walk(value: &Value, visit: &mut dyn FnMut(&str)) {
    match value {
        Value::String(text) => visit(text),
        Value::Array(items) => items.iter().for_each(|v| walk(v, visit)),
        Value::Object(map) => {
            for (key, v) in map {
                if !SKIPPED_KEYS.contains(&key.as_str()) {
                    walk(v, visit);
                }
            }
        }
        _ => {}
    }
}

/// Calls `edit` on every prompt string of a JSON body, replacing it when
/// `edit` returns a new text.
pub fn edit_texts(body: &mut Value, edit: &mut dyn FnMut(&str) -> Option<String>) {
    if let Value::Object(map) = body {
        for field in TEXT_FIELDS {
            if let Some(value) = map.get_mut(field) {
                walk_mut(value, edit);
            }
        }
    }
}

fn walk_mut(value: &mut Value, edit: &mut dyn FnMut(&str) -> Option<String>) {
    match value {
        Value::String(text) => {
            if let Some(new) = edit(text) {
                *text = new;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk_mut(v, edit)),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if !SKIPPED_KEYS.contains(&key.as_str()) {
                    walk_mut(v, edit);
                }
            }
        }
        _ => {}
    }
}

/// `text` with every kind of personal data and secret replaced by its
/// placeholder.
pub fn redact_all(text: &str) -> String {
    let mut out = text.to_owned();
    for kind in PiiKind::ALL {
        if let Some((redacted, _)) = kind.redact(&out) {
            out = redacted;
        }
    }
    out
}

/// Every string of a JSON value (keys kept), redacted.
fn redact_strings(value: &mut Value) {
    match value {
        Value::String(text) => *text = redact_all(text),
        Value::Array(items) => items.iter_mut().for_each(redact_strings),
        Value::Object(map) => map.values_mut().for_each(redact_strings),
        _ => {}
    }
}

/// A stored body (a JSON document, or server-sent events whose `data:`
/// lines are JSON) with every string redacted; the JSON stays valid. Text
/// that is neither is redacted as plain text.
pub fn redact_document(body: &[u8]) -> String {
    if let Ok(mut value) = serde_json::from_slice::<Value>(body) {
        redact_strings(&mut value);
        return value.to_string();
    }
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (content, end) = match line.strip_suffix('\n') {
            Some(content) => (content, "\n"),
            None => (line, ""),
        };
        let json = content
            .strip_prefix("data:")
            .and_then(|data| serde_json::from_str::<Value>(data.trim_start()).ok());
        match json {
            Some(mut value) => {
                redact_strings(&mut value);
                out.push_str("data: ");
                out.push_str(&value.to_string());
            }
            None => out.push_str(&redact_all(content)),
        }
        out.push_str(end);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn documents_are_redacted_and_stay_json() {
        let body = br#"{"messages":[{"role":"user","content":"mail bob@example.com\nnow"}]}"#;
        let out = redact_document(body);
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            value["messages"][0]["content"],
            "mail [REDACTED_EMAIL]\nnow"
        );
        let sse = "data: {\"c\":\"x a@b.io\"}\n\ndata: [DONE]\n\n";
        assert_eq!(
            redact_document(sse.as_bytes()),
            "data: {\"c\":\"x [REDACTED_EMAIL]\"}\n\ndata: [DONE]\n\n"
        );
        assert_eq!(redact_document(b"plain c@d.org"), "plain [REDACTED_EMAIL]");
    }

    fn redacted(kind: PiiKind, text: &str) -> String {
        kind.redact(text)
            .map_or_else(|| text.to_owned(), |(t, _)| t)
    }

    #[test]
    fn emails_are_redacted() {
        assert_eq!(
            redacted(
                PiiKind::Email,
                "write to jane.doe+x@mail.example.co.uk today"
            ),
            "write to [REDACTED_EMAIL] today"
        );
        assert_eq!(
            redacted(PiiKind::Email, "no at sign here"),
            "no at sign here"
        );
    }

    #[test]
    fn phones_are_redacted() {
        for phone in [
            "+1 415 555 0100",
            "+442071838750",
            "(415) 555-0100",
            "415-555-0100",
        ] {
            let text = format!("call {phone} now");
            assert_eq!(
                redacted(PiiKind::Phone, &text),
                "call [REDACTED_PHONE] now",
                "{phone}"
            );
        }
        assert_eq!(
            redacted(PiiKind::Phone, "in 2024 we sold 1500"),
            "in 2024 we sold 1500"
        );
    }

    #[test]
    fn only_luhn_valid_cards_are_redacted() {
        assert_eq!(
            redacted(PiiKind::Card, "card 4111 1111 1111 1111 exp"),
            "card [REDACTED_CARD] exp"
        );
        assert_eq!(
            redacted(PiiKind::Card, "card 4111-1111-1111-1111"),
            "card [REDACTED_CARD]"
        );
        // Same length, bad checksum: an order number, left alone.
        assert_eq!(
            redacted(PiiKind::Card, "order 4111111111111112"),
            "order 4111111111111112"
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let sentinel_key = format!("snt_dev_{}_{}", "a".repeat(16), "b".repeat(64));
        for secret in [
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            sentinel_key.as_str(),
        ] {
            let text = format!("my key is {secret} ok");
            assert_eq!(
                redacted(PiiKind::Secret, &text),
                "my key is [REDACTED_SECRET] ok",
                "{secret}"
            );
        }
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----";
        assert_eq!(redacted(PiiKind::Secret, pem), "[REDACTED_SECRET]");
    }

    #[test]
    fn only_prompt_text_is_visited() {
        let body: Value = serde_json::json!({
            "model": "m", "user": "u@example.com",
            "messages": [
                {"role": "user", "content": "hello a@example.com"},
                {"role": "user", "content": [
                    {"type": "text", "text": "part"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                ]}
            ],
            "input": ["x", "y"]
        });
        let mut seen = Vec::new();
        for_each_text(&body, &mut |t| seen.push(t.to_owned()));
        assert_eq!(seen, ["hello a@example.com", "part", "x", "y"]);
    }

    #[test]
    fn texts_are_edited_in_place() {
        let mut body: Value = serde_json::json!({
            "messages": [{"role": "user", "content": "mail a@example.com"}]
        });
        edit_texts(&mut body, &mut |t| PiiKind::Email.redact(t).map(|(t, _)| t));
        assert_eq!(body["messages"][0]["content"], "mail [REDACTED_EMAIL]");
        assert_eq!(body["messages"][0]["role"], "user");
    }
}
