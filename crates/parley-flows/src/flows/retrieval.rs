//! An `agent` step's `retrieval:` (issue 59): how its passages are found and when a
//! question counts as one the knowledge could not answer, and the words a turn's passages
//! are looked up by (`content_words`). Passages are found with BM25 over the step's
//! knowledge; with `embeddings:` (a model of the config's `models:` with `embeddings:
//! true`) BM25 is mixed with the similarity of embeddings (`combined`), measured against
//! BM25 alone on a labelled question set (the tests below).
//!
//! ```yaml
//! retrieval:
//!   embeddings: vectors       # an embedding model of the config (default: none, BM25 alone)
//!   weight: 0.5               # the share of the score embeddings give (0 to 1)
//!   unanswered_below: 0.25    # a question whose best passage scores less went unanswered
//! ```

use super::knowledge::{Knowledge, Passage};
use super::problem::{did_you_mean, Problems};
use super::project::Deployment;
use super::yaml::{self, YamlNode};
use marked_yaml::types::MarkedMappingNode;
use std::collections::HashMap;

pub const RETRIEVAL_KEYS: &[&str] = &["unanswered_below", "embeddings", "weight"];

/// A question whose best passage has a BM25 score below this went unanswered, when
/// `unanswered_below` is not given and the step finds passages with BM25 alone (or its
/// embeddings failed for the turn). Measured on the example knowledge (`knowledge/`, the
/// test below): on-topic questions ("is delivery free?", "how do I return an item?") score
/// 1.3 to 4.5, off-topic ones ("can I pay with PayPal?") 0, as they share no word with a
/// passage; one sharing a single word ("gift *cards*" and "the *card* you paid with")
/// scores 1.5, which only embeddings tell apart.
pub const DEFAULT_UNANSWERED_BELOW: f64 = 1.0;

/// The same on the combined score of BM25 and embeddings (0 to 1), when the step has
/// `embeddings:`. Measured on the labelled question set below (default weight): asked
/// questions' best passage scores at least 0.28, unrelated ones 0.00 under the concept
/// stand-in; a real model keeps a cosine of about 0.1 to 0.3 between unrelated texts, 0.05
/// to 0.15 of the combined score, still under it.
pub const DEFAULT_COMBINED_UNANSWERED_BELOW: f64 = 0.25;

/// The highest `unanswered_below`: BM25 scores of real questions stay well under it.
pub const UNANSWERED_BELOW_MAX: f64 = 100.0;

/// `retrieval:` of an agent step.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrieval {
    /// A turn whose best passage scores below this counts as a question the knowledge
    /// could not answer: on BM25's scale, or on the combined score (0 to 1) with
    /// `embeddings`.
    pub unanswered_below: f64,
    /// Passages are also found by the similarity of embeddings.
    pub embeddings: Option<Embeddings>,
}

/// `embeddings:` and `weight:` of a step's `retrieval:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// The embedding model of the config's `models:`.
    pub model: String,
    /// The share of a passage's score its similarity gives (0 to 1).
    pub weight: f64,
}

impl Default for Retrieval {
    fn default() -> Self {
        Self {
            unanswered_below: DEFAULT_UNANSWERED_BELOW,
            embeddings: None,
        }
    }
}

impl Retrieval {
    /// The threshold of a turn whose passages were found with BM25 alone: the step's own
    /// without embeddings, BM25's default when its embeddings failed for the turn.
    pub fn bm25_unanswered_below(&self) -> f64 {
        match self.embeddings {
            None => self.unanswered_below,
            Some(_) => DEFAULT_UNANSWERED_BELOW,
        }
    }
}

