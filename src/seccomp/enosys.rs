//! A stub in front of the filter that answers ENOSYS for a syscall whose
//! number is above the highest one the profile names for its architecture,
//! as runc 1.1.5 patches its filters: a profile written before a syscall
//! existed (clone3, faccessat2, ...) would otherwise refuse it with the
//! default errno (EPERM), and glibc falls back to the older call only on
//! ENOSYS. Lower syscalls the profile does not name keep the default
//! action.

use libseccomp::{ScmpArch, ScmpSyscall};

const RET_ERRNO_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;
/// x32 syscalls arrive as x86_64 ones with this bit set.
const X32_BIT: u32 = 1 << 30;

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JSET_K: u16 = 0x45;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;

/// The AUDIT_ARCH_* value the kernel puts in seccomp_data.arch.
fn audit_arch(a: ScmpArch) -> Option<u32> {
    Some(match a {
        ScmpArch::X86 => 0x4000_0003,
        ScmpArch::X8664 | ScmpArch::X32 => 0xc000_003e,
        ScmpArch::Arm => 0x4000_0028,
        ScmpArch::Aarch64 => 0xc000_00b7,
        ScmpArch::Mips => 0x0000_0008,
        ScmpArch::Mipsel => 0x4000_0008,
        ScmpArch::Mips64 => 0x8000_0008,
        ScmpArch::Mipsel64 => 0xc000_0008,
        ScmpArch::Mips64N32 => 0xa000_0008,
        ScmpArch::Mipsel64N32 => 0xe000_0008,
        ScmpArch::Ppc => 0x0000_0014,
        ScmpArch::Ppc64 => 0x8000_0015,
        ScmpArch::Ppc64Le => 0xc000_0015,
        ScmpArch::S390 => 0x0000_0016,
        ScmpArch::S390X => 0x8000_0016,
        ScmpArch::Riscv64 => 0xc000_00f3,
        _ => return None,
    })
}

/// One kernel architecture's check: the highest syscall named for its
/// ABI, and for x32 beside x86_64.
#[derive(Default)]
struct Section {
    audit: u32,
    max: Option<u32>,
    x32_max: Option<u32>,
    s390: bool,
}

/// Where a jump goes: the next instruction, or a label.
#[derive(Clone, Copy, PartialEq)]
enum To {
    Next,
    Filter,
    Enosys,
    Section(usize),
    X32(usize),
}

struct Ins {
    code: u16,
    k: u32,
    jt: To,
    jf: To,
}

fn highest(names: &[&str], arch: ScmpArch) -> Option<u32> {
    names
        .iter()
        .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
        .map(i32::from)
        .filter(|nr| *nr >= 0)
        .max()
        .map(|nr| nr as u32)
}

