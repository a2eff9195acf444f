//! The container process, from the clone to the exec of the user's
//! program: the init role of child.rs's flow, which makes the container
//! (namespaces, root filesystem, hooks, terminal) and waits for `start`.
//! It runs berth's code (so it stays non-dumpable: nothing in the
//! container may open its /proc/PID/exe), reports every failure to the
//! parent over the sync channel, and never returns.

use super::child::{self, Inbox, R, Report, Role};
use super::dir::EXEC_FIFO;
use super::failure::{At, Failure, Stage};
use super::plan::ContainerPlan;
use super::shared::Mode;
use super::state::{State, Status};
use super::sync::{Channel, Msg};
use crate::error::SysContext;
use crate::mounts;
use crate::process::{namespaces, terminal, user};
use crate::syscall::{self, CLONE_NEWTIME, CLONE_NEWUSER};
use rustix::fs::{Mode as FsMode, OFlags};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

pub struct InitContext<'a> {
    pub plan: &'a ContainerPlan,
    /// The parent's lock on the state directory, which this process must
    /// not keep holding.
    pub lock: &'a OwnedFd,
    pub console: Option<OwnedFd>,
    /// The state directory, to open exec.fifo in (create only).
    pub state_dir: Option<OwnedFd>,
    pub mode: Mode,
    /// Join a session keyring of the container's own.
    pub new_keyring: bool,
    /// berth runs rootless: its user namespace's maps are asked for
    /// while this process is dumpable (rootless::write_id_maps).
    pub rootless: bool,
}

/// The container's init, in child.rs's flow.
pub fn run(channel: Channel, ctx: InitContext) -> ! {
    child::run(channel, Init { ctx, host_pid: 0 })
}

struct Init<'a> {
    ctx: InitContext<'a>,
    /// The container's process as the host sees it, once the hooks'
    /// rendezvous gave it (0 without one).
    host_pid: i32,
}

/// The loopback device is the first a network namespace has.
const LOOPBACK_INDEX: i32 = 1;

impl Role for Init<'_> {
    const NAME: &'static str = "container process";
    const FAILED: i32 = 1;

    fn process(&self) -> &crate::process::ProcessPlan {
        &self.ctx.plan.process
    }

    fn seccomp(&self) -> Option<&crate::syscall::SeccompFilter> {
        self.ctx.plan.seccomp_filter()
    }

    fn prepare(&mut self) {
        // SAFETY: the lock fd is the parent's; this process only lets go of it.
        unsafe { libc::close(self.ctx.lock.as_raw_fd()) };
        // What berth creates in the container is made as the config says.
        rustix::process::umask(FsMode::empty());
    }

    /// Namespaces, the root filesystem, the hooks that run before
    /// pivot_root, and the terminal; then the cgroup, before the
    /// process's own settings (a seccomp filter installed there could
    /// refuse the wait, and limits apply once it is Ready).
    fn enter(&mut self, inbox: &Inbox) -> R<Option<OwnedFd>> {
        let ctx = &self.ctx;
        let plan = ctx.plan;
        let span = crate::logging::span("namespaces");
        enter_namespaces(ctx, inbox)?;
        // Before a second fork, while berth knows this process's pid; the
        // container process inherits the fds.
        let sources = bind_sources(plan, inbox)?;
        if plan.ns.second_fork() {
            fork_into_namespaces(inbox)?;
        }
        set_identity(ctx)?;
        drop(span);
        let span = crate::logging::span("mounts");
        let proc = mounts::private_proc().map_err(|e| proc_refused(plan, e))?;
        let root = mounts::prepare(&plan.rootfs, &sources).at(Stage::Mounts)?;
        drop(span);
        // Kept out of the container's program.
        drop(sources);
        self.host_pid = hooks_rendezvous(plan, inbox)?;
        create_container_hooks(plan, root.as_fd(), self.host_pid)?;
        enter_root(ctx, root, proc.as_fd())?;
        inbox.placed()?;
        Ok(Some(proc))
    }

    fn wait_for_start(&mut self, inbox: &Inbox) -> R<Report> {
        inbox.ch.send(&Msg::Ready).at(Stage::Sync)?;
        wait_for_start(&self.ctx, inbox)
    }

    /// startContainer hooks, as runc runs them: as the process, under its
    /// filter, with its environment.
    fn before_exec(&self, program: &crate::process::exec::Executable) -> R<()> {
        let plan = self.ctx.plan;
        let Some(h) = plan
            .hooks
            .as_ref()
            .and_then(|h| h.start_container().as_deref())
        else {
            return Ok(());
        };
        let state = hook_state(plan, self.host_pid, Status::Created);
        crate::hooks::run_all_env("startContainer", h, &state, Some(program.env()))
            .at(Stage::StartContainerHook)
    }
}

