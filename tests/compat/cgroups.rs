//! cgroups: delete of a paused container, deletes racing, a cgroup that
//! exists before create (frozen, or holding processes), the order of the
//! writes an update makes, and device access letters beyond r, w, m.

use crate::common::cgroup_hierarchies;
use crate::harness::{CGROUP_PARENT, Case, compare, remove_cgroup};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A cgroup the test makes itself, at CGROUP_PARENT/name in every
/// hierarchy, and a process of the test's own in it: when dropped (the
/// scenario passed or not) the process is killed and reaped, the cgroup
/// thawed and removed.
struct OwnCgroup {
    dirs: Vec<PathBuf>,
    child: Option<Child>,
}

impl OwnCgroup {
    /// Makes the cgroup in the hierarchies `only` names (a mountpoint's last
    /// component, e.g. "freezer"), or in all of them.
    fn new(name: &str, only: Option<&str>) -> OwnCgroup {
        let mut own = OwnCgroup {
            dirs: vec![],
            child: None,
        };
        for h in cgroup_hierarchies() {
            if only.is_some_and(|o| h.file_name().is_none_or(|n| n != o)) {
                continue;
            }
            let parent = h.join(CGROUP_PARENT);
            let dir = parent.join(name);
            for d in [&parent, &dir] {
                if std::fs::create_dir(d).is_ok() {
                    inherit_cpuset(d);
                }
            }
            own.dirs.push(dir);
        }
        own
    }

    fn dir(&self, hierarchy: &str) -> &Path {
        self.dirs
            .iter()
            .find(|d| d.starts_with(Path::new("/sys/fs/cgroup").join(hierarchy)))
            .expect("hierarchy mounted")
    }

    /// Puts a `sleep` of the test's own into the cgroup, in every hierarchy.
    fn add_sleep(&mut self) {
        let child = Command::new("sleep").arg("100").spawn().unwrap();
        let pid = child.id().to_string();
        self.child = Some(child);
        for d in &self.dirs {
            std::fs::write(d.join("cgroup.procs"), &pid)
                .unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        }
    }

    fn sleep_alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for OwnCgroup {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in &self.dirs {
            let _ = std::fs::write(d.join("freezer.state"), "THAWED");
            let _ = std::fs::write(d.join("cgroup.freeze"), "0");
            remove_cgroup(d);
        }
    }
}

/// A new v1 cpuset cgroup takes its parent's cpus and mems, or no process
/// can join it.
fn inherit_cpuset(dir: &Path) {
    for f in ["cpuset.cpus", "cpuset.mems"] {
        if let (Ok(v), Some(p)) = (std::fs::read_to_string(dir.join(f)), dir.parent())
            && v.trim().is_empty()
        {
            let _ = std::fs::write(
                dir.join(f),
                std::fs::read_to_string(p.join(f))
                    .unwrap_or_default()
                    .trim(),
            );
        }
    }
}

fn read(file: &Path) -> String {
    std::fs::read_to_string(file)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("unreadable: {e}"))
}

/// The container's cgroup directory in a v1 hierarchy.
fn cgroup_dir(hierarchy: &str, path: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(hierarchy)
        .join(path.trim_start_matches('/'))
}

/// delete --force of a paused container thaws it and kills every process,
/// the container's and one exec'd beside it; a few times over, since the
/// processes may be anywhere in their work when frozen.
#[test]
fn delete_force_of_a_paused_container() {
    compare(|c| {
        c.config(|v| v["process"]["args"] = serde_json::json!(["sleep", "100"]));
        for round in 0..3 {
            let id = if round == 0 {
                c.id.clone()
            } else {
                c.new_id(&format!("round{round}"))
            };
            if round > 0 {
                let cg = format!("/{CGROUP_PARENT}/{id}");
                c.config(|v| v["linux"]["cgroupsPath"] = cg.into());
            }
            let k = format!("round {round}");
            c.see_out(
                &format!("{k} run"),
                &c.rt(&["run", "--detach", "--bundle", "{bundle}", &id]),
                &[],
            );
            c.see_out(
                &format!("{k} exec -d"),
                &c.rt(&["exec", "--detach", &id, "sleep", "200"]),
                &[],
            );
            c.see_out(&format!("{k} pause"), &c.rt(&["pause", &id]), &[]);
            c.see_state(&format!("{k} paused"), &id);
            c.see_out(
                &format!("{k} delete --force"),
                &c.rt(&["delete", "--force", &id]),
                &[],
            );
            c.see_out(
                &format!("{k} state after"),
                &c.rt(&["state", &id]),
                &["does not exist"],
            );
            c.see_host(&format!("{k} host after delete"));
        }
    });
}

