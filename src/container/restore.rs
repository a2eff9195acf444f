//! `restore`: a container made again from CRIU's images under an id of
//! the caller's choice. berth plans it from --bundle's config.json as
//! create does and makes its state and its cgroup; CRIU then rebuilds the
//! process tree (its namespaces and mounts from the images, on the bundle's
//! rootfs, bound at STATE/criu-root for it) as a sibling of itself, that
//! is berth's child. On the way, setup-namespaces runs the prestart and
//! createRuntime hooks, orphan-pts-master hands the terminal's master to
//! --console-socket (or to run-like relaying), and post-restore records the
//! process and puts the bundle's limits on the cgroup before it resumes.
//! A failure undoes all of it: the process, the cgroup, the mount, the state.

use super::ContainerError;
use super::dir::StateDir;
use super::images::{
    CriuFlags, cgroup2_dir, criu_config_file, criu_error, external_mounts, inherit_netns,
    inherited_stdio, joined_netns, open_dir, raw, usage,
};
use super::migration::{check_lazy_restore, check_lazy_support};
use super::plan::ContainerPlan;
use super::rootless::make_cgroup;
use super::shared::{connect, pidfd_of, poststart, write_pid_file};
use super::state::{Phase, State, Status};
use crate::cgroups::{self, CgroupManager};
use crate::criu::{self, Event, Notify, Request};
use crate::error::SysContext;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub struct RestoreOpts {
    pub root: PathBuf,
    pub id: String,
    pub flags: CriuFlags,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Without --detach: berth keeps a terminal's master to relay it.
    pub foreground: bool,
    pub rootless_cgroups: bool,
    pub systemd_cgroup: bool,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
}

/// A restored container, running.
pub struct Restored {
    pub dir: StateDir,
    pub state: State,
    pub pidfd: OwnedFd,
    /// The terminal's master, when berth relays it (no --console-socket).
    pub master: Option<OwnedFd>,
}

/// What a failed restore must undo, undone on drop unless disarmed.
#[derive(Default)]
struct Undo {
    dir: Option<StateDir>,
    cgroup: Option<cgroups::Manager>,
    pid: Option<i32>,
    criu_root: Option<PathBuf>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        super::teardown::kill_or_keep(self.pid.take(), &mut self.cgroup, &mut self.dir);
        if let Some(r) = self.criu_root.take() {
            unmount_root(&r);
        }
        if let Some(cg) = self.cgroup.take()
            && let Err(e) = cg.destroy()
        {
            crate::logging::warn(&format!("cleanup: {e}"));
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}

pub fn restore(opts: &RestoreOpts) -> Result<Restored, ContainerError> {
    let _phase = crate::logging::span("restore");
    super::dir::validate_id(&opts.id)?;
    let mut o = restore_opts(&opts.flags)?;
    let images_path = &opts.flags.image_path;
    let (images, work) = image_dirs(&opts.flags)?;
    let pid_file = opts
        .pid_file
        .as_ref()
        .map(|p| std::path::absolute(p).sys("resolve", p.display()))
        .transpose()?;
    let bundle = std::fs::canonicalize(&opts.bundle).sys("bundle", opts.bundle.display())?;
    let spec = crate::config::load(&bundle)?;
    let driver = cgroups::Driver::pick(opts.systemd_cgroup, opts.rootless_cgroups)?;
    let plan = ContainerPlan::new(&spec, &opts.id, bundle.clone(), false, 0, &driver)?;
    let console = terminal(&plan, opts)?;
    opts.flags.check_version()?;
    if opts.flags.lazy_pages {
        check_lazy_support(&opts.flags, &opts.id)?;
    }
    let mut r = Restoring {
        state: plan.initial_state(&spec),
        undo: Undo::default(),
        plan,
    };
    let dir = StateDir::create(&opts.root, &opts.id)?;
    dir.save(&r.state)?;
    let criu_root = dir.path.join("criu-root");
    r.undo.dir = Some(dir);
    r.open_cgroup(opts)?;
    crate::mounts::make_targets(&r.plan.rootfs)?;
    bind_root(&r.plan.rootfs.rootfs, &criu_root)?;
    r.undo.criu_root = Some(criu_root.clone());

    o.images_dir_fd = raw(&images);
    o.work_dir_fd = work.as_ref().map(raw);
    // Held open while CRIU runs: it joins the tree to it by fd.
    let _netns = r.what_to_restore(&mut o, opts, &spec, &criu_root)?;
    let stdio = inherited_stdio(images_path)?;
    o.inherit_fd
        .extend(stdio.iter().map(|(key, fd)| (key.clone(), raw(fd))));

    let log = opts
        .flags
        .work_path
        .as_deref()
        .unwrap_or(images_path)
        .join("restore.log");
    let mut master = None;
    let answer = criu::run(&opts.flags.criu(), Request::Restore, &o, &mut |e| match e {
        Event::Started(pid) => r.place_criu(pid),
        Event::Notify(n) => r.notified(n, console.as_ref(), &mut master),
    })
    .map_err(|e| criu_error(&opts.id, e, Some(log)))?;
    r.restored(answer.pid, pid_file.as_deref(), master)
}

/// A container on its way back.
struct Restoring {
    plan: ContainerPlan,
    state: State,
    undo: Undo,
}

impl Restoring {
    /// The container's cgroup, made and checked against the bundle's
    /// limits before CRIU runs (restored into by cg_root).
    fn open_cgroup(&mut self, opts: &RestoreOpts) -> Result<(), ContainerError> {
        let plan = &self.plan;
        let cgroup = match &plan.systemd {
            Some(unit) => cgroups::systemd_manager(unit.clone(), plan.systemd_properties.clone())?,
            None => cgroups::manager(&plan.cgroup_path)?,
        };
        match make_cgroup(cgroup, &plan.cgroup_path, &opts.id, opts.rootless_cgroups)? {
            Some(cg) => {
                cg.check(&plan.resources, &plan.device_rules)?;
                self.undo.cgroup = Some(cg);
            }
            None => {
                super::rootless::limits_without_cgroup(&plan.resources)?;
                self.state.cgroup_path.clear();
            }
        }
        Ok(())
    }

