//! Unit properties for the scope: the resources systemd has a property for
//! (read off the v2 writes, so that each conversion from the spec's v1
//! values is made once, in v2/resources.rs), device rules as DevicePolicy
//! and DeviceAllow, and the user's org.systemd.property.* annotations.

use super::Property;
use super::dbus::Value;
use crate::cgroups::write::Write;
use crate::cgroups::{CgroupError, DeviceRule};
use crate::config::ConfigError;
use std::collections::BTreeMap;

/// The properties as D-Bus's a(sv).
pub fn array(props: &[Property]) -> Value {
    Value::Array(
        "(sv)".into(),
        props
            .iter()
            .map(|(n, v)| {
                Value::Struct(vec![
                    Value::Str(n.clone()),
                    Value::Variant(Box::new(v.clone())),
                ])
            })
            .collect(),
    )
}

/// "max" is systemd's infinity, u64::MAX.
fn amount(w: &Write, v: &str) -> Result<u64, CgroupError> {
    if v == "max" {
        return Ok(u64::MAX);
    }
    v.parse().map_err(|_| CgroupError::Unsupported {
        path: w.json.clone(),
        msg: format!("\"{v}\" is not an amount systemd takes"),
    })
}

/// A cpuset list ("0-3,5") as systemd's bitmask: bit n of byte n/8.
fn cpuset_mask(w: &Write) -> Result<Vec<u8>, CgroupError> {
    let bad = || CgroupError::Unsupported {
        path: w.json.clone(),
        msg: format!(
            "\"{}\" is not a list of cpus or nodes (e.g. 0-3,5)",
            w.value
        ),
    };
    let mut mask = Vec::new();
    for n in crate::config::parse_list(&w.value, 8192).ok_or_else(bad)? {
        if mask.len() <= n / 8 {
            mask.resize(n / 8 + 1, 0u8);
        }
        mask[n / 8] |= 1 << (n % 8);
    }
    Ok(mask)
}

