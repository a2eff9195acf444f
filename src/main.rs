use berth::{commands, logging, syscall};
use clap::Parser;

fn main() {
    // Non-dumpable from the first instruction: every process berth forks
    // shares its image, and a container process must never be able to open
    // /proc/PID/exe of one of them (CVE-2019-5736). execve() resets it.
    syscall::set_dumpable(false);
    let cli = commands::Cli::parse();
    if let Err(e) = logging::init(&cli.global) {
        eprintln!("berth: {e:#}");
        std::process::exit(1);
    }
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            logging::error(&e.to_string());
            1
        }
    };
    std::process::exit(code);
}
