//! The simulated customer's side of a run: the prompt its model gets after each of the
//! bot's turns, how its answer is read (a message, or done), and what one turn did as the
//! transcript keeps it.

use super::{ToolCall, Transcript, Turn};
use crate::cli::driver;
use crate::cli::eval::format::{Customer, Scenario};
use crate::cli::eval::tape::RunTape;
use crate::domain::chat::{ChatAnswer, ChatMessage, ChatRequest, ToolSpec};
use crate::models::Model;
use serde_json::json;

/// The first words of the customer's system prompt, which tell a scripted customer's rules
/// (and the tests' doubles) it from the judge's and the agent's.
pub const CUSTOMER_SYSTEM: &str = "You are a customer writing to a business on WhatsApp.";

/// The longest answer asked of the customer's model, in tokens.
const CUSTOMER_MAX_TOKENS: u32 = 300;

/// What the customer does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Say(String),
    /// Done, and why: `goal reached`, `gave up`, `script ended`.
    Done(String),
}

/// The system prompt: who the customer is, their goal, what they know, how they write.
pub fn system(c: &Customer) -> String {
    let mut s = format!(
        "{CUSTOMER_SYSTEM} You are not an assistant: write as this person would, one message at a time.\n"
    );
    if !c.persona.trim().is_empty() {
        s.push_str(&format!("Who you are: {}\n", c.persona.trim()));
    }
    if !c.goal.trim().is_empty() {
        s.push_str(&format!("Your goal: {}\n", c.goal.trim()));
    }
    if !c.knows.is_empty() {
        let known: Vec<String> = c.knows.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        s.push_str(&format!(
            "What you know, to give only when asked: {}\n",
            known.join("; ")
        ));
    }
    if !c.style.is_empty() {
        s.push_str(&format!("How you write: {}\n", c.style.join(", ")));
    }
    if let Some(language) = &c.language {
        s.push_str(&format!("Write in the language `{language}`.\n"));
    }
    s.push_str("Write only your next message, nothing else.\nWhen your goal is reached, or you give up, call the tool `done` with { \"reason\": \"goal reached\" } or { \"reason\": \"gave up\" } (without tools, write [DONE]).");
    s
}

/// The request for the customer's next message: the bot's messages as `user`, the
/// customer's own as `assistant`, so a scripted model's rules match the bot's last reply.
pub fn request(c: &Customer, turns: &[Turn]) -> ChatRequest {
    let mut messages = vec![ChatMessage::user(
        "(The conversation starts: write your first message.)",
    )];
    for turn in turns {
        messages.push(ChatMessage::assistant(turn.customer.clone(), Vec::new()));
        let replies = if turn.replies.is_empty() {
            "(no reply)".to_string()
        } else {
            turn.replies.join("\n")
        };
        messages.push(ChatMessage::user(replies));
    }
    ChatRequest {
        system: system(c),
        messages,
        tools: vec![ToolSpec {
            name: "done".into(),
            description: "Your goal is reached, or you give up.".into(),
            parameters: json!({
                "type": "object",
                "properties": {"reason": {"type": "string", "enum": ["goal reached", "gave up"]}},
                "required": ["reason"]
            }),
        }],
        max_tokens: CUSTOMER_MAX_TOKENS,
    }
}

/// Asks the customer's model what they do next.
pub async fn next(
    tape: &RunTape,
    model: &Model,
    c: &Customer,
    turns: &[Turn],
) -> Result<(Next, ChatAnswer), String> {
    let answer = tape
        .call("customer", model, &request(c, turns))
        .await
        .map_err(|e| format!("the customer model `{}` failed: {e}", model.name))?;
    let next = read(&answer).ok_or_else(|| {
        format!(
            "the customer model `{}` answered no message at message {} (neither text nor `done`)",
            model.name,
            turns.len() + 1
        )
    })?;
    Ok((next, answer))
}

/// The customer's answer: `done` (the tool, or a text with `[DONE]`), else its text.
pub fn read(answer: &ChatAnswer) -> Option<Next> {
    if let Some(call) = answer.tool_calls.iter().find(|c| c.name == "done") {
        let reason = call
            .arguments
            .get("reason")
            .and_then(|r| r.as_str())
            .map(|r| r.trim().chars().take(100).collect::<String>())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "goal reached".into());
        return Some(Next::Done(reason));
    }
    let text = answer.text.trim();
    if let Some(at) = text.find("[DONE]") {
        let after = text[at..].to_lowercase();
        let gave_up = after.contains("gave up") || after.contains("give up");
        return Some(Next::Done(
            if gave_up { "gave up" } else { "goal reached" }.into(),
        ));
    }
    (!text.is_empty()).then(|| Next::Say(text.to_string()))
}

/// What reading one turn found.
pub struct Read {
    /// The turn ran a step of the flow under evaluation.
    pub started: bool,
    /// The bot's handling of the message had an error.
    pub errored: bool,
}

