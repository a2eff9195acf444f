//! CRIU through its RPC interface: `criu swrk FD` started with one end of a
//! SOCK_SEQPACKET socketpair, one request (DUMP, PRE_DUMP, RESTORE, VERSION,
//! FEATURE_CHECK) written as a protobuf `criu_req`, then `criu_resp`
//! answers read until the one of the request's type; NOTIFY answers on the
//! way (post-dump, setup-namespaces, post-restore, orphan-pts-master, the
//! last with the pty master over SCM_RIGHTS) are handed to the caller and
//! acknowledged. The fds a request names (images and work directory, the
//! status fd, inherited fds) go to criu by number: they lose FD_CLOEXEC in
//! the child only.
//!
//! Why not the rust-criu crate (0.6.1, checked on crates.io): it has no
//! PRE_DUMP request, its restore() drops the restored pid of the answer,
//! its notify callback is a bare `fn` (no state: the container's hooks and
//! console socket could only be reached through globals), its errors keep
//! cr_errno but not CRIU's own message (cr_errmsg), and it brings the
//! protobuf crate's runtime (3.7) and generated code into a binary that
//! counts its size (issue 7). The messages berth sends and reads are a
//! handful of varint and string fields: wire.rs writes and reads them, with
//! the field numbers of CRIU's images/rpc.proto below.
//!
//! This piece names no other piece of berth: the container layer says what
//! to dump or restore and what to do on each notification.

pub mod wire;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wire::{Value, Writer};

/// The oldest CRIU berth drives: 3.14 is the first that freezes a cgroup
/// v2 tree (cgroup.freeze) and restores into cgroup v2.
pub const MIN_VERSION: u32 = 31400;

// criu_req_type
const DUMP: i64 = 1;
const RESTORE: i64 = 2;
const PRE_DUMP: i64 = 4;
const NOTIFY: i64 = 6;
const FEATURE_CHECK: i64 = 9;
const VERSION: i64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum CriuError {
    #[error("cannot run CRIU ({path}): {source}")]
    Spawn { path: PathBuf, source: io::Error },
    #[error("CRIU RPC: {op}: {source}")]
    Io { op: &'static str, source: io::Error },
    #[error("CRIU RPC: {0}")]
    Protocol(String),
    #[error("CRIU's {what} failed: {message}")]
    Failed { what: &'static str, message: String },
    #[error("CRIU {have} is too old: berth needs CRIU {need} or newer")]
    TooOld { have: String, need: String },
    #[error("{0}")]
    Notify(String),
    #[error(
        "CRIU's {what} did not answer {waiting} within {} s ({var}): criu is killed",
        bound.as_secs_f64()
    )]
    Timeout {
        what: &'static str,
        waiting: String,
        bound: Duration,
        var: &'static str,
    },
}

/// The criu to run, and how long berth waits for each of its answers.
#[derive(Debug, Clone)]
pub struct Criu {
    pub path: PathBuf,
    /// The bound on each wait for CRIU's next message (its first answer,
    /// or the next after a notification berth answered): past it criu is
    /// killed and the request fails.
    pub bound: Duration,
    /// Where the bound comes from, for the error (an environment variable).
    pub bound_var: &'static str,
}

/// --manage-cgroups-mode, CRIU's criu_cg_mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CgMode {
    Ignore = 0,
    Soft = 3,
    Full = 4,
    Strict = 5,
}

impl CgMode {
    pub fn parse(s: &str) -> Option<CgMode> {
        Some(match s {
            "ignore" => CgMode::Ignore,
            "soft" => CgMode::Soft,
            "full" => CgMode::Full,
            "strict" => CgMode::Strict,
            _ => return None,
        })
    }
}

