//! `handoff`: the conversation passed to a person, with an optional time limit and a
//! message for the customer.

use super::*;

pub(super) fn handoff_step(
    b: &mut Builder<'_>,
    a: &Action<'_>,
    problems: &mut Problems,
) -> Option<Op> {
    let (timeout, message) = match a.value {
        YamlNode::Mapping(m) => {
            yaml::check_keys(m, HANDOFF_KEYS, "a `handoff`", problems);
            let timeout = m
                .get_node("timeout")
                .and_then(|n| content::handoff_timeout(n, problems));
            let message = match m.get_node("message") {
                Some(n) => Some(Box::new(send_spec(
                    n,
                    &[],
                    "the handoff `message`",
                    b.ctx,
                    problems,
                )?)),
                None => None,
            };
            (timeout, message)
        }
        YamlNode::Scalar(s) if matches!(s.as_str(), "" | "true" | "yes" | "{}") => (None, None),
        other => {
            problems.error(
                yaml::pos(other),
                "`handoff` takes `{}` or `{ timeout: 2h, message: \"…\" }`",
                None,
            );
            return None;
        }
    };
    Some(Op::Handoff { timeout, message })
}
