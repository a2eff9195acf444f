use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use lexopt::Parser;

#[derive(Debug)]
pub struct PsArgs {
    pub format: String,
    pub id: String,
    pub ps_args: Vec<String>,
}

impl Default for PsArgs {
    fn default() -> Self {
        PsArgs {
            format: "table".into(),
            id: String::new(),
            ps_args: vec![],
        }
    }
}

impl Command for PsArgs {
    const HELP: &'static str = "Usage: berth ps [-f table|json] ID [-- PS-OPTIONS]

List a container's processes: the host's ps(1) (with PS-OPTIONS, -ef if
none) for the container's pids, or a JSON array of them.

  -f, --format   table (default) or json
";
    fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
        if !f.is('f', "format") {
            return Ok(false);
        }
        self.format = args::one_of(p, f, &["table", "json"], Self::HELP)?;
        Ok(true)
    }
    fn word(&mut self, w: String, p: &mut Parser) -> Parsed<bool> {
        if !args::id(&mut self.id, w) {
            return Ok(false);
        }
        self.ps_args = args::rest(p, Self::HELP)?;
        Ok(true)
    }
    fn missing(&self) -> Option<&'static str> {
        args::missing_id(&self.id)
    }
}

/// As runc does: the host's ps, its lines kept for the container's pids.
pub fn run(g: &GlobalOpts, a: PsArgs) -> anyhow::Result<i32> {
    let pids = crate::container::pids(&g.root, &a.id)?;
    if a.format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| anyhow::anyhow!("ps: {e}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow::anyhow!("ps output has no PID column"))?;
    println!("{header}");
    for l in lines {
        if l.split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
            .is_some_and(|p| pids.contains(&p))
        {
            println!("{l}");
        }
    }
    Ok(0)
}
