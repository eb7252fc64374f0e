//! `/api/v1/export/requests` and `/api/v1/export/audit`: request records
//! and audit events as JSON Lines or CSV, streamed page by page.
//!
//! Invariants: memory stays flat whatever the export's size (one page of
//! at most [`PAGE`] rows is held at a time, and each page is written out
//! before the next is read); every export is itself an audited sensitive
//! read; CSV cells that a spreadsheet would run as a formula are neutralized.

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use sentinel_core::{AuditEvent, Permission, RequestRecord};
use sentinel_store::{AuditFilter, RecordFilter, Store};
use serde::Deserialize;
use serde_json::json;

use crate::{
    ConsoleDeps, auth::Caller, clock::parse_time, environments, error::ApiError, extract::Query,
};

/// Rows read per store query.
const PAGE: u32 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    Jsonl,
    Csv,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/jsonl; charset=utf-8",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    env: Option<String>,
    since: String,
    until: Option<String>,
    format: Option<Format>,
}

struct Window {
    env_id: Option<String>,
    env_name: Option<String>,
    since: i64,
    until: Option<i64>,
    format: Format,
}

async fn window(deps: &ConsoleDeps, caller: &Caller, q: ExportQuery) -> Result<Window, ApiError> {
    let since = parse_time("since", &q.since)?;
    let until = q
        .until
        .as_deref()
        .map(|t| parse_time("until", t))
        .transpose()?;
    if until.is_some_and(|u| u <= since) {
        return Err(ApiError::InvalidRequest("until must be after since".into()));
    }
    let env = match &q.env {
        Some(name) => Some(environments::find(deps, caller, name).await?),
        None => None,
    };
    // Exports are for auditors and admins, of the environments they hold.
    caller.require_in(Permission::Audit, env.as_ref())?;
    Ok(Window {
        env_id: env.as_ref().map(|e| e.id.clone()),
        env_name: env.map(|e| e.name),
        since,
        until,
        format: q.format.unwrap_or(Format::Jsonl),
    })
}

/// Audits the export before the first byte leaves.
async fn audit_export(
    deps: &ConsoleDeps,
    caller: &Caller,
    what: &str,
    window: &Window,
) -> Result<(), ApiError> {
    deps.store
        .append_audit_event(
            caller.org_id(),
            &caller.audit(),
            &format!("export.{what}"),
            &format!("export/{what}"),
            window.env_id.as_deref(),
            json!({
                "environment": window.env_name,
                "since": window.since,
                "until": window.until,
                "format": match window.format { Format::Jsonl => "jsonl", Format::Csv => "csv" },
            }),
        )
        .await?;
    Ok(())
}

fn streamed(format: Format, name: &str, body: Body) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    let extension = match format {
        Format::Jsonl => "jsonl",
        Format::Csv => "csv",
    };
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"sentinel-{name}.{extension}\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// Request records of the window, newest first.
pub(crate) async fn requests(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let window = window(&deps, &caller, q).await?;
    audit_export(&deps, &caller, "requests", &window).await?;
    let filter = RecordFilter {
        env_id: window.env_id.clone(),
        since: Some(window.since),
        until: window.until,
        limit: PAGE,
        ..RecordFilter::default()
    };
    let state = RecordPages {
        store: deps.store.clone(),
        org_id: caller.org_id().to_owned(),
        filter,
        format: window.format,
        header_sent: false,
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut state| async move {
        let chunk = state.next_chunk().await?;
        Some((chunk, state))
    });
    Ok(streamed(
        window.format,
        "requests",
        Body::from_stream(stream),
    ))
}

struct RecordPages {
    store: Store,
    org_id: String,
    filter: RecordFilter,
    format: Format,
    header_sent: bool,
    done: bool,
}