    /// The container's part of the request: where CRIU builds it (the
    /// rootfs bound at `criu_root`), its cgroup, its LSM settings, CRIU's
    /// configuration file, and what it takes from outside: the mounts and
    /// a network namespace joined by path (whose fd is returned, to be
    /// held while CRIU runs).
    fn what_to_restore(
        &self,
        o: &mut criu::Opts,
        opts: &RestoreOpts,
        spec: &oci_spec::runtime::Spec,
        criu_root: &Path,
    ) -> Result<Option<OwnedFd>, ContainerError> {
        o.log_file = "restore.log".into();
        o.root = Some(criu_root.display().to_string());
        o.rst_sibling = true;
        o.evasive_devices = true;
        o.lsm_profile = opts.lsm_profile.clone();
        o.lsm_mount_context = opts.lsm_mount_context.clone();
        if !self.state.cgroup_path.is_empty() {
            o.cg_root = vec![(None, self.state.cgroup_path.clone())];
        }
        let cgroup2 = self
            .undo
            .cgroup
            .as_ref()
            .and_then(|cg| cgroup2_dir(cg.views()));
        o.ext_mnt = external_mounts(spec, &self.plan.bundle, cgroup2.as_deref())?;
        o.config_file = criu_config_file(spec);
        let netns = joined_netns(spec).map(|p| inherit_netns(&p)).transpose()?;
        if let Some((key, fd)) = &netns {
            o.inherit_fd.push((key.clone(), raw(fd)));
        }
        Ok(netns.map(|(_, fd)| fd))
    }

