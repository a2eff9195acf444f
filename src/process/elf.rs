//! Enough of ELF to say why a program cannot run: its machine, against
//! this host's, and its interpreter (PT_INTERP), read from the head of the
//! file or, for `berth check`, from the file.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;

const PT_INTERP: u32 = 3;

pub struct Elf {
    is64: bool,
    le: bool,
    pub machine: u16,
    phoff: u64,
    phentsize: u64,
    phnum: u64,
}

impl Elf {
    /// The header at the start of `b`; None when it is cut short.
    pub fn parse(b: &[u8]) -> Option<Elf> {
        if !b.starts_with(b"\x7fELF") {
            return None;
        }
        let is64 = *b.get(4)? == 2;
        let le = *b.get(5)? == 1;
        let u16_at = |o: usize| -> Option<u64> {
            let x: [u8; 2] = b.get(o..o + 2)?.try_into().ok()?;
            Some(if le {
                u16::from_le_bytes(x)
            } else {
                u16::from_be_bytes(x)
            } as u64)
        };
        let (phoff, phentsize, phnum) = if is64 {
            (num(b.get(32..40)?, le), u16_at(54)?, u16_at(56)?)
        } else {
            (num(b.get(28..32)?, le), u16_at(42)?, u16_at(44)?)
        };
        Some(Elf {
            is64,
            le,
            machine: u16_at(18)? as u16,
            phoff,
            phentsize,
            phnum,
        })
    }

    /// The PT_INTERP path, if the program has one (a static one has not),
    /// reading the program headers with `read(offset, buf)`.
    fn interp_with(&self, read: impl Fn(u64, &mut [u8]) -> Option<()>) -> Option<PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        for i in 0..self.phnum.min(256) {
            let mut ph = [0u8; 56];
            let len = (self.phentsize as usize).min(56);
            read(self.phoff + i * self.phentsize, &mut ph[..len])?;
            if num(&ph[0..4], self.le) as u32 != PT_INTERP {
                continue;
            }
            let (off, size) = if self.is64 {
                (num(&ph[8..16], self.le), num(&ph[32..40], self.le))
            } else {
                (num(&ph[4..8], self.le), num(&ph[16..20], self.le))
            };
            let mut s = vec![0u8; size.min(4096) as usize];
            read(off, &mut s)?;
            let end = s.iter().position(|b| *b == 0).unwrap_or(s.len());
            return Some(PathBuf::from(std::ffi::OsStr::from_bytes(&s[..end])));
        }
        None
    }

    /// PT_INTERP, read from the file.
    pub fn interp(&self, file: &std::fs::File) -> Option<PathBuf> {
        self.interp_with(|off, buf| file.read_exact_at(buf, off).ok())
    }

    /// PT_INTERP, if the headers and the path lie within `head` (they do
    /// in the first KiB of the programs linkers make).
    pub fn interp_in(&self, head: &[u8]) -> Option<PathBuf> {
        self.interp_with(|off, buf| {
            let start = usize::try_from(off).ok()?;
            buf.copy_from_slice(head.get(start..start.checked_add(buf.len())?)?);
            Some(())
        })
    }
}

/// A little- or big-endian unsigned number of 4 or 8 bytes.
fn num(b: &[u8], le: bool) -> u64 {
    let mut x = [0u8; 8];
    if le {
        x[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(x)
    } else {
        x[8 - b.len()..].copy_from_slice(b);
        u64::from_be_bytes(x)
    }
}

/// e_machine of the machine berth was built for: this host's.
pub fn host_machine() -> u16 {
    if cfg!(target_arch = "x86_64") {
        62
    } else if cfg!(target_arch = "aarch64") {
        183
    } else if cfg!(target_arch = "riscv64") {
        243
    } else if cfg!(target_arch = "powerpc64") {
        21
    } else if cfg!(target_arch = "s390x") {
        22
    } else if cfg!(target_arch = "loongarch64") {
        258
    } else {
        0
    }
}

/// The machines whose programs this kernel runs natively: its own, and the
/// 32-bit one it has a compat layer for.
pub fn runs_on(machine: u16, host: u16) -> bool {
    machine == host || matches!((host, machine), (62, 3) | (183, 40))
}

pub fn machine_name(m: u16) -> &'static str {
    match m {
        3 => "i386",
        8 => "mips",
        20 => "ppc",
        21 => "ppc64",
        22 => "s390",
        40 => "arm",
        62 => "x86_64",
        183 => "aarch64",
        243 => "riscv",
        258 => "loongarch",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 32-bit big-endian ELF header (a ppc binary's layout) is read with
    /// its own offsets and byte order.
    #[test]
    fn reads_32_bit_big_endian_headers() {
        let mut h = vec![0u8; 52];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1; // ELFCLASS32
        h[5] = 2; // ELFDATA2MSB
        h[18..20].copy_from_slice(&20u16.to_be_bytes());
        h[28..32].copy_from_slice(&52u32.to_be_bytes());
        h[42..44].copy_from_slice(&32u16.to_be_bytes());
        h[44..46].copy_from_slice(&3u16.to_be_bytes());
        let e = Elf::parse(&h).unwrap();
        assert_eq!((e.is64, e.le, e.machine), (false, false, 20));
        assert_eq!((e.phoff, e.phentsize, e.phnum), (52, 32, 3));
        assert!(!runs_on(e.machine, 62));
    }

    #[test]
    fn finds_the_interpreter_of_a_dynamic_program() {
        let file = std::fs::File::open("/bin/ls").unwrap();
        let mut head = [0u8; 1024];
        file.read_exact_at(&mut head, 0).unwrap();
        let e = Elf::parse(&head).unwrap();
        let interp = e.interp(&file).unwrap();
        assert!(interp.to_string_lossy().contains("ld-"), "{interp:?}");
        // From the first KiB alone, as exec has it.
        assert_eq!(e.interp_in(&head), Some(interp));
        assert_eq!(e.interp_in(&head[..64]), None);
        // busybox-static has none.
        let file = std::fs::File::open("/bin/busybox").unwrap();
        file.read_exact_at(&mut head, 0).unwrap();
        assert_eq!(Elf::parse(&head).unwrap().interp(&file), None);
        assert!(runs_on(3, 62) && runs_on(62, 62) && !runs_on(183, 62));
        assert_eq!(machine_name(host_machine()), std::env::consts::ARCH);
    }

    #[test]
    fn a_truncated_header_is_not_an_elf() {
        assert!(Elf::parse(b"\x7fELF\x02\x01").is_none());
        assert!(Elf::parse(b"#!/bin/sh\n").is_none());
    }
}
