//! Embeds the SQL migrations (`migrations/sqlite`, `migrations/postgres`) into the binary as
//! a list Parley hands to sqlx's migrator (`store::migrations`). sqlx's `migrate!` macro
//! would do the same, but its feature compiles a second copy of sqlx, SQLite, ring and
//! rustls for the build host: minutes of every fresh build.

use std::fmt::Write;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for backend in ["sqlite", "postgres"] {
        let dir = Path::new("migrations").join(backend);
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
            let absolute = std::fs::canonicalize(&path).expect("the migration's path");
            writeln!(
                code,
                "    ({version}, {:?}, include_str!({:?})),",
                description.replace('_', " "),
                absolute.display().to_string()
            )
            .expect("write to a String");
        }
        code.push_str("]\n");
        std::fs::write(
            Path::new(&out).join(format!("migrations_{backend}.rs")),
            code,
        )
        .expect("write the migration list");
    }
}
