//! Languages in flows: the settings and their errors, the `language` step, the PO reader
//! and writer, the `.po` files beside flows, the texts enumerator, the checks and the
//! coverage, export and import.

use super::import::plan;
use super::io::{self, FlowTexts};
use super::po::{self, PoEntry};
use super::*;
use crate::flows::loader::{load_dir, LoadReport, LoadSettings};
use crate::flows::model::{ContentSpec, Expect, Op};
use std::time::Duration;

fn load(files: &[(&str, &str)]) -> (LoadReport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    for (name, text) in files {
        std::fs::write(flows.join(name), text).unwrap();
    }
    let report = load_dir(&LoadSettings {
        dir: &flows,
        scripts_dir: dir.path(),
        templates: &[],
        window: Duration::from_secs(86400),
        overrides: None,
    });
    (report, dir)
}

/// Every problem as `file:line:column: level: message` with the folder shown as `flows/`.
fn problems(files: &[(&str, &str)]) -> String {
    let (report, dir) = load(files);
    let shown = format!("{}/", dir.path().display());
    report
        .problems
        .iter()
        .map(|p| p.to_string().replace(&shown, ""))
        .collect::<Vec<_>>()
        .join("\n")
}

const WELCOME: &str = r#"id: welcome
languages: [en, es, hi]
detect_language: true
translations:
  es:
    "Hi! What can I do for you?": "¡Hola! ¿En qué puedo ayudarte?"
    "My order": "Mi pedido"
triggers: [{ keyword: hi }]
steps:
  - language: "Which language do you prefer?"
  - send:
      text: "Hi! What can I do for you?"
      buttons: [{ id: order, title: "My order" }, { id: human, title: "A person" }]
"#;

#[test]
fn languages_and_inline_translations_are_read() {
    let (report, _dir) = load(&[("welcome.yaml", WELCOME)]);
    let set = report.set.expect("loads");
    let flow = set.get("welcome").unwrap();
    assert_eq!(flow.languages, ["en", "es", "hi"]);
    assert!(flow.detect_language);
    assert_eq!(flow.translations.text("es", "My order"), "Mi pedido");
    assert_eq!(flow.translations.text("hi", "My order"), "My order");
    assert!(!flow.translations.has("es", "A person"));
}

#[test]
fn every_mistake_in_the_settings_is_placed_and_explained() {
    let bad = r#"id: bad
languages: [en, es, es, english]
detect_language: true
translations:
  en: { "Hi": "Hi" }
  fr: { "Hi": "Salut" }
  es:
    "Hi": [not, a, text]
steps:
  - send: "Hi"
"#;
    let out = problems(&[("bad.yaml", bad)]);
    for want in [
        "flows/bad.yaml:2:21: error: the language `es` is listed twice",
        "flows/bad.yaml:2:25: error: `english` is not a language code",
        "hint: write a language code",
        "flows/bad.yaml:5:3: error: `en` is the flow's base language",
        "flows/bad.yaml:6:3: error: translations for `fr`, which the flow does not declare",
        "hint: add `fr` to `languages:` (en, es)",
        "flows/bad.yaml:8:11: error: a translation must be a single value, found a list",
    ] {
        assert!(out.contains(want), "{want}\nin\n{out}");
    }
    let alone =
        "id: a\ndetect_language: true\ntranslations: { es: { Hi: Hola } }\nsteps:\n  - send: Hi\n";
    let out = problems(&[("a.yaml", alone)]);
    assert!(out.contains("flows/a.yaml:2:18: error: `detect_language: true` guesses among the flow's languages, but it declares fewer than two"), "{out}");
    assert!(
        out.contains("flows/a.yaml:3:17: error: `translations` needs `languages:`"),
        "{out}"
    );
    let many: Vec<String> = (0..21)
        .map(|i| format!("l{}", (b'a' + i as u8) as char))
        .collect();
    let text = format!(
        "id: m\nlanguages: [{}]\nsteps:\n  - send: Hi\n",
        many.join(", ")
    );
    let out = problems(&[("m.yaml", &text)]);
    assert!(
        out.contains("flows/m.yaml:2:12: error: the flow declares 21 languages; at most 20"),
        "{out}"
    );
    let long = format!("id: l\nlanguages: [en, es]\ntranslations: {{ es: {{ Hi: \"{}\" }} }}\nsteps:\n  - send: Hi\n", "x".repeat(4097));
    let out = problems(&[("l.yaml", &long)]);
    assert!(
        out.contains("this text is 4097 characters long; at most 4096"),
        "{out}"
    );
}

