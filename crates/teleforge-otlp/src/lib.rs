//! Turns the events teleforge's `Tel` runtimes write (JSON Lines, docs/TELEMETRY.md) into
//! OpenTelemetry traces: function calls become spans, loops and assignments span events, and the
//! result is written as OTLP/JSON or sent to an OTLP/HTTP endpoint.
//!
//! The input is streamed: memory holds the spans open at one time, a bounded table of recently
//! finished ones, and one batch. docs/TELEMETRY.md, "OpenTelemetry export", states the mapping.
//!
//! ```
//! use teleforge_otlp::{export, ExportOptions, JsonLinesSink};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let events = dir.path().join("events.jsonl");
//! std::fs::write(&events, concat!(
//!     r#"{"ts_unix_nano":100,"kind":"func_entry","span_id":"00000000000000a1","parent_span_id":null,"#,
//!     r#""thread":"main","pid":42,"code.function.name":"main","code.file.path":"main.js","#,
//!     r#""code.line.number":3,"args":{}}"#, "\n",
//!     r#"{"ts_unix_nano":250,"kind":"func_exit","span_id":"00000000000000a1","parent_span_id":null,"#,
//!     r#""thread":"main","pid":42,"code.function.name":"main","code.file.path":"main.js","#,
//!     r#""code.line.number":3,"duration_ns":150,"results":[7]}"#, "\n",
//! )).unwrap();
//!
//! let mut out = Vec::new();
//! let summary = export(&events, &ExportOptions::new("shop"), &mut JsonLinesSink::new(&mut out)).unwrap();
//! assert_eq!(summary.assembly.spans, 1);
//! let request: serde_json::Value = serde_json::from_slice(&out).unwrap();
//! let span = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
//! assert_eq!(span["spanId"], "00000000000000a1");
//! assert_eq!(span["startTimeUnixNano"], "100");
//! assert_eq!(span["endTimeUnixNano"], "250");
//! ```
//!
//! Invariant: this crate knows the event format and OTLP, nothing of instrumentation or learning
//! (it never depends on `teleforge-instrument` or `teleforge-learning`), and prints nothing.

pub mod assemble;
mod error;
pub mod event;
mod export;
pub mod http;
pub mod otlp_json;

pub use assemble::{Assembler, AssemblyStats};
pub use error::{Error, Result};
pub use event::{Event, Kind, Value};
pub use export::{
    check, default_service_name, export, BatchSink, ExportOptions, ExportSummary, JsonLinesSink, OtlpFileSink,
    DEFAULT_BATCH_SIZE, DEFAULT_MAX_REQUEST_BYTES,
};
pub use http::{HttpOptions, HttpSink, HttpStats};
pub use otlp_json::{Request, Span};
