//! Which of berth's file descriptors the container process keeps: stdio,
//! the --preserve-fds ones and socket-activation fds (LISTEN_FDS); every
//! other one is marked close-on-exec, whoever opened it.

/// How many fds from 3 up pass to the container, and the LISTEN_FDS value
/// to put in its environment, if berth was socket-activated.
pub fn passed(preserve_fds: u32) -> (u32, Option<u32>) {
    let listen = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse::<u32>().ok()).filter(|n| *n > 0);
    let for_us = std::env::var("LISTEN_PID").ok().and_then(|v| v.parse::<u32>().ok()) == Some(std::process::id());
    let listen = listen.filter(|_| for_us);
    (preserve_fds + listen.unwrap_or(0), listen)
}

/// Marks everything above the passed fds close-on-exec.
pub fn close_others(passed: u32) -> Result<(), crate::error::SysError> {
    use crate::error::SysContext;
    crate::syscall::cloexec_from(3 + passed).sys("close_range", "")
}
