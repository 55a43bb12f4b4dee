//! `parley init [DIR]`: writes a project that works as it is — `parley.yaml` (the embedded
//! default's settings, `config::STARTER_YAML`, plus a fresh API key stored as its SHA-256),
//! the example flows with their tests and their scripts, the JSON Schemas of flows, flow
//! tests and the config (`schemas/`) with the editor settings that use them (`.vscode/`:
//! VS Code's YAML extension validates and completes out of the box) — and prints the key
//! once. It never overwrites a file: when a project file exists it names it and writes
//! nothing; editor settings already there are left as they are, and it says what to add.

use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

include!(concat!(env!("OUT_DIR"), "/project_files.rs"));

/// The config file `parley init` writes.
pub const CONFIG_FILE: &str = "parley.yaml";

/// Where a new project keeps the schema files (`parley schema schemas` refreshes them).
pub const SCHEMAS_DIR: &str = "schemas";

/// VS Code's settings for a project: the YAML extension (and any yaml-language-server
/// editor reading them) checks flows, flow tests and the config against their schemas.
pub const VSCODE_SETTINGS: &str = r#"{
  "yaml.schemas": {
    "./schemas/flow.schema.json": ["flows/**/*.yaml", "flows/**/*.yml", "!flows/**/tests/**"],
    "./schemas/flow-test.schema.json": ["flows/tests/*.test.yaml"],
    "./schemas/config.schema.json": ["parley.yaml"]
  },
  "[yaml]": { "editor.insertSpaces": true, "editor.tabSize": 2 }
}
"#;

/// VS Code's recommended extensions for a project: the YAML extension.
pub const VSCODE_EXTENSIONS: &str = r#"{
  "recommendations": ["redhat.vscode-yaml"]
}
"#;

/// The editor set-up `parley init` writes beside the project: path and text.
pub fn editor_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = super::schema::files()
        .into_iter()
        .map(|(name, text)| (format!("{SCHEMAS_DIR}/{name}"), text))
        .collect();
    files.push((".vscode/settings.json".into(), VSCODE_SETTINGS.into()));
    files.push((".vscode/extensions.json".into(), VSCODE_EXTENSIONS.into()));
    files
}

/// Whether `name` is an editor's own settings file, which a project folder may already
/// have: left alone rather than refusing the whole project.
fn is_editor_setting(name: &str) -> bool {
    name.starts_with(".vscode/")
}

/// A new API key and the lowercase hex SHA-256 to put in `api_keys`.
pub fn new_api_key() -> (String, String) {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    let key = format!("pk_{}", hex::encode(bytes));
    let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    (key, hash)
}

/// The project's config text with `key_sha256` as its one API key.
pub fn config_text(key_sha256: &str) -> String {
    format!(
        "{STARTER_YAML}api_keys:\n  # `parley keygen` prints another key and its hash.\n  - {{ name: my-client, key_sha256: \"{key_sha256}\" }}\n",
        STARTER_YAML = crate::config::STARTER_YAML
    )
}

/// A folder beside `dir` (inside it for `.`) that does not exist yet, to suggest when
/// `dir` already holds a project: `my-bot-2`, `my-bot-3`…
fn free_folder(dir: &Path) -> PathBuf {
    let candidates: Box<dyn Iterator<Item = PathBuf>> = match dir.file_name() {
        Some(name) => {
            let name = name.to_string_lossy().into_owned();
            let parent = dir.parent().unwrap_or(Path::new("")).to_path_buf();
            Box::new((2..).map(move |n| parent.join(format!("{name}-{n}"))))
        }
        None => {
            let dir = dir.to_path_buf();
            Box::new(
                std::iter::once(dir.join("my-bot"))
                    .chain((2..).map(move |n| dir.join(format!("my-bot-{n}")))),
            )
        }
    };
    candidates
        .take(1000)
        .find(|p| !p.exists())
        .unwrap_or_else(|| dir.join("my-bot"))
}

