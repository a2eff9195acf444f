//! `checkpoint`: a running container's process tree dumped by CRIU into
//! --image-path (or only its memory, --pre-dump, into a parent for a
//! later dump's --parent-path). Everything that can be wrong with the
//! command line or the container is found before CRIU runs. A dump without
//! --leave-running ends the container's processes; the caller then
//! destroys the container, as runc does, so that restore can take its id.

use super::ContainerError;
use super::dir::StateDir;
use super::images::{
    CriuFlags, cgroup2_dir, criu_config_file, criu_error, external_mounts, external_netns,
    joined_netns, open_dir, raw, save_descriptors, usage,
};
use super::migration::{StatusFd, check_lazy_dump, check_lazy_support, page_server};
use super::shared::wrong;
use super::state::Status;
use crate::cgroups::CgroupManager;
use crate::criu::{self, Event, Feature, Request};
use crate::error::SysContext;
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub struct CheckpointOpts {
    pub root: PathBuf,
    pub id: String,
    pub flags: CriuFlags,
    /// Relative to --image-path: the pre-dump this dump builds on.
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub pre_dump: bool,
    pub status_fd: Option<i32>,
    pub page_server: Option<String>,
}

/// Dumps the container; true when its processes are gone (no
/// --leave-running, no --pre-dump) and it is to be destroyed.
pub fn checkpoint(opts: &CheckpointOpts) -> Result<bool, ContainerError> {
    let _phase = crate::logging::span("checkpoint");
    let mut o = opts.flags.opts()?;
    o.page_server = opts.page_server.as_deref().map(page_server).transpose()?;
    check_lazy_dump(opts.flags.lazy_pages, opts.pre_dump, o.page_server.as_ref())?;
    let images_path = &opts.flags.image_path;
    let parent = parent_path(images_path, opts.parent_path.as_deref())?;
    let mut status_fd = StatusFd::take(opts.status_fd)?;
    let dir = StateDir::open(&opts.root, &opts.id)?;
    let state = dir.load()?;
    let status = state.status();
    if !matches!(status, Status::Running | Status::Paused) {
        return Err(wrong(&state, "checkpoint", status));
    }
    let version = opts.flags.check_version()?;
    check_features(opts)?;
    let images = open_dir("--image-path", images_path, true)?;
    let work = opts
        .flags
        .work_path
        .as_ref()
        .map(|p| open_dir("--work-path", p, true))
        .transpose()?;
    o.images_dir_fd = raw(&images);
    o.work_dir_fd = work.as_ref().map(raw);
    o.track_mem = opts.pre_dump || parent.is_some();
    o.parent_img = parent;
    // CRIU 3.15 and later say "status-ready" to berth, which writes the
    // fd; an older one writes it itself.
    if version < 31500 {
        o.status_fd = status_fd.as_ref().map(StatusFd::raw);
    }
    what_to_dump(&mut o, opts, &state)?;
    save_descriptors(images_path, state.pid)?;
    let request = if opts.pre_dump {
        Request::PreDump
    } else {
        Request::Dump
    };
    let log = opts
        .flags
        .work_path
        .as_deref()
        .unwrap_or(images_path)
        .join("dump.log");
    let dumped = criu::run(&opts.flags.criu(), request, &o, &mut |e| {
        if let Event::Notify(n) = e
            && n.script == "status-ready"
            && let Some(fd) = status_fd.take()
        {
            fd.ready();
        }
        Ok(())
    });
    if dumped.is_err() && status == Status::Running {
        thaw(&state);
    }
    dumped.map_err(|e| criu_error(&opts.id, e, Some(log)))?;
    crate::logging::debug(&format!(
        "container {}: {} into {}",
        opts.id,
        if opts.pre_dump {
            "pre-dumped"
        } else {
            "dumped"
        },
        images_path.display()
    ));
    Ok(!o.leave_running)
}

