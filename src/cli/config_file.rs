//! The config a command runs on: the file given with `--config` (or `PARLEY_CONFIG`), or
//! the embedded default without one. The commands that only work on the database read it
//! leniently, and say how to give them the service's variables when it is refused.

use crate::config::Config;
use std::path::Path;

pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::embedded_default()),
    }
}

/// The config for `parley COMMAND`, which only works on the database: provider and model
/// secrets may be unset (`Config::load_for_database`). What else refuses the file says
/// which command needed it and how to give it the variables the service has.
pub fn load_database_config(path: Option<&Path>, command: &str) -> anyhow::Result<Config> {
    let Some(path) = path else {
        return Ok(Config::embedded_default());
    };
    Config::load_for_database(path).map_err(|e| {
        let text = e.to_string();
        if text.contains("environment variable") {
            anyhow::anyhow!(
                "{text}\n`parley {command}` reads the database settings from {file}, so the variables above \
                 must be set in this shell too; under systemd they are in /etc/parley/parley.env: \
                 run `set -a; . /etc/parley/parley.env; set +a` first (as a user who may read it)",
                file = path.display()
            )
        } else {
            anyhow::anyhow!(
                "{text}\n`parley {command}` reads its database settings from {file}: fix the problems above first",
                file = path.display()
            )
        }
    })
}
