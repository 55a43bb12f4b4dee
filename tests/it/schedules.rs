//! Timers, the window decided at send time, and schedules, on a manual clock.

use crate::helpers::*;
use parley::domain::DeliveryStatus;
use std::time::Duration;

/// The manual clock starts at 2026-01-01T00:00:30Z.
const T0: i64 = 1_767_225_630;

fn clock_app_flows(flows: Vec<(&'static str, &'static str)>) -> Options {
    Options {
        manual_clock: true,
        flows,
        ..Default::default()
    }
}

async fn sent_to(app: &TestApp, to: &str) -> Vec<serde_json::Value> {
    app.meta_sends()
        .await
        .into_iter()
        .filter(|s| s["to"] == to)
        .collect()
}

async fn wait_sent_to(app: &TestApp, to: &str, n: usize) -> Vec<serde_json::Value> {
    eventually(
        Duration::from_secs(10),
        &format!("{n} sends to {to}"),
        || async {
            let s = sent_to(app, to).await;
            (s.len() >= n).then_some(s)
        },
    )
    .await
}

fn advance(app: &TestApp, by: chrono::Duration) {
    app.clock.as_ref().expect("manual clock").advance(by);
}

#[tokio::test]
async fn ask_timeout_and_delay_run_on_the_clock() {
    let quiz = "id: quiz\ntriggers: [{keyword: [quiz]}]\nsteps:\n  - ask: { text: \"Ready?\", save_as: r, timeout: 10m, on_timeout: nudge }\n  - send: Great\n  - end: {}\n  - id: nudge\n    send: \"Still there?\"\n";
    let later = "id: later\ntriggers: [{keyword: [later]}]\nsteps:\n  - send: one\n  - delay: 1h\n  - send: two\n";
    let app = spawn_with(clock_app_flows(vec![
        ("quiz.yaml", quiz),
        ("later.yaml", later),
    ]))
    .await;
    app.post_meta(&meta_text("16315551181", "wamid.q.1", "quiz", T0))
        .await;
    app.post_meta(&meta_text("447700900123", "wamid.q.2", "later", T0))
        .await;
    wait_sent_to(&app, "16315551181", 1).await;
    wait_sent_to(&app, "447700900123", 1).await;
    advance(&app, chrono::Duration::minutes(9));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sent_to(&app, "16315551181").await.len(),
        1,
        "no nudge before the timeout"
    );
    advance(&app, chrono::Duration::minutes(2));
    let quiz_sends = wait_sent_to(&app, "16315551181", 2).await;
    assert_eq!(body_text(&quiz_sends[1]), "Still there?");
    assert_eq!(
        sent_to(&app, "447700900123").await.len(),
        1,
        "the delay is an hour"
    );
    advance(&app, chrono::Duration::minutes(50));
    let later_sends = wait_sent_to(&app, "447700900123", 2).await;
    assert_eq!(body_text(&later_sends[1]), "two");
    app.shutdown().await;
}

