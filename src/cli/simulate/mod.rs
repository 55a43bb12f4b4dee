//! `parley simulate --from PHONE [TEXT] [--explain] [--language CODE] [--arm EXPERIMENT=ARM]`:
//! talk to the flows from the terminal as that customer, in the language given and with
//! the experiment arms given forced (issue 58; checked against what the flows offer). Buttons and list rows are numbered (typing the number taps it), media
//! is described, templates are shown with their variables, a failed step's error is
//! always shown; `--explain` prints how every trigger judged each message. A line starting
//! with `/`, typed or given as TEXT, is a command of the simulator ([`COMMANDS`]), never a
//! message. Runs in-process on a temporary database and a manual clock (`/advance 2h`
//! moves it).

mod commands;
mod session;
mod show;

pub use commands::{help, Line, COMMANDS};
pub use show::{describe, exchange_line, Choice};

use super::driver::Driver;
use crate::config::Config;
use crate::sandbox::choices::{self, Offer, TryChoices};
use session::Session;
use show::EventLog;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;

pub struct Options {
    pub config: Config,
    pub from: String,
    /// One message and exit; interactive when `None`.
    pub text: Option<String>,
    pub explain: bool,
    /// `--language es`: the customer's language (the contact field `language`).
    pub language: Option<String>,
    /// `--arm welcome/opening=long`, repeatable: arms forced for the customer.
    pub arms: Vec<String>,
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
    let Options {
        config,
        from,
        text,
        explain,
        language,
        arms,
    } = options;
    let choices = TryChoices {
        language,
        arms: parse_arms(&arms)?,
    };
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
    let driver = Driver::start(config, chrono::Utc::now()).await?;
    let chosen = match choose(&driver, &from, &choices).await {
        Ok(chosen) => chosen,
        Err(e) => {
            driver.stop().await;
            return Err(e);
        }
    };
    let mut session = Session {
        templates: driver.state.config.templates.clone(),
        driver,
        from,
        explain,
        choices: Vec::new(),
        last_form: None,
        events: EventLog::default(),
    };
    if let Some(chosen) = chosen {
        writeln!(out, "{chosen}")?;
    }
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

/// `--arm` values (`EXPERIMENT=ARM`) as experiment → arm; the same experiment twice is
/// refused.
fn parse_arms(given: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut arms = BTreeMap::new();
    for a in given {
        let Some((experiment, arm)) = a.split_once('=') else {
            anyhow::bail!(
                "--arm `{a}`: write the experiment, `=` and the arm, like --arm welcome/opening=long"
            );
        };
        let (experiment, arm) = (experiment.trim(), arm.trim());
        if arms
            .insert(experiment.to_string(), arm.to_string())
            .is_some()
        {
            anyhow::bail!("--arm: experiment `{experiment}` is given twice; give each once");
        }
    }
    Ok(arms)
}

/// Checks `choices` against the flows and writes them on the customer's contact; the line
/// saying so, `None` when nothing was chosen.
async fn choose(
    driver: &Driver,
    from: &str,
    choices: &TryChoices,
) -> anyhow::Result<Option<String>> {
    if choices.is_empty() {
        return Ok(None);
    }
    let offer = Offer::of(&driver.state.engine.flows());
    offer.check(choices).map_err(|why| anyhow::anyhow!(why))?;
    let phone = crate::domain::PhoneNumber::parse(from)
        .map_err(|e| anyhow::anyhow!("`{from}` is not a phone number: {e}"))?;
    let customer = driver.state.sandbox.customer(phone);
    let state = &driver.state;
    choices::apply(&state.store, state.clock.as_ref(), &customer, choices).await?;
    let mut said = Vec::new();
    if let Some(code) = &choices.language {
        let name = offer.languages.iter().find(|l| &l.code == code);
        said.push(format!(
            "speaks {} ({code})",
            name.map_or(code.as_str(), |l| l.name.as_str())
        ));
    }
    for (experiment, arm) in &choices.arms {
        said.push(format!("is in arm {arm} of {experiment}"));
    }
    Ok(Some(format!("The customer {}.", said.join(" and "))))
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
            language: None,
            arms: Vec::new(),
        }
    }

    #[test]
    fn arms_are_read_as_experiment_equals_arm_once_each() {
        let arms = parse_arms(&["welcome/opening = long".into(), "welcome@version=v2".into()]);
        let arms = arms.unwrap();
        assert_eq!(arms["welcome/opening"], "long");
        assert_eq!(arms["welcome@version"], "v2");
        let twice = parse_arms(&["a/b=x".into(), "a/b=y".into()]).unwrap_err();
        assert!(
            twice.to_string().contains("`a/b` is given twice"),
            "{twice}"
        );
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
