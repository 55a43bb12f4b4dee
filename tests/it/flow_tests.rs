//! `parley test` and `parley simulate` through the real binary: the example flows' test
//! files pass, a failing test reads like a diff a flow author understands, and simulate
//! shows buttons as numbered choices and explains why a message matched nothing.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn parley(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PARLEY_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("parley runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn every_example_flow_has_tests_and_they_pass() {
    let out = parley(&["test"], "");
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains('✗'), "{text}");
    // Every example flow ships with a test file of the same name.
    let flows = Path::new(env!("CARGO_MANIFEST_DIR")).join("flows");
    for flow in std::fs::read_dir(&flows).unwrap() {
        let path = flow.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let stem = path.file_stem().unwrap().to_str().unwrap();
            let test = flows.join("tests").join(format!("{stem}.test.yaml"));
            assert!(
                test.exists(),
                "{} has no test file {}",
                path.display(),
                test.display()
            );
        }
    }
}

#[test]
fn a_failing_flow_test_reads_like_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let out = parley(
        &[
            "test",
            "tests/data/failing_flow_tests",
            "--junit",
            junit.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(stdout(&out));
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains("tests=\"6\" failures=\"6\""), "{xml}");
    assert!(xml.contains("1_wrong_reply.test.yaml:7: step 2: expected the bot to reply «Great! What is your company called?»"), "{xml}");
}

#[test]
fn simulate_shows_buttons_as_numbered_choices_and_a_number_taps_one() {
    let out = parley(
        &["simulate", "--from", "+34600000001"],
        "hi\n2\nAcme\n/quit\n",
    );
    assert!(out.status.success());
    let text = stdout(&out);
    let text = regex::Regex::new(r"http://127\.0\.0\.1:\d+")
        .unwrap()
        .replace(&text, "http://127.0.0.1:PORT");
    insta::assert_snapshot!(text);
}

#[test]
fn simulate_explain_names_the_nearest_trigger_of_a_message_that_matched_nothing() {
    let out = parley(
        &[
            "simulate",
            "--from",
            "+34600000001",
            "--explain",
            "qoute",
            "please",
        ],
        "",
    );
    assert!(out.status.success());
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn simulate_commands_start_with_a_slash_and_never_reach_the_bot() {
    let out = parley(
        &["simulate", "--from", "+34600000001"],
        "/help\n/foo\n/quit\n",
    );
    assert!(out.status.success());
    let text = stdout(&out);
    // Neither line was a customer message: the bot neither answered nor stayed silent.
    assert!(
        !text.contains("bot:") && !text.contains("(no reply)"),
        "{text}"
    );
    let text = regex::Regex::new(r"http://127\.0\.0\.1:\d+")
        .unwrap()
        .replace(&text, "http://127.0.0.1:PORT");
    insta::assert_snapshot!(text);
}

#[test]
fn simulate_sends_a_message_starting_with_a_slash_when_it_starts_with_two() {
    let out = parley(&["simulate", "--from", "+34600000001"], "//menu\n/quit\n");
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("bot: Hi there! 👋 What can I do for you?"),
        "{text}"
    );
}

/// A config whose flows folder holds `files`.
fn flows_config(dir: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    for (name, text) in files {
        std::fs::write(flows.join(name), text).unwrap();
    }
    let config = dir.join("parley.yaml");
    std::fs::write(
        &config,
        format!("flows: {{ dir: \"{}\" }}\n", flows.display()),
    )
    .unwrap();
    config
}

#[test]
fn simulate_prints_a_failed_steps_error_without_explain() {
    let dir = tempfile::tempdir().unwrap();
    let config = flows_config(
        dir.path(),
        &[
            (
                "prices.yaml",
                "id: prices\ntriggers: [{keyword: [prices]}]\nsteps:\n  - script: 'throw \"the price list is missing\";'\n  - send: never\n",
            ),
            (
                "later.yaml",
                "id: later\ntriggers: [{keyword: [later]}]\nsteps:\n  - send: \"See you in an hour\"\n  - delay: 1h\n  - script: 'throw \"the hour went wrong\";'\n",
            ),
        ],
    );
    let config = config.to_str().unwrap();
    let out = parley(
        &[
            "simulate",
            "--config",
            config,
            "--from",
            "+34600000001",
            "prices",
        ],
        "",
    );
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("  ! a step failed: ")
            && text.contains("prices.yaml:4:")
            && text.contains("the price list is missing"),
        "{text}"
    );
    // A step of a timer that /advance fires fails: that is printed too.
    let out = parley(
        &["simulate", "--config", config, "--from", "+34600000001"],
        "later\n/advance 2h\n/quit\n",
    );
    let text = stdout(&out);
    let advanced = text.find("(the clock is now").expect("advanced");
    let error = text
        .find("the hour went wrong")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(error > advanced, "{text}");
    assert!(text[..error].contains("  ! a step failed: "), "{text}");
}

