//! The analysis against temporary projects: the same problems as the loader, fixes,
//! completion, hover, definition and the outline.

use super::*;
use crate::flows::{load_configured, load_configured_with, Problem};
use std::path::Path;

/// A project in a temporary folder: `flows/` with `files`, `scripts/`, one template.
fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows/tests")).unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    std::fs::write(dir.path().join("scripts/total.rhai"), "vars.total = 1;").unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join("flows").join(name), text).unwrap();
    }
    let mut config = Config::embedded_default();
    config.flows.dir = dir.path().join("flows").display().to_string();
    config.flows.scripts_dir = dir.path().join("scripts").display().to_string();
    config.templates = vec![serde_json::from_value(serde_json::json!({
        "id": 45, "name": "menu_reminder", "language": "en", "status": "approved",
        "body": "Hi {{1}}, reply MENU to continue.", "category": "utility"
    }))
    .unwrap()];
    let config_file = dir.path().join("parley.yaml");
    std::fs::write(
        &config_file,
        "templates:\n  - id: 45\n    name: menu_reminder\n    language: en\n",
    )
    .unwrap();
    (
        dir,
        Project::new(Arc::new(config)).with_config_file(config_file),
    )
}

fn flow_path(project: &Project, name: &str) -> PathBuf {
    Path::new(&project.config().flows.dir).join(name)
}

const WELCOME: &str = "id: welcome\ntriggers:\n  - keyword: hi\nsteps:\n  - id: ask_name\n    ask:\n      text: \"Your name?\"\n      save_as: name\n  - send: \"Hi {{ vars.name | upper }}\"\n  - goto_flow: orders\n";
const ORDERS: &str = "id: orders\ndescription: Where is my order\ntriggers:\n  - keyword: order\nsteps:\n  - send: Your order\n  - goto_flow: nowhere\n";
const TWIN: &str = "id: orders\nsteps:\n  - send: twin\n";
const BROKEN: &str = "id: broken\nsteps:\n  - sned: oops\n";

fn problems(d: &[Diagnostic]) -> Vec<Problem> {
    d.iter().map(|d| d.problem.clone()).collect()
}

fn of_file(all: &[Problem], path: &Path) -> Vec<Problem> {
    let name = path.display().to_string();
    all.iter().filter(|p| p.file == name).cloned().collect()
}

#[test]
fn every_file_has_the_problems_the_loader_reports_for_it() {
    let (_dir, project) = project(&[
        ("welcome.yaml", WELCOME),
        ("orders.yaml", ORDERS),
        ("twin.yaml", TWIN),
        ("broken.yaml", BROKEN),
    ]);
    let report = load_configured(project.config());
    assert!(report.problems.len() >= 3, "{}", report.render());
    for name in ["welcome.yaml", "orders.yaml", "twin.yaml", "broken.yaml"] {
        let path = flow_path(&project, name);
        let text = std::fs::read_to_string(&path).unwrap();
        let mine = problems(&project.check(&path, &text));
        assert_eq!(mine, of_file(&report.problems, &path), "{name}");
    }
    // The cross-file ones are among them: the missing flow and the duplicate id.
    let orders = problems(&project.check(&flow_path(&project, "orders.yaml"), ORDERS));
    assert!(orders
        .iter()
        .any(|p| p.message.contains("no flow with id `nowhere`")));
    assert!(orders
        .iter()
        .any(|p| p.message.contains("the flow id `orders`")));
}

#[test]
fn an_unsaved_text_wins_over_the_file_on_disk_and_counts_for_the_other_files() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME), ("orders.yaml", ORDERS)]);
    let orders = flow_path(&project, "orders.yaml");
    let fixed = ORDERS.replace("nowhere", "welcome");
    assert!(project.check(&orders, &fixed).is_empty());
    // Renamed in the editor: the other file's `goto_flow: orders` no longer finds it.
    let renamed = fixed.replace("id: orders", "id: order_status");
    let welcome = flow_path(&project, "welcome.yaml");
    let mut others = Overrides::new();
    others.insert(orders.clone(), renamed.clone());
    let mine = problems(&project.check_with(&welcome, WELCOME, &others));
    let report = load_configured_with(project.config(), &others);
    assert_eq!(mine, of_file(&report.problems, &welcome));
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert!(mine[0].message.contains("no flow with id `orders`"));
    // Saved to disk since: a kept compile is not used for a changed file.
    std::fs::write(&orders, &renamed).unwrap();
    let on_disk = problems(&project.check(&welcome, WELCOME));
    assert_eq!(on_disk, mine);
}