/// Two delete --force of one id at once: the one that finds the container
/// gone exits 0, as a delete --force of an id that never existed does.
#[test]
fn concurrent_delete_force() {
    compare(|c| {
        c.config(|v| v["process"]["args"] = serde_json::json!(["sleep", "100"]));
        let mut exits = std::collections::BTreeSet::new();
        let mut errors = String::new();
        for _ in 0..20 {
            let run = c.rt(&["run", "--detach", "--bundle", "{bundle}", "{id}"]);
            assert_eq!(run.code, 0, "{}: run: {}", c.rt.name(), run.stderr);
            let c = &*c;
            let (a, b) = std::thread::scope(|s| {
                let a = s.spawn(|| c.rt(&["delete", "--force", "{id}"]));
                let b = s.spawn(|| c.rt(&["delete", "--force", "{id}"]));
                (a.join().unwrap(), b.join().unwrap())
            });
            for o in [a, b] {
                exits.insert(o.code);
                errors.push_str(&o.stderr);
            }
        }
        c.see("delete --force exits", format!("{exits:?}"));
        c.see("delete --force stderr empty", errors.is_empty());
        c.see_host("host after the deletes");
    });
}

/// A cgroup that exists frozen before create: refused at once (a process
/// placed in it could never run), naming the cgroup; the test's own
/// cgroup is all that is left.
#[test]
fn create_in_a_frozen_cgroup_is_refused() {
    compare(|c| {
        let own = OwnCgroup::new(&c.id, Some("freezer"));
        std::fs::write(own.dir("freezer").join("freezer.state"), "FROZEN").unwrap();
        let log = c.dir.join("log.json");
        let out = c.rt(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "create",
            "--bundle",
            "{bundle}",
            "{id}",
        ]);
        c.see_exit("create", &out, &["frozen"]);
        c.see_log("create --log", &log, &["frozen"]);
        c.see_out("state", &c.rt(&["state", "{id}"]), &["does not exist"]);
        c.see_host("host after create");
        c.see(
            "cgroup still frozen",
            read(&own.dir("freezer").join("freezer.state")),
        );
    });
}

/// A cgroup that already holds a process (not the container's): create
/// warns and goes on, as runc 1.1 does; delete leaves that process alone.
#[test]
fn create_in_a_cgroup_with_processes_warns() {
    compare(|c| {
        c.config(|v| v["process"]["args"] = serde_json::json!(["sleep", "100"]));
        let mut own = OwnCgroup::new(&c.id, None);
        own.add_sleep();
        let log = c.dir.join("log.json");
        let out = c.rt(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "create",
            "--bundle",
            "{bundle}",
            "{id}",
        ]);
        c.see_out("create", &out, &[]);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let warned = text.lines().any(|l| {
            l.contains("\"warning\"") && l.contains("not empty") && l.contains("1 process(es)")
        });
        c.see("create --log warns of 1 process", warned);
        let id = c.id.clone();
        c.see_state("created", &id);
        c.see_out("start", &c.rt(&["start", "{id}"]), &[]);
        c.see_state("running", &id);
        c.see_exit("delete --force", &c.rt(&["delete", "--force", "{id}"]), &[]);
        c.see_out(
            "state after",
            &c.rt(&["state", "{id}"]),
            &["does not exist"],
        );
        c.see("test's sleep alive after delete", own.sleep_alive());
        c.see_host("host after delete");
    });
}

/// update --memory -1 on a container with a memory and a memory+swap
/// limit: both become unlimited (memory+swap first, since the kernel keeps
/// it at or above the memory limit at every step), then limits again.
#[test]
fn update_memory_unlimited_lifts_swap_too() {
    compare(|c| {
        c.config(|v| {
            v["process"]["args"] = serde_json::json!(["sleep", "100"]);
            v["linux"]["resources"]["memory"] =
                serde_json::json!({"limit": 104857600, "swap": 209715200});
        });
        c.see_out(
            "run",
            &c.rt(&["run", "--detach", "--bundle", "{bundle}", "{id}"]),
            &[],
        );
        let dir = cgroup_dir("memory", &format!("/{CGROUP_PARENT}/{}", c.id));
        let files = |c: &mut Case, k: &str| {
            for f in ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"] {
                c.see(&format!("{k}: {f}"), read(&dir.join(f)));
            }
        };
        files(c, "created");
        for args in [
            &["--memory", "-1"][..],
            &["--memory", "50m"],
            &["--memory", "300m", "--memory-swap", "400m"],
            &["--memory", "-1", "--memory-swap", "-1"],
            &["--memory", "64m", "--memory-swap", "128m"],
        ] {
            let mut a = vec!["update"];
            a.extend_from_slice(args);
            a.push("{id}");
            let k = format!("update {}", args.join(" "));
            c.see_exit(&k, &c.rt(&a), &[]);
            files(c, &k);
        }
    });
}

