//! `FlowEngine`: the loop that drives the interpreter (`exec`) through one event and
//! performs the effects it hands out. Each kind of effect that touches the outside world
//! has its file: `model.rs` (a model call, recorded and replayed through the store's
//! `Exchanges`), `embed.rs` (a question's embeddings, likewise, with the passages' vectors
//! of `passages.rs`), `transcription.rs` (voice notes), `typing.rs` ("typing…" through the
//! sender's channel), and `super::http_step` (an `http` step's request); scripts run on
//! the script pool.

mod embed;
mod model;
mod passages;
mod spans;
mod transcription;
mod typing;

use transcription::with_transcript;
use typing::MODEL_TYPING_GRACE;

pub use transcription::VOICE_NOTES;

use super::{
    exec, http_step, slot, trace, Answer, Effect, Engine, Library, Note, Reach, ScriptJob,
    ScriptPool, StepInput, StepOutput,
};
use crate::channels::senders::Senders;
use crate::flows::{script, Flow, FlowSet};
use async_trait::async_trait;
use std::sync::Arc;

/// Runs the loaded flows (`Library`) with the I/O their steps ask for: the script pool and
/// the `http` steps' client. While a `typing: true` flow's `http` step waits, it also
/// shows the customer "typing…" through their sender's channel (`with_typing`).
pub struct FlowEngine {
    library: Library,
    scripts: ScriptPool,
    /// The `http` steps' client, guarded unless `allow_private_networks` (`http_step`).
    http: reqwest::Client,
    reach: Reach,
    /// `http` calls in flight at once: as many as the inbox runs conversations, so a burst
    /// of customers is no larger a burst on the author's service than when each call held
    /// its conversation's worker slot.
    http_calls: Arc<tokio::sync::Semaphore>,
    /// The senders' channels, to show "typing…" (`with_typing`); `None`: never shown.
    typing: Option<Arc<Senders>>,
    typing_renew: std::time::Duration,
    /// The models `agent` steps call, and where their answers are recorded.
    models: Arc<crate::models::Models>,
    /// The vectors of passages, computed once per process (`passages`).
    passage_vectors: Arc<passages::PassageVectors>,
    exchanges: Option<Arc<dyn crate::store::Exchanges>>,
    /// Voice notes to text (`transcribe:`), downloaded with `media_http` through the
    /// sender's channel.
    transcriber: Option<Arc<crate::models::Transcriber>>,
    /// The longest a voice note's download and transcription may take together.
    transcribe_within: std::time::Duration,
    /// The largest voice note downloaded: WhatsApp's audio limit, or `media.max_bytes`.
    audio_max_bytes: usize,
    media_http: reqwest::Client,
}

/// Engine behaviour taken from the config.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub allow_private_networks: bool,
    /// Messages equal to one of these (folded) opt the contact out of scheduled messages.
    pub opt_out_keywords: Vec<String>,
    pub opt_out_reply: Option<String>,
    /// Quiet period collapsing bursts of texts into one message, for every conversation.
    pub debounce: Option<std::time::Duration>,
    /// Threads that run scripts (0: one per CPU core but one) and scripts that may wait
    /// for one.
    pub script_threads: usize,
    pub script_queue: usize,
    /// What an echo from the WhatsApp Business app does, by sender id (default
    /// `until_release` for a sender not listed).
    pub echo_pause: std::collections::HashMap<i64, crate::config::EchoPause>,
    /// Conversation routing, by sender id (Meta senders with `meta.routing` only).
    pub routing: std::collections::HashMap<i64, crate::config::RoutingSettings>,
    /// How often "typing…" is shown again during a `typing: true` flow's slow step.
    pub typing_renew: std::time::Duration,
    /// The configured models' prices, by name (`agent` budgets are checked before a call).
    pub model_prices: std::collections::HashMap<String, crate::domain::chat::Prices>,
    /// `http` steps' calls in flight at once in this process (`inbox.concurrency`).
    pub http_calls: usize,
    /// The config's approved templates: name → (language, Twilio Content SID) of each
    /// language it is declared in; a flow with `languages:` sends the contact's.
    pub template_languages: std::collections::HashMap<String, Vec<(String, Option<String>)>>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            opt_out_keywords: Vec::new(),
            opt_out_reply: None,
            debounce: None,
            script_threads: 0,
            script_queue: crate::config::ScriptsConfig::default().queue,
            echo_pause: Default::default(),
            routing: Default::default(),
            typing_renew: crate::config::FlowsConfig::default().typing_renew,
            model_prices: Default::default(),
            http_calls: crate::config::InboxConfig::default().concurrency,
            template_languages: Default::default(),
        }
    }
}

