//! Request record search: filters and cursor pages.

use axum::http::StatusCode;
use sentinel_core::RequestRecord;

use crate::support::*;

crate::on_both_stores!(request_search_filters_and_pages,);

fn record(
    h: &Harness,
    n: i64,
    env: &(String, String),
    app: &(String, String),
    status: u16,
    model: &str,
) -> RequestRecord {
    RequestRecord {
        id: format!("0190f0a0-0000-7000-8000-{n:012}"),
        org_id: h.org.id.clone(),
        time: 1_700_000_000_000 + n * 1000,
        env_id: Some(env.0.clone()),
        env_name: Some(env.1.clone()),
        app_id: Some(app.0.clone()),
        app_name: Some(app.1.clone()),
        key_id: Some(format!("{n:016x}")),
        ingress: "chat_completions".into(),
        requested_model: Some(model.into()),
        status,
        error_code: (status >= 400).then(|| {
            if status == 504 {
                "upstream_timeout"
            } else {
                "upstream_error"
            }
            .into()
        }),
        latency_ms: 10 + n,
        ..RequestRecord::default()
    }
}

async fn request_search_filters_and_pages(h: &Harness) {
    h.env_with_app("dev", "checkout").await;
    h.env_with_app("prod", "search").await;
    let mut ids = std::collections::HashMap::new();
    for (env, app) in [("dev", "checkout"), ("prod", "search")] {
        let e = h
            .store
            .get_environment_by_name(&h.org.id, env)
            .await
            .unwrap()
            .unwrap();
        let a = h
            .store
            .get_application_by_name(&h.org.id, &e.id, app)
            .await
            .unwrap()
            .unwrap();
        ids.insert(env, ((e.id, env.to_owned()), (a.id, app.to_owned())));
    }
    let (dev, checkout) = &ids["dev"];
    let (prod, search) = &ids["prod"];
    let records = vec![
        record(h, 1, dev, checkout, 200, "gpt-4o-mini"),
        record(h, 2, dev, checkout, 502, "gpt-4o-mini"),
        record(h, 3, dev, checkout, 200, "chat-default"),
        record(h, 4, prod, search, 504, "gpt-4o-mini"),
        record(h, 5, prod, search, 200, "gpt-4o-mini"),
        record(h, 6, dev, checkout, 200, "gpt-4o-mini"),
        record(h, 7, dev, checkout, 502, "chat-default"),
    ];
    h.store.insert_records(&records).await.unwrap();

    let found = |a: &Answer| -> Vec<String> {
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        a.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["id"].as_str().unwrap()[24..]
                    .trim_start_matches('0')
                    .to_owned()
            })
            .collect()
    };
    let q = |query: &str| format!("/api/v1/requests?{query}");
    assert_eq!(
        found(&h.get(&q(""), &h.auditor).await),
        ["7", "6", "5", "4", "3", "2", "1"]
    );
    assert_eq!(found(&h.get(&q("env=prod"), &h.auditor).await), ["5", "4"]);
    assert_eq!(
        found(
            &h.get(&q("env=dev&app=checkout&status=502"), &h.auditor)
                .await
        ),
        ["7", "2"]
    );
    assert_eq!(
        found(&h.get(&q("error_code=upstream_timeout"), &h.auditor).await),
        ["4"]
    );
    assert_eq!(
        found(&h.get(&q("model=chat-default"), &h.auditor).await),
        ["7", "3"]
    );
    assert_eq!(
        found(&h.get(&q(&format!("key={:016x}", 3)), &h.auditor).await),
        ["3"]
    );
    assert_eq!(
        found(
            &h.get(&q("since=1700000003000&until=1700000005000"), &h.auditor)
                .await
        ),
        ["4", "3"],
        "since is inclusive, until exclusive"
    );
    assert_eq!(
        found(&h.get(&q("since=2023-11-14T22:13:24Z"), &h.auditor).await),
        ["7", "6", "5", "4"],
        "RFC 3339 times"
    );

    // Pages of two, newest first, with no gap and no repeat.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => q(&format!("limit=2&cursor={c}")),
            None => q("limit=2"),
        };
        let a = h.get(&path, &h.auditor).await;
        let page = found(&a);
        assert!(page.len() <= 2);
        seen.extend(page);
        match a.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["7", "6", "5", "4", "3", "2", "1"]);

    // One record, with everything operators triage by.
    let a = h
        .get(&format!("/api/v1/requests/{}", records[1].id), &h.auditor)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["status"], 502);
    assert_eq!(a.json["error_code"], "upstream_error");
    assert_eq!(a.json["app_name"], "checkout");
    assert_eq!(
        h.get("/api/v1/requests/nope", &h.auditor).await.status,
        StatusCode::NOT_FOUND
    );

    // Bad filters say what is wrong.
    for query in [
        "limit=0",
        "limit=501",
        "since=yesterday",
        "status=abc",
        "app=checkout",
        "bogus=1",
    ] {
        let a = h.get(&q(query), &h.auditor).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{query}: {}",
            a.text
        );
    }
    assert_eq!(
        h.get(&q("env=nope"), &h.auditor).await.status,
        StatusCode::NOT_FOUND
    );
}
