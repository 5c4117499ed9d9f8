//! Replaying recorded attempts against today's code and toolchain (`teleforge patterns verify`).
//!
//! A learning names the construct it was about (file, line, kind, function) and the form it tried.
//! Replaying it renders that form alone on that construct of the file as it is now, with the
//! file's runtime import and the runtime beside it, and checks it with the toolchain installed
//! now. A lesson whose failing example now validates, or whose fixing example no longer does, no
//! longer describes the world: its pattern is stale.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::discover::{discover, DiscoverOptions, DiscoveredFile};
use crate::error::{Error, Result};
use crate::pipeline::{numbers_masked, one_per_file};
use crate::rewrite::apply;
use crate::validate::for_language_with;

/// One recorded attempt to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Relative to the tree's root, `/`-separated.
    pub file: String,
    pub line: usize,
    /// `function`, `loop` or `variable`.
    pub kind: String,
    pub function: String,
    /// The form's id (`py.func.entry`); a model's snippet (`llm`) cannot be replayed.
    pub form: String,
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    Passes,
    /// The first new diagnostic.
    Fails(String),
    /// The attempt cannot be replayed on this tree, and why.
    Gone(String),
}

/// Replays `cases` (all of `language`) on the tree at `root`: one check per case per file at most
/// in each toolchain run, so runs grow with the most cases of one file, not with cases.
pub fn replay(root: &Path, language: &str, cases: &[Replay], timeout: std::time::Duration) -> Result<Vec<Replayed>> {
    let root = root.canonicalize().map_err(|e| Error::io("reading", root, e))?;
    let validator = for_language_with(language, timeout)
        .ok_or_else(|| Error::Usage(format!("{language} has no validator to replay with")))?;
    validator.available()?;
    let opts = DiscoverOptions { include_tests: true, ..Default::default() };
    let files: Vec<DiscoveredFile> =
        discover(&root, &opts)?.into_iter().filter(|f| f.language.name() == language).collect();
    let mut out: Vec<Replayed> = Vec::with_capacity(cases.len());
    // (case, file, construct, form) for the cases that can be replayed.
    let mut ready: Vec<(usize, usize, usize, usize)> = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let Some(fi) = files.iter().position(|f| f.source.rel == case.file) else {
            out.push(Replayed::Gone(format!("{} is not in the tree (or is skipped)", case.file)));
            continue;
        };
        let f = &files[fi];
        let found = f
            .constructs
            .iter()
            .position(|c| c.line == case.line && c.kind.as_str() == case.kind && c.function == case.function);
        let Some(ci) = found else {
            out.push(Replayed::Gone(format!(
                "{}:{} no longer holds the {} of {}",
                case.file, case.line, case.kind, case.function
            )));
            continue;
        };
        let Some(form) = f.constructs[ci].forms.iter().position(|x| x.id == case.form) else {
            out.push(Replayed::Gone(format!("form {} is not one of this construct's forms today", case.form)));
            continue;
        };
        out.push(Replayed::Passes);
        ready.push((n, fi, ci, form));
    }
    if ready.is_empty() {
        return Ok(out);
    }
    // What the files already report untouched: never the replayed form's fault.
    let targets: Vec<String> = {
        let mut t: Vec<String> = ready.iter().map(|r| files[r.1].source.rel.clone()).collect();
        t.sort();
        t.dedup();
        t
    };
    let baseline = validator.baseline(&root, &targets)?;
    let known: HashSet<(String, String)> =
        baseline.diagnostics.iter().map(|d| (d.file.clone(), numbers_masked(&d.message))).collect();
    for slot in one_per_file(ready.iter().map(|r| r.1)) {
        let mut rendered = BTreeMap::new();
        let mut sources = Vec::new();
        for &k in &slot {
            let (_, fi, ci, form) = ready[k];
            let f = &files[fi];
            let mut edits: Vec<&crate::construct::Edit> = f.file_edits.iter().collect();
            edits.extend(f.constructs[ci].forms[form].edits.iter());
            rendered.insert(f.source.rel.clone(), apply(&f.source.text, &edits));
            sources.push(&f.source);
        }
        for r in files[ready[slot[0]].1].language.runtime_files(&sources) {
            rendered.insert(r.rel, r.text);
        }
        let check = validator.check(&root, &rendered)?;
        for &k in &slot {
            let (n, fi, _, _) = ready[k];
            let rel = &files[fi].source.rel;
            let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
            let new = check.diagnostics.iter().find(|d| {
                let here = d.file == *rel
                    || ((d.file.is_empty() || files[fi].language.is_runtime_file(&d.file))
                        && d.file.rsplit_once('/').map_or("", |(x, _)| x) == dir);
                here && !known.contains(&(d.file.clone(), numbers_masked(&d.message)))
            });
            if let Some(d) = new {
                out[n] = Replayed::Fails(d.render());
            }
        }
    }
    Ok(out)
}
