#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use serde_json::{Value, json};

use super::{
    eventstream::{EventStreamDecoder, Message},
    sigv4::{AwsCredentials, EMPTY_SHA256, RequestToSign},
    *,
};
use crate::stream::StreamTranslator;

const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn credentials(token: Option<&str>) -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: token.map(str::to_owned),
    }
}

// ---------------------------------------------------------------- SigV4

#[test]
fn sigv4_matches_the_aws_test_suite() {
    let suite = fixture_json("sigv4/aws-sig-v4-test-suite.json");
    let creds = AwsCredentials {
        access_key_id: suite["credentials"]["access_key_id"]
            .as_str()
            .unwrap()
            .into(),
        secret_access_key: suite["credentials"]["secret_access_key"]
            .as_str()
            .unwrap()
            .into(),
        session_token: None,
    };
    let vectors = suite["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 20);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let headers: Vec<(String, String)> = v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
            .collect();
        let body = v["body"].as_str().unwrap();
        let payload_hash = sigv4::sha256_hex(body.as_bytes());
        let signed = sigv4::sign(
            &creds,
            suite["region"].as_str().unwrap(),
            suite["service"].as_str().unwrap(),
            suite["amz_date"].as_str().unwrap(),
            &RequestToSign {
                method: v["method"].as_str().unwrap(),
                path: v["path"].as_str().unwrap(),
                query: v["query"].as_str().unwrap(),
                headers: &headers,
                payload_hash: &payload_hash,
            },
        );
        assert_eq!(signed.canonical_request, v["creq"], "{name}: creq");
        assert_eq!(signed.string_to_sign, v["sts"], "{name}: sts");
        assert_eq!(signed.authorization, v["authz"], "{name}: authz");
    }
}

#[test]
fn model_ids_are_encoded_once_on_the_wire_and_twice_when_signed() {
    let provider = test_provider(None);
    let url = provider.url(MODEL, "converse");
    assert_eq!(
        url.path(),
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0";
    assert_eq!(
        provider.url(arn, "converse-stream").path(),
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    );
    let headers = vec![
        (
            "host".to_owned(),
            "bedrock-runtime.us-east-1.amazonaws.com".to_owned(),
        ),
        ("x-amz-date".to_owned(), "20240101T000000Z".to_owned()),
    ];
    let signed = sigv4::sign(
        &credentials(None),
        "us-east-1",
        "bedrock",
        "20240101T000000Z",
        &RequestToSign {
            method: "POST",
            path: url.path(),
            query: "",
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        },
    );
    assert!(
        signed
            .canonical_request
            .starts_with("POST\n/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse\n\n"),
        "{}",
        signed.canonical_request
    );
    assert!(
        signed
            .authorization
            .contains("/20240101/us-east-1/bedrock/aws4_request")
    );
}

#[test]
fn signed_headers_cover_date_hash_and_session_token() {
    let provider = test_provider(Some("token-1"));
    let url = provider.url(MODEL, "converse");
    let now = time::macros::datetime!(2024-05-06 07:08:09 UTC);
    let headers = provider.signed_headers(&url, b"{}", now).unwrap();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v.to_str().unwrap().to_owned())
    };
    assert_eq!(get("x-amz-date").unwrap(), "20240506T070809Z");
    assert_eq!(
        get("x-amz-content-sha256").unwrap(),
        sigv4::sha256_hex(b"{}")
    );
    assert_eq!(get("x-amz-security-token").unwrap(), "token-1");
    let auth = get("authorization").unwrap();
    assert!(auth.starts_with(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240506/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="
    ), "{auth}");
    assert!(headers.iter().all(|(n, _)| n.as_str() != "host"));
}

