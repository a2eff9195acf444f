//! `create`, berth's side: plan, state directory, cgroup, one clone, then
//! answer the container process until it is ready. Every failure undoes
//! what was made: the process is killed, the cgroup and state removed.

use super::ContainerError;
use super::child::{self, Heard};
use super::dir::{EXEC_FIFO, StateDir};
use super::failure::Stage;
use super::init::{self, InitContext};
use super::patience::{EXEC, Patience};
use super::plan::ContainerPlan;
use super::rootless::{
    apply_resources, limits_without_cgroup, make_cgroup, own_cgroup_views, own_oom_score_adj,
    write_id_maps,
};
use super::shared::{Mode, connect, pidfd_of, poststart, terminal_pair, write_pid_file};
use super::state::{Phase, State, Status};
use super::sync::{self, Channel, Msg};
use crate::cgroups::{self, CgroupManager};
use crate::error::SysContext;
use crate::logging;
use crate::syscall::{self, CLONE_NEWUSER};
use rustix::fs::{Mode as FsMode, OFlags};
use rustix::process::{Pid, WaitOptions};
use std::convert::Infallible;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

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
        super::teardown::kill_or_keep(self.child.take(), &mut self.cgroup, &mut self.dir);
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

impl Undo {
    fn dir(&self) -> &StateDir {
        self.dir.as_ref().expect("kept until create succeeds")
    }
}

/// A container on its way to Created: what berth planned, the state it
/// records, and what a failure must undo.
struct Creating {
    plan: ContainerPlan,
    state: State,
    undo: Undo,
    rootless: bool,
}

/// The container process, as berth's side of create knows it.
struct Child {
    pid: i32,
    pidfd: OwnedFd,
    /// The sync channel's parent end.
    ch: Channel,
    /// The clone put it in its cgroup already.
    placed: bool,
}

pub fn create(opts: CreateOpts) -> Result<Created, ContainerError> {
    super::dir::validate_id(&opts.id)?;
    let pid_file = opts.pid_file.as_ref().map(|p| absolute(p)).transpose()?;
    let mut c = Creating::plan(&opts)?;
    let phase = logging::span("cgroup");
    c.open_cgroup(&opts)?;
    drop(phase);
    c.plan
        .rootfs
        .prepare_idmaps(&c.plan.uid_map, &c.plan.gid_map)?;
    let state_dir = exec_fifo(c.undo.dir(), opts.mode)?;
    // The console socket the pty master goes to: the client's, or, when
    // berth relays the terminal itself, one end of a pair it keeps.
    let (relay, console) = match &opts.console_socket {
        Some(p) => (None, Some(connect(p)?)),
        None if c.plan.process.terminal => {
            let (ours, theirs) = terminal_pair()?;
            (Some(ours), Some(theirs))
        }
        None => (None, None),
    };
    let phase = logging::span("clone");
    let mut child = c.spawn(&opts, console, state_dir)?;
    drop(phase);
    // Before the process goes on: what it forks inherits its resctrl group.
    let rdt = super::resctrl::apply(c.plan.rdt.as_ref(), child.pid)?;
    // The container process's own phases are logged by it.
    let phase = logging::span("container process setup");
    c.first_steps(&child)?;
    c.answer_until_ready(&mut child)?;
    drop(phase);
    let created = c.created(&opts, child, relay, pid_file.as_deref())?;
    rdt.keep();
    Ok(created)
}

