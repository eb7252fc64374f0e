use futures_util::StreamExt;
use serde_json::{Value, json};

use super::*;

fn chat_body(stream: bool, include_usage: bool) -> Bytes {
    let mut body = json!({
        "model": "mock-1",
        "messages": [
            { "role": "system", "content": "be brief" },
            { "role": "user", "content": "hello there world" },
        ],
    });
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({ "include_usage": include_usage });
    }
    Bytes::from(body.to_string())
}

fn mock(options: MockOptions) -> Mock {
    Mock { options }
}

async fn full_json(response: UpstreamResponse) -> Value {
    match response.body {
        UpstreamBody::Full(b) => serde_json::from_slice(&b).unwrap(),
        UpstreamBody::Stream(_) => panic!("expected a full body"),
    }
}

#[tokio::test]
async fn chat_echoes_the_last_user_message_with_usage() {
    let response = mock(MockOptions::default())
        .send(UpstreamRequest {
            operation: Operation::ChatCompletions,
            body: chat_body(false, false),
            stream: false,
            client_headers: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    let body = full_json(response).await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: hello there world"
    );
    assert_eq!(body["usage"]["prompt_tokens"], 5);
    assert_eq!(body["usage"]["completion_tokens"], 4);
    assert_eq!(body["model"], "mock-1");
}

#[tokio::test]
async fn stream_has_role_content_finish_usage_and_done() {
    let options = MockOptions {
        stream_chunks: 3,
        ..MockOptions::default()
    };
    let response = mock(options)
        .send(UpstreamRequest {
            operation: Operation::ChatCompletions,
            body: chat_body(true, true),
            stream: true,
            client_headers: Default::default(),
        })
        .await
        .unwrap();
    let UpstreamBody::Stream(mut stream) = response.body else {
        panic!("expected a stream")
    };
    let mut frames = Vec::new();
    while let Some(frame) = stream.next().await {
        frames.push(String::from_utf8(frame.unwrap().to_vec()).unwrap());
    }
    // role + 3 content + finish + usage + [DONE]
    assert_eq!(frames.len(), 7, "{frames:?}");
    assert!(
        frames
            .iter()
            .all(|f| f.starts_with("data: ") && f.ends_with("\n\n"))
    );
    assert_eq!(frames.last().unwrap(), "data: [DONE]\n\n");
    let text: String = frames[1..4]
        .iter()
        .map(|f| {
            serde_json::from_str::<Value>(&f[6..]).unwrap()["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "echo: hello there world");
    let usage: Value = serde_json::from_str(&frames[5][6..]).unwrap();
    assert_eq!(usage["usage"]["total_tokens"], 9);
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage_chunk() {
    let response = mock(MockOptions::default())
        .send(UpstreamRequest {
            operation: Operation::ChatCompletions,
            body: chat_body(true, false),
            stream: true,
            client_headers: Default::default(),
        })
        .await
        .unwrap();
    let UpstreamBody::Stream(stream) = response.body else {
        panic!("expected a stream")
    };
    let frames: Vec<_> = stream.collect().await;
    assert!(
        frames
            .iter()
            .all(|f| !String::from_utf8_lossy(f.as_ref().unwrap()).contains("\"usage\""))
    );
}

#[tokio::test]
async fn fail_status_answers_with_an_openai_error() {
    let response = mock(MockOptions {
        fail_status: Some(503),
        ..MockOptions::default()
    })
    .send(UpstreamRequest {
        operation: Operation::ChatCompletions,
        body: chat_body(false, false),
        stream: false,
        client_headers: Default::default(),
    })
    .await
    .unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(full_json(response).await["error"]["type"], "server_error");
}

#[tokio::test]
async fn embeddings_are_deterministic_unit_vectors() {
    let body = Bytes::from(json!({ "model": "e", "input": ["a b", "c"] }).to_string());
    let request = UpstreamRequest {
        operation: Operation::Embeddings,
        body,
        stream: false,
        client_headers: Default::default(),
    };
    let m = mock(MockOptions {
        embedding_dims: 16,
        ..MockOptions::default()
    });
    let first = full_json(m.send(request.clone()).await.unwrap()).await;
    let second = full_json(m.send(request).await.unwrap()).await;
    assert_eq!(first, second);
    let vector = first["data"][0]["embedding"].as_array().unwrap();
    assert_eq!(vector.len(), 16);
    let norm: f64 = vector.iter().map(|x| x.as_f64().unwrap().powi(2)).sum();
    assert!((norm - 1.0).abs() < 1e-9);
    assert_eq!(first["usage"]["prompt_tokens"], 3);
}

#[test]
fn options_are_validated_with_paths() {
    let options: serde_json::Map<String, Value> = serde_json::from_value(
        json!({ "latency_ms": -1, "stream_chunks": 0, "colour": "red", "fail_status": 503 }),
    )
    .unwrap();
    let errors = MockOptions::parse(options.iter()).unwrap_err();
    let paths: Vec<_> = errors.iter().map(|e| e.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "options.latency_ms",
            "options.stream_chunks",
            "options.colour"
        ]
    );
}