#[test]
fn credential_secrets_are_checked_and_never_echoed() {
    let ok = AwsCredentials::from_secret(
        r#"{"access_key_id":"AKID","secret_access_key":"s3cr3t","session_token":"tok"}"#,
    )
    .unwrap();
    assert_eq!(ok.session_token.as_deref(), Some("tok"));
    assert_eq!(format!("{ok:?}"), "AwsCredentials(redacted)");
    for (secret, needle) in [
        (
            r#"{"secret_access_key":"s3cr3t"}"#,
            "access_key_id is missing",
        ),
        (
            r#"{"access_key_id":"AKID"}"#,
            "secret_access_key is missing",
        ),
        (
            r#"{"access_key_id":"AKID","secret_access_key":""}"#,
            "secret_access_key must be a non-empty string",
        ),
        (
            r#"{"access_key_id":"AKID","secret_access_key":"s3cr3t","region":"x"}"#,
            "unknown field \"region\"",
        ),
        ("s3cr3t-not-json", "it is not JSON"),
        (r#"["s3cr3t"]"#, "not a JSON object"),
    ] {
        let error = AwsCredentials::from_secret(secret).unwrap_err();
        assert!(error.contains(needle), "{secret}: {error}");
        assert!(!error.contains("s3cr3t"), "{error}");
    }
}

fn test_provider(token: Option<&str>) -> Bedrock {
    Bedrock {
        base_url: Url::parse("https://bedrock-runtime.us-east-1.amazonaws.com").unwrap(),
        host: "bedrock-runtime.us-east-1.amazonaws.com".into(),
        region: "us-east-1".into(),
        credentials: credentials(token),
        headers: Vec::new(),
        client: HttpSettings::default().build().unwrap(),
    }
}

#[test]
fn options_need_a_region() {
    let parse = |v: Value| parse_options(v.as_object());
    assert_eq!(parse(json!({"region": "eu-west-3"})).unwrap(), "eu-west-3");
    let paths =
        |v: Value| -> Vec<String> { parse(v).unwrap_err().into_iter().map(|e| e.path).collect() };
    assert_eq!(paths(json!({})), ["options.region"]);
    assert_eq!(paths(json!({"region": "US East"})), ["options.region"]);
    assert_eq!(
        paths(json!({"region": "us-east-1", "profile": "x"})),
        ["options.profile"]
    );
}

// ---------------------------------------------------------- translation

#[test]
fn full_chat_request_translates_to_the_golden_converse_request() {
    let request: ChatRequest =
        serde_json::from_slice(&fixture("bedrock/chat_request_full.json")).unwrap();
    let converse = convert::to_converse(&request).unwrap();
    assert_eq!(
        serde_json::to_value(&converse).unwrap(),
        fixture_json("bedrock/converse_request_full.json")
    );
}

#[test]
fn converse_responses_translate_to_golden_chat_completions() {
    for case in ["tools", "guardrail"] {
        let response: ConverseResponse =
            serde_json::from_slice(&fixture(&format!("bedrock/converse_response_{case}.json")))
                .unwrap();
        let chat = convert::from_converse(
            response,
            "chatcmpl-test".into(),
            1_700_000_000,
            MODEL.into(),
        );
        assert_eq!(
            serde_json::to_value(&chat).unwrap(),
            fixture_json(&format!("bedrock/chat_response_{case}.json")),
            "{case}"
        );
    }
}

#[test]
fn stop_reasons_map_to_finish_reasons() {
    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ] {
        assert_eq!(convert::finish_reason(stop), finish, "{stop}");
    }
}

#[test]
fn tool_choices_map_to_converse() {
    let with = |choice: Value| {
        let request: ChatRequest = serde_json::from_value(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": choice,
        }))
        .unwrap();
        serde_json::to_value(convert::to_converse(&request).unwrap()).unwrap()
    };
    assert_eq!(
        with(json!("auto"))["toolConfig"]["toolChoice"],
        json!({"auto": {}})
    );
    assert_eq!(
        with(json!("required"))["toolConfig"]["toolChoice"],
        json!({"any": {}})
    );
    assert_eq!(
        with(json!({"type": "function", "function": {"name": "f"}}))["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "f"}})
    );
    // "none" without tool history: the tools are left out, so none can be called.
    assert!(with(json!("none")).get("toolConfig").is_none());
}

