//! Each step type, run by the engine on synthetic conversations (no database, no network
//! except a local double for `http`).

use super::fixtures;
use super::*;
use crate::config::{TemplateConfig, TemplateStatus};
use crate::domain::{EventKind, ScheduledRun, StoredEvent, Timer, TimerFire};
use crate::domain::{InboundContent, WindowPolicy};
use serde_json::json;
use std::time::Duration;

struct Harness {
    engine: FlowEngine,
    conversation: Conversation,
    contact: Contact,
    now: DateTime<Utc>,
    timers: Vec<NewTimer>,
    next_event: i64,
    last_inbound: DateTime<Utc>,
}

fn templates() -> Vec<TemplateConfig> {
    vec![TemplateConfig {
        id: 45,
        name: "menu_reminder".into(),
        language: "en".into(),
        status: TemplateStatus::Approved,
        body: "Hi {{1}}, reply MENU to continue.".into(),
        buttons: vec![],
        twilio_content_sid: None,
        category: None,
    }]
}

fn harness(flows: &[&str]) -> Harness {
    harness_with(flows, false)
}

fn harness_with(flows: &[&str], allow_private: bool) -> Harness {
    harness_opts(
        flows,
        EngineOptions {
            allow_private_networks: allow_private,
            ..Default::default()
        },
    )
}

fn harness_opts(flows: &[&str], options: EngineOptions) -> Harness {
    let files: Vec<(String, &str)> = flows
        .iter()
        .enumerate()
        .map(|(i, text)| (format!("f{i}.yaml"), *text))
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let (set, _dir) = fixtures::load(&files, &templates());
    let now = fixtures::start();
    Harness {
        engine: FlowEngine::new(set, options),
        conversation: fixtures::conversation(ConversationState::default(), None),
        contact: fixtures::ana(),
        now,
        timers: vec![],
        next_event: 1,
        last_inbound: now,
    }
}

impl Harness {
    async fn event(&mut self, kind: EventKind) -> StepOutput {
        self.event_traced(kind, false).await.0
    }

    /// `event`, with the trace the sandbox would keep when `traced`.
    async fn event_traced(&mut self, kind: EventKind, traced: bool) -> (StepOutput, trace::Trace) {
        self.next_event += 1;
        let event = StoredEvent {
            id: self.next_event,
            conversation_id: 1,
            kind,
            received_at: self.now,
        };
        let window = WindowPolicy::default().state(Some(self.last_inbound), self.now);
        let input = StepInput {
            conversation: &self.conversation,
            contact: &self.contact,
            event: &event,
            window: &window,
            now: self.now,
            broadcast_reply: None,
        };
        let (out, trace) = if traced {
            self.engine.handle_traced(input).await
        } else {
            (self.engine.handle(input).await, trace::Trace::default())
        };
        self.conversation.state = out.state.clone();
        self.timers
            .retain(|t| !out.cancel_timers.contains(&t.timer.kind()));
        self.timers.extend(out.timers.iter().cloned());
        if let Some(p) = &out.contact_patch {
            let c = &mut self.contact;
            p.apply_to(&mut c.name, &mut c.attributes, &mut c.tags);
        }
        (out, trace)
    }

    async fn send(&mut self, content: InboundContent) -> StepOutput {
        self.last_inbound = self.now;
        let mut msg = fixtures::from_ana(&format!("wamid.{}", self.next_event), content, self.now);
        msg.profile_name = Some("Ana".into());
        self.event(EventKind::Message(msg)).await
    }

    /// `send` of a text, with its trace.
    async fn say_traced(&mut self, text: &str) -> (StepOutput, trace::Trace) {
        self.last_inbound = self.now;
        let mut msg = fixtures::from_ana(
            &format!("wamid.{}", self.next_event),
            InboundContent::Text { body: text.into() },
            self.now,
        );
        msg.profile_name = Some("Ana".into());
        self.event_traced(EventKind::Message(msg), true).await
    }

    async fn say(&mut self, text: &str) -> Vec<String> {
        let out = self.send(InboundContent::Text { body: text.into() }).await;
        bodies(&out)
    }

    /// Advances the clock and fires every timer now due, returning what was sent.
    async fn advance(&mut self, by: Duration) -> Vec<String> {
        self.now += chrono::Duration::from_std(by).unwrap();
        let due: Vec<NewTimer> = self
            .timers
            .iter()
            .filter(|t| t.due_at <= self.now)
            .cloned()
            .collect();
        self.timers.retain(|t| t.due_at > self.now);
        let mut sent = Vec::new();
        for (i, t) in due.into_iter().enumerate() {
            let fire = TimerFire {
                timer_id: i as i64,
                timer: t.timer,
                due_at: t.due_at,
            };
            sent.extend(bodies(&self.event(EventKind::Timer(fire)).await));
        }
        sent
    }

