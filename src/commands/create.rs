use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use crate::container::{self, CreateOpts, Mode};
use lexopt::Parser;
use std::path::PathBuf;

#[derive(Debug)]
pub struct CreateArgs {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

impl Default for CreateArgs {
    fn default() -> Self {
        CreateArgs {
            id: String::new(),
            bundle: ".".into(),
            pid_file: None,
            console_socket: None,
            no_pivot: false,
            no_new_keyring: false,
            preserve_fds: 0,
        }
    }
}

/// create's flags in help texts (run's too).
macro_rules! create_flags {
    () => {
        "  -b, --bundle DIR          the bundle: config.json and rootfs (default .)
      --pid-file FILE       write the container process's pid to FILE
      --console-socket SOCK send the terminal's master to this unix socket
                            (process.terminal)
      --no-pivot            MS_MOVE and chroot instead of pivot_root
      --no-new-keyring      keep berth's session keyring
      --preserve-fds N      pass N fds from 3 up to the container
"
    };
}
pub(crate) use create_flags;

impl Command for CreateArgs {
    const HELP: &'static str = concat!(
        "Usage: berth create [flags] ID\n\nCreate a container from a bundle; it waits for `start`.\n\n",
        create_flags!()
    );
    fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
        self.create_flag(f, p, Self::HELP)
    }
    fn word(&mut self, w: String, _: &mut Parser) -> Parsed<bool> {
        Ok(args::id(&mut self.id, w))
    }
    fn missing(&self) -> Option<&'static str> {
        args::missing_id(&self.id)
    }
}

impl CreateArgs {
    /// create's flags, which run takes too.
    pub fn create_flag(&mut self, f: &Flag, p: &mut Parser, help: &'static str) -> Parsed<bool> {
        if f.is('b', "bundle") {
            self.bundle = args::path(p, help)?;
        } else if f.long("pid-file") {
            self.pid_file = Some(args::path(p, help)?);
        } else if f.long("console-socket") {
            self.console_socket = Some(args::path(p, help)?);
        } else if f.long("no-pivot") {
            self.no_pivot = true;
        } else if f.long("no-new-keyring") {
            self.no_new_keyring = true;
        } else if f.long("preserve-fds") {
            self.preserve_fds = args::value(p, f, help)?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

impl CreateArgs {
    pub fn opts(&self, g: &GlobalOpts, mode: Mode) -> CreateOpts {
        CreateOpts {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            root: g.root.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            mode,
            rootless_cgroups: g.rootless_cgroups(),
            relay_terminal: false,
            systemd_cgroup: g.systemd_cgroup,
        }
    }
}

pub fn run(g: &GlobalOpts, a: CreateArgs) -> anyhow::Result<i32> {
    container::create(a.opts(g, Mode::Detached))?;
    Ok(0)
}
