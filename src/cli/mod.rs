//! The commands that run Parley in-process for a person at a terminal or in CI:
//! `parley simulate` (chat with the flows) and `parley test` (flow test files). Both drive
//! a real app — temporary SQLite database, sandbox sender, manual clock — through
//! `driver.rs`. And `parley init`, which writes a new project; `parley contacts` imports and
//! exports contacts; `parley backup` copies the database.

pub mod backup;
pub mod broadcasts;
pub mod contacts;
pub mod driver;
pub mod flowtest;
pub mod init;
pub mod simulate;
