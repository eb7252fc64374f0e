//! `sentinel review --env E [--format text|md|json] [--staging NAME]
//! [--strict]`: the production readiness review, printed, with the exit
//! status a deployment pipeline can gate on (1 when a required item fails,
//! or with `--strict` is unknown).

use anyhow::Context as _;
use clap::ValueEnum;
use sentinel_review::{Review, render};

use super::client::Client;

/// How the review is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    #[value(alias = "markdown")]
    Md,
    Json,
}

/// The review as printed, and whether it passes the gate.
pub(crate) async fn run(
    client: &Client,
    env: &str,
    staging: Option<&str>,
    format: Format,
    strict: bool,
) -> anyhow::Result<(String, Option<String>)> {
    let query = [("staging", staging.map(str::to_owned))];
    let value = client.get(&["environments", env, "review"], &query).await?;
    let review: Review = serde_json::from_value(value.clone())
        .context("the server answered a review this sentinel cannot read (versions differ?)")?;
    let output = match format {
        Format::Text => render::text(&review),
        Format::Md => render::markdown(&review),
        Format::Json => super::pretty(&value),
    };
    let refusal = (!review.passes_gate(strict)).then(|| {
        let s = review.summary;
        if s.required_failed > 0 {
            format!(
                "{env} is not ready: {} required item(s) fail",
                s.required_failed
            )
        } else {
            format!(
                "{env} is not ready under --strict: {} required item(s) unknown",
                s.required_unknown
            )
        }
    });
    Ok((output, refusal))
}
