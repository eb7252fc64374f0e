//! TLS termination: the certificate is chosen by SNI, reloaded when its
//! files change, and a request over TLS is marked https. Certificates are
//! self-signed, made by the test.

#![allow(clippy::unwrap_used, reason = "a test fails loudly")]

use std::{net::SocketAddr, path::Path, time::Duration};

use axum::{Extension, Router, routing::get};
use sentinel_listener::{CertFiles, ClientInfo, Edge, ListenerLimits, TlsCerts, serve};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

struct Cert {
    pem: String,
    der: Vec<u8>,
}

/// A self-signed certificate for `name`, written to `dir/{file}.pem` and
/// `dir/{file}.key`.
fn make_cert(dir: &Path, file: &str, name: &str) -> Cert {
    let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let pem = made.cert.pem();
    std::fs::write(dir.join(format!("{file}.pem")), &pem).unwrap();
    std::fs::write(
        dir.join(format!("{file}.key")),
        made.signing_key.serialize_pem(),
    )
    .unwrap();
    Cert {
        pem,
        der: made.cert.der().to_vec(),
    }
}

fn files(dir: &Path, file: &str, domains: &[&str]) -> CertFiles {
    CertFiles {
        cert: dir.join(format!("{file}.pem")),
        key: dir.join(format!("{file}.key")),
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
    }
}

async fn start(certs: std::sync::Arc<TlsCerts>) -> (SocketAddr, CancellationToken) {
    let router = Router::new().route(
        "/who",
        get(|Extension(client): Extension<ClientInfo>| async move {
            format!("{} {}", client.addr, client.https)
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let edge = Edge {
        tls: Some(certs),
        ..Edge::default()
    };
    tokio::spawn(serve(
        listener,
        router,
        ListenerLimits::default(),
        edge,
        stop.clone(),
    ));
    (addr, stop)
}

/// GETs `https://{host}/who` at `addr`, trusting `roots`; returns the body
/// and the certificate the server presented.
async fn get_who(addr: SocketAddr, host: &str, roots: &[&Cert]) -> (String, Vec<u8>) {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
        .resolve(host, addr)
        .tls_certs_only(
            roots
                .iter()
                .map(|c| reqwest::Certificate::from_pem(c.pem.as_bytes()).unwrap()),
        );
    builder = builder.http1_only();
    let client = builder.build().unwrap();
    let response = client
        .get(format!("https://{host}:{}/who", addr.port()))
        .send()
        .await
        .unwrap();
    let presented = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .unwrap()
        .to_vec();
    (response.text().await.unwrap(), presented)
}

#[tokio::test]
async fn certificates_are_chosen_by_sni() {
    let dir = tempfile::tempdir().unwrap();
    let a = make_cert(dir.path(), "a", "a.example.test");
    let b = make_cert(dir.path(), "b", "b.example.test");
    let w = make_cert(dir.path(), "w", "x.wild.test");
    let certs = TlsCerts::load(vec![
        files(dir.path(), "a", &["a.example.test"]),
        files(dir.path(), "b", &["b.example.test"]),
        files(dir.path(), "w", &["*.wild.test"]),
    ])
    .unwrap();
    let (addr, stop) = start(certs).await;

    let (body, presented) = get_who(addr, "a.example.test", &[&a, &b, &w]).await;
    assert_eq!(presented, a.der);
    assert_eq!(body, "127.0.0.1 true", "a request over TLS is https");
    let (_, presented) = get_who(addr, "b.example.test", &[&a, &b, &w]).await;
    assert_eq!(presented, b.der);
    let (_, presented) = get_who(addr, "x.wild.test", &[&a, &b, &w]).await;
    assert_eq!(presented, w.der, "a wildcard domain matches one label");
    stop.cancel();
}

#[tokio::test]
async fn changed_files_are_reloaded_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = make_cert(dir.path(), "site", "site.example.test");
    let certs = TlsCerts::load(vec![files(dir.path(), "site", &["site.example.test"])]).unwrap();
    let (addr, stop) = start(certs.clone()).await;
    let (_, presented) = get_who(addr, "site.example.test", &[&first]).await;
    assert_eq!(presented, first.der);

    // Renewal: new files in place. Bump the modification time explicitly so
    // the change shows even on a filesystem with coarse timestamps.
    let second = make_cert(dir.path(), "site", "site.example.test");
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    for ext in ["pem", "key"] {
        let file = std::fs::File::options()
            .write(true)
            .open(dir.path().join(format!("site.{ext}")))
            .unwrap();
        file.set_modified(later).unwrap();
    }
    assert!(certs.reload_if_changed().unwrap());
    assert!(
        !certs.reload_if_changed().unwrap(),
        "unchanged files are not reloaded"
    );
    let (_, presented) = get_who(addr, "site.example.test", &[&second]).await;
    assert_eq!(
        presented, second.der,
        "new connections get the renewed certificate"
    );

    // A broken renewal keeps the last good certificate serving.
    std::fs::write(dir.path().join("site.key"), "not a key").unwrap();
    let file = std::fs::File::options()
        .write(true)
        .open(dir.path().join("site.key"))
        .unwrap();
    file.set_modified(later + Duration::from_secs(5)).unwrap();
    let error = certs.reload_if_changed().unwrap_err();
    assert!(error.contains("site.key"), "{error}");
    assert!(
        !error.contains("not a key"),
        "the key file's content is never echoed"
    );
    let (_, presented) = get_who(addr, "site.example.test", &[&second]).await;
    assert_eq!(presented, second.der);
    stop.cancel();
}

#[test]
fn load_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path(), "a", "a.test");
    make_cert(dir.path(), "b", "b.test");
    let error = TlsCerts::load(vec![files(dir.path(), "missing", &[])]).unwrap_err();
    assert!(error.contains("missing.pem"), "{error}");
    // The key of b with the certificate of a.
    let mismatched = CertFiles {
        cert: dir.path().join("a.pem"),
        key: dir.path().join("b.key"),
        domains: vec![],
    };
    let error = TlsCerts::load(vec![mismatched]).unwrap_err();
    assert!(error.contains("does not match"), "{error}");
}
