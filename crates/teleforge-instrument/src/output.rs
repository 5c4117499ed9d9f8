//! Where results go: a copy of the tree (default), the tree itself (`--in-place`), or a unified
//! diff on stdout (`--diff`, nothing written).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
/// `discovered` gives the original text of changed files for the diff. Every file is written
/// atomically and keeps its mode; in place, an undo record ([`UNDO_DIR`]) covers the whole set,
/// so an interrupted run is rolled back by [`recover_interrupted`].
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
            let changes: Vec<(&str, Option<&[u8]>)> =
                files.iter().map(|(rel, text)| (rel.as_str(), Some(text.as_bytes()))).collect();
            write_in_place(&base, &changes)?;
            Ok(None)
        }
        OutputMode::Copy(out) => {
            check_output_path(root, out)?;
            if single_file {
                std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
            } else {
                // Files about to be written are not copied first.
                std::fs::create_dir_all(out).map_err(|e| Error::io("creating", out, e))?;
            }
            let mut plan = CopyPlan::default();
            if !single_file {
                copy_dir(root, out, Path::new(""), &|rel: &str| files.contains_key(rel), &mut plan)?;
            }
            // Each file is replaced atomically (temporary file, rename), so no file of the copy is
            // ever half written; the copy is not fsynced, as `cp` does not: the user's tree is
            // untouched, and a copy lost to a power cut is made again by running again. (Per-file
            // fsyncs made the command ten times slower than the copy; one syncfs of a big tree
            // costs as much.) `--in-place` keeps every fsync and its undo record.
            for (rel, text) in files {
                let target = out.join(rel);
                if let Some(parent) = target.parent() {
                    if !plan.dirs.contains(parent) {
                        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
                        plan.dirs.insert(parent.to_path_buf());
                    }
                }
                // The file was not copied first: it takes the original's mode.
                plan.jobs.push(Job::Write { target, text: text.as_bytes(), like: base.join(rel) });
            }
            plan.run()?;
            Ok(None)
        }
    }
}

/// Refuses an output folder that is the input, lies inside it, or contains it (a copy onto itself
/// empties every file; a copy inside the input copies itself). For a single input file, the
/// output may not be the file itself or the folder that holds it. Paths that do not exist yet are
/// resolved through their nearest existing parent, so `..` and symbolic links cannot hide an
/// overlap.
pub fn check_output_path(input: &Path, out: &Path) -> Result<()> {
    let input_abs = resolve(input)?;
    let out_abs = resolve(out)?;
    let refuse =
        |relation| Err(Error::OutputOverlapsInput { out: out.to_path_buf(), input: input.to_path_buf(), relation });
    if input_abs.is_file() {
        if out_abs == input_abs {
            return refuse("is");
        }
        if input_abs.parent() == Some(out_abs.as_path()) {
            return refuse("is the folder of");
        }
        return Ok(());
    }
    if out_abs == input_abs {
        refuse("is")
    } else if out_abs.starts_with(&input_abs) {
        refuse("lies inside")
    } else if input_abs.starts_with(&out_abs) {
        refuse("contains")
    } else {
        Ok(())
    }
}

/// The absolute, symlink-free form of `p`, which need not exist: its nearest existing ancestor is
/// canonicalized and the rest appended with `.` and `..` applied.
fn resolve(p: &Path) -> Result<PathBuf> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("reading the current folder", p, e))?;
    let abs = cwd.join(p);
    let mut existing = abs.as_path();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    let canonical = loop {
        match existing.canonicalize() {
            Ok(c) => break c,
            Err(_) => {
                match (existing.parent(), existing.file_name()) {
                    (Some(parent), Some(name)) => {
                        rest.push(name.to_os_string());
                        existing = parent;
                    }
                    // `..` or `.` as the last component of a missing path: go up lexically.
                    (Some(parent), None) => {
                        rest.push(
                            existing.components().next_back().map(|c| c.as_os_str().to_os_string()).unwrap_or_default(),
                        );
                        existing = parent;
                    }
                    (None, _) => break PathBuf::from("/"),
                }
            }
        }
    };
    let mut out = canonical;
    for part in rest.iter().rev() {
        match part.to_str() {
            Some("..") => {
                out.pop();
            }
            Some(".") | Some("") => {}
            _ => out.push(part),
        }
    }
    Ok(out)
}

