//! Which proxy, if any, a request to the key service goes through: the environment variables
//! read the way curl documents them (curl(1), "ENVIRONMENT"; CURLOPT_NOPROXY), with one rule of
//! our own on top: loopback (127.0.0.0/8, ::1, `localhost`) is never proxied, so the embedded
//! service's and a local `ragkeys serve`'s admin token never reach a proxy.
//!
//! - `http://` endpoints: `http_proxy` (lowercase only: curl ignores `HTTP_PROXY`, which a CGI
//!   request could set through a `Proxy:` header), else `all_proxy` / `ALL_PROXY`.
//! - `https://` endpoints: `https_proxy` / `HTTPS_PROXY`, else `all_proxy` / `ALL_PROXY`.
//! - `no_proxy` / `NO_PROXY`: `*`, or a list separated by commas or spaces of host names (which
//!   match themselves and their subdomains, a leading dot optional), IP addresses, CIDR ranges,
//!   and — beyond curl, as Go and wget accept — `host:port` entries that match only that port.
//!
//! Lowercase wins over uppercase where both are read, and an empty value counts as unset (both
//! as curl does). A proxy URL without a scheme is `http://`, without a port uses 1080 (curl's
//! default). ragkeys speaks to `http://` and `https://` proxies only: a SOCKS or other scheme is
//! refused with an error naming the variable rather than silently ignored.

use std::net::IpAddr;

use reqwest::Url;

/// One proxy: where it is, and the variable that named it (for messages).
#[derive(Clone)]
pub struct ProxyUrl {
    /// The proxy's URL, credentials included: goes to reqwest, never into a message.
    pub url: Url,
    /// The environment variable it came from, e.g. `https_proxy`.
    pub var: &'static str,
}

impl ProxyUrl {
    /// `scheme://host:port (from VAR)`, without credentials: safe to print.
    pub fn describe(&self) -> String {
        format!(
            "{}://{}:{} (from {})",
            self.url.scheme(),
            self.url.host_str().unwrap_or("?"),
            self.url.port_or_known_default().unwrap_or(0),
            self.var
        )
    }
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The proxy settings of this process's environment, parsed once.
#[derive(Clone, Debug, Default)]
pub struct ProxyEnv {
    http: Option<Setting>,
    https: Option<Setting>,
    all: Option<Setting>,
    no: NoProxy,
}

/// A variable's raw value and name: parsed only when a request would use it (as curl does).
#[derive(Clone)]
struct Setting {
    var: &'static str,
    value: String,
}

impl std::fmt::Debug for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value may hold a proxy password.
        write!(f, "{}=…", self.var)
    }
}

impl ProxyEnv {
    /// Reads the process environment.
    pub fn from_env() -> ProxyEnv {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the variables through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        let first = |names: &[&'static str]| {
            names.iter().find_map(|&var| {
                get(var)
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .map(|value| Setting { var, value })
            })
        };
        ProxyEnv {
            http: first(&["http_proxy"]),
            https: first(&["https_proxy", "HTTPS_PROXY"]),
            all: first(&["all_proxy", "ALL_PROXY"]),
            no: first(&["no_proxy", "NO_PROXY"])
                .map(|s| NoProxy::parse(&s.value))
                .unwrap_or_default(),
        }
    }

    /// The proxy for `url`, `None` for a direct connection; an error (naming the variable) when
    /// the variable that applies holds a proxy ragkeys cannot use.
    pub fn for_url(&self, url: &Url) -> Result<Option<ProxyUrl>, String> {
        let Some(host) = url.host_str() else {
            return Ok(None);
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if is_loopback_host(host) || self.no.matches(host, url.port_or_known_default()) {
            return Ok(None);
        }
        let setting = match url.scheme() {
            "http" => self.http.as_ref().or(self.all.as_ref()),
            "https" => self.https.as_ref().or(self.all.as_ref()),
            _ => None,
        };
        setting.map(parse_proxy).transpose()
    }
}

/// A warning when `HTTP_PROXY` (uppercase) is set for an `http://` endpoint that would have gone
/// through it, but ragkeys, as curl, does not read it; `None` otherwise.
pub fn uppercase_http_proxy_warning(
    url: &Url,
    get: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let set = |k: &str| get(k).is_some_and(|v| !v.trim().is_empty());
    if url.scheme() != "http" || !set("HTTP_PROXY") || set("http_proxy") {
        return None;
    }
    let env = ProxyEnv::from_lookup(&get);
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    if is_loopback_host(host) || env.no.matches(host, url.port_or_known_default()) {
        return None;
    }
    Some(
        "HTTP_PROXY is set but not used: as curl, ragkeys reads only the lowercase http_proxy \
         for http:// endpoints; set http_proxy to go through the proxy"
            .to_string(),
    )
}

/// 127.0.0.0/8, ::1 (also as ::ffff:127.x), `localhost` and `*.localhost` (RFC 6761).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        };
    }
    let d = host.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

