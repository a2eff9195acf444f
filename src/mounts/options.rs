//! Mount options as runc accepts them in config.json, sorted into what the
//! new mount API wants: mount attributes (MOUNT_ATTR_*), for the top mount
//! and recursively; propagation; superblock flags and filesystem data for
//! fsconfig(2); and berth's own extensions.

use crate::syscall::*;

const MS_UNBINDABLE: u64 = 1 << 17;
const MS_PRIVATE: u64 = 1 << 18;
const MS_SLAVE: u64 = 1 << 19;
const MS_SHARED: u64 = 1 << 20;

/// A propagation type and whether it applies to the whole subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Propagation {
    pub flag: u64,
    pub recursive: bool,
}

/// `shared`, `rslave`, ... as a propagation; `None` for anything else.
pub fn propagation_flag(name: &str) -> Option<Propagation> {
    let (flag, recursive) = match name {
        "shared" => (MS_SHARED, false),
        "rshared" => (MS_SHARED, true),
        "slave" => (MS_SLAVE, false),
        "rslave" => (MS_SLAVE, true),
        "private" => (MS_PRIVATE, false),
        "rprivate" => (MS_PRIVATE, true),
        "unbindable" => (MS_UNBINDABLE, false),
        "runbindable" => (MS_UNBINDABLE, true),
        _ => return None,
    };
    Some(Propagation { flag, recursive })
}

/// Every option `parse` understands (what `berth features` lists).
pub const KNOWN: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub bind: bool,
    pub recursive_bind: bool,
    pub remount: bool,
    /// Attributes for the mount itself (`ro`, `nosuid`, ...).
    pub attr: MountAttr,
    /// Attributes for the mount and every mount below it (`rro`, `rnosuid`, ...).
    pub rec_attr: MountAttr,
    pub propagation: Vec<Propagation>,
    /// Superblock flags fsconfig(2) understands (`sync`, `dirsync`, `mand`, `lazytime`).
    pub sb_flags: Vec<&'static str>,
    /// Everything else goes to the filesystem: `mode=755` is (mode, Some(755)).
    pub data: Vec<(String, Option<String>)>,
    pub tmpcopyup: bool,
    pub idmap: bool,
    pub ridmap: bool,
}

fn set(a: &mut MountAttr, flag: u64) {
    a.attr_set |= flag;
    a.attr_clr &= !flag;
}

fn clear(a: &mut MountAttr, flag: u64) {
    a.attr_clr |= flag;
    a.attr_set &= !flag;
}

fn atime(a: &mut MountAttr, mode: u64) {
    a.attr_clr |= MOUNT_ATTR__ATIME;
    a.attr_set = (a.attr_set & !MOUNT_ATTR__ATIME) | mode;
}

impl MountOptions {
    pub fn parse(opts: &[String]) -> MountOptions {
        let mut o = MountOptions::default();
        for opt in opts {
            let opt = opt.as_str();
            if let Some(p) = propagation_flag(opt) {
                o.propagation.push(p);
                continue;
            }
            let (a, recursive) = match opt.strip_prefix('r') {
                Some(rest) if is_attr(rest) => (rest, true),
                _ => (opt, false),
            };
            if is_attr(a) {
                let target = if recursive {
                    &mut o.rec_attr
                } else {
                    &mut o.attr
                };
                apply_attr(target, a);
                continue;
            }
            match opt {
                "bind" => o.bind = true,
                "rbind" => {
                    o.bind = true;
                    o.recursive_bind = true
                }
                "remount" => o.remount = true,
                "defaults" | "async" | "loud" | "silent" | "iversion" | "noiversion" => {}
                "sync" | "dirsync" | "mand" | "lazytime" => o.sb_flags.push(match opt {
                    "sync" => "sync",
                    "dirsync" => "dirsync",
                    "mand" => "mand",
                    _ => "lazytime",
                }),
                "nomand" | "nolazytime" => {}
                "tmpcopyup" => o.tmpcopyup = true,
                "idmap" => o.idmap = true,
                "ridmap" => o.ridmap = true,
                _ => match opt.split_once('=') {
                    Some((k, v)) => o.data.push((k.to_string(), Some(v.to_string()))),
                    None => o.data.push((opt.to_string(), None)),
                },
            }
        }
        o
    }

