//! The pages and APIs served to this machine only (the sandbox, insights): the headers
//! every such page carries, and the guard that refuses a request from anywhere else. A
//! leaf of `http/`, so the families that serve such pages need not import each other.

use super::error::Error;
use super::state::AppState;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};

/// What the sandbox's pages may do: run their own inline script and style, talk to Parley
/// only, and never be framed (no clickjacking of Release or the clock buttons).
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self'; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A page of the sandbox family (`/sandbox`, `/insights`) with the headers that keep other
/// sites from framing it or a browser from reading it as anything else.
pub(super) fn page_response(html: &'static str) -> Response {
    use axum::http::header;
    (
        [
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(html),
    )
        .into_response()
}

/// Unless `sandbox.expose`, refuses (403) a request addressed to a name that is not this
/// machine's (`Host`), and a request with a body posted from a page that is not served
/// from it (`Origin`). DNS rebinding points a name the attacker owns at 127.0.0.1: the
/// browser then sends that name as `Host` and `Origin`, never a loopback one.
pub(super) async fn loopback_only(
    State(st): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let refusal = if st.config.sandbox.expose {
        None
    } else {
        foreign(&request)
    };
    let Some(why) = refusal else {
        return next.run(request).await;
    };
    super::error::render(
        super::error::Family::Sandbox,
        &Error::forbidden(format!(
            "the sandbox answers only requests to this machine (127.0.0.1, localhost or [::1]), \
             not one {why}: a web page on another name could reach it by pointing that name at \
             127.0.0.1; open http://127.0.0.1:<port>/sandbox, or set `sandbox: {{ expose: true }}` \
             when a proxy you trust forwards to it under another name"
        )),
    )
}

/// The headers a reverse proxy adds to what it forwards.
const PROXY_HEADERS: [&str; 4] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
];

/// How `request` is not from this machine's browser tab: forwarded by a proxy, addressed to another name, or
/// a body posted from a page of another origin. The studio's guard asks it too.
pub(super) fn foreign(request: &axum::extract::Request) -> Option<String> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .map(|v: &axum::http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    // A proxy on this machine (nginx sends the upstream's `127.0.0.1:port` as `Host` by
    // default) would pass the loopback test for requests from anywhere: what it forwards
    // says so in these headers.
    if let Some(name) = PROXY_HEADERS
        .iter()
        .find(|name| request.headers().contains_key(**name))
    {
        return Some(format!("forwarded by a proxy (it carries `{name}`)"));
    }
    // HTTP/2 and absolute-form requests carry the host in the URI.
    let host = header(axum::http::header::HOST)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_string()));
    match host {
        Some(h) if is_loopback_authority(&h) => {}
        Some(h) => return Some(format!("addressed to `{}`", shorten(&h))),
        None => return Some("without a Host header".to_string()),
    }
    let safe = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let origin = header(axum::http::header::ORIGIN)?;
    let from_here = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(is_loopback_authority);
    (!safe && !from_here).then(|| format!("sent from a page of `{}`", shorten(&origin)))
}

/// `127.0.0.1:8080`, `localhost`, `[::1]:8080`: an authority (host and optional port)
/// that names this machine. Any 127.0.0.0/8 address counts (a loopback `listen`).
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, port)) if port.is_empty() || port.strip_prefix(':').is_some_and(is_port) => {
                return v6
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok_and(|ip| ip.is_loopback());
            }
            _ => return false,
        },
        None => match authority.split_once(':') {
            Some((host, port)) if is_port(port) => host,
            Some(_) => return false,
            None => authority,
        },
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `8080`.
fn is_port(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// At most 60 characters of a header, to repeat it.
fn shorten(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::is_loopback_authority;

    #[test]
    fn only_names_of_this_machine_are_loopback() {
        for yes in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.1.2.3:80",
            "localhost",
            "LocalHost:8080",
            "localhost.:8080",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(is_loopback_authority(yes), "{yes}");
        }
        for no in [
            "attacker.example:8080",
            "localhost.attacker.example",
            "127.0.0.1.nip.io",
            "10.0.0.1:8080",
            "0.0.0.0:8080",
            "[::2]:8080",
            "[::1]8080",
            "127.0.0.1:80:80",
            "localhost:http",
            "",
        ] {
            assert!(!is_loopback_authority(no), "{no}");
        }
    }
}
