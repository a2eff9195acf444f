use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use lexopt::Parser;
use std::path::PathBuf;

#[derive(Debug)]
pub struct SpecArgs {
    pub bundle: PathBuf,
    pub rootless: bool,
}

impl Default for SpecArgs {
    fn default() -> Self {
        SpecArgs {
            bundle: ".".into(),
            rootless: false,
        }
    }
}

impl Command for SpecArgs {
    const HELP: &'static str = "Usage: berth spec [-b DIR] [--rootless]

Write a default config.json into a bundle.

  -b, --bundle DIR   where to write config.json (default .)
      --rootless     a config for running without root: a user namespace
                     mapping the caller
";
    fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
        if f.is('b', "bundle") {
            self.bundle = args::path(p, Self::HELP)?;
        } else if f.long("rootless") {
            self.rootless = true;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

pub fn run(_g: &GlobalOpts, a: SpecArgs) -> anyhow::Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("{}: file already exists", path.display());
    }
    let spec = crate::container::default_spec(a.rootless)?;
    let text = crate::config::spec_text(&spec);
    std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
    Ok(0)
}
