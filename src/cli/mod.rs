//! The commands that run Parley in-process for a person at a terminal or in CI:
//! `parley simulate` (chat with the flows) and `parley test` (flow test files). Both drive
//! a real app — temporary SQLite database, sandbox sender, manual clock — through
//! `driver.rs`. And `parley init`, which writes a new project; `parley contacts` imports and
//! exports contacts; `parley events` shows the delivery log of events out and replays
//! deliveries; `parley backup` copies the database. `serve.rs` runs the daemon,
//! `check.rs` checks a project, `config_file.rs` finds the config a command runs on, and
//! `database_commands.rs` holds the arguments of the commands on the database; `main.rs`
//! parses the command line and dispatches to them.

pub mod archive;
pub mod audit;
pub mod backup;
pub mod broadcasts;
pub mod check;
pub mod config_file;
pub mod contacts;
pub mod database_commands;
pub mod driver;
pub mod eval;
pub mod events;
pub mod flowtest;
pub mod init;
pub mod lsp;
pub mod rollout;
pub mod schema;
pub mod serve;
pub mod simulate;
pub mod studio_runs;
pub mod translations;
