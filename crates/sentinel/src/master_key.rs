//! Where the master key comes from: `SENTINEL_MASTER_KEY`, a key file named
//! by `SENTINEL_MASTER_KEY_FILE`, or (first start without either) a key file
//! generated in the data directory, announced loudly.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sentinel_store::MasterKey;

/// Where the key was found, for the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(PathBuf),
    Generated(PathBuf),
}

/// Loads the master key. `env` is the process environment, passed in so
/// tests never modify it.
pub fn load(
    env: &dyn Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> anyhow::Result<(MasterKey, KeySource)> {
    if let Some(found) = existing(env, data_dir)? {
        return Ok(found);
    }
    let path = data_dir.join("master.key");
    let key = MasterKey::generate();
    write_private(&path, &key.to_text())
        .with_context(|| format!("cannot write a new master key to {}", path.display()))?;
    Ok((key, KeySource::Generated(path)))
}

/// The master key from the environment, a named key file or the data
/// directory; `None` when there is none (never generates one).
pub fn existing(
    env: &dyn Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> anyhow::Result<Option<(MasterKey, KeySource)>> {
    if let Some(text) = env("SENTINEL_MASTER_KEY") {
        let key = MasterKey::parse(text.trim())
            .context("SENTINEL_MASTER_KEY is not a valid master key (32 bytes, base64 or hex)")?;
        return Ok(Some((key, KeySource::Environment)));
    }
    if let Some(path) = env("SENTINEL_MASTER_KEY_FILE") {
        let path = PathBuf::from(path);
        let key = read(&path)?;
        return Ok(Some((key, KeySource::File(path))));
    }
    let path = data_dir.join("master.key");
    if path.exists() {
        let key = read(&path)?;
        return Ok(Some((key, KeySource::File(path))));
    }
    Ok(None)
}

/// The key a master-key rotation moves to: `SENTINEL_NEW_MASTER_KEY`, or
/// the file named by `SENTINEL_NEW_MASTER_KEY_FILE`.
pub fn new_key(env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<MasterKey> {
    if let Some(text) = env("SENTINEL_NEW_MASTER_KEY") {
        return MasterKey::parse(text.trim()).context(
            "SENTINEL_NEW_MASTER_KEY is not a valid master key (32 bytes, base64 or hex)",
        );
    }
    if let Some(path) = env("SENTINEL_NEW_MASTER_KEY_FILE") {
        return read(Path::new(&path));
    }
    anyhow::bail!(
        "no new master key: set SENTINEL_NEW_MASTER_KEY or SENTINEL_NEW_MASTER_KEY_FILE \
         (generate one with `openssl rand -base64 32`)"
    )
}

fn read(path: &Path) -> anyhow::Result<MasterKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read master key file {}", path.display()))?;
    MasterKey::parse(text.trim())
        .with_context(|| format!("{} does not hold a valid master key", path.display()))
}

/// Writes a file readable only by its owner, refusing to overwrite.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_reused_on_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        let (first, source) = load(&none, dir.path()).unwrap();
        assert!(matches!(source, KeySource::Generated(_)));
        let (second, source) = load(&none, dir.path()).unwrap();
        assert!(matches!(source, KeySource::File(_)));
        assert_eq!(first.to_text(), second.to_text());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn environment_wins_and_bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate().to_text();
        let env = |name: &str| (name == "SENTINEL_MASTER_KEY").then(|| key.clone());
        assert_eq!(load(&env, dir.path()).unwrap().1, KeySource::Environment);
        let bad = |name: &str| (name == "SENTINEL_MASTER_KEY").then(|| "short".to_owned());
        let error = load(&bad, dir.path()).unwrap_err().to_string();
        assert!(error.contains("SENTINEL_MASTER_KEY"));
        assert!(!dir.path().join("master.key").exists());
    }
}
