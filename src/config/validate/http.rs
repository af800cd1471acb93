//! Prometheus's `common/config.HTTPClientConfig.Validate` (with its
//! `TLSConfig.Validate` and `Headers.Validate`), pointed at the YAML nodes,
//! plus the checks that make a bad PEM block or an unusable TLS version
//! fail at load rather than at every scrape.

use std::collections::BTreeMap;

use super::{key, sub, Refusal};
use crate::config::yaml::{Node, Step};
use crate::config::{HttpClientConfig, OAuth2, Secret, TlsConfig, TlsVersion};

/// Headers Prometheus's HTTP client refuses in `http_headers` (its
/// `ReservedHeaders`), in Go's canonical spelling.
const RESERVED_HEADERS: &[&str] = &[
    "Authorization",
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Www-Authenticate",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Prometheus-Scrape-Timeout-Seconds",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

/// Whether `k` is set to something other than null or an empty string.
fn given(n: &Node, k: &str) -> bool {
    n.get(k)
        .is_some_and(|v| !v.is_null() && v.scalar() != Some(""))
}

/// Refuses a section (`node`, at `path`) that sets both the inline and the
/// file form of a value, pointing at the file key, in Prometheus's words.
fn at_most_one(
    root: &Node,
    node: &Node,
    path: &[Step],
    section: &str,
    (inline, file): (&str, &str),
) -> Result<(), Refusal> {
    if given(node, inline) && given(node, file) {
        return Err(Refusal::at_key(
            root,
            &sub(path, &[key(file)]),
            format!("at most one of {section} {inline} & {file} must be configured"),
        ));
    }
    Ok(())
}

/// The path of `more` below `path`.
fn at(path: &[Step], more: &[&str]) -> Vec<Step> {
    let steps: Vec<Step> = more.iter().map(|s| key(s)).collect();
    sub(path, &steps)
}

/// Checks the HTTP client fields of the scrape or remote_write config at
/// `path`, normalising `authorization.type` as Prometheus does.
pub(super) fn check_http(
    http: &mut HttpClientConfig,
    root: &Node,
    path: &[Step],
) -> Result<(), Refusal> {
    let Some(node) = root.at(path) else {
        return Ok(());
    };
    check_auth(http, root, node, path)?;
    check_proxy(http, root, path)?;
    check_tls(&http.tls_config, root, &at(path, &["tls_config"]))?;
    check_headers(http, root, path)
}

fn check_auth(
    http: &mut HttpClientConfig,
    root: &Node,
    node: &Node,
    path: &[Step],
) -> Result<(), Refusal> {
    let bearer = given(node, "bearer_token");
    let bearer_file = given(node, "bearer_token_file");
    if bearer && bearer_file {
        return Err(Refusal::at_key(
            root,
            &at(path, &["bearer_token_file"]),
            "at most one of bearer_token & bearer_token_file must be configured",
        ));
    }
    let basic = node.get("basic_auth").filter(|n| !n.is_null());
    let oauth2 = node.get("oauth2").filter(|n| !n.is_null());
    if (basic.is_some() || oauth2.is_some()) && (bearer || bearer_file) {
        let field = if basic.is_some() {
            "basic_auth"
        } else {
            "oauth2"
        };
        return Err(Refusal::at_key(
            root,
            &at(path, &[field]),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ));
    }
    if let Some(b) = basic {
        let section = at(path, &["basic_auth"]);
        at_most_one(
            root,
            b,
            &section,
            "basic_auth",
            ("username", "username_file"),
        )?;
        at_most_one(
            root,
            b,
            &section,
            "basic_auth",
            ("password", "password_file"),
        )?;
    }
    if let Some(a) = node.get("authorization").filter(|n| !n.is_null()) {
        if bearer || bearer_file {
            return Err(Refusal::at_key(
                root,
                &at(path, &["authorization"]),
                "authorization is not compatible with bearer_token & bearer_token_file",
            ));
        }
        let section = at(path, &["authorization"]);
        at_most_one(
            root,
            a,
            &section,
            "authorization",
            ("credentials", "credentials_file"),
        )?;
        if let Some(auth) = &mut http.authorization {
            auth.kind = auth.kind.trim().to_string();
            if auth.kind.is_empty() {
                auth.kind = "Bearer".to_string();
            }
            if auth.kind.eq_ignore_ascii_case("basic") {
                return Err(Refusal::at_value(
                    root,
                    &at(path, &["authorization", "type"]),
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                ));
            }
        }
        if basic.is_some() || oauth2.is_some() {
            return Err(Refusal::at_key(
                root,
                &at(path, &["authorization"]),
                "at most one of basic_auth, oauth2 & authorization must be configured",
            ));
        }
    }
    if oauth2.is_some() && basic.is_some() {
        return Err(Refusal::at_key(
            root,
            &at(path, &["oauth2"]),
            "at most one of basic_auth, oauth2 & authorization must be configured",
        ));
    }
    match &http.oauth2 {
        Some(o) => check_oauth2(o, root, &at(path, &["oauth2"])),
        None => Ok(()),
    }
}

/// Prometheus's checks of `oauth2` (client credentials grant), plus a
/// `token_url` that must be an http(s) URL.
fn check_oauth2(o: &OAuth2, root: &Node, path: &[Step]) -> Result<(), Refusal> {
    if let Some(node) = root.at(path) {
        at_most_one(
            root,
            node,
            path,
            "oauth2",
            ("client_secret", "client_secret_file"),
        )?;
    }
    if o.grant_type
        .as_deref()
        .is_some_and(|g| !g.is_empty() && g != "client_credentials")
    {
        return Err(Refusal::at_value(
            root,
            &at(path, &["grant_type"]),
            format!(
                "not supported: oauth2 grant_type {:?}; edgescrape has client_credentials only",
                o.grant_type.as_deref().unwrap_or("")
            ),
        ));
    }
    if o.client_id.is_empty() {
        return Err(Refusal::at_key(
            root,
            path,
            "oauth2 client_id must be configured",
        ));
    }
    if o.token_url.is_empty() {
        return Err(Refusal::at_key(
            root,
            path,
            "oauth2 token_url must be configured",
        ));
    }
    let token_url = url::Url::parse(&o.token_url);
    if !token_url.is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
        return Err(Refusal::at_value(
            root,
            &at(path, &["token_url"]),
            format!("oauth2 token_url {:?} is not an http(s) URL", o.token_url),
        ));
    }
    check_proxy_config(
        ProxyFields {
            url: o.proxy_url.as_deref(),
            no_proxy: o.no_proxy.as_deref(),
            from_environment: o.proxy_from_environment,
            connect_header: &o.proxy_connect_header,
        },
        root,
        path,
    )?;
    check_tls(&o.tls_config, root, &at(path, &["tls_config"]))
}

