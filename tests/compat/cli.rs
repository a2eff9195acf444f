//! Every subcommand and global flag of runc's command line, with its
//! error paths: exit statuses, and the lines clients parse.

use crate::harness::compare;

#[test]
fn version_lines() {
    compare(|c| {
        let out = c.exec(c.bare(&["--version"]));
        c.see("--version exit", out.code);
        let shape: Vec<String> = out.stdout.lines().map(|l| l.split_once([' ', ':']).map(|(a, _)| a).unwrap_or(l).to_string()).collect();
        c.see("--version first words", shape[1..].join(","));
        c.see("--version mentions version", out.stdout.lines().next().unwrap_or("").contains(" version "));
    });
}
