//! `database:`: where Parley keeps its state (SQLite or PostgreSQL) and how.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://parley.db` (created if missing) or `postgres://user@host/db`.
    #[serde(default = "default_db_url")]
    pub url: String,
    /// Connections in the pool (PostgreSQL; SQLite readers).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// SQLite only: `normal` survives a process kill; `full` also survives power loss, slower.
    #[serde(default)]
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: default_db_url(),
            max_connections: default_max_connections(),
            sqlite_synchronous: SqliteSynchronous::default(),
        }
    }
}

fn default_db_url() -> String {
    "sqlite://parley.db".into()
}
fn default_max_connections() -> u32 {
    8
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SqliteSynchronous {
    #[default]
    Normal,
    Full,
}

impl DatabaseConfig {
    /// The checks of this section alone; each problem starts with the key's path.
    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        let url = &self.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problems.push(format!(
                "database.url: `{url}` must start with sqlite:// or postgres://"
            ));
        }
        if self.max_connections == 0 {
            problems.push("database.max_connections: must be at least 1".into());
        }
    }
}
