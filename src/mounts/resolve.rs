//! Paths inside the container's root, resolved by the kernel with the root
//! as "/" (openat2 RESOLVE_IN_ROOT): a symlink in the rootfs can never lead
//! out of it. Each path is resolved once into an fd, and every later
//! operation (mount, mknod, chdir) uses the fd, never the path again, so a
//! path swapped after the check (CVE-2021-30465) changes nothing.

use crate::error::{SysContext, SysError};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

/// Opens `path` (absolute or not, it is taken inside `root`) as O_PATH.
pub fn open_in_root(root: BorrowedFd, path: &Path, extra: OFlags) -> rustix::io::Result<OwnedFd> {
    let rel = relative(path);
    let flags = OFlags::PATH | OFlags::CLOEXEC | extra;
    // openat2 answers EAGAIN when a rename raced with the walk; try again.
    for _ in 0..16 {
        match rustix::fs::openat2(root, rel, flags, Mode::empty(), resolve_flags()) {
            Err(rustix::io::Errno::AGAIN) => continue,
            r => return r,
        }
    }
    rustix::fs::openat2(root, rel, flags, Mode::empty(), resolve_flags())
}

/// A directory of the host opened as O_PATH, for paths resolved beneath it.
pub fn open_dir(path: &Path) -> Result<OwnedFd, SysError> {
    rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .sys("open", path.display())
}

/// The path of an fd of this process, as /proc gives it.
pub fn fd_path(fd: BorrowedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Where `path` lands inside the rootfs at `rootfs` once its symlinks are
/// followed there (as a mount on it lands), as a path from the rootfs's
/// "/"; None when it does not resolve (missing, or not a path of this
/// rootfs). For CRIU, which names mounts by where they are.
pub fn resolved_in_root(rootfs: &Path, path: &Path) -> Option<PathBuf> {
    let root = open_dir(rootfs).ok()?;
    let fd = open_in_root(root.as_fd(), path, OFlags::empty()).ok()?;
    let real = std::fs::read_link(fd_path(fd.as_fd())).ok()?;
    let top = std::fs::read_link(fd_path(root.as_fd())).ok()?;
    let rest = real.strip_prefix(&top).ok()?;
    Some(Path::new("/").join(rest))
}

fn relative(path: &Path) -> &Path {
    let p = path.strip_prefix("/").unwrap_or(path);
    if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    }
}

/// The directory at `path` inside `root`, created with `mode` (and its
/// missing parents) if it does not exist. A dangling symlink on the way is
/// followed the way the kernel would, inside the root, and its target made.
pub fn mkdir_all(root: BorrowedFd, path: &Path, mode: u32) -> Result<OwnedFd, SysError> {
    mkdir_all_depth(root, path, mode, 0)
}

fn mkdir_all_depth(
    root: BorrowedFd,
    path: &Path,
    mode: u32,
    depth: u32,
) -> Result<OwnedFd, SysError> {
    match open_in_root(root, path, OFlags::DIRECTORY) {
        Ok(fd) => return Ok(fd),
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(SysError::new("open", path.display(), e)),
    }
    let mut parent = open_in_root(root, Path::new("/"), OFlags::DIRECTORY).sys("open", "/")?;
    let mut prefix = std::path::PathBuf::from("/");
    for comp in path.components() {
        let Component::Normal(name) = comp else {
            if comp == Component::ParentDir {
                prefix.push("..");
            }
            continue;
        };
        let dir_of = prefix.clone();
        prefix.push(name);
        match open_in_root(root, &prefix, OFlags::DIRECTORY) {
            Ok(fd) => parent = fd,
            Err(rustix::io::Errno::NOENT) => {
                match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(mode)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(SysError::new("mkdir", prefix.display(), e)),
                }
                parent = match open_in_root(root, &prefix, OFlags::DIRECTORY) {
                    Err(rustix::io::Errno::NOENT) if depth < 40 => {
                        // A symlink to nothing yet: make what it points to.
                        let target = rustix::fs::readlinkat(&parent, name, Vec::new())
                            .sys("readlink", prefix.display())?;
                        let target = Path::new(std::ffi::OsStr::from_bytes(target.as_bytes()));
                        mkdir_all_depth(root, &dir_of.join(target), mode, depth + 1)?;
                        open_in_root(root, &prefix, OFlags::DIRECTORY)
                            .sys("open", prefix.display())?
                    }
                    r => r.sys("open", prefix.display())?,
                };
            }
            Err(e) => return Err(SysError::new("open", prefix.display(), e)),
        }
    }
    Ok(parent)
}

