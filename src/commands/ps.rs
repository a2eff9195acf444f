use super::GlobalOpts;
use clap::Args;

#[derive(Args, Debug)]
pub struct PsArgs {
    /// table or json (a JSON array of host pids)
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    pub id: String,
    /// Options for ps(1), after --; -ef if none
    #[arg(last = true)]
    pub ps_args: Vec<String>,
}

/// As runc does: the host's ps, its lines kept for the container's pids.
pub fn run(g: &GlobalOpts, a: PsArgs) -> anyhow::Result<i32> {
    let pids = crate::container::pids(&g.root, &a.id)?;
    if a.format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args = if a.ps_args.is_empty() { vec!["-ef".to_string()] } else { a.ps_args };
    let out = std::process::Command::new("ps").args(&args).output().map_err(|e| anyhow::anyhow!("ps: {e}"))?;
    if !out.status.success() {
        anyhow::bail!("ps {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header.split_whitespace().position(|h| h == "PID").ok_or_else(|| anyhow::anyhow!("ps output has no PID column"))?;
    println!("{header}");
    for l in lines {
        if l.split_whitespace().nth(col).and_then(|p| p.parse::<i32>().ok()).is_some_and(|p| pids.contains(&p)) {
            println!("{l}");
        }
    }
    Ok(0)
}
