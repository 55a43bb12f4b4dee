//! An `http` step whose URL names a private address or `localhost` as written, while the
//! config keeps `flows.allow_private_networks` off: the run-time guard refuses it at every
//! run, so `parley check` says so at load. A host filled in from a blank is left to the
//! run-time guard, which stays the authority (it also sees what a name resolves to).

use super::super::problem::Problems;
use super::super::yaml::{self, YamlNode};
use super::LoadContext;

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
    if crate::net::is_private_host(&host) {
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
