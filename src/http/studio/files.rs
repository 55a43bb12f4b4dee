//! The project's files as the studio shows them (`GET /studio/api/files`) and one file's
//! text with its version, the SHA-256 of its bytes (`GET /studio/api/file?path=`).
//!
//! The project folder is the one holding the flows folder (as for `knowledge:` files).
//! The studio sees only: flows (`flows/**/*.yaml`, not under a `tests` folder), flow tests
//! (`flows/tests/*.test.yaml`), evals (`flows/evals/*.eval.yaml`), scripts (`*.rhai` under
//! `flows.scripts_dir`), knowledge files (`.md`, `.markdown`, `.txt` under `knowledge/`)
//! and scripted models' rules files; and of those only the ones inside the project folder
//! once links are followed, as the loader reads them: hidden entries and links to folders
//! are skipped. Every path a request names is checked against the same rules
//! ([`Project::file`]): relative, `/`-separated, no `..`, no hidden part, no NUL, one of
//! those kinds, inside the project. The listing is bounded ([`MAX_FILES`], [`MAX_DEPTH`]),
//! and so is a file read ([`MAX_FILE_BYTES`]).

use super::super::error::Error;
use super::super::state::AppState;
use crate::config::file_limits::MAX_FILE_BYTES;
use crate::config::Config;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

/// The most files the listing shows.
const MAX_FILES: usize = 2_000;
/// The deepest folder the listing walks into, below the folder it starts from.
const MAX_DEPTH: usize = 16;
/// The longest path a request may name.
const MAX_PATH_CHARS: usize = 1_024;

/// What a file of the project is to the studio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Flow,
    Test,
    Script,
    Knowledge,
    Rules,
    Eval,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Flow => "flow",
            Kind::Test => "test",
            Kind::Script => "script",
            Kind::Knowledge => "knowledge",
            Kind::Rules => "rules",
            Kind::Eval => "eval",
        }
    }

    /// Whether the studio may create a file of this kind (flows and their tests only).
    pub(super) fn may_be_created(self) -> bool {
        matches!(self, Kind::Flow | Kind::Test)
    }
}

/// The project folder and where its kinds of files live, relative to it.
pub(super) struct Project {
    /// The project folder, links resolved.
    root: PathBuf,
    flows: PathBuf,
    /// `flows.scripts_dir`, when it is inside the project.
    scripts: Option<PathBuf>,
    /// The scripted models' rules files inside the project.
    rules: Vec<PathBuf>,
}

/// A file of the project a request named, checked.
#[derive(Debug, Clone)]
pub(super) struct ProjectFile {
    /// As the request named it: `flows/welcome.yaml`.
    pub(super) path: String,
    /// Where to read and write it: links resolved when it exists.
    pub(super) place: PathBuf,
    pub(super) kind: Kind,
    pub(super) exists: bool,
}

/// The text of a file and its version.
pub(super) struct Contents {
    pub(super) text: String,
    /// SHA-256 (hex) of the bytes on disk.
    pub(super) version: String,
}

