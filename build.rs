// Records the git commit for `berth --version` (clients read its commit: line),
// and has the linker group the functions a lifecycle runs
// (src/symbol-order.txt, made by `make symbol-order`).
fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BERTH_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");

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