/// criu_opts: what berth sets of it. Fds are numbers in this process,
/// inherited by criu.
#[derive(Debug, Default, Clone)]
pub struct Opts {
    pub images_dir_fd: RawFd,
    pub work_dir_fd: Option<RawFd>,
    pub pid: Option<i32>,
    pub log_file: String,
    pub root: Option<String>,
    pub parent_img: Option<String>,
    pub track_mem: bool,
    pub leave_running: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub auto_dedup: bool,
    pub evasive_devices: bool,
    pub rst_sibling: bool,
    pub orphan_pts_master: bool,
    pub manage_cgroups_mode: Option<CgMode>,
    /// CLONE_NEW* bits of namespaces dumped and restored empty.
    pub empty_ns: u32,
    /// For a CRIU older than 3.15 only: later ones send the status-ready
    /// notification instead (and call the fd obsolete).
    pub status_fd: Option<RawFd>,
    /// --page-server: where a dump sends its pages; with lazy_pages, the
    /// port it serves them on.
    pub page_server: Option<PageServer>,
    /// A dump that serves its memory to `criu lazy-pages`, or a restore
    /// whose memory comes from that daemon (userfaultfd).
    pub lazy_pages: bool,
    pub freeze_cgroup: Option<String>,
    /// (mount point, what to bind there on restore): the external mounts.
    pub ext_mnt: Vec<(String, String)>,
    /// --external keys (a namespace by inode, `net[4026532008]:extRootNetNS`).
    pub external: Vec<String>,
    /// (key, fd): an fd of this process in place of what the image names.
    pub inherit_fd: Vec<(String, RawFd)>,
    /// (controller or none, path): the cgroup the restored tree goes to.
    pub cg_root: Vec<(Option<String>, String)>,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
    /// A CRIU configuration file, read after these options (its settings
    /// win); CRIU ignores one that is not there.
    pub config_file: Option<String>,
}

impl Opts {
    fn encode(&self) -> Writer {
        let mut w = Writer::default();
        w.int(1, i64::from(self.images_dir_fd));
        if let Some(p) = self.pid {
            w.int(2, i64::from(p));
        }
        w.flag(3, self.leave_running)
            .flag(4, self.ext_unix_sk)
            .flag(5, self.tcp_established)
            .flag(6, self.evasive_devices)
            .flag(7, self.shell_job)
            .flag(8, self.file_locks)
            .int(9, 4)
            .str(10, &self.log_file);
        if let Some(ps) = &self.page_server {
            w.msg(
                11,
                Writer::default()
                    .str(1, &ps.address)
                    .int(2, i64::from(ps.port)),
            );
        }
        w.bool(12, true);
        for (field, v) in [(13, &self.root), (14, &self.parent_img)] {
            if let Some(v) = v {
                w.str(field, v);
            }
        }
        w.flag(15, self.track_mem).flag(16, self.auto_dedup);
        if let Some(fd) = self.work_dir_fd {
            w.int(17, i64::from(fd));
        }
        for (key, val) in &self.ext_mnt {
            w.msg(23, Writer::default().str(1, key).str(2, val));
        }
        // manage_cgroups, for a CRIU that predates the mode.
        w.bool(24, true);
        for (ctrl, path) in &self.cg_root {
            let mut m = Writer::default();
            if let Some(c) = ctrl {
                m.str(1, c);
            }
            w.msg(25, m.str(2, path));
        }
        w.flag(26, self.rst_sibling);
        for (key, fd) in &self.inherit_fd {
            w.msg(27, Writer::default().str(1, key).int(2, i64::from(*fd)));
        }
        if let Some(m) = self.manage_cgroups_mode {
            w.int(34, m as i64);
        }
        for e in &self.external {
            w.str(37, e);
        }
        if self.empty_ns != 0 {
            w.int(38, i64::from(self.empty_ns));
        }
        if let Some(c) = &self.freeze_cgroup {
            w.str(44, c);
        }
        w.flag(48, self.lazy_pages);
        if let Some(fd) = self.status_fd {
            w.int(49, i64::from(fd));
        }
        w.flag(50, self.orphan_pts_master);
        if let Some(f) = &self.config_file {
            w.str(51, f);
        }
        if let Some(p) = &self.lsm_profile {
            w.str(53, p);
        }
        if let Some(c) = &self.lsm_mount_context {
            w.str(63, c);
        }
        w
    }