/// The user namespace first (its maps from berth), then the namespaces
/// joined, then those made now.
fn enter_namespaces(ctx: &InitContext, inbox: &Inbox) -> R<()> {
    let (plan, ns) = (ctx.plan, &ctx.plan.ns);
    if ns.clone_flags() & CLONE_NEWUSER != 0 {
        if ctx.rootless {
            ask_for_maps(inbox, true)?;
        }
        become_ns_root().at(Stage::Namespaces)?;
    }
    ns.join_all(&syscall::Kernel).at(Stage::Namespaces)?;
    let late = ns.unshare_flags();
    if late & CLONE_NEWUSER != 0 {
        namespaces::unshare(&syscall::Kernel, CLONE_NEWUSER).at(Stage::Namespaces)?;
        ask_for_maps(inbox, ctx.rootless)?;
        become_ns_root().at(Stage::Namespaces)?;
    }
    // A cgroup namespace's root is the cgroup the process is in when it is
    // made, and a forked process starts in its parent's cgroup: both wait
    // for the parent to have placed this process. So does a systemd scope,
    // whose cgroup (which the rootfs's cgroup mount binds) exists only once
    // systemd has placed the process.
    if late & crate::syscall::CLONE_NEWCGROUP != 0 || ns.second_fork() || plan.systemd.is_some() {
        inbox.placed()?;
    }
    namespaces::unshare(&syscall::Kernel, late & !CLONE_NEWUSER).at(Stage::Namespaces)?;
    if late & CLONE_NEWTIME != 0 {
        namespaces::write_time_offsets(&ns.time_offsets).at(Stage::Namespaces)?;
    }
    // A new network namespace's loopback starts down; runc brings it up
    // (its "loopback" network), and programs expect 127.0.0.1 to answer.
    if ns.creates(syscall::CLONE_NEWNET) {
        crate::netlink::Route::open()
            .and_then(|r| r.set_up(LOOPBACK_INDEX, true))
            .sys("bring up", "lo")
            .at(Stage::Namespaces)?;
    }
    Ok(())
}

/// Joining or making a pid or time namespace applies to children: the
/// container process is a sibling forked from here, which goes on; this
/// one tells berth its pid and ends.
fn fork_into_namespaces(inbox: &Inbox) -> R<()> {
    if let Some(child) = syscall::clone_fork(0, None, true)
        .sys("fork", "container process")
        .at(Stage::Namespaces)?
    {
        let _ = inbox.ch.send(&Msg::Pid(child.pid));
        // SAFETY: this intermediate process has done its part.
        unsafe { libc::_exit(0) }
    }
    Ok(())
}

/// The bundle as cwd (relative mount sources and overlay dirs are relative
/// to it), the session keyring, hostname and domainname.
fn set_identity(ctx: &InitContext) -> R<()> {
    let plan = ctx.plan;
    std::env::set_current_dir(&plan.bundle)
        .sys("chdir", plan.bundle.display())
        .at(Stage::Identity)?;
    if ctx.new_keyring {
        crate::process::keyring::join_new(&plan.id).at(Stage::Identity)?;
    }
    if let Some(h) = &plan.hostname {
        rustix::system::sethostname(h.as_bytes())
            .sys("sethostname", h)
            .at(Stage::Identity)?;
    }
    if let Some(d) = &plan.domainname {
        rustix::system::setdomainname(d.as_bytes())
            .sys("setdomainname", d)
            .at(Stage::Identity)?;
    }
    Ok(())
}

/// Hooks berth runs run here, between the mounts and pivot_root, and see
/// the process in its cgroup: returns the host pid they gave. Without any,
/// nothing waits: the parent places the process while it goes on.
fn hooks_rendezvous(plan: &ContainerPlan, inbox: &Inbox) -> R<i32> {
    if !needs_hook_rendezvous(plan) {
        return Ok(0);
    }
    inbox.placed()?;
    inbox.ch.send(&Msg::RootfsReady).at(Stage::Sync)?;
    match inbox.next()? {
        Msg::HooksDone(p) => Ok(p),
        m => Err(Failure::unexpected("HooksDone", m)),
    }
}

