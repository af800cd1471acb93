//! A minimal real HTTP/1.1 server on 127.0.0.1 for scrape tests and
//! benchmarks: it answers each request with the next of a list of
//! prebuilt bodies, written in one piece (headers and body together, so
//! no Nagle delay), on threads of its own, and counts the connections it
//! accepts and the requests it answers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Connections accepted and requests answered.
#[derive(Default)]
pub struct Counts {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
}

/// How the server answers.
#[derive(Clone)]
pub struct Answer {
    /// Extra response headers (Content-Type, Content-Encoding...).
    pub headers: Vec<(String, String)>,
    /// Keep the connection open after a response; otherwise answer
    /// `Connection: close` and close it.
    pub keep_alive: bool,
    /// Time between reading a request and answering it.
    pub delay: Duration,
}

/// Starts the server; returns its `host:port`.
pub fn serve(bodies: Vec<Vec<u8>>, answer: Answer, counts: Arc<Counts>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    let responses: Arc<Vec<Vec<u8>>> =
        Arc::new(bodies.iter().map(|b| response(b, &answer)).collect());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counts.connections.fetch_add(1, Ordering::SeqCst);
            let (counts, responses, answer) =
                (Arc::clone(&counts), Arc::clone(&responses), answer.clone());
            std::thread::spawn(move || connection(stream, &responses, &answer, &counts));
        }
    });
    addr
}

fn response(body: &[u8], answer: &Answer) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !answer.keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Answers requests on one connection until the client closes it.
fn connection(stream: TcpStream, responses: &[Vec<u8>], answer: &Answer, counts: &Counts) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    let mut line = String::new();
    loop {
        // The request line and headers, up to the blank line.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        if !answer.delay.is_zero() {
            std::thread::sleep(answer.delay);
        }
        let n = counts.requests.fetch_add(1, Ordering::SeqCst) as usize;
        let sent = writer.write_all(&responses[n % responses.len()]);
        if sent.is_err() || !answer.keep_alive {
            return;
        }
    }
}
