//! `parley simulate --from PHONE [TEXT] [--explain]`: talk to the flows from the terminal
//! as that customer. Buttons and list rows are numbered (typing the number taps it), media
//! is described, templates are shown with their variables, a failed step's error is
//! always shown; `--explain` prints how every trigger judged each message. A line starting
//! with `/`, typed or given as TEXT, is a command of the simulator ([`COMMANDS`]), never a
//! message. Runs in-process on a temporary database and a manual clock (`/advance 2h`
//! moves it).

use super::driver::{Driver, Turn};
use crate::config::{Config, TemplateConfig};
use crate::domain::OutboundContent;
use crate::sandbox::inject::{CustomerMessage, FormSubmission, Tap};
use crate::sandbox::traces::HandoffChange;
use crate::sandbox::view::SentMessage;
use chrono::{DateTime, Utc};
use std::io::{BufRead, Write};
use std::ops::ControlFlow;
use std::process::ExitCode;

pub struct Options {
    pub config: Config,
    pub from: String,
    /// One message and exit; interactive when `None`.
    pub text: Option<String>,
    pub explain: bool,
}

/// A button or list row the customer can tap by typing its number.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub id: String,
    pub title: String,
    pub list: bool,
}

pub fn main(options: Options) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("parley simulate: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    match runtime.block_on(run(options, stdin.lock(), &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parley simulate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The simulator's own commands, as `/help` lists them. A line starting with `/` is one of
/// these and never reaches the bot; `//` sends a message that starts with `/`.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "/advance 2h",
        "move the clock forward; timers and schedules on the way fire",
    ),
    (
        "/explain",
        "show or hide how every trigger judged each message",
    ),
    (
        "/release",
        "a person hands the conversation back to the bot",
    ),
    ("/form a=1", "fill in and submit the last form the bot sent"),
    (
        "/address a=1",
        "submit WhatsApp's address form (city=… in_pin_code=…)",
    ),
    ("/help", "list these commands"),
    ("/quit", "end (also /exit, or Ctrl-D)"),
];

