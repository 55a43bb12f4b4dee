//! The vectors of `agent` steps' passages, computed once per process: keyed by the
//! embedding model and each passage's text (its hash and length), so a reload that keeps a
//! passage keeps its vector, and looked up per knowledge (one map read per message once
//! known). A knowledge's missing vectors are computed by one task at a time, in the
//! background: a message that stops waiting (its timeout) does not stop the work, and
//! messages arriving meanwhile wait for the same task instead of asking again. Only the
//! vectors of knowledge still loaded (the flows and their kept versions) stay in memory.

use crate::flows::knowledge::Knowledge;
use crate::models::Embedder;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock, Weak};

/// A vector of a passage.
pub(super) type Vector = Arc<[f32]>;

/// The vectors of one knowledge's passages, in its order.
pub(super) type Vectors = Arc<Vec<Vector>>;

/// What a vector is kept by: the model, and the passage's text hash and length.
type TextKey = (String, u64, usize);

/// A knowledge's vectors, by model and knowledge (its address, checked against the weak
/// reference, which keeps the address from being reused).
type ByKnowledge = HashMap<(String, usize), (Weak<Knowledge>, Vectors)>;

#[derive(Default)]
pub(super) struct PassageVectors {
    by_text: RwLock<HashMap<TextKey, Vector>>,
    by_knowledge: RwLock<ByKnowledge>,
    /// One fill at a time.
    filling: tokio::sync::Mutex<()>,
}

/// The result of `vectors`: the vectors, and how many were computed for it.
pub(super) struct Filled {
    pub vectors: Vectors,
    pub embedded: usize,
}

fn text_key(model: &str, text: &str) -> TextKey {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    (model.to_string(), h.finish(), text.len())
}

impl PassageVectors {
    /// The vectors of `knowledge`'s passages by `model` when they are known.
    pub(super) fn known(&self, model: &str, knowledge: &Arc<Knowledge>) -> Option<Vectors> {
        let key = (model.to_string(), Arc::as_ptr(knowledge) as usize);
        let map = self.by_knowledge.read().unwrap_or_else(|e| e.into_inner());
        let (weak, vectors) = map.get(&key)?;
        (weak.as_ptr() == Arc::as_ptr(knowledge)).then(|| vectors.clone())
    }

    /// The vectors of `knowledge`'s passages by `model`, computing those not known yet in
    /// a background task (one at a time in this process) which this call waits for.
    pub(super) async fn vectors(
        self: &Arc<Self>,
        model: &str,
        embedder: &Arc<Embedder>,
        knowledge: &Arc<Knowledge>,
    ) -> Result<Filled, String> {
        if let Some(vectors) = self.known(model, knowledge) {
            return Ok(Filled {
                vectors,
                embedded: 0,
            });
        }
        let (this, model, embedder, knowledge) = (
            self.clone(),
            model.to_string(),
            embedder.clone(),
            knowledge.clone(),
        );
        tokio::spawn(async move { this.fill(&model, &embedder, &knowledge).await })
            .await
            .map_err(|e| format!("computing the passages' vectors stopped: {e}"))?
    }

    async fn fill(
        &self,
        model: &str,
        embedder: &Embedder,
        knowledge: &Arc<Knowledge>,
    ) -> Result<Filled, String> {
        let _one = self.filling.lock().await;
        // Another task may have filled them while this one waited for its turn.
        if let Some(vectors) = self.known(model, knowledge) {
            return Ok(Filled {
                vectors,
                embedded: 0,
            });
        }
        let keys: Vec<TextKey> = knowledge
            .passages
            .iter()
            .map(|p| text_key(model, &p.text))
            .collect();
        let missing: Vec<usize> = {
            let by_text = self.by_text.read().unwrap_or_else(|e| e.into_inner());
            (0..keys.len())
                .filter(|i| !by_text.contains_key(&keys[*i]))
                .collect()
        };
        let texts: Vec<String> = missing
            .iter()
            .map(|i| knowledge.passages[*i].text.clone())
            .collect();
        let mut computed = Vec::new();
        if !texts.is_empty() {
            let embedded = embedder
                .embed_counted(&texts)
                .await
                .map_err(|e| e.to_string())?;
            let tokens = embedded.input_tokens;
            metrics::counter!(crate::metrics::MODEL_CALLS, "model" => model.to_string(), "flow" => PASSAGES, "outcome" => "answered").increment(texts.len().div_ceil(crate::models::embeddings::BATCH_MAX) as u64);
            metrics::counter!(crate::metrics::MODEL_TOKENS, "model" => model.to_string(), "flow" => PASSAGES, "direction" => "input").increment(tokens);
            metrics::counter!(crate::metrics::MODEL_COST, "model" => model.to_string(), "flow" => PASSAGES).increment(embedder.cost_micros(tokens));
            tracing::info!(
                model,
                passages = texts.len(),
                tokens,
                "computed the vectors of an agent's passages"
            );
            computed = embedded.vectors;
        }
        let mut by_text = self.by_text.write().unwrap_or_else(|e| e.into_inner());
        for (i, v) in missing.iter().zip(computed) {
            by_text.insert(keys[*i].clone(), v.into());
        }
        let mut vectors = Vec::with_capacity(keys.len());
        for key in &keys {
            vectors.push(
                by_text
                    .get(key)
                    .cloned()
                    .ok_or("the embedding model answered fewer vectors than passages")?,
            );
        }
        let vectors: Vectors = Arc::new(vectors);
        let mut by_knowledge = self.by_knowledge.write().unwrap_or_else(|e| e.into_inner());
        // Knowledge no flow holds any more goes, and with it the vectors only it used.
        by_knowledge.retain(|_, (weak, _)| weak.strong_count() > 0);
        by_knowledge.insert(
            (model.to_string(), Arc::as_ptr(knowledge) as usize),
            (Arc::downgrade(knowledge), vectors.clone()),
        );
        by_text.retain(|_, v| Arc::strong_count(v) > 1);
        Ok(Filled {
            vectors,
            embedded: missing.len(),
        })
    }
}

/// What the passages' embeddings are counted under where model calls have a flow (metrics):
/// they are computed once per process, for no one message.
pub const PASSAGES: &str = "(passages)";