    /// The fds criu must inherit.
    fn fds(&self) -> Vec<RawFd> {
        let mut fds = vec![self.images_dir_fd];
        fds.extend(self.work_dir_fd);
        fds.extend(self.status_fd);
        fds.extend(self.inherit_fd.iter().map(|(_, fd)| *fd));
        fds
    }
}

/// criu_page_server_info: a page server's address and port.
#[derive(Debug, Clone, PartialEq)]
pub struct PageServer {
    pub address: String,
    pub port: u16,
}

/// A notification CRIU sends on its way (a `--action-script` moment).
pub struct Notify {
    pub script: String,
    /// The process it is about (setup-namespaces, post-restore), or 0.
    pub pid: i32,
    /// orphan-pts-master: the master of the restored terminal.
    pub fd: Option<OwnedFd>,
}

/// What a dump or restore tells its caller on the way.
pub enum Event {
    /// criu runs, as this pid, and has not been asked anything yet: a
    /// restore's caller puts it in the container's cgroup, where what it
    /// restores then starts (as runc does).
    Started(i32),
    Notify(Notify),
}

/// What a dump or restore answered.
#[derive(Debug, Default)]
pub struct Answer {
    /// RESTORE: the restored tree's root process.
    pub pid: Option<i32>,
}

#[derive(Debug, Clone, Copy)]
pub enum Request {
    Dump,
    PreDump,
    Restore,
}

impl Request {
    fn code(self) -> i64 {
        match self {
            Request::Dump => DUMP,
            Request::PreDump => PRE_DUMP,
            Request::Restore => RESTORE,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Request::Dump => "dump",
            Request::PreDump => "pre-dump",
            Request::Restore => "restore",
        }
    }
}

/// `criu` (or --criu's path): its version as runc counts it
/// (major*10000 + minor*100 + sublevel, a git build one minor up), checked
/// against MIN_VERSION.
pub fn check_version(criu: &Criu) -> Result<u32, CriuError> {
    let mut req = Writer::default();
    req.int(1, VERSION);
    let mut session = Session::start(criu, &[])?;
    let resp = session.call(&req, VERSION, "version", &mut |_| Ok(()))?;
    let v = resp.message(10).unwrap_or_default();
    let (mut major, mut minor, mut sub, mut git) = (0, 0, 0, false);
    for (f, val) in v {
        match f {
            1 => major = val.int(),
            2 => minor = val.int(),
            3 => git = true,
            4 => sub = val.int(),
            _ => {}
        }
    }
    let mut n = (major * 10000 + minor * 100 + sub) as u32;
    if git {
        n = n - n % 100 + 100;
    }
    if n < MIN_VERSION {
        let text = |n: u32| format!("{}.{}.{}", n / 10000, n / 100 % 100, n % 100);
        return Err(CriuError::TooOld {
            have: text(n),
            need: text(MIN_VERSION),
        });
    }
    Ok(n)
}

/// What FEATURE_CHECK asks of CRIU and this kernel (criu_features).
#[derive(Debug, Clone, Copy)]
pub enum Feature {
    /// pre-dump's soft-dirty bits.
    MemTrack = 1,
    /// userfaultfd with non-cooperative events, for --lazy-pages.
    LazyPages = 2,
}

/// Whether this CRIU on this kernel has `feature`.
pub fn has_feature(criu: &Criu, feature: Feature) -> Result<bool, CriuError> {
    let field = feature as u32;
    let mut req = Writer::default();
    req.int(1, FEATURE_CHECK)
        .msg(5, Writer::default().bool(field, true));
    let mut session = Session::start(criu, &[])?;
    let resp = session.call(&req, FEATURE_CHECK, "feature check", &mut |_| Ok(()))?;
    let features = resp.message(8).unwrap_or_default();
    Ok(features.iter().any(|(f, v)| *f == field && v.int() != 0))
}

