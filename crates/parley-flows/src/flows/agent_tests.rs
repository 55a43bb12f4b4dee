//! The `agent` step as authors write it: every key compiled, every mistake named at its
//! line and column (snapshot-tested as `parley check` prints it), knowledge files confined
//! to the project folder, bounded and ranked.

use super::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A project folder: `flows/` with `files`, and `knowledge/` with `knowledge`.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(files: &[(&str, &str)], knowledge: &[(&str, &[u8])]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("flows")).unwrap();
        std::fs::create_dir_all(dir.path().join("knowledge")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join("flows").join(name), text).unwrap();
        }
        for (name, bytes) in knowledge {
            std::fs::write(dir.path().join("knowledge").join(name), bytes).unwrap();
        }
        Self { dir }
    }

    fn load(&self, deployment: Option<&Deployment>) -> (LoadReport, String) {
        let templates = crate::config::Config::embedded_default().templates;
        let flows = self.dir.path().join("flows");
        let settings = LoadSettings {
            dir: &flows,
            scripts_dir: &self.dir.path().join("scripts"),
            templates: &templates,
            window: Duration::from_secs(24 * 3600),
            overrides: None,
        };
        let report = load_dir_with(&settings, deployment);
        let rendered = report
            .render()
            .replace(&format!("{}/", self.dir.path().display()), "");
        (report, rendered)
    }
}

fn with_models(names: &[&str]) -> Deployment {
    Deployment {
        sender_ids: vec![1],
        model_names: names.iter().map(|s| s.to_string()).collect(),
        ..Deployment::default()
    }
}

const STATUS: &str = "id: order_status\nsteps:\n  - send: Your order is on its way.\n";

const FULL: &str = r#"id: support
triggers: [{ keyword: help }]
steps:
  - id: assistant
    agent:
      model: assistant
      instructions: |
        You answer questions about orders of Acme for {{ contact.name }}.
      scope: "orders, deliveries and returns at Acme"
      opening: "Hi! I am Acme's assistant."
      history: 12
      knowledge: [knowledge/shipping.md, knowledge/returns.md]
      passages: 4
      tools:
        save:
          order_number: { expect: regex, pattern: "^A-[0-9]{5}$", description: "the order number" }
          email: { expect: email }
          size: { expect: choice, choices: [S, M, L] }
          note:
        goto_flow: [order_status]
        handoff: { message: "A person will answer shortly.", timeout: 2h }
        tag: [wants_refund]
        send_buttons: [{ id: "yes", title: "Yes" }, { id: "no", title: "No" }]
        end: true
      max_turns: 15
      budget: { tokens: 20000, cost: 0.05 }
      timeout: 45s
      max_tokens: 400
      on_error: { say: "Sorry, something went wrong; a person will reply.", goto: human }
      on_budget: { say: "Let me get a colleague.", goto: human }
      if_window_closed: { template: menu_reminder, variables: { "1": "{{ contact.name }}" } }
      guardrails:
        max_length: 800
        allowed_domains: [acme.example]
        forbid: ["(?i)guarantee"]
        mask_personal_data: true
  - end: {}
  - id: human
    handoff: { timeout: 4h }
"#;

const SHIPPING: &str = "# Shipping\n\nWe ship every parcel within two working days of the order.\nYou get a tracking link by email when your parcel leaves our warehouse.\n\n## Abroad\n\nOrders abroad take five to ten days.\n";
const RETURNS: &str = "# Returns\n\nYou may return any item within 30 days for a refund.\nPrint the return label from your account and drop the parcel at a post office.\n";

fn agent_of(set: &FlowSet, flow: &str) -> (Arc<Flow>, AgentSpec) {
    let flow = set.get(flow).unwrap().clone();
    let spec = flow
        .steps
        .iter()
        .find_map(|s| match &s.op {
            Op::Agent(a) => Some((**a).clone()),
            _ => None,
        })
        .expect("an agent step");
    (flow, spec)
}