pub fn main(dir: &Path) -> ExitCode {
    let editor = editor_files();
    let targets: Vec<PathBuf> = std::iter::once(CONFIG_FILE)
        .chain(PROJECT_FILES.iter().map(|(name, _)| *name))
        .chain(
            editor
                .iter()
                .map(|(name, _)| name.as_str())
                .filter(|n| !is_editor_setting(n)),
        )
        .map(|name| dir.join(name))
        .collect();
    let existing: Vec<&PathBuf> = targets.iter().filter(|p| p.exists()).collect();
    if !existing.is_empty() {
        eprintln!(
            "parley init: these files exist already and were left alone; nothing was written:"
        );
        for p in existing {
            eprintln!("  {}", p.display());
        }
        eprintln!(
            "Choose a new folder (`parley init {}`), or move them away.",
            free_folder(dir).display()
        );
        return ExitCode::FAILURE;
    }
    let (key, hash) = new_api_key();
    let kept: Vec<&str> = editor
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|n| is_editor_setting(n) && dir.join(n).exists())
        .collect();
    let files = std::iter::once((CONFIG_FILE, config_text(&hash)))
        .chain(PROJECT_FILES.iter().map(|(n, t)| (*n, t.to_string())))
        .chain(
            editor
                .iter()
                .filter(|(n, _)| !kept.contains(&n.as_str()))
                .map(|(n, t)| (n.as_str(), t.clone())),
        );
    for (name, text) in files {
        if let Err(e) = write_new(&dir.join(name), &text) {
            eprintln!(
                "parley init: cannot write {}: {e}",
                dir.join(name).display()
            );
            return ExitCode::FAILURE;
        }
    }
    let config = dir.join(CONFIG_FILE);
    let flows = PROJECT_FILES
        .iter()
        .filter(|(n, _)| {
            n.starts_with("flows/")
                && !n.starts_with("flows/tests/")
                && !n.starts_with("flows/evals/")
                && !n.ends_with(".po")
        })
        .count();
    let tests = PROJECT_FILES
        .iter()
        .filter(|(n, _)| n.starts_with("flows/tests/"))
        .count();
    let evals = PROJECT_FILES
        .iter()
        .filter(|(n, _)| n.starts_with("flows/evals/"))
        .count();
    println!(
        "Wrote {} with {flows} example flows in flows/ ({tests} tests in flows/tests/, {evals} evaluations in flows/evals/) and their scripts in scripts/.",
        config.display()
    );
    println!(
        "Editors: the schemas of flows, tests and the config are in {}/; VS Code's YAML extension (redhat.vscode-yaml, recommended in .vscode/) uses them.",
        dir.join(SCHEMAS_DIR).display()
    );
    for name in &kept {
        println!(
            "  {} exists and was left alone; add the \"yaml.schemas\" of `parley init`'s own (see the README's \"Schema and editor set-up\") to it.",
            dir.join(name).display()
        );
    }
    println!();
    println!("Your API key, shown only this once (parley.yaml keeps only its SHA-256):");
    println!("export PARLEY_KEY={key}");
    println!();
    println!("Next:");
    println!("  parley check --config {}", config.display());
    println!("  parley test --config {}", config.display());
    println!("  parley serve --config {}", config.display());
    println!("  open http://127.0.0.1:8080/sandbox and write `hi`, or call the API:");
    println!("  curl -H \"Authorization: Bearer $PARLEY_KEY\" http://127.0.0.1:8080/api/user/whatsapp/senders");
    ExitCode::SUCCESS
}

/// Creates `path` (and its folders) with `text`; fails if it exists, even if it appeared
/// since the check.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    std::io::Write::write_all(&mut file, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_carries_every_example_flow_test_and_script() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for name in [
            "flows/welcome.yaml",
            "flows/welcome.es.po",
            "flows/tests/welcome.test.yaml",
            "flows/tests/welcome_es.test.yaml",
            "scripts/order_summary.rhai",
            "flows/evals/order_noted.eval.yaml",
            "flows/evals/wants_a_person.eval.yaml",
            "models/customer.yaml",
            "models/judge.yaml",
        ] {
            let (_, text) = PROJECT_FILES
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} is not embedded"));
            assert_eq!(*text, std::fs::read_to_string(root.join(name)).unwrap());
        }
        assert!(
            PROJECT_FILES.iter().all(|(n, _)| !n.ends_with(".sh")),
            "only what a project needs"
        );
    }

    #[test]
    fn the_config_is_valid_and_holds_the_key_hash() {
        let (key, hash) = new_api_key();
        let config =
            crate::config::Config::from_yaml(&config_text(&hash), CONFIG_FILE, &|_| None).unwrap();
        assert_eq!(config.api_keys.len(), 1);
        assert_eq!(
            config.api_keys[0].key_sha256,
            hex::encode(sha2::Sha256::digest(key.as_bytes()))
        );
        assert!(!config.api_keys[0].key_sha256.contains(&key));
        assert_eq!(config.senders.len(), 1);
        assert_eq!(config.database.url, "sqlite://parley.db");
    }
}
