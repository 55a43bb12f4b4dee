//! The contact's language in the interpreter: each reason it is chosen for, the guess, and
//! every kind of customer text rendered in Spanish (proved against the flows crate's
//! enumerator `flows::languages::texts`, so no text it lists stays in the base language).

use super::*;
use crate::domain::chat::{ChatAnswer, ToolCall, Usage};
use crate::domain::{OutboundContent, TemplateMessage, WindowFallback};
use crate::engine::exec::{Answer, Effect, Interpreter, ModelReply};
use crate::engine::fixtures::{load, OneText};
use crate::engine::trace::Trace;
use crate::engine::{EngineOptions, Library};
use crate::flows::{languages, script};
use std::collections::VecDeque;

const ALL: &str = r#"id: all
languages: [en, es]
triggers: [{ keyword: [start] }]
translations:
  es:
    "Hello {{ contact.name }}": "Hola {{ contact.name }}"
    "A photo": "Una foto"
    "Our shop": "Nuestra tienda"
    "Main street": "Calle Mayor"
    "Where are you?": "¿Dónde estás?"
    "Menu": "Menú"
    "Pick one": "Elige uno"
    "Thanks": "Gracias"
    "My order": "Mi pedido"
    "Other": "Otro"
    "Pick a row": "Elige una fila"
    "Open": "Abrir"
    "Section": "Sección"
    "Row one": "Fila uno"
    "The first": "La primera"
    "See the site": "Mira el sitio"
    "Open site": "Abrir sitio"
    "Which one?": "¿Cuál?"
    "Tap a button, please": "Toca un botón, por favor"
steps:
  - send: "Hello {{ contact.name }}"
  - send: { image: "https://cdn.example/a.png", caption: "A photo" }
  - send: { location: { latitude: 40.4, longitude: -3.7, name: "Our shop", address: "Main street" } }
  - send: { location_request: "Where are you?" }
  - send: { text: "Pick a row", list: { button: "Open", sections: [{ title: "Section", rows: [{ id: r1, title: "Row one", description: "The first" }] }] } }
  - send: { text: "See the site", url_button: { text: "Open site", url: "https://shop.example/{{ contact.name }}" } }
  - send: { text: "Pick one", header: "Menu", footer: "Thanks", buttons: [{ id: mine, title: "My order" }, { id: other, title: "Other" }] }
  - ask:
      text: "Which one?"
      expect: button
      save_as: choice
      retry_text: "Tap a button, please"
  - goto_flow: more
"#;

const MORE: &str = r#"id: more
languages: [en, es]
translations:
  es:
    "Book a visit": "Reserva una visita"
    "Hi, I am the assistant": "Hola, soy el asistente"
    "Sorry, I could not answer": "Lo siento, no pude responder"
    "Let me get a person": "Busco a una persona"
    "A person will answer": "Una persona responderá"
    "Yes": "Sí"
steps:
  - agent:
      model: assistant
      instructions: "You help with orders."
      opening: "Hi, I am the assistant"
      tools:
        handoff: { message: "A person will answer" }
        send_buttons: [{ id: "yes", title: "Yes" }]
      on_error: { say: "Sorry, I could not answer", goto: book }
      on_budget: { say: "Let me get a person" }
  - id: book
    form:
      flow_id: "1197715005513101"
      text: "Book a visit"
      cta: Book now
      screen: APPOINTMENT
      save_as: booking
      fields: [{ name: date, type: date, required: true }]
"#;

/// The outcome of one event: replies (as written), trace decisions, the state after, and
/// what the contact patch sets.
struct Done {
    replies: Vec<OutboundContent>,
    fallbacks: Vec<WindowFallback>,
    decisions: Vec<String>,
    state: crate::domain::ConversationState,
    attributes: serde_json::Map<String, serde_json::Value>,
    system_prompts: Vec<String>,
}

