//! `--demo`: a `dev` environment with the built-in mock provider, a route
//! plan for the model `demo`, an application and a fresh key.

use sentinel_core::DEFAULT_ORG;
use sentinel_store::{AuditContext, NewKey, Store};

/// The environment document the demo starts with.
pub const DEMO_DOCUMENT: &str = "\
# Demo configuration: the built-in mock provider answers every request.
providers:
  mock:
    kind: mock
    options: { stream_chunks: 4 }
route_plans:
  demo:
    models: [demo]
    targets:
      - { provider: mock, model: demo-echo }
";

/// The key created for this demo run, shown once.
#[derive(Debug, Clone)]
pub struct DemoKey {
    pub env: String,
    pub key: String,
}

fn audit() -> AuditContext {
    AuditContext {
        actor: "system:demo".into(),
        source_addr: None,
        request_id: None,
    }
}

/// Seeds what is missing and creates a new key (keys are shown only once,
/// so every demo start makes a new one).
pub async fn seed(store: &Store) -> anyhow::Result<DemoKey> {
    let org = store.ensure_org(DEFAULT_ORG).await?;
    let env = match store.get_environment_by_name(&org.id, "dev").await? {
        Some(env) => env,
        None => {
            store
                .create_environment(&org.id, "dev", false, &[], &audit())
                .await?
        }
    };
    let app = match store
        .get_application_by_name(&org.id, &env.id, "demo")
        .await?
    {
        Some(app) => app,
        None => {
            store
                .create_application(&org.id, &env.id, "demo", &audit())
                .await?
        }
    };
    if store.latest_revision(&org.id, &env.id).await?.is_none() {
        store
            .append_revision(
                &org.id,
                &env.id,
                DEMO_DOCUMENT,
                "system:demo",
                "demo configuration",
                Some(0),
                &audit(),
            )
            .await?;
    }
    let (_, key) = store
        .issue_key(
            NewKey {
                env: &env,
                app_id: &app.id,
                name: "demo",
                expires_at: None,
                now: time_now(),
            },
            &audit(),
        )
        .await?;
    Ok(DemoKey {
        env: env.name,
        key: key.expose().to_owned(),
    })
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
