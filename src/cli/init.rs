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

/// `parley keygen [--name N] [--scope S]... [--sender ID]... [--expires DAY]`.
#[derive(clap::Args, Debug, Default)]
pub struct KeygenArgs {
    /// The key's name (it names the caller in logs and the audit log).
    #[arg(long, default_value = "my-client")]
    pub name: String,
    /// A scope the key gets (repeatable): send, read, contacts, broadcasts, insights, flows,
    /// admin, inbox. None: every route.
    #[arg(long = "scope", value_parser = parse_scope)]
    pub scopes: Vec<crate::config::ApiScope>,
    /// A sender id the key may send from (repeatable). None: every sender.
    #[arg(long = "sender")]
    pub senders: Vec<i64>,
    /// The day the key stops working (2027-01-01), or an RFC 3339 instant.
    #[arg(long, value_parser = parse_expires)]
    pub expires: Option<String>,
}

fn parse_scope(name: &str) -> Result<crate::config::ApiScope, String> {
    crate::config::ApiScope::parse(name).ok_or_else(|| {
        format!(
            "`{name}` is not a scope; the scopes are {}",
            crate::config::scope_names()
        )
    })
}

fn parse_expires(text: &str) -> Result<String, String> {
    crate::config::parse_expiry(text)
        .map(|_| text.to_string())
        .ok_or_else(|| format!("`{text}` is not a date like 2027-01-01 (or 2027-01-01T12:00:00Z)"))
}

/// The `api_keys` entry `parley keygen` prints for `hash`, as YAML to paste.
pub fn keygen_entry(args: &KeygenArgs, hash: &str) -> String {
    let mut entry = format!(
        "  - name: {}\n    key_sha256: \"{hash}\"\n",
        serde_json::Value::String(args.name.clone())
    );
    if !args.scopes.is_empty() {
        let names: Vec<&str> = args.scopes.iter().map(|s| s.as_str()).collect();
        entry.push_str(&format!("    scopes: [{}]\n", names.join(", ")));
    }
    if !args.senders.is_empty() {
        let ids: Vec<String> = args.senders.iter().map(i64::to_string).collect();
        entry.push_str(&format!("    senders: [{}]\n", ids.join(", ")));
    }
    if let Some(expires) = &args.expires {
        entry.push_str(&format!("    expires: \"{expires}\"\n"));
    }
    entry
}

/// `parley keygen …`: a new key, its hash, and the entry to paste under `api_keys:`.
pub fn keygen(args: &KeygenArgs) -> String {
    let (key, hash) = new_api_key();
    format!(
        "key:        {key}\nkey_sha256: {hash}\n\nGive the key to the client; put only the hash in the config (to rotate a key, add this entry beside the old one of the same name, hand out the new key, then remove the old entry and restart):\napi_keys:\n{}",
        keygen_entry(args, &hash)
    )
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
    fn keygen_prints_an_entry_that_reads_as_config_with_its_scopes() {
        let args = KeygenArgs {
            name: "crm: north".into(),
            scopes: vec![crate::config::ApiScope::Send, crate::config::ApiScope::Read],
            senders: vec![3],
            expires: Some("2027-01-01".into()),
        };
        let printed = keygen(&args);
        let key = printed
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("key:")
            .trim();
        let yaml = &printed[printed.find("api_keys:").unwrap()..];
        let text = format!("senders:\n  - {{ id: 3, name: S, channel: sandbox, phone_number: \"+15550000000\" }}\n{yaml}");
        let config = crate::config::Config::from_yaml(&text, "parley.yaml", &|_| None).unwrap();
        let entry = &config.api_keys[0];
        assert_eq!(entry.name, "crm: north");
        assert_eq!(entry.scopes, Some(args.scopes.clone()));
        assert_eq!(entry.senders, Some(vec![3]));
        assert!(entry.expires_at().is_some());
        let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
        assert_eq!(entry.key_sha256, hash, "the printed key is the hashed one");
        let plain = keygen_entry(
            &KeygenArgs {
                name: "x".into(),
                ..KeygenArgs::default()
            },
            &hash,
        );
        assert!(
            !plain.contains("scopes") && !plain.contains("expires"),
            "{plain}"
        );
        assert!(parse_scope("everything")
            .unwrap_err()
            .contains("send, read, contacts"));
        assert!(parse_expires("soon").is_err());
    }

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
