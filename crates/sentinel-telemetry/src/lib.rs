//! Traces for Sentinel: the W3C trace context of incoming requests, and an
//! exporter that turns each finished request record into OpenTelemetry
//! spans — one SERVER span for the request and one CLIENT span per upstream
//! attempt, with the GenAI semantic-convention attributes — and sends them
//! to an OTLP/HTTP collector.
//!
//! Spans are built from the request record after the request has finished
//! (the record already holds every time and outcome), so the request path
//! does no tracing work beyond reading `traceparent` and offering the record
//! to a bounded queue. A full queue drops and counts; nothing waits.
//!
//! Encoding: OTLP/HTTP with the JSON encoding (`POST {endpoint}/v1/traces`,
//! `application/json`), part of the OTLP specification and accepted by the
//! OpenTelemetry Collector and OTLP-native back ends. It needs no protobuf
//! toolchain and keeps the build lean.

mod context;
mod exporter;
mod spans;

pub use context::{TraceContext, new_span_id, new_trace_id};
pub use exporter::{ExporterStats, TraceExporter, TraceSettings};
pub use spans::record_to_spans;
