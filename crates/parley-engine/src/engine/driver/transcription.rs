//! Voice notes become text before flows see them: the audio fetched through the sender's
//! channel, transcribed, and the transcript recorded (and replayed) like a model's answer.

use super::model::ledger;
use super::FlowEngine;
use crate::engine::slot;
use crate::engine::StepInput;

/// What voice notes' transcriptions are counted under where model calls have a flow
/// (metrics, the record, `GET /api/models/usage?by=flow`): they happen before any flow.
pub const VOICE_NOTES: &str = "(voice notes)";

impl FlowEngine {
    /// The text of the voice note this event carries, when `transcribe:` is configured:
    /// the recorded transcript if the event was handled before, else a fresh one
    /// (recorded). `None` for anything else, and when it could not be made (logged; the
    /// message goes on as a voice note without text).
    pub(super) async fn transcript(&self, input: &StepInput<'_>) -> Option<String> {
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
pub(super) fn with_transcript(
    event: &crate::domain::StoredEvent,
    text: String,
) -> crate::domain::StoredEvent {
    let mut event = event.clone();
    if let crate::domain::EventKind::Message(m) = &mut event.kind {
        if let crate::domain::InboundContent::Media { caption, .. } = &mut m.content {
            *caption = Some(text);
        }
    }
    event
}
