//! The `studio:` section: whether the flow studio (`/studio`, where authors edit, draw,
//! try and test flows in the browser) is served, to whom, and who may save there.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StudioConfig {
    /// Serve `/studio` and `/studio/api/…`. On by default: on a loopback `listen` only
    /// this machine reaches it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Serve the studio to requests from other machines (a proxy you trust in front of
    /// it). An exposed studio answers only requests carrying an API key named in
    /// `editors`.
    #[serde(default)]
    pub expose: bool,
    /// The names of the `api_keys` allowed to edit flows in an exposed studio; each save
    /// records the key's name as who saved. Not needed on loopback, where a save is
    /// recorded as `local`.
    #[serde(default)]
    pub editors: Vec<String>,
}

impl Default for StudioConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            expose: false,
            editors: Vec::new(),
        }
    }
}

impl StudioConfig {
    /// Editors that name no configured API key.
    pub(crate) fn problems(&self, key_names: &[&str], problems: &mut Vec<String>) {
        for name in &self.editors {
            if !key_names.contains(&name.as_str()) {
                problems.push(format!(
                    "studio.editors: `{name}` is not the name of any entry of api_keys; add a key with that name (`parley keygen`) or take it out of the list"
                ));
            }
        }
        if self.enabled && self.expose && self.editors.is_empty() {
            problems.push(
                "studio: an exposed studio needs `editors`, the names of the api_keys allowed to edit flows; without them nobody could use it".into(),
            );
        }
    }
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn studio_is_local_by_default_and_editors_must_be_keys() {
        let c = Config::from_yaml("", "t.yaml", &|_| None).unwrap();
        assert!(c.studio.enabled && !c.studio.expose && c.studio.editors.is_empty());
        let e = Config::from_yaml(
            "studio: { expose: true, editors: [nobody] }",
            "t.yaml",
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`nobody` is not the name of any entry of api_keys"),
            "{e}"
        );
        let e = Config::from_yaml("studio: { expose: true }", "t.yaml", &|_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("an exposed studio needs `editors`"), "{e}");
        let key = "0000000000000000000000000000000000000000000000000000000000000000";
        let e = Config::from_yaml(
            &format!("api_keys: [{{ name: ana, key_sha256: \"{key}\", scopes: [inbox] }}]\nstudio: {{ expose: true, editors: [ana] }}"),
            "t.yaml",
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`ana` is a key limited by `scopes`"), "{e}");
    }
}
