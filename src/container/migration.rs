//! Live migration's part of checkpoint and restore, as runc has it:
//! --page-server ADDRESS:PORT (a dump's pages sent to a `criu page-server`
//! listening there; with --lazy-pages, the port this dump serves them on),
//! --lazy-pages (the dump keeps the memory and serves it until `criu
//! lazy-pages` beside the restore has taken all of it; the restore takes
//! each page from that daemon when the process first touches it, through
//! userfaultfd), and --status-fd, where a lazy dump tells its caller that
//! it serves: one \0 byte, then the fd is closed.

use super::ContainerError;
use super::images::{CriuFlags, criu_error, usage};
use crate::criu::{self, Feature, PageServer};
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// CRIU's lazy-pages daemon listens on this socket in its work directory
/// (its --images-dir without -W); a lazy restore connects to it in its own.
pub const LAZY_PAGES_SOCKET: &str = "lazy-pages.socket";

/// --page-server's ADDRESS:PORT (an IPv6 address in brackets).
pub fn page_server(arg: &str) -> Result<PageServer, ContainerError> {
    let bad = |why: &str| usage(format!("--page-server {arg:?}: {why}"));
    let (address, port) = match arg.strip_prefix('[') {
        Some(rest) => rest
            .split_once("]:")
            .ok_or_else(|| bad("use --page-server ADDRESS:PORT"))?,
        None => arg
            .rsplit_once(':')
            .filter(|(a, _)| !a.contains(':'))
            .ok_or_else(|| bad("use --page-server ADDRESS:PORT"))?,
    };
    if address.is_empty() {
        return Err(bad("no address: use --page-server ADDRESS:PORT"));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| bad(&format!("{port:?} is not a port number (1-65535)")))?;
    Ok(PageServer {
        address: address.to_string(),
        port,
    })
}

/// What checkpoint's flags say together about lazy pages: --lazy-pages
/// dumps through its page server, and CRIU cannot pre-dump lazily.
pub fn check_lazy_dump(
    lazy: bool,
    pre_dump: bool,
    page_server: Option<&PageServer>,
) -> Result<(), ContainerError> {
    if !lazy {
        return Ok(());
    }
    if pre_dump {
        return Err(usage(
            "--lazy-pages and --pre-dump: CRIU cannot pre-dump lazily".into(),
        ));
    }
    if page_server.is_none() {
        return Err(usage(
            "--lazy-pages needs --page-server ADDRESS:PORT: the port the dump serves its memory on to `criu lazy-pages`".into(),
        ));
    }
    Ok(())
}

/// A lazy restore's daemon: its socket in the restore's work directory.
pub fn check_lazy_restore(work: &Path) -> Result<(), ContainerError> {
    use std::os::unix::fs::FileTypeExt;
    let sock = work.join(LAZY_PAGES_SOCKET);
    match std::fs::metadata(&sock) {
        Ok(m) if m.file_type().is_socket() => Ok(()),
        _ => Err(usage(format!(
            "--lazy-pages: no lazy-pages daemon: {} is missing (start `criu lazy-pages --images-dir {}` first)",
            sock.display(),
            work.display()
        ))),
    }
}

/// This CRIU on this kernel can restore lazily.
pub fn check_lazy_support(flags: &CriuFlags, id: &str) -> Result<(), ContainerError> {
    match criu::has_feature(&flags.criu(), Feature::LazyPages) {
        Ok(true) => Ok(()),
        Ok(false) => Err(usage(
            "--lazy-pages: CRIU cannot restore pages lazily on this kernel (no userfaultfd with non-cooperative events)".into(),
        )),
        Err(e) => Err(criu_error(id, e, None)),
    }
}

/// --status-fd: an fd of berth's caller, open for writing, which berth
/// now owns (closed on exec: criu reports to berth, berth writes it).
#[derive(Debug)]
pub struct StatusFd(OwnedFd);

impl StatusFd {
    /// The fd checked; None for runc's "none", -1.
    pub fn take(fd: Option<RawFd>) -> Result<Option<StatusFd>, ContainerError> {
        let Some(fd) = fd.filter(|&fd| fd >= 0) else {
            return Ok(None);
        };
        let bad = |why: String| usage(format!("invalid --status-fd argument {fd}: {why}"));
        // SAFETY: fcntl on a number; a closed one gives EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            let e = std::io::Error::last_os_error();
            return Err(bad(crate::error::errno_text(&e)));
        }
        if flags & libc::O_ACCMODE == libc::O_RDONLY {
            return Err(bad("not writable".into()));
        }
        // SAFETY: an open fd that nothing else in berth holds.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)
            .map_err(|e| bad(crate::error::errno_text(&e.into())))?;
        Ok(Some(StatusFd(owned)))
    }

    pub fn raw(&self) -> RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.0)
    }

    /// CRIU's status-ready: its page server serves. One \0, and closed,
    /// so that the caller's read ends there.
    pub fn ready(self) {
        if let Err(e) = rustix::io::write(self.0.as_fd(), &[0]) {
            crate::logging::warn(&format!("--status-fd: cannot write to it: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_server_is_address_and_port() {
        let ps = |a: &str, p| PageServer {
            address: a.into(),
            port: p,
        };
        assert_eq!(
            page_server("10.0.0.2:27277").unwrap(),
            ps("10.0.0.2", 27277)
        );
        assert_eq!(page_server("[::1]:80").unwrap(), ps("::1", 80));
        assert_eq!(page_server("dst.example:1").unwrap(), ps("dst.example", 1));
        for (arg, says) in [
            ("10.0.0.2", "use --page-server ADDRESS:PORT"),
            ("::1:80", "use --page-server ADDRESS:PORT"),
            (":80", "no address"),
            ("host:http", "\"http\" is not a port number"),
            ("host:0", "\"0\" is not a port number"),
            ("host:70000", "\"70000\" is not a port number"),
        ] {
            let e = page_server(arg).unwrap_err().to_string();
            assert!(e.contains(says), "{arg}: {e}");
        }
    }

    #[test]
    fn lazy_dump_needs_a_page_server_and_no_pre_dump() {
        let ps = PageServer {
            address: "0.0.0.0".into(),
            port: 1,
        };
        assert!(check_lazy_dump(false, true, None).is_ok());
        assert!(check_lazy_dump(true, false, Some(&ps)).is_ok());
        let e = check_lazy_dump(true, false, None).unwrap_err().to_string();
        assert!(e.contains("needs --page-server"), "{e}");
        let e = check_lazy_dump(true, true, Some(&ps))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot pre-dump lazily"), "{e}");
    }

    #[test]
    fn status_fd_must_be_open_for_writing() {
        let e = StatusFd::take(Some(999)).unwrap_err().to_string();
        assert_eq!(e, "invalid --status-fd argument 999: bad file descriptor");
        assert!(StatusFd::take(Some(-1)).unwrap().is_none());
        let (r, w) = rustix::pipe::pipe().unwrap();
        let rfd = std::os::fd::IntoRawFd::into_raw_fd(r);
        let e = StatusFd::take(Some(rfd)).unwrap_err().to_string();
        assert!(e.ends_with("not writable"), "{e}");
        // SAFETY: the read end given up above, closed here.
        drop(unsafe { OwnedFd::from_raw_fd(rfd) });
        let wfd = std::os::fd::IntoRawFd::into_raw_fd(w);
        let s = StatusFd::take(Some(wfd)).unwrap().unwrap();
        assert_eq!(s.raw(), wfd);
        let fl = rustix::io::fcntl_getfd(&s.0).unwrap();
        assert!(fl.contains(rustix::io::FdFlags::CLOEXEC));
    }
}
