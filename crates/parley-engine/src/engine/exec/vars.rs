//! The values flows see (`contact`, `vars`, `message`, `now`), variables and contact
//! changes, the inputs of scripts, and the conversation's timers.

use super::{Interpreter, ScriptJob};
use crate::domain::clock::later;
use crate::domain::{NewTimer, Timer, TimerKind};
use crate::engine::template::{render, Roots};
use crate::flows::{script, Expr, SetTarget};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

impl Interpreter<'_> {
    /// What templates read: the contact, the run's variables, the message and the time.
    pub(super) fn scope(&self) -> Roots<'_> {
        Roots {
            contact: &self.contact,
            vars: self.state.run.as_ref().map(|r| &r.vars),
            message: &self.message,
            now: self.now,
        }
    }

    pub(super) fn render(&self, text: &str) -> String {
        render(text, &self.scope())
    }

    /// `render` for an `http` step's URL (`template::render_url`).
    pub(super) fn render_url(&self, text: &str) -> String {
        crate::engine::template::render_url(text, &self.scope())
    }

    pub(super) fn set_var(&mut self, name: &str, value: Value) {
        if let Some(run) = &mut self.state.run {
            run.vars.insert(name.to_string(), value);
        }
    }

    /// Why the run's variables cannot take `value` as `name` (or, with `name` `None`, hold
    /// what they hold now): more than `RUN_VARS_MAX` in all.
    pub(super) fn vars_over_budget(
        &self,
        name: Option<&str>,
        value: Option<&Value>,
    ) -> Option<String> {
        use crate::domain::limits::{json_size, RUN_VARS_MAX};
        let run = self.state.run.as_ref()?;
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

    pub(super) fn assign(&mut self, target: &SetTarget, value: Value) {
        match target {
            SetTarget::Var(name) => self.set_var(name, value),
            SetTarget::ContactName => {
                let name = match &value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                self.contact["name"] = json!(name);
                self.patch.name = Some(name);
            }
            SetTarget::ContactAttribute(key) => {
                self.contact[key.as_str()] = value.clone();
                // `contact.fields.x` is the same attribute (imported custom fields).
                if self.contact["fields"].is_object() {
                    self.contact["fields"][key.as_str()] = value.clone();
                }
                self.patch.set_attributes.insert(key.clone(), value);
            }
        }
    }

    /// The contact's tags as flows see them, after this event's `tag` and `untag` steps.
    /// (Name and attributes are mirrored as they are assigned.)
    pub(super) fn refresh_tags(&mut self) {
        let mut tags: Vec<String> = self.contact["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let (mut name, mut attributes) = (None, Map::new());
        self.patch.apply_to(&mut name, &mut attributes, &mut tags);
        self.contact["tags"] = json!(tags);
    }

    /// Rhai code with what it sees now: the run's `vars`, the contact and the message.
    pub(super) fn script_job(&self, code: &Expr) -> ScriptJob {
        ScriptJob {
            ast: code.ast.clone(),
            inputs: script::Inputs {
                vars: self
                    .state
                    .run
                    .as_ref()
                    .map(|r| r.vars.clone())
                    .unwrap_or_default(),
                contact: self.contact.clone(),
                message: self.message.clone(),
            },
        }
    }

    pub(super) fn run_id(&self) -> u64 {
        self.state.run.as_ref().map(|r| r.id).unwrap_or(0)
    }

    pub(super) fn set_timer_after(&mut self, timer: Timer, after: std::time::Duration) {
        self.set_timer(timer, later(self.now, after));
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
