//! What the YAML reader's complaint about a whole scenario file means to its author: a
//! setting written twice at both places, and a line out of step with those above it.

use super::Problem;

/// The YAML reader's complaint about the whole file, in plain words.
pub(super) fn explain(text: &str, e: &marked_yaml::LoadError) -> Problem {
    use marked_yaml::LoadError as L;
    let mark = |m: &marked_yaml::Marker| (m.line(), m.column());
    match e {
        L::DuplicateKey(d) => {
            let first = d.prev_key.span().start().map(mark).unwrap_or((1, 1));
            let again = d.key.span().start().map(mark).unwrap_or((1, 1));
            Problem {
                line: again.0,
                column: again.1,
                message: format!(
                    "`{}` is written twice (lines {} and {})",
                    d.key.as_str(),
                    first.0,
                    again.0
                ),
                hint: Some("keep one".into()),
            }
        }
        L::TopLevelMustBeMapping(m) => Problem {
            line: m.line(),
            column: m.column(),
            message:
                "a scenario file is a group of settings (`name:`, `flow:`, `customer:`, `expect:`…)"
                    .into(),
            hint: Some("start from an example in the flows folder's evals/".into()),
        },
        L::UnexpectedAnchor(m) | L::UnexpectedTag(m) => Problem {
            line: m.line(),
            column: m.column(),
            message: "anchors (&, *) and tags (!) are not read in scenario files".into(),
            hint: Some("write the value out where it is used".into()),
        },
        _ => {
            let said: Result<serde_yaml::Value, _> = serde_yaml::from_str(text);
            let (line, column, what) = match said {
                Err(se) => {
                    let at = se.location().map_or((1, 1), |l| (l.line(), l.column()));
                    (at.0, at.1, se.to_string())
                }
                Ok(_) => (1, 1, e.to_string()),
            };
            if let Some(off) = crate::flows::out_of_step(text, line) {
                return Problem {
                    line: off.line,
                    column: off.column,
                    message: format!("{} (the YAML reader says: {what})", off.what),
                    hint: Some(off.hint),
                };
            }
            Problem {
                line,
                column,
                message: format!("this is not YAML Parley can read: {what}"),
                hint: Some(
                    "check the quotes and the indentation of this line and the one above".into(),
                ),
            }
        }
    }
}
