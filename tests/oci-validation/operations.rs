//! runtime.md, "Operations" and "State".

use crate::common::Bundle;

/// "state <container-id>: ... MUST generate an error if it is not provided
/// the ID of a container." and the state's REQUIRED properties.
#[test]
fn state_has_the_required_properties() {
    let b = Bundle::new(&["sleep", "1000"]);
    let id = b.id("spec-state");
    b.create(&id).ok();
    let v = b.state(&id);
    for key in ["ociVersion", "id", "status", "pid", "bundle"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    assert_eq!(v["status"], "created");
    assert!(b.berth(&["state", "not-a-container"]).code != 0);
}

/// "create: ... If the ID provided is not unique across all containers
/// within the scope of the runtime ... the runtime MUST generate an error
/// and a new container MUST NOT be created."
#[test]
fn create_with_a_used_id_fails() {
    let b = Bundle::new(&["sleep", "1000"]);
    let id = b.id("spec-unique");
    b.create(&id).ok();
    let pid = b.state(&id)["pid"].clone();
    assert_ne!(b.create(&id).code, 0);
    assert_eq!(b.state(&id)["pid"], pid);
}

/// "start: ... Attempting to start a container that is not created MUST
/// have no effect on the container and MUST generate an error."
#[test]
fn start_of_a_running_container_fails() {
    let b = Bundle::new(&["sleep", "1000"]);
    let id = b.id("spec-start");
    b.create(&id).ok();
    b.berth(&["start", &id]).ok();
    assert_ne!(b.berth(&["start", &id]).code, 0);
    assert_eq!(b.status(&id), "running");
}

/// "delete: Attempting to delete a container that is not stopped MUST have
/// no effect on the container and MUST generate an error."
#[test]
fn delete_of_a_created_container_fails() {
    let b = Bundle::new(&["sleep", "1000"]);
    let id = b.id("spec-delete");
    b.create(&id).ok();
    assert_ne!(b.berth(&["delete", &id]).code, 0);
    assert_eq!(b.status(&id), "created");
}

/// "kill: Attempting to send a signal to a container that is neither
/// created nor running MUST have no effect on the container and MUST
/// generate an error."
#[test]
fn kill_of_a_stopped_container_fails() {
    let b = Bundle::new(&["true"]);
    let id = b.id("spec-kill");
    let bundle = b.path.to_str().unwrap().to_string();
    b.berth(&["run", "--keep", "--bundle", &bundle, &id]).ok();
    assert_eq!(b.status(&id), "stopped");
    assert_ne!(b.berth(&["kill", &id, "KILL"]).code, 0);
}

/// Lifecycle step 2-6: the user-specified program MUST NOT run before
/// start.
#[test]
fn the_program_runs_only_after_start() {
    let b = Bundle::sh("touch /ran");
    b.config(|c| c["root"]["readonly"] = false.into());
    let id = b.id("spec-notyet");
    b.create(&id).ok();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!b.path.join("rootfs/ran").exists());
    b.berth(&["start", &id]).ok();
    for _ in 0..300 {
        if b.path.join("rootfs/ran").exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the program never ran after start");
}
