//! The conversation engine: given a conversation, its contact and one event, decide what
//! happens — new state, replies, contact changes, timers. It touches no database; the inbox
//! worker commits its output in one transaction.
//!
//! The interpreter (`exec`) is synchronous and pure: when a step needs I/O (an `http` step's
//! request, a script on the script pool) it hands out an `Effect`, which `FlowEngine::run`
//! performs (outside any transaction) before resuming it with the answer.

mod answer;
mod exec;
pub mod guard;
mod http_step;
mod library;
mod scope;
mod script_pool;
pub mod slot;
pub mod template;
pub mod trace;

pub use exec::{Answer, Effect, ModelCall, ModelReply, Note, ScriptJob};
pub use http_step::{HttpRequest, Reach};
pub use library::Library;
pub use script_pool::{PoolError, ScriptPool};
pub use template::{render, render_json};

use crate::channels::senders::Senders;
use crate::domain::chat::MAX_COST_MICROS_PER_CALL;
use crate::domain::{
    Contact, ContactPatch, Conversation, ConversationState, NewTimer, OutboundContent, StoredEvent,
    TimerKind, WindowFallback, WindowState,
};
use crate::flows::{script, Flow, FlowSet};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What the engine sees for one event.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    pub conversation: &'a Conversation,
    pub contact: &'a Contact,
    pub event: &'a StoredEvent,
    pub window: &'a WindowState,
    pub now: DateTime<Utc>,
    /// The latest broadcast sent to the customer that names a reply flow.
    pub broadcast_reply: Option<&'a crate::domain::broadcast::BroadcastReply>,
}

/// A message the engine wants sent, with what to do if the window is closed by then.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub content: OutboundContent,
    pub fallback: WindowFallback,
    /// The flow and step that sent it (`None` for messages no step sent, such as the
    /// opt-out reply). The step is its `id`, or its place (`step 2 (line 17)`).
    pub flow: Option<String>,
    pub step: Option<String>,
}

/// Everything one event produced; committed together.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    pub state: ConversationState,
    pub contact_patch: Option<ContactPatch>,
    pub replies: Vec<Reply>,
    pub timers: Vec<NewTimer>,
    pub cancel_timers: Vec<TimerKind>,
    /// What the event adds to the flow insights' counters (committed with the rest).
    pub insights: crate::domain::insight::Tally,
    /// The step waited on something outside Parley (a model, an `http` step, a voice
    /// note's transcription): its replies are queued when it returns, not when it began.
    pub waited: bool,
}

impl StepOutput {
    /// Nothing happens; the state stays as it was.
    pub fn unchanged(state: &ConversationState) -> Self {
        Self {
            state: state.clone(),
            contact_patch: None,
            replies: Vec::new(),
            timers: Vec::new(),
            cancel_timers: Vec::new(),
            insights: Default::default(),
            waited: false,
        }
    }
}