#[test]
fn unsupported_features_are_refused_by_name() {
    let fixture = fixture_json("bedrock/unsupported.json");
    for case in fixture["cases"].as_array().unwrap() {
        let feature = case["feature"].as_str().unwrap();
        let request: ChatRequest = serde_json::from_value(case["request"].clone()).unwrap();
        let error = convert::to_converse(&request).unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Unsupported, "{feature}");
        assert!(
            error.message.contains(feature) && error.message.contains("bedrock"),
            "{feature}: {}",
            error.message
        );
    }
}

#[test]
fn error_bodies_match_the_fixtures() {
    let fixture = fixture_json("bedrock/errors.json");
    for case in fixture["cases"].as_array().unwrap() {
        let body = match &case["body"] {
            Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        };
        let status = u16::try_from(case["status"].as_u64().unwrap()).unwrap();
        let out: Value =
            serde_json::from_slice(&error::to_openai(status, case["errortype"].as_str(), &body))
                .unwrap();
        assert_eq!(out, case["expected"], "{}", case["name"]);
    }
}

// --------------------------------------------------------- event stream

fn decode_in_pieces(bytes: &[u8], split: usize) -> Vec<Message> {
    let mut decoder = EventStreamDecoder::new();
    let mut out = decoder.push(&bytes[..split]).unwrap();
    out.extend(decoder.push(&bytes[split..]).unwrap());
    assert!(!decoder.has_partial());
    out
}

#[test]
fn event_stream_decodes_the_same_at_every_split() {
    let bytes = fixture("bedrock/converse_stream_tools.bin");
    let whole = decode_in_pieces(&bytes, 0);
    assert_eq!(whole.len(), 10);
    assert_eq!(whole[0].header(":event-type"), Some("messageStart"));
    assert_eq!(whole[0].header(":message-type"), Some("event"));
    assert_eq!(whole[9].header(":event-type"), Some("metadata"));
    for split in 1..bytes.len() {
        assert_eq!(decode_in_pieces(&bytes, split), whole, "split at {split}");
    }
    // One byte at a time.
    let mut decoder = EventStreamDecoder::new();
    let mut one_by_one = Vec::new();
    for byte in &bytes {
        one_by_one.extend(decoder.push(std::slice::from_ref(byte)).unwrap());
    }
    assert_eq!(one_by_one, whole);
}

#[test]
fn corrupted_crcs_are_protocol_errors() {
    let bytes = fixture("bedrock/converse_stream_tools.bin");
    // A flipped payload byte breaks the message CRC; a flipped length byte
    // breaks the prelude CRC.
    for (at, what) in [(40, "message CRC"), (3, "prelude CRC")] {
        let mut corrupt = bytes.clone();
        corrupt[at] ^= 0x01;
        let error = EventStreamDecoder::new().push(&corrupt).unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Protocol);
        assert!(error.message.contains(what), "{}", error.message);
    }
}

#[test]
fn oversized_messages_are_refused_from_the_prelude() {
    let total = u32::try_from(eventstream::MAX_MESSAGE_BYTES + 1).unwrap();
    let mut prelude = total.to_be_bytes().to_vec();
    prelude.extend_from_slice(&0u32.to_be_bytes());
    let crc = crc32fast::hash(&prelude);
    prelude.extend_from_slice(&crc.to_be_bytes());
    let error = EventStreamDecoder::new().push(&prelude).unwrap_err();
    assert!(error.message.contains("out of bounds"), "{}", error.message);
}