/// update of the CFS period and quota under a parent with a quota of its
/// own: whichever order the kernel accepts (a new period is checked
/// against the old quota, and the parent's ratio bounds the child's).
#[test]
fn update_cpu_period_and_quota_under_a_limited_parent() {
    compare(|c| {
        let own = OwnCgroup::new(&c.id, Some("cpu"));
        std::fs::write(own.dir("cpu").join("cpu.cfs_period_us"), "100000").unwrap();
        std::fs::write(own.dir("cpu").join("cpu.cfs_quota_us"), "50000").unwrap();
        let path = format!("/{CGROUP_PARENT}/{}/ctr", c.id);
        c.config(|v| {
            v["process"]["args"] = serde_json::json!(["sleep", "100"]);
            v["linux"]["cgroupsPath"] = path.clone().into();
            v["linux"]["resources"]["cpu"] = serde_json::json!({"quota": 50000, "period": 100000});
        });
        c.see_out(
            "run",
            &c.rt(&["run", "--detach", "--bundle", "{bundle}", "{id}"]),
            &[],
        );
        let dir = cgroup_dir("cpu", &path);
        for (p, q) in [
            ("50000", "25000"),
            ("200000", "100000"),
            ("10000", "5000"),
            ("100000", "-1"),
        ] {
            let k = format!("update --cpu-period {p} --cpu-quota {q}");
            c.see_exit(
                &k,
                &c.rt(&["update", "--cpu-period", p, "--cpu-quota", q, "{id}"]),
                &[],
            );
            c.see(
                &format!("{k}: period quota"),
                format!(
                    "{} {}",
                    read(&dir.join("cpu.cfs_period_us")),
                    read(&dir.join("cpu.cfs_quota_us"))
                ),
            );
        }
        // Out of the parent's cgroup before it goes.
        c.rt(&["delete", "--force", "{id}"]);
        for h in cgroup_hierarchies() {
            remove_cgroup(&h.join(CGROUP_PARENT).join(&c.id));
        }
        drop(own);
    });
}

/// Device access letters other than r, w and m: on cgroup v1 runc 1.1.5
/// drops them (what the kernel's devices.list then shows), and a rule left
/// with no access at all fails create. (runc fails it by a check of the
/// result, so a later rule for the same device hides it there; berth
/// refuses it whatever follows.) (On v2 both refuse such a rule:
/// tests/integration/cgroups.rs checks berth there.)
#[test]
fn device_access_beyond_rwm_on_v1() {
    if crate::common::cgroup_v2() {
        return;
    }
    compare(|c| {
        c.config(|v| {
            v["process"]["args"] = serde_json::json!(["sleep", "100"]);
            v["linux"]["resources"]["devices"] = serde_json::json!([
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwmx"},
                {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rx"},
                {"allow": true, "type": "b", "major": 7, "minor": 1, "access": "wq"}
            ]);
        });
        c.see_out(
            "run",
            &c.rt(&["run", "--detach", "--bundle", "{bundle}", "{id}"]),
            &[],
        );
        let dir = cgroup_dir("devices", &format!("/{CGROUP_PARENT}/{}", c.id));
        let list = read(&dir.join("devices.list"));
        c.see(
            "devices.list",
            list.lines()
                .filter(|l| {
                    ["c 1:3 ", "c 1:11 ", "b 7:1 "]
                        .iter()
                        .any(|p| l.starts_with(p))
                })
                .collect::<Vec<_>>()
                .join(", "),
        );
        c.see_out(
            "write /dev/null",
            &c.rt(&["exec", "{id}", "sh", "-c", "echo hi > /dev/null && echo ok"]),
            &[],
        );
        c.see_exit("delete --force", &c.rt(&["delete", "--force", "{id}"]), &[]);

        let id = c.new_id("x-only");
        c.config(|v| {
            v["linux"]["cgroupsPath"] = format!("/{CGROUP_PARENT}/{id}").into();
            v["linux"]["resources"]["devices"][1] = serde_json::json!({"allow": true, "type": "c", "major": 1, "minor": 12, "access": "x"});
        });
        c.see_exit(
            "run with access x",
            &c.rt(&["run", "--detach", "--bundle", "{bundle}", &id]),
            &[],
        );
        c.see_out("state x-only", &c.rt(&["state", &id]), &["does not exist"]);
        c.see_host("host after");
    });
}
