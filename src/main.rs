//! The `edgescrape` binary: flags, wiring, signals and shutdown.

use std::path::PathBuf;
use std::process::ExitCode;

use edgescrape::cli::{self, Command, Flags};
use edgescrape::config::Config;

fn main() -> ExitCode {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(a) => args.push(a),
            Err(raw) => {
                eprintln!("edgescrape: argument {raw:?} is not UTF-8");
                return ExitCode::from(2);
            }
        }
    }
    match Flags::parse(args) {
        Err(e) => {
            eprintln!("edgescrape: {e}\nTry edgescrape --help.");
            ExitCode::from(2)
        }
        Ok(Command::Help) => {
            print!("{}", cli::usage());
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("{}", cli::version());
            ExitCode::SUCCESS
        }
        Ok(Command::CheckConfig(files)) => check_config(&files),
        Ok(Command::Run(flags)) => {
            cli::init_logging(flags.log_level, flags.log_format);
            run(flags)
        }
    }
}

/// `edgescrape check-config`, as `promtool check config`: every file is
/// checked; exit 1 if any is refused.
fn check_config(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        println!("Checking {}", file.display());
        match Config::load_file(file) {
            Ok(_) => println!(
                "  SUCCESS: {} is valid prometheus config file syntax",
                file.display()
            ),
            Err(e) => {
                eprintln!("  FAILED: {e}");
                failed = true;
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Loads the config and runs the scraper until shutdown.
///
/// The scrape, storage and web stages are not wired in yet: after loading
/// the config this reports that and exits 1.
fn run(flags: Flags) -> ExitCode {
    let config = match Config::load_file(&flags.config_file) {
        Ok(c) => c,
        Err(e) => {
            log::error!("cannot load config: {e}");
            return ExitCode::FAILURE;
        }
    };
    log::info!(
        "Starting edgescrape version={} config={} jobs={} remote_write={} listen={}",
        env!("CARGO_PKG_VERSION"),
        flags.config_file.display(),
        config.scrape_configs.len(),
        config.remote_write.len(),
        flags.listen_address
    );
    log::error!("the scrape, storage and web runtime is not wired into this binary yet");
    ExitCode::FAILURE
}
