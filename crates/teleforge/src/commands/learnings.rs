//! `teleforge learnings import|export|list|show|clear`.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use teleforge_learning::interchange::{parse_learnings, write_learnings_json};
use teleforge_learning::{Learning, LearningEngine, LearningQuery};

use super::{language_name, selected_languages};
use crate::cli::{LearningsCommand, ListArgs};
use crate::exit::UsageError;
use crate::output::{print, print_json};

pub fn run(engine: &LearningEngine, cmd: &LearningsCommand) -> Result<i32> {
    match cmd {
        LearningsCommand::Import { files, json } => import(engine, files, *json),
        LearningsCommand::Export { language, all: _, out, full } => export(engine, language.as_deref(), out, *full),
        LearningsCommand::List(args) => list(engine, args),
        LearningsCommand::Show { hash, json } => show(engine, hash, *json),
        LearningsCommand::Clear { selection, yes } => {
            let languages = selected_languages(engine, selection)?;
            let total: u64 = languages.iter().map(|l| engine.statistics(l).map(|s| s.total)).sum::<Result<_, _>>()?;
            if !yes {
                return Err(UsageError(format!(
                    "refusing to delete {total} learnings of {} without --yes",
                    if languages.is_empty() { "no language".to_string() } else { languages.join(", ") }
                ))
                .into());
            }
            for l in &languages {
                let n = engine.clear_language(l)?;
                eprintln!("Deleted {n} {l} learnings and their patterns.");
            }
            Ok(0)
        }
    }
}

/// Parses every source first, then stores everything in one transaction: one bad record in any
/// file and nothing is stored.
fn import(engine: &LearningEngine, files: &[std::path::PathBuf], json: bool) -> Result<i32> {
    let mut all: Vec<Learning> = Vec::new();
    for f in files {
        let (text, origin) = if f.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading stdin")?;
            (s, "stdin".to_string())
        } else {
            let s = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            (s, f.display().to_string())
        };
        all.extend(parse_learnings(&text, &origin)?);
    }
    let (_, report) = engine.capture_batch(all).context("nothing was imported")?;
    if json {
        print_json(
            &json!({ "imported": report.inserted, "already_stored": report.duplicates, "sources": files.len() }),
        )?;
    } else {
        print(&format!(
            "Imported {} learnings ({} already stored) from {} source{}.\n",
            report.inserted,
            report.duplicates,
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        ))?;
    }
    Ok(0)
}

/// Every language name is checked before the folder is created or a file written. Each file is
/// streamed record by record into a sibling temporary file, synced, then renamed into place.
fn export(engine: &LearningEngine, language: Option<&str>, out: &Path, full: bool) -> Result<i32> {
    let languages = match language {
        Some(l) => vec![language_name(l)?],
        None => engine.languages()?.iter().map(|l| language_name(l)).collect::<Result<_>>()?,
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for l in &languages {
        let path = out.join(format!("{l}_learnings.json"));
        let query = LearningQuery { language: Some(l.clone()), ..Default::default() };
        // Rows go from the store to the file through a small bounded channel, so an export of
        // any size holds a few hundred learnings in memory at most. The seed appends as it
        // captures: oldest first.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Learning>(256);
        let n = std::thread::scope(|scope| -> Result<usize> {
            let reader = scope.spawn(move || {
                engine.for_each_learning(&query, true, &mut |learning| {
                    // A closed channel means the writer failed; it reports why.
                    tx.send(learning).map_err(|_| teleforge_learning::Error::Io {
                        action: "writing",
                        path: "the learnings export".into(),
                        source: std::io::Error::other("the export stopped"),
                    })
                })
            });
            // Replaced only when every row was read: a store error mid-way leaves the old file.
            let written = stream_to_file(&path, rx.into_iter(), full, || {
                reader.join().map_err(|_| anyhow::anyhow!("the export's reader panicked"))?.map_err(Into::into)
            });
            written
        })?;
        print(&format!("{n}\t{}\n", path.display()))?;
    }
    Ok(0)
}

/// Writes the export through a buffered sibling temporary file, then, if `complete` says every
/// learning arrived, renames it over `path`.
fn stream_to_file(
    path: &Path,
    learnings: impl Iterator<Item = Learning>,
    full: bool,
    complete: impl FnOnce() -> Result<()>,
) -> Result<usize> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<usize> {
        let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        let n = write_learnings_json(&mut writer, learnings.map(Ok), full)?;
        let file =
            writer.into_inner().map_err(|e| e.into_error()).with_context(|| format!("writing {}", tmp.display()))?;
        file.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
        complete()?;
        std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
        Ok(n)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn list(engine: &LearningEngine, args: &ListArgs) -> Result<i32> {
    let learnings = engine.learnings(&LearningQuery {
        language: args.language.clone(),
        construct_type: args.construct_type.clone(),
        error_pattern: args.pattern.clone(),
        only_failures: args.failures,
        only_successes: args.successes,
        limit: Some(args.limit),
    })?;
    let mut text = String::new();
    for l in &learnings {
        if args.json {
            text.push_str(&serde_json::to_string(l)?);
            text.push('\n');
        } else {
            text.push_str(&format!(
                "{}  {}  {:<10} {:<12} attempt {}  {}  {}\n",
                l.hash,
                l.timestamp,
                l.language,
                l.construct_type,
                l.attempt_number,
                if l.success { "✓" } else { "✗" },
                l.error_pattern.as_deref().unwrap_or("-")
            ));
        }
    }
    print(&text)?;
    Ok(0)
}

fn show(engine: &LearningEngine, hash: &str, json: bool) -> Result<i32> {
    let found = engine.store().find(hash)?;
    if found.is_empty() {
        return Err(UsageError(format!("no learning has a hash starting with {hash:?}")).into());
    }
    if json {
        print_json(&found)?;
        return Ok(0);
    }
    let mut text = String::new();
    for l in &found {
        text.push_str(&format!("hash:           {}\n", l.hash));
        text.push_str(&format!("language:       {}\n", l.language));
        text.push_str(&format!("construct_type: {}\n", l.construct_type));
        text.push_str(&format!("attempt_number: {}\n", l.attempt_number));
        text.push_str(&format!("success:        {}\n", l.success));
        text.push_str(&format!("error_pattern:  {}\n", l.error_pattern.as_deref().unwrap_or("-")));
        text.push_str(&format!("fix_applied:    {}\n", l.fix_applied.as_deref().unwrap_or("-")));
        text.push_str(&format!("timestamp:      {}\n", l.timestamp));
        if let Some(r) = &l.run_id {
            text.push_str(&format!("run_id:         {r}\n"));
        }
        if let Some(g) = &l.generator {
            text.push_str(&format!("generator:      {g}\n"));
        }
        for (k, v) in &l.context {
            text.push_str(&format!("context.{k}: {v}\n"));
        }
        text.push_str("validation_errors:\n");
        for e in &l.validation_errors {
            text.push_str(&format!("  {}\n", e.replace('\n', "\n  ")));
        }
        text.push_str(&format!("generated_code:\n{}\n\n", l.generated_code));
    }
    print(&text)?;
    Ok(0)
}
