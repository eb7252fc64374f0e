//! The store's contract, written once and run against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use sentinel_core::{ApiKey, Grant, RequestRecord, Role, VerifyRun, VerifyStep, VerifyStepKind};
use sentinel_store::{
    AuditContext, AuditFilter, MasterKey, NewOperator, RecordFilter, SecretWrite, SecretWriteMode,
    Store, StoreError,
};
mod common;

use common::{Fixture, key, postgres, sqlite};

fn ctx() -> AuditContext {
    AuditContext {
        actor: "op-1".into(),
        source_addr: Some("127.0.0.1".into()),
        request_id: Some("req".into()),
    }
}

fn api_key(org: &str, env: &str, app: &str, id: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        org_id: org.into(),
        env_id: env.into(),
        app_id: app.into(),
        name: "k".into(),
        prefix: format!("snt_dev_{id}"),
        digest_hex: "ab".repeat(32),
        revoked_at: None,
        expires_at: None,
        created_at: 1,
        last_used_at: None,
    }
}

fn record(org: &str, id: &str, env: &str, status: u16, time: i64) -> RequestRecord {
    RequestRecord {
        id: id.into(),
        org_id: org.into(),
        time,
        env_id: Some(env.into()),
        key_id: Some("k1".into()),
        ingress: "chat_completions".into(),
        requested_model: Some("m".into()),
        status,
        error_code: (status >= 400).then(|| "upstream_error".into()),
        ..RequestRecord::default()
    }
}

