//! `exec`: a new process in a running container. berth forks it into the
//! container's cgroup (and, set for its children beforehand, its pid and
//! time namespaces); the process joins the other namespaces, takes the
//! container's root and its own cwd, user, capabilities, limits and the
//! container's seccomp filter, and execs. Many at once are fine: exec
//! takes no lock, it only reads the state.

use super::ContainerError;
use super::child::{self, Heard, Inbox, R, Role};
use super::dir;
use super::failure::{At, Stage};
use super::patience::Patience;
use super::shared::{connect, pidfd, pidfd_of, terminal_pair, write_pid_file};
use super::state::{State, Status};
use super::sync::{self, Channel, Msg};
use crate::cgroups::{self, CgroupManager};
use crate::error::SysContext;
use crate::mounts::open_in_root;
use crate::process::{ProcessPlan, terminal};
use crate::syscall::{self, SeccompFilter};
use oci_spec::runtime::Process;
use rustix::fs::{Mode, OFlags};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct ExecOpts {
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    /// A sub-cgroup of the container's to put the process in.
    pub cgroup: Option<String>,
}

/// A process that exec'd: berth may wait for it.
pub struct Execed {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub master: Option<OwnedFd>,
}

pub fn exec(root: &Path, id: &str, opts: ExecOpts) -> Result<Execed, ContainerError> {
    // To the exec of the program (the sync channel's EOF).
    let _phase = crate::logging::span("exec");
    dir::validate_id(id)?;
    let state = dir::load(&root.join(id))?;
    check_status(&state, &opts)?;
    let mut plan = ProcessPlan::from_process(&opts.process, opts.preserve_fds)?;
    plan.mempolicy = state
        .memory_policy
        .as_ref()
        .map(crate::process::mempolicy::from_spec)
        .transpose()?;
    let seccomp = state
        .seccomp
        .as_ref()
        .map(crate::seccomp::compile)
        .transpose()?;
    let namespaces = open_namespaces(&state)?;
    let cgroup = exec_cgroup(&state, &opts)?;
    let (relay, console) = console(&opts, &plan)?;
    let (ours, theirs) = sync::pair()?;
    let into = cgroup.as_ref().and_then(|cg| cg.clone_into());
    let child = syscall::clone_fork(0, into.as_ref().map(|f| f.as_fd()), false)
        .sys("clone", "exec process")?;
    let Some(child) = child else {
        drop(ours);
        child::run(
            theirs,
            ExecProcess {
                plan: &plan,
                namespaces: &namespaces,
                console,
                seccomp: seccomp.as_ref().map(|p| &p.filter),
            },
        )
    };
    drop(theirs);
    let pid = child.pid;
    let result = (|| -> Result<Option<OwnedFd>, ContainerError> {
        if let (Some(cg), None) = (&cgroup, &into) {
            cg.add_process(pid)?;
        }
        super::resctrl::join(state.resctrl.as_ref(), pid)?;
        ours.send(&Msg::Go)?;
        let listener = seccomp.as_ref().and_then(|p| p.listener.as_ref());
        answer_until_exec(&ours, &state, pid, listener)?;
        Ok(relay
            .map(|r| crate::syscall::recv_fd(r.as_fd()))
            .transpose()?)
    })();
    let master = match result {
        Ok(m) => m,
        Err(e) => {
            if let Some(left) = super::teardown::kill_child(pid) {
                crate::logging::warn(&format!("cleanup: {left}"));
            }
            return Err(e);
        }
    };
    let pidfd = match child.pidfd {
        Some(fd) => fd,
        None => pidfd_of(pid)?,
    };
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    Ok(Execed { pid, pidfd, master })
}

/// A created container's namespaces are all there (its process waits for
/// start after its last setup step), and runc execs into it too.
fn check_status(state: &State, opts: &ExecOpts) -> Result<(), ContainerError> {
    match state.status() {
        Status::Running | Status::Created => Ok(()),
        Status::Paused if opts.ignore_paused => Ok(()),
        status => Err(ContainerError::WrongStatus {
            id: state.id.clone(),
            op: "exec in",
            status,
        }),
    }
}

