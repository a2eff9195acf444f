use super::GlobalOpts;
use crate::container::{self, CreateOpts, Mode};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The container's id
    pub id: String,
    /// The bundle directory (config.json and rootfs)
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container process's pid to this file
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// A unix socket to send the terminal's master to (process.terminal)
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Keep berth's session keyring instead of a new one for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many fds from 3 up to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
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
            relay_terminal: false,
        }
    }
}

pub fn run(g: &GlobalOpts, a: CreateArgs) -> anyhow::Result<i32> {
    container::create(a.opts(g, Mode::Detached))?;
    Ok(0)
}
