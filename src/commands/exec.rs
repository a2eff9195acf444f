use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use crate::container::{self, ExecOpts};
use lexopt::Parser;
use oci_spec::runtime::{Capability, Process};
use std::path::PathBuf;

#[derive(Default, Debug)]
pub struct ExecArgs {
    pub process: Option<PathBuf>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub cap: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    pub cgroup: Option<String>,
    pub id: String,
    pub command: Vec<String>,
}

impl Command for ExecArgs {
    const HELP: &'static str = "Usage: berth exec [flags] ID COMMAND [ARGS...]
       berth exec [flags] -p process.json ID

Run a new process in a running container. Flags go before ID: every word
after it is the command's.

  -p, --process FILE        a process.json to run instead of COMMAND
  -t, --tty                 give the process a terminal
      --console-socket SOCK send the terminal's master to this unix socket
      --cwd DIR             working directory in the container
  -e, --env KEY=VALUE       added to (or replacing in) the environment
  -u, --user UID[:GID]
  -g, --additional-gids GID
  -c, --cap CAP             a capability added to the process's sets
      --no-new-privs
      --apparmor PROFILE, --process-label LABEL
  -d, --detach              return at once; the process is not waited for
      --pid-file FILE       write the process's pid to FILE
      --preserve-fds N      pass N fds from 3 up to the process
      --ignore-paused       exec into a paused container (the process waits
                            for resume)
      --cgroup PATH         a sub-cgroup of the container's for the process
";
    fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
        let h = Self::HELP;
        if f.is('p', "process") {
            self.process = Some(args::path(p, h)?);
        } else if f.is('t', "tty") {
            self.tty = true;
        } else if f.long("console-socket") {
            self.console_socket = Some(args::path(p, h)?);
        } else if f.long("cwd") {
            self.cwd = Some(args::path(p, h)?);
        } else if f.is('e', "env") {
            self.env.push(args::string(p, h)?);
        } else if f.is('u', "user") {
            self.user = Some(args::string(p, h)?);
        } else if f.is('g', "additional-gids") {
            self.additional_gids.push(args::value(p, f, h)?);
        } else if f.is('c', "cap") {
            self.cap.push(args::string(p, h)?);
        } else if f.long("no-new-privs") {
            self.no_new_privs = true;
        } else if f.long("apparmor") {
            self.apparmor = Some(args::string(p, h)?);
        } else if f.long("process-label") {
            self.process_label = Some(args::string(p, h)?);
        } else if f.is('d', "detach") {
            self.detach = true;
        } else if f.long("pid-file") {
            self.pid_file = Some(args::path(p, h)?);
        } else if f.long("preserve-fds") {
            self.preserve_fds = args::value(p, f, h)?;
        } else if f.long("ignore-paused") {
            self.ignore_paused = true;
        } else if f.long("cgroup") {
            self.cgroup = Some(args::string(p, h)?);
        } else {
            return Ok(false);
        }
        Ok(true)
    }
    fn word(&mut self, w: String, p: &mut Parser) -> Parsed<bool> {
        if !args::id(&mut self.id, w) {
            return Ok(false);
        }
        self.command = args::rest(p, Self::HELP)?;
        Ok(true)
    }
    fn missing(&self) -> Option<&'static str> {
        args::missing_id(&self.id)
    }
}