#[test]
fn a_misspelt_step_kind_is_placed_on_its_word_with_a_fix() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME), ("orders.yaml", ORDERS)]);
    let path = flow_path(&project, "welcome.yaml");
    let text = WELCOME.replace("  - send:", "  - sned:");
    let found = project.check(&path, &text);
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0];
    assert_eq!((d.problem.line, d.problem.column), (9, 5));
    assert_eq!(d.problem.message, "`sned` is not a step");
    assert_eq!(d.end, Pos { line: 9, column: 9 });
    assert_eq!(
        d.fixes,
        vec![Fix {
            title: "Change to `send`".into(),
            start: Pos { line: 9, column: 5 },
            end: Pos { line: 9, column: 9 },
            replacement: "send".into(),
        }]
    );
    // Taking the fix clears the problem (the other file's own stays its own).
    assert!(project.check(&path, WELCOME).is_empty());
}

#[test]
fn fixes_for_a_goto_a_filter_and_a_flow_id() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME), ("orders.yaml", ORDERS)]);
    let path = flow_path(&project, "welcome.yaml");
    let text = WELCOME
        .replace("| upper", "| uper")
        .replace("goto_flow: orders", "goto_flow: ordres")
        + "  - goto: ask_nmae\n";
    let found = project.check(&path, &text);
    let fixes: Vec<(usize, usize, &str)> = found
        .iter()
        .flat_map(|d| &d.fixes)
        .map(|f| (f.start.line, f.start.column, f.replacement.as_str()))
        .collect();
    assert_eq!(
        fixes,
        vec![(9, 30, "upper"), (10, 16, "orders"), (11, 11, "ask_name")],
        "{found:#?}"
    );
}

#[test]
fn test_files_and_other_files_have_no_flow_problems() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME)]);
    let test = flow_path(&project, "tests/welcome.test.yaml");
    assert!(project.check(&test, "not: [a flow").is_empty());
    assert!(project
        .check(Path::new("elsewhere/x.yaml"), "x: [")
        .is_empty());
}

#[test]
fn a_file_over_the_size_limit_is_one_problem() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME)]);
    let path = flow_path(&project, "welcome.yaml");
    let huge = "#".repeat(1024 * 1024 + 1);
    let found = project.check(&path, &huge);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].problem.message.contains("larger than"));
}

fn labels(c: &Completions) -> Vec<&str> {
    c.items.iter().map(|i| i.label.as_str()).collect()
}

#[test]
fn completes_step_ids_after_goto_and_flow_ids_after_goto_flow() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME), ("orders.yaml", ORDERS)]);
    let path = flow_path(&project, "welcome.yaml");
    let text = format!("{WELCOME}  - goto: \n  - goto_flow: or\n");
    let c = project.complete(
        &path,
        &text,
        Pos {
            line: 11,
            column: 11,
        },
    );
    assert_eq!(labels(&c), vec!["ask_name"]);
    assert_eq!(c.items[0].kind, CompletionKind::StepId);
    assert_eq!(
        c.from,
        Pos {
            line: 11,
            column: 11
        }
    );
    let c = project.complete(
        &path,
        &text,
        Pos {
            line: 12,
            column: 18,
        },
    );
    assert_eq!(labels(&c), vec!["orders", "welcome"]);
    assert_eq!(
        c.from,
        Pos {
            line: 12,
            column: 16
        }
    );
    assert_eq!(
        c.items[0].documentation.as_deref(),
        Some("Where is my order")
    );
}

