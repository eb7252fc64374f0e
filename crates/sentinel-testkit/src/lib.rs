//! Test fixtures, used as a dev-dependency only: a fresh PostgreSQL database
//! per test, and in-process upstreams that speak providers' real wire
//! formats and record what they receive.
//!
//! Fixtures panic with a clear message when their service is missing:
//! a backend test must fail, never skip.

#![allow(clippy::expect_used, reason = "fixtures fail tests loudly by design")]

pub mod anthropic_mock;
pub mod aws_mock;
pub mod azure_mock;
pub mod google_mock;
pub mod openai_mock;
pub mod postgres;
pub mod tcp_proxy;

/// Serves `app` on a free loopback port in the background; its address.
pub(crate) async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port for a mock server");
    let addr = listener.local_addr().expect("mock server address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}
