//! A request as handlers see it, and the parsing of request heads
//! (`httparse`) with the refusals a bad one gets.

use std::fmt;

/// Most header lines in one request head; more is answered 431 (Go has no
/// count of its own, only `MaxHeaderBytes`, which our byte limit mirrors).
const MAX_HEADERS: usize = 128;

/// The request method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`: answered as `GET` without the body.
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// Any other token.
    Other(String),
}

impl Method {
    fn parse(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            other => Method::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Other(m) => m,
        })
    }
}

/// One request, its body read whole (at most [`super::Limits::max_body_bytes`]).
#[derive(Debug, Clone)]
pub struct Request {
    pub(crate) head: Head,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The request target: path and query, as sent (`/api/v1/query?x=1`).
    pub fn url(&self) -> &str {
        &self.head.target
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The body (empty when none was sent).
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) method: Method,
    /// Origin form: an absolute-form target (`http://host/p`) is cut to `/p`.
    pub(crate) target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) minor_version: u8,
    /// Names and values; values that are not UTF-8 are decoded lossily.
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether header `name` lists `token` (comma-separated, any case).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers_named(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the client wants the connection kept open after this
    /// exchange: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`.
    pub(crate) fn wants_keep_alive(&self) -> bool {
        if self.minor_version >= 1 {
            !self.has_token("Connection", "close")
        } else {
            self.has_token("Connection", "keep-alive")
        }
    }
}

/// Why a request is answered by the server itself, with the connection
/// closed after the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: the head or the body framing is malformed; says what.
    BadRequest(String),
    /// 431: the head is over the byte limit or has too many header lines.
    HeadTooLarge(String),
    /// 413: the body is over the byte limit.
    BodyTooLarge(usize),
    /// 501: a transfer coding other than `chunked`.
    NotImplemented(String),
    /// 505: not HTTP/1.x.
    VersionNotSupported,
}

impl Refusal {
    /// Status code and a one-line body naming the problem.
    pub(crate) fn status_and_body(&self) -> (u16, String) {
        match self {
            Refusal::BadRequest(why) => (400, format!("400 Bad Request: {why}\n")),
            Refusal::HeadTooLarge(why) => {
                (431, format!("431 Request Header Fields Too Large: {why}\n"))
            }
            Refusal::BodyTooLarge(max) => (
                413,
                format!("413 Request Entity Too Large: the body is over {max} bytes\n"),
            ),
            Refusal::NotImplemented(why) => (501, format!("501 Not Implemented: {why}\n")),
            Refusal::VersionNotSupported => (
                505,
                "505 HTTP Version Not Supported: only HTTP/1.0 and HTTP/1.1 are served\n"
                    .to_string(),
            ),
        }
    }
}

/// Parses a request head at the start of `buf`. `Ok(None)`: incomplete,
/// read more; `Ok(Some((head, len)))`: the head and its length in bytes.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::HeadTooLarge(format!(
                "more than {MAX_HEADERS} header lines"
            )))
        }
        Err(httparse::Error::Version) => return Err(version_refusal(buf)),
        Err(e) => return Err(Refusal::BadRequest(e.to_string())),
    };
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(Refusal::BadRequest("incomplete request line".to_string()));
    };
    let head = Head {
        method: Method::parse(method),
        target: origin_form(target)?,
        minor_version,
        headers: req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
    };
    // As Go: HTTP/1.1 requires Host (RFC 9112 §3.2).
    if head.minor_version >= 1 && head.header("Host").is_none() {
        return Err(Refusal::BadRequest(
            "missing required Host header".to_string(),
        ));
    }
    Ok(Some((head, len)))
}

/// As Go, which takes the version as all after the target's first space:
/// a well-formed version other than 1.x is 505, a malformed one 400.
fn version_refusal(buf: &[u8]) -> Refusal {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(buf);
    let version = line
        .trim_ascii_end()
        .splitn(3, |&b| b == b' ')
        .nth(2)
        .unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Refusal::VersionNotSupported
        }
        _ => Refusal::BadRequest(format!(
            "malformed HTTP version {:?}",
            String::from_utf8_lossy(version)
        )),
    }
}