fn parse_proxy(s: &Setting) -> Result<ProxyUrl, String> {
    let raw = &s.value;
    let with_scheme = if raw.contains("://") {
        raw.clone()
    } else {
        format!("http://{raw}")
    };
    let shown = shown_value(&with_scheme);
    let mut url = Url::parse(&with_scheme).map_err(|e| {
        format!(
            "{}={shown} is not a proxy URL ({e}): expected e.g. http://proxy.example:3128",
            s.var
        )
    })?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(format!(
                "{}={shown}: {other} proxies are not supported by ragkeys; use an http:// or \
                 https:// proxy, or list the service's host in no_proxy",
                s.var
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{}={shown} names no proxy host", s.var));
    }
    if url.port().is_none() && url.scheme() == "http" && !has_explicit_port(&with_scheme) {
        // curl's default proxy port.
        let _ = url.set_port(Some(1080));
    }
    url.set_path("/");
    url.set_query(None);
    url.set_fragment(None);
    Ok(ProxyUrl { url, var: s.var })
}

/// `url` parsing drops a port equal to the scheme's default (`:80`); curl keeps what was typed.
fn has_explicit_port(with_scheme: &str) -> bool {
    let rest = &with_scheme[with_scheme.find("://").map_or(0, |i| i + 3)..];
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    match host_port.rfind(':') {
        Some(i) => !host_port[i..].contains(']'),
        None => false,
    }
}

/// The variable's value without a password, for an error message.
fn shown_value(v: &str) -> String {
    match (v.find("://"), v.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***@{}", &v[..s + 3], &v[at + 1..]),
        _ => v.to_string(),
    }
}

/// `no_proxy`, parsed.
#[derive(Clone, Debug, Default)]
struct NoProxy {
    all: bool,
    entries: Vec<NoProxyEntry>,
}

#[derive(Clone, Debug)]
enum NoProxyEntry {
    /// A domain, lowercase, without leading or trailing dots; with a port when one was given.
    Domain(String, Option<u16>),
    Ip(IpAddr, Option<u16>),
    Net(ipnet::IpNet),
}

impl NoProxy {
    fn parse(list: &str) -> NoProxy {
        let mut out = NoProxy::default();
        for item in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|i| !i.is_empty())
        {
            if item == "*" {
                out.all = true;
                continue;
            }
            if let Ok(net) = item.parse::<ipnet::IpNet>() {
                out.entries.push(NoProxyEntry::Net(net));
                continue;
            }
            let (host, port) = split_port(item);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = host.parse::<IpAddr>() {
                out.entries.push(NoProxyEntry::Ip(ip, port));
                continue;
            }
            let d = host.trim_matches('.').to_ascii_lowercase();
            if !d.is_empty() {
                out.entries.push(NoProxyEntry::Domain(d, port));
            }
        }
        out
    }

    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        if self.all {
            return true;
        }
        let port_ok = |want: &Option<u16>| want.is_none() || *want == port;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.entries.iter().any(|e| match e {
                NoProxyEntry::Ip(a, p) => *a == ip && port_ok(p),
                NoProxyEntry::Net(n) => n.contains(&ip),
                NoProxyEntry::Domain(..) => false,
            });
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.entries.iter().any(|e| match e {
            NoProxyEntry::Domain(d, p) => {
                port_ok(p)
                    && (host == *d
                        || (host.len() > d.len()
                            && host.ends_with(d.as_str())
                            && host.as_bytes()[host.len() - d.len() - 1] == b'.'))
            }
            _ => false,
        })
    }
}

