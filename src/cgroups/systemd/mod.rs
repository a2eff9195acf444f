//! The systemd cgroup driver (`--systemd-cgroup`): systemd owns the
//! container's cgroup. The container's process is placed in a transient
//! scope unit under a slice, made over D-Bus with `Delegate=yes`; the limits
//! systemd knows become unit properties (so that systemd keeps them across
//! `daemon-reload`), and everything is also written to the scope's cgroup
//! files through the v2 manager, as runc does. cgroup v2 only. A rootless
//! berth's unit is the user's own systemd's (user.rs).

mod dbus;
mod properties;
mod unit;
mod user;

pub use dbus::DbusError;
pub use unit::{Unit, parse};
pub use user::{UserManager, find as find_user_manager};

use super::{CgroupError, DeviceRule, v2};
use crate::error::SysError;
use dbus::{Conn, Value};
use oci_spec::runtime::LinuxResources;
use std::cell::{Cell, RefCell};
use std::time::Duration;

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// One method call's bound.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A job's bound: systemd under load (or a guest under TCG) takes seconds.
const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// A property: its name and value, as StartTransientUnit and
/// SetUnitProperties take them.
pub type Property = (String, Value);

pub use properties::from_annotations;

pub struct Manager {
    fs: v2::Manager,
    unit: Unit,
    /// The config's org.systemd.property.* annotations, for the scope.
    extra: Vec<Property>,
    /// One connection for the whole command, opened on first use.
    conn: RefCell<Option<Conn>>,
    /// For create's manager: whether systemd made the unit for us yet. A
    /// create that fails before (or is refused: the name is another
    /// container's) must not stop a unit of that name.
    ours: Option<Cell<bool>>,
}

fn error(unit: &str, what: &str, e: DbusError) -> CgroupError {
    CgroupError::Systemd {
        unit: unit.to_string(),
        what: what.to_string(),
        source: e,
    }
}

impl Manager {
    /// The manager of a container's existing unit.
    pub fn existing(unit: Unit) -> Manager {
        Manager {
            fs: v2::Manager::new("/sys/fs/cgroup".into(), &unit.cgroup_path()),
            unit,
            extra: Vec::new(),
            conn: RefCell::new(None),
            ours: None,
        }
    }

    /// The manager for create, which starts the unit with `extra` (the
    /// annotations' properties) among its properties.
    pub fn new(unit: Unit, extra: Vec<Property>) -> Manager {
        Manager {
            extra,
            ours: Some(Cell::new(false)),
            ..Manager::existing(unit)
        }
    }

    pub fn fs(&self) -> &v2::Manager {
        &self.fs
    }

