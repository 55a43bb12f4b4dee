//! Experiments in the interpreter (issue 58): the `split` step's arm for a contact, and the
//! version of a flow a new run is served.
//!
//! Arm choice: a forced arm (the contact's `experiment_arms` field) wins; a split then keeps
//! the arm recorded in the conversation (`ConversationState::experiments`), else draws one
//! by the contact's bucket over the weights and records it. A flow's version follows the
//! rollout's share at every start (not the record: a rollback must take effect), so raising
//! the share never moves a contact back to the current version.

use super::context::Next;
use super::context::{Contact, Output, StepCtx};
use crate::domain::experiment::{
    bucket, ArmChoice, ArmWhy, RunArm, CURRENT_ARM, FORCED_ARMS_FIELD, VERSION_EXPERIMENT_SUFFIX,
};
use crate::domain::ConversationState;
use crate::flows::{Flow, SplitSpec};
use serde_json::Value;
use std::sync::Arc;

/// The buckets of an experiment: `bucket` gives `0..BUCKETS`.
const BUCKETS: u64 = 10_000;

/// Sends the contact down their arm of the split.
pub(super) fn split_step(
    _ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &mut Contact,
    output: &mut Output,
    spec: &SplitSpec,
) -> Next {
    let name = &spec.experiment;
    let forced =
        forced_arm(&contact.view, name).and_then(|f| spec.arms.iter().position(|a| a.name == f));
    let recorded = state
        .experiments
        .get(name)
        .filter(|c| c.why == ArmWhy::Drawn)
        .and_then(|c| spec.arms.iter().position(|a| a.name == c.arm));
    let (index, why) = match (forced, recorded) {
        (Some(i), _) => {
            output.decide(|| {
                format!(
                    "split {name}: arm {}, forced by the contact's {FORCED_ARMS_FIELD} field",
                    spec.arms[i].name
                )
            });
            (i, ArmWhy::Forced)
        }
        (None, Some(i)) => {
            output.decide(|| {
                format!(
                    "split {name}: arm {}, kept from this contact's first time here",
                    spec.arms[i].name
                )
            });
            (i, ArmWhy::Drawn)
        }
        (None, None) => {
            let b = bucket(&contact_key(&contact.view), name);
            let i = draw(spec, b);
            output.decide(|| {
                let weights: Vec<String> = spec
                    .arms
                    .iter()
                    .map(|a| format!("{} {}", a.name, a.weight))
                    .collect();
                format!(
                    "split {name}: arm {}, drawn (bucket {b} of {BUCKETS}; weights {})",
                    spec.arms[i].name,
                    weights.join(", ")
                )
            });
            (i, ArmWhy::Drawn)
        }
    };
    let Some(arm) = spec.arms.get(index) else {
        return Next::Stop;
    };
    enter_arm(state, output, name, &arm.name, why);
    Next::To(arm.target)
}

/// The arm bucket `b` falls in: the weights laid end to end over the buckets, in the
/// order written.
fn draw(spec: &SplitSpec, b: u32) -> usize {
    let total: u64 = spec.arms.iter().map(|a| u64::from(a.weight)).sum();
    if total == 0 {
        return 0;
    }
    let point = u64::from(b) * total / BUCKETS;
    let mut upto = 0;
    for (i, arm) in spec.arms.iter().enumerate() {
        upto += u64::from(arm.weight);
        if point < upto {
            return i;
        }
    }
    spec.arms.len().saturating_sub(1)
}

/// The version of `flow` a new run is served: its candidate (`FlowSet::candidate`) or the
/// main file, with the run's arm of `<flow>@version`. A flow without a candidate costs one
/// map lookup and is served as is. The caller starts the run on the flow returned and puts
/// the arm in `Run.arm`.
pub(super) fn serve_version(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &Contact,
    output: &mut Output,
    flow: Arc<Flow>,
) -> (Arc<Flow>, Option<RunArm>) {
    let flows = ctx.library.flows();
    let Some(candidate) = flows.candidate(&flow.id).cloned() else {
        return (flow, None);
    };
    let label = candidate.candidate.clone().unwrap_or_default();
    let id = flow.id.clone();
    let experiment = format!("{id}{VERSION_EXPERIMENT_SUFFIX}");
    let main = flows.get(&id).cloned().unwrap_or(flow);
    let forced = forced_arm(&contact.view, &experiment)
        .filter(|f| *f == label || *f == CURRENT_ARM)
        .map(str::to_string);
    let (to_candidate, why) = match forced {
        Some(f) => {
            let to = f == label;
            output.decide(|| {
                let which = if to {
                    format!("version {label} (candidate)")
                } else {
                    "the current version".to_string()
                };
                format!("flow {id}: {which}, forced by the contact's {FORCED_ARMS_FIELD} field")
            });
            (to, ArmWhy::Forced)
        }
        None => {
            let share = ctx.library.rollout_share(&id, &label);
            let b = bucket(&contact_key(&contact.view), &experiment);
            let to = u64::from(b) < u64::from(share) * 100;
            output.decide(|| {
                if to {
                    format!(
                        "flow {id}: version {label} (candidate), drawn (bucket {b} below the share {share} %)"
                    )
                } else {
                    format!("flow {id}: the current version (bucket {b}, share {share} %)")
                }
            });
            (to, ArmWhy::Drawn)
        }
    };
    let (served, arm) = if to_candidate {
        (candidate, label)
    } else {
        (main, CURRENT_ARM.to_string())
    };
    let run_arm = enter_arm(state, output, &experiment, &arm, why);
    (served, Some(run_arm))
}

