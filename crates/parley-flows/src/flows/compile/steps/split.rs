//! The `split` step (issue 58): weighted arms, one per contact, for experiments.

use super::*;

pub const SPLIT_KEYS: &[&str] = &[];

pub(super) fn split_step(
    _b: &mut Builder<'_>,
    a: &Action<'_>,
    problems: &mut Problems,
) -> Option<Op> {
    problems.error(yaml::pos(a.value), "`split` is not built yet", None);
    None
}