/// `retrieval:` of an agent step's settings `m`, its embedding model checked against the
/// config's (when known); `None` when it is wrong (reported).
pub fn compile(
    m: &MarkedMappingNode,
    deployment: Option<&Deployment>,
    problems: &mut Problems,
) -> Option<Retrieval> {
    let mut r = Retrieval::default();
    let Some(node) = m.get_node("retrieval") else {
        return Some(r);
    };
    let rm = yaml::as_map(node, "`retrieval`", problems)?;
    let mut ok = true;
    yaml::check_keys(rm, RETRIEVAL_KEYS, "`retrieval`", problems);
    if m.get_node("knowledge").is_none() {
        problems.error(
            yaml::pos(node),
            "`retrieval` does nothing without `knowledge:` files",
            Some("add `knowledge: [knowledge/faq.md]` to this agent, or remove `retrieval`".into()),
        );
        ok = false;
    }
    if let Some(n) = rm.get_node("embeddings") {
        match embedding_model(n, deployment, problems) {
            Some(model) => {
                r.unanswered_below = DEFAULT_COMBINED_UNANSWERED_BELOW;
                r.embeddings = Some(Embeddings {
                    model,
                    weight: DEFAULT_WEIGHT,
                });
            }
            None => ok = false,
        }
    }
    if let Some(n) = rm.get_node("weight") {
        let hint = "the share of a passage's score its embeddings give: 0 is BM25 alone, 1 embeddings alone, 0.5 (the default) mixes them";
        match (number(n, "weight", 1.0, hint, problems), &mut r.embeddings) {
            (Some(w), Some(e)) => e.weight = w,
            (Some(_), None) if rm.get_node("embeddings").is_none() => {
                problems.error(
                    yaml::pos(n),
                    "`weight` does nothing without `embeddings:`",
                    Some("name an embedding model of the config, like `embeddings: vectors`, or remove `weight`".into()),
                );
                ok = false;
            }
            (Some(_), None) => {}
            (None, _) => ok = false,
        }
    }
    if let Some(n) = rm.get_node("unanswered_below") {
        let (high, hint) = match rm.get_node("embeddings") {
            Some(_) => (1.0, "with `embeddings` a passage's score runs from 0 to 1: the best passage's score under which a question counts as unanswered, like `unanswered_below: 0.25`"),
            None => (UNANSWERED_BELOW_MAX, "the best passage's BM25 score under which a question counts as unanswered, like `unanswered_below: 1.5`"),
        };
        match number(n, "unanswered_below", high, hint, problems) {
            Some(v) => r.unanswered_below = v,
            None => ok = false,
        }
    }
    ok.then_some(r)
}

/// `embeddings:`, the name of an embedding model of the config (when the config is known).
fn embedding_model(
    node: &YamlNode,
    deployment: Option<&Deployment>,
    problems: &mut Problems,
) -> Option<String> {
    let name = yaml::as_str(node, "`embeddings`", problems)?;
    let Some(d) = deployment else {
        return Some(name.to_string());
    };
    if d.embedding_models.iter().any(|k| k == name) {
        return Some(name.to_string());
    }
    let example = "like `{ name: vectors, kind: openai, base_url: \"https://api.openai.com/v1\", api_key: \"${OPENAI_API_KEY}\", model: text-embedding-3-small, embeddings: true }`";
    let (message, hint) = if d.model_names.iter().any(|k| k == name) {
        (
            format!("model `{name}` is a chat model; `embeddings` names an embedding model (one with `embeddings: true` in the config's `models:`)"),
            format!("add an embedding model to the config's `models:`, {example}, and name it here"),
        )
    } else {
        let names: Vec<&str> = d.embedding_models.iter().map(String::as_str).collect();
        let hint = match did_you_mean(name, &names) {
            Some(s) => format!("did you mean `{s}`?"),
            None if names.is_empty() => {
                format!("the config has no embedding model; add one to `models:`, {example}")
            }
            None => format!("the config's embedding models are: {}", names.join(", ")),
        };
        (
            format!("there is no embedding model `{name}` in the config's `models:`"),
            hint,
        )
    };
    problems.error(yaml::pos(node), message, Some(hint));
    None
}