#[async_trait]
pub trait Engine: Send + Sync + 'static {
    async fn handle(&self, input: StepInput<'_>) -> StepOutput;
}

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
    exchanges: Option<crate::store::DynStore>,
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
    /// How often "typing…" is shown again during a `typing: true` flow's slow step.
    pub typing_renew: std::time::Duration,
    /// The configured models' prices, by name (`agent` budgets are checked before a call).
    pub model_prices: std::collections::HashMap<String, crate::domain::chat::Prices>,
    /// `http` steps' calls in flight at once in this process (`inbox.concurrency`).
    pub http_calls: usize,
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
            typing_renew: crate::config::FlowsConfig::default().typing_renew,
            model_prices: Default::default(),
            http_calls: crate::config::InboxConfig::default().concurrency,
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
            typing_renew: config.flows.typing_renew,
            model_prices: config
                .models
                .iter()
                .map(|m| (m.name.clone(), m.prices()))
                .collect(),
            http_calls: config.inbox.concurrency,
        }
    }
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
        self.exchanges = store;
        self
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
            waited |= matches!(effect, Effect::Http(_) | Effect::Model(_));
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

    /// Who to show "typing…" to and on which of their messages: the customer's message
    /// this event carries, on its sender's channel.
    fn typing_target(&self, input: &StepInput<'_>) -> Option<TypingTarget> {
        let senders = self.typing.as_ref()?;
        let crate::domain::EventKind::Message(m) = &input.event.kind else {
            return None;
        };
        Some(TypingTarget {
            channel: senders.get(input.conversation.sender_id)?.channel.clone(),
            to: input.contact.contact_ref()?,
            message_id: m.provider_message_id.clone(),
        })
    }

    /// `perform`, showing "typing…" now and every `typing_renew` until the answer is in.
    /// Best effort: a failure is logged and counted, never the step's failure, and ends
    /// the indicator for this step (a refusal would only repeat).
    async fn perform_typing(
        &self,
        effect: Effect,
        target: TypingTarget,
        grace: std::time::Duration,
    ) -> Answer {
        let show = async {
            tokio::time::sleep(grace).await;
            loop {
                match target
                    .channel
                    .show_typing(&target.to, &target.message_id)
                    .await
                {
                    Ok(()) => {
                        metrics::counter!(crate::metrics::TYPING_INDICATORS, "outcome" => "shown")
                            .increment(1);
                    }
                    Err(e) => {
                        metrics::counter!(crate::metrics::TYPING_INDICATORS, "outcome" => "failed")
                            .increment(1);
                        tracing::info!(code = ?e.code, error = %e.title, "could not show \"typing…\"; the flow goes on");
                        std::future::pending::<()>().await;
                    }
                }
                tokio::time::sleep(self.typing_renew).await;
            }
        };
        tokio::select! {
            answer = self.perform(effect) => answer,
            _ = show => unreachable!("showing typing never ends by itself"),
        }
    }

    /// The I/O a step asked for: an `http` step's request through the guarded client, or
    /// a script on the script pool (never on this thread).
    async fn perform(&self, effect: Effect) -> Answer {
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
        }
    }

    /// An `agent` step's model call: the answer recorded for this event and call if there
    /// is one (the event is handled again after a crash), else a call whose answer is
    /// recorded before the step sees it. Failures are recorded too: the ledger counts them
    /// and a retry of the event does not call again.
    async fn call_model(&self, call: ModelCall) -> Result<ModelReply, String> {
        use crate::store::{ExchangeKind, ModelExchange};
        let flow = call.flow.clone();
        if let Some(store) = &self.exchanges {
            match store.model_exchange(call.event_id, call.seq).await {
                Ok(Some(recorded)) => {
                    metrics::counter!(crate::metrics::MODEL_CALLS, "model" => call.model.clone(), "flow" => flow, "outcome" => "replayed").increment(1);
                    return replay(recorded);
                }
                Ok(None) => {}
                Err(e) => return Err(format!("could not read the record of model calls: {e}")),
            }
        }
        let Some(model) = self.models.get(&call.model) else {
            return Err(format!(
                "there is no model `{}` in the config's `models:`",
                call.model
            ));
        };
        let timeout = call.timeout.min(model.timeout);
        let started = std::time::Instant::now();
        let complete = crate::models::within(timeout, model.client.complete(&call.request));
        let result = match tokio::time::timeout(timeout, complete).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "the model did not answer within {}",
                humantime::format_duration(timeout)
            )),
        };
        let latency = started.elapsed();
        metrics::histogram!(crate::metrics::MODEL_LATENCY, "model" => call.model.clone())
            .record(latency.as_secs_f64());
        let mut result = result;
        // Whatever a provider reports, one call counts at most the ledger's caps, and the
        // same capped figures go to the metrics, the record, the trace and the budget.
        let (usage, cost) = match &mut result {
            Ok(a) => {
                a.usage = a.usage.capped();
                (a.usage, capped_cost(&model.prices, a.usage))
            }
            Err(_) => (Default::default(), 0),
        };
        let outcome = if result.is_ok() { "answered" } else { "failed" };
        metrics::counter!(crate::metrics::MODEL_CALLS, "model" => call.model.clone(), "flow" => flow.clone(), "outcome" => outcome).increment(1);
        metrics::counter!(crate::metrics::MODEL_TOKENS, "model" => call.model.clone(), "flow" => flow.clone(), "direction" => "input").increment(usage.input_tokens);
        metrics::counter!(crate::metrics::MODEL_TOKENS, "model" => call.model.clone(), "flow" => flow.clone(), "direction" => "output").increment(usage.output_tokens);
        metrics::counter!(crate::metrics::MODEL_COST, "model" => call.model.clone(), "flow" => flow).increment(cost);
        let mut reply = result.map(|answer| ModelReply {
            answer,
            cost_micros: cost,
            latency_ms: latency.as_millis() as u64,
            replayed: false,
        });
        if let Some(store) = &self.exchanges {
            let mut request = serde_json::to_value(&call.request).unwrap_or_default();
            if call.mask {
                guard::mask_json(&mut request);
            }
            let row = ModelExchange {
                conversation_id: call.conversation_id,
                event_id: call.event_id,
                seq: call.seq,
                kind: ExchangeKind::Chat,
                flow: call.flow.clone(),
                step: call.step.clone(),
                model: call.model.clone(),
                request,
                answer: reply
                    .as_ref()
                    .ok()
                    .and_then(|r| serde_json::to_value(&r.answer).ok()),
                error: reply.as_ref().err().cloned(),
                input_tokens: ledger(usage.input_tokens),
                output_tokens: ledger(usage.output_tokens),
                cost_micros: ledger(cost),
                latency_ms: latency.as_millis() as i64,
                created_at: call.now,
            };
            match store.record_model_exchange(&row).await {
                Ok(None) => {}
                // Another try of this event recorded first: its answer is the one used.
                Ok(Some(earlier)) => reply = replay(earlier),
                // Not recorded: the answer is still used (the step's commit is what sends
                // anything); a crash before that commit would call the model again.
                Err(e) => {
                    tracing::warn!(error = %e, conversation_id = call.conversation_id, "could not record a model's answer")
                }
            }
        }
        reply
    }
}

