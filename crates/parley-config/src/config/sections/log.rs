//! `log:`: log format.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter such as `info` or `parley=debug,sqlx=warn`; `RUST_LOG` wins.
    #[serde(default)]
    pub level: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

impl LogConfig {
    /// `level` must read as levels: `info`, or `target=level` pieces separated by commas
    /// (`info,sqlx=warn`). A bare word that is not a level (`verbose`) would be read by the
    /// filter as a module name and silence everything else, `parley serve` included.
    pub fn problems(&self, problems: &mut Vec<String>) {
        let Some(level) = &self.level else { return };
        let bad = level.split(',').map(str::trim).find(|directive| {
            let level = directive.rsplit_once('=').map_or(*directive, |(_, l)| l);
            !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level.trim()))
        });
        if let Some(bad) = bad {
            problems.push(format!(
                "log.level: `{bad}` is not a log level: write one of {} (`info` is the usual), \
                 or levels per module like `info,sqlx=warn`",
                LEVELS.join(", ")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(level: &str) -> Vec<String> {
        let config = LogConfig {
            level: Some(level.into()),
            ..Default::default()
        };
        let mut problems = Vec::new();
        config.problems(&mut problems);
        problems
    }

    #[test]
    fn a_level_that_is_not_one_is_refused() {
        for good in [
            "info",
            "WARN",
            "info,sqlx=warn,tower_http=warn",
            "parley=debug",
            "off",
        ] {
            assert_eq!(problems(good), Vec::<String>::new(), "{good}");
        }
        for bad in ["verbose", "debugg", "info,sqlx=loud", "", "info,"] {
            let found = problems(bad);
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            assert!(found[0].starts_with("log.level: `"), "{found:?}");
        }
    }
}