/// One dump, pre-dump or restore; `on_event` hears that criu started and
/// answers each notification (an Err aborts CRIU's work, and is the error
/// returned).
pub fn run(
    criu: &Criu,
    request: Request,
    opts: &Opts,
    on_event: &mut dyn FnMut(Event) -> Result<(), String>,
) -> Result<Answer, CriuError> {
    let mut req = Writer::default();
    req.int(1, request.code()).msg(2, &opts.encode());
    let mut session = Session::start(criu, &opts.fds())?;
    on_event(Event::Started(session.child.id() as i32)).map_err(CriuError::Notify)?;
    let resp = session.call(&req, request.code(), request.name(), &mut |n| {
        on_event(Event::Notify(n))
    })?;
    let pid = resp
        .message(4)
        .and_then(|r| r.iter().find(|(f, _)| *f == 1).map(|(_, v)| v.int() as i32));
    Ok(Answer { pid })
}

/// A criu swrk process and berth's end of its socket.
struct Session {
    sock: OwnedFd,
    child: std::process::Child,
    bound: Duration,
    bound_var: &'static str,
}

/// One answer, its fields owned.
struct Resp(Vec<(u32, OwnedValue)>);

enum OwnedValue {
    Int(i64),
    Bytes(Vec<u8>),
}

impl Resp {
    fn int(&self, field: u32) -> Option<i64> {
        self.0.iter().find_map(|(f, v)| match v {
            OwnedValue::Int(i) if *f == field => Some(*i),
            _ => None,
        })
    }

    fn bytes(&self, field: u32) -> Option<&[u8]> {
        self.0.iter().find_map(|(f, v)| match v {
            OwnedValue::Bytes(b) if *f == field => Some(&b[..]),
            _ => None,
        })
    }

    fn text(&self, field: u32) -> Option<String> {
        self.bytes(field)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    fn message(&self, field: u32) -> Option<Vec<(u32, Value<'_>)>> {
        self.bytes(field).and_then(wire::fields)
    }
}

impl Session {
    fn start(criu: &Criu, fds: &[RawFd]) -> Result<Session, CriuError> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
        let (ours, theirs) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| CriuError::Io {
            op: "socketpair",
            source: e.into(),
        })?;
        let mut inherit = fds.to_vec();
        inherit.push(theirs.as_raw_fd());
        let mut cmd = Command::new(&criu.path);
        cmd.arg("swrk")
            .arg(theirs.as_raw_fd().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // SAFETY: between fork and exec only async-signal-safe calls, on
        // fds and the signal mask of the child itself.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &inherit {
                    if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                // run's forwarded signals are blocked in berth; criu (and
                // what it restores, which gets its mask from the image)
                // must not start with them blocked.
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| CriuError::Spawn {
            path: criu.path.clone(),
            source,
        })?;
        drop(theirs);
        Ok(Session {
            sock: ours,
            child,
            bound: criu.bound,
            bound_var: criu.bound_var,
        })
    }

    fn send(&self, req: &Writer) -> Result<(), CriuError> {
        rustix::net::send(&self.sock, &req.0, rustix::net::SendFlags::empty()).map_err(|e| {
            CriuError::Io {
                op: "send to criu",
                source: e.into(),
            }
        })?;
        Ok(())
    }

    /// Sends `req` and reads answers up to the one of type `want`.
    fn call(
        &mut self,
        req: &Writer,
        want: i64,
        what: &'static str,
        on_notify: &mut dyn FnMut(Notify) -> Result<(), String>,
    ) -> Result<Resp, CriuError> {
        self.send(req)?;
        let mut waiting = "to the request".to_string();
        loop {
            let (resp, fd) = self.recv(what, &waiting)?;
            let kind = resp.int(1).unwrap_or(0);
            if resp.int(2).unwrap_or(0) == 0 {
                let errno = resp.int(7).unwrap_or(0);
                let msg = resp.text(9).filter(|m| !m.is_empty());
                let message = match (msg, errno) {
                    (Some(m), 0) => m,
                    (Some(m), e) => format!("{m} ({})", io::Error::from_raw_os_error(e as i32)),
                    (None, 0) => "no reason given".into(),
                    (None, e) => io::Error::from_raw_os_error(e as i32).to_string(),
                };
                return Err(CriuError::Failed { what, message });
            }
            if kind == NOTIFY {
                let n = resp.message(5).unwrap_or_default();
                let script = n.iter().find(|(f, _)| *f == 1).map(|(_, v)| v.text());
                let pid = n.iter().find(|(f, _)| *f == 2).map(|(_, v)| v.int());
                let result = on_notify(Notify {
                    script: script.clone().unwrap_or_default(),
                    pid: pid.unwrap_or(0) as i32,
                    fd,
                });
                let mut ack = Writer::default();
                ack.int(1, NOTIFY).bool(3, result.is_ok());
                self.send(&ack)?;
                result.map_err(CriuError::Notify)?;
                waiting = format!(
                    "after its {} notification",
                    script.as_deref().unwrap_or("unnamed")
                );
                continue;
            }
            if kind != want {
                return Err(CriuError::Protocol(format!(
                    "answer of type {kind} to a request of type {want}"
                )));
            }
            return Ok(resp);
        }
    }

    /// The next message, within the bound; past it criu is killed (and
    /// reaped on drop) and the wait is an error.
    fn recv(
        &mut self,
        what: &'static str,
        waiting: &str,
    ) -> Result<(Resp, Option<OwnedFd>), CriuError> {
        use rustix::event::{PollFd, PollFlags};
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
        let deadline = Instant::now() + self.bound;
        let mut p = [PollFd::new(&self.sock, PollFlags::IN)];
        let ready =
            crate::syscall::poll_until(&mut p, Some(deadline)).map_err(|source| CriuError::Io {
                op: "wait for criu",
                source,
            })?;
        if ready == 0 {
            let _ = self.child.kill();
            return Err(CriuError::Timeout {
                what,
                waiting: waiting.to_string(),
                bound: self.bound,
                var: self.bound_var,
            });
        }
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut buf = vec![0u8; 1 << 16];
        let n = rustix::net::recvmsg(
            &self.sock,
            &mut [io::IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .map_err(|e| CriuError::Io {
            op: "read from criu",
            source: e.into(),
        })?
        .bytes;
        let mut fd = None;
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = m {
                fd = fds.next();
            }
        }
        if n == 0 {
            return Err(CriuError::Protocol(
                "criu closed its socket without an answer (see its log)".into(),
            ));
        }
        let fields = wire::fields(&buf[..n])
            .ok_or_else(|| CriuError::Protocol("an answer that is not protobuf".into()))?;
        let owned = fields
            .into_iter()
            .map(|(f, v)| {
                let v = match v {
                    Value::Varint(i) => OwnedValue::Int(i as i64),
                    Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
                };
                (f, v)
            })
            .collect();
        Ok((Resp(owned), fd))
    }
}

