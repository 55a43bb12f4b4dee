//! Runs one test file against the flows, step by step, on a fresh in-process Parley, and
//! stops at the first step that does not hold, saying what was expected and what happened
//! in words a flow author reads.

use super::format::{ExpectReply, Step, TestFile, Wanted};
use super::models::TestModels;
use crate::cli::driver::Driver;
use crate::cli::simulate::{describe, Choice};
use crate::config::Config;
use crate::domain::OutboundContent;
use crate::sandbox::inject::{CustomerMessage, FormSubmission, Tap};
use crate::sandbox::view::SentMessage;
use chrono::TimeZone;
use serde_json::Value;
use std::collections::VecDeque;

/// Where a failing test stopped and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// 1-based step number; 0 when the file itself is wrong.
    pub step: usize,
    pub line: usize,
    /// The column, when known (a step's start, or the place the file is wrong).
    pub column: Option<usize>,
    pub message: String,
}

/// Runs `test`, read from `path`, with `overrides` standing in for flow files; with
/// `record`, its models' exchanges are recorded beside it (see `models.rs`).
pub async fn run(
    config: &Config,
    path: &std::path::Path,
    test: &TestFile,
    record: bool,
    overrides: &crate::flows::Overrides,
) -> Result<Option<String>, Failure> {
    let start = test
        .start
        .unwrap_or_else(|| chrono::Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap());
    let mut models =
        TestModels::for_test(config, path, test, record).map_err(|message| Failure {
            step: 0,
            line: 1,
            column: None,
            message,
        })?;
    let mut driver = Driver::start_with(config.clone(), start, |m| models.wrap(m), overrides)
        .await
        .map_err(|e| Failure {
            step: 0,
            line: 1,
            column: None,
            message: format!("Parley could not start with these flows: {e:#}"),
        })?;
    models.use_flows(&driver.state.engine.flows());
    if let Some(language) = &test.language {
        let name = test.contact_name.as_deref();
        if let Err(e) = super::language::set_language(&driver, &test.phone, name, language).await {
            driver.stop().await;
            return Err(Failure {
                step: 0,
                line: 1,
                column: None,
                message: format!("the customer's language could not be set: {e:#}"),
            });
        }
    }
    let mut state = State {
        test,
        pending: VecDeque::new(),
        choices: Vec::new(),
        last_trace: None,
        last_form: None,
    };
    let mut result = Ok(());
    for (i, (place, step)) in test.steps.iter().enumerate() {
        let acted = async {
            models.before(place.line, test.model_answers.get(&i))?;
            state.step(&mut driver, step).await?;
            models.after()
        };
        if let Err(mut message) = acted.await {
            message.push_str(&state.refused_calls());
            result = Err(Failure {
                step: i + 1,
                line: place.line,
                column: Some(place.column),
                message,
            });
            break;
        }
    }
    driver.stop().await;
    result?;
    models.finish().map_err(|message| Failure {
        step: 0,
        line: 1,
        column: None,
        message,
    })
}

struct State<'a> {
    test: &'a TestFile,
    /// Replies of the last action not checked yet.
    pending: VecDeque<SentMessage>,
    /// Buttons and list rows offered so far, newest last.
    choices: Vec<Choice>,
    /// The trace of the last customer message, to explain a missing reply.
    last_trace: Option<std::sync::Arc<crate::sandbox::TracedEvent>>,
    /// The token of the last form the bot sent, which `customer_submits_form` fills.
    last_form: Option<String>,
}