/// The container's part of the request: its process and root, and what
/// of it CRIU leaves out (external mounts, a joined network namespace).
fn what_to_dump(
    o: &mut criu::Opts,
    opts: &CheckpointOpts,
    state: &super::state::State,
) -> Result<(), ContainerError> {
    let bundle = Path::new(&state.bundle);
    let spec = crate::config::load(bundle)?;
    o.config_file = criu_config_file(&spec);
    o.pid = Some(state.pid);
    o.root = Some(state.rootfs.clone());
    o.log_file = "dump.log".into();
    o.leave_running = opts.leave_running || opts.pre_dump;
    let cgroup2 = match state.cgroup_path.is_empty() {
        true => None,
        false => cgroup2_dir(state.cgroup()?.views()),
    };
    // CRIU freezes the tree through the cgroup (as runc has it do), and
    // so can dump a paused container: its seizing one by one would wait
    // forever on frozen processes. A frozen cgroup is left frozen after
    // --leave-running.
    o.freeze_cgroup = cgroup2.as_ref().map(|d| d.display().to_string());
    o.ext_mnt = external_mounts(&spec, bundle, cgroup2.as_deref())?
        .into_iter()
        .map(|(dest, _)| (dest.clone(), dest))
        .collect();
    if let Some(netns) = joined_netns(&spec) {
        o.external.push(external_netns(&netns)?);
    }
    Ok(())
}

/// What the dump asks of CRIU and the kernel beyond a plain dump.
fn check_features(opts: &CheckpointOpts) -> Result<(), ContainerError> {
    let criu = opts.flags.criu();
    if opts.pre_dump
        && !criu::has_feature(&criu, Feature::MemTrack)
            .map_err(|e| criu_error(&opts.id, e, None))?
    {
        return Err(usage(
            "--pre-dump: CRIU cannot track memory changes on this kernel (no soft-dirty bits)"
                .into(),
        ));
    }
    if opts.flags.lazy_pages {
        check_lazy_support(&opts.flags, &opts.id)?;
    }
    Ok(())
}

/// A dump that failed, or a criu killed at BERTH_CRIU_TIMEOUT, may leave
/// the cgroup CRIU froze (freeze_cgroup) frozen: a container that was
/// running runs on.
fn thaw(state: &super::state::State) {
    if state.cgroup_path.is_empty() || !crate::cgroups::is_frozen(&state.cgroup_path) {
        return;
    }
    if let Err(e) = state.cgroup().and_then(|cg| cg.freeze(false)) {
        crate::logging::warn(&format!(
            "container {}: thaw after the failed dump: {e}",
            state.id
        ));
    }
}

/// --parent-path as runc takes it: relative to --image-path (CRIU reads it
/// so), and a directory that is there.
fn parent_path(images: &Path, parent: Option<&Path>) -> Result<Option<String>, ContainerError> {
    let Some(parent) = parent else {
        return Ok(None);
    };
    if parent.is_absolute() {
        return Err(usage(format!(
            "--parent-path {}: must be relative to --image-path {}",
            parent.display(),
            images.display()
        )));
    }
    // Made first, as runc makes it: a parent beside a new image directory
    // (../pre) is reached through it.
    std::fs::create_dir_all(images).sys("--image-path", images.display())?;
    let real = images.join(parent);
    match std::fs::metadata(&real) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(usage(format!(
                "invalid --parent-path {}: {} is not a directory",
                parent.display(),
                real.display()
            )));
        }
        Err(e) => {
            return Err(usage(format!(
                "invalid --parent-path {}: {}: {}",
                parent.display(),
                real.display(),
                crate::error::errno_text(&e)
            )));
        }
    }
    Ok(Some(parent.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_path_is_relative_and_there() {
        let d = std::env::temp_dir().join(format!("berth-parent-{}", std::process::id()));
        std::fs::create_dir_all(d.join("pre")).unwrap();
        assert_eq!(
            parent_path(&d, Some(Path::new("../pre")))
                .unwrap_err()
                .to_string(),
            format!(
                "invalid --parent-path ../pre: {}/../pre: no such file or directory",
                d.display()
            )
        );
        std::fs::create_dir_all(d.join("img")).unwrap();
        let img = d.join("img");
        assert_eq!(
            parent_path(&img, Some(Path::new("../pre"))).unwrap(),
            Some("../pre".into())
        );
        assert!(
            parent_path(&img, Some(Path::new("/abs")))
                .unwrap_err()
                .to_string()
                .contains("must be relative")
        );
        assert_eq!(parent_path(&img, None).unwrap(), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
