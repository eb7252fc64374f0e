//! Organizations created by a platform administrator; two organizations with
//! the same names that cannot see or touch each other on any admin route;
//! the operator lifecycle (grants, revocation); failed-login throttling; and
//! audit verification naming the first tampered event.

use axum::http::StatusCode;
use sentinel_core::{Grant, RequestRecord, Role};
use sentinel_store::{AuditFilter, NewOperator};
use serde_json::{Value, json};

use crate::{
    routes::{self, Ids},
    support::*,
};

crate::on_both_stores!(
    platform_admins_create_organizations,
    organizations_with_the_same_names_never_meet,
    operators_are_granted_and_revoked,
    failed_logins_are_throttled_and_audited,
    audit_verify_names_the_first_bad_event,
);

/// A platform administrator of the harness's (default) organization.
async fn platform_admin(h: &Harness) -> String {
    let (token, digest) = sentinel_console::new_operator_token();
    h.store
        .create_operator_with(
            &h.org.id,
            &NewOperator {
                name: "platform",
                grants: &[Grant::everywhere(Role::Admin)],
                platform_admin: true,
                token_digest_hex: &digest,
            },
            &system(),
        )
        .await
        .unwrap();
    token
}

async fn create_org(h: &Harness, platform: &str, name: &str) -> Value {
    let a = h
        .post("/api/v1/orgs", platform, json!({ "name": name }))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    a.json
}

