//! The overview's aggregate (`/stats`) and the Settings page's retention
//! (`/retention`), over stored request records and config revisions.

use axum::http::StatusCode;
use sentinel_core::RequestRecord;
use serde_json::json;

use crate::support::*;

crate::on_both_stores!(
    stats_bucket_the_recent_records,
    retention_comes_from_the_config
);

async fn stats_bucket_the_recent_records(h: &Harness) {
    h.env_with_app("dev", "checkout").await;
    h.env_with_app("prod", "search").await;
    let dev = h
        .store
        .get_environment_by_name(&h.org.id, "dev")
        .await
        .unwrap()
        .unwrap();
    let prod = h
        .store
        .get_environment_by_name(&h.org.id, "prod")
        .await
        .unwrap()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let record =
        |n: i64, env: &sentinel_core::Environment, status: u16, code: Option<&str>, age_ms: i64| {
            RequestRecord {
                id: uuid::Uuid::now_v7().to_string(),
                org_id: h.org.id.clone(),
                time: now - age_ms,
                env_id: Some(env.id.clone()),
                env_name: Some(env.name.clone()),
                ingress: "chat_completions".into(),
                provider: Some("mock-a".into()),
                status,
                error_code: code.map(str::to_owned),
                latency_ms: 10 * n,
                cost_micros: Some(100),
                ..RequestRecord::default()
            }
        };
    let records = vec![
        record(1, &dev, 200, None, 1_000),
        record(2, &dev, 200, None, 2_000),
        record(3, &dev, 502, Some("upstream_error"), 3_000),
        record(4, &dev, 504, Some("upstream_timeout"), 4_000),
        record(5, &dev, 429, Some("rate_limited"), 5_000),
        // Outside the default hour, and another environment: not counted.
        record(6, &dev, 200, None, 2 * 60 * 60 * 1000),
        record(7, &prod, 200, None, 1_000),
    ];
    h.store.insert_records(&records).await.unwrap();

    let a = h.get("/api/v1/environments/dev/stats", &h.auditor).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["window"], "1h");
    assert_eq!(a.json["bucket_ms"], 60_000);
    let totals = &a.json["totals"];
    assert_eq!(
        (
            totals["requests"].as_u64(),
            totals["server_errors"].as_u64(),
            totals["timeouts"].as_u64(),
            totals["client_errors"].as_u64()
        ),
        (Some(5), Some(2), Some(1), Some(1)),
        "{totals}"
    );
    assert_eq!(totals["cost_micros"], 500);
    assert_eq!(totals["p50_ms"], 30);
    let buckets = a.json["buckets"].as_array().unwrap();
    assert!((60..=61).contains(&buckets.len()), "{}", buckets.len());
    let counted: u64 = buckets
        .iter()
        .map(|b| b["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 5);
    assert_eq!(
        a.json["providers"],
        json!([{ "provider": "mock-a", "requests": 5, "server_errors": 2 }])
    );
    let a = h
        .get("/api/v1/environments/dev/stats?window=24h", &h.auditor)
        .await;
    assert_eq!(a.json["totals"]["requests"], 6);

    let a = h
        .get("/api/v1/environments/dev/stats?window=2y", &h.auditor)
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert!(a.text.contains("window must be one of"), "{}", a.text);
    let a = h.get("/api/v1/environments/nope/stats", &h.auditor).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // Another organization's operator: the environment does not exist.
    let other = h.store.ensure_org("other").await.unwrap();
    let stranger = add_operator(&h.store, &other.id, "sam", sentinel_core::Role::Admin).await;
    assert_eq!(
        h.get("/api/v1/environments/dev/stats", &stranger)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn retention_comes_from_the_config(h: &Harness) {
    h.env_with_app("dev", "checkout").await;
    let a = h
        .get("/api/v1/environments/dev/retention", &h.auditor)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.json,
        json!({ "environment": "dev", "revision": 0, "requests_days": null })
    );
    let a = h
        .post(
            "/api/v1/environments/dev/config",
            &h.admin,
            json!({ "document": format!("{VALID_DOC}retention: {{ requests_days: 14 }}\n"), "message": "keep two weeks" }),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let a = h
        .get("/api/v1/environments/dev/retention", &h.auditor)
        .await;
    assert_eq!(
        a.json,
        json!({ "environment": "dev", "revision": 1, "requests_days": 14 })
    );
}
