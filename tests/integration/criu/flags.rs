//! The flags checkpoint and restore pass to CRIU, each checked by what it
//! does: --file-locks (a held flock is dumped, and held again after the
//! restore; without it the dump fails), --status-fd (empty: only a lazy
//! dump writes it), --work-path (CRIU's logs land there),
//! --pid-file, --auto-dedup (the pages freed from a pre-dump on the dump,
//! from the images on the restore), and --ext-unix-sk, --shell-job and
//! --manage-cgroups-mode soft accepted on both;
//! CRIU's bound (BERTH_CRIU_TIMEOUT) on a criu that never answers; and a
//! paused container, dumped through its frozen cgroup as runc has it.
//! Scenarios share containers: a dump under TCG takes seconds.

use super::{
    assert_restored, assert_started_once, count_above, counter, criu_here, images, read_count, s,
    slow,
};
use crate::common::run_with_timeout;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Whether a flock on `file` is held by someone else (util-linux flock,
/// not waiting).
fn lock_held(file: &Path) -> bool {
    let st = Command::new("flock")
        .arg("-n")
        .arg(file)
        .arg("true")
        .status()
        .unwrap();
    match st.code() {
        Some(0) => false,
        Some(1) => true,
        other => panic!("flock -n {}: {other:?}", file.display()),
    }
}

/// The disk blocks (512 bytes) of CRIU's page files in `dir`: what
/// --auto-dedup punches out.
fn page_blocks(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pages-"))
        .map(|e| e.metadata().unwrap().blocks())
        .sum()
}

/// A counter holding a flock on /tmp/lock: dumped without --file-locks it
/// fails; with it, a pre-dump and a dump on it with --auto-dedup,
/// --status-fd and --work-path, then a restore with --pid-file,
/// --work-path and --auto-dedup: the lock is held again, the count goes
/// on, and each flag left its mark.
#[test]
fn file_locks_status_fd_work_path_pid_file_auto_dedup() {
    if !criu_here("file_locks_status_fd_work_path_pid_file_auto_dedup") {
        return;
    }
    let b = counter("/tmp");
    // busybox has no flock: the host's, with its libraries (/usr bound
    // read-only, and merged /usr's links).
    b.config(|c| {
        let args = c["process"]["args"][2].as_str().unwrap().to_string();
        c["process"]["args"][2] =
            format!("exec 9>/tmp/lock; /usr/bin/flock -x 9; {args}").into();
        c["mounts"].as_array_mut().unwrap().push(
            serde_json::json!({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}),
        );
    });
    for lib in ["lib", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{lib}"), b.path.join("rootfs").join(lib)).unwrap();
    }
    let file = b.path.join("rootfs/tmp/count");
    let lock = b.path.join("rootfs/tmp/lock");
    let id = b.id("criu-flags");
    b.run_detached(&id);
    count_above(&file, 2);
    assert!(lock_held(&lock), "the container holds no lock on /tmp/lock");

    let dir = images(&b, "images");
    let out = slow(
        &b,
        &[
            "checkpoint",
            "--leave-running",
            "--image-path",
            &s(&dir.join("nolocks")),
            &id,
        ],
    );
    assert_eq!(out.code, 1, "a held lock dumped without --file-locks");
    assert!(
        out.stderr
            .contains("Some file locks are hold by dumping tasks!"),
        "{}",
        out.stderr
    );
    assert_eq!(b.status(&id), "running");

    let (pre, img, work) = (dir.join("pre"), dir.join("img"), dir.join("work"));
    slow(
        &b,
        &["checkpoint", "--pre-dump", "--image-path", &s(&pre), &id],
    )
    .ok();
    let pre_blocks = page_blocks(&pre);
    let status = dir.join("status");
    run_with_timeout(
        super::with_fd3(
            &b,
            ">",
            &status,
            &[
                "checkpoint",
                "--file-locks",
                "--status-fd",
                "3",
                "--work-path",
                &s(&work),
                "--image-path",
                &s(&img),
                "--parent-path",
                "../pre",
                "--auto-dedup",
                "--manage-cgroups-mode",
                "soft",
                "--ext-unix-sk",
                "--shell-job",
                &id,
            ],
        ),
        Duration::from_secs(240),
    )
    .ok();
    // The status fd says a lazy dump's page server is ready (runc's help
    // says so; migration.rs): a plain dump leaves it empty.
    assert_eq!(std::fs::read(&status).unwrap(), b"", "--status-fd");
    // The dump took the pages that changed since the pre-dump and, with
    // --auto-dedup, punched them out of the pre-dump's images.
    let after = page_blocks(&pre);
    assert!(
        after < pre_blocks,
        "--auto-dedup: the pre-dump's page blocks went {pre_blocks} -> {after}"
    );
    assert!(
        work.join("dump.log").is_file(),
        "no dump.log in --work-path"
    );
    assert!(!img.join("dump.log").exists(), "dump.log in --image-path");
    assert!(!lock_held(&lock), "the lock outlived the dumped container");
    let dumped = read_count(&file).unwrap();

    let (rwork, pid_file) = (dir.join("rwork"), dir.join("pid"));
    let img_blocks = page_blocks(&img);
    let bundle = s(&b.path);
    slow(
        &b,
        &[
            "restore",
            "-d",
            "-b",
            &bundle,
            "--file-locks",
            "--pid-file",
            &s(&pid_file),
            "--work-path",
            &s(&rwork),
            "--image-path",
            &s(&img),
            "--auto-dedup",
            "--manage-cgroups-mode",
            "soft",
            "--ext-unix-sk",
            "--shell-job",
            &id,
        ],
    )
    .ok();
    assert_restored(&b, &id);
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    assert!(
        rwork.join("restore.log").is_file(),
        "no restore.log in --work-path"
    );
    assert!(lock_held(&lock), "the lock is not held after the restore");
    count_above(&file, dumped);
    assert_started_once(&file);
    // Restored from, the image's pages are freed (punched out).
    let after = page_blocks(&img);
    assert!(
        after < img_blocks,
        "--auto-dedup: the images' page blocks went {img_blocks} -> {after}"
    );
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// A criu that never answers (its log in --work-path is a FIFO no one
/// reads: criu blocks opening it) is killed past BERTH_CRIU_TIMEOUT: the
/// checkpoint fails naming the container and the step, and the container
/// runs on; the restore fails so too and leaves no state, cgroup or mount.
#[test]
fn a_criu_that_never_answers_is_bounded() {
    if !criu_here("a_criu_that_never_answers_is_bounded") {
        return;
    }
    let (b, file, id) = super::counting("criu-bound");
    let dir = images(&b, "images");
    let (img, stuck) = (dir.join("img"), dir.join("stuck"));
    std::fs::create_dir_all(&stuck).unwrap();
    for log in ["dump.log", "restore.log"] {
        let st = Command::new("mkfifo")
            .arg(stuck.join(log))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let bounded = |args: &[&str]| {
        let mut cmd = b.cmd(args);
        cmd.env("BERTH_CRIU_TIMEOUT", "5");
        run_with_timeout(cmd, Duration::from_secs(120))
    };
    let args = ["--work-path", &s(&stuck), "--image-path", &s(&img)];
    let out = bounded(&[&["checkpoint"], &args[..], &[&id]].concat());
    assert_eq!(out.code, 1, "{out:?}");
    let says =
        "CRIU's dump did not answer to the request within 5 s (BERTH_CRIU_TIMEOUT): criu is killed";
    assert!(
        out.stderr.contains(says) && out.stderr.contains(&id),
        "{}",
        out.stderr
    );
    assert_eq!(b.status(&id), "running");
    let n = read_count(&file).unwrap();
    count_above(&file, n);
    // A bound of a second cuts a real dump short (under TCG it takes
    // several), wherever criu is then: having frozen the cgroup, seized
    // the processes or not yet. The container runs on all the same.
    let mut cmd = b.cmd(&[
        "checkpoint",
        "--leave-running",
        "--image-path",
        &s(&dir.join("cut")),
        &id,
    ]);
    cmd.env("BERTH_CRIU_TIMEOUT", "1");
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    eprintln!(
        "a dump bounded at 1 s: exit {}: {}",
        out.code,
        out.stderr.trim()
    );
    assert_eq!(b.status(&id), "running");
    let n = read_count(&file).unwrap();
    count_above(&file, n);

    slow(&b, &["checkpoint", "--image-path", &s(&img), &id]).ok();
    let dumped = read_count(&file).unwrap();
    let bundle = s(&b.path);
    let one = super::restoring();
    let out = bounded(&[&["restore", "-d", "-b", &bundle], &args[..], &[&id]].concat());
    drop(one);
    assert_eq!(out.code, 1, "{out:?}");
    let says = "CRIU's restore did not answer to the request within 5 s";
    assert!(
        out.stderr.contains(says) && out.stderr.contains(&id),
        "{}",
        out.stderr
    );
    b.assert_no_leftovers(&id);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        read_count(&file),
        Some(dumped),
        "counting after the failed restore"
    );

    super::restore_counts_on(&b, &img, &id, &file, dumped);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// A paused container is dumped as runc dumps it, through its frozen
/// cgroup: with --leave-running it stays paused (and resumes), without it
/// is destroyed, and restored it runs (runc's restore too).
#[test]
fn a_paused_container_is_checkpointed() {
    if !criu_here("a_paused_container_is_checkpointed") {
        return;
    }
    let (b, file, id) = super::counting("criu-paused");
    b.berth(&["pause", &id]).ok();
    let dir = images(&b, "images");
    slow(
        &b,
        &[
            "checkpoint",
            "--leave-running",
            "--image-path",
            &s(&dir.join("left")),
            &id,
        ],
    )
    .ok();
    assert_eq!(b.status(&id), "paused");
    let n = read_count(&file).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(read_count(&file), Some(n), "counting while paused");
    b.berth(&["resume", &id]).ok();
    count_above(&file, n);

    b.berth(&["pause", &id]).ok();
    let img = dir.join("img");
    slow(&b, &["checkpoint", "--image-path", &s(&img), &id]).ok();
    assert!(!b.root.join(&id).exists(), "checkpoint left the state");
    let dumped = read_count(&file).unwrap();
    super::restore_counts_on(&b, &img, &id, &file, dumped);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// --manage-cgroups-mode full and ignore, on both sides: the restored
/// container is in its own cgroup with the bundle's limits either way
/// (with ignore CRIU leaves cgroups alone, and the restored tree starts in
/// criu's: berth puts criu in the container's first, as runc does).
#[test]
fn cgroup_modes_restore_into_the_container_s_cgroup() {
    if !criu_here("cgroup_modes_restore_into_the_container_s_cgroup") {
        return;
    }
    let (b, file, id) = super::counting("criu-cgmode");
    let bundle = s(&b.path);
    for mode in ["full", "ignore"] {
        let img = s(&images(&b, &format!("img-{mode}")));
        let flag = ["--manage-cgroups-mode", mode];
        slow(
            &b,
            &[&["checkpoint"], &flag[..], &["--image-path", &img, &id]].concat(),
        )
        .ok();
        let dumped = read_count(&file).unwrap();
        let args = [
            &["restore", "-d", "-b", &bundle],
            &flag[..],
            &["--image-path", &img, &id],
        ];
        slow(&b, &args.concat()).ok();
        assert_restored(&b, &id);
        count_above(&file, dumped);
    }
    assert_started_once(&file);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// runc's `org.criu.config` annotation: CRIU reads the container's own
/// configuration file after berth's options, on the dump and on the
/// restore (here its log-file wins over dump.log and restore.log).
#[test]
fn the_containers_criu_config_file_is_read() {
    if !criu_here("the_containers_criu_config_file_is_read") {
        return;
    }
    let b = counter("/tmp");
    let conf = b.path.parent().unwrap().join("criu.conf");
    std::fs::write(&conf, "log-file=from-conf.log\n").unwrap();
    b.config(|c| c["annotations"]["org.criu.config"] = s(&conf).into());
    let file = b.path.join("rootfs/tmp/count");
    let id = b.id("criu-conf");
    b.run_detached(&id);
    count_above(&file, 2);
    let dir = images(&b, "conf");
    let (img, work) = (s(&dir.join("img")), dir.join("work"));
    let w = s(&work);
    slow(
        &b,
        &["checkpoint", "--work-path", &w, "--image-path", &img, &id],
    )
    .ok();
    assert!(
        work.join("from-conf.log").is_file(),
        "the config's log-file"
    );
    assert!(!work.join("dump.log").exists());
    std::fs::remove_file(work.join("from-conf.log")).unwrap();
    let dumped = read_count(&file).unwrap();
    let bundle = s(&b.path);
    let args = [
        "restore",
        "-d",
        "-b",
        &bundle,
        "--work-path",
        &w,
        "--image-path",
        &img,
        &id,
    ];
    slow(&b, &args).ok();
    assert_restored(&b, &id);
    count_above(&file, dumped);
    assert!(
        work.join("from-conf.log").is_file(),
        "the config's log-file"
    );
    assert!(!work.join("restore.log").exists());
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}