fn check_proxy(http: &HttpClientConfig, root: &Node, path: &[Step]) -> Result<(), Refusal> {
    check_proxy_config(
        ProxyFields {
            url: http.proxy_url.as_deref(),
            no_proxy: http.no_proxy.as_deref(),
            from_environment: http.proxy_from_environment,
            connect_header: &http.proxy_connect_header,
        },
        root,
        path,
    )
}

/// Prometheus's `ProxyConfig`, as a scrape config or `oauth2` has it.
struct ProxyFields<'a> {
    url: Option<&'a str>,
    no_proxy: Option<&'a str>,
    from_environment: bool,
    connect_header: &'a BTreeMap<String, Vec<Secret>>,
}

/// Prometheus's `ProxyConfig.Validate`, then the proxy URL itself and the
/// connect headers' names and values.
fn check_proxy_config(p: ProxyFields<'_>, root: &Node, path: &[Step]) -> Result<(), Refusal> {
    let (proxy_url, no_proxy, from_environment) = (p.url, p.no_proxy, p.from_environment);
    if !p.connect_header.is_empty() && proxy_url.is_none() && !from_environment {
        return Err(Refusal::at_key(
            root,
            &at(path, &["proxy_connect_header"]),
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
        ));
    }
    for (name, values) in p.connect_header {
        let bad_value = values.iter().any(|v| v.expose().contains(['\r', '\n']));
        if !is_token(name) || bad_value {
            return Err(Refusal::at_key(
                root,
                &at(path, &["proxy_connect_header", name]),
                format!("{name:?} is not a valid HTTP header name, or a value holds a line break"),
            ));
        }
    }
    let conflict = match (proxy_url, no_proxy, from_environment) {
        (Some(_), _, true) => Some((
            "proxy_from_environment",
            "if proxy_from_environment is configured, proxy_url must not be configured",
        )),
        (_, Some(_), true) => Some((
            "no_proxy",
            "if proxy_from_environment is configured, no_proxy must not be configured",
        )),
        (None, Some(_), false) => Some((
            "no_proxy",
            "if no_proxy is configured, proxy_url must also be configured",
        )),
        _ => None,
    };
    if let Some((field, message)) = conflict {
        return Err(Refusal::at_key(root, &at(path, &[field]), message));
    }
    check_proxy_url(proxy_url, root, path)
}

fn check_proxy_url(proxy: Option<&str>, root: &Node, path: &[Step]) -> Result<(), Refusal> {
    let Some(proxy) = proxy else {
        return Ok(());
    };
    let ok = url::Url::parse(proxy)
        .map_err(|e| e.to_string())
        .and_then(|u| match u.scheme() {
            "http" | "https" if u.host().is_some() => Ok(()),
            "http" | "https" => Err("no host".to_string()),
            other => Err(format!(
                "scheme {other:?}: only http:// and https:// proxies are supported"
            )),
        });
    ok.map_err(|why| {
        Refusal::at_value(
            root,
            &at(path, &["proxy_url"]),
            format!("proxy_url {proxy:?} is not valid: {why}"),
        )
    })
}

