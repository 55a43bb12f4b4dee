//! `parley schema DIR`: the JSON Schemas of flow files, flow test files and the config.
//! (being written: issue 56)

use std::path::Path;
use std::process::ExitCode;

pub fn main(dir: &Path) -> ExitCode {
    eprintln!("parley schema {}: not written yet", dir.display());
    ExitCode::FAILURE
}