impl Creating {
    /// Everything worked out before anything exists, then the state
    /// directory, saved before the cgroup and the process exist, so that
    /// whatever a kill -9 of this berth leaves, delete --force finds and
    /// removes.
    fn plan(opts: &CreateOpts) -> Result<Creating, ContainerError> {
        let phase = logging::span("config");
        let bundle = std::fs::canonicalize(&opts.bundle).sys("bundle", opts.bundle.display())?;
        let spec = crate::config::load(&bundle)?;
        let driver = cgroups::Driver::pick(opts.systemd_cgroup, opts.rootless_cgroups)?;
        let plan = ContainerPlan::new(
            &spec,
            &opts.id,
            bundle.clone(),
            opts.no_pivot,
            opts.preserve_fds,
            &driver,
        )?;
        check_terminal(&plan, opts)?;
        drop(phase);
        let phase = logging::span("state dir");
        let state = plan.initial_state(&spec);
        let dir = StateDir::create(&opts.root, &opts.id)?;
        dir.save(&state)?;
        drop(phase);
        let undo = Undo {
            dir: Some(dir),
            cgroup: None,
            child: None,
            poststop: None,
            host_mounts: state.host_mounts.map(|m| (plan.rootfs.rootfs.clone(), m)),
        };
        Ok(Creating {
            plan,
            state,
            undo,
            rootless: super::rootless::rootless(),
        })
    }

    /// The container's cgroup, checked against its limits before the
    /// process exists; or, rootless where berth may not make one, none, and
    /// the cgroup mounts show berth's own.
    fn open_cgroup(&mut self, opts: &CreateOpts) -> Result<(), ContainerError> {
        let plan = &mut self.plan;
        let cgroup = match &plan.systemd {
            Some(unit) => cgroups::systemd_manager(unit.clone(), plan.systemd_properties.clone())?,
            None => cgroups::manager(&plan.cgroup_path)?,
        };
        let views = match make_cgroup(cgroup, &plan.cgroup_path, &opts.id, opts.rootless_cgroups)? {
            Some(cg) => {
                let cg = &*self.undo.cgroup.insert(cg);
                cg.check(&plan.resources, &plan.device_rules)?;
                cg.views()
            }
            None => {
                limits_without_cgroup(&plan.resources)?;
                self.state.cgroup_path.clear();
                own_cgroup_views()?
            }
        };
        plan.rootfs.cgroup_views = views.into_iter().map(cgroup_view).collect();
        Ok(())
    }

    /// The one clone. The container process runs init.rs and never
    /// returns here.
    fn spawn(
        &mut self,
        opts: &CreateOpts,
        console: Option<OwnedFd>,
        state_dir: Option<OwnedFd>,
    ) -> Result<Child, ContainerError> {
        if let (true, Some(adj)) = (self.rootless, self.plan.process.oom_score_adj) {
            own_oom_score_adj(adj)?;
        }
        let (ours, theirs) = sync::pair()?;
        let into = self.undo.cgroup.as_ref().and_then(|cg| cg.clone_into());
        let child = syscall::clone_fork(
            self.plan.ns.clone_flags(),
            into.as_ref().map(|f| f.as_fd()),
            false,
        )
        .sys("clone", "container process")?;
        let Some(child) = child else {
            // Its end only: berth's going away must read as EOF there.
            drop(ours);
            init::run(
                theirs,
                InitContext {
                    plan: &self.plan,
                    lock: &self.undo.dir().fd,
                    console,
                    state_dir,
                    mode: opts.mode,
                    new_keyring: !opts.no_new_keyring,
                    rootless: self.rootless,
                },
            )
        };
        self.undo.child = Some(child.pid);
        let pidfd = match child.pidfd {
            Some(fd) => fd,
            None => pidfd_of(child.pid)?,
        };
        self.record_pid(child.pid)?;
        Ok(Child {
            pid: child.pid,
            pidfd,
            ch: ours,
            placed: into.is_some(),
        })
    }