impl Project {
    /// The project of `config`, or why there is none to edit.
    pub(super) fn of(config: &Config) -> Result<Self, Error> {
        let flows_dir = Path::new(&config.flows.dir);
        let flows = std::fs::canonicalize(flows_dir).map_err(|e| {
            Error::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!(
                    "the flows folder {} cannot be opened ({e}): create it, or set flows.dir in the config",
                    flows_dir.display()
                ),
            )
        })?;
        let (Some(root), Some(name)) = (flows.parent(), flows.file_name()) else {
            return Err(Error::bad_request(
                "the flows folder is the root of the file system: the studio edits a project's folder",
            ));
        };
        let inside = |path: &str| {
            std::fs::canonicalize(path)
                .ok()
                .and_then(|p| p.strip_prefix(root).ok().map(Path::to_path_buf))
                .filter(|p| !p.as_os_str().is_empty())
        };
        Ok(Self {
            root: root.to_path_buf(),
            flows: PathBuf::from(name),
            scripts: inside(&config.flows.scripts_dir),
            rules: config
                .models
                .iter()
                .filter_map(|m| m.script.as_deref().and_then(inside))
                .collect(),
        })
    }

    /// What the file at `relative` (already checked by [`relative`]) would be, by where it
    /// is and its name; `None` for a file the studio does not edit.
    pub(super) fn kind(&self, relative: &Path) -> Option<Kind> {
        let name = relative.file_name()?.to_str()?;
        let has = |exts: &[&str]| {
            relative
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e))
        };
        if let Ok(rest) = relative.strip_prefix(&self.flows) {
            let folders: Vec<_> = rest.parent().into_iter().flat_map(Path::iter).collect();
            match folders.as_slice() {
                [t] if *t == "tests"
                    && (name.ends_with(".test.yaml") || name.ends_with(".test.yml")) =>
                {
                    return Some(Kind::Test)
                }
                [e] if *e == "evals" && name.ends_with(".eval.yaml") => return Some(Kind::Eval),
                _ if folders.iter().any(|f| *f == "tests") => {}
                _ if has(&["yaml", "yml"]) => return Some(Kind::Flow),
                _ => {}
            }
        }
        if let Some(scripts) = &self.scripts {
            if relative.starts_with(scripts) && has(&["rhai"]) {
                return Some(Kind::Script);
            }
        }
        if relative.starts_with("knowledge") && has(&["md", "markdown", "txt"]) {
            return Some(Kind::Knowledge);
        }
        self.rules
            .iter()
            .any(|r| r == relative)
            .then_some(Kind::Rules)
    }

    /// The file `path` names, if the studio may read (and write) it: one of the project's
    /// kinds of files, inside the project once links are followed, through no link to a
    /// folder. A file that does not exist yet passes when its folder does.
    pub(super) fn file(&self, path: &str) -> Result<ProjectFile, Error> {
        let relative = relative(path)?;
        let kind = self.kind(&relative).ok_or_else(|| {
            Error::not_found(format!(
                "`{path}` is not one of the files the studio edits: flows (flows/*.yaml), their \
                 tests (flows/tests/*.test.yaml), scripts (*.rhai in the scripts folder), \
                 knowledge files (knowledge/*.md) and scripted models' rules files"
            ))
        })?;
        let mut folder = self.root.clone();
        let parents: Vec<_> = relative.parent().into_iter().flat_map(Path::iter).collect();
        for part in parents {
            folder.push(part);
            let meta = std::fs::symlink_metadata(&folder)
                .map_err(|_| Error::not_found(format!("`{path}`: its folder does not exist")))?;
            if meta.file_type().is_symlink() {
                return Err(Error::bad_request(format!(
                    "`{path}` is reached through a link to a folder; Parley does not read flows \
                     through links to folders, nor does the studio"
                )));
            }
        }
        let place = self.root.join(&relative);
        let exists = std::fs::symlink_metadata(&place).is_ok();
        let resolved = if exists {
            std::fs::canonicalize(&place)
        } else {
            std::fs::canonicalize(&folder).map(|f| f.join(relative.file_name().unwrap_or_default()))
        }
        .map_err(|_| {
            Error::bad_request(format!("`{path}` is a link to a file that does not exist"))
        })?;
        if !resolved.starts_with(&self.root) {
            return Err(Error::bad_request(format!(
                "`{path}` leads outside the project folder (a link): the studio edits only \
                 files inside it"
            )));
        }
        // A link inside the project may lead only to another file the studio edits (not
        // to the config beside the flows folder, say).
        let target_kind = resolved
            .strip_prefix(&self.root)
            .ok()
            .and_then(|r| self.kind(r));
        if exists && target_kind.is_none() {
            return Err(Error::bad_request(format!(
                "`{path}` is a link to a file the studio does not edit"
            )));
        }
        if exists && !resolved.is_file() {
            return Err(Error::bad_request(format!(
                "`{path}` is not an ordinary file"
            )));
        }
        Ok(ProjectFile {
            path: path.to_string(),
            place: resolved,
            kind,
            exists,
        })
    }

    /// `full` (links resolved) as the studio names it, when it is inside the project:
    /// `flows/welcome.yaml`.
    pub(super) fn relative_name(&self, full: &Path) -> Option<String> {
        let inside = full.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = inside.iter().map(|p| p.to_str()).collect();
        Some(parts?.join("/"))
    }

    /// The project's files the studio shows, sorted by path, at most [`MAX_FILES`].
    fn list(&self) -> Vec<ProjectFile> {
        let mut found = Vec::new();
        let mut starts = vec![self.flows.clone(), PathBuf::from("knowledge")];
        starts.extend(self.scripts.clone());
        for start in starts {
            walk(&self.root, &start, 0, &mut found);
        }
        found.extend(self.rules.iter().cloned());
        let mut files = BTreeMap::new();
        for relative in found {
            if files.len() >= MAX_FILES {
                break;
            }
            let Some(path) = relative.to_str().map(|p| p.replace('\\', "/")) else {
                continue;
            };
            if let Ok(file) = self.file(&path) {
                if file.exists {
                    files.insert(path, file);
                }
            }
        }
        files.into_values().collect()
    }
}