    fn state(&self) -> ConversationState {
        self.conversation.state.clone()
    }
}

fn bodies(out: &StepOutput) -> Vec<String> {
    out.replies
        .iter()
        .map(|r| match &r.content {
            OutboundContent::Text { body, .. } => body.clone(),
            OutboundContent::Buttons { body, buttons, .. } => format!(
                "{body} {:?}",
                buttons.iter().map(|b| b.title.as_str()).collect::<Vec<_>>()
            ),
            OutboundContent::Template(t) => format!("template {} {:?}", t.name, t.variables),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn send_renders_contact_and_message() {
    let mut h = harness(&["id: ping\ntriggers:\n  - keyword: [ping]\nsteps:\n  - send:\n      text: \"pong {{ contact.name }} ({{ message.text }})\"\n"]);
    assert_eq!(h.say("PING").await, vec!["pong Ana (PING)"]);
    assert!(h.state().run.is_none(), "the run ends after the last step");
}

#[tokio::test]
async fn button_and_list_labels_are_filled_in_and_cut_to_whatsapps_limits() {
    let long = "x".repeat(100);
    let flow = format!(
        "id: m\ntriggers: [{{keyword: [m]}}]\nsteps:\n  - set: {{ long: \"{long}\" }}\n  - send:\n      text: Pick\n      header: \"Head {{{{ vars.long }}}}\"\n      buttons: [{{ id: a, title: \"{{{{ contact.name }}}}\" }}, {{ id: b, title: \"Hi {{{{ vars.long }}}}\" }}]\n  - send:\n      text: Rows\n      footer: \"{{{{ vars.long }}}}\"\n      list: {{ button: \"{{{{ contact.name }}}}\", rows: [{{ id: r1, title: \"{{{{ contact.name }}}}\", description: \"{{{{ vars.long }}}}\" }}] }}\n"
    );
    let mut h = harness(&[&flow]);
    let out = h.send(InboundContent::Text { body: "m".into() }).await;
    let OutboundContent::Buttons {
        header, buttons, ..
    } = &out.replies[0].content
    else {
        panic!("{:?}", out.replies[0].content);
    };
    assert_eq!(header.as_deref().map(|h| h.chars().count()), Some(60));
    assert_eq!(buttons[0].id, "a");
    assert_eq!(buttons[0].title, "Ana");
    assert_eq!(buttons[1].title.chars().count(), 20);
    let OutboundContent::List {
        footer,
        button,
        sections,
        ..
    } = &out.replies[1].content
    else {
        panic!("{:?}", out.replies[1].content);
    };
    assert_eq!(footer.as_deref().map(|f| f.chars().count()), Some(60));
    assert_eq!(button, "Ana");
    let row = &sections[0].rows[0];
    assert_eq!((row.id.as_str(), row.title.as_str()), ("r1", "Ana"));
    assert_eq!(
        row.description.as_deref().map(|d| d.chars().count()),
        Some(72)
    );
}

#[tokio::test]
async fn ask_validates_reprompts_and_saves_the_answer() {
    let mut h = harness(&["id: lead\ntriggers: [{keyword: [join]}]\nsteps:\n  - ask: { text: \"Your email?\", expect: email, save_as: email, retries: 1, retry_text: \"Not an email, try again\" }\n  - set: { contact.email: \"{{ vars.email }}\" }\n  - send: \"Thanks, {{ vars.email }}\"\n"]);
    assert_eq!(h.say("join").await, vec!["Your email?"]);
    assert_eq!(h.say("nope").await, vec!["Not an email, try again"]);
    assert_eq!(
        h.say("Ana@Example.com").await,
        vec!["Thanks, ana@example.com"]
    );
    assert_eq!(h.contact.attributes["email"], json!("ana@example.com"));
}

#[tokio::test]
async fn ask_gives_up_after_retries_and_takes_on_invalid() {
    let mut h = harness(&["id: n\ntriggers: [{keyword: [age]}]\nsteps:\n  - ask: { text: \"Age?\", expect: number, save_as: age, retries: 1, on_invalid: giveup }\n  - send: ok\n  - end: {}\n  - id: giveup\n    send: \"Let's skip that.\"\n"]);
    h.say("age").await;
    assert_eq!(
        h.say("old").await,
        vec!["Please answer with a number, like 3 or 12.5."]
    );
    assert_eq!(h.say("very old").await, vec!["Let's skip that."]);
}

#[tokio::test]
async fn ask_timeout_goes_to_its_step_and_an_answer_cancels_it() {
    let flow = "id: t\ntriggers: [{keyword: [quiz]}]\nsteps:\n  - ask: { text: \"Ready?\", save_as: r, timeout: 10m, on_timeout: nudge }\n  - send: \"Great\"\n  - end: {}\n  - id: nudge\n    send: \"Still there?\"\n";
    let mut h = harness(&[flow]);
    h.say("quiz").await;
    assert_eq!(
        h.advance(Duration::from_secs(9 * 60)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        h.advance(Duration::from_secs(2 * 60)).await,
        vec!["Still there?"]
    );
    let mut h = harness(&[flow]);
    h.say("quiz").await;
    assert_eq!(h.say("yes").await, vec!["Great"]);
    assert!(h.timers.is_empty(), "the answer cancelled the timeout");
}

#[tokio::test]
async fn delay_waits_for_its_timer() {
    let mut h = harness(&["id: d\ntriggers: [{keyword: [later]}]\nsteps:\n  - send: one\n  - delay: 1h\n  - send: two\n"]);
    assert_eq!(h.say("later").await, vec!["one"]);
    assert_eq!(
        h.advance(Duration::from_secs(1800)).await,
        Vec::<String>::new()
    );
    assert_eq!(h.advance(Duration::from_secs(1800)).await, vec!["two"]);
}

#[tokio::test]
async fn if_and_switch_branch_on_rhai_expressions() {
    let mut h = harness(&["id: menu\ntriggers: [{keyword: [menu]}]\nsteps:\n  - send: { text: \"Pick\", buttons: [{id: orders, title: My orders}, {id: human, title: A person}] }\n  - ask: { save_as: choice, expect: button }\n  - switch:\n      on: vars.choice\n      cases:\n        orders: { send: \"Orders!\" }\n        human: [{ send: \"Connecting\" }, { set: { n: \"= 2 + 3\" } }]\n  - if: \"vars.n == 5\"\n    then: [{send: \"five\"}]\n    else: [{send: \"not five\"}]\n"]);
    assert_eq!(
        h.say("menu").await,
        vec!["Pick [\"My orders\", \"A person\"]"]
    );
    assert_eq!(h.say("a person").await, vec!["Connecting", "five"]);
    h.say("menu").await;
    let tap = InboundContent::ButtonReply {
        id: "orders".into(),
        title: "My orders".into(),
    };
    assert_eq!(bodies(&h.send(tap).await), vec!["Orders!", "not five"]);
}

#[tokio::test]
async fn set_keeps_unquoted_numbers_and_booleans_and_quoted_values_as_text() {
    let mut h = harness(&[r#"id: calc
triggers: [{keyword: [calc]}]
steps:
  - set: { price: 10, quantity: 3, rate: 2.5, paid: true, code: "10", phone: +34600000001, zip: 007 }
  - if: vars.price > 5
    then: [{ send: big }]
    else: [{ send: small }]
  - set: { total: "= vars.price * vars.quantity * vars.rate" }
  - if: vars.paid && vars.code == "10" && vars.phone == "+34600000001" && vars.zip == "007"
    then: [{ send: "total {{ vars.total }}, rate {{ vars.rate }}" }]
    else: [{ send: "types changed" }]
"#]);
    assert_eq!(h.say("calc").await, vec!["big", "total 75.0, rate 2.5"]);
}

#[tokio::test]
async fn script_changes_vars_and_a_runaway_script_takes_its_error_path() {
    let mut h = harness(&["id: s\ntriggers: [{keyword: [calc]}]\nsteps:\n  - script: \"vars.total = 6 * 7;\"\n  - send: \"{{ vars.total }}\"\n  - script: { code: \"loop { }\", on_error: oops }\n  - send: never\n  - id: oops\n    send: \"Something went wrong\"\n"]);
    let started = std::time::Instant::now();
    assert_eq!(h.say("calc").await, vec!["42", "Something went wrong"]);
    // The budgets stop it within a second of CPU or wall time; the bound leaves room for a
    // test machine loaded enough to starve this thread (5 s was not: a loaded run took 18 s).
    assert!(started.elapsed() < Duration::from_secs(30));
    let err = h.state().last_error.unwrap();
    assert!(
        err.message.contains("endless loop") || err.message.contains("time budget"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_failing_script_without_error_path_ends_the_run_and_the_conversation_goes_on() {
    let mut h = harness(&[
        "id: s\ntriggers: [{keyword: [boom]}]\nsteps:\n  - script: \"throw \\\"bad data\\\"\"\n  - send: never\n",
        "id: p\ntriggers: [{keyword: [ping]}]\nsteps: [{send: pong}]\n",
    ]);
    assert_eq!(h.say("boom").await, Vec::<String>::new());
    assert!(h.state().last_error.unwrap().message.contains("bad data"));
    assert_eq!(h.say("ping").await, vec!["pong"]);
}

#[tokio::test]
async fn tags_and_goto_flow() {
    let mut h = harness(&[
        "id: a\ntriggers: [{keyword: [vip]}]\nsteps:\n  - tag: [vip, lead]\n  - untag: lead\n  - goto_flow: b\n",
        "id: b\nsteps:\n  - send: \"tags: {{ contact.tags }}\"\n",
    ]);
    assert_eq!(h.say("vip").await, vec!["tags: [\"vip\"]"]);
    assert_eq!(h.contact.tags, vec!["vip"]);
}

#[tokio::test]
async fn goto_loops_are_stopped() {
    // A loop with no way out is refused at load; one whose condition never ends it is
    // stopped at run time.
    let mut h = harness(&["id: l\ntriggers: [{keyword: [loop]}]\nsteps:\n  - id: top\n    set: { x: \"1\" }\n  - if: \"true\"\n    then: top\n"]);
    assert!(h.say("loop").await.is_empty());
    assert!(h.state().last_error.unwrap().message.contains("goto"));
}

#[tokio::test]
async fn an_echo_pauses_until_release_even_after_an_earlier_handoff_would_have_timed_out() {
    let mut h = harness(&["id: h\ntriggers: [{keyword: [human]}]\nsteps:\n  - handoff: { timeout: 2h, message: \"A person will answer soon.\" }\n", "id: p\ntriggers: [{keyword: [ping]}]\nsteps: [{send: pong}]\n"]);
    h.say("human").await;
    // A person answers from the WhatsApp Business app: paused until released (the default).
    h.send(InboundContent::Echo {
        content: Box::new(InboundContent::Text {
            body: "Hi, Ana here".into(),
        }),
    })
    .await;
    h.advance(Duration::from_secs(3 * 3600)).await;
    assert!(
        h.state().handoff.is_some(),
        "the handoff's 2 h timeout does not end the pause"
    );
    assert!(h.say("ping").await.is_empty());
}

/// A released handoff's timeout does not end a later handoff that has none: the person
/// keeps the conversation until released (the old timer once ended it, and the bot
/// answered the customer mid-conversation).
#[tokio::test]
async fn a_released_handoffs_timeout_does_not_end_a_later_handoff_without_one() {
    let mut h = harness(&[
        "id: h\ntriggers: [{keyword: [human]}]\nsteps:\n  - handoff: { timeout: 2h, message: \"A person will answer soon.\" }\n",
        "id: f\ntriggers: [{keyword: [forever], interrupt: true}]\nsteps:\n  - handoff: { message: \"A person takes it from here.\" }\n",
        "id: p\ntriggers: [{keyword: [ping]}]\nsteps: [{send: pong}]\n",
    ]);
    h.say("human").await;
    let release = TimerFire {
        timer_id: 0,
        timer: Timer::Release { by: None },
        due_at: h.now,
    };
    h.event(EventKind::Timer(release)).await;
    assert!(h.state().handoff.is_none(), "released");
    assert_eq!(h.say("forever").await, vec!["A person takes it from here."]);
    h.advance(Duration::from_secs(3 * 3600)).await;
    assert!(
        h.state().handoff.is_some(),
        "the released handoff's 2 h timeout does not end this one"
    );
    assert!(h.say("ping").await.is_empty(), "the bot stays silent");
}

#[tokio::test]
async fn handoff_keeps_the_bot_silent_until_its_timeout() {
    let mut h = harness(&["id: h\ntriggers: [{keyword: [human]}]\nsteps:\n  - handoff: { timeout: 2h, message: \"A person will answer soon.\" }\n", "id: p\ntriggers: [{keyword: [ping]}]\nsteps: [{send: pong}]\n"]);
    assert_eq!(h.say("human").await, vec!["A person will answer soon."]);
    assert!(h.state().handoff.is_some());
    assert!(h.say("ping").await.is_empty(), "silent during handoff");
    h.advance(Duration::from_secs(7201)).await;
    assert!(h.state().handoff.is_none());
    assert_eq!(h.say("ping").await, vec!["pong"]);
}

#[tokio::test]
async fn interrupting_trigger_wins_over_a_waiting_ask() {
    let mut h = harness(&[
        "id: q\ntriggers: [{keyword: [quiz]}]\nsteps:\n  - ask: { text: \"Your answer?\", save_as: a }\n  - send: \"got {{ vars.a }}\"\n",
        "id: stop\ntriggers: [{keyword: [stop], interrupt: true}]\nsteps: [{send: stopped}]\n",
        "id: menu\ntriggers: [{keyword: [menu]}]\nsteps: [{send: menu}]\n",
    ]);
    h.say("quiz").await;
    assert_eq!(
        h.say("menu").await,
        vec!["got menu"],
        "a normal keyword is an answer while waiting"
    );
    h.say("quiz").await;
    assert_eq!(h.say("stop").await, vec!["stopped"]);
}

#[tokio::test]
async fn regex_captures_become_vars_and_window_fallbacks_are_attached() {
    let mut h = harness(&["id: o\ntriggers: [{regex: 'order #?(?P<order_id>\\d+)'}]\nsteps:\n  - send:\n      text: \"Order {{ vars.order_id }}\"\n      if_window_closed: { template: menu_reminder, variables: { \"1\": \"{{ contact.name }}\" } }\n"]);
    let out = h
        .send(InboundContent::Text {
            body: "where is order #4821".into(),
        })
        .await;
    assert_eq!(bodies(&out), vec!["Order 4821"]);
    match &out.replies[0].fallback {
        WindowFallback::Template(t) => assert_eq!(t.variables["1"], "Ana"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn http_step_saves_the_answer_and_private_targets_are_refused_by_default() {
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        // Quoted values stay text in the body, plain numbers are numbers, and a plain
        // value a number would change stays text.
        .and(body_json(json!({
            "id": "4821", "who": "Ana", "zip": "007", "phone": "+34600000001", "qty": 2,
            "plain_phone": "+34600000001", "paid": true
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "shipped"})))
        .mount(&server)
        .await;
    let flow = format!("id: h\ntriggers: [{{regex: '(?P<oid>\\d+)'}}]\nsteps:\n  - http: {{ method: POST, url: \"{}/orders\", body: {{ id: \"{{{{ vars.oid }}}}\", who: \"{{{{ contact.name }}}}\", zip: \"007\", phone: \"+34600000001\", qty: 2, plain_phone: +34600000001, paid: true }}, save_as: res, on_error: failed }}\n  - send: \"Your order is {{{{ vars.res.body.status }}}}\"\n  - end: {{}}\n  - id: failed\n    send: \"Cannot check now\"\n", server.uri());
    let mut h = harness_with(&[&flow], true);
    assert_eq!(h.say("4821").await, vec!["Your order is shipped"]);
    let mut h = harness_with(&[&flow], false);
    assert_eq!(h.say("4821").await, vec!["Cannot check now"]);
    assert!(h
        .state()
        .last_error
        .unwrap()
        .message
        .contains("private network"));
}

#[tokio::test]
async fn an_http_answer_that_is_not_2xx_is_saved_for_the_error_path() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders/1"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "no such order"})))
        .mount(&server)
        .await;
    let flow = format!("id: h\ntriggers: [{{keyword: [order]}}]\nsteps:\n  - http: {{ url: \"{}/orders/1\", save_as: res, on_error: failed }}\n  - send: found\n  - end: {{}}\n  - id: failed\n    send: \"{{{{ vars.res.status }}}}: {{{{ vars.res.body.error }}}}\"\n", server.uri());
    let mut h = harness_with(&[&flow], true);
    assert_eq!(h.say("order").await, vec!["404: no such order"]);
}

#[tokio::test]
async fn a_runs_variables_are_bounded_in_all() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"blob": "x".repeat(900_000)})),
        )
        .mount(&server)
        .await;
    let get = |n: u8| {
        format!(
            "  - http: {{ url: \"{}/{n}\", save_as: r{n}, on_error: full }}\n",
            server.uri()
        )
    };
    let flow = format!(
        "id: h\ntriggers: [{{keyword: [big]}}]\nsteps:\n{}{}{}  - send: all kept\n  - end: {{}}\n  - id: full\n    send: too much\n",
        get(1),
        get(2),
        get(3)
    );
    let mut h = harness_with(&[&flow], true);
    assert_eq!(h.say("big").await, vec!["too much"]);
    assert!(h
        .state()
        .last_error
        .unwrap()
        .message
        .contains("more than 2 MiB in all"));
}

#[tokio::test]
async fn debounce_collapses_a_burst_into_one_message() {
    let mut h = harness_opts(
        &["id: echo\ntriggers: [{keyword: [hi]}]\nsteps: [{send: \"got: {{ message.text }}\"}]\n"],
        EngineOptions {
            debounce: Some(Duration::from_secs(3)),
            ..Default::default()
        },
    );
    assert!(h.say("hi").await.is_empty());
    h.now += chrono::Duration::seconds(1);
    assert!(h.say("I need").await.is_empty());
    h.now += chrono::Duration::seconds(1);
    assert!(h.say("help").await.is_empty());
    assert_eq!(
        h.advance(Duration::from_secs(2)).await,
        Vec::<String>::new(),
        "quiet period restarted by each text"
    );
    assert_eq!(
        h.advance(Duration::from_secs(1)).await,
        vec!["got: hi\nI need\nhelp"]
    );
}

#[tokio::test]
async fn stop_opts_out_and_writing_again_opts_back_in() {
    let mut h = harness_opts(
        &["id: p\ntriggers: [{keyword: [ping]}]\nsteps: [{send: pong}]\n"],
        EngineOptions {
            opt_out_keywords: vec!["stop".into()],
            opt_out_reply: Some("Bye {{ contact.name }}".into()),
            ..Default::default()
        },
    );
    assert_eq!(h.say("Stop!").await, vec!["Bye Ana"]);
    assert_eq!(h.contact.attributes["opted_out"], json!(true));
    // A schedule reaching an opted-out contact does nothing.
    let fire = TimerFire {
        timer_id: 0,
        timer: Timer::Scheduled(ScheduledRun {
            flow: "p".into(),
            fire_id: 1,
        }),
        due_at: h.now,
    };
    assert!(bodies(&h.event(EventKind::Timer(fire.clone())).await).is_empty());
    assert_eq!(h.say("ping").await, vec!["pong"]);
    assert!(
        h.contact
            .attributes
            .get("opted_out")
            .is_none_or(|v| v.is_null()),
        "writing again opts back in"
    );
    assert_eq!(bodies(&h.event(EventKind::Timer(fire)).await), vec!["pong"]);
    assert!(h.contact.attributes.contains_key("last_reengaged_at"));
}

#[tokio::test]
async fn window_closing_flow_runs_an_hour_before_the_window_closes_unless_the_customer_wrote_again()
{
    let follow = "id: follow\ntriggers: [{window_closing: 1h}]\nsteps:\n  - send: { text: \"Anything else?\", if_window_closed: skip }\n";
    let ping = "id: p\ntriggers: [{keyword: [ping]}]\nsteps: [{send: pong}]\n";
    let mut h = harness(&[follow, ping]);
    h.say("ping").await;
    assert!(h.advance(Duration::from_secs(22 * 3600)).await.is_empty());
    h.say("ping").await;
    // The first reminder is stale now: the customer wrote again.
    assert!(h.advance(Duration::from_secs(2 * 3600)).await.is_empty());
    assert_eq!(
        h.advance(Duration::from_secs(21 * 3600)).await,
        vec!["Anything else?"]
    );
}

/// 10,000 distinct 32 KB strings in one map: each value is under the per-value limits,
/// the whole is 320 MB.
const BIG_MAP_SCRIPT: &str = "let s = \\\"x\\\"; for i in 0..15 { s += s; } let m = #{}; for i in 0..10000 { m[`k${i}`] = s + i; } vars.big = m;";

#[tokio::test]
async fn a_script_over_the_total_size_budget_fails_its_step_and_the_conversation_goes_on() {
    let flow = format!("id: s\ntriggers: [{{keyword: [big]}}]\nsteps:\n  - script: {{ code: \"{BIG_MAP_SCRIPT}\", on_error: oops }}\n  - send: never\n  - id: oops\n    send: \"Something went wrong\"\n");
    let mut h = harness(&[
        &flow,
        "id: p\ntriggers: [{keyword: [ping]}]\nsteps: [{send: pong}]\n",
    ]);
    assert_eq!(h.say("big").await, vec!["Something went wrong"]);
    let err = h.state().last_error.unwrap();
    // Stopped while building: by its memory budget (32 MiB, reached in a few ms), or by
    // its time budget on a machine too busy to give its thread the CPU.
    assert!(err.message.contains("budget"), "{}", err.message);
    assert!(h.state().run.is_none() || h.state().run.unwrap().vars.get("big").is_none());
    assert_eq!(h.say("ping").await, vec!["pong"]);
}

#[tokio::test]
async fn many_values_each_under_the_limits_are_refused_together() {
    // 200 strings of 8 KB: 1.6 MB in all, over the 1 MiB budget, each value small.
    let flow = "id: s\ntriggers: [{keyword: [wide]}]\nsteps:\n  - script: { code: \"let s = \\\"x\\\"; for i in 0..13 { s += s; } for i in 0..200 { vars[`v${i}`] = s + i; }\", on_error: oops }\n  - send: never\n  - id: oops\n    send: \"{{ vars.v0 }}too big\"\n";
    let mut h = harness(&[flow]);
    assert_eq!(h.say("wide").await, vec!["too big"]);
    assert!(h.state().last_error.unwrap().message.contains("budget"));
}

#[tokio::test]
async fn a_reminder_never_cancels_a_flow_waiting_in_a_delay() {
    let order = "id: order\ntriggers: [{keyword: [order]}]\nsteps:\n  - send: Thanks\n  - delay: 23h50m\n  - send: { text: \"Your order shipped\", if_window_closed: { template: menu_reminder, variables: { \"1\": \"x\" } } }\n";
    let follow = "id: follow\ntriggers: [{window_closing: 50m}]\nsteps:\n  - send: { text: \"Anything else?\", if_window_closed: skip }\n";
    let mut h = harness(&[order, follow]);
    assert_eq!(h.say("order").await, vec!["Thanks"]);
    // At +23h10m the reminder is due: the waiting flow keeps going.
    assert!(h
        .advance(Duration::from_secs(23 * 3600 + 600))
        .await
        .is_empty());
    assert!(h.state().run.is_some_and(|r| r.flow == "order"));
    assert_eq!(
        h.advance(Duration::from_secs(40 * 60)).await,
        vec!["Your order shipped"]
    );
}

#[tokio::test]
async fn a_schedule_reaching_a_waiting_flow_starts_after_it_ends() {
    let quiz = "id: quiz\ntriggers: [{keyword: [quiz]}]\nsteps:\n  - ask: { text: \"Ready?\", save_as: r }\n  - send: \"Got {{ vars.r }}\"\n";
    let promo = "id: promo\nsteps:\n  - send: { text: \"Sale today\", if_window_closed: skip }\n";
    let mut h = harness(&[quiz, promo]);
    assert_eq!(h.say("quiz").await, vec!["Ready?"]);
    let fire = TimerFire {
        timer_id: 9,
        timer: Timer::Scheduled(ScheduledRun {
            flow: "promo".into(),
            fire_id: 1,
        }),
        due_at: h.now,
    };
    assert!(bodies(&h.event(EventKind::Timer(fire)).await).is_empty());
    assert_eq!(h.say("yes").await, vec!["Got yes", "Sale today"]);
    assert!(h.state().deferred.is_empty());
}

#[tokio::test]
async fn a_scheduled_flow_that_waited_starts_only_if_its_audience_and_cap_still_take_the_contact() {
    let cart = "id: cart\ntriggers: [{keyword: [cart]}]\nsteps:\n  - tag: cart_open\n  - ask: { text: \"Pay now?\", save_as: r }\n  - untag: cart_open\n  - send: \"Order placed\"\n";
    let reminder = "id: reminder\nschedule:\n  cron: \"0 12 * * *\"\n  audience: { tags: [cart_open], inactive_for: 2h }\nsteps:\n  - send: { text: \"Your cart is waiting\", if_window_closed: skip }\n";
    let capped = |id: &str| {
        format!("id: {id}\nschedule:\n  cron: \"0 12 * * *\"\n  frequency_cap: 3d\nsteps:\n  - send: {{ text: \"{id} news\", if_window_closed: skip }}\n")
    };
    let (a, b) = (capped("a"), capped("b"));
    let mut h = harness(&[cart, reminder, &a, &b]);
    let fire = |h: &Harness, flow: &str, id: i64| {
        EventKind::Timer(TimerFire {
            timer_id: id,
            timer: Timer::Scheduled(ScheduledRun {
                flow: flow.into(),
                fire_id: id,
            }),
            due_at: h.now,
        })
    };

    // The reminder fires while the customer is inside the `ask`: it waits; the customer
    // then answers (writing now, and the flow takes the tag away): it does not start.
    assert_eq!(h.say("cart").await, vec!["Pay now?"]);
    h.now += chrono::Duration::hours(3);
    let e = fire(&h, "reminder", 1);
    assert!(bodies(&h.event(e).await).is_empty());
    assert_eq!(h.state().deferred.len(), 1);
    assert_eq!(h.say("yes").await, vec!["Order placed"]);
    assert!(h.state().deferred.is_empty());

    // Two schedules with a 3-day cap wait behind one run: only the first goes.
    assert_eq!(h.say("cart").await, vec!["Pay now?"]);
    for (i, flow) in ["a", "b"].into_iter().enumerate() {
        let e = fire(&h, flow, 2 + i as i64);
        assert!(bodies(&h.event(e).await).is_empty());
    }
    assert_eq!(h.say("no").await, vec!["Order placed", "a news"]);
    assert!(h.state().deferred.is_empty());
}

/// Ten years (the longest duration a flow may write) from a time near the last date chrono
/// holds: the timer and the hand-over's end stop at that last date instead of panicking
/// (the engine once panicked on `DateTime + TimeDelta` and skipped the customer's message).
#[tokio::test]
async fn a_wait_past_the_last_date_there_is_saturates_instead_of_panicking() {
    let far = DateTime::<Utc>::MAX_UTC - chrono::Duration::days(30);
    let mut h = harness(&["id: d\ntriggers: [{keyword: [later]}]\nsteps:\n  - send: one\n  - delay: 10y\n  - send: { text: two, if_window_closed: skip }\n"]);
    h.now = far;
    assert_eq!(h.say("later").await, vec!["one"]);
    assert_eq!(h.timers.last().unwrap().due_at, DateTime::<Utc>::MAX_UTC);

    let mut h = harness(&[
        "id: h\ntriggers: [{keyword: [human]}]\nsteps:\n  - handoff: { timeout: 10y }\n",
    ]);
    h.now = far;
    h.say("human").await;
    let handoff = h.state().handoff.expect("handed over");
    assert_eq!(handoff.until, Some(DateTime::<Utc>::MAX_UTC));
    assert_eq!(h.timers.last().unwrap().due_at, DateTime::<Utc>::MAX_UTC);
}

mod agent;
mod agent_scores;
mod arm_insights;
mod embeddings;
mod experiments;
mod forms;
mod insights;
mod routing;

/// After a restart the version a run started on is gone: a run waiting at a question its
/// flow no longer has there (the flow removed, or a step put before the question) ends, and
/// the customer's message is taken as a new one instead of disappearing without a word.
#[tokio::test]
async fn a_run_waiting_where_its_changed_flow_no_longer_asks_ends_and_the_message_counts() {
    let survey_v1 = "id: survey\ntriggers: [{keyword: [survey]}]\nsteps:\n  - send: \"Your name?\"\n  - ask: { save_as: name }\n  - send: \"Thanks {{ vars.name }}\"\n";
    let survey_v2 = "id: survey\ntriggers: [{keyword: [survey]}]\nsteps:\n  - send: \"Your name?\"\n  - send: \"A notice put here later\"\n  - ask: { save_as: name }\n  - send: \"Thanks {{ vars.name }}\"\n";
    let hello = "id: hello\ntriggers: [{keyword: [hi]}]\nsteps:\n  - send: \"Hello!\"\n";
    for (after_restart, what) in [
        (
            vec![survey_v2, hello],
            "step 2 of flow `survey` is no longer the question it waited at",
        ),
        (vec![hello], "flow `survey` is no longer loaded"),
    ] {
        let mut before = harness(&[survey_v1, hello]);
        assert_eq!(before.say("survey").await, ["Your name?"]);
        let mut after = harness(&after_restart);
        after.conversation = before.conversation.clone();
        after.contact = before.contact.clone();
        after.now = before.now;
        let (out, trace) = after.say_traced("hi").await;
        assert_eq!(bodies(&out), ["Hello!"], "{what}");
        assert!(
            trace
                .decisions
                .iter()
                .any(|d| d.contains(what) && d.contains("taken as a new one")),
            "{:?}",
            trace.decisions
        );
        assert_eq!(out.state.run.as_ref().map(|r| r.flow.as_str()), None);
    }
    // Without a restart the run's version is kept, and the answer is the answer.
    let mut h = harness(&[survey_v1, hello]);
    assert_eq!(h.say("survey").await, ["Your name?"]);
    assert_eq!(h.say("Ana").await, ["Thanks Ana"]);
}

/// A message that a filled-in blank makes longer than WhatsApp takes goes out cut, and the
/// trace says so (it used to be cut without a word).
#[tokio::test]
async fn a_message_cut_to_whatsapp_s_limit_says_so_in_the_trace() {
    let mut h = harness(&["id: echo\ntriggers: [{keyword: [say]}]\nsteps:\n  - send: \"You said: {{ message.text }}\"\n"]);
    let long = format!("say {}", "a".repeat(4_090));
    let (out, trace) = h.say_traced(&long).await;
    let sent = bodies(&out);
    assert_eq!(sent[0].chars().count(), crate::domain::limits::TEXT_MAX);
    assert!(sent[0].ends_with('…'));
    assert!(
        trace
            .decisions
            .iter()
            .any(|d| d.contains("it was cut, ending in `…`")),
        "{:?}",
        trace.decisions
    );
    let (_, trace) = h.say_traced("say short").await;
    assert!(
        !trace.decisions.iter().any(|d| d.contains("was cut")),
        "{:?}",
        trace.decisions
    );
}
