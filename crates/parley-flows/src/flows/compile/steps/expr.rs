//! Conditions, scripts and values of steps: compiled and checked once, at load.

use super::*;

pub(super) fn expr(
    b: &Builder<'_>,
    node: &YamlNode,
    what: &str,
    problems: &mut Problems,
) -> Option<Expr> {
    let code = yaml::as_str(node, what, problems)?;
    compile_expr(b, code, node, problems)
}

/// What a flow author means differently from what Rhai reads, in a condition or a `set`
/// value (`comparing`: an `if` or a `switch`, where a single `=` sets instead of
/// comparing). Each would fail or mislead at run time, with the customer left waiting.
pub(super) fn condition_mistakes(e: &Expr, comparing: bool, problems: &mut Problems) {
    if comparing {
        if let Some(at) = script::assignment_in_condition(&e.source) {
            let fixed = format!("{}=={}", &e.source[..at], &e.source[at + 1..]);
            problems.error(
                e.at,
                format!(
                    "`{}` sets a value instead of comparing: a single `=` changes it",
                    e.source
                ),
                Some(format!("write `==` to compare: `{fixed}`")),
            );
            return;
        }
    }
    if let Some(name) = script::undefined_name(&e.source) {
        problems.error(
            e.at,
            format!(
                "`{name}` in `{}` is not something flows know: it would stop the flow when it runs",
                e.source
            ),
            Some(format!(
                "text goes in quotes (\"{name}\"); a saved value starts with vars., contact. or message. (`vars.{name}`)"
            )),
        );
    }
}

/// Compiles inline Rhai; syntax errors point at their line and column in the YAML file.
pub(super) fn compile_expr(
    b: &Builder<'_>,
    code: &str,
    node: &YamlNode,
    problems: &mut Problems,
) -> Option<Expr> {
    let origin = match node {
        YamlNode::Scalar(s) => yaml::text_origin(b.source, s),
        other => (yaml::pos(other), false),
    };
    match b.ctx.rhai.compile(code) {
        Ok(ast) => Some(Expr {
            source: code.to_string(),
            ast: Arc::new(ast),
            at: origin.0,
        }),
        Err(e) => {
            let err = script::parse_error(&e);
            // Block scalars keep the script's lines and indentation, so one offset maps
            // a position inside the script to the YAML file.
            let at = match (err.line, err.column) {
                (Some(l), Some(c)) => Pos {
                    line: origin.0.line + l - 1,
                    column: origin.0.column + c - 1,
                },
                _ => origin.0,
            };
            problems.error(
                at,
                format!("script error: {}", err.message),
                Some("check the Rhai syntax near here (https://rhai.rs/book)".into()),
            );
            None
        }
    }
}

/// A script from `scripts/`; its errors name the script file.
pub(super) fn compile_file_script(
    b: &Builder<'_>,
    code: &str,
    node: &YamlNode,
    problems: &mut Problems,
) -> Option<Expr> {
    match b.ctx.rhai.compile(code) {
        Ok(ast) => Some(Expr {
            source: code.to_string(),
            ast: Arc::new(ast),
            at: yaml::pos(node),
        }),
        Err(e) => {
            let err = script::parse_error(&e);
            let file = yaml::as_str(node, "`file`", problems)
                .unwrap_or_default()
                .to_string();
            problems.error(
                yaml::pos(node),
                format!(
                    "script error in {file} at line {}, column {}: {}",
                    err.line.unwrap_or(0),
                    err.column.unwrap_or(0),
                    err.message
                ),
                None,
            );
            None
        }
    }
}

/// A `set` value written as a YAML number or boolean, without quotes (`price: 10`,
/// `rate: 2.5`, `paid: true`): that number or boolean. Quoted (`"10"`) it stays text, and
/// so does anything a number would change: `+34600000001`, `007`, `1e3`, `1_000`.
pub(super) fn plain_value(node: &YamlNode) -> Option<serde_json::Value> {
    let scalar = node.as_scalar().filter(|s| s.may_coerce())?;
    if let Some(b) = scalar.as_bool() {
        return Some(b.into());
    }
    let text = scalar.as_str();
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
        return None;
    }
    match fraction {
        None => text.parse::<i64>().ok().map(Into::into),
        Some(f) if all_digits(f) => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number),
        Some(_) => None,
    }
}

/// Where script `name` is inside `scripts`: `None` when it would lead outside (`..`, an
/// absolute path, a link pointing elsewhere).
pub(super) fn script_path(scripts: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    use std::path::Component;
    let relative = std::path::Path::new(name);
    let plain = !name.trim().is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain {
        return None;
    }
    let path = scripts.join(relative);
    match (path.canonicalize(), scripts.canonicalize()) {
        (Ok(real), Ok(root)) if !real.starts_with(&root) => None,
        _ => Some(path),
    }
}

/// A `save_as:` names one variable: a word, with no spaces.
pub(super) fn check_save_as(name: &str, node: &YamlNode, problems: &mut Problems) {
    if name.is_empty() || name.contains(char::is_whitespace) {
        problems.error(
            yaml::pos(node),
            format!("`{name}` is not a variable name"),
            Some("use one word, like `order_id`; it is kept as {{ vars.order_id }}".into()),
        );
    }
}
