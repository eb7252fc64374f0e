//! The admin API end to end, over a real store: each scenario is written
//! once, as an async function over a [`support::Harness`], and runs on a
//! temporary SQLite database and on a fresh PostgreSQL database.

#![allow(
    clippy::unwrap_used,
    reason = "scenario helpers fail the test on any unexpected answer"
)]

mod support;

mod access;
mod audit;
mod config;
mod isolation;
mod orgs;
mod requests;
mod resources;
mod roles;
mod routes;
mod session;
mod stats;
mod ui;