#[test]
fn agent_step_compiles_every_key() {
    let project = Project::new(
        &[("support.yaml", FULL), ("status.yaml", STATUS)],
        &[
            ("shipping.md", SHIPPING.as_bytes()),
            ("returns.md", RETURNS.as_bytes()),
        ],
    );
    let (report, rendered) = project.load(Some(&with_models(&["assistant"])));
    assert!(report.problems.is_empty(), "{rendered}");
    let (flow, a) = agent_of(report.set.as_ref().unwrap(), "support");
    assert_eq!(a.model, "assistant");
    assert_eq!(
        a.instructions,
        "You answer questions about orders of Acme for {{ contact.name }}.\n"
    );
    assert_eq!(
        a.scope.as_deref(),
        Some("orders, deliveries and returns at Acme")
    );
    assert_eq!(a.opening.as_deref(), Some("Hi! I am Acme's assistant."));
    assert_eq!((a.history, a.passages), (12, 4));
    let knowledge = a.knowledge.as_ref().unwrap();
    assert_eq!(knowledge.passages[0].file, "knowledge/shipping.md");
    assert_eq!(knowledge.passages[0].line, 1);
    let saved: Vec<(&str, &str, Option<&str>)> = a
        .tools
        .save
        .iter()
        .map(|f| (f.name.as_str(), f.expect.name(), f.description.as_deref()))
        .collect();
    assert_eq!(
        saved,
        vec![
            ("order_number", "regex", Some("the order number")),
            ("email", "email", None),
            ("size", "choice", None),
            ("note", "text", None),
        ]
    );
    assert!(
        matches!(&a.tools.save[0].expect, Expect::Regex(r) if r.is_match("A-12345") && !r.is_match("A-1234"))
    );
    assert!(matches!(&a.tools.save[2].expect, Expect::Choice(c) if c == &["S", "M", "L"]));
    assert_eq!(a.tools.goto_flow, vec!["order_status"]);
    assert_eq!(a.tools.goto_flow_at[0].line, 20);
    let handoff = a.tools.handoff.as_ref().unwrap();
    assert_eq!(
        handoff.message.as_deref(),
        Some("A person will answer shortly.")
    );
    assert_eq!(handoff.timeout, Some(Duration::from_secs(7200)));
    assert_eq!(a.tools.tag, vec!["wants_refund"]);
    assert_eq!(
        a.tools.send_buttons,
        vec![
            ("yes".to_string(), "Yes".to_string()),
            ("no".to_string(), "No".to_string())
        ]
    );
    assert!(a.tools.end);
    assert_eq!(a.max_turns, 15);
    assert_eq!((a.budget.tokens, a.budget.cost), (Some(20000), Some(0.05)));
    assert_eq!(a.timeout, Duration::from_secs(45));
    assert_eq!(a.max_tokens, 400);
    let human = flow.step_index("human").unwrap();
    assert_eq!(a.on_error.goto, Some(human));
    assert_eq!(a.on_budget.goto, Some(human));
    assert_eq!(
        a.on_error.say.as_deref(),
        Some("Sorry, something went wrong; a person will reply.")
    );
    assert!(matches!(&a.if_window_closed, FallbackSpec::Template(t) if t.name == "menu_reminder"));
    assert_eq!(a.guardrails.max_length, 800);
    assert_eq!(a.guardrails.allowed_domains, vec!["acme.example"]);
    assert_eq!(a.guardrails.forbid[0].0, "(?i)guarantee");
    assert!(a.guardrails.forbid[0].1.is_match("We GUARANTEE it"));
    assert!(a.guardrails.mask_personal_data);
}

