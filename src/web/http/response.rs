//! A response as handlers build it, and its HTTP/1.1 encoding.

use std::io::{self, Write};
use std::time::SystemTime;

/// Bodies up to this size are written in one piece with the head.
const COALESCE_MAX: usize = 64 << 10;

/// One response: status, headers and the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers besides `Date`, `Content-Length` and `Connection`, which the
    /// server writes. A value with a line break is dropped.
    pub headers: Vec<(&'static str, String)>,
    /// The body (not sent for `HEAD`, though its length is).
    pub body: Vec<u8>,
}

impl Response {
    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".to_string())],
            body: body.into(),
        }
    }
}

/// How the connection goes on after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// Keep the connection for the next request; `announce` for HTTP/1.0
    /// clients, which close unless told `Connection: keep-alive`.
    KeepAlive { announce: bool },
    /// `Connection: close`, then close.
    Close,
}

/// Writes `response`; without its body when `head_only` (a `HEAD` request).
pub(crate) fn write_response(
    out: &mut impl Write,
    response: &Response,
    head_only: bool,
    after: After,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Length: {}\r\n",
        response.status,
        reason(response.status),
        httpdate::fmt_http_date(SystemTime::now()),
        response.body.len()
    );
    for (name, value) in &response.headers {
        if value.contains(['\r', '\n']) {
            log::warn!(header:% = name; "Dropping a response header with a line break");
            continue;
        }
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    match after {
        After::KeepAlive { announce: true } => head.push_str("Connection: keep-alive\r\n"),
        After::KeepAlive { announce: false } => {}
        After::Close => head.push_str("Connection: close\r\n"),
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    let body: &[u8] = if head_only { &[] } else { &response.body };
    if body.len() <= COALESCE_MAX {
        bytes.extend_from_slice(body);
        out.write_all(&bytes)?;
    } else {
        out.write_all(&bytes)?;
        out.write_all(body)?;
    }
    out.flush()
}

/// The reason phrase of the status codes edgescrape sends.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Request Entity Too Large",
        422 => "Unprocessable Entity",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_framed() {
        let mut r = Response::text(405, "no\n");
        r.headers.push(("X-Bad", "a\r\nSet-Cookie: x".to_string()));
        let mut out = Vec::new();
        write_response(&mut out, &r, false, After::Close).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\nDate: "),
            "{text}"
        );
        assert!(text.ends_with("\r\nContent-Length: 3\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nno\n"), "{text}");
        assert!(!text.contains("Set-Cookie"));
        let mut out = Vec::new();
        let after = After::KeepAlive { announce: true };
        write_response(&mut out, &r, true, after).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("Content-Length: 3\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: keep-alive\r\n\r\n"), "{text}");
    }
}
