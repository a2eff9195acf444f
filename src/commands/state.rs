use super::GlobalOpts;
use super::args::{self, Command, Parsed};
use lexopt::Parser;

#[derive(Default, Debug)]
pub struct StateArgs {
    pub id: String,
}

impl Command for StateArgs {
    const HELP: &'static str = "Usage: berth state ID

Print a container's state as JSON.
";
    fn word(&mut self, w: String, _: &mut Parser) -> Parsed<bool> {
        Ok(args::id(&mut self.id, w))
    }
    fn missing(&self) -> Option<&'static str> {
        args::missing_id(&self.id)
    }
}

pub fn run(g: &GlobalOpts, a: StateArgs) -> anyhow::Result<i32> {
    let (state, status) = crate::container::state(&g.root, &a.id)?;
    println!("{}", serde_json::to_string_pretty(&state.oci(status))?);
    Ok(0)
}
