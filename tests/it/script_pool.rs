//! Scripts run on a pool of their own: webhooks are acknowledged while every script thread
//! is busy, and a script over its size budget fails its step, nothing else.

use crate::helpers::*;
use std::time::Duration;

/// Copies 64 KB strings until its time budget (250 ms of CPU time) stops it, then takes
/// `on_error`.
const BURN: &str = "id: burn\ntriggers: [{keyword: [burn]}]\nsteps:\n  - script: { code: \"let s = \\\"x\\\"; for i in 0..15 { s += s; } loop { let t = s + s; }\", on_error: done }\n  - id: done\n    send: burned\n";

/// 10,000 distinct 32 KB strings in one map (320 MB), each under the per-value limits.
const BIG: &str = "id: big\ntriggers: [{keyword: [big]}]\nsteps:\n  - script: { code: \"let s = \\\"x\\\"; for i in 0..15 { s += s; } let m = #{}; for i in 0..10000 { m[`k${i}`] = s + i; } vars.big = m;\", on_error: oops }\n  - send: never\n  - id: oops\n    send: \"too big: {{ vars.big }}\"\n";

async fn count_body(app: &TestApp, body: &str) -> usize {
    app.meta_sends()
        .await
        .iter()
        .filter(|s| body_text(s) == body)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_acknowledged_while_every_script_thread_is_busy() {
    let app = spawn_with(Options {
        flows: vec![("burn.yaml", BURN), ("echo.yaml", ECHO_FLOW)],
        extra_yaml: "scripts: { threads: 1, queue: 256 }".into(),
        ..Default::default()
    })
    .await;
    // 64 scripts of 250 ms each on one thread: about 16 s of script work.
    const BURNS: usize = 64;
    for i in 0..BURNS {
        let from = format!("1631555{:04}", 2000 + i);
        let r = app
            .post_meta(&meta_text(
                &from,
                &format!("wamid.burn.{i}"),
                "burn",
                now_unix(),
            ))
            .await;
        assert_eq!(r.status(), 200);
    }
    eventually(
        Duration::from_secs(20),
        "the first script finishes",
        || async { (count_body(&app, "burned").await > 0).then_some(()) },
    )
    .await;
    // The script thread is busy now; other contacts' webhooks are answered one after
    // the other, each without waiting for the scripts.
    for i in 0..30 {
        let from = format!("4477009{:05}", 10_000 + i);
        let r = app
            .post_meta(&meta_text(
                &from,
                &format!("wamid.ack.{i}"),
                "hi there",
                now_unix(),
            ))
            .await;
        assert_eq!(r.status(), 200);
    }
    let finished = count_body(&app, "burned").await;
    assert!(
        finished < BURNS / 2,
        "30 acknowledgements waited for the scripts: {finished} of {BURNS} had finished by then"
    );
    // Every script still ends (its time budget stops it) and takes its error path: 16 s
    // of CPU time, and up to a second of wall time each while a loaded machine gives
    // the low-priority script thread little of a core.
    app.wait_meta_sends(BURNS + 30, Duration::from_secs(120))
        .await;
    assert_eq!(count_body(&app, "burned").await, BURNS);
    app.shutdown().await;
}

fn rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_building_a_320_mb_map_fails_its_step_and_memory_stays_bounded() {
    let app = spawn_with(Options {
        flows: vec![("big.yaml", BIG), ("echo.yaml", ECHO_FLOW)],
        ..Default::default()
    })
    .await;
    let before = rss_mb();
    for i in 0..8 {
        let from = format!("1631555{:04}", 3000 + i);
        app.post_meta(&meta_text(
            &from,
            &format!("wamid.big.{i}"),
            "big",
            now_unix(),
        ))
        .await;
    }
    let sends = app.wait_meta_sends(8, Duration::from_secs(60)).await;
    assert!(
        sends.iter().all(|s| body_text(s) == "too big: "),
        "{sends:?}"
    );
    let grew = rss_mb().saturating_sub(before);
    assert!(grew < 150, "RSS grew by {grew} MB");
    // The conversation goes on.
    app.post_meta(&meta_text(
        "16315553000",
        "wamid.big.after",
        "hi again",
        now_unix(),
    ))
    .await;
    let sends = app.wait_meta_sends(9, Duration::from_secs(20)).await;
    assert!(sends.iter().any(|s| body_text(s) == "echo: hi again"));
    app.shutdown().await;
}