    /// What the container process needs before it may go on: its
    /// oom_score_adj (a rootless berth's is inherited: `spawn`) and (from a root berth) its user namespace's maps;
    /// then, while it already sets up, its cgroup.
    fn first_steps(&self, child: &Child) -> Result<(), ContainerError> {
        let (plan, pid) = (&self.plan, child.pid);
        if let (false, Some(adj)) = (self.rootless, plan.process.oom_score_adj) {
            let f = format!("/proc/{pid}/oom_score_adj");
            std::fs::write(&f, adj.to_string()).sys("write", &f)?;
        }
        // A rootless berth may not write the maps of a process that is not
        // dumpable (its /proc files are root's): that process asks for them
        // once it has made itself dumpable.
        if plan.ns.clone_flags() & CLONE_NEWUSER != 0 && !self.rootless {
            write_id_maps(pid, &plan.uid_map, &plan.gid_map, false)?;
        }
        child.ch.send(&Msg::Go)?;
        // Moving a task into a v1 cgroup waits for an RCU grace period (the
        // kernel's cgroup_threadgroup_rwsem): done while the process already
        // mounts its root filesystem, on the other CPU. It waits for Placed
        // before anything that needs its cgroup.
        if let (Some(cg), false) = (&self.undo.cgroup, child.placed) {
            cg.add_process(pid)?;
        }
        // A child that already failed has closed its end: its error waits
        // in the channel.
        let _ = child.ch.send(&Msg::Placed);
        Ok(())
    }

    /// berth's side of the container process's setup (sync.rs): it answers
    /// what the process asks for until the process is Ready, or fails.
    fn answer_until_ready(&mut self, child: &mut Child) -> Result<(), ContainerError> {
        let id = self.state.id.clone();
        let patience = Patience::new(child.pid);
        let heard = child::answer(&child.ch, &id, &patience, |m| {
            self.answer(m, &child.ch, &patience, &mut child.pid, &mut child.pidfd)
        });
        match heard {
            Ok(Heard::Done(())) => Ok(()),
            Ok(Heard::Eof) => Err(ContainerError::ProcessEnded {
                id,
                how: exit_text(child.pid),
            }),
            Err(e) => {
                // The spec runs poststop once a createContainer hook failed.
                if let ContainerError::Process { failure, .. } = &e
                    && failure.stage == Stage::CreateContainerHook
                {
                    self.poststop_on_failure();
                }
                Err(e)
            }
        }
    }

    /// One message of the container process's, answered; Some once it is
    /// Ready.
    fn answer(
        &mut self,
        m: Msg,
        ch: &Channel,
        patience: &Patience,
        pid: &mut i32,
        pidfd: &mut OwnedFd,
    ) -> Result<Option<()>, ContainerError> {
        match m {
            Msg::MapsPlease => {
                let plan = &self.plan;
                write_id_maps(*pid, &plan.uid_map, &plan.gid_map, self.rootless)?;
                ch.send(&Msg::MapsDone)?;
            }
            Msg::SourcesPlease => {
                for (i, fd) in crate::mounts::open_sources(&self.plan.rootfs, *pid) {
                    let msg = Msg::Source(i as i32);
                    match fd {
                        Some(fd) => ch.send_fd(&msg, fd.as_fd())?,
                        None => ch.send(&msg)?,
                    }
                }
            }
            Msg::Pid(p) => {
                // The first process forked the real one and exits.
                let _ = rustix::process::waitpid(Pid::from_raw(*pid), WaitOptions::empty());
                *pid = p;
                patience.set_pid(p);
                self.undo.child = Some(p);
                *pidfd = pidfd_of(p)?;
                self.record_pid(p)?;
            }
            Msg::RootfsReady => {
                super::netdev::move_into(&self.plan.net_devices, *pid)?;
                self.create_time_hooks()?;
                ch.send(&Msg::HooksDone(*pid))?;
                let hooks = self.plan.hooks.as_ref();
                patience.expect(
                    "the container process's Ready, after its createContainer hooks,",
                    hooks.and_then(|h| h.create_container().as_deref()),
                );
            }
            Msg::SeccompFd => {
                let listener = self.plan.seccomp.as_ref().and_then(|p| p.listener.as_ref());
                let state = self.state.oci(Status::Creating);
                child::forward_listener(ch, listener, *pid, state)?;
            }
            Msg::Ready => {
                // Limits go on now that berth's own work in the container
                // is done: what it used while setting up (a page here, a
                // fork there) counts against nothing the user asked for,
                // and the user's program starts under every limit.
                if let Some(cg) = &self.undo.cgroup {
                    let (r, rules) = (&self.plan.resources, &self.plan.device_rules);
                    apply_resources(cg, r, rules, self.rootless)?;
                }
                return Ok(Some(()));
            }
            other => return Err(child::unexpected(&self.state.id, other)),
        }
        Ok(None)
    }