/// The container's namespaces, opened while its process is known to be
/// the container's (a pidfd held across the opens). Those that apply to
/// children (pid, time) are joined here, before the fork; so is the user
/// namespace by a rootless berth, which has no power over the pid
/// namespace until it is in the user namespace that owns it (listed
/// first), its own user's. The rest are returned, for the forked process.
fn open_namespaces(state: &State) -> Result<Vec<OwnedFd>, ContainerError> {
    let pid_pidfd = pidfd(state)?;
    let rootless = super::rootless::rootless();
    let mut later = Vec::new();
    for name in &state.namespaces {
        let p = format!("/proc/{}/ns/{name}", state.pid);
        let fd = rustix::fs::open(&p, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .sys("open", &p)?;
        if name == "pid" || name == "time" || (name == "user" && rootless) {
            rustix::thread::move_into_link_name_space(fd.as_fd(), None).sys("setns", &p)?;
        } else {
            later.push(fd);
        }
    }
    if !state.alive() {
        return Err(ContainerError::WrongStatus {
            id: state.id.clone(),
            op: "exec in",
            status: Status::Stopped,
        });
    }
    drop(pid_pidfd);
    Ok(later)
}

/// The container's cgroup, or --cgroup's sub-cgroup of it; none for a
/// rootless container without one (the process stays in berth's).
fn exec_cgroup(state: &State, opts: &ExecOpts) -> Result<Option<cgroups::Manager>, ContainerError> {
    let mut path = state.cgroup_path.clone();
    if let Some(sub) = &opts.cgroup {
        if sub.split('/').any(|c| c == "..") {
            return Err(ContainerError::Usage(format!(
                "--cgroup {sub}: must stay inside the container's cgroup"
            )));
        }
        if path.is_empty() {
            return Err(ContainerError::NoCgroup {
                id: state.id.clone(),
                op: "exec --cgroup in",
            });
        }
        path = format!("{path}/{}", sub.trim_matches('/'));
    }
    match path.is_empty() {
        true => Ok(None),
        false => Ok(Some(cgroups::manager(&path)?)),
    }
}

/// berth's side of the exec'd process's setup: its seccomp listener, if
/// any, goes to the agent; then EOF (it exec'd) or its failure.
fn answer_until_exec(
    ch: &Channel,
    state: &State,
    pid: i32,
    listener: Option<&(PathBuf, String)>,
) -> Result<(), ContainerError> {
    let heard = child::answer(ch, &state.id, &Patience::new(pid), |m| match m {
        Msg::SeccompFd => {
            child::forward_listener(ch, listener, pid, state.oci(Status::Running))?;
            Ok(None::<std::convert::Infallible>)
        }
        m => Err(child::unexpected(&state.id, m)),
    })?;
    match heard {
        Heard::Eof => Ok(()),
        Heard::Done(never) => match never {},
    }
}

/// --console-socket, or a pair berth keeps to relay the terminal itself.
fn console(
    opts: &ExecOpts,
    plan: &ProcessPlan,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>), ContainerError> {
    if !plan.terminal {
        if opts.console_socket.is_some() {
            return Err(ContainerError::Usage(
                "--console-socket is given but the process has no terminal (--tty)".into(),
            ));
        }
        return Ok((None, None));
    }
    if let Some(p) = &opts.console_socket {
        return Ok((None, Some(connect(p)?)));
    }
    if opts.detach {
        return Err(ContainerError::Usage(
            "--tty with --detach needs --console-socket to hand the terminal to".into(),
        ));
    }
    let (ours, theirs) = terminal_pair()?;
    Ok((Some(ours), Some(theirs)))
}

/// A process exec'd into the container: child.rs's flow in its second
/// role, which joins what the container's init made.
struct ExecProcess<'a> {
    plan: &'a ProcessPlan,
    namespaces: &'a [OwnedFd],
    console: Option<OwnedFd>,
    seccomp: Option<&'a SeccompFilter>,
}

impl Role for ExecProcess<'_> {
    const NAME: &'static str = "exec process";
    const FAILED: i32 = 255;

    fn process(&self) -> &ProcessPlan {
        self.plan
    }

    fn seccomp(&self) -> Option<&SeccompFilter> {
        self.seccomp
    }

    /// The container's namespaces, its root (entering the mount namespace
    /// made it ours) with the cwd resolved and checked to lie inside it,
    /// and the terminal; before them, the procfs for the LSM's writes.
    fn enter(&mut self, _inbox: &Inbox) -> R<Option<OwnedFd>> {
        let proc = lsm_proc(self.plan).at(Stage::Process)?;
        for fd in self.namespaces {
            rustix::thread::move_into_link_name_space(fd.as_fd(), None)
                .sys("setns", "container namespace")
                .at(Stage::Namespaces)?;
        }
        let cwd = &self.plan.cwd;
        let root = rustix::fs::open(
            "/",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .sys("open", "/")
        .at(Stage::Cwd)?;
        let dir = open_in_root(root.as_fd(), cwd, OFlags::DIRECTORY)
            .sys("chdir", cwd.display())
            .at(Stage::Cwd)?;
        rustix::process::fchdir(&dir)
            .sys("chdir", cwd.display())
            .at(Stage::Cwd)?;
        if let Some(sock) = self.console.take() {
            let slave = terminal::setup(sock.as_fd(), self.plan.console_size, |_| Ok(()))
                .at(Stage::Terminal)?;
            terminal::become_controlling(slave).at(Stage::Terminal)?;
        }
        Ok(proc)
    }
}

/// The procfs the AppArmor profile and SELinux label are written through,
/// when the process has either: an instance of the container's pid
/// namespace (this process is in it) mounted nowhere, made before the
/// process joins the container's mount namespace, so that no mount the
/// container made can redirect the write (CVE-2025-52881). Where berth may
/// not mount in its own mount namespace (rootless, in the container's user
/// namespace), it makes one of its own first, as create's process does.
fn lsm_proc(plan: &ProcessPlan) -> Result<Option<OwnedFd>, crate::error::SysError> {
    if plan.apparmor.is_none() && plan.selinux_label.is_none() {
        return Ok(None);
    }
    match crate::mounts::private_proc() {
        Err(e) if e.errno() == Some(libc::EPERM) => {
            crate::process::namespaces::unshare(&syscall::Kernel, syscall::CLONE_NEWNS)?;
            crate::mounts::private_proc().map(Some)
        }
        proc => proc.map(Some),
    }
}
