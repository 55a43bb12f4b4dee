//! Voice notes to text through an OpenAI-compatible `POST {base_url}/audio/transcriptions`
//! (OpenAI, Groq, a local whisper server): a multipart form with the audio (`file`), the
//! `model` and an optional `language`; the answer is `{"text": "…"}`. Same bounds as the
//! chat models: one timeout per call with its retries, calls in flight limited, answers
//! read at most 1 MiB.

use super::client::{Body, Transport};
use super::ModelError;
use crate::config::TranscribeConfig;
use serde_json::Value;

/// The largest audio sent (OpenAI's limit is 25 MB; WhatsApp's voice notes stay far below).
pub const MAX_AUDIO_BYTES: usize = 25 * 1024 * 1024;

/// The longest transcript kept, in characters: WhatsApp's longest text message. A voice
/// note of WhatsApp's 16 MB holds a few thousand characters of speech; a longer answer is
/// cut here (and the cut logged), so a broken or hostile service cannot put a megabyte
/// into the flows, the record and the model's prompt.
pub const TRANSCRIPT_MAX_CHARS: usize = 4_096;

/// The longest recording a duration may say, in seconds (a day): a longer one is not
/// believed, and the call is priced as unknown.
const MAX_SECONDS: f64 = 86_400.0;

/// A voice note's text and what is known of its length.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// At most [`TRANSCRIPT_MAX_CHARS`].
    pub text: String,
    /// The recording's length: as the service reports it (`duration`, or `usage.seconds`),
    /// else read from the audio (Ogg Opus, WhatsApp's voice notes); `None` when neither
    /// says.
    pub seconds: Option<f64>,
    /// The length in characters of a transcript longer than the bound, before the cut.
    pub cut_from: Option<usize>,
}

pub struct Transcriber {
    transport: Transport,
    model: String,
    language: Option<String>,
    /// US dollars per minute of audio.
    pub price_per_minute: f64,
}

impl Transcriber {
    pub fn from_config(config: &TranscribeConfig) -> Result<Self, String> {
        let headers = config
            .api_key
            .iter()
            .filter(|k| !k.is_empty())
            .map(|k| ("authorization", format!("Bearer {k}")))
            .collect();
        let url = format!(
            "{}/audio/transcriptions",
            config.base_url.trim_end_matches('/')
        );
        let transport = Transport::new(
            "transcribe",
            "the transcription service".into(),
            &url,
            config.timeout,
            config.concurrency,
            config.retries,
            headers,
            config.api_key.clone(),
        )
        .map_err(|e| format!("transcribe.{e}"))?;
        Ok(Self {
            transport,
            model: config.model.clone(),
            language: config.language.clone().filter(|l| !l.trim().is_empty()),
            price_per_minute: config.price_per_minute,
        })
    }

    /// What a transcription of `seconds` of audio costs, in millionths of a dollar (at
    /// most [`MAX_COST_MICROS_PER_CALL`](crate::domain::chat::MAX_COST_MICROS_PER_CALL));
    /// 0 when the length is not known.
    pub fn cost_micros(&self, seconds: Option<f64>) -> u64 {
        let Some(seconds) = seconds else { return 0 };
        let micros = (seconds / 60.0 * self.price_per_minute * 1_000_000.0).round();
        if micros.is_finite() && micros > 0.0 {
            (micros as u64).min(crate::domain::chat::MAX_COST_MICROS_PER_CALL)
        } else {
            0
        }
    }

