//! `exec`: a new process in a running container. berth forks it into the
//! container's cgroup (and, set for its children beforehand, its pid and
//! time namespaces); the process joins the other namespaces, takes the
//! container's root and its own cwd, user, capabilities, limits and the
//! container's seccomp filter, and execs. Many at once are fine: exec
//! takes no lock, it only reads the state.

use super::ContainerError;
use super::dir;
use super::failure::{At, Failure, Stage};
use super::shared::{connect, pidfd, write_pid_file};
use super::state::Status;
use super::sync::{self, Channel, Msg};
use crate::cgroups::{self, CgroupManager};
use crate::error::SysContext;
use crate::mounts::open_in_root;
use crate::process::{ProcessPlan, terminal};
use crate::syscall;
use oci_spec::runtime::Process;
use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions};
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
    dir::validate_id(id)?;
    let state = dir::load(&root.join(id))?;
    let status = state.status();
    // A created container's namespaces are all there (its process waits
    // for start after its last setup step), and runc execs into it too.
    match status {
        Status::Running | Status::Created => {}
        Status::Paused if opts.ignore_paused => {}
        _ => {
            return Err(ContainerError::WrongStatus {
                id: id.into(),
                op: "exec in",
                status,
            });
        }
    }
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
    let pid_pidfd = pidfd(&state)?;
    // The namespaces, opened while the container process is known to be ours.
    let mut later = Vec::new();
    // A rootless berth has no power over the container's pid namespace
    // until it is in the user namespace that owns it (listed first): it
    // joins that one itself too, as it is this process's own user's.
    let rootless = super::rootless::rootless();
    for name in &state.namespaces {
        let p = format!("/proc/{}/ns/{name}", state.pid);
        let fd = rustix::fs::open(&p, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .sys("open", &p)?;
        if name == "pid" || name == "time" || (name == "user" && rootless) {
            // These apply to children: set here, before the fork.
            rustix::thread::move_into_link_name_space(fd.as_fd(), None).sys("setns", &p)?;
        } else {
            later.push(fd);
        }
    }
    if !state.alive() {
        return Err(ContainerError::WrongStatus {
            id: id.into(),
            op: "exec in",
            status: Status::Stopped,
        });
    }
    drop(pid_pidfd);
    let mut cg_path = state.cgroup_path.clone();
    if let Some(sub) = &opts.cgroup {
        if sub.split('/').any(|c| c == "..") {
            return Err(ContainerError::Usage(format!(
                "--cgroup {sub}: must stay inside the container's cgroup"
            )));
        }
        if cg_path.is_empty() {
            return Err(ContainerError::NoCgroup {
                id: id.into(),
                op: "exec --cgroup in",
            });
        }
        cg_path = format!("{cg_path}/{}", sub.trim_matches('/'));
    }
    // A rootless container without a cgroup: the process stays in berth's.
    let cgroup = match cg_path.is_empty() {
        true => None,
        false => Some(cgroups::manager(&cg_path)?),
    };
    let (relay, console) = console(&opts, &plan)?;
    let (ours, theirs) = sync::pair()?;
    let into = cgroup.as_ref().and_then(|cg| cg.clone_into());
    let child = syscall::clone_fork(0, into.as_ref().map(|f| f.as_fd()), false)
        .sys("clone", "exec process")?;
    let Some(child) = child else {
        drop(ours);
        let filter = seccomp.as_ref().map(|p| &p.filter);
        let failure = match child_setup(&theirs, &later, &plan, console, filter) {
            Ok(program) => match plan.seccomp_late(filter) {
                Ok(()) => Failure::new(Stage::Exec, &plan.exec(&program)),
                Err(e) => Failure::new(Stage::Process, &e),
            },
            Err(f) => f,
        };
        let _ = theirs.send(&Msg::Error(failure));
        // SAFETY: this forked process ends here.
        unsafe { libc::_exit(255) }
    };
    drop(theirs);
    let pid = child.pid;
    let kill = || {
        let p = Pid::from_raw(pid).expect("positive pid");
        let _ = rustix::process::kill_process(p, Signal::KILL);
        let _ = rustix::process::waitpid(Some(p), WaitOptions::empty());
    };
    let result = (|| -> Result<Option<OwnedFd>, ContainerError> {
        if let (Some(cg), None) = (&cgroup, &into) {
            cg.add_process(pid)?;
        }
        super::resctrl::join(state.resctrl.as_ref(), pid)?;
        ours.send(&Msg::Go)?;
        let mut msg = ours.recv()?;
        if msg == Some(Msg::SeccompFd) {
            let listener = seccomp.as_ref().and_then(|p| p.listener.as_ref());
            if let (Some(fd), Some((path, meta))) = (ours.take_fd(), listener) {
                crate::seccomp::send_to_listener(
                    path,
                    meta,
                    pid,
                    state.oci(Status::Running),
                    fd.as_fd(),
                )?;
            }
            msg = ours.recv()?;
        }
        match msg {
            None => {}
            Some(Msg::Error(failure)) => {
                return Err(ContainerError::Process {
                    id: id.into(),
                    failure,
                });
            }
            Some(m) => {
                return Err(ContainerError::Protocol {
                    id: id.into(),
                    got: format!("{m:?}"),
                });
            }
        }
        Ok(relay
            .map(|r| crate::syscall::recv_fd(r.as_fd()))
            .transpose()?)
    })();
    let master = match result {
        Ok(m) => m,
        Err(e) => {
            kill();
            return Err(e);
        }
    };
    let pidfd = match child.pidfd {
        Some(fd) => fd,
        None => {
            rustix::process::pidfd_open(Pid::from_raw(pid).expect("positive"), PidfdFlags::empty())
                .sys("pidfd_open", pid)?
        }
    };
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    Ok(Execed { pid, pidfd, master })
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
    let (a, b) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .sys("socketpair", "terminal")?;
    Ok((Some(a), Some(b)))
}

