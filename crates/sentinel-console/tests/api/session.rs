//! The web console's sessions: sign-in with an operator token, the session
//! cookie's flags, CSRF on every state change made with the cookie (a
//! forged request is refused and audited), expiry and sign-out.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

crate::on_both_stores!(
    sign_in_sets_a_strict_http_only_cookie,
    sign_in_failures_say_what_is_wrong,
    the_cookie_authenticates_and_csrf_guards_every_change,
    sign_out_and_expiry_end_the_session,
    sessions_keep_the_operators_role_and_organization,
);

/// Signs `token` in; returns the answer, the cookie pair and the CSRF token.
async fn sign_in(h: &Harness, token: &str, extra: &[(&str, &str)]) -> (Answer, String, String) {
    let mut headers = vec![("content-type", "application/json")];
    headers.extend_from_slice(extra);
    let a = h
        .send(
            "POST",
            "/api/v1/session",
            &headers,
            Some(json!({ "token": token }).to_string().into_bytes()),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let set_cookie = a.headers["set-cookie"].to_str().unwrap().to_owned();
    let pair = set_cookie.split(';').next().unwrap().to_owned();
    let csrf = a.json["csrf_token"].as_str().unwrap().to_owned();
    (a, pair, csrf)
}

async fn audit_actions(h: &Harness) -> Vec<Value> {
    let a = h.get("/api/v1/audit?limit=500", &h.admin).await;
    a.json["data"].as_array().unwrap().clone()
}

async fn sign_in_sets_a_strict_http_only_cookie(h: &Harness) {
    let (a, pair, csrf) = sign_in(h, &h.admin, &[]).await;
    let cookie = a.headers["set-cookie"].to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let value = pair.strip_prefix("sentinel_session=").unwrap();
    assert!(value.starts_with("snts_") && value.len() == 69, "{value}");
    assert_eq!(a.json["operator"]["name"], "alice");
    assert_eq!(
        a.json["operator"]["grants"],
        serde_json::json!([{"role": "admin", "environment": null}])
    );
    assert_eq!(csrf.len(), 64);
    // Neither the operator token nor the cookie is in the body.
    assert!(
        !a.text.contains(&h.admin) && !a.text.contains(value),
        "{}",
        a.text
    );
    assert_eq!(a.headers["cache-control"], "no-store");

    // Behind an https proxy the cookie is Secure.
    let (a, _, _) = sign_in(h, &h.admin, &[("x-forwarded-proto", "https")]).await;
    assert!(
        a.headers["set-cookie"]
            .to_str()
            .unwrap()
            .ends_with("; Secure"),
        "{:?}",
        a.headers["set-cookie"]
    );

    let events = audit_actions(h).await;
    let signins: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "session.create")
        .collect();
    assert_eq!(signins.len(), 2);
    assert_eq!(signins[0]["source_addr"], "192.0.2.7");
    // The audit trail holds neither the cookie nor its digest.
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(value));
    assert!(!text.contains(&sentinel_core::key::sha256_hex(value.as_bytes())));
}

