//! linux.netDevices: host network interfaces moved into the container's
//! new network namespace at create, renamed when the config says so. The
//! kernel drops an interface's addresses when it changes namespace, so its
//! permanent addresses of global scope are read first and added again
//! inside (as the runtime-spec says; routes are not carried), then the link
//! is set up. berth's parent does the moving: it is in the host's network
//! namespace, and the container process is already in its own.
//!
//! Checked before anything exists: the namespace, the names (the kernel's
//! rules, no two entries with one name inside), each interface on the host.

use crate::config::ConfigError;
use crate::error::{SysContext, SysError};
use crate::netlink::Route;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::AsFd;

/// One entry of linux.netDevices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevice {
    /// The interface's name on the host, the entry's key.
    pub host: String,
    /// Its name in the container: the entry's `name`, or the key.
    pub name: String,
}

impl NetDevice {
    fn at(&self) -> String {
        at(&self.host)
    }
}

fn at(key: &str) -> String {
    format!("linux.netDevices[{key:?}]")
}

/// linux.netDevices checked against the config alone, in the order of the
/// host names (the field is an object: its order means nothing).
pub fn from_spec(spec: &Spec) -> Result<Vec<NetDevice>, ConfigError> {
    let Some(linux) = spec.linux() else {
        return Ok(Vec::new());
    };
    let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(Vec::new());
    };
    let new_netns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none());
    if !new_netns {
        return Err(ConfigError::invalid(
            "linux.netDevices",
            "interfaces are moved into the container's own network namespace: linux.namespaces needs {\"type\": \"network\"} without a path",
        ));
    }
    let mut out: Vec<NetDevice> = devices
        .iter()
        .map(|(host, d)| NetDevice {
            host: host.clone(),
            name: d
                .name()
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or(host.clone()),
        })
        .collect();
    out.sort_by(|a, b| a.host.cmp(&b.host));
    for (i, d) in out.iter().enumerate() {
        if let Some(why) = invalid_name(&d.host, false) {
            return Err(ConfigError::invalid(d.at(), format!("{:?}: {why}", d.host)));
        }
        if let Some(why) = invalid_name(&d.name, true) {
            return Err(ConfigError::invalid(
                format!("{}.name", d.at()),
                format!("{:?}: {why}", d.name),
            ));
        }
        // A template ("eth%d") takes a free name: it cannot clash.
        if d.name.contains('%') {
            continue;
        }
        if d.name == "lo" {
            return Err(ConfigError::invalid(
                d.at(),
                "the name \"lo\" is taken: every network namespace has its loopback",
            ));
        }
        if let Some(other) = out[..i].iter().find(|o| o.name == d.name) {
            return Err(ConfigError::invalid(
                d.at(),
                format!(
                    "the name {} in the container is also {}'s",
                    d.name,
                    other.at()
                ),
            ));
        }
    }
    Ok(out)
}

/// Why the kernel would refuse `name` as an interface name (its
/// dev_valid_name, and one %d in a template), or None.
fn invalid_name(name: &str, template: bool) -> Option<&'static str> {
    if name.is_empty() {
        return Some("an interface name cannot be empty");
    }
    if name.len() >= 16 {
        return Some("an interface name has at most 15 bytes");
    }
    if name == "." || name == ".." {
        return Some("not an interface name");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Some("an interface name has no '/', ':' or white space");
    }
    if name.contains('%') && !(template && name.matches('%').count() == 1 && name.contains("%d")) {
        return Some("'%' only as one \"%d\", a template the kernel fills in");
    }
    None
}

/// The host's side: each interface exists in berth's network namespace,
/// and berth may move it.
pub fn check_host(devices: &[NetDevice], rootless: bool) -> Result<(), ConfigError> {
    if devices.is_empty() {
        return Ok(());
    }
    if rootless {
        return Err(ConfigError::invalid(
            "linux.netDevices",
            "a rootless berth cannot move the host's network interfaces (that takes CAP_NET_ADMIN in the host's network namespace)",
        ));
    }
    let host = Route::open().map_err(|e| netlink_error(&e))?;
    let links = host.links().map_err(|e| netlink_error(&e))?;
    for d in devices {
        if !links.iter().any(|l| l.name == d.host) {
            return Err(ConfigError::invalid(
                d.at(),
                format!(
                    "there is no network interface {} on the host (berth's network namespace)",
                    d.host
                ),
            ));
        }
    }
    Ok(())
}

fn netlink_error(e: &std::io::Error) -> ConfigError {
    ConfigError::invalid(
        "linux.netDevices",
        format!(
            "cannot list the host's network interfaces: {}",
            crate::error::errno_text(e)
        ),
    )
}

