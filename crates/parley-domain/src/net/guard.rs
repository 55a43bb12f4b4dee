//! The guard between flows (and media checks) and internal networks. Three doors, one rule
//! (`address::is_forbidden`):
//!
//! - names: the HTTP client's DNS resolver (`GuardedResolver`) refuses a name when any of
//!   its addresses is forbidden, and the connection is made to exactly the addresses it
//!   checked, so DNS rebinding (a public answer for the check, a private one for the
//!   connection) has nothing to race;
//! - literal IP hosts (`http://169.254.169.254/`, and `http://2130706433/`, which the URL
//!   parser turns into 127.0.0.1) never reach a resolver: `check_url` refuses them before
//!   the request and the redirect policy before each hop;
//! - redirects: each hop is checked again (a name through the resolver, a literal here),
//!   at most `MAX_REDIRECTS` of them.
//!
//! The guarded client never uses an HTTP proxy from the environment: a proxy would resolve
//! the name itself, out of the guard's sight.

use super::address::{is_forbidden, is_metadata};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::Policy;
use reqwest::Url;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

/// Redirects an `http` step follows, each one checked like the first request.
pub const MAX_REDIRECTS: usize = 5;

/// A request refused because it would reach an internal address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} is a private network address ({ip}{})", if is_metadata(*.ip) { ", a cloud metadata service" } else { "" })]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
}

/// Too many redirects, or a redirect to something that is not http(s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRedirect(pub String);

type LookupFuture = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
type LookupFn = dyn Fn(String) -> LookupFuture + Send + Sync;

/// The rule and the DNS lookup the guard applies. `Guard::system()` in production; tests
/// swap the lookup (to simulate a rebinding DNS server) or the rule.
#[derive(Clone)]
pub struct Guard {
    forbidden: fn(IpAddr) -> bool,
    lookup: Arc<LookupFn>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

impl Guard {
    /// The system resolver and `is_forbidden`.
    pub fn system() -> Self {
        Self::with(is_forbidden, |host| {
            Box::pin(async move {
                Ok(tokio::net::lookup_host((host.as_str(), 0))
                    .await?
                    .map(|a| a.ip())
                    .collect())
            })
        })
    }

    /// A guard with its own rule and lookup (tests).
    pub fn with(
        forbidden: fn(IpAddr) -> bool,
        lookup: impl Fn(String) -> LookupFuture + Send + Sync + 'static,
    ) -> Self {
        Self {
            forbidden,
            lookup: Arc::new(lookup),
        }
    }

    /// Refuses a URL whose host is a forbidden literal IP address (names are the
    /// resolver's job: they are checked at connection time).
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        if (self.forbidden)(ip) {
            return Err(Refused {
                host: url.host_str().unwrap_or_default().to_string(),
                ip,
            });
        }
        Ok(())
    }

    /// Resolves `host` and refuses it when any of its addresses is forbidden.
    pub async fn resolve(
        &self,
        host: &str,
    ) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let addrs = (self.lookup)(host.to_string()).await?;
        if let Some(ip) = addrs.iter().copied().find(|ip| (self.forbidden)(*ip)) {
            return Err(Box::new(Refused {
                host: host.to_string(),
                ip,
            }));
        }
        if addrs.is_empty() {
            return Err(format!("{host} has no address").into());
        }
        Ok(addrs)
    }

    /// `builder` with this guard: its resolver, a checked redirect policy allowing `max`
    /// hops (0: none followed) and no proxy.
    pub fn apply(
        &self,
        builder: reqwest::ClientBuilder,
        max_redirects: usize,
    ) -> reqwest::ClientBuilder {
        let policy = if max_redirects == 0 {
            Policy::none()
        } else {
            redirect_policy(Some(self.clone()), max_redirects)
        };
        builder
            .dns_resolver(Arc::new(GuardedResolver(self.clone())))
            .redirect(policy)
            .no_proxy()
    }
}

