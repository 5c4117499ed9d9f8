//! One HTTP exchange with retries: exponential backoff on 429 and 5xx, `Retry-After` honoured.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::ProviderConfig;

/// An agent that reports HTTP errors as responses (we classify them) and times out whole requests.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into()
}

/// A response body and the attempts it took.
pub(crate) struct Answer {
    pub body: String,
    pub attempts: u32,
}

/// The longest a `Retry-After` is obeyed; longer waits fail instead of hanging a run.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// POSTs `body` as JSON; retries on 429/5xx; classifies the failure otherwise.
pub(crate) fn post(
    agent: &ureq::Agent,
    config: &ProviderConfig,
    url: &str,
    headers: &[(&str, String)],
    body: &serde_json::Value,
) -> Result<Answer> {
    let provider = config.protocol.name();
    let payload = body.to_string();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut req = agent.post(url).header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let mut resp = match req.send(payload.as_str()) {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return Err(Error::Timeout { url: url.to_string(), secs: config.timeout.as_secs() })
            }
            Err(e) => return Err(Error::Unreachable { url: url.to_string(), detail: e.to_string() }),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|s| Duration::from_secs_f64(s.max(0.0)));
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(Answer { body: text, attempts: attempt });
        }
        let detail = error_message(&text);
        let retryable = status == 429 || status == 529 || (500..600).contains(&status);
        if retryable && attempt <= config.max_retries {
            let backoff = config.backoff.saturating_mul(1 << (attempt - 1).min(16)).min(Duration::from_secs(30));
            let wait = retry_after.map_or(backoff, |r| r.max(backoff));
            if wait <= MAX_RETRY_AFTER {
                std::thread::sleep(wait);
                continue;
            }
        }
        let env = config.protocol.key_env();
        return Err(match status {
            401 | 403 => Error::Unauthorized { provider, status, env },
            404 | 400 if looks_like_unknown_model(&detail) => {
                Error::UnknownModel { provider, model: config.model.clone(), detail }
            }
            _ => Error::Status { provider, status, attempts: attempt, detail },
        });
    }
}

/// The `error.message` of an error body, else its first 200 characters.
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message").or_else(|| v.get("error")).and_then(|m| m.as_str()).map(str::to_string)
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}

fn looks_like_unknown_model(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("model")
        && (d.contains("not found") || d.contains("does not exist") || d.contains("unknown") || d.contains("not_found"))
}