async fn organizations_never_see_each_other(f: Fixture) {
    let s = &f.store;
    let a = s.ensure_org("a").await.unwrap();
    let b = s.ensure_org("b").await.unwrap();
    assert_eq!(
        s.ensure_org("a").await.unwrap().id,
        a.id,
        "ensure_org is idempotent"
    );
    let env_a = s
        .create_environment(&a.id, "prod", true, &["a.example.com".into()], &ctx())
        .await
        .unwrap();
    let env_b = s
        .create_environment(&b.id, "prod", false, &[], &ctx())
        .await
        .unwrap();
    let app_a = s
        .create_application(&a.id, &env_a.id, "checkout", &ctx())
        .await
        .unwrap();
    s.create_application(&b.id, &env_b.id, "checkout", &ctx())
        .await
        .unwrap();
    s.insert_key(&api_key(&a.id, &env_a.id, &app_a.id, "k1"), &ctx())
        .await
        .unwrap();
    s.put_secret(&a.id, &env_a.id, "openai", "sk-a", 5, &ctx())
        .await
        .unwrap();

    assert!(s.get_environment(&b.id, &env_a.id).await.unwrap().is_none());
    assert!(s.get_application(&b.id, &app_a.id).await.unwrap().is_none());
    assert!(s.get_key(&b.id, "k1").await.unwrap().is_none());
    assert!(s.list_keys(&b.id, None).await.unwrap().is_empty());
    assert!(s.list_secrets(&b.id, &env_a.id).await.unwrap().is_empty());
    assert!(s.reveal_secrets(&b.id, &env_a.id).await.unwrap().is_empty());
    assert!(
        !s.revoke_key(&b.id, "k1", 10, &ctx()).await.unwrap(),
        "another org cannot revoke"
    );
    assert!(matches!(
        s.create_application(&b.id, &env_a.id, "x", &ctx()).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.append_revision(&b.id, &env_a.id, "doc", "x", "m", None, &ctx())
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let envs: Vec<String> = s
        .list_environments(&a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(envs, ["prod"]);
    assert_eq!(s.list_all_environments().await.unwrap().len(), 2);
    assert_eq!(
        s.get_environment_by_name(&a.id, "prod")
            .await
            .unwrap()
            .unwrap()
            .hosts,
        ["a.example.com"]
    );
    s.insert_records(&[record(&a.id, "r1", &env_a.id, 200, 1)])
        .await
        .unwrap();
    assert!(s.get_record(&b.id, "r1").await.unwrap().is_none());
    assert!(
        s.search_records(
            &b.id,
            &RecordFilter {
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .records
        .is_empty()
    );
    assert!(
        s.list_audit(
            &b.id,
            AuditFilter {
                limit: 100,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .iter()
        .all(|e| e.org_id == b.id)
    );
}

async fn duplicates_are_conflicts(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let env = s
        .create_environment(&org.id, "dev", false, &["dev.example.com".into()], &ctx())
        .await
        .unwrap();
    assert!(matches!(
        s.create_environment(&org.id, "dev", false, &[], &ctx())
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(
        matches!(
            s.create_environment(
                &org.id,
                "other",
                false,
                &["DEV.example.com.".into()],
                &ctx()
            )
            .await,
            Err(StoreError::Conflict { .. })
        ),
        "a host belongs to one environment"
    );
    assert!(
        s.get_environment_by_name(&org.id, "other")
            .await
            .unwrap()
            .is_none(),
        "the failed create left nothing behind"
    );
    s.create_application(&org.id, &env.id, "web", &ctx())
        .await
        .unwrap();
    assert!(matches!(
        s.create_application(&org.id, &env.id, "web", &ctx()).await,
        Err(StoreError::Conflict { .. })
    ));
    let updated = s
        .update_environment(&org.id, &env.id, true, &["new.example.com".into()], &ctx())
        .await
        .unwrap();
    assert!(updated.protected);
    assert_eq!(updated.hosts, ["new.example.com"]);
}

async fn keys_are_stored_and_revoked(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let env = s
        .create_environment(&org.id, "dev", false, &[], &ctx())
        .await
        .unwrap();
    let app = s
        .create_application(&org.id, &env.id, "web", &ctx())
        .await
        .unwrap();
    s.insert_key(&api_key(&org.id, &env.id, &app.id, "k1"), &ctx())
        .await
        .unwrap();
    assert!(matches!(
        s.insert_key(&api_key(&org.id, &env.id, &app.id, "k1"), &ctx())
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.insert_key(&api_key(&org.id, &env.id, "no-such-app", "k2"), &ctx())
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let stored = s.get_key(&org.id, "k1").await.unwrap().unwrap();
    assert_eq!(stored.digest_hex, "ab".repeat(32));
    assert!(s.revoke_key(&org.id, "k1", 50, &ctx()).await.unwrap());
    assert!(
        !s.revoke_key(&org.id, "k1", 60, &ctx()).await.unwrap(),
        "revoking twice is a no-op"
    );
    assert_eq!(
        s.get_key(&org.id, "k1").await.unwrap().unwrap().revoked_at,
        Some(50)
    );
    s.mark_keys_used(&[("k1".into(), 70), ("k1".into(), 65)])
        .await
        .unwrap();
    assert_eq!(
        s.get_key(&org.id, "k1")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(70)
    );
    // Writing request records advances the key's last use in the same
    // transaction: never backwards, never another organization's key.
    let other = s.ensure_org("other").await.unwrap();
    let mut used = record(&org.id, "r-used-1", &env.id, 200, 90);
    used.key_id = Some("k1".into());
    let mut older = record(&org.id, "r-used-2", &env.id, 200, 60);
    older.key_id = Some("k1".into());
    let mut foreign = record(&other.id, "r-used-3", &env.id, 200, 500);
    foreign.key_id = Some("k1".into());
    s.insert_records(&[used, older, foreign]).await.unwrap();
    assert_eq!(
        s.get_key(&org.id, "k1")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(90)
    );
}

async fn secrets_are_sealed_versioned_and_bound(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let dev = s
        .create_environment(&org.id, "dev", false, &[], &ctx())
        .await
        .unwrap();
    let prod = s
        .create_environment(&org.id, "prod", false, &[], &ctx())
        .await
        .unwrap();
    let v1 = s
        .put_secret(&org.id, &dev.id, "openai", "sk-canary-one", 10, &ctx())
        .await
        .unwrap();
    let v2 = s
        .put_secret(&org.id, &dev.id, "openai", "sk-canary-two", 20, &ctx())
        .await
        .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_ne!(v1.fingerprint, v2.fingerprint);
    // The same credential in another environment is refused, naming where
    // it is in use, and accepted only with the (audited) override.
    let refused = s
        .put_secret(&org.id, &prod.id, "openai", "sk-canary-two", 30, &ctx())
        .await
        .unwrap_err();
    let StoreError::Conflict { what } = &refused else {
        panic!("expected a conflict, got {refused:?}");
    };
    assert!(what.contains("dev") && what.contains("openai") && !what.contains("canary"));
    let same = s
        .write_secret(
            &org.id,
            &prod.id,
            "openai",
            "sk-canary-two",
            SecretWrite {
                mode: SecretWriteMode::Set,
                allow_reuse: true,
            },
            30,
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(
        same.fingerprint, v2.fingerprint,
        "equal values have equal fingerprints across environments"
    );
    let listed = s.list_secrets(&org.id, &dev.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].version,
            listed[0].created_at,
            listed[0].updated_at
        ),
        (2, 10, 20)
    );
    let revealed = s.reveal_secrets(&org.id, &dev.id).await.unwrap();
    assert_eq!(revealed["openai"].expose(), "sk-canary-two");
    assert!(!format!("{revealed:?}").contains("canary"));
    let events = s
        .list_audit(
            &org.id,
            AuditFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        !serde_json::to_string(&events).unwrap().contains("canary"),
        "audit never holds secret values"
    );

    // The same database opened with another master key cannot read them, and says which secret.
    let other = Store::open(&f.url, MasterKey::generate()).await.unwrap();
    let error = other.reveal_secrets(&org.id, &dev.id).await.unwrap_err();
    assert!(matches!(error, StoreError::MasterKeyMismatch { .. }));
    assert!(error.to_string().contains("openai") && !error.to_string().contains("canary"));
    other.close().await;
}

async fn revisions_number_and_chain(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let env = s
        .create_environment(&org.id, "dev", false, &[], &ctx())
        .await
        .unwrap();
    assert!(s.latest_revision(&org.id, &env.id).await.unwrap().is_none());
    let r1 = s
        .append_revision(
            &org.id,
            &env.id,
            "a: 1\n",
            "alice",
            "first",
            Some(0),
            &ctx(),
        )
        .await
        .unwrap();
    let r2 = s
        .append_revision(&org.id, &env.id, "a: 2\n", "bob", "second", None, &ctx())
        .await
        .unwrap();
    assert_eq!((r1.revision, r2.revision), (1, 2));
    assert_eq!(r1.parent_hash, "");
    assert_eq!(r2.parent_hash, r1.hash);
    assert!(matches!(
        s.append_revision(
            &org.id,
            &env.id,
            "a: 3\n",
            "carol",
            "stale",
            Some(1),
            &ctx()
        )
        .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        s.latest_revision(&org.id, &env.id)
            .await
            .unwrap()
            .unwrap()
            .document,
        "a: 2\n"
    );
    assert_eq!(
        s.get_revision(&org.id, &env.id, 1)
            .await
            .unwrap()
            .unwrap()
            .message,
        "first"
    );
    let history: Vec<i64> = s
        .list_revisions(&org.id, &env.id)
        .await
        .unwrap()
        .iter()
        .map(|r| r.revision)
        .collect();
    assert_eq!(history, [2, 1]);
    let latest = s.latest_revisions_all().await.unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].revision, 2);
}

async fn audit_chain_holds_under_concurrency_and_detects_tampering(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let env = s
        .create_environment(&org.id, "dev", false, &[], &ctx())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (s, org, env) = (s.clone(), org.id.clone(), env.id.clone());
        tasks.push(tokio::spawn(async move {
            s.create_application(&org, &env, &format!("app-{i}"), &ctx())
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let verified = s.verify_audit_chain(&org.id).await.unwrap();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.events, 42, "org + environment + 40 applications");
    let events = s
        .list_audit(
            &org.id,
            AuditFilter {
                action: Some("application.create".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 40);
    assert_eq!(events[0].actor, "op-1");
    assert_eq!(events[0].source_addr.as_deref(), Some("127.0.0.1"));

    // Rewrite history directly in the database: verification finds it.
    let fifth = s
        .list_audit(
            &org.id,
            AuditFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.seq == 5)
        .unwrap();
    tamper_with_audit(&f.url, &org.id).await;
    let verified = s.verify_audit_chain(&org.id).await.unwrap();
    assert!(!verified.ok);
    assert_eq!(verified.first_bad_seq, Some(5));
    assert_eq!(verified.first_bad_id, Some(fifth.id));
}

async fn tamper_with_audit(url: &str, org_id: &str) {
    use sqlx::Connection as _;
    let sql = "UPDATE audit_events SET actor = 'mallory' WHERE org_id = $1 AND seq = 5";
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql).bind(org_id).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).bind(org_id).execute(&mut c).await.unwrap();
    }
}

async fn records_insert_idempotently_and_page(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let records: Vec<RequestRecord> = (0..450)
        .map(|i| {
            record(
                &org.id,
                &format!("01900000-0000-7000-8000-{i:012}"),
                if i % 2 == 0 { "e1" } else { "e2" },
                if i % 10 == 0 { 502 } else { 200 },
                1000 + i,
            )
        })
        .collect();
    s.insert_records(&records).await.unwrap();
    s.insert_records(&records[..100]).await.unwrap(); // a replay duplicates nothing
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .search_records(
                &org.id,
                &RecordFilter {
                    env_id: Some("e1".into()),
                    cursor: cursor.clone(),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        seen.extend(page.records.iter().map(|r| r.id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 225);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        seen, sorted,
        "newest first, no gaps or repeats across pages"
    );
    let failed = s
        .search_records(
            &org.id,
            &RecordFilter {
                status: Some(502),
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(failed.records.len(), 45);
    assert!(
        failed
            .records
            .iter()
            .all(|r| r.error_code.as_deref() == Some("upstream_error"))
    );
    let window = s
        .search_records(
            &org.id,
            &RecordFilter {
                since: Some(1100),
                until: Some(1110),
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(window.records.len(), 10);
    let by_code = s
        .search_records(
            &org.id,
            &RecordFilter {
                error_code: Some("upstream_error".into()),
                model: Some("m".into()),
                key_id: Some("k1".into()),
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_code.records.len(), 45);
    let one = s
        .get_record(&org.id, &records[7].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one, records[7]);
}

async fn records_are_found_by_provider_policy_and_latency(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let records: Vec<RequestRecord> = (0..60)
        .map(|i| {
            let mut r = record(
                &org.id,
                &format!("01900000-0000-7000-8000-{i:012}"),
                "e1",
                200,
                1000 + i,
            );
            r.provider = Some(if i % 3 == 0 { "backup" } else { "primary" }.into());
            r.latency_ms = i * 10;
            r.policy = (i % 4 != 0).then(|| sentinel_core::PolicyOutcome {
                decision: if i % 4 == 1 { "denied" } else { "allowed" }.into(),
                ..Default::default()
            });
            r
        })
        .collect();
    s.insert_records(&records).await.unwrap();
    let org_id = org.id.as_str();
    let search = |filter: RecordFilter| async move {
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let page = s
                .search_records(
                    org_id,
                    &RecordFilter {
                        cursor: cursor.clone(),
                        limit: 7,
                        ..filter.clone()
                    },
                )
                .await
                .unwrap();
            ids.extend(page.records.into_iter().map(|r| r.time - 1000));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return ids,
            }
        }
    };
    let expect =
        |keep: &dyn Fn(i64) -> bool| (0..60).rev().filter(|i| keep(*i)).collect::<Vec<i64>>();
    assert_eq!(
        search(RecordFilter {
            provider: Some("backup".into()),
            ..Default::default()
        })
        .await,
        expect(&|i| i % 3 == 0)
    );
    assert_eq!(
        search(RecordFilter {
            policy_decision: Some("denied".into()),
            ..Default::default()
        })
        .await,
        expect(&|i| i % 4 == 1)
    );
    assert_eq!(
        search(RecordFilter {
            min_latency_ms: Some(455),
            ..Default::default()
        })
        .await,
        expect(&|i| i * 10 >= 455)
    );
    assert_eq!(
        search(RecordFilter {
            provider: Some("primary".into()),
            policy_decision: Some("allowed".into()),
            min_latency_ms: Some(100),
            ..Default::default()
        })
        .await,
        expect(&|i| i % 3 != 0 && i % 4 >= 2 && i >= 10)
    );
}

async fn changes_are_published(f: Fixture) {
    let s = &f.store;
    let mut changes = s.subscribe_changes();
    let before = *changes.borrow_and_update();
    let org = s.ensure_org("default").await.unwrap();
    s.create_environment(&org.id, "dev", false, &[], &ctx())
        .await
        .unwrap();
    assert!(changes.has_changed().unwrap());
    assert!(*changes.borrow() > before);
    let seen = *changes.borrow_and_update();
    s.insert_records(&[record(&org.id, "r", "e", 200, 1)])
        .await
        .unwrap();
    assert_eq!(
        *changes.borrow(),
        seen,
        "request records are not configuration changes"
    );
    s.append_audit_event(
        &org.id,
        &ctx(),
        "operator.login_failed",
        "operator/unknown",
        None,
        serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(
        *changes.borrow(),
        seen,
        "audit events of reads and failed logins are not configuration changes"
    );
}

async fn operators_are_found_by_token_digest(f: Fixture) {
    let s = &f.store;
    assert_eq!(s.count_operators().await.unwrap(), 0);
    let org = s.ensure_org("default").await.unwrap();
    let op = s
        .create_operator(&org.id, "admin", Role::Admin, &"cd".repeat(32), &ctx())
        .await
        .unwrap();
    assert_eq!(s.count_operators().await.unwrap(), 1);
    assert_eq!(
        s.find_operator_by_token_digest(&"cd".repeat(32))
            .await
            .unwrap()
            .unwrap()
            .id,
        op.id
    );
    assert!(
        s.find_operator_by_token_digest(&"ef".repeat(32))
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        s.create_operator(&org.id, "again", Role::Auditor, &"cd".repeat(32), &ctx())
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(s.list_operators(&org.id).await.unwrap().len(), 1);
    assert!(s.ping().await.is_ok());
}

async fn operators_hold_grants_and_are_revoked(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let other = s.ensure_org("other").await.unwrap();
    let dev = s
        .create_environment(&org.id, "dev", false, &[], &ctx())
        .await
        .unwrap();
    let theirs = s
        .create_environment(&other.id, "dev", false, &[], &ctx())
        .await
        .unwrap();
    let on = |env: &sentinel_core::Environment, role| Grant {
        role,
        env_id: Some(env.id.clone()),
        env_name: Some(env.name.clone()),
    };
    let grants = [on(&dev, Role::Operator), Grant::everywhere(Role::Auditor)];
    let op = s
        .create_operator_with(
            &org.id,
            &NewOperator {
                name: "dana",
                grants: &grants,
                platform_admin: false,
                token_digest_hex: &"ab".repeat(32),
            },
            &ctx(),
        )
        .await
        .unwrap();
    let found = s
        .find_operator_by_token_digest(&"ab".repeat(32))
        .await
        .unwrap()
        .unwrap();
    // Org-wide grants first, then by environment name.
    assert_eq!(found.grants, [grants[1].clone(), grants[0].clone()]);
    assert!(!found.platform_admin);

    // A grant on another organization's environment is refused as absent,
    // and nothing of the failed change remains.
    let refused = s
        .set_operator_grants(&org.id, &op.id, &[on(&theirs, Role::Admin)], &ctx())
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound { .. })),
        "{refused:?}"
    );
    assert_eq!(
        s.get_operator(&org.id, &op.id)
            .await
            .unwrap()
            .unwrap()
            .grants
            .len(),
        2
    );
    // Another organization's operator id is absent.
    assert!(s.get_operator(&other.id, &op.id).await.unwrap().is_none());
    assert!(matches!(
        s.revoke_operator(&other.id, &op.id, &ctx()).await,
        Err(StoreError::NotFound { .. })
    ));

    let changed = s
        .set_operator_grants(
            &org.id,
            &op.id,
            &[Grant::everywhere(Role::Approver)],
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(changed.grants, [Grant::everywhere(Role::Approver)]);
    let revoked = s.revoke_operator(&org.id, &op.id, &ctx()).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(
        s.find_operator_by_token_digest(&"ab".repeat(32))
            .await
            .unwrap()
            .is_none()
    );
    // Revoking again changes nothing and writes no second event.
    s.revoke_operator(&org.id, &op.id, &ctx()).await.unwrap();
    let actions: Vec<String> = s
        .list_audit(
            &org.id,
            AuditFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.starts_with("operator."))
            .collect::<Vec<_>>(),
        ["operator.revoke", "operator.grants", "operator.create"]
    );

    // A new organization comes with its first admin, audited on both sides.
    let admin = [Grant::everywhere(Role::Admin)];
    let (acme, first) = s
        .create_org(
            "acme",
            &NewOperator {
                name: "admin",
                grants: &admin,
                platform_admin: false,
                token_digest_hex: &"cd".repeat(32),
            },
            &org.id,
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(first.org_id, acme.id);
    assert_eq!(s.list_operators(&acme.id).await.unwrap()[0].grants, admin);
    assert!(s.verify_audit_chain(&acme.id).await.unwrap().ok);
    assert!(matches!(
        s.create_org(
            "acme",
            &NewOperator {
                name: "admin",
                grants: &admin,
                platform_admin: false,
                token_digest_hex: &"ef".repeat(32),
            },
            &org.id,
            &ctx(),
        )
        .await,
        Err(StoreError::Conflict { .. })
    ));
}

fn write(mode: SecretWriteMode) -> SecretWrite {
    SecretWrite {
        mode,
        allow_reuse: false,
    }
}

async fn audit_actions(s: &Store, org_id: &str) -> Vec<(String, String)> {
    s.list_audit(
        org_id,
        AuditFilter {
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| (e.action, e.details.to_string()))
    .collect()
}

async fn rotation_retires_the_previous_version(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let dev = s
        .create_environment(&org.id, "dev", false, &[], &ctx())
        .await
        .unwrap();
    let missing = s
        .write_secret(
            &org.id,
            &dev.id,
            "openai",
            "sk-canary-a",
            write(SecretWriteMode::Rotate),
            5,
            &ctx(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { .. }),
        "{missing:?}"
    );
    s.put_secret(&org.id, &dev.id, "openai", "sk-canary-a", 10, &ctx())
        .await
        .unwrap();
    let rotated = s
        .write_secret(
            &org.id,
            &dev.id,
            "openai",
            "sk-canary-b",
            write(SecretWriteMode::Rotate),
            20,
            &ctx(),
        )
        .await
        .unwrap();
    assert_eq!(rotated.version, 2);
    let versions = s
        .list_secret_versions(&org.id, &dev.id, "openai")
        .await
        .unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version, v.created_at, v.retired_at))
            .collect::<Vec<_>>(),
        vec![(2, 20, None), (1, 10, Some(20))]
    );
    assert_eq!(
        s.reveal_secrets(&org.id, &dev.id).await.unwrap()["openai"].expose(),
        "sk-canary-b"
    );
    // A retired value no longer blocks its reuse elsewhere; a current one does.
    let prod = s
        .create_environment(&org.id, "prod", false, &[], &ctx())
        .await
        .unwrap();
    s.put_secret(&org.id, &prod.id, "openai", "sk-canary-a", 30, &ctx())
        .await
        .unwrap();
    assert!(matches!(
        s.write_secret(
            &org.id,
            &prod.id,
            "openai",
            "sk-canary-b",
            write(SecretWriteMode::Rotate),
            40,
            &ctx()
        )
        .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        s.list_secret_versions(&org.id, &dev.id, "nope").await,
        Err(StoreError::NotFound { .. })
    ));
    let actions = audit_actions(s, &org.id).await;
    let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert!(names.contains(&"secret.set") && names.contains(&"secret.rotate"));
    assert!(!format!("{actions:?}").contains("canary"));
}

async fn master_key_rotation_rewraps_and_resumes(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let mut envs = Vec::new();
    for name in ["dev", "staging", "prod"] {
        let env = s
            .create_environment(&org.id, name, false, &[], &ctx())
            .await
            .unwrap();
        s.put_secret(
            &org.id,
            &env.id,
            "openai",
            &format!("sk-canary-{name}-1"),
            10,
            &ctx(),
        )
        .await
        .unwrap();
        s.put_secret(
            &org.id,
            &env.id,
            "openai",
            &format!("sk-canary-{name}-2"),
            20,
            &ctx(),
        )
        .await
        .unwrap();
        envs.push(env);
    }
    // One row wrapped under a third key stands for a row the run cannot
    // open: the run stops there, after committing the batches before it.
    let stray_key = MasterKey::generate();
    let stray = Store::open(&f.url, stray_key.clone()).await.unwrap();
    let odd = s
        .create_environment(&org.id, "odd", false, &[], &ctx())
        .await
        .unwrap();
    stray
        .put_secret(&org.id, &odd.id, "anthropic", "sk-canary-odd", 30, &ctx())
        .await
        .unwrap();
    let before = s.list_secrets(&org.id, &envs[0].id).await.unwrap();

    let new_key = MasterKey::generate();
    assert!(matches!(
        s.rotate_master_key(&key(), 1, &ctx()).await,
        Err(StoreError::InvalidMasterKey(_))
    ));
    let error = s.rotate_master_key(&new_key, 1, &ctx()).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::MasterKeyMismatch { name, .. } if name == "anthropic"),
        "{error:?}"
    );
    let ids = s.secret_key_ids().await.unwrap();
    assert!(ids.contains(&(Some(new_key.key_id()), 6)), "{ids:?}");
    assert!(ids.contains(&(Some(stray_key.key_id()), 1)), "{ids:?}");

    // Resumed with the key the remaining row is under: only that row moves.
    let report = stray
        .rotate_master_key(&new_key, 100, &ctx())
        .await
        .unwrap();
    assert_eq!((report.rewrapped, report.already), (1, 6));
    assert_eq!(
        s.secret_key_ids().await.unwrap(),
        vec![(Some(new_key.key_id()), 7)]
    );
    // Running it again does nothing.
    let again = s.rotate_master_key(&new_key, 100, &ctx()).await.unwrap();
    assert_eq!((again.rewrapped, again.already), (0, 7));
    stray.close().await;

    // Under the new key every current value opens, and the old key opens none.
    let rotated = Store::open(&f.url, new_key.clone()).await.unwrap();
    for (env, name) in envs.iter().zip(["dev", "staging", "prod"]) {
        assert_eq!(
            rotated.reveal_secrets(&org.id, &env.id).await.unwrap()["openai"].expose(),
            format!("sk-canary-{name}-2")
        );
        assert!(matches!(
            s.reveal_secrets(&org.id, &env.id).await,
            Err(StoreError::MasterKeyMismatch { .. })
        ));
    }
    // Fingerprints are recomputed under the new key: still equal for equal
    // values, so reuse is still detected after the rotation.
    let after = rotated.list_secrets(&org.id, &envs[0].id).await.unwrap();
    assert_ne!(before[0].fingerprint, after[0].fingerprint);
    assert!(matches!(
        rotated
            .put_secret(&org.id, &odd.id, "openai", "sk-canary-dev-2", 40, &ctx())
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let actions = audit_actions(&rotated, &org.id).await;
    let rotations: Vec<_> = actions
        .iter()
        .filter(|(a, _)| a == "secrets.master_key_rotated")
        .collect();
    assert_eq!(rotations.len(), 7, "one event per batch: {actions:?}");
    assert!(rotations[0].1.contains(&new_key.key_id()));
    assert!(!format!("{actions:?}").contains("canary"));
    assert!(rotated.verify_audit_chain(&org.id).await.unwrap().ok);
    rotated.close().await;
}

/// Change requests: numbered per environment, scoped to their organization,
/// made stale by any newer revision, and applied by exactly one of two
/// racing applies.
async fn change_requests_go_stale_and_stay_in_their_organization(f: Fixture) {
    use sentinel_core::{ChangeKind, ChangeStatus};
    use sentinel_store::{ApplyOutcome, NewChange};

    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let other = s.ensure_org("other").await.unwrap();
    let env = s
        .create_environment(&org.id, "prod", true, &[], &ctx())
        .await
        .unwrap();
    let new = |document: &'static str| NewChange {
        kind: ChangeKind::Apply,
        document,
        message: "m",
        author_id: "op-1",
        author: "alice",
        base_revision: None,
        source_env: None,
        source_revision: None,
        apply_now: false,
    };
    let (first, applied) = s
        .propose_change(&org.id, &env.id, &new("a: 1\n"), &ctx())
        .await
        .unwrap();
    assert!(applied.is_none());
    assert_eq!((first.number, first.status), (1, ChangeStatus::Pending));
    let (second, _) = s
        .propose_change(&org.id, &env.id, &new("a: 2\n"), &ctx())
        .await
        .unwrap();
    assert_eq!(second.number, 2);

    // Another organization sees nothing and changes nothing.
    assert!(s.get_change(&other.id, &env.id, 1).await.unwrap().is_none());
    assert!(
        s.list_changes(&other.id, &env.id, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        s.approve_change(&other.id, &env.id, 1, "op-2", "bob", &ctx())
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.propose_change(&other.id, &env.id, &new("a: 3\n"), &ctx())
            .await,
        Err(StoreError::NotFound { .. })
    ));

    // Unapproved requests are refused in a protected environment.
    assert!(matches!(
        s.apply_change(&org.id, &env.id, 1, true, "alice", &ctx())
            .await,
        Err(StoreError::Conflict { .. })
    ));
    s.approve_change(&org.id, &env.id, 1, "op-2", "bob", &ctx())
        .await
        .unwrap();
    s.approve_change(&org.id, &env.id, 2, "op-2", "bob", &ctx())
        .await
        .unwrap();
    let audit = ctx();
    let (one, two) = tokio::join!(
        s.apply_change(&org.id, &env.id, 1, true, "alice", &audit),
        s.apply_change(&org.id, &env.id, 2, true, "alice", &audit),
    );
    let outcomes = [one.unwrap(), two.unwrap()];
    let applied = outcomes
        .iter()
        .filter(|o| matches!(o, ApplyOutcome::Applied { .. }))
        .count();
    let stale = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                ApplyOutcome::Stale {
                    current_revision: 1,
                    ..
                }
            )
        })
        .count();
    assert_eq!((applied, stale), (1, 1));

    // A direct revision makes every pending request stale.
    let (third, _) = s
        .propose_change(&org.id, &env.id, &new("a: 4\n"), &ctx())
        .await
        .unwrap();
    assert_eq!(third.base_revision, 1);
    s.append_revision(&org.id, &env.id, "a: 5\n", "carol", "direct", None, &ctx())
        .await
        .unwrap();
    let third = s.get_change(&org.id, &env.id, 3).await.unwrap().unwrap();
    assert_eq!(third.status, ChangeStatus::Stale);
    assert_eq!(
        third.reason.as_deref(),
        Some("planned against revision 1, but the current revision is 2")
    );
    let pending = s
        .list_changes(&org.id, &env.id, Some(ChangeStatus::Pending))
        .await
        .unwrap();
    assert!(pending.is_empty());
    assert_eq!(
        s.list_changes(&org.id, &env.id, None).await.unwrap().len(),
        3
    );
    assert!(s.verify_audit_chain(&org.id).await.unwrap().ok);
}

fn verify_run(id: &str, env_id: &str, started_at: i64, ok: bool) -> VerifyRun {
    VerifyRun {
        id: id.into(),
        env_id: env_id.into(),
        actor: "alice".into(),
        started_at,
        duration_ms: 1234,
        ok,
        steps: vec![
            VerifyStep {
                kind: VerifyStepKind::Fallback,
                name: "fallback through route plan chat".into(),
                ok,
                duration_ms: 12,
                detail: "a/m1 failed (forced) -> b/m2 ok 200".into(),
                request_id: Some("req-1".into()),
            },
            VerifyStep {
                kind: VerifyStepKind::Cleanup,
                name: "cleanup".into(),
                ok: true,
                duration_ms: 3,
                detail: "revoked 2 keys".into(),
                request_id: None,
            },
        ],
    }
}

/// Runs are kept; the latest of an environment is read back whole, and
/// never another environment's or organization's.
async fn verify_runs_keep_the_latest_per_environment(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let other_org = s.ensure_org("other").await.unwrap();
    let staging = s
        .create_environment(&org.id, "staging", false, &[], &ctx())
        .await
        .unwrap();
    let prod = s
        .create_environment(&org.id, "prod", false, &[], &ctx())
        .await
        .unwrap();
    assert_eq!(
        s.latest_verify_run(&org.id, &staging.id).await.unwrap(),
        None
    );

    let older = verify_run("run-1", &staging.id, 1_000, false);
    let newer = verify_run("run-2", &staging.id, 2_000, true);
    s.insert_verify_run(&org.id, &older, &ctx()).await.unwrap();
    s.insert_verify_run(&org.id, &newer, &ctx()).await.unwrap();
    assert_eq!(
        s.latest_verify_run(&org.id, &staging.id).await.unwrap(),
        Some(newer)
    );
    assert_eq!(s.latest_verify_run(&org.id, &prod.id).await.unwrap(), None);
    assert_eq!(
        s.latest_verify_run(&other_org.id, &staging.id)
            .await
            .unwrap(),
        None
    );

    // Each run is audited, with its ok flag and the steps that failed.
    let events = s
        .list_audit(
            &org.id,
            AuditFilter {
                action: Some("environment.verify".into()),
                limit: 100,
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    let first = events.iter().find(|e| e.target == "verify/run-1").unwrap();
    assert_eq!(first.details["ok"], false);
    assert_eq!(
        first.details["failed"],
        serde_json::json!(["fallback through route plan chat"])
    );
    assert!(s.verify_audit_chain(&org.id).await.unwrap().ok);
}

/// A record with every field that has a column set (and more) reads back
/// whole however it is read: its row splits it into columns and JSON.
async fn a_record_with_every_column_reads_back_whole(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap();
    let record = RequestRecord {
        env_name: Some("prod".into()),
        app_id: Some("a1".into()),
        app_name: Some("web".into()),
        provider: Some("openai".into()),
        upstream_model: Some("gpt-4o".into()),
        upstream_status: Some(502),
        error_detail: Some("provider openai answered 502".into()),
        latency_ms: 41,
        ttfb_ms: Some(40),
        cost_micros: Some(12),
        prompt_tokens: Some(3),
        policy: Some(sentinel_core::PolicyOutcome {
            decision: "allowed".into(),
            ..Default::default()
        }),
        ..record(
            &org.id,
            "01900000-0000-7000-8000-000000000042",
            "e1",
            502,
            5000,
        )
    };
    s.insert_records(std::slice::from_ref(&record))
        .await
        .unwrap();
    assert_eq!(
        s.get_record(&org.id, &record.id).await.unwrap(),
        Some(record.clone())
    );
    let page = s
        .search_records(
            &org.id,
            &RecordFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.records, std::slice::from_ref(&record));
    let window = s.records_in_window(&org.id, "e1", 0).await.unwrap();
    assert_eq!(window, [record]);
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[tokio::test] async fn $name() { super::$name(super::sqlite().await).await; } )*
        }
        mod on_postgres {
            $( #[tokio::test] async fn $name() { super::$name(super::postgres().await).await; } )*
        }
    };
}

on_both!(
    organizations_never_see_each_other,
    duplicates_are_conflicts,
    keys_are_stored_and_revoked,
    secrets_are_sealed_versioned_and_bound,
    revisions_number_and_chain,
    audit_chain_holds_under_concurrency_and_detects_tampering,
    records_insert_idempotently_and_page,
    records_are_found_by_provider_policy_and_latency,
    changes_are_published,
    operators_are_found_by_token_digest,
    operators_hold_grants_and_are_revoked,
    rotation_retires_the_previous_version,
    master_key_rotation_rewraps_and_resumes,
    change_requests_go_stale_and_stay_in_their_organization,
    verify_runs_keep_the_latest_per_environment,
    a_record_with_every_column_reads_back_whole,
);
