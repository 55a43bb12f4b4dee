//! The explanation agrees with the index on every input, lists triggers in precedence
//! order, and names the nearest trigger when nothing matched.

use crate::domain::{InboundContent, MediaKind, Referral};
use crate::flows::*;
use std::path::Path;
use std::time::Duration;

const EXTRA: &[(&str, &str)] = &[
    (
        "refund.yaml",
        "id: refund\npriority: 5\ntriggers:\n  - { keyword: [refund, money back], match: contains }\nsteps:\n  - send: refund\n",
    ),
    (
        "stop.yaml",
        "id: stopper\ntriggers:\n  - { keyword: [halt], match: whole, interrupt: true }\n  - type: [image, location]\nsteps:\n  - send: stopped\n",
    ),
    (
        "zz_fallback.yaml",
        "id: zz_fallback\npriority: -1\ntriggers:\n  - fallback: true\n  - new_contact: true\n  - referral: [ad1]\nsteps:\n  - send: what?\n",
    ),
];

/// The example flows of the repository plus a few that exercise every kind of trigger.
fn flow_set(extra: &[(&str, &str)]) -> (FlowSet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    let examples = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("flows");
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, flows.join(path.file_name().unwrap())).unwrap();
        }
    }
    // The example assistant's knowledge, where its flow names it.
    let knowledge = dir.path().join("knowledge");
    std::fs::create_dir_all(&knowledge).unwrap();
    for entry in std::fs::read_dir(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("knowledge"),
    )
    .unwrap()
    {
        let path = entry.unwrap().path();
        std::fs::copy(&path, knowledge.join(path.file_name().unwrap())).unwrap();
    }
    for (name, text) in extra {
        std::fs::write(flows.join(name), text).unwrap();
    }
    let templates = crate::config::Config::embedded_default().templates;
    let report = load_dir(&LoadSettings {
        dir: &flows,
        scripts_dir: &Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("scripts"),
        templates: &templates,
        window: Duration::from_secs(24 * 3600),
        overrides: None,
    });
    assert_eq!(report.errors(), 0, "{}", report.render());
    (report.set.unwrap(), dir)
}

fn text(s: &str) -> InboundContent {
    InboundContent::Text { body: s.into() }
}

fn input<'a>(content: &'a InboundContent, waiting: bool) -> MatchInput<'a> {
    MatchInput {
        content,
        referral: None,
        new_contact: false,
        waiting,
    }
}

