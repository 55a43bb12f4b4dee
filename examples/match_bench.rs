//! Trigger matching with many flows: loads N keyword/regex/contains flows, matches a mix of
//! messages and prints the median and p99 time per message.
//!
//! `cargo run --release --example match_bench -- 10000`

use parley::domain::InboundContent;
use parley::flows::{load_dir, LoadSettings, MatchInput};
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile_dir();
    for i in 0..n {
        let trigger = match i % 4 {
            0 | 1 => format!("{{keyword: [kw{i}, 'greeting{i} friend']}}"),
            2 => format!("{{keyword: [needle{i}], match: contains}}"),
            _ => format!("{{button: btn{i}}}"),
        };
        std::fs::write(
            dir.join(format!("f{i:06}.yaml")),
            format!("id: f{i}\ntriggers: [{trigger}]\nsteps: [{{send: \"reply {i}\"}}]\n"),
        )
        .expect("write flow");
    }
    std::fs::write(
        dir.join("zz_regex.yaml"),
        "id: order\ntriggers: [{regex: 'order #?(?P<id>\\d+)'}]\nsteps: [{send: order}]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("zz_fallback.yaml"),
        "id: fallback\ntriggers: [{fallback: true}]\nsteps: [{send: sorry}]\n",
    )
    .unwrap();
    let t0 = Instant::now();
    let report = load_dir(&LoadSettings {
        dir: &dir,
        scripts_dir: &dir,
        templates: &[],
        window: Duration::from_secs(86400),
        overrides: None,
    });
    let load = t0.elapsed();
    let set = report.set.expect("flows load");
    let messages: Vec<InboundContent> = (0..20_000)
        .map(|i| match i % 5 {
            0 => InboundContent::Text {
                body: format!("KW{} please", (i * 7) % n),
            },
            1 => InboundContent::Text {
                body: format!("I think needle{} is lost", ((i * 13) % (n / 4)) * 4 + 2),
            },
            2 => InboundContent::Text {
                body: format!("where is order #{i}"),
            },
            3 => InboundContent::ButtonReply {
                id: format!("btn{}", ((i * 3) % (n / 4)) * 4 + 3),
                title: "x".into(),
            },
            _ => InboundContent::Text {
                body: "something nobody expects at all".into(),
            },
        })
        .collect();
    let mut times = Vec::with_capacity(messages.len());
    let mut matched = 0;
    for m in &messages {
        let t = Instant::now();
        let hit = set.best_match(&MatchInput {
            content: m,
            referral: None,
            new_contact: false,
            waiting: false,
        });
        times.push(t.elapsed());
        matched += usize::from(hit.is_some());
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "flows: {}  load: {:.2?}  messages: {}  matched: {matched}",
        set.len(),
        load,
        messages.len()
    );
    println!(
        "per message: median {:.2?}  p99 {:.2?}  max {:.2?}",
        pct(0.5),
        pct(0.99),
        times[times.len() - 1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("parley-match-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
