//! OTLP/HTTP export with JSON bodies (`Content-Type: application/json`, `POST …/v1/traces`), with
//! the retry rules of the OTLP specification: 429, 502, 503 and 504 and failed connections are
//! retried with exponential backoff (a `Retry-After` in seconds is honoured, up to
//! [`MAX_WAIT`]); any other status fails at once. A 2xx answer's `partialSuccess.rejectedSpans`
//! is counted.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::export::BatchSink;
use crate::otlp_json::Request;

/// The longest single wait between attempts.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// How to reach the endpoint.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Extra headers (authentication).
    pub headers: Vec<(String, String)>,
    /// Retries after the first attempt of each request.
    pub retries: u32,
    /// The first backoff; doubled at each retry.
    pub backoff: Duration,
    /// The time allowed for one request.
    pub timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            headers: Vec::new(),
            retries: 5,
            backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(30),
        }
    }
}

/// The traces URL of an endpoint: `http://host:4318` → `http://host:4318/v1/traces`; a URL that
/// already ends in `/v1/traces` is kept (as `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` would be).
pub fn traces_url(endpoint: &str) -> Result<String> {
    let e = endpoint.trim();
    let lower = e.to_ascii_lowercase();
    let rest = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        return Err(Error::BadEndpoint { url: endpoint.to_string() });
    }
    if e.trim_end_matches('/').ends_with("/v1/traces") {
        return Ok(e.trim_end_matches('/').to_string());
    }
    Ok(format!("{}/v1/traces", e.trim_end_matches('/')))
}

/// What the endpoint did, for the summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HttpStats {
    pub requests: u64,
    pub retries: u64,
    pub rejected_spans: u64,
    /// The first `partialSuccess.errorMessage`.
    pub rejection: Option<String>,
}

/// POSTs each batch to an OTLP/HTTP endpoint.
pub struct HttpSink {
    agent: ureq::Agent,
    url: String,
    options: HttpOptions,
    pub stats: HttpStats,
}

impl HttpSink {
    pub fn new(endpoint: &str, options: HttpOptions) -> Result<Self> {
        let url = traces_url(endpoint)?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(HttpSink { agent, url, options, stats: HttpStats::default() })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl BatchSink for HttpSink {
    fn send(&mut self, request: &Request) -> Result<()> {
        let request = request.to_json();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.stats.requests += 1;
            let mut req = self.agent.post(&self.url).header("content-type", "application/json");
            for (k, v) in &self.options.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let (detail, retry_after) = match req.send(request.as_str()) {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let body = resp.body_mut().read_to_string().unwrap_or_default();
                    if (200..300).contains(&status) {
                        self.partial_success(&body);
                        return Ok(());
                    }
                    let detail = format!("HTTP {status} {}", excerpt(&body));
                    if !matches!(status, 429 | 502 | 503 | 504) {
                        return Err(Error::Refused { url: self.url.clone(), status, detail: excerpt(&body) });
                    }
                    (detail, retry_after)
                }
                Err(e) => (e.to_string(), None),
            };
            if attempt > self.options.retries {
                return Err(Error::Unavailable { url: self.url.clone(), attempts: attempt, detail });
            }
            self.stats.retries += 1;
            let backoff = self.options.backoff.saturating_mul(1 << (attempt - 1).min(16));
            std::thread::sleep(retry_after.unwrap_or(backoff).min(MAX_WAIT));
        }
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

impl HttpSink {
    /// Counts `partialSuccess.rejectedSpans` (a string or a number) of a 2xx answer.
    fn partial_success(&mut self, body: &str) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else { return };
        let Some(p) = v.get("partialSuccess").or_else(|| v.get("partial_success")) else { return };
        let rejected = p
            .get("rejectedSpans")
            .and_then(|r| r.as_u64().or_else(|| r.as_str().and_then(|s| s.parse().ok())))
            .unwrap_or(0);
        self.stats.rejected_spans += rejected;
        if rejected > 0 && self.stats.rejection.is_none() {
            self.stats.rejection = p.get("errorMessage").and_then(|m| m.as_str()).map(str::to_string);
        }
    }
}

fn excerpt(body: &str) -> String {
    let t: String = body.trim().chars().take(200).collect();
    if t.is_empty() {
        "(empty body)".to_string()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        assert_eq!(traces_url("http://127.0.0.1:4318").unwrap(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("https://x.example/otlp/").unwrap(), "https://x.example/otlp/v1/traces");
        assert_eq!(traces_url("http://h:4318/v1/traces").unwrap(), "http://h:4318/v1/traces");
        for bad in ["127.0.0.1:4318", "ftp://h", "http://", ""] {
            assert!(traces_url(bad).is_err(), "{bad}");
        }
    }
}
