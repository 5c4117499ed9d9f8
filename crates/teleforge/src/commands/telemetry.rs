//! `teleforge telemetry`: what to do with the events the Tel runtimes wrote.

use anyhow::{bail, Result};

/// Subcommands of `teleforge telemetry`.
#[derive(Debug, clap::Subcommand)]
pub enum TelemetryCommand {
    /// Convert Tel events (JSON Lines) to OpenTelemetry (OTLP).
    Export,
}

pub fn run(_cmd: &TelemetryCommand) -> Result<i32> {
    bail!("teleforge telemetry export is not built yet")
}
