//! decode: the client's JSON body → a small typed view (model, stream) while
//! keeping every top-level field as its original bytes, so fields Sentinel
//! does not know pass through untouched and numbers keep their exact text.
//!
//! Duplicate top-level keys are refused: otherwise Sentinel could authorize
//! one `model` while the upstream's parser picks the other.

use std::fmt;

use bytes::Bytes;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("request body is not valid JSON: {0}")]
    Json(String),
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("field {0:?} appears more than once")]
    DuplicateField(String),
    #[error("`model` is required")]
    MissingModel,
    #[error("`model` must be a non-empty string")]
    BadModel,
    #[error("`stream` must be a boolean")]
    BadStream,
}

/// A decoded model-API request body.
#[derive(Debug)]
pub struct ModelRequest {
    fields: Vec<(String, Box<RawValue>)>,
    original: Bytes,
    /// A field other than `model` was changed, so `original` is stale.
    changed: bool,
    pub model: String,
    pub stream: bool,
}

impl ModelRequest {
    pub fn decode(body: Bytes) -> Result<Self, DecodeError> {
        let Fields(fields) = serde_json::from_slice(&body).map_err(|e| {
            let text = e.to_string();
            if let Some(rest) = text.strip_prefix(DUPLICATE) {
                DecodeError::DuplicateField(rest.split('`').next().unwrap_or_default().to_owned())
            } else if text.contains(NOT_OBJECT) {
                DecodeError::NotAnObject
            } else {
                DecodeError::Json(text)
            }
        })?;
        let raw = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.get());
        let model = match raw("model") {
            None | Some("null") => return Err(DecodeError::MissingModel),
            Some(text) => match serde_json::from_str::<String>(text) {
                Ok(m) if !m.is_empty() => m,
                _ => return Err(DecodeError::BadModel),
            },
        };
        let stream = match raw("stream") {
            None | Some("null") => false,
            Some(text) => serde_json::from_str::<bool>(text).map_err(|_| DecodeError::BadStream)?,
        };
        Ok(Self {
            fields,
            changed: false,
            original: body,
            model,
            stream,
        })
    }

    /// A top-level field read as a non-negative integer; `None` when absent,
    /// null or not such a number (the upstream judges those).
    pub fn u64_field(&self, name: &str) -> Option<u64> {
        let (_, raw) = self.fields.iter().find(|(k, _)| k == name)?;
        raw.get().parse::<u64>().ok()
    }

    /// The request body as the client sent it.
    pub fn original(&self) -> &Bytes {
        &self.original
    }

    /// Makes a stream request ask for the final usage chunk. Returns true
    /// when the client had not asked for it (so the gateway strips the
    /// chunk again before the client sees it).
    pub fn ensure_stream_usage(&mut self) -> bool {
        let position = self.fields.iter().position(|(k, _)| k == "stream_options");
        let mut options = match position {
            Some(i) => match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
                self.fields[i].1.get(),
            ) {
                Ok(options) => options,
                // Not an object: leave it for the upstream to judge.
                Err(_) => return false,
            },
            None => serde_json::Map::new(),
        };
        if options.get("include_usage") == Some(&serde_json::Value::Bool(true)) {
            return false;
        }
        options.insert("include_usage".into(), serde_json::Value::Bool(true));
        let Ok(raw) = serde_json::value::to_raw_value(&options) else {
            return false;
        };
        match position {
            Some(i) => self.fields[i].1 = raw,
            None => self.fields.push(("stream_options".into(), raw)),
        }
        self.changed = true;
        true
    }

    /// The body to send upstream with `model` set to `upstream_model`. When
    /// the model is unchanged the original bytes go out as they came.
    pub fn body_for(&self, upstream_model: &str) -> Bytes {
        if upstream_model == self.model && !self.changed {
            return self.original.clone();
        }
        let mut out = Vec::with_capacity(self.original.len() + upstream_model.len());
        out.push(b'{');
        for (i, (key, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Keys came from valid JSON and re-encode losslessly.
            out.extend_from_slice(serde_json::to_string(key).unwrap_or_default().as_bytes());
            out.push(b':');
            if key == "model" {
                out.extend_from_slice(
                    serde_json::to_string(upstream_model)
                        .unwrap_or_default()
                        .as_bytes(),
                );
            } else {
                out.extend_from_slice(value.get().as_bytes());
            }
        }
        out.push(b'}');
        Bytes::from(out)
    }
}

