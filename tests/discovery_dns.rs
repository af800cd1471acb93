//! DNS SD against a real dnsmasq (Debian's, installed by
//! scripts/install-peers.sh) serving SRV, A, AAAA and MX records from its
//! command line on 127.0.0.1. The resolver reads a resolv.conf the test
//! writes, pointing at that dnsmasq, with a search domain.

mod common;
mod discovery_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use discovery_common::{addresses, group, recv_until, scrape_configs, PATIENCE};
use edgescrape::discovery::{
    Manager, ResolverConfig, MX_TARGET_LABEL, NAME_LABEL, SRV_PORT_LABEL, SRV_TARGET_LABEL,
};

/// A dnsmasq on 127.0.0.1:<port>, killed by its PID when dropped.
struct Dnsmasq {
    child: Child,
    port: u16,
}

impl Dnsmasq {
    fn start(dir: &Path) -> Dnsmasq {
        let binary = Path::new("/usr/sbin/dnsmasq");
        assert!(
            binary.exists(),
            "dnsmasq is not installed: run scripts/install-peers.sh (make peers)"
        );
        let port = common::closed_port();
        let child = Command::new(binary)
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--local=/example.test/",
                "--srv-host=_metrics._tcp.example.test,node1.example.test,9100",
                "--srv-host=_metrics._tcp.example.test,node2.example.test,9200",
                "--host-record=nodes.example.test,127.0.0.2",
                "--host-record=nodes.example.test,127.0.0.3",
                "--host-record=v6.example.test,::1",
                "--mx-host=example.test,mail.example.test,10",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let dnsmasq = Dnsmasq { child, port };
        let up = common::wait_until(PATIENCE, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "dnsmasq did not listen on port {port}");
        dnsmasq
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn dns_sd_reads_srv_a_aaaa_and_mx_records_from_dnsmasq() {
    let dir = tempfile::tempdir().unwrap();
    let dnsmasq = Dnsmasq::start(dir.path());
    let resolv_conf = dir.path().join("resolv.conf");
    std::fs::write(&resolv_conf, "nameserver 127.0.0.1\nsearch example.test\n").unwrap();
    let manager = Manager::new(Duration::from_millis(20)).with_resolver(ResolverConfig {
        resolv_conf,
        port: dnsmasq.port,
    });
    let rx = manager.sync_receiver();
    let config = scrape_configs(
        "
scrape_configs:
  - job_name: srv
    dns_sd_configs:
      - names: ['_metrics._tcp.example.test', 'missing.example.test']
        refresh_interval: 100ms
  - job_name: a
    dns_sd_configs: [{names: [nodes], type: a, port: 9100, refresh_interval: 100ms}]
  - job_name: aaaa
    dns_sd_configs: [{names: [v6.example.test], type: AAAA, port: 9100, refresh_interval: 100ms}]
  - job_name: mx
    dns_sd_configs: [{names: [example.test], type: MX, port: 25, refresh_interval: 100ms}]
",
    );
    manager.apply_config(&config);
    let (map, _) = recv_until(&rx, |m| {
        ["srv", "a", "aaaa", "mx"]
            .iter()
            .all(|job| !addresses(m, job).is_empty())
    });
    assert_eq!(
        addresses(&map, "srv"),
        ["node1.example.test:9100", "node2.example.test:9200"]
    );
    let srv = group(&map, "srv", "_metrics._tcp.example.test").unwrap();
    let node1 = srv
        .targets
        .iter()
        .find(|t| t.get(SRV_PORT_LABEL) == Some("9100"))
        .unwrap();
    assert_eq!(node1.get(SRV_TARGET_LABEL), Some("node1.example.test."));
    assert_eq!(node1.get(NAME_LABEL), Some("_metrics._tcp.example.test"));
    let missing = group(&map, "srv", "missing.example.test").unwrap();
    assert!(missing.targets.is_empty(), "NXDOMAIN is an empty group");

    assert_eq!(addresses(&map, "a"), ["127.0.0.2:9100", "127.0.0.3:9100"]);
    let a = group(&map, "a", "nodes").unwrap();
    assert_eq!(a.targets[0].get(NAME_LABEL), Some("nodes"));
    assert_eq!(a.targets[0].get(SRV_TARGET_LABEL), None);
    assert_eq!(addresses(&map, "aaaa"), ["[::1]:9100"]);
    assert_eq!(addresses(&map, "mx"), ["mail.example.test:25"]);
    let mx = &group(&map, "mx", "example.test").unwrap().targets[0];
    assert_eq!(mx.get(MX_TARGET_LABEL), Some("mail.example.test."));

    let metrics = manager.metrics();
    assert!(metrics.dns_lookups.load(Ordering::Relaxed) >= 5);
    assert_eq!(metrics.dns_lookup_failures.load(Ordering::Relaxed), 0);

    // The server goes away: lookups fail, are counted, and the groups stay.
    drop(dnsmasq);
    assert!(common::wait_until(PATIENCE, || metrics
        .dns_lookup_failures
        .load(Ordering::Relaxed)
        >= 4));
    manager.apply_config(&config);
    let (map, _) = recv_until(&rx, |m| m.contains_key("srv"));
    assert_eq!(addresses(&map, "a"), ["127.0.0.2:9100", "127.0.0.3:9100"]);
    assert_eq!(addresses(&map, "srv").len(), 2);
    manager.stop();
}