/// Runs one text from Ana (whose attributes are `attributes`) in `state`, answering model
/// calls from `models` (an error when none is left).
fn event(
    library: &Library,
    state: crate::domain::ConversationState,
    attributes: serde_json::Value,
    text: &str,
    models: &mut VecDeque<ChatAnswer>,
) -> Done {
    let mut one = OneText::new(state, 1, text);
    one.contact.attributes = attributes.as_object().cloned().unwrap_or_default();
    let input = one.input();
    let rhai = script::sandbox();
    let mut i = Interpreter::new(library, &input, Some(Box::default()));
    let mut system_prompts = Vec::new();
    while let Some(effect) = i.next() {
        let answer =
            match effect {
                Effect::Script(job) => Answer::Script(
                    script::run_on(&rhai, &job.ast, job.inputs).map_err(|e| e.to_string()),
                ),
                Effect::Model(call) => {
                    system_prompts.push(call.request.system.clone());
                    Answer::Model(models.pop_front().ok_or("the model is down".into()).map(
                        |answer| ModelReply {
                            answer,
                            cost_micros: 0,
                            latency_ms: 1,
                            replayed: false,
                        },
                    ))
                }
                Effect::Http(_) => Answer::Http(Err("no network in this test".into())),
                Effect::Embed(_) => Answer::Embed(Err("no embeddings in this test".into())),
            };
        i.resume(answer);
    }
    let done = i.finish();
    let trace: Box<Trace> = done.trace.expect("traced");
    Done {
        replies: done.out.replies.iter().map(|r| r.content.clone()).collect(),
        fallbacks: done
            .out
            .replies
            .iter()
            .map(|r| r.fallback.clone())
            .collect(),
        decisions: trace.decisions.clone(),
        state: done.out.state,
        attributes: done
            .out
            .contact_patch
            .map(|p| p.set_attributes.into_iter().collect())
            .unwrap_or_default(),
        system_prompts,
    }
}

fn library(flows: &[(&str, &str)]) -> (Library, tempfile::TempDir) {
    let (set, dir) = load(flows, &[]);
    (Library::new(set, EngineOptions::default()), dir)
}

/// Every text a customer reads in `c`.
fn texts_of(c: &OutboundContent) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |s: &Option<String>| out.extend(s.clone());
    match c {
        OutboundContent::Text { body, .. } | OutboundContent::LocationRequest { body } => {
            push(&Some(body.clone()))
        }
        OutboundContent::Media { caption, .. } => push(caption),
        OutboundContent::Location { name, address, .. } => {
            push(name);
            push(address);
        }
        OutboundContent::Buttons {
            body,
            header,
            footer,
            buttons,
        } => {
            push(&Some(body.clone()));
            push(header);
            push(footer);
            buttons.iter().for_each(|b| push(&Some(b.title.clone())));
        }
        OutboundContent::List {
            body,
            button,
            sections,
            ..
        } => {
            push(&Some(body.clone()));
            push(&Some(button.clone()));
            for s in sections {
                push(&s.title);
                for r in &s.rows {
                    push(&Some(r.title.clone()));
                    push(&r.description);
                }
            }
        }
        OutboundContent::UrlButton {
            body, display_text, ..
        } => {
            push(&Some(body.clone()));
            push(&Some(display_text.clone()));
        }
        OutboundContent::Form(f) => push(&Some(f.body.clone())),
        _ => {}
    }
    out
}

