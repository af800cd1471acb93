//! DNS-based discovery, as Prometheus's `discovery/dns`: every
//! `refresh_interval`, each name is looked up (SRV by default, or A, AAAA,
//! MX, NS) through the resolvers of resolv.conf ([`resolver`]) and becomes
//! one group whose source is the name.
//!
//! Targets and labels as Prometheus: SRV `target:port`, MX and NS
//! `host:port`, A and AAAA `address:port`, with the final dot of names
//! removed from the address; `__meta_dns_name` and the record's own
//! `__meta_dns_*` labels (names keep their final dot). A name that cannot be
//! resolved is logged and counted in `prometheus_sd_dns_lookup_failures_total`,
//! and its group keeps its last good targets. Prometheus looks the names up
//! in parallel; here they are looked up one after the other on the
//! discoverer's thread, which a handful of names on an edge box allows.

pub(crate) mod resolver;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use log::warn;
use simple_dns::TYPE;

use self::resolver::{Record, ResolverConfig};
use super::refresh::Refresh;
use super::{Metrics, TargetGroup};
use crate::config::DnsSdConfig;
use crate::labels::{Labels, ADDRESS};

/// `__meta_dns_name`: the name looked up.
pub const NAME_LABEL: &str = "__meta_dns_name";
/// `__meta_dns_srv_record_target`: the SRV record's target.
pub const SRV_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
/// `__meta_dns_srv_record_port`: the SRV record's port.
pub const SRV_PORT_LABEL: &str = "__meta_dns_srv_record_port";
/// `__meta_dns_mx_record_target`: the MX record's exchange.
pub const MX_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
/// `__meta_dns_ns_record_target`: the NS record's name server.
pub const NS_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

/// One `dns_sd_configs` entry; owned by its discoverer thread.
pub(crate) struct DnsDiscovery {
    job: String,
    names: Vec<String>,
    qtype: TYPE,
    port: u16,
    resolver: ResolverConfig,
    metrics: Arc<Metrics>,
}

impl DnsDiscovery {
    /// A discovery for `config` (validated: its type is one of the five).
    pub(crate) fn new(
        job: &str,
        config: &DnsSdConfig,
        resolver: ResolverConfig,
        metrics: Arc<Metrics>,
    ) -> DnsDiscovery {
        let qtype = match config.kind.as_str() {
            "A" => TYPE::A,
            "AAAA" => TYPE::AAAA,
            "MX" => TYPE::MX,
            "NS" => TYPE::NS,
            _ => TYPE::SRV,
        };
        DnsDiscovery {
            job: job.to_string(),
            names: config.names.clone(),
            qtype,
            port: config.port,
            resolver,
            metrics,
        }
    }

    fn refresh_one(&self, name: &str) -> Result<TargetGroup, String> {
        self.metrics.dns_lookups.fetch_add(1, Ordering::Relaxed);
        let records = resolver::lookup(name, self.qtype, &self.resolver).inspect_err(|_| {
            self.metrics
                .dns_lookup_failures
                .fetch_add(1, Ordering::Relaxed);
        })?;
        let targets = records
            .iter()
            .filter_map(|r| self.target(name, r))
            .collect();
        Ok(TargetGroup {
            targets,
            labels: Labels::empty(),
            source: name.to_string(),
        })
    }

    /// The target labels of one record, as Prometheus's `refreshOne`.
    fn target(&self, name: &str, record: &Record) -> Option<Labels> {
        let host_port = |host: &str, port: u16| host_port(host.trim_end_matches('.'), port);
        let port = self.port;
        let (address, extra): (String, Vec<(&str, String)>) = match record {
            Record::Srv { target, port } => (
                host_port(target, *port),
                vec![
                    (SRV_TARGET_LABEL, target.clone()),
                    (SRV_PORT_LABEL, port.to_string()),
                ],
            ),
            Record::Mx { exchange } => (
                host_port(exchange, port),
                vec![(MX_TARGET_LABEL, exchange.clone())],
            ),
            Record::Ns { host } => (host_port(host, port), vec![(NS_TARGET_LABEL, host.clone())]),
            Record::A(ip) => (SocketAddr::new((*ip).into(), port).to_string(), Vec::new()),
            Record::Aaaa(ip) => (SocketAddr::new((*ip).into(), port).to_string(), Vec::new()),
            // As Prometheus: CNAMEs come with A answers and are skipped.
            Record::Other => return None,
        };
        let base = [(ADDRESS, address), (NAME_LABEL, name.to_string())];
        Some(Labels::from_pairs(base.into_iter().chain(extra)))
    }
}

/// Go's `net.JoinHostPort`: brackets around a host with a colon.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Refresh for DnsDiscovery {
    /// Never fails as a whole: a name that fails is logged and left out,
    /// so its group keeps its last good targets.
    fn refresh(&mut self) -> Result<Vec<TargetGroup>, String> {
        let mut groups = Vec::new();
        for name in &self.names {
            match self.refresh_one(name) {
                Ok(group) => groups.push(group),
                Err(e) => {
                    warn!(job = self.job.as_str(), name = name.as_str(), err:% = e; "Error refreshing DNS targets")
                }
            }
        }
        Ok(groups)
    }
}