#[test]
fn simulate_shows_a_handoff_and_release_gives_the_bot_back() {
    let out = parley(
        &["simulate", "--from", "+34600000001"],
        "hi\n3\nhello?\n/release\nhi\n/release\n/quit\n",
    );
    assert!(out.status.success());
    let text = stdout(&out);
    let text = regex::Regex::new(r"http://127\.0\.0\.1:\d+")
        .unwrap()
        .replace(&text, "http://127.0.0.1:PORT");
    let text = regex::Regex::new(r"until (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC")
        .unwrap()
        .replace_all(&text, "until HH:MM UTC");
    insta::assert_snapshot!(text);
}

const BOOKING_FORM: &str = r#"id: booking
triggers:
  - keyword: [book]
steps:
  - form:
      flow_id: "1197715005513101"
      text: "Book a visit"
      cta: Book now
      screen: APPOINTMENT
      save_as: booking
      fields:
        - { name: date, type: date, required: true }
        - { name: people, type: number, required: true }
      timeout: 1h
      on_timeout: nudge
  - send: "See you on {{ vars.booking.date }}, {{ vars.booking.people }} of you"
  - end: {}
  - id: nudge
    send: "Still want to book?"
"#;

const BOOKING_TEST: &str = r#"name: A form is filled in, and one is left alone
steps:
  - customer: book
  - expect_reply: { kind: form, text: "Book a visit" }
  - customer_submits_form: { date: "2027-01-15", people: 2 }
  - expect_reply: "See you on 2027-01-15, 2 of you"
  - expect_vars: { booking: { date: "2027-01-15", people: 2 } }
  - customer: book
  - expect_reply: { kind: form }
  - advance: 61m
  - expect_reply: "Still want to book?"
"#;

#[test]
fn parley_test_submits_a_form_and_checks_its_answers() {
    let dir = tempfile::tempdir().unwrap();
    let config = flows_config(dir.path(), &[("booking.yaml", BOOKING_FORM)]);
    let tests = dir.path().join("flows/tests");
    std::fs::create_dir_all(&tests).unwrap();
    std::fs::write(tests.join("booking.test.yaml"), BOOKING_TEST).unwrap();
    let out = parley(&["test", "--config", config.to_str().unwrap()], "");
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("1 test: 1 passed") || text.contains("1 passed"),
        "{text}"
    );
    // Submitting before any form was sent says so in words.
    std::fs::write(
        tests.join("booking.test.yaml"),
        "name: No form yet\nsteps:\n  - customer_submits_form: { date: \"2027-01-15\" }\n",
    )
    .unwrap();
    let out = parley(&["test", "--config", config.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("the customer should submit a form, but the bot has not sent one"),
        "{}",
        stdout(&out)
    );
}