    /// criu itself in the container's cgroup before it restores, as runc
    /// puts it: what it restores starts there, also where CRIU is told to
    /// leave cgroups alone (--manage-cgroups-mode ignore).
    fn place_criu(&self, pid: i32) -> Result<(), String> {
        match &self.undo.cgroup {
            Some(cg) => cg.add_process(pid).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// One of CRIU's notifications on its way; an Err makes CRIU give up.
    fn notified(
        &mut self,
        n: Notify,
        console: Option<&OwnedFd>,
        master: &mut Option<OwnedFd>,
    ) -> Result<(), String> {
        match n.script.as_str() {
            "setup-namespaces" => {
                self.state.pid = n.pid;
                self.create_time_hooks().map_err(|e| e.to_string())
            }
            "orphan-pts-master" => {
                let Some(fd) = n.fd else {
                    return Err("CRIU sent orphan-pts-master without the master".into());
                };
                match console {
                    Some(sock) => crate::syscall::send_fd(sock.as_fd(), b"/dev/ptmx", fd.as_fd())
                        .map_err(|e| format!("--console-socket: {e}")),
                    None => {
                        *master = Some(fd);
                        Ok(())
                    }
                }
            }
            "post-restore" => self.post_restore(n.pid).map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    }

    /// The tree is back and not yet running: its pid recorded (so that a
    /// failure from here on kills it), and the bundle's limits applied.
    fn post_restore(&mut self, pid: i32) -> Result<(), ContainerError> {
        self.undo.pid = Some(pid);
        self.record_pid(pid)?;
        if let Some(cg) = &self.undo.cgroup {
            cg.apply(&self.plan.resources, &self.plan.device_rules)?;
        }
        Ok(())
    }

    fn record_pid(&mut self, pid: i32) -> Result<(), ContainerError> {
        self.state.pid = pid;
        self.state.start_time = crate::syscall::proc_stat(pid)
            .map(|(t, _)| t)
            .sys("read start time of", pid)?;
        self.undo.dir.as_ref().expect("kept").save(&self.state)
    }

    /// prestart and createRuntime, in the restored namespaces (runc runs
    /// them there too).
    fn create_time_hooks(&self) -> Result<(), ContainerError> {
        let Some(h) = &self.plan.hooks else {
            return Ok(());
        };
        let oci = self.state.oci(Status::Creating).json();
        #[allow(deprecated)]
        let prestart = h.prestart().as_deref().unwrap_or(&[]);
        crate::hooks::run_all("prestart", prestart, &oci)?;
        let create_runtime = h.create_runtime().as_deref().unwrap_or(&[]);
        crate::hooks::run_all("createRuntime", create_runtime, &oci)?;
        Ok(())
    }

    /// CRIU is done: the container is running, recorded as started.
    fn restored(
        mut self,
        pid: Option<i32>,
        pid_file: Option<&Path>,
        master: Option<OwnedFd>,
    ) -> Result<Restored, ContainerError> {
        let pid = match (pid, self.undo.pid) {
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => {
                return Err(ContainerError::Criu(format!(
                    "container \"{}\": CRIU restored no process",
                    self.state.id
                )));
            }
        };
        self.undo.pid = Some(pid);
        if self.state.pid != pid {
            self.record_pid(pid)?;
        }
        let pidfd = pidfd_of(pid)?;
        if let Some(r) = self.undo.criu_root.take() {
            unmount_root(&r);
        }
        self.state.phase = Phase::Started;
        self.undo.dir.as_ref().expect("kept").save(&self.state)?;
        if let Some(p) = pid_file {
            write_pid_file(p, pid)?;
        }
        self.undo.pid = None;
        self.undo.cgroup = None;
        let dir = self.undo.dir.take().expect("kept");
        crate::logging::debug(&format!(
            "container {} restored: pid {}, cgroup {}",
            self.state.id, pid, self.state.cgroup_path
        ));
        poststart(&self.state);
        Ok(Restored {
            dir,
            state: self.state.clone(),
            pidfd,
            master,
        })
    }
}

/// The flags as CRIU's options, for a restore.
fn restore_opts(flags: &CriuFlags) -> Result<criu::Opts, ContainerError> {
    let o = flags.opts()?;
    if o.manage_cgroups_mode == Some(criu::CgMode::Strict) {
        return Err(usage(
            "--manage-cgroups-mode strict: CRIU then refuses to restore into a cgroup that exists, and berth makes the container's before CRIU runs (with the bundle's limits): restore with soft, full or ignore".into(),
        ));
    }
    Ok(o)
}

/// --image-path, which must hold a checkpoint, and --work-path, made if
/// missing (where a lazy restore finds its daemon's socket).
fn image_dirs(flags: &CriuFlags) -> Result<(OwnedFd, Option<OwnedFd>), ContainerError> {
    let images = open_dir("--image-path", &flags.image_path, false)?;
    if !flags.image_path.join("inventory.img").is_file() {
        return Err(usage(format!(
            "--image-path {}: holds no checkpoint (no inventory.img)",
            flags.image_path.display()
        )));
    }
    let work = flags
        .work_path
        .as_ref()
        .map(|p| open_dir("--work-path", p, true))
        .transpose()?;
    if flags.lazy_pages {
        check_lazy_restore(flags.work_path.as_ref().unwrap_or(&flags.image_path))?;
    }
    Ok((images, work))
}

/// The console socket a restored terminal goes to, checked as create
/// checks it.
fn terminal(plan: &ContainerPlan, opts: &RestoreOpts) -> Result<Option<OwnedFd>, ContainerError> {
    match (plan.process.terminal, &opts.console_socket) {
        (true, None) if !opts.foreground => Err(usage(
            "process.terminal is set: restore --detach needs --console-socket to hand the terminal to".into(),
        )),
        (false, Some(_)) => Err(usage(
            "--console-socket is given but process.terminal is false: there is no terminal to send".into(),
        )),
        (true, Some(p)) => Ok(Some(connect(p)?)),
        _ => Ok(None),
    }
}

/// The rootfs bound (recursively) at `at`, for CRIU's --root: the
/// restored mount namespace is built on it.
fn bind_root(rootfs: &Path, at: &Path) -> Result<(), ContainerError> {
    std::fs::create_dir_all(at).sys("create", at.display())?;
    rustix::mount::mount_bind_recursive(rootfs, at).sys("bind rootfs at", at.display())?;
    Ok(())
}

fn unmount_root(at: &Path) {
    let _ = rustix::mount::unmount(at, rustix::mount::UnmountFlags::DETACH);
    let _ = std::fs::remove_dir(at);
}
