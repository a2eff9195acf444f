use super::GlobalOpts;
use clap::Args;

#[derive(Args, Debug)]
pub struct StateArgs {
    pub id: String,
}

pub fn run(g: &GlobalOpts, a: StateArgs) -> anyhow::Result<i32> {
    let (state, status) = crate::container::state(&g.root, &a.id)?;
    println!("{}", serde_json::to_string_pretty(&state.oci(status))?);
    Ok(0)
}
