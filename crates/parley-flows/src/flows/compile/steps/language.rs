//! The `language` step (issue 58): asks the customer which of the flow's languages they
//! want, and keeps the answer as the contact's language.

use super::*;

pub const LANGUAGE_KEYS: &[&str] = &[];

pub(super) fn language_step(
    _b: &mut Builder<'_>,
    a: &Action<'_>,
    problems: &mut Problems,
) -> Option<Op> {
    problems.error(yaml::pos(a.value), "`language` is not built yet", None);
    None
}
