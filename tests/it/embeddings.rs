//! Issue 59, embeddings in agent steps: an agent whose `retrieval:` names an embedding
//! model (`embeddings: true` in `models:`) against an OpenAI-compatible `/embeddings`
//! double on loopback, through the sandbox. A paraphrased question BM25 misses finds its
//! passage; the passages' vectors are asked for once across messages and customers; with
//! the double down, slow, or answering bad vectors (another length, numbers too large to
//! be read, too many numbers, not JSON), the turn finds its passages with BM25 alone, the
//! customer gets an answer and the trace says why. The double embeds a text as counts of
//! concepts (the stand-in of `flows::retrieval`'s measurement), so a paraphrase lands
//! near its passage without sharing its words.

use crate::helpers::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Passages of different subjects, one file each.
const PASSAGES: &[(&str, &str)] = &[
    (
        "knowledge/shipping.md",
        "Shipping takes three to five business days from our warehouse.",
    ),
    (
        "knowledge/returns.md",
        "Returns are accepted within 30 days of purchase if the item is unused.",
    ),
    (
        "knowledge/refunds.md",
        "Refunds are paid to the original card within ten days.",
    ),
    (
        "knowledge/wrapping.md",
        "Gift wrapping costs two euros per order.",
    ),
    (
        "knowledge/password.md",
        "Passwords can be reset from the login page.",
    ),
];

/// Concepts and the words that carry them.
const CONCEPTS: &[&[&str]] = &[
    &[
        "shipping",
        "ship",
        "delivery",
        "deliver",
        "arrive",
        "parcel",
        "warehouse",
    ],
    &["takes", "days", "long", "soon", "quickly", "business"],
    &["returns", "return", "accepted", "bring", "back", "unused"],
    &["purchase", "bought", "buy", "item", "product"],
    &["refunds", "refund", "reimbursed", "money", "paid"],
    &["costs", "cost", "euros", "price", "much", "fee"],
    &["wrapping", "wrap", "pack", "gift", "present"],
    &[
        "passwords",
        "password",
        "reset",
        "login",
        "sign",
        "account",
        "forgot",
    ],
    &["card", "original"],
    &["rain", "weather", "tomorrow"],
];

fn concept_vector(text: &str) -> Vec<f64> {
    let mut v = vec![0.0; CONCEPTS.len()];
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        let w = w.to_lowercase();
        if let Some(c) = CONCEPTS.iter().position(|ws| ws.contains(&w.as_str())) {
            v[c] += 1.0;
        }
    }
    v
}

/// How the double answers a question (a request of one text); passages (several texts)
/// always get their concept vectors, unless it is `Down`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Concepts,
    /// 500 to everything.
    Down,
    /// Answers after 3 s.
    Slow,
    /// The question's vector has 3 numbers, the passages' more.
    OtherLength,
    /// A number too large for a vector (1e300).
    Huge,
    /// 9,000 numbers, more than any model gives.
    TooMany,
    /// `NaN`, which is not JSON.
    NotJson,
}

#[derive(Clone)]
struct EmbeddingsDouble {
    base: String,
    mode: Arc<Mutex<Mode>>,
    /// Every request's `input`.
    inputs: Arc<Mutex<Vec<Vec<String>>>>,
}

