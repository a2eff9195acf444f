use super::GlobalOpts;
use clap::Args;

#[derive(Args, Debug)]
pub struct StartArgs {
    pub id: String,
}

pub fn run(g: &GlobalOpts, a: StartArgs) -> anyhow::Result<i32> {
    crate::container::start(&g.root, &a.id)?;
    Ok(0)
}