#[test]
fn the_contact_field_picks_exactly_then_by_base_else_the_base_language() {
    let langs = vec!["en".to_string(), "es".into(), "pt_BR".into()];
    assert_eq!(matching(&langs, "es"), Some("es"));
    assert_eq!(matching(&langs, "ES"), Some("es"));
    assert_eq!(matching(&langs, "es_MX"), Some("es"));
    assert_eq!(matching(&langs, "es-MX"), Some("es"));
    assert_eq!(matching(&langs, "pt-br"), Some("pt_BR"));
    assert_eq!(matching(&langs, "pt"), Some("pt_BR"));
    assert_eq!(matching(&langs, "fr"), None);
    let (lib, _dir) = library(&[("all.yaml", ALL), ("more.yaml", MORE)]);
    let flow = lib.flows().get("all").cloned().unwrap();
    let of = |v: serde_json::Value| resolve(&flow, &v).unwrap();
    assert_eq!(
        of(json!({ "language": "es_MX" })).reason,
        Reason::ContactField
    );
    assert_eq!(of(json!({ "language": "es_MX" })).code, "es");
    assert_eq!(of(json!({})).reason, Reason::NoLanguage);
    assert_eq!(of(json!({ "language": "  " })).reason, Reason::NoLanguage);
    let pt = of(json!({ "language": "pt" }));
    assert_eq!(
        (pt.code.as_str(), &pt.reason),
        ("en", &Reason::NotOffered("pt".into()))
    );
    assert_eq!(
        pt.line(&flow),
        "language en (English): the flow's base language (the contact's language pt is not one of en, es)"
    );
    assert_eq!(
        of(json!({})).line(&flow),
        "language en (English): the flow's base language (the contact has no language)"
    );
}

#[test]
fn a_guess_needs_a_reliable_answer_among_the_flows_languages_and_reads_a_bounded_text() {
    let langs = vec!["en".to_string(), "es".into()];
    let (code, confidence) =
        guess(&langs, "Hola, quiero saber dónde está mi pedido, por favor").unwrap();
    assert_eq!(code, "es");
    assert!(confidence > 0.5, "{confidence}");
    assert_eq!(
        guess(&langs, "ok").map(|g| g.0),
        None,
        "too short to be sure"
    );
    // Hindi is not among the flow's languages: never guessed.
    assert_ne!(
        guess(&langs, "नमस्ते, मेरा ऑर्डर कहाँ है?").map(|g| g.0),
        Some("hi".into())
    );
    // One language only, nothing to choose among.
    assert_eq!(
        guess(&langs[..1], "Hola, quiero saber dónde está mi pedido"),
        None
    );
    // A long message is read up to GUESS_CHARS_MAX characters: the English tail is unseen.
    let long = format!(
        "{}{}",
        "Hola, quiero saber dónde está mi pedido. ".repeat(40),
        "Hello, I would like to know where my order is. ".repeat(400)
    );
    assert_eq!(guess(&langs, &long).map(|g| g.0), Some("es".into()));
}

#[test]
fn the_guess_from_the_first_message_is_kept_as_the_contacts_language() {
    let flow = r#"id: greet
languages: [en, es]
detect_language: true
triggers: [{ keyword: [hola, hello], match: contains }]
translations:
  es: { "Welcome!": "¡Bienvenido!" }
steps:
  - send: "Welcome!"
"#;
    let (lib, _dir) = library(&[("greet.yaml", flow)]);
    let mut none = VecDeque::new();
    let text = "hola, quiero saber dónde está mi pedido por favor";
    let d = event(&lib, Default::default(), json!({}), text, &mut none);
    assert_eq!(texts_of(&d.replies[0]), vec!["¡Bienvenido!"]);
    assert_eq!(d.attributes.get("language"), Some(&json!("es")));
    let line = d
        .decisions
        .iter()
        .find(|l| l.starts_with("language "))
        .unwrap();
    assert!(
        line.starts_with("language es (Español): guessed from the customer's message (confidence ")
            && line.ends_with("), kept as the contact's language"),
        "{line}"
    );
    // A contact whose language is known is not guessed about.
    let d = event(
        &lib,
        Default::default(),
        json!({ "language": "en" }),
        text,
        &mut none,
    );
    assert_eq!(texts_of(&d.replies[0]), vec!["Welcome!"]);
    assert!(d.attributes.is_empty());
    assert!(d
        .decisions
        .contains(&"language en (English): the contact's language field".into()));
    // An unsure guess keeps the base language and stores nothing.
    let d = event(&lib, Default::default(), json!({}), "hello", &mut none);
    assert_eq!(texts_of(&d.replies[0]), vec!["Welcome!"]);
    assert!(d.attributes.is_empty());
}

