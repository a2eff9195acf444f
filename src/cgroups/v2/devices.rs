//! Device rules on cgroup v2: an eBPF program of type
//! BPF_PROG_TYPE_CGROUP_DEVICE, generated from the rule list and attached
//! to the container's cgroup. Written by hand: it is a few dozen
//! instructions, and no crate in this field builds cgroup device filters.
//!
//! The program decides each requested access bit (mknod, read, write) by
//! the last rule that matches the device and names the bit, as v1's
//! devices.allow/deny do when written in order: rules are checked from the
//! last to the first, a deny of any requested bit denies, an allow settles
//! its bits, and bits no rule settles are denied.

use crate::cgroups::{CgroupError, DeviceRule};
use crate::error::{SysContext, SysError};
use crate::syscall;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
const AND32_K: u8 = 0x54;
const RSH32_K: u8 = 0x74;
const MOV64_K: u8 = 0xb7;
const MOV64_X: u8 = 0xbf;
const JNE_K: u8 = 0x55;
const JEQ_K: u8 = 0x15;
const EXIT: u8 = 0x95;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |a, c| {
        a | match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        }
    })
}

/// The program for `rules` (as `rules_from_spec` gives them).
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),        // r2 = access_type
        insn(AND32_K, 2, 0, 0, 0xffff), // r2 = device type
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16), // r3 = requested access
        insn(LDX_W, 4, 1, 4, 0),    // r4 = major
        insn(LDX_W, 5, 1, 8, 0),    // r5 = minor
        insn(MOV64_X, 6, 3, 0, 0),  // r6 = bits not yet decided
    ];
    for r in rules.iter().rev() {
        let acc = access_bits(&r.access);
        let mut checks: Vec<(u8, i32)> = Vec::new();
        match r.kind {
            'c' => checks.push((2, DEV_CHAR)),
            'b' => checks.push((2, DEV_BLOCK)),
            _ => {}
        }
        if let Some(m) = r.major {
            checks.push((4, m as i32));
        }
        if let Some(m) = r.minor {
            checks.push((5, m as i32));
        }
        let tail: Vec<Insn> = if r.allow {
            vec![
                insn(AND32_K, 6, 0, 0, !acc),
                insn(JNE_K, 6, 0, 2, 0),
                insn(MOV64_K, 0, 0, 0, 1),
                insn(EXIT, 0, 0, 0, 0),
            ]
        } else {
            vec![insn(MOV64_K, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]
        };
        // After the device checks: r0 = r6 & acc; skip if no bit is named.
        let body_len = 3 + tail.len();
        for (i, (reg, val)) in checks.iter().enumerate() {
            let rest = (checks.len() - i - 1) + body_len;
            p.push(insn(JNE_K, *reg, 0, rest as i16, *val));
        }
        p.push(insn(MOV64_X, 0, 6, 0, 0));
        p.push(insn(AND32_K, 0, 0, 0, acc));
        p.push(insn(JEQ_K, 0, 0, tail.len() as i16, 0));
        p.extend(tail);
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

fn put32(a: &mut [u8; 128], at: usize, v: u32) {
    a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(a: &mut [u8; 128], at: usize, v: u64) {
    a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Loads the program and attaches it to the cgroup directory `cgroup`.
pub fn attach(cgroup: BorrowedFd, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let prog = program(rules);
    let license = c"Apache-2.0";
    let mut a = [0u8; 128];
    put32(&mut a, 0, BPF_PROG_TYPE_CGROUP_DEVICE);
    put32(&mut a, 4, prog.len() as u32);
    put64(&mut a, 8, prog.as_ptr() as u64);
    put64(&mut a, 16, license.as_ptr() as u64);
    let fd = syscall::bpf(BPF_PROG_LOAD, &mut a).sys("load", "device filter (bpf)")?;
    // SAFETY: the kernel returned a new program fd.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut a = [0u8; 128];
    put32(&mut a, 0, cgroup.as_raw_fd() as u32);
    put32(&mut a, 4, prog_fd.as_raw_fd() as u32);
    put32(&mut a, 8, BPF_CGROUP_DEVICE);
    put32(&mut a, 12, BPF_F_ALLOW_MULTI);
    syscall::bpf(BPF_PROG_ATTACH, &mut a)
        .map_err(|e| SysError::new("attach", "device filter to the cgroup", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        kind: char,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: access.into(),
            index: None,
        }
    }

    /// Runs the program on one request, the way the kernel would.
    fn eval(p: &[Insn], kind: i32, access: i32, major: i32, minor: i32) -> i64 {
        let ctx = [
            ((access as u32) << 16) | kind as u32,
            major as u32,
            minor as u32,
        ];
        let mut r = [0i64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = ctx[(i.off / 4) as usize] as i64,
                AND32_K => r[dst] = ((r[dst] as u32) & (i.imm as u32)) as i64,
                RSH32_K => r[dst] = ((r[dst] as u32) >> i.imm) as i64,
                MOV64_K => r[dst] = i.imm as i64,
                MOV64_X => r[dst] = r[src],
                JNE_K => {
                    if r[dst] != i.imm as i64 {
                        pc += i.off as usize
                    }
                }
                JEQ_K => {
                    if r[dst] == i.imm as i64 {
                        pc += i.off as usize
                    }
                }
                EXIT => return r[0],
                c => panic!("unknown op {c:#x}"),
            }
        }
    }

    #[test]
    fn last_rule_per_bit_wins() {
        let rules = vec![
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(true, 'c', Some(10), Some(229), "rwm"),
            rule(false, 'c', Some(10), Some(229), "r"),
            rule(true, 'c', None, None, "m"),
        ];
        let p = program(&rules);
        assert_eq!(eval(&p, DEV_CHAR, 2, 1, 3), 1, "null readable");
        assert_eq!(eval(&p, DEV_CHAR, 6, 1, 3), 1, "null read+write");
        assert_eq!(eval(&p, DEV_BLOCK, 2, 1, 3), 0, "a block 1:3 is not null");
        assert_eq!(eval(&p, DEV_CHAR, 4, 10, 229), 1, "fuse writable");
        assert_eq!(
            eval(&p, DEV_CHAR, 2, 10, 229),
            0,
            "fuse read denied by the later rule"
        );
        assert_eq!(
            eval(&p, DEV_CHAR, 6, 10, 229),
            0,
            "read+write: the read bit is denied"
        );
        assert_eq!(eval(&p, DEV_CHAR, 1, 8, 8), 1, "mknod of any char device");
        assert_eq!(eval(&p, DEV_CHAR, 2, 8, 8), 0, "but not reading it");
        assert_eq!(eval(&p, DEV_BLOCK, 1, 8, 0), 0, "no block mknod here");
    }

    #[test]
    fn allow_all_then_deny_one() {
        let rules = vec![
            rule(true, 'a', None, None, "rwm"),
            rule(false, 'c', Some(1), Some(5), "rwm"),
        ];
        let p = program(&rules);
        assert_eq!(eval(&p, DEV_CHAR, 2, 1, 3), 1);
        assert_eq!(eval(&p, DEV_CHAR, 2, 1, 5), 0);
        assert_eq!(eval(&p, DEV_BLOCK, 6, 8, 0), 1);
    }
}
