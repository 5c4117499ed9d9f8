//! # teleforge-llm
//!
//! Small typed clients for the two chat wire protocols teleforge speaks: OpenAI-compatible chat
//! completions (OpenAI, Ollama, vLLM, llama.cpp server, LM Studio: any base URL) and Anthropic
//! Messages. They know nothing of telemetry or learning: a system and a user message go in, text and
//! token usage come out.
//!
//! What they add over a bare HTTP call: a timeout on every request; retries with exponential
//! backoff on 429 and 5xx that honour `Retry-After` (seconds or HTTP-date, parsed without panics
//! and capped); one rate gate per [`Provider`] that holds every request, from any thread, after a
//! 429 or when `x-ratelimit-*` headers reach zero; invisible Unicode (variation selectors
//! included) stripped from everything sent; a shared prompt prefix marked for caching
//! ([`ChatRequest::prefix`]); why the answer ended ([`Finish`]: complete, cut at `max_tokens`,
//! refused); token usage with cached input; the context and output limits of common models
//! ([`ModelLimits`]); and errors that name the cause and the fix (a missing or rejected key, an
//! unknown model, an unreachable server).

mod anthropic;
mod error;
mod http;
mod limits;
mod openai;
mod sanitize;

use std::time::Duration;

pub use error::{Error, Result};
pub use http::{parse_retry_after, MAX_WAIT};
pub use limits::ModelLimits;
pub use sanitize::strip_invisible;

/// One chat turn: instructions and the request.
///
/// The user message is `prefix` followed by `user`. Requests that share `system` and `prefix`
/// byte for byte share a cacheable prompt prefix: OpenAI-compatible servers cache it on their own;
/// on Anthropic both are marked with `cache_control`.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    pub system: String,
    /// The part of the user message shared by a series of requests (may be empty).
    pub prefix: String,
    pub user: String,
    pub max_tokens: u32,
    /// Ask for a JSON object where the protocol can (OpenAI's `response_format`).
    pub json: bool,
}

/// Tokens a request used, as the provider counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Every input token, cached or not (Anthropic's `input_tokens` plus its cache reads and
    /// writes; OpenAI's `prompt_tokens`).
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens served from the provider's prompt cache (OpenAI
    /// `prompt_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`).
    pub cached_input_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
    }
}

/// Why the model stopped writing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Finish {
    /// It finished its answer.
    #[default]
    Complete,
    /// It hit `max_tokens`: the text is cut (`finish_reason: "length"`, `stop_reason: "max_tokens"`).
    Length,
    /// It declined (OpenAI `refusal` or `content: null`, a content filter; Anthropic
    /// `stop_reason: "refusal"`), with its explanation where it gave one.
    Refused(String),
}

/// The model's answer.
#[derive(Debug, Clone, Default)]
pub struct ChatResponse {
    pub text: String,
    pub usage: Usage,
    pub finish: Finish,
    /// HTTP attempts made (1 when no retry was needed).
    pub attempts: u32,
}

/// The wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    OpenAi,
    Anthropic,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai",
            Protocol::Anthropic => "anthropic",
        }
    }

    /// Where requests go when no base URL is configured.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Protocol::OpenAi => "https://api.openai.com/v1",
            Protocol::Anthropic => "https://api.anthropic.com",
        }
    }

    /// The environment variable holding the key.
    pub fn key_env(self) -> &'static str {
        match self {
            Protocol::OpenAi => "OPENAI_API_KEY",
            Protocol::Anthropic => "ANTHROPIC_API_KEY",
        }
    }
}

/// How to reach a model.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub protocol: Protocol,
    pub model: String,
    /// `None`: the protocol's default (the hosted API).
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt, on 429 and 5xx.
    pub max_retries: u32,
    /// First backoff delay; doubles each retry (capped at 30 s), unless `Retry-After` says more.
    pub backoff: Duration,
}

impl ProviderConfig {
    pub fn new(protocol: Protocol, model: impl Into<String>) -> Self {
        ProviderConfig {
            protocol,
            model: model.into(),
            base_url: None,
            api_key: None,
            timeout: Duration::from_secs(120),
            max_retries: 3,
            backoff: Duration::from_millis(500),
        }
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.base_url.as_deref().unwrap_or(self.protocol.default_base_url()).trim_end_matches('/')
    }
}

/// A chat model behind one protocol.
pub struct Provider {
    config: ProviderConfig,
    agent: ureq::Agent,
    /// Shared by every request of this provider, from any thread: a 429 or an exhausted
    /// rate-limit quota holds them all.
    gate: http::RateGate,
}

impl Provider {
    /// Checks the configuration: the hosted APIs need a key; self-hosted servers may not.
    pub fn new(config: ProviderConfig) -> Result<Self> {
        let hosted = config.base_url.is_none();
        if hosted && config.api_key.as_deref().is_none_or(str::is_empty) {
            return Err(Error::MissingKey { provider: config.protocol.name(), env: config.protocol.key_env() });
        }
        let agent = http::agent(config.timeout);
        Ok(Provider { config, agent, gate: http::RateGate::default() })
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// `openai/gpt-4o-mini`, for summaries and learnings.
    pub fn label(&self) -> String {
        format!("{}/{}", self.config.protocol.name(), self.config.model)
    }

    /// Sends one chat turn, retrying on 429 and 5xx. Safe to call from several threads at once.
    pub fn complete(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let request = ChatRequest {
            system: strip_invisible(&request.system).into_owned(),
            prefix: strip_invisible(&request.prefix).into_owned(),
            user: strip_invisible(&request.user).into_owned(),
            ..request.clone()
        };
        match self.config.protocol {
            Protocol::OpenAi => openai::complete(&self.agent, &self.gate, &self.config, &request),
            Protocol::Anthropic => anthropic::complete(&self.agent, &self.gate, &self.config, &request),
        }
    }
}