#[test]
fn the_language_step_compiles_to_an_ask_offering_each_language_in_its_own_name() {
    let (report, _dir) = load(&[("welcome.yaml", WELCOME)]);
    let set = report.set.expect("loads");
    let flow = set.get("welcome").unwrap();
    let Op::Ask(ask) = &flow.steps[0].op else {
        panic!("an ask: {:?}", flow.steps[0].op)
    };
    assert!(ask.sets_language);
    assert_eq!(ask.save_as, "language");
    assert!(matches!(ask.expect, Expect::Button));
    let Some(ContentSpec::Buttons { body, buttons, .. }) = ask.prompt.as_ref().map(|p| &p.content)
    else {
        panic!("buttons")
    };
    assert_eq!(body, "Which language do you prefer?");
    let want = [("en", "English"), ("es", "Español"), ("hi", "हिन्दी")];
    let got: Vec<(&str, &str)> = buttons
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(got, want);
    // Four languages: a list; the mapping form with its retry text and timeout.
    let four = "id: four\nlanguages: [en, es, pt_BR, fr]\nsteps:\n  - language: { text: Language?, retry_text: Tap one, timeout: 1h, on_timeout: bye }\n  - send: ok\n  - id: bye\n    end: true\n";
    let (report, _dir) = load(&[("four.yaml", four)]);
    let set = report
        .set
        .unwrap_or_else(|| panic!("{:?}", report.problems));
    let Op::Ask(ask) = &set.get("four").unwrap().steps[0].op else {
        panic!("an ask")
    };
    assert_eq!(ask.retry_text.as_deref(), Some("Tap one"));
    assert_eq!(ask.timeout, Some(Duration::from_secs(3600)));
    assert!(ask.on_timeout.is_some());
    let Some(ContentSpec::List { sections, .. }) = ask.prompt.as_ref().map(|p| &p.content) else {
        panic!("a list")
    };
    let rows: Vec<&str> = sections[0].1.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        rows,
        ["English", "Español", "Português (Brasil)", "Français"]
    );
    // One language: nothing to choose.
    let out = problems(&[("one.yaml", "id: one\nsteps:\n  - language: Which?\n")]);
    assert!(out.contains("flows/one.yaml:3:15: error: the `language` step asks which of the flow's languages the customer wants, but the flow declares no `languages:`"), "{out}");
    assert!(out.contains("hint: declare two or more"), "{out}");
}

