//! One file per command; each turns its flags into library calls and prints the result.

mod classify;
mod consolidate;
pub mod dashboard;
mod instrument;
mod learnings;
mod patterns;
mod stats;
mod strip;
pub mod telemetry;
mod trust;

use std::path::Path;

use anyhow::{Context, Result};
use teleforge_instrument::OutputMode;
use teleforge_learning::{resolve_storage_dir, LearningEngine};

use crate::cli::{Cli, Command, LanguageSelection};
use crate::exit::{NoInput, UsageError};

/// Runs the parsed command; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let open = || open_engine(&cli);
    match &cli.command {
        Command::Consolidate(args) => consolidate::run(&open()?, args),
        Command::Stats(args) => stats::run(&open()?, args),
        Command::Learnings(cmd) => learnings::run(&open()?, cmd),
        Command::Patterns(cmd) => patterns::run(&open()?, cmd),
        Command::Classify(args) => classify::run(args),
        Command::Instrument(args) => {
            // Checked before the store is opened or anything is read.
            existing_input(&args.path)?;
            instrument::run(args, open)
        }
        Command::Strip(args) => {
            existing_input(&args.path)?;
            strip::run(args)
        }
        Command::Trust(args) => trust::run(args),
        Command::Dashboard(args) => {
            // Read-only: a folder without a store is not turned into an empty one.
            let dir = resolve_storage_dir(cli.storage_dir.as_deref());
            let db = dir.join(teleforge_learning::DATABASE_FILE);
            if !db.is_file() {
                return Err(NoInput(format!(
                    "no learning store in {}: run `teleforge instrument` first, or pass --storage-dir",
                    dir.display()
                ))
                .into());
            }
            dashboard::run(open()?, args)
        }
        Command::Telemetry(cmd) => telemetry::run(cmd),
    }
}

fn open_engine(cli: &Cli) -> Result<LearningEngine> {
    let dir = resolve_storage_dir(cli.storage_dir.as_deref());
    LearningEngine::open(&dir).with_context(|| format!("opening the learning store in {}", dir.display()))
}

/// The languages a `--language L | --all` selection names, each checked by [`language_name`]
/// (names from the store too: an imported record could carry any text).
fn selected_languages(engine: &LearningEngine, sel: &LanguageSelection) -> Result<Vec<String>> {
    match &sel.language {
        Some(l) => Ok(vec![language_name(l)?]),
        None => engine.languages()?.iter().map(|l| language_name(l)).collect(),
    }
}

/// A `--language` value in its canonical form (`golang` → `go`), refused (exit 2) unless it is a
/// plain name: it becomes part of file names (`<language>_patterns.json`), so `../x` or `a/b`
/// must never reach a path. The rule is the one stored learnings obey.
pub(crate) fn language_name(raw: &str) -> Result<String> {
    let name = teleforge_learning::classify::canonical_language(raw);
    let plain = !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && !name.starts_with('-');
    if plain {
        Ok(name)
    } else {
        Err(UsageError(format!(
            "{raw:?} is not a language name: use lowercase letters, digits, '_' or '-' (go, python, javascript)"
        ))
        .into())
    }
}

/// The input of `instrument` or `strip`, refused with exit 66 when it does not exist.
fn existing_input(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(()),
        Err(e) => Err(NoInput(format!("cannot read {}: {e}: check the path", path.display())).into()),
    }
}

/// The output mode from `--out`, `--in-place`, `--diff`; a copy beside the input by default (for
/// `.`, beside the current folder). A copy that is, lies inside, or contains the input is refused
/// before anything is read.
fn output_mode(path: &Path, args: &crate::cli::OutputArgs, suffix: &str) -> Result<OutputMode> {
    let mode = if args.in_place {
        OutputMode::InPlace
    } else if args.diff {
        OutputMode::Diff
    } else if let Some(out) = &args.out {
        OutputMode::Copy(out.clone())
    } else {
        OutputMode::Copy(teleforge_instrument::output::default_output(path, suffix)?)
    };
    if let OutputMode::Copy(out) = &mode {
        teleforge_instrument::output::check_output_path(path, out)?;
    }
    Ok(mode)
}

/// Rolls back an in-place write an earlier run left half done (it was killed mid-write), before
/// the tree is read; outside `--in-place`, only says so.
fn recover_interrupted(path: &Path, mode: &OutputMode) -> Result<()> {
    let base = if path.is_file() { path.parent().unwrap_or(Path::new(".")) } else { path };
    if !base.join(teleforge_instrument::output::UNDO_DIR).is_dir() {
        return Ok(());
    }
    if *mode == OutputMode::InPlace {
        let restored = teleforge_instrument::output::recover_interrupted(base)?;
        eprintln!(
            "teleforge: warning: an earlier --in-place run on {} was interrupted; restored {} file(s) to their state before it",
            base.display(),
            restored.len()
        );
    } else {
        eprintln!(
            "teleforge: warning: an earlier --in-place run on {} was interrupted ({} holds the originals); run with --in-place to roll it back",
            base.display(),
            base.join(teleforge_instrument::output::UNDO_DIR).display()
        );
    }
    Ok(())
}