#[test]
fn without_detect_language_the_first_message_is_not_guessed_from() {
    let flow = "id: greet\nlanguages: [en, es]\ntriggers: [{ keyword: [hola], match: contains }]\nsteps:\n  - send: \"Welcome!\"\n";
    let (lib, _dir) = library(&[("greet.yaml", flow)]);
    let text = "hola, quiero saber dónde está mi pedido por favor";
    let d = event(
        &lib,
        Default::default(),
        json!({}),
        text,
        &mut VecDeque::new(),
    );
    assert!(d.attributes.is_empty());
    assert!(d.decisions.contains(
        &"language en (English): the flow's base language (the contact has no language)".into()
    ));
}

/// Ana, whose language is Spanish, goes through every kind of text: none of the texts the
/// flows crate enumerates reaches her in English.
#[test]
fn every_customer_text_is_rendered_in_the_contacts_language() {
    let (lib, _dir) = library(&[("all.yaml", ALL), ("more.yaml", MORE)]);
    let es = json!({ "language": "es" });
    let mut models = VecDeque::new();
    let first = event(&lib, Default::default(), es.clone(), "start", &mut models);
    assert!(first
        .decisions
        .contains(&"language es (Español): the contact's language field".into()));
    let mut said: Vec<String> = first.replies.iter().flat_map(texts_of).collect();
    assert_eq!(said[0], "Hola Ana");
    match &first.replies[5] {
        OutboundContent::UrlButton { url, .. } => assert_eq!(url, "https://shop.example/Ana"),
        other => panic!("{other:?}"),
    }
    // The offered buttons are the Spanish titles: typing one is an answer.
    let offered = &first.state.run.as_ref().unwrap().offered;
    assert_eq!(offered[0], ("mine".to_string(), "Mi pedido".to_string()));
    let retry = event(&lib, first.state.clone(), es.clone(), "¿qué?", &mut models);
    said.extend(retry.replies.iter().flat_map(texts_of));
    // The agent's model fails: its opening, then its on_error say.
    let typed = event(&lib, retry.state, es.clone(), "Mi pedido", &mut models);
    assert_eq!(
        typed.state.run.as_ref().unwrap().vars["choice"],
        json!("mine")
    );
    said.extend(typed.replies.iter().flat_map(texts_of));
    let asked = event(&lib, typed.state, es.clone(), "¿Dónde está?", &mut models);
    said.extend(asked.replies.iter().flat_map(texts_of));
    for flow in ["all", "more"] {
        let f = lib.flows().get(flow).cloned().unwrap();
        let source = if flow == "all" { ALL } else { MORE };
        for t in languages::texts(&f, source) {
            if [
                "agent on_budget say",
                "agent handoff message",
                "agent button title",
            ]
            .contains(&t.what)
            {
                continue; // below, each by its own road
            }
            let spanish = f.translations.text("es", &t.text);
            assert_ne!(spanish, t.text, "{} `{}` has a translation", t.what, t.text);
            let rendered = spanish.replace("{{ contact.name }}", "Ana");
            assert!(
                said.contains(&rendered),
                "{} `{rendered}` in {said:?}",
                t.what
            );
        }
    }
    assert!(!said.iter().any(|s| s.contains("Hello") || s == "My order"));
}

fn tool(name: &str, args: serde_json::Value) -> ChatAnswer {
    ChatAnswer {
        text: String::new(),
        tool_calls: vec![ToolCall {
            id: format!("call_{name}"),
            name: name.into(),
            arguments: args,
        }],
        usage: Usage::default(),
    }
}

