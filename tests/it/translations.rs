//! Issue 58: `parley translations export|import` through the built binary (CSV and PO
//! round trips that change nothing, byte for byte; a dry run that writes nothing; one
//! edit imported as exactly that change; hostile input refused clearly) and `parley
//! check`'s translation warnings and coverage line.

use crate::helpers::config_yaml;
use std::path::{Path, PathBuf};
use std::process::Command;

const WELCOME: &str = r#"id: welcome
languages: [en, es]
translations:
  es:
    "Hi! What can I do for you?": "¡Hola! ¿En qué puedo ayudarte?"
triggers: [{ keyword: hi }]
steps:
  - send:
      text: "Hi! What can I do for you?"
      buttons: [{ id: order, title: "My order" }, { id: human, title: "A person" }]
"#;

const WELCOME_ES_PO: &str = "msgid \"\"\nmsgstr \"\"\n\"Language: es\\n\"\n\n#: welcome.yaml:10:38\nmsgid \"My order\"\nmsgstr \"Mi pedido\"\n";

const MENU: &str = "id: menu\nlanguages: [en, es, hi]\ntriggers: [{ keyword: menu }]\nsteps:\n  - send: \"Our menu, with \\\"quotes\\\", commas\\nand two lines\"\n";

struct Project {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Project {
    fn new(flows: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("flows")).unwrap();
        for (name, text) in flows {
            std::fs::write(dir.path().join("flows").join(name), text).unwrap();
        }
        let config = dir.path().join("parley.yaml");
        let db = format!("sqlite://{}", dir.path().join("parley.db").display());
        std::fs::write(
            &config,
            config_yaml(
                dir.path(),
                &db,
                "http://127.0.0.1:9",
                "http://127.0.0.1:9",
                "",
            ),
        )
        .unwrap();
        Self { dir, config }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `parley ARGS --config …`: success, and stdout and stderr together.
    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_parley"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .current_dir(self.dir.path())
            .output()
            .expect("run parley");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Every file of the flows folder and its bytes.
    fn flows(&self) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(self.path("flows"))
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn csv_export_then_import_changes_nothing_and_one_edit_is_exactly_one_change() {
    let p = Project::new(&[
        ("welcome.yaml", WELCOME),
        ("welcome.es.po", WELCOME_ES_PO),
        ("menu.yaml", MENU),
    ]);
    let csv = p.path("texts.csv");
    let (ok, out) = p.run(&["translations", "export", s(&csv)]);
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let flows = p.path("flows");
    let f = flows.display();
    assert_eq!(
        text,
        format!(
            "flow,where,text,es,hi\n\
             menu,{f}/menu.yaml:5:12,\"Our menu, with \"\"quotes\"\", commas\nand two lines\",,\n\
             welcome,{f}/welcome.yaml:9:14,Hi! What can I do for you?,¡Hola! ¿En qué puedo ayudarte?,\n\
             welcome,{f}/welcome.yaml:10:38,My order,Mi pedido,\n\
             welcome,{f}/welcome.yaml:10:72,A person,,\n"
        )
    );
    let before = p.flows();
    let (ok, out) = p.run(&["translations", "import", s(&csv)]);
    assert!(ok, "{out}");
    assert!(out.contains("nothing to change"), "{out}");
    assert_eq!(p.flows(), before, "byte-identical");

    // One cell filled in: a dry run shows it and writes nothing.
    let edited = text.replace("A person,,", "A person,Una persona,");
    std::fs::write(&csv, &edited).unwrap();
    let (ok, out) = p.run(&["translations", "import", "--dry-run", s(&csv)]);
    assert!(ok, "{out}");
    assert!(
        out.contains("welcome.es.po: + \"A person\" → \"Una persona\""),
        "{out}"
    );
    assert!(
        out.contains("dry run: 1 added, 0 changed, 0 removed in 1 file(s); nothing written"),
        "{out}"
    );
    assert_eq!(p.flows(), before, "a dry run writes nothing");

    let (ok, out) = p.run(&["translations", "import", s(&csv)]);
    assert!(ok, "{out}");
    assert!(
        out.contains("1 added, 0 changed, 0 removed in 1 file(s)"),
        "{out}"
    );
    let po = std::fs::read_to_string(p.path("flows/welcome.es.po")).unwrap();
    assert_eq!(
        po,
        "msgid \"\"\nmsgstr \"\"\n\"Language: es\\n\"\n\"MIME-Version: 1.0\\n\"\n\"Content-Type: text/plain; charset=UTF-8\\n\"\n\"Content-Transfer-Encoding: 8bit\\n\"\n\n#: welcome.yaml:10:38\nmsgid \"My order\"\nmsgstr \"Mi pedido\"\n\n#: welcome.yaml:10:72\nmsgid \"A person\"\nmsgstr \"Una persona\"\n"
    );
    // Only that file changed; the flow files (and their inline translations) did not.
    let after = p.flows();
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a != b, name == "welcome.es.po", "{name}");
    }
    // And exported again, the same CSV as edited.
    let (ok, out) = p.run(&["translations", "export", s(&csv)]);
    assert!(ok, "{out}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), edited);
}

#[test]
fn po_export_then_import_changes_nothing_and_needs_a_language_among_several() {
    let p = Project::new(&[("welcome.yaml", WELCOME), ("menu.yaml", MENU)]);
    let file = p.path("es.po");
    let (ok, out) = p.run(&["translations", "export", s(&file)]);
    assert!(!ok);
    assert!(out.contains("a PO file holds one language, and the flows have 2: es, hi; choose one with `--language es`"), "{out}");
    let (ok, out) = p.run(&["translations", "export", "--language", "es", s(&file)]);
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"Language: es\\n\""), "{text}");
    assert!(text.contains("msgctxt \"welcome\"\nmsgid \"Hi! What can I do for you?\"\nmsgstr \"¡Hola! ¿En qué puedo ayudarte?\"\n"), "{text}");
    assert!(text.contains("msgctxt \"menu\"\nmsgid \"\"\n\"Our menu, with \\\"quotes\\\", commas\\n\"\n\"and two lines\"\nmsgstr \"\"\n"), "{text}");
    let before = p.flows();
    let (ok, out) = p.run(&["translations", "import", s(&file)]);
    assert!(ok && out.contains("nothing to change"), "{out}");
    assert_eq!(p.flows(), before);
    // A translator fills in the menu's text (over two lines, as Poedit writes it).
    let edited = text.replace(
        "\"and two lines\"\nmsgstr \"\"\n",
        "\"and two lines\"\nmsgstr \"Nuestro menú, con \\\"comillas\\\", comas\\n\"\n\"y dos líneas\"\n",
    );
    std::fs::write(&file, edited).unwrap();
    let (ok, out) = p.run(&["translations", "import", s(&file)]);
    assert!(ok, "{out}");
    assert!(out.contains("menu.es.po: + \"Our menu, with \"quotes\", commas and two lines\" → \"Nuestro menú, con \"comillas\", comas y dos líneas\""), "{out}");
    let (ok, out) = p.run(&["check"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("translations: menu  es 1/1 (100 %)  hi 0/1 (0 %)"),
        "{out}"
    );
}