async fn platform_admins_create_organizations(h: &Harness) {
    // Org admins are not platform admins: 403, not a list of organizations.
    for token in [&h.admin, &h.auditor] {
        assert_eq!(
            h.get("/api/v1/orgs", token).await.status,
            StatusCode::FORBIDDEN
        );
        let a = h.post("/api/v1/orgs", token, json!({"name": "x"})).await;
        assert_eq!((a.status, a.code()), (StatusCode::FORBIDDEN, "forbidden"));
    }
    let platform = platform_admin(h).await;
    let created = create_org(h, &platform, "acme").await;
    assert_eq!(created["name"], "acme");
    let token = created["admin"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        created["admin"]["grants"],
        json!([{"role": "admin", "environment": null}])
    );
    assert_eq!(created["admin"]["platform_admin"], false);
    let a = h.get("/api/v1/whoami", &token).await;
    assert_eq!(a.json["organization"]["name"], "acme", "{}", a.text);
    assert_eq!(
        h.get("/api/v1/orgs", &token).await.status,
        StatusCode::FORBIDDEN
    );
    let a = h.get("/api/v1/orgs", &platform).await;
    let names: Vec<&str> = a.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "default"]);
    assert!(!a.text.contains(&token[6..]), "tokens are shown once");

    // Names are checked; a taken name is a conflict.
    let a = h
        .post("/api/v1/orgs", &platform, json!({"name": "Acme Corp"}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    assert!(
        a.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("organization name \"Acme Corp\""),
        "{}",
        a.text
    );
    let a = h
        .post("/api/v1/orgs", &platform, json!({"name": "acme"}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);

    // Audited in both organizations.
    let acme = h.store.get_org_by_name("acme").await.unwrap().unwrap();
    for org_id in [&h.org.id, &acme.id] {
        let events = h
            .store
            .list_audit(
                org_id,
                AuditFilter {
                    action: Some("org.create".into()),
                    limit: 10,
                    ..AuditFilter::default()
                },
            )
            .await
            .unwrap();
        let created: Vec<_> = events.iter().filter(|e| e.target == "org/acme").collect();
        assert_eq!(created.len(), 1, "org.create in {org_id}");
        assert_ne!(created[0].actor, "system");
    }
}

/// One organization's `prod`, `checkout`, `openai` secret, key, config and
/// record, created through the API with `admin`; its identifiers, and every
/// string another organization must never see.
async fn populate(h: &Harness, org_id: &str, admin: &str, secret: &str) -> (Ids, Vec<String>) {
    let a = h
        .post("/api/v1/environments", admin, json!({"name": "prod"}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let env_id = a.json["id"].as_str().unwrap().to_owned();
    let a = h
        .post(
            "/api/v1/environments/prod/applications",
            admin,
            json!({"name": "checkout"}),
        )
        .await;
    let app_id = a.json["id"].as_str().unwrap().to_owned();
    let a = h
        .call(
            "PUT",
            "/api/v1/environments/prod/secrets/openai",
            Some(admin),
            Some(json!({ "value": secret })),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let fingerprint = a.json["fingerprint"].as_str().unwrap().to_owned();
    let a = h
        .post(
            "/api/v1/environments/prod/config",
            admin,
            json!({"document": VALID_DOC, "message": "first"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let a = h
        .post(
            "/api/v1/environments/prod/keys",
            admin,
            json!({"application": "checkout", "name": "k"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let key = a.json["id"].as_str().unwrap().to_owned();
    let record = RequestRecord {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org_id.into(),
        time: 1_700_000_000_000,
        env_id: Some(env_id.clone()),
        env_name: Some("prod".into()),
        ingress: "chat_completions".into(),
        status: 200,
        ..RequestRecord::default()
    };
    h.store
        .insert_records(std::slice::from_ref(&record))
        .await
        .unwrap();
    let operators = h.store.list_operators(org_id).await.unwrap();
    let operator = operators[0].id.clone();
    let mut private = vec![
        org_id.to_owned(),
        env_id,
        app_id,
        key.clone(),
        record.id.clone(),
        fingerprint,
        secret.to_owned(),
    ];
    private.extend(operators.into_iter().map(|o| o.id));
    (
        Ids {
            env: "prod".into(),
            key,
            record: record.id,
            operator,
        },
        private,
    )
}

/// The victim's state that any touch would change: its audit chain length
/// and head, its keys and its operators.
async fn fingerprint_of(h: &Harness, org_id: &str) -> String {
    let audit = h
        .store
        .list_audit(
            org_id,
            AuditFilter {
                limit: 1000,
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    let env = h
        .store
        .get_environment_by_name(org_id, "prod")
        .await
        .unwrap()
        .unwrap();
    let keys = h.store.list_keys(org_id, Some(&env.id)).await.unwrap();
    let operators = h.store.list_operators(org_id).await.unwrap();
    format!(
        "{} {:?} {:?} {:?}",
        audit.len(),
        audit.first().map(|e| &e.hash),
        keys.iter()
            .map(|k| (&k.id, k.revoked_at))
            .collect::<Vec<_>>(),
        operators
            .iter()
            .map(|o| (&o.id, o.revoked_at, o.grants.len()))
            .collect::<Vec<_>>(),
    )
}

/// Calls every admin route as `attacker`, filled with the victim's ids.
async fn probe(h: &Harness, attacker: &str, victim: &Ids, private: &[String]) {
    for &(method, route) in sentinel_console::ROUTES {
        if routes::is_public(route) {
            continue;
        }
        let mut path = routes::path(route, victim);
        if let Some(query) = routes::required_query(route) {
            path = format!("{path}?{query}");
        }
        let body = routes::body(method, route, victim);
        let sent = format!("{path} {}", body.clone().unwrap_or(Value::Null));
        let a = h
            .call(&method.to_uppercase(), &path, Some(attacker), body)
            .await;
        assert!(!a.status.is_server_error(), "{method} {path}: {}", a.text);
        // Change requests are numbered per environment: `prod` and `1` name
        // the attacker's own change request, never the victim's (the body
        // checks below prove nothing of the victim's shows).
        if route.contains("{id}") && !route.contains("/changes/") {
            assert_eq!(
                (a.status, a.code()),
                (StatusCode::NOT_FOUND, "not_found"),
                "{method} {path} with another organization's id: {}",
                a.text
            );
        }
        for secret in private {
            assert!(
                sent.contains(secret.as_str()) || !a.text.contains(secret.as_str()),
                "{method} {path} shows another organization's {secret}: {}",
                a.text
            );
        }
    }
    // Names the victim also uses resolve to the attacker's own.
    let a = h.get("/api/v1/environments/prod/keys", attacker).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.text.contains(&victim.key));
}

async fn organizations_with_the_same_names_never_meet(h: &Harness) {
    let platform = platform_admin(h).await;
    let acme = create_org(h, &platform, "acme").await;
    let acme_admin = acme["admin"]["token"].as_str().unwrap().to_owned();
    let acme_id = acme["id"].as_str().unwrap().to_owned();
    let (ours, our_private) = populate(h, &h.org.id, &h.admin, "sk-default-CANARY-1").await;
    let (theirs, their_private) = populate(h, &acme_id, &acme_admin, "sk-acme-CANARY-2").await;

    for (attacker, victim_org, victim, private) in [
        (&h.admin, &acme_id, &theirs, &their_private),
        (&acme_admin, &h.org.id, &ours, &our_private),
    ] {
        let before = fingerprint_of(h, victim_org).await;
        probe(h, attacker, victim, private).await;
        assert_eq!(
            fingerprint_of(h, victim_org).await,
            before,
            "the victim organization changed"
        );
        assert!(h.store.verify_audit_chain(victim_org).await.unwrap().ok);
    }
}

async fn operators_are_granted_and_revoked(h: &Harness) {
    h.env_with_app("dev", "checkout").await;
    h.env_with_app("prod", "checkout").await;
    // Bad grants say which field is wrong.
    for (body, field) in [
        (
            json!({"name": "x", "role": "operator", "environments": ["nope"]}),
            "grants[0].environments[0]",
        ),
        (
            json!({"name": "x", "grants": [{"role": "auditor"}, {"role": "root"}]}),
            "grants[1].role",
        ),
        (
            json!({"name": "x", "role": "operator", "environments": []}),
            "grants[0].environments",
        ),
        (json!({"name": "x"}), "role"),
    ] {
        let a = h.post("/api/v1/operators", &h.admin, body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
        assert!(a.text.contains(field), "{field}: {}", a.text);
    }

    // Changes dev freely, only reads prod.
    let a = h
        .post(
            "/api/v1/operators",
            &h.admin,
            json!({"name": "dana", "grants": [
                {"role": "operator", "environments": ["dev"]},
                {"role": "auditor", "environments": ["prod"]}]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let dana = a.json["token"].as_str().unwrap().to_owned();
    let dana_id = a.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        a.json["grants"],
        json!([{"role": "operator", "environment": "dev"}, {"role": "auditor", "environment": "prod"}])
    );
    assert_eq!(create_key(h, &dana, "dev").await, StatusCode::CREATED);
    assert_eq!(create_key(h, &dana, "prod").await, StatusCode::FORBIDDEN);
    assert_eq!(
        h.get("/api/v1/environments/prod/keys", &dana).await.status,
        StatusCode::OK
    );

    // Grants are replaced as a whole; the change applies at once.
    let a = h
        .call(
            "PUT",
            &format!("/api/v1/operators/{dana_id}/grants"),
            Some(&h.admin),
            Some(json!({"grants": [{"role": "operator"}]})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(create_key(h, &dana, "prod").await, StatusCode::CREATED);

    // An admin cannot change or revoke themselves; another org's id is 404.
    let me = h.get("/api/v1/whoami", &h.admin).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = h
        .post(
            &format!("/api/v1/operators/{me}/revoke"),
            &h.admin,
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    let other = h.store.ensure_org("other").await.unwrap();
    add_operator(&h.store, &other.id, "stranger", Role::Admin).await;
    let stranger = h.store.list_operators(&other.id).await.unwrap()[0]
        .id
        .clone();
    let a = h
        .post(
            &format!("/api/v1/operators/{stranger}/revoke"),
            &h.admin,
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);

    // Revoked: the token stops working at once.
    let a = h
        .post(
            &format!("/api/v1/operators/{dana_id}/revoke"),
            &h.admin,
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(a.json["revoked_at"].is_i64());
    assert_eq!(
        h.get("/api/v1/whoami", &dana).await.status,
        StatusCode::UNAUTHORIZED
    );

    let a = h.get("/api/v1/audit?limit=500", &h.admin).await;
    for action in ["operator.create", "operator.grants", "operator.revoke"] {
        assert!(
            a.json["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == action && e["target"] == format!("operator/{dana_id}")),
            "{action} is audited"
        );
    }
    assert!(
        !a.text.contains(&dana[6..]),
        "tokens never reach the audit log"
    );
}

async fn create_key(h: &Harness, token: &str, env: &str) -> StatusCode {
    h.post(
        &format!("/api/v1/environments/{env}/keys"),
        token,
        json!({"application": "checkout"}),
    )
    .await
    .status
}

async fn failed_logins_are_throttled_and_audited(h: &Harness) {
    let attacker = [198, 51, 100, 1];
    let bad = format!("sntop_{}", "ab".repeat(32));
    for i in 0..10 {
        let a = h
            .call_from(attacker, "GET", "/api/v1/whoami", Some(&bad), None)
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNAUTHORIZED,
            "attempt {i}: {}",
            a.text
        );
    }
    // The eleventh is refused before the store, even with a valid token.
    for token in [bad.as_str(), h.admin.as_str()] {
        let a = h
            .call_from(attacker, "GET", "/api/v1/whoami", Some(token), None)
            .await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            "{}",
            a.text
        );
        let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=61).contains(&retry), "{retry}");
    }
    // Another address is not affected.
    let a = h
        .call_from(
            [198, 51, 100, 2],
            "GET",
            "/api/v1/whoami",
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);

    // Each failure is an audit event of the default organization, without
    // the presented token.
    let a = h
        .get(
            "/api/v1/audit?action=operator.login_failed&limit=500",
            &h.admin,
        )
        .await;
    let events = a.json["data"].as_array().unwrap();
    assert_eq!(events.len(), 10, "{}", a.text);
    assert!(events.iter().all(|e| e["source_addr"] == "198.51.100.1"));
    assert_eq!(events[0]["details"]["reason"], "unknown_or_revoked_token");
    assert!(!a.text.contains("abababab"), "{}", a.text);
}

async fn audit_verify_names_the_first_bad_event(h: &Harness) {
    h.env_with_app("dev", "checkout").await;
    let a = h.get("/api/v1/audit/verify", &h.auditor).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["ok"], true, "{}", a.text);
    assert_eq!(a.json["first_bad_seq"], Value::Null);
    let events = a.json["events"].as_u64().unwrap();
    assert!(events >= 4, "{}", a.text);

    // Rewrite event 3 behind the store's back.
    let a = h.get("/api/v1/audit?limit=500", &h.auditor).await;
    let third = a.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"] == 3)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tamper(&h.url, &h.org.id, 3).await;
    let a = h.get("/api/v1/audit/verify", &h.auditor).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["ok"], false, "{}", a.text);
    assert_eq!(a.json["first_bad_seq"], 3, "{}", a.text);
    assert_eq!(a.json["first_bad_id"], third.as_str(), "{}", a.text);
}

/// Changes one audit row directly in the database.
async fn tamper(url: &str, org_id: &str, seq: i64) {
    use sqlx::Connection as _;
    let sql =
        "UPDATE audit_events SET details = '{\"forged\":true}' WHERE org_id = $1 AND seq = $2";
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql)
            .bind(org_id)
            .bind(seq)
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql)
            .bind(org_id)
            .bind(seq)
            .execute(&mut c)
            .await
            .unwrap();
    }
}
