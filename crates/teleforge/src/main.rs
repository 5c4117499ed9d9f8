//! The `teleforge` binary: parses flags and calls one function per command. All work happens in
//! the library crates; this file only wires them and turns errors into exit codes.

mod cli;
mod commands;
mod config;
mod exit;
mod output;
mod trust;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = commands::run(cli);
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            // A closed pipe (`teleforge learnings list | head`) is the reader's choice, not a failure.
            if err
                .chain()
                .any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
            {
                return ExitCode::SUCCESS;
            }
            let message: Vec<String> = err.chain().map(|c| c.to_string()).collect();
            eprintln!("teleforge: error: {}", dedup_chain(&message));
            ExitCode::from(exit::code_for(&err) as u8)
        }
    }
}

/// Joins an error chain into one line, skipping causes already quoted by their parent.
fn dedup_chain(parts: &[String]) -> String {
    let mut line = String::new();
    for p in parts {
        if line.contains(p.as_str()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(p);
    }
    line
}
