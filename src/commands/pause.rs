use super::GlobalOpts;
use clap::Args;

#[derive(Args, Debug)]
pub struct PauseArgs {
    pub id: String,
}

pub fn run(g: &GlobalOpts, a: PauseArgs) -> anyhow::Result<i32> {
    crate::container::pause(&g.root, &a.id, true)?;
    Ok(0)
}

pub fn resume(g: &GlobalOpts, a: PauseArgs) -> anyhow::Result<i32> {
    crate::container::pause(&g.root, &a.id, false)?;
    Ok(0)
}
