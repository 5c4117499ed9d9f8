//! `teleforge telemetry`: what to do with the events the Tel runtimes wrote.
//!
//! `export` turns them into OpenTelemetry traces (`teleforge-otlp` does the work): OTLP/JSON to a
//! file or stdout, or OTLP/HTTP to an endpoint. The mapping is in docs/TELEMETRY.md,
//! "OpenTelemetry export".

use std::path::{Path, PathBuf};

use anyhow::Result;
use teleforge_otlp::{
    check, default_service_name, export, BatchSink, Error, ExportOptions, ExportSummary, HttpOptions, HttpSink,
    JsonLinesSink, OtlpFileSink,
};

use crate::exit;

/// Subcommands of `teleforge telemetry`.
#[derive(Debug, clap::Subcommand)]
pub enum TelemetryCommand {
    /// Convert Tel events (JSON Lines) to OpenTelemetry traces (OTLP): calls become spans, loops
    /// and assignments span events. Writes OTLP/JSON to stdout unless --out or --endpoint is given.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The events file a Tel runtime wrote (TELEMETRY_FILE).
    #[arg(value_name = "EVENTS.jsonl")]
    pub events: PathBuf,

    /// Write OTLP/JSON here: one ExportTraceServiceRequest per line (the OpenTelemetry file
    /// exporter's format, read by the collector's otlpjsonfile receiver and Jaeger's upload).
    /// The file appears only when the export succeeds.
    #[arg(long, value_name = "FILE", conflicts_with = "endpoint")]
    pub out: Option<PathBuf>,

    /// Send OTLP/HTTP (JSON) to this endpoint: `http://host:4318` posts to
    /// `http://host:4318/v1/traces`; a URL ending in /v1/traces is used as given.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// `service.name` of the exported resource [default: $OTEL_SERVICE_NAME, else the name of the
    /// instrumented tree holding the events file]
    #[arg(long, value_name = "NAME", env = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,

    /// Spans per request (per line with --out).
    #[arg(long, value_name = "N", default_value_t = teleforge_otlp::DEFAULT_BATCH_SIZE as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,

    /// A header for every request to --endpoint (authentication), as KEY=VALUE; repeatable.
    #[arg(long = "header", value_name = "KEY=VALUE", requires = "endpoint")]
    pub headers: Vec<String>,

    /// Retries of a request that failed to connect or got 429, 502, 503 or 504.
    #[arg(long, value_name = "N", default_value_t = 5, requires = "endpoint")]
    pub retries: u32,

    /// Leave lines that are not Tel events out (counted; the first is named on stderr) instead of
    /// stopping with exit 65.
    #[arg(long)]
    pub skip_malformed: bool,
}

/// Runs a `telemetry` subcommand; returns the exit code.
pub fn run(cmd: &TelemetryCommand) -> Result<i32> {
    match cmd {
        TelemetryCommand::Export(args) => run_export(args),
    }
}

