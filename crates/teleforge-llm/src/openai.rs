//! OpenAI-compatible chat completions: `POST {base}/chat/completions`.

use serde_json::json;

use crate::error::{Error, Result};
use crate::http::post;
use crate::{ChatRequest, ChatResponse, ProviderConfig, Usage};

pub(crate) fn complete(agent: &ureq::Agent, config: &ProviderConfig, req: &ChatRequest) -> Result<ChatResponse> {
    let url = format!("{}/chat/completions", config.base_url());
    let mut body = json!({
        "model": config.model,
        "messages": [
            { "role": "system", "content": req.system },
            { "role": "user", "content": req.user },
        ],
        "max_tokens": req.max_tokens,
        "temperature": 0,
    });
    if req.json {
        body["response_format"] = json!({ "type": "json_object" });
    }
    let mut headers = Vec::new();
    if let Some(key) = config.api_key.as_deref().filter(|k| !k.is_empty()) {
        headers.push(("authorization", format!("Bearer {key}")));
    }
    let answer = post(agent, config, &url, &headers, &body)?;
    let bad = |detail: String| Error::BadResponse { provider: "openai", protocol: "chat completion", detail };
    let v: serde_json::Value = serde_json::from_str(&answer.body).map_err(|e| bad(e.to_string()))?;
    let text = v
        .pointer("/choices/0/message/content")
        .and_then(|c| c.as_str())
        .ok_or_else(|| bad("no choices[0].message.content".into()))?
        .to_string();
    let usage = Usage {
        input_tokens: v.pointer("/usage/prompt_tokens").and_then(|t| t.as_u64()).unwrap_or(0),
        output_tokens: v.pointer("/usage/completion_tokens").and_then(|t| t.as_u64()).unwrap_or(0),
    };
    Ok(ChatResponse { text, usage, attempts: answer.attempts })
}
