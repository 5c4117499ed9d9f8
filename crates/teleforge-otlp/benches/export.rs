//! Export benchmark: `teleforge telemetry export` of 1M Tel events against a baseline measured in
//! the same run.
//!
//! ```text
//! cargo build --release -p teleforge && cargo bench -p teleforge-otlp --bench export
//! ```
//!
//! The events file is generated (deterministic): root calls with three callees each, every callee
//! calling one more function and running a loop, assignments, arguments and results of every
//! value kind, lines of the size the runtimes write (~250 bytes). Timed, median of
//! `TELEFORGE_BENCH_SAMPLES` (default 3):
//! - baseline: reading the file line by line and parsing every line with
//!   `serde_json::from_slice::<serde_json::Value>` (what any reader of the format must do);
//! - the library: `teleforge_otlp::export` to an OTLP/JSON file (read, parse, assemble, encode,
//!   write, rename);
//! - the command: the `teleforge` binary (`TELEFORGE_BIN`, else `target/release/teleforge`), the
//!   whole process, `telemetry export EVENTS --out FILE`.
//!
//! Target: the command exports 1M events in at most 5 s. `TELEFORGE_BENCH_EVENTS=N` changes the
//! size. Progress goes to stderr, the table to stdout; nothing asserts on time.

use std::hint::black_box;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use teleforge_otlp::{export, ExportOptions, OtlpFileSink};

const TARGET_SECS: f64 = 5.0;

fn main() {
    let n: u64 = std::env::var("TELEFORGE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let samples: usize = std::env::var("TELEFORGE_BENCH_SAMPLES").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let tmp = tempfile::tempdir().expect("temp dir");
    let events = tmp.path().join("events.jsonl");
    let t = Instant::now();
    let (written, spans) = generate(&events, n);
    let size = std::fs::metadata(&events).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "generated {written} events ({spans} calls, {:.1} MiB) in {:.2} s",
        size as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    let baseline = median(samples, || {
        let t = Instant::now();
        let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(&events).unwrap());
        let mut line = Vec::new();
        let mut count = 0u64;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).unwrap() == 0 {
                break;
            }
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            black_box(&v);
            count += 1;
        }
        assert_eq!(count, written);
        t.elapsed()
    });
    eprintln!("baseline: {:.2} s", baseline.as_secs_f64());

    let parse_only = median(samples, || {
        let t = Instant::now();
        assert_eq!(teleforge_otlp::check(&events).unwrap(), written);
        t.elapsed()
    });
    eprintln!("typed parse: {:.2} s", parse_only.as_secs_f64());

    let no_write = median(samples, || {
        let t = Instant::now();
        let mut sink = teleforge_otlp::JsonLinesSink::new(std::io::sink());
        export(&events, &ExportOptions::new("bench"), &mut sink).unwrap();
        t.elapsed()
    });
    eprintln!("export, output discarded: {:.2} s", no_write.as_secs_f64());

    let out = tmp.path().join("otlp.json");
    let mut summary = None;
    let library = median(samples, || {
        let t = Instant::now();
        let mut sink = OtlpFileSink::create(&out).unwrap();
        summary = Some(export(&events, &ExportOptions::new("bench"), &mut sink).unwrap());
        t.elapsed()
    });
    let summary = summary.unwrap();
    assert_eq!(summary.assembly.spans, spans);
    let out_size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    eprintln!("library: {:.2} s", library.as_secs_f64());

    let bin = binary();
    let command = bin.as_ref().map(|bin| {
        median(samples, || {
            let t = Instant::now();
            let o = Command::new(bin)
                .args(["telemetry", "export"])
                .arg(&events)
                .arg("--out")
                .arg(&out)
                .output()
                .expect("run teleforge");
            let el = t.elapsed();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            el
        })
    });

    // The command's peak memory, where /usr/bin/time can tell it.
    let command_rss = bin.as_ref().and_then(|bin| {
        let o = Command::new("/usr/bin/time")
            .args(["-f", "%M"])
            .arg(bin)
            .args(["telemetry", "export"])
            .arg(&events)
            .arg("--out")
            .arg(&out)
            .output()
            .ok()?;
        let kb: u64 = String::from_utf8_lossy(&o.stderr).lines().last()?.trim().parse().ok()?;
        Some(format!("{:.1} MiB", kb as f64 / 1024.0))
    });

    println!(
        "\n== telemetry export: {written} events, {spans} spans, {:.1} MiB in, {:.1} MiB OTLP/JSON out ==",
        size as f64 / 1048576.0,
        out_size as f64 / 1048576.0
    );
    println!("{:<58} {:>9} {:>12} {:>10}", "measure", "seconds", "events/s", "x baseline");
    let row = |name: &str, d: Duration| {
        let s = d.as_secs_f64();
        println!("{name:<58} {s:>9.2} {:>12.0} {:>9.2}x", written as f64 / s, s / baseline.as_secs_f64());
    };
    row("baseline: read + serde_json::Value parse, line by line", baseline);
    row("teleforge_otlp::check: read + parse into Tel events", parse_only);
    row("teleforge_otlp::export, output discarded (io::sink)", no_write);
    row("teleforge_otlp::export to an OTLP/JSON file", library);
    match (&command, &bin) {
        (Some(d), Some(b)) => {
            row("teleforge telemetry export --out (whole process)", *d);
            let verdict = if d.as_secs_f64() * 1_000_000.0 / written as f64 <= TARGET_SECS { "PASS" } else { "FAIL" };
            println!(
                "target: 1M events <= {TARGET_SECS} s: {:.2} s per 1M events ({verdict}); binary {}",
                d.as_secs_f64() * 1_000_000.0 / written as f64,
                b.display()
            );
        }
        _ => println!("command not timed: build it first (cargo build --release -p teleforge) or set TELEFORGE_BIN"),
    }
    println!(
        "spans open at most at one time: {}; peak RSS of the command: {}; of this bench process (generator, baseline, library): {}",
        summary.assembly.max_open,
        command_rss.unwrap_or_else(|| "n/a".into()),
        peak_rss().unwrap_or_else(|| "n/a".into())
    );
}