/// The file at `path` inside `root` (any type but a directory is fine),
/// created empty if nothing is there: the target of a file bind mount.
pub fn create_file(root: BorrowedFd, path: &Path, mode: u32) -> Result<OwnedFd, SysError> {
    match open_in_root(root, path, OFlags::empty()) {
        Ok(fd) => return Ok(fd),
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(SysError::new("open", path.display(), e)),
    }
    let (dir, name) = split(root, path)?;
    let fd = rustix::fs::openat(
        &dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .sys("create", path.display())?;
    drop(fd);
    open_in_root(root, path, OFlags::NOFOLLOW).sys("open", path.display())
}

/// The parent directory of `path` (created if missing) and the last name.
pub fn split<'p>(
    root: BorrowedFd,
    path: &'p Path,
) -> Result<(OwnedFd, &'p std::ffi::OsStr), SysError> {
    let name = path.file_name().ok_or_else(|| {
        SysError::new(
            "resolve",
            path.display(),
            std::io::Error::from_raw_os_error(libc::EINVAL),
        )
    })?;
    let parent = path.parent().unwrap_or(Path::new("/"));
    Ok((mkdir_all(root, parent, 0o755)?, name))
}

/// Whether the fd's file is a directory.
pub fn is_dir(fd: impl AsFd) -> Result<bool, SysError> {
    let st = rustix::fs::fstat(fd).sys("stat", "")?;
    Ok(rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_in_root_follows_symlinks_inside() {
        let d = std::env::temp_dir().join(format!("berth-resolved-{}", std::process::id()));
        std::fs::create_dir_all(d.join("real/conf")).unwrap();
        std::os::unix::fs::symlink("/real/conf", d.join("conf")).unwrap();
        std::os::unix::fs::symlink("../../..", d.join("real/up")).unwrap();
        let r = |p: &str| resolved_in_root(&d, Path::new(p));
        assert_eq!(r("/conf"), Some("/real/conf".into()));
        assert_eq!(r("/real/up/conf"), Some("/real/conf".into()));
        assert_eq!(r("/"), Some("/".into()));
        assert_eq!(r("/missing"), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
    use std::os::unix::fs::symlink;

    fn tmproot() -> (tempfile::TempDir, OwnedFd) {
        let d = tempfile::tempdir().unwrap();
        let fd = rustix::fs::open(
            d.path(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (d, fd)
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let (d, root) = tmproot();
        // An absolute symlink and a ../ escape both land inside the root.
        symlink("/etc", d.path().join("abs")).unwrap();
        symlink("../../../../etc", d.path().join("rel")).unwrap();
        let fd = mkdir_all(root.as_fd(), Path::new("/abs/x"), 0o755).unwrap();
        assert!(is_dir(&fd).unwrap());
        assert!(d.path().join("etc/x").is_dir(), "created inside the root");
        mkdir_all(root.as_fd(), Path::new("/rel/y"), 0o755).unwrap();
        assert!(d.path().join("etc/y").is_dir());
        assert!(!Path::new("/etc/x").exists() && !Path::new("/etc/y").exists());
    }

    #[test]
    fn create_file_makes_parents_and_file() {
        let (d, root) = tmproot();
        let fd = create_file(root.as_fd(), Path::new("/a/b/file"), 0o644).unwrap();
        assert!(!is_dir(&fd).unwrap());
        assert!(d.path().join("a/b/file").is_file());
        // A second call opens what is there.
        create_file(root.as_fd(), Path::new("/a/b/file"), 0o644).unwrap();
    }

    #[test]
    fn a_file_in_the_way_is_an_error() {
        let (d, root) = tmproot();
        std::fs::write(d.path().join("f"), "").unwrap();
        let e = mkdir_all(root.as_fd(), Path::new("/f/sub"), 0o755).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOTDIR), "{e}");
    }
}
