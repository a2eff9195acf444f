//! The process berth forks into a container, in either of its two roles:
//! the container's init (init.rs, forked by create) or a process exec'd
//! into a running container (exec.rs). Both go the same way, in this order:
//!
//! ```text
//! initial CPU affinity
//! Go from berth
//! enter the container          the role's: namespaces, root, cwd, terminal
//! the process's own settings   limits, LSM, user, capabilities, seccomp
//!                              (a notify listener goes to berth)
//! wait for start               init only: run's Start or create's exec.fifo
//! late seccomp, last steps     init only: the startContainer hooks
//! exec                         EOF on the channel tells berth it happened
//! ```
//!
//! A failure at any point goes to berth as a `Failure`, after `start` also
//! to the one who started it, and ends the process. `Role` is what differs.
//! berth's side of the conversation, for both roles, is `answer`.

use super::ContainerError;
use super::failure::{At, Failure, Stage};
use super::patience::Patience;
use super::shared::exit_on_panic;
use super::sync::{Channel, Msg};
use crate::process::ProcessPlan;
use crate::process::exec::Executable;
use crate::syscall::SeccompFilter;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

pub type R<T> = Result<T, Failure>;

/// What the two roles do differently.
pub trait Role {
    /// What a panic names.
    const NAME: &'static str;
    /// The exit status of a process that failed (runc's: 1 for init, 255
    /// for exec).
    const FAILED: i32;

    fn process(&self) -> &ProcessPlan;
    fn seccomp(&self) -> Option<&SeccompFilter>;
    /// The first thing after the fork, before Go.
    fn prepare(&mut self) {}
    /// Into the container: its namespaces, root, cwd and terminal. Returns
    /// a procfs the container cannot tamper with, for the writes of the
    /// process's own settings, where there is one.
    fn enter(&mut self, inbox: &Inbox) -> R<Option<OwnedFd>>;
    /// Set up: until the process may exec, and where a failure from then
    /// on is reported.
    fn wait_for_start(&mut self, _inbox: &Inbox) -> R<Report> {
        Ok(Report::Channel)
    }
    /// Right before the exec, as the process, under its filter.
    fn before_exec(&self, _program: &Executable) -> R<()> {
        Ok(())
    }
}

/// Where a failure goes once the process has waited for start: berth over
/// the channel (run, exec), or `start` over exec.fifo (create).
pub enum Report {
    Channel,
    Fifo(std::fs::File),
}

/// The forked process's whole life: it execs, or reports why not and
/// ends. It never returns.
pub fn run<T: Role>(channel: Channel, mut role: T) -> ! {
    exit_on_panic(T::NAME, T::FAILED);
    role.prepare();
    let inbox = Inbox::new(&channel);
    let failure = match setup(&mut role, &inbox) {
        Ok((report, program)) => {
            let failure = exec(&role, &program);
            if let Report::Fifo(mut f) = report {
                let _ = f.write_all(&failure.to_json());
            }
            failure
        }
        Err(f) => f,
    };
    // Nobody may be reading any more (run's berth after start): no matter.
    let _ = channel.send(&Msg::Error(failure));
    // SAFETY: this forked process ends here, without running the parent's
    // cleanup that its frames above would.
    unsafe { libc::_exit(T::FAILED) }
}

fn setup<T: Role>(role: &mut T, inbox: &Inbox) -> R<(Report, Executable)> {
    if let Some(cpus) = &role.process().affinity_initial {
        crate::process::sched::set_affinity(cpus).at(Stage::Affinity)?;
    }
    inbox.expect(Msg::Go)?;
    let proc = role.enter(inbox)?;
    let hand_over = |fd: OwnedFd| inbox.ch.send_fd(&Msg::SeccompFd, fd.as_fd());
    let program = role
        .process()
        .apply(role.seccomp(), proc.as_ref().map(|p| p.as_fd()), hand_over)
        .at(Stage::Process)?;
    drop(proc);
    Ok((role.wait_for_start(inbox)?, program))
}

