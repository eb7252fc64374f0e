//! Organizations see nothing of each other: another organization's names and ids are 404.

use axum::http::StatusCode;
use sentinel_core::{RequestRecord, Role};
use serde_json::json;

use crate::support::*;

crate::on_both_stores!(organizations_are_isolated,);

async fn organizations_are_isolated(h: &Harness) {
    h.env_with_app("prod", "checkout").await;
    let a = h
        .post(
            "/api/v1/environments/prod/keys",
            &h.admin,
            json!({"application": "checkout"}),
        )
        .await;
    let key_id = a.json["id"].as_str().unwrap().to_owned();
    let env = h
        .store
        .get_environment_by_name(&h.org.id, "prod")
        .await
        .unwrap()
        .unwrap();
    let record = RequestRecord {
        id: "0190f0a0-0000-7000-8000-000000000001".into(),
        org_id: h.org.id.clone(),
        time: 1_700_000_000_000,
        env_id: Some(env.id.clone()),
        env_name: Some("prod".into()),
        ingress: "chat_completions".into(),
        status: 200,
        bodies: Some(Box::new(sentinel_core::RecordBodies {
            mode: sentinel_core::BodyMode::Full,
            request: Some("{}".into()),
            ..sentinel_core::RecordBodies::default()
        })),
        ..RequestRecord::default()
    };
    h.store
        .insert_records(std::slice::from_ref(&record))
        .await
        .unwrap();
    assert_eq!(
        h.get(&format!("/api/v1/requests/{}", record.id), &h.admin)
            .await
            .status,
        StatusCode::OK
    );

    assert_eq!(
        h.get(&format!("/api/v1/requests/{}/body", record.id), &h.admin)
            .await
            .status,
        StatusCode::OK
    );
    // Rotating and testing providers are changes: auditors may not.
    for (path, body) in [
        (
            format!("/api/v1/environments/prod/keys/{key_id}/rotate"),
            json!({"overlap_s": 60}),
        ),
        (
            "/api/v1/environments/prod/providers/test".to_owned(),
            json!({}),
        ),
    ] {
        let a = h.post(&path, &h.auditor, body).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {}", a.text);
    }

    let other = h.store.ensure_org("other").await.unwrap();
    let token = add_operator(&h.store, &other.id, "mallory", Role::Admin).await;
    for path in [
        "/api/v1/environments/prod".to_owned(),
        "/api/v1/environments/prod/keys".to_owned(),
        "/api/v1/environments/prod/secrets".to_owned(),
        "/api/v1/environments/prod/config".to_owned(),
        format!("/api/v1/environments/prod/keys/{key_id}"),
        format!("/api/v1/requests/{}", record.id),
        format!("/api/v1/requests/{}/body", record.id),
        "/api/v1/environments/prod/providers/tests".to_owned(),
        "/api/v1/requests?env=prod".to_owned(),
    ] {
        let a = h.get(&path, &token).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}: {}",
            a.text
        );
    }
    let a = h
        .post(
            "/api/v1/environments/prod/keys",
            &token,
            json!({"application": "checkout"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    for (path, body) in [
        (
            format!("/api/v1/environments/prod/keys/{key_id}/rotate"),
            json!({"overlap_s": 60}),
        ),
        (
            "/api/v1/environments/prod/providers/test".to_owned(),
            json!({}),
        ),
    ] {
        let a = h.post(&path, &token, body).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {}", a.text);
    }

    // Both organizations can have `prod`; each sees only its own.
    let a = h
        .post("/api/v1/environments", &token, json!({"name": "prod"}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_ne!(a.json["id"], env.id.as_str());
    let a = h
        .post(
            "/api/v1/environments/prod/applications",
            &token,
            json!({"name": "checkout"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let a = h
        .get(&format!("/api/v1/environments/prod/keys/{key_id}"), &token)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = h
        .post(
            &format!("/api/v1/environments/prod/keys/{key_id}/revoke"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.get("/api/v1/environments/prod/keys", &token).await.json["data"],
        json!([])
    );
    let a = h.get("/api/v1/requests", &token).await;
    assert_eq!(a.json["data"], json!([]), "{}", a.text);
    let a = h.get("/api/v1/environments", &token).await;
    assert_eq!(a.json["data"].as_array().unwrap().len(), 1);
    let a = h.get("/api/v1/operators", &token).await;
    let names: Vec<&str> = a.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mallory"]);
    let a = h.get("/api/v1/audit?limit=500", &token).await;
    assert!(
        !a.text.contains(&env.id),
        "another organization's audit events leaked"
    );
    // The first organization's key is untouched.
    let a = h
        .get(
            &format!("/api/v1/environments/prod/keys/{key_id}"),
            &h.admin,
        )
        .await;
    assert_eq!(a.json["state"], "active");
}
