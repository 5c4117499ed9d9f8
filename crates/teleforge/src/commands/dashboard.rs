//! `teleforge dashboard`: a local web page over the learning store.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, Result};
use teleforge_dashboard::{Dashboard, Options, DEFAULT_PORT};
use teleforge_learning::LearningEngine;

use crate::output;

/// Flags of `teleforge dashboard`.
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// The port to listen on (0: any free port).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// The address to listen on. Anything but a loopback address lets other machines read the
    /// learning store (stored code, file names, diagnostics): a warning says so.
    #[arg(long, value_name = "IP", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Open the page in the default browser (xdg-open / open) once it is served.
    #[arg(long)]
    pub open: bool,
    /// The language the pages show first [default: the first one in the store].
    #[arg(long, value_name = "L")]
    pub language: Option<String>,
}

pub fn run(engine: LearningEngine, args: &DashboardArgs) -> Result<i32> {
    let default_language = args.language.as_deref().map(super::language_name).transpose()?;
    if !args.bind.is_loopback() {
        eprintln!(
            "warning: serving on {} lets anyone who can reach this machine read the learning store \
             (stored code, paths and diagnostics); the dashboard has no authentication",
            args.bind
        );
    }
    let storage = engine.storage_dir().display().to_string();
    let options = Options { addr: SocketAddr::new(args.bind, args.port), default_language, ..Options::default() };
    let dashboard = Dashboard::bind(engine, options).context("starting the dashboard")?;
    let url = dashboard.url();
    output::print(&format!("{url}\n"))?;
    eprintln!("Serving the learning store in {storage} read-only at {url}; press Ctrl-C to stop.");
    if args.open {
        open_browser(&url);
    }
    dashboard.serve(teleforge_dashboard::stop_on_interrupt());
    eprintln!("Dashboard stopped.");
    Ok(0)
}

/// Best effort: a machine without a browser still has the printed URL.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!("warning: could not open a browser with {opener} ({e}); open {url} yourself");
    }
}
