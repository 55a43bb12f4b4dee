//! Two lists compiled into the binary, written to `$OUT_DIR`:
//!
//! - `migrations_{sqlite,postgres}.rs`: the SQL migrations, which Parley hands to sqlx's
//!   migrator (`store::migrations`). sqlx's `migrate!` macro would do the same, but its
//!   feature compiles a second copy of sqlx, SQLite, ring and rustls for the build host:
//!   minutes of every fresh build.
//! - `project_files.rs`: the example flows, their tests, scripts, knowledge and scripted
//!   models, which `parley init` writes into a new project.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=flows");
    println!("cargo:rerun-if-changed=scripts");
    println!("cargo:rerun-if-changed=knowledge");
    println!("cargo:rerun-if-changed=models");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    for backend in ["sqlite", "postgres"] {
        let code = migrations(&root, backend);
        std::fs::write(out.join(format!("migrations_{backend}.rs")), code)
            .expect("OUT_DIR is writable");
    }
    std::fs::write(out.join("project_files.rs"), project_files(&root))
        .expect("OUT_DIR is writable");
}

/// `&[(version, description, include_str!(file)), …]` for `migrations/<backend>`, in order.
fn migrations(root: &Path, backend: &str) -> String {
    let dir = root.join("migrations").join(backend);
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let mut code = String::from("&[\n");
    for path in files {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a UTF-8 name");
        let (version, description) = name
            .split_once('_')
            .unwrap_or_else(|| panic!("{name}: expected <version>_<description>.sql"));
        let version: i64 = version
            .parse()
            .unwrap_or_else(|_| panic!("{name}: the version must be a number"));
        writeln!(
            code,
            "    ({version}, {:?}, include_str!({:?})),",
            description.replace('_', " "),
            path.display().to_string()
        )
        .expect("write to a String");
    }
    code.push_str("]\n");
    code
}

/// `PROJECT_FILES`: each example file's path under the project and its text.
fn project_files(root: &Path) -> String {
    let mut files = Vec::new();
    collect(root, Path::new("flows"), &["yaml", "yml"], &mut files);
    collect(root, Path::new("scripts"), &["rhai"], &mut files);
    collect(root, Path::new("knowledge"), &["md"], &mut files);
    collect(root, Path::new("models"), &["yaml"], &mut files);
    files.sort();
    let mut out = String::from("/// The example project's files: path under the project, text.\npub const PROJECT_FILES: &[(&str, &str)] = &[\n");
    for rel in &files {
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
