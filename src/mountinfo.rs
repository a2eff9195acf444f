//! /proc/self/mountinfo, read and parsed in one place for everything that
//! looks at the mount table: cgroups v1 finds its hierarchies there, mounts
//! the host's proc and sysfs mounts that --no-pivot must hide.

use crate::error::{SysContext, SysError};
use std::path::PathBuf;

/// One line of mountinfo, the fields berth uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount<'a> {
    /// The directory of the filesystem mounted ("/" for a whole one).
    pub root: &'a str,
    /// Where it is mounted, with the kernel's octal escapes undone.
    pub mount_point: PathBuf,
    pub fstype: &'a str,
    /// The superblock's options (e.g. "rw,cpu,cpuacct"); None when the line
    /// ends before them.
    pub super_options: Option<&'a str>,
}

/// This process's mount table, as text.
pub fn read() -> Result<String, SysError> {
    std::fs::read_to_string("/proc/self/mountinfo").sys("read", "/proc/self/mountinfo")
}

/// The mounts of a mountinfo text, in its order; lines too short to hold a
/// mount point and a filesystem type are skipped.
pub fn parse(text: &str) -> impl Iterator<Item = Mount<'_>> {
    text.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut l = left.split(' ');
        let (root, point) = (l.nth(3)?, l.next()?);
        let mut r = right.split(' ');
        let fstype = r.next()?;
        Some(Mount {
            root,
            mount_point: unescape(point).into(),
            fstype,
            super_options: r.nth(1),
        })
    })
}

/// mountinfo's octal escapes (`\040` for a space) undone.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| b[i] == b'\\' && o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(o) => {
                out.push(o.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_escapes() {
        let text = "36 35 0:31 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                    47 69 0:41 /bus /a\\040b ro - proc proc\n\
                    junk\n";
        let m: Vec<Mount> = parse(text).collect();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].root, "/");
        assert_eq!(m[0].mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(m[0].fstype, "cgroup");
        assert_eq!(m[0].super_options, Some("rw,cpu"));
        assert_eq!(m[1].root, "/bus");
        assert_eq!(m[1].mount_point, PathBuf::from("/a b"));
        assert_eq!(m[1].super_options, None);
    }
}
