use super::GlobalOpts;
use super::create::CreateArgs;
use crate::container::{self, Mode};
use crate::process::foreground;
use clap::Args;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Start the container and return at once
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility
    #[arg(long = "no-subreaper", hide = true)]
    pub no_subreaper: bool,
}

pub fn run(g: &GlobalOpts, a: RunArgs) -> anyhow::Result<i32> {
    let id = a.create.id.clone();
    // Blocked before the clone, so no signal meant for the container is lost.
    let sigfd = if a.detach { None } else { Some(foreground::block_forwarded()?) };
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
    let code = foreground::wait(&sigfd, &pidfd, pid, created.master)?;
    if !a.keep {
        container::delete(&g.root, &id, true)?;
    }
    Ok(code)
}
