//! Config documents: plan, apply, conflicts and history.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

crate::on_both_stores!(config_apply_plan_and_history,);

async fn config_apply_plan_and_history(h: &Harness) {
    h.env_with_app("dev", "checkout").await;
    let a = h.get("/api/v1/environments/dev/config", &h.auditor).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        (a.json["revision"].as_i64(), a.json["document"].as_str()),
        (Some(0), Some(""))
    );

    // Plan a valid document: valid, with a diff from nothing.
    let a = h
        .post(
            "/api/v1/environments/dev/config/plan",
            &h.auditor,
            json!({"document": VALID_DOC}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["valid"], true);
    assert_eq!(a.json["base_revision"], 0);
    assert_eq!(a.json["diff"]["added"], VALID_DOC.lines().count());

    // Apply it: revision 1.
    let a = h
        .post(
            "/api/v1/environments/dev/config",
            &h.operator,
            json!({"document": VALID_DOC, "message": "first providers", "base_revision": 0}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json["revision"], 1);
    assert_eq!(a.json["author"], "olga");
    assert_eq!(a.json["message"], "first providers");
    let a = h.get("/api/v1/environments/dev/config", &h.auditor).await;
    assert_eq!(
        (a.json["revision"].as_i64(), a.json["document"].as_str()),
        (Some(1), Some(VALID_DOC))
    );
    assert_eq!(a.json["hash"].as_str().unwrap().len(), 64);

    // Invalid: 422 with every problem by path; nothing applied.
    let a = h
        .post(
            "/api/v1/environments/dev/config",
            &h.operator,
            json!({"document": INVALID_DOC, "message": "broken"}),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_config"),
        "{}",
        a.text
    );
    let paths: Vec<&str> = a.json["error"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.starts_with("providers.bad")),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("route_plans.chat.targets[0]")),
        "{paths:?}"
    );
    let a = h
        .post(
            "/api/v1/environments/dev/config/plan",
            &h.operator,
            json!({"document": INVALID_DOC}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["valid"], false);
    assert!(
        a.json["errors"].as_array().unwrap().len() >= 2,
        "{}",
        a.text
    );
    let a = h
        .post(
            "/api/v1/environments/dev/config/plan",
            &h.operator,
            json!({"document": "providers: [unclosed"}),
        )
        .await;
    assert_eq!(a.json["valid"], false, "{}", a.text);
    assert_eq!(
        h.get("/api/v1/environments/dev/config", &h.auditor)
            .await
            .json["revision"],
        1
    );

    // A stale base is refused.
    let doc2 = VALID_DOC.replace("model: echo", "model: echo-2");
    let a = h
        .post(
            "/api/v1/environments/dev/config",
            &h.operator,
            json!({"document": doc2, "message": "stale", "base_revision": 0}),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::CONFLICT, "conflict"),
        "{}",
        a.text
    );
    let plan = h
        .post(
            "/api/v1/environments/dev/config/plan",
            &h.operator,
            json!({"document": doc2}),
        )
        .await;
    assert_eq!(
        (
            plan.json["diff"]["added"].as_u64(),
            plan.json["diff"]["removed"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(
        plan.json["diff"]["text"]
            .as_str()
            .unwrap()
            .contains("+        model: echo-2"),
        "{}",
        plan.text
    );
    let a = h
        .post(
            "/api/v1/environments/dev/config",
            &h.operator,
            json!({"document": doc2, "message": "second", "base_revision": 1}),
        )
        .await;
    assert_eq!(
        (a.status, a.json["revision"].as_i64()),
        (StatusCode::CREATED, Some(2)),
        "{}",
        a.text
    );
    let second_parent = a.json["parent_hash"].clone();

    // A message is required.
    let a = h
        .post(
            "/api/v1/environments/dev/config",
            &h.operator,
            json!({"document": VALID_DOC, "message": " "}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // History, newest first or oldest first: both revisions, no documents.
    let a = h
        .get("/api/v1/environments/dev/config/revisions", &h.auditor)
        .await;
    let mut numbers: Vec<i64> = a.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2]);
    assert!(a.json["data"][0].get("document").is_none());
    let first = h
        .get("/api/v1/environments/dev/config/revisions/1", &h.auditor)
        .await;
    assert_eq!(first.json["document"], VALID_DOC);
    assert_eq!(first.json["hash"], second_parent);
    assert_eq!(
        h.get("/api/v1/environments/dev/config/revisions/9", &h.auditor)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.get("/api/v1/environments/dev/config/revisions/x", &h.auditor)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Secrets named by a document must exist.
    let doc = "providers:\n  o:\n    kind: openai\n    base_url: https://api.openai.com/v1\n    credential: secret:missing\nroute_plans: {}\n";
    let a = h
        .post(
            "/api/v1/environments/dev/config/plan",
            &h.operator,
            json!({"document": doc}),
        )
        .await;
    assert_eq!(a.json["valid"], false, "{}", a.text);
    assert!(a.text.contains("providers.o"), "{}", a.text);
}
