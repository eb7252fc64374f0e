//! The role matrix: every admin route × every role, for an operator whose
//! grant covers `dev` and not `prod`, and for one whose grant covers every
//! environment. A route's requirement is written once in [`need`]; a route
//! added to the console without a line there fails this test.

use axum::http::StatusCode;
use sentinel_core::{Grant, Permission, RequestRecord, Role};
use sentinel_store::NewOperator;
use serde_json::{Value, json};

use crate::{
    routes::{self, Ids},
    support::*,
};

crate::on_both_stores!(
    every_route_checks_role_and_environment,
    provider_health_shows_readable_environments_only,
);

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// Any operator, whatever its grants (`whoami`).
    Anyone,
    /// `permission` on the environment in the path (or of the record).
    Env(Permission),
    /// Either permission on the environment in the path.
    EnvEither(Permission, Permission),
    /// `permission` on `?env=NAME`, or organization-wide without it.
    EnvOrOrg(Permission),
    /// `permission` for every environment.
    Org(Permission),
    /// Platform administrators only.
    Platform,
    /// Anyone; the answer holds only what the caller may read.
    Filtered,
}

fn need(method: &str, route: &str) -> Need {
    use Need::*;
    use Permission::*;
    match (method, route) {
        ("get", "/api/v1/whoami") => Anyone,
        ("get" | "post", "/api/v1/operators")
        | ("put", "/api/v1/operators/{id}/grants")
        | ("post", "/api/v1/operators/{id}/revoke") => Org(Admin),
        ("get" | "post", "/api/v1/orgs") => Platform,
        ("get", "/api/v1/environments") | ("get", "/api/v1/providers/health") => Filtered,
        ("post", "/api/v1/environments") => Org(Write),
        ("get", "/api/v1/environments/{env}")
        | ("get", "/api/v1/environments/{env}/applications")
        | ("get", "/api/v1/environments/{env}/keys")
        | ("get", "/api/v1/environments/{env}/keys/{id}")
        | ("get", "/api/v1/environments/{env}/secrets")
        | ("get", "/api/v1/environments/{env}/secrets/{name}/versions")
        | ("get", "/api/v1/environments/{env}/config")
        | ("post", "/api/v1/environments/{env}/config/plan")
        | ("get", "/api/v1/environments/{env}/config/revisions")
        | ("get", "/api/v1/environments/{env}/config/revisions/{n}")
        | ("post", "/api/v1/environments/{env}/policy/explain")
        | ("get", "/api/v1/environments/{env}/alerts")
        | ("get", "/api/v1/environments/{env}/alerts/history")
        | ("get", "/api/v1/environments/{env}/changes")
        | ("get", "/api/v1/environments/{env}/changes/{id}")
        | ("get", "/api/v1/environments/{env}/providers/tests")
        | ("get", "/api/v1/environments/{env}/verify")
        | ("get", "/api/v1/environments/{env}/stats")
        | ("get", "/api/v1/environments/{env}/retention")
        | ("get", "/api/v1/environments/{env}/review")
        | ("get", "/api/v1/requests/{id}/body")
        | ("get", "/api/v1/requests/{id}") => Env(Read),
        ("post", "/api/v1/environments/{env}/changes/{id}/approve")
        | ("post", "/api/v1/environments/{env}/changes/{id}/reject") => Env(Approve),
        ("post", "/api/v1/environments/{env}/changes/{id}/apply") => EnvEither(Write, Approve),
        ("patch", "/api/v1/environments/{env}")
        | ("post", "/api/v1/environments/{env}/applications")
        | ("post", "/api/v1/environments/{env}/keys")
        | ("post", "/api/v1/environments/{env}/keys/{id}/revoke")
        | ("put", "/api/v1/environments/{env}/secrets/{name}")
        | ("post", "/api/v1/environments/{env}/secrets/{name}/rotate")
        | ("post", "/api/v1/environments/{env}/config")
        | ("post", "/api/v1/environments/{env}/config/rollback")
        | ("post", "/api/v1/environments/{env}/keys/{id}/rotate")
        | ("post", "/api/v1/environments/{env}/providers/test")
        | ("post", "/api/v1/environments/{env}/verify")
        | ("post", "/api/v1/environments/{env}/promotions") => Env(Write),
        ("get", "/api/v1/requests") => EnvOrOrg(Read),
        ("get", "/api/v1/audit" | "/api/v1/export/requests" | "/api/v1/export/audit") => {
            EnvOrOrg(Audit)
        }
        ("get", "/api/v1/audit/verify") => Org(Audit),
        _ => panic!("{method} {route}: say what it needs in tests/api/roles.rs `need`"),
    }
}

