use super::*;

#[test]
fn parses_steps_with_their_lines() {
    let f = parse(
        "name: t\ncontact: { phone: \"+34600000001\", name: Ana }\nsteps:\n  - customer: hi\n  - expect_reply:\n      text: Hello\n      buttons: [A, B]\n  - advance: 23h\n  - expect_template: { name: cart_reminder, variables: { \"1\": Ana } }\n  - expect_no_reply: true\n",
    )
    .unwrap();
    assert_eq!(f.phone, "+34600000001");
    let lines: Vec<(usize, usize)> = f.steps.iter().map(|(p, _)| (p.line, p.column)).collect();
    assert_eq!(lines, vec![(4, 5), (5, 5), (8, 5), (9, 5), (10, 5)]);
    assert_eq!(f.steps[0].1, Step::Customer("hi".into()));
    assert_eq!(
        f.steps[2].1,
        Step::Advance(std::time::Duration::from_secs(23 * 3600))
    );
    let Step::ExpectReply(t) = &f.steps[3].1 else {
        panic!()
    };
    assert_eq!(t.template.as_deref(), Some("cart_reminder"));
}

#[test]
fn mistakes_name_the_step_and_line() {
    let e = parse("name: t\nsteps:\n  - customer: hi\n  - custmer: hello\n").unwrap_err();
    assert_eq!((e.line, e.column), (4, Some(5)));
    assert!(
        e.message
            .starts_with("step 2: `custmer` is not a step (did you mean `customer`?)"),
        "{}",
        e.message
    );
    let e = parse("name: t\nsteps:\n  - advance: soon\n").unwrap_err();
    assert!(e.message.contains("is not a duration"), "{}", e.message);
}

#[test]
fn a_line_out_of_step_is_named_as_in_flow_files() {
    let e = parse("name: t\nsteps:\n  - customer: hi\n   - expect_reply: \"Hello\"\n").unwrap_err();
    assert_eq!((e.line, e.column), (4, Some(4)));
    assert!(
        e.message.starts_with(
            "this line is not lined up with the lines above it (the YAML reader says: "
        ),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains("line 4 starts a list item (`- `) at column 4"),
        "{}",
        e.message
    );
}

#[test]
fn an_advance_past_ten_years_is_refused_at_its_line() {
    let e = parse("name: t\nsteps:\n  - customer: hi\n  - advance: 500000y\n").unwrap_err();
    assert_eq!((e.line, e.column), (4, Some(14)));
    assert_eq!(
        e.message,
        "step 2: `advance` of 500000y is longer than the longest Parley accepts, 10 years; advance in shorter steps"
    );
    assert!(parse("name: t\nsteps:\n  - advance: 10y\n").is_ok());
}

#[test]
fn a_customer_line_carries_its_model_answers() {
    let f = parse("name: t\nsteps:\n  - customer: \"A-12345\"\n    model:\n      - tool: save\n        arguments: { order_number: A-12345 }\n      - say: Noted\n      - fail: down\n  - expect_reply: Noted\n").unwrap();
    assert_eq!(f.steps[0].1, Step::Customer("A-12345".into()));
    let Some(ModelAnswers::Only(answers)) = f.model_answers.get(&0) else {
        panic!("{:?}", f.model_answers)
    };
    let ModelAnswer::Answer(save) = &answers[0] else {
        panic!()
    };
    assert_eq!(save.tool_calls[0].name, "save");
    assert_eq!(
        save.tool_calls[0].arguments,
        serde_json::json!({"order_number": "A-12345"})
    );
    assert_eq!(answers[2], ModelAnswer::Failure("down".into()));
    assert!(!f.model_answers.contains_key(&1));

    let e = parse("name: t\nsteps:\n  - expect_reply: hi\n    model: [hello]\n").unwrap_err();
    assert_eq!((e.line, e.column), (4, Some(5)));
    assert!(
        e.message.contains("not under `expect_reply`"),
        "{}",
        e.message
    );
    let e = parse("name: t\nsteps:\n  - customer: hi\n    model:\n      - arguments: { a: 1 }\n")
        .unwrap_err();
    assert!(
        e.message
            .contains("answer 1 says nothing and calls no tool"),
        "{}",
        e.message
    );
    assert_eq!((e.line, e.column), (5, Some(9)));
}

