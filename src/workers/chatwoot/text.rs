//! What the bridge writes into Chatwoot, from an event's `data` (pure): a customer's message,
//! the bot's reply, and the private notes a handoff's start and end leave for the agents.

use serde_json::Value;

/// The longest text put into one Chatwoot message.
const MAX_TEXT: usize = 8 * 1024;

fn bounded(s: String) -> String {
    if s.len() <= MAX_TEXT {
        return s;
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A message's content (`data.content` of `message.received` or `message.sent`) as text:
/// its text, or a bracketed line naming what it is (`[location]`, `[template follow_up
/// (en_US)]`), with an outbound media's link.
pub fn content(content: &Value) -> String {
    let kind = str_of(content, "type").unwrap_or("message");
    let text = str_of(content, "text");
    let mut out = match (kind, text) {
        ("template", _) => {
            let t = &content["template"];
            let name = str_of(t, "name").unwrap_or("?");
            let language = str_of(t, "language").unwrap_or("?");
            match text {
                Some(body) => format!("[template {name} ({language})] {body}"),
                None => format!("[template {name} ({language})]"),
            }
        }
        ("text", Some(t)) => t.to_string(),
        (_, Some(t)) => format!("[{kind}] {t}"),
        (_, None) => format!("[{kind}]"),
    };
    if let Some(link) = content.get("content").and_then(|c| str_of(c, "link")) {
        out.push('\n');
        out.push_str(link);
    }
    bounded(out)
}

/// The private note a handoff leaves: who handed over, and until when.
pub fn handoff_note(data: &Value) -> String {
    let flow = str_of(data, "flow").unwrap_or("a flow");
    let run = data
        .get("run")
        .and_then(Value::as_u64)
        .map(|r| format!(" (run {r})"))
        .unwrap_or_default();
    let until = str_of(data, "until")
        .map(|u| format!(" or until {u}, when the handoff times out"))
        .unwrap_or_default();
    format!(
        "Parley: flow `{flow}`{run} handed this conversation to a person. The bot is paused until it is resolved here{until}. What you write here is sent to the customer on WhatsApp."
    )
}

/// The private note the end of a handoff leaves.
pub fn handoff_ended_note(data: &Value) -> String {
    let by = match str_of(data, "by") {
        Some("timeout") => "the handoff timed out".to_string(),
        Some("chatwoot") => "it was resolved in Chatwoot".to_string(),
        Some(other) => format!("released by {other}"),
        None => "released".to_string(),
    };
    format!("Parley: the bot answers this customer again ({by}).")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_of_content_reads_as_a_line() {
        assert_eq!(content(&json!({"type": "text", "text": "hi"})), "hi");
        assert_eq!(
            content(&json!({"type": "location", "text": null})),
            "[location]"
        );
        assert_eq!(
            content(&json!({"type": "buttons", "text": "Pick one"})),
            "[buttons] Pick one"
        );
        assert_eq!(
            content(
                &json!({"type": "template", "text": null, "template": {"name": "follow_up", "language": "en_US"}})
            ),
            "[template follow_up (en_US)]"
        );
        assert_eq!(
            content(
                &json!({"type": "image", "text": "A cat", "content": {"link": "https://x.example/cat.jpg"}})
            ),
            "[image] A cat\nhttps://x.example/cat.jpg"
        );
        let long = content(&json!({"type": "text", "text": "é".repeat(MAX_TEXT)}));
        assert!(long.len() <= MAX_TEXT + 3 && long.ends_with('…'));
    }

    #[test]
    fn notes_say_who_handed_over_and_why_it_ended() {
        let n =
            handoff_note(&json!({"flow": "welcome", "run": 2, "until": "2026-01-01T10:00:00Z"}));
        assert!(
            n.contains("flow `welcome` (run 2)") && n.contains("until 2026-01-01T10:00:00Z"),
            "{n}"
        );
        assert!(handoff_ended_note(&json!({"by": "timeout"})).contains("timed out"));
        assert!(handoff_ended_note(&json!({"by": "api"})).contains("released by api"));
    }
}
