//! Which project `teleforge.toml` files the user trusts: one line per file in
//! `<user config dir>/trusted` (`$XDG_CONFIG_HOME/teleforge/trusted`), its SHA-256 and its
//! canonical path. A file is trusted only while its bytes still hash to what was recorded, so a
//! `git pull` that changes it asks for trust again (as mise and direnv do).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::config::ConfigError;

/// What the trust list says about a file's current bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Trusted,
    /// Trusted once, with other bytes.
    Changed,
    Untrusted,
}

fn list_file() -> Result<PathBuf> {
    crate::config::user_config_dir().map(|d| d.join("trusted")).ok_or_else(|| {
        ConfigError("neither $XDG_CONFIG_HOME nor $HOME is set, so there is nowhere to record trust: set HOME".into())
            .into()
    })
}

fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn canonical(path: &Path) -> Result<PathBuf> {
    path.canonicalize().with_context(|| format!("resolving {}", path.display()))
}

/// `(hash, path)` lines of the trust list; empty when there is none yet.
fn entries() -> Result<Vec<(String, PathBuf)>> {
    let file = list_file()?;
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let (hash, path) = l.split_once("  ")?;
            (hash.len() == 64).then(|| (hash.to_string(), PathBuf::from(path)))
        })
        .collect())
}

fn save(entries: &[(String, PathBuf)]) -> Result<()> {
    let file = list_file()?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut text = String::new();
    for (hash, path) in entries {
        text.push_str(&format!("{hash}  {}\n", path.display()));
    }
    teleforge_learning::write_atomically(&file, text.as_bytes())?;
    Ok(())
}

/// Whether `bytes`, read from `path`, are trusted.
pub fn status(path: &Path, bytes: &[u8]) -> Result<Status> {
    let path = canonical(path)?;
    let hash = digest(bytes);
    let mut status = Status::Untrusted;
    for (h, p) in entries()? {
        if p == path {
            if h == hash {
                return Ok(Status::Trusted);
            }
            status = Status::Changed;
        }
    }
    Ok(status)
}

/// Records the current bytes of `path` as trusted (replacing an older record); returns the hash.
pub fn trust(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let path = canonical(path)?;
    let hash = digest(&bytes);
    let mut all: Vec<(String, PathBuf)> = entries()?.into_iter().filter(|(_, p)| *p != path).collect();
    all.push((hash.clone(), path));
    save(&all)?;
    Ok(hash)
}

/// Forgets every record of `path`; whether there was one.
pub fn revoke(path: &Path) -> Result<bool> {
    let path = canonical(path)?;
    let all = entries()?;
    let kept: Vec<(String, PathBuf)> = all.iter().filter(|(_, p)| *p != path).cloned().collect();
    let removed = kept.len() != all.len();
    if removed {
        save(&kept)?;
    }
    Ok(removed)
}
