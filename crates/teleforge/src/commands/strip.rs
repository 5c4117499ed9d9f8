//! `teleforge strip`.

use anyhow::Result;
use teleforge_instrument::{strip, OutputMode};

use super::{output_mode, recover_interrupted};
use crate::cli::StripArgs;
use crate::output::{print, print_json};

pub fn run(args: &StripArgs) -> Result<i32> {
    let mode = output_mode(&args.path, &args.output, "stripped")?;
    recover_interrupted(&args.path, &mode)?;
    let summary = strip(&args.path, &mode)?;
    if args.json {
        print_json(&summary)?;
    } else if let Some(diff) = &summary.diff {
        print(diff)?;
    }
    if !args.json {
        let place = match &mode {
            OutputMode::Copy(d) => format!(" into {}", d.display()),
            OutputMode::InPlace => " in place".into(),
            OutputMode::Diff => " (diff only, nothing written)".into(),
        };
        eprintln!(
            "Restored {} files and removed {} runtime files{place}.",
            summary.files_restored.len(),
            summary.runtime_files_removed.len()
        );
    }
    Ok(0)
}
