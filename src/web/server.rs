//! The web server: the HTTP layer ([`super::http`]) underneath, the
//! handler with the routes on top.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::write::GzEncoder;

use crate::web::api::{self, TargetsFilter};
use crate::web::auth::{BasicAuth, WebConfig};
use crate::web::http::{tls, Listener, ListenerStats, Method, Request, Response};
use crate::web::{federate, metrics, query, selector, ui, Metrics, Views, WebError, WebOptions};

/// Bodies at least this long are gzipped when the client accepts it.
const GZIP_MIN: usize = 1024;

/// A running web server. Dropping it without [`Server::stop`] leaves its
/// threads running until the process ends.
pub struct Server {
    listener: Listener,
    tls: bool,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr())
            .field("tls", &self.tls)
            .finish()
    }
}

impl Server {
    /// Reads the web config (if any), binds the listen address and starts
    /// the accept thread. Returns once the server accepts connections.
    pub fn start(options: WebOptions, views: Views) -> Result<Server, WebError> {
        let web_config = match &options.web_config_file {
            Some(path) => WebConfig::load(path).map_err(WebError::WebConfig)?,
            None => WebConfig::default(),
        };
        let tls = server_tls(&web_config)?;
        raise_open_files_limit(options.limits.max_connections);
        let listen_error =
            |e: std::io::Error| WebError::Listen(options.listen_address.clone(), e.to_string());
        let tcp = TcpListener::bind(options.listen_address.as_str()).map_err(listen_error)?;
        let addr = tcp.local_addr().map_err(listen_error)?;
        let auth = (!web_config.basic_auth_users.is_empty())
            .then(|| BasicAuth::new(web_config.basic_auth_users.clone()));
        let external_url = options
            .external_url
            .clone()
            .unwrap_or_else(|| format!("http://{}:{}/", hostname(), addr.port()));
        let metrics = views.metrics.clone();
        let handler = Arc::new(Handler {
            external: ExternalUrl::parse(&external_url),
            own_port: addr.port().to_string(),
            options: options.clone(),
            views,
            auth,
            quit_requested: AtomicBool::new(false),
        });
        let serve = move |request: &Request| handler.serve(request);
        let listener = Listener::start(tcp, tls.clone(), options.limits, Arc::new(serve))
            .map_err(WebError::Spawn)?;
        register_metrics(&metrics, listener.stats());
        log::info!(
            address:% = addr,
            tls = tls.is_some(),
            basic_auth = !web_config.basic_auth_users.is_empty(),
            lifecycle = options.enable_lifecycle,
            max_connections = options.limits.max_connections;
            "Web server listening"
        );
        Ok(Server {
            listener,
            tls: tls.is_some(),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Whether the server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Stops taking connections, lets each connection finish the request
    /// it is answering, closes idle ones, and joins every thread.
    pub fn stop(self) {
        self.listener.stop();
    }
}

/// The rustls config of the web config's `tls_server_config`, if any.
fn server_tls(web_config: &WebConfig) -> Result<Option<Arc<rustls::ServerConfig>>, WebError> {
    let Some(t) = &web_config.tls_server_config else {
        return Ok(None);
    };
    tls::server_config(&t.cert_file, &t.key_file)
        .map(Some)
        .map_err(|e| match e {
            tls::TlsError::Read(p, e) => WebError::TlsFile(p, e),
            tls::TlsError::Invalid(p, msg) => WebError::Tls(p, msg),
        })
}

/// Raises the soft limit on open files to the hard one, as Go's runtime
/// does at start (so Prometheus runs with it), and warns when it still
/// leaves too little room for `max_connections` besides the WAL and scrapes.
fn raise_open_files_limit(max_connections: usize) {
    /// Descriptors kept for everything but web connections.
    const OTHER_FILES: u64 = 256;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < max_connections as u64 + OTHER_FILES => log::warn!(
            limit = limit, max_connections = max_connections;
            "Open files limit is low for the web connection cap"
        ),
        Ok(limit) => log::debug!(limit = limit; "Open files limit"),
        Err(e) => log::warn!(err:% = e; "Cannot raise the open files limit"),
    }
}

/// The listener's connection counts on `/metrics`.
fn register_metrics(metrics: &Metrics, stats: Arc<ListenerStats>) {
    metrics.add_source(move |out: &mut crate::web::MetricsWriter| {
        let get = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed) as f64;
        out.gauge(
            "edgescrape_web_connections_open",
            "Web connections open (at most --web.max-connections).",
            &[],
            stats.open.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "edgescrape_web_connections_accepted",
            "Web connections accepted and served.",
            &[],
            get(&stats.accepted),
        );
        out.counter(
            "edgescrape_web_connections_refused",
            "Web connections refused at --web.max-connections (answered 503, or closed).",
            &[],
            get(&stats.refused),
        );
        out.counter(
            "edgescrape_web_connections_evicted",
            "Idle web connections closed to make room at --web.max-connections.",
            &[],
            get(&stats.evicted),
        );
    });
}

/// The host's name, as Prometheus's default external URL uses it.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The parts of the external URL `globalUrl` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExternalUrl {
    scheme: String,
    /// `host:port` or `host`.
    host: String,
}

