//! The config review workflow end to end, on SQLite and PostgreSQL: change
//! requests applied at once in unprotected environments and reviewed in
//! protected ones (self-approval refused), rejection, staleness (including
//! two applies racing), rollback, and promotion between environments.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Backend, TestApp, UPSTREAM_SECRET};

/// A document routing `model` to the mock upstream as `upstream_model`;
/// plain http is allowed so it also compiles in a protected environment.
fn document(app: &TestApp, model: &str, upstream_model: &str) -> String {
    format!(
        "providers:\n  upstream:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream-key\n    allow_private_network: true\n    allow_http: true\nroute_plans:\n  chat:\n    models: [{model}]\n    targets:\n      - {{ provider: upstream, model: {upstream_model} }}\n",
        app.upstream.base_url()
    )
}

/// Creates an operator and returns its token.
async fn operator(app: &TestApp, name: &str, role: &str) -> String {
    let body = app
        .admin_ok(
            Method::POST,
            "/api/v1/operators",
            Some(json!({"name": name, "role": role})),
        )
        .await;
    body["token"].as_str().unwrap().to_owned()
}

/// An admin API call with another operator's token.
async fn call_as(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.console))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn create_env(app: &TestApp, name: &str, protected: bool) {
    app.admin_ok(
        Method::POST,
        "/api/v1/environments",
        Some(json!({"name": name, "protected": protected})),
    )
    .await;
    app.create_app(name, "checkout").await;
    app.set_secret(name, "upstream-key", UPSTREAM_SECRET).await;
}

async fn propose(app: &TestApp, env: &str, document: &str, message: &str) -> (StatusCode, Value) {
    app.admin(
        Method::POST,
        &format!("/api/v1/environments/{env}/config"),
        Some(json!({"document": document, "message": message})),
    )
    .await
}

/// The actions of the audit events about one change request, oldest first.
async fn audit_actions(app: &TestApp, target: &str) -> Vec<String> {
    let audit = app
        .admin_ok(Method::GET, "/api/v1/audit?limit=500", None)
        .await;
    let mut actions: Vec<String> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == target)
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    actions.reverse();
    actions
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

async fn unprotected_changes_apply_at_once(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    create_env(&app, "dev", false).await;
    let (status, body) = propose(
        &app,
        "dev",
        &document(&app, "gpt-test", "up-model"),
        "first",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "applied");
    assert_eq!(body["revision"], 1);
    assert_eq!(body["change_request"]["id"], 1);
    assert_eq!(body["change_request"]["status"], "applied");
    assert_eq!(body["change_request"]["applied_revision"], 1);
    assert_eq!(body["change_request"]["kind"], "apply");

    let list = app
        .admin_ok(Method::GET, "/api/v1/environments/dev/changes", None)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        audit_actions(&app, "change/1").await,
        ["change.propose", "change.apply"]
    );
    let (key, _) = app.create_key("dev", "checkout").await;
    app.wait_for_model(&key, "gpt-test").await;
    app.stop().await;
}

