//! Span assembly: Tel events in file order → finished spans.
//!
//! A `func_entry` opens a span and a `func_exit` with the same `span_id` finishes it; loops and
//! assignments become events of the span they name. Memory holds the spans open at one time plus
//! a bounded table of recently finished spans (for callers that finish before their callees
//! start: async tasks, callbacks).
//!
//! The rules (docs/TELEMETRY.md, "OpenTelemetry export"):
//! - **Trace ids.** A call whose `parent_span_id` is null starts a trace: its trace id is derived
//!   from its span id, pid and start time (stable: exporting the same file twice gives the same
//!   ids). Every other call takes its caller's trace id, looked up among open spans, then among the
//!   last [`RECENT_CAPACITY`] finished ones. A caller found in neither (a file that starts mid-run,
//!   or a caller that finished long before) makes the call the root of a trace of its own, with
//!   the caller's id kept in `teleforge.parent_span_id`.
//! - **Unfinished spans.** A span with no `func_exit` by the end of the input (the process crashed,
//!   was killed, called `os.Exit` inside the call, or the call used Python's entry-only form) is
//!   written at the end with `teleforge.unfinished = true` and, as its end time, the latest time
//!   seen inside it: its own events and its callees' ends, or its start when there is none.
//! - **Exits without an entry** (a file cut at the front) become spans of their own from the exit:
//!   start = exit time − `duration_ns`, marked `teleforge.entry_missing = true`.
//! - **Repeats**: a second `func_entry` for an open or recently finished span, or a second
//!   `func_exit`, is counted and left out, so every span is written once.
//! - Loops and assignments naming no open span (outside any recorded call, or after their call
//!   finished) are counted and left out: an OTLP span event needs its span.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::event::{Event, Kind};
use crate::otlp_json::{push_event, KeyValues, Span};

/// Maps keyed by span id. Ids are random already, so one multiply-xorshift round replaces
/// SipHash (a crafted file can at worst slow its own export down).
type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = mix(self.0 ^ v);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// How many finished spans are remembered for callees that start after their caller finished.
pub const RECENT_CAPACITY: usize = 1 << 18;

/// Attribute prefixes for a call's arguments and results.
pub const ARGS_PREFIX: &str = "teleforge.args.";
pub const RESULTS_PREFIX: &str = "teleforge.results.";

/// What the assembler saw, for the summary a user reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AssemblyStats {
    pub events: u64,
    pub spans: u64,
    pub span_events: u64,
    pub errors: u64,
    pub unfinished: u64,
    pub entry_missing: u64,
    pub detached: u64,
    pub repeated: u64,
    pub outside_spans: u64,
    /// The most spans open at one time (what memory grew with).
    pub max_open: u64,
}

#[derive(Debug)]
struct OpenSpan {
    span: Span,
    /// The latest time seen inside the call (its events, its callees' ends).
    last_ts: u64,
}

/// Recently finished spans: id → trace id, oldest forgotten first.
#[derive(Debug, Default)]
struct Recent {
    trace_of: IdMap<u128>,
    order: VecDeque<u64>,
}

impl Recent {
    fn insert(&mut self, id: u64, trace: u128) {
        if self.order.len() == RECENT_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.trace_of.remove(&old);
            }
        }
        if self.trace_of.insert(id, trace).is_none() {
            self.order.push_back(id);
        }
    }
}

/// Turns events into spans. Feed it every event in file order with [`Assembler::push`], then
/// call [`Assembler::finish`] for the spans never finished.
#[derive(Debug, Default)]
pub struct Assembler {
    open: IdMap<OpenSpan>,
    recent: Recent,
    stats: AssemblyStats,
}

impl Assembler {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> &AssemblyStats {
        &self.stats
    }

    /// Takes one event; returns the span it finished, if any.
    pub fn push(&mut self, ev: &Event<'_>) -> Option<Span> {
        self.stats.events += 1;
        match ev.kind {
            Kind::FuncEntry => {
                self.enter(ev);
                None
            }
            Kind::FuncExit => self.exit(ev),
            Kind::LoopIter | Kind::VarAssign => {
                self.attach(ev);
                None
            }
        }
    }

