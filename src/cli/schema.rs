//! `parley schema DIR`: writes the JSON Schemas of flow files (`flow.schema.json`), flow
//! test files (`flow-test.schema.json`) and the config (`config.schema.json`) into DIR,
//! creating it if missing, for editors that validate and complete YAML (VS Code's YAML
//! extension and any other using yaml-language-server). The same files are served at
//! `/schemas/…` and written by `parley init` into a new project's `schemas/` folder.

use std::path::Path;
use std::process::ExitCode;

/// Writes every schema file into `dir`, replacing older versions of them (they are
/// generated, not edited); says what it wrote.
pub fn main(dir: &Path) -> ExitCode {
    match write_all(dir) {
        Ok(written) => {
            for path in &written {
                println!("wrote {}", path.display());
            }
            println!(
                "Point your editor at them: see the README's \"Schema and editor set-up\" (or run `parley init`, which sets up VS Code)."
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("parley schema: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the schema files into `dir` (created if missing); the paths written, in order.
pub fn write_all(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (name, text) in files() {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Every schema file's name and text (pretty JSON, ending with a line break).
pub fn files() -> Vec<(&'static str, String)> {
    crate::studio::schema::schema_files()
        .into_iter()
        .map(|(name, schema)| {
            let mut text = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
            text.push('\n');
            (name, text)
        })
        .collect()
}
