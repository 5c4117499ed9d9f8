//! One HTTP exchange with retries: exponential backoff on 429 and 5xx, `Retry-After` honoured,
//! and a [`RateGate`] shared by every request of one provider, so that several requests in flight
//! all slow down when the server says so (a 429, or `x-ratelimit-*` headers at zero).
//!
//! Nothing a server sends can panic here: header values are parsed by hand into bounded numbers
//! (`Retry-After: inf`, `1e30`, `-5` or garbage are ignored or capped), bodies are read as text.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// The longest wait obeyed (one `Retry-After`, or a rate-limit reset); a server asking for more
/// fails the request instead of hanging a run.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The largest delay a header can express here: anything longer is treated as this.
const HEADER_CAP: Duration = Duration::from_secs(24 * 3600);

/// "Not before": the instant before which no request of this provider is sent.
#[derive(Debug, Default)]
pub(crate) struct RateGate {
    not_before: Mutex<Option<Instant>>,
}

impl RateGate {
    /// Sleeps until the gate opens (at most [`MAX_WAIT`]).
    fn wait(&self) {
        let until = *self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                std::thread::sleep((until - now).min(MAX_WAIT));
            }
        }
    }

    /// Keeps every request from starting before `now + wait`.
    fn close_for(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_WAIT);
        let mut g = self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none_or(|t| t < until) {
            *g = Some(until);
        }
    }
}

/// POSTs `body` as JSON; retries on 429/5xx; classifies the failure otherwise.
pub(crate) fn post(
    agent: &ureq::Agent,
    gate: &RateGate,
    config: &ProviderConfig,
    url: &str,
    headers: &[(&str, String)],
    body: &serde_json::Value,
) -> Result<Answer> {
    let provider = config.protocol.name();
    let payload = body.to_string();
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        gate.wait();
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
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now()));
        if let Some(wait) = rate_limit_wait(&header) {
            gate.close_for(wait);
        }
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(Answer { body: text, attempts: attempt });
        }
        let detail = error_message(&text);
        let retryable = status == 429 || status == 529 || (500..600).contains(&status);
        if retryable && attempt <= config.max_retries {
            let backoff = config.backoff.saturating_mul(1 << (attempt - 1).min(16)).min(Duration::from_secs(30));
            let wait = retry_after.map_or(backoff, |r| r.max(backoff));
            if wait <= MAX_WAIT {
                if status == 429 {
                    // Every request of this provider waits, not only this one.
                    gate.close_for(wait);
                } else {
                    std::thread::sleep(wait);
                }
                continue;
            }
        }
        let env = config.protocol.key_env();
        return Err(match status {
            401 | 403 => Error::Unauthorized { provider, status, env },
            404 | 400 if looks_like_unknown_model(&detail) => {
                Error::UnknownModel { provider, model: config.model.clone(), detail }
            }
            _ => {
                let detail = match retry_after {
                    Some(r) if r > MAX_WAIT => {
                        format!(
                            "{detail} (the server asked to wait {} s, more than {} s)",
                            r.as_secs(),
                            MAX_WAIT.as_secs()
                        )
                    }
                    _ => detail,
                };
                Error::Status { provider, status, attempts: attempt, detail }
            }
        });
    }
}

/// A `Retry-After` value: delay-seconds (a non-negative number; fractions accepted) or an
/// HTTP-date (IMF-fixdate, RFC 850 or asctime form), as a delay from `now`, capped at a day.
/// `None` for anything else (negative, NaN, garbage).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Some(d) = parse_seconds(v) {
        return Some(d);
    }
    let at = parse_http_date(v)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)).min(HEADER_CAP))
}

/// A non-negative decimal number of seconds, capped; never panics on `inf`, `1e30` or `NaN`.
fn parse_seconds(v: &str) -> Option<Duration> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None; // rejects signs, exponents, `inf`, `nan`
    }
    let secs: f64 = v.parse().ok()?;
    if secs.is_nan() || secs < 0.0 {
        return None; // (a run of 400 digits parses as infinity, and is capped below)
    }
    let capped = secs.min(HEADER_CAP.as_secs_f64());
    Duration::try_from_secs_f64(capped).ok()
}

/// Seconds since the epoch of an HTTP-date (RFC 9110 §5.6.7), or `None`.
fn parse_http_date(v: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = |m: &str| MONTHS.iter().position(|x| *x == m).map(|i| i as u32 + 1);
    let parts: Vec<&str> = v.split([' ', ',']).filter(|p| !p.is_empty()).collect();
    let (day, mon, year, time) = match parts.as_slice() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        [_, d, m, y, t, "GMT"] => (d.parse().ok()?, month(m)?, y.parse::<i64>().ok()?, *t),
        // Sunday, 06-Nov-94 08:49:37 GMT
        [_, dmy, t, "GMT"] => {
            let mut it = dmy.split('-');
            let (d, m, y) = (it.next()?, it.next()?, it.next()?);
            let y: i64 = y.parse().ok()?;
            (
                d.parse().ok()?,
                month(m)?,
                if y < 70 {
                    2000 + y
                } else if y < 100 {
                    1900 + y
                } else {
                    y
                },
                *t,
            )
        }
        // Sun Nov  6 08:49:37 1994
        [_, m, d, t, y] => (d.parse().ok()?, month(m)?, y.parse::<i64>().ok()?, *t),
        _ => return None,
    };
    let mut hms = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, mi, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 || !(1970..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, mon, day);
    u64::try_from(days * 86_400 + i64::from(h * 3600 + mi * 60 + s)).ok()
}