/// A line typed at the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// A message from the customer (a number taps a choice).
    Say(&'a str),
    Advance(&'a str),
    Explain,
    Release,
    /// `name=value` pairs submitting the last form.
    Form(&'a str),
    /// `name=value` pairs submitting an address form.
    Address(&'a str),
    Help,
    Quit,
    /// `/something` the simulator does not know.
    Unknown(&'a str),
}

impl<'a> Line<'a> {
    /// Reads a trimmed, non-empty line.
    pub fn parse(line: &'a str) -> Self {
        if line.starts_with("//") {
            return Line::Say(&line[1..]);
        }
        let Some(command) = line.strip_prefix('/') else {
            return Line::Say(line);
        };
        let (name, rest) = command
            .split_once(char::is_whitespace)
            .unwrap_or((command, ""));
        match name {
            "advance" => Line::Advance(rest.trim()),
            "explain" => Line::Explain,
            "release" => Line::Release,
            "form" => Line::Form(rest.trim()),
            "address" => Line::Address(rest.trim()),
            "help" | "?" => Line::Help,
            "quit" | "exit" => Line::Quit,
            _ => Line::Unknown(name),
        }
    }
}

/// The command list, for `/help` and after an unknown command.
pub fn help() -> String {
    let mut text = String::from("Commands:\n");
    for (command, what) in COMMANDS {
        text.push_str(&format!("  {command:<13} {what}\n"));
    }
    text.push_str("Anything else is a message from the customer; a number taps that choice;\nstart with // to send a message that begins with /.\n");
    text
}

pub async fn run(
    options: Options,
    input: impl BufRead,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let Options {
        config,
        from,
        text,
        explain,
    } = options;
    // The message on the command line is read as a typed line is: a command runs, and
    // one that needs an earlier turn of the conversation is refused before Parley starts.
    let once = text.as_deref().map(|t| Line::parse(t.trim()));
    if let Some(line) = &once {
        if *line == Line::Help {
            write!(out, "{}", help())?;
            return Ok(());
        }
        if let Some(why) = not_in_one_run(line, &from) {
            anyhow::bail!(why);
        }
    }
    let dir = config.flows.dir.clone();
    let mut session = Session {
        templates: config.templates.clone(),
        driver: Driver::start(config, chrono::Utc::now()).await?,
        from,
        explain,
        choices: Vec::new(),
        last_form: None,
        events: EventLog::default(),
    };
    if let Some(line) = once {
        // A one-message run ends after its line, whatever the line says.
        let _ = session.line(out, line).await?;
        session.driver.stop().await;
        return Ok(());
    }
    writeln!(
        out,
        "Talking to the flows in {dir} as {}. Type a message and press Enter; type a number to tap a choice;\n/advance 2h moves the clock, /explain toggles the trigger evaluation, /release ends a handoff, /help lists the commands, /quit ends. (Sandbox page: {}/sandbox)",
        session.from, session.driver.addr
    )?;
    for line in input.lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if session.line(out, Line::parse(line)).await?.is_break() {
            break;
        }
    }
    session.driver.stop().await;
    Ok(())
}

/// Why a command given as the one message of `parley simulate --from PHONE "…"` cannot
/// run: each of these needs an earlier turn of a conversation, and a one-message run
/// starts a new one and ends after it.
fn not_in_one_run(line: &Line<'_>, from: &str) -> Option<String> {
    let interactive =
        format!("run `parley simulate --from {from}` without a message and type it there");
    Some(match line {
        Line::Say(_) | Line::Address(_) | Line::Help => return None,
        Line::Advance("") => "/advance needs how far to move the clock, like `/advance 2h`".into(),
        Line::Advance(by) => match crate::config::duration::parse(by) {
            Ok(_) => return None,
            Err(e) => format!("/advance: {}", e.describe(by)),
        },
        Line::Explain => format!(
            "/explain shows how the triggers judge the messages that follow it; with one message, add --explain instead: `parley simulate --from {from} --explain \"hi\"`"
        ),
        Line::Release => format!(
            "/release gives back a conversation a flow handed to a person, and a one-message run starts a new conversation, so there is none to release; {interactive} after the handoff"
        ),
        Line::Form(_) => format!(
            "/form fills in the last form the bot sent, and in a one-message run the bot has sent none; {interactive} after the bot sends its form"
        ),
        Line::Quit => "/quit ends a conversation typed at the simulator; with a message on the command line, simulate sends it and ends by itself".to_string(),
        Line::Unknown(name) => format!(
            "/{name} is not a simulator command, so nothing was sent to the bot (start with // to send a message that begins with /)\n{}",
            help().trim_end()
        ),
    })
}

/// One conversation at the simulator: the in-process Parley, and what the customer can tap
/// or fill in next.
struct Session {
    driver: Driver,
    from: String,
    templates: Vec<TemplateConfig>,
    explain: bool,
    /// The buttons or list rows last offered; typing a number taps one.
    choices: Vec<Choice>,
    /// The token of the last form the bot sent, which `/form` submits.
    last_form: Option<String>,
    events: EventLog,
}

impl Session {
    /// Acts on one line typed at the simulator (or given on the command line); breaks when
    /// the line ends the conversation.
    async fn line(
        &mut self,
        out: &mut impl Write,
        line: Line<'_>,
    ) -> anyhow::Result<ControlFlow<()>> {
        let from = self.from.clone();
        let text = match line {
            Line::Say(text) => text,
            Line::Quit => return Ok(ControlFlow::Break(())),
            Line::Help => {
                write!(out, "{}", help())?;
                return Ok(ControlFlow::Continue(()));
            }
            Line::Unknown(name) => {
                write!(
                    out,
                    "(/{name} is not a simulator command; nothing was sent to the bot)\n{}",
                    help()
                )?;
                return Ok(ControlFlow::Continue(()));
            }
            Line::Release => {
                if self.driver.release(&from).await? {
                    self.events.print_new(out, &self.driver, &from).await?;
                } else {
                    writeln!(out, "(no person has this conversation: nothing to release)")?;
                }
                return Ok(ControlFlow::Continue(()));
            }
            Line::Form(pairs) | Line::Address(pairs) => {
                let address = matches!(line, Line::Address(_));
                let token = self.last_form.clone();
                if !address && token.is_none() {
                    writeln!(out, "(the bot has not sent a form: nothing to fill in)")?;
                    return Ok(ControlFlow::Continue(()));
                }
                let mut response = serde_json::Map::new();
                for pair in pairs.split_whitespace() {
                    match pair.split_once('=') {
                        Some((k, v)) if !k.is_empty() => {
                            response.insert(k.to_string(), serde_json::Value::String(v.into()));
                        }
                        _ => writeln!(out, "(`{pair}` is not name=value; left out)")?,
                    }
                }
                let msg = if address {
                    writeln!(out, "(you submitted the address form)")?;
                    CustomerMessage {
                        from: from.clone(),
                        address: Some(
                            response
                                .into_iter()
                                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
                                .collect(),
                        ),
                        ..Default::default()
                    }
                } else {
                    writeln!(out, "(you submitted the form)")?;
                    CustomerMessage {
                        from: from.clone(),
                        form: Some(FormSubmission {
                            token: token.unwrap_or_default(),
                            response,
                        }),
                        ..Default::default()
                    }
                };
                self.say(out, msg).await?;
                return Ok(ControlFlow::Continue(()));
            }
            Line::Explain => {
                self.explain = !self.explain;
                writeln!(out, "(explain {})", if self.explain { "on" } else { "off" })?;
                return Ok(ControlFlow::Continue(()));
            }
            Line::Advance(by) => {
                match crate::config::duration::parse(by) {
                    Ok(d) => {
                        self.driver.advance(d).await?;
                        writeln!(out, "(the clock is now {})", self.driver.now().to_rfc3339())?;
                        let sent = self.driver.replies(&from).await?;
                        self.last_form = form_token(&sent).or(self.last_form.take());
                        for m in &sent {
                            let (text, c) = describe(m, &self.templates);
                            writeln!(out, "{text}")?;
                            if !c.is_empty() {
                                self.choices = c;
                            }
                        }
                        self.events.print_new(out, &self.driver, &from).await?;
                    }
                    Err(e @ crate::config::duration::DurationError::TooLong) => {
                        writeln!(out, "({})", e.describe(by))?
                    }
                    Err(e) => writeln!(out, "(`{by}` is not a duration: {e}; try /advance 2h)")?,
                }
                return Ok(ControlFlow::Continue(()));
            }
        };
        let msg = match text
            .parse::<usize>()
            .ok()
            .and_then(|n| self.choices.get(n.wrapping_sub(1)))
        {
            Some(c) => {
                let tap = Tap {
                    id: c.id.clone(),
                    title: Some(c.title.clone()),
                };
                writeln!(out, "(you tapped «{}»)", c.title)?;
                CustomerMessage {
                    from: from.clone(),
                    button: (!c.list).then(|| tap.clone()),
                    list: c.list.then_some(tap),
                    ..Default::default()
                }
            }
            None => CustomerMessage::text(&from, text),
        };
        self.say(out, msg).await?;
        Ok(ControlFlow::Continue(()))
    }

    /// Sends a customer's message and prints what came of it.
    async fn say(&mut self, out: &mut impl Write, msg: CustomerMessage) -> anyhow::Result<()> {
        let turn = self.driver.say(msg).await?;
        self.last_form = form_token(&turn.replies).or(self.last_form.take());
        let handed_off = handed_off(&self.driver, &self.from).await?;
        let offered = print_turn(out, &turn, &self.templates, self.explain, handed_off)?;
        self.events.print_new(out, &self.driver, &self.from).await?;
        if let Some(c) = offered {
            self.choices = c;
        }
        Ok(())
    }
}

/// Prints what the events handled since the last call did beyond replying — the
/// customer's messages, the timers an `/advance` fired, a `/release` — whether or not
/// `--explain` is on: a step that failed (the flow's author must see it) and a handoff to
/// a person beginning or ending (or the bot's silence would be a mystery).
#[derive(Default)]
struct EventLog {
    /// The last event printed.
    seen: Option<crate::store::Id>,
}

impl EventLog {
    async fn print_new(
        &mut self,
        out: &mut impl Write,
        driver: &Driver,
        from: &str,
    ) -> anyhow::Result<()> {
        let Some(contact) = driver.contact(from).await? else {
            return Ok(());
        };
        let traces = driver
            .state
            .sandbox
            .traces
            .of_conversation(contact.conversation_id);
        let seen = self.seen;
        for t in traces
            .iter()
            .filter(|t| seen.is_none_or(|s| t.event_id > s))
        {
            for x in &t.trace.exchanges {
                writeln!(out, "  {}", exchange_line(x))?;
            }
            for e in &t.trace.errors {
                writeln!(out, "  ! a step failed: {e}")?;
            }
            match &t.handoff {
                Some(HandoffChange::Began { until, .. }) => {
                    let until = until
                        .map(|u| format!(" until {}", clock_time(u, driver.now())))
                        .unwrap_or_default();
                    writeln!(out, "(handed off to a person{until}: the bot stays silent; /release gives the conversation back)")?;
                }
                Some(HandoffChange::Released { .. }) => {
                    writeln!(out, "(released: the bot answers again)")?
                }
                Some(HandoffChange::TimedOut) => {
                    writeln!(out, "(the handoff's time ran out: the bot answers again)")?
                }
                None => {}
            }
            self.seen = Some(self.seen.map_or(t.event_id, |s| s.max(t.event_id)));
        }
        Ok(())
    }
}

/// One model call in a line: `· model `assistant`: 310 + 12 tokens, $0.000410, 850 ms;
/// tools: save accepted, tag refused`.
pub fn exchange_line(x: &crate::engine::trace::TraceExchange) -> String {
    let mut line = format!(
        "· model `{}`: {} + {} tokens, ${:.6}, {} ms",
        x.model, x.input_tokens, x.output_tokens, x.cost, x.latency_ms
    );
    if x.replayed {
        line.push_str(" (replayed from the record)");
    }
    if !x.tool_calls.is_empty() {
        let tools: Vec<String> = x
            .tool_calls
            .iter()
            .map(|c| {
                let name = c.split(' ').next().unwrap_or(c);
                let verdict = if c.ends_with(": accepted") {
                    "accepted"
                } else {
                    "refused"
                };
                format!("{name} {verdict}")
            })
            .collect();
        line.push_str(&format!("; tools: {}", tools.join(", ")));
    }
    if x.outcome.starts_with("refused") || x.outcome.contains("fail") {
        line.push_str(&format!("; {}", x.outcome));
    }
    line
}

/// The token of the last form among `replies`, which `/form` submits.
fn form_token(replies: &[SentMessage]) -> Option<String> {
    replies.iter().rev().find_map(|m| match &m.content {
        OutboundContent::Form(f) => Some(f.token.clone()),
        _ => None,
    })
}

/// Whether a person has the customer's conversation (the bot stays silent).
async fn handed_off(driver: &Driver, from: &str) -> anyhow::Result<bool> {
    Ok(driver.contact(from).await?.is_some_and(|c| c.handed_off))
}

/// `14:05 UTC`, with the date when it is not the day of `now`.
fn clock_time(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// Prints the bot's replies (and the explanation); returns the choices offered, if any.
fn print_turn(
    out: &mut impl Write,
    turn: &Turn,
    templates: &[TemplateConfig],
    explain: bool,
    handed_off: bool,
) -> anyhow::Result<Option<Vec<Choice>>> {
    if explain {
        match &turn.trace {
            Some(t) => {
                if let Some(e) = &t.trace.triggers {
                    write!(out, "{}", e.render())?;
                }
                for d in &t.trace.decisions {
                    writeln!(out, "  · {d}")?;
                }
                for s in &t.trace.steps {
                    let which = if s.nested { "inside step" } else { "step" };
                    writeln!(
                        out,
                        "  · {}:{} {which} {}: {}",
                        s.file, s.line, s.step, s.op
                    )?;
                }
            }
            None if turn.injected.duplicate => writeln!(
                out,
                "  (the same message id again: deduplicated, nothing runs)"
            )?,
            None => writeln!(out, "  (no trace)")?,
        }
    }
    if turn.replies.is_empty() && handed_off {
        writeln!(
            out,
            "(no reply: a person has this conversation; /release gives it back to the bot)"
        )?;
    } else if turn.replies.is_empty() {
        writeln!(out, "(no reply)")?;
    }
    let mut offered = None;
    for m in &turn.replies {
        let (text, choices) = describe(m, templates);
        writeln!(out, "{text}")?;
        if !choices.is_empty() {
            offered = Some(choices);
        }
    }
    Ok(offered)
}

/// A reply as the terminal shows it, and the choices it offers.
pub fn describe(m: &SentMessage, templates: &[TemplateConfig]) -> (String, Vec<Choice>) {
    let mut choices = Vec::new();
    let mut text = match &m.content {
        OutboundContent::Text { body, .. } => format!("bot: {body}"),
        OutboundContent::Media {
            media,
            link,
            caption,
            filename,
        } => {
            let extra = caption.as_deref().or(filename.as_deref()).unwrap_or("");
            format!("bot: [{}] {link}  {extra}", media.as_str())
                .trim_end()
                .to_string()
        }
        OutboundContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => format!(
            "bot: [location] {latitude}, {longitude} {} {}",
            name.as_deref().unwrap_or(""),
            address.as_deref().unwrap_or("")
        )
        .trim_end()
        .to_string(),
        OutboundContent::Buttons { body, buttons, .. } => {
            let mut s = format!("bot: {body}");
            for (i, b) in buttons.iter().enumerate() {
                s.push_str(&format!("\n  [{}] {}", i + 1, b.title));
                choices.push(Choice {
                    id: b.id.clone(),
                    title: b.title.clone(),
                    list: false,
                });
            }
            s
        }
        OutboundContent::List {
            body,
            button,
            sections,
            ..
        } => {
            let mut s = format!("bot: {body}\n  ({button})");
            for section in sections {
                if let Some(t) = &section.title {
                    s.push_str(&format!("\n  {t}"));
                }
                for r in &section.rows {
                    choices.push(Choice {
                        id: r.id.clone(),
                        title: r.title.clone(),
                        list: true,
                    });
                    let d = r
                        .description
                        .as_deref()
                        .map(|d| format!(" — {d}"))
                        .unwrap_or_default();
                    s.push_str(&format!("\n  [{}] {}{d}", choices.len(), r.title));
                }
            }
            s
        }
        OutboundContent::UrlButton {
            body,
            display_text,
            url,
            ..
        } => format!("bot: {body}\n  [link] {display_text} → {url}"),
        OutboundContent::Reaction { emoji, .. } if emoji.is_empty() => {
            "bot: [removed its reaction]".to_string()
        }
        OutboundContent::Reaction { emoji, .. } => format!("bot: [reacted {emoji}]"),
        OutboundContent::LocationRequest { body } => {
            format!("bot: {body}\n  [Send location]")
        }
        OutboundContent::Form(f) => {
            let mut s = format!("bot: {}\n  [form] {}", f.body, f.cta);
            for field in &f.fields {
                let required = if field.required { ", required" } else { "" };
                s.push_str(&format!(
                    "\n    {} ({}{required})",
                    field.label.as_deref().unwrap_or(&field.name),
                    serde_json::to_value(field.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ));
            }
            s.push_str("\n  (fill it with /form name=value …)");
            s
        }
        OutboundContent::AddressRequest { body, country, .. } => format!(
            "bot: {body}\n  [address form, {country}] (answer with /address city=… in_pin_code=…)"
        ),
        OutboundContent::Template(t) => {
            let vars: Vec<String> = t
                .variables
                .iter()
                .map(|(k, v)| format!("{{{{{k}}}}} = {v}"))
                .collect();
            let body = templates
                .iter()
                .find(|c| c.name == t.name)
                .map(|c| {
                    let mut b = c.body.clone();
                    for (k, v) in &t.variables {
                        b = b.replace(&format!("{{{{{k}}}}}", k = k), v);
                    }
                    format!(": {b}")
                })
                .unwrap_or_default();
            format!(
                "bot: [template {} ({})] {}{body}",
                t.name,
                t.language,
                vars.join(", ")
            )
        }
    };
    match m.status {
        "failed" => text.push_str(&format!(
            "\n  ✗ not delivered: {} ({})",
            m.error_title.as_deref().unwrap_or("failed"),
            m.error_code.map(|c| c.to_string()).unwrap_or_default()
        )),
        "skipped" => text.push_str("\n  (skipped: the window had closed)"),
        _ => {}
    }
    if m.origin == "fallback" {
        text.push_str("\n  (sent instead of a free-form message: the window had closed)");
    }
    (text, choices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_starting_with_a_slash_is_a_command_never_a_message() {
        assert_eq!(Line::parse("hi"), Line::Say("hi"));
        assert_eq!(Line::parse("2"), Line::Say("2"));
        assert_eq!(Line::parse("/advance 2h 30m"), Line::Advance("2h 30m"));
        assert_eq!(Line::parse("/advance"), Line::Advance(""));
        assert_eq!(Line::parse("/explain"), Line::Explain);
        assert_eq!(Line::parse("/release"), Line::Release);
        assert_eq!(Line::parse("/help"), Line::Help);
        assert_eq!(Line::parse("/quit"), Line::Quit);
        assert_eq!(Line::parse("/exit"), Line::Quit);
        assert_eq!(Line::parse("/advancefoo"), Line::Unknown("advancefoo"));
        assert_eq!(Line::parse("/foo bar"), Line::Unknown("foo"));
        assert_eq!(Line::parse("/"), Line::Unknown(""));
        assert_eq!(Line::parse("//start"), Line::Say("/start"));
    }

    #[test]
    fn a_model_call_is_one_line_with_tokens_cost_and_tool_verdicts() {
        let x = crate::engine::trace::TraceExchange {
            model: "assistant".into(),
            tool_calls: vec![
                r#"save {"order_number":"A-12345"}: accepted"#.into(),
                r#"tag {"tag":"vip"}: refused: `vip` is not a tag you may set"#.into(),
            ],
            outcome: "sent".into(),
            input_tokens: 310,
            output_tokens: 12,
            cost: 0.00041,
            latency_ms: 850,
            ..Default::default()
        };
        assert_eq!(
            exchange_line(&x),
            "· model `assistant`: 310 + 12 tokens, $0.000410, 850 ms; tools: save accepted, tag refused"
        );
    }

    #[test]
    fn help_lists_every_command() {
        let text = help();
        for (command, _) in COMMANDS {
            assert!(text.contains(command), "{text}");
        }
        assert!(text.contains("//"), "{text}");
    }

    fn one_message(text: &str) -> Options {
        Options {
            config: Config::embedded_default(),
            from: "+34600000001".into(),
            text: Some(text.into()),
            explain: false,
        }
    }

    /// `parley simulate --from … "/advance 2h"` sent the command to the bot as a message:
    /// the bot answered it (or said nothing) and the clock stayed put.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_command_as_the_one_message_runs_as_the_command() {
        let mut out = Vec::new();
        run(one_message(" /advance 2h "), std::io::empty(), &mut out)
            .await
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("(the clock is now "), "{text}");
        assert!(
            !text.contains("bot:") && !text.contains("(no reply)"),
            "{text}"
        );
    }

    /// A command that needs an earlier turn of the conversation cannot run in a run of one
    /// message: it is refused, and nothing reaches the bot.
    #[tokio::test]
    async fn a_command_that_makes_no_sense_as_the_one_message_is_refused() {
        let refused = |text: &str| {
            let text = text.to_string();
            async move {
                let mut out = Vec::new();
                let e = run(one_message(&text), std::io::empty(), &mut out)
                    .await
                    .unwrap_err();
                assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
                e.to_string()
            }
        };
        assert_eq!(
            refused("/explain").await,
            "/explain shows how the triggers judge the messages that follow it; with one message, add --explain instead: `parley simulate --from +34600000001 --explain \"hi\"`"
        );
        assert!(refused("/form date=2027-01-15").await.starts_with("/form fills in the last form the bot sent, and in a one-message run the bot has sent none; run `parley simulate --from +34600000001` without a message"));
        assert!(refused("/release").await.starts_with("/release gives back"));
        assert!(refused("/quit")
            .await
            .starts_with("/quit ends a conversation"));
        assert_eq!(
            refused("/advance soon").await,
            "/advance: `soon` is not a duration (expected number at 0); write it like 24h, 10m, 30s or 500ms"
        );
        assert!(refused("/menu").await.starts_with(
            "/menu is not a simulator command, so nothing was sent to the bot (start with // to send a message that begins with /)\nCommands:"
        ));
        let mut out = Vec::new();
        run(one_message("/help"), std::io::empty(), &mut out)
            .await
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), help());
    }
}
