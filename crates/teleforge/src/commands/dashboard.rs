//! `teleforge dashboard`: a local web page over the learning store.

use anyhow::{bail, Result};
use teleforge_learning::LearningEngine;

/// Flags of `teleforge dashboard`.
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {}

pub fn run(_engine: LearningEngine, _args: &DashboardArgs) -> Result<i32> {
    bail!("teleforge dashboard is not built yet")
}
