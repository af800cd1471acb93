//! Which proxy a request goes through, as Prometheus's `ProxyConfig.Proxy`
//! over Go's `net/http` and `golang.org/x/net/http/httpproxy`:
//!
//! - `proxy_url` alone: every request goes through it (Go's
//!   `http.ProxyURL`), loopback targets included;
//! - `proxy_url` with `no_proxy`: httpproxy's rules with `proxy_url` for
//!   both schemes;
//! - `proxy_from_environment`: httpproxy's rules with `HTTP_PROXY`,
//!   `HTTPS_PROXY` and `NO_PROXY` (upper case first, then lower case; a
//!   proxy without a scheme is `http://`; `HTTP_PROXY` is ignored when
//!   `REQUEST_METHOD` is set, as in a CGI program). The variables are read
//!   once, when the client is built.
//!
//! httpproxy's rules: `localhost` and loopback addresses never use a proxy;
//! a `NO_PROXY` entry is `*`, an IP, a CIDR, an `[IPv6]:port` or a domain
//! with an optional port, where `example.com` matches it and its
//! subdomains, and `.example.com` or `*.example.com` only subdomains.

use std::net::IpAddr;

/// One `no_proxy` entry.
#[derive(Debug, Clone, PartialEq)]
enum NoProxyRule {
    All,
    Ip {
        ip: IpAddr,
        port: Option<String>,
    },
    Cidr {
        net: IpAddr,
        prefix: u8,
    },
    Domain {
        /// With a leading dot.
        suffix: String,
        port: Option<String>,
        /// Whether the bare domain (without the dot) matches too.
        match_host: bool,
    },
}

impl NoProxyRule {
    fn matches(&self, host: &str, port: &str, ip: Option<IpAddr>) -> bool {
        let port_ok = |p: &Option<String>| p.as_deref().map_or(true, |p| p == port);
        match self {
            NoProxyRule::All => true,
            NoProxyRule::Ip { ip: want, port: p } => ip == Some(*want) && port_ok(p),
            NoProxyRule::Cidr { net, prefix } => ip.is_some_and(|ip| in_network(ip, *net, *prefix)),
            NoProxyRule::Domain {
                suffix,
                port: p,
                match_host,
            } => {
                let hit = host.ends_with(suffix.as_str()) || (*match_host && host == &suffix[1..]);
                hit && port_ok(p)
            }
        }
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if prefix <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if prefix <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// httpproxy's parsing of one `NO_PROXY` entry; `None` for entries it
/// ignores.
fn parse_rule(entry: &str) -> Option<NoProxyRule> {
    let p = entry.trim().to_ascii_lowercase();
    if p.is_empty() {
        return None;
    }
    if p == "*" {
        return Some(NoProxyRule::All);
    }
    if let Some((addr, bits)) = p.split_once('/') {
        let net = addr.parse().ok()?;
        let prefix = bits.parse().ok()?;
        return Some(NoProxyRule::Cidr { net, prefix });
    }
    let (host, port) = split_host_port(&p).unwrap_or((p.as_str(), None));
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(NoProxyRule::Ip { ip, port });
    }
    if host.is_empty() {
        return None;
    }
    let host = host
        .strip_prefix("*.")
        .map_or(host.to_string(), |h| format!(".{h}"));
    let match_host = !host.starts_with('.');
    let suffix = if match_host { format!(".{host}") } else { host };
    Some(NoProxyRule::Domain {
        suffix,
        port,
        match_host,
    })
}

/// Go's `net.SplitHostPort` for what a `NO_PROXY` entry may hold:
/// `host:port` or `[v6]:port`; `None` when there is no port.
fn split_host_port(s: &str) -> Option<(&str, Option<String>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host, Some(port.to_string())));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host, Some(port.to_string())))
}

/// The proxy decision of one client; see the module docs.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct ProxySelector {
    http: Option<String>,
    https: Option<String>,
    /// `None`: no httpproxy rules at all (`proxy_url` alone, or none).
    no_proxy: Option<Vec<NoProxyRule>>,
}

impl ProxySelector {
    /// `proxy_url` with an optional `no_proxy`.
    pub(super) fn from_url(proxy_url: Option<&str>, no_proxy: Option<&str>) -> ProxySelector {
        let proxy = proxy_url.map(str::to_string);
        ProxySelector {
            http: proxy.clone(),
            https: proxy,
            no_proxy: no_proxy.map(|n| n.split(',').filter_map(parse_rule).collect()),
        }
    }

