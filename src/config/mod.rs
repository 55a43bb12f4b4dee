//! Configuration: compiled-in documented defaults, then the YAML file, then `${ENV_VAR}`
//! substitution, validated once at start. Every error names the key's path and the reason.
//! `config.example.yaml` at the repository root documents every key; keep the two in step.

pub mod duration;
mod env;
pub mod file_limits;
mod sections;
mod types;

pub use sections::api::*;
pub use sections::api_keys::*;
pub use sections::database::*;
pub use sections::flows::*;
pub use sections::http::HttpConfig;
pub use sections::inbox::*;
pub use sections::log::*;
pub use sections::opt_out::*;
pub use sections::outbox::*;
pub use sections::rate_limit::*;
pub use sections::sandbox::*;
pub use sections::scheduler::*;
pub use sections::scripts::*;
pub use sections::senders::*;
pub use sections::templates::*;
pub use sections::webhooks::*;
pub use sections::window::*;
pub use types::*;

use std::path::Path;

/// The templates the example flows use, declared as approved in the embedded default (the
/// sandbox sender needs no approval from Meta).
const EMBEDDED_TEMPLATES: &str = r#"
templates:
  - { id: 45, name: menu_reminder, language: en, status: approved, body: "Hi {{1}}, reply MENU to continue." }
  - { id: 46, name: cart_reminder, language: en, status: approved, body: "Hi {{1}}, your cart is still waiting. Reply BUY to finish your order." }
"#;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}: {problems}", problems = .problems.join("\n"))]
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
}

impl Config {
    /// The embedded default: SQLite `parley.db`, `flows/`, one sandbox sender.
    pub fn embedded_default() -> Self {
        let mut cfg: Config =
            serde_yaml::from_str(EMBEDDED_TEMPLATES).expect("embedded default deserializes");
        cfg.senders
            .push(SenderConfig::sandbox(1, "Sandbox", "+15550000000"));
        cfg
    }

    /// Reads and validates a config file, substituting `${ENV_VAR}` from the process
    /// environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read(path)?;
        Self::from_yaml(&text, &path.display().to_string(), &|name| {
            std::env::var(name).ok()
        })
    }

    /// Parses config text; `lookup` resolves `${NAME}` references.
    pub fn from_yaml(
        text: &str,
        file: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let invalid = |problems: Vec<String>| ConfigError::Invalid {
            file: file.to_string(),
            problems,
        };
        // serde_yaml builds its tree recursively: refuse a too-deep file before it does.
        crate::config::file_limits::check_nesting(text).map_err(|r| ConfigError::Refused {
            file: file.to_string(),
            line: r.line,
            column: r.column,
            message: r.message,
            hint: r.hint,
        })?;
        let mut value: serde_yaml::Value = if text.trim().is_empty() {
            serde_yaml::Value::Mapping(Default::default())
        } else {
            serde_yaml::from_str(text).map_err(|e| invalid(vec![yaml_error(&e)]))?
        };
        if value.is_null() {
            value = serde_yaml::Value::Mapping(Default::default());
        }
        env::substitute(&mut value, lookup).map_err(invalid)?;
        let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let inner = strip_location(&inner);
            if path == "." {
                invalid(vec![inner.to_string()])
            } else {
                invalid(vec![format!("{path}: {inner}")])
            }
        })?;
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(invalid(problems))
        }
    }
}

/// The file's text, refusing one larger than any real config (`file_limits::MAX_FILE_BYTES`).
fn read(path: &Path) -> Result<String, ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > crate::config::file_limits::MAX_FILE_BYTES {
        return Err(ConfigError::Refused {
            file: path.display().to_string(),
            line: 1,
            column: 1,
            message: format!(
                "the config file is {} KiB; Parley reads at most {} KiB",
                size / 1024,
                crate::config::file_limits::MAX_FILE_BYTES / 1024
            ),
            hint: "is this the right file? a config is a few KB of YAML".into(),
        });
    }
    std::fs::read_to_string(path).map_err(read_error)
}

fn yaml_error(e: &serde_yaml::Error) -> String {
    match e.location() {
        Some(loc) => format!(
            "line {} column {}: {}",
            loc.line(),
            loc.column(),
            strip_location(&e.to_string())
        ),
        None => e.to_string(),
    }
}

/// serde_yaml appends " at line X column Y" to messages; the path already says where.
fn strip_location(msg: &str) -> &str {
    match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

#[cfg(test)]
mod tests;
