//! An `agent` step's `retrieval:` (issue 59): when a question counts as one the knowledge
//! could not answer, and the words a turn's passages are looked up by (`content_words`).
//! Passages are found with BM25 over the step's knowledge; embeddings are not built yet,
//! and `embeddings:` / `weight:` are refused with that said, rather than read and ignored.
//!
//! ```yaml
//! retrieval:
//!   unanswered_below: 1.0     # a question whose best passage scores less went unanswered
//! ```

use super::problem::Problems;
use super::yaml::{self, YamlNode};
use marked_yaml::types::MarkedMappingNode;

pub const RETRIEVAL_KEYS: &[&str] = &["unanswered_below"];

/// Keys of a retrieval with embeddings, which this version does not have: refused with why.
const NOT_BUILT: &[&str] = &["embeddings", "weight"];

/// A question whose best passage has a BM25 score below this went unanswered, when
/// `unanswered_below` is not given. Measured on the example knowledge (`knowledge/`, the
/// test below): on-topic questions ("is delivery free?", "how do I return an item?") score
/// 1.3 to 4.5, off-topic ones ("can I pay with PayPal?") 0, as they share no word with a
/// passage; one sharing a single word ("gift *cards*" and "the *card* you paid with")
/// scores 1.5, which only embeddings tell apart.
pub const DEFAULT_UNANSWERED_BELOW: f64 = 1.0;

/// The highest `unanswered_below`: BM25 scores of real questions stay well under it.
pub const UNANSWERED_BELOW_MAX: f64 = 100.0;

/// `retrieval:` of an agent step.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrieval {
    /// A turn whose best passage scores below this counts as a question the knowledge
    /// could not answer.
    pub unanswered_below: f64,
}

impl Default for Retrieval {
    fn default() -> Self {
        Self {
            unanswered_below: DEFAULT_UNANSWERED_BELOW,
        }
    }
}

/// `retrieval:` of an agent step's settings `m`; `None` when it is wrong (reported).
pub fn compile(m: &MarkedMappingNode, problems: &mut Problems) -> Option<Retrieval> {
    let mut r = Retrieval::default();
    let Some(node) = m.get_node("retrieval") else {
        return Some(r);
    };
    let rm = yaml::as_map(node, "`retrieval`", problems)?;
    let mut ok = true;
    for key in NOT_BUILT {
        if let Some(n) = rm.get_node(key) {
            problems.error(
                yaml::pos(n),
                format!("`{key}`: this version finds passages with BM25 over the knowledge only; retrieval with embeddings is not built yet"),
                Some(format!("remove `{key}`; `parley eval` scenarios measure how well the agent answers from its knowledge")),
            );
            ok = false;
        }
    }
    let known: Vec<&str> = RETRIEVAL_KEYS.iter().chain(NOT_BUILT).copied().collect();
    yaml::check_keys(rm, &known, "`retrieval`", problems);
    if m.get_node("knowledge").is_none() {
        problems.error(
            yaml::pos(node),
            "`retrieval` does nothing without `knowledge:` files",
            Some("add `knowledge: [knowledge/faq.md]` to this agent, or remove `retrieval`".into()),
        );
        ok = false;
    }
    if let Some(n) = rm.get_node("unanswered_below") {
        match number(n, "unanswered_below", 0.0, UNANSWERED_BELOW_MAX, problems) {
            Some(v) => r.unanswered_below = v,
            None => ok = false,
        }
    }
    ok.then_some(r)
}

/// A number of `retrieval:` within `[low, high]`.
fn number(node: &YamlNode, key: &str, low: f64, high: f64, problems: &mut Problems) -> Option<f64> {
    let v = yaml::as_f64(node, &format!("`{key}`"), problems)?;
    if v.is_finite() && (low..=high).contains(&v) {
        return Some(v);
    }
    let hint = "the best passage's score under which a question counts as unanswered, like `unanswered_below: 1.5`";
    problems.error(
        yaml::pos(node),
        format!("`{key}` must be between {low} and {high}, found {v}"),
        Some(hint.into()),
    );
    None
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
    use crate::flows::knowledge::Knowledge;

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

    /// `retrieval:` of the agent settings `yaml`, with the problems as `parley check` prints
    /// them (`file:line:column: error: message` and the hint).
    fn compiled(yaml_text: &str) -> (Option<Retrieval>, Vec<String>) {
        let mut problems = Problems::new("flows/support.yaml");
        let node = yaml::parse(yaml_text, &mut problems).expect("YAML");
        let m = yaml::as_map(&node, "the agent", &mut problems).expect("a map");
        let r = compile(m, &mut problems);
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

        // Embeddings are refused with why, never read and ignored.
        let bad = "knowledge: [k.md]\nretrieval:\n  embeddings: embedder\n  weight: 0.5\n  unanswered_below: -1\n  top: 3\n";
        let (r, problems) = compiled(bad);
        assert_eq!(r, None);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("flows/support.yaml:3:15: error: `embeddings`: this version finds passages with BM25 over the knowledge only"), "{problems:?}");
        assert!(
            problems[1].starts_with("flows/support.yaml:4:11: error: `weight`: this version"),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.contains("top")), "{problems:?}");
        assert!(
            problems.iter().any(|p| p
                .contains(":5:21: error: `unanswered_below` must be between 0 and 100, found -1")),
            "{problems:?}"
        );
    }
}
