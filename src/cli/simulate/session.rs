//! One conversation at the simulator: each line typed acted on (a message, a tap on a
//! numbered choice, a form, the clock moved, a handoff released), sent through the
//! in-process Parley, and what came of it printed.

use super::commands::{help, Line};
use super::show::{describe, print_turn, Choice, EventLog};
use crate::cli::driver::Driver;
use crate::config::TemplateConfig;
use crate::domain::OutboundContent;
use crate::sandbox::inject::{CustomerMessage, FormSubmission, Tap};
use crate::sandbox::view::SentMessage;
use std::io::Write;
use std::ops::ControlFlow;

/// One conversation at the simulator: the in-process Parley, and what the customer can tap
/// or fill in next.
pub(super) struct Session {
    pub(super) driver: Driver,
    pub(super) from: String,
    pub(super) templates: Vec<TemplateConfig>,
    pub(super) explain: bool,
    /// The buttons or list rows last offered; typing a number taps one.
    pub(super) choices: Vec<Choice>,
    /// The token of the last form the bot sent, which `/form` submits.
    pub(super) last_form: Option<String>,
    pub(super) events: EventLog,
}

impl Session {
    /// Acts on one line typed at the simulator (or given on the command line); breaks when
    /// the line ends the conversation.
    pub(super) async fn line(
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
