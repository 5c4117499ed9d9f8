//! Writing to stdout: data only, flushed, with a closed pipe reported as an error the caller can
//! recognise (`main` turns it into a quiet exit).

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

/// Writes `text` to stdout.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Writes `value` as pretty JSON and a newline.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    print(&format!("{}\n", serde_json::to_string_pretty(value)?))
}
