use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use lexopt::Parser;
use std::io::Write;

#[derive(Debug)]
pub struct EventsArgs {
    pub id: String,
    pub stats: bool,
    pub interval: std::time::Duration,
}

impl Default for EventsArgs {
    fn default() -> Self {
        EventsArgs {
            id: String::new(),
            stats: false,
            interval: std::time::Duration::from_secs(5),
        }
    }
}

impl Command for EventsArgs {
    const HELP: &'static str = "Usage: berth events [--stats] [--interval DURATION] ID

Print a container's statistics and OOM events as JSON lines.

      --stats               print one stats event and exit
      --interval DURATION   time between stats events (default 5s; 500ms...)
";
    fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
        if f.long("stats") {
            self.stats = true;
        } else if f.long("interval") {
            let s = args::string(p, Self::HELP)?;
            self.interval = humantime::parse_duration(&s)
                .map_err(|e| args::Usage::Error(format!("--interval {s:?}: {e}"), Self::HELP))?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
    fn word(&mut self, w: String, _: &mut Parser) -> Parsed<bool> {
        Ok(args::id(&mut self.id, w))
    }
    fn missing(&self) -> Option<&'static str> {
        args::missing_id(&self.id)
    }
}

pub fn run(g: &GlobalOpts, a: EventsArgs) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    crate::container::events(&g.root, &a.id, a.interval, a.stats, &mut |line| {
        // Each event is flushed at once: a client reads them as they come.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })?;
    Ok(0)
}
