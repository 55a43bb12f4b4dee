//! A template's `language:` in a flow: one code or a fallback list, each a language code,
//! at least one of them declared in the config for the template.

use crate::config::{TemplateConfig, TemplateStatus};
use crate::flows::{load_dir, ContentSpec, LoadReport, LoadSettings, Op};
use std::time::Duration;

fn declared(language: &str) -> TemplateConfig {
    TemplateConfig {
        id: 1,
        name: "nudge".into(),
        language: language.into(),
        status: TemplateStatus::Approved,
        body: "Hi {{1}}".into(),
        buttons: vec![],
        twilio_content_sid: None,
        category: Some(crate::domain::TemplateCategory::Utility),
    }
}

fn load(language: &str) -> (LoadReport, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("id: nudge\nlanguages: [en, es]\ntriggers: [{{ keyword: [go] }}]\nsteps:\n  - send: {{ template: nudge, language: {language}, variables: {{ \"1\": x }} }}\n");
    std::fs::write(dir.path().join("nudge.yaml"), text).unwrap();
    let templates = [declared("en"), declared("es_MX")];
    let report = load_dir(&LoadSettings {
        dir: dir.path(),
        scripts_dir: dir.path(),
        templates: &templates,
        window: Duration::from_secs(86_400),
        overrides: None,
    });
    let rendered = report
        .render()
        .replace(&format!("{}/", dir.path().display()), "");
    (report, rendered)
}

#[test]
fn a_list_is_the_templates_fallback_order_and_the_first_declared_is_its_language() {
    let (report, rendered) = load("[pt_BR, es_MX, en]");
    assert_eq!(report.errors(), 0, "{rendered}");
    let set = report.set.unwrap();
    let Op::Send(send) = &set.get("nudge").unwrap().steps[0].op else {
        panic!("a send")
    };
    let ContentSpec::Template(t) = &send.content else {
        panic!("a template")
    };
    assert_eq!(t.languages, vec!["pt_BR", "es_MX", "en"]);
    assert_eq!(t.language, "es_MX");
}

#[test]
fn a_bad_code_or_a_language_the_config_does_not_declare_is_named_at_its_place() {
    let (_, rendered) = load("[es, Spanish]");
    assert!(
        rendered.contains("nudge.yaml:5:45: error: `Spanish` is not a language code"),
        "{rendered}"
    );
    let (_, rendered) = load("fr");
    assert!(
        rendered.contains("nudge.yaml:5:40: error: the template `nudge` is not declared in fr in the config (it is declared in en, es_MX)"),
        "{rendered}"
    );
}
