//! A client's daemon, started by the test: its output in a log file, ready
//! once its socket accepts a connection, stopped with SIGTERM (SIGKILL if it
//! will not go) whatever happens to the test.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub name: &'static str,
    child: Child,
    pub log: PathBuf,
    stopped: bool,
}

impl Daemon {
    /// Starts `cmd` and waits up to `limit` for `socket` to accept. A daemon
    /// that exits or never listens fails the test with its log.
    pub fn start(name: &'static str, mut cmd: Command, log: &Path, socket: &Path) -> Daemon {
        let limit = Duration::from_secs(60);
        let f = std::fs::File::create(log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            // Its own process group: a signal meant for the test run (^C)
            // reaches it through our Drop, in order, not all at once.
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name} cannot be started: {e}"));
        let mut d = Daemon {
            name,
            child,
            log: log.to_path_buf(),
            stopped: false,
        };
        let start = Instant::now();
        loop {
            if let Some(st) = d.child.try_wait().unwrap() {
                d.stopped = true;
                panic!(
                    "{name} exited at start ({st}); its log:\n{}",
                    d.log_tail(60)
                );
            }
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                println!("{name}: ready in {:.1} s", start.elapsed().as_secs_f64());
                return d;
            }
            if start.elapsed() > limit {
                panic!(
                    "{name} did not listen on {} within {limit:?}; its log:\n{}",
                    socket.display(),
                    d.log_tail(60)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The last `n` lines of the daemon's log.
    pub fn log_tail(&self, n: usize) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after 30 s. Err if it had to be killed.
    pub fn stop(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if self.child.try_wait().unwrap().is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(format!("{} ignored SIGTERM for 30 s: killed", self.name))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("{e}");
        }
    }
}