/// Adds the files under `root/folder` (relative to `root`) to `out`: hidden entries and
/// links to folders skipped, at most [`MAX_DEPTH`] folders down, stopping at
/// [`MAX_FILES`] entries.
fn walk(root: &Path, folder: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root.join(folder)) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if out.len() >= MAX_FILES * 2 {
            return;
        }
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let relative = folder.join(&name);
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if depth < MAX_DEPTH {
                walk(root, &relative, depth + 1, out);
            }
        } else if kind.is_file() || (kind.is_symlink() && root.join(&relative).is_file()) {
            out.push(relative);
        }
    }
}

/// `path` as a relative path of plain parts: refused when empty, too long, absolute, with
/// `..`, `.`, an empty or hidden part, a backslash or a NUL.
pub(super) fn relative(path: &str) -> Result<PathBuf, Error> {
    let refuse = |why: &str| {
        Err(Error::bad_request(format!(
            "the path `{}` {why}: name a file of the project from its folder, like `flows/welcome.yaml`",
            path.chars().take(80).collect::<String>()
        )))
    };
    if path.is_empty() {
        return refuse("is empty");
    }
    if path.chars().count() > MAX_PATH_CHARS {
        return refuse("is too long");
    }
    if path.contains('\0') || path.contains('\\') {
        return refuse("has a NUL or a backslash");
    }
    if path.starts_with('/') || Path::new(path).is_absolute() {
        return refuse("is absolute");
    }
    let mut out = PathBuf::new();
    for part in path.split('/') {
        if part == ".." {
            return refuse("goes up a folder (`..`)");
        }
        if part.is_empty() || part.starts_with('.') {
            return refuse("has an empty or hidden part");
        }
        out.push(part);
    }
    if out.components().any(|c| !matches!(c, Component::Normal(_))) {
        return refuse("is not a plain relative path");
    }
    Ok(out)
}

/// The SHA-256 of `bytes`, in hex: a file's version.
pub(super) fn version(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The text of the file at `place` and its version: an ordinary file of at most
/// [`MAX_FILE_BYTES`] holding UTF-8 text.
pub(super) fn contents(place: &Path, path: &str) -> Result<Contents, Error> {
    use std::io::Read;
    let file = crate::config::regular_file::open(place)
        .map_err(|e| Error::bad_request(format!("`{path}` cannot be read: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::bad_request(format!("`{path}` cannot be read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!(
                "`{path}` is larger than {} KiB, the most Parley reads of a file; split it",
                MAX_FILE_BYTES / 1024
            ),
        ));
    }
    let version = version(&bytes);
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::field(
            "path",
            format!(
                "`{path}` is not UTF-8 text (byte {} is not); save it with the UTF-8 encoding",
                e.utf8_error().valid_up_to() + 1
            ),
        )
    })?;
    Ok(Contents { text, version })
}

