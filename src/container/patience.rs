//! How long berth waits for a container process that sets itself up: for
//! each of its steps (the next message on the sync channel; create, run,
//! exec), and from `start` to the exec of its program. A step of berth's
//! own that never ends (a mount, chdir or lookup on a filesystem that does
//! not answer, a process stopped by a signal) must not hang the client
//! that called berth: past BERTH_SETUP_TIMEOUT the wait is an error that
//! names the process and where it waits, and the caller cleans up.
//!
//! Hooks that run in the container process (createContainer before Ready,
//! startContainer before the exec) are the user's programs: the wait over
//! them grows by their timeouts, and has no bound when one has none, as
//! berth does not bound the user's own process either.

use super::ContainerError;
use oci_spec::runtime::Hook;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// The bound on each setup step of the container process.
pub const SETUP_BOUND: (&str, Duration) = ("BERTH_SETUP_TIMEOUT", Duration::from_secs(60));

/// What berth waits for, and until when.
pub struct Patience {
    step: Duration,
    until: Cell<Option<Instant>>,
    what: Cell<&'static str>,
    /// What the step after the current message is, when it is not an
    /// ordinary one: its name and the hooks it runs.
    expected: Cell<Option<(&'static str, Option<Duration>)>>,
    pid: Cell<i32>,
}

const STEP: &str = "the container process's next setup step";
/// The last step: from start (its startContainer hooks) to the exec.
pub const EXEC: &str = "the exec of the container's program";

impl Patience {
    /// For the process `pid` (0 while it is not known); its first step
    /// begins now.
    pub fn new(pid: i32) -> Patience {
        let p = Patience {
            step: crate::cgroups::bound(SETUP_BOUND.0, SETUP_BOUND.1),
            until: Cell::new(None),
            what: Cell::new(STEP),
            expected: Cell::new(None),
            pid: Cell::new(pid),
        };
        p.restart();
        p
    }

    /// The step that follows the message being answered is `what`, and
    /// runs these hooks: their timeouts are added to the bound, and a hook
    /// without one leaves the step unbounded.
    pub fn expect(&self, what: &'static str, hooks: Option<&[Hook]>) {
        let mut extra = Some(Duration::ZERO);
        for h in hooks.unwrap_or_default() {
            extra = match (extra, h.timeout()) {
                (Some(e), Some(t)) if t > 0 => Some(e + Duration::from_secs(t as u64)),
                _ => None,
            };
        }
        self.expected.set(Some((what, extra)));
    }

    /// A message came and is answered: the next step begins, with the
    /// whole bound again.
    pub fn restart(&self) {
        let (what, extra) = self.expected.take().unwrap_or((STEP, Some(Duration::ZERO)));
        self.what.set(what);
        self.until
            .set(extra.map(|e| Instant::now() + self.step + e));
    }

    pub fn set_pid(&self, pid: i32) {
        self.pid.set(pid);
    }

    /// When the current step must be over (None: no bound).
    pub fn deadline(&self) -> Option<Instant> {
        self.until.get()
    }

    /// The error once the deadline has passed.
    pub fn exceeded(&self, id: &str) -> ContainerError {
        let pid = self.pid.get();
        let process = match crate::syscall::proc_waits(pid) {
            Some(w) => format!("process {w}"),
            None => format!("process {pid} is gone"),
        };
        ContainerError::Stalled {
            id: id.to_string(),
            what: self.what.get(),
            bound: self.step,
            process,
        }
    }
}
