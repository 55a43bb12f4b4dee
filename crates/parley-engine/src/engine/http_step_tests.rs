//! The `http` step against local doubles. A guard whose rule treats 127.0.0.2 as public
//! stands in for the internet: wiremock listens there, and every other internal address
//! (127.0.0.1, the metadata service, …) stays forbidden, so redirects and DNS answers
//! leading to them can be tried for real.

use super::*;
use crate::net::is_forbidden;
use std::net::{IpAddr, Ipv4Addr};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PUBLIC: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn rule(ip: IpAddr) -> bool {
    ip != PUBLIC && is_forbidden(ip)
}

/// `public.test` → 127.0.0.2 (allowed), `rebind.test` → 127.0.0.1, `mixed.test` → both.
fn test_reach() -> Reach {
    Reach::Public(Guard::with(rule, |host| {
        Box::pin(async move {
            let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
            match host.as_str() {
                "public.test" => Ok(vec![PUBLIC]),
                "rebind.test" => Ok(vec![loopback]),
                "mixed.test" => Ok(vec![PUBLIC, loopback]),
                _ => Err(std::io::Error::other("no such host")),
            }
        })
    }))
}

async fn server_on(ip: &str) -> MockServer {
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    MockServer::builder().listener(listener).start().await
}

fn get(url: String) -> HttpRequest {
    HttpRequest {
        method: reqwest::Method::GET,
        url,
        headers: vec![],
        body: None,
        timeout: Duration::from_secs(5),
    }
}

async fn run(reach: &Reach, url: String) -> Result<serde_json::Value, String> {
    call(&client(reach), reach, get(url)).await
}

