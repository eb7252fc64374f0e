//! The fixture the store's integration tests share: a store on a fresh
//! SQLite file or a fresh PostgreSQL database, under a fixed master key.

#![allow(dead_code, reason = "each test crate uses part of it")]

use sentinel_store::{MasterKey, Store};
use sentinel_testkit::postgres::TestDatabase;

/// A store on a fresh database; the guards keep the file or database alive.
pub struct Fixture {
    pub store: Store,
    pub _dir: tempfile::TempDir,
    pub _db: Option<TestDatabase>,
    /// The store's URL, for opening it again (another key, raw SQL).
    pub url: String,
}

pub fn key() -> MasterKey {
    MasterKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap()
}

pub async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    Fixture {
        store: Store::open(&url, key()).await.unwrap(),
        _dir: dir,
        _db: None,
        url,
    }
}

pub async fn postgres() -> Fixture {
    let db = TestDatabase::create().await;
    let url = db.url.clone();
    Fixture {
        store: Store::open(&url, key()).await.unwrap(),
        _dir: tempfile::tempdir().unwrap(),
        _db: Some(db),
        url,
    }
}
