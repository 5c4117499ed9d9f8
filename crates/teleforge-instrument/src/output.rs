//! Where results go: a copy of the tree (default), the tree itself (`--in-place`), or a unified
//! diff on stdout (`--diff`, nothing written).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use teleforge_learning::write_atomically;

use crate::discover::DiscoveredFile;
use crate::error::{Error, Result};

/// Output mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputMode {
    /// Copy the whole tree to this folder, then write the changed files there.
    Copy(PathBuf),
    InPlace,
    Diff,
}

/// Writes `files` (relative path → new content) per `mode`; returns the diff in `Diff` mode.
/// `discovered` gives the original text of changed files for the diff.
pub fn write_output(
    root: &Path,
    mode: &OutputMode,
    files: &BTreeMap<String, String>,
    discovered: &[DiscoveredFile],
) -> Result<Option<String>> {
    let single_file = root.is_file();
    let base = if single_file { root.parent().unwrap_or(Path::new(".")).to_path_buf() } else { root.to_path_buf() };
    match mode {
        OutputMode::Diff => {
            let mut diff = String::new();
            for (rel, new) in files {
                let old = discovered
                    .iter()
                    .find(|d| &d.source.rel == rel)
                    .map(|d| d.source.text.clone())
                    .or_else(|| std::fs::read_to_string(base.join(rel)).ok())
                    .unwrap_or_default();
                diff.push_str(&unified(rel, &old, new));
            }
            Ok(Some(diff))
        }
        OutputMode::InPlace => {
            for (rel, text) in files {
                write_atomically(&base.join(rel), text.as_bytes())?;
            }
            Ok(None)
        }
        OutputMode::Copy(out) => {
            if single_file {
                std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
            } else {
                copy_tree(root, out)?;
            }
            for (rel, text) in files {
                let target = out.join(rel);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
                }
                write_atomically(&target, text.as_bytes())?;
            }
            Ok(None)
        }
    }
}

/// A unified diff of one file (`a/` and `b/` prefixes, as git prints them).
pub fn unified(rel: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{rel}"), &format!("b/{rel}"))
        .to_string()
}

/// Copies `from` into `to` (created), leaving out `.git` and `to` itself if it lies inside.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io("creating", to, e))?;
    let to_canon = to.canonicalize().map_err(|e| Error::io("resolving", to, e))?;
    copy_dir(from, to, &to_canon)
}

fn copy_dir(from: &Path, to: &Path, skip: &Path) -> Result<()> {
    let entries = std::fs::read_dir(from).map_err(|e| Error::io("reading", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("reading", from, e))?;
        let path = entry.path();
        if entry.file_name() == ".git" || path.canonicalize().is_ok_and(|p| p == skip) {
            continue;
        }
        let target = to.join(entry.file_name());
        let ty = entry.file_type().map_err(|e| Error::io("reading", &path, e))?;
        if ty.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| Error::io("creating", &target, e))?;
            copy_dir(&path, &target, skip)?;
        } else if ty.is_file() {
            std::fs::copy(&path, &target).map_err(|e| Error::io("copying", &path, e))?;
        } else if ty.is_symlink() {
            #[cfg(unix)]
            {
                let link = std::fs::read_link(&path).map_err(|e| Error::io("reading", &path, e))?;
                let _ = std::fs::remove_file(&target);
                std::os::unix::fs::symlink(link, &target).map_err(|e| Error::io("linking", &target, e))?;
            }
        }
    }
    Ok(())
}
