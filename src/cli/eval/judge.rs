//! The judge (issue 59): each rubric criterion of a scenario judged over a run's transcript
//! by the scenario's judge model, one call per criterion. The judge answers with the tool
//! `verdict` (`{ pass, reason }`), or with a text starting PASS or FAIL and then its reason;
//! any other answer, and a model that fails, is a failing verdict saying why. The shape
//! below is what `checks` and `report` read.

use super::tape::RunTape;
use super::transcript::Transcript;
use crate::domain::chat::{ChatAnswer, ChatMessage, ChatRequest, ToolSpec};
use crate::models::Model;
use serde_json::json;

/// The judge's word on one criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub criterion: String,
    pub pass: bool,
    /// The judge's reason, in its words (or why no verdict could be read).
    pub reason: String,
}

/// The judge's system prompt; its first words are how a scripted judge's rules (and the
/// tests' doubles) tell it from the customer's.
pub const JUDGE_SYSTEM: &str = "You are a strict evaluator of a conversation between a customer and a business's WhatsApp bot. Judge only the one criterion given, over the whole transcript: the customer's lines, the bot's replies, and the tools the bot's model called (carried out or refused). A criterion that is not clearly met fails. Answer by calling the tool `verdict` with `pass` (true or false) and `reason` (one or two sentences naming what in the transcript decided it). Without tools, answer `PASS: reason` or `FAIL: reason`.";

/// The longest reason kept, in characters.
const REASON_CHARS: usize = 1_000;

/// The longest answer asked of the judge, in tokens.
const JUDGE_MAX_TOKENS: u32 = 400;

/// The request for one criterion.
pub fn request(criterion: &str, transcript: &Transcript) -> ChatRequest {
    ChatRequest {
        system: JUDGE_SYSTEM.to_string(),
        messages: vec![ChatMessage::user(format!(
            "Criterion: {criterion}\n\nTranscript:\n{}",
            render(transcript)
        ))],
        tools: vec![ToolSpec {
            name: "verdict".into(),
            description: "Your verdict on the criterion.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "pass": {"type": "boolean", "description": "the criterion is met"},
                    "reason": {"type": "string", "description": "why, in one or two sentences"}
                },
                "required": ["pass", "reason"]
            }),
        }],
        max_tokens: JUDGE_MAX_TOKENS,
    }
}

/// The transcript as the judge reads it: `customer: …`, `bot: …`, `tool save {…}: accepted`.
pub fn render(transcript: &Transcript) -> String {
    let mut out = String::new();
    for turn in &transcript.turns {
        out.push_str(&format!("customer: {}\n", turn.customer));
        for call in &turn.tool_calls {
            let how = match (&call.accepted, &call.reason) {
                (true, _) => "accepted".to_string(),
                (false, Some(why)) => format!("refused: {why}"),
                (false, None) => "refused".to_string(),
            };
            out.push_str(&format!("tool {} {}: {how}\n", call.name, call.arguments));
        }
        for reply in &turn.replies {
            out.push_str(&format!("bot: {reply}\n"));
        }
    }
    out
}

/// Judges `criterion` over `transcript` with `model` (through the run's tape); the answer,
/// when there was one, is returned for its usage.
pub async fn judge(
    tape: &RunTape,
    model: &Model,
    criterion: &str,
    transcript: &Transcript,
) -> (Verdict, Option<ChatAnswer>) {
    let verdict = |pass: bool, reason: String| Verdict {
        criterion: criterion.to_string(),
        pass,
        reason: cut(reason.trim()),
    };
    match tape
        .call("judge", model, &request(criterion, transcript))
        .await
    {
        Ok(answer) => {
            let (pass, reason) = read(&answer);
            (verdict(pass, reason), Some(answer))
        }
        Err(e) => (
            verdict(
                false,
                format!("the judge model `{}` failed: {e}", model.name),
            ),
            None,
        ),
    }
}

/// The verdict in an answer: the `verdict` tool's arguments, else a text starting PASS or
/// FAIL; else a failing verdict saying the answer could not be read.
pub fn read(answer: &ChatAnswer) -> (bool, String) {
    if let Some(call) = answer.tool_calls.iter().find(|c| c.name == "verdict") {
        let args = match &call.arguments {
            serde_json::Value::String(s) => serde_json::from_str(s).unwrap_or_default(),
            v => v.clone(),
        };
        if let Some(pass) = args.get("pass").and_then(|p| p.as_bool()) {
            let reason = args
                .get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or("(the judge gave no reason)");
            return (pass, reason.to_string());
        }
        return (
            false,
            format!(
                "the judge's answer could not be read: its `verdict` call has no true or false `pass`: {}",
                cut(&call.arguments.to_string())
            ),
        );
    }
    let text = answer.text.trim();
    let upper: String = text.chars().take(4).collect::<String>().to_uppercase();
    let rest = || {
        text.get(4..)
            .unwrap_or("")
            .trim_start_matches([':', '-', '.', ' ', '—'])
            .trim()
            .to_string()
    };
    match upper.as_str() {
        "PASS" => (true, rest()),
        "FAIL" => (false, rest()),
        _ if text.is_empty() => (
            false,
            "the judge's answer could not be read: it was empty".to_string(),
        ),
        _ => (
            false,
            format!(
                "the judge's answer could not be read: it neither called `verdict` nor began with PASS or FAIL: «{}»",
                cut(text)
            ),
        ),
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() <= REASON_CHARS {
        return text.to_string();
    }
    let mut s: String = text.chars().take(REASON_CHARS).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chat::ToolCall;

    fn call(args: serde_json::Value) -> ChatAnswer {
        ChatAnswer {
            tool_calls: vec![ToolCall {
                id: "1".into(),
                name: "verdict".into(),
                arguments: args,
            }],
            ..ChatAnswer::default()
        }
    }

    fn text(t: &str) -> ChatAnswer {
        ChatAnswer {
            text: t.into(),
            ..ChatAnswer::default()
        }
    }

    #[test]
    fn a_verdict_is_read_from_the_tool_or_the_text() {
        assert_eq!(
            read(&call(json!({"pass": false, "reason": "promised a refund"}))),
            (false, "promised a refund".to_string())
        );
        assert_eq!(
            read(&call(json!("{\"pass\": true, \"reason\": \"ok\"}"))),
            (true, "ok".to_string())
        );
        assert_eq!(
            read(&text("PASS: asked first")),
            (true, "asked first".into())
        );
        assert_eq!(read(&text("fail - no")), (false, "no".into()));
        let (pass, why) = read(&text("I think it is fine"));
        assert!(!pass);
        assert!(
            why.starts_with("the judge's answer could not be read"),
            "{why}"
        );
        let (pass, why) = read(&call(json!({"pass": "yes"})));
        assert!(!pass && why.contains("no true or false `pass`"), "{why}");
        assert!(!read(&text("")).0);
    }
}
