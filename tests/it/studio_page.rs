//! The `/studio` page in a real headless Chromium (`tests/browser/studio.mjs`, driven by
//! playwright-core like the sandbox page's test): on a copy of the example flows in a
//! temporary project folder, an author types a mistake, sees it at its line, takes the
//! quick fix, watches the drawing change, chats with the unsaved text and sees its trace,
//! runs the tests, saves (the live sandbox then answers the new text), is refused a save
//! from a second tab over the first one's with both versions shown, and restores the
//! previous version. The screenshots go to `docs/screenshots/studio-*.png` with
//! `PARLEY_UPDATE_SCREENSHOTS=1` (for the README), else to the target folder.

use crate::helpers::*;
use crate::sandbox_page::{browser_or_skip, screenshots_dir};

/// The example project's flows the test's flows lead to (`welcome` routes to the others),
/// and their tests.
const FLOWS: [(&str, &str); 5] = [
    ("ping.yaml", include_str!("../../flows/ping.yaml")),
    ("welcome.yaml", include_str!("../../flows/welcome.yaml")),
    (
        "lead_capture.yaml",
        include_str!("../../flows/lead_capture.yaml"),
    ),
    (
        "order_status.yaml",
        include_str!("../../flows/order_status.yaml"),
    ),
    (
        "human_handoff.yaml",
        include_str!("../../flows/human_handoff.yaml"),
    ),
];

const TESTS: [(&str, &str); 2] = [
    (
        "flows/tests/ping.test.yaml",
        include_str!("../../flows/tests/ping.test.yaml"),
    ),
    (
        "flows/tests/welcome.test.yaml",
        include_str!("../../flows/tests/welcome.test.yaml"),
    ),
];

/// The screenshots the browser test takes (`docs/screenshots/<name>.png`).
const SHOTS: [&str; 5] = [
    "studio",
    "studio-diagnostic",
    "studio-tests",
    "studio-conflict",
    "studio-history",
];

/// A flow of `steps` steps (`step 1` … `step N`), an answer every tenth one, for the page
/// to draw and follow.
fn long_flow(steps: usize) -> String {
    let mut yaml = String::from("id: long\ntriggers: [{ keyword: [long] }]\nsteps:\n");
    for n in 1..=steps {
        if n % 10 == 0 {
            yaml.push_str(&format!(
                "  - ask: {{ text: \"step {n}?\", save_as: a{n}, timeout: 1h }}\n"
            ));
        } else {
            yaml.push_str(&format!("  - send: \"step {n}\"\n"));
        }
    }
    yaml
}

#[tokio::test]
async fn an_author_edits_tries_tests_saves_and_restores_a_flow_in_the_studio() {
    if !browser_or_skip("skipping the browser studio test") {
        return;
    }
    let mut files = TESTS.to_vec();
    files.push((
        "flows/long.yaml",
        Box::leak(long_flow(200).into_boxed_str()),
    ));
    let app = spawn_with(Options {
        flows: FLOWS.to_vec(),
        files,
        ..Default::default()
    })
    .await;
    let ping = app.flows_dir().join("ping.yaml");
    let shots = screenshots_dir(true);
    std::fs::create_dir_all(&shots).unwrap();
    for name in SHOTS {
        let _ = std::fs::remove_file(shots.join(format!("{name}.png")));
    }
    let args = vec![
        app.addr.clone(),
        shots.display().to_string(),
        env!("CARGO_TARGET_TMPDIR").to_string(),
    ];
    crate::browser::run_node("studio.mjs", args).await;
    // What the page saved last is on disk: the restored first save with its mistake (saved,
    // not loaded), not the second tab's refused text.
    let text = std::fs::read_to_string(&ping).unwrap();
    assert!(text.ends_with("  - sned: \"See you soon\""), "{text}");
    assert!(!text.contains("Mine"), "{text}");
    for name in SHOTS {
        let shot = shots.join(format!("{name}.png"));
        assert!(shot.exists(), "{} is missing", shot.display());
        eprintln!("screenshot: {}", shot.display());
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_studio_page_and_its_assets_come_from_the_binary() {
    let app = spawn_app().await;
    let get = |path: &'static str| app.http.get(format!("{}{path}", app.addr)).send();
    let page = get("/studio").await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    // Offline: nothing is fetched from anywhere but Parley.
    assert!(!html.contains("http://") && !html.contains("https://"));
    for (name, kind, has) in [
        ("editor.js", "text/javascript", "StudioEditor"),
        ("studio.js", "text/javascript", "/studio/api/"),
        ("graph.js", "text/javascript", "StudioGraph"),
        ("studio.css", "text/css", "#graph"),
        ("LICENSES.txt", "text/plain", "@codemirror/view"),
    ] {
        assert!(html.contains(&format!("/studio/assets/{name}")) || name == "LICENSES.txt");
        let r = app
            .http
            .get(format!("{}/studio/assets/{name}", app.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with(kind), "{name}: {content_type}");
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age"));
        assert!(r.text().await.unwrap().contains(has), "{name}");
    }
    let missing = get("/studio/assets/nothing.js").await.unwrap();
    assert_eq!(missing.status(), 404);
    app.shutdown().await;
}