/// What `usage` (already capped) costs, at most [`MAX_COST_MICROS_PER_CALL`].
fn capped_cost(prices: &crate::domain::chat::Prices, usage: crate::domain::chat::Usage) -> u64 {
    prices.cost_micros(usage).min(MAX_COST_MICROS_PER_CALL)
}

/// A figure of one call (capped already: tokens and cost) as a ledger column.
fn ledger(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// How long a model may take before the customer is shown "typing…".
const MODEL_TYPING_GRACE: std::time::Duration = std::time::Duration::from_millis(800);

/// What voice notes' transcriptions are counted under where model calls have a flow
/// (metrics, the record, `GET /api/models/usage?by=flow`): they happen before any flow.
pub const VOICE_NOTES: &str = "(voice notes)";

impl FlowEngine {
    /// The text of the voice note this event carries, when `transcribe:` is configured:
    /// the recorded transcript if the event was handled before, else a fresh one
    /// (recorded). `None` for anything else, and when it could not be made (logged; the
    /// message goes on as a voice note without text).
    async fn transcript(&self, input: &StepInput<'_>) -> Option<String> {
        use crate::domain::{EventKind, InboundContent, MediaKind};
        use crate::store::{ExchangeKind, ModelExchange};
        let transcriber = self.transcriber.as_ref()?;
        let EventKind::Message(m) = &input.event.kind else {
            return None;
        };
        let InboundContent::Media {
            media: MediaKind::Audio,
            media_id,
            url,
            mime_type,
            caption: None,
            ..
        } = &m.content
        else {
            return None;
        };
        if let Some(store) = &self.exchanges {
            if let Ok(Some(x)) = store
                .model_exchange(input.event.id, crate::store::TRANSCRIPT_SEQ)
                .await
            {
                return x.answer?.get("text")?.as_str().map(str::to_string);
            }
        }
        let started = std::time::Instant::now();
        let mime = mime_type.clone().unwrap_or_else(|| "audio/ogg".into());
        let result = async {
            let senders = self
                .typing
                .as_ref()
                .ok_or("no channel to fetch the audio from")?;
            let channel = &senders
                .get(input.conversation.sender_id)
                .ok_or("the conversation's sender is not configured")?
                .channel;
            let source = crate::channels::MediaSource {
                media_id: media_id.as_deref(),
                url: url.as_deref(),
            };
            let body = channel
                .fetch_media(&self.media_http, source)
                .await
                .map_err(|e| format!("fetching the voice note failed: {e}"))?;
            let bytes = crate::net::read_limited(body.response, self.audio_max_bytes)
                .await
                .map_err(|e| format!("reading the voice note failed: {e}"))?;
            transcriber
                .transcribe(bytes.into(), &mime)
                .await
                .map_err(|e| e.to_string())
        };
        let result: Result<crate::models::transcribe::Transcript, String> =
            match tokio::time::timeout(self.transcribe_within, slot::idle(result)).await {
                Ok(r) => r,
                Err(_) => Err("the transcription took too long".into()),
            };
        let outcome = if result.is_ok() { "answered" } else { "failed" };
        let seconds = result.as_ref().ok().and_then(|t| t.seconds);
        let cost = transcriber.cost_micros(seconds);
        metrics::counter!(crate::metrics::MODEL_CALLS, "model" => "transcribe", "flow" => VOICE_NOTES, "outcome" => outcome).increment(1);
        metrics::counter!(crate::metrics::MODEL_COST, "model" => "transcribe", "flow" => VOICE_NOTES).increment(cost);
        if let Ok(crate::models::transcribe::Transcript {
            cut_from: Some(n), ..
        }) = &result
        {
            tracing::warn!(
                conversation_id = input.conversation.id,
                characters = n,
                "a voice note's transcript was cut to the longest text message, {} characters",
                crate::models::transcribe::TRANSCRIPT_MAX_CHARS
            );
        }
        if let Some(store) = &self.exchanges {
            let row = ModelExchange {
                conversation_id: input.conversation.id,
                event_id: input.event.id,
                seq: crate::store::TRANSCRIPT_SEQ,
                kind: ExchangeKind::Transcript,
                flow: VOICE_NOTES.into(),
                step: String::new(),
                model: "transcribe".into(),
                request: serde_json::json!({ "media_id": media_id, "url": url, "mime_type": mime }),
                answer: result.as_ref().ok().map(|t| {
                    serde_json::json!({ "text": t.text, "seconds": t.seconds, "cut_from": t.cut_from })
                }),
                error: result.as_ref().err().cloned(),
                input_tokens: 0,
                output_tokens: 0,
                cost_micros: ledger(cost),
                latency_ms: started.elapsed().as_millis() as i64,
                created_at: input.now,
            };
            if let Err(e) = store.record_model_exchange(&row).await {
                tracing::warn!(error = %e, "could not record a voice note's transcript");
            }
        }
        match result {
            Ok(t) if !t.text.is_empty() => Some(t.text),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(conversation_id = input.conversation.id, error = %e, "a voice note could not be transcribed; it goes on without text");
                None
            }
        }
    }
}

