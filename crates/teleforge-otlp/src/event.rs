//! Tel events as the runtimes write them (docs/TELEMETRY.md, "Event shape"), parsed from one line
//! without copying the strings that need no unescaping.
//!
//! Fields this version does not know are ignored, so a newer runtime's extra fields do not stop an
//! export; a missing required field, a wrong type or an unknown `kind` make the line malformed.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// The four event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    FuncEntry,
    FuncExit,
    LoopIter,
    VarAssign,
}

/// One Tel event. Strings borrow from the line unless they held escapes.
#[derive(Debug, Deserialize)]
pub struct Event<'a> {
    pub ts_unix_nano: u64,
    pub kind: Kind,
    /// The call this event belongs to; `None` for a loop or assignment outside any recorded call.
    #[serde(default, deserialize_with = "span_id")]
    pub span_id: Option<u64>,
    #[serde(default, deserialize_with = "span_id")]
    pub parent_span_id: Option<u64>,
    #[serde(borrow, default)]
    pub thread: Cow<'a, str>,
    pub pid: u64,
    #[serde(rename = "code.function.name", borrow)]
    pub function: Cow<'a, str>,
    #[serde(rename = "code.file.path", borrow)]
    pub file: Cow<'a, str>,
    #[serde(rename = "code.line.number")]
    pub line: i64,
    /// `func_entry`: parameter name → value, in the order written.
    #[serde(borrow, default)]
    pub args: Option<Fields<'a>>,
    /// `func_exit`: how long the call took, as the runtime measured it.
    #[serde(default)]
    pub duration_ns: Option<u64>,
    #[serde(borrow, default)]
    pub results: Option<Vec<Value<'a>>>,
    /// `func_exit`: present when an exception or panic propagated out of the call.
    #[serde(borrow, default)]
    pub error: Option<Cow<'a, str>>,
    /// `loop_iter`: the site's 1-based counter (gaps show sampling).
    #[serde(default)]
    pub iteration: Option<i64>,
    #[serde(borrow, default)]
    pub variable: Option<Cow<'a, str>>,
    /// `var_assign`: the value (absent reads as null).
    #[serde(borrow, default)]
    pub value: Value<'a>,
}

impl<'a> Event<'a> {
    /// Parses one line and checks what the kind requires (a span id on entries and exits).
    pub fn parse(line: &'a [u8]) -> Result<Event<'a>, String> {
        // One UTF-8 check for the whole line (fast), instead of one per string.
        let text =
            std::str::from_utf8(line).map_err(|e| format!("the line is not UTF-8 (byte {})", e.valid_up_to() + 1))?;
        let ev: Event<'a> = serde_json::from_str(text).map_err(|e| describe(&e))?;
        match ev.kind {
            Kind::FuncEntry | Kind::FuncExit if ev.span_id.is_none() => {
                Err(format!("a {} event needs a span_id", ev.kind.name()))
            }
            _ => Ok(ev),
        }
    }
}

impl Kind {
    /// The name the runtimes write.
    pub fn name(self) -> &'static str {
        match self {
            Kind::FuncEntry => "func_entry",
            Kind::FuncExit => "func_exit",
            Kind::LoopIter => "loop_iter",
            Kind::VarAssign => "var_assign",
        }
    }
}

/// serde_json's message with its position as `column N` (the line is the caller's).
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(msg) if e.line() > 0 => format!("{msg} (column {})", e.column()),
        _ => text,
    }
}

/// A span id: 16 hex digits, not all zero (OTLP forbids the zero id), or null.
fn span_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let s: Option<Cow<'de, str>> = Option::deserialize(d)?;
    match s {
        None => Ok(None),
        Some(s) => match parse_span_id(&s) {
            Some(id) => Ok(Some(id)),
            None => Err(de::Error::custom(format!("{s:?} is not a span id (16 hex digits, not all zero)"))),
        },
    }
}

/// 16 hex digits (either case) → the id, `None` otherwise or when zero.
pub fn parse_span_id(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    (v != 0).then_some(v)
}

