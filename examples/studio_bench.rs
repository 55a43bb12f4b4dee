//! The studio's analysis while an author types (issue 56): a project of 100 flows, one of
//! them 1,000 lines long; the big file is edited (one character of a message changes) and
//! `Project::check` asked for its problems, as the language server and the studio page do
//! at every keystroke; then completion at a `goto:`. Prints the first check (nothing kept
//! yet), the median and p99 of the checks after an edit, and of completion.
//!
//! `cargo run --release --example studio_bench -- 200` (runs; default 200)

use parley::config::Config;
use parley::studio::analysis::{Pos, Project};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A flow of about `lines` lines: asks, conditions, sets with expressions, blanks, jumps.
fn flow(id: &str, lines: usize, next: &str) -> String {
    let mut out = format!("id: {id}\ndescription: Benchmark flow {id}\ntriggers:\n  - keyword: [{id}, start_{id}]\nsteps:\n");
    let mut i = 0;
    while out.lines().count() + 12 < lines {
        out.push_str(&format!(
            "  - id: ask_{i}\n    ask:\n      text: \"Question {i} for {{{{ contact.name | default: friend }}}}?\"\n      save_as: answer_{i}\n      expect: text\n  - if: \"vars.answer_{i} == \\\"yes\\\"\"\n    then: yes_{i}\n  - set:\n      score_{i}: \"= {i} * 2\"\n  - id: yes_{i}\n    send: \"Noted {{{{ vars.answer_{i} | upper }}}}, step {i}\"\n"
        ));
        i += 1;
    }
    out.push_str(&format!("  - goto_flow: {next}\n"));
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("parley-studio-bench-{}", std::process::id()));
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).expect("flows folder");
    for n in 0..100 {
        let id = format!("f{n:03}");
        let next = format!("f{:03}", (n + 1) % 100);
        let lines = if n == 0 { 1000 } else { 100 };
        std::fs::write(flows.join(format!("{id}.yaml")), flow(&id, lines, &next)).expect("write");
    }
    let mut config = Config::embedded_default();
    config.flows.dir = flows.display().to_string();
    config.flows.scripts_dir = dir.join("scripts").display().to_string();
    let config = Arc::new(config);
    let project = Project::new(Arc::clone(&config));
    let big = flows.join("f000.yaml");
    let text = std::fs::read_to_string(&big).expect("read");
    println!(
        "project: 100 flows ({} lines in all), the edited one {} lines",
        (0..100)
            .map(
                |n| std::fs::read_to_string(flows.join(format!("f{n:03}.yaml")))
                    .unwrap()
                    .lines()
                    .count()
            )
            .sum::<usize>(),
        text.lines().count()
    );

    let t = Instant::now();
    let first = project.check(&big, &text);
    println!(
        "first check (every file compiled): {} ({} problems)",
        ms(t.elapsed()),
        first.len()
    );

    let mut checks = Vec::with_capacity(runs);
    for r in 0..runs {
        // One keystroke: a letter of a message changes.
        let edited = text.replacen("Question 7 for", &format!("Question 7{} for", r % 10), 1);
        let t = Instant::now();
        let found = project.check(&big, &edited);
        checks.push(t.elapsed());
        assert!(
            found.iter().all(|d| !d.problem.is_error()),
            "{:?}",
            found.first()
        );
    }
    checks.sort();

    let line = text
        .lines()
        .position(|l| l.trim() == "then: yes_50")
        .expect("a goto")
        + 1;
    let mut completions = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let c = project.complete(&big, &text, Pos { line, column: 11 });
        completions.push(t.elapsed());
        assert!(!c.items.is_empty());
    }
    completions.sort();

    println!(
        "check after an edit ({runs} runs): median {}, p99 {}, max {}",
        ms(percentile(&checks, 0.5)),
        ms(percentile(&checks, 0.99)),
        ms(*checks.last().unwrap())
    );
    println!(
        "completion at `then:` ({runs} runs): median {}, p99 {}",
        ms(percentile(&completions, 0.5)),
        ms(percentile(&completions, 0.99))
    );
    // For comparison: the whole load `parley check` does, every file compiled again.
    let mut loads = Vec::new();
    for _ in 0..20 {
        let mut unsaved = parley::flows::Overrides::new();
        unsaved.insert(big.clone(), text.clone());
        let t = Instant::now();
        let report = parley::flows::load_configured_with(&config, &unsaved);
        loads.push(t.elapsed());
        assert_eq!(report.errors(), 0);
    }
    loads.sort();
    println!(
        "for comparison, the whole load (parley check's) with the edit (20 runs): median {}",
        ms(percentile(&loads, 0.5))
    );
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
