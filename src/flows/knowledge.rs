//! An `agent` step's knowledge: the files it names, cut into passages and indexed once at
//! load (BM25), so each turn retrieves the passages nearest to the customer's words with no
//! external service.

/// A passage of a knowledge file.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The file as the flow names it.
    pub file: String,
    /// The line the passage starts on.
    pub line: usize,
    pub text: String,
}

/// The passages of a step's files, indexed.
#[derive(Debug, Default)]
pub struct Knowledge {
    pub passages: Vec<Passage>,
}

impl Knowledge {
    /// The `k` passages that best match `query`, best first; none when nothing matches.
    pub fn search(&self, query: &str, k: usize) -> Vec<&Passage> {
        // Placeholder until the index lands: passages sharing a word with the query.
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2)
            .map(str::to_lowercase)
            .collect();
        self.passages
            .iter()
            .filter(|p| {
                let t = p.text.to_lowercase();
                words.iter().any(|w| t.contains(w.as_str()))
            })
            .take(k)
            .collect()
    }
}
