//! The error every system call failure becomes: the operation, the path or
//! object it was about, and the errno, worded as runc words it ("no such
//! file or directory"), because clients pick exit codes from that text.

use std::fmt;
use std::io;

#[derive(Debug)]
pub struct SysError {
    pub op: &'static str,
    pub what: String,
    pub source: io::Error,
}

impl SysError {
    pub fn new(op: &'static str, what: impl fmt::Display, source: impl Into<io::Error>) -> Self {
        SysError {
            op,
            what: what.to_string(),
            source: source.into(),
        }
    }

    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.what.is_empty() {
            write!(f, "{}: {}", self.op, errno_text(&self.source))
        } else {
            write!(f, "{} {}: {}", self.op, self.what, errno_text(&self.source))
        }
    }
}

impl std::error::Error for SysError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// "No such file or directory (os error 2)" becomes "no such file or directory".
pub fn errno_text(e: &io::Error) -> String {
    let s = e.to_string();
    let s = match s.rfind(" (os error ") {
        Some(i) => &s[..i],
        None => &s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `.sys("mount", path)?` on any io or rustix result.
pub trait SysContext<T> {
    fn sys(self, op: &'static str, what: impl fmt::Display) -> Result<T, SysError>;
}

impl<T, E: Into<io::Error>> SysContext<T> for Result<T, E> {
    fn sys(self, op: &'static str, what: impl fmt::Display) -> Result<T, SysError> {
        self.map_err(|e| SysError::new(op, what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_is_worded_like_go() {
        let e = SysError::new("open", "/x", io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(e.to_string(), "open /x: no such file or directory");
        let e = SysError::new("setns", "", io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(e.to_string(), "setns: operation not permitted");
    }
}
