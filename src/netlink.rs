//! rtnetlink, the little of it berth needs to move a network interface
//! into a container's network namespace: list links and addresses, move
//! and rename a link, add an address, set a link up. Messages are built by
//! hand over a NETLINK_ROUTE socket (rtnetlink(7)); a crate for this would
//! bring an async runtime or a large message model for five requests, and
//! berth must stay single-threaded where it forks. A socket talks to the
//! network namespace it was made in: `Route::open_in` makes one in another.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
pub const IFF_UP: u32 = 0x1;
/// ifa_flags: an address configured by a user, not learnt (RFC 3549 2.3.3.2).
pub const IFA_F_PERMANENT: u32 = 0x80;
/// rtm_scope: global.
pub const RT_SCOPE_UNIVERSE: u8 = 0;
/// ifa_flags a user may set on an address (`ip addr add ... nodad
/// noprefixroute`); the rest the kernel keeps for itself.
const IFA_F_SETTABLE: u32 = 0x02 | 0x10 | 0x100 | 0x200 | 0x400;
const HEADER: usize = 16;
/// A dump the kernel interrupts (a link changed meanwhile) is asked again.
const DUMP_TRIES: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
    pub flags: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub family: u8,
    pub prefix_len: u8,
    pub scope: u8,
    pub index: i32,
    pub flags: u32,
    pub local: Option<Vec<u8>>,
    pub address: Option<Vec<u8>>,
    pub broadcast: Option<Vec<u8>>,
}

impl Address {
    /// What the runtime-spec carries into the container: permanent
    /// addresses of global scope.
    pub fn carried(&self) -> bool {
        self.flags & IFA_F_PERMANENT != 0 && self.scope == RT_SCOPE_UNIVERSE
    }

    /// The address as `ip` prints it, for messages.
    pub fn text(&self) -> String {
        let a = self.local.as_ref().or(self.address.as_ref());
        let ip = match a.map(|a| a.as_slice()) {
            Some(&[a, b, c, d]) => std::net::Ipv4Addr::new(a, b, c, d).to_string(),
            Some(b) if b.len() == 16 => {
                std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16 bytes")).to_string()
            }
            _ => "?".into(),
        };
        format!("{ip}/{}", self.prefix_len)
    }
}

/// A NETLINK_ROUTE socket.
pub struct Route {
    fd: OwnedFd,
    seq: std::cell::Cell<u32>,
}

impl Route {
    /// A socket in this process's network namespace.
    pub fn open() -> io::Result<Route> {
        let fd = rustix::net::socket_with(
            rustix::net::AddressFamily::NETLINK,
            rustix::net::SocketType::RAW,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )?;
        Ok(Route {
            fd,
            seq: std::cell::Cell::new(1),
        })
    }

    /// A socket in the network namespace `netns`: this process enters it,
    /// makes the socket (which stays bound to it) and comes back. berth is
    /// single-threaded, so nothing else runs in between.
    pub fn open_in(netns: BorrowedFd) -> io::Result<Route> {
        use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
        let home = rustix::fs::open(
            "/proc/thread-self/ns/net",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        move_into_link_name_space(netns, Some(LinkNameSpaceType::Network))?;
        let route = Route::open();
        if let Err(e) = move_into_link_name_space(home.as_fd(), Some(LinkNameSpaceType::Network)) {
            // Staying in the container's network namespace would make
            // berth's further work act on the wrong network: stop here.
            eprintln!("berth: cannot return to its own network namespace: {e}");
            std::process::abort();
        }
        route
    }

    pub fn links(&self) -> io::Result<Vec<Link>> {
        let body = [0u8; 16]; // ifinfomsg, AF_UNSPEC
        let msgs = self.dump(RTM_GETLINK, &body)?;
        Ok(msgs.iter().filter_map(|m| parse_link(m)).collect())
    }

    pub fn link(&self, name: &str) -> io::Result<Option<Link>> {
        Ok(self.links()?.into_iter().find(|l| l.name == name))
    }

    /// Every address of the link at `index`.
    pub fn addresses(&self, index: i32) -> io::Result<Vec<Address>> {
        let body = [0u8; 8]; // ifaddrmsg, AF_UNSPEC
        let msgs = self.dump(RTM_GETADDR, &body)?;
        Ok(msgs
            .iter()
            .filter_map(|m| parse_address(m))
            .filter(|a| a.index == index)
            .collect())
    }

    /// Moves the link into the network namespace `netns`, named `name`
    /// there: one request, so the name never clashes on the way.
    pub fn move_link(&self, index: i32, netns: BorrowedFd, name: &str) -> io::Result<()> {
        let mut m = ifinfomsg(index, 0, 0);
        attr(&mut m, IFLA_IFNAME, &nul_terminated(name));
        let fd = rustix::fd::AsRawFd::as_raw_fd(&netns) as u32;
        attr(&mut m, IFLA_NET_NS_FD, &fd.to_ne_bytes());
        self.request(RTM_NEWLINK, 0, &m)
    }

    pub fn set_up(&self, index: i32, up: bool) -> io::Result<()> {
        let flags = if up { IFF_UP } else { 0 };
        self.request(RTM_NEWLINK, 0, &ifinfomsg(index, flags, IFF_UP))
    }

    /// Adds `a` to the link at `index`, with the flags a user may set.
    pub fn add_address(&self, index: i32, a: &Address) -> io::Result<()> {
        let mut m = vec![a.family, a.prefix_len, 0, a.scope];
        m.extend((index as u32).to_ne_bytes());
        for (ty, v) in [
            (IFA_LOCAL, &a.local),
            (IFA_ADDRESS, &a.address),
            (IFA_BROADCAST, &a.broadcast),
        ] {
            if let Some(v) = v {
                attr(&mut m, ty, v);
            }
        }
        attr(&mut m, IFA_FLAGS, &(a.flags & IFA_F_SETTABLE).to_ne_bytes());
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &m)
    }