fn sections(arches: &[ScmpArch], names: &[&str]) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for a in arches {
        let a = if *a == ScmpArch::Native {
            ScmpArch::native()
        } else {
            *a
        };
        let (Some(audit), Some(max)) = (audit_arch(a), highest(names, a)) else {
            continue;
        };
        let i = match out.iter().position(|s| s.audit == audit) {
            Some(i) => i,
            None => {
                out.push(Section {
                    audit,
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        let s = &mut out[i];
        match a {
            ScmpArch::X32 => s.x32_max = Some(max | X32_BIT),
            _ => s.max = Some(max),
        }
        s.s390 |= matches!(a, ScmpArch::S390 | ScmpArch::S390X);
    }
    out
}

/// The stub to put before the filter (empty when no listed architecture
/// names a syscall). `arches` are the profile's architectures, `names`
/// every syscall name in it, whatever its action.
pub fn stub(arches: &[ScmpArch], names: &[&str]) -> Vec<libc::sock_filter> {
    let sections = sections(arches, names);
    if sections.is_empty() {
        return Vec::new();
    }
    let ins = |code, k, jt, jf| Ins { code, k, jt, jf };
    let mut p = vec![ins(LD_W_ABS, 4, To::Next, To::Next)];
    for (i, s) in sections.iter().enumerate() {
        p.push(ins(JEQ_K, s.audit, To::Section(i), To::Next));
    }
    p.push(ins(JA, 0, To::Filter, To::Filter));
    let mut labels = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        labels.push((To::Section(i), p.len()));
        p.push(ins(LD_W_ABS, 0, To::Next, To::Next));
        if s.s390 {
            // Unknown "large" syscalls reach the kernel multiplexed as
            // setup(2), number 0: that too is one the kernel lacks.
            p.push(ins(JEQ_K, 0, To::Enosys, To::Next));
        }
        if s.audit == 0xc000_003e {
            // x86_64 and x32 share the architecture; bit 30 tells them apart.
            p.push(ins(
                JSET_K,
                X32_BIT,
                if s.x32_max.is_some() {
                    To::X32(i)
                } else {
                    To::Filter
                },
                To::Next,
            ));
        }
        match s.max {
            Some(max) => p.push(ins(JGT_K, max, To::Enosys, To::Filter)),
            None => p.push(ins(JA, 0, To::Filter, To::Filter)),
        }
        if let Some(max) = s.x32_max {
            labels.push((To::X32(i), p.len()));
            p.push(ins(JGT_K, max, To::Enosys, To::Filter));
        }
    }
    labels.push((To::Enosys, p.len()));
    p.push(ins(RET_K, RET_ERRNO_ENOSYS, To::Next, To::Next));
    labels.push((To::Filter, p.len()));
    let at = |to: To, from: usize| -> u32 {
        match to {
            To::Next => 0,
            to => {
                (labels
                    .iter()
                    .find(|(l, _)| *l == to)
                    .expect("every label is placed")
                    .1
                    - from
                    - 1) as u32
            }
        }
    };
    p.iter()
        .enumerate()
        .map(|(n, i)| {
            if i.code == JA {
                libc::sock_filter {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: at(i.jt, n),
                }
            } else {
                // The stub is a few instructions an architecture: every
                // conditional jump fits in its 8 bits.
                let short = |to| u8::try_from(at(to, n)).expect("a short jump");
                libc::sock_filter {
                    code: i.code,
                    jt: short(i.jt),
                    jf: short(i.jf),
                    k: i.k,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program over (arch, nr) as the kernel would.
    fn eval(p: &[libc::sock_filter], arch: u32, nr: u32) -> Option<u32> {
        let (mut pc, mut acc) = (0usize, 0u32);
        while pc < p.len() {
            let i = &p[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => acc = if i.k == 4 { arch } else { nr },
                JA => pc += i.k as usize,
                RET_K => return Some(i.k),
                c => {
                    let hit = match c {
                        JEQ_K => acc == i.k,
                        JGT_K => acc > i.k,
                        JSET_K => acc & i.k != 0,
                        _ => panic!("unexpected opcode {c:#x}"),
                    };
                    pc += if hit { i.jt } else { i.jf } as usize;
                }
            }
        }
        None // fell through to the filter
    }

    #[test]
    fn above_the_highest_named_is_enosys() {
        let x86_64 = 0xc000_003e;
        let p = stub(
            &[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32],
            &["read", "write", "rseq", "no_such_call"],
        );
        // rseq is 334 on x86_64.
        assert_eq!(eval(&p, x86_64, 334), None);
        assert_eq!(eval(&p, x86_64, 110), None);
        assert_eq!(eval(&p, x86_64, 435), Some(RET_ERRNO_ENOSYS));
        assert_eq!(eval(&p, x86_64, X32_BIT | 5), None);
        assert_eq!(eval(&p, x86_64, X32_BIT | 600), Some(RET_ERRNO_ENOSYS));
        // i386: rseq is 386.
        assert_eq!(eval(&p, 0x4000_0003, 386), None);
        assert_eq!(eval(&p, 0x4000_0003, 387), Some(RET_ERRNO_ENOSYS));
        assert_eq!(
            eval(&p, 0xc000_00b7, 9999),
            None,
            "an architecture not listed goes to the filter"
        );
    }

    #[test]
    fn x86_64_alone_leaves_x32_to_the_filter() {
        let p = stub(&[ScmpArch::X8664], &["read", "write"]);
        assert_eq!(eval(&p, 0xc000_003e, 1), None);
        assert_eq!(eval(&p, 0xc000_003e, 1000), Some(RET_ERRNO_ENOSYS));
        assert_eq!(eval(&p, 0xc000_003e, X32_BIT | 1000), None);
        assert!(stub(&[], &["read"]).is_empty());
        assert!(stub(&[ScmpArch::X8664], &["no_such_call"]).is_empty());
    }
}