/// A mistake inside a step points at the setting or answer it is about, not only at
/// the step's line.
#[test]
fn mistakes_inside_a_step_point_at_their_line_and_column() {
    let at = |text: &str| {
        let e = parse(text).unwrap_err();
        (e.line, e.column.expect("a column"), e.message)
    };
    // A misspelt check inside `expect_reply`, on the step's second line.
    let (line, column, message) = at(
        "name: t\nsteps:\n  - customer: hi\n  - expect_reply:\n      text: Hello\n      text_containz: Hi\n",
    );
    assert_eq!((line, column), (6, 7), "{message}");
    assert!(
        message.contains("unknown field `text_containz`"),
        "{message}"
    );
    // The same in a one-line step.
    let (line, column, _) = at("name: t\nsteps:\n  - expect_reply: { text: a, buttonz: [B] }\n");
    assert_eq!((line, column), (3, 30));
    // The third answer of a `model:` list, and of a list by model name.
    let (line, column, message) = at(
        "name: t\nsteps:\n  - customer: hi\n    model:\n      - say: a\n      - say: b\n      - arguments: { a: 1 }\n",
    );
    assert_eq!((line, column), (7, 9), "{message}");
    let (line, column, message) = at(
        "name: t\nsteps:\n  - customer: hi\n    model:\n      triage:\n        - say: a\n        - fail: down\n          say: b\n",
    );
    assert_eq!((line, column), (7, 11), "{message}");
    assert!(
        message.starts_with("step 1: model `triage`: answer 2: `fail` stands alone"),
        "{message}"
    );
    // A value of the wrong kind points at the value.
    let (line, column, _) = at("name: t\nsteps:\n  - customer:\n      - a\n");
    assert_eq!((line, column), (4, 7));
    // `start:` that is not a date.
    let (line, column, _) = at("name: t\nstart: next monday\nsteps:\n  - customer: hi\n");
    assert_eq!((line, column), (2, 8));
}

/// The file's one error as `parley check` shows it: `line:column: message`.
fn error_of(text: &str) -> String {
    let e = parse(text).unwrap_err();
    format!("{}:{}: {}", e.line, e.column.expect("a column"), e.message)
}

/// A step of a test with one step before it (on line 3), so its own line is 4.
fn second_step(step: &str) -> String {
    format!("name: t\nsteps:\n  - customer: hi\n  - {step}\n")
}

/// Each of these passed while checking nothing: a null became an empty list or map, and
/// an item that is not a tag's name was dropped.
#[test]
fn a_check_with_nothing_to_check_is_refused_at_its_step() {
    let steps = [
        "expect_vars:",
        "expect_vars: {}",
        "expect_contact:",
        "expect_tags:",
        "expect_no_tags:",
        "expect_tags: [{lead: true}]",
        "expect_tags: [vip: true]",
        "expect_tags: [lead, true]",
        "expect_no_tags: {lead: yes}",
    ];
    let shown: Vec<String> = steps
        .iter()
        .map(|s| format!("- {s}\n  {}", error_of(&second_step(s))))
        .collect();
    insta::assert_snapshot!(shown.join("\n"));
}

#[test]
fn a_number_as_a_tag_is_the_tag_of_that_name() {
    let f = parse(&second_step("expect_tags: [2024, vip]")).unwrap();
    assert_eq!(
        f.steps[1].1,
        Step::ExpectTags(vec!["2024".into(), "vip".into()])
    );
    let f = parse(&second_step("expect_no_tags: 007")).unwrap();
    assert_eq!(f.steps[1].1, Step::ExpectNoTags(vec!["007".into()]));
}

