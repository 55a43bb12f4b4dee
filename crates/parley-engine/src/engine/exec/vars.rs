//! The values flows see (`contact`, `vars`, `message`, `now`), variables and contact
//! changes, the inputs of scripts, and the conversation's timers. Each works on the parts
//! of the interpreter it needs (`context`).

use super::context::{Contact, Output, StepCtx};
use super::{Interpreter, ScriptJob};
use crate::domain::clock::later;
use crate::domain::{ConversationState, NewTimer, Timer, TimerKind};
use crate::engine::template::{render, Roots};
use crate::flows::{script, Expr, SetTarget};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// What templates read: the contact, the run's variables, the message and the time.
pub(super) fn scope<'s>(
    ctx: &'s StepCtx<'_>,
    state: &'s ConversationState,
    contact: &'s Contact,
) -> Roots<'s> {
    Roots {
        contact: &contact.view,
        vars: state.run.as_ref().map(|r| &r.vars),
        message: &ctx.message,
        now: ctx.now,
    }
}

impl Interpreter<'_> {
    /// `scope` of the interpreter as it is now.
    pub(super) fn scope(&self) -> Roots<'_> {
        scope(&self.ctx, &self.state, &self.contact)
    }

    pub(super) fn render(&self, text: &str) -> String {
        render(text, &self.scope())
    }
}

pub(super) fn set_var(state: &mut ConversationState, name: &str, value: Value) {
    if let Some(run) = &mut state.run {
        run.vars.insert(name.to_string(), value);
    }
}

/// Why the run's variables cannot take `value` as `name` (or, with `name` `None`, hold
/// what they hold now): more than `RUN_VARS_MAX` in all.
pub(super) fn vars_over_budget(
    state: &ConversationState,
    name: Option<&str>,
    value: Option<&Value>,
) -> Option<String> {
    use crate::domain::limits::{json_size, RUN_VARS_MAX};
    let run = state.run.as_ref()?;
    let mut total = 0usize;
    for (k, v) in &run.vars {
        if Some(k.as_str()) != name {
            total = total.saturating_add(k.len() + json_size(v, RUN_VARS_MAX));
        }
    }
    if let Some(v) = value {
        total = total.saturating_add(json_size(v, RUN_VARS_MAX));
    }
    (total > RUN_VARS_MAX).then(|| {
        format!(
            "the run's variables would hold more than {} MiB in all; keep only what the flow needs (an `http` step's `save_as` keeps the whole answer)",
            RUN_VARS_MAX / (1024 * 1024)
        )
    })
}

pub(super) fn assign(
    state: &mut ConversationState,
    contact: &mut Contact,
    target: &SetTarget,
    value: Value,
) {
    match target {
        SetTarget::Var(name) => set_var(state, name, value),
        SetTarget::ContactName => {
            let name = match &value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            contact.view["name"] = json!(name);
            contact.patch.name = Some(name);
        }
        SetTarget::ContactAttribute(key) => {
            contact.view[key.as_str()] = value.clone();
            // `contact.fields.x` is the same attribute (imported custom fields).
            if contact.view["fields"].is_object() {
                contact.view["fields"][key.as_str()] = value.clone();
            }
            contact.patch.set_attributes.insert(key.clone(), value);
        }
    }
}

impl Contact {
    /// The contact's tags as flows see them, after this event's `tag` and `untag` steps.
    /// (Name and attributes are mirrored as they are assigned.)
    pub(super) fn refresh_tags(&mut self) {
        let mut tags: Vec<String> = self.view["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let (mut name, mut attributes) = (None, Map::new());
        self.patch.apply_to(&mut name, &mut attributes, &mut tags);
        self.view["tags"] = json!(tags);
    }
}

/// Rhai code with what it sees now: the run's `vars`, the contact and the message.
pub(super) fn script_job(scope: &Roots<'_>, code: &Expr) -> ScriptJob {
    ScriptJob {
        ast: code.ast.clone(),
        inputs: script::Inputs {
            vars: scope.vars.cloned().unwrap_or_default(),
            contact: scope.contact.clone(),
            message: scope.message.clone(),
        },
    }
}

pub(super) fn run_id(state: &ConversationState) -> u64 {
    state.run.as_ref().map(|r| r.id).unwrap_or(0)
}

impl Output {
    pub(super) fn set_timer_after(
        &mut self,
        now: DateTime<Utc>,
        timer: Timer,
        after: std::time::Duration,
    ) {
        self.set_timer(timer, later(now, after));
    }

    /// Sets the conversation's one timer of this kind, replacing an earlier one.
    pub(super) fn set_timer(&mut self, timer: Timer, due_at: DateTime<Utc>) {
        let kind = timer.kind();
        if let Some(trace) = &mut self.trace {
            trace
                .timers
                .push(format!("{kind} at {}", due_at.to_rfc3339()));
        }
        self.cancel_timer(&kind);
        self.out.timers.push(NewTimer { timer, due_at });
    }

    pub(super) fn cancel_timer(&mut self, kind: &TimerKind) {
        if !self.out.cancel_timers.contains(kind) {
            self.out.cancel_timers.push(kind.clone());
        }
        self.out.timers.retain(|t| t.timer.kind() != *kind);
    }

    /// Cancels what a run waits for: an `ask`'s timeout, a `delay`.
    pub(super) fn cancel_waits(&mut self) {
        self.cancel_timer(&TimerKind::AskTimeout);
        self.cancel_timer(&TimerKind::Delay);
    }
}

pub(super) fn to_chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