impl State<'_> {
    async fn step(&mut self, driver: &mut Driver, step: &Step) -> Result<(), String> {
        let phone = self.test.phone.clone();
        let failed = |e: anyhow::Error| format!("the bot could not be driven: {e:#}");
        match step {
            Step::Customer(text) => {
                let msg = CustomerMessage {
                    name: self.test.contact_name.clone(),
                    ..CustomerMessage::text(&phone, text)
                };
                self.say(driver, msg).await?;
            }
            Step::CustomerTaps(what) => {
                let msg = self.tap(what)?;
                self.say(driver, msg).await?;
            }
            Step::CustomerSends(value) => {
                let msg = self.sends(value)?;
                self.say(driver, msg).await?;
            }
            Step::CustomerSubmitsForm(answers) => {
                let msg = self.submits_form(answers)?;
                self.say(driver, msg).await?;
            }
            Step::ExpectReply(e) => {
                let Some(reply) = self.pending.pop_front() else {
                    return Err(format!(
                        "expected the bot to reply {}, but it did not reply{}",
                        expectation(e),
                        self.why_silent()
                    ));
                };
                check(e, &reply)?;
            }
            Step::ExpectNoReply => {
                if let Some(reply) = self.pending.front() {
                    return Err(format!(
                        "expected no reply, but the bot replied {}",
                        shown(reply)
                    ));
                }
            }
            Step::ExpectVars(expected) => {
                let contact = driver.contact(&phone).await.map_err(failed)?;
                let vars = contact.map(|c| c.vars).unwrap_or_default();
                for (k, want) in expected {
                    compare(&format!("the variable `{k}`"), want, vars.get(k))?;
                }
            }
            Step::ExpectContact(expected) => {
                let contact = driver
                    .contact(&phone)
                    .await
                    .map_err(failed)?
                    .ok_or("expected details on the contact, but the customer never wrote")?;
                for (k, want) in expected {
                    let actual = if k == "name" {
                        contact.name.clone().map(Value::String)
                    } else {
                        contact.attributes.get(k).cloned()
                    };
                    compare(&format!("the contact's `{k}`"), want, actual.as_ref())?;
                }
            }
            Step::ExpectTags(tags) | Step::ExpectNoTags(tags) => {
                let present = matches!(step, Step::ExpectTags(_));
                let contact = driver.contact(&phone).await.map_err(failed)?;
                let have = contact.map(|c| c.tags).unwrap_or_default();
                tags_as_expected(&have, tags, present)?;
            }
            Step::Advance(by) => {
                driver.advance(*by).await.map_err(failed)?;
                let replies = driver.replies(&phone).await.map_err(failed)?;
                self.received(replies);
            }
            Step::RunSchedule(flow) => {
                driver
                    .run_schedule(flow)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                let replies = driver.replies(&phone).await.map_err(failed)?;
                self.received(replies);
            }
            Step::DuplicateLastWebhook => {
                let turn = driver
                    .duplicate_last()
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                self.received(turn.replies);
            }
        }
        Ok(())
    }

    /// Sends the customer's message and keeps what came of it.
    async fn say(&mut self, driver: &mut Driver, msg: CustomerMessage) -> Result<(), String> {
        let turn = driver
            .say(msg)
            .await
            .map_err(|e| format!("the bot could not be driven: {e:#}"))?;
        self.last_trace = turn.trace.clone();
        self.received(turn.replies);
        Ok(())
    }

    /// `customer_taps`: the newest button or list row offered with that id or title.
    fn tap(&self, what: &str) -> Result<CustomerMessage, String> {
        let want = crate::flows::normalize(what);
        let Some(c) = self
            .choices
            .iter()
            .rev()
            .find(|c| c.id == *what || crate::flows::normalize(&c.title) == want)
            .cloned()
        else {
            let offered: Vec<String> = self
                .choices
                .iter()
                .map(|c| format!("«{}»", c.title))
                .collect();
            return Err(if offered.is_empty() {
                format!("the customer should tap «{what}», but the bot has not offered any button or list row")
            } else {
                format!(
                    "the customer should tap «{what}», but the bot only offered {}",
                    offered.join(", ")
                )
            });
        };
        let tap = Tap {
            id: c.id.clone(),
            title: Some(c.title.clone()),
        };
        Ok(CustomerMessage {
            from: self.test.phone.clone(),
            name: self.test.contact_name.clone(),
            button: (!c.list).then(|| tap.clone()),
            list: c.list.then_some(tap),
            ..Default::default()
        })
    }

    /// `customer_sends`: a message written as the sandbox's API takes it, from the test's
    /// customer.
    fn sends(&self, value: &Value) -> Result<CustomerMessage, String> {
        let mut value = value.clone();
        if let Value::Object(m) = &mut value {
            m.insert("from".into(), Value::String(self.test.phone.clone()));
            if let Some(n) = &self.test.contact_name {
                m.entry("name").or_insert(Value::String(n.clone()));
            }
        }
        serde_json::from_value(value).map_err(|e| format!("customer_sends: {e}"))
    }

    /// `customer_submits_form`: the answers to the last form the bot sent.
    fn submits_form(
        &self,
        answers: &std::collections::BTreeMap<String, Value>,
    ) -> Result<CustomerMessage, String> {
        let Some(token) = self.last_form.clone() else {
            return Err("the customer should submit a form, but the bot has not sent one".into());
        };
        Ok(CustomerMessage {
            from: self.test.phone.clone(),
            name: self.test.contact_name.clone(),
            form: Some(FormSubmission {
                token,
                response: answers.clone().into_iter().collect(),
            }),
            ..Default::default()
        })
    }

    /// The model's tool calls Parley refused while the bot handled the last customer
    /// message, from its trace: a test that fails after one often gave the model a
    /// misspelt tool or arguments the step does not accept in its `model:` answers.
    fn refused_calls(&self) -> String {
        let Some(t) = &self.last_trace else {
            return String::new();
        };
        t.trace
            .exchanges
            .iter()
            .flat_map(|x| &x.tool_calls)
            .filter_map(|call| call.split_once(": refused: "))
            .map(|(call, why)| {
                format!("\n  note: Parley refused the model's tool call {call}: {why}")
            })
            .collect()
    }

    /// Why the last customer message got no reply, from its trace.
    fn why_silent(&self) -> String {
        let Some(t) = &self.last_trace else {
            return String::new();
        };
        let mut s = format!("\n  the bot received {}", t.trace.event);
        if let Some(e) = &t.trace.triggers {
            s.push_str(&format!(": {}", e.outcome));
            if let Some(n) = &e.nearest {
                s.push_str(&format!(
                    "\n  nearest trigger: flow `{}` ({}:{}) {}: {}",
                    n.flow, n.file, n.line, n.trigger, n.why
                ));
            }
        }
        for err in &t.trace.errors {
            s.push_str(&format!("\n  error: {err}"));
        }
        s
    }

    fn received(&mut self, replies: Vec<SentMessage>) {
        for r in &replies {
            let (_, choices) = describe(r, &[]);
            self.choices.extend(choices);
            if let OutboundContent::Form(f) = &r.content {
                self.last_form = Some(f.token.clone());
            }
        }
        self.pending = replies.into();
    }
}

