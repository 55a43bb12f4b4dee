//! Language models and speech-to-text: the clients `agent` steps and voice-note
//! transcription call, one per configured model (`models:`), each bounded in time, size
//! and calls in flight, retrying 429 and 5xx answers with backoff.
//!
//! - `openai`: OpenAI-compatible chat completions (OpenAI, Azure OpenAI, OpenRouter,
//!   Ollama, vLLM, llama.cpp's server).
//! - `anthropic`: Anthropic's Messages.
//! - `scripted`: no network; answers from a rules file (the sandbox's demo model) or from a
//!   queue a flow test fills.
//! - `transcribe`: OpenAI-compatible `/audio/transcriptions`.
//! - `embeddings`: OpenAI-compatible `/embeddings`, the vectors passages are compared by.

use crate::config::{Config, ModelConfig, ModelKind};
use crate::domain::chat::{ChatAnswer, ChatRequest, Prices};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

pub mod anthropic;
mod client;
pub mod embeddings;
pub mod openai;
pub mod scripted;
pub mod transcribe;
mod usage;

pub use client::{within, MAX_ANSWER_BYTES};
pub use embeddings::Embedder;
pub use scripted::{Scripted, ScriptedQueue};
pub use transcribe::Transcriber;

#[cfg(test)]
mod tests;

/// Why a model gave no answer, in words for the step's `last_error` and the trace.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("{0}")]
    Failed(String),
    #[error("the model did not answer within {}", humantime::format_duration(*.0))]
    Timeout(std::time::Duration),
}

/// A chat model: one request, one answer (text and/or tool calls, with usage).
#[async_trait]
pub trait ChatModel: Send + Sync + 'static {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatAnswer, ModelError>;
}

/// A configured model: its client and its prices.
#[derive(Clone)]
pub struct Model {
    pub name: String,
    pub client: Arc<dyn ChatModel>,
    pub prices: Prices,
    /// The longest one call may take.
    pub timeout: std::time::Duration,
}

/// The configured models by name: the chat models, and apart from them the embedding
/// models (`embeddings: true`), which find passages and hold no conversation.
#[derive(Clone, Default)]
pub struct Models {
    by_name: HashMap<String, Model>,
    embedders: HashMap<String, Arc<Embedder>>,
}

impl Model {
    /// A model around any client (flow tests put a `ScriptedQueue` here), free of charge.
    pub fn new(name: impl Into<String>, client: Arc<dyn ChatModel>) -> Self {
        Self {
            name: name.into(),
            client,
            prices: Prices::default(),
            timeout: std::time::Duration::from_secs(30),
        }
    }

    /// The client of one `models:` entry; `Err` says what is wrong, without the entry's
    /// path (the caller adds it).
    fn from_config(config: &ModelConfig) -> Result<Self, String> {
        let client: Arc<dyn ChatModel> = match config.kind {
            ModelKind::Scripted => {
                let script = config
                    .script
                    .as_deref()
                    .ok_or("script: a scripted model needs its rules file")?;
                let rules = Scripted::load(std::path::Path::new(script))
                    .map_err(|problems| format!("script: {}", problems.join("; ")))?;
                Arc::new(rules)
            }
            ModelKind::Openai | ModelKind::Anthropic => {
                let base_url = config.base_url.as_deref().ok_or("base_url: missing")?;
                let model = config.model.as_deref().ok_or("model: missing")?;
                let key = config.api_key.clone().filter(|k| !k.is_empty());
                let headers = match (config.kind, &key) {
                    (ModelKind::Anthropic, Some(k)) => vec![
                        ("x-api-key", k.clone()),
                        ("anthropic-version", anthropic::API_VERSION.to_string()),
                    ],
                    (ModelKind::Anthropic, None) => {
                        vec![("anthropic-version", anthropic::API_VERSION.to_string())]
                    }
                    (_, Some(k)) => vec![("authorization", format!("Bearer {k}"))],
                    (_, None) => Vec::new(),
                };
                let url = match config.kind {
                    ModelKind::Anthropic => anthropic::url(base_url),
                    _ => openai::url(base_url),
                };
                let transport = client::Transport::new(
                    &config.name,
                    format!("model `{}`", config.name),
                    &url,
                    config.timeout,
                    config.concurrency,
                    config.retries,
                    headers,
                    key,
                )?;
                if config.kind == ModelKind::Anthropic {
                    Arc::new(anthropic::Anthropic::new(transport, model))
                } else {
                    Arc::new(openai::OpenAi::new(transport, model))
                }
            }
        };
        Ok(Self {
            name: config.name.clone(),
            client,
            prices: config.prices(),
            timeout: config.timeout,
        })
    }
}

impl Models {
    /// One model per `models:` entry of a validated config (relative `script:` paths
    /// already resolved). Each problem reads like a config error:
    /// `models[0] (demo).script: rules.yaml:3:11: …`.
    pub fn from_config(config: &Config) -> Result<Models, Vec<String>> {
        let mut models = Models::default();
        let mut problems = Vec::new();
        for (i, entry) in config.models.iter().enumerate() {
            let built = if entry.embeddings {
                embedder(entry).map(|e| models.insert_embedder(&entry.name, Arc::new(e)))
            } else {
                Model::from_config(entry).map(|model| models.insert(model))
            };
            if let Err(e) = built {
                problems.push(format!("models[{i}] ({}).{e}", entry.name));
            }
        }
        if problems.is_empty() {
            Ok(models)
        } else {
            Err(problems)
        }
    }

    pub fn get(&self, name: &str) -> Option<&Model> {
        self.by_name.get(name)
    }

    /// Adds (or replaces) a model: flow tests put scripted answers in place of a real one.
    pub fn insert(&mut self, model: Model) {
        self.by_name.insert(model.name.clone(), model);
    }

    /// The chat models' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The embedding model called `name` (`embeddings: true`).
    pub fn embedder(&self, name: &str) -> Option<&Arc<Embedder>> {
        self.embedders.get(name)
    }

    /// Adds (or replaces) an embedding model.
    pub fn insert_embedder(&mut self, name: &str, embedder: Arc<Embedder>) {
        self.embedders.insert(name.to_string(), embedder);
    }
}

/// The client of a `models:` entry with `embeddings: true`; `Err` says what is wrong,
/// without the entry's path.
fn embedder(config: &ModelConfig) -> Result<Embedder, String> {
    if config.kind != ModelKind::Openai {
        return Err("embeddings: only `kind: openai` models give embeddings".into());
    }
    let base_url = config.base_url.as_deref().ok_or("base_url: missing")?;
    let model = config.model.as_deref().ok_or("model: missing")?;
    Embedder::new(
        &config.name,
        base_url,
        config.api_key.as_deref(),
        model,
        config.timeout,
        config.concurrency,
        config.retries,
    )
    .map(|e| e.priced(config.prices()))
}
