//! Configuration: compiled-in documented defaults, then the YAML file, then `${ENV_VAR}`
//! substitution, validated once at start. Every error names the key's path and the reason,
//! and one run reports every problem of the file (`load.rs`). Relative paths in a file are
//! relative to its folder (`paths.rs`).
//! `config.example.yaml` at the repository root documents every key; keep the two in step.

pub mod duration;
mod env;
pub mod file_limits;
mod load;
mod paths;
pub mod places;
pub mod regular_file;
mod sections;
mod types;

pub use sections::api::*;
pub use sections::api_keys::*;
pub use sections::broadcasts::*;
pub use sections::chatwoot::*;
pub use sections::database::*;
pub use sections::events::*;
pub use sections::flows::*;
pub use sections::http::HttpConfig;
pub use sections::inbox::*;
pub use sections::log::*;
pub use sections::media::*;
pub use sections::models::*;
pub use sections::opt_out::*;
pub use sections::outbox::*;
pub use sections::rate_limit::*;
pub use sections::retention::*;
pub use sections::sandbox::*;
pub use sections::scheduler::*;
pub use sections::scripts::*;
pub use sections::senders::*;
pub use sections::studio::*;
pub use sections::templates::*;
pub use sections::webhooks::*;
pub use sections::window::*;
pub use types::*;

use std::path::Path;

/// The project `parley init` writes and the embedded default runs (without its API key):
/// SQLite `parley.db`, `flows/`, one sandbox sender and the templates the example flows
/// use, declared as approved (the sandbox sender needs no approval from Meta).
pub const STARTER_YAML: &str = include_str!("starter.yaml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Every problem of the file, each starting with its key's path.
    #[error("{}", on_lines(.file, .problems))]
    Invalid { file: String, problems: Vec<String> },
    /// Refused before parsing (too large, nested too deeply), at a place in the file.
    #[error("{file}:{line}:{column}: {message}\n  hint: {hint}")]
    Refused {
        file: String,
        line: usize,
        column: usize,
        message: String,
        hint: String,
    },
    /// Not YAML, at a place in the file.
    #[error("{file}:{line}:{column}: {message}{}", with_hint(.hint))]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
        hint: Option<String>,
    },
}

impl Config {
    /// The embedded default: SQLite `parley.db`, `flows/`, one sandbox sender, relative to
    /// the working directory.
    ///
    /// The example's scripted models (the assistant, and `parley eval`'s customer and judge)
    /// come along only when their rules files are there (a project `parley init` wrote,
    /// Parley's repository): a folder of one's own flows runs without them rather than
    /// failing over files it never had.
    pub fn embedded_default() -> Self {
        Self::embedded_default_in(Path::new(""))
    }

    /// The embedded default with its scripted model's rules file looked for, and named,
    /// under `root` instead of the working directory (tests, which cargo runs in their
    /// crate's folder, name the repository's root).
    pub fn embedded_default_in(root: &Path) -> Self {
        let mut config: Self =
            serde_yaml::from_str(STARTER_YAML).expect("embedded default deserializes");
        for model in &mut config.models {
            if let Some(script) = &mut model.script {
                *script = root.join(&*script).display().to_string();
            }
        }
        config.models.retain(|m| {
            m.kind != ModelKind::Scripted
                || m.script.as_deref().is_some_and(|s| Path::new(s).is_file())
        });
        config
    }

    /// Reads and validates a config file, substituting `${ENV_VAR}` from the process
    /// environment. Relative paths in it are relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_keeping(path, &|_| false)
    }

    /// As `load`, for the commands that only work on the database (`backup`, `contacts`,
    /// `broadcasts`): they never send nor call a model, so a provider's or a model's secret
    /// whose variable is not set in this shell (under systemd they live in the unit's
    /// environment file) is left as written instead of refusing the file.
    pub fn load_for_database(path: &Path) -> Result<Self, ConfigError> {
        Self::load_keeping(path, &is_sending_secret)
    }

    /// Reads a config file; an unset variable in a key for which `keep_unset(path)` holds
    /// is no problem.
    fn load_keeping(path: &Path, keep_unset: &dyn Fn(&str) -> bool) -> Result<Self, ConfigError> {
        let text = read(path)?;
        let mut config = load::from_yaml_keeping(
            &text,
            &path.display().to_string(),
            &|name| std::env::var(name).ok(),
            keep_unset,
        )?;
        if let Some(base) = path.parent().filter(|b| !b.as_os_str().is_empty()) {
            config.resolve_paths(base);
        }
        Ok(config)
    }

    /// Parses config text; `lookup` resolves `${NAME}` references. Every problem of the
    /// file is reported at once.
    pub fn from_yaml(
        text: &str,
        file: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        load::from_yaml(text, file, lookup)
    }
}

/// Whether the key at `path` (`senders[1].meta.access_token`) only matters for sending or
/// calling a model: a sender's provider settings, a model's or the transcriber's API key.
fn is_sending_secret(path: &str) -> bool {
    let in_list = |list: &str, rest: &dyn Fn(&str) -> bool| {
        path.strip_prefix(list)
            .and_then(|p| p.strip_prefix('['))
            .and_then(|p| p.split_once(']'))
            .is_some_and(|(i, tail)| i.parse::<usize>().is_ok() && rest(tail))
    };
    in_list("senders", &|t| {
        t.starts_with(".meta.") || t.starts_with(".twilio.")
    }) || in_list("models", &|t| t == ".api_key")
        || path == "transcribe.api_key"
}

/// Each problem on a line of its own, after the file's name.
fn on_lines(file: &str, problems: &[String]) -> String {
    problems
        .iter()
        .map(|p| format!("{file}: {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn with_hint(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!("\n  hint: {h}"))
        .unwrap_or_default()
}

/// The file's text, refusing one larger than any real config (`file_limits::MAX_FILE_BYTES`)
/// and anything but an ordinary file (a named pipe would block the read forever).
fn read(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let read_error = |source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    };
    let refused = |message: String, hint: &str| ConfigError::Refused {
        file: path.display().to_string(),
        line: 1,
        column: 1,
        message,
        hint: hint.into(),
    };
    let mut file = regular_file::open(path).map_err(|e| match e {
        regular_file::OpenError::NotRegular(kind) => refused(
            kind.describe("the config file"),
            "give the path of the YAML config file itself",
        ),
        regular_file::OpenError::Io(e) => read_error(e),
    })?;
    let size = file.metadata().map_err(read_error)?.len();
    if size > crate::config::file_limits::MAX_FILE_BYTES {
        return Err(refused(
            format!(
                "the config file is {} KiB; Parley reads at most {} KiB",
                size / 1024,
                crate::config::file_limits::MAX_FILE_BYTES / 1024
            ),
            "is this the right file? a config is a few KB of YAML",
        ));
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(read_error)?;
    Ok(text)
}

#[cfg(test)]
mod tests;
