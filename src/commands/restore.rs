use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use super::checkpoint::{criu_flag, criu_flags, with_defaults};
use crate::container::{self, RestoreOpts};
use lexopt::Parser;

#[derive(Debug)]
pub struct RestoreArgs {
    pub opts: RestoreOpts,
    pub detach: bool,
}

impl Default for RestoreArgs {
    fn default() -> Self {
        RestoreArgs {
            opts: RestoreOpts {
                bundle: ".".into(),
                ..Default::default()
            },
            detach: false,
        }
    }
}

impl Command for RestoreArgs {
    const HELP: &'static str = concat!(
        "Usage: berth restore [flags] ID\n\nRestore a container from CRIU's images under ID, and wait for it as run\ndoes unless --detach.\n\n",
        "  -b, --bundle DIR          the bundle: config.json and rootfs (default .)\n",
        "  -d, --detach              return once the container runs\n",
        "      --pid-file FILE       write the restored process's pid to FILE\n",
        "      --console-socket SOCK send the terminal's master to this unix socket\n",
        "      --no-subreaper        (runc's; berth is never a subreaper)\n",
        "      --no-pivot            (runc's; CRIU makes the restored root)\n",
        "      --lsm-profile TYPE:NAME      the restored process's LSM profile\n",
        "      --lsm-mount-context CONTEXT  the SELinux context of restored mounts\n",
        criu_flags!()
    );
    fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
        let o = &mut self.opts;
        if f.is('b', "bundle") {
            o.bundle = args::path(p, Self::HELP)?;
        } else if f.is('d', "detach") {
            self.detach = true;
        } else if f.long("pid-file") {
            o.pid_file = Some(args::path(p, Self::HELP)?);
        } else if f.long("console-socket") {
            o.console_socket = Some(args::path(p, Self::HELP)?);
        } else if f.long("no-subreaper") || f.long("no-pivot") {
            // runc's; nothing to do in berth.
        } else if f.long("lsm-profile") {
            o.lsm_profile = Some(args::string(p, Self::HELP)?);
        } else if f.long("lsm-mount-context") {
            o.lsm_mount_context = Some(args::string(p, Self::HELP)?);
        } else {
            return criu_flag(&mut o.flags, f, p, Self::HELP);
        }
        Ok(true)
    }
    fn word(&mut self, w: String, _: &mut Parser) -> Parsed<bool> {
        Ok(args::id(&mut self.opts.id, w))
    }
    fn missing(&self) -> Option<&'static str> {
        args::missing_id(&self.opts.id)
    }
}

pub fn run(g: &GlobalOpts, a: RestoreArgs) -> anyhow::Result<i32> {
    let mut opts = a.opts;
    opts.flags = with_defaults(std::mem::take(&mut opts.flags), g);
    opts.root = g.root.clone();
    opts.foreground = !a.detach;
    opts.systemd_cgroup = g.systemd_cgroup;
    opts.rootless_cgroups = g.rootless_cgroups();
    // Blocked before CRIU runs: the restored process is berth's child, and
    // no signal meant for it may be lost.
    let sigfd = if a.detach {
        None
    } else {
        Some(container::block_forwarded_signals()?)
    };
    let restored = container::restore(&opts)?;
    let Some(sigfd) = sigfd else { return Ok(0) };
    let pid = restored.state.pid;
    // Other commands (kill, state) may act on it while it runs.
    drop(restored.dir);
    let code = container::wait_foreground(&sigfd, &restored.pidfd, pid, restored.master)?;
    container::delete(&g.root, &opts.id, true)?;
    Ok(code)
}
