//! An unprivileged user of a test's own, for rootless berth: made with
//! useradd, given a subordinate id range for newuidmap, and removed (with
//! its /etc/subuid and /etc/subgid lines) when the guard drops, whether the
//! test passed or not. Commands run as the user through setpriv, with an
//! XDG_RUNTIME_DIR of the test's own, and a copy of the binary under test
//! the user can reach (the build's target directory need not be).

use super::{Out, run_with_timeout};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static USERS: AtomicU32 = AtomicU32::new(0);

pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The first subordinate uid and gid (the range is 65536 long).
    pub sub_start: u32,
    /// The user's own directory (0755, owned by the user): bundles go here.
    pub home: PathBuf,
    /// XDG_RUNTIME_DIR for every command run as the user.
    pub xdg: PathBuf,
    /// The binaries under test, copied where the user can run them.
    pub bin: PathBuf,
    /// A cgroup v2 directory every command starts in (moved there by root
    /// before it becomes the user, as a login's session scope is entered);
    /// None: the test's own.
    pub cgroup: Option<PathBuf>,
    tmp: Option<tempfile::TempDir>,
}

/// useradd and userdel take /etc/passwd's lock and give up at once when
/// another holds it (exit status 10 and 1): tried again, for at most 20 s.
fn retry(mut cmd: impl FnMut() -> Command, what: &str) {
    let mut last = String::new();
    for _ in 0..200 {
        let out = run_with_timeout(cmd(), Duration::from_secs(30));
        if out.code == 0 {
            return;
        }
        last = format!("{} {}", out.stdout, out.stderr);
        if !last.contains("lock") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: {last}");
}

fn id_of(flag: &str, name: &str) -> u32 {
    let out = Command::new("id").args([flag, name]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The start of `name`'s range in /etc/subuid (or subgid), if it has one.
fn sub_range(file: &str, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then(|| f.next()?.parse().ok())?
    })
}

impl TestUser {
    /// A new user, its directories, and copies of `bins` (paths of
    /// executables) in a directory it can reach.
    pub fn new(bins: &[&str]) -> TestUser {
        let name = format!(
            "brl{}x{}",
            std::process::id() % 100_000,
            USERS.fetch_add(1, Ordering::Relaxed)
        );
        // A shell for setpriv to start programs with; no home, no mail.
        retry(
            || {
                let mut c = Command::new("useradd");
                c.args(["-M", "-s", "/bin/sh", &name]);
                c
            },
            "useradd",
        );
        let mut u = TestUser {
            uid: id_of("-u", &name),
            gid: id_of("-g", &name),
            name,
            sub_start: 0,
            home: PathBuf::new(),
            xdg: PathBuf::new(),
            bin: PathBuf::new(),
            cgroup: None,
            tmp: None,
        };
        // From here on the guard removes the user, whatever fails next.
        u.setup(bins);
        u
    }

    fn setup(&mut self, bins: &[&str]) {
        // useradd gives a range itself where /etc/subuid exists; else one
        // is added, through usermod (which takes the files' locks).
        let start = match (
            sub_range("/etc/subuid", &self.name),
            sub_range("/etc/subgid", &self.name),
        ) {
            (Some(u), Some(g)) if u == g => u,
            _ => {
                let start = 3_000_000_000 - 65536 * (self.uid % 10_000);
                let range = format!("{start}-{}", start + 65535);
                retry(
                    || {
                        let mut c = Command::new("usermod");
                        c.args(["--add-subuids", &range, "--add-subgids", &range, &self.name]);
                        c
                    },
                    "usermod --add-subuids",
                );
                start
            }
        };
        self.sub_start = start;
        let tmp = tempfile::Builder::new()
            .prefix("berth-rootless-")
            .tempdir()
            .unwrap();
        let top = tmp.path().to_path_buf();
        self.tmp = Some(tmp);
        std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.bin = top.join("bin");
        std::fs::create_dir(&self.bin).unwrap();
        for b in bins {
            let to = self.bin.join(Path::new(b).file_name().unwrap());
            // cp, not std::fs::copy: no write fd of ours for another test
            // thread's fork to inherit (ETXTBSY).
            assert!(
                Command::new("cp")
                    .arg(b)
                    .arg(&to)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        std::fs::set_permissions(&self.bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.home = top.join("home");
        self.xdg = top.join("xdg");
        for d in [&self.home, &self.xdg] {
            std::fs::create_dir(d).unwrap();
            std::os::unix::fs::chown(d, Some(self.uid), Some(self.gid)).unwrap();
        }
        std::fs::set_permissions(&self.xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    /// `program args` as the user: its uid, gid and groups, its
    /// XDG_RUNTIME_DIR, a minimal environment, stdin from /dev/null.
    pub fn cmd(&self, program: &str, args: &[&str]) -> Command {
        let mut c = match &self.cgroup {
            None => Command::new("setpriv"),
            Some(dir) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg("echo $$ > \"$0\" || exit 125; exec setpriv \"$@\"")
                    .arg(dir.join("cgroup.procs"));
                c
            }
        };
        c.args([
            "--reuid",
            &self.uid.to_string(),
            "--regid",
            &self.gid.to_string(),
            "--init-groups",
            "--",
        ])
        .arg(program)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("USER", &self.name)
        .env("XDG_RUNTIME_DIR", &self.xdg)
        .current_dir(&self.home)
        .stdin(std::process::Stdio::null());
        c
    }

    /// Runs a copied binary (by file name) as the user, killed after 60 s.
    pub fn run(&self, bin: &str, args: &[&str]) -> Out {
        let program = self.bin.join(bin);
        run_with_timeout(
            self.cmd(program.to_str().unwrap(), args),
            Duration::from_secs(60),
        )
    }

    /// A directory in the user's home, owned by the user.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let d = self.home.join(rel);
        std::fs::create_dir_all(&d).unwrap();
        self.chown_all(&d);
        d
    }

    /// Hands `path` and everything below it to the user.
    pub fn chown_all(&self, path: &Path) {
        let st = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        drop(self.tmp.take());
        // -f: even with a process of the user's left (a failed test).
        let name = self.name.clone();
        let out = (0..200).find_map(|_| {
            let o = run_with_timeout(
                {
                    let mut c = Command::new("userdel");
                    c.args(["-f", &name]);
                    c
                },
                Duration::from_secs(30),
            );
            if o.code != 0 && o.stderr.contains("lock") {
                std::thread::sleep(Duration::from_millis(100));
                return None;
            }
            Some(o)
        });
        if let Some(o) = out
            && o.code != 0
        {
            eprintln!("userdel {name}: {}", o.stderr);
        }
        // userdel drops the user's subordinate ranges; any line it left
        // (an older shadow) goes here.
        for file in ["/etc/subuid", "/etc/subgid"] {
            if sub_range(file, &name).is_some()
                && let Ok(text) = std::fs::read_to_string(file)
            {
                let kept: String = text
                    .lines()
                    .filter(|l| l.split(':').next() != Some(name.as_str()))
                    .map(|l| format!("{l}\n"))
                    .collect();
                let _ = std::fs::write(file, kept);
            }
        }
    }
}
