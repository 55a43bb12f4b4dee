//! The SQL migrations compiled into the binary, written to `$OUT_DIR` as
//! `migrations_{sqlite,postgres}.rs`, which the store hands to sqlx's migrator
//! (`store::migrations`). sqlx's `migrate!` macro would do the same, but its feature
//! compiles a second copy of sqlx, SQLite, ring and rustls for the build host: minutes of
//! every fresh build.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    for backend in ["sqlite", "postgres"] {
        let code = migrations(&root, backend);
        std::fs::write(out.join(format!("migrations_{backend}.rs")), code)
            .expect("OUT_DIR is writable");
    }
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
        // Each file by its absolute path, as `include_str!` names it below: a target
        // folder shared with another checkout must not keep paths into that checkout.
        println!("cargo:rerun-if-changed={}", path.display());
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
