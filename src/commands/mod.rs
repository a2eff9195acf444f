//! The command line: runc's subcommands, flags and exit codes. Each file
//! holds one subcommand's arguments and a few lines that call into
//! `container`; nothing here touches the system directly.

mod check;
mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod restore;
mod run;
mod spec;
mod start;
mod state;
mod update;

pub mod args;

use args::{Flag, Parsed, Usage};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct GlobalOpts {
    /// Directory holding the containers' state
    pub root: PathBuf,
    /// No --root was given and `root` is $XDG_RUNTIME_DIR/berth, made
    /// before the command runs (container::default_root).
    pub xdg_root: bool,
    /// Write log messages to this file instead of stderr
    pub log: Option<PathBuf>,
    /// text or json
    pub log_format: String,
    pub debug: bool,
    /// Manage the container's cgroup through systemd (a transient scope)
    pub systemd_cgroup: bool,
    /// runc's --criu: the CRIU binary checkpoint and restore run
    pub criu: PathBuf,
    /// runc's --rootless: true, false or auto, checked by the commands that
    /// would act on it (as runc checks it), not by those that never read it
    pub rootless: String,
    pub version: bool,
}

impl GlobalOpts {
    /// Whether the cgroups are a rootless berth's: --rootless, or auto.
    pub fn rootless_cgroups(&self) -> bool {
        match self.rootless.as_str() {
            "true" => true,
            "false" => false,
            _ => crate::container::rootless(),
        }
    }
}

impl Default for GlobalOpts {
    fn default() -> Self {
        GlobalOpts {
            root: crate::container::SYSTEM_ROOT.into(),
            xdg_root: false,
            log: None,
            log_format: "text".into(),
            debug: false,
            systemd_cgroup: false,
            criu: "criu".into(),
            rootless: "auto".into(),
            version: false,
        }
    }
}

pub struct Cli {
    pub global: GlobalOpts,
    pub command: Option<Command>,
}

#[derive(Debug)]
pub enum Command {
    Check(check::CheckArgs),
    Create(create::CreateArgs),
    Start(start::StartArgs),
    State(state::StateArgs),
    Kill(kill::KillArgs),
    Delete(delete::DeleteArgs),
    Run(run::RunArgs),
    List(list::ListArgs),
    Spec(spec::SpecArgs),
    Pause(pause::PauseArgs),
    Resume(pause::PauseArgs),
    Ps(ps::PsArgs),
    Events(events::EventsArgs),
    Update(update::UpdateArgs),
    // Boxed: exec's flags are three times the size of any other command's.
    Exec(Box<exec::ExecArgs>),
    Checkpoint(checkpoint::CheckpointArgs),
    Restore(restore::RestoreArgs),
    Features,
}

const HELP: &str = "berth: an OCI container runtime

Usage: berth [global flags] COMMAND [flags] [ARGS]

Commands:
  create    create a container from a bundle; it waits for `start`
  start     start a created container's process
  state     print a container's state as JSON
  kill      send a signal to a container's process (default SIGTERM)
  delete    delete a container and everything it holds
  run       create and start a container, and wait for it
  list, ls  list the containers under --root
  spec      write a default config.json into a bundle
  pause     freeze every process of a container
  resume    thaw a paused container
  ps        list a container's processes
  events    print a container's statistics and OOM events
  update    change a running container's resource limits
  exec      run a new process in a running container
  features  print what this berth supports (the runtime-spec document)
  check     check a bundle against the runtime-spec and this host
  checkpoint  checkpoint a running container with CRIU
  restore   restore a container from CRIU's images

Global flags:
      --root DIR          the containers' state (default /run/berth; rootless:
                          $XDG_RUNTIME_DIR/berth when XDG_RUNTIME_DIR is set)
      --log FILE          log messages to FILE instead of stderr
      --log-format FMT    text (default) or json
      --debug             log debug messages too
      --systemd-cgroup    manage cgroups through systemd (cgroup v2)
      --criu PATH         the CRIU binary checkpoint and restore run
      --rootless VALUE    true, false or auto (default): whether to run as rootless
  -v, --version           print the version

`berth COMMAND --help` tells what COMMAND takes.
";

