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

    /// The text of `audio` (of type `mime`, e.g. `audio/ogg; codecs=opus`).
    pub async fn transcribe(&self, audio: bytes::Bytes, mime: &str) -> Result<String, ModelError> {
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
            .await?;
        match answer.get("text") {
            Some(Value::String(text)) => Ok(text.trim().to_string()),
            _ => Err(self
                .transport
                .failed("answered without a `text`: is base_url an OpenAI-compatible API?")),
        }
    }
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
