//! OpenAI-compatible chat completions: `POST {base}/chat/completions`.

use serde_json::json;

use crate::error::{Error, Result};
use crate::http::{post, RateGate};
use crate::{ChatRequest, ChatResponse, Finish, ProviderConfig, Usage};

pub(crate) fn complete(
    agent: &ureq::Agent,
    gate: &RateGate,
    config: &ProviderConfig,
    req: &ChatRequest,
) -> Result<ChatResponse> {
    let url = format!("{}/chat/completions", config.base_url());
    // One string: automatic prefix caching matches the leading tokens of system + user.
    let user = format!("{}{}", req.prefix, req.user);
    let mut body = json!({
        "model": config.model,
        "messages": [
            { "role": "system", "content": req.system },
            { "role": "user", "content": user },
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
    let answer = post(agent, gate, config, &url, &headers, &body)?;
    parse(&answer.body, answer.attempts)
}

/// Reads a chat completion; a refusal (`refusal`, `content: null`, a content filter) is an
/// answer with [`Finish::Refused`], not an error.
pub(crate) fn parse(body: &str, attempts: u32) -> Result<ChatResponse> {
    let bad = |detail: String| Error::BadResponse { provider: "openai", protocol: "chat completion", detail };
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| bad(e.to_string()))?;
    let message = v.pointer("/choices/0/message").ok_or_else(|| bad("no choices[0].message".into()))?;
    let finish_reason = v.pointer("/choices/0/finish_reason").and_then(|f| f.as_str()).unwrap_or("");
    let refusal = message.get("refusal").and_then(|r| r.as_str()).filter(|r| !r.is_empty());
    let content = message.get("content");
    let text = content.and_then(|c| c.as_str()).unwrap_or("").to_string();
    let finish = if let Some(r) = refusal {
        Finish::Refused(r.to_string())
    } else if finish_reason == "content_filter" {
        Finish::Refused("the provider's content filter stopped the answer".into())
    } else if content.is_none_or(|c| c.is_null()) {
        Finish::Refused("the model sent no content".into())
    } else if !content.is_some_and(|c| c.is_string()) {
        return Err(bad("choices[0].message.content is not text".into()));
    } else if finish_reason == "length" {
        Finish::Length
    } else {
        Finish::Complete
    };
    let n = |p: &str| v.pointer(p).and_then(|t| t.as_u64()).unwrap_or(0);
    let usage = Usage {
        input_tokens: n("/usage/prompt_tokens"),
        output_tokens: n("/usage/completion_tokens"),
        cached_input_tokens: n("/usage/prompt_tokens_details/cached_tokens"),
    };
    Ok(ChatResponse { text, usage, finish, attempts })
}