/// A `goto_flow` to `flow` (`steps::goto_flow_step`): the run goes on in the version its
/// rollout picks for this contact (as is for a flow without a candidate).
pub(super) fn on_goto_flow(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &Contact,
    output: &mut Output,
    flow: Arc<Flow>,
) -> Next {
    let (served, _) = serve_version(ctx, state, contact, output, flow);
    if let Some(run) = &mut state.run {
        run.version = served.version;
    }
    Next::Flow(served)
}

/// Records the arm in the conversation and counts the run's start in it (once per run);
/// the run's arm.
fn enter_arm(
    state: &mut ConversationState,
    output: &mut Output,
    experiment: &str,
    arm: &str,
    why: ArmWhy,
) -> RunArm {
    state.experiments.insert(
        experiment.to_string(),
        ArmChoice {
            arm: arm.to_string(),
            why,
        },
    );
    let run_arm = RunArm {
        experiment: experiment.to_string(),
        arm: arm.to_string(),
    };
    // A run that comes round to the same split again is still in the same arm: counted once.
    let again = state
        .run
        .as_ref()
        .is_some_and(|r| r.arm.as_ref() == Some(&run_arm));
    if let Some(run) = &mut state.run {
        run.arm = Some(run_arm.clone());
    }
    if !again {
        output.count_arm_started(&run_arm);
    }
    run_arm
}

/// The arm the contact's `experiment_arms` field forces for `experiment`: the field holds
/// an object (`{"welcome/opening": "long"}`), or that object written as text (an import).
fn forced_arm<'v>(view: &'v Value, experiment: &str) -> Option<&'v str> {
    match view.get(FORCED_ARMS_FIELD)? {
        Value::Object(m) => m.get(experiment).and_then(Value::as_str),
        // As text (a CSV import's cell): `welcome/opening=long; welcome@version=v2`.
        Value::String(text) if text.len() <= MAX_FORCED_ARMS_TEXT => text
            .split([';', ','])
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| name.trim() == experiment)
            .map(|(_, arm)| arm.trim())
            .filter(|arm| !arm.is_empty()),
        _ => None,
    }
}

/// The longest `experiment_arms` text read (a field of a contact import).
const MAX_FORCED_ARMS_TEXT: usize = 4096;

/// The contact's key as the store knows it (`ContactRef::key`): the phone in E.164, else
/// `bsuid:<id>`, read from the contact as flows see it.
fn contact_key(view: &Value) -> String {
    match (
        view.get("phone").and_then(Value::as_str),
        view.get("user_id").and_then(Value::as_str),
    ) {
        (Some(phone), _) => phone.to_string(),
        (None, Some(id)) => format!("bsuid:{id}"),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::SplitArm;
    use serde_json::json;

    fn spec(weights: &[u32]) -> SplitSpec {
        SplitSpec {
            experiment: "welcome/opening".into(),
            arms: weights
                .iter()
                .enumerate()
                .map(|(i, w)| SplitArm {
                    name: format!("a{i}"),
                    weight: *w,
                    target: i,
                    at: Default::default(),
                })
                .collect(),
        }
    }

    #[test]
    fn draws_follow_the_weights_in_the_order_written() {
        let s = spec(&[70, 30]);
        assert_eq!(draw(&s, 0), 0);
        assert_eq!(draw(&s, 6_999), 0);
        assert_eq!(draw(&s, 7_000), 1);
        assert_eq!(draw(&s, 9_999), 1);
        let s = spec(&[1, 2, 1]);
        assert_eq!(draw(&s, 2_499), 0);
        assert_eq!(draw(&s, 2_500), 1);
        assert_eq!(draw(&s, 7_499), 1);
        assert_eq!(draw(&s, 7_500), 2);
    }

    #[test]
    fn forced_arms_are_read_from_an_object_or_a_text_of_pairs() {
        let v =
            json!({ "experiment_arms": { "welcome/opening": "long", "welcome@version": "v2" } });
        assert_eq!(forced_arm(&v, "welcome/opening"), Some("long"));
        assert_eq!(forced_arm(&v, "welcome@version"), Some("v2"));
        assert_eq!(forced_arm(&v, "other/x"), None);
        let v = json!({ "experiment_arms": "welcome/opening = short; welcome@version=v2" });
        assert_eq!(forced_arm(&v, "welcome/opening"), Some("short"));
        assert_eq!(forced_arm(&v, "welcome@version"), Some("v2"));
        assert_eq!(forced_arm(&v, "welcome"), None);
        let v = json!({ "experiment_arms": "welcome/opening=" });
        assert_eq!(forced_arm(&v, "welcome/opening"), None);
        assert_eq!(forced_arm(&json!({}), "welcome/opening"), None);
    }

    #[test]
    fn the_contact_key_is_the_phone_else_the_business_scoped_id() {
        assert_eq!(contact_key(&json!({ "phone": "+15550001" })), "+15550001");
        assert_eq!(
            contact_key(&json!({ "phone": null, "user_id": "US.1" })),
            "bsuid:US.1"
        );
    }
}
