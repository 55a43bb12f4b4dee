//! `parley lsp`: the language server over stdio. (being written: issue 56)

use std::path::Path;
use std::process::ExitCode;

pub fn main(config: Option<&Path>) -> ExitCode {
    let _ = config;
    eprintln!("parley lsp: not written yet");
    ExitCode::FAILURE
}
