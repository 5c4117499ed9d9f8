//! `teleforge trust [PATH] [--revoke]`.

use anyhow::Result;

use crate::cli::TrustArgs;
use crate::exit::{NoInput, UsageError};

pub fn run(args: &TrustArgs) -> Result<i32> {
    let file = match &args.path {
        Some(p) if p.is_dir() => p.join("teleforge.toml"),
        Some(p) => p.clone(),
        None => {
            let cwd = std::env::current_dir()?;
            crate::config::project_config(&cwd).ok_or_else(|| {
                UsageError(format!("no teleforge.toml in {} or above it: name the file to trust", cwd.display()))
            })?
        }
    };
    if !file.is_file() {
        return Err(NoInput(format!("{} does not exist: name an existing teleforge.toml", file.display())).into());
    }
    if args.revoke {
        if crate::trust::revoke(&file)? {
            eprintln!("{} is no longer trusted.", file.display());
        } else {
            eprintln!("{} was not trusted.", file.display());
        }
    } else {
        let hash = crate::trust::trust(&file)?;
        eprintln!(
            "Trusted {} (sha256 {}): its generator, model, base_url and api_key_file will be used until it changes.",
            file.display(),
            hash.get(..12).unwrap_or(&hash)
        );
    }
    Ok(0)
}