/// Broken flows fail every test the same way: `parley test` says their errors once and
/// runs none, instead of repeating them under each test.
#[test]
fn broken_flows_are_reported_once_and_no_test_runs() {
    let dir = tempfile::tempdir().unwrap();
    let broken = "id: booking\ntriggers: [{keyword: [book]}]\nsteps:\n  - sned: hi\n";
    let config = flows_config(dir.path(), &[("booking.yaml", broken)]);
    let tests = dir.path().join("flows/tests");
    std::fs::create_dir_all(&tests).unwrap();
    for n in 1..=3 {
        std::fs::write(
            tests.join(format!("t{n}.test.yaml")),
            "name: Books\nsteps:\n  - customer: book\n  - expect_reply: hi\n",
        )
        .unwrap();
    }
    let out = parley(&["test", "--config", config.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the flows have errors, so no test ran"),
        "{err}"
    );
    assert_eq!(err.matches("`sned` is not a step").count(), 1, "{err}");
    assert!(!stdout(&out).contains("Books"), "{}", stdout(&out));
}

/// `parley check` reads the flows' test files too (a broken one passed `check` and failed
/// only in `parley test`), without running them.
#[test]
fn check_reads_the_test_files() {
    let dir = tempfile::tempdir().unwrap();
    let flow = "id: booking\ntriggers: [{keyword: [book]}]\nsteps:\n  - send: hi\n";
    let config = flows_config(dir.path(), &[("booking.yaml", flow)]);
    let tests = dir.path().join("flows/tests");
    std::fs::create_dir_all(&tests).unwrap();
    std::fs::write(
        tests.join("good.test.yaml"),
        "name: Books\nsteps:\n  - customer: book\n  - expect_reply: hi\n",
    )
    .unwrap();
    let out = parley(&["check", "--config", config.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", stdout(&out));
    std::fs::write(
        tests.join("bad.test.yaml"),
        "name: Books\nsteps:\n  - customer: book\n  - expect_replay: hi\n",
    )
    .unwrap();
    let out = parley(&["check", "--config", config.to_str().unwrap()], "");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("bad.test.yaml:4:"), "{text}");
    assert!(text.contains("the test file is not valid"), "{text}");
    assert!(text.contains("1 test file(s) with errors"), "{text}");
    assert!(!text.contains("good.test.yaml"), "{text}");
}

#[test]
fn simulate_shows_a_forms_fields_and_form_submits_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = flows_config(dir.path(), &[("booking.yaml", BOOKING_FORM)]);
    let out = parley(
        &[
            "simulate",
            "--config",
            config.to_str().unwrap(),
            "--from",
            "+34600000001",
        ],
        "/form date=2027-01-15\nbook\n/form date=2027-01-15 people=2\n/quit\n",
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("(the bot has not sent a form: nothing to fill in)"),
        "{text}"
    );
    assert!(
        text.contains("bot: Book a visit\n  [form] Book now\n    date (date, required)\n    people (number, required)"),
        "{text}"
    );
    assert!(
        text.contains("(you submitted the form)\nbot: See you on 2027-01-15, 2 of you"),
        "{text}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_flow_test_fails_at_the_line_whose_model_answers_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let too_few = write(
        dir.path(),
        "few.test.yaml",
        "name: few\nsteps:\n  - customer: \"question: order A-12345\"\n    model:\n      - tool: save\n        arguments: { order_number: \"A-12345\" }\n  - expect_reply: x\n",
    );
    let too_many = write(
        dir.path(),
        "many.test.yaml",
        "name: many\nsteps:\n  - customer: \"question: hi\"\n    model:\n      - say: Hello\n      - say: Unused\n  - expect_reply: Hello\n",
    );
    let none = write(
        dir.path(),
        "none.test.yaml",
        "name: none\nsteps:\n  - customer: \"question: hi\"\n  - expect_reply: Hello\n",
    );
    let out = parley(&["test", &too_few, &too_many, &none], "");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("few.test.yaml:3:5): the flow asked model `assistant` a 2nd time for «question: order A-12345», but line 3 gives only 1 answer"), "{text}");
    assert!(text.contains("many.test.yaml:3:5): line 3 gives model `assistant` 2 answers, but the flow asked it only 1 time: remove the 1 unused answer"), "{text}");
    assert!(text.contains("none.test.yaml:3:5): the flow asked model `assistant` for «question: hi», but line 3 gives it no answers"), "{text}");
}

/// A misspelt tool in a test's scripted answers is refused at run time like any tool the
/// step does not declare; the failure that follows says so.
#[test]
fn a_failing_flow_test_names_the_tool_calls_parley_refused() {
    let dir = tempfile::tempdir().unwrap();
    let misspelt = write(
        dir.path(),
        "misspelt.test.yaml",
        "name: misspelt\nsteps:\n  - customer: \"question: order A-12345\"\n    model:\n      - tool: sav\n        arguments: { order_number: \"A-12345\" }\n      - say: Noted\n  - expect_reply: Noted\n  - expect_vars: { order_number: A-12345 }\n",
    );
    let out = parley(&["test", &misspelt], "");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("Step 3 (")
            && text.contains("misspelt.test.yaml:9:5): expected the variable `order_number`"),
        "{text}"
    );
    assert!(
        text.contains("\n      note: Parley refused the model's tool call sav {\"order_number\":\"A-12345\"}: `sav` is not an action you can take here; you can: save"),
        "{text}"
    );
}

