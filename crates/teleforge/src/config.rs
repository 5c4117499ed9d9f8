//! Settings for `instrument` from flags, the environment and config files, in that order of
//! precedence: flags, then `TELEFORGE_*` / `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`, then
//! `teleforge.toml` in the project (the instrumented folder or the nearest folder above it that has
//! one), then the user's `~/.config/teleforge/config.toml` (`$XDG_CONFIG_HOME` honoured).
//!
//! A project file comes with the code, so it is not trusted by default: the settings that decide
//! where code, prompts and keys go (`generator`, `model`, `base_url`, `api_key_file`) are taken
//! from it only after `teleforge trust` recorded its content hash (as mise and direnv do); an
//! untrusted or changed file's other settings still apply, and one warning names what was
//! ignored. The user's own file, the environment and flags need no trust.
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
//! output_tokens = 4096            # answer limit per request [default: the model's, else 2048]
//! context_tokens = 128000         # prompt + answer [default: the model's window, else 8192]
//! concurrency = 4                 # requests in flight
//! token_budget = 2000000          # input + output tokens per run; then the template forms
//! max_batch = 40                  # constructs per request at most
//! fallback = true                 # constructs the model did not get right use the templates
//!
//! [learning]
//! consolidate_every = 1       # consolidate after a run that captured this many learnings; 0 = never
//! min_lesson_failures = 2     # failures of a form in one context before a lesson demotes it
//! explore_share = 0.1         # share of constructs (0 to 1) that try a demoted form anyway
//!
//! [instrument]
//! max_file_size = 4194304     # bytes; larger source files are skipped
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
    #[serde(default)]
    learning: LearningSection,
    #[serde(default)]
    instrument: InstrumentSection,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LearningSection {
    consolidate_every: Option<u64>,
    min_lesson_failures: Option<u64>,
    explore_share: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstrumentSection {
    max_file_size: Option<u64>,
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
    output_tokens: Option<u32>,
    context_tokens: Option<u32>,
    concurrency: Option<usize>,
    token_budget: Option<u64>,
    max_batch: Option<usize>,
    fallback: Option<bool>,
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

/// A config file's bytes (hashed for trust) and its parsed settings; `None` when it does not exist.
fn load(path: &Path) -> Result<Option<(Vec<u8>, FileConfig)>> {
    let bytes = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ConfigError(format!("{} is not UTF-8 text: save it as UTF-8", path.display())))?;
    let parsed: FileConfig = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| text.get(..s.start).unwrap_or("").matches('\n').count() + 1);
        ConfigError(format!("{}:{line} is not a valid teleforge config: {}", path.display(), e.message()))
    })?;
    if let Some(share) = parsed.learning.explore_share {
        if !(0.0..=1.0).contains(&share) {
            bail!(ConfigError(format!(
                "{}: learning.explore_share = {share} is outside 0 to 1: use a share such as 0.1",
                path.display()
            )));
        }
    }
    if parsed.learning.min_lesson_failures == Some(0) {
        bail!(ConfigError(format!("{}: learning.min_lesson_failures must be 1 or more", path.display())));
    }
    if parsed.instrument.max_file_size == Some(0) {
        bail!(ConfigError(format!("{}: instrument.max_file_size must be a positive number of bytes", path.display())));
    }
    Ok(Some((bytes, parsed)))
}

/// The nearest `teleforge.toml` at or above `start`.
pub fn project_config(start: &Path) -> Option<PathBuf> {
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

/// The user's teleforge config folder: `$XDG_CONFIG_HOME/teleforge`, else `~/.config/teleforge`.
pub fn user_config_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("teleforge"))
}

