//! `models:` and `transcribe:`: the language models `agent` steps talk to, each by a name
//! flows use, and the speech-to-text endpoint voice notes go through.

use crate::config::duration::de_duration;
use serde::Deserialize;
use std::time::Duration;

/// The wire a model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// OpenAI's chat completions (`POST {base_url}/chat/completions`): OpenAI, Azure
    /// OpenAI, OpenRouter, Ollama, vLLM, llama.cpp's server.
    Openai,
    /// Anthropic's Messages (`POST {base_url}/v1/messages`).
    Anthropic,
    /// No network: answers from a rules file (`script`), for the sandbox and demos.
    Scripted,
}

/// One named model.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// What flows call it (`agent: { model: NAME }`).
    pub name: String,
    /// `openai` (any OpenAI-compatible API), `anthropic` or `scripted` (answers from a rules
    /// file, no network).
    pub kind: ModelKind,
    /// `https://api.openai.com/v1`, `https://api.anthropic.com`, `http://127.0.0.1:11434/v1`…
    #[serde(default)]
    pub base_url: Option<String>,
    /// The key, usually `${OPENAI_API_KEY}`; none for a local server.
    #[serde(default)]
    pub api_key: Option<String>,
    /// The provider's model name (`gpt-4o-mini`, `claude-sonnet-4-5`, `llama3.1`).
    #[serde(default)]
    pub model: Option<String>,
    /// The longest one call may take, retries included.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Calls in flight at once from this process; more wait their turn.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retries of a 429 or 5xx answer (or a connection failure), with backoff.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// US dollars per million input tokens.
    #[serde(default)]
    pub price_input: f64,
    /// US dollars per million output tokens.
    #[serde(default)]
    pub price_output: f64,
    /// `kind: scripted`: the rules file (relative to the config file's folder).
    #[serde(default)]
    pub script: Option<String>,
    /// An embedding model (`POST {base_url}/embeddings`, `kind: openai` only): it finds an
    /// agent's passages (`retrieval: { embeddings: NAME }`) and holds no conversation.
    #[serde(default)]
    pub embeddings: bool,
}

/// `transcribe:`: voice notes become text (`message.text`) before flows see them.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscribeConfig {
    /// An OpenAI-compatible base URL (`POST {base_url}/audio/transcriptions`).
    pub base_url: String,
    /// Sent as `Authorization: Bearer`; `${OPENAI_API_KEY}` keeps it out of the file.
    #[serde(default)]
    pub api_key: Option<String>,
    /// `whisper-1`, `gpt-4o-mini-transcribe`…
    #[serde(default = "default_transcribe_model")]
    pub model: String,
    /// A language hint (ISO-639-1), e.g. `es`.
    #[serde(default)]
    pub language: Option<String>,
    /// The longest one transcription may take, retries included.
    #[schemars(schema_with = "crate::config::duration::schema")]
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Transcriptions in flight at once from this process; more wait their turn.
    #[serde(default = "default_transcribe_concurrency")]
    pub concurrency: usize,
    /// Retries of a 429 or 5xx answer (or a connection failure), with backoff.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// US dollars per minute of audio.
    #[serde(default)]
    pub price_per_minute: f64,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_concurrency() -> usize {
    16
}

fn default_transcribe_concurrency() -> usize {
    4
}

fn default_retries() -> u32 {
    2
}

fn default_transcribe_model() -> String {
    "whisper-1".into()
}

impl ModelConfig {
    pub fn prices(&self) -> crate::domain::chat::Prices {
        crate::domain::chat::Prices {
            input_per_million: self.price_input,
            output_per_million: self.price_output,
        }
    }
}

/// The names of the chat models of `models:` (those `agent` steps and judges talk to).
pub fn chat_model_names(models: &[ModelConfig]) -> Vec<String> {
    models
        .iter()
        .filter(|m| !m.embeddings)
        .map(|m| m.name.clone())
        .collect()
}

