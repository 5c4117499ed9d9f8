//! Every command and flag of `teleforge`, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Instrument code with telemetry and learn from every validation attempt.
#[derive(Debug, Parser)]
#[command(name = "teleforge", version, about, propagate_version = true)]
pub struct Cli {
    /// Folder holding the learning store and the `<language>_patterns.json` files
    /// [default: $TELEMETRY_LEARNINGS_DIR, else ~/.telemetry_learnings]
    #[arg(long, global = true, value_name = "DIR")]
    pub storage_dir: Option<PathBuf>,

    /// When to use colour on stderr (NO_COLOR is honoured in `auto`). Accepted for scripts; no
    /// output is coloured yet.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Insert telemetry into a tree, validate it with the real toolchain, retry what fails, and
    /// capture every attempt as a learning.
    Instrument(InstrumentArgs),
    /// Remove exactly what `instrument` added (runtime files included).
    Strip(StripArgs),
    /// Group learnings into error patterns and write `<language>_patterns.json`.
    Consolidate(ConsolidateArgs),
    /// Show the statistics of one or every language.
    Stats(StatsArgs),
    /// Import, export, list, show or clear raw learnings.
    #[command(subcommand)]
    Learnings(LearningsCommand),
    /// List or show consolidated patterns.
    #[command(subcommand)]
    Patterns(PatternsCommand),
    /// Classify diagnostics read from stdin into error patterns.
    Classify(ClassifyArgs),
    /// Trust a project's teleforge.toml, so that its generator, model, base_url and api_key_file
    /// are used (they decide where code and keys are sent). Records the file's content hash; a
    /// changed file needs trusting again.
    Trust(TrustArgs),
    /// Serve a local web page over the learning store: trends, patterns, runs, learnings.
    Dashboard(crate::commands::dashboard::DashboardArgs),
    /// Work with the events the Tel runtimes wrote (export to OpenTelemetry).
    #[command(subcommand)]
    Telemetry(crate::commands::telemetry::TelemetryCommand),
}

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The teleforge.toml, or a folder holding one [default: the nearest teleforge.toml at or
    /// above the current folder].
    pub path: Option<PathBuf>,
    /// Forget the trust given to that file instead.
    #[arg(long)]
    pub revoke: bool,
}

