//! `pricing:`: the rate card that prices each send (README "Costs"). The file is read when
//! the config is checked and once at start; a bad file names its line.

use crate::domain::pricing::{Pricer, RateCard};
use crate::domain::TemplateCategory;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Default, Deserialize)]
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
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("pricing.rate_card: cannot read {path}: {e}"))?;
        if meta.len() > crate::domain::pricing::rate_card::MAX_BYTES as u64 {
            return Err(format!(
                "pricing.rate_card: {path} is {} bytes; a rate card may have at most {}",
                meta.len(),
                crate::domain::pricing::rate_card::MAX_BYTES
            ));
        }
        let text = std::fs::read_to_string(path)
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
