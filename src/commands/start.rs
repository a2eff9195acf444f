use super::GlobalOpts;
use super::args::{self, Command, Parsed};
use lexopt::Parser;

#[derive(Default, Debug)]
pub struct StartArgs {
    pub id: String,
}

impl Command for StartArgs {
    const HELP: &'static str = "Usage: berth start ID

Start a created container's process.
";
    fn word(&mut self, w: String, _: &mut Parser) -> Parsed<bool> {
        Ok(args::id(&mut self.id, w))
    }
    fn missing(&self) -> Option<&'static str> {
        args::missing_id(&self.id)
    }
}

pub fn run(g: &GlobalOpts, a: StartArgs) -> anyhow::Result<i32> {
    crate::container::start(&g.root, &a.id)?;
    Ok(0)
}