/// YAML reads `+34600000001` as the number 34600000001 and `12.50` as 12.5; the test
/// sends and expects what the file says.
#[test]
fn unquoted_numbers_are_sent_and_expected_as_written() {
    let f = parse(
        "name: t\nsteps:\n  - customer: +34600000001\n  - customer: 12.50\n  - customer: 2\n  - customer_taps: 02\n  - expect_reply: 12.50\n  - expect_reply: { text: 1.0, buttons: [1, 2.50] }\n  - expect_vars: { total: 12.50, name: Ana }\n",
    )
    .unwrap();
    let steps: Vec<&Step> = f.steps.iter().map(|(_, s)| s).collect();
    assert_eq!(steps[0], &Step::Customer("+34600000001".into()));
    assert_eq!(steps[1], &Step::Customer("12.50".into()));
    assert_eq!(steps[2], &Step::Customer("2".into()));
    assert_eq!(steps[3], &Step::CustomerTaps("02".into()));
    let Step::ExpectReply(e) = steps[4] else {
        panic!("{:?}", steps[4])
    };
    assert_eq!(e.text.as_deref(), Some("12.50"));
    let Step::ExpectReply(e) = steps[5] else {
        panic!("{:?}", steps[5])
    };
    assert_eq!(e.text.as_deref(), Some("1.0"));
    assert_eq!(e.buttons, Some(vec!["1".into(), "2.50".into()]));
    let Step::ExpectVars(vars) = steps[6] else {
        panic!("{:?}", steps[6])
    };
    assert_eq!(vars["total"].written.as_deref(), Some("12.50"));
    assert_eq!(vars["total"].value, serde_json::json!(12.5));
    assert_eq!(vars["name"].written, None);
    // A file with anchors has no marked tree to read the text from (nor places): quoting
    // is the way.
    assert_eq!(
        parse("name: t\nsteps:\n  - customer: &total 12.50\n")
            .unwrap_err()
            .message,
        "step 1: put the text after `customer:` in quotes, like `customer: \"12.50\"`, so Parley reads it exactly as written"
    );
}

/// The settings of a check written under the step's dash instead of under the check.
#[test]
fn a_setting_beside_its_check_says_to_indent_it() {
    let text = "name: t\nsteps:\n  - customer: hi\n  - expect_reply:\n    text_contains: \"nothing like this\"\n";
    assert_eq!(
        error_of(text),
        "5:5: step 2: `text_contains:` belongs under `expect_reply:`; indent it two more spaces so it lines up under `expect_reply`'s contents"
    );
    // Beside a check that has some settings under it: line it up with those.
    let text = "name: t\nsteps:\n  - expect_reply:\n      text: Hello\n    buttons: [A, B]\n";
    assert_eq!(
        error_of(text),
        "5:5: step 1: `buttons:` belongs under `expect_reply:`; indent it two more spaces so it lines up with `text:`"
    );
    let text = "name: t\nsteps:\n  - expect_vars:\n    company: Acme\n";
    assert_eq!(
        error_of(text),
        "4:5: step 1: `company:` belongs under `expect_vars:`; indent it two more spaces so it lines up under `expect_vars`'s contents"
    );
    // Two actions in one step are still two actions.
    let e = error_of("name: t\nsteps:\n  - customer: hi\n    expect_reply: Hello\n");
    assert!(e.contains("write one action or check per step"), "{e}");
}

#[test]
fn a_colon_inside_a_text_says_to_put_the_text_in_quotes() {
    assert_eq!(
        error_of("name: t\nsteps:\n  - customer: hi\n  - expect_reply: You said: 12.50\n"),
        "4:19: the text after `expect_reply:` has `: ` in it, which YAML reads as the start of another setting; put the text in quotes: `expect_reply: \"You said: 12.50\"`"
    );
    assert_eq!(
        error_of("name: t\nsteps:\n  - customer: I said \"hi\": twice\n"),
        "3:15: the text after `customer:` has `: ` in it, which YAML reads as the start of another setting; put the text in quotes: `customer: 'I said \"hi\": twice'`"
    );
}

