//! Experiments in the interpreter (issue 58): the `split` step's arm for a contact, and the
//! version of a flow a new run is served.

use super::context::Next;
use super::context::{Contact, Output, StepCtx};
use crate::domain::ConversationState;
use crate::flows::SplitSpec;

/// Sends the contact down their arm of the split.
pub(super) fn split_step(
    _ctx: &StepCtx<'_>,
    _state: &mut ConversationState,
    _contact: &mut Contact,
    _output: &mut Output,
    spec: &SplitSpec,
) -> Next {
    Next::To(spec.arms.first().map(|a| a.target).unwrap_or(usize::MAX))
}