    fn enter(&mut self, ev: &Event<'_>) {
        let id = ev.span_id.expect("checked by Event::parse");
        if self.open.contains_key(&id) || self.recent.trace_of.contains_key(&id) {
            self.stats.repeated += 1;
            return;
        }
        let mut span = self.new_span(ev, id, ev.ts_unix_nano);
        if let Some(args) = &ev.args {
            for (name, v) in &args.0 {
                span.attributes.prefixed_value(ARGS_PREFIX, name, v);
            }
        }
        self.open.insert(id, OpenSpan { span, last_ts: ev.ts_unix_nano });
        self.stats.max_open = self.stats.max_open.max(self.open.len() as u64);
    }

    fn exit(&mut self, ev: &Event<'_>) -> Option<Span> {
        let id = ev.span_id.expect("checked by Event::parse");
        let mut span = match self.open.remove(&id) {
            Some(open) => open.span,
            None if self.recent.trace_of.contains_key(&id) => {
                self.stats.repeated += 1;
                return None;
            }
            None => {
                let start = ev.ts_unix_nano.saturating_sub(ev.duration_ns.unwrap_or(0));
                let mut span = self.new_span(ev, id, start);
                span.attributes.bool("teleforge.entry_missing", true);
                self.stats.entry_missing += 1;
                span
            }
        };
        span.end_unix_nano = ev.ts_unix_nano.max(span.start_unix_nano);
        if let Some(results) = &ev.results {
            let mut buf = itoa::Buffer::new();
            for (i, v) in results.iter().enumerate() {
                span.attributes.prefixed_value(RESULTS_PREFIX, buf.format(i), v);
            }
        }
        if let Some(err) = &ev.error {
            let mut attrs = KeyValues::new();
            attrs.str("exception.message", err);
            push_event(&mut span.events, &mut span.event_count, span.end_unix_nano, "exception", &attrs);
            span.error = Some(err.to_string());
            self.stats.errors += 1;
        }
        Some(self.finished(span))
    }

    /// Records a finished span: its caller learns its end, later callees find its trace.
    fn finished(&mut self, span: Span) -> Span {
        if let Some(parent) = span.parent_span_id.and_then(|p| self.open.get_mut(&p)) {
            parent.last_ts = parent.last_ts.max(span.end_unix_nano);
        }
        self.recent.insert(span.span_id, span.trace_id);
        self.stats.spans += 1;
        self.stats.span_events += u64::from(span.event_count);
        span
    }

    fn attach(&mut self, ev: &Event<'_>) {
        let Some(open) = ev.span_id.and_then(|id| self.open.get_mut(&id)) else {
            self.stats.outside_spans += 1;
            return;
        };
        let mut attrs = KeyValues::new();
        code_attributes(&mut attrs, ev);
        match ev.kind {
            Kind::LoopIter => {
                if let Some(n) = ev.iteration {
                    attrs.int("teleforge.loop.iteration", n);
                }
            }
            _ => {
                if let Some(v) = &ev.variable {
                    attrs.str("teleforge.variable.name", v);
                }
                attrs.value("teleforge.variable.value", &ev.value);
            }
        }
        let span = &mut open.span;
        push_event(&mut span.events, &mut span.event_count, ev.ts_unix_nano, ev.kind.name(), &attrs);
        open.last_ts = open.last_ts.max(ev.ts_unix_nano);
    }

    /// A span for a call (from its entry, or from an exit without one): ids, trace, code.*.
    fn new_span(&mut self, ev: &Event<'_>, id: u64, start: u64) -> Span {
        let mut attributes = KeyValues::new();
        code_attributes(&mut attributes, ev);
        if !ev.thread.is_empty() {
            attributes.str("thread.name", &ev.thread);
        }
        let caller_trace = ev
            .parent_span_id
            .map(|p| self.open.get(&p).map(|o| o.span.trace_id).or_else(|| self.recent.trace_of.get(&p).copied()));
        let (trace_id, parent_span_id) = match (ev.parent_span_id, caller_trace) {
            (Some(p), Some(Some(trace))) => (trace, Some(p)),
            (Some(p), _) => {
                // The caller is unknown here: a trace of its own, the caller's id kept.
                attributes.str("teleforge.parent_span_id", &format!("{p:016x}"));
                self.stats.detached += 1;
                (root_trace_id(id, ev.pid, start), None)
            }
            (None, _) => (root_trace_id(id, ev.pid, start), None),
        };
        Span {
            pid: ev.pid,
            language: language_of(&ev.file),
            trace_id,
            span_id: id,
            parent_span_id,
            name: ev.function.to_string(),
            start_unix_nano: start,
            end_unix_nano: start,
            attributes,
            events: String::new(),
            event_count: 0,
            error: None,
            unfinished: false,
        }
    }

