//! `berth features`: the runtime-spec's features document (features.md,
//! features-linux.md), listing what this build of berth supports, whatever
//! the host has (apparmor, selinux, intelRdt: "irrelevant to the
//! availability ... on the host"); `berth check` says what this host can
//! do. The one exception, as the spec has it: seccomp's supportedFlags, the
//! known flags this kernel takes.

use serde_json::{Value, json};

pub fn features() -> Value {
    let last = crate::process::capabilities::last_cap();
    let mut caps: Vec<(u8, String)> = caps::all()
        .into_iter()
        .filter(|c| (c.index() as u32) <= last)
        .map(|c| (c.index(), c.to_string()))
        .collect();
    caps.sort();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::config::SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": crate::mounts::KNOWN_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps.into_iter().map(|(_, n)| n).collect::<Vec<_>>(),
            "cgroup": { "v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true },
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
                          "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PARISC",
                          "SCMP_ARCH_PARISC64", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
                          "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_X32",
                          "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "knownFlags": SECCOMP_FLAGS.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
                "supportedFlags": supported_seccomp_flags()
            },
            "apparmor": { "enabled": true },
            "selinux": { "enabled": true },
            "intelRdt": { "enabled": true, "schemata": true, "monitoring": true },
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
                          "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            "mountExtensions": { "idmap": { "enabled": true } },
            "netDevices": { "enabled": true }
        },
        // Annotations that change what berth does: with --systemd-cgroup,
        // each becomes a property of the container's scope unit.
        "potentiallyUnsafeConfigAnnotations": ["org.systemd.property."],
        "annotations": {
            "io.github.berth.version": env!("CARGO_PKG_VERSION"),
            "io.github.berth.commit": option_env!("BERTH_COMMIT").unwrap_or("unknown"),
            "io.github.berth.libseccomp.version": libseccomp_version()
        }
    })
}

/// The seccomp flags berth knows, with the bits that ask the kernel about
/// each: it takes WAIT_KILLABLE_RECV only with a listener (NEW_LISTENER),
/// as berth installs it (seccomp/).
const SECCOMP_FLAGS: [(&str, libc::c_ulong); 4] = [
    ("SECCOMP_FILTER_FLAG_LOG", libc::SECCOMP_FILTER_FLAG_LOG),
    (
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    ),
    ("SECCOMP_FILTER_FLAG_TSYNC", libc::SECCOMP_FILTER_FLAG_TSYNC),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
    ),
];

/// The known flags this kernel takes (TSYNC since 3.17, LOG 4.14,
/// SPEC_ALLOW 4.17, WAIT_KILLABLE_RECV 5.19).
fn supported_seccomp_flags() -> Vec<&'static str> {
    SECCOMP_FLAGS
        .iter()
        .filter(|(_, bits)| crate::syscall::seccomp_flags_supported(*bits as u32))
        .map(|(name, _)| *name)
        .collect()
}

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::seccomp_flags_supported;

    #[test]
    fn the_kernel_is_asked_about_each_flag() {
        // No kernel has bit 31, and WAIT_KILLABLE_RECV alone is refused
        // (it needs a listener): the probe tells EINVAL from EFAULT.
        assert!(!seccomp_flags_supported(1 << 31));
        assert!(!seccomp_flags_supported(
            libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32
        ));
        // Every kernel berth runs on (4.14 and later) takes LOG and TSYNC.
        assert!(seccomp_flags_supported(
            libc::SECCOMP_FILTER_FLAG_LOG as u32
        ));
        assert!(seccomp_flags_supported(
            libc::SECCOMP_FILTER_FLAG_TSYNC as u32
        ));
        let supported = supported_seccomp_flags();
        let known = features()["linux"]["seccomp"]["knownFlags"].clone();
        assert!(
            supported
                .iter()
                .all(|f| known.as_array().unwrap().contains(&(*f).into()))
        );
        // Nothing was installed by asking.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(status.contains("Seccomp:\t0"), "{status}");
    }
}