const ROLES: [Role; 4] = [Role::Admin, Role::Operator, Role::Approver, Role::Auditor];

/// One operator per role granted on `dev` only, and one per role granted
/// on every environment.
struct Tokens {
    dev_only: Vec<(Role, String)>,
    everywhere: Vec<(Role, String)>,
}

async fn operator_with(h: &Harness, name: &str, grant: Grant) -> String {
    let (token, digest) = sentinel_console::new_operator_token();
    h.store
        .create_operator_with(
            &h.org.id,
            &NewOperator {
                name,
                grants: &[grant],
                platform_admin: false,
                token_digest_hex: &digest,
            },
            &system(),
        )
        .await
        .unwrap();
    token
}

/// `dev` and `prod`, each with application `checkout`, secret `openai`, a
/// config revision, a key and a request record; the identifiers of each.
async fn two_environments(h: &Harness) -> (Ids, Ids, String) {
    let mut out = Vec::new();
    for env in ["dev", "prod"] {
        h.env_with_app(env, "checkout").await;
        let a = h
            .call(
                "PUT",
                &format!("/api/v1/environments/{env}/secrets/openai"),
                Some(&h.admin),
                Some(json!({"value": format!("sk-{env}-original")})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let a = h
            .post(
                &format!("/api/v1/environments/{env}/config"),
                &h.admin,
                json!({"document": VALID_DOC, "message": "first"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        let a = h
            .post(
                &format!("/api/v1/environments/{env}/keys"),
                &h.admin,
                json!({"application": "checkout", "name": "k"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        let key = a.json["id"].as_str().unwrap().to_owned();
        let env_row = h
            .store
            .get_environment_by_name(&h.org.id, env)
            .await
            .unwrap()
            .unwrap();
        let record = RequestRecord {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: h.org.id.clone(),
            time: 1_700_000_000_000,
            env_id: Some(env_row.id.clone()),
            env_name: Some(env.into()),
            ingress: "chat_completions".into(),
            status: 200,
            // Kept bodies, so `requests/{id}/body` has something to read.
            bodies: Some(Box::new(sentinel_core::RecordBodies {
                mode: sentinel_core::BodyMode::Full,
                request: Some(bytes::Bytes::from_static(b"{}")),
                request_truncated: false,
                response: None,
                response_truncated: false,
            })),
            ..RequestRecord::default()
        };
        h.store
            .insert_records(std::slice::from_ref(&record))
            .await
            .unwrap();
        // A verification run, so reading the latest one finds it.
        let run = sentinel_core::VerifyRun {
            id: uuid::Uuid::now_v7().to_string(),
            env_id: env_row.id.clone(),
            actor: "alice".into(),
            started_at: 1_700_000_000_000,
            duration_ms: 1,
            ok: false,
            steps: Vec::new(),
        };
        h.store
            .insert_verify_run(&h.org.id, &run, &system())
            .await
            .unwrap();
        out.push((env_row.id, key, record.id));
    }
    // The operator the operator routes act on.
    add_operator(&h.store, &h.org.id, "victim", Role::Auditor).await;
    let victim_id = h
        .store
        .list_operators(&h.org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name == "victim")
        .unwrap()
        .id;
    let ids = |(i, env): (usize, &str)| Ids {
        env: env.into(),
        key: out[i].1.clone(),
        record: out[i].2.clone(),
        operator: victim_id.clone(),
    };
    (ids((0, "dev")), ids((1, "prod")), out[0].0.clone())
}

fn with_query(path: String, route: &str, env: Option<&str>) -> String {
    let mut query: Vec<String> = routes::required_query(route)
        .map(str::to_owned)
        .into_iter()
        .collect();
    if let Some(env) = env {
        query.push(format!("env={env}"));
    }
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// Calls one route and checks it answers as the matrix says.
async fn expect(
    h: &Harness,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: &str,
    allowed: bool,
    who: &str,
) {
    let a = h
        .call(&method.to_uppercase(), path, Some(token), body)
        .await;
    assert!(
        !a.status.is_server_error(),
        "{who}: {method} {path} → {}: {}",
        a.status,
        a.text
    );
    if allowed {
        assert!(
            ![
                StatusCode::UNAUTHORIZED,
                StatusCode::FORBIDDEN,
                StatusCode::NOT_FOUND
            ]
            .contains(&a.status),
            "{who} should be allowed {method} {path}: {} {}",
            a.status,
            a.text
        );
    } else {
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{who} should be refused {method} {path}: {}",
            a.text
        );
    }
}

async fn every_route_checks_role_and_environment(h: &Harness) {
    let (dev, prod, dev_env_id) = two_environments(h).await;
    let mut tokens = Tokens {
        dev_only: Vec::new(),
        everywhere: Vec::new(),
    };
    for role in ROLES {
        let on_dev = Grant {
            role,
            env_id: Some(dev_env_id.clone()),
            env_name: Some("dev".into()),
        };
        let name = role.as_str();
        tokens
            .dev_only
            .push((role, operator_with(h, &format!("{name}-dev"), on_dev).await));
        tokens.everywhere.push((
            role,
            operator_with(h, &format!("{name}-all"), Grant::everywhere(role)).await,
        ));
    }

    let mut checked = 0;
    for &(method, route) in sentinel_console::ROUTES {
        if routes::is_public(route) {
            continue;
        }
        let need = need(method, route);
        for (i, &role) in ROLES.iter().enumerate() {
            let dev_token = &tokens.dev_only[i].1;
            let all_token = &tokens.everywhere[i].1;
            let who_dev = format!("{} on dev", role.as_str());
            let who_all = format!("{} everywhere", role.as_str());
            let on = |ids: &Ids, env: Option<&str>| {
                (
                    with_query(routes::path(route, ids), route, env),
                    routes::body(method, route, ids),
                )
            };
            match need {
                Need::Anyone | Need::Filtered => {
                    for (token, who) in [(dev_token, &who_dev), (all_token, &who_all)] {
                        let (path, body) = on(&dev, None);
                        expect(h, method, &path, body, token, true, who).await;
                    }
                }
                Need::Platform => {
                    for (token, who) in [(dev_token, &who_dev), (all_token, &who_all)] {
                        let (path, body) = on(&dev, None);
                        expect(h, method, &path, body, token, false, who).await;
                    }
                }
                Need::Env(p) => {
                    let (path, body) = on(&dev, None);
                    expect(h, method, &path, body, dev_token, role.allows(p), &who_dev).await;
                    let (path, body) = on(&prod, None);
                    expect(h, method, &path, body, dev_token, false, &who_dev).await;
                    let (path, body) = on(&prod, None);
                    expect(h, method, &path, body, all_token, role.allows(p), &who_all).await;
                }
                Need::EnvEither(a, b) => {
                    let allowed = role.allows(a) || role.allows(b);
                    let (path, body) = on(&dev, None);
                    expect(h, method, &path, body, dev_token, allowed, &who_dev).await;
                    let (path, body) = on(&prod, None);
                    expect(h, method, &path, body, dev_token, false, &who_dev).await;
                    let (path, body) = on(&prod, None);
                    expect(h, method, &path, body, all_token, allowed, &who_all).await;
                }
                Need::EnvOrOrg(p) => {
                    let (path, body) = on(&dev, Some("dev"));
                    expect(h, method, &path, body, dev_token, role.allows(p), &who_dev).await;
                    let (path, body) = on(&dev, Some("prod"));
                    expect(h, method, &path, body, dev_token, false, &who_dev).await;
                    let (path, body) = on(&dev, None);
                    expect(h, method, &path, body, dev_token, false, &who_dev).await;
                    let (path, body) = on(&dev, None);
                    expect(h, method, &path, body, all_token, role.allows(p), &who_all).await;
                }
                Need::Org(p) => {
                    let (path, body) = on(&dev, None);
                    expect(h, method, &path, body, dev_token, false, &who_dev).await;
                    let (path, body) = on(&dev, None);
                    expect(h, method, &path, body, all_token, role.allows(p), &who_all).await;
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 4 * 30,
        "the matrix covered only {checked} route × role pairs"
    );

    // Filtered answers hold only what the caller may read.
    let (_, dev_auditor) = &tokens.dev_only[3];
    let a = h.get("/api/v1/environments", dev_auditor).await;
    let names: Vec<&str> = a.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev"], "{}", a.text);
    // A dev-only auditor reads dev's audit events, never prod's.
    let a = h.get("/api/v1/audit?env=dev&limit=500", dev_auditor).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(!a.json["data"].as_array().unwrap().is_empty());
    assert!(
        a.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["env_id"] == dev_env_id.as_str()),
        "{}",
        a.text
    );
}

/// `providers/health` without `env` lists the environments the caller may
/// read, and with `env` refuses one it may not.
async fn provider_health_shows_readable_environments_only(h: &Harness) {
    let (_, _, dev_env_id) = two_environments(h).await;
    let org_id = h.org.id.clone();
    let router = sentinel_console::router(sentinel_console::ConsoleDeps {
        store: h.store.clone(),
        registry: std::sync::Arc::new(sentinel_providers::ProviderRegistry::standard()),
        readiness: std::sync::Arc::new(|| {
            Box::pin(async { (StatusCode::OK, json!({"status": "ready"})) })
        }),
        provider_health: std::sync::Arc::new(move || {
            ["dev", "prod"]
                .map(|env| (org_id.clone(), json!({"environment": env, "provider": "p"})))
                .into()
        }),
        explain: std::sync::Arc::new(|_, _, _, _| Box::pin(async { Err("none".to_owned()) })),
        metrics: std::sync::Arc::new(String::new),
        provider_tests: sentinel_console::ProviderTests::unavailable("not in this test"),
        verify: sentinel_console::VerifyGateway::unavailable("not in this test"),
        docs_base_url: sentinel_console::DEFAULT_DOCS_BASE_URL.to_owned(),
        server_facts: sentinel_review::ServerFacts::unknown("test"),
    });
    let dev_auditor = operator_with(
        h,
        "auditor-dev",
        Grant {
            role: Role::Auditor,
            env_id: Some(dev_env_id),
            env_name: Some("dev".into()),
        },
    )
    .await;
    let call = |path: &'static str, token: String| {
        let router = router.clone();
        async move {
            use http_body_util::BodyExt as _;
            use tower::ServiceExt as _;
            let request = axum::http::Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let environments = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["environment"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, body) = call("/api/v1/providers/health", h.admin.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(environments(&body), ["dev", "prod"]);
    let (status, body) = call("/api/v1/providers/health", dev_auditor.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(environments(&body), ["dev"]);
    let (status, _) = call("/api/v1/providers/health?env=prod", dev_auditor).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
