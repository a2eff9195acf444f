use berth::{commands, logging};

fn main() {
    // Non-dumpable from the first instruction: every process berth forks
    // shares its image, and a container process must never be able to open
    // /proc/PID/exe of one of them (CVE-2019-5736). execve() resets it.
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let cli = match commands::parse(std::env::args_os().skip(1)) {
        Ok(cli) => cli,
        Err(commands::args::Usage::Help(text)) => {
            print!("{text}");
            std::process::exit(0);
        }
        // runc's exit statuses for a wrong command line: 1, and 3 for an
        // unknown command (2 for check's); the error as a log line, as its
        // other errors.
        Err(commands::args::Usage::Error(e, help)) => {
            let usage = help
                .lines()
                .find(|l| l.starts_with("Usage:"))
                .unwrap_or_default();
            logging::error(&format!("berth: {e}"));
            eprintln!("{usage}\n(--help for more)");
            std::process::exit(commands::usage_status(help));
        }
        Err(commands::args::Usage::UnknownCommand(name)) => {
            logging::error(&format!(
                "berth: unknown command {name:?} (berth --help lists them)"
            ));
            std::process::exit(3);
        }
    };
    let g = &cli.global;
    if let Err(e) = logging::init(g.log.as_deref(), g.log_format == "json", g.debug) {
        eprintln!("berth: {e}");
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
