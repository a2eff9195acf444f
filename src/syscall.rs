//! The bottom of berth: the few system calls neither std nor rustix wraps
//! (clone3 used as a fork, mount_setattr, the namespace-type ioctl,
//! close_range, seccomp, prctl bits, prlimit of any resource number,
//! personality, set_mempolicy, signal masks and signalfd), and the kernel interfaces more than
//! one piece uses (fds over SCM_RIGHTS, id maps, /proc/PID/stat). Each is
//! written once, here; everything else calls rustix.

mod poll;
pub mod seam;
pub use poll::poll_until;
pub use seam::{Kernel, Syscall};

use crate::error::{SysContext, SysError};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub const CLONE_NEWTIME: u64 = 0x80;
pub const CLONE_NEWNS: u64 = 0x0002_0000;
pub const CLONE_NEWCGROUP: u64 = 0x0200_0000;
pub const CLONE_NEWUTS: u64 = 0x0400_0000;
pub const CLONE_NEWIPC: u64 = 0x0800_0000;
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
pub const CLONE_NEWPID: u64 = 0x2000_0000;
pub const CLONE_NEWNET: u64 = 0x4000_0000;
const CLONE_PIDFD: u64 = 0x1000;
const CLONE_PARENT: u64 = 0x8000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// What a fork-like clone returned on the parent's side.
pub struct Child {
    pub pid: i32,
    pub pidfd: Option<OwnedFd>,
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Forks into new namespaces (`ns_flags`, CLONE_NEW*), optionally straight
/// into a cgroup2 directory, and returns `None` in the child. The child runs
/// on a copy of the caller's stack, like fork(2): berth is single-threaded,
/// so no lock can be held by a thread that does not exist in the child.
pub fn clone_fork(
    ns_flags: u64,
    cgroup: Option<BorrowedFd>,
    as_sibling: bool,
) -> io::Result<Option<Child>> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: ns_flags | CLONE_PIDFD | if as_sibling { CLONE_PARENT } else { 0 },
        pidfd: &mut pidfd as *mut RawFd as u64,
        // clone3 wants no exit signal with CLONE_PARENT: the sibling takes
        // the caller's, SIGCHLD, so the parent can wait for it as usual.
        exit_signal: if as_sibling { 0 } else { libc::SIGCHLD as u64 },
        ..Default::default()
    };
    if let Some(cg) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cg.as_raw_fd() as u64;
    }
    // SAFETY: clone3 with no stack behaves like fork; `args` outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            size_of::<CloneArgs>(),
        )
    };
    let r = if r < 0
        && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS)
        && cgroup.is_none()
    {
        // clone3 hidden by a seccomp filter (an older Docker profile): plain clone.
        let flags = (ns_flags | if as_sibling { CLONE_PARENT } else { 0 }) as libc::c_ulong
            | libc::SIGCHLD as libc::c_ulong;
        pidfd = -1;
        // SAFETY: a null stack makes clone behave like fork on x86_64 and aarch64.
        unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) }
    } else {
        r
    };
    match r {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some(Child {
            pid: pid as i32,
            // SAFETY: the kernel wrote a fresh pidfd that nothing else owns.
            pidfd: (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) }),
        })),
    }
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// struct mount_attr of mount_setattr(2).
#[repr(C)]
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// mount_setattr(2) on the mount an fd refers to (AT_EMPTY_PATH).
pub fn mount_setattr(fd: BorrowedFd, recursive: bool, attr: &MountAttr) -> io::Result<()> {
    let flags = libc::AT_EMPTY_PATH as u32
        | if recursive {
            libc::AT_RECURSIVE as u32
        } else {
            0
        };
    // SAFETY: the path is a valid empty C string and `attr` a valid struct of the given size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The CLONE_NEW* type of a namespace file (NS_GET_NSTYPE).
pub fn ns_type(fd: BorrowedFd) -> io::Result<u64> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as u64)
    }
}

/// Marks every fd from `first` upwards close-on-exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes fd flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;

/// A seccomp filter as seccomp(2) takes it: BPF instructions and the
/// SECCOMP_FILTER_FLAG_* to install it with (seccomp/ compiles it).
#[derive(Debug, Clone)]
pub struct SeccompFilter {
    pub bpf: Vec<libc::sock_filter>,
    pub flags: u32,
}

