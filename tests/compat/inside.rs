//! What the container itself sees, for runc's default config and for a
//! few common variations: its ids, capabilities, mounts, devices, fds,
//! limits, environment and cgroup.

use crate::harness::{Case, Differ, compare_with};

/// Runs `script` in the container (run, no terminal) and records each line
/// of its output under `key[n]`, and the exit status.
fn see_inside(c: &mut Case, key: &str, script: &str) {
    c.sh(script);
    let id = c.new_id(key);
    let out = c.rt(&["run", "--bundle", "{bundle}", &id]);
    c.see(&format!("{key} exit"), out.code);
    // A mount line, "M where type options", is a key of its own, so that a
    // difference kept on purpose can be named.
    let (mounts, rest): (Vec<&str>, Vec<&str>) =
        out.stdout.lines().partition(|l| l.starts_with("M "));
    for m in mounts {
        let mut f = m.splitn(3, ' ').skip(1);
        let (at, what) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
        c.see(&format!("{key} mount {at}"), what);
    }
    c.see(&format!("{key} output"), rest.join("\n"));
}

/// Why berth's mounts differ from runc 1.1.5's, for runc's default config.
const CGROUP_RO: &str = "config.json mounts /sys/fs/cgroup with \"ro\" and berth honours it; runc 1.1.5 on cgroup v1 \
                         leaves the tmpfs it makes there writable";
const UNIFIED: &str = "on a hybrid host the container's /proc/self/cgroup names the cgroup2 hierarchy (its 0:: line), so \
                       berth mounts it read-only where the host has it, as the host's layout is; runc 1.1.5 leaves it out";
const RO_PATH: &str = "a readonlyPaths bind keeps the nosuid, nodev and noexec of the /proc it is bound from; runc 1.1.5's \
                       remount drops them (the kernel refuses that in a user namespace, and later runc keeps them)";
const SYSFS_SB: &str = "berth makes a read-only mount read-only per mount (MOUNT_ATTR_RDONLY), not on the superblock, \
                        which every other sysfs mount of that network namespace shares; runc's mount(2) sets both";

fn cgroup_differs(key: &'static str) -> [Differ; 2] {
    let k = |m: &str| -> &'static str { Box::leak(format!("{key} mount {m}").into_boxed_str()) };
    [
        Differ {
            key: k("/sys/fs/cgroup"),
            berth: "tmpfs ro,nosuid,nodev,noexec,relatime",
            why: CGROUP_RO,
        },
        Differ {
            key: k("/sys/fs/cgroup/unified"),
            berth: "cgroup2 ro,nosuid,nodev,noexec,relatime",
            why: UNIFIED,
        },
    ]
}

fn default_differs(key: &'static str) -> Vec<Differ> {
    let k = |m: &str| -> &'static str { Box::leak(format!("{key} mount {m}").into_boxed_str()) };
    let mut d: Vec<Differ> = cgroup_differs(key).into();
    for p in ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"] {
        d.push(Differ {
            key: k(p),
            berth: "proc ro,nosuid,nodev,noexec,relatime",
            why: RO_PATH,
        });
    }
    d.push(Differ {
        key: k("/sys(superblock)"),
        berth: "rw",
        why: SYSFS_SB,
    });
    d
}

const VIEW: &str = r#"
id; hostname; pwd; umask; echo "env: $(env | sort | grep -v '^SHLVL\|^PWD\|^_=' | tr '\n' ' ')"
grep -E '^(Cap|NoNewPrivs|Seccomp|Uid|Gid|Groups)' /proc/self/status | tr '\t' ' '
ls /proc/self/fd | tr '\n' ' '; echo
ulimit -a | tr -s ' '
cat /proc/self/oom_score_adj
# the mounts: where, type and options (the source of a bind varies)
awk '{ split($0, a, " - "); split(a[2], b, " "); print "M", $5, b[1], $6 }' /proc/self/mountinfo
awk '$5 == "/sys" { split($0, a, " - "); split(a[2], b, " "); print "M /sys(superblock)", b[3] }' /proc/self/mountinfo
ls -ln /dev | awk 'NR > 1 { print $1, $3, $4, $5, $6, $NF }'
ls -ln /dev/pts /dev/shm /dev/mqueue | awk '{ print $1, $3, $4, $NF }'
cat /proc/self/cgroup | sed 's/compat-[a-z]*-[0-9]*-[0-9]*/ID/'
for p in /proc/kcore /proc/keys /sys/firmware /proc/sys /proc/sysrq-trigger; do
  [ -e $p ] && echo "$p: $(stat -c '%F %a' $p) $(head -c 1 $p 2>&1 >/dev/null | sed 's/.*: //')"
done
touch /proc/sys/kernel/x 2>&1 | sed 's/.*: //'; touch /x 2>&1 | sed 's/.*: //'
echo $$ ; kill -0 1 && echo init-alive
echo "lo flags $(cat /sys/class/net/lo/flags)"
"#;

#[test]
fn the_default_container() {
    compare_with(&default_differs("default"), |c| {
        see_inside(c, "default", VIEW)
    });
}

#[test]
fn a_writable_root_as_another_user() {
    compare_with(&default_differs("user"), |c| {
        c.config(|v| {
            v["root"]["readonly"] = false.into();
            v["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 63});
            v["process"]["cwd"] = "/tmp".into();
            v["process"]["env"] = serde_json::json!(["PATH=/bin", "A=b", "HOME=/nowhere"]);
            v["process"]["rlimits"] = serde_json::json!([{"type": "RLIMIT_NOFILE", "hard": 500, "soft": 400}]);
            v["process"]["oomScoreAdj"] = 100.into();
            v["hostname"] = "inside".into();
        });
        see_inside(c, "user", VIEW)
    });
}

#[test]
fn a_privileged_container() {
    compare_with(&cgroup_differs("privileged"), |c| {
        c.config(|v| {
            let all = serde_json::json!(["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_CHOWN", "CAP_KILL"]);
            v["process"]["capabilities"] = serde_json::json!({"bounding": all, "effective": all, "permitted": all});
            v["process"]["noNewPrivileges"] = false.into();
            v["linux"]["maskedPaths"] = serde_json::json!([]);
            v["linux"]["readonlyPaths"] = serde_json::json!([]);
            v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "cgroup"}]);
        });
        see_inside(c, "privileged", VIEW)
    });
}
