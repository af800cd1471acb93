//! On-CPU time of the calling thread, for figures that hold on a busy
//! machine; included by the benchmarks with `#[path]`.

/// Nanoseconds this thread has spent on a CPU (the first field of
/// /proc/thread-self/schedstat), or `None` where the kernel has no such
/// file.
pub fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