/// The names of the embedding models of `models:` (`embeddings: true`).
pub fn embedding_model_names(models: &[ModelConfig]) -> Vec<String> {
    models
        .iter()
        .filter(|m| m.embeddings)
        .map(|m| m.name.clone())
        .collect()
}

/// The checks of `models:` and `transcribe:`.
pub fn model_problems(
    models: &[ModelConfig],
    transcribe: Option<&TranscribeConfig>,
    problems: &mut Vec<String>,
) {
    let mut seen = std::collections::HashSet::new();
    for (i, m) in models.iter().enumerate() {
        let at = format!("models[{i}] ({})", m.name);
        if m.name.trim().is_empty() {
            problems.push(format!("models[{i}].name: must not be empty"));
        }
        if !seen.insert(m.name.as_str()) {
            problems.push(format!(
                "{at}.name: another model is already called `{}`",
                m.name
            ));
        }
        if m.concurrency == 0 {
            problems.push(format!("{at}.concurrency: must be at least 1"));
        }
        if m.timeout.is_zero() {
            problems.push(format!("{at}.timeout: must be more than 0s"));
        }
        for (key, price) in [
            ("price_input", m.price_input),
            ("price_output", m.price_output),
        ] {
            if !price.is_finite() || price < 0.0 {
                problems.push(format!(
                    "{at}.{key}: must be a price of 0 or more (dollars per million tokens)"
                ));
            }
        }
        if m.embeddings && m.kind != ModelKind::Openai {
            problems.push(format!(
                "{at}.embeddings: only `kind: openai` models give embeddings (an OpenAI-compatible POST {{base_url}}/embeddings); make this `kind: openai` or remove `embeddings: true`"
            ));
        }
        match m.kind {
            ModelKind::Scripted => {
                if m.script.is_none() {
                    problems.push(format!(
                        "{at}.script: a scripted model needs its rules file"
                    ));
                }
            }
            ModelKind::Openai | ModelKind::Anthropic => {
                match &m.base_url {
                    None => problems.push(format!(
                        "{at}.base_url: missing (e.g. https://api.openai.com/v1)"
                    )),
                    Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => problems
                        .push(format!(
                            "{at}.base_url: `{u}` must start with http:// or https://"
                        )),
                    Some(_) => {}
                }
                if m.model.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    problems.push(format!(
                        "{at}.model: missing: the provider's model name (e.g. gpt-4o-mini)"
                    ));
                }
            }
        }
    }
    if let Some(t) = transcribe {
        if !(t.base_url.starts_with("http://") || t.base_url.starts_with("https://")) {
            problems.push(format!(
                "transcribe.base_url: `{}` must start with http:// or https://",
                t.base_url
            ));
        }
        if t.timeout.is_zero() {
            problems.push("transcribe.timeout: must be more than 0s".into());
        }
        if t.concurrency == 0 {
            problems.push("transcribe.concurrency: must be at least 1".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models(yaml: &str) -> Vec<ModelConfig> {
        serde_yaml::from_str(yaml).expect("models")
    }

    #[test]
    fn an_embedding_model_is_kept_apart_from_the_chat_models() {
        let m = models(
            "- { name: gpt, kind: openai, base_url: 'https://a/v1', model: gpt-4o-mini }\n- { name: vectors, kind: openai, base_url: 'https://a/v1', model: text-embedding-3-small, embeddings: true }\n",
        );
        let mut problems = Vec::new();
        model_problems(&m, None, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(chat_model_names(&m), ["gpt"]);
        assert_eq!(embedding_model_names(&m), ["vectors"]);
    }

    #[test]
    fn only_openai_compatible_models_give_embeddings() {
        let m = models(
            "- { name: v, kind: anthropic, base_url: 'https://a', model: c, embeddings: true }\n",
        );
        let mut problems = Vec::new();
        model_problems(&m, None, &mut problems);
        assert_eq!(
            problems,
            ["models[0] (v).embeddings: only `kind: openai` models give embeddings (an OpenAI-compatible POST {base_url}/embeddings); make this `kind: openai` or remove `embeddings: true`"]
        );
    }
}