/// Where the default output goes: `NAME-suffix` beside the input (for `.`, beside the current
/// folder, never inside it).
pub fn default_output(input: &Path, suffix: &str) -> Result<PathBuf> {
    let abs = resolve(input)?;
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => {
            let stem = if abs.is_file() {
                Path::new(name).file_stem().unwrap_or(name).to_string_lossy().into_owned()
            } else {
                name.to_string_lossy().into_owned()
            };
            Ok(parent.join(format!("{stem}-{suffix}")))
        }
        _ => Err(Error::Usage(format!(
            "{} has no folder beside it for the default output: pass --out DIR",
            input.display()
        ))),
    }
}

/// Writes `bytes` to `path` atomically: a sibling temporary file, fsync, rename over the target,
/// fsync of the folder. A file that existed keeps its permission bits (an executable script stays
/// executable); a new one gets the default mode (0666 less the umask).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file_with(path, bytes, true, None)
}

/// [`write_file`]; `durable: false` leaves out the fsyncs (the caller syncs many files at once);
/// a new file takes the mode of `like` when given.
fn write_file_with(path: &Path, bytes: &[u8], durable: bool, like: Option<&Path>) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let permissions = std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .or_else(|| like.and_then(|l| std::fs::metadata(l).ok()).filter(|m| m.is_file()))
        .map(|m| m.permissions());
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.teleforge-{}-{n}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io("creating", &tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io("writing", &tmp, e))?;
        if let Some(p) = &permissions {
            f.set_permissions(p.clone()).map_err(|e| Error::io("setting the mode of", &tmp, e))?;
        }
        if durable {
            f.sync_all().map_err(|e| Error::io("syncing", &tmp, e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| Error::io("replacing", path, e))?;
        if durable {
            sync_dir(dir);
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename or removal in `dir` durable; best effort (not every file system supports it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The undo record of an in-place write, in the root of the tree being written: `manifest.json`
/// lists every file to be changed, with the name of its saved original (or `null` for a file that
/// did not exist). Its presence means a write may have stopped half way.
pub const UNDO_DIR: &str = ".teleforge-undo";

#[derive(serde::Serialize, serde::Deserialize)]
struct UndoManifest {
    /// Relative path → saved copy's file name in the undo folder, `None` when the file is new.
    files: Vec<(String, Option<String>)>,
}

/// Applies `changes` (relative path → new bytes, or `None` to remove the file) under `base` as one
/// unit: the originals are saved in [`UNDO_DIR`] first (synced), then each file is replaced
/// atomically, then the record is removed. If teleforge dies in between, the next
/// [`recover_interrupted`] puts every original back.
pub fn write_in_place(base: &Path, changes: &[(&str, Option<&[u8]>)]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    recover_interrupted(base)?;
    let undo = base.join(UNDO_DIR);
    std::fs::create_dir_all(&undo).map_err(|e| Error::io("creating", &undo, e))?;
    let mut manifest = UndoManifest { files: Vec::with_capacity(changes.len()) };
    for (i, (rel, _)) in changes.iter().enumerate() {
        let original = base.join(rel);
        let saved = match std::fs::symlink_metadata(&original) {
            Ok(m) if m.is_file() => {
                let name = format!("{i}.orig");
                let copy = undo.join(&name);
                std::fs::copy(&original, &copy).map_err(|e| Error::io("saving the original of", &original, e))?;
                std::fs::File::open(&copy).and_then(|f| f.sync_all()).map_err(|e| Error::io("syncing", &copy, e))?;
                Some(name)
            }
            Ok(_) => {
                return Err(Error::Usage(format!(
                    "{} is not a regular file, so teleforge will not replace it: remove it or leave the tree as it is",
                    original.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("reading", &original, e)),
        };
        manifest.files.push((rel.to_string(), saved));
    }
    let json = serde_json::to_vec(&manifest).map_err(|e| Error::Usage(format!("writing the undo record: {e}")))?;
    write_file(&undo.join("manifest.json"), &json)?;
    for (rel, new) in changes {
        let target = base.join(rel);
        match new {
            Some(bytes) => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
                }
                write_file(&target, bytes)?;
            }
            None => match std::fs::remove_file(&target) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("removing", &target, e)),
            },
        }
    }
    if let Some(parent) = base.join(changes[0].0).parent() {
        sync_dir(parent);
    }
    std::fs::remove_dir_all(&undo).map_err(|e| Error::io("removing the undo record", &undo, e))?;
    sync_dir(base);
    Ok(())
}

/// Rolls back an in-place write that did not finish (teleforge was killed, the disk filled):
/// every file listed in the undo record gets its original bytes and mode back, new files are
/// removed, and the record goes. Returns the files restored (relative paths); empty when there
/// was nothing to do. A record without its manifest was never acted on and is simply removed.
pub fn recover_interrupted(base: &Path) -> Result<Vec<String>> {
    let undo = base.join(UNDO_DIR);
    if !undo.is_dir() {
        return Ok(Vec::new());
    }
    let manifest_path = undo.join("manifest.json");
    let text = match std::fs::read(&manifest_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::remove_dir_all(&undo).map_err(|e| Error::io("removing the undo record", &undo, e))?;
            return Ok(Vec::new());
        }
        Err(e) => return Err(Error::io("reading", &manifest_path, e)),
    };
    let manifest: UndoManifest = serde_json::from_slice(&text).map_err(|e| {
        Error::Usage(format!(
            "the undo record {} is damaged ({e}): restore the tree from version control and delete that folder",
            manifest_path.display()
        ))
    })?;
    let mut restored = Vec::new();
    for (rel, saved) in &manifest.files {
        if !is_safe_relative(rel) || saved.as_deref().is_some_and(|s| !is_safe_relative(s) || s.contains('/')) {
            return Err(Error::Usage(format!(
                "the undo record {} names a path outside the tree ({rel}): restore the tree from version control and delete that folder",
                manifest_path.display()
            )));
        }
        let target = base.join(rel);
        match saved {
            Some(name) => {
                let copy = undo.join(name);
                let bytes = std::fs::read(&copy).map_err(|e| Error::io("reading", &copy, e))?;
                let mode = std::fs::metadata(&copy).map_err(|e| Error::io("reading", &copy, e))?.permissions();
                write_file(&target, &bytes)?;
                std::fs::set_permissions(&target, mode).map_err(|e| Error::io("setting the mode of", &target, e))?;
            }
            None => match std::fs::remove_file(&target) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("removing", &target, e)),
            },
        }
        restored.push(rel.clone());
    }
    std::fs::remove_dir_all(&undo).map_err(|e| Error::io("removing the undo record", &undo, e))?;
    sync_dir(base);
    Ok(restored)
}