#[test]
fn the_winner_is_always_the_index_winner() {
    let (set, _dir) = flow_set(EXTRA);
    let words = [
        "hi", "Hola!", "menú", "order", "#4821", "quote", "agent", "refund", "money", "back",
        "halt", "cart", "ping", "pong", "hepl", "please", "stop", "where is", "START",
    ];
    let mut contents: Vec<InboundContent> = Vec::new();
    for a in words {
        contents.push(text(a));
        for b in words {
            contents.push(text(&format!("{a} {b}")));
            contents.push(text(&format!("{b}, {a} now")));
        }
    }
    for id in ["main_menu", "orders", "nope"] {
        contents.push(InboundContent::ButtonReply {
            id: id.into(),
            title: "Menu".into(),
        });
        contents.push(InboundContent::QuickReply {
            payload: id.into(),
            text: "order".into(),
        });
    }
    contents.push(InboundContent::Media {
        media: MediaKind::Image,
        media_id: None,
        url: None,
        mime_type: None,
        sha256: None,
        caption: Some("refund please".into()),
        filename: None,
        voice: false,
    });
    let ad = Referral {
        source_url: None,
        source_id: Some("ad1".into()),
        source_type: None,
        headline: None,
        body: None,
        ctwa_clid: None,
    };
    let mut checked = 0;
    for content in &contents {
        for waiting in [false, true] {
            for new_contact in [false, true] {
                for referral in [None, Some(&ad)] {
                    let input = MatchInput {
                        content,
                        referral,
                        new_contact,
                        waiting,
                    };
                    let best = set.best_match(&input);
                    let explained = set.explain(&input);
                    let winner = explained.verdicts.iter().find(|v| v.winner);
                    match (&best, winner) {
                        (None, None) => {}
                        (Some(b), Some(w)) => {
                            assert_eq!(
                                (b.candidate.flow, b.candidate.trigger, b.candidate.rank as u8),
                                (w.key.2, w.key.3, w.key.1),
                                "{content:?} waiting={waiting}: index chose {} but explain chose {}",
                                b.flow.id,
                                w.flow
                            );
                        }
                        _ => panic!(
                            "{content:?} waiting={waiting}: index {:?} vs explain {:?}",
                            best.map(|b| b.flow.id.clone()),
                            winner.map(|w| w.flow.clone())
                        ),
                    }
                    assert_eq!(explained.winner, best.map(|b| b.flow.id.clone()));
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000);
}

#[test]
fn lists_every_trigger_in_precedence_order_with_reasons() {
    let (set, _dir) = flow_set(EXTRA);
    let msg = text("Hola, I want my money back");
    let e = set.explain(&input(&msg, false));
    let total: usize = set.flows().iter().map(|f| f.triggers.len()).sum();
    assert_eq!(e.verdicts.len(), total);
    assert!(e.verdicts.windows(2).all(|w| w[0].key <= w[1].key));
    // refund has priority 5: it is listed first and wins over welcome's first word.
    assert_eq!(e.verdicts[0].flow, "refund");
    assert_eq!(e.winner.as_deref(), Some("refund"));
    assert_eq!(e.normalized, "hola i want my money back");
    let welcome = e
        .verdicts
        .iter()
        .find(|v| v.flow == "welcome" && v.trigger.starts_with("keyword"))
        .unwrap();
    assert!(welcome.matched && !welcome.winner);
    assert_eq!(welcome.why, "keyword `hola` = first word `hola`");
    assert_eq!(welcome.file.rsplit('/').next(), Some("welcome.yaml"));
    assert_eq!(welcome.line, 7);
    let ping = e.verdicts.iter().find(|v| v.flow == "ping").unwrap();
    assert_eq!(
        ping.why,
        "keyword `ping` ≠ first word `hola` (nor the whole message)"
    );
    let regex = e
        .verdicts
        .iter()
        .find(|v| v.trigger.starts_with("regex"))
        .unwrap();
    assert_eq!(
        regex.why,
        r"regex `#\s*(?P<order_id>\d{3,10})` did not match"
    );
    assert_eq!(regex.compared, "Hola, I want my money back");
}

#[test]
fn a_waiting_conversation_only_counts_interrupting_triggers() {
    let (set, _dir) = flow_set(EXTRA);
    let msg = text("menu");
    let e = set.explain(&input(&msg, true));
    assert_eq!(e.winner, None);
    let welcome = e
        .verdicts
        .iter()
        .find(|v| v.flow == "welcome" && v.trigger.starts_with("keyword"))
        .unwrap();
    assert!(welcome.matched && !welcome.counted);
    assert!(
        welcome
            .why
            .ends_with("not an interrupting trigger (`interrupt: true`)"),
        "{}",
        welcome.why
    );
    assert_eq!(e.nearest.as_ref().unwrap().flow, "welcome");
    assert!(e.outcome.contains("answer to the question"));
    let agent = text("agent");
    assert_eq!(
        set.explain(&input(&agent, true)).winner.as_deref(),
        Some("human_handoff")
    );
}

#[test]
fn a_message_that_matched_nothing_names_the_nearest_trigger_and_why() {
    let (set, _dir) = flow_set(&[]);
    let msg = text("I need a qoute please");
    let e = set.explain(&input(&msg, false));
    assert_eq!(e.winner, None);
    assert!(e.verdicts.iter().all(|v| !v.matched));
    let n = e.nearest.unwrap();
    assert_eq!((n.flow.as_str(), n.line), ("lead_capture", 6));
    assert_eq!(
        n.why,
        "the word `qoute` is 1 letter away from the keyword `quote` (a typo?); keywords must match exactly after folding case, accents and punctuation"
    );
    let later = text("show me the menu");
    let n = set.explain(&input(&later, false)).nearest.unwrap();
    assert_eq!(n.flow, "welcome");
    assert_eq!(
        n.why,
        "`menu` is word 4 of the message, but this keyword only matches the whole message or its first word; add `match: contains` to match it anywhere"
    );
    let e = set.explain(&input(&later, false));
    assert_eq!(
        e.outcome,
        "no flow starts: nothing matched and no flow has a `fallback` trigger"
    );
}

#[test]
fn button_taps_and_message_types_are_explained() {
    let (set, _dir) = flow_set(EXTRA);
    let tap = InboundContent::ButtonReply {
        id: "main_menu".into(),
        title: "Main menu".into(),
    };
    let e = set.explain(&input(&tap, false));
    assert_eq!(e.winner.as_deref(), Some("welcome"));
    let w = e.verdicts.iter().find(|v| v.winner).unwrap();
    assert_eq!(w.why, "tapped id `main_menu` is one of this trigger's ids");
    let loc = InboundContent::Location {
        latitude: 1.0,
        longitude: 2.0,
        name: None,
        address: None,
        url: None,
    };
    let e = set.explain(&input(&loc, false));
    assert_eq!(e.winner.as_deref(), Some("stopper"));
    let kw = e.verdicts.iter().find(|v| v.flow == "ping").unwrap();
    assert_eq!(kw.why, "the message has no text to compare with");
    let rendered = e.render();
    assert!(rendered.contains("WINNER stopper"), "{rendered}");
    assert!(rendered.contains("window_closing 1h"), "{rendered}");
}
