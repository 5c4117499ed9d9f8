//! `strip`: removes exactly what `instrument` added: every marked insertion, and every runtime
//! file teleforge wrote (recognised by name and by its generated-code first line). Instrument then
//! strip gives back the original bytes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::discover::relative;
use crate::error::{Error, Result};
use crate::language::{self, GENERATED_MARK};
use crate::output::{copy_tree, recover_interrupted, write_file, write_in_place, OutputMode};

/// What `strip` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StripSummary {
    pub files_restored: Vec<String>,
    pub runtime_files_removed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Strips the tree at `root`. In place, an interrupted earlier in-place write is rolled back
/// first, and the whole strip is one unit (see [`write_in_place`]). A copy may not be the input,
/// lie inside it or contain it.
pub fn strip(root: &Path, mode: &OutputMode) -> Result<StripSummary> {
    if !root.exists() {
        return Err(Error::io("reading", root, std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    match mode {
        OutputMode::InPlace => {
            let base = if root.is_file() { root.parent().unwrap_or(Path::new(".")) } else { root };
            recover_interrupted(base)?;
        }
        OutputMode::Copy(out) => crate::output::check_output_path(root, out)?,
        OutputMode::Diff => {}
    }
    let mut restored: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut runtime: Vec<String> = Vec::new();
    let walker = ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| {
            let name = e.file_name().to_str().unwrap_or("");
            !(name == ".git"
                || name == crate::output::UNDO_DIR
                || (e.depth() > 0 && crate::language::shared::SKIPPED_DIRS.contains(&name)))
        })
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| Error::Walk(e.to_string()))?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let Some(lang) = language::for_path(path) else { continue };
        let rel = relative(root, path);
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        if lang.is_runtime_file(&rel) && text.lines().next().is_some_and(|l| l.contains(GENERATED_MARK)) {
            runtime.push(rel);
        } else if lang.is_instrumented(&text) {
            let clean = lang.strip(&text);
            restored.insert(rel, (text, clean));
        }
    }
    let mut summary = StripSummary {
        files_restored: restored.keys().cloned().collect(),
        runtime_files_removed: runtime.clone(),
        diff: None,
    };
    match mode {
        OutputMode::Diff => {
            let mut diff = String::new();
            for (rel, (old, new)) in &restored {
                diff.push_str(&crate::output::unified(rel, old, new));
            }
            for rel in &runtime {
                let old = std::fs::read_to_string(root.join(rel)).unwrap_or_default();
                diff.push_str(&crate::output::unified(rel, &old, ""));
            }
            summary.diff = Some(diff);
        }
        OutputMode::InPlace => {
            let base = if root.is_file() { root.parent().unwrap_or(Path::new(".")) } else { root };
            let changes: Vec<(&str, Option<&[u8]>)> = restored
                .iter()
                .map(|(rel, (_, clean))| (rel.as_str(), Some(clean.as_bytes())))
                .chain(runtime.iter().map(|rel| (rel.as_str(), None)))
                .collect();
            write_in_place(base, &changes)?;
        }
        OutputMode::Copy(out) => {
            if root.is_file() {
                std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
                for (rel, (_, clean)) in &restored {
                    write_file(&out.join(rel), clean.as_bytes())?;
                }
            } else {
                copy_tree(root, out)?;
                for (rel, (_, clean)) in &restored {
                    write_file(&out.join(rel), clean.as_bytes())?;
                }
                for rel in &runtime {
                    let p = out.join(rel);
                    std::fs::remove_file(&p).map_err(|e| Error::io("removing", &p, e))?;
                }
            }
        }
    }
    Ok(summary)
}