    /// The selector Go's `httpproxy.FromEnvironment` gives, reading the
    /// variables through `var`.
    pub(super) fn from_environment(var: impl Fn(&str) -> Option<String>) -> ProxySelector {
        let get = |upper: &str| {
            var(upper)
                .or_else(|| var(&upper.to_ascii_lowercase()))
                .filter(|v| !v.is_empty())
        };
        let cgi = var("REQUEST_METHOD").is_some();
        ProxySelector {
            http: get("HTTP_PROXY").filter(|_| !cgi).map(|p| with_scheme(&p)),
            https: get("HTTPS_PROXY").map(|p| with_scheme(&p)),
            no_proxy: Some(
                get("NO_PROXY")
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(parse_rule)
                    .collect(),
            ),
        }
    }

    /// The proxy URL for a request to `url`, or `None` to go direct.
    pub(super) fn proxy_for(&self, url: &str) -> Option<&str> {
        // No proxy at all (the usual case): no URL to parse per request.
        if self.http.is_none() && self.https.is_none() {
            return None;
        }
        let Ok(url) = url::Url::parse(url) else {
            return self.http.as_deref();
        };
        let proxy = match url.scheme() {
            "https" => self.https.as_deref(),
            "http" => self.http.as_deref(),
            _ => None,
        }?;
        let Some(rules) = &self.no_proxy else {
            return Some(proxy);
        };
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        let host = url.host_str().unwrap_or("").trim_matches(['[', ']']);
        if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
            return None;
        }
        let port = url.port_or_known_default().unwrap_or(0).to_string();
        let exempt = rules.iter().any(|r| r.matches(host, &port, ip));
        (!exempt).then_some(proxy)
    }
}

/// httpproxy's `parseProxy`: a proxy without a scheme is an HTTP proxy.
fn with_scheme(proxy: &str) -> String {
    if proxy.contains("://") {
        proxy.to_string()
    } else {
        format!("http://{proxy}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn goes(selector: &ProxySelector, url: &str, want: Option<&str>) {
        assert_eq!(selector.proxy_for(url), want, "{url}");
    }

    #[test]
    fn proxy_url_alone_proxies_everything() {
        let s = ProxySelector::from_url(Some("http://p:3128"), None);
        goes(&s, "http://127.0.0.1:9100/metrics", Some("http://p:3128"));
        goes(&s, "https://localhost/metrics", Some("http://p:3128"));
    }

    #[test]
    fn no_proxy_rules_follow_httpproxy() {
        let s = ProxySelector::from_url(
            Some("http://p:3128"),
            Some("example.com, .sub.org,*.star.net,10.0.0.0/8,192.168.1.1,[::2]:443,host.lan:8080"),
        );
        let p = Some("http://p:3128");
        goes(&s, "http://localhost:9100/", None);
        goes(&s, "http://127.0.0.2:9100/", None);
        goes(&s, "http://[::1]:9100/", None);
        goes(&s, "http://example.com/", None);
        goes(&s, "http://a.example.com/", None);
        goes(&s, "http://notexample.com/", p);
        goes(&s, "http://sub.org/", p);
        goes(&s, "http://x.sub.org/", None);
        goes(&s, "http://star.net/", p);
        goes(&s, "http://x.star.net/", None);
        goes(&s, "http://10.1.2.3:9100/", None);
        goes(&s, "http://11.1.2.3:9100/", p);
        goes(&s, "http://192.168.1.1:9100/", None);
        goes(&s, "https://[::2]/", None);
        goes(&s, "http://[::2]/", p);
        goes(&s, "http://host.lan:8080/", None);
        goes(&s, "http://host.lan:8081/", p);
    }

    #[test]
    fn environment_as_go_reads_it() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = ProxySelector::from_environment(env(&[
            ("HTTP_PROXY", "proxy:3128"),
            ("https_proxy", "http://sproxy:3129"),
            ("no_proxy", "internal"),
        ]));
        goes(&s, "http://a.b:1/", Some("http://proxy:3128"));
        goes(&s, "https://a.b/", Some("http://sproxy:3129"));
        goes(&s, "http://internal:1/", None);
        goes(&s, "http://127.0.0.1:1/", None);
        let s = ProxySelector::from_environment(env(&[
            ("HTTP_PROXY", "p:1"),
            ("REQUEST_METHOD", "GET"),
        ]));
        goes(&s, "http://a.b:1/", None);
        let s = ProxySelector::from_environment(env(&[("NO_PROXY", "*"), ("HTTP_PROXY", "p:1")]));
        goes(&s, "http://a.b:1/", None);
    }
}
