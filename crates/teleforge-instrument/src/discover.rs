//! Finding the files to instrument and their constructs.
//!
//! Walks the tree (honouring `.gitignore`), skips vendored and virtual-environment folders,
//! hidden folders, generated files, test files and files under test folders (unless asked),
//! files over the size limit (without reading them), files that teleforge already instrumented,
//! and teleforge's own runtime files; parses each remaining file once with tree-sitter and lets
//! its language module collect constructs in one walk.

use std::io::Read;

use std::path::{Path, PathBuf};

use crate::construct::{Construct, Edit};
use crate::error::{Error, Result};
use crate::language::{self, LanguageSupport, SourceFile, GENERATED_MARK};

use crate::language::shared::SKIPPED_DIRS;

pub use crate::language::shared::{in_test_dir, TEST_DIRS};

/// The reason given for test files and files under test folders.
pub const TEST_FILE: &str = "test file";

/// The reason given for files over [`DiscoverOptions::max_file_bytes`].
pub const TOO_LARGE: &str = "larger than the size limit";

/// What to look for.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    /// Only these extensions (without dot); all supported ones when empty.
    pub extensions: Vec<String>,
    /// Instrument test files (by name, per language) and files under test folders
    /// ([`TEST_DIRS`]) too.
    pub include_tests: bool,
    /// Source files larger than this are skipped with that reason instead of being read whole.
    pub max_file_bytes: u64,
}

/// The default for [`DiscoverOptions::max_file_bytes`]: 4 MiB, far above hand-written source.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 4 << 20;

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions { extensions: Vec::new(), include_tests: false, max_file_bytes: DEFAULT_MAX_FILE_BYTES }
    }
}

/// One file and what was found in it.
pub struct DiscoveredFile {
    pub language: &'static dyn LanguageSupport,
    pub source: SourceFile,
    pub path: PathBuf,
    pub constructs: Vec<Construct>,
    /// Edits the file needs once any of its constructs is instrumented (the runtime import).
    pub file_edits: Vec<Edit>,
    /// Why the file is left alone, if it is.
    pub skipped: Option<String>,
}

/// Walks `root` and discovers every file's constructs.
pub fn discover(root: &Path, opts: &DiscoverOptions) -> Result<Vec<DiscoveredFile>> {
    discover_then(root, opts, &mut |_| {})
}

/// [`discover`], telling `walked` the files found before any is read or parsed (the instrumenter
/// starts the toolchains it will need meanwhile).
pub fn discover_then(
    root: &Path,
    opts: &DiscoverOptions,
    walked: &mut dyn FnMut(&[PathBuf]),
) -> Result<Vec<DiscoveredFile>> {
    let root_meta = std::fs::metadata(root).map_err(|e| Error::io("reading", root, e))?;
    let paths = if root_meta.is_file() { vec![root.to_path_buf()] } else { tree_files(root)? };
    walked(&paths);
    // Files are read, parsed and walked on every core; results keep the walk's order.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8).min(paths.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<Option<DiscoveredFile>>>>> =
        paths.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut parser = tree_sitter::Parser::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = paths.get(n) else { break };
                    let found = discover_file(root, path, opts, &mut parser);
                    let failed = found.is_err();
                    *slots[n].lock().unwrap_or_else(|e| e.into_inner()) = Some(found);
                    if failed {
                        // Stop handing out work; the first error in walk order is reported.
                        next.store(paths.len(), std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut out = Vec::new();
    for slot in slots {
        match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(Some(f))) => out.push(f),
            Some(Ok(None)) | None => {}
            Some(Err(e)) => return Err(e),
        }
    }
    Ok(out)
}