#[test]
fn recorded_model_exchanges_replay_offline_and_a_changed_request_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let test = write(
        dir.path(),
        "ship.test.yaml",
        "name: ship\nsteps:\n  - customer: \"question: when does my order ship?\"\n  - expect_reply: { text_contains: \"Orders placed before 14:00\" }\n",
    );
    let out = parley(&["test", "--record", &test], "");
    assert!(out.status.success(), "{}", stdout(&out));
    let recording = dir.path().join("ship.exchanges.yaml");
    // The report says what was written, under the test's line.
    let wrote = format!(
        "✓ ship ({test}, 2 steps)\n    recorded 1 model exchange in {}\n",
        recording.display()
    );
    assert!(stdout(&out).contains(&wrote), "{}", stdout(&out));
    let recorded = std::fs::read_to_string(&recording).unwrap();
    assert!(recorded.contains("model: assistant"), "{recorded}");
    assert!(recorded.contains("when does my order ship?"), "{recorded}");
    let out = parley(&["test", &test], "");
    assert!(out.status.success(), "{}", stdout(&out));
    // The customer's words changed since the recording: the test names the field.
    std::fs::write(
        &test,
        std::fs::read_to_string(&test)
            .unwrap()
            .replace("when does my order ship", "when will it ship"),
    )
    .unwrap();
    let out = parley(&["test", &test], "");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("differs from call 1 of the recording at `request.messages[0].text`"),
        "{text}"
    );
    assert!(
        text.contains("recorded: «question: when does my order ship?»"),
        "{text}"
    );
    assert!(text.contains("run `parley test --record` again"), "{text}");
}

/// The README's road to a real number: the sandbox sender of `parley init`, and a Meta
/// sender beside it that the scheduled flow names.
const SANDBOX_AND_META: &str = r#"senders:
  - { id: 3, name: Sandbox, channel: sandbox, phone_number: "+15550000000" }
  - id: 1
    name: Support
    channel: meta
    phone_number: "+15550783881"
    meta: { phone_number_id: "106540352242922", access_token: t, app_secret: s, verify_token: v }
"#;

const NUDGE_FLOWS: [(&str, &str); 2] = [
    (
        "tag.yaml",
        "id: tag\ntriggers:\n  - keyword: [cart]\nsteps:\n  - tag: cart_open\n  - send: \"Saved.\"\n",
    ),
    (
        "nudge.yaml",
        "id: nudge\nschedule:\n  cron: \"0 18 * * *\"\n  sender: 1\n  audience: { tags: [cart_open] }\nsteps:\n  - send: { text: \"Still there?\", if_window_closed: skip }\n",
    ),
];

#[test]
fn a_scheduled_flow_naming_the_real_sender_passes_check_test_and_simulate() {
    let dir = tempfile::tempdir().unwrap();
    let config = flows_config(dir.path(), &NUDGE_FLOWS);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}{SANDBOX_AND_META}")).unwrap();
    let tests = dir.path().join("flows/tests");
    std::fs::create_dir_all(&tests).unwrap();
    std::fs::write(
        tests.join("nudge.test.yaml"),
        "name: The real number nudges an open cart\ncontact: { phone: \"+34600000008\" }\nsteps:\n  - customer: cart\n  - expect_reply: Saved.\n  - run_schedule: nudge\n  - expect_reply: Still there?\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let check = parley(&["check", "--config", config], "");
    assert!(check.status.success(), "{}", stdout(&check));
    let out = parley(&["test", "--config", config], "");
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
    let out = parley(
        &[
            "simulate",
            "--config",
            config,
            "--from",
            "+34600000001",
            "cart",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("Saved."), "{}", stdout(&out));
}

/// A reply the window stopped (skipped) does not pass for one the customer got: the test
/// fails and says how to expect it on purpose.
#[test]
fn expect_reply_fails_for_a_reply_that_never_reached_the_customer() {
    const PING: &str = "id: ping\ntriggers: [{keyword: [ping]}]\nsteps:\n  - send: Pong\n  - delay: 25h\n  - send: { text: \"Still there?\", if_window_closed: skip }\n";
    let dir = tempfile::tempdir().unwrap();
    let config = flows_config(dir.path(), &[("ping.yaml", PING)]);
    let tests = dir.path().join("flows/tests");
    std::fs::create_dir_all(&tests).unwrap();
    let write_test = |expect: &str| {
        std::fs::write(
            tests.join("ping.test.yaml"),
            format!("name: Ping\nsteps:\n  - customer: ping\n  - expect_reply: Pong\n  - advance: 25h\n  - expect_reply: {expect}\n"),
        )
        .unwrap();
        parley(&["test", "--config", config.to_str().unwrap()], "")
    };
    let out = write_test("Still there?");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("never reached the customer") && text.contains("add `status: skipped`"),
        "{text}"
    );
    let out = write_test("{ text: \"Still there?\", status: skipped }");
    assert!(out.status.success(), "{}", stdout(&out));
}