/// `host:port` / `[v6]:port` → (host, port); anything else (a bare IPv6 too) has no port.
fn split_port(item: &str) -> (&str, Option<u16>) {
    if let Some(rest) = item.strip_prefix('[')
        && let Some((h, p)) = rest.split_once("]:")
    {
        return (h, p.parse().ok());
    }
    match item.split_once(':') {
        Some((h, p)) if !p.contains(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (item, None),
        },
        _ => (item, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> ProxyEnv {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyEnv::from_lookup(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    fn via(e: &ProxyEnv, url: &str) -> Option<String> {
        e.for_url(&Url::parse(url).unwrap())
            .unwrap()
            .map(|p| p.describe())
    }

    #[test]
    fn loopback_is_never_proxied() {
        let e = env(&[
            ("http_proxy", "http://p:3128"),
            ("https_proxy", "http://p:3128"),
            ("ALL_PROXY", "http://p:3128"),
        ]);
        for u in [
            "http://127.0.0.1:8080",
            "http://127.3.4.5",
            "http://[::1]:9",
            "https://localhost:1",
            "http://LOCALHOST.:1",
            "http://a.localhost",
            "http://[::ffff:127.0.0.1]:1",
        ] {
            assert_eq!(via(&e, u), None, "{u}");
        }
        assert_eq!(
            via(&e, "http://keys.example").as_deref(),
            Some("http://p:3128 (from http_proxy)")
        );
    }

    #[test]
    fn variables_are_read_as_curl_reads_them() {
        // Uppercase HTTP_PROXY is ignored (httpoxy); ALL_PROXY is the fallback.
        let e = env(&[("HTTP_PROXY", "http://up:1"), ("ALL_PROXY", "http://all:2")]);
        assert_eq!(
            via(&e, "http://h.example").as_deref(),
            Some("http://all:2 (from ALL_PROXY)")
        );
        let e = env(&[
            ("HTTPS_PROXY", "http://up:1"),
            ("https_proxy", "http://low:2"),
        ]);
        assert_eq!(
            via(&e, "https://h.example").as_deref(),
            Some("http://low:2 (from https_proxy)")
        );
        assert_eq!(via(&e, "http://h.example"), None);
        // Empty counts as unset; no scheme is http with curl's port 1080; :80 stays 80.
        let e = env(&[("https_proxy", ""), ("all_proxy", "proxy.example")]);
        assert_eq!(
            via(&e, "https://h.example").as_deref(),
            Some("http://proxy.example:1080 (from all_proxy)")
        );
        let e = env(&[("http_proxy", "http://p:80")]);
        assert_eq!(
            via(&e, "http://h.example").as_deref(),
            Some("http://p:80 (from http_proxy)")
        );
    }

    #[test]
    fn no_proxy_takes_its_usual_forms() {
        let with = |no: &str| env(&[("http_proxy", "http://p:1"), ("NO_PROXY", no)]);
        let direct = |no: &str, url: &str| via(&with(no), url).is_none();
        assert!(direct("*", "http://anything.example"));
        assert!(direct("a.example, example.com", "http://example.com"));
        assert!(direct("example.com", "http://keys.example.com"));
        assert!(direct(".example.com", "http://keys.example.com"));
        assert!(direct(".example.com", "http://example.com"));
        assert!(!direct("example.com", "http://notexample.com"));
        assert!(direct("EXAMPLE.com.", "http://Keys.Example.COM"));
        assert!(direct("10.1.2.3", "http://10.1.2.3:8080"));
        assert!(direct("10.0.0.0/8", "http://10.200.0.1"));
        assert!(!direct("10.0.0.0/8", "http://11.0.0.1"));
        assert!(direct("fd00::/8", "http://[fd00::5]:1"));
        assert!(direct("::2", "http://[::2]"));
        assert!(direct("a.example b.example", "http://b.example"));
        assert!(direct("keys.example:8443", "http://keys.example:8443"));
        assert!(!direct("keys.example:8443", "http://keys.example:8080"));
        assert!(direct("[fd00::1]:80", "http://[fd00::1]"));
        assert!(!direct("", "http://keys.example"));
        // Lowercase wins over uppercase.
        let e = env(&[
            ("http_proxy", "http://p:1"),
            ("no_proxy", "a.example"),
            ("NO_PROXY", "*"),
        ]);
        assert!(via(&e, "http://b.example").is_some());
    }

    #[test]
    fn unusable_proxies_are_refused_naming_the_variable() {
        let e = env(&[("ALL_PROXY", "socks5://u:secret@p:1080")]);
        let err = e
            .for_url(&Url::parse("https://h.example").unwrap())
            .unwrap_err();
        assert!(err.contains("ALL_PROXY=socks5://***@p:1080"), "{err}");
        assert!(err.contains("not supported"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        // Only the variable a request would use is checked.
        assert_eq!(via(&e, "http://127.0.0.1:1"), None);
        let e = env(&[("http_proxy", "http://")]);
        let err = e
            .for_url(&Url::parse("http://h.example").unwrap())
            .unwrap_err();
        assert!(err.starts_with("http_proxy="), "{err}");
    }

    #[test]
    fn an_unread_uppercase_http_proxy_is_pointed_out() {
        let get = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let url = |u: &str| Url::parse(u).unwrap();
        let up: &[(&str, &str)] = &[("HTTP_PROXY", "http://p:1")];
        assert!(uppercase_http_proxy_warning(&url("http://h.example"), get(up)).is_some());
        assert!(uppercase_http_proxy_warning(&url("https://h.example"), get(up)).is_none());
        assert!(uppercase_http_proxy_warning(&url("http://127.0.0.1:1"), get(up)).is_none());
        let both: &[(&str, &str)] = &[("HTTP_PROXY", "http://p:1"), ("http_proxy", "http://p:1")];
        assert!(uppercase_http_proxy_warning(&url("http://h.example"), get(both)).is_none());
        let no: &[(&str, &str)] = &[("HTTP_PROXY", "http://p:1"), ("no_proxy", "h.example")];
        assert!(uppercase_http_proxy_warning(&url("http://h.example"), get(no)).is_none());
    }

    #[test]
    fn descriptions_hide_credentials() {
        let e = env(&[("http_proxy", "http://user:pw@p:3128")]);
        let p = e
            .for_url(&Url::parse("http://h.example").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(format!("{p:?}"), "http://p:3128 (from http_proxy)");
        assert_eq!(p.url.password(), Some("pw"));
    }
}
