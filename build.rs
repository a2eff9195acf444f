// Records the git commit for `berth --version` (clients read its commit: line),
// and has the linker group the functions a lifecycle runs
// (src/symbol-order.txt, made by `make symbol-order`).
fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BERTH_COMMIT={commit}");
    // HEAD, and the branch it names. In a git worktree .git is a file:
    // HEAD is under the worktree's git dir and the branch under the common
    // one. A path that does not exist would make cargo rerun this script,
    // and rebuild berth, on every call; all of refs/ would rebuild it on
    // every commit to any branch.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
    }
    let common = git(&["rev-parse", "--git-common-dir"]);
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    if let (Some(common), Some(branch)) = (common, branch) {
        let file = format!("{common}/{branch}");
        if std::path::Path::new(&file).exists() {
            println!("cargo:rerun-if-changed={file}");
        } else {
            // Only in packed-refs (after a gc).
            println!("cargo:rerun-if-changed={common}/packed-refs");
        }
    }

    // BERTH_KEEP_SYMBOLS=1: the same binary with its symbol table, for
    // `make symbol-order` and profilers.
    println!("cargo:rerun-if-env-changed=BERTH_KEEP_SYMBOLS");
    if std::env::var_os("BERTH_KEEP_SYMBOLS").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,--strip-all");
    }
    let order = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("src/symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    // lld's option; names missing from this build are skipped silently.
    if order.exists() && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

fn git(args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}