fn run_export(args: &ExportArgs) -> Result<i32> {
    if !args.events.is_file() {
        return Err(exit::NoInput(format!("{}: no such events file", args.events.display())).into());
    }
    let mut headers = Vec::new();
    for h in &args.headers {
        match h.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => headers.push((k.trim().to_string(), v.to_string())),
            _ => return Err(exit::UsageError(format!("--header {h:?}: expected KEY=VALUE")).into()),
        }
    }
    let service_name = args
        .service_name
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| default_service_name(&args.events));
    let options = ExportOptions {
        batch_size: args.batch_size as usize,
        skip_malformed: args.skip_malformed,
        ..ExportOptions::new(service_name)
    };

    let result = match (&args.out, &args.endpoint) {
        (_, Some(endpoint)) => {
            let http = HttpOptions { headers, retries: args.retries, ..HttpOptions::default() };
            let mut sink = match HttpSink::new(endpoint, http) {
                Ok(s) => s,
                Err(e) => return Err(exit::UsageError(e.to_string()).into()),
            };
            // A malformed file sends nothing: check every line before the first request.
            let checked = if args.skip_malformed { Ok(0) } else { check(&args.events) };
            match checked.and_then(|_| export(&args.events, &options, &mut sink)) {
                Ok(summary) => {
                    let rejected = sink.stats.rejected_spans;
                    report(args, &summary, sink.url(), &format!(", {} requests", sink.stats.requests));
                    if rejected > 0 {
                        eprintln!(
                            "teleforge: warning: the endpoint rejected {rejected} spans: {}",
                            sink.stats.rejection.as_deref().unwrap_or("no reason given")
                        );
                        return Ok(exit::FAILURE);
                    }
                    Ok(summary)
                }
                Err(e) => Err(e),
            }
        }
        (Some(out), None) => {
            let mut sink = match OtlpFileSink::create(out) {
                Ok(s) => s,
                Err(e) => return Ok(fail(&e, &args.events)),
            };
            let r = export(&args.events, &options, &mut sink);
            if let Ok(s) = &r {
                report(args, s, &out.display().to_string(), "");
            }
            r
        }
        (None, None) => {
            let mut sink = JsonLinesSink::new(std::io::BufWriter::with_capacity(1 << 20, std::io::stdout()));
            let r = export(&args.events, &options, &mut sink as &mut dyn BatchSink);
            if let Ok(s) = &r {
                report(args, s, "stdout", "");
            }
            r
        }
    };
    match result {
        Ok(_) => Ok(0),
        Err(e) => Ok(fail(&e, &args.events)),
    }
}

/// Prints one error line and returns its exit code.
fn fail(e: &Error, events: &Path) -> i32 {
    // A closed stdout (`… | head`) is the reader's choice, not a failure.
    if let Error::Io { source, .. } = e {
        if source.kind() == std::io::ErrorKind::BrokenPipe {
            return 0;
        }
    }
    eprintln!("teleforge: error: {e}");
    match e {
        Error::Malformed { .. } => exit::DATA,
        // Reading the events: 66; anything written (the output file, stdout): 74.
        Error::Io { path, source } if path.as_path() == events => match source.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => exit::NO_INPUT,
            _ => exit::IO,
        },
        Error::Io { .. } => exit::IO,
        Error::Unavailable { .. } | Error::Refused { .. } => exit::UNAVAILABLE,
        Error::BadEndpoint { .. } => exit::USAGE,
        _ => exit::FAILURE,
    }
}

/// The summary on stderr: what was exported, and everything left out or repaired.
fn report(args: &ExportArgs, s: &ExportSummary, to: &str, extra: &str) {
    let a = &s.assembly;
    eprintln!(
        "teleforge: exported {} spans ({} unfinished, {} with errors) and {} span events from {} events in {} to {to}{extra}",
        a.spans,
        a.unfinished,
        a.errors,
        a.span_events,
        a.events,
        args.events.display()
    );
    if s.malformed > 0 {
        eprintln!(
            "teleforge: warning: left out {} malformed lines (first: {})",
            s.malformed,
            s.first_malformed.as_deref().unwrap_or("?")
        );
    }
    if a.outside_spans > 0 {
        eprintln!(
            "teleforge: note: {} loop/assignment events named no open call (outside any recorded call) and were left out",
            a.outside_spans
        );
    }
    if a.entry_missing > 0 {
        eprintln!(
            "teleforge: note: {} calls had an exit but no entry (marked teleforge.entry_missing)",
            a.entry_missing
        );
    }
    if a.detached > 0 {
        eprintln!(
            "teleforge: note: {} calls named a caller not in the file; each starts its own trace (teleforge.parent_span_id)",
            a.detached
        );
    }
    if a.repeated > 0 {
        eprintln!("teleforge: note: {} repeated entry/exit events were left out", a.repeated);
    }
}
