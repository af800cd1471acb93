//! remote_write throughput: encoding + snappy of one full batch, and the
//! whole path (WAL commit → watcher → shard → HTTP → a tiny_http sink on
//! 127.0.0.1 that reads every body). The end-to-end group also prints the
//! process CPU time per million samples (from `/proc/self/stat`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edgescrape::config::RemoteWriteConfig;
use edgescrape::labels::Labels;
use edgescrape::storage::fanout::{Storage, StorageOptions};
use edgescrape::storage::remote::codec::WriteRequestEncoder;
use edgescrape::storage::remote::QueueManager;
use edgescrape::storage::Appendable;

/// node_exporter-like series: a metric name, a few labels, the target labels.
fn series(n: usize) -> Vec<Labels> {
    (0..n)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", format!("node_cpu_seconds_total_{}", i % 50)),
                ("cpu", (i % 8).to_string()),
                ("device", format!("dev{i}")),
                (
                    "mode",
                    ["idle", "user", "system", "iowait"][i % 4].to_string(),
                ),
                ("instance", "edge-box-17:9100".to_string()),
                ("job", "node".to_string()),
            ])
        })
        .collect()
}

fn encode(c: &mut Criterion) {
    // As a queue holds them: each series' shared labels, encoded per sample.
    let s: Vec<Labels> = series(2000);
    let mut enc = WriteRequestEncoder::new();
    let mut g = c.benchmark_group("remote_encode");
    g.throughput(Throughput::Elements(s.len() as u64));
    g.bench_function("write_request_2000_samples", |b| {
        let mut t = 1_700_000_000_000i64;
        b.iter(|| {
            t += 15_000;
            let body = enc
                .encode(s.iter().enumerate().map(|(i, l)| (l, t, i as f64 * 1.5)))
                .unwrap();
            body.len()
        })
    });
    g.finish();
}

/// utime + stime of this process, in clock ticks (100 per second on Linux).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn end_to_end(c: &mut Criterion) {
    let sink = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let s2 = sink.clone();
    let server = thread::spawn(move || {
        for mut req in s2.incoming_requests() {
            let mut body = Vec::new();
            let _ = req.as_reader().read_to_end(&mut body);
            let _ = req.respond(tiny_http::Response::empty(204));
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let storage = Storage::open(tmp.path(), StorageOptions::default()).unwrap();
    let cfg: RemoteWriteConfig = serde_yaml::from_str(&format!(
        "url: http://{}/api/v1/write\nqueue_config:\n  batch_send_deadline: 5ms\n",
        sink.server_addr()
    ))
    .unwrap();
    let q = QueueManager::start(storage.wal(), &cfg, &Labels::empty()).unwrap();
    let s = series(1000);
    let mut t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut g = c.benchmark_group("remote_end_to_end");
    g.throughput(Throughput::Elements(s.len() as u64));
    g.sample_size(20);
    let (mut samples, mut ticks) = (0u64, 0u64);
    g.bench_function("commit_1000_and_deliver", |b| {
        b.iter_custom(|iters| {
            let cpu0 = cpu_ticks();
            let start = Instant::now();
            for _ in 0..iters {
                t += 1;
                let target = q.stats().samples_sent.load(Ordering::Relaxed) + s.len() as u64;
                let fanout = storage.fanout();
                let mut app = fanout.appender();
                for (i, l) in s.iter().enumerate() {
                    app.append(0, l, t, i as f64).unwrap();
                }
                app.commit().unwrap();
                while q.stats().samples_sent.load(Ordering::Relaxed) < target {
                    thread::sleep(Duration::from_micros(200));
                }
            }
            samples += iters * s.len() as u64;
            ticks += cpu_ticks() - cpu0;
            start.elapsed()
        })
    });
    g.finish();
    if samples > 0 {
        eprintln!(
            "remote_end_to_end: {:.3} CPU seconds per million samples (WAL + queue + HTTP + sink, {samples} samples)",
            ticks as f64 / 100.0 / samples as f64 * 1e6
        );
    }
    q.stop(Duration::from_secs(5));
    sink.unblock();
    let _ = server.join();
}

criterion_group!(benches, encode, end_to_end);
criterion_main!(benches);
