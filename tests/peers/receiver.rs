//! A remote_write receiver for tests: decodes snappy protobuf
//! `WriteRequest`s and keeps every sample per sender (the URL path).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::thread::JoinHandle;

use edgescrape::storage::remote::prompb::{Label, WriteRequest};
use parking_lot::Mutex;
use prost::Message;

/// Series key: `name{a="b",...}` with labels sorted by name.
pub type SeriesKey = String;

/// Samples received, per sender path, per series, in arrival order.
pub type Received = HashMap<String, BTreeMap<SeriesKey, Vec<(i64, f64)>>>;

/// A running receiver on 127.0.0.1; `/<sender>` paths keep data apart.
pub struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    data: Arc<Mutex<Received>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts the receiver on a free port.
    pub fn start() -> Receiver {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind receiver"));
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .expect("tcp listener");
        let data: Arc<Mutex<Received>> = Arc::default();
        let thread = {
            let server = Arc::clone(&server);
            let data = Arc::clone(&data);
            std::thread::Builder::new()
                .name("test receiver".into())
                .spawn(move || {
                    for mut request in server.incoming_requests() {
                        let sender = request.url().trim_start_matches('/').to_string();
                        let mut body = Vec::new();
                        let status =
                            match std::io::Read::read_to_end(request.as_reader(), &mut body)
                                .ok()
                                .and_then(|_| snap::raw::Decoder::new().decompress_vec(&body).ok())
                                .and_then(|raw| WriteRequest::decode(raw.as_slice()).ok())
                            {
                                Some(req) => {
                                    let mut data = data.lock();
                                    let per_sender = data.entry(sender).or_default();
                                    for ts in req.timeseries {
                                        let key = series_key(&ts.labels);
                                        let samples = per_sender.entry(key).or_default();
                                        samples.extend(
                                            ts.samples.iter().map(|s| (s.timestamp, s.value)),
                                        );
                                    }
                                    204
                                }
                                None => 400,
                            };
                        let _ = request.respond(tiny_http::Response::empty(status));
                    }
                })
                .expect("spawn receiver thread")
        };
        Receiver {
            base_url: format!("http://127.0.0.1:{port}"),
            data,
            server,
            thread: Some(thread),
        }
    }

    /// A copy of everything received so far.
    pub fn snapshot(&self) -> Received {
        self.data.lock().clone()
    }

    /// Total samples received from `sender`.
    pub fn sample_count(&self, sender: &str) -> usize {
        self.data
            .lock()
            .get(sender)
            .map(|s| s.values().map(Vec::len).sum())
            .unwrap_or(0)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Formats labels as `name{a="b"}` with the remaining labels sorted.
pub fn series_key(labels: &[Label]) -> SeriesKey {
    let mut sorted: Vec<&Label> = labels.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let name = sorted
        .iter()
        .find(|l| l.name == "__name__")
        .map(|l| l.value.as_str())
        .unwrap_or("");
    let rest: Vec<String> = sorted
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}