async fn protected_changes_need_an_approver_other_than_the_author(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    create_env(&app, "prod", true).await;
    let (key, _) = app.create_key("prod", "checkout").await;
    let (status, body) = propose(
        &app,
        "prod",
        &document(&app, "gpt-test", "up-model"),
        "first",
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["change_request"]["status"], "pending");
    assert!(body.get("revision").is_none(), "nothing applied: {body}");
    let current = app
        .admin_ok(Method::GET, "/api/v1/environments/prod/config", None)
        .await;
    assert_eq!(current["revision"], 0);

    // The author cannot approve, an operator cannot review, nobody applies
    // before an approval.
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/prod/changes/1/approve",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        message(&body).contains("an approver other than its author"),
        "{body}"
    );
    let olga = operator(&app, "olga", "operator").await;
    let (status, _) = call_as(
        &app,
        &olga,
        Method::POST,
        "/api/v1/environments/prod/changes/1/approve",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/prod/changes/1/apply",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("needs an approval"), "{body}");
    let auditor = operator(&app, "audrey", "auditor").await;
    let (status, _) = call_as(
        &app,
        &auditor,
        Method::POST,
        "/api/v1/environments/prod/changes/1/apply",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A second operator with the approver role approves; then it applies.
    let ada = operator(&app, "ada", "approver").await;
    let (status, body) = call_as(
        &app,
        &ada,
        Method::POST,
        "/api/v1/environments/prod/changes/1/approve",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["change_request"]["approvals"][0]["by"], "ada");
    assert_eq!(body["change_request"]["status"], "pending");
    let shown = app
        .admin_ok(Method::GET, "/api/v1/environments/prod/changes/1", None)
        .await;
    assert!(
        shown["diff"]["text"]
            .as_str()
            .unwrap()
            .contains("+route_plans:"),
        "{shown}"
    );
    assert_eq!(shown["current_revision"], 0);
    let applied = app
        .admin_ok(
            Method::POST,
            "/api/v1/environments/prod/changes/1/apply",
            None,
        )
        .await;
    assert_eq!(applied["status"], "applied");
    assert_eq!(applied["revision"], 1);
    app.wait_for_model(&key, "gpt-test").await;
    let response = app
        .chat(Some(&key), json!({"model": "gpt-test", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        audit_actions(&app, "change/1").await,
        ["change.propose", "change.approve", "change.apply"]
    );

    // Approve-and-apply in one step changes what the gateway routes to.
    let (status, _) = propose(
        &app,
        "prod",
        &document(&app, "gpt-next", "up-model-2"),
        "second model",
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = call_as(
        &app,
        &ada,
        Method::POST,
        "/api/v1/environments/prod/changes/2/approve",
        Some(json!({"apply": true})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["revision"], 2);
    app.wait_for_model(&key, "gpt-next").await;
    let before = app.upstream.calls().len();
    let response = app
        .chat(Some(&key), json!({"model": "gpt-next", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let calls = app.upstream.calls();
    assert_eq!(calls.len(), before + 1);
    assert_eq!(calls[before].json()["model"], "up-model-2");
    app.stop().await;
}

async fn rejected_changes_stay_unapplied(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    create_env(&app, "prod", true).await;
    let doc = document(&app, "gpt-test", "up-model");
    propose(&app, "prod", &doc, "first").await;
    let olga = operator(&app, "olga", "operator").await;
    let reject = |reason: &str| json!({"reason": reason});
    let (status, _) = call_as(
        &app,
        &olga,
        Method::POST,
        "/api/v1/environments/prod/changes/1/reject",
        Some(reject("no")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an operator reviews nothing");
    let ada = operator(&app, "ada", "approver").await;
    let (status, body) = call_as(
        &app,
        &ada,
        Method::POST,
        "/api/v1/environments/prod/changes/1/reject",
        Some(reject(" ")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("reason"), "{body}");
    let (status, body) = call_as(
        &app,
        &ada,
        Method::POST,
        "/api/v1/environments/prod/changes/1/reject",
        Some(reject("wrong upstream model")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["reason"], "wrong upstream model");
    assert_eq!(body["decided_by"], "ada");
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/prod/changes/1/apply",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(message(&body).contains("is rejected"), "{body}");
    let (status, _) = call_as(
        &app,
        &ada,
        Method::POST,
        "/api/v1/environments/prod/changes/1/approve",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // An author may withdraw their own request.
    let (_, body) = call_as(
        &app,
        &olga,
        Method::POST,
        "/api/v1/environments/prod/config",
        Some(json!({"document": doc, "message": "again"})),
    )
    .await;
    assert_eq!(body["change_request"]["id"], 2);
    let (status, body) = call_as(
        &app,
        &olga,
        Method::POST,
        "/api/v1/environments/prod/changes/2/reject",
        Some(reject("withdrawn")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rejected = app
        .admin_ok(
            Method::GET,
            "/api/v1/environments/prod/changes?status=rejected",
            None,
        )
        .await;
    assert_eq!(rejected["data"].as_array().unwrap().len(), 2);
    let (status, body) = app
        .admin(
            Method::GET,
            "/api/v1/environments/prod/changes?status=nope",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("status"), "{body}");
    let (status, _) = app
        .admin(Method::GET, "/api/v1/environments/prod/changes/99", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        audit_actions(&app, "change/1").await,
        ["change.propose", "change.reject"]
    );
    let current = app
        .admin_ok(Method::GET, "/api/v1/environments/prod/config", None)
        .await;
    assert_eq!(current["revision"], 0, "nothing was applied");
    app.stop().await;
}

/// Proposes `document` in a protected environment as the admin and has
/// `approver` approve it; returns the change request's number.
async fn approved(app: &TestApp, approver: &str, env: &str, document: &str) -> i64 {
    let (status, body) = propose(app, env, document, "change").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["change_request"]["id"].as_i64().unwrap();
    let (status, body) = call_as(
        app,
        approver,
        Method::POST,
        &format!("/api/v1/environments/{env}/changes/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

async fn changes_behind_the_current_revision_are_stale(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    create_env(&app, "prod", true).await;
    let ada = operator(&app, "ada", "approver").await;
    let first = approved(&app, &ada, "prod", &document(&app, "m1", "u1")).await;
    let a = approved(&app, &ada, "prod", &document(&app, "m2", "u2")).await;
    let b = approved(&app, &ada, "prod", &document(&app, "m3", "u3")).await;
    let applied = app
        .admin_ok(
            Method::POST,
            &format!("/api/v1/environments/prod/changes/{first}/apply"),
            None,
        )
        .await;
    assert_eq!(applied["revision"], 1);

    // Applying revision 1 made both requests planned against 0 stale.
    for id in [a, b] {
        let shown = app
            .admin_ok(
                Method::GET,
                &format!("/api/v1/environments/prod/changes/{id}"),
                None,
            )
            .await;
        assert_eq!(shown["status"], "stale", "{shown}");
        assert_eq!(shown["base_revision"], 0);
        assert!(
            shown["reason"]
                .as_str()
                .unwrap()
                .contains("current revision is 1")
        );
    }
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/api/v1/environments/prod/changes/{a}/apply"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let text = message(&body);
    assert!(
        text.contains("is stale")
            && text.contains("revision 0")
            && text.contains("current revision of \"prod\" is 1")
            && text.contains("config plan"),
        "{text}"
    );
    assert_eq!(
        audit_actions(&app, &format!("change/{a}")).await,
        ["change.propose", "change.approve", "change.stale"]
    );

    // Two approved requests on the same base, applied at the same time:
    // exactly one becomes revision 2, the other is stale.
    let c = approved(&app, &ada, "prod", &document(&app, "m4", "u4")).await;
    let d = approved(&app, &ada, "prod", &document(&app, "m5", "u5")).await;
    let (path_c, path_d) = (
        format!("/api/v1/environments/prod/changes/{c}/apply"),
        format!("/api/v1/environments/prod/changes/{d}/apply"),
    );
    let ((s1, b1), (s2, b2)) = tokio::join!(
        app.admin(Method::POST, &path_c, None),
        app.admin(Method::POST, &path_d, None)
    );
    let mut statuses = [s1, s2];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{b1} {b2}"
    );
    let (loser, winner_body) = if s1 == StatusCode::CONFLICT {
        (b1, b2)
    } else {
        (b2, b1)
    };
    assert_eq!(winner_body["revision"], 2);
    assert!(message(&loser).contains("is stale"), "{loser}");
    let revisions = app
        .admin_ok(
            Method::GET,
            "/api/v1/environments/prod/config/revisions",
            None,
        )
        .await;
    assert_eq!(revisions["data"].as_array().unwrap().len(), 2);

    // A direct apply with an outdated base is refused too.
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/prod/config",
            Some(json!({"document": document(&app, "m6", "u6"), "message": "late", "base_revision": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    app.stop().await;
}

async fn rollback_opens_a_change_to_a_past_revision(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    create_env(&app, "dev", false).await;
    let first = document(&app, "gpt-test", "up-model");
    let second = document(&app, "gpt-next", "up-model-2");
    propose(&app, "dev", &first, "one").await;
    propose(&app, "dev", &second, "two").await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/dev/config/rollback",
            Some(json!({"to": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["revision"], 3);
    assert_eq!(body["document"], first.as_str());
    assert_eq!(body["message"], "roll back to revision 1");
    assert_eq!(body["change_request"]["kind"], "rollback");
    assert_eq!(
        body["change_request"]["source"],
        json!({"environment": "dev", "revision": 1})
    );
    let history = app
        .admin_ok(
            Method::GET,
            "/api/v1/environments/dev/config/revisions",
            None,
        )
        .await;
    let revs = history["data"].as_array().unwrap();
    assert_eq!(revs.len(), 3);
    assert_eq!(revs[0]["parent_hash"], revs[1]["hash"]);
    assert_eq!(revs[1]["author"], "admin");

    for (to, expected) in [(3, "already the current revision"), (99, "no revision 99")] {
        let (status, body) = app
            .admin(
                Method::POST,
                "/api/v1/environments/dev/config/rollback",
                Some(json!({"to": to})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message(&body).starts_with("to: "), "{body}");
        assert!(message(&body).contains(expected), "{body}");
    }

    // In a protected environment a rollback is reviewed like any change.
    create_env(&app, "prod", true).await;
    let ada = operator(&app, "ada", "approver").await;
    let id = approved(&app, &ada, "prod", &first).await;
    app.admin_ok(
        Method::POST,
        &format!("/api/v1/environments/prod/changes/{id}/apply"),
        None,
    )
    .await;
    let id = approved(&app, &ada, "prod", &second).await;
    app.admin_ok(
        Method::POST,
        &format!("/api/v1/environments/prod/changes/{id}/apply"),
        None,
    )
    .await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/prod/config/rollback",
            Some(json!({"to": 1, "message": "bad deploy"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["change_request"]["status"], "pending");
    assert_eq!(body["change_request"]["base_revision"], 2);
    app.stop().await;
}

/// staging: a route plan and a policy to promote, plus its own retention.
fn staging_document(app: &TestApp) -> String {
    format!(
        "{}policies:\n  environment:\n    max_tokens: 100\nretention: {{ requests_days: 3 }}\n",
        document(app, "gpt-test", "staging-model")
    )
}

async fn promotion_carries_route_plans_and_policies(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    create_env(&app, "staging", false).await;
    create_env(&app, "prod", true).await;
    let ada = operator(&app, "ada", "approver").await;
    propose(&app, "staging", &staging_document(&app), "staging").await;
    let prod = format!(
        "{}retention: {{ requests_days: 30 }}\n",
        document(&app, "gpt-test", "prod-model")
    );
    let id = approved(&app, &ada, "prod", &prod).await;
    app.admin_ok(
        Method::POST,
        &format!("/api/v1/environments/prod/changes/{id}/apply"),
        None,
    )
    .await;

    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/prod/promotions",
            Some(json!({"from": "staging"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let change = &body["change_request"];
    assert_eq!(change["kind"], "promotion");
    assert_eq!(
        change["source"],
        json!({"environment": "staging", "revision": 1})
    );
    assert_eq!(
        change["message"],
        "promote route_plans, policies from staging revision 1"
    );
    let id = change["id"].as_i64().unwrap();
    let shown = app
        .admin_ok(
            Method::GET,
            &format!("/api/v1/environments/prod/changes/{id}"),
            None,
        )
        .await;
    let promoted = shown["document"].as_str().unwrap();
    assert!(
        promoted.contains("staging-model") && promoted.contains("max_tokens: 100"),
        "{promoted}"
    );
    assert!(
        promoted.contains("requests_days: 30"),
        "prod keeps its retention: {promoted}"
    );
    assert!(!promoted.contains(UPSTREAM_SECRET));
    let diff = shown["diff"]["text"].as_str().unwrap();
    assert!(
        diff.contains("-      - { provider: upstream, model: prod-model }"),
        "{diff}"
    );
    assert!(
        diff.contains("+      - { provider: upstream, model: staging-model }"),
        "{diff}"
    );
    assert_eq!(
        audit_actions(&app, &format!("change/{id}")).await,
        ["change.promote"]
    );
    let (status, body) = call_as(
        &app,
        &ada,
        Method::POST,
        &format!("/api/v1/environments/prod/changes/{id}/approve"),
        Some(json!({"apply": true})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let current = app
        .admin_ok(Method::GET, "/api/v1/environments/prod/config", None)
        .await;
    assert_eq!(current["revision"], 2, "{current}");
    assert_eq!(current["document"], promoted);

    // --only policies leaves the route plans as they are.
    create_env(&app, "canary", false).await;
    propose(
        &app,
        "canary",
        &document(&app, "gpt-test", "canary-model"),
        "canary",
    )
    .await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/canary/promotions",
            Some(json!({"from": "staging", "only": ["policies"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let document = body["document"].as_str().unwrap();
    assert!(
        document.contains("canary-model") && !document.contains("staging-model"),
        "{document}"
    );
    assert!(document.contains("max_tokens: 100"), "{document}");

    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/canary/promotions",
            Some(json!({"from": "staging", "only": ["secrets"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message(&body).starts_with("only: \"secrets\" cannot be promoted"),
        "{body}"
    );
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/environments/canary/promotions",
            Some(json!({"from": "nowhere"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn promotion_refuses_missing_providers_and_secrets(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    create_env(&app, "staging", false).await;
    app.set_secret("staging", "fresh-key", "sk-fresh-CANARY-0042")
        .await;
    create_env(&app, "prod", false).await;
    let staging = format!(
        "providers:\n  fresh:\n    kind: openai\n    base_url: {}\n    credential: secret:fresh-key\n    allow_private_network: true\nroute_plans:\n  chat:\n    models: [gpt-test]\n    targets:\n      - {{ provider: fresh, model: m }}\n",
        app.upstream.base_url()
    );
    propose(&app, "staging", &staging, "fresh provider").await;
    propose(
        &app,
        "prod",
        &document(&app, "gpt-test", "prod-model"),
        "prod",
    )
    .await;

    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/prod/promotions",
            Some(json!({"from": "staging", "only": ["route_plans"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let errors = &body["error"]["errors"];
    assert_eq!(errors[0]["path"], "route_plans.chat.targets[0].provider");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("provider \"fresh\""),
        "{body}"
    );

    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/prod/promotions",
            Some(json!({"from": "staging", "only": ["route_plans", "providers"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let errors = &body["error"]["errors"];
    assert_eq!(errors[0]["path"], "providers.fresh.credential");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("secret \"fresh-key\""),
        "{body}"
    );
    assert!(!body.to_string().contains("sk-fresh-CANARY-0042"));

    // Once prod has the secret, the same promotion goes through.
    app.set_secret("prod", "fresh-key", "sk-fresh-CANARY-0042")
        .await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/prod/promotions",
            Some(json!({"from": "staging", "only": ["route_plans", "providers"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(!body.to_string().contains("sk-fresh-CANARY-0042"));
    let list = app
        .admin_ok(Method::GET, "/api/v1/environments/prod/changes", None)
        .await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2,
        "refusals open nothing: {list}"
    );
    app.stop().await;
}

on_both_stores!(
    unprotected_changes_apply_at_once,
    protected_changes_need_an_approver_other_than_the_author,
    rejected_changes_stay_unapplied,
    changes_behind_the_current_revision_are_stale,
    rollback_opens_a_change_to_a_past_revision,
    promotion_carries_route_plans_and_policies,
    promotion_refuses_missing_providers_and_secrets,
);
