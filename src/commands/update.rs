use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use lexopt::Parser;
use oci_spec::runtime::LinuxResources;
use serde_json::{Value, json};

#[derive(Default, Debug)]
pub struct UpdateArgs {
    pub id: String,
    /// linux.resources as JSON, from a file or - for stdin
    pub resources: Option<String>,
    /// (section, key, value) of linux.resources, from the flags below
    pub set: Vec<(&'static str, &'static str, Value)>,
}

enum Kind {
    Size,
    Int,
    Unsigned,
    Text,
}

/// runc's update flags and the linux.resources field each one sets.
const FLAGS: &[(&str, &str, &str, Kind)] = &[
    ("memory", "memory", "limit", Kind::Size),
    ("memory-reservation", "memory", "reservation", Kind::Size),
    ("memory-swap", "memory", "swap", Kind::Size),
    ("kernel-memory", "memory", "kernel", Kind::Size),
    ("kernel-memory-tcp", "memory", "kernelTCP", Kind::Size),
    ("cpu-period", "cpu", "period", Kind::Unsigned),
    ("cpu-quota", "cpu", "quota", Kind::Int),
    ("cpu-share", "cpu", "shares", Kind::Unsigned),
    ("cpu-rt-period", "cpu", "realtimePeriod", Kind::Unsigned),
    ("cpu-rt-runtime", "cpu", "realtimeRuntime", Kind::Int),
    ("cpuset-cpus", "cpu", "cpus", Kind::Text),
    ("cpuset-mems", "cpu", "mems", Kind::Text),
    ("pids-limit", "pids", "limit", Kind::Int),
    ("blkio-weight", "blockIO", "weight", Kind::Unsigned),
];

impl Command for UpdateArgs {
    const HELP: &'static str = "Usage: berth update [flags] ID

Change a running container's resource limits.

  -r, --resources FILE    linux.resources as JSON, from FILE or - for stdin
      --memory SIZE       memory limit (SIZE: bytes, or 64k, 16m, 1g; -1 none)
      --memory-reservation SIZE, --memory-swap SIZE,
      --kernel-memory SIZE, --kernel-memory-tcp SIZE
      --cpu-period N, --cpu-quota N, --cpu-share N,
      --cpu-rt-period N, --cpu-rt-runtime N
      --cpuset-cpus LIST, --cpuset-mems LIST
      --pids-limit N      -1 for no limit
      --blkio-weight N
";
    fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
        if f.is('r', "resources") {
            self.resources = Some(args::string(p, Self::HELP)?);
            return Ok(true);
        }
        let Some((_, section, key, kind)) = FLAGS.iter().find(|(name, ..)| f.long(name)) else {
            return Ok(false);
        };
        let v = match kind {
            Kind::Size => {
                let s = args::string(p, Self::HELP)?;
                Value::from(parse_size(&s).map_err(|e| args::Usage::Error(e, Self::HELP))?)
            }
            Kind::Int => Value::from(args::value::<i64>(p, f, Self::HELP)?),
            Kind::Unsigned => Value::from(args::value::<u64>(p, f, Self::HELP)?),
            Kind::Text => Value::from(args::string(p, Self::HELP)?),
        };
        self.set.push((section, key, v));
        Ok(true)
    }
    fn word(&mut self, w: String, _: &mut Parser) -> Parsed<bool> {
        Ok(args::id(&mut self.id, w))
    }
    fn missing(&self) -> Option<&'static str> {
        args::missing_id(&self.id)
    }
}

/// runc's sizes: a number of bytes, or with k, m, g, t (powers of 1024); -1 is no limit.
fn parse_size(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    Ok(if n < 0.0 { -1 } else { (n * mul as f64) as i64 })
}

impl UpdateArgs {
    fn resources(&self) -> anyhow::Result<LinuxResources> {
        let mut v: Value = match self.resources.as_deref() {
            Some("-") => serde_json::from_reader(std::io::stdin().lock())?,
            Some(f) => serde_json::from_slice(
                &std::fs::read(f).map_err(|e| anyhow::anyhow!("--resources {f}: {e}"))?,
            )?,
            None => json!({}),
        };
        for (section, key, val) in &self.set {
            v[*section][*key] = val.clone();
        }
        let de = serde_json::to_string(&v)?;
        let r: LinuxResources =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(&de))
                .map_err(|e| anyhow::anyhow!("resources: {}: {}", e.path(), e.inner()))?;
        Ok(r)
    }
}

pub fn run(g: &GlobalOpts, a: UpdateArgs) -> anyhow::Result<i32> {
    let r = a.resources()?;
    crate::container::update(&g.root, &a.id, &r)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("16m").unwrap(), 16 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("512kb").unwrap(), 512 << 10);
        assert_eq!(parse_size("-1").unwrap(), -1);
        assert!(parse_size("lots").is_err());
    }
}
