//! The export loop: read the events file line by line, assemble spans, hand full batches to a
//! [`BatchSink`] (a file of OTLP/JSON lines, or an OTLP/HTTP endpoint).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::assemble::{Assembler, AssemblyStats};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::otlp_json::{Request, RequestBuilder, Resource};

/// Where batches go. One call per `ExportTraceServiceRequest`. [`export`] calls it from a thread
/// of its own, so that writing or sending overlaps reading the next events.
pub trait BatchSink: Send {
    /// Sends one request.
    fn send(&mut self, request: &Request) -> Result<()>;
    /// Called once after the last batch: flush, close, publish.
    fn finish(&mut self) -> Result<()>;
}

/// How to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// `service.name` of every resource.
    pub service_name: String,
    /// Spans per `ExportTraceServiceRequest` (one line of the file, or one HTTP request).
    pub batch_size: usize,
    /// Leave malformed lines out (counted, the first one named) instead of failing.
    pub skip_malformed: bool,
    /// A request is sent once its spans' text reaches this size, even with fewer than
    /// `batch_size` spans (a span larger than this goes alone).
    pub max_request_bytes: usize,
}

impl ExportOptions {
    pub fn new(service_name: impl Into<String>) -> Self {
        ExportOptions {
            service_name: service_name.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            skip_malformed: false,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }
}

/// The OpenTelemetry SDKs' default export batch (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
pub const DEFAULT_BATCH_SIZE: usize = 512;

/// 512 KiB: half the line length the collector's `otlpjsonfile` receiver reads whole by default
/// (its file reader's `max_log_size`, 1 MiB; a longer line is cut and fails to parse), and far
/// below OTLP/HTTP receivers' body limits.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 512 * 1024;

/// What an export did.
#[derive(Debug, Default, Clone)]
pub struct ExportSummary {
    pub assembly: AssemblyStats,
    /// Requests handed to the sink.
    pub batches: u64,
    /// Lines left out under `skip_malformed`, and the first one (`path:line: why`).
    pub malformed: u64,
    pub first_malformed: Option<String>,
}

/// Reads `path` and exports every span to `sink`. Malformed lines stop the export with
/// [`Error::Malformed`] (file and line named) unless `skip_malformed` is set; nothing is passed
/// to `finish` then, so a file sink publishes nothing.
pub fn export(path: &Path, options: &ExportOptions, sink: &mut dyn BatchSink) -> Result<ExportSummary> {
    // Requests go to the sink on a thread of their own, a few in flight at most.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Request>(4);
    let (assembled, written) = std::thread::scope(|scope| {
        let sending = &mut *sink;
        let writer = scope.spawn(move || -> Result<u64> {
            let mut batches = 0;
            for request in rx {
                sending.send(&request)?;
                batches += 1;
            }
            Ok(batches)
        });
        let assembled = assemble(path, options, &tx);
        drop(tx);
        (assembled, writer.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    });
    // A sink error ends the reading early (its channel closes): the sink's error is the one to
    // report. Only a complete export is finished (a file sink publishes its file).
    match (assembled, written) {
        (_, Err(e)) | (Err(e), Ok(_)) => Err(e),
        (Ok(s), Ok(batches)) => {
            sink.finish()?;
            Ok(ExportSummary { batches, ..s })
        }
    }
}

/// Reads and assembles, handing each full batch to `tx`. A closed channel (the sink failed)
/// stops it with `Ok` and whatever was counted; the caller reports the sink's error.
fn assemble(path: &Path, options: &ExportOptions, tx: &std::sync::mpsc::SyncSender<Request>) -> Result<ExportSummary> {
    let mut summary = ExportSummary::default();
    let mut assembler = Assembler::new();
    let mut batch = RequestBuilder::new(Resource { service_name: options.service_name.clone() });
    let batch_size = options.batch_size.max(1);
    let full = |b: &RequestBuilder| b.len() >= batch_size || b.bytes() >= options.max_request_bytes;
    let mut sink_gone = false;
    let flush = |batch: &mut RequestBuilder, sink_gone: &mut bool| {
        if !batch.is_empty() && !*sink_gone && tx.send(batch.take_request()).is_err() {
            *sink_gone = true;
        }
    };
    let mut malformed = Malformed::default();
    let read = for_each_event(path, options.skip_malformed, &mut malformed, |ev| {
        if let Some(span) = assembler.push(ev) {
            batch.push(&span);
            if full(&batch) {
                flush(&mut batch, &mut sink_gone);
                if sink_gone {
                    return Err(Error::SinkClosed);
                }
            }
        }
        Ok(())
    });
    match read {
        Err(Error::SinkClosed) => return Ok(summary),
        other => other?,
    }
    summary.malformed = malformed.count;
    summary.first_malformed = malformed.first;
    let (unfinished, stats) = assembler.finish();
    for span in &unfinished {
        batch.push(span);
        if full(&batch) {
            flush(&mut batch, &mut sink_gone);
        }
    }
    flush(&mut batch, &mut sink_gone);
    summary.assembly = stats;
    Ok(summary)
}

/// Parses every line of `path` without exporting: the check an export to an endpoint runs
/// first, so that a malformed file sends nothing. Returns the number of events.
pub fn check(path: &Path) -> Result<u64> {
    let mut n = 0;
    for_each_event(path, false, &mut Malformed::default(), |_| {
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

/// Lines left out under `skip_malformed`.
#[derive(Default)]
struct Malformed {
    count: u64,
    first: Option<String>,
}

/// Calls `f` with each event of `path`, in order; blank lines are skipped.
fn for_each_event(
    path: &Path,
    skip_malformed: bool,
    malformed: &mut Malformed,
    mut f: impl FnMut(&Event<'_>) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(4096);
    let mut number: u64 = 0;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let text = trim(&line);
        if text.is_empty() {
            continue;
        }
        match Event::parse(text) {
            Ok(ev) => f(&ev)?,
            Err(detail) => {
                if !skip_malformed {
                    return Err(Error::Malformed { path: path.to_path_buf(), line: number, detail });
                }
                malformed.count += 1;
                if malformed.first.is_none() {
                    malformed.first = Some(format!("{}:{number}: {detail}", path.display()));
                }
            }
        }
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    &line[..end]
}

/// OTLP/JSON lines: one `ExportTraceServiceRequest` per line, the OpenTelemetry file exporter's
/// format (what the collector's `otlpjsonfile` receiver and Jaeger's upload read).
pub struct JsonLinesSink<W: Write> {
    out: W,
}

impl<W: Write> JsonLinesSink<W> {
    pub fn new(out: W) -> Self {
        JsonLinesSink { out }
    }
}

impl<W: Write + Send> BatchSink for JsonLinesSink<W> {
    fn send(&mut self, request: &Request) -> Result<()> {
        let io = |e| Error::io("<output>", e);
        for part in request.parts() {
            self.out.write_all(part.as_bytes()).map_err(io)?;
        }
        self.out.write_all(b"\n").map_err(io)
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io("<output>", e))
    }
}

/// An OTLP/JSON lines file that appears only whole: written beside its final path and renamed
/// there by `finish`; dropped unfinished (an error), the partial file is removed.
pub struct OtlpFileSink {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl OtlpFileSink {
    pub fn create(path: &Path) -> Result<Self> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "otlp.json".into());
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(OtlpFileSink { path: path.to_path_buf(), tmp, out: Some(BufWriter::with_capacity(1 << 20, file)) })
    }
}

impl BatchSink for OtlpFileSink {
    fn send(&mut self, request: &Request) -> Result<()> {
        let out = self.out.as_mut().expect("send after finish");
        let io = |e| Error::io(&self.tmp, e);
        for part in request.parts() {
            out.write_all(part.as_bytes()).map_err(io)?;
        }
        out.write_all(b"\n").map_err(io)
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(out) = self.out.take() {
            // Not fsynced: the export can be made again from the events, and syncing 300 MB
            // costs more than the whole conversion; the rename alone keeps readers from ever
            // seeing a partial file.
            out.into_inner().map_err(|e| Error::io(&self.tmp, e.into_error()))?;
            std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }
}

impl Drop for OtlpFileSink {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The default `service.name` for an events file: the instrumented tree it lies in. That is the
/// nearest folder at or above the file holding a Tel runtime (`_teleforge_tel.py`,
/// `_teleforge_tel.cjs`, `teleforge_tel.go`), else the file's own folder; a name ending in
/// `-instrumented` (instrument's default output) loses that suffix. `unknown_service` (the
/// OpenTelemetry default) when no folder has a name.
pub fn default_service_name(events: &Path) -> String {
    const RUNTIMES: [&str; 3] = ["_teleforge_tel.py", "_teleforge_tel.cjs", "teleforge_tel.go"];
    let abs = std::path::absolute(events).unwrap_or_else(|_| events.to_path_buf());
    let start = abs.parent();
    let tree = start
        .into_iter()
        .flat_map(Path::ancestors)
        .find(|dir| RUNTIMES.iter().any(|r| dir.join(r).is_file()))
        .or(start);
    let name = tree.and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = name.strip_suffix("-instrumented").unwrap_or(&name);
    if name.is_empty() {
        "unknown_service".to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_name_is_the_instrumented_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("shop-instrumented");
        std::fs::create_dir_all(tree.join("logs")).unwrap();
        std::fs::write(tree.join("_teleforge_tel.cjs"), "").unwrap();
        assert_eq!(default_service_name(&tree.join("logs/events.jsonl")), "shop");
        assert_eq!(
            default_service_name(&tmp.path().join("events.jsonl")),
            tmp.path().file_name().unwrap().to_str().unwrap()
        );
    }

    /// Fails its second request.
    struct FailingSink(u32, bool);

    impl BatchSink for FailingSink {
        fn send(&mut self, _request: &Request) -> Result<()> {
            self.0 += 1;
            if self.0 == 2 {
                return Err(Error::Refused { url: "u".into(), status: 400, detail: "no".into() });
            }
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            self.1 = true;
            Ok(())
        }
    }

    #[test]
    fn a_failing_sink_stops_the_export_with_its_own_error() {
        let tmp = tempfile::tempdir().unwrap();
        let events = tmp.path().join("events.jsonl");
        let mut text = String::new();
        for i in 1..=5000u64 {
            for kind in ["func_entry", "func_exit"] {
                text.push_str(&format!(
                    r#"{{"ts_unix_nano":{i},"kind":"{kind}","span_id":"{i:016x}","parent_span_id":null,"thread":"main","pid":1,"code.function.name":"f","code.file.path":"a.go","code.line.number":1}}"#
                ));
                text.push('\n');
            }
        }
        std::fs::write(&events, text).unwrap();
        let mut sink = FailingSink(0, false);
        let opts = ExportOptions { batch_size: 10, ..ExportOptions::new("s") };
        let err = export(&events, &opts, &mut sink).unwrap_err();
        assert!(matches!(err, Error::Refused { status: 400, .. }), "{err}");
        assert_eq!(sink.0, 2, "nothing is sent after the failure");
        assert!(!sink.1, "a failed export is not finished");
    }

    #[test]
    fn requests_stay_under_the_size_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let events = tmp.path().join("events.jsonl");
        let big = "x".repeat(10_000);
        let mut text = String::new();
        for i in 1..=300u64 {
            text.push_str(&format!(
                r#"{{"ts_unix_nano":{i},"kind":"func_entry","span_id":"{i:016x}","parent_span_id":null,"thread":"main","pid":1,"code.function.name":"f","code.file.path":"a.go","code.line.number":1,"args":{{"s":"{big}"}}}}"#
            ));
            text.push('\n');
        }
        std::fs::write(&events, text).unwrap();
        let mut out = Vec::new();
        let s = export(&events, &ExportOptions::new("s"), &mut JsonLinesSink::new(&mut out)).unwrap();
        assert_eq!(s.assembly.unfinished, 300);
        let out = String::from_utf8(out).unwrap();
        assert!(out.lines().count() >= 6, "{} lines", out.lines().count());
        for line in out.lines() {
            assert!(line.len() < DEFAULT_MAX_REQUEST_BYTES + 20_000, "{}", line.len());
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn a_malformed_line_is_named_and_publishes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let events = tmp.path().join("events.jsonl");
        let good = r#"{"ts_unix_nano":1,"kind":"func_entry","span_id":"0000000000000001","parent_span_id":null,"thread":"main","pid":1,"code.function.name":"f","code.file.path":"a.js","code.line.number":1,"args":{}}"#;
        std::fs::write(&events, format!("{good}\n\n{{\"kind\": 3}}\n")).unwrap();
        let out = tmp.path().join("out.json");
        let mut sink = OtlpFileSink::create(&out).unwrap();
        let err = export(&events, &ExportOptions::new("s"), &mut sink).unwrap_err();
        drop(sink);
        assert!(err.to_string().contains("events.jsonl:3: not a Tel event"), "{err}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "no output, no temporary file left");

        let mut sink = OtlpFileSink::create(&out).unwrap();
        let opts = ExportOptions { skip_malformed: true, ..ExportOptions::new("s") };
        let s = export(&events, &opts, &mut sink).unwrap();
        assert_eq!((s.malformed, s.assembly.unfinished, s.batches), (1, 1, 1));
        assert!(s.first_malformed.unwrap().contains("events.jsonl:3:"));
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().count(), 1);
    }
}
