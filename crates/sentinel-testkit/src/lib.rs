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
