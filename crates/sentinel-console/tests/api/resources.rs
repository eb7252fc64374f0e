//! Environments, applications, keys and secrets: lifecycles, and what never leaves.

use axum::http::StatusCode;
use sentinel_core::ClientKey;
use serde_json::json;

use crate::support::*;

crate::on_both_stores!(
    environment_application_key_lifecycle,
    keys_are_shown_once,
    secret_values_never_leave,
);

async fn environment_application_key_lifecycle(h: &Harness) {
    let a = h
        .post(
            "/api/v1/environments",
            &h.admin,
            json!({"name": "dev", "hosts": ["Dev.Example.com"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json["name"], "dev");
    assert_eq!(a.json["hosts"], json!(["dev.example.com"]));
    assert_eq!(a.json["protected"], false);

    let a = h
        .post("/api/v1/environments", &h.admin, json!({"name": "dev"}))
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::CONFLICT, "conflict"),
        "{}",
        a.text
    );
    let a = h
        .post("/api/v1/environments", &h.admin, json!({"name": "Dev_1"}))
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert!(
        a.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("name"),
        "{}",
        a.text
    );
    let a = h
        .post(
            "/api/v1/environments",
            &h.admin,
            json!({"name": "x", "hosts": ["https://a.example.com/"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    let a = h.get("/api/v1/environments", &h.admin).await;
    let names: Vec<&str> = a.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev"]);
    let a = h.get("/api/v1/environments/dev", &h.admin).await;
    assert_eq!((a.status, &a.json["name"]), (StatusCode::OK, &json!("dev")));
    assert_eq!(
        h.get("/api/v1/environments/nope", &h.admin).await.code(),
        "not_found"
    );

    let a = h
        .call(
            "PATCH",
            "/api/v1/environments/dev",
            Some(&h.operator),
            Some(json!({"protected": true, "hosts": ["a.example.com", "b.example.com:8443"]})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["protected"], true);
    assert_eq!(
        a.json["hosts"],
        json!(["a.example.com", "b.example.com:8443"])
    );
    // A host belongs to one environment.
    let a = h
        .post(
            "/api/v1/environments",
            &h.admin,
            json!({"name": "other", "hosts": ["A.example.com"]}),
        )
        .await;
    assert_eq!((a.status, a.code()), (StatusCode::CONFLICT, "conflict"));
    assert!(a.text.contains("a.example.com"), "{}", a.text);

    // Applications.
    let a = h
        .post(
            "/api/v1/environments/dev/applications",
            &h.operator,
            json!({"name": "checkout"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json["environment"], "dev");
    let a = h
        .post(
            "/api/v1/environments/dev/applications",
            &h.operator,
            json!({"name": "checkout"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = h
        .post(
            "/api/v1/environments/dev/applications",
            &h.operator,
            json!({"name": "-bad"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = h
        .post(
            "/api/v1/environments/nope/applications",
            &h.operator,
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = h
        .get("/api/v1/environments/dev/applications", &h.auditor)
        .await;
    assert_eq!(a.json["data"][0]["name"], "checkout");

    // Keys: create, list, show, revoke.
    let a = h
        .post(
            "/api/v1/environments/dev/keys",
            &h.operator,
            json!({"application": "checkout", "name": "ci", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let id = a.json["id"].as_str().unwrap().to_owned();
    assert_eq!(a.json["state"], "active");
    assert_eq!(a.json["application"], "checkout");
    assert_eq!(a.json["name"], "ci");
    assert_eq!(a.json["prefix"], format!("snt_dev_{id}"));
    assert!(a.json["expires_at"].as_i64().unwrap() > a.json["created_at"].as_i64().unwrap());
    let a = h
        .post(
            "/api/v1/environments/dev/keys",
            &h.operator,
            json!({"application": "nope"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = h
        .post(
            "/api/v1/environments/dev/keys",
            &h.operator,
            json!({"application": "checkout", "expires_at": 1}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    let a = h.get("/api/v1/environments/dev/keys", &h.auditor).await;
    assert_eq!(a.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(a.json["data"][0]["id"], id.as_str());
    let a = h
        .get(&format!("/api/v1/environments/dev/keys/{id}"), &h.auditor)
        .await;
    assert_eq!(
        (a.status, &a.json["state"]),
        (StatusCode::OK, &json!("active"))
    );
    assert_eq!(
        h.get("/api/v1/environments/dev/keys/0000000000000000", &h.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let a = h
        .post(
            &format!("/api/v1/environments/dev/keys/{id}/revoke"),
            &h.operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (a.status, &a.json["state"]),
        (StatusCode::OK, &json!("revoked")),
        "{}",
        a.text
    );
    assert!(a.json["revoked_at"].is_i64());
    let again = h
        .post(
            &format!("/api/v1/environments/dev/keys/{id}/revoke"),
            &h.operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (again.status, &again.json["revoked_at"]),
        (StatusCode::OK, &a.json["revoked_at"])
    );
    let a = h
        .get(&format!("/api/v1/environments/dev/keys/{id}"), &h.auditor)
        .await;
    assert_eq!(a.json["state"], "revoked");

    // A key of one environment is not found through another.
    h.env_with_app("staging", "checkout").await;
    let a = h
        .get(&format!("/api/v1/environments/staging/keys/{id}"), &h.admin)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

async fn keys_are_shown_once(h: &Harness) {
    h.env_with_app("dev", "checkout").await;
    let a = h
        .post(
            "/api/v1/environments/dev/keys",
            &h.admin,
            json!({"application": "checkout"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert!(
        a.headers
            .get("cache-control")
            .is_some_and(|v| v == "no-store")
    );
    let key = a.json["key"].as_str().unwrap().to_owned();
    let parsed = ClientKey::parse(&key).unwrap();
    assert_eq!(parsed.env(), "dev");
    assert_eq!(a.json["id"], parsed.id());
    let digest = parsed.digest().to_hex();
    assert!(!a.text.contains(&digest));
    assert!(a.json.get("digest_hex").is_none());

    // The store has the digest, never the key.
    let stored = h
        .store
        .get_key(&h.org.id, parsed.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.digest_hex, digest);

    let secret_part = &key[key.len() - 64..];
    let id = parsed.id();
    for path in [
        "/api/v1/environments/dev/keys".to_owned(),
        format!("/api/v1/environments/dev/keys/{id}"),
        "/api/v1/audit?limit=500".to_owned(),
    ] {
        let a = h.get(&path, &h.admin).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text);
        assert!(!a.text.contains(secret_part), "{path} shows the key");
        assert!(!a.text.contains(&digest), "{path} shows the digest");
        assert!(!a.text.contains("\"key\":"), "{path}: {}", a.text);
    }
    let a = h
        .post(
            &format!("/api/v1/environments/dev/keys/{id}/revoke"),
            &h.admin,
            json!({}),
        )
        .await;
    assert!(!a.text.contains(secret_part) && !a.text.contains(&digest));
}

async fn secret_values_never_leave(h: &Harness) {
    const CANARY: &str = "sk-canary-7f3a9b1c2d4e5f60";
    h.env_with_app("dev", "checkout").await;
    let put = h
        .call(
            "PUT",
            "/api/v1/environments/dev/secrets/openai",
            Some(&h.operator),
            Some(json!({"value": CANARY})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(
        (put.json["name"].as_str(), put.json["version"].as_i64()),
        (Some("openai"), Some(1))
    );
    assert!(!put.text.contains(CANARY));
    let fingerprint = put.json["fingerprint"].as_str().unwrap().to_owned();
    assert!(!fingerprint.is_empty());

    // A new version; the same value again keeps the fingerprint.
    let put2 = h
        .call(
            "PUT",
            "/api/v1/environments/dev/secrets/openai",
            Some(&h.operator),
            Some(json!({"value": CANARY})),
        )
        .await;
    assert_eq!(put2.json["version"], 2);
    assert_eq!(put2.json["fingerprint"], fingerprint.as_str());
    let a = h
        .call(
            "PUT",
            "/api/v1/environments/dev/secrets/Bad_Name",
            Some(&h.operator),
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = h
        .call(
            "PUT",
            "/api/v1/environments/dev/secrets/empty",
            Some(&h.operator),
            Some(json!({"value": ""})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // A document that names the secret, so config routes have it in view.
    let doc = "providers:\n  openai-main:\n    kind: openai\n    base_url: https://api.openai.com/v1\n    credential: secret:openai\nroute_plans:\n  chat:\n    models: [gpt-4o-mini]\n    targets:\n      - provider: openai-main\n        model: gpt-4o-mini\n";
    let a = h
        .post(
            "/api/v1/environments/dev/config",
            &h.admin,
            json!({"document": doc, "message": "openai"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let a = h
        .post(
            "/api/v1/environments/dev/keys",
            &h.admin,
            json!({"application": "checkout"}),
        )
        .await;
    let key_id = a.json["id"].as_str().unwrap().to_owned();

    let list = h.get("/api/v1/environments/dev/secrets", &h.auditor).await;
    assert_eq!(list.json["data"][0]["name"], "openai");
    assert_eq!(list.json["data"][0]["version"], 2);
    let paths = [
        "/api/v1/environments".to_owned(),
        "/api/v1/environments/dev".to_owned(),
        "/api/v1/environments/dev/secrets".to_owned(),
        "/api/v1/environments/dev/applications".to_owned(),
        "/api/v1/environments/dev/keys".to_owned(),
        format!("/api/v1/environments/dev/keys/{key_id}"),
        "/api/v1/environments/dev/config".to_owned(),
        "/api/v1/environments/dev/config/revisions".to_owned(),
        "/api/v1/environments/dev/config/revisions/1".to_owned(),
        "/api/v1/requests".to_owned(),
        "/api/v1/audit?limit=500".to_owned(),
        "/api/v1/audit/verify".to_owned(),
        "/api/v1/operators".to_owned(),
        "/api/v1/whoami".to_owned(),
        "/api/openapi.json".to_owned(),
        "/".to_owned(),
    ];
    for path in &paths {
        let a = h.get(path, &h.admin).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text);
        assert!(!a.text.contains(CANARY), "{path} returned the secret value");
    }
    let plan = h
        .post(
            "/api/v1/environments/dev/config/plan",
            &h.admin,
            json!({"document": doc}),
        )
        .await;
    assert_eq!(plan.json["valid"], true, "{}", plan.text);
    assert!(!plan.text.contains(CANARY));
}