/// The agent's buttons and its handoff message in Spanish, and the model told the
/// customer's language.
#[test]
fn the_agents_buttons_and_handoff_speak_the_contacts_language() {
    let flow = MORE.replacen("steps:\n", "triggers: [{ keyword: [start] }]\nsteps:\n", 1);
    let (lib, _dir) = library(&[("more.yaml", &flow)]);
    let es = json!({ "language": "es" });
    let mut models = VecDeque::from([tool(
        "send_buttons",
        json!({ "text": "¿Sí?", "buttons": ["yes"] }),
    )]);
    let d = event(&lib, Default::default(), es.clone(), "start", &mut models);
    assert!(
        d.system_prompts[0]
            .contains("\n\nThe customer's language is Spanish (es); answer in it.\n\n"),
        "{}",
        d.system_prompts[0]
    );
    match &d.replies[1] {
        OutboundContent::Buttons { buttons, .. } => assert_eq!(buttons[0].title, "Sí"),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.state.run.as_ref().unwrap().offered[0].1, "Sí");
    let mut models = VecDeque::from([tool("handoff", json!({}))]);
    let d = event(&lib, d.state, es, "Sí", &mut models);
    assert_eq!(texts_of(&d.replies[0]), vec!["Una persona responderá"]);
    assert!(d
        .fallbacks
        .iter()
        .all(|f| matches!(f, WindowFallback::Fail)));
}

const CHOOSE: &str = r#"id: choose
languages: [en, es]
triggers: [{ keyword: [start] }]
translations:
  es:
    "Which language?": "¿Qué idioma?"
    "Thanks!": "¡Gracias!"
    "Someone will write to you": "Alguien te escribirá"
steps:
  - language: "Which language?"
  - send: "Thanks!"
  - handoff: { message: "Someone will write to you" }
"#;

/// The `language` step's answer becomes the contact's language: the run's next texts (a
/// `handoff` message among them) and later runs read it.
#[test]
fn the_language_steps_answer_is_kept_as_the_contacts_language() {
    let (lib, _dir) = library(&[("choose.yaml", CHOOSE)]);
    let mut none = VecDeque::new();
    let d = event(&lib, Default::default(), json!({}), "start", &mut none);
    assert_eq!(texts_of(&d.replies[0])[0], "Which language?");
    let d = event(&lib, d.state, json!({}), "Español", &mut none);
    assert_eq!(
        d.replies.iter().flat_map(texts_of).collect::<Vec<_>>(),
        vec!["¡Gracias!", "Alguien te escribirá"]
    );
    assert_eq!(d.attributes.get("language"), Some(&json!("es")));
    assert!(d.decisions.contains(
        &"language es (Español): the customer's choice, kept as the contact's language".into()
    ));
    // The next conversation reads the field.
    let later = event(
        &lib,
        Default::default(),
        json!({ "language": "es" }),
        "start",
        &mut none,
    );
    assert_eq!(texts_of(&later.replies[0])[0], "¿Qué idioma?");
    assert!(later
        .decisions
        .contains(&"language es (Español): the contact's language field".into()));
}

#[test]
fn a_template_follows_the_contact_among_the_languages_the_config_declares() {
    let spec = |languages: &[&str]| crate::flows::TemplateSpec {
        name: "order_update".into(),
        language: "en".into(),
        languages: languages.iter().map(|s| s.to_string()).collect(),
        variables: Default::default(),
        quick_reply_payloads: vec![],
        content_sid: None,
    };
    let flow = vec!["en".to_string(), "es".into(), "hi".into()];
    let declared = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let pick = |s, chosen, d: &[&str]| template_language(&s, &flow, chosen, &declared(d));
    // The contact's language, declared.
    assert_eq!(
        pick(spec(&[]), Some("es"), &["en", "es"]).as_deref(),
        Some("es")
    );
    // Its same-base variant.
    assert_eq!(
        pick(spec(&[]), Some("es"), &["en", "es_MX"]).as_deref(),
        Some("es_MX")
    );
    // Else the first of the step's list declared.
    assert_eq!(
        pick(spec(&["pt_BR", "en"]), Some("hi"), &["en", "es"]).as_deref(),
        Some("en")
    );
    // Else the flow's base language.
    assert_eq!(pick(spec(&[]), Some("hi"), &["es"]).as_deref(), Some("en"));
    // A flow without languages keeps the step's.
    assert_eq!(
        template_language(&spec(&[]), &[], Some("es"), &declared(&["es"])),
        None
    );
}