impl ExecArgs {
    /// runc's rule: --process as given, else the container's own process
    /// with the command and flags over it.
    fn process(&self, g: &GlobalOpts) -> anyhow::Result<Process> {
        let mut p: Process = match &self.process {
            Some(f) => {
                let bytes = std::fs::read(f)
                    .map_err(|e| anyhow::anyhow!("--process {}: {e}", f.display()))?;
                let mut v: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                // runc takes a process without a user as uid 0, gid 0;
                // oci-spec's Process requires the field.
                if let Some(o) = v.as_object_mut() {
                    o.entry("user")
                        .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
                }
                serde_path_to_error::deserialize(v)
                    .map_err(|e| anyhow::anyhow!("{}: {}: {}", f.display(), e.path(), e.inner()))?
            }
            None => {
                if self.command.is_empty() {
                    anyhow::bail!("exec needs a command, or --process");
                }
                let mut p = container::process(&g.root, &self.id)?.unwrap_or_default();
                p.set_args(Some(self.command.clone()));
                p.set_terminal(Some(self.tty));
                p
            }
        };
        if self.tty {
            p.set_terminal(Some(true));
        }
        if let Some(c) = &self.cwd {
            p.set_cwd(c.clone());
        }
        if !self.env.is_empty() {
            let mut env = p.env().clone().unwrap_or_default();
            for e in &self.env {
                let key = e.split('=').next().unwrap_or(e);
                env.retain(|x| x.split('=').next() != Some(key));
                env.push(e.clone());
            }
            p.set_env(Some(env));
        }
        if let Some(u) = &self.user {
            let (uid, gid) = match u.split_once(':') {
                Some((a, b)) => (a, Some(b)),
                None => (u.as_str(), None),
            };
            let user = p.user_mut();
            user.set_uid(
                uid.parse()
                    .map_err(|_| anyhow::anyhow!("--user {u}: not UID[:GID]"))?,
            );
            if let Some(gid) = gid {
                user.set_gid(
                    gid.parse()
                        .map_err(|_| anyhow::anyhow!("--user {u}: not UID[:GID]"))?,
                );
            }
        }
        if !self.additional_gids.is_empty() {
            p.user_mut()
                .set_additional_gids(Some(self.additional_gids.clone()));
        }
        if !self.cap.is_empty() {
            let mut caps = p.capabilities().clone().unwrap_or_default();
            for c in &self.cap {
                let cap: Capability =
                    serde_json::from_value(serde_json::Value::from(c.as_str()))
                        .map_err(|_| anyhow::anyhow!("--cap {c}: unknown capability"))?;
                let add = |set: Option<&std::collections::HashSet<Capability>>| {
                    let mut s = set.cloned().unwrap_or_default();
                    s.insert(cap);
                    Some(s)
                };
                caps.set_bounding(add(caps.bounding().as_ref()));
                caps.set_effective(add(caps.effective().as_ref()));
                caps.set_permitted(add(caps.permitted().as_ref()));
                // As runc: ambient too, which the kernel refuses (and berth
                // only logs) unless inheritable holds it; inheritable never.
                caps.set_ambient(add(caps.ambient().as_ref()));
            }
            p.set_capabilities(Some(caps));
        }
        if self.no_new_privs {
            p.set_no_new_privileges(Some(true));
        }
        self.lsm(g, &mut p)?;
        if !p.cwd().is_absolute() {
            anyhow::bail!("cwd {}: must be an absolute path", p.cwd().display());
        }
        Ok(p)
    }
}

impl ExecArgs {
    /// The AppArmor profile and SELinux label, as runc 1.1.5 picks them:
    /// --apparmor and --process-label over the process's own; a process
    /// without one (a process.json) takes the container's, as libcontainer
    /// falls back to its config's. Whether the host can apply them is the
    /// container layer's to check, as at create.
    fn lsm(&self, g: &GlobalOpts, p: &mut Process) -> anyhow::Result<()> {
        let given = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        if let Some(a) = given(&self.apparmor) {
            p.set_apparmor_profile(Some(a));
        }
        if let Some(l) = given(&self.process_label) {
            p.set_selinux_label(Some(l));
        }
        // Without --process, p is the container's process already.
        let both = given(p.apparmor_profile()).is_some() && given(p.selinux_label()).is_some();
        if self.process.is_none() || both {
            return Ok(());
        }
        let Some(own) = container::process(&g.root, &self.id)? else {
            return Ok(());
        };
        if given(p.apparmor_profile()).is_none() {
            p.set_apparmor_profile(given(own.apparmor_profile()));
        }
        if given(p.selinux_label()).is_none() {
            p.set_selinux_label(given(own.selinux_label()));
        }
        Ok(())
    }
}

/// Exit status: the process's (128+N for signal N), 0 with --detach, and
/// 255 when the process could not be started, as runc.
pub fn run(g: &GlobalOpts, a: ExecArgs) -> anyhow::Result<i32> {
    match exec(g, a) {
        Ok(code) => Ok(code),
        Err(e) => {
            crate::logging::error(&e.to_string());
            Ok(255)
        }
    }
}

fn exec(g: &GlobalOpts, a: ExecArgs) -> anyhow::Result<i32> {
    let process = a.process(g)?;
    let sigfd = if a.detach {
        None
    } else {
        Some(container::block_forwarded_signals()?)
    };
    let execed = container::exec(
        &g.root,
        &a.id,
        ExecOpts {
            process,
            console_socket: a.console_socket,
            detach: a.detach,
            pid_file: a.pid_file,
            preserve_fds: a.preserve_fds,
            ignore_paused: a.ignore_paused,
            cgroup: a.cgroup,
        },
    )?;
    match sigfd {
        None => Ok(0),
        Some(sigfd) => Ok(container::wait_foreground(
            &sigfd,
            &execed.pidfd,
            execed.pid,
            execed.master,
        )?),
    }
}