impl EmbeddingsDouble {
    async fn start() -> Self {
        let double = EmbeddingsDouble {
            base: String::new(),
            mode: Arc::new(Mutex::new(Mode::Concepts)),
            inputs: Arc::default(),
        };
        let d = double.clone();
        let app = axum::Router::new().route(
            "/v1/embeddings",
            axum::routing::post(move |body: axum::Json<Value>| {
                let d = d.clone();
                async move { d.answer(body.0).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        EmbeddingsDouble { base, ..double }
    }

    async fn answer(&self, body: Value) -> axum::response::Response {
        use axum::response::IntoResponse;
        let texts: Vec<String> = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        self.inputs.lock().unwrap().push(texts.clone());
        let mode = *self.mode.lock().unwrap();
        let question = texts.len() == 1;
        let vector = |t: &str| -> Value {
            match mode {
                Mode::OtherLength if question => json!([1.0, 0.0, 0.0]),
                Mode::Huge if question => json!([1e300, 1.0]),
                Mode::TooMany if question => json!(vec![0.5; 9_000]),
                _ => json!(concept_vector(t)),
            }
        };
        match mode {
            Mode::Down => {
                return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down").into_response()
            }
            Mode::Slow => tokio::time::sleep(Duration::from_secs(3)).await,
            Mode::NotJson if question => {
                return (
                    [("content-type", "application/json")],
                    "{\"data\": [{\"embedding\": [NaN, 1.0]}]}",
                )
                    .into_response()
            }
            _ => {}
        }
        let data: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| json!({ "index": i, "embedding": vector(t) }))
            .collect();
        let tokens: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
        axum::Json(
            json!({ "data": data, "usage": { "prompt_tokens": tokens, "total_tokens": tokens } }),
        )
        .into_response()
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Requests for the passages (several texts) and for questions (one text).
    fn counts(&self) -> (usize, usize) {
        let inputs = self.inputs.lock().unwrap();
        let passages = inputs.iter().filter(|i| i.len() > 1).count();
        (passages, inputs.len() - passages)
    }
}

/// The flow: an agent over the passages, with `retrieval` as given.
fn flow(retrieval: &str) -> &'static str {
    let files: Vec<&str> = PASSAGES.iter().map(|(f, _)| *f).collect();
    Box::leak(
        format!(
            "id: helpdesk\ntriggers:\n  - keyword: [question]\nsteps:\n  - id: chat\n    agent:\n      model: assistant\n      instructions: You answer questions about Acme.\n      scope: questions about Acme\n      knowledge: [{}]\n      passages: 2\n      timeout: 1s\n      if_window_closed: skip\n{retrieval}",
            files.join(", ")
        )
        .into_boxed_str(),
    )
}

const WITH_EMBEDDINGS: &str = "      retrieval: { embeddings: vectors }\n";

/// A Parley with the flow, the `assistant` chat model (scripted: one answer) and the
/// `vectors` embedding model at `double`.
async fn app(double: &EmbeddingsDouble, rules: &std::path::Path, retrieval: &str) -> TestApp {
    spawn_with(Options {
        flows: vec![("helpdesk.yaml", flow(retrieval))],
        files: PASSAGES.to_vec(),
        extra_yaml: format!(
            "models:\n  - {{ name: assistant, kind: scripted, script: \"{}\" }}\n  - {{ name: vectors, kind: openai, base_url: \"{}\", model: text-embedding-3-small, embeddings: true, retries: 0, timeout: 2s, price_input: 0.02 }}\n{}",
            rules.display(),
            double.base,
            crate::api::api_yaml(100, 100)
        ),
        ..Default::default()
    })
    .await
}

fn rules_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, "rules:\n  - say: \"Here is what I found.\"\n").unwrap();
    (dir, file)
}

/// `customer` asks `text`; the trace of the turn.
async fn ask(app: &TestApp, customer: &str, text: &str) -> Value {
    let (status, body) = post_json(
        app,
        "/sandbox/api/messages",
        json!({ "from": customer, "text": text }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["pending"], false, "{body:#}");
    assert_eq!(
        body["replies"].as_array().map(Vec::len),
        Some(1),
        "the customer gets an answer: {body:#}"
    );
    body["trace"]["trace"].clone()
}

/// The files of the passages the turn's first call was given, in order.
fn passages(trace: &Value) -> Vec<String> {
    trace["exchanges"][0]["passages"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|p| p.as_str().unwrap().split(' ').next().unwrap().to_string())
        .collect()
}

async fn get_keyed(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app
        .http
        .get(format!("{}{path}", app.addr))
        .bearer_auth(crate::api::KEY)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn decisions(trace: &Value) -> String {
    trace["decisions"].to_string()
}

#[tokio::test]
async fn a_paraphrase_bm25_misses_is_answered_from_its_passage_and_passages_are_embedded_once() {
    let double = EmbeddingsDouble::start().await;
    let (_keep, rules) = rules_file();
    // BM25 alone: the paraphrase shares no word with its passage.
    let bm25 = app(&double, &rules, "").await;
    let t = ask(
        &bm25,
        "+34600000041",
        "question: when will my parcel arrive?",
    )
    .await;
    assert_eq!(passages(&t), Vec::<String>::new(), "{t:#}");
    assert_eq!(double.counts(), (0, 0));
    bm25.shutdown().await;

    let app = app(&double, &rules, WITH_EMBEDDINGS).await;
    let cases = [
        (
            "+34600000041",
            "question: when will my parcel arrive?",
            "knowledge/shipping.md",
        ),
        (
            "+34600000042",
            "question: can I bring back a product I bought?",
            "knowledge/returns.md",
        ),
        (
            "+34600000041",
            "When am I reimbursed?",
            "knowledge/refunds.md",
        ),
        (
            "+34600000042",
            "I forgot how to sign in to my account",
            "knowledge/password.md",
        ),
        // Worded like its passage: found as BM25 finds it.
        (
            "+34600000043",
            "question: how much does gift wrapping cost?",
            "knowledge/wrapping.md",
        ),
    ];
    for (customer, text, want) in cases {
        let t = ask(&app, customer, text).await;
        assert_eq!(
            passages(&t).first().map(String::as_str),
            Some(want),
            "{text}: {t:#}"
        );
        assert!(
            decisions(&t).contains("embeddings (`vectors`): the question's nearest passages"),
            "{t:#}"
        );
    }
    // The passages once, for five questions of three customers.
    assert_eq!(double.counts(), (1, cases.len()));
    let sizes: Vec<usize> = double.inputs.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(
        sizes.iter().filter(|n| **n == PASSAGES.len()).count(),
        1,
        "{sizes:?}"
    );

    // A question no passage answers goes on the unanswered list, the others do not: the
    // combined score's default threshold (0.25).
    ask(&app, "+34600000043", "Will it rain tomorrow?").await;
    let (_, report) = get_keyed(&app, "/api/insights/unanswered?flow=helpdesk").await;
    let questions: Vec<&str> = report["flows"][0]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["question"].as_str().unwrap())
        .collect();
    assert_eq!(questions, ["Will it rain tomorrow?"], "{report:#}");

    // Each question's embeddings are in the ledger of model calls, as the model's.
    let (status, usage) = get_keyed(&app, "/api/models/usage?by=model").await;
    assert_eq!(status, 200, "{usage:#}");
    let vectors: Vec<&Value> = usage["usage"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["key"] == "vectors")
        .collect();
    assert_eq!(vectors.len(), 1, "{usage:#}");
    assert_eq!(vectors[0]["calls"], 6, "{usage:#}");
    assert_eq!(vectors[0]["failed"], 0, "{usage:#}");
    assert!(
        vectors[0]["input_tokens"].as_i64().unwrap() > 0,
        "{usage:#}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn with_the_embedding_model_down_or_slow_the_turn_finds_passages_with_bm25_and_says_so() {
    let double = EmbeddingsDouble::start().await;
    let (_keep, rules) = rules_file();
    let app = app(&double, &rules, WITH_EMBEDDINGS).await;
    double.set(Mode::Down);
    let t = ask(
        &app,
        "+34600000051",
        "question: how do I reset my password?",
    )
    .await;
    assert_eq!(
        passages(&t).first().map(String::as_str),
        Some("knowledge/password.md"),
        "{t:#}"
    );
    let d = decisions(&t);
    assert!(
        d.contains("embeddings (`vectors`) failed:") && d.contains("500"),
        "{d}"
    );
    assert!(
        d.contains("this turn's passages are found with BM25 alone"),
        "{d}"
    );

    // Slower than the step's 1 s timeout: BM25 for the turn, and the answer comes on time.
    double.set(Mode::Slow);
    let started = Instant::now();
    let t = ask(&app, "+34600000051", "how much does gift wrapping cost?").await;
    assert!(
        started.elapsed() < Duration::from_millis(2_900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        passages(&t).first().map(String::as_str),
        Some("knowledge/wrapping.md"),
        "{t:#}"
    );
    assert!(decisions(&t).contains("did not answer within 1s"), "{t:#}");

    // Back up: the next turn has embeddings again (a paraphrase BM25 misses is found).
    double.set(Mode::Concepts);
    let t = ask(&app, "+34600000051", "when will my parcel arrive?").await;
    assert_eq!(
        passages(&t).first().map(String::as_str),
        Some("knowledge/shipping.md"),
        "{t:#}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn bad_vectors_are_refused_with_why_and_the_turn_goes_on_with_bm25() {
    let double = EmbeddingsDouble::start().await;
    let (_keep, rules) = rules_file();
    let app = app(&double, &rules, WITH_EMBEDDINGS).await;
    // The passages' vectors first, as the model gives them.
    ask(
        &app,
        "+34600000061",
        "question: when will my parcel arrive?",
    )
    .await;
    for (mode, why) in [
        (
            Mode::OtherLength,
            "a vector of 3 numbers and the passages vectors of 10",
        ),
        (Mode::Huge, "not a finite number"),
        (
            Mode::TooMany,
            "an embedding of 9000 numbers (1 to 8192 are read)",
        ),
        (Mode::NotJson, "answered with something that is not JSON"),
    ] {
        double.set(mode);
        let t = ask(&app, "+34600000061", "how do I reset my password?").await;
        assert_eq!(
            passages(&t).first().map(String::as_str),
            Some("knowledge/password.md"),
            "{mode:?}: {t:#}"
        );
        let d = decisions(&t);
        assert!(
            d.contains("embeddings (`vectors`) failed:") && d.contains(why),
            "{mode:?}: {d}"
        );
    }
    // Nothing bad was kept: good answers find passages by meaning again.
    double.set(Mode::Concepts);
    let t = ask(&app, "+34600000061", "can I bring back a product I bought?").await;
    assert_eq!(
        passages(&t).first().map(String::as_str),
        Some("knowledge/returns.md"),
        "{t:#}"
    );
    assert_eq!(double.counts().0, 1, "the passages were embedded once");
    app.shutdown().await;
}

/// `parley test` never calls an embedding model: a flow test's `model:` answers stay exact
/// and offline, its turns find passages with BM25 alone.
#[tokio::test]
async fn flow_tests_find_passages_with_bm25_and_never_call_the_embedding_model() {
    let double = EmbeddingsDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (file, text) in PASSAGES {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("flows/tests")).unwrap();
    std::fs::write(
        dir.path().join("flows/helpdesk.yaml"),
        flow(WITH_EMBEDDINGS),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("flows/tests/helpdesk.test.yaml"),
        "name: The assistant answers\nsteps:\n  - customer: \"question: how do I reset my password?\"\n    model:\n      - say: \"From the login page.\"\n  - expect_reply: \"From the login page.\"\n",
    )
    .unwrap();
    let config = dir.path().join("parley.yaml");
    std::fs::write(
        &config,
        format!(
            "flows: {{ dir: \"{}\" }}\nmodels:\n  - {{ name: assistant, kind: openai, base_url: \"http://127.0.0.1:1/v1\", model: m }}\n  - {{ name: vectors, kind: openai, base_url: \"{}\", model: e, embeddings: true }}\n",
            dir.path().join("flows").display(),
            double.base
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["test", "--config", config.to_str().unwrap()])
        .current_dir(dir.path())
        .env_remove("PARLEY_CONFIG")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
    assert_eq!(double.counts(), (0, 0));
}

/// The cost of the embeddings path, printed (`--nocapture`) for BENCHMARKS.md: the
/// per-message time through the sandbox with BM25 alone and with embeddings (the double on
/// loopback answering at once), and the one-time embedding of 1,000 passages.
#[tokio::test]
async fn the_cost_of_embeddings_is_measured() {
    /// The first message's time, and the later ones' p50 and p95, in ms: through the
    /// sandbox, and (from the trace) of the embeddings effect alone.
    async fn timings(app: &TestApp, customer: &str, n: usize) -> Vec<f64> {
        let (mut whole, mut effect) = (Vec::new(), Vec::new());
        for i in 0..n {
            let started = Instant::now();
            let t = ask(
                app,
                customer,
                &format!("question {i}: when will my parcel arrive?"),
            )
            .await;
            whole.push(started.elapsed().as_secs_f64() * 1000.0);
            let d = decisions(&t);
            let ms = d
                .split(", in ")
                .nth(1)
                .and_then(|r| r.split(" ms").next())
                .and_then(|n| n.parse::<f64>().ok());
            effect.push(ms.unwrap_or(0.0));
        }
        let mut out = Vec::new();
        for ms in [whole, effect] {
            let mut rest = ms[1..].to_vec();
            rest.sort_by(f64::total_cmp);
            let p = |q: f64| rest[((rest.len() - 1) as f64 * q).round() as usize];
            out.extend([ms[0], p(0.5), p(0.95)]);
        }
        out
    }
    fn row(label: &str, t: &[f64]) -> String {
        let cells: Vec<String> = t.iter().map(|ms| format!("{ms:.1}")).collect();
        format!("| {label} | {} |", cells.join(" | "))
    }
    let double = EmbeddingsDouble::start().await;
    let (_keep, rules) = rules_file();
    let mut rows = Vec::new();
    for (label, retrieval) in [("BM25 alone", ""), ("BM25 + embeddings", WITH_EMBEDDINGS)] {
        let app = app(&double, &rules, retrieval).await;
        let t = timings(&app, "+34600000071", 31).await;
        rows.push(row(&format!("{label}, 5 passages"), &t));
        app.shutdown().await;
    }
    assert_eq!(double.counts(), (1, 31));

    // 1,000 passages: 100 files of 10 paragraphs, each its own passage.
    let paragraph = |f: usize, p: usize| {
        format!(
            "Topic {f}-{p}: {}",
            "parcels ship from the warehouse and arrive in days; ".repeat(11)
        )
    };
    let files: Vec<(&'static str, &'static str)> = (0..100)
        .map(|f| {
            let name: &'static str = Box::leak(format!("knowledge/big{f}.md").into_boxed_str());
            let text: String = (0..10)
                .map(|p| paragraph(f, p))
                .collect::<Vec<_>>()
                .join("\n\n");
            (name, &*Box::leak(text.into_boxed_str()))
        })
        .collect();
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let big_flow: &'static str = Box::leak(
        flow(WITH_EMBEDDINGS)
            .replace(
                &PASSAGES
                    .iter()
                    .map(|(f, _)| *f)
                    .collect::<Vec<_>>()
                    .join(", "),
                &names.join(", "),
            )
            .into_boxed_str(),
    );
    let before = double.inputs.lock().unwrap().len();
    let big = spawn_with(Options {
        flows: vec![("helpdesk.yaml", big_flow)],
        files,
        extra_yaml: format!(
            "models:\n  - {{ name: assistant, kind: scripted, script: \"{}\" }}\n  - {{ name: vectors, kind: openai, base_url: \"{}\", model: e, embeddings: true, retries: 0, timeout: 5s }}\n",
            rules.display(),
            double.base
        ),
        ..Default::default()
    })
    .await;
    let t = timings(&big, "+34600000072", 31).await;
    rows.push(row("BM25 + embeddings, 1,000 passages", &t));
    let inputs = double.inputs.lock().unwrap()[before..].to_vec();
    let passage_requests = inputs.iter().filter(|i| i.len() > 1).count();
    let embedded: usize = inputs.iter().filter(|i| i.len() > 1).map(Vec::len).sum();
    assert_eq!(
        (passage_requests, embedded),
        (16, 1000),
        "batches of 64, once"
    );
    big.shutdown().await;
    eprintln!(
        "| knowledge | message: first | later p50 | later p95 | embeddings effect: first | later p50 | later p95 |\n|---|---|---|---|---|---|---|\n{}\n1,000 passages: {passage_requests} requests of at most 64 texts, once per process",
        rows.join("\n")
    );
}
