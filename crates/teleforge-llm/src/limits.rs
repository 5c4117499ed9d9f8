//! How much a model reads and writes per request: its context window and its output limit, for
//! the common hosted models; a safe default for everything else (local servers often run with a
//! small context, and a request over the window is rejected or silently truncated).

/// Token limits of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelLimits {
    /// Prompt plus answer, in tokens.
    pub context_tokens: u32,
    /// The most a single answer may hold (`max_tokens`).
    pub output_tokens: u32,
}

impl ModelLimits {
    /// For models not in the table: small enough for a local server with an 8k context.
    pub const SAFE_DEFAULT: ModelLimits = ModelLimits { context_tokens: 8_192, output_tokens: 2_048 };

    /// The limits of `model` (matched by prefix, longest first), or `None` if unknown.
    pub fn known(model: &str) -> Option<ModelLimits> {
        // A provider prefix (`openai/gpt-4o`, `anthropic/claude-…`) and a date suffix do not matter.
        let m = model.rsplit('/').next().unwrap_or(model).to_ascii_lowercase();
        KNOWN
            .iter()
            .filter(|(prefix, _, _)| m.starts_with(prefix))
            .max_by_key(|(prefix, _, _)| prefix.len())
            .map(|&(_, context_tokens, output_tokens)| ModelLimits { context_tokens, output_tokens })
    }

    /// The limits of `model`, or [`ModelLimits::SAFE_DEFAULT`].
    pub fn for_model(model: &str) -> ModelLimits {
        Self::known(model).unwrap_or(Self::SAFE_DEFAULT)
    }
}

/// (model name prefix, context window, output limit), from the providers' model pages.
const KNOWN: &[(&str, u32, u32)] = &[
    ("gpt-5", 400_000, 128_000),
    ("gpt-4.1", 1_047_576, 32_768),
    ("gpt-4o", 128_000, 16_384),
    ("gpt-4-turbo", 128_000, 4_096),
    ("gpt-4", 8_192, 8_192),
    ("gpt-3.5-turbo", 16_385, 4_096),
    ("o1", 200_000, 100_000),
    ("o3", 200_000, 100_000),
    ("o4-mini", 200_000, 100_000),
    ("claude-opus-4-5", 200_000, 64_000),
    ("claude-opus-4", 200_000, 32_000),
    ("claude-sonnet-4", 200_000, 64_000),
    ("claude-haiku-4", 200_000, 64_000),
    ("claude-3-7-sonnet", 200_000, 64_000),
    ("claude-3-5-sonnet", 200_000, 8_192),
    ("claude-3-5-haiku", 200_000, 8_192),
    ("claude-3", 200_000, 4_096),
    ("qwen2.5-coder", 32_768, 8_192),
    ("llama3.1", 131_072, 4_096),
    ("deepseek-coder-v2", 131_072, 8_192),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_unknown_models_get_the_safe_default() {
        assert_eq!(ModelLimits::for_model("gpt-4o-mini").output_tokens, 16_384);
        assert_eq!(ModelLimits::for_model("gpt-4-turbo-2024-04-09").output_tokens, 4_096);
        assert_eq!(ModelLimits::for_model("gpt-4").context_tokens, 8_192);
        assert_eq!(ModelLimits::for_model("claude-sonnet-4-5").output_tokens, 64_000);
        assert_eq!(ModelLimits::for_model("openai/GPT-4.1-mini").context_tokens, 1_047_576);
        assert_eq!(ModelLimits::for_model("my-local-model"), ModelLimits::SAFE_DEFAULT);
        assert!(ModelLimits::known("my-local-model").is_none());
    }
}