/// Seconds since the epoch of an RFC 3339 UTC instant (`2026-11-29T19:05:00Z`, fractions
/// dropped), or `None`.
fn parse_rfc3339(v: &str) -> Option<u64> {
    let v = v.trim();
    let (date, time) = v.split_once(['T', 't'])?;
    let time = time.strip_suffix(['Z', 'z'])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let days = days_from_civil(y, u32::try_from(m).ok()?, u32::try_from(day).ok()?);
    u64::try_from(days * 86_400 + i64::from(h * 3600 + mi * 60 + sec)).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// How long to hold further requests after a response whose rate-limit headers say a quota is
/// used up: OpenAI's `x-ratelimit-remaining-{requests,tokens}` with `x-ratelimit-reset-*`
/// durations (`1s`, `6m0s`, `250ms`), Anthropic's `anthropic-ratelimit-{requests,tokens}-remaining`
/// with RFC 3339 `…-reset` instants. Without a readable reset: `Retry-After`, else one second.
fn rate_limit_wait(header: &dyn Fn(&str) -> Option<String>) -> Option<Duration> {
    let mut wait: Option<Duration> = None;
    for kind in ["requests", "tokens"] {
        let remaining = header(&format!("x-ratelimit-remaining-{kind}"))
            .or_else(|| header(&format!("anthropic-ratelimit-{kind}-remaining")));
        let exhausted = remaining.and_then(|r| r.trim().parse::<u64>().ok()).is_some_and(|r| r == 0);
        if !exhausted {
            continue;
        }
        let reset = header(&format!("x-ratelimit-reset-{kind}"))
            .and_then(|v| parse_go_duration(&v))
            .or_else(|| {
                let at = parse_rfc3339(&header(&format!("anthropic-ratelimit-{kind}-reset"))?)?;
                let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
                Some(Duration::from_secs(at.saturating_sub(now)).min(HEADER_CAP))
            })
            .or_else(|| header("retry-after").and_then(|v| parse_seconds(v.trim())))
            .unwrap_or(Duration::from_secs(1));
        wait = Some(wait.map_or(reset, |w| w.max(reset)));
    }
    wait
}

/// `1h2m3.5s`, `6m0s`, `250ms`, `20s` → a duration (capped); `None` if malformed.
fn parse_go_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let mut total = 0f64;
    let mut rest = v;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if n == 0 {
            return None;
        }
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        total += num * factor;
        rest = &rest[unit_len..];
    }
    (total.is_finite() && total >= 0.0)
        .then(|| Duration::try_from_secs_f64(total.min(HEADER_CAP.as_secs_f64())).ok())
        .flatten()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = at(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0.5 ", now), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:40 1994", now), Some(Duration::from_secs(3)));
        // A date in the past means "now".
        assert_eq!(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
    }

    #[test]
    fn hostile_retry_after_never_panics_and_is_capped() {
        let now = SystemTime::now();
        for v in ["inf", "-inf", "NaN", "1e30", "-5", "", "   ", "abc", "1.2.3", "Sun, 99 Foo 1994 99:99:99 GMT"] {
            assert_eq!(parse_retry_after(v, now), None, "{v:?}");
        }
        let huge = "9".repeat(400);
        assert_eq!(parse_retry_after(&huge, now), Some(HEADER_CAP));
        assert_eq!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), Some(HEADER_CAP));
    }

    #[test]
    fn rate_limit_headers() {
        let h = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let spent = h(&[("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "1m2.5s")]);
        assert_eq!(rate_limit_wait(&spent), Some(Duration::from_millis(62_500)));
        let fine = h(&[("x-ratelimit-remaining-requests", "10"), ("x-ratelimit-reset-requests", "1s")]);
        assert_eq!(rate_limit_wait(&fine), None);
        let tokens = h(&[("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-reset-tokens", "250ms")]);
        assert_eq!(rate_limit_wait(&tokens), Some(Duration::from_millis(250)));
        let garbage = h(&[("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-reset-tokens", "soon")]);
        assert_eq!(rate_limit_wait(&garbage), Some(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("1e309s"), None);
        assert_eq!(parse_rfc3339("1994-11-06T08:49:37Z"), Some(784_111_777));
        assert_eq!(parse_rfc3339("1994-11-06T08:49:37.123Z"), Some(784_111_777));
        for bad in ["", "1994-11-06", "1994-13-06T08:49:37Z", "x-y-zT1:2:3Z", "1994-11-06T08:49:37+02:00"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