/// The `if_window_closed: template:` of a message and a `send: template:` both follow the
/// contact, with the Content SID of the language sent; a list gives the step's own order.
#[test]
fn both_template_paths_send_the_contacts_language_with_its_content_sid() {
    use crate::config::{TemplateConfig, TemplateStatus};
    let declared = |id, language: &str, sid: &str| TemplateConfig {
        id,
        name: "nudge".into(),
        language: language.into(),
        status: TemplateStatus::Approved,
        body: "Hi {{1}}".into(),
        buttons: vec![],
        twilio_content_sid: Some(sid.into()),
        category: Some(crate::domain::TemplateCategory::Utility),
    };
    let templates = [declared(1, "en", "HXen"), declared(2, "es", "HXes")];
    let flow = r#"id: nudge
languages: [en, es, hi]
triggers: [{ keyword: [start] }]
steps:
  - send: { text: "Still there?", if_window_closed: { template: nudge, variables: { "1": "{{ contact.name }}" } } }
  - send: { template: nudge, language: [hi, es], variables: { "1": "Ana" } }
"#;
    let (set, _dir) = load(&[("nudge.yaml", flow)], &templates);
    let mut options = EngineOptions::default();
    options.template_languages.insert(
        "nudge".into(),
        vec![
            ("en".into(), Some("HXen".into())),
            ("es".into(), Some("HXes".into())),
        ],
    );
    let lib = Library::new(set, options);
    let pair = |t: &TemplateMessage| (t.language.clone(), t.content_sid.clone());
    let run = |attributes| {
        let d = event(
            &lib,
            Default::default(),
            attributes,
            "start",
            &mut VecDeque::new(),
        );
        let fallback = match &d.fallbacks[0] {
            WindowFallback::Template(t) => pair(t),
            other => panic!("{other:?}"),
        };
        let sent = match &d.replies[1] {
            OutboundContent::Template(t) => pair(t),
            other => panic!("{other:?}"),
        };
        (fallback, sent)
    };
    let es = || ("es".to_string(), Some("HXes".to_string()));
    let en = || ("en".to_string(), Some("HXen".to_string()));
    assert_eq!(run(json!({ "language": "es" })), (es(), es()));
    assert_eq!(run(json!({})), (en(), en()));
    // Hindi is not declared: the fallback goes to the base, the listed step to its `es`.
    assert_eq!(run(json!({ "language": "hi" })), (en(), es()));
}

/// A `goto_flow` into a flow with languages chooses its language (and says why) as a run
/// start does.
#[test]
fn a_goto_flow_chooses_the_language_of_the_flow_it_enters() {
    let first = "id: first\ntriggers: [{ keyword: [go] }]\nsteps:\n  - send: \"Hello\"\n  - goto_flow: second\n";
    let second = "id: second\nlanguages: [en, es]\ntranslations:\n  es: { \"Hi\": \"Hola\" }\nsteps:\n  - send: \"Hi\"\n";
    let (lib, _dir) = library(&[("first.yaml", first), ("second.yaml", second)]);
    let d = event(
        &lib,
        Default::default(),
        json!({ "language": "es_MX" }),
        "go",
        &mut VecDeque::new(),
    );
    assert_eq!(texts_of(&d.replies[1]), vec!["Hola"]);
    assert!(d
        .decisions
        .contains(&"language es (Español): the contact's language field".into()));
}