/// One file: skipped with a reason, or parsed and its constructs found; `None` when it is no file
/// of ours (another language, an extension not asked for, a runtime file).
fn discover_file(
    root: &Path,
    path: &Path,
    opts: &DiscoverOptions,
    parser: &mut tree_sitter::Parser,
) -> Result<Option<DiscoveredFile>> {
    let Some(lang) = language::for_path(path) else { return Ok(None) };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !opts.extensions.is_empty() && !opts.extensions.iter().any(|e| e.trim_start_matches('.') == ext) {
        return Ok(None);
    }
    let rel = relative(root, path);
    if lang.is_runtime_file(&rel) {
        return Ok(None);
    }
    // Decided by the path alone, before anything is read.
    if !opts.include_tests && lang.is_test_file(&rel) {
        return Ok(Some(skipped(lang, path, rel, String::new(), TEST_FILE)));
    }
    let Some(bytes) = read_at_most(path, opts.max_file_bytes)? else {
        return Ok(Some(skipped(lang, path, rel, String::new(), TOO_LARGE)));
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Ok(Some(skipped(lang, path, rel, String::new(), "not UTF-8")));
    };
    let reason = if text.lines().take(3).any(|l| l.contains(GENERATED_MARK)) {
        Some("written by teleforge")
    } else if lang.is_instrumented(&text) {
        Some("already instrumented")
    } else {
        lang.skip_file(&text)
    };
    if let Some(reason) = reason {
        return Ok(Some(skipped(lang, path, rel, text, reason)));
    }
    parser.set_language(&lang.grammar()).map_err(|e| Error::Grammar(e.to_string()))?;
    let Some(tree) = parser.parse(&text, None) else {
        return Ok(Some(skipped(lang, path, rel, text, "could not be parsed")));
    };
    let path = path.to_path_buf();
    let source = SourceFile { rel, text, path: Some(path.clone()) };
    if tree.root_node().has_error() {
        // Error recovery could place insertions inside broken code; leave such files alone.
        return Ok(Some(DiscoveredFile {
            language: lang,
            source,
            path,
            constructs: Vec::new(),
            file_edits: Vec::new(),
            skipped: Some("has syntax errors".into()),
        }));
    }
    let constructs = lang.discover(&source, &tree);
    let file_edits = if constructs.is_empty() { Vec::new() } else { lang.file_edits(&source, &tree) };
    Ok(Some(DiscoveredFile { language: lang, source, path, constructs, file_edits, skipped: None }))
}

/// Every file under the folder `root` that discovery considers, in a stable order: `.gitignore`
/// honoured, hidden, vendored and virtual-environment folders left out. Validators that check a
/// whole tree list its files the same way, so they see what discovery sees.
pub(crate) fn tree_files(root: &Path) -> Result<Vec<PathBuf>> {
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .parents(true)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            !(is_dir && e.depth() > 0 && (SKIPPED_DIRS.contains(&name.as_ref()) || is_virtualenv(e.path())))
        })
        .build();
    let mut paths = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| Error::Walk(e.to_string()))?;
        if entry.file_type().is_some_and(|t| t.is_file()) {
            paths.push(entry.into_path());
        }
    }
    Ok(paths)
}

/// The file's bytes, or `None` when it holds more than `limit` bytes: its size is checked before
/// it is opened, and no more than `limit + 1` bytes are ever read (a file growing meanwhile).
fn read_at_most(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("reading", path, e))?;
    if meta.len() > limit {
        return Ok(None);
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io("reading", path, e))?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::io("reading", path, e))?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

fn skipped(lang: &'static dyn LanguageSupport, path: &Path, rel: String, text: String, why: &str) -> DiscoveredFile {
    DiscoveredFile {
        language: lang,
        source: SourceFile { rel, text, path: Some(path.to_path_buf()) },
        path: path.to_path_buf(),
        constructs: Vec::new(),
        file_edits: Vec::new(),
        skipped: Some(why.to_string()),
    }
}

fn is_virtualenv(dir: &Path) -> bool {
    dir.join("pyvenv.cfg").is_file()
}

/// `path` relative to `root`, with `/` separators; the file name when `root` is the file.
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let s = rel.to_string_lossy().replace('\\', "/");
    if s.is_empty() {
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    } else {
        s
    }
}