#[test]
fn completes_keys_step_kinds_templates_and_blanks() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME)]);
    let path = flow_path(&project, "welcome.yaml");
    let text = format!(
        "{WELCOME}  - se\n  - ask:\n      ex\n  - send: {{ template: m }}\n  - send: \"{{{{ vars. }}}} {{{{ contact.name | lo }}}}\"\n"
    );
    let step = project.complete(
        &path,
        &text,
        Pos {
            line: 11,
            column: 7,
        },
    );
    assert!(labels(&step).contains(&"send"), "{:?}", labels(&step));
    let send = step.items.iter().find(|i| i.label == "send").unwrap();
    assert_eq!(send.kind, CompletionKind::Step);
    assert_eq!(send.insert, "send: ");
    assert!(send.documentation.is_some());
    let ask = project.complete(
        &path,
        &text,
        Pos {
            line: 13,
            column: 9,
        },
    );
    assert!(labels(&ask).contains(&"expect"), "{:?}", labels(&ask));
    // Keys already written in the group are not offered again.
    let more = WELCOME.replace("save_as: name\n", "save_as: name\n      \n");
    let beside = Pos { line: 9, column: 7 };
    let written = project.complete(&path, &more, beside);
    assert!(
        labels(&written).contains(&"expect"),
        "{:?}",
        labels(&written)
    );
    assert!(
        !labels(&written).contains(&"text"),
        "{:?}",
        labels(&written)
    );
    assert!(
        !labels(&written).contains(&"save_as"),
        "{:?}",
        labels(&written)
    );
    assert_eq!(
        ask.from,
        Pos {
            line: 13,
            column: 7
        }
    );
    let t = project.complete(
        &path,
        &text,
        Pos {
            line: 14,
            column: 24,
        },
    );
    assert_eq!(labels(&t), vec!["menu_reminder"]);
    assert_eq!(t.items[0].kind, CompletionKind::Template);
    let vars = project.complete(
        &path,
        &text,
        Pos {
            line: 15,
            column: 20,
        },
    );
    assert_eq!(labels(&vars), vec!["name"]);
    let filters = project.complete(
        &path,
        &text,
        Pos {
            line: 15,
            column: 44,
        },
    );
    assert!(
        labels(&filters).contains(&"lower"),
        "{:?}",
        labels(&filters)
    );
    assert_eq!(filters.items[0].kind, CompletionKind::Filter);
    let top = project.complete(&path, "id: x\ntr", Pos { line: 2, column: 3 });
    assert!(labels(&top).contains(&"triggers"));
}

#[test]
fn hover_explains_keys_and_what_a_jump_names() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME), ("orders.yaml", ORDERS)]);
    let path = flow_path(&project, "welcome.yaml");
    let key = project
        .hover(&path, WELCOME, Pos { line: 8, column: 8 })
        .unwrap();
    assert!(key.contains("`save_as`"), "{key}");
    let flow = project
        .hover(
            &path,
            WELCOME,
            Pos {
                line: 10,
                column: 18,
            },
        )
        .unwrap();
    assert!(flow.contains("Where is my order"), "{flow}");
    let text = format!("{WELCOME}  - goto: ask_name\n");
    let step = project
        .hover(
            &path,
            &text,
            Pos {
                line: 11,
                column: 14,
            },
        )
        .unwrap();
    assert!(step.contains("line 5"), "{step}");
    assert_eq!(
        project.hover(
            &path,
            WELCOME,
            Pos {
                line: 7,
                column: 15
            }
        ),
        None
    );
}

#[test]
fn definition_of_a_goto_a_flow_a_template_and_a_script() {
    let (dir, project) = project(&[("welcome.yaml", WELCOME), ("orders.yaml", ORDERS)]);
    let path = flow_path(&project, "welcome.yaml");
    let text = format!(
        "{WELCOME}  - goto: ask_name\n  - send: {{ template: menu_reminder }}\n  - script: {{ file: total.rhai }}\n"
    );
    let step = project
        .definition(
            &path,
            &text,
            Pos {
                line: 11,
                column: 12,
            },
        )
        .unwrap();
    assert_eq!(
        (step.path.as_path(), step.line, step.column),
        (path.as_path(), 5, 9)
    );
    let flow = project
        .definition(
            &path,
            &text,
            Pos {
                line: 10,
                column: 17,
            },
        )
        .unwrap();
    assert_eq!(flow.path, flow_path(&project, "orders.yaml"));
    assert_eq!((flow.line, flow.column), (1, 5));
    let template = project
        .definition(
            &path,
            &text,
            Pos {
                line: 12,
                column: 25,
            },
        )
        .unwrap();
    assert_eq!(template.path, dir.path().join("parley.yaml"));
    assert_eq!(template.line, 3);
    let script = project
        .definition(
            &path,
            &text,
            Pos {
                line: 13,
                column: 24,
            },
        )
        .unwrap();
    assert_eq!(script.path, dir.path().join("scripts/total.rhai"));
}

#[test]
fn the_outline_lists_triggers_and_steps() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME)]);
    let path = flow_path(&project, "welcome.yaml");
    let symbols = project.outline(&path, WELCOME);
    let names: Vec<(&str, SymbolKind)> =
        symbols.iter().map(|s| (s.name.as_str(), s.kind)).collect();
    assert_eq!(
        names,
        vec![
            ("keyword: hi", SymbolKind::Trigger),
            ("ask_name", SymbolKind::Step),
            ("step 2", SymbolKind::Step),
            ("step 3", SymbolKind::Step),
        ]
    );
    assert_eq!((symbols[1].start.line, symbols[1].end.line), (5, 8));
}

