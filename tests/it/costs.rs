//! The cost ledger end to end: a simulated October 2026 in the sandbox on the manual clock
//! (customers writing, replies in the window, utility and marketing templates, templates
//! after the window closed, a click-to-WhatsApp ad's free entry point). Parley predicts each
//! send's price before it is queued; the sandbox answers with Meta's `pricing` in its
//! statuses; the predicted total, the total from the statuses and a hand count from the
//! shipped rate card agree to the micro-unit, in `GET /api/costs` and in the metrics.

use crate::api::{api_yaml, call};
use crate::helpers::{metrics_page, spawn_with, Options, TestApp};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const HELLO: &str = "id: costs_hello\ntriggers: [{keyword: [hi]}]\nsteps:\n  - send: \"Hello!\"\n";
const RECEIPT: &str = "id: costs_receipt\ntriggers: [{keyword: [receipt]}]\nsteps:\n  - id: receipt\n    send: { template: menu_reminder, variables: { \"1\": \"receipt\" } }\n";
const OFFER: &str = "id: costs_offer\ntriggers: [{keyword: [offer]}]\nsteps:\n  - send: { template: cart_reminder, variables: { \"1\": \"offer\" } }\n";
const ORDER: &str = "id: costs_order\ntriggers: [{keyword: [order]}]\nsteps:\n  - id: thanks\n    send: Thanks\n  - delay: 26h\n  - id: shipped\n    send: { text: \"Your order shipped\", if_window_closed: { template: menu_reminder, variables: { \"1\": \"shipped\" } } }\n";

/// The customers, and their prices in the shipped card (`rates/meta.csv`) from
/// 2026-10-01, micro-USD: (service, utility, marketing).
const CUSTOMERS: [(&str, (i64, i64, i64)); 4] = [
    ("+16315551181", (3_400, 3_400, 25_000)),
    ("+34600000101", (20_000, 20_000, 61_500)),
    ("+919876543210", (1_400, 1_400, 10_700)),
    ("+4915112345678", (55_000, 55_000, 136_500)),
];
const DAYS: i64 = 30;
/// Customer 0's day-10 order comes from an ad: 72 free hours from the answer.
const AD_DAY: i64 = 10;

