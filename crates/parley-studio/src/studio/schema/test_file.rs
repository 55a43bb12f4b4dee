//! The schema of a flow test file (`flows/tests/*.test.yaml`), with the README's words for
//! each key ("`parley test`: flow tests", "Testing agent flows").
//!
//! The test files' parser lives in the daemon (`cli::flowtest::format`), above this crate
//! on the layer map: it reads the kinds of steps and the steps with model answers from
//! here (`STEP_KINDS`, `MODEL_STEPS`), and the schema test (`tests/it/schema.rs`) holds
//! the settings described here equal to the parser's (`REPLY_SETTINGS`) and runs every
//! test file through both.

use super::json::DURATION_PATTERN;
use super::KeyDoc;
use serde_json::{json, Map, Value};

/// A key of a test file: where it is written, its words, and its value's schema.
struct TestKey {
    group: Group,
    key: &'static str,
    doc: &'static str,
    example: &'static str,
    takes: &'static str,
}

/// The groups of a test file that hold named keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Top,
    Contact,
    Step,
    Reply,
    Answer,
}

const fn k(
    group: Group,
    key: &'static str,
    takes: &'static str,
    doc: &'static str,
    example: &'static str,
) -> TestKey {
    TestKey {
        group,
        key,
        doc,
        example,
        takes,
    }
}

use Group::*;

/// Every key of a test file, in the README's order.
const KEYS: &[TestKey] = &[
    k(Top, "name", "text", "What the test shows, in a sentence: it names the test in `parley test`'s report. Required.", "name: Lead capture asks, validates and remembers"),
    k(Top, "contact", "settings", "Who the customer is (optional): `phone` and `name`.", "contact: { phone: \"+34600000003\", name: Carmen }"),
    k(Top, "language", "a language code", "The customer's language (the contact's `language` field) before the first message, for flows with `languages:`.", "language: es"),
    k(Top, "start", "a date and time", "When the clock starts (RFC 3339); a Monday 09:00 UTC by default.", "start: 2026-01-05T09:00:00Z"),
    k(Top, "steps", "a list", "The conversation, one line or check per step. Required.", "steps:\n  - customer: hi\n  - expect_reply: \"Hello!\""),
    k(Contact, "phone", "text", "The customer's phone number (default +15551230000).", "phone: \"+34600000003\""),
    k(Contact, "name", "text", "The customer's WhatsApp name.", "name: Carmen"),
    k(Step, "customer", "text", "The customer writes this (put text with ` #` or `: ` in quotes); numbers are sent as written.", "- customer: hi"),
    k(Step, "customer_taps", "text", "Taps a button or list row the bot offered, by its title or id.", "- customer_taps: Get a quote"),
    k(Step, "customer_sends", "settings", "Any other message, as in the sandbox API (`media`, `location`, `button`, `quick_reply`, `address`…).", "- customer_sends: { location: { latitude: 40.4, longitude: -3.7 } }"),
    k(Step, "customer_submits_form", "settings", "Fills in and submits the last form (`form` step) the bot sent.", "- customer_submits_form: { date: \"2027-01-15\", people: 2 }"),
    k(Step, "expect_reply", "text or settings", "The bot's next reply: exactly this text, or checks on it (`text`, `text_contains`, `text_matches`, `buttons`, `list`, `template` + `variables`, `kind`, `status`).", "- expect_reply: { text_contains: \"Which email\" }"),
    k(Step, "expect_template", "text or settings", "The next reply is this template (by `name`, with its `variables`).", "- expect_template: { name: cart_reminder, variables: { \"1\": Ana } }"),
    k(Step, "expect_no_reply", "true", "The bot said nothing (more); it takes `true` only.", "- expect_no_reply: true"),
    k(Step, "expect_vars", "names and values", "The variables of the flow in progress, or of the one that just ended.", "- expect_vars: { company: Acme, team_size: 12 }"),
    k(Step, "expect_contact", "names and values", "Details saved on the contact (`name` too).", "- expect_contact: { email: carmen@acme.com }"),
    k(Step, "expect_tags", "one, or a list", "The contact has these tags.", "- expect_tags: [lead]"),
    k(Step, "expect_no_tags", "one, or a list", "The contact has none of these tags.", "- expect_no_tags: [cart_open]"),
    k(Step, "advance", "a duration like 23h", "The clock moves on (at most `10y` a step); every timer, reminder and schedule due on the way runs at its own time.", "- advance: 23h"),
    k(Step, "run_schedule", "a flow id", "A scheduled flow fires now, for its audience.", "- run_schedule: abandoned_cart"),
    k(Step, "duplicate_last_webhook", "true", "The last customer message is delivered again, with the same id.", "- duplicate_last_webhook: true"),
    k(Step, "model", "a list", "Under a step where the customer writes or time passes: what the flow's language model answers meanwhile, in order (or lists by model name).", "- customer: \"where is my order A-12345?\"\n  model:\n    - tool: save\n      arguments: { order_number: \"A-12345\" }\n    - say: \"Order A-12345 ships tomorrow.\""),
    k(Reply, "text", "text", "The reply is exactly this text.", "text: \"Hello!\""),
    k(Reply, "text_contains", "text", "The reply's text contains this.", "text_contains: \"Which email\""),
    k(Reply, "text_matches", "a pattern", "The reply's text matches this regular expression.", "text_matches: \"^How many people\""),
    k(Reply, "buttons", "a list", "The reply's button titles (or ids), in order.", "buttons: [My order, Get a quote, Talk to a person]"),
    k(Reply, "list", "a list", "The reply's list row titles (or ids), in order.", "list: [Small, Large]"),
    k(Reply, "template", "text", "The reply is this template.", "template: cart_reminder"),
    k(Reply, "template_name", "text", "The template's name (as `template`).", "template_name: cart_reminder"),
    k(Reply, "name", "text", "The template's name (as `template`).", "name: cart_reminder"),
    k(Reply, "variables", "names and values", "The template's variables.", "variables: { \"1\": Ana }"),
    k(Reply, "kind", "text", "The reply's kind: text, buttons, list, image, template…", "kind: buttons"),
    k(Reply, "status", "text", "`accepted` for a reply that went out, or `skipped`, `failed`; without it a reply that was skipped or failed fails the test.", "status: skipped"),
    k(Answer, "say", "text", "What the model says.", "- say: \"Order A-12345 ships tomorrow.\""),
    k(Answer, "tool", "text", "A tool the model calls (`save`, `goto_flow`, `handoff`, `tag`, `send_buttons`, `end`).", "- tool: save\n  arguments: { order_number: \"A-12345\" }"),
    k(Answer, "arguments", "settings", "The tool call's arguments.", "arguments: { order_number: \"A-12345\" }"),
    k(Answer, "fail", "text", "The call fails with this reason, as a model that is down would; it stands alone.", "- fail: \"timed out\""),
];