    fn next_seq(&self) -> u32 {
        let s = self.seq.get();
        self.seq.set(s.wrapping_add(1));
        s
    }

    fn send(&self, ty: u16, flags: u16, body: &[u8]) -> io::Result<u32> {
        let seq = self.next_seq();
        let mut m = Vec::with_capacity(HEADER + body.len());
        m.extend(((HEADER + body.len()) as u32).to_ne_bytes());
        m.extend(ty.to_ne_bytes());
        m.extend((flags | NLM_F_REQUEST).to_ne_bytes());
        m.extend(seq.to_ne_bytes());
        m.extend(0u32.to_ne_bytes());
        m.extend(body);
        // No address: a netlink socket sends to the kernel by default.
        rustix::net::send(&self.fd, &m, rustix::net::SendFlags::empty())?;
        Ok(seq)
    }

    /// Reads the replies to `seq`, handing each message to `each` until it
    /// says the answer is complete.
    fn replies(
        &self,
        seq: u32,
        mut each: impl FnMut(Reply) -> Option<io::Result<()>>,
    ) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (_, n) =
                rustix::net::recv(&self.fd, &mut buf[..], rustix::net::RecvFlags::empty())?;
            if n > buf.len() {
                return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
            }
            for (ty, flags, s, payload) in messages(&buf[..n]) {
                if s != seq {
                    continue;
                }
                let reply = match ty {
                    NLMSG_ERROR => Reply::Ack(ack_errno(payload)),
                    NLMSG_DONE => Reply::Done,
                    _ => Reply::Msg(payload, flags & NLM_F_DUMP_INTR != 0),
                };
                if let Some(r) = each(reply) {
                    return r;
                }
            }
        }
    }

    /// A request the kernel acknowledges: its errno, or success.
    fn request(&self, ty: u16, flags: u16, body: &[u8]) -> io::Result<()> {
        let seq = self.send(ty, flags | NLM_F_ACK, body)?;
        self.replies(seq, |r| match r {
            Reply::Ack(0) => Some(Ok(())),
            Reply::Ack(e) => Some(Err(io::Error::from_raw_os_error(e))),
            _ => None,
        })
    }

    /// A dump: every message up to NLMSG_DONE, asked again when the kernel
    /// marks it interrupted.
    fn dump(&self, ty: u16, body: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        for _ in 0..DUMP_TRIES {
            let seq = self.send(ty, NLM_F_DUMP, body)?;
            let (mut out, mut interrupted) = (Vec::new(), false);
            self.replies(seq, |r| match r {
                Reply::Msg(p, intr) => {
                    interrupted |= intr;
                    out.push(p.to_vec());
                    None
                }
                Reply::Done => Some(Ok(())),
                Reply::Ack(0) => None,
                Reply::Ack(e) => Some(Err(io::Error::from_raw_os_error(e))),
            })?;
            if !interrupted {
                return Ok(out);
            }
        }
        Err(io::Error::from_raw_os_error(libc::EINTR))
    }
}

enum Reply<'a> {
    Msg(&'a [u8], bool),
    Done,
    /// NLMSG_ERROR's errno, positive; 0 is an acknowledgement.
    Ack(i32),
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// The messages in one datagram: type, flags, sequence number, payload.
fn messages(mut b: &[u8]) -> Vec<(u16, u16, u32, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= HEADER {
        let len = u32::from_ne_bytes(b[0..4].try_into().expect("4")) as usize;
        if len < HEADER || len > b.len() {
            break;
        }
        let ty = u16::from_ne_bytes(b[4..6].try_into().expect("2"));
        let flags = u16::from_ne_bytes(b[6..8].try_into().expect("2"));
        let seq = u32::from_ne_bytes(b[8..12].try_into().expect("4"));
        out.push((ty, flags, seq, &b[HEADER..len]));
        b = &b[align(len).min(b.len())..];
    }
    out
}

fn ack_errno(payload: &[u8]) -> i32 {
    payload
        .get(0..4)
        .map(|e| -i32::from_ne_bytes(e.try_into().expect("4")))
        .unwrap_or(libc::EPROTO)
}

/// The attributes after a fixed header of `skip` bytes: type and value.
fn attrs(payload: &[u8], skip: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut b = payload.get(skip..).unwrap_or(&[]);
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        if len < 4 || len > b.len() {
            break;
        }
        // The top bits are NLA_F_NESTED and NLA_F_NET_BYTEORDER.
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        out.push((ty, &b[4..len]));
        b = &b[align(len).min(b.len())..];
    }
    out
}