/// Moves every device into the network namespace of process `pid`, once
/// that process is in its own. A failure leaves the moved ones there: the
/// caller kills the process, and the kernel returns physical interfaces to
/// the initial network namespace and destroys virtual ones.
pub fn move_into(devices: &[NetDevice], pid: i32) -> Result<(), SysError> {
    if devices.is_empty() {
        return Ok(());
    }
    let path = format!("/proc/{pid}/ns/net");
    let netns = rustix::fs::open(
        &path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .sys("open", &path)?;
    let host = Route::open().sys("open", "a netlink socket")?;
    let inside = Route::open_in(netns.as_fd()).sys("open a netlink socket in", &path)?;
    for d in devices {
        move_one(d, &host, &inside, netns.as_fd())?;
    }
    Ok(())
}

fn move_one(
    d: &NetDevice,
    host: &Route,
    inside: &Route,
    netns: std::os::fd::BorrowedFd,
) -> Result<(), SysError> {
    let what = d.at();
    let link = host.link(&d.host).sys("look up", &what)?.ok_or_else(|| {
        SysError::new(
            "look up",
            &what,
            std::io::Error::from_raw_os_error(libc::ENODEV),
        )
    })?;
    let addresses: Vec<_> = host
        .addresses(link.index)
        .sys("read the addresses of", &what)?
        .into_iter()
        .filter(|a| a.carried())
        .collect();
    host.move_link(link.index, netns, &d.name)
        .sys("move into the container's network namespace", &what)?;
    // By name, or, for a template the kernel filled in, by index: a new
    // namespace has only lo, so a moved interface keeps its index.
    let moved = inside
        .links()
        .sys("list the container's interfaces for", &what)?;
    let moved = moved
        .into_iter()
        .find(|l| {
            if d.name.contains('%') {
                l.index == link.index
            } else {
                l.name == d.name
            }
        })
        .ok_or_else(|| {
            SysError::new(
                "find in the container's network namespace",
                &what,
                std::io::Error::from_raw_os_error(libc::ENODEV),
            )
        })?;
    for a in &addresses {
        inside
            .add_address(moved.index, a)
            .sys("add address", format!("{} to {what}", a.text()))?;
    }
    inside.set_up(moved.index, true).sys("set up", &what)?;
    crate::logging::debug(&format!(
        "moved {what} into the container as {}, with {} address(es)",
        moved.name,
        addresses.len()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices(linux: &str) -> Result<Vec<NetDevice>, String> {
        let json =
            format!(r#"{{"ociVersion":"1.3.0","root":{{"path":"rootfs"}},"linux":{linux}}}"#);
        let spec: Spec = serde_json::from_str(&json).unwrap();
        from_spec(&spec).map_err(|e| e.to_string())
    }

    const NET: &str = r#""namespaces":[{"type":"network"}]"#;

    #[test]
    fn names_default_to_the_key_and_come_sorted() {
        let d = devices(&format!(
            r#"{{{NET},"netDevices":{{"veth9":{{}},"eth1":{{"name":"ctr0"}}}}}}"#
        ))
        .unwrap();
        assert_eq!(
            d,
            [
                NetDevice {
                    host: "eth1".into(),
                    name: "ctr0".into()
                },
                NetDevice {
                    host: "veth9".into(),
                    name: "veth9".into()
                }
            ]
        );
    }

    #[test]
    fn a_new_network_namespace_is_required() {
        for ns in [
            r#""namespaces":[]"#,
            r#""namespaces":[{"type":"network","path":"/proc/1/ns/net"}]"#,
        ] {
            let e = devices(&format!(r#"{{{ns},"netDevices":{{"eth0":{{}}}}}}"#)).unwrap_err();
            assert!(
                e.starts_with("config.json: linux.netDevices: interfaces are moved"),
                "{e}"
            );
        }
    }

    #[test]
    fn names_that_clash_or_the_kernel_refuses_are_errors() {
        let e = devices(&format!(
            r#"{{{NET},"netDevices":{{"a0":{{"name":"x"}},"b0":{{"name":"x"}}}}}}"#
        ))
        .unwrap_err();
        assert_eq!(
            e,
            r#"config.json: linux.netDevices["b0"]: the name x in the container is also linux.netDevices["a0"]'s"#
        );
        // A rename onto another entry's unrenamed name.
        let e = devices(&format!(
            r#"{{{NET},"netDevices":{{"a0":{{}},"b0":{{"name":"a0"}}}}}}"#
        ))
        .unwrap_err();
        assert!(e.contains(r#"linux.netDevices["b0"]"#), "{e}");
        let e = devices(&format!(
            r#"{{{NET},"netDevices":{{"a0":{{"name":"lo"}}}}}}"#
        ))
        .unwrap_err();
        assert!(e.contains("\"lo\" is taken"), "{e}");
        let e = devices(&format!(
            r#"{{{NET},"netDevices":{{"a0":{{"name":"a-very-long-name0"}}}}}}"#
        ))
        .unwrap_err();
        assert!(e.contains(r#"linux.netDevices["a0"].name"#), "{e}");
        let e = devices(&format!(r#"{{{NET},"netDevices":{{"a/b":{{}}}}}}"#)).unwrap_err();
        assert!(e.contains(r#"linux.netDevices["a/b"]: "a/b""#), "{e}");
        // Two templates may share a pattern: the kernel picks two names.
        devices(&format!(
            r#"{{{NET},"netDevices":{{"a0":{{"name":"n%d"}},"b0":{{"name":"n%d"}}}}}}"#
        ))
        .unwrap();
        assert!(
            devices(&format!(
                r#"{{{NET},"netDevices":{{"a0":{{"name":"n%s"}}}}}}"#
            ))
            .is_err()
        );
    }

    #[test]
    fn an_interface_missing_on_the_host_is_named() {
        let d = [NetDevice {
            host: "berth-none0".into(),
            name: "x".into(),
        }];
        let e = check_host(&d, false).unwrap_err().to_string();
        assert_eq!(
            e,
            r#"config.json: linux.netDevices["berth-none0"]: there is no network interface berth-none0 on the host (berth's network namespace)"#
        );
    }
}
