//! What a person trying the flows picks for the customer (issue 58): the language the
//! customer speaks and the experiment arms forced for them. Both are contact fields the
//! engine reads (`domain::language::CONTACT_FIELD`, `domain::experiment::FORCED_ARMS_FIELD`),
//! so choosing is writing them on the customer's contact, through the store's contact
//! update path (the one contact imports take). The sandbox API, the studio's try and
//! `parley simulate` share this: what the flows offer ([`Offer`]), the checks of a choice
//! against it, and the write.
//!
//! Bounded: a language is one the flows declare, an experiment one they have, an arm one
//! of its arms, at most [`MAX_FORCED_ARMS`] experiments at once; refusals quote at most
//! [`QUOTED_MAX`] characters of what was sent.

use crate::domain::contact_file::ContactImport;
use crate::domain::experiment::{CURRENT_ARM, FORCED_ARMS_FIELD, VERSION_EXPERIMENT_SUFFIX};
use crate::domain::language::CONTACT_FIELD as LANGUAGE_FIELD;
use crate::domain::{Clock, ContactRef};
use crate::flows::model::Op;
use crate::flows::{Flow, FlowSet};
use crate::store::{DynStore, ImportOutcome, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The most experiments one customer may have forced at once.
pub const MAX_FORCED_ARMS: usize = 64;
/// How much of a refused value a refusal repeats.
const QUOTED_MAX: usize = 60;

/// Why choices could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The store refused the contact row (the words say why).
    #[error("the customer's contact could not be changed: {0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A language a flow speaks, with its own name for itself (`es`, `Español`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LanguageOffer {
    pub code: String,
    pub name: String,
}

/// One arm of an experiment; `weight` for a split's arms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArmOffer {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// An experiment of a flow: a `split` step (`welcome/opening`, `kind: split`) or the
/// flow's candidate version (`welcome@version`, `kind: version`, arms `current` and the
/// candidate's label).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExperimentOffer {
    pub experiment: String,
    pub flow: String,
    pub kind: &'static str,
    pub arms: Vec<ArmOffer>,
}

/// What the running flows let a person choose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Offer {
    /// Every language some flow declares, in the order first declared.
    pub languages: Vec<LanguageOffer>,
    pub experiments: Vec<ExperimentOffer>,
}

/// The customer's language and forced arms, as a person picked them: exactly these
/// (a language left out: the contact has none; no arms: every arm is drawn).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryChoices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Experiment → arm: `{"welcome/opening": "long", "welcome@version": "v2"}`.
    #[serde(default)]
    pub arms: BTreeMap<String, String>,
}

impl TryChoices {
    pub fn is_empty(&self) -> bool {
        self.language.is_none() && self.arms.is_empty()
    }

    /// The choices a contact's fields hold now.
    pub fn of_contact(attributes: &Map<String, Value>) -> Self {
        let language = attributes
            .get(LANGUAGE_FIELD)
            .and_then(Value::as_str)
            .map(str::to_string);
        let arms = attributes
            .get(FORCED_ARMS_FIELD)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Self { language, arms }
    }

    /// The contact fields these choices write: both always, a `null` removing one.
    pub fn fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert(
            LANGUAGE_FIELD.into(),
            self.language.clone().map_or(Value::Null, Value::String),
        );
        let arms: Map<String, Value> = self
            .arms
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        fields.insert(
            FORCED_ARMS_FIELD.into(),
            if arms.is_empty() {
                Value::Null
            } else {
                Value::Object(arms)
            },
        );
        fields
    }
}

impl Offer {
    /// What `set` offers: its flows' languages and experiments.
    pub fn of(set: &FlowSet) -> Self {
        let mut offer = Self::default();
        for flow in set.flows() {
            for lang in languages(flow) {
                if !offer.languages.iter().any(|l| l.code == lang.code) {
                    offer.languages.push(lang);
                }
            }
            for e in experiments(set, flow) {
                if !offer
                    .experiments
                    .iter()
                    .any(|x| x.experiment == e.experiment)
                {
                    offer.experiments.push(e);
                }
            }
        }
        offer
    }

