//! The published JSON Schemas against the loaders they describe. Every YAML that ships
//! (the example flows, their tests, `config.example.yaml`, the starter config) and every
//! YAML example of the README is checked by the schema (with `boon`, a draft-07 validator)
//! AND by the loader Parley uses for it (flows: the flow compiler; tests:
//! the flow test parser; config: `Config::from_yaml`), and the test fails when the two
//! disagree: one accepts what the other refuses. Deliberate mistakes are refused by both.
//!
//! How a README example is classified (its fenced ```yaml block):
//! - a mapping with `name` and `steps` is a flow test file; with `id`, `steps` or
//!   `schedule` (and no `name`), a flow file;
//! - a mapping whose keys are all config keys is a config (a fragment of one is a whole
//!   config with every other key left at its default);
//! - a list whose every item names a kind of flow step among its keys (`send`, `if`…) is
//!   a list of flow steps, wrapped as `id: readme_example` + `steps:`; one whose every item
//!   names a kind of test step (`customer`, `expect_reply`…) is wrapped as a test file
//!   (`name:` + `steps:`);
//! - anything else must be named in `NOT_CHECKED` with the reason, or the test fails.
//!
//! An example both refuse fails the test too (the README would show something that does
//! not work), unless it is wrong on purpose and listed in `REFUSED_ON_PURPOSE`.
//!
//! The schema checks the shape of a file, not what it refers to: a flow example's loader
//! errors that name something elsewhere (a step id, a flow, a template, a model or a file
//! the example does not include) are not counted as refusals (`REFERENCES`). Flow
//! files and examples are each loaded on their own with the repository's config and
//! folders, so the templates, scripts and knowledge they name exist; the shipped flows are
//! also loaded together, where every reference must hold.

