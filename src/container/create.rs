//! `create`, berth's side: plan, state directory, cgroup, one clone, then
//! answer the container process until it is ready. Every failure undoes
//! what was made: the process is killed, the cgroup and state removed.

use super::ContainerError;
use super::dir::{EXEC_FIFO, StateDir};
use super::failure::Stage;
use super::init::{self, InitContext};
use super::plan::ContainerPlan;
use super::rootless::{limits_without_cgroup, make_cgroup, own_cgroup_views, write_id_maps};
use super::shared::{Mode, connect, poststart, write_pid_file};
use super::state::{Phase, State, Status};
use super::sync::{self, Channel, Msg};
use crate::cgroups::{self, CgroupManager};
use crate::error::{SysContext, SysError};
use crate::syscall::{self, CLONE_NEWUSER};
use rustix::fs::{Mode as FsMode, OFlags};
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub root: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub mode: Mode,
    /// --rootless (or its auto): a cgroup berth may not create is none.
    pub rootless_cgroups: bool,
    /// `run` in the foreground: with process.terminal and no console
    /// socket, berth relays the terminal itself.
    pub relay_terminal: bool,
    /// --systemd-cgroup: systemd owns the cgroup, as a scope unit.
    pub systemd_cgroup: bool,
}

/// A container that is created and waits to be started.
pub struct Created {
    pub dir: StateDir,
    pub state: State,
    pub pidfd: OwnedFd,
    /// The sync channel, kept open in Foreground mode to start the process.
    pub channel: Option<Channel>,
    /// The pty master when berth relays the terminal.
    pub master: Option<OwnedFd>,
}

/// What a failed create must undo, undone on drop unless disarmed.
struct Undo {
    dir: Option<StateDir>,
    cgroup: Option<cgroups::Manager>,
    child: Option<i32>,
    /// Set when a create-time hook failed: the spec then runs poststop.
    poststop: Option<(oci_spec::runtime::Hooks, String)>,
    /// The rootfs and its mount id, when the mounts land on the host.
    host_mounts: Option<(PathBuf, u64)>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.child.take()
            && let Some(pid) = Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
        }
        if let Some((rootfs, before)) = self.host_mounts.take() {
            crate::mounts::detach_from_host(&rootfs, before);
        }
        if let Some(cg) = self.cgroup.take()
            && let Err(e) = cg.destroy()
        {
            crate::logging::warn(&format!("cleanup: {e}"));
        }
        if let Some((hooks, state)) = self.poststop.take() {
            crate::hooks::run_all_warn(
                "poststop",
                hooks.poststop().as_deref().unwrap_or(&[]),
                &state,
            );
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}

