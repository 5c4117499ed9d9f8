//! One file per command; each turns its flags into library calls and prints the result.

mod classify;
mod consolidate;
mod instrument;
mod learnings;
mod patterns;
mod stats;
mod strip;

use anyhow::{Context, Result};
use teleforge_learning::{resolve_storage_dir, LearningEngine};

use crate::cli::{Cli, Command, LanguageSelection};

/// Runs the parsed command; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let open = || open_engine(&cli);
    match &cli.command {
        Command::Consolidate(args) => consolidate::run(&open()?, args),
        Command::Stats(args) => stats::run(&open()?, args),
        Command::Learnings(cmd) => learnings::run(&open()?, cmd),
        Command::Patterns(cmd) => patterns::run(&open()?, cmd),
        Command::Classify(args) => classify::run(args),
        Command::Instrument(args) => instrument::run(&open()?, args),
        Command::Strip(args) => strip::run(args),
    }
}

fn open_engine(cli: &Cli) -> Result<LearningEngine> {
    let dir = resolve_storage_dir(cli.storage_dir.as_deref());
    LearningEngine::open(&dir).with_context(|| format!("opening the learning store in {}", dir.display()))
}

/// The languages a `--language L | --all` selection names.
fn selected_languages(engine: &LearningEngine, sel: &LanguageSelection) -> Result<Vec<String>> {
    match &sel.language {
        Some(l) => Ok(vec![teleforge_learning::classify::canonical_language(l)]),
        None => Ok(engine.languages()?),
    }
}

/// The output mode from `--out`, `--in-place`, `--diff`; a copy beside the input by default.
fn output_mode(
    path: &std::path::Path,
    args: &crate::cli::OutputArgs,
    suffix: &str,
) -> teleforge_instrument::OutputMode {
    use teleforge_instrument::OutputMode;
    if args.in_place {
        OutputMode::InPlace
    } else if args.diff {
        OutputMode::Diff
    } else if let Some(out) = &args.out {
        OutputMode::Copy(out.clone())
    } else {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "tree".into());
        OutputMode::Copy(path.with_file_name(format!("{name}-{suffix}")))
    }
}