impl ExternalUrl {
    fn parse(url: &str) -> ExternalUrl {
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        ExternalUrl {
            scheme: scheme.to_string(),
            host: host.to_string(),
        }
    }
}

/// Go's `net.SplitHostPort`, lenient about a missing port: `[::1]:80` →
/// (`::1`, `80`), `h` → (`h`, ``).
fn split_host_port(hostport: &str) -> (&str, &str) {
    if let Some(rest) = hostport.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            return (host, after.strip_prefix(':').unwrap_or(""));
        }
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p),
        _ => (hostport, ""),
    }
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

struct Handler {
    options: WebOptions,
    views: Views,
    auth: Option<BasicAuth>,
    external: ExternalUrl,
    own_port: String,
    quit_requested: AtomicBool,
}

/// One response before it is written.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    fn text(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(status, "text/plain; charset=utf-8", body)
    }

    fn json(status: u16, body: String) -> Reply {
        Reply::new(status, "application/json", body)
    }

    fn api_ok(data: &str) -> Reply {
        Reply::json(200, api::success(data))
    }

    fn api((status, body): query::ApiAnswer) -> Reply {
        Reply::json(status, body)
    }
}

/// The request's path and form values (URL query, then form body).
struct Form {
    path: String,
    values: Vec<(String, String)>,
}

impl Form {
    /// Go's `FormValue`: the first value, body values before URL ones.
    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// `application/x-www-form-urlencoded` decoding; bad escapes are kept as is.
fn parse_query(query: &str, out: &mut Vec<(String, String)>) {
    out.extend(
        url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned())),
    );
}