#[test]
fn hostile_or_mistaken_input_is_refused_clearly() {
    let p = Project::new(&[("welcome.yaml", WELCOME)]);
    let before = p.flows();
    let file = p.path("in.csv");
    let cases: Vec<(String, &str)> = vec![
        ("flow,where,text,es\nwelcome,x,\"never closed,\n".into(), "line 2: a quoted cell is never closed"),
        ("flow,where,text,es\nwelcome,x,My \"order\",Mi pedido\n".into(), "line 2: a quote inside a cell"),
        ("flow,where,text,fr\nwelcome,x,My order,Ma commande\n".into(), "line 2: a Français (fr) translation for flow `welcome` ("),
        ("flow,where,text,fr\nwelcome,x,My order,Ma commande\n".into(), "which does not declare that language; add `fr` to its `languages:` first\nnothing was written"),
        ("name,phone\n".into(), "line 1: the columns `flow`, `where` and `text` are missing"),
    ];
    for (text, want) in cases {
        std::fs::write(&file, &text).unwrap();
        let (ok, out) = p.run(&["translations", "import", s(&file)]);
        assert!(!ok, "{text}: {out}");
        assert!(out.contains(want), "{text}\n{out}");
    }
    // Unknown flows and texts: reported with their line, skipped; the rest imported.
    std::fs::write(
        &file,
        "flow,where,text,es\nnope,,Hi,Hola\nwelcome,,Gone,Ido\nwelcome,,My order,Mi pedido\n",
    )
    .unwrap();
    let (ok, out) = p.run(&["translations", "import", s(&file)]);
    assert!(ok, "{out}");
    assert!(
        out.contains("line 2: there is no flow `nope`; skipped"),
        "{out}"
    );
    assert!(
        out.contains(
            "line 3: flow `welcome` has no text \"Gone\" (changed since the export?); skipped"
        ),
        "{out}"
    );
    assert!(
        out.contains("welcome.es.po: + \"My order\" → \"Mi pedido\""),
        "{out}"
    );
    // A file over 10 MiB is not read.
    let big = p.path("big.csv");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(11 * 1024 * 1024).unwrap();
    let (ok, out) = p.run(&["translations", "import", s(&big)]);
    assert!(!ok);
    assert!(out.contains("11 MiB; at most 10 MiB is read"), "{out}");
    // Neither a CSV nor a PO file.
    let (ok, out) = p.run(&["translations", "import", s(&p.path("texts.xlsx"))]);
    assert!(!ok && out.contains("name a .csv or a .po file"), "{out}");
    let after = p.flows();
    let changed: Vec<&str> = after
        .iter()
        .filter(|f| !before.contains(f))
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(changed, ["welcome.es.po"]);
}

#[test]
fn check_warns_about_a_missing_translation_at_its_place_and_prints_the_coverage() {
    let p = Project::new(&[("welcome.yaml", WELCOME), ("welcome.es.po", WELCOME_ES_PO)]);
    let (ok, out) = p.run(&["check"]);
    assert!(ok, "warnings do not fail the check: {out}");
    let flows = p.path("flows");
    assert!(
        out.contains(&format!(
            "{}/welcome.yaml:10:72: warning: no Spanish (es) translation of \"A person\": customers whose language is es read it in English",
            flows.display()
        )),
        "{out}"
    );
    assert!(out.contains("hint: add it to welcome.es.po (`parley translations export`) or under `translations: es:`"), "{out}");
    assert!(
        out.contains("translations: welcome  es 2/3 (67 %)"),
        "{out}"
    );
    // A broken .po file is an error at its line and column.
    std::fs::write(
        p.path("flows/welcome.es.po"),
        "msgid \"My order\"\nmsgstr \"Mi pedido\n",
    )
    .unwrap();
    let (ok, out) = p.run(&["check"]);
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "{}/welcome.es.po:2:8: error: this string has no closing quote",
            flows.display()
        )),
        "{out}"
    );
}
