//! `opt_out:`: the keywords that stop scheduled messages to a contact.

use serde::Deserialize;

/// Opt-out keywords every schedule honours. A contact who writes one of them gets no more
/// scheduled messages until they write again (anything else).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptOutConfig {
    /// Whole messages (case and accents ignored) that opt a contact out of schedules.
    #[serde(default = "default_opt_out_keywords")]
    pub keywords: Vec<String>,
    /// Confirmation sent to a contact who opts out (null: none).
    #[serde(default = "default_opt_out_reply")]
    pub reply: Option<String>,
}

impl Default for OptOutConfig {
    fn default() -> Self {
        Self {
            keywords: default_opt_out_keywords(),
            reply: default_opt_out_reply(),
        }
    }
}

fn default_opt_out_keywords() -> Vec<String> {
    vec!["stop".into(), "unsubscribe".into()]
}
fn default_opt_out_reply() -> Option<String> {
    Some("You won't receive any more messages from us. Write to us any time to start again.".into())
}