    pub fn readonly(&self) -> bool {
        self.attr.attr_set & MOUNT_ATTR_RDONLY != 0
            || self.rec_attr.attr_set & MOUNT_ATTR_RDONLY != 0
    }
}

/// The options that are mount attributes, and so have an `r` form.
fn is_attr(name: &str) -> bool {
    matches!(
        name,
        "ro" | "rw"
            | "nosuid"
            | "suid"
            | "nodev"
            | "dev"
            | "noexec"
            | "exec"
            | "noatime"
            | "atime"
            | "relatime"
            | "norelatime"
            | "strictatime"
            | "nostrictatime"
            | "nodiratime"
            | "diratime"
            | "nosymfollow"
            | "symfollow"
    )
}

fn apply_attr(a: &mut MountAttr, name: &str) {
    match name {
        "ro" => set(a, MOUNT_ATTR_RDONLY),
        "rw" => clear(a, MOUNT_ATTR_RDONLY),
        "nosuid" => set(a, MOUNT_ATTR_NOSUID),
        "suid" => clear(a, MOUNT_ATTR_NOSUID),
        "nodev" => set(a, MOUNT_ATTR_NODEV),
        "dev" => clear(a, MOUNT_ATTR_NODEV),
        "noexec" => set(a, MOUNT_ATTR_NOEXEC),
        "exec" => clear(a, MOUNT_ATTR_NOEXEC),
        "nodiratime" => set(a, MOUNT_ATTR_NODIRATIME),
        "diratime" => clear(a, MOUNT_ATTR_NODIRATIME),
        "nosymfollow" => set(a, MOUNT_ATTR_NOSYMFOLLOW),
        "symfollow" => clear(a, MOUNT_ATTR_NOSYMFOLLOW),
        "noatime" => atime(a, MOUNT_ATTR_NOATIME),
        "strictatime" => atime(a, MOUNT_ATTR_STRICTATIME),
        // relatime is the kernel's default atime mode; "atime" and the
        // negations go back to it.
        _ => atime(a, MOUNT_ATTR_RELATIME),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        MountOptions::parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn runc_default_dev_options() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.attr.attr_set, MOUNT_ATTR_NOSUID | MOUNT_ATTR_STRICTATIME);
        assert_eq!(o.attr.attr_clr, MOUNT_ATTR__ATIME);
        assert_eq!(
            o.data,
            vec![
                ("mode".into(), Some("755".into())),
                ("size".into(), Some("65536k".into()))
            ]
        );
        assert!(!o.bind);
    }

    #[test]
    fn bind_and_recursive_attributes() {
        let o = p(&["rbind", "rro", "nosuid", "rslave", "newinstance"]);
        assert!(o.bind && o.recursive_bind);
        assert_eq!(o.rec_attr.attr_set, MOUNT_ATTR_RDONLY);
        assert_eq!(o.attr.attr_set, MOUNT_ATTR_NOSUID);
        assert_eq!(
            o.propagation,
            vec![Propagation {
                flag: MS_SLAVE,
                recursive: true
            }]
        );
        assert_eq!(o.data, vec![("newinstance".into(), None)]);
        assert!(o.readonly());
    }

    #[test]
    fn later_option_wins() {
        let o = p(&["ro", "rw"]);
        assert_eq!(o.attr.attr_set, 0);
        assert_eq!(o.attr.attr_clr, MOUNT_ATTR_RDONLY);
    }

    #[test]
    fn every_known_option_is_understood() {
        for o in KNOWN {
            assert!(
                p(&[o]).data.is_empty(),
                "{o} would go to the filesystem as data"
            );
        }
    }

    #[test]
    fn superblock_flags_and_extensions() {
        let o = p(&["sync", "tmpcopyup", "idmap", "defaults"]);
        assert_eq!(o.sb_flags, vec!["sync"]);
        assert!(o.tmpcopyup && o.idmap && !o.ridmap);
        assert!(o.data.is_empty());
    }
}