/// In the forked process: namespaces, root and cwd, terminal, then the
/// process's own settings. Returns the program to exec.
fn child_setup(
    ch: &Channel,
    namespaces: &[OwnedFd],
    plan: &ProcessPlan,
    console: Option<OwnedFd>,
    seccomp: Option<&crate::syscall::SeccompFilter>,
) -> Result<crate::process::exec::Executable, Failure> {
    if let Some(cpus) = &plan.affinity_initial {
        crate::process::sched::set_affinity(cpus).at(Stage::Affinity)?;
    }
    match ch.recv().at(Stage::Sync)? {
        Some(Msg::Go) => {}
        // SAFETY: berth is gone; so is this process.
        _ => unsafe { libc::_exit(255) },
    }
    for fd in namespaces {
        rustix::thread::move_into_link_name_space(fd.as_fd(), None)
            .sys("setns", "container namespace")
            .at(Stage::Namespaces)?;
    }
    // Entering the mount namespace made its root ours; the cwd is resolved
    // in it and checked to lie inside it.
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .sys("open", "/")
    .at(Stage::Cwd)?;
    let cwd = open_in_root(root.as_fd(), &plan.cwd, OFlags::DIRECTORY)
        .sys("chdir", plan.cwd.display())
        .at(Stage::Cwd)?;
    rustix::process::fchdir(&cwd)
        .sys("chdir", plan.cwd.display())
        .at(Stage::Cwd)?;
    if let Some(sock) = console {
        let slave =
            terminal::setup(sock.as_fd(), plan.console_size, |_| Ok(())).at(Stage::Terminal)?;
        terminal::become_controlling(slave).at(Stage::Terminal)?;
    }
    plan.apply(seccomp, None, |fd| ch.send_fd(&Msg::SeccompFd, fd.as_fd()))
        .at(Stage::Process)
}
