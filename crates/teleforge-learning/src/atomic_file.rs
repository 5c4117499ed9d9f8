//! Whole-file replacement that never leaves a half-written file: readers see the old content or
//! the new, even if the process dies in between (write a sibling, fsync it, rename over, fsync the
//! folder).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Atomically replaces `path` with `bytes`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io("writing", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("syncing", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io("replacing", path, e))?;
        // The rename is durable only once the folder's entry is on disk.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("go_patterns.json");
        write_atomically(&p, b"[1]").unwrap();
        write_atomically(&p, b"[2]").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"[2]");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