pub fn create(opts: CreateOpts) -> Result<Created, ContainerError> {
    super::dir::validate_id(&opts.id)?;
    let bundle = std::fs::canonicalize(&opts.bundle).sys("bundle", opts.bundle.display())?;
    let spec = crate::config::load(&bundle)?;
    let mut plan = ContainerPlan::new(
        &spec,
        &opts.id,
        bundle.clone(),
        opts.no_pivot,
        opts.preserve_fds,
        opts.systemd_cgroup,
    )?;
    check_terminal(&plan, &opts)?;
    let pid_file = opts.pid_file.as_ref().map(|p| absolute(p)).transpose()?;

    let rootless = super::rootless::rootless();
    let dir = StateDir::create(&opts.root, &opts.id)?;
    let mut state = State {
        id: opts.id.clone(),
        pid: 0,
        start_time: 0,
        phase: Phase::Creating,
        bundle: bundle.display().to_string(),
        rootfs: plan.rootfs.rootfs.display().to_string(),
        created: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
        annotations: plan.annotations.clone(),
        cgroup_path: plan.cgroup_path.clone(),
        systemd: plan.systemd.clone(),
        hooks: plan.hooks.clone(),
        pid_ns: plan.pid_ns(),
        host_mounts: if plan.rootfs.mount_ns {
            None
        } else {
            crate::mounts::mount_id(&plan.rootfs.rootfs)
        },
        process: spec.process().clone(),
        seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
        memory_policy: spec
            .linux()
            .as_ref()
            .and_then(|l| l.memory_policy().clone()),
        namespaces: plan.ns.proc_names(),
        resctrl: plan.rdt.as_ref().map(|r| r.state()),
    };
    // Saved before the cgroup and the process exist, so that whatever a
    // kill -9 of this berth leaves, delete --force finds and removes.
    dir.save(&state)?;
    let mut undo = Undo {
        dir: Some(dir),
        cgroup: None,
        child: None,
        poststop: None,
        host_mounts: state.host_mounts.map(|m| (plan.rootfs.rootfs.clone(), m)),
    };

    let cgroup = match &plan.systemd {
        Some(unit) => cgroups::systemd_manager(unit.clone(), plan.systemd_properties.clone())?,
        None => cgroups::manager(&plan.cgroup_path)?,
    };
    let cgroup = match make_cgroup(cgroup, &plan.cgroup_path, &opts.id, opts.rootless_cgroups)? {
        Some(cg) => {
            let cg = &*undo.cgroup.insert(cg);
            cg.check(&plan.resources, &plan.device_rules)?;
            plan.rootfs.cgroup_views = cg.views().into_iter().map(cgroup_view).collect();
            Some(cg)
        }
        None => {
            limits_without_cgroup(&plan.resources)?;
            state.cgroup_path.clear();
            let views = own_cgroup_views()?;
            plan.rootfs.cgroup_views = views.into_iter().map(cgroup_view).collect();
            None
        }
    };
    plan.rootfs.prepare_idmaps(&plan.uid_map, &plan.gid_map)?;

    let dir = undo.dir.as_ref().expect("set above");
    let state_dir_fd = match opts.mode {
        Mode::Detached => {
            let fifo = dir.path.join(EXEC_FIFO);
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &fifo,
                rustix::fs::FileType::Fifo,
                FsMode::from_raw_mode(0o622),
                0,
            )
            .sys("mkfifo", fifo.display())?;
            // mknod honours the umask; the container's user must be able to write.
            std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
                .sys("chmod", fifo.display())?;
            Some(
                rustix::fs::open(
                    &dir.path,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    FsMode::empty(),
                )
                .sys("open", dir.path.display())?,
            )
        }
        Mode::Foreground => None,
    };
    // The console socket the pty master goes to: the client's, or, when
    // berth relays the terminal itself, one end of a pair it keeps.
    let mut relay = None;
    let console = match &opts.console_socket {
        Some(p) => Some(connect(p)?),
        None if plan.process.terminal => {
            let (a, b) = rustix::net::socketpair(
                rustix::net::AddressFamily::UNIX,
                rustix::net::SocketType::STREAM,
                rustix::net::SocketFlags::CLOEXEC,
                None,
            )
            .sys("socketpair", "terminal")?;
            relay = Some(a);
            Some(b)
        }
        None => None,
    };
    let (ours, theirs) = sync::pair()?;
    let into = cgroup.and_then(|cg| cg.clone_into());
    let child = syscall::clone_fork(
        plan.ns.clone_flags(),
        into.as_ref().map(|f| f.as_fd()),
        false,
    )
    .sys("clone", "container process")?;
    let Some(child) = child else {
        // The container process. It never returns.
        drop(ours);
        init::run(InitContext {
            plan: &plan,
            channel: theirs,
            lock: &dir.fd,
            console,
            state_dir: state_dir_fd,
            mode: opts.mode,
            new_keyring: !opts.no_new_keyring,
            rootless,
        })
    };
    drop(theirs);
    drop(console);
    undo.child = Some(child.pid);
    let mut pid = child.pid;
    let mut pidfd = match child.pidfd {
        Some(fd) => fd,
        None => pidfd_open(pid)?,
    };
    record_pid(&mut state, pid, dir)?;

    if let Some(adj) = plan.process.oom_score_adj {
        let f = format!("/proc/{pid}/oom_score_adj");
        std::fs::write(&f, adj.to_string()).sys("write", &f)?;
    }
    // A rootless berth may not write the maps of a process that is not
    // dumpable (its /proc files are root's): that process asks for them
    // once it has made itself dumpable.
    if plan.ns.clone_flags() & CLONE_NEWUSER != 0 && !rootless {
        write_id_maps(pid, &plan.uid_map, &plan.gid_map, false)?;
    }
    let rdt = super::resctrl::apply(plan.rdt.as_ref(), pid)?;
    ours.send(&Msg::Go)?;
    // Moving a task into a v1 cgroup waits for an RCU grace period (the
    // kernel's cgroup_threadgroup_rwsem): done while the process already
    // mounts its root filesystem, on the other CPU. It waits for Placed
    // before anything that needs its cgroup.
    if let (Some(cg), None) = (cgroup, &into) {
        cg.add_process(pid)?;
    }
    // A child that already failed has closed its end: its error waits below.
    let _ = ours.send(&Msg::Placed);

    loop {
        let msg = ours.recv()?;
        match msg {
            Some(Msg::MapsPlease) => {
                write_id_maps(pid, &plan.uid_map, &plan.gid_map, rootless)?;
                ours.send(&Msg::MapsDone)?;
            }
            Some(Msg::SourcesPlease) => {
                for (i, fd) in crate::mounts::open_sources(&plan.rootfs, pid) {
                    let msg = Msg::Source(i as i32);
                    match fd {
                        Some(fd) => ours.send_fd(&msg, fd.as_fd())?,
                        None => ours.send(&msg)?,
                    }
                }
            }
            Some(Msg::Pid(p)) => {
                // The first process forked the real one and exits.
                let _ = rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty());
                pid = p;
                undo.child = Some(pid);
                pidfd = pidfd_open(pid)?;
                record_pid(&mut state, pid, dir)?;
            }
            Some(Msg::RootfsReady) => {
                super::netdev::move_into(&plan.net_devices, pid)?;
                let oci = state.oci(Status::Creating).json();
                if let Some(h) = &plan.hooks {
                    #[allow(deprecated)]
                    let prestart = h.prestart().as_deref().unwrap_or(&[]);
                    let result = crate::hooks::run_all("prestart", prestart, &oci).and_then(|_| {
                        crate::hooks::run_all(
                            "createRuntime",
                            h.create_runtime().as_deref().unwrap_or(&[]),
                            &oci,
                        )
                    });
                    if let Err(e) = result {
                        undo.poststop = Some((h.clone(), state.oci(Status::Stopped).json()));
                        return Err(e.into());
                    }
                }
                ours.send(&Msg::HooksDone(pid))?;
            }
            Some(Msg::SeccompFd) => {
                let (fd, prog) = (ours.take_fd(), plan.seccomp.as_ref());
                if let (Some(fd), Some((path, meta))) = (fd, prog.and_then(|p| p.listener.as_ref()))
                {
                    crate::seccomp::send_to_listener(
                        path,
                        meta,
                        pid,
                        state.oci(Status::Creating),
                        fd.as_fd(),
                    )?;
                }
            }
            Some(Msg::Ready) => {
                // Limits go on now that berth's own work in the container is
                // done: what it used while setting up (a page here, a fork
                // there) counts against nothing the user asked for, and the
                // user's program starts under every limit.
                if let Some(cg) = cgroup {
                    cg.apply(&plan.resources, &plan.device_rules)?;
                }
                break;
            }
            Some(Msg::Error(failure)) => {
                // The spec runs poststop once a createContainer hook failed.
                if failure.stage == Stage::CreateContainerHook
                    && let Some(h) = &plan.hooks
                {
                    undo.poststop = Some((h.clone(), state.oci(Status::Stopped).json()));
                }
                return Err(ContainerError::Process {
                    id: opts.id.clone(),
                    failure,
                });
            }
            Some(other) => {
                return Err(ContainerError::Protocol {
                    id: opts.id.clone(),
                    got: format!("{other:?}"),
                });
            }
            None => {
                return Err(ContainerError::ProcessEnded {
                    id: opts.id.clone(),
                    how: exit_text(pid),
                });
            }
        }
    }

    state.phase = Phase::Created;
    dir.save(&state)?;
    crate::logging::debug(&format!(
        "container {} created: pid {pid}, cgroup {}",
        state.id, state.cgroup_path
    ));
    if let Some(p) = &pid_file {
        write_pid_file(p, pid)?;
    }
    let master = relay
        .map(|r| crate::syscall::recv_fd(r.as_fd()))
        .transpose()?;
    rdt.keep();
    undo.child = None;
    undo.cgroup = None;
    undo.host_mounts = None;
    let dir = undo.dir.take().expect("set above");
    Ok(Created {
        dir,
        state,
        pidfd,
        channel: (opts.mode == Mode::Foreground).then_some(ours),
        master,
    })
}

