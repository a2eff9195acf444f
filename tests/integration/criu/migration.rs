//! Live migration's flags, as runc's checkpoint.bats drives them: a dump
//! whose pages go to a `criu page-server` (--page-server), and a lazy
//! migration: `checkpoint --lazy-pages --page-server --status-fd` serves
//! the memory, `criu lazy-pages` fetches it for `restore --lazy-pages`
//! under another id, and the checkpointed container is gone once the
//! restored one has all of it. The errors berth finds before CRIU runs go
//! everywhere.

use super::{
    assert_restored, assert_started_once, count_above, counting, criu_here, images, read_count, s,
    slow, wait_for,
};
use crate::common::{Bundle, Out, run_with_timeout};
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::Duration;

/// A command run in the background, bounded; joined for its result.
fn background(cmd: Command) -> JoinHandle<Out> {
    std::thread::spawn(move || run_with_timeout(cmd, Duration::from_secs(300)))
}

#[track_caller]
fn join(h: JoinHandle<Out>, what: &str) -> Out {
    let out = h.join().unwrap();
    assert_eq!(out.code, 0, "{what}: {out:?}");
    out
}

/// A TCP port nothing listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Whether something listens on TCP `port` (/proc/net/tcp and tcp6,
/// state 0A), without connecting: a page server serves one connection.
fn listening(port: u16) -> bool {
    let needle = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && format!("{} ", cols[1]).ends_with(&needle) && cols[3] == "0A"
            })
    })
}

fn page_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pages-"))
        .collect();
    v.sort();
    v
}

fn criu(args: &[&str]) -> Command {
    let mut c = Command::new("criu");
    c.args(args).stdin(std::process::Stdio::null());
    c
}

/// `checkpoint --page-server`: the pages go to the `criu page-server`
/// listening there, the rest to --image-path; the two together restore.
#[test]
fn a_dump_sent_to_a_page_server() {
    if !criu_here("a_dump_sent_to_a_page_server") {
        return;
    }
    let (b, file, id) = counting("criu-ps");
    let server_dir = images(&b, "served");
    let local = images(&b, "local");
    std::fs::create_dir_all(&server_dir).unwrap();
    let port = free_port();
    let server = background(criu(&[
        "page-server",
        "--images-dir",
        &s(&server_dir),
        "--port",
        &port.to_string(),
        "-v4",
        "-o",
        "page-server.log",
    ]));
    wait_for(|| listening(port), "criu page-server does not listen");
    let ps = format!("127.0.0.1:{port}");
    slow(
        &b,
        &[
            "checkpoint",
            "--page-server",
            &ps,
            "--image-path",
            &s(&local),
            &id,
        ],
    )
    .ok();
    join(server, "criu page-server");
    assert!(!b.root.join(&id).exists(), "checkpoint left the state");
    let dumped = read_count(&file).unwrap();
    let served = page_files(&server_dir);
    assert!(!served.is_empty(), "no pages reached the page server");
    assert_eq!(
        page_files(&local),
        Vec::<String>::new(),
        "pages written locally"
    );
    // What a migration does next: the images beside the pages.
    for e in std::fs::read_dir(&local).unwrap().flatten() {
        std::fs::copy(e.path(), server_dir.join(e.file_name())).unwrap();
    }
    super::restore_counts_on(&b, &server_dir, &id, &file, dumped);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}

/// All that is written to the fifo until its writer closes it, bounded.
fn read_status(fifo: &Path) -> Vec<u8> {
    let fifo = fifo.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let r = std::fs::File::open(&fifo).and_then(|mut f| f.read_to_end(&mut got));
        let _ = tx.send(r.map(|_| got));
    });
    rx.recv_timeout(Duration::from_secs(240))
        .expect("--status-fd: nothing and no end within 240 s")
        .unwrap()
}

