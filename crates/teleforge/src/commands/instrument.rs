//! `teleforge instrument`.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use teleforge_instrument::generate::llm::LlmGenerator;
use teleforge_instrument::{instrument_with, DiscoverOptions, Generator, InstrumentOptions, OutputMode, Progress};
use teleforge_learning::LearningEngine;

use super::{output_mode, recover_interrupted};
use crate::cli::InstrumentArgs;
use crate::output::{print, print_json};

/// Every check that can refuse the run (output path, a dirty tree, settings) happens before the
/// store is opened or the tree is read.
pub fn run(args: &InstrumentArgs, open: impl FnOnce() -> Result<LearningEngine>) -> Result<i32> {
    let mode = output_mode(&args.path, &args.output, "instrumented")?;
    let check_timeout = Duration::from_secs(args.check_timeout);
    recover_interrupted(&args.path, &mode)?;
    if mode == OutputMode::InPlace && !args.allow_dirty {
        refuse_dirty(&args.path, &args.extensions, check_timeout)?;
    }
    let settings = crate::config::settings(args)?;
    let engine = open()?;
    let engine = &engine;
    let mut discover = DiscoverOptions {
        extensions: args.extensions.clone(),
        include_tests: args.include_tests,
        ..Default::default()
    };
    if let Some(max) = settings.max_file_bytes {
        discover.max_file_bytes = max;
    }
    let opts = InstrumentOptions {
        root: args.path.clone(),
        discover,
        validate: !args.no_validate,
        max_attempts: args.max_attempts,
        output: mode.clone(),
        validate_cmd: args.validate_cmd.clone(),
        run_id: run_id(),
        learning: teleforge_instrument::LearningOptions { apply: !args.no_learning, ..settings.learning },
        check_timeout,
        allow_dirty: args.allow_dirty,
    };
    let verbose = args.verbose;
    // A spinner on stderr; indicatif draws nothing when stderr is not a terminal.
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let printer = bar.clone();
    let mut on_progress = |p: Progress<'_>| {
        bar.set_message(match p {
            Progress::Discovered { files, constructs } => format!("found {constructs} constructs in {files} files"),
            Progress::Baseline { language } => format!("{language}: checking the original code"),
            Progress::Round { language, round, constructs } => {
                format!("{language}: round {round}, validating {constructs} constructs")
            }
            Progress::Writing => "writing".to_string(),
        })
    };
    let mut on_capture = |l: &teleforge_learning::Learning| {
        if !verbose {
            return;
        }
        printer.suspend(|| {
            let subject = l.context.get("subject").map(String::as_str).unwrap_or("");
            if l.success {
                eprintln!(
                    "  ✓ {} attempt {} {}{}",
                    l.hash,
                    l.attempt_number,
                    subject,
                    l.fix_applied.as_deref().map(|f| format!(" — {f}")).unwrap_or_default()
                );
            } else {
                eprintln!(
                    "  ✗ {} attempt {} {} {}",
                    l.hash,
                    l.attempt_number,
                    subject,
                    l.error_pattern.as_deref().unwrap_or("?")
                );
            }
        })
    };
    let llm = match settings.generator {
        crate::config::GeneratorChoice::Template => None,
        crate::config::GeneratorChoice::Llm { config, options } => {
            Some(LlmGenerator::new(teleforge_llm::Provider::new(config)?, options))
        }
    };
    let generator = llm.as_ref().map_or(Generator::Template, Generator::Llm);
    let result = instrument_with(Some(engine), &opts, generator, &mut on_capture, &mut on_progress);
    bar.finish_and_clear();
    let summary = result?;
    if args.json {
        print_json(&summary)?;
    } else if let Some(diff) = &summary.diff {
        print(diff)?;
    }
    if !args.json {
        let place = match &mode {
            OutputMode::Copy(d) => format!("written to {}", d.display()),
            OutputMode::InPlace => "written in place".into(),
            OutputMode::Diff => "diff only, nothing written".into(),
        };
        let validation = if summary.validated {
            let lessons = if summary.learning_applied {
                format!("{} ordered by lessons", summary.constructs_reordered_by_learning)
            } else {
                "learning off".to_string()
            };
            format!(
                "{} compiler runs, {:.2}s validating, {} attempts ({} right first time, {lessons}), {} learnings captured",
                summary.compiler_runs,
                summary.validation_seconds,
                summary.attempts,
                summary.first_attempt_successes,
                summary.learnings_captured
            )
        } else {
            "NOT validated (--no-validate); no learnings captured".into()
        };
        eprintln!(
            "{} files seen, {} instrumented; {} constructs found, {} instrumented, {} left out; {validation}; {place}.",
            summary.files_seen,
            summary.files_instrumented,
            summary.constructs_found,
            summary.constructs_instrumented,
            summary.left_out.len()
        );
        if let Some(llm) = &summary.llm {
            eprintln!(
                "{}: {} requests ({} HTTP attempts, at most {} at once), {} input ({} cached) + {} output tokens, {} failed requests, {} unusable answers ({} cut, {} refused, {} disallowed), {} constructs not reached, {} on the template forms.",
                llm.provider,
                llm.requests,
                llm.http_attempts,
                llm.max_in_flight,
                llm.input_tokens,
                llm.cached_input_tokens,
                llm.output_tokens,
                llm.failed_requests,
                llm.bad_answers,
                llm.cut_answers,
                llm.refusals,
                llm.disallowed_snippets,
                summary.llm_not_reached,
                summary.constructs_fallen_back
            );
            if llm.budget_exhausted {
                eprintln!("The LLM token budget is spent: the rest of the run used the template forms.");
            }
        }
        for (language, outcome) in &summary.consolidation {
            if let teleforge_learning::AutoConsolidation::Done { patterns, new_learnings } = outcome {
                eprintln!("Consolidated {language}: {patterns} patterns, from {new_learnings} new learnings.");
            }
        }
        for l in &summary.left_out {
            eprintln!(
                "  left out: {}:{} {} {}: {}",
                l.file,
                l.line,
                l.construct_type,
                l.function,
                l.reason.lines().next().unwrap_or("")
            );
        }
    }
    Ok(if summary.left_out.is_empty() { 0 } else { 1 })
}

/// `--in-place` follows `cargo fix`. Checked before the run, on every file it could edit (every
/// file of a supported language under PATH, `-e` honoured), so a refusal costs nothing.
fn refuse_dirty(path: &Path, extensions: &[String], timeout: Duration) -> Result<()> {
    let wanted: Vec<String> =
        extensions.iter().map(|e| format!(".{}", e.trim_start_matches('.').to_ascii_lowercase())).collect();
    let touches = |rel: &str| {
        teleforge_instrument::language::for_path(Path::new(rel)).is_some()
            && (wanted.is_empty() || wanted.iter().any(|w| rel.to_ascii_lowercase().ends_with(w.as_str())))
    };
    teleforge_instrument::output::refuse_uncommitted(path, touches, timeout)?;
    Ok(())
}

/// A run id that sorts by time and is unique per process.
fn run_id() -> String {
    let now = teleforge_learning::now_timestamp();
    format!("run-{}-{}", now.replace([':', '-', '.'], ""), std::process::id())
}
