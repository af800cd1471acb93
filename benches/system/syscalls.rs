//! fsyncs per second, counted by `strace -c` attached to each scraper for a
//! short sub-window.
//!
//! Attached strace stops a process at every system call, which slows it, so
//! the sub-window follows the measured window: CPU, memory and disk figures
//! never include it.

use std::path::Path;
use std::time::Duration;

use crate::procs::{pause, Proc};

/// The system calls that flush file data to the device.
const SYNC_CALLS: &str = "fsync,fdatasync,sync_file_range,syncfs,msync";

/// Counts sync calls of each process in `pids` over the same `window`;
/// `Err` says why a count could not be taken.
pub fn syncs_per_second(pids: &[u32], window: Duration, dir: &Path) -> Vec<Result<f64, String>> {
    let mut tracers: Vec<(Proc, std::path::PathBuf)> = pids
        .iter()
        .enumerate()
        .map(|(i, pid)| {
            let out = dir.join(format!("strace-{i}.txt"));
            let tracer = Proc::spawn(
                "/usr/bin/strace",
                &[
                    "-f".into(),
                    "-c".into(),
                    "-e".into(),
                    format!("trace={SYNC_CALLS}"),
                    "-o".into(),
                    out.display().to_string(),
                    "-p".into(),
                    pid.to_string(),
                ],
                &dir.join(format!("strace-{i}.log")),
            );
            (tracer, out)
        })
        .collect();
    pause(window);
    for (tracer, _) in &mut tracers {
        tracer.stop(libc::SIGINT, Duration::from_secs(10));
    }
    tracers
        .iter()
        .map(|(_, out)| {
            let text = std::fs::read_to_string(out)
                .map_err(|e| format!("strace wrote no summary ({e})"))?;
            Ok(total_calls(&text) as f64 / window.as_secs_f64())
        })
        .collect()
}

/// Sum of the `calls` column of an `strace -c` summary (0 when empty).
fn total_calls(summary: &str) -> u64 {
    summary
        .lines()
        .filter(|l| SYNC_CALLS.split(',').any(|c| l.trim_end().ends_with(c)))
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter_map(|calls| calls.parse::<u64>().ok())
        .sum()
}