/// `Guard` as reqwest's resolver.
struct GuardedResolver(Guard);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = guard.resolve(&host).await?;
            let addrs: Addrs = Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// A client builder for outbound requests that flows or API callers choose the address
/// of: guarded unless `allow_private`, then plain with `max_redirects` hops.
pub fn client_builder(allow_private: bool, max_redirects: usize) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    if allow_private {
        let policy = if max_redirects == 0 {
            Policy::none()
        } else {
            Policy::limited(max_redirects)
        };
        builder.redirect(policy)
    } else {
        Guard::system().apply(builder, max_redirects)
    }
}

/// The guard's refusal inside a reqwest error (its source chain), if that is why it failed.
/// Whether `error` (or one of its causes) is an internal address refused: the one refusal
/// `flows.allow_private_networks` would lift.
pub fn refused_address(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| e.is::<Refused>())
}

pub fn refusal(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r.to_string());
        }
        if let Some(r) = e.downcast_ref::<BadRedirect>() {
            return Some(r.to_string());
        }
        cur = e.source();
    }
    None
}

/// A redirect away from the origin the request named is not followed: the answer (the
/// 3xx, with its `Location`) goes back to the caller. reqwest drops `Authorization` and
/// `Cookie` on such a hop, but not the other headers a flow sets (`X-Api-Key`…), which
/// would reach a service the author never named.
pub fn leaves_the_host(attempt: &reqwest::redirect::Attempt<'_>) -> bool {
    attempt
        .previous()
        .first()
        .is_none_or(|from| leaves(from, attempt.url()))
}

/// Whether a hop from `from` to `to` leaves its origin: another host, another port (another
/// service on the same machine), or https down to http. http up to https on the default
/// ports stays.
fn leaves(from: &reqwest::Url, to: &reqwest::Url) -> bool {
    let same_host = from.host_str() == to.host_str();
    let same_origin =
        from.scheme() == to.scheme() && from.port_or_known_default() == to.port_or_known_default();
    let upgrade = from.scheme() == "http"
        && to.scheme() == "https"
        && from.port().is_none()
        && to.port().is_none();
    !(same_host && (same_origin || upgrade))
}

/// The redirect policy of `http` steps and media checks: at most `max` hops, each to
/// http(s), to an address `guard` allows when it is written as one (names go through the
/// guard's resolver), and never to another host (see `leaves_the_host`). `None`: no address
/// guard (`allow_private_networks`), the other rules still hold.
pub fn redirect_policy(guard: Option<Guard>, max: usize) -> Policy {
    Policy::custom(move |attempt| {
        if attempt.previous().len() > max {
            let e = BadRedirect(format!("more than {max} redirects"));
            return attempt.error(e);
        }
        if !matches!(attempt.url().scheme(), "http" | "https") {
            let e = BadRedirect(format!(
                "a redirect to `{}`, which is not http(s)",
                attempt.url()
            ));
            return attempt.error(e);
        }
        if let Some(Err(refused)) = guard.as_ref().map(|g| g.check_url(attempt.url())) {
            return attempt.error(refused);
        }
        if leaves_the_host(&attempt) {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::leaves;

    #[test]
    fn a_redirect_stays_only_within_the_origin_or_up_to_https() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        let from = url("http://api.example.com/orders");
        for (to, left) in [
            ("http://api.example.com/v2/orders", false),
            ("http://api.example.com:80/x", false),
            ("https://api.example.com/orders", false),
            ("http://api.example.com:8081/echo", true),
            ("http://other.example.com/orders", true),
            ("https://api.example.com:8443/x", true),
        ] {
            assert_eq!(leaves(&from, &url(to)), left, "{to}");
        }
        let secure = url("https://api.example.com/orders");
        assert!(leaves(&secure, &url("http://api.example.com/orders")));
        assert!(!leaves(&secure, &url("https://api.example.com/next")));
    }
}