impl RecordPages {
    /// The next page as bytes; `None` at the end. A store failure ends the
    /// body early (the client sees a truncated transfer, never a silent
    /// short file: the CLI checks for the trailer).
    async fn next_chunk(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.done {
            return None;
        }
        let page = match self.store.search_records(&self.org_id, &self.filter).await {
            Ok(page) => page,
            Err(error) => {
                self.done = true;
                return Some(Err(std::io::Error::other(error.to_string())));
            }
        };
        let mut out = Vec::with_capacity(page.records.len() * 512);
        if self.format == Format::Csv && !self.header_sent {
            out.extend_from_slice(
                csv_line(RECORD_COLUMNS.iter().map(|c| (*c).to_owned())).as_bytes(),
            );
        }
        self.header_sent = true;
        for record in &page.records {
            match self.format {
                Format::Jsonl => {
                    if serde_json::to_writer(&mut out, record).is_ok() {
                        out.push(b'\n');
                    }
                }
                Format::Csv => out.extend_from_slice(csv_line(record_row(record)).as_bytes()),
            }
        }
        match page.next_cursor {
            Some(cursor) => self.filter.cursor = Some(cursor),
            None => self.done = true,
        }
        Some(Ok(Bytes::from(out)))
    }
}

/// Audit events of the window, newest first.
pub(crate) async fn audit(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let window = window(&deps, &caller, q).await?;
    audit_export(&deps, &caller, "audit", &window).await?;
    let state = AuditPages {
        store: deps.store.clone(),
        org_id: caller.org_id().to_owned(),
        filter: AuditFilter {
            env_id: window.env_id.clone(),
            since: Some(window.since),
            until: window.until,
            limit: PAGE,
            ..AuditFilter::default()
        },
        format: window.format,
        header_sent: false,
        done: false,
        // Only an export of every environment can cover the whole chain.
        watermark: window.env_id.is_none().then_some(Watermark {
            since: window.since,
            through_seq: None,
        }),
    };
    let stream = futures_util::stream::unfold(state, |mut state| async move {
        let chunk = state.next_chunk().await?;
        Some((chunk, state))
    });
    Ok(streamed(window.format, "audit", Body::from_stream(stream)))
}

struct AuditPages {
    store: Store,
    org_id: String,
    filter: AuditFilter,
    format: Format,
    header_sent: bool,
    done: bool,
    /// What the export covered, to move the export watermark once it ran to
    /// completion (`None`: it cannot, e.g. one environment's events only).
    watermark: Option<Watermark>,
}

struct Watermark {
    since: i64,
    /// The newest event exported (the first one, newest first).
    through_seq: Option<i64>,
}

impl AuditPages {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.done {
            // Polled again after the last chunk: the export ran to completion.
            if let Some(Watermark {
                since,
                through_seq: Some(through),
            }) = self.watermark.take()
                && let Err(error) = self
                    .store
                    .record_audit_export(&self.org_id, since, through)
                    .await
            {
                tracing::warn!(%error, "could not record the audit export watermark");
            }
            return None;
        }
        let events = match self
            .store
            .list_audit(&self.org_id, self.filter.clone())
            .await
        {
            Ok(events) => events,
            Err(error) => {
                self.done = true;
                self.watermark = None;
                return Some(Err(std::io::Error::other(error.to_string())));
            }
        };
        if let Some(watermark) = &mut self.watermark
            && watermark.through_seq.is_none()
        {
            watermark.through_seq = events.first().map(|e| e.seq);
        }
        let mut out = Vec::with_capacity(events.len() * 512);
        if self.format == Format::Csv && !self.header_sent {
            out.extend_from_slice(
                csv_line(AUDIT_COLUMNS.iter().map(|c| (*c).to_owned())).as_bytes(),
            );
        }
        self.header_sent = true;
        for event in &events {
            match self.format {
                Format::Jsonl => {
                    if serde_json::to_writer(&mut out, event).is_ok() {
                        out.push(b'\n');
                    }
                }
                Format::Csv => out.extend_from_slice(csv_line(audit_row(event)).as_bytes()),
            }
        }
        if events.len() < PAGE as usize {
            self.done = true;
        }
        self.filter.before_seq = events.last().map(|e| e.seq);
        if self.filter.before_seq.is_none() {
            self.done = true;
        }
        Some(Ok(Bytes::from(out)))
    }
}

