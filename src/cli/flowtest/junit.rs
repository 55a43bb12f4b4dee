//! JUnit XML for CI dashboards: one `testcase` per test file, with the readable failure.

use super::Outcome;

pub fn xml(outcomes: &[Outcome]) -> String {
    let failures = outcomes.iter().filter(|o| o.failure.is_some()).count();
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"parley flow tests\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n",
        outcomes.len()
    );
    for o in outcomes {
        s.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\"",
            escape(&o.name),
            escape(&o.file)
        ));
        match &o.failure {
            None => s.push_str("/>\n"),
            Some(f) => {
                let first = f.message.lines().next().unwrap_or("");
                s.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}:{}: step {}: {}</failure>\n    </testcase>\n",
                    escape(first),
                    escape(&o.file),
                    f.line,
                    f.step,
                    escape(&f.message)
                ));
            }
        }
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::super::{Failure, Outcome};

    #[test]
    fn writes_one_testcase_per_file_with_escaped_failures() {
        let xml = super::xml(&[
            Outcome {
                file: "a.test.yaml".into(),
                name: "ok".into(),
                steps: 2,
                failure: None,
                wrote: None,
            },
            Outcome {
                file: "b.test.yaml".into(),
                name: "b <&>".into(),
                steps: 3,
                failure: Some(Failure {
                    step: 2,
                    line: 7,
                    column: None,
                    message: "expected «x»\n  but it replied «y»".into(),
                }),
                wrote: None,
            },
        ]);
        assert!(xml.contains("tests=\"2\" failures=\"1\""));
        assert!(xml.contains("<testcase name=\"ok\" classname=\"a.test.yaml\"/>"));
        assert!(xml.contains("name=\"b &lt;&amp;&gt;\""));
        assert!(xml.contains("<failure message=\"expected «x»\">b.test.yaml:7: step 2: expected «x»\n  but it replied «y»</failure>"));
    }
}