/// runc's lazy migration, on one host: the dump serves its memory and
/// says so on --status-fd (one \0, then the fd closed); `criu lazy-pages`
/// fetches the pages for a restore under a new id, which counts on; the
/// checkpoint ends when all is fetched, and the old container is gone.
#[test]
fn a_lazy_migration_through_criu_lazy_pages() {
    if !criu_here("a_lazy_migration_through_criu_lazy_pages") {
        return;
    }
    let (b, file, id) = counting("criu-lazy");
    let img = images(&b, "img");
    let work = images(&b, "work");
    let fifo = images(&b, "status");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let port = free_port().to_string();
    let ps = format!("0.0.0.0:{port}");
    let dump = background(super::with_fd3(
        &b,
        ">",
        &fifo,
        &[
            "checkpoint",
            "--lazy-pages",
            "--page-server",
            &ps,
            "--status-fd",
            "3",
            "--work-path",
            &s(&work),
            "--image-path",
            &s(&img),
            &id,
        ],
    ));
    assert_eq!(read_status(&fifo), [0], "--status-fd: one \\0, then closed");
    assert!(img.join("inventory.img").is_file());
    assert!(
        !dump.is_finished(),
        "the dump ended before its pages were taken"
    );
    let dumped = read_count(&file).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(read_count(&file), Some(dumped), "counting on while dumped");

    let daemon = background(criu(&[
        "lazy-pages",
        "--page-server",
        "--address",
        "127.0.0.1",
        "--port",
        &port,
        "--images-dir",
        &s(&img),
        "-v4",
        "-o",
        "lazy-pages.log",
    ]));
    wait_for(
        || img.join("lazy-pages.socket").exists(),
        "criu lazy-pages made no socket",
    );
    let new = b.id("criu-lazy-new");
    let bundle = s(&b.path);
    slow(
        &b,
        &[
            "restore",
            "-d",
            "--lazy-pages",
            "-b",
            &bundle,
            "--image-path",
            &s(&img),
            &new,
        ],
    )
    .ok();
    assert_restored(&b, &new);
    count_above(&file, dumped + 2);
    assert_started_once(&file);
    join(dump, "checkpoint --lazy-pages");
    join(daemon, "criu lazy-pages");
    assert!(!b.root.join(&id).exists(), "the migrated container stays");
    assert!(work.join("dump.log").is_file());
    b.berth(&["delete", "--force", &new]).ok();
    b.assert_no_leftovers(&new);
    b.assert_no_leftovers(&id);
}

/// Found before CRIU runs, on any host: a --page-server that is no
/// ADDRESS:PORT, --lazy-pages without one or with --pre-dump, a status fd
/// that is not open for writing, and a lazy restore without its daemon.
#[test]
fn lazy_pages_and_page_server_errors_before_criu_runs() {
    let b = Bundle::sh("sleep 1000");
    let id = b.id("criu-lazy-err");
    b.run_detached(&id);
    let img = s(&images(&b, "img"));
    let cp = |extra: &[&str]| {
        let mut args = vec!["checkpoint", "--image-path", &img];
        args.extend_from_slice(extra);
        args.push(&id);
        let out = b.berth(&args);
        assert_eq!(out.code, 1, "{extra:?}: {out:?}");
        out.stderr
    };
    for (extra, says) in [
        (
            &["--page-server", "10.0.0.2"][..],
            "10.0.0.2\\\": use --page-server ADDRESS:PORT",
        ),
        (
            &["--page-server", "h:99999"],
            "99999\\\" is not a port number",
        ),
        (
            &["--lazy-pages"],
            "--lazy-pages needs --page-server ADDRESS:PORT",
        ),
        (
            &["--lazy-pages", "--pre-dump", "--page-server", "0.0.0.0:1"],
            "CRIU cannot pre-dump lazily",
        ),
        (
            &["--status-fd", "77"],
            "invalid --status-fd argument 77: bad file descriptor",
        ),
    ] {
        let e = cp(extra);
        assert!(e.contains(says), "{extra:?}: {e}");
    }
    // A read-only fd (the shell's redirection opens it so).
    let args = ["checkpoint", "--status-fd", "3", "--image-path", &img, &id];
    let cmd = super::with_fd3(&b, "<", Path::new("/dev/null"), &args);
    let out = run_with_timeout(cmd, Duration::from_secs(60));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("invalid --status-fd argument 3: not writable"),
        "{}",
        out.stderr
    );
    assert_eq!(b.status(&id), "running");
    assert!(!Path::new(&img).join("inventory.img").exists());

    // A restore: images that are there, no daemon beside them.
    std::fs::create_dir_all(&img).unwrap();
    std::fs::write(Path::new(&img).join("inventory.img"), b"").unwrap();
    let new = b.id("criu-lazy-err-new");
    let bundle = s(&b.path);
    let args = [
        "restore",
        "-d",
        "--lazy-pages",
        "-b",
        &bundle,
        "--image-path",
        &img,
        &new,
    ];
    let out = b.berth(&args);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(&format!(
            "--lazy-pages: no lazy-pages daemon: {img}/lazy-pages.socket is missing"
        )),
        "{}",
        out.stderr
    );
    b.assert_no_leftovers(&new);
    b.berth(&["delete", "--force", &id]).ok();
    b.assert_no_leftovers(&id);
}
