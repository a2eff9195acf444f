use super::GlobalOpts;
use clap::Args;
use oci_spec::runtime::LinuxResources;
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub struct UpdateArgs {
    pub id: String,
    /// linux.resources as JSON, from a file or - for stdin
    #[arg(short, long)]
    pub resources: Option<String>,
    #[arg(long, value_parser = parse_size)]
    pub memory: Option<i64>,
    #[arg(long = "memory-reservation", value_parser = parse_size)]
    pub memory_reservation: Option<i64>,
    #[arg(long = "memory-swap", value_parser = parse_size)]
    pub memory_swap: Option<i64>,
    #[arg(long = "kernel-memory", value_parser = parse_size)]
    pub kernel_memory: Option<i64>,
    #[arg(long = "kernel-memory-tcp", value_parser = parse_size)]
    pub kernel_memory_tcp: Option<i64>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
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
            Some(f) => serde_json::from_slice(&std::fs::read(f).map_err(|e| anyhow::anyhow!("--resources {f}: {e}"))?)?,
            None => json!({}),
        };
        let mut set = |section: &str, key: &str, val: Option<Value>| {
            if let Some(val) = val {
                v[section][key] = val;
            }
        };
        set("memory", "limit", self.memory.map(Value::from));
        set("memory", "reservation", self.memory_reservation.map(Value::from));
        set("memory", "swap", self.memory_swap.map(Value::from));
        set("memory", "kernel", self.kernel_memory.map(Value::from));
        set("memory", "kernelTCP", self.kernel_memory_tcp.map(Value::from));
        set("cpu", "period", self.cpu_period.map(Value::from));
        set("cpu", "quota", self.cpu_quota.map(Value::from));
        set("cpu", "shares", self.cpu_share.map(Value::from));
        set("cpu", "realtimePeriod", self.cpu_rt_period.map(Value::from));
        set("cpu", "realtimeRuntime", self.cpu_rt_runtime.map(Value::from));
        set("cpu", "cpus", self.cpuset_cpus.clone().map(Value::from));
        set("cpu", "mems", self.cpuset_mems.clone().map(Value::from));
        set("pids", "limit", self.pids_limit.map(Value::from));
        set("blockIO", "weight", self.blkio_weight.map(Value::from));
        let de = serde_json::to_string(&v)?;
        let r: LinuxResources = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(&de))
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
