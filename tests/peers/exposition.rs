//! Loopback HTTP targets for tests: each path serves a sequence of
//! responses, stepping once per scrape and separately per scraper (told
//! apart by User-Agent), so series can appear and vanish between scrapes
//! the same way for every scraper under test.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// One response of a target.
#[derive(Clone, Debug)]
pub struct Step {
    /// HTTP status.
    pub status: u16,
    /// Content-Type header.
    pub content_type: String,
    /// Body; `{{now_ms}}` and `{{now_s}}` are replaced at serve time.
    pub body: String,
    /// Send gzip-compressed with `Content-Encoding: gzip`.
    pub gzip: bool,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Step {
    /// A 200 response in the Prometheus text format.
    pub fn text(body: &str) -> Step {
        Step {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8".into(),
            body: body.into(),
            gzip: false,
            delay: Duration::ZERO,
        }
    }

    /// A 200 response in OpenMetrics.
    pub fn openmetrics(body: &str) -> Step {
        Step {
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".into(),
            ..Step::text(body)
        }
    }
}

type Cursors = HashMap<(String, String), usize>;

/// A server with one step sequence per path; the last step repeats.
pub struct ExpositionServer {
    /// `127.0.0.1:<port>`.
    pub address: String,
    server: Arc<tiny_http::Server>,
    threads: Vec<JoinHandle<()>>,
}

impl ExpositionServer {
    /// Serves `paths` (path → steps) on a free port with a few worker threads.
    pub fn start(paths: HashMap<String, Vec<Step>>) -> ExpositionServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind targets"));
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .expect("tcp listener");
        let paths = Arc::new(paths);
        let cursors: Arc<Mutex<Cursors>> = Arc::default();
        let threads = (0..8)
            .map(|i| {
                let server = Arc::clone(&server);
                let paths = Arc::clone(&paths);
                let cursors = Arc::clone(&cursors);
                std::thread::Builder::new()
                    .name(format!("test targets {i}"))
                    .spawn(move || {
                        for request in server.incoming_requests() {
                            serve(request, &paths, &cursors);
                        }
                    })
                    .expect("spawn target thread")
            })
            .collect();
        ExpositionServer {
            address: format!("127.0.0.1:{port}"),
            server,
            threads,
        }
    }
}

impl Drop for ExpositionServer {
    fn drop(&mut self) {
        for _ in &self.threads {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Which scraper sent a request, from its User-Agent.
fn scraper_of(request: &tiny_http::Request) -> String {
    let agent = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("User-Agent"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default();
    agent.split('/').next().unwrap_or("").to_ascii_lowercase()
}

fn serve(
    request: tiny_http::Request,
    paths: &HashMap<String, Vec<Step>>,
    cursors: &Mutex<Cursors>,
) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let Some(steps) = paths.get(&path) else {
        let _ = request.respond(tiny_http::Response::empty(404));
        return;
    };
    let step = {
        let mut cursors = cursors.lock();
        let n = cursors.entry((scraper_of(&request), path)).or_insert(0);
        let step = steps[(*n).min(steps.len() - 1)].clone();
        *n += 1;
        step
    };
    std::thread::sleep(step.delay);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let body = step
        .body
        .replace("{{now_ms}}", &now.as_millis().to_string())
        .replace("{{now_s}}", &format!("{:.3}", now.as_secs_f64()));
    let mut bytes = body.into_bytes();
    let mut response = tiny_http::Response::from_data(Vec::new()).with_status_code(step.status);
    if step.gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = enc.write_all(&bytes);
        bytes = enc.finish().unwrap_or_default();
        response.add_header(header("Content-Encoding", "gzip"));
    }
    response.add_header(header("Content-Type", &step.content_type));
    let len = bytes.len();
    let response = tiny_http::Response::new(
        response.status_code(),
        response.headers().to_vec(),
        std::io::Cursor::new(bytes),
        Some(len),
        None,
    );
    let _ = request.respond(response);
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}