/// The kinds of test steps: the list the parser reads (`format::STEP_KINDS`).
pub const STEP_KINDS: &[&str] = &[
    "customer",
    "customer_taps",
    "customer_sends",
    "customer_submits_form",
    "expect_reply",
    "expect_template",
    "expect_no_reply",
    "expect_vars",
    "expect_contact",
    "expect_tags",
    "expect_no_tags",
    "advance",
    "run_schedule",
    "duplicate_last_webhook",
];

/// The steps that may carry `model:` answers: the list the parser reads (`format::MODEL_STEPS`).
pub const MODEL_STEPS: &[&str] = &[
    "customer",
    "customer_taps",
    "customer_sends",
    "customer_submits_form",
    "advance",
    "run_schedule",
    "duplicate_last_webhook",
];

/// The keys of `expect_reply` and `expect_template` (`format::REPLY_SETTINGS`).
pub fn reply_settings() -> Vec<&'static str> {
    keys_of(Reply)
}

fn keys_of(group: Group) -> Vec<&'static str> {
    KEYS.iter()
        .filter(|k| k.group == group)
        .map(|k| k.key)
        .collect()
}

/// The keys that may be written at `path` of a test file (the keys from the top down, list
/// items not named): `[]` the top, `["contact"]`, `["steps"]` a step, `["steps",
/// "expect_reply"]` its checks, `["steps", "model"]` an answer.
pub fn test_key_docs(path: &[&str]) -> Vec<KeyDoc> {
    let path: Vec<&str> = path
        .iter()
        .copied()
        .filter(|s| !s.is_empty() && *s != "-" && s.parse::<usize>().is_err())
        .collect();
    let group = match path.as_slice() {
        [] => Top,
        ["contact"] => Contact,
        ["steps"] => Step,
        ["steps", "expect_reply" | "expect_template"] => Reply,
        ["steps", "model"] | ["steps", "model", _] => Answer,
        _ => return Vec::new(),
    };
    KEYS.iter()
        .filter(|k| k.group == group)
        .map(|k| KeyDoc {
            key: k.key,
            description: k.doc,
            example: k.example,
            takes: k.takes,
            choices: &[],
        })
        .collect()
}

/// A single value, as a step's text: YAML's numbers and yes/no are sent as written.
fn text() -> Value {
    json!({ "type": ["string", "number", "boolean"] })
}

