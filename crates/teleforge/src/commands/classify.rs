//! `teleforge classify`: diagnostics on stdin → pattern name and category per diagnostic.

use std::io::Read;

use anyhow::{Context, Result};
use serde_json::json;
use teleforge_learning::classify::{canonical_language, classify, split_diagnostics};

use crate::cli::ClassifyArgs;
use crate::output::print;

pub fn run(args: &ClassifyArgs) -> Result<i32> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading diagnostics from stdin")?;
    let language = canonical_language(&args.language);
    let mut text = String::new();
    for d in split_diagnostics(&language, &input) {
        let c = classify(&language, &d);
        let first = d.lines().next().unwrap_or("");
        if args.json {
            let line = json!({ "pattern": c.pattern, "category": c.category, "known": c.known, "diagnostic": d });
            text.push_str(&format!("{line}\n"));
        } else {
            text.push_str(&format!("{}\t{}\t{}\n", c.pattern, c.category, first));
        }
    }
    print(&text)?;
    Ok(0)
}