    /// Ends the input: every span still open, callees first, as an unfinished span. Returns them
    /// in start order, and the statistics.
    pub fn finish(mut self) -> (Vec<Span>, AssemblyStats) {
        // Depth among open spans, so that callees pass their end to callers before those end.
        let mut depth: IdMap<u32> = IdMap::default();
        let ids: Vec<u64> = self.open.keys().copied().collect();
        for &id in &ids {
            let mut chain = Vec::new();
            let mut cur = id;
            let base = loop {
                if let Some(&d) = depth.get(&cur) {
                    break d;
                }
                chain.push(cur);
                match self.open[&cur].span.parent_span_id.filter(|p| self.open.contains_key(p) && !chain.contains(p)) {
                    Some(p) => cur = p,
                    None => break 0,
                }
            };
            for (i, c) in chain.iter().rev().enumerate() {
                depth.insert(*c, base + i as u32 + 1);
            }
        }
        let mut order = ids;
        order.sort_by_key(|id| std::cmp::Reverse(depth[id]));
        let mut out = Vec::with_capacity(order.len());
        for id in order {
            let Some(open) = self.open.remove(&id) else { continue };
            let mut span = open.span;
            span.end_unix_nano = open.last_ts.max(span.start_unix_nano);
            span.unfinished = true;
            span.attributes.bool("teleforge.unfinished", true);
            self.stats.unfinished += 1;
            out.push(self.finished(span));
        }
        out.sort_by_key(|s| (s.start_unix_nano, s.span_id));
        (out, self.stats)
    }
}

fn code_attributes(attrs: &mut KeyValues, ev: &Event<'_>) {
    attrs.str("code.function.name", &ev.function);
    attrs.str("code.file.path", &ev.file);
    attrs.int("code.line.number", ev.line);
}

/// `telemetry.sdk.language` from the source file's extension.
fn language_of(file: &str) -> Option<&'static str> {
    let ext = file.rsplit_once('.')?.1;
    Some(match ext {
        "go" => "go",
        "py" | "pyw" => "python",
        "js" | "mjs" | "cjs" | "jsx" | "ts" | "mts" | "cts" | "tsx" => "nodejs",
        _ => return None,
    })
}

