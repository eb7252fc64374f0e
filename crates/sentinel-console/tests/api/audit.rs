//! Audit events for every change, with actor and source, and the chain verifies.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

crate::on_both_stores!(audit_events_follow_every_change,);

async fn audit_events_follow_every_change(h: &Harness) {
    h.env_with_app("dev", "checkout").await;
    let key = h
        .post(
            "/api/v1/environments/dev/keys",
            &h.operator,
            json!({"application": "checkout"}),
        )
        .await;
    let key_id = key.json["id"].as_str().unwrap().to_owned();
    h.post(
        &format!("/api/v1/environments/dev/keys/{key_id}/revoke"),
        &h.operator,
        json!({}),
    )
    .await;
    h.call(
        "PUT",
        "/api/v1/environments/dev/secrets/openai",
        Some(&h.operator),
        Some(json!({"value": "v"})),
    )
    .await;
    h.post(
        "/api/v1/environments/dev/config",
        &h.operator,
        json!({"document": VALID_DOC, "message": "m"}),
    )
    .await;
    h.call(
        "PATCH",
        "/api/v1/environments/dev",
        Some(&h.admin),
        Some(json!({"hosts": ["dev.example.com"]})),
    )
    .await;
    h.post(
        "/api/v1/operators",
        &h.admin,
        json!({"name": "bot", "role": "operator"}),
    )
    .await;

    let a = h.get("/api/v1/audit?limit=500", &h.auditor).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let events = a.json["data"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for prefix in [
        "environment.create",
        "application.create",
        "key.create",
        "key.revoke",
        "secret",
        "config",
        "environment.update",
        "operator.create",
    ] {
        assert!(
            actions.iter().any(|a| a.starts_with(prefix)),
            "no {prefix} event in {actions:?}"
        );
    }
    // Changes made through the API carry the operator and the source address.
    let olga = h
        .store
        .find_operator_by_token_digest(&token_digest(&h.operator))
        .await
        .unwrap()
        .unwrap();
    let revoke = events
        .iter()
        .find(|e| e["action"].as_str().unwrap().starts_with("key.revoke"))
        .unwrap();
    assert_eq!(revoke["actor"], olga.id.as_str());
    assert_eq!(revoke["source_addr"], "192.0.2.7");

    // Filters.
    let a = h.get("/api/v1/audit?action=key.create", &h.auditor).await;
    let only: Vec<&str> = a.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        !only.is_empty() && only.iter().all(|a| *a == "key.create"),
        "{only:?}"
    );
    let a = h.get("/api/v1/audit?limit=2", &h.auditor).await;
    assert_eq!(a.json["data"].as_array().unwrap().len(), 2);
    let a = h.get("/api/v1/audit?env=dev&limit=500", &h.auditor).await;
    assert!(!a.json["data"].as_array().unwrap().is_empty());
    let a = h.get("/api/v1/audit?since=9999999999999", &h.auditor).await;
    assert_eq!(a.json["data"], json!([]));

    // The chain verifies.
    let a = h.get("/api/v1/audit/verify", &h.auditor).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(verified(&a.json), Some(true), "{}", a.text);
}

fn token_digest(token: &str) -> String {
    sentinel_core::key::hex(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref(),
    )
}

/// Whether a verification answer says the chain held.
fn verified(v: &Value) -> Option<bool> {
    v["valid"].as_bool().or_else(|| v["ok"].as_bool())
}
