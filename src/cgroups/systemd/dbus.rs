//! The part of the D-Bus wire protocol berth's systemd driver needs: a
//! blocking client on one Unix socket (a bus, or systemd's private
//! socket), AUTH EXTERNAL, method calls and their replies, and the signals
//! that arrive between them.
//!
//! Why not a crate: berth must have no thread alive when it forks (hooks
//! fork too), and is one static executable. zbus's blocking API runs an
//! executor thread; the `dbus` crate wraps C libdbus, which Debian ships no
//! static archive of. `rustbus` is pure Rust and threadless, but brings nix
//! (a second syscall layer beside rustix) and a proc-macro crate; this file
//! is smaller than that dependency tree and marshals only the types
//! systemd's Manager calls use (y b i u x t s o g a ( ) { } v).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A D-Bus value, with its own signature.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Str(String),
    Path(String),
    Sig(String),
    /// The element signature, for an empty array.
    Array(String, Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(e, _) => format!("a{e}"),
            Value::Struct(v) => {
                format!("({})", v.iter().map(|x| x.signature()).collect::<String>())
            }
            Value::Variant(_) => "v".into(),
        }
    }
}

fn align_of(sig: u8) -> usize {
    match sig {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' | b'h' => 4,
        _ => 8, // x t d ( {
    }
}

fn pad(buf: &mut Vec<u8>, a: usize) {
    while !buf.len().is_multiple_of(a) {
        buf.push(0);
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    pad(buf, 4);
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

/// Marshals `v` little-endian; offsets count from the message's start.
pub fn marshal(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Byte(b) => buf.push(*b),
        Value::Bool(b) => {
            pad(buf, 4);
            buf.extend_from_slice(&(*b as u32).to_le_bytes());
        }
        Value::I32(n) => {
            pad(buf, 4);
            buf.extend_from_slice(&n.to_le_bytes());
        }
        Value::U32(n) => {
            pad(buf, 4);
            buf.extend_from_slice(&n.to_le_bytes());
        }
        Value::I64(n) => {
            pad(buf, 8);
            buf.extend_from_slice(&n.to_le_bytes());
        }
        Value::U64(n) => {
            pad(buf, 8);
            buf.extend_from_slice(&n.to_le_bytes());
        }
        Value::Str(s) | Value::Path(s) => put_str(buf, s),
        Value::Sig(s) => {
            buf.push(s.len() as u8);
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
        }
        Value::Array(elem, items) => {
            pad(buf, 4);
            let len_at = buf.len();
            buf.extend_from_slice(&0u32.to_le_bytes());
            // The length excludes the padding before the first element.
            pad(buf, align_of(elem.as_bytes()[0]));
            let start = buf.len();
            for i in items {
                marshal(buf, i);
            }
            let len = (buf.len() - start) as u32;
            buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        }
        Value::Struct(fields) => {
            pad(buf, 8);
            for f in fields {
                marshal(buf, f);
            }
        }
        Value::Variant(inner) => {
            marshal(buf, &Value::Sig(inner.signature()));
            marshal(buf, inner);
        }
    }
}

/// Reads values back from a message body (or header), by signature.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    #[error("D-Bus {0}: {1}")]
    Io(&'static str, std::io::Error),
    #[error("D-Bus: {0}")]
    Protocol(String),
    /// An error reply: its name (org.freedesktop.systemd1.UnitExists) and text.
    #[error("{name}: {message}")]
    Remote { name: String, message: String },
    #[error("D-Bus: no reply to {0} within {1:?}")]
    Timeout(String, Duration),
    /// A rootless berth finds no manager of the user's own to talk to.
    #[error(
        "cannot connect to the user's systemd at {socket}: {why}: the user's systemd (user@{uid}.service) is not running (it runs while the user is logged in, or always after `loginctl enable-linger`); or run without --systemd-cgroup"
    )]
    NoUserManager {
        socket: String,
        uid: u32,
        why: String,
    },
}

