//! Flows end to end: durable runs across restarts, hot reload, runaway scripts.

use crate::helpers::*;
use std::time::Duration;

const LEAD: &str = "id: lead\ntriggers: [{keyword: [join]}]\nsteps:\n  - ask: { text: \"Your email?\", expect: email, save_as: email }\n  - send: \"Thanks {{ vars.email }}\"\n";

async fn texts_to(app: &TestApp, to: &str, n: usize) -> Vec<String> {
    let sends = eventually(
        Duration::from_secs(10),
        &format!("{n} replies to {to}"),
        || async {
            let s: Vec<String> = app
                .meta_sends()
                .await
                .iter()
                .filter(|s| s["to"] == to)
                .map(|s| body_text(s).to_string())
                .collect();
            (s.len() >= n).then_some(s)
        },
    )
    .await;
    sends
}

#[tokio::test]
async fn a_restart_in_the_middle_of_an_ask_resumes_it() {
    let app = spawn_with(Options {
        flows: vec![("lead.yaml", LEAD)],
        ..Default::default()
    })
    .await;
    app.post_meta(&meta_text("16315551181", "wamid.l.1", "join", now_unix()))
        .await;
    assert_eq!(texts_to(&app, "16315551181", 1).await, vec!["Your email?"]);
    let app = app.restart().await;
    app.post_meta(&meta_text(
        "16315551181",
        "wamid.l.2",
        "ana@example.com",
        now_unix(),
    ))
    .await;
    assert_eq!(
        texts_to(&app, "16315551181", 2).await,
        vec!["Your email?", "Thanks ana@example.com"]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_broken_hot_reload_keeps_the_old_flows_and_a_fixed_one_takes_over() {
    let app = spawn_with(Options {
        flows: vec![(
            "ping.yaml",
            "id: ping\ntriggers: [{keyword: [ping]}]\nsteps: [{send: pong}]\n",
        )],
        ..Default::default()
    })
    .await;
    let file = app.flows_dir().join("ping.yaml");
    std::fs::write(
        &file,
        "id: ping\ntriggers: [{keyword: [ping]}]\nsteps: [{sned: broken}]\n",
    )
    .unwrap();
    let ready = eventually(
        Duration::from_secs(10),
        "readyz to report the broken file",
        || async {
            let r: serde_json::Value = app
                .http
                .get(format!("{}/readyz", app.addr))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (r["flows"]["stale"] == true).then_some(r)
        },
    )
    .await;
    assert!(
        ready["flows"]["problems"][0]
            .as_str()
            .unwrap()
            .contains("`sned` is not a step"),
        "{ready}"
    );
    // Readiness stays 200 (the process still takes webhooks); the metric is what to alert on.
    let page = metrics_page(&app.http, &app.addr).await;
    assert_eq!(metric_value(&page, "parley_flows_stale"), 1.0, "{page}");
    app.post_meta(&meta_text("16315551181", "wamid.h.1", "ping", now_unix()))
        .await;
    assert_eq!(
        texts_to(&app, "16315551181", 1).await,
        vec!["pong"],
        "the old flow still answers"
    );
    std::fs::write(
        &file,
        "id: ping\ntriggers: [{keyword: [ping]}]\nsteps: [{send: pong v2}]\n",
    )
    .unwrap();
    eventually(
        Duration::from_secs(10),
        "the fixed flow to load",
        || async {
            let r: serde_json::Value = app
                .http
                .get(format!("{}/readyz", app.addr))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (r["flows"]["stale"] == false).then_some(())
        },
    )
    .await;
    app.post_meta(&meta_text("16315551181", "wamid.h.2", "ping", now_unix()))
        .await;
    assert_eq!(
        texts_to(&app, "16315551181", 2).await,
        vec!["pong", "pong v2"]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_runaway_script_fails_its_step_while_the_daemon_keeps_answering() {
    let spin = "id: spin\ntriggers: [{keyword: [spin]}]\nsteps:\n  - script: { code: \"let i = 0; loop { i += 1; }\", on_error: oops }\n  - send: never\n  - id: oops\n    send: \"That took too long, sorry.\"\n";
    let ping = "id: ping\ntriggers: [{keyword: [ping]}]\nsteps: [{send: pong}]\n";
    let app = spawn_with(Options {
        flows: vec![("spin.yaml", spin), ("ping.yaml", ping)],
        ..Default::default()
    })
    .await;
    app.post_meta(&meta_text("16315551181", "wamid.s.1", "spin", now_unix()))
        .await;
    app.post_meta(&meta_text("447700900123", "wamid.s.2", "ping", now_unix()))
        .await;
    assert_eq!(texts_to(&app, "447700900123", 1).await, vec!["pong"]);
    assert_eq!(
        texts_to(&app, "16315551181", 1).await,
        vec!["That took too long, sorry."]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn parley_check_prints_problems_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    std::fs::write(
        dir.path().join("flows/bad.yaml"),
        "id: bad\nsteps:\n  - goto: nowhere\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("check")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "flows/bad.yaml:3:11: error: there is no step with id `nowhere` in this flow"
        ),
        "{text}"
    );
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("check")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "the example flows pass check: {}",
        String::from_utf8_lossy(&ok.stdout)
    );
}