/// A trace id for a root call, derived from what identifies it (splitmix64 finalisers), never zero.
pub fn root_trace_id(span_id: u64, pid: u64, start: u64) -> u128 {
    let hi = mix(span_id ^ pid.rotate_left(32));
    let lo = mix(hi ^ start);
    let id = (u128::from(hi) << 64) | u128::from(lo);
    if id == 0 {
        1
    } else {
        id
    }
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: u64, kind: &str, span: Option<u64>, parent: Option<u64>, extra: &str) -> String {
        let id = |v: Option<u64>| v.map_or("null".to_string(), |v| format!("\"{v:016x}\""));
        format!(
            r#"{{"ts_unix_nano":{ts},"kind":"{kind}","span_id":{},"parent_span_id":{},"thread":"main","pid":7,"code.function.name":"f{}","code.file.path":"a.py","code.line.number":3{extra}}}"#,
            id(span),
            id(parent),
            span.unwrap_or(0)
        )
    }

    fn run(lines: &[String]) -> (Vec<Span>, AssemblyStats) {
        let mut a = Assembler::new();
        let mut out = Vec::new();
        for l in lines {
            out.extend(a.push(&Event::parse(l.as_bytes()).unwrap()));
        }
        let (rest, stats) = a.finish();
        out.extend(rest);
        (out, stats)
    }

    fn attrs(s: &Span) -> serde_json::Value {
        serde_json::from_str(&format!("[{}]", s.attributes.as_str())).unwrap()
    }

    #[test]
    fn pairs_become_spans_with_parents_traces_and_events() {
        let (spans, stats) = run(&[
            ev(10, "func_entry", Some(1), None, r#","args":{"x":1}"#),
            ev(11, "func_entry", Some(2), Some(1), ""),
            ev(12, "loop_iter", Some(2), Some(1), r#","iteration":1"#),
            ev(13, "func_exit", Some(2), Some(1), r#","duration_ns":2,"results":[],"error":"ValueError: no""#),
            ev(14, "var_assign", Some(1), None, r#","variable":"y","value":"v""#),
            ev(20, "func_exit", Some(1), None, r#","duration_ns":10,"results":[5]"#),
            ev(30, "func_entry", Some(3), None, ""),
            ev(31, "func_exit", Some(3), None, r#","duration_ns":1,"results":[]"#),
        ]);
        assert_eq!(spans.len(), 3);
        let (inner, outer, other) = (&spans[0], &spans[1], &spans[2]);
        assert_eq!((inner.span_id, inner.parent_span_id), (2, Some(1)));
        assert_eq!(inner.trace_id, outer.trace_id, "a callee shares its caller's trace");
        assert_ne!(other.trace_id, outer.trace_id, "each root call starts a trace");
        assert_eq!((outer.start_unix_nano, outer.end_unix_nano), (10, 20));
        assert_eq!(inner.error.as_deref(), Some("ValueError: no"));
        assert_eq!(inner.event_count, 2, "loop_iter and the exception");
        assert_eq!(outer.event_count, 1);
        let a = attrs(outer);
        assert!(a
            .as_array()
            .unwrap()
            .iter()
            .any(|kv| kv["key"] == "teleforge.args.x" && kv["value"]["intValue"] == "1"));
        assert!(a.as_array().unwrap().iter().any(|kv| kv["key"] == "teleforge.results.0"));
        assert_eq!(stats.spans, 3);
        assert_eq!(stats.errors, 1);
    }

    #[test]
    fn open_spans_end_unfinished_at_the_last_thing_inside_them() {
        let (spans, stats) = run(&[
            ev(10, "func_entry", Some(1), None, ""),
            ev(11, "func_entry", Some(2), Some(1), ""),
            ev(12, "func_entry", Some(3), Some(2), ""),
            ev(15, "func_exit", Some(3), Some(2), r#","duration_ns":3"#),
            ev(17, "loop_iter", Some(2), Some(1), r#","iteration":1"#),
            ev(18, "func_entry", Some(4), None, ""), // entry-only style: nothing inside
            ev(40, "func_entry", Some(5), None, ""),
            ev(41, "func_exit", Some(5), None, ""),
        ]);
        assert_eq!(stats.unfinished, 3);
        let by_id = |id| spans.iter().find(|s| s.span_id == id).unwrap();
        assert!(!by_id(3).unfinished && by_id(2).unfinished && by_id(1).unfinished);
        assert_eq!(by_id(2).end_unix_nano, 17, "its own last event");
        assert_eq!(by_id(1).end_unix_nano, 17, "its callee's end");
        assert_eq!(by_id(4).end_unix_nano, 18, "nothing inside: its start");
        assert!(attrs(by_id(1)).as_array().unwrap().iter().any(|kv| kv["key"] == "teleforge.unfinished"));
    }

    #[test]
    fn orphans_repeats_and_late_callees() {
        let (spans, stats) = run(&[
            ev(100, "func_exit", Some(9), None, r#","duration_ns":40"#),
            ev(101, "func_entry", Some(1), None, ""),
            ev(102, "func_exit", Some(1), None, ""),
            ev(103, "func_entry", Some(1), None, ""),
            ev(104, "func_exit", Some(1), None, ""),
            ev(105, "func_entry", Some(2), Some(1), ""), // an async callee after its caller ended
            ev(106, "func_exit", Some(2), Some(1), ""),
            ev(107, "func_entry", Some(3), Some(77), ""), // caller never seen
            ev(108, "func_exit", Some(3), Some(77), ""),
            ev(109, "loop_iter", None, None, ""),
            ev(110, "loop_iter", Some(1), None, ""),
        ]);
        let by_id = |id| spans.iter().find(|s| s.span_id == id).unwrap();
        assert_eq!(spans.len(), 4);
        assert_eq!(by_id(9).start_unix_nano, 60);
        assert_eq!((stats.entry_missing, stats.repeated, stats.outside_spans, stats.detached), (1, 2, 2, 1));
        assert_eq!(by_id(2).trace_id, by_id(1).trace_id);
        assert_eq!(by_id(2).parent_span_id, Some(1));
        assert_eq!(by_id(3).parent_span_id, None);
        assert!(attrs(by_id(3))
            .as_array()
            .unwrap()
            .iter()
            .any(|kv| kv["key"] == "teleforge.parent_span_id" && kv["value"]["stringValue"] == "000000000000004d"));
    }
}