/// A broken pattern used to be found only when its step ran; `parley check` missed it.
#[test]
fn a_broken_text_matches_pattern_is_refused_when_the_file_is_read() {
    let text =
        "name: t\nsteps:\n  - customer: ping\n  - expect_reply: { text_matches: \"pong (\" }\n";
    assert_eq!(
        error_of(text),
        "4:35: step 2: expect_reply: `text_matches` is not a pattern Parley can read: `pong (` (unclosed group); to match one of ( ) [ ] { } . * + ? | ^ $ as it is, put a backslash before it, like `pong \\(` (two backslashes inside double quotes: \"pong \\\\(\")"
    );
    let text = "name: t\nsteps:\n  - expect_reply:\n      text: pong\n      text_matches: \"^pong \\\\($\"\n";
    let f = parse(text).unwrap();
    let Step::ExpectReply(e) = &f.steps[0].1 else {
        panic!()
    };
    assert!(e.text_matches.as_ref().unwrap().is_match("pong ("));
}

#[test]
fn an_empty_value_is_reported_on_its_steps_own_line() {
    assert_eq!(
        error_of("name: t\nsteps:\n  - customer:\n  - expect_reply: hi\n"),
        "3:5: step 1: `customer` needs a text after it, like `customer: hi`"
    );
    assert_eq!(
        error_of("name: t\nsteps:\n  - customer: hi\n  - expect_reply:\n  - customer: bye\n"),
        "4:5: step 2: `expect_reply` needs the reply's text after it, like `expect_reply: \"Hello\"`, or checks on the lines under it, indented two more spaces, like `text_contains: Hello`"
    );
}

/// The YAML reader counts steps from 0 (`steps[1]`); every other message from 1.
#[test]
fn a_setting_written_twice_names_the_step_counted_from_one() {
    assert_eq!(
        error_of(
            "name: t\nsteps:\n  - customer: hi\n  - expect_reply:\n      text: a\n      text: b\n"
        ),
        "6:7: step 2: `text` is written twice in `expect_reply` (lines 5 and 6); keep one"
    );
    assert_eq!(
        error_of("name: t\nsteps:\n  - customer: hi\n    customer: ho\n"),
        "4:5: step 1: `customer` is written twice (lines 3 and 4); keep one (each action or check goes on its own `- ` line)"
    );
}

/// `no` and `0` were read as true: any value but false was.
#[test]
fn a_yes_or_no_step_takes_true_or_false_only() {
    for (step, error) in [
        ("expect_no_reply: no", "4:22: step 2: `expect_no_reply` takes true or false, not `no`: write `expect_no_reply: true`"),
        ("expect_no_reply: 0", "4:22: step 2: `expect_no_reply` takes true or false, not `0`: write `expect_no_reply: true`"),
        ("duplicate_last_webhook: no", "4:29: step 2: `duplicate_last_webhook` takes true or false, not `no`: write `duplicate_last_webhook: true`"),
        ("expect_no_reply:", "4:5: step 2: `expect_no_reply` needs `true` after it: write `expect_no_reply: true`"),
        ("expect_no_reply: false", "4:22: step 2: `expect_no_reply: false` does nothing; remove the step"),
    ] {
        assert_eq!(error_of(&second_step(step)), error, "{step}");
    }
    let f = parse(&second_step("expect_no_reply: true")).unwrap();
    assert_eq!(f.steps[1].1, Step::ExpectNoReply);
    let f = parse(&second_step("duplicate_last_webhook: True")).unwrap();
    assert_eq!(f.steps[1].1, Step::DuplicateLastWebhook);
}
