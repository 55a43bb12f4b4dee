//! `project_files.rs`, written to `$OUT_DIR`: the example flows, their tests, scripts,
//! knowledge and scripted models, which `parley init` writes into a new project. (The
//! store's migrations are compiled the same way by `crates/parley-store/build.rs`.)

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=flows");
    println!("cargo:rerun-if-changed=scripts");
    println!("cargo:rerun-if-changed=knowledge");
    println!("cargo:rerun-if-changed=models");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("project_files.rs"), project_files(&root))
        .expect("OUT_DIR is writable");
}

/// `PROJECT_FILES`: each example file's path under the project and its text.
fn project_files(root: &Path) -> String {
    let mut files = Vec::new();
    // `.po`: a flow's translations beside it (flows/welcome.es.po).
    collect(root, Path::new("flows"), &["yaml", "yml", "po"], &mut files);
    collect(root, Path::new("scripts"), &["rhai"], &mut files);
    collect(root, Path::new("knowledge"), &["md"], &mut files);
    collect(root, Path::new("models"), &["yaml"], &mut files);
    files.sort();
    let mut out = String::from("/// The example project's files: path under the project, text.\npub const PROJECT_FILES: &[(&str, &str)] = &[\n");
    for rel in &files {
        // Each file by its absolute path, as `include_str!` names it below: a target
        // folder shared with another checkout (scripts/readme_run.sh builds a clone in this
        // one's) must not keep paths into that checkout, which may be gone.
        println!("cargo:rerun-if-changed={}", root.join(rel).display());
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            root.join(rel).display().to_string()
        )
        .expect("write to a String");
    }
    out.push_str("];\n");
    out
}

/// The files under `root/dir` (sub-folders included) whose extension is one of `exts`.
fn collect(root: &Path, dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let rel = dir.join(entry.file_name());
        let path = root.join(&rel);
        if path.is_dir() {
            collect(root, &rel, exts, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e))
        {
            out.push(rel);
        }
    }
}