#[tokio::test]
async fn a_send_at_23h59m_goes_free_form_and_at_24h01m_as_the_template() {
    let flow = |id: &str, delay: &str| {
        format!("id: {id}\ntriggers: [{{keyword: [{id}]}}]\nsteps:\n  - delay: {delay}\n  - send:\n      text: \"Anything else?\"\n      if_window_closed: {{ template: menu_reminder, variables: {{ \"1\": \"{{{{ contact.name }}}}\" }} }}\n")
    };
    let early: &'static str = Box::leak(flow("early", "23h 59m").into_boxed_str());
    let late: &'static str = Box::leak(flow("late", "24h 1m").into_boxed_str());
    let app = spawn_with(clock_app_flows(vec![
        ("early.yaml", early),
        ("late.yaml", late),
    ]))
    .await;
    app.post_meta(&meta_text("16315551181", "wamid.w.1", "early", T0))
        .await;
    app.post_meta(&meta_text("447700900123", "wamid.w.2", "late", T0))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    advance(&app, chrono::Duration::minutes(23 * 60 + 59));
    let early_sends = wait_sent_to(&app, "16315551181", 1).await;
    assert_eq!(early_sends[0]["type"], "text");
    assert_eq!(body_text(&early_sends[0]), "Anything else?");
    advance(&app, chrono::Duration::minutes(2));
    let late_sends = wait_sent_to(&app, "447700900123", 1).await;
    assert_eq!(late_sends[0]["type"], "template", "{:#}", late_sends[0]);
    assert_eq!(late_sends[0]["template"]["name"], "menu_reminder");
    assert_eq!(
        late_sends[0]["template"]["components"][0]["parameters"][0]["text"],
        "Tester"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_async_131047_runs_the_template_fallback_once_even_if_the_status_comes_twice() {
    let flow = "id: hi\ntriggers: [{keyword: [hello]}]\nsteps:\n  - send:\n      text: \"Hello!\"\n      if_window_closed: { template: menu_reminder, variables: { \"1\": \"friend\" } }\n";
    let app = spawn_with(clock_app_flows(vec![("hi.yaml", flow)])).await;
    app.post_meta(&meta_text("16315551181", "wamid.a.1", "hello", T0))
        .await;
    wait_sent_to(&app, "16315551181", 1).await;
    let conv = app
        .store
        .find_conversation(1, "+16315551181")
        .await
        .unwrap()
        .unwrap();
    let msg = eventually(Duration::from_secs(5), "accepted", || async {
        let m = app
            .store
            .conversation_outbound(conv.id, None, 1)
            .await
            .unwrap()
            .pop()?;
        (m.status == DeliveryStatus::Accepted).then_some(m)
    })
    .await;
    let wamid = msg.provider_message_id.unwrap();
    // The metrics are the process's: other tests may add to them, never take away.
    let counted = |page: &str, series: &str| metric_value_or_none(page, series).unwrap_or(0.0);
    let failed_series = "parley_messages_failed_total{code=\"131047\"}";
    let converted_series = "parley_messages_converted_to_template_total";
    let before = metrics_page(&app.http, &app.addr).await;
    for _ in 0..2 {
        assert_eq!(
            app.post_meta(&meta_status(&wamid, "failed", Some(131047), T0 + 5))
                .await
                .status(),
            200
        );
    }
    let sends = wait_sent_to(&app, "16315551181", 2).await;
    assert_eq!(sends[1]["type"], "template");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sent_to(&app, "16315551181").await.len(),
        2,
        "the fallback ran once"
    );
    let failed = app.store.outbound(msg.id).await.unwrap().unwrap();
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert!(failed.window_closed);
    // A failure reported by a status counts like one the send's answer gave.
    let after = metrics_page(&app.http, &app.addr).await;
    assert!(
        counted(&after, failed_series) >= counted(&before, failed_series) + 1.0,
        "{after}"
    );
    assert!(
        counted(&after, converted_series) >= counted(&before, converted_series) + 1.0,
        "{after}"
    );
    app.shutdown().await;
}

const TAG_CART: &str = "id: tag\ntriggers: [{keyword: [cart]}]\nsteps:\n  - tag: cart\n  - send: \"Saved your cart\"\n";

fn reminder(id: &str, missed: &str) -> &'static str {
    Box::leak(
        format!(
            "id: {id}\nschedule:\n  cron: \"0 10 * * *\"\n  timezone: Europe/Madrid\n  sender: 1\n  missed: {missed}\n  audience: {{ tags: [cart] }}\nsteps:\n  - send:\n      text: \"Your cart misses you\"\n      if_window_closed: {{ template: menu_reminder, variables: {{ \"1\": \"{id}\" }} }}\n"
        )
        .into_boxed_str(),
    )
}