impl SeccompFilter {
    /// Has notify rules: installing it returns a listener fd.
    pub fn notify(&self) -> bool {
        self.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
    }
}

/// Installs the filter on this process (the container process, last thing
/// before exec). Needs no_new_privs or CAP_SYS_ADMIN. With notify rules,
/// returns the listener fd.
pub fn install_seccomp(f: &SeccompFilter) -> Result<Option<OwnedFd>, SysError> {
    const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
    let prog = libc::sock_fprog {
        len: f.bpf.len() as u16,
        filter: f.bpf.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at the program, which outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            f.flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error()).sys("install", "seccomp filter");
    }
    // SAFETY: with NEW_LISTENER the kernel returned a new fd.
    Ok(f.notify()
        .then(|| unsafe { OwnedFd::from_raw_fd(r as i32) }))
}

/// Whether this kernel takes these SECCOMP_FILTER_FLAG_* bits, asked as
/// runc and libseccomp ask: seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL)
/// checks the flags first (EINVAL for one it does not know, or a
/// combination it refuses), then fails to read the NULL program (EFAULT).
/// Nothing is installed, and it needs no privilege.
pub fn seccomp_flags_supported(flags: u32) -> bool {
    const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
    // SAFETY: a NULL program, which the kernel only tries to read.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// Sends one fd with a name as data (SCM_RIGHTS), the way runc's
/// utils.SendFd does: the pty master, the seccomp listener, the sync
/// channel's fds.
pub fn send_fd(socket: BorrowedFd, name: &[u8], fd: BorrowedFd) -> Result<(), SysError> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        socket,
        &[std::io::IoSlice::new(name)],
        &mut control,
        SendFlags::empty(),
    )
    .sys("send", "pty master to the console socket")?;
    Ok(())
}

/// Receives the fd `send_fd` sent (berth relaying a terminal itself).
pub fn recv_fd(socket: BorrowedFd) -> Result<OwnedFd, SysError> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 256];
    rustix::net::recvmsg(
        socket,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .sys("receive", "pty master")?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err(SysError::new(
        "receive",
        "pty master",
        std::io::Error::other("no fd in the message"),
    ))
}

