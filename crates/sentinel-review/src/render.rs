//! A review printed for people: plain text for a terminal, Markdown for a
//! pull request or a wiki page. The JSON form is the review serialized.

use std::fmt::Write as _;

use crate::model::{Item, Review, Status};

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Unknown => "????",
    }
}

fn verdict(review: &Review) -> String {
    let s = &review.summary;
    format!(
        "{}: {} passed, {} failed ({} required), {} unknown",
        if review.ready { "READY" } else { "NOT READY" },
        s.pass,
        s.fail,
        s.required_failed,
        s.unknown
    )
}

/// Plain text, one item per block, for a terminal.
pub fn text(review: &Review) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Readiness review of {} ({}), configuration revision {}",
        review.environment,
        review.organization,
        review
            .config_revision
            .map_or_else(|| "none".to_owned(), |r| r.to_string())
    );
    let _ = writeln!(out, "{}\n", verdict(review));
    for question in &review.questions {
        let _ = writeln!(out, "[{}] {}", mark(question.status), question.question);
        for item in &question.items {
            text_item(&mut out, item);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Rollout checklist");
    for item in &review.checklist {
        text_item(&mut out, item);
    }
    out
}

fn text_item(out: &mut String, item: &Item) {
    let _ = writeln!(
        out,
        "  {} {}{}  ({})",
        mark(item.status),
        item.title,
        if item.required {
            ""
        } else {
            " (informational)"
        },
        item.id
    );
    for line in &item.evidence {
        let _ = writeln!(out, "       - {line}");
    }
    if let Some(fix) = &item.fix {
        let _ = writeln!(out, "       fix: {fix}");
    }
}

/// Markdown: a heading per question, a table for the checklist.
pub fn markdown(review: &Review) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Readiness review: {} ({})\n\nConfiguration revision {}. **{}**\n",
        review.environment,
        review.organization,
        review
            .config_revision
            .map_or_else(|| "none".to_owned(), |r| r.to_string()),
        verdict(review)
    );
    for question in &review.questions {
        let _ = writeln!(out, "## {} {}\n", badge(question.status), question.question);
        for item in &question.items {
            let _ = writeln!(
                out,
                "- {} **{}**{} `{}`",
                badge(item.status),
                escape(&item.title),
                if item.required {
                    ""
                } else {
                    " (informational)"
                },
                item.id
            );
            for line in &item.evidence {
                let _ = writeln!(out, "  - {}", escape(line));
            }
            if let Some(fix) = &item.fix {
                let _ = writeln!(out, "  - Fix: {}", escape(fix));
            }
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "## Rollout checklist\n\n| | Item | Evidence | Fix |\n|---|---|---|---|"
    );
    for item in &review.checklist {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            badge(item.status),
            escape(&item.title),
            item.evidence
                .iter()
                .map(|e| escape(e))
                .collect::<Vec<_>>()
                .join("<br>"),
            item.fix.as_deref().map_or_else(String::new, escape)
        );
    }
    out
}

fn badge(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ pass",
        Status::Fail => "❌ fail",
        Status::Unknown => "❔ unknown",
    }
}

/// Keeps text that comes from operators (names, messages) from turning
/// into Markdown markup or HTML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '*' | '_' | '[' | ']' | '#' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}
