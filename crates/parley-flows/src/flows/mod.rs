//! Flow files: the YAML language authors write, compiled once at load into flows Parley
//! runs, with a trigger index and every problem reported as `file:line:column`.
//!
//! Layout: `yaml` (the only YAML parsing) → `compile` (one file → `Flow`, per-file checks)
//! → `set` (cross-flow checks and the trigger index). `triggers` holds everything about
//! triggers: compiling them, the matcher and its precedence, explaining a match. `script` is the Rhai sandbox,
//! shared with the engine.

pub mod compile;
pub mod knowledge;

mod cost_check;
mod cron_text;
pub mod graph;
pub mod keys;
pub mod languages;
pub mod loader;
pub mod model;
mod normalize;
mod problem;
mod project;
pub mod retrieval;
pub mod schedule;
pub mod scoring;
pub mod script;
mod set;
pub mod template;
pub mod triggers;
mod window_check;
mod yaml;

pub use loader::{
    fingerprint, load_configured, load_configured_with, load_dir, load_dir_with, load_text,
    test_files, LoadReport, LoadSettings, Overrides,
};
pub use model::*;
pub use normalize::normalize;
pub use problem::{more_spaces, Problem, Severity};
pub use project::Deployment;
pub use set::FlowSet;
pub use triggers::{Candidate, MatchInput, Matched, Rank};
pub use window_check::late_free_form;
pub use yaml::out_of_step;

#[cfg(test)]
mod agent_tests;
#[cfg(test)]
mod check_tests;
#[cfg(test)]
mod form_tests;
#[cfg(test)]
mod knowledge_tests;
#[cfg(test)]
mod tests;