#[test]
fn agent_step_defaults_and_check_warnings() {
    let flow = "id: bot\nsteps:\n  - agent:\n      model: assistant\n      instructions: Help with orders.\n";
    let project = Project::new(&[("bot.yaml", flow)], &[]);
    let (report, rendered) = project.load(None);
    let (_, a) = agent_of(report.set.as_ref().expect("warnings only"), "bot");
    assert_eq!((a.history, a.passages, a.max_turns), (10, 3, 20));
    assert_eq!((a.timeout, a.max_tokens), (Duration::from_secs(30), 500));
    assert!(a.tools.is_empty() && a.knowledge.is_none() && a.scope.is_none());
    assert!(a.on_error.goto.is_none() && a.on_error.say.is_none());
    assert_eq!(a.guardrails.max_length, 1000);
    assert!(matches!(a.if_window_closed, FallbackSpec::Undeclared));
    insta::assert_snapshot!(rendered);
}

#[test]
fn a_token_budget_that_no_call_fits_in_is_an_error() {
    let flow = |budget: &str, max: &str| {
        format!("id: b\nsteps:\n  - agent:\n      model: m\n      instructions: Help.\n      scope: orders\n      if_window_closed: skip\n      budget: {budget}\n{max}")
    };
    let (report, rendered) =
        Project::new(&[("b.yaml", &flow("{ tokens: 300 }", ""))], &[]).load(None);
    assert!(report.set.is_none(), "{rendered}");
    assert!(
        rendered.contains("flows/b.yaml:8:25: error: a budget of 300 tokens leaves no room for one call: each call keeps `max_tokens` (500, the default) for its answer"),
        "{rendered}"
    );
    let (report, rendered) = Project::new(
        &[(
            "b.yaml",
            &flow("{ tokens: 300 }", "      max_tokens: 100\n"),
        )],
        &[],
    )
    .load(None);
    assert!(report.problems.is_empty(), "{rendered}");
    let (_, rendered) = Project::new(
        &[(
            "b.yaml",
            &flow("{ tokens: 100 }", "      max_tokens: 100\n"),
        )],
        &[],
    )
    .load(None);
    assert!(
        rendered.contains("error: a budget of 100 tokens leaves no room for one call: each call keeps `max_tokens` (100) for its answer"),
        "{rendered}"
    );
}

#[test]
fn check_names_each_agent_mistake_at_its_place() {
    let flow = r#"id: bad
steps:
  - agent:
      model: asistant
      instructions: ""
      scope: "orders"
      history: 51
      passages: 0
      knowledge: [knowledge/a.md, knowledge/a.md]
      tools:
        save:
          "order number": { expect: text }
          code: { expect: regex, pattern: "(" }
          size: { expect: choice }
          email: { expect: mail }
          zip: { expect: text, pattern: "x" }
        goto_flow: [nowhere]
        handoff: maybe
        send_buttons: [{ id: a, title: "A title far too long for WhatsApp" }, b, c, d]
        launch: true
      max_turns: 0
      budget: { tokens: -5, cost: free }
      timeout: 6m
      max_tokens: 100000
      on_error: { say: "Sorry", goto: nobody }
      on_budget: human
      if_window_closed: { template: no_such }
      guardrails:
        max_length: 5000
        allowed_domains: ["https://acme.example/help", acme.example]
        forbid: ["[unclosed"]
        mask_personal_data: perhaps
  - agent: { model: assistant }
  - agent: hello
"#;
    let project = Project::new(&[("bad.yaml", flow)], &[]);
    let (report, rendered) = project.load(Some(&with_models(&["assistant", "cheap"])));
    assert!(report.set.is_none());
    insta::assert_snapshot!(rendered);
}

#[test]
fn agent_settings_written_beside_the_step_are_pointed_at() {
    let flow = "id: slip\nsteps:\n  - agent:\n      model: assistant\n    instructions: Help.\n";
    let (_, rendered) = Project::new(&[("slip.yaml", flow)], &[]).load(None);
    assert!(
        rendered.contains("flows/slip.yaml:5:5: error: `instructions:` belongs under `agent:`"),
        "{rendered}"
    );
}