fn attr(m: &mut Vec<u8>, ty: u16, value: &[u8]) {
    m.extend(((4 + value.len()) as u16).to_ne_bytes());
    m.extend(ty.to_ne_bytes());
    m.extend(value);
    m.resize(align(m.len()), 0);
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut m = vec![0u8; 4]; // family AF_UNSPEC, pad, type
    m.extend(index.to_ne_bytes());
    m.extend(flags.to_ne_bytes());
    m.extend(change.to_ne_bytes());
    m
}

fn parse_link(p: &[u8]) -> Option<Link> {
    let index = i32::from_ne_bytes(p.get(4..8)?.try_into().ok()?);
    let flags = u32::from_ne_bytes(p.get(8..12)?.try_into().ok()?);
    let name = attrs(p, 16).into_iter().find(|(t, _)| *t == IFLA_IFNAME)?.1;
    let name = name.split(|b| *b == 0).next()?;
    Some(Link {
        index,
        name: String::from_utf8_lossy(name).into_owned(),
        flags,
    })
}

fn parse_address(p: &[u8]) -> Option<Address> {
    let h = p.get(0..8)?;
    let mut a = Address {
        family: h[0],
        prefix_len: h[1],
        flags: h[2] as u32,
        scope: h[3],
        index: i32::from_ne_bytes(h[4..8].try_into().ok()?),
        local: None,
        address: None,
        broadcast: None,
    };
    for (ty, v) in attrs(p, 8) {
        match ty {
            IFA_LOCAL => a.local = Some(v.to_vec()),
            IFA_ADDRESS => a.address = Some(v.to_vec()),
            IFA_BROADCAST => a.broadcast = Some(v.to_vec()),
            // The full flags, past the 8 bits of the header.
            IFA_FLAGS if v.len() == 4 => a.flags = u32::from_ne_bytes(v.try_into().ok()?),
            _ => {}
        }
    }
    Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_read_back() {
        let mut m = ifinfomsg(7, IFF_UP, IFF_UP);
        attr(&mut m, IFLA_IFNAME, &nul_terminated("eth12"));
        attr(&mut m, IFLA_NET_NS_FD, &5u32.to_ne_bytes());
        assert_eq!(m.len() % 4, 0);
        let link = parse_link(&m).unwrap();
        assert_eq!(
            link,
            Link {
                index: 7,
                name: "eth12".into(),
                flags: IFF_UP
            }
        );
        let a = attrs(&m, 16);
        assert_eq!(a[1], (IFLA_NET_NS_FD, &5u32.to_ne_bytes()[..]));
    }

    #[test]
    fn an_address_keeps_its_full_flags_and_only_settable_ones_go_back() {
        let mut m = vec![2u8, 24, 0x80, 0, 3, 0, 0, 0];
        attr(&mut m, IFA_LOCAL, &[10, 0, 0, 1]);
        attr(&mut m, IFA_FLAGS, &(IFA_F_PERMANENT | 0x200).to_ne_bytes());
        let a = parse_address(&m).unwrap();
        assert!(a.carried());
        assert_eq!(a.text(), "10.0.0.1/24");
        assert_eq!(a.flags & IFA_F_SETTABLE, 0x200);
        let dynamic = Address {
            flags: 0,
            ..a.clone()
        };
        assert!(!dynamic.carried());
        let link_scope = Address { scope: 253, ..a };
        assert!(!link_scope.carried());
    }

    #[test]
    fn messages_split_a_datagram_and_stop_at_a_short_one() {
        let mut d = Vec::new();
        for seq in [1u32, 2] {
            d.extend(20u32.to_ne_bytes());
            d.extend(NLMSG_ERROR.to_ne_bytes());
            d.extend(0u16.to_ne_bytes());
            d.extend(seq.to_ne_bytes());
            d.extend(0u32.to_ne_bytes());
            d.extend((-libc::ENODEV).to_ne_bytes());
        }
        d.extend([1, 2, 3]);
        let m = messages(&d);
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].2, 2);
        assert_eq!(ack_errno(m[0].3), libc::ENODEV);
    }

    /// The loopback of this process's network namespace, read through a
    /// real socket.
    #[test]
    fn the_loopback_is_listed() {
        let r = Route::open().unwrap();
        let lo = r.link("lo").unwrap().expect("every namespace has lo");
        assert!(lo.index > 0);
        assert!(
            r.addresses(lo.index)
                .unwrap()
                .iter()
                .all(|a| a.index == lo.index)
        );
    }
}