/// A value as the runtimes render it (docs/TELEMETRY.md, "Values"): JSON scalars, and arrays or
/// objects should a runtime ever write them.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value<'a> {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    /// A finite JSON number with a fraction or exponent (or an integer beyond 64 bits).
    Float(f64),
    Str(Cow<'a, str>),
    List(Vec<Value<'a>>),
    Map(Vec<(Cow<'a, str>, Value<'a>)>),
}

/// An object's fields in the order written (`args`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields<'a>(pub Vec<(Cow<'a, str>, Value<'a>)>);

/// A string that borrows from the input when it can.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        // Beyond int64 (OTLP's intValue): kept exact as text.
        Ok(i64::try_from(v).map_or_else(|_| Value::Str(Cow::Owned(v.to_string())), Value::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value<'de>>()? {
            out.push(v);
        }
        Ok(Value::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(Value::Map(fields(map)?))
    }
}

fn fields<'de, A: MapAccess<'de>>(mut map: A) -> Result<Vec<(Cow<'de, str>, Value<'de>)>, A::Error> {
    let mut out = Vec::new();
    while let Some(Str(k)) = map.next_key::<Str<'de>>()? {
        out.push((k, map.next_value::<Value<'de>>()?));
    }
    Ok(out)
}

impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of parameter name to value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Ok(Fields(fields(map)?))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_and_borrows_plain_strings() {
        let line = br#"{"ts_unix_nano":1795980223749648748,"kind":"func_entry","span_id":"d17d3561558a61d3","parent_span_id":null,"thread":"goroutine-1","pid":20223,"code.function.name":"main.main","code.file.path":"main.go","code.line.number":42,"args":{"b":2,"a":"x\ny","n":null,"f":1.5,"big":18446744073709551615}}"#;
        let ev = Event::parse(line).unwrap();
        assert_eq!(ev.kind, Kind::FuncEntry);
        assert_eq!(ev.span_id, Some(0xd17d3561558a61d3));
        assert_eq!(ev.parent_span_id, None);
        assert!(matches!(ev.function, Cow::Borrowed("main.main")));
        let args = ev.args.unwrap().0;
        let names: Vec<&str> = args.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(names, ["b", "a", "n", "f", "big"], "order kept");
        assert_eq!(args[1].1, Value::Str(Cow::Borrowed("x\ny")));
        assert_eq!(args[2].1, Value::Null);
        assert_eq!(args[3].1, Value::Float(1.5));
        assert_eq!(args[4].1, Value::Str(Cow::Borrowed("18446744073709551615")));

        let line = br#"{"ts_unix_nano":5,"kind":"var_assign","span_id":null,"parent_span_id":null,"thread":"main","pid":1,"code.function.name":"f","code.file.path":"a.js","code.line.number":3,"variable":"x","value":null,"new_field":[1]}"#;
        let ev = Event::parse(line).unwrap();
        assert_eq!((ev.kind, ev.span_id, ev.value), (Kind::VarAssign, None, Value::Null));
    }

    #[test]
    fn malformed_lines_say_why() {
        let cases: [(&[u8], &str); 5] = [
            (b"{\"kind\":\"func_entry\"", "EOF"),
            (br#"{"ts_unix_nano":1,"kind":"func_call","span_id":"0000000000000001","pid":1,"code.function.name":"f","code.file.path":"a","code.line.number":1}"#, "unknown variant `func_call`"),
            (br#"{"ts_unix_nano":1,"kind":"func_exit","span_id":"xyz","pid":1,"code.function.name":"f","code.file.path":"a","code.line.number":1}"#, "is not a span id"),
            (br#"{"ts_unix_nano":1,"kind":"func_exit","span_id":null,"pid":1,"code.function.name":"f","code.file.path":"a","code.line.number":1}"#, "needs a span_id"),
            (br#"{"ts_unix_nano":1,"kind":"loop_iter","pid":1,"code.file.path":"a","code.line.number":1}"#, "missing field `code.function.name`"),
        ];
        for (line, want) in cases {
            let err = Event::parse(line).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
        assert_eq!(parse_span_id("0000000000000000"), None);
        assert_eq!(parse_span_id("00000000000000ff"), Some(255));
    }
}