#[test]
fn agent_model_is_checked_only_when_the_config_is_known() {
    let flow = "id: bot\nsteps:\n  - agent: { model: gpt, instructions: Help., scope: orders, if_window_closed: skip }\n";
    let project = Project::new(&[("bot.yaml", flow)], &[]);
    let (report, rendered) = project.load(None);
    assert!(report.problems.is_empty(), "{rendered}");
    let (_, rendered) = project.load(Some(&with_models(&[])));
    assert!(
        rendered.contains(
            "flows/bot.yaml:3:21: error: there is no model `gpt` in the config's `models:`\n  hint: the config has no `models:`"
        ),
        "{rendered}"
    );
    let (report, rendered) = project.load(Some(&with_models(&["gpt"])));
    assert!(report.problems.is_empty(), "{rendered}");
}

#[test]
fn an_agent_cannot_talk_to_an_embedding_model() {
    let flow = "id: bot\nsteps:\n  - agent: { model: vectors, instructions: Help., scope: orders, if_window_closed: skip }\n";
    let project = Project::new(&[("bot.yaml", flow)], &[]);
    let deployment = Deployment {
        embedding_models: vec!["vectors".into()],
        ..with_models(&["gpt"])
    };
    let (_, rendered) = project.load(Some(&deployment));
    assert!(
        rendered.contains(
            "flows/bot.yaml:3:21: error: model `vectors` is an embedding model (`embeddings: true`): it finds passages and cannot hold a conversation\n  hint: name a chat model here, and `vectors` under `retrieval: { embeddings: vectors }`"
        ),
        "{rendered}"
    );
}

#[test]
fn a_cost_budget_on_a_model_without_prices_is_a_warning() {
    let flow = "id: bot\nsteps:\n  - agent:\n      model: gpt\n      instructions: Help.\n      scope: orders\n      if_window_closed: skip\n      budget: { cost: 0.05 }\n";
    let project = Project::new(&[("bot.yaml", flow)], &[]);
    let priced = with_models(&["gpt"]);
    let (report, rendered) = project.load(Some(&priced));
    assert!(report.problems.is_empty(), "{rendered}");
    let unpriced = Deployment {
        unpriced_models: vec!["gpt".into()],
        ..priced
    };
    let (report, rendered) = project.load(Some(&unpriced));
    assert_eq!(report.errors(), 0, "{rendered}");
    assert!(
        rendered
            .starts_with("flows/bot.yaml:8:23: warning: model `gpt` has no prices in the config"),
        "{rendered}"
    );
}

#[test]
fn agent_goto_flow_tool_must_name_a_flow() {
    let flow = "id: bot\nsteps:\n  - agent:\n      model: m\n      instructions: Help.\n      scope: orders\n      if_window_closed: skip\n      tools: { goto_flow: [order_status, order_stats] }\n";
    let (_, rendered) =
        Project::new(&[("bot.yaml", flow), ("status.yaml", STATUS)], &[]).load(None);
    assert_eq!(
        rendered,
        "flows/bot.yaml:8:42: error: there is no flow with id `order_stats`\n  hint: did you mean `order_status`?"
    );
}

#[test]
fn an_agent_waits_for_the_customer_so_looping_back_to_it_is_fine() {
    let flow = "id: bot\nsteps:\n  - id: talk\n    agent: { model: m, instructions: Help., scope: orders, if_window_closed: skip }\n  - goto: talk\n";
    let (report, rendered) = Project::new(&[("bot.yaml", flow)], &[]).load(None);
    assert!(report.problems.is_empty(), "{rendered}");
}

