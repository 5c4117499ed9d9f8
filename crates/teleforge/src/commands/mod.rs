//! One file per command; each turns its flags into library calls and prints the result.

mod classify;
mod consolidate;
mod learnings;
mod patterns;
mod stats;

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
