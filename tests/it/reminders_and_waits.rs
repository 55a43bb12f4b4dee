//! A window-closing reminder and a scheduled flow never make a waiting flow's sends vanish:
//! a month on the manual clock with every kind of wait (an `ask` with a timeout, a `delay`,
//! a debounce quiet period, a schedule), counting that every send a flow scheduled went out
//! (as text, or as its template when the window had closed).

use parley::cli::driver::Driver;
use parley::config::Config;
use parley::sandbox::inject::CustomerMessage;
use parley::sandbox::view::SentMessage;
use std::collections::HashMap;
use std::time::Duration;

const ORDER: &str = "id: order\ntriggers: [{keyword: [order]}]\nsteps:\n  - send: Thanks\n  - delay: 23h50m\n  - send: { text: \"Your order shipped\", if_window_closed: { template: menu_reminder, variables: { \"1\": \"shipped\" } } }\n";
const QUIZ: &str = "id: quiz\ntriggers: [{keyword: [quiz]}]\nsteps:\n  - ask: { text: \"Ready?\", save_as: r, timeout: 2h, on_timeout: nudge }\n  - send: \"Got it\"\n  - end: {}\n  - id: nudge\n    send: { text: \"Still there?\", if_window_closed: { template: menu_reminder, variables: { \"1\": \"nudge\" } } }\n";
const ECHO: &str = "id: echo\ntriggers: [{keyword: [hi]}]\nsteps:\n  - send: \"Burst handled\"\n";
const FOLLOW: &str = "id: follow\ntriggers: [{window_closing: 50m}]\nsteps:\n  - send: { text: \"Anything else?\", if_window_closed: skip }\n";
const PROMO: &str = "id: promo\nschedule:\n  cron: \"0 21 * * *\"\n  timezone: UTC\n  missed: run_once\nsteps:\n  - send: { text: \"Sale tonight\", if_window_closed: { template: menu_reminder, variables: { \"1\": \"promo\" } } }\n";

const CONTACTS: usize = 6;
const DAYS: usize = 30;

fn said(from: &str, text: &str) -> CustomerMessage {
    serde_json::from_value(serde_json::json!({ "from": from, "text": text })).unwrap()
}

/// Sends that went out (not skipped, not failed) carrying `marker` as text or template.
fn count(sent: &[SentMessage], marker: &str) -> usize {
    sent.iter()
        .filter(|m| m.status != "skipped" && m.status != "failed")
        .filter(|m| format!("{:?}", m.content).contains(marker))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_of_reminders_never_loses_a_send_a_waiting_flow_scheduled() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("order.yaml", ORDER),
        ("quiz.yaml", QUIZ),
        ("echo.yaml", ECHO),
        ("follow.yaml", FOLLOW),
        ("promo.yaml", PROMO),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let mut config = Config::embedded_default();
    config.flows.dir = dir.path().display().to_string();
    config.inbox.debounce = Duration::from_secs(3);
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-05T08:00:00Z")
        .unwrap()
        .into();
    let mut driver = Driver::start(config, start).await.unwrap();
    let phones: Vec<String> = (0..CONTACTS)
        .map(|i| format!("+3460000{:04}", 1000 + i))
        .collect();
    let mut expected: HashMap<(usize, &str), usize> = HashMap::new();
    let mut sent: Vec<Vec<SentMessage>> = vec![Vec::new(); CONTACTS];
    for day in 0..DAYS {
        driver.advance(Duration::from_secs(3600)).await.unwrap(); // 09:00
        for (i, phone) in phones.iter().enumerate() {
            sent[i].extend(driver.replies(phone).await.unwrap());
        }
        for (i, phone) in phones.iter().enumerate() {
            match (day + i) % 4 {
                0 => {
                    sent[i].extend(driver.say(said(phone, "order")).await.unwrap().replies);
                    *expected.entry((i, "shipped")).or_default() += 1;
                }
                1 => {
                    sent[i].extend(driver.say(said(phone, "quiz")).await.unwrap().replies);
                    *expected.entry((i, "Still there?")).or_default() += 1;
                }
                2 => {
                    sent[i].extend(driver.say(said(phone, "hi")).await.unwrap().replies);
                    sent[i].extend(driver.say(said(phone, "there")).await.unwrap().replies);
                    *expected.entry((i, "Burst handled")).or_default() += 1;
                }
                _ => {}
            }
        }
        // At 21:00 the promo reaches everyone (deferred for contacts in a waiting flow);
        // the next morning's reminders and delays come before the next messages.
        driver
            .advance(Duration::from_secs(23 * 3600))
            .await
            .unwrap();
        for (i, phone) in phones.iter().enumerate() {
            sent[i].extend(driver.replies(phone).await.unwrap());
        }
    }
    driver
        .advance(Duration::from_secs(3 * 86400))
        .await
        .unwrap();
    let mut reminders = 0;
    for (i, phone) in phones.iter().enumerate() {
        sent[i].extend(driver.replies(phone).await.unwrap());
        for marker in ["shipped", "Still there?", "Burst handled"] {
            let want = expected.get(&(i, marker)).copied().unwrap_or(0);
            assert_eq!(
                count(&sent[i], marker),
                want,
                "contact {phone}: `{marker}` sends"
            );
        }
        // A contact is in the audience of every promo fire from the day it first wrote.
        let first_day = (0..DAYS).find(|d| (d + i) % 4 != 3).unwrap();
        assert_eq!(
            count(&sent[i], "promo") + count(&sent[i], "Sale tonight"),
            DAYS + 3 - first_day,
            "contact {phone}: promo sends"
        );
        reminders += count(&sent[i], "Anything else?");
    }
    assert!(reminders > 0, "reminders still go out when no flow waits");
    let total: usize = sent.iter().map(Vec::len).sum();
    eprintln!("a month: {total} sends to {CONTACTS} contacts, {reminders} reminders");
    driver.stop().await;
}

/// The sandbox's manual clock is the one the API judges the window by.
#[tokio::test]
async fn session_status_follows_the_sandbox_clock_past_the_window() {
    use crate::api::{api_yaml, KEY};
    let app = crate::helpers::spawn_with(crate::helpers::Options {
        extra_yaml: format!(
            "{}sandbox: {{ manual_clock: true }}\n",
            api_yaml(1000, 1000)
        ),
        ..Default::default()
    })
    .await;
    let post = |path: &str, body: serde_json::Value| {
        app.http
            .post(format!("{}{path}", app.addr))
            .json(&body)
            .send()
    };
    let r = post(
        "/sandbox/api/messages",
        serde_json::json!({ "from": "+34600001234", "text": "hello", "sender_id": 3 }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let status = || async {
        let r = app
            .http
            .get(format!(
                "{}/api/user/whatsapp/session-status?sender_id=3&recipient_phone=%2B34600001234",
                app.addr
            ))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        r.json::<serde_json::Value>().await.unwrap()["session_status"].clone()
    };
    assert_eq!(status().await["is_open"], true);
    let r = post(
        "/sandbox/api/clock",
        serde_json::json!({ "advance": "23h 59m" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let open = status().await;
    assert_eq!(open["minutes_remaining"], 1, "{open}");
    post("/sandbox/api/clock", serde_json::json!({ "advance": "2m" }))
        .await
        .unwrap();
    let closed = status().await;
    assert_eq!(closed["is_open"], false, "{closed}");
    assert_eq!(
        closed["message"],
        "Session expired. Send a template or wait for customer to reply."
    );
    app.shutdown().await;
}
