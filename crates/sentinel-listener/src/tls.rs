//! TLS termination with one certificate per domain, chosen by SNI, and
//! reloaded from its files without a restart.
//!
//! Each configured pair of PEM files (certificate chain, private key) serves
//! the domains listed for it (`*.example.com` matches one label). A client
//! that sends no SNI, or a name no entry lists, gets the first entry's
//! certificate. [`TlsCerts::watch`] re-reads the files when their
//! modification times change; a pair that fails to load keeps serving the
//! previous certificates and says so in the log.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;
use rustls::{
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tokio_util::sync::CancellationToken;

/// One certificate and the domains it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Host names served with this certificate; `*.example.com` matches one
    /// label. Empty means "the default certificate only".
    pub domains: Vec<String>,
}

/// The certificates of one listener, swapped atomically on reload.
pub struct TlsCerts {
    files: Vec<CertFiles>,
    provider: Arc<CryptoProvider>,
    loaded: ArcSwap<Loaded>,
}

impl std::fmt::Debug for TlsCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCerts")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

struct Loaded {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `(".example.com", key)` for `*.example.com`.
    wildcard: Vec<(String, Arc<CertifiedKey>)>,
    default: Arc<CertifiedKey>,
    /// Modification times of every file, in `files` order, when loaded.
    stamps: Vec<Option<SystemTime>>,
}

impl TlsCerts {
    /// Loads every pair. Errors name the file and what is wrong with it.
    pub fn load(files: Vec<CertFiles>) -> Result<Arc<Self>, String> {
        if files.is_empty() {
            return Err("TLS needs at least one certificate".into());
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let loaded = load_all(&files, &provider)?;
        Ok(Arc::new(Self {
            files,
            provider,
            loaded: ArcSwap::from_pointee(loaded),
        }))
    }

    /// A TLS acceptor that reads the current certificates at each handshake
    /// and offers HTTP/2 and HTTP/1.1 by ALPN.
    pub fn acceptor(self: &Arc<Self>) -> Result<tokio_rustls::TlsAcceptor, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }

    /// Re-reads the files if any changed since the last load. `Ok(true)`
    /// when new certificates were swapped in; on error the previous ones
    /// keep serving.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        if stamps(&self.files) == self.loaded.load().stamps {
            return Ok(false);
        }
        let loaded = load_all(&self.files, &self.provider)?;
        self.loaded.store(Arc::new(loaded));
        Ok(true)
    }

    /// Checks the files every `every` until `stop`, reloading on change.
    pub async fn watch(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.reload_if_changed() {
                Ok(true) => tracing::info!("TLS certificates reloaded"),
                Ok(false) => {}
                Err(error) => {
                    tracing::error!(%error, "TLS certificates not reloaded; the previous ones keep serving");
                }
            }
        }
    }

    fn resolve_name(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        let loaded = self.loaded.load();
        let Some(name) = name.map(str::to_ascii_lowercase) else {
            return loaded.default.clone();
        };
        if let Some(key) = loaded.exact.get(&name) {
            return key.clone();
        }
        loaded
            .wildcard
            .iter()
            .find(|(suffix, _)| {
                name.strip_suffix(suffix.as_str())
                    .is_some_and(|label| !label.is_empty() && !label.contains('.'))
            })
            .map_or_else(|| loaded.default.clone(), |(_, key)| key.clone())
    }
}

#[derive(Debug)]
struct Resolver(Arc<TlsCerts>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.resolve_name(hello.server_name()))
    }
}

fn stamps(files: &[CertFiles]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .flat_map(|f| [&f.cert, &f.key])
        .map(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok())
        .collect()
}

fn load_all(files: &[CertFiles], provider: &CryptoProvider) -> Result<Loaded, String> {
    // Stamps first: a file replaced during the load is loaded again next time.
    let stamps = stamps(files);
    let mut exact = HashMap::new();
    let mut wildcard = Vec::new();
    let mut default = None;
    for entry in files {
        let key = Arc::new(load_pair(entry, provider)?);
        default.get_or_insert_with(|| key.clone());
        for domain in &entry.domains {
            let domain = domain.to_ascii_lowercase();
            match domain.strip_prefix('*') {
                Some(suffix) if suffix.starts_with('.') => {
                    wildcard.push((suffix.to_owned(), key.clone()));
                }
                _ => {
                    exact.insert(domain, key.clone());
                }
            }
        }
    }
    let default = default.ok_or("TLS needs at least one certificate")?;
    Ok(Loaded {
        exact,
        wildcard,
        default,
        stamps,
    })
}

fn load_pair(entry: &CertFiles, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let cert_path = entry.cert.display();
    let key_path = entry.key.display();
    let chain = CertificateDer::pem_file_iter(&entry.cert)
        .map_err(|e| format!("cannot read certificate {cert_path}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate {cert_path} is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err(format!(
            "certificate {cert_path} holds no CERTIFICATE block"
        ));
    }
    // The key's error never echoes the file's content.
    let key = PrivateKeyDer::from_pem_file(&entry.key)
        .map_err(|_| format!("private key {key_path} is missing or not a PEM private key"))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| format!("private key {key_path} is of an unsupported kind"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|_| format!("private key {key_path} does not match certificate {cert_path}"))?;
    Ok(certified)
}
