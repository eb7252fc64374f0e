//! `--demo`: a `dev` environment with the built-in mock provider, a route
//! plan for the model `demo`, an application and a fresh key.

use anyhow::Context as _;
use sentinel_core::{ApiKey, ClientKey, DEFAULT_ORG, Name};
use sentinel_store::{AuditContext, Store};

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
    let env_name = Name::parse("dev").context("demo environment name")?;
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
    let mut random = [0u8; 40];
    aws_lc_rs::rand::fill(&mut random)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    let key = ClientKey::new(&env_name, &random);
    let now = time_now();
    store
        .insert_key(
            &ApiKey {
                id: key.id().to_owned(),
                org_id: org.id.clone(),
                env_id: env.id.clone(),
                app_id: app.id.clone(),
                name: "demo".into(),
                prefix: key.display_prefix().to_owned(),
                digest_hex: key.digest().to_hex(),
                revoked_at: None,
                expires_at: None,
                created_at: now,
                last_used_at: None,
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
