use super::GlobalOpts;
use super::args::{Command, Flag, Parsed};
use super::create::CreateArgs;
use crate::container::{self, Mode};
use lexopt::Parser;

#[derive(Default, Debug)]
pub struct RunArgs {
    pub create: CreateArgs,
    pub detach: bool,
    pub keep: bool,
}

impl Command for RunArgs {
    const HELP: &'static str = concat!(
        "Usage: berth run [flags] ID\n\nCreate and start a container, and wait for it; exits as its process did.\n\n",
        "  -d, --detach              start the container and return at once\n",
        "      --keep                keep the container's state after it exits\n",
        super::create::create_flags!()
    );
    fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
        if f.is('d', "detach") {
            self.detach = true;
        } else if f.long("keep") {
            self.keep = true;
        } else if f.long("no-subreaper") {
            // runc's; berth never is a subreaper.
        } else {
            return self.create.create_flag(f, p, Self::HELP);
        }
        Ok(true)
    }
    fn word(&mut self, w: String, p: &mut Parser) -> Parsed<bool> {
        self.create.word(w, p)
    }
    fn missing(&self) -> Option<&'static str> {
        self.create.missing()
    }
}

pub fn run(g: &GlobalOpts, a: RunArgs) -> anyhow::Result<i32> {
    let id = a.create.id.clone();
    // Blocked before the clone, so no signal meant for the container is lost.
    let sigfd = if a.detach {
        None
    } else {
        Some(container::block_forwarded_signals()?)
    };
    let mut opts = a.create.opts(g, Mode::Foreground);
    opts.relay_terminal = !a.detach;
    let mut created = container::create(opts)?;
    if let Err(e) = container::wait_started(&mut created) {
        drop(created);
        let _ = container::delete(&g.root, &id, true);
        return Err(e.into());
    }
    let Some(sigfd) = sigfd else { return Ok(0) };
    let pid = created.state.pid;
    let pidfd = created.pidfd;
    // Other commands (kill, state) may act on it while it runs.
    drop(created.dir);
    let code = container::wait_foreground(&sigfd, &pidfd, pid, created.master)?;
    // Killed by SIGKILL: say so when it was the OOM killer's doing.
    if code == 128 + 9
        && let Some(msg) = container::oom_report(&g.root, &id)
    {
        crate::logging::warn(&msg);
    }
    if !a.keep {
        container::delete(&g.root, &id, true)?;
    }
    Ok(code)
}