    /// The text of `audio` (of type `mime`, e.g. `audio/ogg; codecs=opus`).
    pub async fn transcribe(
        &self,
        audio: bytes::Bytes,
        mime: &str,
    ) -> Result<Transcript, ModelError> {
        if audio.len() > MAX_AUDIO_BYTES {
            return Err(self.transport.failed(&format!(
                "was not asked: the audio is {} MiB, more than the {} MiB a transcription takes",
                audio.len() / (1024 * 1024),
                MAX_AUDIO_BYTES / (1024 * 1024)
            )));
        }
        let mut fields = vec![("model", self.model.as_str())];
        if let Some(language) = &self.language {
            fields.push(("language", language));
        }
        let boundary = format!("parley-{}", uuid::Uuid::new_v4().simple());
        let body = multipart(&boundary, &fields, &audio, mime);
        let answer = self
            .transport
            .post(Body::Raw {
                content_type: format!("multipart/form-data; boundary={boundary}"),
                bytes: body.into(),
            })
            .await
            .map_err(|e| match e {
                // The shared words name a model; this is the transcription service.
                ModelError::Timeout(after) => self.transport.failed(&format!(
                    "did not answer within {}",
                    humantime::format_duration(after)
                )),
                other => other,
            })?;
        let Some(Value::String(text)) = answer.get("text") else {
            return Err(self
                .transport
                .failed("answered without a `text`: is base_url an OpenAI-compatible API?"));
        };
        let (text, cut_from) = bounded(text.trim());
        Ok(Transcript {
            text,
            seconds: reported_seconds(&answer).or_else(|| ogg_opus_seconds(&audio)),
            cut_from,
        })
    }
}

/// A transcript within [`TRANSCRIPT_MAX_CHARS`], and its length before a cut.
fn bounded(text: &str) -> (String, Option<usize>) {
    match text.char_indices().nth(TRANSCRIPT_MAX_CHARS) {
        None => (text.to_string(), None),
        Some((end, _)) => (text[..end].to_string(), Some(text.chars().count())),
    }
}

/// The length a service reports: `duration` (OpenAI's `verbose_json`, Groq) or
/// `usage: { type: duration, seconds }` (OpenAI's newer models), if it is believable.
fn reported_seconds(answer: &Value) -> Option<f64> {
    answer
        .get("duration")
        .or_else(|| answer.get("usage")?.get("seconds"))
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && (0.0..=MAX_SECONDS).contains(s))
}

/// The length of an Ogg Opus recording (WhatsApp's voice notes): the granule position of
/// its last page, less the encoder's pre-skip, at Opus's fixed 48 kHz. `None` for other
/// audio, or an Ogg file whose pages do not say.
pub fn ogg_opus_seconds(audio: &[u8]) -> Option<f64> {
    const CAPTURE: &[u8; 4] = b"OggS";
    if !audio.starts_with(CAPTURE) {
        return None;
    }
    // The first page holds the `OpusHead` packet after its 27-byte header and segment
    // table: the magic, a version, the channels, then the pre-skip (16 bits, little end).
    let first = 27 + *audio.get(26)? as usize;
    let head = audio.get(first..first + 12)?;
    if &head[..8] != b"OpusHead" {
        return None;
    }
    let pre_skip = u64::from(u16::from_le_bytes([head[10], head[11]]));
    let last = audio
        .windows(5)
        .rposition(|w| &w[..4] == CAPTURE && w[4] == 0)?;
    let granule = u64::from_le_bytes(audio.get(last + 6..last + 14)?.try_into().ok()?);
    // All ones: no packet ends on that page.
    if granule == u64::MAX || last == 0 {
        return None;
    }
    Some(granule.saturating_sub(pre_skip) as f64 / 48_000.0).filter(|s| *s <= MAX_SECONDS)
}

/// A `multipart/form-data` body: the text `fields`, then the audio as `file`.
fn multipart(boundary: &str, fields: &[(&str, &str)], audio: &[u8], mime: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(audio.len() + 512);
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n",
                header_safe(value)
            )
            .as_bytes(),
        );
    }
    let (mime, extension) = audio_type(mime);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"voice.{extension}\"\r\ncontent-type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(audio);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// The audio's type without parameters, and the file extension transcription services
/// read the format from (they ignore the part's content type).
fn audio_type(mime: &str) -> (String, &'static str) {
    let base = mime
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let extension = match base.as_str() {
        "audio/ogg" | "audio/opus" => "ogg",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" | "audio/aac" => "m4a",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/webm" => "webm",
        "audio/flac" => "flac",
        "audio/amr" => "amr",
        _ => "ogg",
    };
    let safe = base
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/.+-".contains(c));
    let mime = if safe && base.contains('/') {
        base
    } else {
        "application/octet-stream".into()
    };
    (mime, extension)
}

