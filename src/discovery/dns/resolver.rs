//! The stub resolver of DNS SD, as Prometheus's `lookupWithSearchPath` over
//! miekg/dns: servers, search domains and `ndots` from a resolv.conf, one
//! query per candidate name and server over UDP (EDNS0, 4096 bytes), again
//! over TCP when the answer is truncated. Blocking std sockets, no runtime.
//!
//! Outcomes, as Prometheus: the first candidate name a server answers with
//! success gives the records; if every candidate got a definite "no such
//! name" (NXDOMAIN) the answer is empty; otherwise the lookup fails.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use simple_dns::rdata::{RData, OPT};
use simple_dns::{Name, Packet, PacketFlag, Question, CLASS, QCLASS, QTYPE, RCODE, TYPE};

/// Read, write and connect timeout of one exchange (miekg/dns's 2s).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);
/// The UDP payload size offered with EDNS0 (miekg/dns's `DefaultMsgSize`).
const UDP_SIZE: u16 = 4096;

/// Where the resolver's settings come from: a resolv.conf and the port its
/// servers listen on (resolv.conf cannot say; 53 for real resolvers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// The resolv.conf file (`/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    /// The DNS port of its name servers (53).
    pub port: u16,
}

impl Default for ResolverConfig {
    fn default() -> ResolverConfig {
        ResolverConfig {
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            port: 53,
        }
    }
}

/// The parts of a resolv.conf the lookup uses (miekg/dns `ClientConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResolvConf {
    servers: Vec<IpAddr>,
    search: Vec<String>,
    ndots: usize,
}

impl ResolvConf {
    fn read(path: &Path) -> Result<ResolvConf, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("could not load resolv.conf: {}: {e}", path.display()))?;
        Ok(ResolvConf::parse(&text))
    }

    /// miekg/dns's `ClientConfigFromReader`: `nameserver` (IPs only),
    /// `domain` and `search` (the last one wins), `options ndots:N`.
    fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf {
            servers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
        };
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(ip) = words.next().and_then(|w| w.parse().ok()) {
                        conf.servers.push(ip);
                    }
                }
                Some("domain") => conf.search = words.take(1).map(str::to_string).collect(),
                Some("search") => conf.search = words.map(str::to_string).collect(),
                Some("options") => {
                    for option in words {
                        if let Some(n) = option.strip_prefix("ndots:") {
                            conf.ndots = n.parse::<usize>().map_or(conf.ndots, |n| n.min(15));
                        }
                    }
                }
                _ => {}
            }
        }
        conf
    }

    /// miekg/dns's `NameList`: the fully qualified names to try, in order.
    fn name_list(&self, name: &str) -> Vec<String> {
        if name.ends_with('.') {
            return vec![name.to_string()];
        }
        let has_ndots = name.split('.').filter(|l| !l.is_empty()).count() > self.ndots;
        let fqdn = format!("{name}.");
        let mut names = Vec::new();
        if has_ndots {
            names.push(fqdn.clone());
        }
        for domain in &self.search {
            let domain = domain.trim_end_matches('.');
            names.push(format!("{fqdn}{domain}."));
        }
        if !has_ndots {
            names.push(fqdn);
        }
        names
    }
}

/// One answer record, owned; other types are skipped by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// SRV: target (rooted, with its final dot) and port.
    Srv { target: String, port: u16 },
    /// MX: exchange (rooted).
    Mx { exchange: String },
    /// NS: name server (rooted).
    Ns { host: String },
    /// A.
    A(Ipv4Addr),
    /// AAAA.
    Aaaa(Ipv6Addr),
    /// Anything else (CNAME among them).
    Other,
}

fn rooted(name: &Name<'_>) -> String {
    format!("{name}.")
}

impl Record {
    fn from_rdata(rdata: &RData<'_>) -> Record {
        match rdata {
            RData::SRV(srv) => Record::Srv {
                target: rooted(&srv.target),
                port: srv.port,
            },
            RData::MX(mx) => Record::Mx {
                exchange: rooted(&mx.exchange),
            },
            RData::NS(ns) => Record::Ns {
                host: rooted(&ns.0),
            },
            RData::A(a) => Record::A(Ipv4Addr::from(a.address)),
            RData::AAAA(a) => Record::Aaaa(Ipv6Addr::from(a.address)),
            _ => Record::Other,
        }
    }
}

/// What one server said about one name.
struct Reply {
    rcode: RCODE,
    records: Vec<Record>,
}

/// Looks `name` up as Prometheus's `lookupWithSearchPath` does.
pub(crate) fn lookup(
    name: &str,
    qtype: TYPE,
    config: &ResolverConfig,
) -> Result<Vec<Record>, String> {
    let conf = ResolvConf::read(&config.resolv_conf)?;
    let mut all_valid = true;
    for candidate in conf.name_list(name) {
        match lookup_from_any_server(&candidate, qtype, &conf, config.port) {
            Ok(reply) if reply.rcode == RCODE::NoError => return Ok(reply.records),
            Ok(_) => {}
            Err(_) => all_valid = false,
        }
    }
    if all_valid {
        return Ok(Vec::new());
    }
    Err(format!(
        "could not resolve {name:?}: all servers responded with errors to at least one search domain"
    ))
}