/// Runs `f` (file system work) on a blocking thread.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a studio file task failed");
        Err(Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal error",
        ))
    })
}

/// `GET /studio/api/files`.
pub(super) async fn list(State(st): State<AppState>) -> Result<Json<Value>, Error> {
    let config = st.config.clone();
    let running = st.engine.flows();
    let files = blocking(move || {
        let project = Project::of(&config)?;
        // The running flows' ids by their files, links resolved.
        let ids: HashMap<PathBuf, String> = running
            .flows()
            .iter()
            .filter_map(|f| Some((std::fs::canonicalize(&f.file).ok()?, f.id.clone())))
            .collect();
        Ok(project
            .list()
            .into_iter()
            .map(|file| {
                let flow = (file.kind == Kind::Flow)
                    .then(|| ids.get(&file.place))
                    .flatten();
                json!({ "path": file.path, "kind": file.kind.as_str(), "flow": flow })
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(json!({ "files": files })))
}

#[derive(Deserialize)]
pub(super) struct PathQuery {
    pub(super) path: String,
}

/// `GET /studio/api/file?path=`.
pub(super) async fn read(
    State(st): State<AppState>,
    Query(q): Query<PathQuery>,
) -> Result<Json<Value>, Error> {
    let config = st.config.clone();
    let (path, contents) = blocking(move || {
        let file = Project::of(&config)?.file(&q.path)?;
        if !file.exists {
            return Err(Error::not_found(format!("`{}` does not exist", q.path)));
        }
        Ok((file.path.clone(), contents(&file.place, &file.path)?))
    })
    .await?;
    Ok(Json(
        json!({ "path": path, "text": contents.text, "version": contents.version }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_pass() {
        for good in ["flows/welcome.yaml", "knowledge/a b.md", "flows/sub/x.yml"] {
            assert!(relative(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../parley.yaml",
            "flows/../parley.yaml",
            "flows//x.yaml",
            "flows/./x.yaml",
            "flows/.x.yaml",
            "flows/x.yaml/",
            "flows\\x.yaml",
            "flows/x\0.yaml",
        ] {
            assert!(relative(bad).is_err(), "{bad:?}");
        }
        assert!(relative(&"a/".repeat(600)).is_err());
    }

    fn project() -> Project {
        Project {
            root: PathBuf::from("/p"),
            flows: PathBuf::from("flows"),
            scripts: Some(PathBuf::from("scripts")),
            rules: vec![PathBuf::from("models/assistant.yaml")],
        }
    }

    #[test]
    fn a_file_is_of_the_kind_its_place_and_name_say() {
        let p = project();
        let kind = |path: &str| p.kind(Path::new(path));
        assert_eq!(kind("flows/welcome.yaml"), Some(Kind::Flow));
        assert_eq!(kind("flows/sub/welcome.yml"), Some(Kind::Flow));
        assert_eq!(kind("flows/tests/welcome.test.yaml"), Some(Kind::Test));
        assert_eq!(
            kind("flows/tests/notes.yaml"),
            None,
            "the loader skips tests/"
        );
        assert_eq!(kind("flows/sub/tests/x.yaml"), None);
        assert_eq!(kind("flows/evals/a.eval.yaml"), Some(Kind::Eval));
        assert_eq!(kind("flows/readme.md"), None);
        assert_eq!(kind("scripts/total.rhai"), Some(Kind::Script));
        assert_eq!(kind("scripts/run.sh"), None);
        assert_eq!(kind("knowledge/faq.md"), Some(Kind::Knowledge));
        assert_eq!(kind("knowledge/faq.pdf"), None);
        assert_eq!(kind("models/assistant.yaml"), Some(Kind::Rules));
        assert_eq!(kind("models/other.yaml"), None);
        assert_eq!(kind("parley.yaml"), None);
        assert_eq!(kind("parley.db"), None);
    }
}
