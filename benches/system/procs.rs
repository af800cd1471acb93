//! Child processes that cannot outlive the benchmark, and what `/proc`
//! says about a process.
//!
//! Every child is started with `PR_SET_PDEATHSIG = SIGKILL`, so the kernel
//! kills it when the benchmark dies for any reason (panic, signal, even
//! SIGKILL); [`Proc`]'s `Drop` stops and reaps it on every ordinary path.
//! SIGINT, SIGTERM and SIGHUP only raise a flag ([`interrupted`]) that
//! [`pause`] turns into a panic, so the unwinding drops every guard and
//! temporary directory.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

static INTERRUPTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Turns SIGINT, SIGTERM and SIGHUP into a flag that [`pause`] checks.
pub fn catch_interrupts() {
    let flag = INTERRUPTED.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(flag)).expect("register signal handler");
    }
}

/// Whether the benchmark was asked to stop.
pub fn interrupted() -> bool {
    INTERRUPTED
        .get()
        .is_some_and(|flag| flag.load(Ordering::Relaxed))
}

/// Sleeps `d` in short steps; panics (unwinding every guard) once interrupted.
pub fn pause(d: Duration) {
    let end = Instant::now() + d;
    loop {
        assert!(
            !interrupted(),
            "bench: interrupted, stopping everything it started"
        );
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// A child process, killed with the benchmark and stopped by PID on drop.
pub struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    /// Starts `program args...` with stdout and stderr to `log`.
    ///
    /// The program runs through a link `bench-<name>` beside `log`, so its
    /// process name is not the package's: a `pkill -x nginx` (or
    /// `prometheus`) elsewhere on the machine cannot stop a measurement.
    pub fn spawn(program: &str, args: &[String], log: &Path) -> Proc {
        let out = std::fs::File::create(log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let mut command = Command::new(renamed(program, log.parent().unwrap_or(Path::new("."))));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("bench: cannot start {program}: {e} (run `make peers` to install the peers)")
        });
        Proc {
            name: program.to_string(),
            child,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `sig` to this process by its PID.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill has no memory effects; the PID is our unreaped child.
        unsafe {
            libc::kill(self.pid() as libc::pid_t, sig);
        }
    }

    /// Asks the process to stop with `sig`; kills it after `grace`.
    pub fn stop(&mut self, sig: i32, grace: Duration) {
        if self.exited() {
            return;
        }
        self.signal(sig);
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if self.exited() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("bench: {} did not stop in {grace:?}, killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A link `dir/bench-<name of program>` to `program`, made if missing.
fn renamed(program: &str, dir: &Path) -> PathBuf {
    let target = Path::new(program);
    let name = target
        .file_name()
        .map_or("peer".into(), |n| n.to_string_lossy());
    let link = dir.join(format!("bench-{name}"));
    if !link.exists() {
        assert!(
            target.exists(),
            "bench: {program} is missing (run `make peers` to install the peers)"
        );
        std::os::unix::fs::symlink(target, &link)
            .unwrap_or_else(|e| panic!("bench: cannot link {}: {e}", link.display()));
    }
    link
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(libc::SIGTERM, Duration::from_secs(5));
    }
}

/// One reading of a process's counters.
#[derive(Clone, Copy, Default)]
pub struct Reading {
    /// utime + stime, seconds.
    pub cpu_seconds: f64,
    /// Resident set size, bytes.
    pub rss: u64,
    /// Peak resident set size so far (VmHWM), bytes.
    pub rss_peak: u64,
    /// Threads.
    pub threads: u64,
    /// Bytes this process caused to be sent to the block layer (`write_bytes`).
    pub write_bytes: u64,
}

/// Reads `/proc/PID/{stat,status,io}`; a vanished process reads as zeros.
pub fn read(pid: u32) -> Reading {
    Reading {
        cpu_seconds: cpu_seconds(&format!("/proc/{pid}/stat")),
        rss: status_field(pid, "VmRSS:") * 1024,
        rss_peak: status_field(pid, "VmHWM:") * 1024,
        threads: status_field(pid, "Threads:"),
        write_bytes: io_field(pid, "write_bytes:"),
    }
}

/// utime + stime from a `stat` file, in seconds.
pub fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|s| s.parse::<f64>().ok()))
        .sum();
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn status_field(pid: u32, name: &str) -> u64 {
    first_number_after(&format!("/proc/{pid}/status"), name)
}

fn io_field(pid: u32, name: &str) -> u64 {
    first_number_after(&format!("/proc/{pid}/io"), name)
}

fn first_number_after(path: &str, name: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Busy CPU seconds of the whole machine (all cores), from `/proc/stat`.
pub fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let ticks: f64 = cpu
        .split_whitespace()
        .skip(1)
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum();
    ticks / clock_ticks_per_second()
}
