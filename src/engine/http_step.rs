//! The `http` step's request: templated URL, headers and JSON body, a timeout, and a guard
//! that refuses private, loopback and link-local addresses unless the config allows them.

use std::net::IpAddr;
use std::time::Duration;

const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    pub timeout: Duration,
}

/// `{ status, ok, body }` on any HTTP answer; `Err` with a sentence otherwise.
pub async fn call(
    client: &reqwest::Client,
    req: HttpRequest,
    allow_private: bool,
) -> Result<serde_json::Value, String> {
    let url = reqwest::Url::parse(&req.url)
        .map_err(|e| format!("`{}` is not a valid address: {e}", req.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{}` must start with http:// or https://", req.url));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("`{}` has no host", req.url))?
        .to_string();
    if !allow_private {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = tokio::time::timeout(
            req.timeout,
            tokio::net::lookup_host((host.trim_matches(['[', ']']), port)),
        )
        .await
        .map_err(|_| format!("looking up {host} took too long"))?
        .map_err(|e| format!("cannot find the server {host}: {e}"))?;
        for addr in addrs {
            if is_private(addr.ip()) {
                return Err(format!(
                    "{host} is a private network address ({}); http steps may not call internal services unless flows.allow_private_networks is true",
                    addr.ip()
                ));
            }
        }
    }
    let mut builder = client.request(req.method.clone(), url).timeout(req.timeout);
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    if let Some(body) = &req.body {
        builder = builder.json(body);
    }
    let response = builder.send().await.map_err(|e| {
        if e.is_timeout() {
            format!(
                "{host} did not answer within {}",
                humantime::format_duration(req.timeout)
            )
        } else {
            format!("calling {host} failed: {e}")
        }
    })?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("reading the answer of {host} failed: {e}"))?;
    if bytes.len() > MAX_BODY {
        return Err(format!("the answer of {host} is larger than 1 MiB"));
    }
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
    });
    Ok(serde_json::json!({ "status": status, "ok": (200..300).contains(&status), "body": body }))
}

pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let seg = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg & 0xfe00) == 0xfc00 // unique local
                || (seg & 0xffc0) == 0xfe80 // link local
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_recognised() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "100.64.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn loopback_is_refused_by_default() {
        let req = HttpRequest {
            method: reqwest::Method::GET,
            url: "http://127.0.0.1:9/x".into(),
            headers: vec![],
            body: None,
            timeout: Duration::from_secs(1),
        };
        let err = call(&reqwest::Client::new(), req, false).await.unwrap_err();
        assert!(err.contains("private network"), "{err}");
    }
}