/// A number of `retrieval:` from 0 to `high`.
fn number(
    node: &YamlNode,
    key: &str,
    high: f64,
    hint: &str,
    problems: &mut Problems,
) -> Option<f64> {
    let v = yaml::as_f64(node, &format!("`{key}`"), problems)?;
    if v.is_finite() && (0.0..=high).contains(&v) {
        return Some(v);
    }
    problems.error(
        yaml::pos(node),
        format!("`{key}` must be between 0 and {high}, found {v}"),
        Some(hint.into()),
    );
    None
}

/// The share of a passage's combined score its embeddings' similarity gives, when
/// `weight` is not given.
pub const DEFAULT_WEIGHT: f64 = 0.5;

/// The passages of `knowledge` for the content words `words`, ranked by a score that mixes
/// BM25 with the similarity of embeddings: `(1 − weight) × bm25 / best_bm25 + weight ×
/// cosine`, where `best_bm25` is the query's best BM25 score (the BM25 part is 0 when no
/// passage shares a word with the query) and `cosines[i]` is the similarity of passage `i`
/// to the query (taken as 0 when below 0 or missing). Scores run from 0 to 1; the `top`
/// best are returned as `(passage index, score)`, best first, none scoring 0.
pub fn combined(
    knowledge: &Knowledge,
    words: &str,
    cosines: &[f64],
    weight: f64,
    top: usize,
) -> Vec<(usize, f64)> {
    let weight = if weight.is_finite() {
        weight.clamp(0.0, 1.0)
    } else {
        DEFAULT_WEIGHT
    };
    let index: HashMap<*const Passage, usize> = knowledge
        .passages
        .iter()
        .enumerate()
        .map(|(i, p)| (p as *const Passage, i))
        .collect();
    let bm25 = knowledge.search_scored(words, knowledge.passages.len());
    let best = bm25.first().map_or(0.0, |(_, s)| *s);
    let mut scores = vec![0.0f64; knowledge.passages.len()];
    if best > 0.0 {
        for (p, s) in &bm25 {
            if let Some(i) = index.get(&(*p as *const Passage)) {
                scores[*i] = (1.0 - weight) * s / best;
            }
        }
    }
    for (score, cos) in scores.iter_mut().zip(cosines) {
        if cos.is_finite() {
            *score += weight * cos.clamp(0.0, 1.0);
        }
    }
    let mut ranked: Vec<(usize, f64)> = scores
        .into_iter()
        .enumerate()
        .filter(|(_, s)| *s > 0.0)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(top);
    ranked
}

/// Words that carry no subject in the languages customers most write in (English,
/// Spanish, Portuguese, French, German, Italian): left out of the words a turn's passages
/// are looked up by, so "do you sell gift cards" is not matched by a passage's "you".
const FUNCTION_WORDS: &[&str] = &[
    // English
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "can", "could", "did", "do",
    "does", "for", "from", "get", "have", "has", "hello", "hi", "how", "i", "if", "in", "is", "it",
    "me", "my", "of", "on", "or", "please", "so", "that", "the", "there", "this", "to", "was",
    "we", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
    // Spanish and Portuguese
    "al", "como", "con", "cual", "cuando", "de", "del", "donde", "el", "em", "en", "es", "esta",
    "eu", "hola", "la", "las", "lo", "los", "mi", "meu", "minha", "na", "no", "o", "os", "para",
    "por", "que", "se", "su", "um", "uma", "un", "una", "y", "yo",
    // French, German, Italian
    "bonjour", "das", "der", "die", "du", "est", "et", "ich", "il", "je", "le", "les", "mon", "und",
    "vous", "wie", "ist", "ciao", "di", "che", "per",
    // Greetings, thanks and short answers: no question at all
    "bye", "thanks", "thank", "ok", "okay", "yes", "gracias", "obrigado", "obrigada", "merci",
    "danke", "grazie", "si", "sim", "oui", "ja",
];