/// A "public" server whose `/start` redirects to `location`.
async fn redirecting_to(location: &str) -> MockServer {
    let server = server_on("127.0.0.2").await;
    Mock::given(path("/start"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", location))
        .mount(&server)
        .await;
    server
}

/// An internal service that must never be reached.
async fn internal_service() -> MockServer {
    let server = server_on("127.0.0.1").await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("secret"))
        .expect(0)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn literal_internal_addresses_are_refused_in_every_spelling() {
    let reach = Reach::from_allow_private(false);
    for url in [
        "http://127.0.0.1:9/x",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://[fe80::1]/",
    ] {
        let err = run(&reach, url.into()).await.unwrap_err();
        assert!(err.contains("private network"), "{url}: {err}");
    }
}

#[tokio::test]
async fn redirect_to_metadata_address_is_refused() {
    let server =
        redirecting_to("http://169.254.169.254/latest/meta-data/iam/security-credentials/").await;
    let err = run(&test_reach(), format!("{}/start", server.uri()))
        .await
        .unwrap_err();
    assert!(err.contains("169.254.169.254"), "{err}");
    assert!(err.contains("cloud metadata service"), "{err}");
    assert!(err.contains("allow_private_networks"), "{err}");
}

#[tokio::test]
async fn redirect_to_loopback_is_refused_and_never_reaches_it() {
    let internal = internal_service().await;
    let server = redirecting_to(&format!("{}/admin", internal.uri())).await;
    let err = run(&test_reach(), format!("{}/start", server.uri()))
        .await
        .unwrap_err();
    assert!(err.contains("private network address (127.0.0.1)"), "{err}");
    internal.verify().await;
}

#[tokio::test]
async fn redirect_to_a_name_resolving_to_loopback_never_reaches_it() {
    let internal = internal_service().await;
    let port = internal.address().port();
    let server = redirecting_to(&format!("http://rebind.test:{port}/admin")).await;
    // Another host: not followed at all (the resolver would refuse it if it were; see
    // `dns_answer_with_an_internal_address_is_refused_at_connection_time`).
    let answer = run(&test_reach(), format!("{}/start", server.uri()))
        .await
        .unwrap();
    assert_eq!(answer["status"], 302, "{answer}");
    internal.verify().await;
}

#[tokio::test]
async fn dns_answer_with_an_internal_address_is_refused_at_connection_time() {
    // Rebinding: whatever a name answered before, the connection uses this answer, and
    // this answer is checked. Mixed answers are refused whole.
    let internal = internal_service().await;
    let port = internal.address().port();
    for name in ["rebind.test", "mixed.test"] {
        let err = run(&test_reach(), format!("http://{name}:{port}/"))
            .await
            .unwrap_err();
        assert!(
            err.contains("private network address (127.0.0.1)"),
            "{name}: {err}"
        );
    }
    internal.verify().await;
}

#[tokio::test]
async fn redirects_between_public_addresses_are_followed_up_to_five() {
    let server = server_on("127.0.0.2").await;
    let port = server.address().port();
    for i in 0..7 {
        Mock::given(path(format!("/r{i}")))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("http://public.test:{port}/r{}", i + 1)),
            )
            .mount(&server)
            .await;
    }
    Mock::given(path("/r7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"a": 1})))
        .mount(&server)
        .await;
    let ok = run(&test_reach(), format!("http://public.test:{port}/r3"))
        .await
        .unwrap();
    assert_eq!(ok["body"]["a"], 1);
    let err = run(&test_reach(), format!("http://public.test:{port}/r0"))
        .await
        .unwrap_err();
    assert!(err.contains("more than 5 redirects"), "{err}");
    // The setting for internal addresses would not help: it is not suggested.
    assert!(!err.contains("allow_private_networks"), "{err}");
}

#[tokio::test]
async fn allow_private_networks_turns_the_guard_off() {
    let server = server_on("127.0.0.1").await;
    Mock::given(path("/x"))
        .respond_with(ResponseTemplate::new(200).set_body_string("internal"))
        .mount(&server)
        .await;
    let ok = run(&Reach::Anywhere, format!("{}/x", server.uri()))
        .await
        .unwrap();
    assert_eq!(ok["body"], "internal");
}

#[tokio::test]
async fn an_answer_over_1_mib_fails_the_step() {
    let server = server_on("127.0.0.1").await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 1024 * 1024 + 1]))
        .mount(&server)
        .await;
    let err = run(&Reach::Anywhere, format!("{}/big", server.uri()))
        .await
        .unwrap_err();
    assert!(err.contains("larger than 1 MiB"), "{err}");
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_so_the_steps_headers_stay_home() {
    let elsewhere = server_on("127.0.0.2").await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("stolen"))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let server = server_on("127.0.0.1").await;
    Mock::given(path("/start"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", format!("{}/x", elsewhere.uri())),
        )
        .mount(&server)
        .await;
    Mock::given(path("/moved"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/here"))
        .mount(&server)
        .await;
    Mock::given(path("/here"))
        .respond_with(ResponseTemplate::new(200).set_body_string("same host"))
        .mount(&server)
        .await;
    let reach = Reach::Anywhere;
    let mut req = get(format!("{}/start", server.uri()));
    req.headers = vec![("X-Api-Key".into(), "secret".into())];
    let answer = call(&client(&reach), &reach, req).await.unwrap();
    assert_eq!(answer["status"], 302, "{answer}");
    elsewhere.verify().await;
    // Within the host, redirects are followed.
    let answer = run(&reach, format!("{}/moved", server.uri()))
        .await
        .unwrap();
    assert_eq!(answer["body"], "same host");
}

/// A server that sends its headers at once, then its body a byte at a time: the step's
/// timeout ends it with words that say so (the request's own timeout used to surface as
/// "error decoding response body").
#[tokio::test]
async fn an_answer_that_trickles_in_past_the_timeout_says_it_came_too_late() {
    let addr = crate::net::trickling_server().await;
    let mut req = get(format!("http://{addr}/slow"));
    req.timeout = Duration::from_secs(1);
    let err = call(&client(&Reach::Anywhere), &Reach::Anywhere, req)
        .await
        .unwrap_err();
    assert!(err.contains("did not arrive within 1s"), "{err}");
}

/// An answer nested deeper than a conversation's state can be read back (125 levels once
/// locked a customer out: every later message was refused) is kept as its text; one of 64
/// levels stays JSON.
#[tokio::test]
async fn an_answer_too_deep_to_keep_as_json_is_kept_as_text() {
    let server = server_on("127.0.0.1").await;
    let nested = |levels: usize| format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels));
    Mock::given(path("/deep"))
        .respond_with(ResponseTemplate::new(200).set_body_string(nested(125)))
        .mount(&server)
        .await;
    Mock::given(path("/fine"))
        .respond_with(ResponseTemplate::new(200).set_body_string(nested(64)))
        .mount(&server)
        .await;
    let deep = run(&Reach::Anywhere, format!("{}/deep", server.uri()))
        .await
        .unwrap();
    assert_eq!(deep["body"], serde_json::Value::String(nested(125)));
    let fine = run(&Reach::Anywhere, format!("{}/fine", server.uri()))
        .await
        .unwrap();
    assert!(fine["body"].is_object());
    assert!(!super::deeper_than(&fine["body"], super::MAX_ANSWER_DEPTH));
    assert!(super::deeper_than(&serde_json::json!([[[1]]]), 2));
    assert!(!super::deeper_than(&serde_json::json!([[[1]]]), 3));
}