#[test]
fn an_agent_opening_after_the_window_needs_a_fallback() {
    let flow = "id: late\nsteps:\n  - delay: 30h\n  - agent: { model: m, instructions: Help., scope: orders, opening: Hello again }\n";
    let (report, rendered) = Project::new(&[("late.yaml", flow)], &[]).load(None);
    assert!(report.set.is_none());
    assert!(
        rendered.contains("flows/late.yaml:4:5: error: this message can be sent 30h or more after the customer's last message"),
        "{rendered}"
    );
    // Without an opening it only answers customer messages: a warning, not an error.
    let quiet = flow.replace(", opening: Hello again", "");
    let (report, rendered) = Project::new(&[("late.yaml", &quiet)], &[]).load(None);
    assert_eq!(report.errors(), 0, "{rendered}");
    assert!(
        rendered.contains("flows/late.yaml:4:5: warning: this agent has no `if_window_closed`"),
        "{rendered}"
    );
}

fn knowledge_flow(files: &str) -> String {
    format!("id: kb\nsteps:\n  - agent:\n      model: m\n      instructions: Help.\n      scope: orders\n      if_window_closed: skip\n      knowledge: {files}\n")
}

#[test]
fn knowledge_retrieval_ranks_the_passage_about_shipping_first() {
    let faq = "# Opening hours\n\nOur shop is open from nine to five, Monday to Friday.\n\n# Payment\n\nWe take cards and bank transfers. Your order is confirmed once paid.\n";
    let project = Project::new(
        &[(
            "kb.yaml",
            &knowledge_flow("[knowledge/faq.md, knowledge/returns.md, knowledge/shipping.md]"),
        )],
        &[
            ("faq.md", faq.as_bytes()),
            ("returns.md", RETURNS.as_bytes()),
            ("shipping.md", SHIPPING.as_bytes()),
        ],
    );
    let (report, rendered) = project.load(None);
    assert!(report.problems.is_empty(), "{rendered}");
    let (_, a) = agent_of(report.set.as_ref().unwrap(), "kb");
    let k = a.knowledge.unwrap();
    let found = k.search("When will my parcel ship?", 3);
    assert_eq!(
        (found[0].file.as_str(), found[0].line),
        ("knowledge/shipping.md", 1)
    );
    assert!(found[0].text.contains("We ship every parcel"));
    let found = k.search("I want a REFUND", 3);
    assert_eq!(found[0].file, "knowledge/returns.md");
    assert_eq!(found.len(), 1, "only passages sharing a word are returned");
    assert!(k.search("xyzzy", 3).is_empty());
    assert!(
        k.search("a ? !", 3).is_empty(),
        "one-letter words are dropped"
    );
    // Accents and case fold like keywords do.
    assert_eq!(k.search("ABROAD", 1)[0].line, 6);
    assert_eq!(k.search("paymént", 1)[0].file, "knowledge/faq.md");
    // Forms of a word meet at one stem: "orders" finds "order" and the other way round.
    assert_eq!(k.search("order", 10).len(), 3);
    assert_eq!(k.search("orders", 10).len(), 3);
    assert_eq!(k.search("order", 1).len(), 1);
}

/// The knowledge indexes of `flow`'s agent steps, in step order.
fn knowledge_indexes(set: &FlowSet, flow: &str) -> Vec<Arc<knowledge::Knowledge>> {
    set.get(flow)
        .unwrap()
        .steps
        .iter()
        .filter_map(|s| match &s.op {
            Op::Agent(a) => a.knowledge.clone(),
            _ => None,
        })
        .collect()
}

#[test]
fn one_list_of_knowledge_files_is_one_index_however_it_is_written() {
    // Steps naming one list alike, in another order, and spelled another way share one.
    let step = |list: &str| {
        format!("  - agent: {{ model: m, instructions: Again., scope: orders, if_window_closed: skip, knowledge: [{list}] }}\n")
    };
    let flow = format!(
        "{}{}{}",
        knowledge_flow("[knowledge/returns.md, knowledge/shipping.md]"),
        step("knowledge/returns.md, knowledge/shipping.md"),
        step("./knowledge/shipping.md, knowledge/returns.md")
    );
    let project = Project::new(
        &[("kb.yaml", &flow)],
        &[
            ("shipping.md", SHIPPING.as_bytes()),
            ("returns.md", RETURNS.as_bytes()),
        ],
    );
    let (report, rendered) = project.load(None);
    assert!(report.problems.is_empty(), "{rendered}");
    let indexes = knowledge_indexes(&report.set.unwrap(), "kb");
    assert_eq!(indexes.len(), 3);
    assert!(Arc::ptr_eq(&indexes[0], &indexes[1]));
    assert!(Arc::ptr_eq(&indexes[0], &indexes[2]));
}