#[test]
fn po_files_are_read_and_written() {
    let text = r#"# A translator's comment
msgid ""
msgstr ""
"Language: es\n"

#: flows/welcome.yaml:11:13
msgctxt "welcome"
msgid "Hi! What can I do for you?"
msgstr "¡Hola! ¿En qué "
"puedo ayudarte?"

#, fuzzy
msgid "My order"
msgstr "Mi orden"

msgid "Two\nlines \"quoted\""
msgstr ""
"Dos\n"
"líneas \"citadas\"\t\\"
"#;
    let file = po::parse(text).unwrap();
    assert_eq!(file.language.as_deref(), Some("es"));
    assert_eq!(file.entries.len(), 3);
    assert_eq!(file.entries[0].context.as_deref(), Some("welcome"));
    assert_eq!(file.entries[0].references, ["flows/welcome.yaml:11:13"]);
    assert_eq!(file.entries[0].text, "¡Hola! ¿En qué puedo ayudarte?");
    assert!(file.entries[1].fuzzy);
    assert_eq!(file.entries[2].id, "Two\nlines \"quoted\"");
    assert_eq!(file.entries[2].text, "Dos\nlíneas \"citadas\"\t\\");
    let kept: Vec<&str> = file.translations().map(|e| e.id.as_str()).collect();
    assert_eq!(
        kept,
        ["Hi! What can I do for you?", "Two\nlines \"quoted\""]
    );
    // Written and read again: the same.
    let written = po::write("es", &file.entries);
    let again = po::parse(&written).unwrap();
    let strip = |f: &po::PoFile| {
        f.entries
            .iter()
            .map(|e| (e.id.clone(), e.text.clone(), e.fuzzy, e.context.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&again), strip(&file));
    assert_eq!(po::write("es", &again.entries), written);
}

#[test]
fn po_mistakes_name_their_line_and_column() {
    let cases = [
        ("msgid \"open\nmsgstr \"\"\n", 1, 7, "no closing quote"),
        (
            "msgid \"a\" x\nmsgstr \"b\"\n",
            1,
            10,
            "text after the closing quote",
        ),
        (
            "msgid \"a\"\nmsgstr \"b\\q\"\n",
            2,
            10,
            "unknown escape `\\q`",
        ),
        ("msgid \"a\"\nmsgid_plural \"as\"\n", 2, 1, "plural forms"),
        (
            "msgid \"a\"\nmsgsrt \"b\"\n",
            2,
            1,
            "`msgsrt` is not a PO keyword",
        ),
        ("msgstr \"b\"\n", 1, 1, "a msgstr without its msgid"),
        (
            "msgid \"a\"\n\nmsgid \"b\"\nmsgstr \"c\"\n",
            3,
            1,
            "a msgid without its msgstr",
        ),
    ];
    for (text, line, column, want) in cases {
        let e = po::parse(text).unwrap_err();
        assert_eq!((e.line, e.column), (line, column), "{text}: {e}");
        assert!(e.message.contains(want), "{text}: {e}");
    }
    let long = format!("msgid \"a\"\nmsgstr \"{}\"\n", "x".repeat(4097));
    assert!(po::parse(&long)
        .unwrap_err()
        .message
        .contains("at most 4096"));
}

proptest::proptest! {
    #[test]
    fn any_texts_survive_a_po_round_trip(
        texts in proptest::collection::vec(("[^\u{0}]{1,40}", "[^\u{0}]{0,40}", proptest::option::of("[a-z]{1,8}")), 0..8)
    ) {
        let entries: Vec<PoEntry> = texts
            .iter()
            .map(|(id, text, context)| PoEntry { references: vec![], context: context.clone(), id: id.clone(), text: text.clone(), fuzzy: false, line: 0 })
            .collect();
        let written = po::write("es", &entries);
        let read = po::parse(&written).unwrap();
        let got: Vec<(String, String, Option<String>)> = read.entries.into_iter().map(|e| (e.id, e.text, e.context)).collect();
        let want: Vec<(String, String, Option<String>)> = texts;
        proptest::prop_assert_eq!(got, want);
    }
}

#[test]
fn a_po_file_beside_the_flow_wins_over_the_inline_block() {
    let po = "msgid \"\"\nmsgstr \"\"\n\"Language: es\\n\"\n\nmsgid \"My order\"\nmsgstr \"Mis pedidos\"\n\n#, fuzzy\nmsgid \"A person\"\nmsgstr \"Una persona\"\n";
    let (report, _dir) = load(&[("welcome.yaml", WELCOME), ("welcome.es.po", po)]);
    let set = report.set.expect("loads");
    let flow = set.get("welcome").unwrap();
    assert_eq!(flow.translations.text("es", "My order"), "Mis pedidos");
    assert_eq!(
        flow.translations.text("es", "Hi! What can I do for you?"),
        "¡Hola! ¿En qué puedo ayudarte?"
    );
    assert!(
        !flow.translations.has("es", "A person"),
        "fuzzy entries are not translations"
    );
    // A mistake in it: at its line and column; a language the flow does not declare.
    let out = problems(&[
        ("welcome.yaml", WELCOME),
        ("welcome.es.po", "msgid \"a\"\nmsgstr \"b\n"),
        ("welcome.fr.po", po),
    ]);
    assert!(
        out.contains("flows/welcome.es.po:2:8: error: this string has no closing quote"),
        "{out}"
    );
    assert!(out.contains("flows/welcome.fr.po:1:1: error: translations into Français (fr) for flow `welcome`, which does not declare that language"), "{out}");
    assert!(
        out.contains("hint: add `fr` to the `languages:` of"),
        "{out}"
    );
    // Another flow file's translations (`welcome.v2.es.po`) are not this one's.
    let out = problems(&[("welcome.yaml", WELCOME), ("welcome.v2.es.po", po)]);
    assert!(!out.contains("error"), "{out}");
}

const EVERY_TEXT: &str = r#"id: every
languages: [en, es]
steps:
  - send: "Plain text"
  - send: { image: "https://example.com/a.jpg", caption: "A caption" }
  - send: { location: { latitude: 1, longitude: 2, name: "Our shop", address: "Main street 1" } }
  - send:
      text: "Pick one"
      header: "A header"
      footer: "A footer"
      buttons: [{ id: a, title: "Button A" }]
  - send:
      text: "Pick a size"
      list: { button: "Sizes", sections: [{ title: "Section", rows: [{ id: s, title: "Small", description: "For one" }] }] }
  - send: { text: "Our catalogue", url_button: { text: "Open it", url: "https://example.com" } }
  - send: { location_request: "Where are you?" }
  - send: { react: "👍" }
  - ask: { text: "Your email?", save_as: email, expect: email, retry_text: "Like a@b.c" }
  - ask: { text: "Your address?", save_as: address, expect: address }
  - form: { flow_id: "1", text: "Book a visit", header: "Form header", footer: "Form footer", cta: Book, screen: ONE, save_as: booking }
  - send: "{{ vars.email }}"
  - handoff: { message: "A person will answer" }
"#;

#[test]
fn the_enumerator_finds_every_kind_of_text_at_its_place() {
    let (report, _dir) = load(&[("every.yaml", EVERY_TEXT)]);
    let set = report
        .set
        .unwrap_or_else(|| panic!("{:#?}", report.problems));
    let flow = set.get("every").unwrap();
    let found = texts(flow, EVERY_TEXT);
    let got: Vec<(&str, &str, usize, usize)> = found
        .iter()
        .map(|t| (t.what, t.text.as_str(), t.at.line, t.at.column))
        .collect();
    assert_eq!(
        got,
        [
            ("text", "Plain text", 4, 12),
            ("caption", "A caption", 5, 59),
            ("location name", "Our shop", 6, 59),
            ("location address", "Main street 1", 6, 80),
            ("header", "A header", 9, 16),
            ("text", "Pick one", 8, 14),
            ("footer", "A footer", 10, 16),
            ("button title", "Button A", 11, 34),
            ("text", "Pick a size", 13, 14),
            ("list button", "Sizes", 14, 24),
            ("list section title", "Section", 14, 53),
            ("list row title", "Small", 14, 87),
            ("list row description", "For one", 14, 109),
            ("text", "Our catalogue", 15, 20),
            ("url button text", "Open it", 15, 57),
            ("location request", "Where are you?", 16, 32),
            ("text", "Your email?", 18, 19),
            ("ask retry_text", "Like a@b.c", 18, 77),
            ("address request", "Your address?", 19, 19),
            ("form header", "Form header", 20, 58),
            ("form text", "Book a visit", 20, 34),
            ("form footer", "Form footer", 20, 81),
            ("text", "A person will answer", 22, 26),
        ]
    );
}

#[test]
fn untranslated_unused_and_mismatched_translations_are_warned_about() {
    let flow = r#"id: welcome
languages: [en, es]
translations:
  es:
    "Hello {{ contact.name }}": "Hola {{ contact.nombre }}"
    "Old text": "Texto viejo"
    "Bye {{ contact.name | default: \"friend\" }}": "Adiós {{ contact.name | default: \"amigo\" }}"
steps:
  - send: "Hello {{ contact.name }}"
  - send: "How are you?"
  - send: "Bye {{ contact.name | default: \"friend\" }}"
"#;
    let out = problems(&[("welcome.yaml", flow)]);
    // A filter's words may be translated: the blank still reads `contact.name`.
    assert!(!out.contains("Bye"), "{out}");
    for want in [
        "flows/welcome.yaml:10:12: warning: no Spanish (es) translation of \"How are you?\": customers whose language is es read it in English",
        "hint: add it to welcome.es.po (`parley translations export`) or under `translations: es:`",
        "flows/welcome.yaml:5:5: warning: the Spanish (es) translation of \"Hello {{ contact.name }}\" leaves out the blank {{ contact.name }}",
        "flows/welcome.yaml:5:5: warning: the Spanish (es) translation of \"Hello {{ contact.name }}\" has the blank {{ contact.nombre }}, which its text does not",
        "flows/welcome.yaml:6:5: warning: no text of flow `welcome` is \"Old text\" (any more?): this Spanish (es) translation is not used",
    ] {
        assert!(out.contains(want), "{want}\nin\n{out}");
    }
    let (report, _dir) = load(&[("welcome.yaml", flow)]);
    assert_eq!(
        report.coverage,
        [Coverage {
            flow: "welcome".into(),
            language: "es".into(),
            translated: 2,
            total: 3
        }]
    );
    assert_eq!(
        coverage_lines(&report.coverage),
        ["translations: welcome  es 2/3 (67 %)"]
    );
}

#[test]
fn at_most_ten_untranslated_texts_are_listed_then_a_summary() {
    let steps: String = (1..=33)
        .map(|i| format!("  - send: \"Text number {i}\"\n"))
        .collect();
    let flow = format!("id: long\nlanguages: [en, es, hi]\ntranslations:\n  es: {{ \"Text number 1\": \"Texto 1\" }}\nsteps:\n{steps}");
    let out = problems(&[("long.yaml", &flow)]);
    assert_eq!(
        out.matches("no Spanish (es) translation of").count(),
        10,
        "{out}"
    );
    assert_eq!(
        out.matches("no Hindi (hi) translation of").count(),
        10,
        "{out}"
    );
    assert!(
        out.contains(
            "flows/long.yaml:1:5: warning: …and 22 more texts with no Spanish (es) translation"
        ),
        "{out}"
    );
    assert!(
        out.contains("…and 23 more texts with no Hindi (hi) translation"),
        "{out}"
    );
    let (report, _dir) = load(&[("long.yaml", &flow)]);
    assert_eq!(
        coverage_lines(&report.coverage),
        ["translations: long  es 1/33 (3 %)  hi 0/33 (0 %)"]
    );
}

fn flow_texts(report: &LoadReport) -> Vec<FlowTexts> {
    let set = report.set.as_ref().expect("loads");
    set.flows()
        .iter()
        .map(|f| FlowTexts::new(f, &std::fs::read_to_string(&f.file).unwrap()))
        .collect()
}

#[test]
fn csv_and_po_exports_import_back_unchanged_and_one_edit_is_one_change() {
    let (report, dir) = load(&[("welcome.yaml", WELCOME)]);
    let flows = flow_texts(&report);
    let csv = io::export_csv(&flows);
    let file = format!("{}", flows[0].file.display());
    assert_eq!(
        csv,
        format!("flow,where,text,es,hi\nwelcome,{file}:10:16,Which language do you prefer?,,\nwelcome,{file}:12:14,Hi! What can I do for you?,¡Hola! ¿En qué puedo ayudarte?,\nwelcome,{file}:13:38,My order,Mi pedido,\nwelcome,{file}:13:72,A person,,\n")
    );
    let cells = io::read_csv(&csv).unwrap();
    let unchanged = plan(&flows, &cells, true);
    assert!(
        unchanged.changes.is_empty() && unchanged.writes.is_empty(),
        "{unchanged:?}"
    );
    // One cell filled in: one `.po` entry.
    let edited = csv.replace("A person,,", "A person,Una persona,");
    let p = plan(&flows, &io::read_csv(&edited).unwrap(), true);
    let shown: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(shown, ["welcome.es.po: + \"A person\" → \"Una persona\""]);
    assert_eq!(p.writes.len(), 1);
    assert_eq!(p.writes[0].0, dir.path().join("flows/welcome.es.po"));
    assert_eq!(
        p.writes[0].1,
        po::write(
            "es",
            &[PoEntry {
                references: vec!["welcome.yaml:13:72".into()],
                context: None,
                id: "A person".into(),
                text: "Una persona".into(),
                fuzzy: false,
                line: 0
            }]
        )
    );
    // An inline translation changed: a note, and the .po gets it.
    let edited = csv.replace("My order,Mi pedido,", "My order,Mis pedidos,");
    let p = plan(&flows, &io::read_csv(&edited).unwrap(), true);
    assert_eq!(
        p.changes[0].to_string(),
        "welcome.es.po: ~ \"My order\" → \"Mis pedidos\" (was \"Mi pedido\")"
    );
    assert!(p.notes[0].contains("also translated in"), "{:?}", p.notes);
    // PO: one language at a time.
    assert!(io::export_po(&flows, None)
        .unwrap_err()
        .contains("choose one with `--language es`"));
    let po_text = io::export_po(&flows, Some("es")).unwrap();
    assert!(
        po_text.contains(&format!(
            "#: {file}:13:38\nmsgctxt \"welcome\"\nmsgid \"My order\"\nmsgstr \"Mi pedido\"\n"
        )),
        "{po_text}"
    );
    let p = plan(&flows, &io::read_po(&po_text, None).unwrap(), false);
    assert!(p.changes.is_empty(), "{p:?}");
    let edited = po_text.replace(
        "msgid \"A person\"\nmsgstr \"\"",
        "msgid \"A person\"\nmsgstr \"Una persona\"",
    );
    let p = plan(&flows, &io::read_po(&edited, None).unwrap(), false);
    assert_eq!(p.changes.len(), 1, "{p:?}");
}

#[test]
fn import_mistakes_are_reported_with_their_line() {
    let (report, _dir) = load(&[("welcome.yaml", WELCOME)]);
    let flows = flow_texts(&report);
    let csv = "flow,where,text,es,fr\nnope,x,Hi,Hola,\nwelcome,,Gone text,Ido,\nwelcome,,My order,,Ma commande\n";
    let p = plan(&flows, &io::read_csv(csv).unwrap(), true);
    assert_eq!(
        p.skipped,
        [
            "line 2: there is no flow `nope`; skipped",
            "line 3: flow `welcome` has no text \"Gone text\" (changed since the export?); skipped"
        ]
    );
    assert_eq!(p.errors.len(), 1);
    assert!(
        p.errors[0].starts_with("line 4: a Français (fr) translation for flow `welcome`"),
        "{:?}",
        p.errors
    );
    for (bad, want) in [
        (
            "flow,where,text,es\nwelcome,x,\"open,\n",
            "line 2: a quoted cell is never closed",
        ),
        (
            "flow,where,text,es\nwelcome,x,a\"b,c\n",
            "line 2: a quote inside a cell",
        ),
        (
            "flow,where,text,es\nwelcome,x,\"a\"b,c\n",
            "line 2: text after a closing quote",
        ),
        (
            "a,b\n",
            "line 1: the columns `flow`, `where` and `text` are missing",
        ),
        (
            "flow,where,text,Spanish\n",
            "line 1: the column `Spanish` is not a language code",
        ),
        ("", "the file is empty"),
    ] {
        let e = io::read_csv(bad).unwrap_err();
        assert!(e.contains(want), "{bad}: {e}");
    }
    let long = format!("flow,where,text,es\nwelcome,x,{},\n", "x".repeat(4097));
    assert!(io::read_csv(&long)
        .unwrap_err()
        .contains("longer than 4096"));
    assert!(io::read_po("msgid \"a\"\nmsgstr \"b\"\n", None)
        .unwrap_err()
        .contains("no `Language:`"));
}

#[test]
fn a_changed_po_file_changes_the_hot_reload_fingerprint_and_is_no_flow() {
    let po = "msgid \"My order\"\nmsgstr \"Mi pedido\"\n";
    let (report, dir) = load(&[("welcome.yaml", WELCOME), ("welcome.es.po", po)]);
    let flows = dir.path().join("flows");
    // Not read as a flow file (nor as a test file).
    assert_eq!(report.set.expect("loads").len(), 1);
    let (files, _) = crate::flows::loader::flow_files(&LoadSettings {
        dir: &flows,
        scripts_dir: dir.path(),
        templates: &[],
        window: Duration::from_secs(86400),
        overrides: None,
    });
    assert_eq!(files, [flows.join("welcome.yaml")]);
    let before = crate::flows::loader::fingerprint(&[flows.as_path()]);
    assert!(before.iter().any(|(p, ..)| p.ends_with("welcome.es.po")));
    std::fs::write(
        flows.join("welcome.es.po"),
        format!("{po}\nmsgid \"A person\"\nmsgstr \"Una persona\"\n"),
    )
    .unwrap();
    assert_ne!(
        crate::flows::loader::fingerprint(&[flows.as_path()]),
        before
    );
}

#[test]
fn a_po_file_no_flow_owns_is_a_warning() {
    let po = "msgid \"My order\"\nmsgstr \"Mi pedido\"\n";
    let out = problems(&[("welcome.yaml", WELCOME), ("welcom.es.po", po)]);
    assert!(out.contains("flows/welcom.es.po:1:1: warning: no flow file owns these translations: they are not read"), "{out}");
    assert!(
        out.contains("`welcome.es.po` beside `welcome.yaml`"),
        "{out}"
    );
}
