//! The harness for the console's API tests: a router over a real store
//! (temporary SQLite file or a fresh PostgreSQL database), operators of
//! every role, and a request helper that checks what every answer must
//! carry.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Method, Request, StatusCode},
};
use http_body_util::BodyExt as _;
use sentinel_console::{ConsoleDeps, REQUEST_ID_HEADER, new_operator_token, router};
use sentinel_core::{Organization, Role};
use sentinel_providers::ProviderRegistry;
use sentinel_store::{AuditContext, MasterKey, Store};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// A document that compiles with the standard registry.
pub const VALID_DOC: &str = "providers:\n  mock-a:\n    kind: mock\nroute_plans:\n  chat:\n    models: [chat-default]\n    targets:\n      - provider: mock-a\n        model: echo\n";

/// A document with two problems: an unknown kind and a missing provider.
pub const INVALID_DOC: &str = "providers:\n  bad:\n    kind: no-such-kind\nroute_plans:\n  chat:\n    models: [chat-default]\n    targets:\n      - provider: missing\n        model: echo\n";

/// The source address requests come from unless a test says otherwise.
const DEFAULT_ADDR: [u8; 4] = [192, 0, 2, 7];

pub struct Harness {
    pub store: Store,
    /// The store's URL, for tests that change rows behind the store's back.
    pub url: String,
    pub router: Router,
    pub org: Organization,
    pub admin: String,
    pub operator: String,
    pub approver: String,
    pub auditor: String,
    _keep: Keep,
}

/// What must outlive the harness: the SQLite directory or the database.
enum Keep {
    Dir {
        _dir: tempfile::TempDir,
    },
    Pg {
        _db: sentinel_testkit::postgres::TestDatabase,
    },
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Answer {
    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

pub fn system() -> AuditContext {
    AuditContext {
        actor: "system".into(),
        source_addr: None,
        request_id: None,
    }
}

/// Adds an operator of `role` to `org_id`, straight through the store.
pub async fn add_operator(store: &Store, org_id: &str, name: &str, role: Role) -> String {
    let (token, digest) = new_operator_token();
    store
        .create_operator(org_id, name, role, &digest, &system())
        .await
        .unwrap();
    token
}

impl Harness {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("sentinel.db").display()
        );
        let store = Store::open(&url, MasterKey::generate()).await.unwrap();
        Self::with_store(store, url, Keep::Dir { _dir: dir }).await
    }

    pub async fn postgres() -> Self {
        let db = sentinel_testkit::postgres::TestDatabase::create().await;
        let store = Store::open(&db.url, MasterKey::generate()).await.unwrap();
        let url = db.url.clone();
        Self::with_store(store, url, Keep::Pg { _db: db }).await
    }

    async fn with_store(store: Store, url: String, keep: Keep) -> Self {
        let org = store.ensure_org("default").await.unwrap();
        let admin = add_operator(&store, &org.id, "alice", Role::Admin).await;
        let operator = add_operator(&store, &org.id, "olga", Role::Operator).await;
        let approver = add_operator(&store, &org.id, "aaron", Role::Approver).await;
        let auditor = add_operator(&store, &org.id, "audrey", Role::Auditor).await;
        let router = router(ConsoleDeps {
            store: store.clone(),
            registry: Arc::new(ProviderRegistry::standard()),
            readiness: Arc::new(|| {
                Box::pin(async { (StatusCode::OK, json!({"status": "ready"})) })
            }),
            provider_health: Arc::new(Vec::new),
            explain: Arc::new(|_, _, _, _| {
                Box::pin(async { Err("no gateway in console tests".to_owned()) })
            }),
            metrics: Arc::new(|| "sentinel_build_info{version=\"test\"} 1\n".to_owned()),
            provider_tests: sentinel_console::ProviderTests::unavailable(
                "no gateway in console tests",
            ),
            verify: sentinel_console::VerifyGateway::unavailable("no gateway in console tests"),
            docs_base_url: sentinel_console::DEFAULT_DOCS_BASE_URL.to_owned(),
            server_facts: sentinel_review::ServerFacts::unknown("test"),
        });
        Self {
            store,
            url,
            router,
            org,
            admin,
            operator,
            approver,
            auditor,
            _keep: keep,
        }
    }

    /// Sends one request and checks the request id every answer carries.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let body = body.map(|b| b.to_string());
        self.raw(method, path, token, body.map(String::into_bytes))
            .await
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Answer {
        self.raw_from(DEFAULT_ADDR, method, path, token, body).await
    }

    /// [`Harness::call`] from another source address.
    pub async fn call_from(
        &self,
        addr: [u8; 4],
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let body = body.map(|b| b.to_string().into_bytes());
        self.raw_from(addr, method, path, token, body).await
    }

    async fn raw_from(
        &self,
        addr: [u8; 4],
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Answer {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(auth) = &auth {
            headers.push(("authorization", auth.as_str()));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        self.send_from(addr, method, path, &headers, body).await
    }

    /// Sends one request with exactly these headers (cookies, CSRF token,
    /// forwarded scheme…) and checks what every answer carries.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        self.send_from(DEFAULT_ADDR, method, path, headers, body)
            .await
    }

    async fn send_from(
        &self,
        addr: [u8; 4],
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(Body::from(body.unwrap_or_default())).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((addr, 41000))));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        let request_id = headers
            .get(REQUEST_ID_HEADER)
            .unwrap_or_else(|| panic!("{method} {path}: no {REQUEST_ID_HEADER}"))
            .to_str()
            .unwrap();
        let id = uuid::Uuid::parse_str(request_id).unwrap();
        assert_eq!(id.get_version_num(), 7, "request ids are UUIDv7");
        if !status.is_success() && !status.is_redirection() && path != "/readyz" {
            assert_eq!(
                json["error"]["request_id"], request_id,
                "{method} {path}: {text}"
            );
            assert!(json["error"]["code"].is_string(), "{method} {path}: {text}");
            assert!(
                json["error"]["message"].is_string(),
                "{method} {path}: {text}"
            );
        }
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// Creates environment `env` with application `app` as the admin.
    pub async fn env_with_app(&self, env: &str, app: &str) {
        let a = self
            .post("/api/v1/environments", &self.admin, json!({ "name": env }))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        let a = self
            .post(
                &format!("/api/v1/environments/{env}/applications"),
                &self.admin,
                json!({ "name": app }),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    }
}

/// Runs each scenario once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&$crate::support::Harness::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&$crate::support::Harness::postgres().await).await;
                }
            )*
        }
    };
}
