use super::GlobalOpts;
use clap::Args;

#[derive(Args, Debug)]
pub struct KillArgs {
    pub id: String,
    /// SIGKILL, KILL or 9; SIGTERM if not given
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Signal every process in the container's cgroup
    #[arg(short, long)]
    pub all: bool,
}

pub fn run(g: &GlobalOpts, a: KillArgs) -> anyhow::Result<i32> {
    let sig = crate::container::parse_signal(&a.signal)?;
    crate::container::kill(&g.root, &a.id, sig, a.all)?;
    Ok(0)
}
