//! Writing OTLP/JSON by hand, following the OTLP/JSON encoding rules
//! (<https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>): lowerCamelCase field names,
//! trace and span ids as lowercase hex (not base64), 64-bit integers as decimal strings, enums as
//! integers, default values left out.
//!
//! Spans are encoded as they finish, so a batch is a list of finished JSON fragments grouped by
//! process; nothing is built as a tree of values first.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::event::Value;

/// `SPAN_KIND_INTERNAL`: a function call inside the program.
const SPAN_KIND_INTERNAL: u8 = 1;
/// `STATUS_CODE_ERROR`.
const STATUS_CODE_ERROR: u8 = 2;

/// Appends `s` as a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// Appends `s` escaped for the inside of a JSON string.
fn push_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends an unsigned 64-bit integer as a JSON string (`fixed64`, `int64` fields).
pub fn push_u64_str(out: &mut String, v: u64) {
    out.push('"');
    out.push_str(itoa::Buffer::new().format(v));
    out.push('"');
}

fn push_i64_str(out: &mut String, v: i64) {
    out.push('"');
    out.push_str(itoa::Buffer::new().format(v));
    out.push('"');
}

/// Appends a span id as 16 lowercase hex digits in quotes.
pub fn push_span_id(out: &mut String, id: u64) {
    out.push('"');
    push_hex(out, id);
    out.push('"');
}

/// Appends a trace id as 32 lowercase hex digits in quotes.
pub fn push_trace_id(out: &mut String, id: u128) {
    out.push('"');
    push_hex(out, (id >> 64) as u64);
    push_hex(out, id as u64);
    out.push('"');
}