#[test]
fn the_compiled_flow_is_there_when_the_file_compiles() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME), ("orders.yaml", ORDERS)]);
    let path = flow_path(&project, "orders.yaml");
    // A `goto_flow` to a missing flow is a problem across flows: the file still compiles.
    let flow = project.compiled(&path, ORDERS).unwrap();
    assert_eq!(flow.id, "orders");
    assert!(project.compiled(&path, BROKEN).is_none());
}

#[test]
fn a_part_of_a_blank_is_fixed_without_its_root() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME)]);
    let path = flow_path(&project, "welcome.yaml");
    let text = WELCOME.replace("vars.name | upper", "message.txt");
    let found = project.check(&path, &text);
    let fixes: Vec<&Fix> = found.iter().flat_map(|d| &d.fixes).collect();
    assert_eq!(fixes.len(), 1, "{found:#?}");
    assert_eq!(fixes[0].replacement, "text");
    let line: String = text.lines().nth(8).unwrap().chars().collect();
    let from = fixes[0].start.column - 1;
    let to = fixes[0].end.column - 1;
    assert_eq!(
        &line.chars().skip(from).take(to - from).collect::<String>(),
        "txt"
    );
}

#[test]
fn a_project_is_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Project>();
}

/// Completion, hover, definition and the outline answer at every place of the shipped
/// flows, and of every cut of them (what an author has typed so far), without a panic.
#[test]
fn every_place_of_the_shipped_flows_is_answered() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&shipped)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let named: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let (_dir, project) = project(&named);
    for (name, text) in &files {
        let path = flow_path(&project, name);
        for (row, line) in text.lines().enumerate() {
            for column in 1..=line.chars().count() + 2 {
                let at = Pos {
                    line: row + 1,
                    column,
                };
                project.complete(&path, text, at);
                project.hover(&path, text, at);
                project.definition(&path, text, at);
            }
            let cut: String = text.lines().take(row).collect::<Vec<_>>().join("\n");
            project.outline(&path, &cut);
        }
        // Typed up to each character: completion at the end of what is there.
        let chars: Vec<char> = text.chars().collect();
        for n in 0..chars.len() {
            let typed: String = chars[..n].iter().collect();
            let line = typed.matches('\n').count() + 1;
            let column = typed.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            project.complete(&path, &typed, Pos { line, column });
        }
    }
}

/// Cut at every line (a file being typed), a shipped flow has the problems the loader
/// reports for it with that text.
#[test]
fn a_file_cut_anywhere_has_the_loader_s_problems() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows");
    let read = |n: &str| std::fs::read_to_string(shipped.join(n)).unwrap();
    let (welcome, lead) = (read("welcome.yaml"), read("lead_capture.yaml"));
    let (_dir, project) = project(&[("welcome.yaml", &welcome), ("lead_capture.yaml", &lead)]);
    for (name, text) in [("welcome.yaml", &welcome), ("lead_capture.yaml", &lead)] {
        let path = flow_path(&project, name);
        let lines: Vec<&str> = text.lines().collect();
        for n in 0..=lines.len() {
            let cut = lines[..n].join("\n");
            let mine = problems(&project.check(&path, &cut));
            let mut unsaved = Overrides::new();
            unsaved.insert(path.clone(), cut.clone());
            let report = load_configured_with(project.config(), &unsaved);
            assert_eq!(
                mine,
                of_file(&report.problems, &path),
                "{name} cut after line {n}"
            );
        }
    }
}

#[test]
fn a_test_file_is_completed_and_explained_from_the_test_files_schema() {
    let (_dir, project) = project(&[("welcome.yaml", WELCOME)]);
    let path = flow_path(&project, "tests/welcome.test.yaml");
    let text = "name: Greets\nsteps:\n  - customer: hi\n  - exp\n";
    let labels: Vec<String> = project
        .complete(&path, text, Pos { line: 4, column: 8 })
        .items
        .into_iter()
        .map(|i| i.label)
        .collect();
    assert!(labels.iter().any(|l| l == "expect_reply"), "{labels:?}");
    // A flow's step kinds are not a test's steps.
    assert!(
        !labels.iter().any(|l| l == "send" || l == "ask"),
        "{labels:?}"
    );
    let steps = project
        .hover(&path, text, Pos { line: 2, column: 2 })
        .unwrap();
    let flow_steps = project
        .hover(
            &flow_path(&project, "welcome.yaml"),
            WELCOME,
            Pos { line: 4, column: 2 },
        )
        .unwrap();
    assert_ne!(steps, flow_steps, "a test's `steps` is not a flow's");
    assert!(steps.contains("`steps`"), "{steps}");
}
