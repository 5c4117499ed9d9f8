//! Anthropic Messages: `POST {base}/v1/messages`.

use serde_json::json;

use crate::error::{Error, Result};
use crate::http::{post, RateGate};
use crate::{ChatRequest, ChatResponse, Finish, ProviderConfig, Usage};

/// The API version this client speaks.
const VERSION: &str = "2023-06-01";

pub(crate) fn complete(
    agent: &ureq::Agent,
    gate: &RateGate,
    config: &ProviderConfig,
    req: &ChatRequest,
) -> Result<ChatResponse> {
    let url = format!("{}/v1/messages", config.base_url());
    // Cache breakpoints after the system prompt and after the shared prefix: every request that
    // repeats them reads them from the cache.
    let ephemeral = json!({ "type": "ephemeral" });
    let mut content = Vec::new();
    if !req.prefix.is_empty() {
        content.push(json!({ "type": "text", "text": req.prefix, "cache_control": ephemeral }));
    }
    content.push(json!({ "type": "text", "text": req.user }));
    let body = json!({
        "model": config.model,
        "max_tokens": req.max_tokens,
        "system": [ { "type": "text", "text": req.system, "cache_control": ephemeral } ],
        "messages": [ { "role": "user", "content": content } ],
        "temperature": 0,
    });
    let mut headers = vec![("anthropic-version", VERSION.to_string())];
    if let Some(key) = config.api_key.as_deref().filter(|k| !k.is_empty()) {
        headers.push(("x-api-key", key.to_string()));
    }
    let answer = post(agent, gate, config, &url, &headers, &body)?;
    parse(&answer.body, answer.attempts)
}

/// Reads a Messages response; `stop_reason: "refusal"` is an answer with [`Finish::Refused`].
pub(crate) fn parse(body: &str, attempts: u32) -> Result<ChatResponse> {
    let bad = |detail: String| Error::BadResponse { provider: "anthropic", protocol: "Messages", detail };
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| bad(e.to_string()))?;
    let stop = v.get("stop_reason").and_then(|s| s.as_str()).unwrap_or("");
    let blocks = v.get("content").and_then(|c| c.as_array());
    let text: String = blocks
        .into_iter()
        .flatten()
        .filter(|b| b.get("type").and_then(|t| t.as_str()) == Some("text"))
        .filter_map(|b| b.get("text").and_then(|t| t.as_str()))
        .collect();
    let finish = match stop {
        "refusal" => Finish::Refused(if text.is_empty() { "the model declined".into() } else { text.clone() }),
        _ if blocks.is_none() => return Err(bad("no content array".into())),
        "max_tokens" => Finish::Length,
        _ => Finish::Complete,
    };
    let n = |p: &str| v.pointer(p).and_then(|t| t.as_u64()).unwrap_or(0);
    let cache_read = n("/usage/cache_read_input_tokens");
    let usage = Usage {
        input_tokens: n("/usage/input_tokens")
            .saturating_add(n("/usage/cache_creation_input_tokens"))
            .saturating_add(cache_read),
        output_tokens: n("/usage/output_tokens"),
        cached_input_tokens: cache_read,
    };
    Ok(ChatResponse { text, usage, finish, attempts })
}