/// `/p?q` stays; `http://host/p?q` becomes `/p?q`; anything else is refused.
fn origin_form(target: &str) -> Result<String, Refusal> {
    if target.starts_with('/') {
        return Ok(target.to_string());
    }
    let absolute = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"));
    match absolute {
        Some(rest) => {
            let path = rest.find(['/', '?']).map_or("/", |i| &rest[i..]);
            Ok(if path.starts_with('?') {
                format!("/{path}")
            } else {
                path.to_string()
            })
        }
        None => Err(Refusal::BadRequest(format!(
            "request target {target:?} is not a path"
        ))),
    }
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length` bytes (0 when neither header is sent).
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// The body framing a head announces, checked against `max_body`.
pub(crate) fn framing(head: &Head, max_body: usize) -> Result<Framing, Refusal> {
    let codings: Vec<&str> = head.headers_named("Transfer-Encoding").collect();
    let lengths: Vec<&str> = head.headers_named("Content-Length").collect();
    if !codings.is_empty() {
        // Both headers is how requests are smuggled past proxies: refuse.
        if !lengths.is_empty() {
            return Err(Refusal::BadRequest(
                "both Transfer-Encoding and Content-Length".to_string(),
            ));
        }
        let all = codings.join(",");
        return if all.trim().eq_ignore_ascii_case("chunked") {
            Ok(Framing::Chunked)
        } else {
            Err(Refusal::NotImplemented(format!(
                "Transfer-Encoding {all:?}; only chunked is served"
            )))
        };
    }
    let Some(first) = lengths.first() else {
        return Ok(Framing::Length(0));
    };
    let bad = || Refusal::BadRequest(format!("bad Content-Length {first:?}"));
    if lengths.iter().any(|l| l.trim() != first.trim()) {
        return Err(Refusal::BadRequest(
            "differing Content-Length headers".to_string(),
        ));
    }
    let digits = first.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match digits.parse::<u64>() {
        Ok(n) if n <= max_body as u64 => Ok(Framing::Length(n as usize)),
        _ => Err(Refusal::BodyTooLarge(max_body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn head(raw: &str) -> Result<Option<(Head, usize)>, Refusal> {
        parse_head(raw.as_bytes())
    }

    #[test]
    fn heads_parse_or_are_refused() {
        let (h, len) = head("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.method.clone(), h.target.as_str(), len),
            (Method::Get, "/a?b=1", 40)
        );
        assert_eq!(h.header("x-a"), Some("1"));
        assert!(h.wants_keep_alive());
        assert!(head("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        let (h, _) = head("GET http://h:1?x HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.target, "/?x");
        assert!(!h.wants_keep_alive());
        let refused = |raw: &str| head(raw).unwrap_err().status_and_body().0;
        assert_eq!(refused("GET / HTTP/1.1\r\n\r\n"), 400);
        let client_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n";
        assert_eq!(
            parse_head(client_hello).unwrap_err().status_and_body().0,
            400
        );
        assert_eq!(refused("GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(refused("GET /a b HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(refused("GET / HTTP/1.x\r\n\r\n"), 400);
        assert_eq!(refused("GET * HTTP/1.0\r\n\r\n"), 400);
        let many = format!(
            "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
            "A: b\r\n".repeat(200)
        );
        assert_eq!(refused(&many), 431);
    }

    #[track_caller]
    fn framed(headers: &str) -> Result<Framing, u16> {
        let raw = format!("POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        let (h, _) = parse_head(raw.as_bytes()).unwrap().unwrap();
        framing(&h, 100).map_err(|r| r.status_and_body().0)
    }

    #[test]
    fn body_framing_is_checked() {
        assert_eq!(framed(""), Ok(Framing::Length(0)));
        assert_eq!(framed("Content-Length: 7\r\n"), Ok(Framing::Length(7)));
        assert_eq!(
            framed("Content-Length: 7\r\ncontent-length: 7\r\n"),
            Ok(Framing::Length(7))
        );
        assert_eq!(
            framed("Content-Length: 7\r\nContent-Length: 8\r\n"),
            Err(400)
        );
        assert_eq!(framed("Content-Length: -1\r\n"), Err(400));
        assert_eq!(framed("Content-Length: 101\r\n"), Err(413));
        assert_eq!(
            framed("Content-Length: 99999999999999999999999\r\n"),
            Err(413)
        );
        assert_eq!(
            framed("Transfer-Encoding: chunked\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(framed("Transfer-Encoding: gzip, chunked\r\n"), Err(501));
        assert_eq!(
            framed("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"),
            Err(400)
        );
    }

    proptest::proptest! {
        /// Any bytes, and any bytes after a valid request line, give a head
        /// inside the buffer, a wait for more, or a refusal: never a panic.
        #[test]
        fn arbitrary_heads_never_panic(
            junk in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            line in proptest::sample::select(vec!["", "GET / HTTP/1.1\r\n", "POST /x HTTP/1.0\r\n"]),
        ) {
            let mut buf = line.as_bytes().to_vec();
            buf.extend_from_slice(&junk);
            buf.extend_from_slice(b"\r\n\r\n");
            if let Ok(Some((head, len))) = parse_head(&buf) {
                proptest::prop_assert!(len <= buf.len());
                let _ = framing(&head, 1 << 20);
            }
        }
    }
}