async fn sign_in_failures_say_what_is_wrong(h: &Harness) {
    let json_type = [("content-type", "application/json")];
    let unknown = format!("sntop_{}", "0".repeat(64));
    for token in [unknown.as_str(), "not-a-token", ""] {
        let a = h
            .send(
                "POST",
                "/api/v1/session",
                &json_type,
                Some(json!({ "token": token }).to_string().into_bytes()),
            )
            .await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
        let message = a.json["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("sign-in failed"), "{message}");
        assert!(a.headers.get("set-cookie").is_none());
    }
    let a = h.send("POST", "/api/v1/session", &json_type, None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.text.contains("needs an operator token"), "{}", a.text);
    // A cross-site form cannot send JSON: other content types are refused.
    let a = h
        .send(
            "POST",
            "/api/v1/session",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(format!("token={}", h.admin).into_bytes()),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert!(
        a.text.contains("Content-Type: application/json"),
        "{}",
        a.text
    );
    let a = h
        .send(
            "POST",
            "/api/v1/session",
            &json_type,
            Some(
                json!({ "token": h.admin, "remember": true })
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.text.contains("unknown field `remember`"), "{}", a.text);
}

async fn the_cookie_authenticates_and_csrf_guards_every_change(h: &Harness) {
    let (_, cookie, csrf) = sign_in(h, &h.admin, &[]).await;
    let a = h
        .send("GET", "/api/v1/whoami", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["name"], "alice");
    let a = h
        .send("GET", "/api/v1/session", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(a.json["csrf_token"], csrf.as_str());

    let body = || Some(json!({ "name": "dev" }).to_string().into_bytes());
    // A forged request: the cookie rides along, the CSRF token cannot.
    let forged = h
        .send(
            "POST",
            "/api/v1/environments",
            &[("cookie", &cookie), ("content-type", "application/json")],
            body(),
        )
        .await;
    assert_eq!(
        (forged.status, forged.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(forged.text.contains("x-csrf-token"), "{}", forged.text);
    let wrong = h
        .send(
            "POST",
            "/api/v1/environments",
            &[
                ("cookie", &cookie),
                ("content-type", "application/json"),
                ("x-csrf-token", &"0".repeat(64)),
            ],
            body(),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let envs = h.get("/api/v1/environments", &h.admin).await;
    assert_eq!(envs.json["data"], json!([]), "nothing was created");
    let events = audit_actions(h).await;
    let refused: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "session.csrf_rejected")
        .collect();
    assert_eq!(refused.len(), 2, "{events:?}");
    assert_eq!(refused[0]["target"], "/api/v1/environments");
    assert_eq!(refused[1]["details"]["csrf_token"], "missing");
    assert_eq!(refused[0]["details"]["csrf_token"], "wrong");

    let a = h
        .send(
            "POST",
            "/api/v1/environments",
            &[
                ("cookie", &cookie),
                ("content-type", "application/json"),
                ("x-csrf-token", &csrf),
            ],
            body(),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    // The change is audited as the operator, like one made with the token.
    let events = audit_actions(h).await;
    let create = events
        .iter()
        .find(|e| e["action"] == "environment.create")
        .unwrap();
    let whoami = h.get("/api/v1/whoami", &h.admin).await;
    assert_eq!(create["actor"], whoami.json["id"]);

    // The Bearer token wins over a cookie and needs no CSRF token (the CLI).
    let a = h
        .send(
            "POST",
            "/api/v1/environments",
            &[
                ("cookie", &cookie),
                ("authorization", &format!("Bearer {}", h.admin)),
                ("content-type", "application/json"),
            ],
            Some(json!({ "name": "prod" }).to_string().into_bytes()),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    // A Bearer caller has no session to show or end.
    let a = h.get("/api/v1/session", &h.admin).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        (&a.json["csrf_token"], &a.json["operator"]["name"]),
        (&Value::Null, &json!("alice"))
    );
    let a = h
        .call("DELETE", "/api/v1/session", Some(&h.admin), None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

async fn sign_out_and_expiry_end_the_session(h: &Harness) {
    let (_, cookie, csrf) = sign_in(h, &h.operator, &[]).await;
    let a = h
        .send("DELETE", "/api/v1/session", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "sign-out needs the CSRF token too"
    );
    let a = h
        .send(
            "DELETE",
            "/api/v1/session",
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    assert!(
        a.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"),
        "{:?}",
        a.headers
    );
    let a = h
        .send("GET", "/api/v1/whoami", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert!(a.text.contains("sign in again"), "{}", a.text);
    assert!(
        audit_actions(h)
            .await
            .iter()
            .any(|e| e["action"] == "session.delete")
    );

    // An expired session is refused, on every replica sharing the store.
    let value = format!("snts_{}", "ab".repeat(32));
    let olga = h
        .store
        .list_operators(&h.org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name == "olga")
        .unwrap();
    h.store
        .create_session(
            &olga,
            &sentinel_core::key::sha256_hex(value.as_bytes()),
            1_000,
            &system(),
        )
        .await
        .unwrap();
    let a = h
        .send(
            "GET",
            "/api/v1/whoami",
            &[("cookie", &format!("sentinel_session={value}"))],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // A made-up cookie is refused the same way.
    let a = h
        .send(
            "GET",
            "/api/v1/whoami",
            &[("cookie", "sentinel_session=snts_nope")],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

async fn sessions_keep_the_operators_role_and_organization(h: &Harness) {
    h.env_with_app("dev", "checkout").await;
    let (_, cookie, csrf) = sign_in(h, &h.auditor, &[]).await;
    let a = h
        .send(
            "POST",
            "/api/v1/environments/dev/keys",
            &[
                ("cookie", &cookie),
                ("content-type", "application/json"),
                ("x-csrf-token", &csrf),
            ],
            Some(
                json!({ "application": "checkout" })
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!((a.status, a.code()), (StatusCode::FORBIDDEN, "forbidden"));
    assert!(
        a.text.contains("your grants do not allow write"),
        "{}",
        a.text
    );

    // Another organization's operator sees none of this one's environments.
    let other = h.store.ensure_org("other").await.unwrap();
    let stranger = add_operator(&h.store, &other.id, "sam", sentinel_core::Role::Admin).await;
    let (_, cookie, _) = sign_in(h, &stranger, &[]).await;
    let a = h
        .send(
            "GET",
            "/api/v1/environments/dev",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!((a.status, a.code()), (StatusCode::NOT_FOUND, "not_found"));
}