/// A relative path that stays below its base: no root, no `..`.
fn is_safe_relative(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty()
        && p.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
}

/// `--in-place` follows `cargo fix`: refuses (with [`Error::DirtyTree`]) when any file under `root`
/// for which `touches` is true has uncommitted changes in git, so the user can always see, and
/// undo, exactly what teleforge changed. Outside a git work tree, or without git, there is nothing
/// to compare with and nothing is refused.
pub fn refuse_uncommitted(root: &Path, touches: impl Fn(&str) -> bool, timeout: std::time::Duration) -> Result<()> {
    let dirty: Vec<String> = uncommitted_files(root, timeout)?.into_iter().filter(|rel| touches(rel)).collect();
    match dirty.first() {
        None => Ok(()),
        Some(first) => Err(Error::DirtyTree { root: root.to_path_buf(), count: dirty.len(), first: first.clone() }),
    }
}

/// Files under `root` with uncommitted changes (modified, staged, untracked; relative to `root`)
/// when `root` is inside a git work tree; empty when it is not, or git is not installed.
pub fn uncommitted_files(root: &Path, timeout: std::time::Duration) -> Result<Vec<String>> {
    let base = if root.is_file() { root.parent().unwrap_or(Path::new(".")) } else { root };
    let mut top = std::process::Command::new("git");
    top.arg("-C").arg(base).args(["rev-parse", "--show-toplevel"]);
    let top = match crate::process::run(&mut top, None, timeout) {
        Ok(o) if o.status.success() => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim_end_matches(['\n', '\r'])),
        Ok(_) => return Ok(Vec::new()),
        Err(crate::process::RunError::Spawn { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut status = std::process::Command::new("git");
    status.arg("-C").arg(base).args(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--", "."]);
    let out = crate::process::run(&mut status, None, timeout)?;
    if !out.status.success() {
        return Err(Error::Toolchain {
            tool: "git",
            detail: String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("git status failed").to_string(),
        });
    }
    let base_abs = base.canonicalize().map_err(|e| Error::io("resolving", base, e))?;
    let top = top.canonicalize().unwrap_or(top);
    let mut dirty = Vec::new();
    let mut entries = out.stdout.split(|&b| b == 0);
    while let Some(entry) = entries.next() {
        if entry.len() < 4 {
            continue;
        }
        let (code, path) = entry.split_at(3);
        // A rename or copy is followed by its source path, which is not changed on disk.
        if code.first().is_some_and(|c| *c == b'R' || *c == b'C') {
            entries.next();
        }
        let abs = top.join(String::from_utf8_lossy(path).as_ref());
        if let Ok(rel) = abs.strip_prefix(&base_abs) {
            dirty.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    dirty.sort();
    Ok(dirty)
}

/// A unified diff of one file (`a/` and `b/` prefixes, as git prints them).
pub fn unified(rel: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{rel}"), &format!("b/{rel}"))
        .to_string()
}

/// Copies `from` into `to` (created), leaving out `.git`. Files keep their permission bits,
/// folders their mode, and symbolic links are copied as links (never followed, so a link that
/// points out of the tree does not pull outside files into the copy). Refuses a `to` that is,
/// lies inside, or contains `from`.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    check_output_path(from, to)?;
    std::fs::create_dir_all(to).map_err(|e| Error::io("creating", to, e))?;
    let mut plan = CopyPlan::default();
    copy_dir(from, to, Path::new(""), &|_: &str| false, &mut plan)?;
    plan.run()
}

/// The file work of a copy, done on every core once the folders exist: creating files costs the
/// kernel more than anything else the command does per file.
#[derive(Default)]
struct CopyPlan<'a> {
    /// Folders created (so a write into one is not preceded by another `create_dir_all`).
    dirs: std::collections::HashSet<PathBuf>,
    jobs: Vec<Job<'a>>,
    /// Folder modes, set once their files are in (a read-only folder would refuse them).
    modes: Vec<(PathBuf, std::fs::Permissions)>,
}

enum Job<'a> {
    Copy {
        from: PathBuf,
        to: PathBuf,
    },
    /// A file written whole (atomically, not synced), taking the mode of `like`.
    Write {
        target: PathBuf,
        text: &'a [u8],
        like: PathBuf,
    },
}

impl Job<'_> {
    fn target(&self) -> &Path {
        match self {
            Job::Copy { to, .. } => to,
            Job::Write { target, .. } => target,
        }
    }

    fn run(&self) -> Result<()> {
        match self {
            // std::fs::copy keeps the permission bits.
            Job::Copy { from, to } => std::fs::copy(from, to).map(|_| ()).map_err(|e| Error::io("copying", from, e)),
            Job::Write { target, text, like } => write_file_with(target, text, false, Some(like)),
        }
    }
}

impl CopyPlan<'_> {
    fn run(self) -> Result<()> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8).min(self.jobs.len());
        if workers <= 1 {
            for j in &self.jobs {
                j.run()?;
            }
        } else {
            // Whole folders per worker, largest first: creating a file locks its folder, so two
            // workers filling one folder mostly wait on each other (lodash: one folder of ~1,000
            // files, 11% of the command's CPU spinning on that lock).
            let mut folders: std::collections::HashMap<&Path, Vec<usize>> = std::collections::HashMap::new();
            for (i, j) in self.jobs.iter().enumerate() {
                folders.entry(j.target().parent().unwrap_or(Path::new(""))).or_default().push(i);
            }
            let mut folders: Vec<Vec<usize>> = folders.into_values().collect();
            folders.sort_by_key(|f| (std::cmp::Reverse(f.len()), f[0]));
            let next = std::sync::atomic::AtomicUsize::new(0);
            let failed: std::sync::Mutex<Option<(usize, Error)>> = std::sync::Mutex::new(None);
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(folder) = folders.get(n) else { break };
                        for &i in folder {
                            if let Err(e) = self.jobs[i].run() {
                                let mut f = failed.lock().unwrap_or_else(|e| e.into_inner());
                                // The first failure in the walk's order is reported; the others stop.
                                if f.as_ref().is_none_or(|(at, _)| i < *at) {
                                    *f = Some((i, e));
                                }
                                next.store(folders.len(), std::sync::atomic::Ordering::Relaxed);
                                break;
                            }
                        }
                    });
                }
            });
            if let Some((_, e)) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
                return Err(e);
            }
        }
        for (dir, mode) in self.modes.iter().rev() {
            std::fs::set_permissions(dir, mode.clone()).map_err(|e| Error::io("setting the mode of", dir, e))?;
        }
        Ok(())
    }
}