impl EngineOptions {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            allow_private_networks: config.flows.allow_private_networks,
            opt_out_keywords: config
                .opt_out
                .keywords
                .iter()
                .map(|k| crate::flows::normalize(k))
                .collect(),
            opt_out_reply: config.opt_out.reply.clone(),
            debounce: (!config.inbox.debounce.is_zero()).then_some(config.inbox.debounce),
            script_threads: config.scripts.threads,
            script_queue: config.scripts.queue,
            echo_pause: config
                .senders
                .iter()
                .map(|s| (s.id, s.echo_pause))
                .collect(),
            routing: config
                .senders
                .iter()
                .filter_map(|s| Some((s.id, s.meta.as_ref()?.routing.clone()?)))
                .collect(),
            typing_renew: config.flows.typing_renew,
            model_prices: config
                .models
                .iter()
                .map(|m| (m.name.clone(), m.prices()))
                .collect(),
            http_calls: config.inbox.concurrency,
            template_languages: template_languages(&config.templates),
        }
    }
}

/// The approved templates' languages, by name, in the order the config declares them.
fn template_languages(
    templates: &[crate::config::TemplateConfig],
) -> std::collections::HashMap<String, Vec<(String, Option<String>)>> {
    let mut by_name: std::collections::HashMap<String, Vec<(String, Option<String>)>> =
        Default::default();
    for t in templates {
        if t.status == crate::config::TemplateStatus::Approved {
            by_name
                .entry(t.name.clone())
                .or_default()
                .push((t.language.clone(), t.twilio_content_sid.clone()));
        }
    }
    by_name
}

impl FlowEngine {
    pub fn new(flows: FlowSet, options: EngineOptions) -> Self {
        let reach = Reach::from_allow_private(options.allow_private_networks);
        Self {
            scripts: ScriptPool::new(options.script_threads, options.script_queue),
            http: http_step::client(&reach),
            reach,
            http_calls: Arc::new(tokio::sync::Semaphore::new(options.http_calls.max(1))),
            typing: None,
            typing_renew: options.typing_renew,
            models: Arc::default(),
            passage_vectors: Arc::default(),
            exchanges: None,
            transcriber: None,
            transcribe_within: std::time::Duration::from_secs(60),
            audio_max_bytes: crate::models::transcribe::MAX_AUDIO_BYTES,
            media_http: reqwest::Client::new(),
            library: Library::new(flows, options),
        }
    }

    /// Shows "typing…" through these senders' channels while `typing: true` flows wait.
    pub fn with_typing(mut self, senders: Arc<Senders>) -> Self {
        self.typing = Some(senders);
        self
    }

    /// The models `agent` steps call; with `store`, each answer is recorded there before
    /// the step goes on, and an event handled again (after a crash) reuses it.
    pub fn with_models(
        mut self,
        models: Arc<crate::models::Models>,
        store: Option<crate::store::DynStore>,
    ) -> Self {
        self.models = models;
        self.exchanges = store.map(|s| s as Arc<dyn crate::store::Exchanges>);
        self
    }

    /// The models `agent` steps call (the background scoring's judge is one of them).
    pub fn models(&self) -> Arc<crate::models::Models> {
        self.models.clone()
    }

    /// Voice notes become text before flows see them (`message.text`, keywords, `ask`,
    /// `agent`); the audio is fetched through the sender's channel (`with_typing`'s
    /// senders) and the transcript recorded like a model's answer.
    ///
    /// The audio is downloaded as the media worker downloads files (`net::media_client`:
    /// the whole download within `within`, at most 3 redirects), at most `audio_max_bytes`.
    pub fn with_transcriber(
        mut self,
        transcriber: Arc<crate::models::Transcriber>,
        within: std::time::Duration,
        audio_max_bytes: u64,
    ) -> Self {
        self.transcriber = Some(transcriber);
        self.transcribe_within = within;
        self.audio_max_bytes = usize::try_from(audio_max_bytes)
            .unwrap_or(usize::MAX)
            .min(crate::models::transcribe::MAX_AUDIO_BYTES);
        if let Ok(client) = crate::net::media_client(within) {
            self.media_http = client;
        }
        self
    }

    /// The loaded flows and the rollouts' shares.
    pub fn library(&self) -> &Library {
        &self.library
    }

    /// Makes `flows` the current set (hot reload).
    pub fn replace(&self, flows: FlowSet) {
        self.library.replace(flows);
    }

    pub fn flows(&self) -> Arc<FlowSet> {
        self.library.flows()
    }

    /// The flow a run started on; after a restart (old versions are gone) the current
    /// version of the same flow.
    pub fn flow_version(&self, id: &str, version: u64) -> Option<Arc<Flow>> {
        self.library.flow_version(id, version)
    }
}

