//! Relative paths in a config file are relative to the file's folder, not to the working
//! directory (which is `/` under systemd): applied once when the file is loaded, so nothing
//! downstream needs to know where the config was. The embedded default keeps resolving
//! against the working directory.

use super::Config;
use std::path::Path;

impl Config {
    /// Rewrites every relative file path of the config (`flows.dir`, `flows.scripts_dir`,
    /// `media.dir`, `retention.dir`, each scripted model's `script`, the SQLite file of
    /// `database.url`) as `base` joined with it. Absolute paths, an in-memory SQLite and
    /// PostgreSQL URLs stay as they are.
    pub fn resolve_paths(&mut self, base: &Path) {
        self.flows.dir = under(base, &self.flows.dir);
        self.flows.scripts_dir = under(base, &self.flows.scripts_dir);
        self.media.dir = under(base, &self.media.dir);
        self.retention.dir = under(base, &self.retention.dir);
        if let Some(card) = &self.pricing.rate_card {
            self.pricing.rate_card = Some(under(base, card));
        }
        for model in &mut self.models {
            if let Some(script) = &model.script {
                model.script = Some(under(base, script));
            }
        }
        if let Some(url) = sqlite_under(base, &self.database.url) {
            self.database.url = url;
        }
    }
}

fn under(base: &Path, path: &str) -> String {
    if Path::new(path).is_absolute() {
        path.to_string()
    } else {
        base.join(path).display().to_string()
    }
}

/// `sqlite://parley.db?mode=rwc` with the file under `base`; `None` when the URL names no
/// relative file.
fn sqlite_under(base: &Path, url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (file, query) = match rest.find('?') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let in_memory = file.is_empty() || file.contains(":memory:") || query.contains("mode=memory");
    if in_memory || Path::new(file).is_absolute() {
        return None;
    }
    Some(format!("sqlite://{}{query}", under(base, file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(flows: &str, db: &str) -> Config {
        let mut c = Config::embedded_default();
        c.flows.dir = flows.into();
        c.database.url = db.into();
        c.resolve_paths(Path::new("/etc/parley"));
        c
    }

    #[test]
    fn relative_paths_are_under_the_config_folder() {
        let c = resolved("flows", "sqlite://parley.db");
        assert_eq!(c.flows.dir, "/etc/parley/flows");
        assert_eq!(c.flows.scripts_dir, "/etc/parley/scripts");
        assert_eq!(c.media.dir, "/etc/parley/media");
        assert_eq!(c.database.url, "sqlite:///etc/parley/parley.db");
        let mut c = Config::embedded_default();
        c.models = serde_yaml::from_str(
            "[{name: demo, kind: scripted, script: models/demo.yaml}, {name: b, kind: scripted, script: /srv/r.yaml}]",
        )
        .unwrap();
        c.resolve_paths(Path::new("/etc/parley"));
        assert_eq!(
            c.models[0].script.as_deref(),
            Some("/etc/parley/models/demo.yaml")
        );
        assert_eq!(c.models[1].script.as_deref(), Some("/srv/r.yaml"));
        let c = resolved("../shared/flows", "sqlite:data/p.db?mode=rwc");
        assert_eq!(c.flows.dir, "/etc/parley/../shared/flows");
        assert_eq!(c.database.url, "sqlite:///etc/parley/data/p.db?mode=rwc");
    }

    #[test]
    fn absolute_paths_memory_and_postgres_stay() {
        let c = resolved("/srv/flows", "sqlite:///var/lib/parley/p.db");
        assert_eq!(c.flows.dir, "/srv/flows");
        assert_eq!(c.database.url, "sqlite:///var/lib/parley/p.db");
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://x.db?mode=memory",
            "postgres://parley@db/parley",
        ] {
            assert_eq!(resolved("flows", url).database.url, url);
        }
    }
}