/// Plans the copy of the folder `from` (at `rel` under the tree's root) into `to`, leaving out the
/// files whose relative path `skip` names: folders and links are made now, files go to `plan`.
fn copy_dir(from: &Path, to: &Path, rel: &Path, skip: &dyn Fn(&str) -> bool, plan: &mut CopyPlan<'_>) -> Result<()> {
    plan.dirs.insert(to.to_path_buf());
    let entries = std::fs::read_dir(from).map_err(|e| Error::io("reading", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("reading", from, e))?;
        let path = entry.path();
        if entry.file_name() == ".git" || entry.file_name() == UNDO_DIR {
            continue;
        }
        let target = to.join(entry.file_name());
        // Not followed: a link is copied as a link.
        let ty = entry.file_type().map_err(|e| Error::io("reading", &path, e))?;
        if ty.is_symlink() {
            let link = std::fs::read_link(&path).map_err(|e| Error::io("reading", &path, e))?;
            if std::fs::symlink_metadata(&target).is_ok() {
                remove_any(&target)?;
            }
            #[cfg(unix)]
            std::os::unix::fs::symlink(&link, &target).map_err(|e| Error::io("linking", &target, e))?;
            #[cfg(not(unix))]
            let _ = link;
        } else if ty.is_dir() {
            if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
                remove_any(&target)?;
            }
            std::fs::create_dir_all(&target).map_err(|e| Error::io("creating", &target, e))?;
            copy_dir(&path, &target, &rel.join(entry.file_name()), skip, plan)?;
            let mode = entry.metadata().map_err(|e| Error::io("reading", &path, e))?.permissions();
            plan.modes.push((target, mode));
        } else if ty.is_file() {
            let file_rel = rel.join(entry.file_name());
            if skip(&file_rel.to_string_lossy().replace('\\', "/")) {
                continue;
            }
            if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_file()) {
                remove_any(&target)?;
            }
            plan.jobs.push(Job::Copy { from: path, to: target });
        }
    }
    Ok(())
}

