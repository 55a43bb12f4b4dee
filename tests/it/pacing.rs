//! A sender's pace seen at the Graph API double (issue 62, items 2 and 3): no second
//! carries more sends than `messages_per_second`, not even the first one after a pause;
//! and a reply to a customer who is writing now goes before the bulk sends waiting in the
//! same pace, which still use the rest of it.

use crate::api::{api_yaml, KEY};
use crate::helpers::*;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, Request};

const RATE: usize = 20;

/// Parley with its Meta sender paced at `RATE`, and the times its sends reach the double
/// (with the text of each, when it has one).
async fn paced() -> (TestApp, Arc<Mutex<Vec<(Instant, String)>>>) {
    let app = spawn_with(Options {
        extra_yaml: api_yaml(1000, 1000),
        config_edits: vec![(
            "phone_number: \"+15550783880\"\n    messages_per_second: 1000",
            "phone_number: \"+15550783880\"\n    messages_per_second: 20",
        )],
        ..Options::default()
    })
    .await;
    app.meta.reset().await;
    let arrivals: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let seen = arrivals.clone();
    Mock::given(method("POST"))
        .and(path_regex(META_SENDS))
        .respond_with(move |req: &Request| {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
            let text = body["text"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            seen.lock().unwrap().push((Instant::now(), text));
            meta_accepts(req)
        })
        .mount(&app.meta)
        .await;
    (app, arrivals)
}

/// Queues `n` template sends through the API to customers who never wrote (bulk sends).
async fn queue_templates(app: &TestApp, n: usize) {
    for i in 0..n {
        let r = app
            .http
            .post(format!("{}/api/user/whatsapp/send", app.addr))
            .bearer_auth(KEY)
            .json(&json!({
                "sender_id": 1, "template_id": 45,
                "recipient_phone": format!("+3461{i:07}"), "variables": { "1": "Ana" }
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

async fn wait_arrivals(arrivals: &Mutex<Vec<(Instant, String)>>, n: usize) -> Vec<Instant> {
    let t0 = Instant::now();
    loop {
        let got: Vec<Instant> = arrivals.lock().unwrap().iter().map(|a| a.0).collect();
        if got.len() >= n {
            return got;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{} of {n} sends arrived",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The most arrivals in any window of `width` that starts at an arrival.
fn busiest(times: &[Instant], width: Duration) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t < times[i] + width)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn no_second_carries_more_than_the_rate_even_after_a_pause() {
    let (app, arrivals) = paced().await;
    queue_templates(&app, 2 * RATE).await;
    let times = wait_arrivals(&arrivals, 2 * RATE).await;
    // The double sees each send a moment after Parley let it go; those moments vary (by
    // tens of milliseconds on a loaded machine), so a window a little short of a second
    // is held to the rate. Before the pacer, 40 arrived in the first second.
    let second = Duration::from_millis(900);
    assert!(busiest(&times, second) <= RATE, "{times:?}");
    assert!(
        busiest(&times, Duration::from_millis(100)) <= 5,
        "a burst (22 in the first 100 ms before the pacer): {times:?}"
    );
    // The rate is used, not wasted: 40 sends at 20 a second take about two seconds.
    let span = *times.last().unwrap() - times[0];
    assert!(span < Duration::from_secs(4), "{span:?}");
    // After an idle second and more, again no burst.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    queue_templates(&app, RATE).await;
    let all = wait_arrivals(&arrivals, 3 * RATE).await;
    assert!(busiest(&all[2 * RATE..], second) <= RATE, "{all:?}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_reply_to_a_customer_goes_before_the_bulk_sends_in_the_pace() {
    let (app, arrivals) = paced().await;
    // Three seconds of bulk sends at the pace, claimed and waiting for their turns.
    queue_templates(&app, 3 * RATE).await;
    wait_arrivals(&arrivals, 2).await;
    let asked = Instant::now();
    let r = app
        .post_meta(&meta_text("16315551181", "wamid.live.1", "hi", now_unix()))
        .await;
    assert_eq!(r.status(), 200);
    let replied = loop {
        let found = arrivals
            .lock()
            .unwrap()
            .iter()
            .find(|a| a.1 == "echo: hi")
            .map(|a| a.0);
        if let Some(at) = found {
            break at;
        }
        assert!(asked.elapsed() < Duration::from_secs(10), "no reply");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // Behind the bulk sends it would have waited about 2.9 s; ahead of them, a slot or
    // two (50 ms each) and the bot's own work.
    let waited = replied - asked;
    assert!(
        waited < Duration::from_secs(1),
        "the reply waited {waited:?}"
    );
    // The bulk sends still all went, at the pace.
    let all = wait_arrivals(&arrivals, 3 * RATE + 1).await;
    assert!(busiest(&all, Duration::from_millis(900)) <= RATE, "{all:?}");
    app.shutdown().await;
}