/// The command line: global flags, then a command and what it takes.
pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Parsed<Cli> {
    let mut p = lexopt::Parser::from_args(argv);
    let mut g = GlobalOpts::default();
    let mut name = None;
    let mut root_given = false;
    while let Some(arg) = p.next().map_err(|e| args::error(e, HELP))? {
        let flag = match arg {
            lexopt::Arg::Value(v) => {
                name = Some(
                    v.into_string()
                        .map_err(|v| Usage::Error(format!("unknown command {v:?}"), HELP))?,
                );
                break;
            }
            lexopt::Arg::Long(l) => Flag::Long(l.to_owned()),
            lexopt::Arg::Short(c) => Flag::Short(c),
        };
        if flag.is('h', "help") {
            return Err(Usage::Help(HELP));
        } else if flag.long("root") {
            g.root = args::path(&mut p, HELP)?;
            root_given = true;
        } else if flag.long("log") {
            g.log = Some(args::path(&mut p, HELP)?);
        } else if flag.long("log-format") {
            g.log_format = args::one_of(&mut p, &flag, &["text", "json"], HELP)?;
        } else if flag.long("debug") {
            g.debug = true;
        } else if flag.long("systemd-cgroup") {
            g.systemd_cgroup = true;
        } else if flag.long("criu") {
            g.criu = args::path(&mut p, HELP)?;
        } else if flag.long("rootless") {
            g.rootless = args::string(&mut p, HELP)?;
        } else if flag.is('v', "version") {
            g.version = true;
        } else {
            return Err(Usage::Error(
                format!("unknown global flag {}", flag.text()),
                HELP,
            ));
        }
    }
    if !root_given {
        (g.root, g.xdg_root) = crate::container::default_root();
    }
    let p = &mut p;
    let command = match name.as_deref() {
        None => None,
        Some("check") => Some(Command::Check(args::parse(p)?)),
        Some("create") => Some(Command::Create(args::parse(p)?)),
        Some("start") => Some(Command::Start(args::parse(p)?)),
        Some("state") => Some(Command::State(args::parse(p)?)),
        Some("kill") => Some(Command::Kill(args::parse(p)?)),
        Some("delete") => Some(Command::Delete(args::parse(p)?)),
        Some("run") => Some(Command::Run(args::parse(p)?)),
        Some("list" | "ls") => Some(Command::List(args::parse(p)?)),
        Some("spec") => Some(Command::Spec(args::parse(p)?)),
        Some("pause") => Some(Command::Pause(args::parse(p)?)),
        Some("resume") => Some(Command::Resume(args::parse(p)?)),
        Some("ps") => Some(Command::Ps(args::parse(p)?)),
        Some("events") => Some(Command::Events(args::parse(p)?)),
        Some("update") => Some(Command::Update(args::parse(p)?)),
        Some("exec") => Some(Command::Exec(Box::new(args::parse(p)?))),
        Some("checkpoint") => Some(Command::Checkpoint(args::parse(p)?)),
        Some("restore") => Some(Command::Restore(args::parse(p)?)),
        Some("features") => {
            args::parse::<features::FeaturesArgs>(p)?;
            Some(Command::Features)
        }
        Some("help") => return Err(Usage::Help(HELP)),
        Some(other) => return Err(Usage::UnknownCommand(other.to_string())),
    };
    Ok(Cli { global: g, command })
}

/// The exit status of a wrong command line whose help text is `help`:
/// runc's 1, but 2 for `check`, a command runc does not have (the usual
/// status of a linter's usage error).
pub fn usage_status(help: &str) -> i32 {
    if help == <check::CheckArgs as args::Command>::HELP {
        check::USAGE_STATUS
    } else {
        1
    }
}

/// Runs the command and returns berth's exit status.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    if cli.global.version {
        print!("{}", version_text());
        return Ok(0);
    }
    let g = &cli.global;
    // As runc, before any command (an XDG runtime directory is pruned of
    // what lacks the sticky bit, so it is set again each time).
    if g.xdg_root && cli.command.is_some() {
        crate::container::prepare_xdg_root(&g.root)?;
    }
    // As runc, these are read by the commands that make a container, and
    // ignored by the rest (a client may pass them to every call).
    if matches!(
        cli.command,
        Some(Command::Create(_) | Command::Run(_) | Command::Restore(_))
    ) {
        if g.systemd_cgroup {
            // sd_booted()'s test: systemd makes this directory as PID 1,
            // and nothing else does. Said first, so that a host without
            // systemd hears what it lacks rather than what berth lacks.
            if !std::path::Path::new("/run/systemd/system").is_dir() {
                anyhow::bail!(
                    "--systemd-cgroup: this host's init (PID 1) is not systemd (no /run/systemd/system), so there is no systemd to manage the container's cgroup; run without --systemd-cgroup to manage it through /sys/fs/cgroup"
                );
            }
        }
        if !matches!(g.rootless.as_str(), "true" | "false" | "auto") {
            anyhow::bail!("--rootless {:?}: one of true, false, auto", g.rootless);
        }
    }
    match cli.command {
        None => {
            print!("{HELP}");
            Ok(0)
        }
        Some(Command::Check(a)) => check::run(g, a),
        Some(Command::Create(a)) => create::run(g, a),
        Some(Command::Start(a)) => start::run(g, a),
        Some(Command::State(a)) => state::run(g, a),
        Some(Command::Kill(a)) => kill::run(g, a),
        Some(Command::Delete(a)) => delete::run(g, a),
        Some(Command::Run(a)) => run::run(g, a),
        Some(Command::List(a)) => list::run(g, a),
        Some(Command::Spec(a)) => spec::run(g, a),
        Some(Command::Pause(a)) => pause::run(g, a),
        Some(Command::Resume(a)) => pause::resume(g, a),
        Some(Command::Ps(a)) => ps::run(g, a),
        Some(Command::Events(a)) => events::run(g, a),
        Some(Command::Update(a)) => update::run(g, a),
        Some(Command::Exec(a)) => exec::run(g, *a),
        Some(Command::Checkpoint(a)) => checkpoint::run(g, a),
        Some(Command::Restore(a)) => restore::run(g, a),
        Some(Command::Features) => features::run(),
    }
}

/// The lines containerd and podman parse: `... version X`, `commit:`,
/// `spec:`; and runc's `libseccomp:`. (runc's `go:` line has no berth
/// counterpart.)
fn version_text() -> String {
    format!(
        "berth version {}\ncommit: {}\nspec: {}\nlibseccomp: {}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("BERTH_COMMIT").unwrap_or("unknown"),
        crate::config::SPEC_VERSION,
        crate::container::seccomp_library_version()
    )
}