/// execveat(2) of the program open at `fd` (AT_EMPTY_PATH); returns only
/// on failure, with the error.
pub fn execveat(
    fd: BorrowedFd,
    argv: &[std::ffi::CString],
    envp: &[std::ffi::CString],
) -> io::Error {
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of pointers into CStrings that outlive
    // the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv_p.as_ptr(),
            envp_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

/// Sends signal `sig` (any number, real-time ones too, which rustix's
/// Signal may not carry) to the process of `pidfd`.
pub fn pidfd_send_signal(pidfd: BorrowedFd, sig: i32) -> io::Result<()> {
    // SAFETY: pidfd_send_signal with a valid pidfd and no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// ioprio_set(2) of this process (IOPRIO_WHO_PROCESS, 0).
pub fn ioprio_set(value: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// struct sched_attr of sched_setattr(2).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// sched_setattr(2) of this thread.
pub fn sched_setattr(a: &SchedAttr) -> io::Result<()> {
    // SAFETY: `a` is a valid sched_attr of the size it states.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, a as *const SchedAttr, 0) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
const KEYCTL_DESCRIBE: libc::c_long = 6;

/// Joins a new session keyring called `name`; its serial.
pub fn keyctl_join_session_keyring(name: &std::ffi::CStr) -> io::Result<i64> {
    // SAFETY: keyctl with a valid C string.
    let serial =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if serial < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(serial)
    }
}

/// The key's description ("type;uid;gid;perm;description") into `buf`;
/// its whole length, which may be more than `buf` holds.
pub fn keyctl_describe(serial: i64, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the buffer and its length are valid.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            serial,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

pub fn keyctl_setperm(serial: i64, perm: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, serial, perm) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// bpf(2) with `cmd` and its attribute union.
pub fn bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> io::Result<i64> {
    // SAFETY: `attr` is a zero-filled union large enough for the commands used.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Restores default dispositions and an empty mask, so the user's program
/// starts as if from a clean exec (Rust ignores SIGPIPE; `run` blocks the
/// signals it forwards).
pub fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: an empty, initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Writes the mappings of the user namespace `pid` is in, from outside it.
pub fn write_id_maps(pid: i32, uid_map: &str, gid_map: &str) -> Result<(), SysError> {
    let f = format!("/proc/{pid}/uid_map");
    std::fs::write(&f, uid_map).sys("write", &f)?;
    let f = format!("/proc/{pid}/gid_map");
    std::fs::write(&f, gid_map).sys("write", &f)
}

/// The process's start time in clock ticks since boot (field 22 of
/// /proc/PID/stat), which tells a pid apart from a later reuse of it, and
/// its state letter (Z for a zombie).
pub fn proc_stat(pid: i32) -> io::Result<(u64, char)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // comm may hold spaces and parentheses: parse after the last ')'.
    let rest = s
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("bad /proc stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first().and_then(|f| f.chars().next()).unwrap_or('?');
    let start = fields
        .get(19)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| io::Error::other("bad /proc stat"))?;
    Ok((start, state))
}

/// Where a process that does not finish is in the kernel, for the errors
/// of waits that hit their bound: "1234 (cat, state D, waiting in
/// request_wait_answer; stack: a < b < c)". None once it is gone.
pub fn proc_waits(pid: i32) -> Option<String> {
    let (_, state) = proc_stat(pid).ok()?;
    let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap_or_default();
    let comm = read("comm");
    let wchan = read("wchan");
    // Innermost first, without the system call's entry frames.
    let stack_text = read("stack");
    let stack: Vec<&str> = stack_text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.split('+').next())
        .filter(|f| !f.starts_with("entry_SYSCALL") && !f.starts_with("do_syscall"))
        .take(4)
        .collect();
    let mut out = format!("{pid} ({}, state {state}", comm.trim());
    match wchan.trim() {
        "" | "0" => {}
        w => out.push_str(&format!(", waiting in {w}")),
    }
    if !stack.is_empty() {
        out.push_str(&format!("; stack: {}", stack.join(" < ")));
    }
    out.push(')');
    Some(out)
}

/// prlimit(2) of this process, for any RLIMIT_* number (rustix's Resource
/// has no room for one the kernel adds later).
pub fn set_rlimit(resource: u32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: pid 0 is this process; `lim` is a valid rlimit64.
    let r = unsafe {
        libc::prlimit64(
            0,
            resource as libc::__rlimit_resource_t,
            &lim,
            std::ptr::null_mut(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// personality(2) of this process.
pub fn set_personality(persona: u64) -> io::Result<()> {
    // SAFETY: personality takes an integer.
    let r = unsafe { libc::personality(persona as libc::c_ulong) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// set_mempolicy(2) of this process: `mask` holds the node bits (empty for
/// none).
pub fn set_mempolicy(mode: i32, mask: &[libc::c_ulong]) -> io::Result<()> {
    let maxnode = (mask.len() * libc::c_ulong::BITS as usize) as libc::c_ulong;
    let ptr = if mask.is_empty() {
        std::ptr::null()
    } else {
        mask.as_ptr()
    };
    // SAFETY: ptr points at maxnode bits (or is null with maxnode 0).
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Blocks every signal but `keep` in this process and returns a signalfd
/// that reads them.
pub fn block_signals_into_fd(keep: &[i32]) -> io::Result<OwnedFd> {
    // SAFETY: plain sigset manipulation on a zeroed set; the fd signalfd
    // returns is new and ours.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for s in keep {
            libc::sigdelset(&mut set, *s);
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// The next signal a signalfd holds, by number; None if it held none.
pub fn read_signalfd(fd: BorrowedFd) -> Option<i32> {
    // SAFETY: an all-zero siginfo is a valid value of the plain C struct.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: reading one siginfo into a buffer of its size.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            &mut info as *mut _ as *mut libc::c_void,
            size,
        )
    };
    (n == size as isize).then_some(info.ssi_signo as i32)
}

/// Waits until a signal ends this process.
pub fn pause_forever() -> ! {
    loop {
        // SAFETY: pause has no arguments.
        unsafe { libc::pause() };
    }
}