use crate::first_run::{all_text, parley_in};
use crate::helpers::spawn_app;
use parley::config::Config;
use parley::studio::schema::{
    config_schema, flow_schema, flow_test_schema, reply_settings, Place, TEST_STEP_KINDS,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// README examples that are none of a flow, a flow test or a config, and why.
const NOT_CHECKED: &[(&str, &str)] = &[
    (
        "rules:",
        "a scripted model's rules file (models/*.yaml): not a file the schemas describe",
    ),
    (
        "agent:\n  knowledge:",
        "an agent step's settings shown alone, to point at `retrieval:`",
    ),
    (
        "# flows/evals/",
        "an eval scenario (`parley eval`): not a file the schemas describe",
    ),
    (
        "runs:\n- run: 1\n  exchanges:",
        "the exchanges `parley eval --record` writes: not a file the schemas describe",
    ),
    (
        "# Prometheus",
        "a Prometheus alerting rule: not a Parley file",
    ),
];

/// README examples that are wrong on purpose (both must refuse them), by how they start,
/// and why. Any other example both refuse is a mistake in the README.
const REFUSED_ON_PURPOSE: &[(&str, &str)] = &[
    (
        "- send:\n  text: Hello",
        "the indentation slip the README shows being reported",
    ),
    (
        "# flows/support_agent.yaml\nsteps:\n  - id: chat\n    agent:\n      model: assistant\n      # …",
        "an agent step cut down to its scoring keys: its instructions left out as `# …`",
    ),
    (
        "portfolios: [{ id: main",
        "a sender's Meta settings left out as `{…}`",
    ),
];

/// Loader errors about what a flow example refers to rather than its shape.
const REFERENCES: &[&str] = &[
    "there is no step with id",
    "is not declared in the config",
    "there is no flow with id",
    // A candidate version is loaded beside its flow's main file, another file.
    "but no file holds its current version",
    // A knowledge file an example names (a PDF, an HTML page) that the repository does not ship.
    "there is no such file",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Flow,
    Test,
    Config,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The three schemas, compiled once per test.
struct Schemas {
    compiled: boon::Schemas,
    flow: boon::SchemaIndex,
    test: boon::SchemaIndex,
    config: boon::SchemaIndex,
}

impl Schemas {
    fn new() -> Self {
        let mut compiled = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        let mut index = |name: &str, schema: Value| {
            let url = format!("https://parley.invalid/schemas/{name}");
            compiler.add_resource(&url, schema).unwrap();
            compiler
                .compile(&url, &mut compiled)
                .unwrap_or_else(|e| panic!("{name} compiles: {e:#}"))
        };
        let flow = index("flow.schema.json", flow_schema());
        let test = index("flow-test.schema.json", flow_test_schema());
        let config = index("config.schema.json", config_schema());
        Self {
            compiled,
            flow,
            test,
            config,
        }
    }

    /// `Err` with the schema's complaints when `text` does not fit the schema of `kind`.
    fn check(&self, kind: Kind, text: &str) -> Result<(), String> {
        let value = yaml_to_json(text)?;
        let index = match kind {
            Kind::Flow => self.flow,
            Kind::Test => self.test,
            Kind::Config => self.config,
        };
        self.compiled
            .validate(&value, index)
            .map_err(|e| format!("{e:#}"))
    }
}

/// YAML as the editor's JSON Schema sees it (YAML 1.2: `yes` is text); keys that YAML
/// reads as numbers (`1:`) are JSON's text keys.
fn yaml_to_json(text: &str) -> Result<Value, String> {
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    Ok(convert(yaml))
}

fn convert(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => b.into(),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => s.into(),
        Y::Sequence(items) => items.into_iter().map(convert).collect(),
        Y::Mapping(m) => m
            .into_iter()
            .map(|(k, v)| {
                let key = match k {
                    Y::String(s) => s,
                    other => serde_yaml::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                (key, convert(v))
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Y::Tagged(t) => convert(t.value),
    }
}

/// The repository's config, as flow examples are loaded with.
fn repo_config() -> Config {
    let mut config = Config::embedded_default_in(root());
    config.flows.dir = root().join("flows").display().to_string();
    config.flows.scripts_dir = root().join("scripts").display().to_string();
    config
}

/// The flow loader's verdict on `text` as the file `flows/<name>`, loaded on its own with
/// the repository's config (its templates; its scripts and knowledge beside it): `Err`
/// with its errors, leaving out those about references (`REFERENCES`).
fn load_flow(config: &Config, name: &str, text: &str) -> Result<(), String> {
    let settings = parley::flows::LoadSettings::from_config(config);
    let report = parley::flows::load_text(text, name, &settings);
    let errors: Vec<String> = report
        .problems
        .iter()
        .filter(|p| p.is_error())
        .map(|p| p.to_string())
        .filter(|p| !REFERENCES.iter().any(|r| p.contains(r)))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

fn load(kind: Kind, config: &Config, name: &str, text: &str) -> Result<(), String> {
    match kind {
        Kind::Flow => load_flow(config, name, text),
        Kind::Test => parley::cli::flowtest::format::parse(text)
            .map(|_| ())
            .map_err(|e| format!("line {}: {}", e.line, e.message)),
        // Every `${VAR}` of an example set to 16 ones: digits for ids, long enough for tokens.
        Kind::Config => Config::from_yaml(text, name, &|_| Some("1".repeat(16)))
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}

/// Both verdicts on one document; `Some` when they disagree, in words.
fn disagreement(
    schemas: &Schemas,
    config: &Config,
    kind: Kind,
    label: &str,
    text: &str,
) -> Option<String> {
    let name = format!(
        "readme_example_{}.yaml",
        label.replace([':', ' ', '/'], "_")
    );
    let by_schema = schemas.check(kind, text);
    let by_loader = load(kind, config, &name, text);
    match (&by_schema, &by_loader) {
        (Ok(()), Ok(())) | (Err(_), Err(_)) => None,
        (Ok(()), Err(e)) => Some(format!(
            "{label} ({kind:?}): the schema accepts it, the loader refuses it:\n{e}\n---\n{text}"
        )),
        (Err(e), Ok(())) => Some(format!(
            "{label} ({kind:?}): the loader accepts it, the schema refuses it:\n{e}\n---\n{text}"
        )),
    }
}

/// Both accept it; otherwise what each said.
fn both_accept(schemas: &Schemas, config: &Config, kind: Kind, path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path
        .strip_prefix(root().join("flows"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string());
    let s = schemas.check(kind, &text).err();
    let l = load(kind, config, &name, &text).err();
    (s.is_some() || l.is_some()).then(|| {
        format!(
            "{}: schema: {}; loader: {}",
            path.display(),
            s.as_deref().unwrap_or("accepts"),
            l.as_deref().unwrap_or("accepts")
        )
    })
}

fn files_under(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, keep, out);
        } else if keep(&path) {
            out.push(path);
        }
    }
    out.sort();
}

#[test]
fn every_shipped_flow_test_and_config_fits_its_schema_and_its_loader() {
    let schemas = Schemas::new();
    let config = repo_config();
    let mut flows = Vec::new();
    files_under(
        &root().join("flows"),
        &|p| {
            // Flow tests and eval scenarios are not flows: the loader skips their folders.
            !p.starts_with(root().join("flows/tests"))
                && !p.starts_with(root().join("flows/evals"))
                && p.extension().is_some_and(|e| e == "yaml" || e == "yml")
        },
        &mut flows,
    );
    let mut tests = Vec::new();
    files_under(
        &root().join("flows/tests"),
        &|p| p.to_string_lossy().ends_with(".test.yaml"),
        &mut tests,
    );
    assert!(flows.len() >= 5 && tests.len() >= 5, "{flows:?} {tests:?}");
    let mut failures: Vec<String> = Vec::new();
    failures.extend(
        flows
            .iter()
            .filter_map(|p| both_accept(&schemas, &config, Kind::Flow, p)),
    );
    failures.extend(
        tests
            .iter()
            .filter_map(|p| both_accept(&schemas, &config, Kind::Test, p)),
    );
    for config_file in [
        root().join("config.example.yaml"),
        root().join("crates/parley-config/src/config/starter.yaml"),
    ] {
        failures.extend(both_accept(&schemas, &config, Kind::Config, &config_file));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let together = parley::flows::load_configured(&config);
    assert!(together.set.is_some(), "{}", together.render());
}

/// The README's ```yaml blocks: the line of their first line, and their text.
fn readme_examples() -> Vec<(usize, String)> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "```yaml" {
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && lines[end].trim() != "```" {
                end += 1;
            }
            out.push((start + 1, dedent(&lines[start..end])));
            i = end;
        }
        i += 1;
    }
    out
}

/// The lines without the indentation they all share (an example shown inside a list).
fn dedent(lines: &[&str]) -> String {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").to_string() + "\n")
        .collect()
}

/// What a README example is, and its text as a whole file of that kind (module docs).
fn classify(text: &str) -> Option<(Kind, String)> {
    let value = yaml_to_json(text).ok()?;
    let config_keys = config_schema()["properties"]
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let step_kinds: Vec<&str> = parley::flows::keys::step_kind_names().collect();
    match &value {
        Value::Object(top) if top.contains_key("name") && top.contains_key("steps") => {
            Some((Kind::Test, text.to_string()))
        }
        Value::Object(top)
            if ["id", "steps", "schedule"]
                .iter()
                .any(|k| top.contains_key(*k)) =>
        {
            Some((Kind::Flow, text.to_string()))
        }
        Value::Object(top) if top.keys().all(|k| config_keys.contains(k)) => {
            Some((Kind::Config, text.to_string()))
        }
        Value::Array(items) if !items.is_empty() => {
            // Every item names a kind of step among its keys.
            let every = |kinds: &[&str]| {
                items.iter().all(|item| {
                    item.as_object()
                        .is_some_and(|o| o.keys().any(|k| kinds.contains(&k.as_str())))
                })
            };
            let indented: String = text.lines().map(|l| format!("  {l}\n")).collect();
            if every(&step_kinds) {
                Some((
                    Kind::Flow,
                    format!("id: readme_example\nsteps:\n{indented}"),
                ))
            } else if every(TEST_STEP_KINDS) {
                Some((
                    Kind::Test,
                    format!("name: README example\nsteps:\n{indented}"),
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

#[test]
fn every_readme_yaml_example_gets_the_same_verdict_from_the_schema_and_the_loader() {
    let schemas = Schemas::new();
    let config = repo_config();
    let examples = readme_examples();
    assert!(examples.len() >= 20, "{} examples", examples.len());
    let mut problems = Vec::new();
    let mut checked = 0;
    for (line, text) in &examples {
        let label = format!("README.md:{line}");
        let Some((kind, whole)) = classify(text) else {
            let known = NOT_CHECKED.iter().any(|(start, _)| text.starts_with(start));
            if !known {
                problems.push(format!(
                    "{label}: not a flow, a flow test nor a config; add it to NOT_CHECKED with why:\n{text}"
                ));
            }
            continue;
        };
        checked += 1;
        let on_purpose = REFUSED_ON_PURPOSE.iter().any(|(s, _)| text.starts_with(s));
        if on_purpose {
            // Wrong on purpose: refused by both, each for its reason.
            let name = "readme_example.yaml";
            if schemas.check(kind, &whole).is_ok() || load(kind, &config, name, &whole).is_ok() {
                problems.push(format!("{label}: shown as wrong, but accepted:\n{text}"));
            }
            continue;
        }
        match disagreement(&schemas, &config, kind, &label, &whole) {
            Some(d) => problems.push(d),
            None => {
                if let Err(e) = schemas.check(kind, &whole) {
                    problems.push(format!(
                        "{label} ({kind:?}): the schema and the loader both refuse it; fix the example, or add it to REFUSED_ON_PURPOSE with why:\n{e}\n---\n{text}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(checked >= 20, "only {checked} examples checked");
}

#[test]
fn the_indentation_slip_the_readme_shows_is_refused_by_both() {
    // README "Flows": a setting written beside its step instead of under it.
    let text = "id: slip\nsteps:\n  - send:\n    text: Hello\n";
    let schemas = Schemas::new();
    assert!(schemas.check(Kind::Flow, text).is_err());
    assert!(load_flow(&repo_config(), "slip.yaml", text).is_err());
}

#[test]
fn wrong_documents_are_refused_by_the_schema_and_the_loader() {
    let schemas = Schemas::new();
    let config = repo_config();
    let wrong: &[(Kind, &str, &str)] = &[
        (Kind::Flow, "a misspelt step", "id: a\nsteps:\n  - sned: hi\n"),
        (Kind::Flow, "an unknown top key", "id: a\ntriger: []\nsteps:\n  - send: hi\n"),
        (Kind::Flow, "an unknown ask setting", "id: a\nsteps:\n  - ask: { text: Hi?, save_as: x, expekt: email }\n"),
        (Kind::Flow, "a list where one value goes", "id: a\nsteps:\n  - delay: [10m]\n"),
        (Kind::Flow, "a duration without a unit", "id: a\nsteps:\n  - delay: 10\n"),
        (Kind::Flow, "an unknown expect", "id: a\nsteps:\n  - ask: { text: Hi?, save_as: x, expect: colour }\n"),
        (Kind::Flow, "two actions in one step", "id: a\nsteps:\n  - send: hi\n    goto_flow: b\n"),
        (Kind::Flow, "steps that are not a list", "id: a\nsteps: hello\n"),
        (Kind::Flow, "no steps", "id: a\ntriggers:\n  - keyword: hi\n"),
        (Kind::Flow, "an unknown trigger", "id: a\ntriggers:\n  - keywrd: hi\nsteps:\n  - send: hi\n"),
        (Kind::Flow, "an unknown message type", "id: a\ntriggers:\n  - type: picture\nsteps:\n  - send: hi\n"),
        (Kind::Flow, "priority as words", "id: a\npriority: high\nsteps:\n  - send: hi\n"),
        (Kind::Flow, "an agent's unknown setting", "id: a\nsteps:\n  - agent: { model: assistant, instructions: Help., scope: orders, if_window_closed: skip, temperature: 2 }\n"),
        (Kind::Test, "an unknown test step", "name: t\nsteps:\n  - customr: hi\n"),
        (Kind::Test, "an unknown reply check", "name: t\nsteps:\n  - customer: hi\n  - expect_reply: { text_containz: Hello }\n"),
        (Kind::Test, "model under a check", "name: t\nsteps:\n  - expect_reply: Hi\n    model: [hello]\n"),
        (Kind::Test, "no name", "steps:\n  - customer: hi\n"),
        (Kind::Test, "expect_no_reply false", "name: t\nsteps:\n  - expect_no_reply: false\n"),
        (Kind::Config, "an unknown key", "lisen: 127.0.0.1:8080\n"),
        (Kind::Config, "a duration without a unit", "window:\n  duration: 24\n"),
        (Kind::Config, "a list where settings go", "database: [sqlite]\n"),
        (Kind::Config, "an unknown sender setting", "senders:\n  - { id: 1, name: S, channel: sandbox, phone_number: \"+15550000000\", colour: red }\n"),
    ];
    let mut problems = Vec::new();
    for (kind, what, text) in wrong {
        if schemas.check(*kind, text).is_ok() {
            problems.push(format!("the schema accepts {what}:\n{text}"));
        }
        if load(*kind, &config, "wrong.yaml", text).is_ok() {
            problems.push(format!("the loader accepts {what}:\n{text}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_short_forms_authors_write_are_accepted_by_both() {
    let schemas = Schemas::new();
    let config = repo_config();
    let right: &[(Kind, &str, &str)] = &[
        (Kind::Flow, "one keyword without a list", "id: a\ntriggers:\n  - keyword: hi\nsteps:\n  - send: hi\n"),
        (Kind::Flow, "a handoff without settings", "id: a\nsteps:\n  - handoff: {}\n"),
        (Kind::Flow, "a handoff left empty", "id: a\nsteps:\n  - handoff:\n"),
        (Kind::Flow, "one tag without a list", "id: a\nsteps:\n  - tag: lead\n"),
        (Kind::Flow, "a number as text", "id: a\nsteps:\n  - send: 42\n"),
        (Kind::Flow, "an agent with an empty tools", "id: a\nsteps:\n  - agent:\n      model: assistant\n      instructions: Help with orders.\n      scope: orders\n      if_window_closed: skip\n      tools:\n"),
        (Kind::Flow, "a jump to steps written in place", "id: a\nsteps:\n  - ask: { text: Age?, save_as: age, expect: number, on_invalid: [{ send: Bye }] }\n"),
        (Kind::Flow, "a switch case as one step", "id: a\nsteps:\n  - switch:\n      on: vars.x\n      cases:\n        \"1\": { send: One }\n"),
        (Kind::Test, "numbers written as the customer types them", "name: t\nsteps:\n  - customer: 12.50\n  - expect_reply: 3\n  - expect_tags: lead\n"),
        (Kind::Test, "a template by its name alone", "name: t\nsteps:\n  - expect_template: cart_reminder\n"),
        (Kind::Config, "sections whose lines are all commented out", "models:\n  # - { name: x, kind: scripted, script: x.yaml }\nwindow:\nsenders:\n"),
        (Kind::Config, "a duration in words", "window:\n  duration: 1h 30m\n"),
        (Kind::Config, "an empty file", ""),
    ];
    let mut problems = Vec::new();
    for (kind, what, text) in right {
        if let Err(e) = schemas.check(*kind, text) {
            problems.push(format!("the schema refuses {what}: {e}\n{text}"));
        }
        if let Err(e) = load(*kind, &config, "right.yaml", text) {
            problems.push(format!("the loader refuses {what}: {e}\n{text}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The groups the flow compiler checks against a list written in place (`check_keys(m,
/// &["id", "title"], "a button", …)`) rather than a table `flows::keys` re-exports, by
/// the words it names them with.
const INLINE_LISTS: &[(&str, Place)] = &[
    ("a url_button", Place::UrlButton),
    ("a button", Place::Button),
    ("a list", Place::List),
    ("a list section", Place::ListSection),
    ("a list row", Place::ListRow),
    ("a reaction", Place::Reaction),
    ("a location", Place::Location),
    ("`if_window_closed`", Place::WindowFallback),
    ("a `schedule`", Place::Schedule),
    ("an `audience`", Place::Audience),
];

/// Every `yaml::check_keys(…, &["…", …], "what", …)` of the flow compiler's source: the
/// keys and the words naming the group.
fn inline_key_lists() -> Vec<(String, Vec<String>, String)> {
    let mut files = Vec::new();
    files_under(
        &root().join("crates/parley-flows/src/flows"),
        &|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".rs") && !name.ends_with("tests.rs")
        },
        &mut files,
    );
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (start, _) in text.match_indices("yaml::check_keys(") {
            let args = &text[start + "yaml::check_keys(".len()..];
            let mut depth = 1;
            let end = args
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let args = &args[..end];
            let (Some(open), Some(close)) = (args.find("&["), args.find(']')) else {
                continue; // a table, or a list built beforehand
            };
            let quoted = |s: &str| -> Vec<String> {
                s.split('"')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect()
            };
            let keys = quoted(&args[open..close]);
            let what = quoted(&args[close..])
                .into_iter()
                .next()
                .unwrap_or_default();
            out.push((file.display().to_string(), keys, what));
        }
    }
    out
}

#[test]
fn groups_the_compiler_checks_in_place_are_described_key_for_key() {
    let lists = inline_key_lists();
    assert!(lists.len() >= INLINE_LISTS.len(), "{lists:?}");
    let mut problems = Vec::new();
    for (file, keys, what) in &lists {
        let Some((_, place)) = INLINE_LISTS.iter().find(|(w, _)| w == what) else {
            problems.push(format!(
                "{file}: the keys of {what} ({keys:?}) are not in the schema: add the place to INLINE_LISTS and its keys to crates/parley-studio/src/studio/schema/docs.rs"
            ));
            continue;
        };
        let mut described: Vec<&str> = place.key_docs().iter().map(|d| d.key).collect();
        let mut taken: Vec<&str> = keys.iter().map(String::as_str).collect();
        described.sort_unstable();
        taken.sort_unstable();
        if described != taken {
            problems.push(format!(
                "{file}: {what} takes {taken:?}, the schema describes {described:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_test_file_schema_names_what_the_test_parser_reads() {
    // The kinds of steps and the steps with model answers are one list each, which the
    // parser and the schema share; the settings of `expect_reply` are described key for key.
    use parley::cli::flowtest::format;
    assert_eq!(reply_settings(), format::REPLY_SETTINGS);
}

#[test]
fn parley_schema_writes_the_three_files_that_the_server_also_serves() {
    let dir = tempfile::tempdir().unwrap();
    let out = parley_in(dir.path(), &["schema", "editor/schemas"]);
    let t = all_text(&out);
    assert!(out.status.success(), "{t}");
    for (name, schema) in [
        ("flow.schema.json", flow_schema()),
        ("flow-test.schema.json", flow_test_schema()),
        ("config.schema.json", config_schema()),
    ] {
        let path = dir.path().join("editor/schemas").join(name);
        assert!(
            t.contains(&format!(
                "wrote {}",
                Path::new("editor/schemas").join(name).display()
            )),
            "{t}"
        );
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written, schema, "{name}");
    }
}

#[tokio::test]
async fn the_schemas_are_served_without_an_api_key() {
    let app = spawn_app().await;
    for (name, schema) in [
        ("flow.schema.json", flow_schema()),
        ("flow-test.schema.json", flow_test_schema()),
        ("config.schema.json", config_schema()),
    ] {
        let res = app
            .http
            .get(format!("{}/schemas/{name}", app.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{name}");
        assert_eq!(res.headers()["content-type"], "application/json");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body, schema, "{name}");
    }
    let res = app
        .http
        .get(format!("{}/schemas/nothing.json", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
