//! `parley simulate --from PHONE [TEXT] [--explain]`: talk to the flows from the terminal
//! as that customer. Buttons and list rows are numbered (typing the number taps it), media
//! is described, templates are shown with their variables; `--explain` prints how every
//! trigger judged each message. Runs in-process on a temporary database and a manual clock
//! (`/advance 2h` moves it).

use super::driver::{Driver, Turn};
use crate::config::{Config, TemplateConfig};
use crate::domain::OutboundContent;
use crate::sandbox::inject::{CustomerMessage, Tap};
use crate::sandbox::view::SentMessage;
use std::io::{BufRead, Write};
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

pub async fn run(
    options: Options,
    input: impl BufRead,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let templates = options.config.templates.clone();
    let dir = options.config.flows.dir.clone();
    let mut driver = Driver::start(options.config, chrono::Utc::now()).await?;
    let from = options.from.clone();
    if let Some(text) = options.text {
        let turn = driver.say(CustomerMessage::text(&from, &text)).await?;
        print_turn(out, &turn, &templates, options.explain)?;
        driver.stop().await;
        return Ok(());
    }
    writeln!(
        out,
        "Talking to the flows in {dir} as {from}. Type a message and press Enter; type a number to tap a choice;\n/advance 2h moves the clock, /explain toggles the trigger evaluation, /quit ends. (Sandbox page: {}/sandbox)",
        driver.addr
    )?;
    let mut explain = options.explain;
    let mut choices: Vec<Choice> = Vec::new();
    for line in input.lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "/quit" || line == "/exit" {
            break;
        }
        if line == "/explain" {
            explain = !explain;
            writeln!(out, "(explain {})", if explain { "on" } else { "off" })?;
            continue;
        }
        if let Some(by) = line.strip_prefix("/advance") {
            match crate::config::duration::parse(by) {
                Ok(d) => {
                    driver.advance(d).await?;
                    writeln!(out, "(the clock is now {})", driver.now().to_rfc3339())?;
                    let sent = driver.replies(&from).await?;
                    for m in &sent {
                        let (text, c) = describe(m, &templates);
                        writeln!(out, "{text}")?;
                        if !c.is_empty() {
                            choices = c;
                        }
                    }
                }
                Err(e) => writeln!(
                    out,
                    "(`{}` is not a duration: {e}; try /advance 2h)",
                    by.trim()
                )?,
            }
            continue;
        }
        let msg = match line
            .parse::<usize>()
            .ok()
            .and_then(|n| choices.get(n.wrapping_sub(1)))
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
            None => CustomerMessage::text(&from, line),
        };
        let turn = driver.say(msg).await?;
        if let Some(c) = print_turn(out, &turn, &templates, explain)? {
            choices = c;
        }
    }
    driver.stop().await;
    Ok(())
}

/// Prints the bot's replies (and the explanation); returns the choices offered, if any.
fn print_turn(
    out: &mut impl Write,
    turn: &Turn,
    templates: &[TemplateConfig],
    explain: bool,
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
                for e in &t.trace.errors {
                    writeln!(out, "  ! {e}")?;
                }
            }
            None if turn.injected.duplicate => writeln!(
                out,
                "  (the same message id again: deduplicated, nothing runs)"
            )?,
            None => writeln!(out, "  (no trace)")?,
        }
    }
    if turn.replies.is_empty() {
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