#[test]
fn knowledge_is_bounded_per_project() {
    // Five files of 0.9 MiB; each agent names four of them, a different four: five lists of
    // 3.6 MiB, each within a step's 4 MiB, 18 MiB together.
    let part = "x".repeat(900 * 1024);
    let names = ["k1.md", "k2.md", "k3.md", "k4.md", "k5.md"];
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (*n, part.as_bytes())).collect();
    let mut flow = String::from("id: kb\nsteps:\n");
    for left_out in names {
        let list = names
            .iter()
            .filter(|n| **n != left_out)
            .map(|n| format!("knowledge/{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        flow.push_str(&format!("  - agent: {{ model: m, instructions: Help., scope: orders, if_window_closed: skip, knowledge: [{list}] }}\n"));
    }
    let (report, rendered) = Project::new(&[("kb.yaml", &flow)], &files).load(None);
    assert!(report.set.is_none(), "{rendered}");
    assert!(
        rendered.contains("flows/kb.yaml:7:") && rendered.contains("error: the agents' different `knowledge:` lists add up to 18 MiB of text to index, more than the 16 MiB Parley indexes for one project"),
        "{rendered}"
    );
    assert_eq!(rendered.matches("error:").count(), 1, "{rendered}");
}

#[test]
fn knowledge_files_stay_in_the_project_folder_and_are_text() {
    let mut latin1 = b"caf".to_vec();
    latin1.push(0xe9);
    let project = Project::new(
        &[(
            "kb.yaml",
            &knowledge_flow("[../secret.md, /etc/hosts.md, knowledge/manual.pdf, knowledge/missing.md, knowledge/blob.md, knowledge/latin1.txt, \"\"]"),
        )],
        &[("blob.md", b"PK\x03\x04\0\0binary"), ("latin1.txt", &latin1)],
    );
    let (report, rendered) = project.load(None);
    assert!(report.set.is_none());
    insta::assert_snapshot!(rendered);
}

#[cfg(unix)]
#[test]
fn a_link_out_of_the_project_folder_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.md"), "secret").unwrap();
    let project = Project::new(&[("kb.yaml", &knowledge_flow("[knowledge/link.md]"))], &[]);
    std::os::unix::fs::symlink(
        outside.path().join("secret.md"),
        project.dir.path().join("knowledge/link.md"),
    )
    .unwrap();
    let (_, rendered) = project.load(None);
    assert!(
        rendered.contains("error: the knowledge file `knowledge/link.md` is a link to a file outside the project folder"),
        "{rendered}"
    );
}

#[test]
fn knowledge_is_bounded_per_file_and_per_step() {
    let big = vec![b'a'; knowledge::FILE_MAX_BYTES as usize + 1];
    let (_, rendered) = Project::new(
        &[("kb.yaml", &knowledge_flow("[knowledge/big.md]"))],
        &[("big.md", &big)],
    )
    .load(None);
    assert!(
        rendered.contains(
            "flows/kb.yaml:8:19: error: the knowledge file `knowledge/big.md` is over 1024 KiB"
        ),
        "{rendered}"
    );
    let part = "word ".repeat(200_000);
    let names = ["k1.md", "k2.md", "k3.md", "k4.md", "k5.md"];
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (*n, part.as_bytes())).collect();
    let list = names
        .iter()
        .map(|n| format!("knowledge/{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (_, rendered) = Project::new(
        &[("kb.yaml", &knowledge_flow(&format!("[{list}]")))],
        &files,
    )
    .load(None);
    assert!(
        rendered.contains("error: the knowledge files of this step are over 4 MiB together (at `knowledge/k5.md`)"),
        "{rendered}"
    );
}

