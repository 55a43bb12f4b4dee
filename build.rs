//! `sqlx::migrate!` embeds the migrations at compile time: rebuild when they change.
//! `parley init` writes the example flows, their tests and their scripts: this lists those
//! files (`$OUT_DIR/project_files.rs`, each `include_str!`-ed) so the binary carries them.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=flows");
    println!("cargo:rerun-if-changed=scripts");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut files = Vec::new();
    collect(&root, Path::new("flows"), &["yaml", "yml"], &mut files);
    collect(&root, Path::new("scripts"), &["rhai"], &mut files);
    files.sort();
    let mut out = String::from("/// The example project's files: path under the project, text.\npub const PROJECT_FILES: &[(&str, &str)] = &[\n");
    for rel in &files {
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            root.join(rel).display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("project_files.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
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