async fn sandbox(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app
        .http
        .post(format!("{}{path}", app.addr))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {v:#}");
    v
}

async fn costs(app: &TestApp, by: &str) -> Value {
    let (status, body) = call(
        app,
        "GET",
        &format!("/api/costs?by={by}&since=2026-10-01T00:00:00Z"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    body
}

fn micros(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v:#}"))
}

/// Moves the manual clock to `day` (0 = 2026-10-01) at `hour`, and lets the timers due by
/// then run.
async fn at(app: &TestApp, day: i64, hour: u32) {
    let clock = app.clock.as_ref().unwrap();
    let t = chrono::DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z").unwrap()
        + chrono::Duration::days(day)
        + chrono::Duration::hours(hour.into());
    clock.set(t.into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_month_costs_what_the_statuses_say_to_the_micro_unit() {
    let app = spawn_with(Options {
        manual_clock: true,
        extra_yaml: format!(
            "{}sandbox: {{ statuses: {{ sent_after: 5ms, delivered_after: 10ms, read_after: 15ms }} }}\n",
            api_yaml(1000, 1000)
        ),
        config_edits: vec![(
            "templates:\n",
            "templates:\n  - { id: 46, name: cart_reminder, language: en, status: approved, category: marketing, body: \"Hi {{1}}, your cart is waiting.\" }\n",
        )],
        flows: vec![
            ("hello.yaml", HELLO),
            ("receipt.yaml", RECEIPT),
            ("offer.yaml", OFFER),
            ("order.yaml", ORDER),
        ],
        ..Options::default()
    })
    .await;
    // What the month must cost, counted by hand from Meta's rules: service replies are
    // charged from October 2026; a utility template in the window is free; marketing is
    // always charged; a template after the window is charged; everything in the ad's
    // free window is free.
    let mut expected_total = 0i64;
    let mut expected_by_flow: HashMap<&str, i64> = HashMap::new();
    // Messages that should have left by now, and the delayed ones that leave tomorrow.
    let mut sent = 0i64;
    let mut tomorrow = 0i64;
    let mut free_entry = 0i64;
    let mut days_with: std::collections::BTreeSet<i64> = Default::default();
    let mut charge = |flow: &'static str, price: i64, free: bool| {
        let price = if free { 0 } else { price };
        expected_total += price;
        *expected_by_flow.entry(flow).or_default() += price;
    };
    let in_ad_window = |i: usize, day: i64| i == 0 && (AD_DAY..AD_DAY + 3).contains(&day);
    for day in 0..=DAYS {
        at(&app, day, 9).await;
        let delayed = std::mem::take(&mut tomorrow);
        for (i, (phone, (service, utility, marketing))) in CUSTOMERS.iter().enumerate() {
            if day == DAYS {
                break;
            }
            let free = in_ad_window(i, day);
            let ad = i == 0 && day == AD_DAY;
            if i == 0 && day == AD_DAY + 1 {
                // Quiet the day after the ad, so its order's "shipped" goes after the window
                // closed (a new message would start another flow and cancel the wait).
                continue;
            }
            let text = if ad {
                "order"
            } else {
                match (day + i as i64) % 5 {
                    0 => "hi",
                    1 => "receipt",
                    2 => "offer",
                    3 => "order",
                    _ => continue,
                }
            };
            let mut body = json!({ "from": phone, "text": text });
            if ad {
                body["referral"] = json!("120210000000000001");
            }
            let reply = sandbox(&app, "/sandbox/api/messages", body).await;
            assert_eq!(
                reply["replies"].as_array().map(Vec::len),
                Some(1),
                "{reply:#}"
            );
            sent += 1;
            days_with.insert(day);
            free_entry += i64::from(free);
            match text {
                "hi" => charge("costs_hello", *service, free),
                "receipt" => charge("costs_receipt", 0, free),
                "offer" => charge("costs_offer", *marketing, free),
                _ => {
                    charge("costs_order", *service, free);
                    // 26 h later the window has closed (the customer is quiet the next
                    // day): the utility template goes, charged unless the ad's free window
                    // still runs (the day after the ad: a template after the window, free).
                    let later = in_ad_window(i, day + 1);
                    charge("costs_order", *utility, later);
                    tomorrow += 1;
                    free_entry += i64::from(later);
                }
            }
        }
        settle(&app, sent).await;
        // Yesterday's delayed messages leave at 11:00.
        at(&app, day, 12).await;
        sent += delayed;
        if delayed > 0 {
            days_with.insert(day);
        }
        settle(&app, sent).await;
    }
    assert_eq!(tomorrow, 0, "the last day has no order waiting");
    let total = costs(&app, "sender").await["total"].clone();
    assert_eq!(
        micros(&total, "predicted_micros"),
        expected_total,
        "{total:#}"
    );
    assert_eq!(micros(&total, "actual_micros"), expected_total, "{total:#}");
    assert_eq!(total["predicted"], total["actual"]);
    // Day by day too.
    let days = costs(&app, "day").await;
    let rows = days["costs"].as_array().unwrap();
    assert_eq!(rows.len(), days_with.len(), "{days:#}");
    for r in rows {
        assert_eq!(
            micros(r, "predicted_micros"),
            micros(r, "actual_micros"),
            "{r:#}"
        );
    }
    assert_eq!(rows[0]["day"], "2026-10-01");
    assert_eq!(days["currency"], "USD");
    // By flow and by step.
    let flows = costs(&app, "flow").await;
    for r in flows["costs"].as_array().unwrap() {
        let flow = r["flow"].as_str().unwrap();
        assert_eq!(
            micros(r, "predicted_micros"),
            expected_by_flow[flow],
            "{flow}"
        );
        assert_eq!(micros(r, "actual_micros"), expected_by_flow[flow], "{flow}");
    }
    let steps = costs(&app, "step").await;
    let named: Vec<(String, String)> = steps["costs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["flow"].as_str().unwrap().to_string(),
                r["step"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        ("costs_order", "thanks"),
        ("costs_order", "shipped"),
        ("costs_receipt", "receipt"),
        ("costs_hello", "step 1 (line 4)"),
    ] {
        assert!(
            named.contains(&(want.0.to_string(), want.1.to_string())),
            "{named:?}"
        );
    }
    // The metrics count the same predicted cost (only this test's flows: the recorder is
    // shared by the tests of this binary).
    let metrics = metrics_page(&app.http, &app.addr).await;
    let sum = |name: &str, label: &str| -> i64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as i64
    };
    let cost: i64 = ["costs_hello", "costs_receipt", "costs_offer", "costs_order"]
        .iter()
        .map(|f| {
            sum(
                "parley_message_cost_microunits_total{",
                &format!("flow=\"{f}\""),
            )
        })
        .sum();
    assert_eq!(cost, expected_total, "{metrics}");
    assert!(sum("parley_messages_priced_total{", "type=\"free_entry_point\"") >= free_entry);
    // Bad groupings and times are refused with the field named.
    let (status, body) = call(&app, "GET", "/api/costs?by=contact", None).await;
    assert_eq!(status, 422, "{body:#}");
    assert!(body.to_string().contains("by"), "{body:#}");
    let (status, _) = call(&app, "GET", "/api/costs?since=yesterday", None).await;
    assert_eq!(status, 422);
    app.shutdown().await;
}

/// Waits until `n` messages are queued and each has its status back with `pricing` (so the
/// sandbox priced it at the clock's time, before the clock moves on).
async fn settle(app: &TestApp, n: i64) {
    let mut last = Value::Null;
    for _ in 0..400 {
        let t = costs(app, "sender").await["total"].clone();
        if micros(&t, "messages") == n && micros(&t, "priced") == n {
            return;
        }
        last = t;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let flows = costs(app, "step").await;
    panic!("expected {n} messages sent and priced, have {last:#}\nby step: {flows:#}");
}