/// Checks one reply against what the test expects.
fn check(e: &ExpectReply, reply: &SentMessage) -> Result<(), String> {
    let got = shown(reply);
    if let Some(name) = e.template.as_ref().or(e.template_name.as_ref()) {
        let OutboundContent::Template(t) = &reply.content else {
            return Err(format!(
                "expected the bot to send the template «{name}»\n  but it replied {got}"
            ));
        };
        if &t.name != name {
            return Err(format!(
                "expected the bot to send the template «{name}», but it sent the template «{}»",
                t.name
            ));
        }
        for (k, want) in e.variables.iter().flatten() {
            match t.variables.get(k) {
                Some(v) if v == want => {}
                Some(v) => {
                    return Err(format!(
                        "expected the template «{name}» with {{{{{k}}}}} = «{want}»\n  but {{{{{k}}}}} was «{v}»"
                    ))
                }
                None => {
                    return Err(format!(
                        "expected the template «{name}» with {{{{{k}}}}} = «{want}», but it has no {{{{{k}}}}}"
                    ))
                }
            }
        }
    }
    let body = text_of(&reply.content);
    if let Some(want) = &e.text {
        if body.as_deref().map(str::trim) != Some(want.trim()) {
            return Err(format!(
                "expected the bot to reply «{want}»\n  but it replied {got}"
            ));
        }
    }
    if let Some(want) = &e.text_contains {
        if !body.as_deref().unwrap_or("").contains(want.as_str()) {
            return Err(format!(
                "expected the bot's reply to contain «{want}»\n  but it replied {got}"
            ));
        }
    }
    if let Some(pattern) = &e.text_matches {
        if !pattern.is_match(body.as_deref().unwrap_or("")) {
            return Err(format!(
                "expected the bot's reply to match `{}`\n  but it replied {got}",
                pattern.as_str()
            ));
        }
    }
    if let Some(want) = &e.buttons {
        let have: Vec<(String, String)> = match &reply.content {
            OutboundContent::Buttons { buttons, .. } => buttons
                .iter()
                .map(|b| (b.id.clone(), b.title.clone()))
                .collect(),
            _ => Vec::new(),
        };
        same_choices("buttons", want, &have, &got)?;
    }
    if let Some(want) = &e.list {
        let have: Vec<(String, String)> = match &reply.content {
            OutboundContent::List { sections, .. } => sections
                .iter()
                .flat_map(|s| s.rows.iter().map(|r| (r.id.clone(), r.title.clone())))
                .collect(),
            _ => Vec::new(),
        };
        same_choices("list rows", want, &have, &got)?;
    }
    if let Some(kind) = &e.kind {
        if reply.kind != kind {
            return Err(format!(
                "expected a reply of kind `{kind}`, but it was `{}`: {got}",
                reply.kind
            ));
        }
    }
    match &e.status {
        Some(status) if reply.status != status => {
            return Err(format!(
                "expected the reply to be {status}, but it is {}: {got}",
                reply.status
            ));
        }
        // A reply that never reached the customer does not pass for one that did.
        None if matches!(reply.status, "skipped" | "failed") => {
            return Err(format!(
                "the expected reply never reached the customer: {got}\n  add `status: {}` to this expect_reply if that is what the test means",
                reply.status
            ));
        }
        _ => {}
    }
    Ok(())
}