const RECORD_COLUMNS: [&str; 25] = [
    "id",
    "time",
    "environment",
    "application",
    "key_id",
    "ingress",
    "requested_model",
    "route_plan",
    "config_revision",
    "provider",
    "upstream_model",
    "upstream_status",
    "status",
    "error_code",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_micros",
    "latency_ms",
    "ttfb_ms",
    "stream",
    "stream_completed",
    "policy_decision",
    "policy_rule",
    "client_addr",
];

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn record_row(r: &RequestRecord) -> impl Iterator<Item = String> {
    [
        r.id.clone(),
        r.time.to_string(),
        opt(r.env_name.as_ref()),
        opt(r.app_name.as_ref()),
        opt(r.key_id.as_ref()),
        r.ingress.clone(),
        opt(r.requested_model.as_ref()),
        opt(r.route_plan.as_ref()),
        opt(r.config_revision),
        opt(r.provider.as_ref()),
        opt(r.upstream_model.as_ref()),
        opt(r.upstream_status),
        r.status.to_string(),
        opt(r.error_code.as_ref()),
        opt(r.prompt_tokens),
        opt(r.completion_tokens),
        opt(r.total_tokens),
        opt(r.cost_micros),
        r.latency_ms.to_string(),
        opt(r.ttfb_ms),
        r.stream.to_string(),
        opt(r.stream_completed),
        opt(r.policy.as_ref().map(|p| &p.decision)),
        opt(r.policy.as_ref().and_then(|p| p.rule.as_ref())),
        opt(r.client_addr.as_ref()),
    ]
    .into_iter()
}

const AUDIT_COLUMNS: [&str; 11] = [
    "seq",
    "time",
    "actor",
    "action",
    "target",
    "env_id",
    "source_addr",
    "details",
    "id",
    "prev_hash",
    "hash",
];

fn audit_row(e: &AuditEvent) -> impl Iterator<Item = String> {
    [
        e.seq.to_string(),
        e.time.to_string(),
        e.actor.clone(),
        e.action.clone(),
        e.target.clone(),
        opt(e.env_id.as_ref()),
        opt(e.source_addr.as_ref()),
        e.details.to_string(),
        e.id.clone(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ]
    .into_iter()
}

/// One CSV line (RFC 4180: quoted when needed, quotes doubled, CRLF).
/// A cell starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`
/// so a spreadsheet shows it instead of running it as a formula; numbers
/// (including negative ones) are left alone.
fn csv_line(cells: impl Iterator<Item = String>) -> String {
    let mut line = String::new();
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            line.push(',');
        }
        let risky =
            cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err();
        let cell = if risky { format!("'{cell}") } else { cell };
        if cell.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&cell.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(&cell);
        }
    }
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_neutralizes_formulas() {
        let line = csv_line(
            [
                "plain".to_owned(),
                "a,b".to_owned(),
                "say \"hi\"".to_owned(),
                "=HYPERLINK(\"x\")".to_owned(),
                "-12".to_owned(),
                "@cmd".to_owned(),
                String::new(),
            ]
            .into_iter(),
        );
        assert_eq!(
            line,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"'=HYPERLINK(\"\"x\"\")\",-12,'@cmd,\r\n"
        );
    }

    #[test]
    fn record_rows_match_the_header() {
        let row: Vec<String> = record_row(&RequestRecord::default()).collect();
        assert_eq!(row.len(), RECORD_COLUMNS.len());
        let row: Vec<String> = audit_row(&AuditEvent {
            id: String::new(),
            org_id: String::new(),
            seq: 1,
            time: 0,
            actor: String::new(),
            action: String::new(),
            target: String::new(),
            env_id: None,
            details: serde_json::Value::Null,
            source_addr: None,
            prev_hash: String::new(),
            hash: String::new(),
        })
        .collect();
        assert_eq!(row.len(), AUDIT_COLUMNS.len());
    }
}