fn user_config() -> Option<PathBuf> {
    Some(user_config_dir()?.join("config.toml"))
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

/// Everything `instrument` takes from config files, the environment and flags.
pub struct Settings {
    pub generator: GeneratorChoice,
    /// `[learning]`, with `apply` left at its default (the caller applies `--no-learning`).
    pub learning: teleforge_instrument::LearningOptions,
    /// `--max-file-size`, else `instrument.max_file_size`.
    pub max_file_bytes: Option<u64>,
}

/// Settings a project file may give only once it is trusted.
const TRUSTED_ONLY: [&str; 4] = ["generator", "model", "base_url", "api_key_file"];

/// Resolves the settings for `instrument`; with `--verbose`, lists every config file read.
pub fn settings(args: &InstrumentArgs) -> Result<Settings> {
    // Lowest precedence first; each layer overrides what it sets.
    let mut merged = LlmSection::default();
    let mut learning = LearningSection::default();
    let mut instrument = InstrumentSection::default();
    let layers = [(user_config(), false), (project_config(&args.path), true)];
    for (path, is_project) in layers {
        let Some(path) = path else { continue };
        let Some((bytes, mut file)) = load(&path)? else { continue };
        let mut state = "user config";
        if is_project {
            let trust = crate::trust::status(&path, &bytes)?;
            state = match trust {
                crate::trust::Status::Trusted => "project config, trusted",
                crate::trust::Status::Changed => "project config, changed since it was trusted",
                crate::trust::Status::Untrusted => "project config, not trusted",
            };
            if trust != crate::trust::Status::Trusted {
                let set: Vec<&str> = TRUSTED_ONLY
                    .into_iter()
                    .zip([
                        file.llm.generator.is_some(),
                        file.llm.model.is_some(),
                        file.llm.base_url.is_some(),
                        file.llm.api_key_file.is_some(),
                    ])
                    .filter_map(|(name, present)| present.then_some(name))
                    .collect();
                if !set.is_empty() {
                    let why = if trust == crate::trust::Status::Changed {
                        "has changed since it was trusted"
                    } else {
                        "is not trusted"
                    };
                    eprintln!(
                        "teleforge: warning: {} {why}, so its {} {} ignored: read it, then run `teleforge trust {}`",
                        path.display(),
                        set.join(", "),
                        if set.len() == 1 { "is" } else { "are" },
                        path.display()
                    );
                }
                file.llm.generator = None;
                file.llm.model = None;
                file.llm.base_url = None;
                file.llm.api_key_file = None;
            }
        }
        if args.verbose {
            eprintln!("teleforge: read {} ({state})", path.display());
        }
        let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let section = file.llm;
        merged.generator = section.generator.or(merged.generator);
        merged.model = section.model.or(merged.model);
        merged.base_url = section.base_url.or(merged.base_url);
        merged.api_key_file = section.api_key_file.map(|p| base_dir.join(expand_home(&p))).or(merged.api_key_file);
        merged.max_patterns = section.max_patterns.or(merged.max_patterns);
        merged.pattern_budget = section.pattern_budget.or(merged.pattern_budget);
        merged.timeout_secs = section.timeout_secs.or(merged.timeout_secs);
        merged.output_tokens = section.output_tokens.or(merged.output_tokens);
        merged.context_tokens = section.context_tokens.or(merged.context_tokens);
        merged.concurrency = section.concurrency.or(merged.concurrency);
        merged.token_budget = section.token_budget.or(merged.token_budget);
        merged.max_batch = section.max_batch.or(merged.max_batch);
        merged.fallback = section.fallback.or(merged.fallback);
        learning.consolidate_every = file.learning.consolidate_every.or(learning.consolidate_every);
        learning.min_lesson_failures = file.learning.min_lesson_failures.or(learning.min_lesson_failures);
        learning.explore_share = file.learning.explore_share.or(learning.explore_share);
        instrument.max_file_size = file.instrument.max_file_size.or(instrument.max_file_size);
    }
    let mut options = teleforge_instrument::LearningOptions::default();
    if let Some(n) = learning.consolidate_every {
        options.consolidate_every = (n > 0).then_some(n);
    }
    options.min_failures = learning.min_lesson_failures.unwrap_or(options.min_failures);
    options.explore_share = learning.explore_share.unwrap_or(options.explore_share);
    Ok(Settings {
        generator: generator(args, merged)?,
        learning: options,
        max_file_bytes: args.max_file_size.or(instrument.max_file_size),
    })
}

/// Resolves the generator from flags, the environment and the merged config files.
fn generator(args: &InstrumentArgs, merged: LlmSection) -> Result<GeneratorChoice> {
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
    options.output_tokens = args.llm_output_tokens.or(merged.output_tokens);
    options.context_tokens = args.llm_context_tokens.or(merged.context_tokens);
    options.concurrency = args.llm_concurrency.or(merged.concurrency).unwrap_or(options.concurrency).max(1);
    options.token_budget = args.llm_token_budget.or(merged.token_budget);
    options.max_batch = merged.max_batch.unwrap_or(options.max_batch).max(1);
    options.fallback = !args.no_fallback && merged.fallback.unwrap_or(true);
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
