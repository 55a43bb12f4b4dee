//! `parley check` output for the mistakes that used to reach customers (issue 13, item 11)
//! and for files too deep to parse (item 2), snapshot-tested as a person reads them.

use super::*;
use std::time::Duration;

/// What `parley check` prints for `files`, checked against a config with `deployment`.
fn check(files: &[(&str, &str)], deployment: Option<&Deployment>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(&scripts).unwrap();
    for (name, text) in files {
        let path = if name.ends_with(".rhai") {
            scripts.join(name)
        } else {
            flows.join(name)
        };
        std::fs::write(path, text).unwrap();
    }
    let settings = LoadSettings {
        dir: &flows,
        scripts_dir: &scripts,
        templates: &[],
        window: Duration::from_secs(24 * 3600),
        overrides: None,
    };
    load_dir_with(&settings, deployment)
        .render()
        .replace(&format!("{}/", dir.path().display()), "")
}

fn two_senders() -> Deployment {
    Deployment {
        twilio_sender_ids: Vec::new(),
        sender_ids: vec![1, 2],
        allow_private_networks: false,
        model_names: Vec::new(),
        unpriced_models: Vec::new(),
        embedding_models: Vec::new(),
    }
}

#[test]
fn check_reports_unknown_filters_roots_and_unbalanced_blanks() {
    insta::assert_snapshot!(check(
        &[(
            "blanks.yaml",
            r#"id: blanks
triggers: [{keyword: [b]}]
steps:
  - send: "Hi {{ contact.name | uper }}"
  - send:
      text: "Hello {{ contact.name } and bye"
  - send: "Dear {{ contcat.name }}, {{ vars.x | default: there | capitalise }}"
  - send:
      text: |
        Line one
        and {{ contact.name
  - set: { greeting: "Hi {{ mesage.text }}" }
  - http:
      url: "https://api.example.com/{{ vars.id | lower }}"
      body: { who: "{{ contact.name | trim }}", oops: "x }} y" }
  - send: "Fine: {{ contact.name | default: \"friend\" | upper }} at {{ now }}"
  - send: "Hi {{ contact.name | default }} {{ vars.x | upper: 3 }} {{ vars.m.list[0].name }}"
"#,
        )],
        None,
    ));
}

#[test]
fn check_reports_message_parts_that_do_not_exist_and_parts_of_now() {
    insta::assert_snapshot!(check(
        &[(
            "parts.yaml",
            r#"id: parts
triggers: [{keyword: [p]}]
steps:
  - send: "You wrote: {{ message.txt }} at {{ now.date }}"
  - send: "{{ message.body }}"
  - send: "Fine: {{ message.text }} {{ message.form.date }} {{ message.address.city }} {{ message.call.status }}"
"#,
        )],
        None,
    ));
}

#[test]
fn check_reports_a_condition_that_assigns_or_names_a_word_as_a_value() {
    insta::assert_snapshot!(check(
        &[(
            "conditions.yaml",
            r#"id: conditions
triggers: [{keyword: [c]}]
steps:
  - if: vars.price = 5
    then: [{ send: five }]
  - if: vars.plan == Team
    then: [{ send: team }]
  - switch:
      on: plan
      cases: { a: { send: a } }
  - set: { total: "= price * 2" }
  - if: vars.n >= 3 && vars.n <= 9 && vars.n != 4 && vars.tag == "a=b" && contact.city == `x=y` && message.type == "text"
    then: [{ send: fine }]
  - set: { doubled: "= let n = vars.n; n * 2" }
"#,
        )],
        None,
    ));
}

#[test]
fn check_reports_every_mistake_of_an_ask_in_one_run() {
    insta::assert_snapshot!(check(
        &[(
            "ask.yaml",
            r#"id: ask
triggers: [{keyword: [a]}]
steps:
  - ask:
      text: "Your email?"
      save-as: email
      expect: emial
      retries: 50
      on_timeout: nudge
"#,
        )],
        None,
    ));
}

#[test]
fn check_reports_loops_that_never_wait_but_not_menus_that_ask() {
    insta::assert_snapshot!(check(
        &[
            (
                "spin.yaml",
                "id: spin\ntriggers: [{keyword: [s]}]\nsteps:\n  - id: top\n    send: again\n  - goto: top\n",
            ),
            (
                "retry.yaml",
                "id: retry\ntriggers: [{keyword: [r]}]\nsteps:\n  - id: try\n    set: { n: \"= 1\" }\n  - if: \"vars.n < 3\"\n    then: try\n",
            ),
            (
                "menu.yaml",
                "id: menu\ntriggers: [{keyword: [m]}]\nsteps:\n  - id: top\n    ask:\n      text: Pick one\n      save_as: pick\n  - if: \"vars.pick == \\\"again\\\"\"\n    then: top\n  - id: wait\n    delay: 1h\n  - goto: wait\n",
            ),
        ],
        None,
    ));
}

#[test]
fn check_reports_http_steps_to_private_addresses_unless_allowed() {
    let files = [(
        "net.yaml",
        "id: net\ntriggers: [{keyword: [n]}]\nsteps:\n  - http: { url: \"http://localhost:8080/x\" }\n  - http: { url: \"http://2130706433/\" }\n  - http: { url: \"http://[::ffff:10.0.0.1]/\" }\n  - http: { url: \"http://100.64.0.1/\" }\n  - http: { url: \"https://{{ vars.host }}/x\" }\n  - http: { url: \"https://api.example.com/{{ vars.id }}\" }\n",
    )];
    insta::assert_snapshot!(check(&files, Some(&two_senders())));
    let allowed = Deployment {
        allow_private_networks: true,
        ..two_senders()
    };
    assert_eq!(check(&files, Some(&allowed)), "");
}

#[test]
fn check_reports_scheduled_flows_that_can_never_run() {
    let files = [
        (
            "blast.yaml",
            "id: blast\nschedule:\n  cron: \"0 10 * * *\"\nsteps:\n  - send: { text: hi, if_window_closed: skip }\n",
        ),
        (
            "blast9.yaml",
            "id: blast9\nschedule:\n  cron: \"0 10 * * *\"\n  sender: 9\nsteps:\n  - send: { text: hi, if_window_closed: skip }\n",
        ),
        (
            "blast2.yaml",
            "id: blast2\nschedule:\n  cron: \"0 10 * * *\"\n  sender: 2\nsteps:\n  - send: { text: hi, if_window_closed: skip }\n",
        ),
    ];
    insta::assert_snapshot!(check(&files, Some(&two_senders())));
    let one = Deployment {
        twilio_sender_ids: Vec::new(),
        sender_ids: vec![1],
        allow_private_networks: false,
        model_names: Vec::new(),
        unpriced_models: Vec::new(),
        embedding_models: Vec::new(),
    };
    let only_one = check(&files, Some(&one));
    assert!(!only_one.contains("blast.yaml"), "{only_one}");
    // With no sender at all, naming one cannot help: the config needs one first.
    let none = Deployment {
        sender_ids: Vec::new(),
        ..one
    };
    insta::assert_snapshot!(check(&files[..1], Some(&none)), @r#"
    flows/blast.yaml:3:3: error: this scheduled flow can never run: the config has no sender for this schedule to send from
      hint: add a sender to the config's `senders:` first, for example `- { id: 1, name: Sandbox, channel: sandbox, phone_number: "+15550000000" }`
    "#);
}

#[test]
fn check_reads_cron_as_crontab_and_reports_every_mistake_of_a_schedule() {
    let flow = |id: &str, schedule: &str| {
        (
            format!("{id}.yaml"),
            format!("id: {id}\nschedule:\n{schedule}steps:\n  - send: {{ text: hi, if_window_closed: skip }}\n"),
        )
    };
    let files = [
        flow("minute", "  cron: \"61 10 * * *\"\n"),
        flow("feb30", "  cron: \"0 0 30 2 *\"\n"),
        flow("seconds", "  cron: \"* * * * * *\"\n"),
        flow("both", "  cron: \"0 10 1-7 * 1\"\n"),
        flow(
            "many",
            "  cron: \"0 10 * * 1-5\"\n  timezone: Europe/Madird\n  missed: never\n  frequency_cap: soon\n",
        ),
    ];
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    insta::assert_snapshot!(check(&files, None));
}

#[test]
fn a_flow_a_scheduled_flow_jumps_to_is_checked_as_scheduled() {
    let files = [
        (
            "sg.yaml",
            "id: sg\nschedule:\n  cron: \"0 10 * * *\"\nsteps:\n  - goto_flow: promo\n",
        ),
        ("promo.yaml", "id: promo\nsteps:\n  - send: \"Big sale today!\"\n"),
        (
            "menu.yaml",
            "id: menu\ntriggers: [{keyword: [menu]}]\nsteps:\n  - send: Menu\n  - goto_flow: promo\n",
        ),
    ];
    insta::assert_snapshot!(check(&files, None), @r"
    flows/promo.yaml:3:5: error: this message can be sent any time after the customer's last message, when the 24h window has closed and WhatsApp refuses free-form messages (this flow is reached by `goto_flow` from `sg`)
      hint: add `if_window_closed: { template: <approved template>, variables: {…} }`, or `if_window_closed: skip`
    ");
}

#[test]
fn check_refuses_empty_messages_and_a_handoff_that_ends_at_once() {
    let flow = "id: e\ntriggers: [{keyword: [e]}]\nsteps:\n  - send: \"\"\n  - send: { text: \"  \" }\n  - ask: { text: \"\", save_as: x }\n  - handoff: { message: \"\", timeout: 0s }\n";
    insta::assert_snapshot!(check(&[("e.yaml", flow)], None), @r"
    flows/e.yaml:4:11: error: a `send` is empty: WhatsApp refuses a message with no text
      hint: write the text between the quotes, or leave the message out
    flows/e.yaml:5:19: error: a `send` is empty: WhatsApp refuses a message with no text
      hint: write the text between the quotes, or leave the message out
    flows/e.yaml:6:18: error: an `ask` is empty: WhatsApp refuses a message with no text
      hint: write the text between the quotes, or leave the message out
    flows/e.yaml:7:25: error: the handoff `message` is empty: WhatsApp refuses a message with no text
      hint: write the text between the quotes, or leave the message out
    flows/e.yaml:7:38: error: a handoff `timeout` of 0 gives the conversation back to the bot at once
      hint: give the time a person has to answer, like `timeout: 4h`, or leave it out to wait until released
    ");
}

#[test]
fn check_reports_flows_that_goto_each_other_without_waiting() {
    let files = [
        (
            "loop.yaml",
            "id: loop\ntriggers: [{keyword: [loop]}]\nsteps:\n  - send: x\n  - goto_flow: loop2\n",
        ),
        ("loop2.yaml", "id: loop2\nsteps:\n  - send: y\n  - goto_flow: loop\n"),
        (
            "menu.yaml",
            "id: menu\ntriggers: [{keyword: [menu]}]\nsteps:\n  - ask: { text: \"1 or 2?\", save_as: c }\n  - goto_flow: pick\n",
        ),
        ("pick.yaml", "id: pick\nsteps:\n  - send: ok\n  - goto_flow: menu\n"),
        (
            "retry.yaml",
            "id: retry\ntriggers: [{keyword: [retry]}]\nsteps:\n  - set: { n: \"= (vars.n ?? 0) + 1\" }\n  - if: vars.n < 3\n    then:\n      - goto_flow: retry\n  - send: done\n",
        ),
    ];
    insta::assert_snapshot!(check(&files, None), @r"
    flows/loop.yaml:5:5: error: this `goto_flow` goes round through flows `loop`, `loop2` without waiting for the customer
      hint: add an `ask` or a `delay` in one of them, or a condition (`if`) that ends the round; one message would otherwise send a message at every turn, up to the 200-step limit
    flows/retry.yaml:7:9: warning: this `goto_flow` can go round through flow `retry` without waiting for the customer
      hint: make sure a condition ends the round; a run stops after 200 steps in a row. Add an `ask` or `delay` on the way if it should wait
    ");
}

#[test]
fn check_refuses_names_headers_timeouts_and_script_files_it_cannot_use() {
    let flow = "id: bot\ntriggers: [{keyword: [bot]}]\nsteps:\n  - set: { \"contact.\": x }\n  - ask: { text: \"Name?\", save_as: \"i j\" }\n  - http: { url: \"https://example.com/x\", timeout: 0s, headers: { \"Bad Header\": x } }\n  - script: { file: ../../etc/passwd }\n";
    insta::assert_snapshot!(check(&[("bot.yaml", flow)], None), @r"
    flows/bot.yaml:4:12: error: `contact.` is not a variable name
      hint: use one word, like `order_id` or `contact.city`
    flows/bot.yaml:5:36: error: `i j` is not a variable name
      hint: use one word, like `order_id`; it is kept as {{ vars.order_id }}
    flows/bot.yaml:6:52: error: an `http` step with a `timeout` of 0 never gets an answer
      hint: leave it out for the default, 10s, or give a few seconds
    flows/bot.yaml:6:67: error: `Bad Header` is not a header name
      hint: header names are one word of letters, digits and `-`, like `X-Api-Key`
    flows/bot.yaml:7:21: error: the script `../../etc/passwd` is outside the `scripts/` folder
      hint: put the script in `scripts/` and write its name from there, like `file: order_summary.rhai`
    ");
}

#[test]
fn a_scheduled_start_is_passed_on_along_a_chain_of_goto_flow() {
    let files = [
        (
            "sg.yaml",
            "id: sg\nschedule:\n  cron: \"0 10 * * *\"\nsteps:\n  - goto_flow: one\n",
        ),
        (
            "one.yaml",
            "id: one\nsteps:\n  - send: { text: Hi, if_window_closed: skip }\n  - goto_flow: two\n",
        ),
        ("two.yaml", "id: two\nsteps:\n  - send: \"Last chance\"\n"),
    ];
    let out = check(&files, None);
    assert!(
        out.starts_with("flows/two.yaml:3:5: error:")
            && out.contains("reached by `goto_flow` from `one`"),
        "{out}"
    );
}

#[test]
fn check_refuses_files_nested_too_deeply_at_their_place() {
    insta::assert_snapshot!(check(
        &[
            (
                "dashes.yaml",
                &format!("id: d\nsteps:\n{}\n", "- ".repeat(5000))
            ),
            (
                "brackets.yaml",
                &format!("id: b\nsteps: {}\n", "[".repeat(100_000))
            ),
            (
                "maps.yaml",
                &format!(
                    "id: m\nsteps:\n  - http:\n      url: https://example.com\n      body: {}\n",
                    "{a: ".repeat(20_000)
                )
            ),
        ],
        None,
    ));
}

#[test]
fn deeply_nested_scripts_are_refused_by_the_rhai_parser_limits() {
    let deep = format!("let x = {}1{};", "(".repeat(5000), ")".repeat(5000));
    let out = check(
        &[
            ("deep.rhai", &deep),
            (
                "s.yaml",
                "id: s\ntriggers: [{keyword: [s]}]\nsteps:\n  - script: { file: deep.rhai }\n  - script: \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\"\n",
            ),
        ],
        None,
    );
    assert!(
        out.contains("flows/s.yaml:4:") && out.contains("script error in deep.rhai"),
        "{out}"
    );
    assert!(out.contains("flows/s.yaml:5:"), "{out}");
}

#[test]
fn the_example_flows_pass_every_check() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let config = crate::config::Config::embedded_default_in(root);
    let templates = config.templates.clone();
    let settings = LoadSettings {
        dir: &root.join("flows"),
        scripts_dir: &root.join("scripts"),
        templates: &templates,
        window: config.window.duration,
        overrides: None,
    };
    let report = load_dir_with(&settings, Some(&Deployment::from_config(&config)));
    assert!(report.problems.is_empty(), "{}", report.render());
}

#[test]
fn check_names_a_call_event_that_does_not_exist() {
    let out = check(
        &[(
            "calls.yaml",
            "id: calls\ntriggers:\n  - call: [terminate, ringing]\n  - welcome: true\nsteps:\n  - send: \"Thanks for calling\"\n",
        )],
        None,
    );
    assert!(
        out.contains("calls.yaml:3:")
            && out.contains("`ringing` is not a call event")
            && out.contains("call: terminate"),
        "{out}"
    );
    assert_eq!(out.matches("calls.yaml:").count(), 1, "{out}");
}

#[test]
fn check_reports_reactions_and_location_requests_past_whatsapp_limits() {
    let long = "x".repeat(1_025);
    let flow = format!(
        r#"id: kinds
triggers: [{{keyword: [k]}}]
steps:
  - send: {{ react: "👍" }}
  - send: {{ react: "" }}
  - send: {{ react: {{ emoji: "🎉", message_id: "{{{{ vars.order_message }}}}" }} }}
  - send: {{ react: "great" }}
  - send: {{ react: {{ message_id: "wamid.1" }} }}
  - send: {{ location_request: "Where shall we deliver?" }}
  - send: {{ location_request: "{long}" }}
  - send: {{ location_request: "" }}
  - send: {{ location_request: "Where?", footer: "Thanks" }}
  - send: {{ react: "👍", text: "and a text" }}
"#
    );
    let text: &'static str = Box::leak(flow.into_boxed_str());
    insta::assert_snapshot!(check(&[("kinds.yaml", text)], None), @r#"
    flows/kinds.yaml:7:20: error: a reaction is one emoji, and `great` has letters, digits, spaces or punctuation
      hint: write one emoji, like `react: "👍"`, or `react: ""` to remove a reaction
    flows/kinds.yaml:8:22: error: `react` needs an `emoji` (an empty one removes the reaction)
    flows/kinds.yaml:10:31: error: the text of a location request is 1025 characters long; WhatsApp allows at most 1024
      hint: shorten it, or split it into several messages
    flows/kinds.yaml:11:31: error: a location request needs a text that asks for the location
      hint: like `location_request: "Where shall we deliver?"`
    flows/kinds.yaml:12:13: error: a location request has no `header` or `footer` on WhatsApp
    flows/kinds.yaml:13:13: error: a `send` has more than one kind of message
      hint: one message is either text (optionally with buttons or a list), one media, a location, a location request, a reaction or a template; use several steps to send several
    "#);
}

#[test]
fn check_warns_where_twilio_senders_cannot_send_a_reaction_or_a_location_request() {
    let with_twilio = Deployment {
        twilio_sender_ids: vec![2],
        sender_ids: vec![1, 2],
        allow_private_networks: false,
        model_names: Vec::new(),
        unpriced_models: Vec::new(),
        embedding_models: Vec::new(),
    };
    let flow = "id: kinds\ntriggers: [{keyword: [k]}]\nsteps:\n  - send: { react: \"👍\" }\n  - send:\n      location_request: \"Where shall we deliver?\"\n";
    insta::assert_snapshot!(check(&[("kinds.yaml", flow)], Some(&with_twilio)), @r"
    flows/kinds.yaml:4:20: warning: on the Twilio sender(s) 2 this reaction fails: Twilio's API cannot send WhatsApp reactions
    flows/kinds.yaml:6:25: warning: on the Twilio sender(s) 2 this location request goes out as its text alone: Twilio has no location request message (the customer shares a location with the attach button)
    ");
    assert_eq!(check(&[("kinds.yaml", flow)], Some(&two_senders())), "");
}

#[test]
fn check_warns_where_text_bubbles_in_a_row_could_be_one_message() {
    let flow = r#"id: chatty
triggers: [{keyword: [c]}]
steps:
  - send: "Hi!"
  - send: "Thanks for writing."
  - send: "How can I help?"
  - ask: { text: "Your order number?", save_as: n, timeout: 10m, on_timeout: late }
  - send: "Looking it up"
  - send: { text: "Found it", buttons: [{ id: ok, title: OK }] }
  - send: "One more"
  - id: late
    send: "and another"
  - send: "and the last"
"#;
    insta::assert_snapshot!(check(&[("chatty.yaml", flow)], Some(&two_senders())), @r"
    flows/chatty.yaml:4:5: warning: 3 messages here cost 3 service charges: these 3 `send` steps go out as 3 separate free-form messages, and WhatsApp charges each one (from 2026-10-01)
      hint: join the texts into one `send` (a new line is `\n` inside the text) unless the customer should see separate bubbles
    flows/chatty.yaml:11:5: warning: 2 messages here cost 2 service charges: these 2 `send` steps go out as 2 separate free-form messages, and WhatsApp charges each one (from 2026-10-01)
      hint: join the texts into one `send` (a new line is `\n` inside the text) unless the customer should see separate bubbles
    ");
    // A single text, or texts split by a question or a jump target, are left alone.
    let quiet = "id: q\ntriggers: [{keyword: [q]}]\nsteps:\n  - send: \"One\"\n  - ask: { text: \"Two?\", save_as: t, timeout: 10m, on_timeout: menu }\n  - send: \"Three\"\n  - id: menu\n    send: \"Menu\"\n";
    assert_eq!(check(&[("q.yaml", quiet)], Some(&two_senders())), "");
}

#[test]
fn durations_past_ten_years_are_refused_at_their_place() {
    let rendered = check(
        &[(
            "long.yaml",
            "id: long\ntriggers: [{keyword: [l]}]\nsteps:\n  - delay: 500000y\n  - ask: { text: Which?, save_as: which, timeout: 500000y }\n  - delay: 10y\n  - handoff: { timeout: 500000y }\n",
        )],
        None,
    );
    for line in [
        "flows/long.yaml:4:12: error: `delay` of 500000y is longer than the longest Parley accepts, 10 years\n  hint: write a shorter one",
        "flows/long.yaml:5:51: error: `timeout` of 500000y is longer than the longest Parley accepts, 10 years\n  hint: write a shorter one",
        "flows/long.yaml:7:25: error: `timeout` of 500000y is longer than the longest Parley accepts, 10 years\n  hint: write a shorter one",
    ] {
        assert!(rendered.contains(line), "{rendered}");
    }
    assert!(!rendered.contains("long.yaml:6:"), "{rendered}");
}

#[cfg(unix)]
#[test]
fn a_named_pipe_or_a_folder_among_the_flows_is_refused_without_blocking() {
    use crate::config::regular_file::testing::{mkfifo, promptly};
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(scripts.join("dir.rhai")).unwrap();
    mkfifo(&flows.join("pipe.yaml"));
    mkfifo(&scripts.join("pipe.rhai"));
    std::fs::write(
        flows.join("s.yaml"),
        "id: s\ntriggers: [{keyword: [s]}]\nsteps:\n  - script: { file: pipe.rhai }\n  - script: { file: dir.rhai }\n",
    )
    .unwrap();
    let root = dir.path().to_path_buf();
    let rendered = promptly(move || {
        let settings = LoadSettings {
            dir: &flows,
            scripts_dir: &scripts,
            templates: &[],
            window: Duration::from_secs(24 * 3600),
            overrides: None,
        };
        load_dir_with(&settings, None)
            .render()
            .replace(&format!("{}/", root.display()), "")
    });
    for line in [
        "flows/pipe.yaml:1:1: error: the file is not a regular file (it is a named pipe); Parley reads only ordinary files",
        "flows/s.yaml:4:21: error: the script scripts/pipe.rhai: the file is not a regular file (it is a named pipe); Parley reads only ordinary files",
        "flows/s.yaml:5:21: error: the script scripts/dir.rhai: the file is a directory, not a file",
    ] {
        assert!(rendered.contains(line), "{rendered}");
    }
    // The hint about splitting a big file is for big files only.
    assert!(!rendered.contains("split a big one"), "{rendered}");
}

/// A flow with errors still takes part in the checks across flows: a `goto_flow` to it is
/// not "no flow with id", and its own `goto_flow` to a missing flow is reported with its
/// other errors, not after they are fixed.
#[test]
fn a_flow_with_errors_takes_part_in_the_checks_across_flows() {
    let broken =
        "id: broken\ntriggers: [{keyword: [b]}]\nsteps:\n  - sned: hi\n  - goto_flow: nowhere\n";
    let caller = "id: caller\ntriggers: [{keyword: [c]}]\nsteps:\n  - goto_flow: broken\n";
    let out = check(&[("broken.yaml", broken), ("caller.yaml", caller)], None);
    assert!(out.contains("flows/broken.yaml:4:5: error:"), "{out}");
    assert!(
        out.contains("flows/broken.yaml:5:5: error: there is no flow with id `nowhere`"),
        "{out}"
    );
    assert!(!out.contains("caller.yaml"), "{out}");
}

/// `{{ vars. }}` (a dot with no name after it) finds nothing and would be sent as empty
/// text: an error, in a message as in an agent's instructions.
#[test]
fn a_blank_with_a_dot_and_no_name_after_it_is_an_error() {
    let flow = "id: dots\ntriggers: [{keyword: [d]}]\nsteps:\n  - send: \"Hi {{ vars. }} {{ contact..name }}\"\n  - send: \"Fine: {{ vars }} {{ vars.x }}\"\n";
    let out = check(&[("dots.yaml", flow)], None);
    assert!(
        out.contains("flows/dots.yaml:4:15: error: the blank `{{ vars. }}` has a dot with no name after it: it would be sent as empty text\n  hint: write the name after each dot, like `{{ vars.name }}`, or remove the dot"),
        "{out}"
    );
    assert!(
        out.contains("flows/dots.yaml:4:27: error: the blank `{{ contact..name }}` has a dot"),
        "{out}"
    );
    assert!(!out.contains("dots.yaml:5:"), "{out}");
}

/// A syntax error in one file does not make `check` blame another file's correct
/// `goto_flow` to it: the broken file's `id:` line still names its flow.
#[test]
fn a_flow_with_broken_yaml_is_not_called_missing_by_its_callers() {
    let broken = "id: lead_capture\ntriggers: [{keyword: [lead]}]\nsteps:\n  - send: \"unclosed\n";
    let caller = "id: caller\ntriggers: [{keyword: [c]}]\nsteps:\n  - goto_flow: lead_capture\n";
    let out = check(&[("lead.yaml", broken), ("caller.yaml", caller)], None);
    assert!(out.contains("flows/lead.yaml:"), "{out}");
    assert!(!out.contains("caller.yaml"), "{out}");
    assert_eq!(
        crate::flows::yaml::id_line("# x\nid: \"welcome\" # the first\n"),
        Some("welcome".into())
    );
}

/// Windows editors begin a UTF-8 file with a byte-order mark; it is not part of the first
/// key. A file that is not UTF-8 is told with the line of its first bad character.
#[test]
fn a_byte_order_mark_is_skipped_and_a_file_not_utf8_names_its_line() {
    let out = check(
        &[(
            "bom.yaml",
            "\u{feff}id: bom\ntriggers: [{keyword: [bom]}]\nsteps:\n  - send: hi\n",
        )],
        None,
    );
    assert_eq!(out, "", "{out}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latin1.yaml");
    std::fs::write(&file, b"id: l\nsteps:\n  - send: caf\xe9\n").unwrap();
    let e = crate::config::file_limits::read_limited(&file).unwrap_err();
    assert!(e.contains("line 3"), "{e}");
}

/// YAML reads only the first of several documents in a file; the second flow would be
/// dropped without a word.
#[test]
fn a_second_flow_after_three_dashes_is_an_error_at_its_line() {
    let out = check(
        &[(
            "two.yaml",
            "---\nid: one\ntriggers: [{keyword: [one]}]\nsteps:\n  - send: hi\n---\nid: two\ntriggers: [{keyword: [two]}]\nsteps:\n  - send: hello\n",
        )],
        None,
    );
    assert!(
        out.contains("flows/two.yaml:6:1: error: a second flow starts here (`---`)"),
        "{out}"
    );
    // A block's `---` inside a text is indented, so it is text, not a document marker.
    let out = check(
        &[(
            "rule.yaml",
            "id: rule\ntriggers: [{keyword: [r]}]\nsteps:\n  - send:\n      text: |\n        above\n        ---\n        below\n",
        )],
        None,
    );
    assert_eq!(out, "", "{out}");
}

/// Hidden entries (an Emacs lock file is a link to nowhere) are not flows, and a link to a
/// folder is not walked (`up -> ..` read the whole project as flows, down the loop).
#[cfg(unix)]
#[test]
fn hidden_files_and_links_to_folders_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(
        flows.join("ping.yaml"),
        "id: ping\ntriggers: [{keyword: [ping]}]\nsteps:\n  - send: pong\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("parley.yaml"), "listen: 127.0.0.1:8080\n").unwrap();
    std::os::unix::fs::symlink("ana@host.1:1", flows.join(".#ping.yaml")).unwrap();
    std::os::unix::fs::symlink("..", flows.join("up")).unwrap();
    let settings = LoadSettings {
        dir: &flows,
        scripts_dir: &dir.path().join("scripts"),
        templates: &[],
        window: Duration::from_secs(24 * 3600),
        overrides: None,
    };
    let report = load_dir_with(&settings, None);
    let out = report.render();
    assert_eq!(report.errors(), 0, "{out}");
    assert_eq!(report.warnings(), 1, "{out}");
    assert!(
        out.contains("up:1:1: warning: this is a link to a folder"),
        "{out}"
    );
    assert_eq!(report.set.expect("loads").flows().len(), 1);
    // Hot reload lists the link without walking it, and not the hidden file.
    let listed = fingerprint(&[flows.as_path()]);
    let names: Vec<_> = listed
        .iter()
        .map(|(p, _, _)| p.file_name().unwrap())
        .collect();
    assert_eq!(names, ["ping.yaml", "up"], "{listed:?}");
}

/// A flow file that cannot be read (a link to nowhere) is in the fingerprint, so removing
/// it is a change and the flows load again without the error it caused.
#[cfg(unix)]
#[test]
fn removing_an_unreadable_flow_file_changes_the_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("gone.yaml");
    std::os::unix::fs::symlink(dir.path().join("nowhere.yaml"), &link).unwrap();
    let before = fingerprint(&[dir.path()]);
    assert_eq!(before.len(), 1);
    std::fs::remove_file(&link).unwrap();
    assert_ne!(fingerprint(&[dir.path()]), before);
}

/// Placing each blank walked its text: a 720 KB text of 60,000 blanks took minutes to
/// check (and kept `serve`'s hot reload busy). Now only blanks with a problem are placed,
/// at most twenty of them per text.
#[test]
fn a_text_of_many_blanks_checks_in_linear_time_and_reports_a_screenful() {
    let many = "{{ vars.a }}".repeat(60_000);
    let flow =
        format!("id: big\ntriggers: [{{keyword: [big]}}]\nsteps:\n  - set: {{ a: \"{many}\" }}\n");
    let t0 = std::time::Instant::now();
    let out = check(&[("big.yaml", &flow)], None);
    // Generous for a loaded debug build; the quadratic walk took minutes here.
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    assert!(!out.contains("blank"), "{out}");
    let broken = "{{ vars. }}".repeat(1_000);
    let flow = format!("id: bad\ntriggers: [{{keyword: [bad]}}]\nsteps:\n  - send: \"{broken}\"\n");
    let out = check(&[("bad.yaml", &flow)], None);
    assert_eq!(out.matches("has a dot with no name").count(), 20, "{out}");
    assert!(
        out.contains("more blanks of this text have problems; the first 20 are above"),
        "{out}"
    );
}

/// YAML anchors are refused with a way forward, and a flow id used twice is named in both
/// files (the file just written may sort first or last).
#[test]
fn anchors_say_what_to_do_and_a_duplicate_id_is_named_in_both_files() {
    let out = check(
        &[(
            "anchor.yaml",
            "id: anchor\ntriggers: [{keyword: [a]}]\nsteps:\n  - send: &greet hello\n  - send: *greet\n",
        )],
        None,
    );
    assert!(
        out.contains("anchors (&name) and aliases (*name) are not supported in flow files\n  hint: write the value out in full"),
        "{out}"
    );
    let flow = |id: &str, kw: &str| {
        format!("id: {id}\ntriggers: [{{keyword: [{kw}]}}]\nsteps:\n  - send: hi\n")
    };
    let out = check(
        &[
            ("new.yaml", &flow("welcome", "x")),
            ("welcome.yaml", &flow("welcome", "y")),
        ],
        None,
    );
    assert!(
        out.contains(
            "flows/new.yaml:1:5: error: the flow id `welcome` is also used by flows/welcome.yaml:1"
        ),
        "{out}"
    );
    assert!(out.contains("flows/welcome.yaml:1:5: error: the flow id `welcome` is already used by flows/new.yaml:1"), "{out}");
}

/// Flow ids name flows in URLs and reports: `..`, `a/b?c`, `=cmd` or 210 characters loaded
/// once, and then broke the insights page (its API refuses them).
#[test]
fn flow_ids_are_words_of_at_most_200_characters() {
    let flow =
        |id: &str| format!("id: \"{id}\"\ntriggers: [{{keyword: [k]}}]\nsteps:\n  - send: hi\n");
    for bad in ["..", "a/b?c", "=cmd|calc", ".hidden"] {
        let out = check(&[("f.yaml", &flow(bad))], None);
        assert!(
            out.contains(&format!(
                "the flow id `{bad}` may hold only letters, digits, -, _ and ."
            )),
            "{bad}: {out}"
        );
    }
    let out = check(&[("f.yaml", &flow(&"x".repeat(210)))], None);
    assert!(
        out.contains("the flow id is 210 characters long; at most 200"),
        "{out}"
    );
    for good in ["order-status", "lead_capture", "v2.welcome", "pedido-señal"] {
        assert_eq!(check(&[("f.yaml", &flow(good))], None), "", "{good}");
    }
}

/// A `handoff` ends the run: steps written after it never run, and `check` says why.
#[test]
fn steps_after_a_handoff_are_named_as_never_running() {
    let out = check(
        &[(
            "h.yaml",
            "id: h\ntriggers: [{keyword: [human]}]\nsteps:\n  - handoff: { message: \"A person will answer.\" }\n  - send: \"Thanks for waiting\"\n",
        )],
        None,
    );
    assert!(
        out.contains("flows/h.yaml:5:5: warning: this step can never run: the `handoff` before it ends the flow"),
        "{out}"
    );
}

/// `expect: button` after no message with buttons refuses every typed answer: `check`
/// warns. Buttons sent before it on some path, in the question itself, or a template's
/// quick replies are enough.
#[test]
fn a_button_answer_with_no_buttons_before_it_is_warned() {
    let flow = |steps: &str| format!("id: b\ntriggers: [{{keyword: [hi]}}]\nsteps:\n{steps}");
    let bare = flow("  - send: \"Pick one\"\n  - ask: { save_as: pick, expect: button }\n");
    let out = check(&[("b.yaml", &bare)], None);
    assert!(
        out.contains("flows/b.yaml:5:5: warning: `expect: button` waits for a tap on buttons, but no step before this one sends any"),
        "{out}"
    );
    let fine = [
        flow("  - send: { text: Pick, buttons: [{ id: a, title: A }] }\n  - ask: { save_as: pick, expect: button }\n"),
        flow("  - ask: { text: Pick, buttons: [{ id: a, title: A }], save_as: pick, expect: button }\n"),
        // One path offers buttons: the author may mean the other to be rare.
        flow("  - if: \"contact.vip == true\"\n    then: menu\n  - goto: pick\n  - id: menu\n    send: { text: Pick, buttons: [{ id: a, title: A }] }\n  - id: pick\n    ask: { save_as: pick, expect: button }\n"),
    ];
    for text in fine {
        let out = check(&[("b.yaml", &text)], None);
        assert!(!out.contains("expect: button"), "{text}\n{out}");
    }
}

/// A flow of more steps in a row than one message may run is warned about where the run
/// begins; the same steps split by an `ask` pass.
#[test]
fn check_warns_about_more_steps_in_a_row_than_a_message_runs() {
    let sets = |n: usize| "  - set: { n: \"= 1\" }\n".repeat(n);
    let long = format!(
        "id: long\ntriggers: [{{keyword: [l]}}]\nsteps:\n  - send: start\n{}  - send: done\n",
        sets(200)
    );
    let split = format!(
        "id: split\ntriggers: [{{keyword: [s]}}]\nsteps:\n  - send: start\n{}  - ask: {{ text: Go on?, save_as: go }}\n{}  - send: done\n",
        sets(150),
        sets(150)
    );
    let out = check(&[("long.yaml", &long), ("split.yaml", &split)], None);
    assert!(
        out.contains("long.yaml:4:5: warning: from here the flow can run 203 steps in a row without waiting, and one message runs at most 200"),
        "{out}"
    );
    assert!(
        out.contains("put an `ask`, a `delay` or a `handoff` within every 200 steps"),
        "{out}"
    );
    assert!(!out.contains("split.yaml"), "{out}");
}