/// createContainer hooks, as runc runs them: in the rootfs, which is a
/// path they can use, in the container's namespaces.
fn create_container_hooks(
    plan: &ContainerPlan,
    root: std::os::fd::BorrowedFd,
    host_pid: i32,
) -> R<()> {
    let Some(h) = plan
        .hooks
        .as_ref()
        .and_then(|h| h.create_container().as_deref())
    else {
        return Ok(());
    };
    rustix::process::fchdir(root)
        .sys("chdir to", "rootfs")
        .at(Stage::CreateContainerHook)?;
    let state = hook_state(plan, host_pid, Status::Creating);
    crate::hooks::run_all_env("createContainer", h, &state, Some(&plan.process.env))
        .at(Stage::CreateContainerHook)
}

/// pivot_root into the prepared root, the mounts that follow it, the
/// terminal, the cwd and a read-only root.
fn enter_root(ctx: &InitContext, root: OwnedFd, proc: std::os::fd::BorrowedFd) -> R<()> {
    let plan = ctx.plan;
    // Logged before the terminal takes stderr's place.
    let span = crate::logging::span("pivot_root");
    mounts::pivot(&plan.rootfs, root.as_fd()).at(Stage::Mounts)?;
    drop(root);
    let root = mounts::finish(&plan.rootfs, proc).at(Stage::Mounts)?;
    if plan.rootfs.setup_dev {
        mounts::reopen_dev_null(root.as_fd()).at(Stage::Mounts)?;
    }
    drop(span);
    let slave = match &ctx.console {
        Some(sock) => Some(
            terminal::setup(sock.as_fd(), plan.process.console_size, |slave| {
                mounts::bind_console(root.as_fd(), slave)
            })
            .at(Stage::Terminal)?,
        ),
        None => None,
    };
    chdir_cwd(plan, root.as_fd())?;
    mounts::readonly_root(&plan.rootfs, root.as_fd()).at(Stage::Mounts)?;
    drop(root);
    match slave {
        Some(slave) => terminal::become_controlling(slave).at(Stage::Terminal)?,
        None => terminal::new_session().at(Stage::Terminal)?,
    }
    Ok(())
}

/// Waits for `start`: run's go-ahead over the channel, or create's
/// exec.fifo, opened (it blocks until `start` opens it for reading) and
/// written to.
fn wait_for_start(ctx: &InitContext, inbox: &Inbox) -> R<Report> {
    if ctx.mode == Mode::Foreground {
        inbox.expect(Msg::Start)?;
        return Ok(Report::Channel);
    }
    let dir = ctx.state_dir.as_ref().expect("create passes the state dir");
    let fifo = rustix::fs::openat(
        dir,
        EXEC_FIFO,
        OFlags::WRONLY | OFlags::CLOEXEC,
        FsMode::empty(),
    )
    .sys("open", EXEC_FIFO)
    .at(Stage::WaitForStart)?;
    let mut fifo = std::fs::File::from(fifo);
    fifo.write_all(b"0")
        .sys("write", EXEC_FIFO)
        .at(Stage::WaitForStart)?;
    Ok(Report::Fifo(fifo))
}

/// In a user namespace this process cannot pass host directories only the
/// host's root may enter: berth opens the bind sources for it, in its mount
/// namespace, before it mounts anything. By position in the mount plan;
/// close-on-exec, and dropped once the mounts are made.
fn bind_sources(plan: &ContainerPlan, inbox: &Inbox) -> R<Vec<(usize, OwnedFd)>> {
    let wanted = plan.rootfs.sources_to_open();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    inbox.ch.send(&Msg::SourcesPlease).at(Stage::Sync)?;
    let mut sources = Vec::new();
    for want in wanted {
        match inbox.next()? {
            Msg::Source(i) if i as usize == want => {
                if let Some(fd) = inbox.ch.take_fd() {
                    sources.push((want, fd));
                }
            }
            m => return Err(Failure::unexpected(&format!("Source({want})"), m)),
        }
    }
    Ok(sources)
}

