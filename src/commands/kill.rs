use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use lexopt::Parser;

#[derive(Default, Debug)]
pub struct KillArgs {
    pub id: String,
    pub signal: Option<String>,
    pub all: bool,
}

impl Command for KillArgs {
    const HELP: &'static str = "Usage: berth kill [-a] ID [SIGNAL]

Send a signal to a container's process: SIGKILL, KILL or 9; SIGTERM if none.

  -a, --all   signal every process in the container's cgroup
";
    fn flag(&mut self, f: &Flag, _: &mut Parser) -> Parsed<bool> {
        self.all |= f.is('a', "all");
        Ok(f.is('a', "all"))
    }
    fn word(&mut self, w: String, _: &mut Parser) -> Parsed<bool> {
        if args::id(&mut self.id, w.clone()) {
            return Ok(true);
        }
        Ok(self.signal.replace(w).is_none())
    }
    fn missing(&self) -> Option<&'static str> {
        args::missing_id(&self.id)
    }
}

pub fn run(g: &GlobalOpts, a: KillArgs) -> anyhow::Result<i32> {
    let sig = crate::container::parse_signal(a.signal.as_deref().unwrap_or("SIGTERM"))?;
    crate::container::kill(&g.root, &a.id, sig, a.all)?;
    Ok(0)
}
