//! Languages in the engine (issue 58): the guess of a customer's language from a first
//! message (whatlang, among a flow's languages), and a text rendered in the contact's
//! language against the same text untranslated.
//!
//! `cargo run --release --example language_bench`

use parley::engine::language::{guess, Tongue};
use parley::engine::render;
use parley::engine::template::Roots;
use parley::flows::{load_dir, LoadSettings};
use serde_json::json;
use std::time::{Duration, Instant};

const MESSAGES: &[&str] = &[
    "hola, quiero saber dónde está mi pedido, por favor",
    "hello, I would like to know where my order is, please",
    "नमस्ते, मेरा ऑर्डर कहाँ है? कृपया बताइए",
    "Buenas tardes, necesito cambiar la dirección de entrega de mi compra",
    "Hi there, can you help me change the delivery address of my purchase?",
    "ok",
    "hola",
    "I paid twice for the same order and would like a refund of the second payment. Thanks!",
];

const FLOW: &str = r#"id: welcome
languages: [en, es, hi]
triggers: [{ keyword: [hi] }]
translations:
  es:
    "Hi {{ contact.name }}! What can I do for you?": "¡Hola {{ contact.name }}! ¿En qué puedo ayudarte?"
    "My order": "Mi pedido"
    "Get a quote": "Pedir presupuesto"
    "Talk to a person": "Hablar con alguien"
    "Please tap one of the buttons, or write MENU to start again.": "Toca uno de los botones, o escribe MENU para empezar de nuevo."
steps:
  - send:
      text: "Hi {{ contact.name }}! What can I do for you?"
      buttons:
        - { id: orders, title: My order }
        - { id: quote, title: Get a quote }
        - { id: human, title: Talk to a person }
  - ask: { save_as: choice, expect: button, retry_text: "Please tap one of the buttons, or write MENU to start again." }
"#;

fn main() {
    let languages = vec!["en".to_string(), "es".into(), "hi".into()];
    let rounds = 20_000;
    let mut found = 0usize;
    let t0 = Instant::now();
    for i in 0..rounds {
        let m = MESSAGES[i % MESSAGES.len()];
        found += usize::from(std::hint::black_box(guess(&languages, m)).is_some());
    }
    let per_guess = t0.elapsed().as_nanos() / rounds as u128;
    let long = "hola, quiero saber dónde está mi pedido, por favor. ".repeat(2_000);
    let t0 = Instant::now();
    for _ in 0..200 {
        std::hint::black_box(guess(&languages, &long));
    }
    let per_long = t0.elapsed().as_nanos() / 200;

    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join("welcome.yaml"), FLOW).expect("write the flow");
    let report = load_dir(&LoadSettings {
        dir: dir.path(),
        scripts_dir: dir.path(),
        templates: &[],
        window: Duration::from_secs(86_400),
        overrides: None,
    });
    let set = report.set.expect("the flow loads");
    let flow = set.get("welcome").expect("welcome").clone();
    let texts: Vec<String> = parley::flows::languages::texts(&flow, FLOW)
        .into_iter()
        .map(|t| t.text)
        .collect();
    let message = json!({ "text": "hi", "type": "text" });
    let now = chrono::Utc::now();
    let time = |contact: &serde_json::Value| {
        let roots = Roots {
            contact,
            vars: None,
            message: &message,
            now,
        };
        let t0 = Instant::now();
        let mut n = 0usize;
        for _ in 0..rounds {
            // As the engine does per message: the contact's language for the flow, then
            // each text looked up and rendered.
            let tongue = Tongue::of(&flow, contact);
            for t in &texts {
                n += std::hint::black_box(render(tongue.text(t), &roots)).len();
            }
        }
        (t0.elapsed().as_nanos() / (rounds * texts.len()) as u128, n)
    };
    let (base, _) = time(&json!({ "name": "Ana" }));
    let (spanish, _) = time(&json!({ "name": "Ana", "language": "es" }));
    println!("language guess (whatlang, 3 allowed languages, {} messages of 2-90 characters): {per_guess} ns per message ({found} of {rounds} reliable)", MESSAGES.len());
    println!(
        "language guess of a {}-character message (read up to 1,000): {per_long} ns",
        long.chars().count()
    );
    println!(
        "a text rendered untranslated (base language): {base} ns per text ({} texts)",
        texts.len()
    );
    println!(
        "the same text rendered in Spanish (contact field, lookup, render): {spanish} ns per text"
    );
}