/// A config value inside a form field: no line breaks that would end the part early.
fn header_safe(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_has_the_fields_then_the_audio() {
        let body = multipart(
            "B",
            &[("model", "whisper-1"), ("language", "es")],
            b"OGG",
            "audio/ogg; codecs=opus",
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "--B\r\ncontent-disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n\
             --B\r\ncontent-disposition: form-data; name=\"language\"\r\n\r\nes\r\n\
             --B\r\ncontent-disposition: form-data; name=\"file\"; filename=\"voice.ogg\"\r\ncontent-type: audio/ogg\r\n\r\nOGG\r\n--B--\r\n"
        );
    }

    /// An Ogg page: capture pattern, version 0, flags, the granule position, serial,
    /// sequence, checksum (not checked here), one segment of `packet`.
    fn ogg_page(granule: u64, packet: &[u8]) -> Vec<u8> {
        let mut page = b"OggS\0\0".to_vec();
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&[0; 12]);
        page.push(1);
        page.push(packet.len() as u8);
        page.extend_from_slice(packet);
        page
    }

    #[test]
    fn an_ogg_opus_voice_note_says_how_long_it_is() {
        // The `OpusHead` page (pre-skip 312), `OpusTags`, and audio pages up to the
        // granule position 600,312: 12.5 s at 48 kHz after the pre-skip.
        let audio = include_bytes!("../../../../tests/data/voice-12.5s.ogg").to_vec();
        assert_eq!(ogg_opus_seconds(&audio), Some(12.5));
        assert_eq!(ogg_opus_seconds(b"ID3 an mp3"), None);
        assert_eq!(ogg_opus_seconds(&audio[..30]), None);
        // A last page whose granule is all ones (no packet ends on it) says nothing.
        let mut open_ended = audio.clone();
        open_ended.extend(ogg_page(u64::MAX, &[7; 10]));
        assert_eq!(ogg_opus_seconds(&open_ended), None);
    }

    #[test]
    fn a_reported_duration_is_believed_within_a_day_and_prices_the_call() {
        let config = TranscribeConfig {
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key: None,
            model: "whisper-1".into(),
            language: None,
            timeout: std::time::Duration::from_secs(5),
            concurrency: 1,
            retries: 0,
            price_per_minute: 0.006,
        };
        let t = Transcriber::from_config(&config).unwrap();
        let seconds = reported_seconds(&serde_json::json!({"text": "hi", "duration": 30.0}));
        assert_eq!(seconds, Some(30.0));
        // Half a minute at $0.006 a minute: $0.003.
        assert_eq!(t.cost_micros(seconds), 3_000);
        let usage = serde_json::json!({"text": "hi", "usage": {"type": "duration", "seconds": 90}});
        assert_eq!(t.cost_micros(reported_seconds(&usage)), 9_000);
        assert_eq!(
            reported_seconds(&serde_json::json!({"duration": 1e12})),
            None
        );
        assert_eq!(reported_seconds(&serde_json::json!({"duration": -3})), None);
        assert_eq!(t.cost_micros(None), 0);
    }

    #[test]
    fn a_transcript_is_cut_at_the_longest_text_message() {
        let (text, cut) = bounded(&"é".repeat(TRANSCRIPT_MAX_CHARS + 10));
        assert_eq!(text.chars().count(), TRANSCRIPT_MAX_CHARS);
        assert_eq!(cut, Some(TRANSCRIPT_MAX_CHARS + 10));
        assert_eq!(bounded("refund please"), ("refund please".into(), None));
    }

    #[test]
    fn audio_types_give_extensions_and_odd_types_are_neutralised() {
        assert_eq!(audio_type("audio/mpeg"), ("audio/mpeg".into(), "mp3"));
        assert_eq!(audio_type("Audio/MP4"), ("audio/mp4".into(), "m4a"));
        assert_eq!(
            audio_type("audio/x\"\r\nevil: 1"),
            ("application/octet-stream".into(), "ogg")
        );
    }
}
