//! The `edgescrape` binary: flags, wiring, signals and shutdown.

use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::init();
    eprintln!("edgescrape: not wired yet");
    ExitCode::from(2)
}