fn same_choices(
    what: &str,
    want: &[String],
    have: &[(String, String)],
    got: &str,
) -> Result<(), String> {
    let matches = want.len() == have.len()
        && want
            .iter()
            .zip(have)
            .all(|(w, (id, title))| w == id || w == title);
    if matches {
        return Ok(());
    }
    let want = want.join(" | ");
    if have.is_empty() {
        return Err(format!(
            "expected {what} [{want}]\n  but the reply had none: {got}"
        ));
    }
    let have: Vec<&str> = have.iter().map(|(_, t)| t.as_str()).collect();
    Err(format!(
        "expected {what} [{want}]\n  but the reply had [{}]",
        have.join(" | ")
    ))
}

/// Whether a saved value is the one a check wants: the same value, the same text, or the
/// text the test file wrote for a number (`12.50` matches a saved «12.50»).
fn compare(what: &str, want: &Wanted, actual: Option<&Value>) -> Result<(), String> {
    let show = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let wanted = want.written.clone().unwrap_or_else(|| show(&want.value));
    match actual {
        None | Some(Value::Null) => Err(format!(
            "expected {what} to be «{wanted}», but it is not set"
        )),
        Some(v) if *v == want.value || show(v) == show(&want.value) || show(v) == wanted => Ok(()),
        Some(v) => Err(format!(
            "expected {what} to be «{wanted}», but it is «{}»",
            show(v)
        )),
    }
}

/// The text a person reads in a reply, when it has one.
fn text_of(content: &OutboundContent) -> Option<String> {
    match content {
        OutboundContent::Text { body, .. }
        | OutboundContent::Buttons { body, .. }
        | OutboundContent::List { body, .. }
        | OutboundContent::UrlButton { body, .. }
        | OutboundContent::LocationRequest { body } => Some(body.clone()),
        OutboundContent::Form(f) => Some(f.body.clone()),
        OutboundContent::AddressRequest { body, .. } => Some(body.clone()),
        OutboundContent::Media { caption, .. } => caption.clone(),
        _ => None,
    }
}

