//! The steps that decide where and when the run goes on: `if`, `switch`, `goto`,
//! `goto_flow`, `delay` and `end`.

use super::*;

pub(super) fn if_step(b: &mut Builder<'_>, a: &Action<'_>, problems: &mut Problems) -> Option<Op> {
    let (value, map, index) = (a.value, a.step, a.index);
    let condition = expr(b, value, "the `if` condition", problems)?;
    condition_mistakes(&condition, true, problems);
    let then = match map.get_node("then") {
        Some(n) => b.branch(n, index, Slot::Then, problems),
        None => {
            problems.error(
                yaml::pos(value),
                "`if` needs `then:`: a step id or the steps to run",
                None,
            );
            return None;
        }
    };
    let otherwise = match map.get_node("else") {
        Some(n) => b.branch(n, index, Slot::Otherwise, problems),
        None => index + 1,
    };
    Some(Op::If {
        condition,
        then,
        otherwise,
    })
}

pub(super) fn switch_step(
    b: &mut Builder<'_>,
    a: &Action<'_>,
    problems: &mut Problems,
) -> Option<Op> {
    let (value, index) = (a.value, a.index);
    let m = yaml::as_map(value, "`switch`", problems)?;
    yaml::check_keys(m, SWITCH_KEYS, "a `switch`", problems);
    let Some(on_node) = m.get_node("on") else {
        problems.error(
            yaml::pos(value),
            "`switch` needs `on:`: the value to look at, like `vars.choice`",
            None,
        );
        return None;
    };
    let on = expr(b, on_node, "the `switch` value", problems)?;
    condition_mistakes(&on, true, problems);
    let Some(cases_node) = m
        .get_node("cases")
        .and_then(|n| yaml::as_map(n, "`cases`", problems))
    else {
        problems.error(yaml::pos(value), "`switch` needs `cases:`", None);
        return None;
    };
    let mut cases = Vec::new();
    for (i, (k, v)) in cases_node.iter().enumerate() {
        let target = b.branch(v, index, Slot::Case(i), problems);
        cases.push((k.as_str().to_string(), target));
    }
    let default = match m.get_node("default") {
        Some(n) => b.branch(n, index, Slot::Default, problems),
        None => index + 1,
    };
    Some(Op::Switch { on, cases, default })
}

pub(super) fn goto_step(
    b: &mut Builder<'_>,
    a: &Action<'_>,
    problems: &mut Problems,
) -> Option<Op> {
    let id = yaml::as_str(a.value, "`goto`", problems)?;
    b.jump(a.index, Slot::Goto, id, yaml::pos(a.value));
    Some(Op::Goto(usize::MAX))
}

pub(super) fn goto_flow_step(
    _: &mut Builder<'_>,
    a: &Action<'_>,
    problems: &mut Problems,
) -> Option<Op> {
    Some(Op::GotoFlow(
        yaml::as_str(a.value, "`goto_flow`", problems)?.to_string(),
    ))
}

pub(super) fn delay_step(
    _: &mut Builder<'_>,
    a: &Action<'_>,
    problems: &mut Problems,
) -> Option<Op> {
    let d = yaml::as_duration(a.value, "`delay`", problems)?;
    if d.is_zero() {
        problems.warning(yaml::pos(a.value), "a delay of zero does nothing", None);
    }
    Some(Op::Delay(d))
}

pub(super) fn end_step(_: &mut Builder<'_>, _: &Action<'_>, _: &mut Problems) -> Option<Op> {
    Some(Op::End)
}