fn median(samples: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..samples.max(1)).map(|_| f()).collect();
    v.sort();
    v[v.len() / 2]
}

fn binary() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("TELEFORGE_BIN") {
        return Some(PathBuf::from(b));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let b = target.join("release/teleforge");
    b.is_file().then_some(b)
}

fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_string())
}

/// Writes about `n` events; returns (events, calls).
fn generate(path: &Path, n: u64) -> (u64, u64) {
    let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut ts: u64 = 1_795_980_223_749_648_748;
    let mut next_id: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut id = || {
        next_id = next_id.wrapping_add(0x9e37_79b9_7f4a_7c15);
        next_id | 1
    };
    let (mut events, mut calls) = (0u64, 0u64);
    let pid = 31337;
    let w = |f: &mut BufWriter<std::fs::File>,
             ts: u64,
             kind: &str,
             span: u64,
             parent: Option<u64>,
             name: &str,
             line: u32,
             extra: &str| {
        let parent = parent.map_or("null".to_string(), |p| format!("\"{p:016x}\""));
        writeln!(
            f,
            r#"{{"ts_unix_nano":{ts},"kind":"{kind}","span_id":"{span:016x}","parent_span_id":{parent},"thread":"thread-140240606235520","pid":{pid},"code.function.name":"{name}","code.file.path":"shop/service/orders.py","code.line.number":{line}{extra}}}"#
        )
        .unwrap();
    };
    let mut request = 0u64;
    while events < n {
        request += 1;
        let root = id();
        ts += 1_000;
        w(
            &mut f,
            ts,
            "func_entry",
            root,
            None,
            "shop.service.orders.handle",
            12,
            &format!(r#","args":{{"request_id":{request},"path":"/orders/{request}","retry":false}}"#),
        );
        ts += 300;
        w(
            &mut f,
            ts,
            "var_assign",
            root,
            None,
            "shop.service.orders.handle",
            13,
            r#","variable":"user","value":"<User>""#,
        );
        events += 2;
        calls += 1;
        for k in 0..3u32 {
            let child = id();
            ts += 500;
            w(
                &mut f,
                ts,
                "func_entry",
                child,
                Some(root),
                "shop.service.orders.price_line",
                40,
                &format!(r#","args":{{"sku":"sku-{k}","qty":{k},"rate":0.2}}"#),
            );
            ts += 200;
            w(
                &mut f,
                ts,
                "loop_iter",
                child,
                Some(root),
                "shop.service.orders.price_line",
                42,
                &format!(r#","iteration":{}"#, request.min(100)),
            );
            let grand = id();
            ts += 200;
            w(&mut f, ts, "func_entry", grand, Some(child), "shop.catalog.lookup", 7, r#","args":{"sku":"sku-1"}"#);
            ts += 900;
            w(
                &mut f,
                ts,
                "func_exit",
                grand,
                Some(child),
                "shop.catalog.lookup",
                7,
                r#","duration_ns":900,"results":["<Product>"]"#,
            );
            ts += 300;
            w(
                &mut f,
                ts,
                "func_exit",
                child,
                Some(root),
                "shop.service.orders.price_line",
                40,
                r#","duration_ns":1600,"results":[1234.5]"#,
            );
            events += 5;
            calls += 2;
        }
        ts += 400;
        w(
            &mut f,
            ts,
            "func_exit",
            root,
            None,
            "shop.service.orders.handle",
            12,
            r#","duration_ns":7000,"results":[{"ok":true}]"#,
        );
        events += 1;
    }
    f.flush().unwrap();
    (events, calls)
}
