//! An `agent` step's `retrieval:` (issue 59): how passages are found for a turn (BM25, or
//! BM25 with embeddings from a configured model) and when a question counts as one the
//! knowledge could not answer.
//!
//! ```yaml
//! retrieval:
//!   embeddings: embedder      # a model of `models:` that makes embeddings
//!   weight: 0.5               # the embedding similarity's share of the combined score
//!   unanswered_below: 1.0     # a question whose best passage scores less went unanswered
//! ```

use super::problem::{did_you_mean, Problems};
use super::yaml::{self, YamlNode};
use marked_yaml::types::MarkedMappingNode;

pub const RETRIEVAL_KEYS: &[&str] = &["embeddings", "weight", "unanswered_below"];

/// The embedding similarity's share of the combined score when `weight` is not given.
pub const DEFAULT_WEIGHT: f64 = 0.5;

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
    /// A model of the config's `models:` that makes embeddings; `None`: BM25 only.
    pub embeddings: Option<String>,
    /// The embedding similarity's share of the combined score (0–1).
    pub weight: f64,
    /// A turn whose best passage scores below this counts as a question the knowledge
    /// could not answer (on the combined score when embeddings are on).
    pub unanswered_below: f64,
}

impl Default for Retrieval {
    fn default() -> Self {
        Self {
            embeddings: None,
            weight: DEFAULT_WEIGHT,
            unanswered_below: DEFAULT_UNANSWERED_BELOW,
        }
    }
}

/// `retrieval:` of an agent step's settings `m`; `models` are the config's model names when
/// the config is known. `None` when it is wrong (reported).
pub fn compile(
    m: &MarkedMappingNode,
    models: Option<&[String]>,
    problems: &mut Problems,
) -> Option<Retrieval> {
    let mut r = Retrieval::default();
    let Some(node) = m.get_node("retrieval") else {
        return Some(r);
    };
    let rm = yaml::as_map(node, "`retrieval`", problems)?;
    yaml::check_keys(rm, RETRIEVAL_KEYS, "`retrieval`", problems);
    let mut ok = true;
    if m.get_node("knowledge").is_none() {
        problems.error(
            yaml::pos(node),
            "`retrieval` does nothing without `knowledge:` files",
            Some("add `knowledge: [knowledge/faq.md]` to this agent, or remove `retrieval`".into()),
        );
        ok = false;
    }
    if let Some(n) = rm.get_node("embeddings") {
        match embeddings(n, models, problems) {
            Some(name) => r.embeddings = Some(name),
            None => ok = false,
        }
    }
    if let Some(n) = rm.get_node("weight") {
        match number(n, "weight", 0.0, 1.0, problems) {
            Some(v) => r.weight = v,
            None => ok = false,
        }
        if r.embeddings.is_none() && rm.get_node("embeddings").is_none() {
            problems.error(
                yaml::pos(n),
                "`weight` does nothing without `embeddings:`",
                Some("name the model that makes embeddings, like `embeddings: embedder`, or remove `weight`".into()),
            );
            ok = false;
        }
    }
    if let Some(n) = rm.get_node("unanswered_below") {
        match number(n, "unanswered_below", 0.0, UNANSWERED_BELOW_MAX, problems) {
            Some(v) => r.unanswered_below = v,
            None => ok = false,
        }
    }
    ok.then_some(r)
}

fn embeddings(
    node: &YamlNode,
    models: Option<&[String]>,
    problems: &mut Problems,
) -> Option<String> {
    let name = yaml::as_str(node, "`embeddings`", problems)?.trim();
    if name.is_empty() {
        problems.error(
            yaml::pos(node),
            "`embeddings` is empty",
            Some("name a model of the config's `models:` that makes embeddings, or remove `embeddings` for BM25 alone".into()),
        );
        return None;
    }
    let Some(known) = models else {
        return Some(name.to_string());
    };
    if known.iter().any(|k| k == name) {
        return Some(name.to_string());
    }
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let hint = match did_you_mean(name, &names) {
        Some(s) => format!("did you mean `{s}`?"),
        None if names.is_empty() => "the config has no `models:`; add one that makes embeddings, like `models: [{ name: embedder, kind: openai, embeddings: true, base_url: \"https://api.openai.com/v1\", api_key: \"${OPENAI_API_KEY}\", model: text-embedding-3-small }]`".into(),
        None => format!("the config's models are: {}", names.join(", ")),
    };
    problems.error(
        yaml::pos(node),
        format!("there is no model `{name}` in the config's `models:`"),
        Some(hint),
    );
    None
}

/// A number of `retrieval:` within `[low, high]`.
fn number(node: &YamlNode, key: &str, low: f64, high: f64, problems: &mut Problems) -> Option<f64> {
    let v = yaml::as_f64(node, &format!("`{key}`"), problems)?;
    if v.is_finite() && (low..=high).contains(&v) {
        return Some(v);
    }
    let hint = if key == "weight" {
        "the share of the embedding similarity in the combined score: 0 is BM25 alone, 1 the embeddings alone, like `weight: 0.5`"
    } else {
        "the best passage's score under which a question counts as unanswered, like `unanswered_below: 1.5`"
    };
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
    fn compiled(yaml_text: &str, models: Option<&[String]>) -> (Option<Retrieval>, Vec<String>) {
        let mut problems = Problems::new("flows/support.yaml");
        let node = yaml::parse(yaml_text, &mut problems).expect("YAML");
        let m = yaml::as_map(&node, "the agent", &mut problems).expect("a map");
        let r = compile(m, models, &mut problems);
        (r, problems.list.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn retrieval_keys_compile_with_defaults_and_errors_name_their_place() {
        let models = ["assistant".to_string(), "embedder".to_string()];
        let (r, problems) = compiled("knowledge: [k.md]\n", Some(&models));
        assert_eq!(r, Some(Retrieval::default()));
        assert!(problems.is_empty());
        let ok = "knowledge: [k.md]\nretrieval:\n  embeddings: embedder\n  weight: 0.3\n  unanswered_below: 2\n";
        let (r, problems) = compiled(ok, Some(&models));
        assert!(problems.is_empty(), "{problems:?}");
        let r = r.unwrap();
        assert_eq!(
            (r.embeddings.as_deref(), r.weight, r.unanswered_below),
            (Some("embedder"), 0.3, 2.0)
        );

        let (r, problems) = compiled("retrieval: { unanswered_below: 2 }\n", Some(&models));
        assert_eq!(r, None);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("flows/support.yaml:1:14: error: `retrieval` does nothing without `knowledge:` files"), "{problems:?}");

        let bad = "knowledge: [k.md]\nretrieval:\n  embeddings: embeder\n  weight: 1.5\n  unanswered_below: -1\n";
        let (r, problems) = compiled(bad, Some(&models));
        assert_eq!(r, None);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("flows/support.yaml:3:15: error: there is no model `embeder` in the config's `models:`\n  hint: did you mean `embedder`?"), "{problems:?}");
        assert!(
            problems[1].starts_with(
                "flows/support.yaml:4:11: error: `weight` must be between 0 and 1, found 1.5"
            ),
            "{problems:?}"
        );
        assert!(
            problems[2]
                .contains(":5:21: error: `unanswered_below` must be between 0 and 100, found -1"),
            "{problems:?}"
        );

        let (_, problems) = compiled(
            "knowledge: [k.md]\nretrieval: { weight: 0.5, top: 3 }\n",
            None,
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("`weight` does nothing without `embeddings:`")),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.contains("top")), "{problems:?}");
    }
}
