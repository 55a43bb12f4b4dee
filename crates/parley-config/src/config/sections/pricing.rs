//! `pricing:`: the rate card that prices each send (README "Costs"). The file is read when
//! the config is checked and once at start; a bad file names its line.

use crate::domain::pricing::{Pricer, RateCard};
use crate::domain::TemplateCategory;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    /// A CSV rate card (`calling_code,category,price,currency,effective`) replacing the one
    /// shipped with Parley (`rates/meta.csv`). Relative to the config file's folder.
    #[serde(default)]
    pub rate_card: Option<String>,
}

impl PricingConfig {
    /// The configured card, or the shipped one.
    pub fn rate_card(&self) -> Result<RateCard, String> {
        let Some(path) = &self.rate_card else {
            return Ok(RateCard::builtin());
        };
        use crate::config::regular_file::{open, OpenError};
        use std::io::Read;
        let mut file = open(std::path::Path::new(path)).map_err(|e| match e {
            OpenError::NotRegular(kind) => {
                format!("pricing.rate_card: {}", kind.describe(&format!("`{path}`")))
            }
            OpenError::Io(e) => format!("pricing.rate_card: cannot read {path}: {e}"),
        })?;
        let meta = file
            .metadata()
            .map_err(|e| format!("pricing.rate_card: cannot read {path}: {e}"))?;
        if meta.len() > crate::domain::pricing::rate_card::MAX_BYTES as u64 {
            return Err(format!(
                "pricing.rate_card: {path} is {} bytes; a rate card may have at most {}",
                meta.len(),
                crate::domain::pricing::rate_card::MAX_BYTES
            ));
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| format!("pricing.rate_card: cannot read {path}: {e}"))?;
        RateCard::parse(path, &text).map_err(|e| format!("pricing.rate_card: {e}"))
    }

    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if let Err(e) = self.rate_card() {
            problems.push(e);
        }
    }
}

impl crate::config::Config {
    /// What predicts each send's cost: the rate card and the templates' categories.
    pub fn pricer(&self) -> Result<Pricer, String> {
        let templates: HashMap<String, TemplateCategory> = self
            .templates
            .iter()
            .filter_map(|t| Some((t.name.clone(), t.category?)))
            .collect();
        Ok(Pricer {
            card: self.pricing.rate_card()?,
            templates,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn with_card(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rates.csv");
        std::fs::write(&path, text).unwrap();
        let yaml = format!("pricing: {{ rate_card: \"{}\" }}\n", path.display());
        (dir, yaml)
    }

    #[test]
    fn a_bad_rate_card_stops_the_config_with_its_file_and_line() {
        let (_dir, yaml) = with_card(
            "calling_code,category,price,currency,effective\n*,marketing,0.05,USD,2025-07-01\n*,utility,ten cents,USD,2025-07-01\n",
        );
        let err = Config::from_yaml(&yaml, "t.yaml", &|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pricing.rate_card: "), "{err}");
        assert!(err.contains("rates.csv:3: price \"ten cents\""), "{err}");
        let err = Config::from_yaml(
            "pricing: { rate_card: /nonexistent/rates.csv }\n",
            "t.yaml",
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("pricing.rate_card: cannot read /nonexistent/rates.csv"),
            "{err}"
        );
    }

    #[test]
    fn a_configured_rate_card_replaces_the_shipped_one() {
        let (_dir, yaml) = with_card(
            "*,marketing,1,EUR,2025-07-01\n*,utility,0.5,EUR,2025-07-01\n*,authentication,0.25,EUR,2025-07-01\n*,service,0.125,EUR,2025-07-01\n",
        );
        let config = Config::from_yaml(&yaml, "t.yaml", &|_| None).unwrap();
        let pricer = config.pricer().unwrap();
        assert_eq!(pricer.card.currency(), "EUR");
        let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert_eq!(pricer.card.rates("14155550100", day).1.service, 125_000);
        assert_eq!(
            Config::embedded_default().pricer().unwrap().card.currency(),
            "USD"
        );
    }

    #[test]
    fn old_flat_spend_prices_still_load_with_a_warning() {
        let yaml = "senders:\n  - { id: 1, name: S, channel: sandbox, phone_number: \"+15550000000\", spend_limit: { amount: 1, prices: { text: 0.01 } } }\n";
        let config = Config::from_yaml(yaml, "t.yaml", &|_| None).unwrap();
        let warnings = config.warnings(1).join("\n");
        assert!(
            warnings.contains("senders[0].spend_limit.prices: no longer used"),
            "{warnings}"
        );
    }
}
