//! Support for tests that run real peers: free ports, child processes
//! that die with the test, HTTP polling, and a remote_write receiver.

#![allow(dead_code)]

pub mod exposition;
pub mod receiver;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct ChildGuard {
    /// The program's name, for messages.
    pub name: String,
    /// The running process.
    pub child: Child,
}

impl ChildGuard {
    /// Starts `program args...` with output to `log` (a file in a temp dir).
    pub fn spawn(program: &str, args: &[String], log: &Path) -> ChildGuard {
        assert!(
            Path::new(program).exists() || !program.starts_with('/'),
            "{program} is missing: run scripts/install-peers.sh (make peers)"
        );
        let out = std::fs::File::create(log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        ChildGuard {
            name: program.to_string(),
            child,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by number (e.g. 1 = SIGHUP, 15 = SIGTERM).
    pub fn signal(&self, sig: i32) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {}", self.pid());
    }

    /// Sends SIGTERM and waits up to `deadline` for the exit.
    pub fn terminate(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        self.signal(15);
        let start = Instant::now();
        while start.elapsed() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `url` until it answers 200 or `deadline` passes; panics naming the URL.
pub fn wait_http_ok(url: &str, deadline: Duration) {
    let start = Instant::now();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(2))
        .build();
    loop {
        if let Ok(resp) = agent.get(url).call() {
            if resp.status() == 200 {
                return;
            }
        }
        assert!(start.elapsed() < deadline, "{url} did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `check` every 100 ms until it returns true or `deadline` passes.
pub fn wait_until(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}