/// The event with its voice note's transcript as the message's text (its caption, which
/// is what `message.text`, keywords and answers read for media).
fn with_transcript(event: &crate::domain::StoredEvent, text: String) -> crate::domain::StoredEvent {
    let mut event = event.clone();
    if let crate::domain::EventKind::Message(m) = &mut event.kind {
        if let crate::domain::InboundContent::Media { caption, .. } = &mut m.content {
            *caption = Some(text);
        }
    }
    event
}

/// A recorded exchange as the step's answer.
fn replay(x: crate::store::ModelExchange) -> Result<ModelReply, String> {
    match (x.answer, x.error) {
        (Some(answer), _) => serde_json::from_value::<crate::domain::chat::ChatAnswer>(answer)
            .map(|mut answer| {
                // Recorded before usage was capped as it is read: capped again here.
                answer.usage = answer.usage.capped();
                answer
            })
            .map(|answer| ModelReply {
                answer,
                cost_micros: (x.cost_micros.max(0) as u64).min(MAX_COST_MICROS_PER_CALL),
                latency_ms: 0,
                replayed: true,
            })
            .map_err(|e| format!("the recorded answer cannot be read: {e}")),
        (None, Some(error)) => Err(error),
        (None, None) => Err("the recorded call has no answer".into()),
    }
}

/// Where "typing…" goes while a step waits.
struct TypingTarget {
    channel: Arc<dyn crate::channels::Channel>,
    to: crate::domain::ContactRef,
    message_id: String,
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