fn push_hex(out: &mut String, v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = DIGITS[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

/// An OTLP `AnyValue` for a Tel value. `null` is the empty `AnyValue` (`{}`), which OTLP defines
/// as "no value"; integers beyond 64 bits arrive here as strings.
pub fn push_any_value(out: &mut String, v: &Value<'_>) {
    match v {
        Value::Null => out.push_str("{}"),
        Value::Bool(b) => out.push_str(if *b { "{\"boolValue\":true}" } else { "{\"boolValue\":false}" }),
        Value::Int(i) => {
            out.push_str("{\"intValue\":");
            push_i64_str(out, *i);
            out.push('}');
        }
        Value::Float(f) => {
            out.push_str("{\"doubleValue\":");
            // Values parsed from JSON are finite; anything else is written as text.
            match serde_json::Number::from_f64(*f) {
                Some(n) => out.push_str(&n.to_string()),
                None => push_str(out, &f.to_string()),
            }
            out.push('}');
        }
        Value::Str(s) => {
            out.push_str("{\"stringValue\":");
            push_str(out, s);
            out.push('}');
        }
        Value::List(items) => {
            out.push_str("{\"arrayValue\":{\"values\":[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_any_value(out, item);
            }
            out.push_str("]}}");
        }
        Value::Map(fields) => {
            out.push_str("{\"kvlistValue\":{\"values\":[");
            for (i, (k, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"key\":");
                push_str(out, k);
                out.push_str(",\"value\":");
                push_any_value(out, item);
                out.push('}');
            }
            out.push_str("]}}");
        }
    }
}

/// A list of OTLP `KeyValue`s, encoded as they are added (the text between `[` and `]`).
#[derive(Debug, Default, Clone)]
pub struct KeyValues {
    text: String,
    len: u32,
}

impl KeyValues {
    pub fn new() -> Self {
        Self::default()
    }

    fn key(&mut self, key: &str) {
        if self.len > 0 {
            self.text.push(',');
        }
        self.len += 1;
        self.text.push_str("{\"key\":");
        push_str(&mut self.text, key);
        self.text.push_str(",\"value\":");
    }

    /// A key made of a prefix and a name (`teleforge.args.` + `count`).
    fn key2(&mut self, prefix: &str, name: &str) {
        if self.len > 0 {
            self.text.push(',');
        }
        self.len += 1;
        self.text.push_str("{\"key\":\"");
        self.text.push_str(prefix); // prefixes are ours: nothing to escape
        push_escaped(&mut self.text, name);
        self.text.push_str("\",\"value\":");
    }

    pub fn str(&mut self, key: &str, v: &str) {
        self.key(key);
        self.text.push_str("{\"stringValue\":");
        push_str(&mut self.text, v);
        self.text.push_str("}}");
    }

    pub fn int(&mut self, key: &str, v: i64) {
        self.key(key);
        self.text.push_str("{\"intValue\":");
        push_i64_str(&mut self.text, v);
        self.text.push_str("}}");
    }

    pub fn bool(&mut self, key: &str, v: bool) {
        self.key(key);
        self.text.push_str(if v { "{\"boolValue\":true}}" } else { "{\"boolValue\":false}}" });
    }

    pub fn value(&mut self, key: &str, v: &Value<'_>) {
        self.key(key);
        push_any_value(&mut self.text, v);
        self.text.push('}');
    }

    /// `prefix` + `name` → `v`: one attribute per parameter or result.
    pub fn prefixed_value(&mut self, prefix: &str, name: &str, v: &Value<'_>) {
        self.key2(prefix, name);
        push_any_value(&mut self.text, v);
        self.text.push('}');
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoded list, without brackets.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A finished span, its attributes and events already encoded.
#[derive(Debug, Clone)]
pub struct Span {
    /// The process that wrote it: spans are grouped into one resource per process.
    pub pid: u64,
    /// `telemetry.sdk.language` of that process, from the source file's extension.
    pub language: Option<&'static str>,
    pub trace_id: u128,
    pub span_id: u64,
    pub parent_span_id: Option<u64>,
    pub name: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub attributes: KeyValues,
    /// Encoded `Span.Event` objects, comma-separated.
    pub events: String,
    pub event_count: u32,
    /// `Some(message)` sets status ERROR.
    pub error: Option<String>,
    /// No `func_exit` was read: the end time is the last thing seen inside the call.
    pub unfinished: bool,
}

impl Span {
    /// Appends the span as an OTLP/JSON `Span` object.
    pub fn encode(&self, out: &mut String) {
        out.push_str("{\"traceId\":");
        push_trace_id(out, self.trace_id);
        out.push_str(",\"spanId\":");
        push_span_id(out, self.span_id);
        if let Some(p) = self.parent_span_id {
            out.push_str(",\"parentSpanId\":");
            push_span_id(out, p);
        }
        out.push_str(",\"name\":");
        push_str(out, &self.name);
        let _ = write!(out, ",\"kind\":{SPAN_KIND_INTERNAL},\"startTimeUnixNano\":");
        push_u64_str(out, self.start_unix_nano);
        out.push_str(",\"endTimeUnixNano\":");
        push_u64_str(out, self.end_unix_nano);
        if !self.attributes.is_empty() {
            out.push_str(",\"attributes\":[");
            out.push_str(self.attributes.as_str());
            out.push(']');
        }
        if self.event_count > 0 {
            out.push_str(",\"events\":[");
            out.push_str(&self.events);
            out.push(']');
        }
        if let Some(msg) = &self.error {
            let _ = write!(out, ",\"status\":{{\"code\":{STATUS_CODE_ERROR},\"message\":");
            push_str(out, msg);
            out.push('}');
        }
        out.push('}');
    }
}

/// Appends one `Span.Event` (comma-separated from the previous one) to `events`.
pub fn push_event(events: &mut String, count: &mut u32, time_unix_nano: u64, name: &str, attributes: &KeyValues) {
    if *count > 0 {
        events.push(',');
    }
    *count += 1;
    events.push_str("{\"timeUnixNano\":");
    push_u64_str(events, time_unix_nano);
    events.push_str(",\"name\":");
    push_str(events, name);
    if !attributes.is_empty() {
        events.push_str(",\"attributes\":[");
        events.push_str(attributes.as_str());
        events.push(']');
    }
    events.push('}');
}

/// The resource every span of one process shares.
#[derive(Debug, Clone)]
pub struct Resource {
    pub service_name: String,
}

/// Finished spans waiting to be sent, grouped by process, and how to wrap them into one
/// `ExportTraceServiceRequest`.
#[derive(Debug)]
pub struct RequestBuilder {
    resource: Resource,
    by_pid: BTreeMap<u64, (Option<&'static str>, String)>,
    spans: usize,
    bytes: usize,
}

/// The instrumentation scope every span carries.
pub const SCOPE_NAME: &str = "teleforge";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl RequestBuilder {
    pub fn new(resource: Resource) -> Self {
        RequestBuilder { resource, by_pid: BTreeMap::new(), spans: 0, bytes: 0 }
    }

    pub fn push(&mut self, span: &Span) {
        let (language, text) = self.by_pid.entry(span.pid).or_insert_with(|| (None, String::new()));
        if language.is_none() {
            *language = span.language;
        }
        let before = text.len();
        if !text.is_empty() {
            text.push(',');
        }
        span.encode(text);
        self.bytes += text.len() - before;
        self.spans += 1;
    }

    /// Spans waiting.
    /// The encoded size of the spans waiting, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.spans
    }

    pub fn is_empty(&self) -> bool {
        self.spans == 0
    }

    /// The waiting spans as one `ExportTraceServiceRequest`; empties the builder. The spans'
    /// text is moved, not copied, into the request.
    pub fn take_request(&mut self) -> Request {
        let mut parts = Vec::with_capacity(self.by_pid.len() * 3 + 2);
        let mut head = String::from("{\"resourceSpans\":[");
        for (i, (pid, (language, spans))) in std::mem::take(&mut self.by_pid).into_iter().enumerate() {
            if i > 0 {
                head.push(',');
            }
            let mut attrs = KeyValues::new();
            attrs.str("service.name", &self.resource.service_name);
            attrs.int("process.pid", i64::try_from(pid).unwrap_or(i64::MAX));
            attrs.str("telemetry.sdk.name", SCOPE_NAME);
            if let Some(l) = language {
                attrs.str("telemetry.sdk.language", l);
            }
            attrs.str("telemetry.sdk.version", VERSION);
            head.push_str("{\"resource\":{\"attributes\":[");
            head.push_str(attrs.as_str());
            head.push_str("]},\"scopeSpans\":[{\"scope\":{\"name\":");
            push_str(&mut head, SCOPE_NAME);
            head.push_str(",\"version\":");
            push_str(&mut head, VERSION);
            head.push_str("},\"spans\":[");
            parts.push(std::mem::take(&mut head));
            parts.push(spans);
            head.push_str("]}]}");
        }
        head.push_str("]}");
        parts.push(head);
        let spans = std::mem::take(&mut self.spans);
        self.bytes = 0;
        Request { parts, spans }
    }
}

/// One `ExportTraceServiceRequest` as OTLP/JSON text in pieces (written one after the other, they
/// are the request; no newline).
#[derive(Debug, Clone, Default)]
pub struct Request {
    parts: Vec<String>,
    spans: usize,
}

impl Request {
    /// The text, in order.
    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// The spans it holds.
    pub fn spans(&self) -> usize {
        self.spans
    }

    /// The whole text.
    pub fn to_json(&self) -> String {
        self.parts.concat()
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn one_resource_per_process() {
        let span = |pid, id, language| Span {
            pid,
            language,
            trace_id: 7,
            span_id: id,
            parent_span_id: None,
            name: "f".into(),
            start_unix_nano: 1,
            end_unix_nano: 2,
            attributes: KeyValues::new(),
            events: String::new(),
            event_count: 0,
            error: None,
            unfinished: false,
        };
        let mut b = RequestBuilder::new(Resource { service_name: "svc".into() });
        b.push(&span(20, 1, Some("python")));
        b.push(&span(10, 2, None));
        b.push(&span(20, 3, None));
        let r = b.take_request();
        assert_eq!((r.spans(), b.len()), (3, 0));
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let rs = v["resourceSpans"].as_array().unwrap();
        assert_eq!(rs.len(), 2);
        let pid = |i: usize| rs[i]["resource"]["attributes"][1]["value"]["intValue"].clone();
        assert_eq!((pid(0), pid(1)), ("10".into(), "20".into()));
        assert_eq!(rs[1]["scopeSpans"][0]["spans"].as_array().unwrap().len(), 2);
        assert_eq!(rs[1]["resource"]["attributes"][3]["value"]["stringValue"], "python");
        assert_eq!(rs[0]["resource"]["attributes"][0]["value"]["stringValue"], "svc");
    }

    #[test]
    fn ids_are_lowercase_hex() {
        let mut out = String::new();
        push_span_id(&mut out, 0x00ab_cdef_0123_4567);
        push_trace_id(&mut out, 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        assert_eq!(out, r#""00abcdef01234567""0102030405060708090a0b0c0d0e0f10""#);
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = String::new();
        push_str(&mut out, "a\"b\\c\nd\u{1}é…");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é…""#);
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), "a\"b\\c\nd\u{1}é…");
    }

    #[test]
    fn values_follow_the_otlp_json_rules() {
        let mut kv = KeyValues::new();
        kv.value("n", &Value::Null);
        kv.value("i", &Value::Int(-3));
        kv.value("f", &Value::Float(0.25));
        kv.prefixed_value("teleforge.args.", "we\"ird", &Value::Str(Cow::Borrowed("x")));
        kv.value("l", &Value::List(vec![Value::Bool(true), Value::Map(vec![(Cow::Borrowed("k"), Value::Int(1))])]));
        let json: serde_json::Value = serde_json::from_str(&format!("[{}]", kv.as_str())).unwrap();
        assert_eq!(json[0], serde_json::json!({"key": "n", "value": {}}));
        assert_eq!(json[1], serde_json::json!({"key": "i", "value": {"intValue": "-3"}}));
        assert_eq!(json[2], serde_json::json!({"key": "f", "value": {"doubleValue": 0.25}}));
        assert_eq!(json[3], serde_json::json!({"key": "teleforge.args.we\"ird", "value": {"stringValue": "x"}}));
        assert_eq!(
            json[4]["value"],
            serde_json::json!({"arrayValue": {"values": [{"boolValue": true}, {"kvlistValue": {"values": [{"key": "k", "value": {"intValue": "1"}}]}}]}})
        );
        assert_eq!(kv.len(), 5);
    }
}
