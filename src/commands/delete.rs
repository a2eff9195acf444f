use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use lexopt::Parser;

#[derive(Default, Debug)]
pub struct DeleteArgs {
    pub id: String,
    pub force: bool,
}

impl Command for DeleteArgs {
    const HELP: &'static str = "Usage: berth delete [-f] ID

Delete a container and everything it holds.

  -f, --force   kill the container first if it is not stopped
";
    fn flag(&mut self, f: &Flag, _: &mut Parser) -> Parsed<bool> {
        self.force |= f.is('f', "force");
        Ok(f.is('f', "force"))
    }
    fn word(&mut self, w: String, _: &mut Parser) -> Parsed<bool> {
        Ok(args::id(&mut self.id, w))
    }
    fn missing(&self) -> Option<&'static str> {
        args::missing_id(&self.id)
    }
}

pub fn run(g: &GlobalOpts, a: DeleteArgs) -> anyhow::Result<i32> {
    crate::container::delete(&g.root, &a.id, a.force)?;
    Ok(0)
}