fn bad(what: &str) -> DbusError {
    DbusError::Protocol(what.to_string())
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Reader { buf, pos }
    }
    fn align(&mut self, a: usize) {
        self.pos = self.pos.div_ceil(a) * a;
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DbusError> {
        let s = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or_else(|| bad("message too short"))?;
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, DbusError> {
        self.align(4);
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, DbusError> {
        self.align(8);
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn string(&mut self, len: usize) -> Result<String, DbusError> {
        let s = self.take(len + 1)?;
        String::from_utf8(s[..len].to_vec()).map_err(|_| bad("string not UTF-8"))
    }
    /// One complete type from the front of `sig`; returns it and the rest.
    fn one(sig: &str) -> Result<(&str, &str), DbusError> {
        let b = sig.as_bytes();
        let end = match b.first() {
            None => return Err(bad("empty signature")),
            Some(b'a') => 1 + Self::one(&sig[1..])?.0.len(),
            Some(&open @ (b'(' | b'{')) => {
                let close = if open == b'(' { b')' } else { b'}' };
                let mut depth = 0;
                let mut i = 0;
                loop {
                    match b.get(i) {
                        Some(c) if *c == open => depth += 1,
                        Some(c) if *c == close => {
                            depth -= 1;
                            if depth == 0 {
                                break i + 1;
                            }
                        }
                        Some(_) => {}
                        None => return Err(bad("unbalanced signature")),
                    }
                    i += 1;
                }
            }
            Some(_) => 1,
        };
        Ok((&sig[..end], &sig[end..]))
    }
    /// Every value of a body whose signature is `sig`.
    pub fn all(&mut self, mut sig: &str) -> Result<Vec<Value>, DbusError> {
        let mut out = Vec::new();
        while !sig.is_empty() {
            let (t, rest) = Self::one(sig)?;
            out.push(self.value(t)?);
            sig = rest;
        }
        Ok(out)
    }
    pub fn value(&mut self, t: &str) -> Result<Value, DbusError> {
        Ok(match t.as_bytes()[0] {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'i' => Value::I32(self.u32()? as i32),
            b'u' => Value::U32(self.u32()?),
            b'x' => Value::I64(self.u64()? as i64),
            b't' => Value::U64(self.u64()?),
            b's' => {
                let n = self.u32()? as usize;
                Value::Str(self.string(n)?)
            }
            b'o' => {
                let n = self.u32()? as usize;
                Value::Path(self.string(n)?)
            }
            b'g' => {
                let n = self.take(1)?[0] as usize;
                Value::Sig(self.string(n)?)
            }
            b'v' => {
                let n = self.take(1)?[0] as usize;
                let s = self.string(n)?;
                let (one, rest) = Self::one(&s)?;
                if !rest.is_empty() {
                    return Err(bad("variant of more than one type"));
                }
                Value::Variant(Box::new(self.value(one)?))
            }
            b'a' => {
                let n = self.u32()? as usize;
                let elem = &t[1..];
                self.align(align_of(elem.as_bytes()[0]));
                let end = self.pos + n;
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.value(elem)?);
                }
                Value::Array(elem.to_string(), items)
            }
            b'(' | b'{' => {
                self.align(8);
                Value::Struct(self.all(&t[1..t.len() - 1])?)
            }
            c => {
                return Err(DbusError::Protocol(format!(
                    "type {:?} not supported",
                    c as char
                )));
            }
        })
    }
}

const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;
const SIGNAL: u8 = 4;

/// A message received: its type, the serial it replies to, its member and
/// path (for signals), error name, and body.
#[derive(Debug)]
pub struct Message {
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub body: Vec<Value>,
}

pub struct Conn {
    sock: UnixStream,
    serial: u32,
    /// Signals read while waiting for a reply, kept for wait_signal.
    pending: Vec<Message>,
}

impl Conn {
    /// Connects and authenticates as `uid` (the uid the other end sees);
    /// `bus` false for a peer-to-peer socket (systemd's private one), which
    /// takes no Hello.
    pub fn connect(path: &str, bus: bool, uid: u32, timeout: Duration) -> Result<Conn, DbusError> {
        let sock = UnixStream::connect(path).map_err(|e| DbusError::Io("connect", e))?;
        sock.set_read_timeout(Some(timeout))
            .map_err(|e| DbusError::Io("connect", e))?;
        let mut c = Conn {
            sock,
            serial: 0,
            pending: Vec::new(),
        };
        let uid: String = uid
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        c.sock
            .write_all(format!("\0AUTH EXTERNAL {uid}\r\n").as_bytes())
            .map_err(|e| DbusError::Io("write", e))?;
        let line = c.read_line()?;
        if !line.starts_with("OK ") {
            return Err(DbusError::Protocol(format!(
                "{path} refused AUTH EXTERNAL: {line}"
            )));
        }
        c.sock
            .write_all(b"BEGIN\r\n")
            .map_err(|e| DbusError::Io("write", e))?;
        if bus {
            c.call(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "Hello",
                &[],
                timeout,
            )?;
        }
        Ok(c)
    }

    fn read_line(&mut self) -> Result<String, DbusError> {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            self.sock
                .read_exact(&mut b)
                .map_err(|e| DbusError::Io("read", e))?;
            line.push(b[0]);
            if line.len() > 512 {
                return Err(bad("authentication line too long"));
            }
        }
        Ok(String::from_utf8_lossy(&line[..line.len() - 2]).into_owned())
    }

    /// Sends a method call and returns its serial.
    pub fn send(
        &mut self,
        dest: &str,
        path: &str,
        iface: &str,
        member: &str,
        args: &[Value],
    ) -> Result<u32, DbusError> {
        self.serial += 1;
        let mut body = Vec::new();
        for a in args {
            marshal(&mut body, a);
        }
        let sig: String = args.iter().map(|a| a.signature()).collect();
        let field = |code: u8, v: Value| {
            Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(v))])
        };
        let mut fields = vec![
            field(1, Value::Path(path.into())),
            field(2, Value::Str(iface.into())),
            field(3, Value::Str(member.into())),
            field(6, Value::Str(dest.into())),
        ];
        if !sig.is_empty() {
            fields.push(field(8, Value::Sig(sig)));
        }
        let mut msg = vec![b'l', METHOD_CALL, 0, 1];
        msg.extend_from_slice(&(body.len() as u32).to_le_bytes());
        msg.extend_from_slice(&self.serial.to_le_bytes());
        marshal(&mut msg, &Value::Array("(yv)".into(), fields));
        pad(&mut msg, 8);
        msg.extend_from_slice(&body);
        self.sock
            .write_all(&msg)
            .map_err(|e| DbusError::Io("write", e))?;
        Ok(self.serial)
    }

    /// Reads one message, whatever it is, within `deadline`.
    fn read_message(&mut self, deadline: Instant) -> Result<Message, DbusError> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        self.sock
            .set_read_timeout(Some(left))
            .map_err(|e| DbusError::Io("read", e))?;
        let mut head = [0u8; 16];
        self.sock
            .read_exact(&mut head)
            .map_err(|e| DbusError::Io("read", e))?;
        if head[0] != b'l' {
            return Err(bad("big-endian message"));
        }
        let body_len = u32::from_le_bytes(head[4..8].try_into().unwrap()) as usize;
        let fields_len = u32::from_le_bytes(head[12..16].try_into().unwrap()) as usize;
        let total = (16 + fields_len).div_ceil(8) * 8 + body_len;
        if total > 64 << 20 {
            return Err(bad("message over 64 MiB"));
        }
        let mut buf = head.to_vec();
        buf.resize(total, 0);
        self.sock
            .read_exact(&mut buf[16..])
            .map_err(|e| DbusError::Io("read", e))?;
        let mut r = Reader::new(&buf, 12);
        let Value::Array(_, fields) = r.value("a(yv)")? else {
            return Err(bad("header fields are not an array"));
        };
        let mut m = Message {
            kind: head[1],
            reply_serial: None,
            path: None,
            interface: None,
            member: None,
            error_name: None,
            body: Vec::new(),
        };
        let mut sig = String::new();
        for f in fields {
            let Value::Struct(f) = f else { continue };
            let (Some(Value::Byte(code)), Some(Value::Variant(v))) = (f.first(), f.get(1)) else {
                continue;
            };
            match (code, v.as_ref()) {
                (1, Value::Path(p)) => m.path = Some(p.clone()),
                (2, Value::Str(s)) => m.interface = Some(s.clone()),
                (3, Value::Str(s)) => m.member = Some(s.clone()),
                (4, Value::Str(s)) => m.error_name = Some(s.clone()),
                (5, Value::U32(n)) => m.reply_serial = Some(*n),
                (8, Value::Sig(s)) => sig = s.clone(),
                _ => {}
            }
        }
        let start = (16 + fields_len).div_ceil(8) * 8;
        m.body = Reader::new(&buf, start).all(&sig)?;
        Ok(m)
    }

    /// The next message by `deadline`; running out of time is a Timeout
    /// naming what was waited for.
    fn read_before(
        &mut self,
        deadline: Instant,
        what: &str,
        timeout: Duration,
    ) -> Result<Message, DbusError> {
        self.read_message(deadline).map_err(|e| match e {
            DbusError::Io(_, ref io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                DbusError::Timeout(what.to_string(), timeout)
            }
            e => e,
        })
    }

    /// Calls a method and waits for its reply, keeping signals that come first.
    pub fn call(
        &mut self,
        dest: &str,
        path: &str,
        iface: &str,
        member: &str,
        args: &[Value],
        timeout: Duration,
    ) -> Result<Vec<Value>, DbusError> {
        let serial = self.send(dest, path, iface, member, args)?;
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.read_before(deadline, member, timeout)?;
            match m.kind {
                SIGNAL => self.pending.push(m),
                METHOD_RETURN if m.reply_serial == Some(serial) => return Ok(m.body),
                ERROR if m.reply_serial == Some(serial) => {
                    let message = match m.body.first() {
                        Some(Value::Str(s)) => s.clone(),
                        _ => String::new(),
                    };
                    return Err(DbusError::Remote {
                        name: m.error_name.unwrap_or_default(),
                        message,
                    });
                }
                _ => {}
            }
        }
    }

    /// Waits for a signal named `member` that `pred` accepts.
    pub fn wait_signal(
        &mut self,
        member: &str,
        timeout: Duration,
        pred: impl Fn(&Message) -> bool,
    ) -> Result<Message, DbusError> {
        if let Some(i) = self
            .pending
            .iter()
            .position(|m| m.member.as_deref() == Some(member) && pred(m))
        {
            return Ok(self.pending.remove(i));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.read_before(deadline, member, timeout)?;
            if m.kind == SIGNAL && m.member.as_deref() == Some(member) && pred(&m) {
                return Ok(m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v = vec![
            Value::Str("berth-x.scope".into()),
            Value::Str("fail".into()),
            Value::Array(
                "(sv)".into(),
                vec![
                    Value::Struct(vec![
                        Value::Str("Delegate".into()),
                        Value::Variant(Box::new(Value::Bool(true))),
                    ]),
                    Value::Struct(vec![
                        Value::Str("PIDs".into()),
                        Value::Variant(Box::new(Value::Array("u".into(), vec![Value::U32(42)]))),
                    ]),
                    Value::Struct(vec![
                        Value::Str("MemoryMax".into()),
                        Value::Variant(Box::new(Value::U64(1 << 30))),
                    ]),
                ],
            ),
            Value::Array("(sa(sv))".into(), vec![]),
        ];
        let mut buf = Vec::new();
        for x in &v {
            marshal(&mut buf, x);
        }
        let sig: String = v.iter().map(|x| x.signature()).collect();
        assert_eq!(sig, "ssa(sv)a(sa(sv))");
        assert_eq!(Reader::new(&buf, 0).all(&sig).unwrap(), v);
    }
}