/// Adds the turn to the transcript: the customer's message, the bot's replies, the
/// agent's tool calls, and the agent's model use (from the trace).
pub fn read_turn(t: &mut Transcript, customer: String, turn: &driver::Turn, flow: &str) -> Read {
    let replies = turn
        .replies
        .iter()
        .map(|r| {
            let (text, _) = crate::cli::simulate::describe(r, &[]);
            text.strip_prefix("bot: ").unwrap_or(&text).to_string()
        })
        .collect();
    let mut tool_calls = Vec::new();
    let mut read = Read {
        started: false,
        errored: false,
    };
    if let Some(traced) = &turn.trace {
        let trace = &traced.trace;
        read.started = trace.steps.iter().any(|s| s.flow == flow);
        read.errored = !trace.errors.is_empty();
        for x in &trace.exchanges {
            tool_calls.extend(x.tool_calls.iter().map(String::as_str).map(tool_call));
            if x.replayed {
                continue;
            }
            let u = t.usage.entry("agent").or_default();
            u.calls += 1;
            u.input_tokens += x.input_tokens;
            u.output_tokens += x.output_tokens;
            u.cost += x.cost;
        }
    }
    t.turns.push(Turn {
        customer,
        replies,
        tool_calls,
    });
    read
}

/// A trace's tool call line: `save {"order_number":"A-12345"}: accepted`, or
/// `refund {}: refused: why`.
pub fn tool_call(line: &str) -> ToolCall {
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    let (arguments, accepted, reason) = if let Some(args) = rest.strip_suffix(": accepted") {
        (args, true, None)
    } else if let Some((args, why)) = rest.split_once(": refused: ") {
        (args, false, Some(why.to_string()))
    } else {
        (rest, false, None)
    };
    ToolCall {
        name: name.to_string(),
        arguments: arguments.to_string(),
        accepted,
        reason,
    }
}

/// Why the run stops when the customer's first message did not start the flow.
pub fn not_started(scenario: &Scenario, turn: &driver::Turn) -> String {
    let mut s = format!(
        "the customer's first message did not start flow `{}`",
        scenario.flow
    );
    if let Some(e) = turn.trace.as_ref().and_then(|t| t.trace.triggers.as_ref()) {
        s.push_str(&format!(" ({})", e.outcome));
    }
    s.push_str("; give the customer an `opening` with one of the flow's keywords");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chat::ToolCall as ModelCall;

    #[test]
    fn trace_lines_become_tool_calls() {
        let c = tool_call(r#"save {"order_number":"A-12345"}: accepted"#);
        assert_eq!(
            (c.name.as_str(), c.arguments.as_str(), c.accepted),
            ("save", r#"{"order_number":"A-12345"}"#, true)
        );
        let c = tool_call(
            "refund {}: refused: `refund` is not an action you can take here; you can: save",
        );
        assert!(!c.accepted);
        assert_eq!(c.name, "refund");
        assert_eq!(c.arguments, "{}");
        assert!(c.reason.unwrap().contains("not an action"));
    }

    #[test]
    fn the_customer_is_done_by_the_tool_or_the_text() {
        let done = |reason: serde_json::Value| ChatAnswer {
            tool_calls: vec![ModelCall {
                id: "1".into(),
                name: "done".into(),
                arguments: json!({ "reason": reason }),
            }],
            ..ChatAnswer::default()
        };
        let text = |t: &str| ChatAnswer {
            text: t.into(),
            ..ChatAnswer::default()
        };
        assert_eq!(
            read(&done(json!("gave up"))),
            Some(Next::Done("gave up".into()))
        );
        assert_eq!(
            read(&done(json!(3))),
            Some(Next::Done("goal reached".into()))
        );
        assert_eq!(
            read(&text("thanks! [DONE]")),
            Some(Next::Done("goal reached".into()))
        );
        assert_eq!(
            read(&text("[DONE] I gave up")),
            Some(Next::Done("gave up".into()))
        );
        assert_eq!(read(&text(" hi ")), Some(Next::Say("hi".into())));
        assert_eq!(read(&text("  ")), None);
    }

    #[test]
    fn the_bot_speaks_as_user_and_the_customer_as_assistant() {
        let c = Customer {
            persona: "in a hurry".into(),
            goal: "know where the parcel is".into(),
            knows: [("order_number".to_string(), "A-12345".to_string())].into(),
            language: Some("es".into()),
            style: vec!["short".into()],
            ..Customer::default()
        };
        let turns = vec![Turn {
            customer: "where is my parcel".into(),
            replies: vec!["Your order number?".into()],
            tool_calls: Vec::new(),
        }];
        let r = request(&c, &turns);
        assert!(r.system.starts_with(CUSTOMER_SYSTEM));
        for part in [
            "in a hurry",
            "order_number: A-12345",
            "short",
            "`es`",
            "`done`",
        ] {
            assert!(r.system.contains(part), "{part}: {}", r.system);
        }
        assert_eq!(r.messages.len(), 3);
        assert_eq!(r.messages[1].role, crate::domain::chat::ChatRole::Assistant);
        assert_eq!(r.messages[2].text, "Your order number?");
    }
}
