use super::GlobalOpts;
use super::args::{self, Command, Parsed};
use lexopt::Parser;

#[derive(Default, Debug)]
pub struct PauseArgs {
    pub id: String,
}

impl Command for PauseArgs {
    const HELP: &'static str = "Usage: berth pause ID
       berth resume ID

Freeze every process of a container; thaw them.
";
    fn word(&mut self, w: String, _: &mut Parser) -> Parsed<bool> {
        Ok(args::id(&mut self.id, w))
    }
    fn missing(&self) -> Option<&'static str> {
        args::missing_id(&self.id)
    }
}

pub fn run(g: &GlobalOpts, a: PauseArgs) -> anyhow::Result<i32> {
    crate::container::pause(&g.root, &a.id, true)?;
    Ok(0)
}

pub fn resume(g: &GlobalOpts, a: PauseArgs) -> anyhow::Result<i32> {
    crate::container::pause(&g.root, &a.id, false)?;
    Ok(0)
}