const DUPLICATE: &str = "duplicate field `";
const NOT_OBJECT: &str = "expected a JSON object";

/// Top-level members in order, refusing duplicates.
struct Fields(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields: Vec<(String, Box<RawValue>)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if fields.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format_args!("{DUPLICATE}{key}`")));
                    }
                    let value: Box<RawValue> = map.next_value()?;
                    fields.push((key, value));
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &str) -> Result<ModelRequest, DecodeError> {
        ModelRequest::decode(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn reads_model_and_stream() {
        let r = decode(r#"{"model":"m","stream":true,"messages":[]}"#).unwrap();
        assert_eq!((r.model.as_str(), r.stream), ("m", true));
        let r = decode(r#"{"model":"m","stream":null}"#).unwrap();
        assert!(!r.stream);
    }

    #[test]
    fn refuses_bad_bodies() {
        let cases: [(&str, DecodeError); 9] = [
            ("{", DecodeError::Json(String::new())),
            ("[]", DecodeError::NotAnObject),
            ("\"x\"", DecodeError::NotAnObject),
            ("{}", DecodeError::MissingModel),
            (r#"{"model":null}"#, DecodeError::MissingModel),
            (r#"{"model":""}"#, DecodeError::BadModel),
            (r#"{"model":3}"#, DecodeError::BadModel),
            (r#"{"model":"a","stream":"yes"}"#, DecodeError::BadStream),
            (
                r#"{"model":"a","model":"b"}"#,
                DecodeError::DuplicateField("model".into()),
            ),
        ];
        for (body, expected) in cases {
            let got = decode(body).unwrap_err();
            match (&got, &expected) {
                (DecodeError::Json(_), DecodeError::Json(_)) => {}
                _ => assert_eq!(got, expected, "{body}"),
            }
        }
    }

    #[test]
    fn trailing_garbage_is_refused() {
        assert!(matches!(
            decode(r#"{"model":"a"} {"model":"b"}"#),
            Err(DecodeError::Json(_))
        ));
    }

    #[test]
    fn unchanged_model_forwards_original_bytes() {
        let text = "{ \"model\" : \"m\", \"x\": 1.50, \"weird\": {\"n\": 1e400} }";
        // 1e400 is out of f64 range: serde_json refuses it even as raw, which is fine;
        // use a representable long number instead.
        let text = text.replace("1e400", "123456789012345678901234567890");
        let r = decode(&text).unwrap();
        assert_eq!(r.body_for("m"), Bytes::from(text));
    }

    #[test]
    fn rewritten_model_keeps_other_fields_byte_exact() {
        let r = decode(
            r#"{"temperature":0.70,"model":"alias","unknown_field":{"deep":[1,2.500]},"n":1}"#,
        )
        .unwrap();
        assert_eq!(
            r.body_for("gpt-4o-mini"),
            Bytes::from_static(br#"{"temperature":0.70,"model":"gpt-4o-mini","unknown_field":{"deep":[1,2.500]},"n":1}"#)
        );
    }

    #[test]
    fn stream_usage_is_requested_once() {
        let mut r = decode(r#"{"model":"m","stream":true}"#).unwrap();
        assert!(r.ensure_stream_usage());
        assert_eq!(
            r.body_for("m"),
            Bytes::from_static(
                br#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#
            )
        );
        let mut r =
            decode(r#"{"model":"m","stream_options":{"include_usage":false,"x":1}}"#).unwrap();
        assert!(r.ensure_stream_usage());
        assert!(
            String::from_utf8(r.body_for("m").to_vec())
                .unwrap()
                .contains(r#""include_usage":true"#)
        );
        let mut r = decode(r#"{"model":"m","stream_options":{"include_usage":true}}"#).unwrap();
        assert!(!r.ensure_stream_usage(), "the client asked already");
    }

    #[test]
    fn nested_duplicates_are_left_to_the_upstream() {
        // Only top-level keys drive Sentinel's decisions.
        assert!(decode(r#"{"model":"a","metadata":{"k":1,"k":2}}"#).is_ok());
    }
}