/// A reply in a failure message: «text» with its buttons, or the template and variables.
fn shown(reply: &SentMessage) -> String {
    let mut s = match &reply.content {
        OutboundContent::Template(t) => {
            let vars: Vec<String> = t
                .variables
                .iter()
                .map(|(k, v)| format!("{{{{{k}}}}} = «{v}»"))
                .collect();
            if vars.is_empty() {
                format!("the template «{}»", t.name)
            } else {
                format!("the template «{}» with {}", t.name, vars.join(", "))
            }
        }
        OutboundContent::Buttons { body, buttons, .. } => {
            let titles: Vec<&str> = buttons.iter().map(|b| b.title.as_str()).collect();
            format!("«{body}» with buttons [{}]", titles.join(" | "))
        }
        OutboundContent::List { body, sections, .. } => {
            let rows: Vec<&str> = sections
                .iter()
                .flat_map(|s| s.rows.iter().map(|r| r.title.as_str()))
                .collect();
            format!("«{body}» with a list [{}]", rows.join(" | "))
        }
        other => match text_of(other) {
            Some(t) => format!("«{t}»"),
            None => reply.summary.clone(),
        },
    };
    match reply.status {
        "failed" => s.push_str(&format!(
            " (not delivered: {})",
            reply.error_title.as_deref().unwrap_or("failed")
        )),
        "skipped" => s.push_str(" (skipped: the window had closed)"),
        _ => {}
    }
    s
}

/// What a test expected, for "it did not reply".
fn expectation(e: &ExpectReply) -> String {
    if let Some(t) = &e.text {
        return format!("«{t}»");
    }
    if let Some(t) = &e.text_contains {
        return format!("something containing «{t}»");
    }
    if let Some(t) = e.template.as_ref().or(e.template_name.as_ref()) {
        return format!("with the template «{t}»");
    }
    if let Some(p) = &e.text_matches {
        return format!("something matching `{}`", p.as_str());
    }
    "something".into()
}

/// `expect_tags` (`present`) or `expect_no_tags`: each of `tags` on the contact, or not.
fn tags_as_expected(have: &[String], tags: &[String], present: bool) -> Result<(), String> {
    for t in tags {
        if have.contains(t) != present {
            let list = if have.is_empty() {
                "(none)".to_string()
            } else {
                have.join(", ")
            };
            return Err(format!(
                "expected the contact {} the tag `{t}`, but their tags are: {list}",
                if present { "to have" } else { "not to have" }
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(value: Value, written: Option<&str>) -> Wanted {
        Wanted {
            value,
            written: written.map(str::to_string),
        }
    }

    /// `expect_vars: { total: 12.50 }` was the number 12.5, which a total the bot saved as
    /// the customer typed it («12.50») did not match, and a failure showed «12.5».
    #[test]
    fn a_number_in_a_check_matches_the_text_the_file_wrote() {
        let total = wanted(serde_json::json!(12.5), Some("12.50"));
        assert_eq!(
            compare("the variable `total`", &total, Some(&Value::from("12.50"))),
            Ok(())
        );
        assert_eq!(
            compare(
                "the variable `total`",
                &total,
                Some(&serde_json::json!(12.5))
            ),
            Ok(())
        );
        assert_eq!(
            compare("the variable `total`", &total, Some(&Value::from("13"))),
            Err("expected the variable `total` to be «12.50», but it is «13»".into())
        );
        let phone = wanted(serde_json::json!(34600000001_u64), Some("+34600000001"));
        assert_eq!(
            compare(
                "the contact's `phone`",
                &phone,
                Some(&Value::from("+34600000001"))
            ),
            Ok(())
        );
    }
}