    /// Refuses a choice the flows do not offer, saying what they do.
    pub fn check(&self, choices: &TryChoices) -> Result<(), String> {
        if let Some(code) = &choices.language {
            if self.languages.is_empty() {
                return Err(format!(
                    "language `{}`: no flow declares `languages:`, so there is no language to \
                     choose; add `languages: [en, es]` to a flow",
                    quoted(code)
                ));
            }
            if !self.languages.iter().any(|l| &l.code == code) {
                return Err(format!(
                    "language `{}` is not one the flows speak; choose one of {}",
                    quoted(code),
                    self.language_list()
                ));
            }
        }
        if choices.arms.len() > MAX_FORCED_ARMS {
            return Err(format!(
                "arms: {} experiments is more than a customer may have forced ({MAX_FORCED_ARMS})",
                choices.arms.len()
            ));
        }
        for (experiment, arm) in &choices.arms {
            let Some(e) = self
                .experiments
                .iter()
                .find(|e| &e.experiment == experiment)
            else {
                return Err(format!(
                    "arms: there is no experiment `{}`; the flows have {}",
                    quoted(experiment),
                    self.experiment_list()
                ));
            };
            if !e.arms.iter().any(|a| &a.name == arm) {
                let names: Vec<&str> = e.arms.iter().map(|a| a.name.as_str()).collect();
                return Err(format!(
                    "arms: experiment `{experiment}` has no arm `{}`; choose one of {}",
                    quoted(arm),
                    names.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn language_list(&self) -> String {
        let names: Vec<String> = self
            .languages
            .iter()
            .map(|l| format!("{} ({})", l.code, l.name))
            .collect();
        names.join(", ")
    }

    fn experiment_list(&self) -> String {
        if self.experiments.is_empty() {
            return "none (a `split` step or a candidate version makes one)".into();
        }
        let names: Vec<&str> = self
            .experiments
            .iter()
            .map(|e| e.experiment.as_str())
            .collect();
        names.join(", ")
    }
}

/// `value` cut to [`QUOTED_MAX`] characters for a refusal.
fn quoted(value: &str) -> String {
    if value.chars().count() <= QUOTED_MAX {
        return value.to_string();
    }
    let cut: String = value.chars().take(QUOTED_MAX).collect();
    format!("{cut}…")
}

/// The languages `flow` declares, base first, each with its own name.
pub fn languages(flow: &Flow) -> Vec<LanguageOffer> {
    flow.languages
        .iter()
        .map(|code| LanguageOffer {
            code: code.clone(),
            name: crate::flows::languages::native_name(code)
                .unwrap_or(code)
                .to_string(),
        })
        .collect()
}

/// The experiments of `flow`: its `split` steps in step order, then, when a candidate
/// version of it is loaded, its versions and the candidate's own splits.
pub fn experiments(set: &FlowSet, flow: &Flow) -> Vec<ExperimentOffer> {
    let mut out: Vec<ExperimentOffer> = Vec::new();
    splits(flow, &mut out);
    let candidate = set.candidate(&flow.id).filter(|_| flow.candidate.is_none());
    if let Some(c) = candidate {
        let label = c.candidate.clone().unwrap_or_default();
        out.push(ExperimentOffer {
            experiment: format!("{}{VERSION_EXPERIMENT_SUFFIX}", flow.id),
            flow: flow.id.clone(),
            kind: "version",
            arms: [CURRENT_ARM.to_string(), label]
                .into_iter()
                .map(|name| ArmOffer { name, weight: None })
                .collect(),
        });
        splits(c, &mut out);
    }
    out
}

/// The `split` steps of `flow` not in `out` yet, added to it.
fn splits(flow: &Flow, out: &mut Vec<ExperimentOffer>) {
    for step in &flow.steps {
        let Op::Split(spec) = &step.op else { continue };
        if out.iter().any(|e| e.experiment == spec.experiment) {
            continue;
        }
        out.push(ExperimentOffer {
            experiment: spec.experiment.clone(),
            flow: flow.id.clone(),
            kind: "split",
            arms: spec
                .arms
                .iter()
                .map(|a| ArmOffer {
                    name: a.name.clone(),
                    weight: Some(a.weight),
                })
                .collect(),
        });
    }
}

/// Writes `choices` on the contact of `customer` (created when it does not exist yet) and
/// answers what its fields hold afterwards.
pub async fn apply(
    store: &DynStore,
    clock: &dyn Clock,
    customer: &ContactRef,
    choices: &TryChoices,
) -> Result<TryChoices, ApplyError> {
    let (phone, user_id) = match customer {
        ContactRef::Phone(p) => (Some(p.clone()), None),
        ContactRef::BusinessScoped(u) => (None, Some(u.clone())),
        ContactRef::PhoneAndBusinessScoped { phone, user_id } => {
            (Some(phone.clone()), Some(user_id.clone()))
        }
    };
    let row = ContactImport {
        row: 1,
        phone,
        user_id,
        name: None,
        tags: Vec::new(),
        opted_in: None,
        fields: choices.fields(),
    };
    let outcome = store
        .import_contacts(std::slice::from_ref(&row), clock.now())
        .await?;
    let id = match outcome.into_iter().next() {
        Some(ImportOutcome::Created(id) | ImportOutcome::Updated(id)) => id,
        Some(ImportOutcome::Refused(reason)) => return Err(ApplyError::Refused(reason)),
        None => return Err(ApplyError::Refused("the store answered nothing".into())),
    };
    let contact = store.contact(id).await?;
    Ok(contact
        .map(|c| TryChoices::of_contact(&c.attributes))
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer() -> Offer {
        Offer {
            languages: vec![LanguageOffer {
                code: "en".into(),
                name: "English".into(),
            }],
            experiments: Vec::new(),
        }
    }

    fn choose(language: Option<&str>, arms: &[(&str, &str)]) -> TryChoices {
        TryChoices {
            language: language.map(str::to_string),
            arms: arms
                .iter()
                .map(|(e, a)| (e.to_string(), a.to_string()))
                .collect(),
        }
    }

    #[test]
    fn refusals_say_what_the_flows_offer() {
        let none = Offer::default()
            .check(&choose(Some("es"), &[]))
            .unwrap_err();
        assert!(none.contains("no flow declares `languages:`"), "{none}");
        let arm = offer().check(&choose(None, &[("a/b", "x")])).unwrap_err();
        assert_eq!(
            arm,
            "arms: there is no experiment `a/b`; the flows have none (a `split` step or a \
             candidate version makes one)"
        );
        let long = offer()
            .check(&choose(Some(&"x".repeat(5_000)), &[]))
            .unwrap_err();
        assert!(long.chars().count() < 200, "{long}");
        assert!(offer().check(&choose(Some("en"), &[])).is_ok());
        assert!(offer().check(&TryChoices::default()).is_ok());
    }

    #[test]
    fn choices_are_written_as_contact_fields_and_read_back() {
        let chosen = choose(Some("es"), &[("welcome/opening", "long")]);
        let fields = chosen.fields();
        assert_eq!(fields[LANGUAGE_FIELD], "es");
        assert_eq!(fields[FORCED_ARMS_FIELD]["welcome/opening"], "long");
        assert_eq!(TryChoices::of_contact(&fields), chosen);
        // Nothing chosen removes both fields.
        let cleared = TryChoices::default().fields();
        assert_eq!(cleared[LANGUAGE_FIELD], Value::Null);
        assert_eq!(cleared[FORCED_ARMS_FIELD], Value::Null);
        assert_eq!(TryChoices::of_contact(&cleared), TryChoices::default());
    }
}
