use super::GlobalOpts;
use clap::Args;

#[derive(Args, Debug)]
pub struct DeleteArgs {
    pub id: String,
    /// Kill the container first if it is not stopped
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(g: &GlobalOpts, a: DeleteArgs) -> anyhow::Result<i32> {
    crate::container::delete(&g.root, &a.id, a.force)?;
    Ok(0)
}
