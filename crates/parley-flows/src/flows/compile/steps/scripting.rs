//! `script`: Rhai written inline or read from a file in `scripts/`, compiled at load.

use super::*;

pub(super) fn script_step(
    b: &mut Builder<'_>,
    a: &Action<'_>,
    problems: &mut Problems,
) -> Option<Op> {
    let (value, index) = (a.value, a.index);
    let (code, at_node, on_error_node) = match value {
        YamlNode::Scalar(_) => (
            yaml::as_str(value, "`script`", problems)?.to_string(),
            value,
            None,
        ),
        other => {
            let m = yaml::as_map(other, "`script`", problems)?;
            yaml::check_keys(m, SCRIPT_KEYS, "a `script`", problems);
            let code = match (m.get_node("code"), m.get_node("file")) {
                (Some(c), None) => (yaml::as_str(c, "`code`", problems)?.to_string(), c),
                (None, Some(f)) => (read_script(b, f, problems)?, f),
                _ => {
                    problems.error(
                        yaml::pos(other),
                        "`script` needs either `code:` or `file:`",
                        None,
                    );
                    return None;
                }
            };
            (code.0, code.1, m.get_node("on_error"))
        }
    };
    let is_file = matches!(value, YamlNode::Mapping(m) if m.get_node("file").is_some());
    let compiled = if is_file {
        compile_file_script(b, &code, at_node, problems)?
    } else {
        compile_expr(b, &code, at_node, problems)?
    };
    let on_error = on_error_node.map(|n| b.branch(n, index, Slot::OnError, problems));
    Some(Op::Script {
        code: compiled,
        on_error,
    })
}

/// The text of `file:`, a script inside the `scripts/` folder.
fn read_script(b: &Builder<'_>, f: &YamlNode, problems: &mut Problems) -> Option<String> {
    let name = yaml::as_str(f, "`file`", problems)?;
    let Some(path) = script_path(b.ctx.scripts_dir, name) else {
        problems.error(
            yaml::pos(f),
            format!("the script `{name}` is outside the `scripts/` folder"),
            Some("put the script in `scripts/` and write its name from there, like `file: order_summary.rhai`".into()),
        );
        return None;
    };
    match crate::config::file_limits::read_limited(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            problems.error(
                yaml::pos(f),
                format!("the script {}: {e}", path.display()),
                Some("scripts live in the `scripts/` folder".into()),
            );
            None
        }
    }
}
