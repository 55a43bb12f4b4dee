//! An `http` step whose URL names a private address or `localhost` as written, while the
//! config keeps `flows.allow_private_networks` off: the run-time guard refuses it at every
//! run, so `parley check` says so at load. A host filled in from a blank is left to the
//! run-time guard, which stays the authority (it also sees what a name resolves to).

use super::super::problem::Problems;
use super::super::yaml::{self, YamlNode};
use super::LoadContext;
use std::net::IpAddr;

pub fn check(url: &str, node: &YamlNode, ctx: &LoadContext<'_>, problems: &mut Problems) {
    let Some(deployment) = ctx.deployment else {
        return;
    };
    if deployment.allow_private_networks {
        return;
    }
    let Some(host) = literal_host(url) else {
        return;
    };
    let private = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(ip) => is_private(ip),
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    };
    if private {
        problems.error(
            yaml::pos(node),
            format!(
                "`{host}` is a private or local address, and `http` steps may not call one: this step would fail at every run"
            ),
            Some("call the service at a public address, or set `flows.allow_private_networks: true` in the config if it is meant to be internal".into()),
        );
    }
}

/// The URL's host when it is written out, not filled in from a blank, as the URL parser
/// normalises it (`http://2130706433/` is 127.0.0.1).
fn literal_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains("{{") || authority.contains("}}") {
        return None;
    }
    let scheme = &url[..url.len() - rest.len()];
    let parsed = reqwest::Url::parse(&format!("{scheme}{authority}/")).ok()?;
    parsed.host_str().map(str::to_string)
}

/// Loopback, private, link-local, carrier-grade NAT, unspecified, multicast and
/// unique-local addresses, IPv4-mapped IPv6 included.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let seg = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg & 0xfe00) == 0xfc00
                || (seg & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_hosts_are_found_and_blanks_skipped() {
        let host = literal_host;
        assert_eq!(
            host("http://127.0.0.1:8080/x").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(host("http://2130706433/").as_deref(), Some("127.0.0.1"));
        assert_eq!(
            host("https://[::ffff:10.0.0.1]/").as_deref(),
            Some("[::ffff:a00:1]")
        );
        assert_eq!(
            host("https://api.example.com/{{ vars.id }}").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(host("https://{{ vars.host }}/x"), None);
        assert_eq!(host("{{ vars.url }}"), None);
    }
}