/// The words of `text` passages are looked up by: without its function words
/// (`FUNCTION_WORDS`); empty for a greeting or a thanks, which asks nothing.
pub fn content_words(text: &str) -> String {
    let kept: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty() && !FUNCTION_WORDS.contains(&w.to_lowercase().as_str()))
        .collect();
    kept.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example project's knowledge (`knowledge/`), as the example support agent has it.
    fn example() -> Knowledge {
        Knowledge::from_texts([
            (
                "knowledge/shipping.md",
                include_str!("../../../../knowledge/shipping.md"),
            ),
            (
                "knowledge/returns.md",
                include_str!("../../../../knowledge/returns.md"),
            ),
        ])
    }

    fn best(k: &Knowledge, q: &str) -> f64 {
        k.search_scored(&content_words(q), 2)
            .first()
            .map_or(0.0, |(_, s)| *s)
    }

    pub(crate) const ON_TOPIC: &[&str] = &[
        "How long does shipping take?",
        "How do I return an item?",
        "When will I get my refund?",
        "How much does shipping cost?",
        "Where can I track my order?",
        "Is delivery free?",
        "Can I exchange shoes for another size?",
    ];

    pub(crate) const OFF_TOPIC: &[&str] = &[
        "What are your opening hours?",
        "Can I pay with PayPal?",
        "Is the blue jacket waterproof?",
        "Do you have a shop in Lisbon?",
    ];

    /// The default `unanswered_below` sits between the example knowledge's on-topic and
    /// off-topic questions.
    #[test]
    fn the_default_threshold_parts_on_topic_from_off_topic_questions() {
        let k = example();
        let on: Vec<(f64, &str)> = ON_TOPIC.iter().map(|q| (best(&k, q), *q)).collect();
        let off: Vec<(f64, &str)> = OFF_TOPIC.iter().map(|q| (best(&k, q), *q)).collect();
        eprintln!("on topic: {on:?}\noff topic: {off:?}");
        for (s, q) in &on {
            assert!(*s >= DEFAULT_UNANSWERED_BELOW, "{q}: {s}");
        }
        for (s, q) in &off {
            assert!(*s < DEFAULT_UNANSWERED_BELOW, "{q}: {s}");
        }
        // One shared word is enough for BM25 (see `DEFAULT_UNANSWERED_BELOW`).
        assert!(best(&k, "Do you sell gift cards?") > DEFAULT_UNANSWERED_BELOW);
    }

    #[test]
    fn greetings_and_thanks_have_no_content_words() {
        assert_eq!(content_words("Hello! Thanks, bye"), "");
        assert_eq!(
            content_words("Hola, ¿cuánto cuesta el envío?"),
            "cuánto cuesta envío"
        );
        assert_eq!(content_words("Where is order A-12345?"), "order A-12345");
    }

    /// `retrieval:` of the agent settings `yaml` (checked against a config with the chat
    /// model `gpt` and the embedding model `vectors`), with the problems as `parley check`
    /// prints them (`file:line:column: error: message` and the hint).
    fn compiled(yaml_text: &str) -> (Option<Retrieval>, Vec<String>) {
        let deployment = Deployment {
            model_names: vec!["gpt".into()],
            embedding_models: vec!["vectors".into()],
            ..Deployment::default()
        };
        let mut problems = Problems::new("flows/support.yaml");
        let node = yaml::parse(yaml_text, &mut problems).expect("YAML");
        let m = yaml::as_map(&node, "the agent", &mut problems).expect("a map");
        let r = compile(m, Some(&deployment), &mut problems);
        (r, problems.list.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn retrieval_keys_compile_with_defaults_and_errors_name_their_place() {
        let (r, problems) = compiled("knowledge: [k.md]\n");
        assert_eq!(r, Some(Retrieval::default()));
        assert!(problems.is_empty());
        let ok = "knowledge: [k.md]\nretrieval:\n  unanswered_below: 2\n";
        let (r, problems) = compiled(ok);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(r.unwrap().unanswered_below, 2.0);

        let (r, problems) = compiled("retrieval: { unanswered_below: 2 }\n");
        assert_eq!(r, None);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("flows/support.yaml:1:14: error: `retrieval` does nothing without `knowledge:` files"), "{problems:?}");

        let bad = "knowledge: [k.md]\nretrieval:\n  unanswered_below: -1\n  top: 3\n";
        let (r, problems) = compiled(bad);
        assert_eq!(r, None);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("top")), "{problems:?}");
        assert!(
            problems.iter().any(|p| p
                .contains(":3:21: error: `unanswered_below` must be between 0 and 100, found -1")),
            "{problems:?}"
        );
    }

    #[test]
    fn embeddings_name_an_embedding_model_with_a_weight_and_a_threshold_from_0_to_1() {
        let (r, problems) = compiled("knowledge: [k.md]\nretrieval: { embeddings: vectors }\n");
        assert!(problems.is_empty(), "{problems:?}");
        let r = r.unwrap();
        assert_eq!(
            r.embeddings,
            Some(Embeddings {
                model: "vectors".into(),
                weight: DEFAULT_WEIGHT
            })
        );
        assert_eq!(r.unanswered_below, DEFAULT_COMBINED_UNANSWERED_BELOW);
        assert_eq!(r.bm25_unanswered_below(), DEFAULT_UNANSWERED_BELOW);
        let ok = "knowledge: [k.md]\nretrieval: { embeddings: vectors, weight: 0.7, unanswered_below: 0.3 }\n";
        let r = compiled(ok).0.unwrap();
        assert_eq!(r.embeddings.unwrap().weight, 0.7);
        assert_eq!(r.unanswered_below, 0.3);

        let cases = [
            (
                "retrieval:\n  embeddings: vectrs\n",
                "flows/support.yaml:3:15: error: there is no embedding model `vectrs` in the config's `models:`\n  hint: did you mean `vectors`?",
            ),
            (
                "retrieval:\n  embeddings: gpt\n",
                "flows/support.yaml:3:15: error: model `gpt` is a chat model; `embeddings` names an embedding model (one with `embeddings: true` in the config's `models:`)",
            ),
            (
                "retrieval:\n  embeddings: vectors\n  weight: 1.5\n",
                "flows/support.yaml:4:11: error: `weight` must be between 0 and 1, found 1.5\n  hint: the share of a passage's score its embeddings give",
            ),
            (
                "retrieval:\n  weight: 0.5\n",
                "flows/support.yaml:3:11: error: `weight` does nothing without `embeddings:`",
            ),
            (
                "retrieval:\n  embeddings: vectors\n  unanswered_below: 2\n",
                "flows/support.yaml:4:21: error: `unanswered_below` must be between 0 and 1, found 2\n  hint: with `embeddings` a passage's score runs from 0 to 1",
            ),
        ];
        for (yaml_text, want) in cases {
            let (r, problems) = compiled(&format!("knowledge: [k.md]\n{yaml_text}"));
            assert_eq!(r, None, "{yaml_text}");
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].starts_with(want),
                "{}\n---\n{want}",
                problems[0]
            );
        }
    }

    /// Passages of different subjects, one per file, for the measurement below.
    const PASSAGES: &[(&str, &str)] = &[
        (
            "shipping.md",
            "Shipping takes three to five business days from our warehouse.",
        ),
        (
            "returns.md",
            "Returns are accepted within 30 days of purchase if the item is unused.",
        ),
        (
            "refunds.md",
            "Refunds are paid to the original card within ten days.",
        ),
        ("wrapping.md", "Gift wrapping costs two euros per order."),
        (
            "support.md",
            "Our support team answers email from Monday to Friday.",
        ),
        ("password.md", "Passwords can be reset from the login page."),
    ];

    /// Concepts and the words that carry them: a deterministic stand-in for an embedding
    /// model, under which a paraphrase lands near its passage without sharing its words.
    const CONCEPTS: &[&[&str]] = &[
        &[
            "shipping",
            "ship",
            "delivery",
            "deliver",
            "arrive",
            "parcel",
            "package",
            "warehouse",
        ],
        &[
            "takes", "days", "long", "soon", "quickly", "fast", "business",
        ],
        &["returns", "return", "accepted", "bring", "back", "unused"],
        &["purchase", "bought", "buy", "item", "product"],
        &["refunds", "refund", "reimbursed", "money", "paid"],
        &["costs", "cost", "euros", "price", "much", "fee"],
        &["wrapping", "wrap", "pack", "gift", "present"],
        &[
            "support", "team", "email", "answers", "human", "talk", "person",
        ],
        &["monday", "friday", "weekdays", "hours"],
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
    ];

    /// The concept vector of `text`: how often each concept's words occur.
    pub(crate) fn concept_vector(text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; CONCEPTS.len()];
        for w in text.split(|c: char| !c.is_alphanumeric()) {
            let w = w.to_lowercase();
            if let Some(c) = CONCEPTS
                .iter()
                .position(|words| words.contains(&w.as_str()))
            {
                v[c] += 1.0;
            }
        }
        v
    }

    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum();
        let n = |v: &[f32]| v.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
        if n(a) == 0.0 || n(b) == 0.0 {
            0.0
        } else {
            dot / (n(a) * n(b))
        }
    }

    /// Questions and the passage that answers them (`None`: no passage does).
    const WORDED_LIKE: &[(&str, usize)] = &[
        ("How many business days does shipping take?", 0),
        ("Where is the warehouse shipping from?", 0),
        ("Are returns accepted after 30 days?", 1),
        ("Are refunds paid to my card?", 2),
        ("How much does gift wrapping cost?", 3),
        ("Does the support team answer email on Friday?", 4),
        ("How do I reset my password?", 5),
    ];
    const PARAPHRASES: &[(&str, usize)] = &[
        ("When will my parcel arrive?", 0),
        ("How quickly do you deliver?", 0),
        ("Can I bring back a product I bought?", 1),
        ("When am I reimbursed?", 2),
        ("Can you pack a present for me?", 3),
        ("Can I talk to a human?", 4),
        ("I forgot how to sign in to my account", 5),
    ];
    const UNRELATED: &[&str] = &[
        "Do you sell bicycles?",
        "Is the blue jacket waterproof?",
        "Do you have a shop in Lisbon?",
        "Can I pay with PayPal?",
        "What is the capital of France?",
        "Will it rain tomorrow?",
    ];

    /// Recall@k of `questions` (the share whose passage is among the `k` best) and the best
    /// score of each, with the given weight of embeddings (0: BM25 alone).
    fn recall(k: &Knowledge, questions: &[(&str, usize)], weight: f64, top: usize) -> f64 {
        let vectors: Vec<Vec<f32>> = k.passages.iter().map(|p| concept_vector(&p.text)).collect();
        let found = questions.iter().filter(|(q, want)| {
            let words = content_words(q);
            let qv = concept_vector(&words);
            let cosines: Vec<f64> = vectors.iter().map(|v| cosine(&qv, v)).collect();
            combined(k, &words, &cosines, weight, top)
                .iter()
                .any(|(i, _)| i == want)
        });
        found.count() as f64 / questions.len() as f64
    }

    fn best_combined(k: &Knowledge, q: &str, weight: f64) -> f64 {
        let words = content_words(q);
        let qv = concept_vector(&words);
        let cosines: Vec<f64> = k
            .passages
            .iter()
            .map(|p| cosine(&qv, &concept_vector(&p.text)))
            .collect();
        combined(k, &words, &cosines, weight, 1)
            .first()
            .map_or(0.0, |(_, s)| *s)
    }

    /// BM25 alone against BM25 with embeddings (the default weight) over a labelled
    /// question set: the hybrid finds the paraphrases BM25 misses and keeps the questions
    /// worded like their passages. The figures are printed (`--nocapture`).
    #[test]
    fn embeddings_find_paraphrases_bm25_misses_and_keep_the_rest() {
        let k = Knowledge::from_texts(PASSAGES.iter().copied());
        assert_eq!(k.passages.len(), PASSAGES.len());
        // The paraphrases share no word with their passage, as BM25 sees words.
        for (q, want) in PARAPHRASES {
            let found = k.search_scored(&content_words(q), PASSAGES.len());
            assert!(
                !found.iter().any(|(p, _)| p.file == PASSAGES[*want].0),
                "{q}"
            );
        }
        let mut rows = Vec::new();
        for (label, questions) in [
            ("worded like the passage", WORDED_LIKE),
            ("paraphrases", PARAPHRASES),
        ] {
            for top in [1, 3] {
                let bm25 = recall(&k, questions, 0.0, top);
                let hybrid = recall(&k, questions, DEFAULT_WEIGHT, top);
                rows.push(format!(
                    "| {label} ({}) | recall@{top} | {bm25:.2} | {hybrid:.2} |",
                    questions.len()
                ));
                assert!(
                    hybrid >= bm25,
                    "{label} recall@{top}: hybrid {hybrid} < BM25 {bm25}"
                );
                if label == "paraphrases" {
                    assert!(hybrid > bm25 && hybrid >= 0.85, "{label}@{top}: {hybrid}");
                } else {
                    assert_eq!(bm25, 1.0, "{label}@{top}");
                }
            }
        }
        let best = |qs: &[&str], w: f64| {
            qs.iter()
                .map(|q| best_combined(&k, q, w))
                .collect::<Vec<_>>()
        };
        let asked: Vec<&str> = WORDED_LIKE
            .iter()
            .chain(PARAPHRASES)
            .map(|(q, _)| *q)
            .collect();
        let lowest_asked = best(&asked, DEFAULT_WEIGHT).into_iter().fold(1.0, f64::min);
        let highest_unrelated = best(UNRELATED, DEFAULT_WEIGHT)
            .into_iter()
            .fold(0.0, f64::max);
        rows.push(format!(
            "| unrelated ({}) | best combined score | | {highest_unrelated:.2} (highest) |",
            UNRELATED.len()
        ));
        rows.push(format!(
            "| asked ({}) | best combined score | | {lowest_asked:.2} (lowest) |",
            asked.len()
        ));
        // The combined score still tells unrelated questions from answered ones.
        assert!(
            highest_unrelated < lowest_asked,
            "{highest_unrelated} vs {lowest_asked}"
        );
        // The default threshold with embeddings sits between them.
        assert!(
            highest_unrelated < DEFAULT_COMBINED_UNANSWERED_BELOW
                && DEFAULT_COMBINED_UNANSWERED_BELOW < lowest_asked,
            "{highest_unrelated} < {DEFAULT_COMBINED_UNANSWERED_BELOW} < {lowest_asked}"
        );
        eprintln!("| questions | measure | BM25 alone | BM25 + embeddings (weight {DEFAULT_WEIGHT}) |\n|---|---|---|---|\n{}", rows.join("\n"));
    }

    #[test]
    fn the_combined_score_mixes_normalised_bm25_with_cosine() {
        let k = Knowledge::from_texts(PASSAGES.iter().copied());
        let words = content_words("How do I reset my password?");
        let mut cosines = vec![0.0; PASSAGES.len()];
        cosines[4] = 0.8;
        let r = combined(&k, &words, &cosines, 0.5, 10);
        assert_eq!(r[0].0, 5);
        assert!((r[0].1 - 0.5).abs() < 1e-9, "{r:?}");
        assert_eq!(r[1], (4, 0.4));
        // BM25 alone (weight 0) and embeddings alone (weight 1); negative cosines count 0.
        assert_eq!(combined(&k, &words, &cosines, 0.0, 10), vec![(5, 1.0)]);
        cosines[0] = -0.9;
        assert_eq!(combined(&k, &words, &cosines, 1.0, 10), vec![(4, 0.8)]);
        assert!(combined(&k, "", &[], 0.5, 10).is_empty());
    }
}