/// The properties systemd keeps for the cgroup files berth writes.
pub fn from_writes(writes: &[Write]) -> Result<Vec<Property>, CgroupError> {
    let mut out: Vec<Property> = Vec::new();
    let mut put = |n: &str, v: Value| {
        out.retain(|(o, _)| o != n);
        out.push((n.to_string(), v));
    };
    for w in writes {
        let v = w.value.as_str();
        match w.file.as_str() {
            "memory.max" => put("MemoryMax", Value::U64(amount(w, v)?)),
            "memory.low" => put("MemoryLow", Value::U64(amount(w, v)?)),
            "memory.swap.max" => put("MemorySwapMax", Value::U64(amount(w, v)?)),
            "cpu.weight" => put("CPUWeight", Value::U64(amount(w, v)?)),
            "pids.max" => put("TasksMax", Value::U64(amount(w, v)?)),
            "cpu.max" => {
                let (quota, period) = v.split_once(' ').unwrap_or((v, ""));
                let period = if period.is_empty() {
                    100_000
                } else {
                    amount(w, period)?
                };
                let quota = amount(w, quota)?;
                let per_sec = if quota == u64::MAX || period == 0 {
                    u64::MAX
                } else {
                    // systemd keeps the quota per second in 10 ms steps:
                    // rounded up, never below what was asked.
                    (quota * 1_000_000 / period).div_ceil(10_000) * 10_000
                };
                put("CPUQuotaPerSecUSec", Value::U64(per_sec));
                put("CPUQuotaPeriodUSec", Value::U64(period));
            }
            "cpuset.cpus" => put("AllowedCPUs", bytes(cpuset_mask(w)?)),
            "cpuset.mems" => put("AllowedMemoryNodes", bytes(cpuset_mask(w)?)),
            "io.weight" => {
                if let Some(n) = v.strip_prefix("default ") {
                    put("IOWeight", Value::U64(amount(w, n)?));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn bytes(b: Vec<u8>) -> Value {
    Value::Array("y".into(), b.into_iter().map(Value::Byte).collect())
}

/// Device rules as systemd's DevicePolicy and DeviceAllow. Where the last
/// "all devices" rule denies, the policy is strict and every allow after it
/// an entry: a superset of what the rules allow, so that systemd's filter
/// and berth's own (which keeps the deny rules) together allow exactly the
/// rules. A rule systemd cannot name leaves the filtering to berth's alone.
pub fn from_devices(rules: &[DeviceRule]) -> Vec<Property> {
    if rules.is_empty() {
        return Vec::new();
    }
    let last_all = rules.iter().rposition(|r| r.kind == 'a');
    let auto = || {
        vec![
            ("DevicePolicy".to_string(), Value::Str("auto".into())),
            (
                "DeviceAllow".to_string(),
                Value::Array("(ss)".into(), Vec::new()),
            ),
        ]
    };
    if last_all.is_some_and(|i| rules[i].allow) {
        return auto();
    }
    let devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
    let mut allow = Vec::new();
    for r in &rules[last_all.map_or(0, |i| i + 1)..] {
        let access = r.known_access();
        if !r.allow || access.is_empty() {
            continue;
        }
        let class = if r.kind == 'b' { "block" } else { "char" };
        let name = match (r.major, r.minor) {
            (Some(ma), Some(mi)) => format!("/dev/{class}/{ma}:{mi}"),
            (Some(ma), None) => match driver_name(&devices, r.kind, ma) {
                Some(n) => format!("{class}-{n}"),
                None => return auto(),
            },
            (None, _) => format!("{class}-*"),
        };
        allow.push(Value::Struct(vec![Value::Str(name), Value::Str(access)]));
    }
    vec![
        ("DevicePolicy".to_string(), Value::Str("strict".into())),
        (
            "DeviceAllow".to_string(),
            Value::Array("(ss)".into(), allow),
        ),
    ]
}

/// The driver /proc/devices names for a major number, which is how systemd
/// takes "every device of this major".
fn driver_name(devices: &str, kind: char, major: i64) -> Option<String> {
    let section = if kind == 'b' {
        "Block devices:"
    } else {
        "Character devices:"
    };
    devices
        .lines()
        .skip_while(|l| l.trim() != section)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| {
            let (n, name) = l.trim().split_once(' ')?;
            (n.parse::<i64>().ok()? == major).then(|| name.trim().to_string())
        })
}

/// runc's org.systemd.property.NAME annotations: the value in GVariant's
/// text form ("uint64 123", "'text'", "true", a bare int32).
pub fn from_annotations(a: &BTreeMap<String, String>) -> Result<Vec<Property>, ConfigError> {
    let mut out = Vec::new();
    for (k, v) in a {
        let Some(name) = k.strip_prefix("org.systemd.property.") else {
            continue;
        };
        let path = format!("annotations[\"{k}\"]");
        if !name.starts_with(|c: char| c.is_ascii_uppercase())
            || !name.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(ConfigError::invalid(
                path,
                format!("\"{name}\" is not a systemd property name"),
            ));
        }
        let value = gvariant(v.trim()).ok_or_else(|| {
            ConfigError::invalid(
                &path,
                format!(
                    "\"{v}\" is not a GVariant value berth reads (e.g. uint64 123, 'text', true)"
                ),
            )
        })?;
        out.push((name.to_string(), value));
    }
    Ok(out)
}

fn gvariant(v: &str) -> Option<Value> {
    match v {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    for q in ['\'', '"'] {
        if let Some(s) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return (!s.contains(q) && !s.contains('\\')).then(|| Value::Str(s.to_string()));
        }
    }
    let (ty, n) = v.split_once(' ').unwrap_or(("int32", v));
    let n = n.trim();
    Some(match ty {
        "uint64" | "@t" => Value::U64(n.parse().ok()?),
        "int64" | "@x" => Value::I64(n.parse().ok()?),
        "uint32" | "@u" => Value::U32(n.parse().ok()?),
        "int32" | "@i" => Value::I32(n.parse().ok()?),
        "byte" | "@y" => Value::Byte(n.parse().ok()?),
        "boolean" | "@b" => Value::Bool(n.parse().ok()?),
        "string" | "@s" => return gvariant(n).filter(|v| matches!(v, Value::Str(_))),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::write::w;

    #[test]
    fn writes_become_properties() {
        let ws = vec![
            w("m", "", "memory.max", "67108864"),
            w("s", "", "memory.swap.max", "max"),
            w("c", "", "cpu.max", "25000 100000"),
            w("p", "", "pids.max", "9"),
            w("cs", "", "cpuset.cpus", "0-1,9"),
            w("io", "", "io.weight", "default 100"),
        ];
        let p: BTreeMap<String, Value> = from_writes(&ws).unwrap().into_iter().collect();
        assert_eq!(p["MemoryMax"], Value::U64(67108864));
        assert_eq!(p["MemorySwapMax"], Value::U64(u64::MAX));
        assert_eq!(p["CPUQuotaPerSecUSec"], Value::U64(250_000));
        assert_eq!(p["CPUQuotaPeriodUSec"], Value::U64(100_000));
        assert_eq!(p["TasksMax"], Value::U64(9));
        assert_eq!(p["AllowedCPUs"], bytes(vec![0b11, 0b10]));
        assert_eq!(p["IOWeight"], Value::U64(100));
        let odd = from_writes(&[w("c", "", "cpu.max", "33333 100000")]).unwrap();
        assert_eq!(odd[0].1, Value::U64(340_000));
    }

    #[test]
    fn annotations() {
        let a: BTreeMap<String, String> = [
            ("org.systemd.property.TimeoutStopUSec", "uint64 123456789"),
            ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
            ("org.other", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let p = from_annotations(&a).unwrap();
        assert_eq!(
            p,
            vec![
                (
                    "CollectMode".to_string(),
                    Value::Str("inactive-or-failed".into())
                ),
                ("TimeoutStopUSec".to_string(), Value::U64(123456789)),
            ]
        );
        let bad: BTreeMap<String, String> =
            [("org.systemd.property.X".to_string(), "[1, 2]".to_string())]
                .into_iter()
                .collect();
        assert!(
            from_annotations(&bad)
                .unwrap_err()
                .to_string()
                .contains("annotations[\"org.systemd.property.X\"]: ")
        );
    }
}
