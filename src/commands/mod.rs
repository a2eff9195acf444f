//! The command line: runc's subcommands, flags and exit codes. Each file
//! holds one subcommand's arguments and a few lines that call into
//! `container`; nothing here touches the system directly.

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "berth", about = "berth: an OCI container runtime", disable_version_flag = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Directory holding the containers' state
    #[arg(long, global = true, default_value = "/run/berth")]
    pub root: PathBuf,
    /// Write log messages to this file instead of stderr
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Log debug messages too
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd (not supported yet)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container from a bundle; it waits for `start`
    Create(create::CreateArgs),
    /// Start a created container's user process
    Start(start::StartArgs),
    /// Print a container's state as JSON
    State(state::StateArgs),
    /// Send a signal to a container's process (default SIGTERM)
    Kill(kill::KillArgs),
    /// Delete a container and everything it holds
    Delete(delete::DeleteArgs),
    /// Create and start a container, and wait for it
    Run(run::RunArgs),
    /// List the containers under --root
    #[command(alias = "ls")]
    List(list::ListArgs),
    /// Write a default config.json into a bundle
    Spec(spec::SpecArgs),
    /// Freeze every process of a container
    Pause(pause::PauseArgs),
    /// Thaw a paused container
    Resume(pause::PauseArgs),
    /// List a container's processes
    Ps(ps::PsArgs),
    /// Print a container's statistics and OOM events
    Events(events::EventsArgs),
    /// Change a running container's resource limits
    Update(update::UpdateArgs),
    /// Run a new process in a running container
    Exec(exec::ExecArgs),
    /// Print what this berth supports (the runtime-spec features document)
    Features,
}

/// Runs the command and returns berth's exit status.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    if cli.global.version {
        print!("{}", version_text());
        return Ok(0);
    }
    if cli.global.systemd_cgroup {
        anyhow::bail!("--systemd-cgroup: systemd cgroup management is not supported yet");
    }
    let g = &cli.global;
    match cli.command {
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(0)
        }
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
        Some(Command::Exec(a)) => exec::run(g, a),
        Some(Command::Features) => features::run(),
    }
}

/// The lines containerd and podman parse: `... version X`, `commit:`, `spec:`.
fn version_text() -> String {
    format!(
        "berth version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("BERTH_COMMIT").unwrap_or("unknown"),
        crate::config::SPEC_VERSION
    )
}
