//! The accept loop both of Sentinel's listeners run: the data-plane gateway
//! and the operator console.
//!
//! `axum::serve` installs no timer, so hyper's header-read timeout would never
//! fire and a slow client could hold a connection forever (slowloris). This
//! crate runs its own loop over hyper-util's auto (HTTP/1 + HTTP/2) builder
//! with a Tokio timer, an explicit header-read timeout, an HTTP/2 stream cap,
//! a connection cap and a graceful drain with a deadline.
//!
//! Invariant: once `shutdown` fires no new connection is accepted; in-flight
//! requests (streams included) get until the grace deadline to finish.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{
        conn::auto::Builder,
        graceful::{GracefulShutdown, Watcher},
    },
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

mod client;
mod tls;

pub use client::{ClientInfo, TrustedProxies};
pub use tls::{CertFiles, TlsCerts};

/// Limits applied to every connection of a listener.
#[derive(Debug, Clone)]
pub struct ListenerLimits {
    /// Time allowed to receive a request's headers.
    pub header_read_timeout: Duration,
    /// Connections served at once; further connections are closed at accept.
    pub max_connections: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// How long in-flight requests may run after shutdown begins.
    pub grace: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_concurrent_streams: 256,
            grace: Duration::from_secs(30),
        }
    }
}

/// How a listener stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every in-flight connection finished within the grace period.
    Complete,
    /// The grace period ran out; remaining connections were dropped.
    DeadlineExceeded,
}

/// How a listener meets its clients: whether it terminates TLS itself, and
/// whose forwarding headers it believes.
#[derive(Debug, Clone, Default)]
pub struct Edge {
    /// Certificates to terminate TLS with; `None` serves plain HTTP (for
    /// loopback, or behind a TLS-terminating load balancer).
    pub tls: Option<Arc<TlsCerts>>,
    /// Proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed.
    pub trusted_proxies: TrustedProxies,
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains.
///
/// Each request carries a [`ClientInfo`] with the client as the [`Edge`]
/// determines it, and `ConnectInfo<SocketAddr>` with the same address (the
/// peer's, or the one a trusted proxy reported, with port 0).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    edge: Edge,
    shutdown: CancellationToken,
) -> Drain {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams);
    let builder = Arc::new(builder);
    let acceptor = match edge.tls.as_ref().map(TlsCerts::acceptor).transpose() {
        Ok(acceptor) => acceptor,
        Err(error) => {
            tracing::error!(%error, "cannot set up TLS; the listener stops");
            return Drain::Complete;
        }
    };
    let proxies = Arc::new(edge.trusted_proxies);
    let graceful = GracefulShutdown::new();
    let connections = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));

    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Usually EMFILE: back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing new connection");
            drop(stream);
            continue;
        };
        // Responses go out as soon as they are written; small SSE chunks
        // must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            builder: builder.clone(),
            router: router.clone(),
            proxies: proxies.clone(),
            watcher: graceful.watcher(),
            peer,
        };
        let acceptor = acceptor.clone();
        let handshake_timeout = limits.header_read_timeout;
        connections.spawn(async move {
            match acceptor {
                None => connection.serve(stream, false).await,
                Some(acceptor) => {
                    // The handshake gets the same time as reading headers:
                    // a client that stalls it is cut off like a slow one.
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => connection.serve(tls, true).await,
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }

    // Shutdown, step 1: stop accepting (the listener is dropped here).
    drop(listener);
    connections.close();
    // Step 2: let in-flight requests and open streams finish, up to the grace deadline.
    tokio::select! {
        () = graceful.shutdown() => {
            connections.wait().await;
            Drain::Complete
        }
        () = tokio::time::sleep(limits.grace) => {
            tracing::warn!(grace_s = limits.grace.as_secs(), "grace period over; dropping remaining connections");
            Drain::DeadlineExceeded
        }
    }
}

/// One accepted connection, ready to be served over plain TCP or TLS.
struct Connection {
    builder: Arc<Builder<TokioExecutor>>,
    router: Router,
    proxies: Arc<TrustedProxies>,
    watcher: Watcher,
    peer: SocketAddr,
}

impl Connection {
    async fn serve<IO>(self, io: IO, tls: bool)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            builder,
            router,
            proxies,
            watcher,
            peer,
        } = self;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // Handlers read the client's address from `ConnectInfo`: the
            // peer, or the client a trusted proxy names (its port unknown).
            let client = proxies.client(peer.ip(), tls, request.headers());
            let addr = if client.addr == peer.ip() {
                peer
            } else {
                SocketAddr::new(client.addr, 0)
            };
            request.extensions_mut().insert(ConnectInfo(addr));
            request.extensions_mut().insert(client);
            let router = router.clone();
            async move {
                Ok::<_, Infallible>(router.oneshot(request).await.unwrap_or_else(|e| match e {}))
            }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        if let Err(error) = watcher.watch(connection.into_owned()).await {
            tracing::debug!(%peer, %error, "connection ended with an error");
        }
    }
}

/// Binds a listener, with a message that names the address on failure.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::{Router, routing::get};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn start(
        router: Router,
        limits: ListenerLimits,
    ) -> (
        SocketAddr,
        CancellationToken,
        tokio::task::JoinHandle<Drain>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(
            listener,
            router,
            limits,
            Edge::default(),
            shutdown.clone(),
        ));
        (addr, shutdown, task)
    }

    #[tokio::test]
    async fn slow_headers_are_cut_off() {
        let limits = ListenerLimits {
            header_read_timeout: Duration::from_millis(200),
            ..ListenerLimits::default()
        };
        let (addr, shutdown, _task) =
            start(Router::new().route("/", get(|| async { "ok" })), limits).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        // The server must close the connection (possibly after a 408) instead of waiting forever.
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "connection was not closed by the header timeout"
        );
        shutdown.cancel();
    }

    #[tokio::test]
    async fn drain_waits_for_in_flight_requests() {
        let (entered, mut arrived) = tokio::sync::mpsc::channel::<()>(1);
        let router = Router::new().route(
            "/slow",
            get(move || async move {
                let _ = entered.send(()).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        );
        let (addr, shutdown, task) = start(router, ListenerLimits::default()).await;
        let request = tokio::spawn(async move {
            reqwest::get(format!("http://{addr}/slow"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        });
        // Shut down only once the request is in flight.
        arrived.recv().await.unwrap();
        shutdown.cancel();
        assert_eq!(request.await.unwrap(), "done");
        assert_eq!(task.await.unwrap(), Drain::Complete);
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "still accepting after shutdown"
        );
    }

    #[tokio::test]
    async fn drain_gives_up_at_the_deadline() {
        let (entered, mut arrived) = tokio::sync::mpsc::channel::<()>(1);
        let router = Router::new().route(
            "/forever",
            get(move || async move {
                let _ = entered.send(()).await;
                tokio::time::sleep(Duration::from_secs(60)).await;
                "never"
            }),
        );
        let limits = ListenerLimits {
            grace: Duration::from_millis(200),
            ..ListenerLimits::default()
        };
        let (addr, shutdown, task) = start(router, limits).await;
        let _request =
            tokio::spawn(async move { reqwest::get(format!("http://{addr}/forever")).await });
        arrived.recv().await.unwrap();
        shutdown.cancel();
        assert_eq!(task.await.unwrap(), Drain::DeadlineExceeded);
    }

    #[tokio::test]
    async fn peer_address_reaches_handlers() {
        let router = Router::new().route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        let (addr, shutdown, _task) = start(router, ListenerLimits::default()).await;
        let body = reqwest::get(format!("http://{addr}/peer"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "127.0.0.1");
        shutdown.cancel();
    }
}
