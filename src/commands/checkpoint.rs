use super::GlobalOpts;
use super::args::{self, Command, Flag, Parsed};
use crate::container::{self, CheckpointOpts, CriuFlags};
use lexopt::Parser;

#[derive(Default, Debug)]
pub struct CheckpointArgs {
    pub opts: CheckpointOpts,
}

/// The flags checkpoint and restore share, in help texts.
macro_rules! criu_flags {
    () => {
        "      --image-path DIR      CRIU's images (default ./checkpoint)
      --work-path DIR       CRIU's log and work files (default: the images)
      --tcp-established     allow established TCP connections
      --ext-unix-sk         allow external unix sockets
      --shell-job           allow a shell job (a terminal from outside)
      --file-locks          allow file locks
      --manage-cgroups-mode MODE  soft, full, strict or ignore
      --empty-ns TYPE       leave this namespace empty (network only)
      --auto-dedup          free the images' pages once restored from
      --lazy-pages          memory served on demand (userfaultfd): a dump
                            serves it on --page-server's port until `criu
                            lazy-pages` has taken it; a restore takes it from
                            that daemon (its socket in the work directory)
"
    };
}
pub(crate) use criu_flags;

/// A flag both commands take; false if `f` is not one.
pub fn criu_flag(c: &mut CriuFlags, f: &Flag, p: &mut Parser, help: &'static str) -> Parsed<bool> {
    if f.long("image-path") {
        c.image_path = args::path(p, help)?;
    } else if f.long("work-path") {
        c.work_path = Some(args::path(p, help)?);
    } else if f.long("tcp-established") {
        c.tcp_established = true;
    } else if f.long("ext-unix-sk") {
        c.ext_unix_sk = true;
    } else if f.long("shell-job") {
        c.shell_job = true;
    } else if f.long("file-locks") {
        c.file_locks = true;
    } else if f.long("auto-dedup") {
        c.auto_dedup = true;
    } else if f.long("lazy-pages") {
        c.lazy_pages = true;
    } else if f.long("manage-cgroups-mode") {
        c.manage_cgroups_mode = Some(args::string(p, help)?);
    } else if f.long("empty-ns") {
        c.empty_ns.push(args::string(p, help)?);
    } else {
        return Ok(false);
    }
    Ok(true)
}

impl Command for CheckpointArgs {
    const HELP: &'static str = concat!(
        "Usage: berth checkpoint [flags] ID\n\nCheckpoint a running container with CRIU; it is destroyed afterwards\nunless --leave-running.\n\n",
        "      --leave-running       leave the container running\n",
        "      --pre-dump            dump memory only, for a later dump's --parent-path\n",
        "      --parent-path DIR     the pre-dump to build on, relative to --image-path\n",
        "      --page-server ADDRESS:PORT  send the pages to `criu page-server` there\n",
        "                            (with --lazy-pages: serve them on PORT)\n",
        "      --status-fd FD        with --lazy-pages: a \\0 is written to FD, then\n",
        "                            closed, once the dump serves its pages\n",
        criu_flags!()
    );
    fn flag(&mut self, f: &Flag, p: &mut Parser) -> Parsed<bool> {
        let o = &mut self.opts;
        if f.long("leave-running") {
            o.leave_running = true;
        } else if f.long("pre-dump") {
            o.pre_dump = true;
        } else if f.long("parent-path") {
            o.parent_path = Some(args::path(p, Self::HELP)?);
        } else if f.long("status-fd") {
            o.status_fd = Some(args::value(p, f, Self::HELP)?);
        } else if f.long("page-server") {
            o.page_server = Some(args::string(p, Self::HELP)?);
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

/// The shared flags as given, with runc's default image path and the
/// global --criu.
pub fn with_defaults(given: CriuFlags, g: &GlobalOpts) -> CriuFlags {
    CriuFlags {
        image_path: if given.image_path.as_os_str().is_empty() {
            "checkpoint".into()
        } else {
            given.image_path.clone()
        },
        criu: g.criu.clone(),
        ..given
    }
}

pub fn run(g: &GlobalOpts, a: CheckpointArgs) -> anyhow::Result<i32> {
    let mut opts = a.opts;
    opts.flags = with_defaults(std::mem::take(&mut opts.flags), g);
    opts.root = g.root.clone();
    if container::checkpoint(&opts)? {
        container::delete(&g.root, &opts.id, true)?;
    }
    Ok(0)
}