    /// prestart and createRuntime, while the container process waits
    /// after its mounts; a failure of one runs poststop.
    fn create_time_hooks(&mut self) -> Result<(), ContainerError> {
        let Some(h) = &self.plan.hooks else {
            return Ok(());
        };
        let oci = self.state.oci(Status::Creating).json();
        #[allow(deprecated)]
        let prestart = h.prestart().as_deref().unwrap_or(&[]);
        let create_runtime = h.create_runtime().as_deref().unwrap_or(&[]);
        let result = crate::hooks::run_all("prestart", prestart, &oci)
            .and_then(|_| crate::hooks::run_all("createRuntime", create_runtime, &oci));
        if let Err(e) = result {
            self.poststop_on_failure();
            return Err(e.into());
        }
        Ok(())
    }

    fn poststop_on_failure(&mut self) {
        if let Some(h) = &self.plan.hooks {
            self.undo.poststop = Some((h.clone(), self.state.oci(Status::Stopped).json()));
        }
    }

    fn record_pid(&mut self, pid: i32) -> Result<(), ContainerError> {
        self.state.pid = pid;
        self.state.start_time = syscall::proc_stat(pid)
            .map(|(t, _)| t)
            .sys("read start time of", pid)?;
        self.undo.dir().save(&self.state)
    }

    /// The container is Created: recorded, its pid file written, and
    /// nothing left to undo.
    fn created(
        mut self,
        opts: &CreateOpts,
        child: Child,
        relay: Option<OwnedFd>,
        pid_file: Option<&Path>,
    ) -> Result<Created, ContainerError> {
        self.state.phase = Phase::Created;
        self.undo.dir().save(&self.state)?;
        crate::logging::debug(&format!(
            "container {} created: pid {}, cgroup {}",
            self.state.id, child.pid, self.state.cgroup_path
        ));
        if let Some(p) = pid_file {
            write_pid_file(p, child.pid)?;
        }
        let master = relay
            .map(|r| crate::syscall::recv_fd(r.as_fd()))
            .transpose()?;
        self.undo.child = None;
        self.undo.cgroup = None;
        self.undo.host_mounts = None;
        let dir = self.undo.dir.take().expect("kept until now");
        Ok(Created {
            dir,
            state: self.state,
            pidfd: child.pidfd,
            channel: (opts.mode == Mode::Foreground).then_some(child.ch),
            master,
        })
    }
}

/// `create`'s exec.fifo, which `start` opens, and an fd on the state
/// directory for the container process to open it through; `run` needs
/// neither.
fn exec_fifo(dir: &StateDir, mode: Mode) -> Result<Option<OwnedFd>, ContainerError> {
    if mode == Mode::Foreground {
        return Ok(None);
    }
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
    let fd = rustix::fs::open(
        &dir.path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        FsMode::empty(),
    )
    .sys("open", dir.path.display())?;
    Ok(Some(fd))
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
    let id = created.state.id.clone();
    let unexpected = |m| Err::<Option<Infallible>, _>(child::unexpected(&id, m));
    let patience = Patience::new(created.state.pid);
    let hooks = created.state.hooks.as_ref();
    patience.expect(EXEC, hooks.and_then(|h| h.start_container().as_deref()));
    patience.restart();
    match child::answer(&ch, &id, &patience, unexpected)? {
        Heard::Eof => {}
        Heard::Done(never) => match never {},
    }
    created.state.phase = Phase::Started;
    created.dir.save(&created.state)?;
    crate::logging::debug(&format!("container {} started", created.state.id));
    poststart(&created.state);
    Ok(())
}
