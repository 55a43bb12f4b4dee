//! Reading a stored event: serde's derived internally tagged enum (which buffers the whole
//! object first) against `EventKind`'s reader (`domain/tagged.rs`: no buffer when the tag
//! comes first, as Parley writes it). Prints the median time per event of each over
//! several rounds.
//!
//! `cargo run --release --example event_parse_bench`

use chrono::{DateTime, Utc};
use parley::domain::event::{EventKind, TimerFire};
use parley::domain::{ContactRef, InboundContent, InboundMessage, PhoneNumber};
use serde::Deserialize;
use std::hint::black_box;
use std::time::Instant;

/// `EventKind` as serde derives it.
#[derive(Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[allow(dead_code, clippy::large_enum_variant)]
enum Derived {
    Message(InboundMessage),
    Timer(TimerFire),
}

fn main() {
    let at: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().expect("a time");
    let event = EventKind::Message(InboundMessage {
        provider_message_id: "wamid.HBgLMTQxNTU1NTAxMDAVAgASGBQzQTg3RjU2QjQ1RTY3ODkwQUJDRAA="
            .into(),
        from: ContactRef::Phone(PhoneNumber::parse("+14155550100").expect("a number")),
        profile_name: Some("Ana Lima".into()),
        username: None,
        timestamp: Some(at),
        content: InboundContent::Text {
            body: "Hi, where is my order 48213? It was due yesterday.".into(),
        },
        context: None,
        referral: None,
    });
    let text = serde_json::to_string(&event).expect("json");
    println!("{} bytes: {text}", text.len());
    let n = 200_000;
    let mut derived = Vec::new();
    let mut tagged = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..n {
            black_box(serde_json::from_str::<Derived>(black_box(&text)).expect("derived"));
        }
        derived.push(t.elapsed().as_nanos() as f64 / n as f64);
        let t = Instant::now();
        for _ in 0..n {
            black_box(serde_json::from_str::<EventKind>(black_box(&text)).expect("tagged"));
        }
        tagged.push(t.elapsed().as_nanos() as f64 / n as f64);
    }
    derived.sort_by(f64::total_cmp);
    tagged.sort_by(f64::total_cmp);
    println!(
        "per event, median of 7 rounds of {n}: derived {:.0} ns, tag first {:.0} ns",
        derived[3], tagged[3]
    );
}