#[async_trait]
impl Engine for FlowEngine {
    async fn handle(&self, input: StepInput<'_>) -> StepOutput {
        self.run(input, None).await.0
    }
}

impl FlowEngine {
    /// `handle`, saying what it did: triggers considered, steps, variables, sends.
    pub async fn handle_traced(&self, input: StepInput<'_>) -> (StepOutput, trace::Trace) {
        let (out, trace) = self.run(input, Some(Box::default())).await;
        (out, trace.map(|t| *t).unwrap_or_default())
    }

    /// Drives the interpreter: performs each effect it asks for and resumes it with the
    /// answer, then logs its notes.
    async fn run(
        &self,
        input: StepInput<'_>,
        trace: Option<Box<trace::Trace>>,
    ) -> (StepOutput, Option<Box<trace::Trace>>) {
        let transcribed;
        let mut waited = false;
        let input = match self.transcript(&input).await {
            Some(text) => {
                waited = true;
                transcribed = with_transcript(input.event, text);
                StepInput {
                    event: &transcribed,
                    ..input
                }
            }
            None => input,
        };
        let mut interpreter = exec::Interpreter::new(&self.library, &input, trace);
        while let Some(effect) = interpreter.next() {
            waited |= matches!(
                effect,
                Effect::Http(_) | Effect::Model(_) | Effect::Embed(_)
            );
            let slow = matches!(effect, Effect::Model(_))
                || (matches!(effect, Effect::Http(_)) && interpreter.waits_in_typing_flow());
            let answer = match slow.then(|| self.typing_target(&input)).flatten() {
                Some(target) => {
                    // A model that answers within the grace needs no "typing…": its answer
                    // is on its way (and one request per fast turn is saved).
                    let grace = if matches!(effect, Effect::Model(_)) {
                        MODEL_TYPING_GRACE
                    } else {
                        std::time::Duration::ZERO
                    };
                    self.perform_typing(effect, target, grace).await
                }
                None => self.perform(effect).await,
            };
            interpreter.resume(answer);
        }
        let done = interpreter.finish();
        for note in &done.notes {
            match note {
                Note::StepFailed {
                    flow,
                    step,
                    message,
                } => {
                    tracing::warn!(flow = %flow, step = %step, error = %message, "flow step failed")
                }
                Note::HandedOff { flow, until } => {
                    tracing::info!(flow = %flow, until = ?until, "conversation handed off to a person")
                }
                Note::DeferredDropped { flow, max } => tracing::warn!(
                    flow = %flow,
                    "scheduled flow dropped: {max} others already wait for this conversation's run to end"
                ),
                Note::RunLost { flow, why } => tracing::warn!(
                    flow = %flow,
                    "a conversation's run ended: {why}; the customer's message was taken as a new one"
                ),
                Note::FormReply {
                    outcome,
                    flow,
                    token,
                } => {
                    metrics::counter!(crate::metrics::FORM_REPLIES, "outcome" => *outcome)
                        .increment(1);
                    if *outcome == "stale" {
                        tracing::info!(flow = ?flow, token = ?token, "form submitted after no step waited for it any more; ignored");
                    }
                }
            }
        }
        let mut out = done.out;
        out.waited = waited;
        (out, done.trace)
    }

    /// The I/O a step asked for: an `http` step's request through the guarded client, or
    /// a script on the script pool (never on this thread).
    async fn perform(&self, effect: Effect) -> Answer {
        let Some(traced) = spans::begin(&effect) else {
            return self.perform_untraced(effect).await;
        };
        let inside = Some(traced.inside());
        let answer = crate::telemetry::within(inside, self.perform_untraced(effect)).await;
        traced.finish(&answer);
        answer
    }

    async fn perform_untraced(&self, effect: Effect) -> Answer {
        match effect {
            // Waiting on a slow service uses no CPU: the worker's slot goes to other
            // conversations meanwhile, as during a model call (a service that never
            // answered once held up every customer's replies for its whole timeout).
            Effect::Http(req) => Answer::Http(
                slot::idle(async {
                    let _call = self.http_calls.acquire().await;
                    http_step::call(&self.http, &self.reach, req).await
                })
                .await,
            ),
            Effect::Script(ScriptJob { ast, inputs }) => Answer::Script(
                self.scripts
                    .run(move |rhai| script::run_on(rhai, &ast, inputs))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string())),
            ),
            Effect::Model(call) => Answer::Model(slot::idle(self.call_model(*call)).await),
            Effect::Embed(call) => Answer::Embed(slot::idle(self.embed(*call)).await),
        }
    }
}