fn check_terminal(plan: &ContainerPlan, opts: &CreateOpts) -> Result<(), ContainerError> {
    match (
        plan.process.terminal,
        opts.console_socket.is_some(),
        opts.mode,
    ) {
        (true, false, Mode::Detached) => Err(ContainerError::Usage(
            "process.terminal is set: create needs --console-socket to hand the terminal to".into(),
        )),
        (true, false, Mode::Foreground) if !opts.relay_terminal => Err(ContainerError::Usage(
            "process.terminal is set: run --detach needs --console-socket to hand the terminal to"
                .into(),
        )),
        (false, true, _) => Err(ContainerError::Usage(
            "--console-socket is given but process.terminal is false: there is no terminal to send"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// cgroups' view of a hierarchy as the mount plan takes it: the two pieces
/// know nothing of each other.
fn cgroup_view(v: cgroups::View) -> crate::mounts::CgroupView {
    crate::mounts::CgroupView {
        name: v.name,
        host_path: v.host_path,
        fstype: v.fstype,
        options: v.options,
    }
}

fn absolute(p: &Path) -> Result<PathBuf, ContainerError> {
    Ok(std::path::absolute(p).sys("resolve", p.display())?)
}

fn pidfd_open(pid: i32) -> Result<OwnedFd, SysError> {
    rustix::process::pidfd_open(
        Pid::from_raw(pid).expect("positive pid"),
        PidfdFlags::empty(),
    )
    .sys("pidfd_open", pid)
}

fn record_pid(state: &mut State, pid: i32, dir: &StateDir) -> Result<(), ContainerError> {
    state.pid = pid;
    state.start_time = syscall::proc_stat(pid)
        .map(|(t, _)| t)
        .sys("read start time of", pid)?;
    dir.save(state)
}

/// Why the container process went away without a word.
fn exit_text(pid: i32) -> String {
    match rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty()) {
        Ok(Some((_, st))) => match (st.exit_status(), st.terminating_signal()) {
            (Some(c), _) => {
                format!("the container process exited with status {c} before it was ready")
            }
            (_, Some(s)) => {
                format!("the container process was killed by signal {s} before it was ready")
            }
            _ => "the container process ended before it was ready".into(),
        },
        _ => "the container process ended before it was ready".into(),
    }
}

/// `run`'s start: over the sync channel instead of exec.fifo.
pub fn wait_started(created: &mut Created) -> Result<(), ContainerError> {
    let ch = created.channel.take().expect("run keeps the channel");
    ch.send(&Msg::Start)?;
    match ch.recv()? {
        None => {}
        Some(Msg::Error(failure)) => {
            return Err(ContainerError::Process {
                id: created.state.id.clone(),
                failure,
            });
        }
        Some(m) => {
            return Err(ContainerError::Protocol {
                id: created.state.id.clone(),
                got: format!("{m:?}"),
            });
        }
    }
    created.state.phase = Phase::Started;
    created.dir.save(&created.state)?;
    crate::logging::debug(&format!("container {} started", created.state.id));
    poststart(&created.state);
    Ok(())
}