#[test]
fn a_changed_knowledge_file_changes_the_fingerprint() {
    let project = Project::new(
        &[("kb.yaml", &knowledge_flow("[knowledge/shipping.md]"))],
        &[("shipping.md", SHIPPING.as_bytes())],
    );
    let (report, rendered) = project.load(None);
    assert!(report.problems.is_empty(), "{rendered}");
    let file = project.dir.path().join("knowledge/shipping.md");
    assert_eq!(report.knowledge_files, vec![file.clone()]);
    let watched: Vec<&Path> = report.knowledge_files.iter().map(|p| p.as_path()).collect();
    let before = fingerprint(&watched);
    assert_eq!(before.len(), 1);
    std::fs::write(&file, format!("{SHIPPING}\nNew: we ship on Saturdays.\n")).unwrap();
    assert_ne!(fingerprint(&watched), before);
}

#[test]
fn an_agent_handoff_timeout_past_ten_years_is_refused() {
    let flow = FULL.replace(
        "handoff: { message: \"A person will answer shortly.\", timeout: 2h }",
        "handoff: { message: \"A person will answer shortly.\", timeout: 500000y }",
    );
    let (report, rendered) = Project::new(
        &[("support.yaml", &flow), ("order_status.yaml", STATUS)],
        &[
            ("shipping.md", SHIPPING.as_bytes()),
            ("returns.md", RETURNS.as_bytes()),
        ],
    )
    .load(Some(&with_models(&["assistant"])));
    assert!(report.set.is_none());
    assert!(
        rendered.contains("flows/support.yaml:21:71: error: `timeout` of 500000y is longer than the longest Parley accepts, 10 years\n  hint: write a shorter one"),
        "{rendered}"
    );
}

#[test]
fn an_agent_timeout_shorter_than_a_second_is_refused_and_one_second_is_accepted() {
    let load = |timeout: &str| {
        let flow = FULL.replace("timeout: 45s", &format!("timeout: {timeout}"));
        assert_ne!(flow, FULL);
        Project::new(
            &[("support.yaml", &flow), ("order_status.yaml", STATUS)],
            &[
                ("shipping.md", SHIPPING.as_bytes()),
                ("returns.md", RETURNS.as_bytes()),
            ],
        )
        .load(Some(&with_models(&["assistant"])))
    };
    let (report, rendered) = load("1ms");
    assert!(report.set.is_none());
    assert!(
        rendered
            .contains("error: an agent's `timeout` must be at least 1s: no model answers sooner"),
        "{rendered}"
    );
    let (report, rendered) = load("1s");
    assert!(report.set.is_some(), "{rendered}");
}

#[cfg(unix)]
#[test]
fn a_knowledge_file_that_is_a_named_pipe_or_a_folder_is_refused_without_blocking() {
    use crate::config::regular_file::testing::{mkfifo, promptly};
    let project = Project::new(
        &[(
            "kb.yaml",
            &knowledge_flow("[knowledge/fifo.md, knowledge/d.md]"),
        )],
        &[],
    );
    mkfifo(&project.dir.path().join("knowledge/fifo.md"));
    std::fs::create_dir(project.dir.path().join("knowledge/d.md")).unwrap();
    let rendered = promptly(move || project.load(None).1);
    for line in [
        "flows/kb.yaml:8:19: error: the knowledge file `knowledge/fifo.md` is not a regular file (it is a named pipe); Parley reads only ordinary files",
        "flows/kb.yaml:8:38: error: the knowledge file `knowledge/d.md` is a directory, not a file",
    ] {
        assert!(rendered.contains(line), "{rendered}");
    }
}
