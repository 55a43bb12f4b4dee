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

use crate::domain::chat::{ChatAnswer, ChatRequest, Prices};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

/// Why a model gave no answer, in words for the step's `last_error` and the trace.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("{0}")]
    Failed(String),
    #[error("the model did not answer within {0:?}")]
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

/// The configured models by name.
#[derive(Clone, Default)]
pub struct Models {
    by_name: HashMap<String, Model>,
}

impl Models {
    pub fn get(&self, name: &str) -> Option<&Model> {
        self.by_name.get(name)
    }

    /// Adds (or replaces) a model: flow tests put scripted answers in place of a real one.
    pub fn insert(&mut self, model: Model) {
        self.by_name.insert(model.name.clone(), model);
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}
