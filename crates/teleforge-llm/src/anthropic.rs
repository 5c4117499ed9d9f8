//! Anthropic Messages: `POST {base}/v1/messages`.

use serde_json::json;

use crate::error::{Error, Result};
use crate::http::post;
use crate::{ChatRequest, ChatResponse, ProviderConfig, Usage};

/// The API version this client speaks.
const VERSION: &str = "2023-06-01";

pub(crate) fn complete(agent: &ureq::Agent, config: &ProviderConfig, req: &ChatRequest) -> Result<ChatResponse> {
    let url = format!("{}/v1/messages", config.base_url());
    let body = json!({
        "model": config.model,
        "max_tokens": req.max_tokens,
        "system": req.system,
        "messages": [ { "role": "user", "content": req.user } ],
        "temperature": 0,
    });
    let mut headers = vec![("anthropic-version", VERSION.to_string())];
    if let Some(key) = config.api_key.as_deref().filter(|k| !k.is_empty()) {
        headers.push(("x-api-key", key.to_string()));
    }
    let answer = post(agent, config, &url, &headers, &body)?;
    let bad = |detail: String| Error::BadResponse { provider: "anthropic", protocol: "Messages", detail };
    let v: serde_json::Value = serde_json::from_str(&answer.body).map_err(|e| bad(e.to_string()))?;
    let blocks = v.get("content").and_then(|c| c.as_array()).ok_or_else(|| bad("no content array".into()))?;
    let text: String =
        blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("");
    let usage = Usage {
        input_tokens: v.pointer("/usage/input_tokens").and_then(|t| t.as_u64()).unwrap_or(0),
        output_tokens: v.pointer("/usage/output_tokens").and_then(|t| t.as_u64()).unwrap_or(0),
    };
    Ok(ChatResponse { text, usage, attempts: answer.attempts })
}