/// `schema`, or nothing written (a setting left empty reads as not given).
fn or_null(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

/// The value schemas of the keys, by group and key.
fn value(group: Group, key: &str) -> Value {
    let yes = json!({ "const": true });
    let names = json!({ "type": "object", "minProperties": 1 });
    let tags = json!({ "anyOf": [
        { "type": ["string", "number"] },
        { "type": "array", "minItems": 1, "items": { "type": ["string", "number"] } },
    ] });
    let reply = json!({ "$ref": "#/definitions/reply" });
    let answers =
        json!({ "type": "array", "maxItems": 50, "items": { "$ref": "#/definitions/answer" } });
    match (group, key) {
        (Top, "contact") => json!({ "$ref": "#/definitions/contact" }),
        (Top, "start") => json!({ "type": "string", "format": "date-time" }),
        (Top, "language") => {
            json!({ "type": "string", "pattern": "^[a-z]{2,3}(_[A-Z]{2})?$" })
        }
        (Top, "steps") => json!({ "type": "array", "items": { "$ref": "#/definitions/step" } }),
        (Contact, "phone") | (Top, "name") => text(),
        (Contact, "name") => or_null(text()),
        (Step, "customer_sends" | "customer_submits_form") => json!({ "type": "object" }),
        (Step, "expect_reply") => json!({ "anyOf": [reply, text()] }),
        (Step, "expect_template") => json!({ "anyOf": [{
            "allOf": [reply],
            "anyOf": [
                { "required": ["name"] },
                { "required": ["template"] },
                { "required": ["template_name"] },
            ],
        }, text()] }),
        (Step, "expect_no_reply" | "duplicate_last_webhook") => yes,
        (Step, "expect_vars" | "expect_contact") => names,
        (Step, "expect_tags" | "expect_no_tags") => tags,
        (Step, "advance") => json!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "patternErrorMessage": "a duration like 23h, 10m or 1h 30m",
        }),
        (Step, "model") => json!({ "anyOf": [
            answers.clone(),
            { "type": "object", "additionalProperties": answers },
        ] }),
        (Reply, "buttons" | "list") => or_null(json!({ "type": "array", "items": text() })),
        (Reply, "variables") => {
            or_null(json!({ "type": "object", "additionalProperties": text() }))
        }
        (Reply, _) => or_null(text()),
        (Answer, "arguments") => json!({ "type": ["object", "null"] }),
        (Answer, _) => json!({ "type": "string" }),
        _ => text(),
    }
}

/// A group as an object with exactly its keys, each described.
fn object(group: Group) -> Map<String, Value> {
    let mut properties = Map::new();
    for key in KEYS.iter().filter(|k| k.group == group) {
        let mut schema = match value(group, key.key) {
            Value::Object(o) if o.contains_key("$ref") => {
                let mut m = Map::new();
                m.insert("allOf".into(), json!([Value::Object(o)]));
                m
            }
            Value::Object(o) => o,
            _ => Map::new(),
        };
        schema.insert("description".into(), key.doc.into());
        schema.insert(
            "markdownDescription".into(),
            format!("{}\n\n```yaml\n{}\n```", key.doc, key.example).into(),
        );
        properties.insert(key.key.into(), Value::Object(schema));
    }
    let mut o = Map::new();
    o.insert("type".into(), "object".into());
    o.insert("properties".into(), Value::Object(properties));
    o.insert("additionalProperties".into(), false.into());
    o
}

/// The JSON Schema (draft-07) of a flow test file.
pub(super) fn schema() -> Value {
    let mut step = object(Step);
    let one_of: Vec<Value> = STEP_KINDS
        .iter()
        .map(|k| json!({ "required": [k] }))
        .collect();
    let with_model: Vec<Value> = MODEL_STEPS
        .iter()
        .map(|k| json!({ "required": [k] }))
        .collect();
    step.insert(
        "allOf".into(),
        json!([
            // One action or check per step.
            { "if": { "type": "object" }, "then": { "oneOf": one_of } },
            // `model:` only under a step where the bot acts.
            { "if": { "required": ["model"] }, "then": { "anyOf": with_model } },
        ]),
    );
    let mut answer = object(Answer);
    answer.insert(
        "anyOf".into(),
        json!([{ "required": ["say"] }, { "required": ["tool"] }, { "required": ["fail"] }]),
    );
    let mut top = object(Top);
    top.insert("$schema".into(), super::json::DRAFT.into());
    top.insert(
        "$id".into(),
        "https://parley.invalid/schemas/flow-test.schema.json".into(),
    );
    top.insert(
        "title".into(),
        "A Parley flow test (flows/tests/*.test.yaml)".into(),
    );
    top.insert("required".into(), json!(["name", "steps"]));
    top.insert(
        "definitions".into(),
        json!({
            "contact": Value::Object(object(Contact)),
            "step": Value::Object(step),
            "reply": Value::Object(object(Reply)),
            "answer": { "anyOf": [{ "type": "string" }, Value::Object(answer)] },
        }),
    );
    Value::Object(top)
}