    /// Runs `f` on the connection to systemd, connecting first if needed:
    /// the system bus (subscribed to job signals), else systemd's private
    /// socket where there is no bus.
    fn with_conn<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Conn) -> Result<T, DbusError>,
    ) -> Result<T, CgroupError> {
        let mut slot = self.conn.borrow_mut();
        if slot.is_none() {
            let c = connect(self.unit.user.as_ref())
                .map_err(|e| error(&self.unit.name, "connect to systemd", e))?;
            *slot = Some(c);
        }
        f(slot.as_mut().expect("set above")).map_err(|e| error(&self.unit.name, what, e))
    }

    /// Starts the scope with `pid` in it and waits for systemd's job.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        let mut props: Vec<Property> = vec![
            (
                "Description".into(),
                Value::Str(format!("berth container {}", self.unit.name)),
            ),
            ("Slice".into(), Value::Str(self.unit.slice.clone())),
            ("Delegate".into(), Value::Bool(true)),
            ("DefaultDependencies".into(), Value::Bool(false)),
            (
                "PIDs".into(),
                Value::Array("u".into(), vec![Value::U32(pid as u32)]),
            ),
            ("MemoryAccounting".into(), Value::Bool(true)),
            ("CPUAccounting".into(), Value::Bool(true)),
            ("IOAccounting".into(), Value::Bool(true)),
            ("TasksAccounting".into(), Value::Bool(true)),
        ];
        // The user's annotations win over berth's choices of the same name.
        props.retain(|(n, _)| !self.extra.iter().any(|(e, _)| e == n));
        props.extend(self.extra.iter().cloned());
        let unit = self.unit.name.clone();
        self.with_conn("start the transient unit", |c| {
            let start = |c: &mut Conn| {
                c.call(
                    DEST,
                    PATH,
                    MANAGER,
                    "StartTransientUnit",
                    &[
                        Value::Str(unit.clone()),
                        Value::Str("fail".into()),
                        properties::array(&props),
                        Value::Array("(sa(sv))".into(), Vec::new()),
                    ],
                    CALL_TIMEOUT,
                )
            };
            let reply = match start(c) {
                // A scope of the same name that failed (or is stopping)
                // keeps its name until reset: reset it and try once more.
                Err(DbusError::Remote { name, .. }) if name.ends_with(".UnitExists") => {
                    let _ = c.call(
                        DEST,
                        PATH,
                        MANAGER,
                        "ResetFailedUnit",
                        &[Value::Str(unit.clone())],
                        CALL_TIMEOUT,
                    );
                    start(c)?
                }
                r => r?,
            };
            if let Some(ours) = &self.ours {
                ours.set(true);
            }
            wait_job(c, reply.first())
        })
    }

    /// Sets the properties systemd has for `r` on the unit (runtime only,
    /// as the unit itself), then writes every file through the v2 manager.
    pub fn apply(&self, r: &LinuxResources, rules: &[DeviceRule]) -> Result<(), CgroupError> {
        // The user's systemd cannot attach a device filter, nor can a
        // rootless berth: the rules are ignored, as runc ignores them.
        let rules = if self.unit.user.is_some() { &[] } else { rules };
        let writes = v2::writes(r, &self.fs.dir())?;
        let mut props = properties::from_writes(&writes)?;
        props.extend(properties::from_devices(rules));
        if !props.is_empty() {
            let unit = self.unit.name.clone();
            self.with_conn("set the unit's properties", |c| {
                c.call(
                    DEST,
                    PATH,
                    MANAGER,
                    "SetUnitProperties",
                    &[
                        Value::Str(unit),
                        Value::Bool(true),
                        properties::array(&props),
                    ],
                    CALL_TIMEOUT,
                )
                .map(drop)
            })?;
        }
        self.fs.apply(r, rules)
    }

    /// Before the scope exists: the host's cgroup v2 (for the user's
    /// systemd, the subtree delegated to it) has a controller for every
    /// file the resources need (systemd enables it for the scope).
    pub fn check(&self, r: &LinuxResources, rules: &[DeviceRule]) -> Result<(), CgroupError> {
        let user = self.unit.user.as_ref();
        let root = std::path::Path::new("/sys/fs/cgroup")
            .join(user.map_or("", |u| u.cgroup.trim_start_matches('/')));
        let file = root.join("cgroup.controllers");
        let have =
            std::fs::read_to_string(&file).map_err(|e| SysError::new("read", file.display(), e))?;
        // Ignored in the user's systemd (`apply`).
        if user.is_none() {
            self.fs.check_rules(rules)?;
        }
        for w in v2::writes(r, &self.fs.dir())? {
            let controller = w.file.split('.').next().unwrap_or("");
            if controller == "cgroup" || have.split_whitespace().any(|c| c == controller) {
                continue;
            }
            let why = match user {
                None => format!("this host's cgroup v2 has no {controller} controller"),
                Some(u) => format!(
                    "the user's systemd (user@{}.service) is delegated no {controller} controller (its cgroup {} has: {})",
                    u.uid,
                    u.cgroup,
                    have.trim()
                ),
            };
            return Err(w.no_controller(format!("{why} (for {})", w.file)));
        }
        Ok(())
    }

    /// Stops the scope (killing what is left in it) and waits for the job;
    /// systemd removes the cgroup. A unit already gone is done.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        if self.ours.as_ref().is_some_and(|o| !o.get()) {
            return Ok(());
        }
        let unit = self.unit.name.clone();
        self.with_conn("stop the unit", |c| {
            let reply = c.call(
                DEST,
                PATH,
                MANAGER,
                "StopUnit",
                &[Value::Str(unit), Value::Str("replace".into())],
                CALL_TIMEOUT,
            );
            match reply {
                Err(DbusError::Remote { name, .. }) if name.ends_with(".NoSuchUnit") => Ok(()),
                Ok(reply) => wait_job(c, reply.first()),
                Err(e) => Err(e),
            }
        })
    }
}

/// Waits for JobRemoved of the job a call returned; a result other than
/// "done" is an error naming it.
fn wait_job(c: &mut Conn, job: Option<&Value>) -> Result<(), DbusError> {
    let Some(Value::Path(job)) = job else {
        return Err(DbusError::Protocol("the reply names no job".into()));
    };
    let m = c.wait_signal(
        "JobRemoved",
        JOB_TIMEOUT,
        |m| matches!(m.body.get(1), Some(Value::Path(p)) if p == job),
    )?;
    match m.body.get(3) {
        Some(Value::Str(r)) if r == "done" => Ok(()),
        Some(Value::Str(r)) => Err(DbusError::Remote {
            name: "job".into(),
            message: format!("systemd's job {job} finished with result \"{r}\""),
        }),
        _ => Err(DbusError::Protocol("JobRemoved without a result".into())),
    }
}

/// The system's systemd: its bus ($DBUS_SYSTEM_BUS_ADDRESS, as libdbus
/// reads it), else its private socket, which only root may use; or the
/// user's. Subscribed to its job signals.
fn connect(user: Option<&UserManager>) -> Result<Conn, DbusError> {
    let mut c = match user {
        Some(u) => user::connect(u)?,
        None => {
            let uid = rustix::process::getuid().as_raw();
            let bus = std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
                .ok()
                .and_then(|a| a.strip_prefix("unix:path=").map(|p| p.to_string()))
                .unwrap_or_else(|| "/run/dbus/system_bus_socket".into());
            match open(&bus, true, uid) {
                Ok(c) => c,
                Err(_) => open("/run/systemd/private", false, uid)?,
            }
        }
    };
    c.call(DEST, PATH, MANAGER, "Subscribe", &[], CALL_TIMEOUT)?;
    Ok(c)
}

/// A connection to one socket; on a bus, signals come only to whom asked
/// for them: JobRemoved is asked for.
fn open(socket: &str, bus: bool, uid: u32) -> Result<Conn, DbusError> {
    let mut c = Conn::connect(socket, bus, uid, CALL_TIMEOUT)?;
    if bus {
        c.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "AddMatch",
            &[Value::Str(format!(
                "type='signal',sender='{DEST}',path='{PATH}',interface='{MANAGER}',member='JobRemoved'"
            ))],
            CALL_TIMEOUT,
        )?;
    }
    Ok(c)
}