/// Percent-decodes a request path: bad escapes are kept as is, and a `+`
/// stays a `+` (it means a space only in forms).
fn percent_decode_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Handler {
    fn serve(&self, request: &Request) -> Response {
        let gzip_ok = request
            .header("Accept-Encoding")
            .is_some_and(|v| v.contains("gzip"));
        let mut reply = self.reply(request);
        if gzip_ok && reply.body.len() >= GZIP_MIN {
            let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            if enc.write_all(&reply.body).is_ok() {
                if let Ok(gz) = enc.finish() {
                    reply.body = gz;
                    reply.headers.push(("Content-Encoding", "gzip".to_string()));
                }
            }
        }
        let mut headers = vec![("Content-Type", reply.content_type.to_string())];
        headers.extend(reply.headers);
        Response {
            status: reply.status,
            headers,
            body: reply.body,
        }
    }

    fn reply(&self, request: &Request) -> Reply {
        if let Some(auth) = &self.auth {
            if !auth.check(request.header("Authorization")) {
                let mut r = Reply::text(401, "Unauthorized\n");
                r.headers.push(("WWW-Authenticate", "Basic".to_string()));
                return r;
            }
        }
        let form = match read_form(request) {
            Ok(f) => f,
            Err(r) => return r,
        };
        self.route(request.method(), &form)
    }

    fn route(&self, method: &Method, form: &Form) -> Reply {
        let get = matches!(method, Method::Get | Method::Head);
        let post = matches!(method, Method::Post | Method::Put);
        let path = form.path.as_str();
        let gated = path == "/federate" || path.starts_with("/api/v1/");
        if gated && !self.views.lifecycle.ready() {
            return Reply::text(503, "Service Unavailable");
        }
        if let Some(page) = ui::route(path, get, &|k| form.get(k), &self.views, &self.options) {
            return Reply::new(page.status, page.content_type, page.body);
        }
        match path {
            "/metrics" if get => self.metrics(),
            "/federate" if get => self.federate(form),
            "/api/v1/targets" if get => self.targets(form),
            "/api/v1/query" if get || matches!(method, Method::Post) => Reply::api(query::instant(
                self.views.series.as_ref(),
                &self.options.query_limits,
                &|k| form.get(k),
                now_ms(),
            )),
            "/api/v1/query_range" if get || matches!(method, Method::Post) => {
                Reply::api(query::range(
                    self.views.series.as_ref(),
                    &self.options.query_limits,
                    &|k| form.get(k),
                ))
            }
            "/api/v1/status/config" if get => {
                Reply::api_ok(&api::config_json(&self.views.lifecycle.config_yaml()))
            }
            "/api/v1/status/flags" if get => {
                Reply::api_ok(&api::flags_json(self.views.lifecycle.flags()))
            }
            "/-/healthy" if get => {
                Reply::text(200, format!("{} is Healthy.\n", self.options.app_name))
            }
            "/-/ready" if get => Reply::text(
                if self.views.lifecycle.ready() {
                    200
                } else {
                    503
                },
                if self.views.lifecycle.ready() {
                    format!("{} is Ready.\n", self.options.app_name)
                } else {
                    "Service Unavailable".to_string()
                },
            ),
            "/-/reload" | "/-/quit" if post => self.lifecycle(path),
            "/-/reload" | "/-/quit" if get => Reply::text(405, "Only POST or PUT requests allowed"),
            "/metrics"
            | "/federate"
            | "/api/v1/targets"
            | "/api/v1/query"
            | "/api/v1/query_range"
            | "/api/v1/status/config"
            | "/api/v1/status/flags"
            | "/-/healthy"
            | "/-/ready" => Reply::text(405, "Method Not Allowed\n"),
            _ => Reply::text(404, "404 page not found\n"),
        }
    }

    fn metrics(&self) -> Reply {
        match self.views.metrics.encode() {
            Ok(text) => Reply::new(200, metrics::CONTENT_TYPE, text),
            Err(_) => Reply::text(500, "encoding metrics failed\n"),
        }
    }

    fn federate(&self, form: &Form) -> Reply {
        let mut sets = Vec::new();
        for m in form.all("match[]") {
            match selector::parse(m) {
                Ok(set) => sets.push(set),
                Err(e) => return Reply::text(400, format!("{e}\n")),
            }
        }
        // As Prometheus 2.42: no match[] is an empty 200, not an error.
        // Every set is read at the same instant; a series matched by several
        // sets is written once (encode drops the repeats).
        let now = now_ms();
        let samples = sets
            .iter()
            .flat_map(|set| self.views.series.instant(set, now))
            .collect();
        let text = federate::encode(samples, &self.views.lifecycle.external_labels());
        Reply::new(200, federate::CONTENT_TYPE, text)
    }

    fn targets(&self, form: &Form) -> Reply {
        let filter = TargetsFilter::new(form.get("state"), form.get("scrapePool"));
        let active = if filter.active {
            self.views.targets.active()
        } else {
            Vec::new()
        };
        let dropped = if filter.dropped {
            self.views.targets.dropped()
        } else {
            Vec::new()
        };
        let data = api::targets_json(active, dropped, &filter, |u| self.global_url(u));
        Reply::api_ok(&data)
    }

    fn lifecycle(&self, path: &str) -> Reply {
        if !self.options.enable_lifecycle {
            return Reply::text(403, "Lifecycle API is not enabled.");
        }
        if path == "/-/quit" {
            if self.quit_requested.swap(true, Ordering::SeqCst) {
                return Reply::text(200, "Termination already in progress.");
            }
            self.views.lifecycle.quit();
            return Reply::text(200, "Requesting termination... Goodbye!");
        }
        match self.views.lifecycle.reload() {
            Ok(()) => Reply::text(200, ""),
            Err(e) => Reply::text(500, format!("failed to reload config: {e}\n")),
        }
    }

    /// Prometheus's `getGlobalURL`: a target on this host is shown under the
    /// external host name; one on our own port under the external URL.
    fn global_url(&self, scrape_url: &str) -> String {
        let Some((scheme, rest)) = scrape_url.split_once("://") else {
            return scrape_url.to_string();
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (host, port) = split_host_port(authority);
        if !matches!(host, "127.0.0.1" | "localhost" | "::1") {
            return scrape_url.to_string();
        }
        if port == self.own_port {
            format!("{}://{}{tail}", self.external.scheme, self.external.host)
        } else {
            let (ext_host, _) = split_host_port(&self.external.host);
            let new_host = if port.is_empty() {
                ext_host.to_string()
            } else {
                join_host_port(ext_host, port)
            };
            format!("{scheme}://{new_host}{tail}")
        }
    }
}

/// Now in milliseconds since the epoch, the evaluation time of a query
/// without `time`, of a federation and of the graph page.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The path and form values; a form body is read only from `POST` and
/// `PUT` (the HTTP layer has bounded its size).
fn read_form(request: &Request) -> Result<Form, Reply> {
    let url = request.url();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut values = Vec::new();
    let is_form = request
        .header("Content-Type")
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if matches!(request.method(), Method::Post | Method::Put) && is_form {
        let body = std::str::from_utf8(request.body())
            .map_err(|e| Reply::text(400, format!("error parsing form values: {e}\n")))?;
        parse_query(body, &mut values);
    }
    parse_query(query, &mut values);
    Ok(Form {
        path: percent_decode_path(path),
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        let mut v = Vec::new();
        parse_query("match%5B%5D=up%7Bjob%3D%22a%22%7D&x=a+b&bad=%zz&&e", &mut v);
        let want = [
            ("match[]", "up{job=\"a\"}"),
            ("x", "a b"),
            ("bad", "%zz"),
            ("e", ""),
        ];
        let got: Vec<(&str, &str)> = v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(got, want);
        assert_eq!(percent_decode_path("%41%"), "A%");
        assert_eq!(percent_decode_path("/a+b%20c"), "/a+b c");
    }

    #[test]
    fn host_ports_split_like_go() {
        assert_eq!(split_host_port("h:80"), ("h", "80"));
        assert_eq!(split_host_port("[::1]:9090"), ("::1", "9090"));
        assert_eq!(split_host_port("h"), ("h", ""));
        assert_eq!(split_host_port("::1"), ("::1", ""));
        assert_eq!(join_host_port("::1", "80"), "[::1]:80");
        let e = ExternalUrl::parse("https://prom.example:443/prefix");
        assert_eq!(e.scheme, "https");
        assert_eq!(e.host, "prom.example:443");
    }
}