/// Whether berth's parent runs hooks while this process waits after its
/// mounts (prestart, createRuntime), or a hook of its own needs its host pid
/// (createContainer, startContainer).
fn needs_hook_rendezvous(plan: &ContainerPlan) -> bool {
    // berth moves linux.netDevices in then, before the hooks run.
    if !plan.net_devices.is_empty() {
        return true;
    }
    let Some(h) = &plan.hooks else { return false };
    #[allow(deprecated)]
    let lists = [
        h.prestart(),
        h.create_runtime(),
        h.create_container(),
        h.start_container(),
    ];
    lists
        .iter()
        .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()))
}

/// cwd inside the container, created if missing, and checked to really be
/// inside its root afterwards (CVE-2024-21626: a cwd reached through a
/// leaked host fd would read "(unreachable)/...").
fn chdir_cwd(plan: &ContainerPlan, root: std::os::fd::BorrowedFd) -> R<()> {
    let cwd = &plan.process.cwd;
    let fd = mounts::mkdir_all(root, cwd, 0o755).at(Stage::Cwd)?;
    rustix::process::fchdir(&fd)
        .sys("chdir", cwd.display())
        .at(Stage::Cwd)?;
    let now = std::env::current_dir().sys("getcwd", "").at(Stage::Cwd)?;
    if !now.starts_with("/") || now.to_string_lossy().starts_with("(unreachable)") {
        let mut f = Failure::plain(
            Stage::Cwd,
            format!(
                "process.cwd {} is outside the container's root",
                cwd.display()
            ),
        );
        f.what = Some("process.cwd".into());
        return Err(f);
    }
    Ok(())
}

/// In a new user namespace this process still has the host's ids, which
/// are unmapped there: once the maps exist, it becomes the namespace's
/// root, so that what it creates belongs to a mapped id.
/// The parent writes this process's uid and gid maps. A rootless parent
/// may open /proc/PID/uid_map only while this process is dumpable (else
/// the files are the host root's), and so may newuidmap, which also checks
/// who owns the process: dumpable for that moment, as runc does, before
/// anything of the container's runs, and not after.
fn ask_for_maps(inbox: &Inbox, rootless: bool) -> R<()> {
    use rustix::process::DumpableBehavior;
    if rootless {
        rustix::process::set_dumpable_behavior(DumpableBehavior::Dumpable)
            .sys("prctl", "PR_SET_DUMPABLE")
            .at(Stage::Namespaces)?;
    }
    inbox.ch.send(&Msg::MapsPlease).at(Stage::Sync)?;
    inbox.expect(Msg::MapsDone)?;
    if rootless {
        rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)
            .sys("prctl", "PR_SET_DUMPABLE")
            .at(Stage::Namespaces)?;
    }
    Ok(())
}

/// proc can be mounted only by a process with power over the pid
/// namespace it shows: in a user namespace of the container's own, that is
/// a pid namespace made with it. Said plainly, as runc's bare EPERM is not.
fn proc_refused(plan: &ContainerPlan, e: crate::error::SysError) -> Failure {
    let ns = &plan.ns;
    let userns = ns.creates(CLONE_NEWUSER) || ns.joins(CLONE_NEWUSER);
    let pidns = ns.creates(syscall::CLONE_NEWPID) || ns.joins(syscall::CLONE_NEWPID);
    let mut f = Failure::new(Stage::Mounts, &e);
    if e.errno() == Some(libc::EPERM) && userns && !pidns {
        f.message = format!(
            "{e}: in a user namespace, the kernel lets only a pid namespace's owner mount proc, and the container shares berth's pid namespace; give it one of its own in linux.namespaces"
        );
    }
    f
}

fn become_ns_root() -> Result<(), crate::error::SysError> {
    user::set_user(
        &syscall::Kernel,
        &user::User {
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            umask: None,
        },
    )
}

fn hook_state(plan: &ContainerPlan, pid: i32, status: Status) -> String {
    let st = State {
        id: plan.id.clone(),
        pid,
        start_time: 0,
        phase: super::state::Phase::Creating,
        bundle: plan.bundle.display().to_string(),
        rootfs: plan.rootfs.rootfs.display().to_string(),
        created: String::new(),
        annotations: plan.annotations.clone(),
        cgroup_path: String::new(),
        systemd: None,
        hooks: None,
        pid_ns: false,
        host_mounts: None,
        process: None,
        seccomp: None,
        memory_policy: None,
        namespaces: Vec::new(),
        resctrl: None,
    };
    st.oci(status).json()
}