/// `--language L` or `--all`, exactly one.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct LanguageSelection {
    /// The language (go, python, javascript, or any other name learnings were captured under).
    #[arg(long, short = 'l')]
    pub language: Option<String>,
    /// Every language in the store.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ConsolidateArgs {
    #[command(flatten)]
    pub selection: LanguageSelection,
    /// Print the statistics only; change nothing.
    #[arg(long)]
    pub stats_only: bool,
    /// Fewest occurrences a pattern needs to be kept.
    #[arg(long, default_value_t = teleforge_learning::DEFAULT_MIN_OCCURRENCES)]
    pub min_occurrences: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// One language; every language when omitted.
    #[arg(long, short = 'l')]
    pub language: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum LearningsCommand {
    /// Import seed-format JSON arrays or JSON Lines (`-` reads JSON Lines from stdin). All or
    /// nothing: one bad record and nothing is stored.
    Import {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write `<language>_learnings.json` files in the seed's format.
    Export {
        /// The language to export; every language when omitted.
        #[arg(long, short = 'l', conflicts_with = "all")]
        language: Option<String>,
        /// Every language (the default).
        #[arg(long)]
        all: bool,
        /// Folder to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Also write teleforge's own fields (run_id, generator, context).
        #[arg(long)]
        full: bool,
    },
    /// List learnings, newest first.
    List(ListArgs),
    /// Show learnings whose hash starts with HASH.
    Show {
        hash: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete the learnings and patterns of a language.
    Clear {
        #[command(flatten)]
        selection: LanguageSelection,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, short = 'l')]
    pub language: Option<String>,
    #[arg(long)]
    pub construct_type: Option<String>,
    /// Only learnings with this error pattern.
    #[arg(long)]
    pub pattern: Option<String>,
    /// Only failures.
    #[arg(long, conflicts_with = "successes")]
    pub failures: bool,
    /// Only successes.
    #[arg(long)]
    pub successes: bool,
    /// At most this many.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PatternsCommand {
    /// List consolidated patterns.
    List {
        #[arg(long, short = 'l')]
        language: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one pattern with its examples.
    Show {
        name: String,
        #[arg(long, short = 'l')]
        language: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Replay each pattern's failing and fixing attempt on the tree they came from, with today's
    /// toolchain: a failing attempt that now validates, or a fixing one that no longer does, marks
    /// the pattern stale (no longer injected or used to order forms) until a verify finds it true.
    Verify {
        /// The tree the learnings came from [default: the current folder].
        #[arg(default_value = ".")]
        path: PathBuf,
        #[arg(long, short = 'l')]
        language: Option<String>,
        /// Longest a toolchain process may run, in seconds.
        #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
        check_timeout: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// The language whose toolchain printed the diagnostics.
    #[arg(long, short = 'l', required = true)]
    pub language: String,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Where the result goes: a copy (default), the tree itself, or a diff.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct OutputArgs {
    /// Write an instrumented copy of the tree here [default: PATH-instrumented beside PATH].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Edit the tree itself.
    #[arg(long)]
    pub in_place: bool,
    /// Print a unified diff on stdout and write nothing.
    #[arg(long)]
    pub diff: bool,
}

#[derive(Debug, Args)]
pub struct InstrumentArgs {
    /// The folder (or file) to instrument.
    pub path: PathBuf,
    /// Only files with these extensions (`-e .go`); every supported language when omitted.
    #[arg(long = "extension", short = 'e', value_name = "EXT")]
    pub extensions: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Validate with the real toolchain (the default; accepted for the seed's command line).
    #[arg(long, overrides_with = "no_validate")]
    pub validate: bool,
    /// Instrument without validation (nothing is captured; the summary says so).
    #[arg(long)]
    pub no_validate: bool,
    /// Forms tried per construct before it is left out.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
    /// Instrument test files too.
    #[arg(long)]
    pub include_tests: bool,
    /// Read and apply no learned lesson (no form reordered, nothing injected into prompts); every
    /// attempt is still captured. The A side of an A/B comparison.
    #[arg(long)]
    pub no_learning: bool,
    /// Your own check, run on the instrumented result before anything is written (for example
    /// `go test ./...`); if it fails, nothing is written.
    #[arg(long, value_name = "CMD")]
    pub validate_cmd: Option<String>,
    /// Show every captured learning and every config file read on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Longest one toolchain process or --validate-cmd may run, in seconds, before it is killed
    /// with its whole process group.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub check_timeout: u64,
    /// With --in-place, edit files that have uncommitted changes in git.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Skip source files larger than this many bytes (suffixes K, M, G) [default: 4M;
    /// teleforge.toml: instrument.max_file_size].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Who writes the snippets: template (offline, the default), openai (any OpenAI-compatible
    /// server) or anthropic [env: TELEFORGE_GENERATOR; teleforge.toml: llm.generator].
    #[arg(long, value_name = "NAME")]
    pub generator: Option<String>,
    /// The model [env: TELEFORGE_MODEL; teleforge.toml: llm.model].
    #[arg(long)]
    pub model: Option<String>,
    /// The server, e.g. http://localhost:11434/v1 for Ollama [env: TELEFORGE_BASE_URL].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// A file holding the API key [default: $OPENAI_API_KEY / $ANTHROPIC_API_KEY].
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Learned patterns per prompt, at most [default: 5].
    #[arg(long)]
    pub max_patterns: Option<usize>,
    /// Characters of learned patterns per prompt, at most [default: 4000].
    #[arg(long)]
    pub pattern_budget: Option<usize>,
    /// The model's answer limit per request, in tokens [default: the model's known limit, else
    /// 2048; teleforge.toml: llm.output_tokens].
    #[arg(long, value_name = "TOKENS")]
    pub llm_output_tokens: Option<u32>,
    /// The model's context window (prompt and answer), in tokens [default: the model's known
    /// window, else 8192; teleforge.toml: llm.context_tokens].
    #[arg(long, value_name = "TOKENS")]
    pub llm_context_tokens: Option<u32>,
    /// Requests to the model in flight at once [default: 4; teleforge.toml: llm.concurrency].
    #[arg(long, value_name = "N")]
    pub llm_concurrency: Option<usize>,
    /// Input plus output tokens the run may spend; then the model is not asked again and the
    /// template forms finish the run [teleforge.toml: llm.token_budget].
    #[arg(long, value_name = "TOKENS")]
    pub llm_token_budget: Option<u64>,
    /// Leave out the constructs the model did not get right, instead of trying the template
    /// forms for them [teleforge.toml: llm.fallback = false].
    #[arg(long)]
    pub no_fallback: bool,
}

#[derive(Debug, Args)]
pub struct StripArgs {
    /// The instrumented folder.
    pub path: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `4096`, `512K`, `4M`, `1G` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], t[i..].trim()),
        None => (t, ""),
    };
    let n: u64 =
        digits.parse().map_err(|_| format!("{text:?} is not a size: use bytes, or a number with K, M or G"))?;
    let factor: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("{text:?} is not a size: use bytes, or a number with K, M or G")),
    };
    match n.checked_mul(factor) {
        Some(0) | None => Err(format!("{text:?} is not a usable size: give a positive number of bytes")),
        Some(v) => Ok(v),
    }
}
