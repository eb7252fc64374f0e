//! Authentication, roles, the error shape, and the routes every client relies on.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

crate::on_both_stores!(
    authentication_and_roles,
    malformed_requests_get_the_error_shape,
    documented_routes_exist,
    probes_and_landing_page,
);

async fn authentication_and_roles(h: &Harness) {
    let a = h.call("GET", "/api/v1/environments", None, None).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert!(a.headers.contains_key("www-authenticate"));
    let unknown = format!("sntop_{}", "0".repeat(64));
    let a = h
        .call("GET", "/api/v1/environments", Some(&unknown), None)
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let a = h
        .call("GET", "/api/v1/environments", Some("not-a-token"), None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    let a = h.get("/api/v1/whoami", &h.auditor).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["name"], "audrey");
    assert_eq!(
        a.json["grants"],
        json!([{"role": "auditor", "environment": null}])
    );
    assert_eq!(a.json["platform_admin"], false);
    assert_eq!(a.json["organization"]["name"], "default");

    // Readers read, and may not write.
    for reader in [&h.auditor, &h.approver] {
        let a = h
            .post("/api/v1/environments", reader, json!({"name": "dev"}))
            .await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{}",
            a.text
        );
        assert_eq!(
            h.get("/api/v1/environments", reader).await.status,
            StatusCode::OK
        );
    }
    h.env_with_app("dev", "checkout").await;
    let a = h
        .post(
            "/api/v1/environments/dev/keys",
            &h.auditor,
            json!({"application": "checkout"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = h
        .call(
            "PUT",
            "/api/v1/environments/dev/secrets/openai",
            Some(&h.auditor),
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = h
        .post(
            "/api/v1/environments/dev/config",
            &h.auditor,
            json!({"document": VALID_DOC, "message": "m"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // The operator role changes things but does not manage operators.
    let a = h
        .post(
            "/api/v1/environments",
            &h.operator,
            json!({"name": "staging"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(
        h.get("/api/v1/operators", &h.operator).await.status,
        StatusCode::FORBIDDEN
    );
    let a = h
        .post(
            "/api/v1/operators",
            &h.operator,
            json!({"name": "x", "role": "admin"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // Admins do; the new token works at once and is never listed.
    let a = h
        .post(
            "/api/v1/operators",
            &h.admin,
            json!({"name": "ci-bot", "role": "auditor"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let token = a.json["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("sntop_") && token.len() == 70, "{token}");
    let a = h.get("/api/v1/whoami", &token).await;
    assert_eq!(
        (a.status, a.json["name"].as_str()),
        (StatusCode::OK, Some("ci-bot"))
    );
    let a = h.get("/api/v1/operators", &h.admin).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["data"].as_array().unwrap().len(), 5);
    assert!(!a.text.contains(&token[6..]));
    let a = h
        .post(
            "/api/v1/operators",
            &h.admin,
            json!({"name": "x", "role": "root"}),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    // Lifting protection is for admins.
    let a = h
        .post(
            "/api/v1/environments",
            &h.operator,
            json!({"name": "prod", "protected": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let a = h
        .call(
            "PATCH",
            "/api/v1/environments/prod",
            Some(&h.operator),
            Some(json!({"protected": false})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    let a = h
        .call(
            "PATCH",
            "/api/v1/environments/prod",
            Some(&h.admin),
            Some(json!({"protected": false})),
        )
        .await;
    assert_eq!(
        (a.status, &a.json["protected"]),
        (StatusCode::OK, &json!(false)),
        "{}",
        a.text
    );
}

async fn malformed_requests_get_the_error_shape(h: &Harness) {
    let bad = |a: &Answer| {
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{}",
            a.text
        );
        a.json["error"]["message"].as_str().unwrap().to_owned()
    };
    let m = bad(&h
        .raw(
            "POST",
            "/api/v1/environments",
            Some(&h.admin),
            Some(b"{not json".to_vec()),
        )
        .await);
    assert!(m.contains("invalid JSON"), "{m}");
    let m = bad(&h
        .raw(
            "POST",
            "/api/v1/environments",
            Some(&h.admin),
            Some(Vec::new()),
        )
        .await);
    assert!(m.contains("empty"), "{m}");
    let m = bad(&h
        .post("/api/v1/environments", &h.admin, json!({"protected": true}))
        .await);
    assert!(m.contains("missing field `name`"), "{m}");
    let m = bad(&h
        .post(
            "/api/v1/environments",
            &h.admin,
            json!({"name": "dev", "colour": "red"}),
        )
        .await);
    assert!(m.contains("unknown field `colour`"), "{m}");
    let m = bad(&h
        .post("/api/v1/environments", &h.admin, json!({"name": 5}))
        .await);
    assert!(m.contains("invalid type"), "{m}");

    // Bodies over the limit.
    let huge = format!("{{\"name\":\"{}\"}}", "a".repeat(3 * 1024 * 1024));
    let a = h
        .raw(
            "POST",
            "/api/v1/environments",
            Some(&h.admin),
            Some(huge.into_bytes()),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        "{}",
        a.text
    );
    h.env_with_app("dev", "checkout").await;
    let doc = format!("# {}\n", "x".repeat(1024 * 1024));
    let a = h
        .post(
            "/api/v1/environments/dev/config",
            &h.admin,
            json!({"document": doc, "message": "big"}),
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        &a.text[..a.text.len().min(300)]
    );

    // Unknown routes and methods, with and without a token.
    let a = h.get("/api/v1/nothing-here", &h.admin).await;
    assert_eq!((a.status, a.code()), (StatusCode::NOT_FOUND, "not_found"));
    let a = h.call("GET", "/api/v1/nothing-here", None, None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = h
        .call("DELETE", "/api/v1/environments", Some(&h.admin), None)
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        "{}",
        a.text
    );
    let a = h
        .call(
            "POST",
            "/v1/chat/completions",
            Some(&h.admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::NOT_FOUND,
        "the console serves no model traffic"
    );
}

async fn documented_routes_exist(h: &Harness) {
    let doc = h.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.json["openapi"], "3.1.0");
    let paths = doc.json["paths"].as_object().unwrap();
    assert!(paths.len() >= 20);
    for (path, item) in paths {
        let concrete = path
            .replace("{env}", "dev")
            .replace("{id}", "0000000000000000")
            .replace("{name}", "openai")
            .replace("{n}", "1");
        for method in item.as_object().unwrap().keys() {
            let a = h.call(&method.to_uppercase(), &concrete, None, None).await;
            if path.starts_with("/api/v1/") {
                // Served, and guarded: without a token the answer is 401.
                assert_eq!(
                    a.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path}: {}",
                    a.text
                );
            } else {
                assert!(a.status.is_success(), "{method} {path}: {}", a.status);
            }
        }
    }
}

async fn probes_and_landing_page(h: &Harness) {
    let a = h.call("GET", "/healthz", None, None).await;
    assert_eq!(
        (a.status, &a.json),
        (StatusCode::OK, &json!({"status": "ok"}))
    );
    let a = h.call("GET", "/readyz", None, None).await;
    assert_eq!(
        (a.status, &a.json["status"]),
        (StatusCode::OK, &json!("ready"))
    );
    // Prometheus scrapers hold no operator token: `/metrics` needs none.
    let a = h.call("GET", "/metrics", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        a.headers
    );
    assert_eq!(a.text, "sentinel_build_info{version=\"test\"} 1\n");
    let a = h.call("GET", "/", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    let csp = a
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(a.text.contains("/api/openapi.json") && a.text.contains("SENTINEL_TOKEN"));
    assert!(
        a.text.contains(r#"href="/console/""#),
        "the landing page points at the console"
    );
    assert!(!a.text.contains("<script"));
}