#[test]
fn non_string_headers_are_skipped() {
    // headers: ":message-type"=event (string), "n" = int32 7, "b" = bool true
    let mut headers = Vec::new();
    headers.extend_from_slice(&[13]);
    headers.extend_from_slice(b":message-type");
    headers.extend_from_slice(&[7, 0, 5]);
    headers.extend_from_slice(b"event");
    headers.extend_from_slice(&[1, b'n', 4, 0, 0, 0, 7]);
    headers.extend_from_slice(&[1, b'b', 0]);
    let payload = b"{}";
    let total = u32::try_from(16 + headers.len() + payload.len()).unwrap();
    let mut message = total.to_be_bytes().to_vec();
    message.extend_from_slice(&u32::try_from(headers.len()).unwrap().to_be_bytes());
    let crc = crc32fast::hash(&message);
    message.extend_from_slice(&crc.to_be_bytes());
    message.extend_from_slice(&headers);
    message.extend_from_slice(payload);
    let crc = crc32fast::hash(&message);
    message.extend_from_slice(&crc.to_be_bytes());
    let decoded = EventStreamDecoder::new().push(&message).unwrap();
    assert_eq!(
        decoded[0].headers,
        vec![(":message-type".to_owned(), "event".to_owned())]
    );
    assert_eq!(&decoded[0].payload[..], b"{}");
}

fn translate_all(
    bytes: &[u8],
    piece: usize,
    include_usage: bool,
) -> Result<Vec<Value>, ProviderError> {
    let mut translator = ConverseStreamTranslator::new(
        "chatcmpl-test".into(),
        1_700_000_000,
        MODEL.into(),
        include_usage,
    );
    let mut frames = Vec::new();
    for chunk in bytes.chunks(piece) {
        frames.extend(translator.feed(chunk)?);
    }
    frames.extend(translator.finish()?);
    Ok(frames
        .iter()
        .map(|f| {
            let text = std::str::from_utf8(f).unwrap();
            let data = text
                .strip_prefix("data: ")
                .and_then(|t| t.strip_suffix("\n\n"))
                .unwrap();
            serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.to_owned()))
        })
        .collect())
}

#[test]
fn converse_stream_translates_to_the_golden_chunks() {
    let bytes = fixture("bedrock/converse_stream_tools.bin");
    let expected = fixture_json("bedrock/converse_stream_tools.expected.json");
    for piece in [1, 7, 64, bytes.len()] {
        let frames = translate_all(&bytes, piece, true).unwrap();
        assert_eq!(Value::Array(frames), expected, "piece {piece}");
    }
    // Without include_usage there is no usage chunk.
    let frames = translate_all(&bytes, bytes.len(), false).unwrap();
    assert_eq!(frames.len(), expected.as_array().unwrap().len() - 1);
    assert!(frames.iter().all(|f| f.get("usage").is_none()));
}

#[test]
fn stream_exceptions_end_the_stream_with_an_error() {
    let bytes = fixture("bedrock/converse_stream_throttled.bin");
    let error = translate_all(&bytes, bytes.len(), false).unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Protocol);
    assert!(
        error.message.contains("throttlingException")
            && error.message.contains("Too many requests"),
        "{}",
        error.message
    );
}

#[test]
fn streams_cut_short_are_errors() {
    let bytes = fixture("bedrock/converse_stream_tools.bin");
    // Cut in the middle of a message, and cut cleanly before messageStop.
    let error = translate_all(&bytes[..bytes.len() - 5], bytes.len(), false).unwrap_err();
    assert!(
        error.message.contains("middle of a message"),
        "{}",
        error.message
    );
    let messages = decode_in_pieces(&bytes, 0);
    let before_stop: usize = {
        // Byte length of the first 8 messages (up to, not including, messageStop).
        let mut decoder = EventStreamDecoder::new();
        let mut n = 0;
        let mut len = 0;
        while n < 8 {
            len += 1;
            n += decoder.push(&bytes[len - 1..len]).unwrap().len();
        }
        len
    };
    assert_eq!(messages[8].header(":event-type"), Some("messageStop"));
    let error = translate_all(&bytes[..before_stop], bytes.len(), false).unwrap_err();
    assert!(
        error.message.contains("before messageStop"),
        "{}",
        error.message
    );
}