/// Removes whatever is at `p` (a stale file, link or folder in an output folder being refreshed).
fn remove_any(p: &Path) -> Result<()> {
    let r = match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(_) => Ok(()),
    };
    r.map_err(|e| Error::io("replacing", p, e))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn output_paths_that_overlap_the_input_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("demo");
        std::fs::create_dir_all(input.join("sub")).unwrap();
        std::fs::write(input.join("main.go"), "package main\n").unwrap();
        for (out, relation) in [
            (input.clone(), "is"),
            (input.join("."), "is"),
            (input.join("sub/../"), "is"),
            (input.join("out"), "lies inside"),
            (input.join("sub/new/deeper"), "lies inside"),
            (dir.path().to_path_buf(), "contains"),
            (input.join(".."), "contains"),
        ] {
            let err = check_output_path(&input, &out).unwrap_err().to_string();
            assert!(err.contains(&format!("{} {relation} the input {}", out.display(), input.display())), "{err}");
        }
        check_output_path(&input, &dir.path().join("demo-instrumented")).unwrap();
        check_output_path(&input, &dir.path().join("demo2")).unwrap();
        // A symbolic link to the input is the input.
        std::os::unix::fs::symlink(&input, dir.path().join("alias")).unwrap();
        assert!(check_output_path(&input, &dir.path().join("alias/x")).is_err());
        // A single file: not itself, not its own folder.
        let file = input.join("main.go");
        assert!(check_output_path(&file, &file).is_err());
        assert!(check_output_path(&file, &input).is_err());
        check_output_path(&file, &input.join("out")).unwrap();
    }

    #[test]
    fn the_default_output_of_dot_lies_beside_the_tree() {
        let cwd = std::env::current_dir().unwrap();
        let out = default_output(Path::new("."), "instrumented").unwrap();
        let name = cwd.file_name().unwrap().to_string_lossy();
        assert_eq!(out, cwd.parent().unwrap().join(format!("{name}-instrumented")));
        assert!(default_output(Path::new("/"), "x").is_err());
    }

    #[test]
    fn writes_keep_the_mode_and_are_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("run.py");
        std::fs::write(&script, "old").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o751)).unwrap();
        write_file(&script, b"new").unwrap();
        assert_eq!(std::fs::read(&script).unwrap(), b"new");
        assert_eq!(mode(&script), 0o751);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "a temporary file was left behind");
    }

    #[test]
    fn copies_keep_modes_and_links_without_following_them() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::create_dir_all(from.join("bin")).unwrap();
        std::fs::write(from.join("bin/tool.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(from.join("bin/tool.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "outside").unwrap();
        std::os::unix::fs::symlink("../secret.txt", from.join("leak")).unwrap();
        std::os::unix::fs::symlink("bin/tool.sh", from.join("tool")).unwrap();
        copy_tree(&from, &to).unwrap();
        assert_eq!(mode(&to.join("bin/tool.sh")), 0o755);
        assert!(std::fs::symlink_metadata(to.join("leak")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_link(to.join("leak")).unwrap(), Path::new("../secret.txt"));
        assert_eq!(std::fs::read_link(to.join("tool")).unwrap(), Path::new("bin/tool.sh"));
        // Copying again over the first copy works, and writes never go through a link.
        copy_tree(&from, &to).unwrap();
        write_file(&to.join("leak"), b"instrumented").unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("secret.txt")).unwrap(), "outside");
        assert!(copy_tree(&from, &from.join("bin/copy")).is_err());
    }

    #[test]
    fn an_interrupted_in_place_write_is_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::write(base.join("a.py"), "a = 1\n").unwrap();
        std::fs::set_permissions(base.join("a.py"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(base.join("b.py"), "b = 1\n").unwrap();
        // A complete write leaves no record and keeps modes.
        write_in_place(base, &[("a.py", Some(b"a = 2\n".as_slice())), ("_tel.py", Some(b"# rt\n".as_slice()))])
            .unwrap();
        assert!(!base.join(UNDO_DIR).exists());
        assert_eq!(mode(&base.join("a.py")), 0o700);
        // Simulate a crash after the record and one file were written: a.py and b.py new, c.py added.
        let undo = base.join(UNDO_DIR);
        std::fs::create_dir_all(&undo).unwrap();
        std::fs::copy(base.join("a.py"), undo.join("0.orig")).unwrap();
        std::fs::copy(base.join("b.py"), undo.join("1.orig")).unwrap();
        std::fs::write(undo.join("manifest.json"), r#"{"files":[["a.py","0.orig"],["b.py","1.orig"],["c.py",null]]}"#)
            .unwrap();
        std::fs::write(base.join("a.py"), "half\n").unwrap();
        std::fs::write(base.join("c.py"), "new\n").unwrap();
        let restored = recover_interrupted(base).unwrap();
        assert_eq!(restored, ["a.py", "b.py", "c.py"]);
        assert_eq!(std::fs::read_to_string(base.join("a.py")).unwrap(), "a = 2\n");
        assert_eq!(mode(&base.join("a.py")), 0o700);
        assert_eq!(std::fs::read_to_string(base.join("b.py")).unwrap(), "b = 1\n");
        assert!(!base.join("c.py").exists());
        assert!(!undo.exists());
        // A record that names a path outside the tree is refused, not followed.
        std::fs::create_dir_all(&undo).unwrap();
        std::fs::write(undo.join("manifest.json"), r#"{"files":[["../x.py",null]]}"#).unwrap();
        assert!(recover_interrupted(base).unwrap_err().to_string().contains("outside the tree"));
    }

    #[test]
    fn uncommitted_files_are_listed() {
        if std::process::Command::new("git").arg("--version").output().is_err() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        let git = |args: &[&str]| {
            let o = std::process::Command::new("git")
                .arg("-C")
                .arg(repo)
                .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
                .args(args)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        };
        git(&["init", "-q"]);
        std::fs::create_dir_all(repo.join("src")).unwrap();
        std::fs::write(repo.join("src/a.py"), "a = 1\n").unwrap();
        std::fs::write(repo.join("top.py"), "t = 1\n").unwrap();
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "init"]);
        let t = std::time::Duration::from_secs(30);
        assert!(uncommitted_files(&repo.join("src"), t).unwrap().is_empty());
        std::fs::write(repo.join("src/a.py"), "a = 2\n").unwrap();
        std::fs::write(repo.join("src/new.py"), "n = 1\n").unwrap();
        std::fs::write(repo.join("top.py"), "t = 2\n").unwrap();
        assert_eq!(uncommitted_files(&repo.join("src"), t).unwrap(), ["a.py", "new.py"]);
        let outside = tempfile::tempdir().unwrap();
        assert!(uncommitted_files(outside.path(), t).unwrap().is_empty());
    }
}
