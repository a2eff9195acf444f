use super::GlobalOpts;
use clap::Args;
use std::io::Write;

#[derive(Args, Debug)]
pub struct EventsArgs {
    pub id: String,
    /// Print one stats event and exit
    #[arg(long)]
    pub stats: bool,
    /// Time between stats events (e.g. 5s, 500ms)
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
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