/// Prometheus's `TLSConfig.Validate`, plus: inline PEM that holds no
/// certificate or key, and TLS versions edgescrape's TLS library (rustls,
/// TLS 1.2 and 1.3 only) cannot speak, are refused here.
fn check_tls(tls: &TlsConfig, root: &Node, path: &[Step]) -> Result<(), Refusal> {
    for (inline, file) in [
        ("ca", "ca_file"),
        ("cert", "cert_file"),
        ("key", "key_file"),
    ] {
        if root
            .at(path)
            .is_some_and(|n| given(n, inline) && given(n, file))
        {
            return Err(Refusal::at_key(
                root,
                &sub(path, &[key(file)]),
                format!("at most one of {inline} & {file} must be configured"),
            ));
        }
    }
    if tls.has_client_cert() && !tls.has_client_key() {
        let field = if tls.cert.is_some() {
            "cert"
        } else {
            "cert_file"
        };
        return Err(Refusal::at_key(
            root,
            &sub(path, &[key(field)]),
            "exactly one of key or key_file must be configured when a client certificate is configured",
        ));
    }
    if tls.has_client_key() && !tls.has_client_cert() {
        let field = if tls.key.is_some() { "key" } else { "key_file" };
        return Err(Refusal::at_key(
            root,
            &sub(path, &[key(field)]),
            "exactly one of cert or cert_file must be configured when a client key is configured",
        ));
    }
    check_inline_pem(tls, root, path)?;
    check_tls_versions(tls, root, path)
}

fn check_inline_pem(tls: &TlsConfig, root: &Node, path: &[Step]) -> Result<(), Refusal> {
    let certs_ok = |pem: &str| {
        let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut pem.as_bytes()).collect();
        certs.is_ok_and(|c| !c.is_empty())
    };
    for (field, pem) in [("ca", &tls.ca), ("cert", &tls.cert)] {
        if pem.as_deref().is_some_and(|p| !certs_ok(p)) {
            return Err(Refusal::at_value(
                root,
                &sub(path, &[key(field)]),
                format!("{field} holds no PEM certificate"),
            ));
        }
    }
    if let Some(pem) = &tls.key {
        let key_ok =
            rustls_pemfile::private_key(&mut pem.expose().as_bytes()).is_ok_and(|k| k.is_some());
        if !key_ok {
            return Err(Refusal::at_value(
                root,
                &sub(path, &[key("key")]),
                "key holds no PEM private key",
            ));
        }
    }
    Ok(())
}

fn check_tls_versions(tls: &TlsConfig, root: &Node, path: &[Step]) -> Result<(), Refusal> {
    for (field, version) in [
        ("min_version", tls.min_version),
        ("max_version", tls.max_version),
    ] {
        if version.is_some_and(|v| v < TlsVersion::Tls12) {
            return Err(Refusal::at_value(
                root,
                &sub(path, &[key(field)]),
                format!(
                    "not supported: {field} {}; edgescrape speaks TLS12 and TLS13 only",
                    version.map(|v| v.to_string()).unwrap_or_default()
                ),
            ));
        }
    }
    if let (Some(min), Some(max)) = (tls.min_version, tls.max_version) {
        if min > max {
            return Err(Refusal::at_value(
                root,
                &sub(path, &[key("max_version")]),
                format!("max_version {max} is below min_version {min}"),
            ));
        }
    }
    Ok(())
}

/// Go's `http.CanonicalHeaderKey`: `x-foo-bar` becomes `X-Foo-Bar`.
fn canonical_header(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// An HTTP token (RFC 9110 `tchar`s), which a header name must be.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Prometheus's `Headers.Validate`; beyond it, a header name that is not an
/// HTTP token and a value with a line break are refused here rather than
/// failing every request.
fn check_headers(http: &HttpClientConfig, root: &Node, path: &[Step]) -> Result<(), Refusal> {
    for (name, header) in &http.http_headers {
        let header_path = at(path, &["http_headers", name]);
        let canonical = canonical_header(name);
        if RESERVED_HEADERS.contains(&canonical.as_str()) {
            return Err(Refusal::at_key(
                root,
                &header_path,
                format!("setting header {canonical:?} is not allowed"),
            ));
        }
        if !is_token(name) {
            return Err(Refusal::at_key(
                root,
                &header_path,
                format!("{name:?} is not a valid HTTP header name"),
            ));
        }
        let values = header.values.iter().map(String::as_str);
        let secrets = header.secrets.iter().map(|s| s.expose());
        if values.chain(secrets).any(|v| v.contains(['\r', '\n'])) {
            return Err(Refusal::at_key(
                root,
                &header_path,
                format!("a value of header {name:?} holds a line break"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonicalised_as_go_does() {
        assert_eq!(
            canonical_header("x-prometheus-scrape-timeout-seconds"),
            "X-Prometheus-Scrape-Timeout-Seconds"
        );
        assert_eq!(canonical_header("AUTHORIZATION"), "Authorization");
        assert!(is_token("X-Tenant_ID.1"));
        assert!(!is_token("X Tenant"));
        assert!(!is_token(""));
    }
}
