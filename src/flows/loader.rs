//! Reads `flows/**/*.yaml` into `Flow`s. Every problem names the file (and line and column
//! when the YAML itself is broken).

use super::{Flow, FlowSet, Step};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl FlowError {
    pub fn new(file: &str, message: String) -> Self {
        Self {
            file: file.to_string(),
            line: None,
            column: None,
            message,
        }
    }
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    id: String,
    #[serde(default)]
    triggers: Vec<RawTrigger>,
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    keyword: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    send: RawSend,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSend {
    text: String,
}

/// Loads every `.yaml`/`.yml` file under `dir` (sorted, sub-folders included). A missing
/// folder is an empty flow set.
pub fn load_dir(dir: &Path) -> Result<FlowSet, Vec<FlowError>> {
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|e| vec![FlowError::new(&dir.display().to_string(), e.to_string())])?;
    files.sort();
    let mut flows = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let name = file.display().to_string();
        match std::fs::read_to_string(&file) {
            Ok(text) => match parse(&text, &name) {
                Ok(flow) => flows.push(flow),
                Err(e) => problems.push(e),
            },
            Err(e) => problems.push(FlowError::new(&name, format!("cannot read: {e}"))),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    FlowSet::new(flows)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            // `flows/tests/` holds flow test files, not flows.
            if path.file_name().is_some_and(|n| n == "tests") {
                continue;
            }
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

pub fn parse(text: &str, file: &str) -> Result<Flow, FlowError> {
    let raw: RawFlow = serde_yaml::from_str(text).map_err(|e| {
        let loc = e.location();
        let msg = e.to_string();
        let msg = match msg.find(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        FlowError {
            file: file.to_string(),
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message: msg,
        }
    })?;
    Ok(Flow {
        id: raw.id,
        file: file.to_string(),
        keywords: raw.triggers.into_iter().flat_map(|t| t.keyword).collect(),
        steps: raw
            .steps
            .into_iter()
            .map(|s| Step::SendText { text: s.send.text })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimal_ping_flow_loads() {
        let flow = parse(
            "id: ping\ntriggers:\n  - keyword: [ping]\nsteps:\n  - send:\n      text: \"pong {{ contact.name }}\"\n",
            "flows/ping.yaml",
        )
        .unwrap();
        assert_eq!(flow.id, "ping");
        assert_eq!(flow.keywords, vec!["ping"]);
        assert_eq!(flow.steps, vec![Step::SendText { text: "pong {{ contact.name }}".into() }]);
    }

    #[test]
    fn unknown_keys_name_file_line_and_column() {
        let err = parse("id: x\nsteps:\n  - sned: {text: hi}\n", "flows/x.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "flows/x.yaml:3:5: steps[0]: unknown field `sned`, expected `send`"
        );
    }

    #[test]
    fn keyword_claimed_twice_is_refused() {
        let a = parse("id: a\ntriggers: [{keyword: [Menu]}]\nsteps: [{send: {text: a}}]\n", "a.yaml").unwrap();
        let b = parse("id: b\ntriggers: [{keyword: [menú]}]\nsteps: [{send: {text: b}}]\n", "b.yaml").unwrap();
        let errs = FlowSet::new(vec![a, b]).unwrap_err();
        assert!(errs[0].to_string().contains("already used by flow `a`"), "{}", errs[0]);
    }

    #[test]
    fn matching_folds_and_uses_first_word() {
        let a = parse("id: a\ntriggers: [{keyword: [menu]}]\nsteps: [{send: {text: a}}]\n", "a.yaml").unwrap();
        let set = FlowSet::new(vec![a]).unwrap();
        assert_eq!(set.match_text("MENÚ!").map(|f| f.id.as_str()), Some("a"));
        assert_eq!(set.match_text("menu please").map(|f| f.id.as_str()), Some("a"));
        assert!(set.match_text("the menu").is_none());
    }
}