/// From start to exec; returns only what kept the program from running.
fn exec<T: Role>(role: &T, program: &Executable) -> Failure {
    let process = role.process();
    if let Err(e) = process.seccomp_late(role.seccomp()) {
        return Failure::new(Stage::Process, &e);
    }
    if let Err(f) = role.before_exec(program) {
        return f;
    }
    Failure::new(Stage::Exec, &process.exec(program))
}

/// berth's messages, as the forked process reads them. Placed (the process
/// is in its cgroup) comes whenever berth is done with the cgroup, while
/// the process already sets up: it is noted wherever it arrives.
pub struct Inbox<'a> {
    pub ch: &'a Channel,
    placed: std::cell::Cell<bool>,
}

impl<'a> Inbox<'a> {
    fn new(ch: &'a Channel) -> Inbox<'a> {
        Inbox {
            ch,
            placed: std::cell::Cell::new(false),
        }
    }

    pub fn next(&self) -> R<Msg> {
        loop {
            match self.ch.recv().at(Stage::Sync)? {
                Some(Msg::Placed) => self.placed.set(true),
                Some(m) => return Ok(m),
                None => berth_is_gone(),
            }
        }
    }

    pub fn expect(&self, want: Msg) -> R<()> {
        match self.next()? {
            m if m == want => Ok(()),
            m => Err(Failure::unexpected(&format!("{want:?}"), m)),
        }
    }

    /// Blocks until the process is in its cgroup.
    pub fn placed(&self) -> R<()> {
        if self.placed.get() {
            return Ok(());
        }
        match self.ch.recv().at(Stage::Sync)? {
            Some(Msg::Placed) => {
                self.placed.set(true);
                Ok(())
            }
            Some(m) => Err(Failure::unexpected("Placed", m)),
            None => berth_is_gone(),
        }
    }
}

/// berth went away before it let this process go on: there is nobody to
/// set it up for.
fn berth_is_gone() -> ! {
    // SAFETY: see `run`.
    unsafe { libc::_exit(1) }
}

/// How berth's side of the conversation ended.
pub enum Heard<T> {
    /// The role's handler said it is done.
    Done(T),
    /// The channel closed: the process exec'd (or died; the caller knows
    /// which it expects).
    Eof,
}

/// berth's side of the conversation with the process it forked, for both
/// roles: a failure the process reports is rebuilt as
/// `ContainerError::Process`; every other message goes to `on`, which
/// answers it and says whether the conversation is over.
pub fn answer<T>(
    ch: &Channel,
    id: &str,
    patience: &Patience,
    mut on: impl FnMut(Msg) -> Result<Option<T>, ContainerError>,
) -> Result<Heard<T>, ContainerError> {
    loop {
        if !ch.readable_by(patience.deadline())? {
            return Err(patience.exceeded(id));
        }
        match ch.recv()? {
            None => return Ok(Heard::Eof),
            Some(Msg::Error(failure)) => {
                return Err(ContainerError::Process {
                    id: id.to_string(),
                    failure,
                });
            }
            Some(m) => {
                if let Some(done) = on(m)? {
                    return Ok(Heard::Done(done));
                }
                patience.restart();
            }
        }
    }
}

/// A message the conversation has no place for.
pub fn unexpected(id: &str, m: Msg) -> ContainerError {
    ContainerError::Protocol {
        id: id.to_string(),
        got: format!("{m:?}"),
    }
}

/// SeccompFd: the notify listener the process installed goes to the agent
/// at linux.seccomp.listenerPath, with the container's state.
pub fn forward_listener(
    ch: &Channel,
    listener: Option<&(std::path::PathBuf, String)>,
    pid: i32,
    state: super::state::OciState,
) -> Result<(), ContainerError> {
    if let (Some(fd), Some((path, meta))) = (ch.take_fd(), listener) {
        crate::seccomp::send_to_listener(path, meta, pid, state, fd.as_fd())?;
    }
    Ok(())
}