#[tokio::test]
async fn a_cron_schedule_reaches_its_audience_once_and_honours_opt_out() {
    let app = spawn_with(clock_app_flows(vec![
        ("tag.yaml", TAG_CART),
        ("remind.yaml", reminder("remind", "run_once")),
    ]))
    .await;
    // A and B tag themselves; B then opts out; C never tags.
    app.post_meta(&meta_text("16315551181", "wamid.c.1", "cart", T0))
        .await;
    app.post_meta(&meta_text("447700900123", "wamid.c.2", "cart", T0))
        .await;
    app.post_meta(&meta_text("447700900124", "wamid.c.3", "hello there", T0))
        .await;
    wait_sent_to(&app, "447700900123", 1).await;
    app.post_meta(&meta_text("447700900123", "wamid.c.4", "STOP", T0 + 1))
        .await;
    let stop = wait_sent_to(&app, "447700900123", 2).await;
    assert!(
        body_text(&stop[1]).contains("won't receive"),
        "{:#}",
        stop[1]
    );
    // 10:00 in Madrid on 2026-01-01 is 09:00 UTC.
    advance(&app, chrono::Duration::seconds(9 * 3600 - 30 + 1));
    let a = wait_sent_to(&app, "16315551181", 2).await;
    assert_eq!(
        a[1]["type"], "text",
        "the window is still open at 10:00: free-form"
    );
    assert_eq!(body_text(&a[1]), "Your cart misses you");
    advance(&app, chrono::Duration::minutes(5));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sent_to(&app, "16315551181").await.len(),
        2,
        "one fire, one message"
    );
    assert_eq!(
        sent_to(&app, "447700900123").await.len(),
        2,
        "opted out: nothing scheduled"
    );
    assert!(
        sent_to(&app, "447700900124").await.is_empty(),
        "not in the audience"
    );
    // The next day the window is closed: the template goes out.
    advance(&app, chrono::Duration::hours(24));
    let a = wait_sent_to(&app, "16315551181", 3).await;
    assert_eq!(a[2]["type"], "template");
    app.shutdown().await;
}

#[tokio::test]
async fn missed_fires_run_once_or_are_skipped_as_declared() {
    let app = spawn_with(clock_app_flows(vec![
        ("tag.yaml", TAG_CART),
        ("once.yaml", reminder("once", "run_once")),
        ("skip.yaml", reminder("skip", "skip")),
    ]))
    .await;
    app.post_meta(&meta_text("16315551181", "wamid.m.1", "cart", T0))
        .await;
    wait_sent_to(&app, "16315551181", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Parley is down for three days, missing three 10:00 fires of each schedule.
    let app = app.restart_after(chrono::Duration::days(3)).await;
    let sends = wait_sent_to(&app, "16315551181", 2).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let sends_after = sent_to(&app, "16315551181").await;
    assert_eq!(
        sends_after.len(),
        2,
        "run_once runs one of the missed fires; skip runs none: {sends_after:#?}"
    );
    assert_eq!(
        sends[1]["template"]["components"][0]["parameters"][0]["text"],
        "once"
    );
    app.shutdown().await;
}

/// A clock moved by hand while Parley runs (the sandbox's clock buttons) is not downtime:
/// a `missed: skip` schedule whose fire the jump passed runs, once.
#[tokio::test]
async fn a_clock_jump_while_running_fires_a_skip_schedule_once() {
    let app = spawn_with(clock_app_flows(vec![
        ("tag.yaml", TAG_CART),
        ("skip.yaml", reminder("skip", "skip")),
    ]))
    .await;
    app.post_meta(&meta_text("16315551181", "wamid.j.1", "cart", T0))
        .await;
    wait_sent_to(&app, "16315551181", 1).await;
    // Rounds of the scheduler have seen 00:00; the clock jumps to 12:30 Madrid, 2.5 hours
    // past the 10:00 fire.
    tokio::time::sleep(Duration::from_millis(300)).await;
    advance(&app, chrono::Duration::seconds(11 * 3600 + 30 * 60 - 30));
    let sends = wait_sent_to(&app, "16315551181", 2).await;
    assert_eq!(body_text(&sends[1]), "Your cart misses you");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sent_to(&app, "16315551181").await.len(), 2, "once");
    app.shutdown().await;
}