/// The first viable reply (success or NXDOMAIN) of any server.
fn lookup_from_any_server(
    name: &str,
    qtype: TYPE,
    conf: &ResolvConf,
    port: u16,
) -> Result<Reply, String> {
    for server in &conf.servers {
        let addr = SocketAddr::new(*server, port);
        match ask_server(name, qtype, addr) {
            Ok(reply) if matches!(reply.rcode, RCODE::NoError | RCODE::NameError) => {
                return Ok(reply)
            }
            Ok(reply) => log::debug!(
                server:% = addr, name = name, rcode:? = reply.rcode;
                "DNS server answered without a viable answer"
            ),
            Err(e) => log::warn!(server:% = addr, name = name, err:% = e; "DNS resolution failed"),
        }
    }
    Err(format!(
        "could not resolve {name}: no servers returned a viable answer"
    ))
}

/// One question to one server: UDP, then TCP if the reply is truncated.
fn ask_server(name: &str, qtype: TYPE, server: SocketAddr) -> Result<Reply, String> {
    let id = query_id();
    let query = build_query(id, name, qtype)?;
    let bytes = exchange_udp(&query, id, server)?;
    let reply = parse_reply(&bytes)?;
    if !reply.1 {
        return Ok(reply.0);
    }
    let bytes = exchange_tcp(&query, server)?;
    match parse_reply(&bytes)? {
        (_, true) => Err("got truncated message on TCP (64kiB limit exceeded?)".to_string()),
        (reply, false) => Ok(reply),
    }
}

/// A query id that differs between queries; not a secret (the reply is
/// also matched on the socket it arrives on).
fn query_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ (nanos >> 16)) as u16
}

fn build_query(id: u16, name: &str, qtype: TYPE) -> Result<Vec<u8>, String> {
    let bare = name.trim_end_matches('.');
    let qname = Name::new(bare).map_err(|e| format!("invalid name {name:?}: {e}"))?;
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    packet.questions.push(Question::new(
        qname,
        QTYPE::TYPE(qtype),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    *packet.opt_mut() = Some(OPT {
        opt_codes: Vec::new(),
        udp_packet_size: UDP_SIZE,
        version: 0,
    });
    packet
        .build_bytes_vec()
        .map_err(|e| format!("building the query for {name:?}: {e}"))
}

/// The reply and whether it was truncated.
fn parse_reply(bytes: &[u8]) -> Result<(Reply, bool), String> {
    let packet = Packet::parse(bytes).map_err(|e| format!("invalid DNS reply: {e}"))?;
    let records = packet
        .answers
        .iter()
        .map(|rr| Record::from_rdata(&rr.rdata))
        .collect();
    let truncated = packet.has_flags(PacketFlag::TRUNCATION);
    Ok((
        Reply {
            rcode: packet.rcode(),
            records,
        },
        truncated,
    ))
}

fn exchange_udp(query: &[u8], id: u16, server: SocketAddr) -> Result<Vec<u8>, String> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let io = |e: std::io::Error| format!("udp {server}: {e}");
    let socket = UdpSocket::bind(local).map_err(io)?;
    socket.connect(server).map_err(io)?;
    socket.send(query).map_err(io)?;
    let deadline = Instant::now() + EXCHANGE_TIMEOUT;
    let mut buf = vec![0u8; usize::from(UDP_SIZE) + 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "udp {server}: no reply within {EXCHANGE_TIMEOUT:?}"
            ));
        }
        socket.set_read_timeout(Some(left)).map_err(io)?;
        let n = socket.recv(&mut buf).map_err(io)?;
        // A reply to an earlier, timed-out query is not ours.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

fn exchange_tcp(query: &[u8], server: SocketAddr) -> Result<Vec<u8>, String> {
    let io = |e: std::io::Error| format!("tcp {server}: {e}");
    let mut stream = TcpStream::connect_timeout(&server, EXCHANGE_TIMEOUT).map_err(io)?;
    stream
        .set_read_timeout(Some(EXCHANGE_TIMEOUT))
        .map_err(io)?;
    stream
        .set_write_timeout(Some(EXCHANGE_TIMEOUT))
        .map_err(io)?;
    let len = u16::try_from(query.len()).map_err(|_| "query too long".to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).map_err(io)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(io)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).map_err(io)?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_parses_as_miekg_dns_reads_it() {
        let conf = ResolvConf::parse(
            "# comment\nnameserver 127.0.0.53\nnameserver ::1\nnameserver bogus\nsearch a.test b.test.\noptions edns0 ndots:2\n",
        );
        assert_eq!(conf.servers.len(), 2);
        assert_eq!(conf.search, ["a.test", "b.test."]);
        assert_eq!(conf.ndots, 2);
        assert_eq!(ResolvConf::parse("domain x.test\n").search, ["x.test"]);
    }

    #[test]
    fn search_list_follows_ndots() {
        let conf = ResolvConf::parse("search a.test\noptions ndots:1\n");
        assert_eq!(conf.name_list("node"), ["node.a.test.", "node."]);
        assert_eq!(conf.name_list("x.y"), ["x.y.", "x.y.a.test."]);
        assert_eq!(conf.name_list("x.y."), ["x.y."]);
    }
}
