//! # teleforge-dashboard
//!
//! A local, read-only web page over a learning store: how first-attempt success moves run after
//! run, which error patterns occur and whether they help, the learnings behind each, and every run.
//! The page is a small script embedded in the binary (no CDN, no network at run time) that calls
//! the JSON API under `/api/…` (see [`api`] and docs/DASHBOARD.md).
//!
//! ```no_run
//! use std::net::{Ipv4Addr, SocketAddr};
//! use teleforge_dashboard::{Dashboard, Options};
//! use teleforge_learning::LearningEngine;
//!
//! let engine = LearningEngine::open_default().unwrap();
//! let dashboard = Dashboard::bind(engine, Options::default()).unwrap();
//! eprintln!("{}", dashboard.url());
//! dashboard.serve(teleforge_dashboard::stop_on_interrupt());
//! ```
//!
//! Invariants:
//! - It never writes: every request is a read through [`LearningStore`](teleforge_learning::store::LearningStore),
//!   and only `GET` and `HEAD` are answered, so it runs beside `teleforge instrument` writing the
//!   same store (SQLite's WAL lets readers and one writer work at once).
//! - No request reads a whole store: counts come from the store's kept tallies and run summaries,
//!   lists from queries with a limit.
//! - Everything from the store reaches the page as JSON and is put into the page as text
//!   (`textContent`, never `innerHTML`); a Content-Security-Policy allows only the embedded script.
//! - The library prints nothing.

pub mod api;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use teleforge_learning::LearningEngine;

/// The port `teleforge dashboard` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8766;

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct Options {
    /// 127.0.0.1 by default; anything else exposes the store to the network.
    pub addr: SocketAddr,
    /// The language pages show first (`--language`).
    pub default_language: Option<String>,
    /// Threads answering requests.
    pub workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            default_language: None,
            workers: 4,
        }
    }
}

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source} (is another dashboard running there? try --port 0 for a free port)")]
    Bind { addr: SocketAddr, source: Box<dyn std::error::Error + Send + Sync> },
}

/// A bound dashboard, ready to [`serve`](Dashboard::serve).
pub struct Dashboard {
    server: Arc<tiny_http::Server>,
    app: Arc<App>,
    addr: SocketAddr,
    workers: usize,
}

struct App {
    engine: LearningEngine,
    default_language: Option<String>,
    /// Whether only requests naming a loopback host are answered (a page on another site cannot
    /// reach the store by pointing a DNS name at 127.0.0.1).
    loopback: bool,
}

impl Dashboard {
    /// Listens on `options.addr` (port 0: any free port).
    pub fn bind(engine: LearningEngine, options: Options) -> Result<Dashboard, Error> {
        let server =
            tiny_http::Server::http(options.addr).map_err(|source| Error::Bind { addr: options.addr, source })?;
        let addr = server.server_addr().to_ip().unwrap_or(options.addr);
        let app = App { engine, default_language: options.default_language, loopback: options.addr.ip().is_loopback() };
        Ok(Dashboard { server: Arc::new(server), app: Arc::new(app), addr, workers: options.workers.max(1) })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address, to print or open.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Answers requests until `stop` turns true (checked every 100 ms), then returns once the
    /// requests in flight are answered.
    pub fn serve(self, stop: &AtomicBool) {
        std::thread::scope(|scope| {
            for _ in 0..self.workers {
                scope.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        match self.server.recv_timeout(Duration::from_millis(100)) {
                            Ok(Some(request)) => self.app.answer(request),
                            Ok(None) => {}
                            Err(_) => std::thread::sleep(Duration::from_millis(20)),
                        }
                    }
                });
            }
        });
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// A flag that turns true on Ctrl-C (SIGINT) or SIGTERM, for [`Dashboard::serve`].
pub fn stop_on_interrupt() -> &'static AtomicBool {
    #[cfg(unix)]
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let handler = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    &INTERRUPTED
}

/// One answer: status, content type and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// Only the embedded script and style run; nothing is fetched from elsewhere; no frames.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Answers `GET target` (path and query) without any HTTP: what the server sends for it.
pub fn respond(engine: &LearningEngine, default_language: Option<&str>, target: &str) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let asset = |content_type, body: &str| Reply { status: 200, content_type, body: body.as_bytes().to_vec() };
    match path {
        "/" | "/index.html" => asset("text/html; charset=utf-8", INDEX_HTML),
        "/app.js" => asset("text/javascript; charset=utf-8", APP_JS),
        "/app.css" => asset("text/css; charset=utf-8", APP_CSS),
        _ => match path.strip_prefix("/api/") {
            Some(api_path) => {
                let api_path = percent_decode(api_path);
                let (status, value) = match api::route(engine, default_language, &api_path, &parse_query(query)) {
                    Ok(v) => (200, v),
                    Err(e) => (e.status, serde_json::json!({ "error": e.message })),
                };
                let body = serde_json::to_vec(&value).unwrap_or_default();
                Reply { status, content_type: "application/json", body }
            }
            None => Reply { status: 404, content_type: "text/plain; charset=utf-8", body: b"not found".to_vec() },
        },
    }
}

impl App {
    fn answer(&self, request: tiny_http::Request) {
        let reply = if !matches!(request.method(), tiny_http::Method::Get | tiny_http::Method::Head) {
            Reply {
                status: 405,
                content_type: "text/plain; charset=utf-8",
                body: b"the dashboard is read-only".to_vec(),
            }
        } else if self.loopback
            && !request.headers().iter().any(|h| h.field.equiv("Host") && loopback_host(h.value.as_str()))
        {
            Reply {
                status: 421,
                content_type: "text/plain; charset=utf-8",
                body: b"use the address the dashboard printed".to_vec(),
            }
        } else {
            respond(&self.engine, self.default_language.as_deref(), request.url())
        };
        let header = |k: &str, v: &str| tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).ok();
        let headers = [
            header("Content-Type", reply.content_type),
            header("Content-Security-Policy", CSP),
            header("X-Content-Type-Options", "nosniff"),
            header("Referrer-Policy", "no-referrer"),
            header("Cache-Control", "no-store"),
        ];
        let mut response = tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
        for h in headers.into_iter().flatten() {
            response.add_header(h);
        }
        // A client that went away is no error of ours.
        let _ = request.respond(response);
    }
}

/// Whether a Host header names this machine's loopback interface.
fn loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse_query(query: &str) -> api::Params {
    let mut params = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(percent_decode(k), percent_decode(v));
    }
    params
}

/// `%XX` escapes and `+` for space; invalid escapes stay as they are, invalid UTF-8 is replaced.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries() {
        let p = parse_query("language=go&pattern=a%2Fb+c&x=%zz&y=%4");
        assert_eq!(p["language"], "go");
        assert_eq!(p["pattern"], "a/b c");
        assert_eq!(p["x"], "%zz");
        assert_eq!(p["y"], "%4");
    }

    #[test]
    fn loopback_hosts() {
        for ok in ["127.0.0.1:8766", "localhost:1", "[::1]:80", "127.0.0.1", "LOCALHOST"] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in ["evil.example:8766", "10.0.0.1:8766", "127.0.0.1.evil.example"] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }
}
