//! Flow files: the YAML model, its loader and the trigger index.
//!
//! This is the backbone's minimal form of the language: `keyword` triggers and `send: {text}`
//! steps with `{{ … }}` templating, enough for the `ping` example and the load benchmark.
//! The full language (every trigger and step kind, Rhai, `parley check`) grows here.

mod loader;
mod normalize;

pub use loader::{load_dir, FlowError};
pub use normalize::normalize;

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub id: String,
    /// Where the flow was loaded from, for error messages.
    pub file: String,
    pub keywords: Vec<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    SendText { text: String },
}

/// All loaded flows with their keyword index, built once at load: matching a message costs
/// one normalisation and one hash lookup, whatever the number of flows.
#[derive(Debug, Default)]
pub struct FlowSet {
    flows: Vec<Flow>,
    by_keyword: HashMap<String, usize>,
}

impl FlowSet {
    pub fn new(flows: Vec<Flow>) -> Result<Self, Vec<FlowError>> {
        let mut by_keyword = HashMap::new();
        let mut problems = Vec::new();
        for (i, flow) in flows.iter().enumerate() {
            for kw in &flow.keywords {
                let key = normalize(kw);
                if let Some(&other) = by_keyword.get(&key) {
                    let other: &Flow = &flows[other];
                    problems.push(FlowError::new(
                        &flow.file,
                        format!(
                            "keyword `{kw}` is already used by flow `{}` ({}); each keyword may start one flow",
                            other.id, other.file
                        ),
                    ));
                } else {
                    by_keyword.insert(key, i);
                }
            }
        }
        if problems.is_empty() {
            Ok(Self { flows, by_keyword })
        } else {
            Err(problems)
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The flow a message starts: its whole text or its first word, after folding case,
    /// accents and punctuation, equals one of the flow's keywords.
    pub fn match_text(&self, text: &str) -> Option<&Flow> {
        let norm = normalize(text);
        if let Some(&i) = self.by_keyword.get(&norm) {
            return Some(&self.flows[i]);
        }
        let first = norm.split(' ').next()?;
        self.by_keyword.get(first).map(|&i| &self.flows[i])
    }
}