impl Drop for Session {
    /// criu swrk exits once its socket closes; it is reaped here, so that
    /// no zombie outlives the command.
    fn drop(&mut self) {
        // Our end shut first: a criu still reading sees EOF and exits.
        let _ = rustix::net::shutdown(&self.sock, rustix::net::Shutdown::Both);
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opts_carry_rpc_proto_s_field_numbers() {
        let o = Opts {
            images_dir_fd: 5,
            pid: Some(42),
            leave_running: true,
            ext_mnt: vec![("/data".into(), "/srv/data".into())],
            manage_cgroups_mode: Some(CgMode::Full),
            empty_ns: 0x4000_0000,
            ..Default::default()
        };
        let w = o.encode();
        let f = wire::fields(&w.0).unwrap();
        let get = |n| f.iter().find(|(k, _)| *k == n).map(|(_, v)| v.int());
        assert_eq!(get(1), Some(5));
        assert_eq!(get(2), Some(42));
        assert_eq!(get(3), Some(1));
        assert_eq!(get(34), Some(4));
        assert_eq!(get(38), Some(0x4000_0000));
        assert_eq!(get(5), None, "flags not asked for are left out");
        let Some((_, Value::Bytes(m))) = f.iter().find(|(k, _)| *k == 23) else {
            panic!("no ext_mnt")
        };
        let m = wire::fields(m).unwrap();
        assert_eq!(
            (m[0].1.text(), m[1].1.text()),
            ("/data".into(), "/srv/data".into())
        );
        assert_eq!(CgMode::parse("strict"), Some(CgMode::Strict));
        assert_eq!(CgMode::parse("props"), None);
    }
}
