//! Generator settings from flags, the environment and config files, in that order of precedence:
//! flags, then `TELEFORGE_*` / `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`, then `teleforge.toml` in the
//! project (the instrumented folder or the nearest folder above it that has one), then the user's
//! `~/.config/teleforge/config.toml` (`$XDG_CONFIG_HOME` honoured).
//!
//! ```toml
//! [llm]
//! generator = "openai"            # openai | anthropic | template
//! model = "gpt-4o-mini"
//! base_url = "http://localhost:11434/v1"   # Ollama, vLLM, llama.cpp server, LM Studio...
//! api_key_file = "~/.config/teleforge/openai.key"
//! max_patterns = 5
//! pattern_budget = 4000
//! timeout_secs = 120
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::cli::InstrumentArgs;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    llm: LlmSection,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LlmSection {
    generator: Option<String>,
    model: Option<String>,
    base_url: Option<String>,
    api_key_file: Option<PathBuf>,
    max_patterns: Option<usize>,
    pattern_budget: Option<usize>,
    timeout_secs: Option<u64>,
}

/// A configuration problem (exit code 78).
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The generator to use, resolved.
pub enum GeneratorChoice {
    Template,
    Llm { config: teleforge_llm::ProviderConfig, options: teleforge_instrument::generate::llm::LlmOptions },
}

fn load(path: &Path) -> Result<Option<LlmSection>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let parsed: FileConfig = toml::from_str(&text)
        .map_err(|e| ConfigError(format!("{} is not a valid teleforge config: {}", path.display(), e.message())))?;
    Ok(Some(parsed.llm))
}

fn project_config(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    let mut dir = if start.is_file() { start.parent()?.to_path_buf() } else { start };
    loop {
        let candidate = dir.join("teleforge.toml");
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = dir.parent()?.to_path_buf();
    }
}

fn user_config() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("teleforge").join("config.toml"))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// Resolves the generator for `instrument`.
pub fn generator(args: &InstrumentArgs) -> Result<GeneratorChoice> {
    // Lowest precedence first; each layer overrides what it sets.
    let mut merged = LlmSection::default();
    let layers = [user_config(), project_config(&args.path)];
    for path in layers.into_iter().flatten() {
        if let Some(section) = load(&path)? {
            let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            merged.generator = section.generator.or(merged.generator);
            merged.model = section.model.or(merged.model);
            merged.base_url = section.base_url.or(merged.base_url);
            merged.api_key_file = section.api_key_file.map(|p| base_dir.join(expand_home(&p))).or(merged.api_key_file);
            merged.max_patterns = section.max_patterns.or(merged.max_patterns);
            merged.pattern_budget = section.pattern_budget.or(merged.pattern_budget);
            merged.timeout_secs = section.timeout_secs.or(merged.timeout_secs);
        }
    }
    let generator = args
        .generator
        .clone()
        .or_else(|| env("TELEFORGE_GENERATOR"))
        .or(merged.generator)
        .unwrap_or_else(|| "template".into());
    let protocol = match generator.as_str() {
        "template" => return Ok(GeneratorChoice::Template),
        "openai" => teleforge_llm::Protocol::OpenAi,
        "anthropic" => teleforge_llm::Protocol::Anthropic,
        other => bail!(ConfigError(format!("unknown generator {other:?}: use openai, anthropic or template"))),
    };
    let model = args.model.clone().or_else(|| env("TELEFORGE_MODEL")).or(merged.model).ok_or_else(|| {
        ConfigError(format!("--model is required with --generator {generator} (or model in teleforge.toml)"))
    })?;
    let mut config = teleforge_llm::ProviderConfig::new(protocol, model);
    config.base_url = args.base_url.clone().or_else(|| env("TELEFORGE_BASE_URL")).or(merged.base_url);
    let key_file = args.api_key_file.clone().map(|p| expand_home(&p));
    config.api_key = match key_file {
        Some(f) => Some(read_key(&f)?),
        None => match env(protocol.key_env()) {
            Some(k) => Some(k),
            None => merged.api_key_file.as_deref().map(read_key).transpose()?,
        },
    };
    if let Some(t) = merged.timeout_secs {
        config.timeout = std::time::Duration::from_secs(t);
    }
    let mut options = teleforge_instrument::generate::llm::LlmOptions::default();
    options.max_patterns = args.max_patterns.or(merged.max_patterns).unwrap_or(options.max_patterns);
    options.pattern_budget = args.pattern_budget.or(merged.pattern_budget).unwrap_or(options.pattern_budget);
    Ok(GeneratorChoice::Llm { config, options })
}

fn read_key(path: &Path) -> Result<String> {
    let key = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read the API key file {}: {e}", path.display())))?;
    let key = key.trim().to_string();
    if key.is_empty() {
        bail!(ConfigError(format!("the API key file {} is empty", path.display())));
    }
    Ok(key)
}
