use super::GlobalOpts;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Where to write config.json
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// A config for running without root: a user namespace mapping the caller
    #[arg(long)]
    pub rootless: bool,
}

pub fn run(_g: &GlobalOpts, a: SpecArgs) -> anyhow::Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("{}: file already exists", path.display());
    }
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let spec = crate::config::default_spec(a.rootless, uid, gid);
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
    Ok(0)
}
