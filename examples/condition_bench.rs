//! Conditions and scripts with Rhai's fast operators on (its built-in operators answer
//! first) and off (Parley's sandbox since operators on text and numbers were added:
//! registered overloads are looked up first, so `"60" > 50` compares the numbers). Prints
//! the median time per evaluation of each, for a typical condition and for an arithmetic
//! loop, over several rounds.
//!
//! `cargo run --release --example condition_bench`

use parley::flows::script::{run, sandbox};
use rhai::{Dynamic, Map, Scope};
use std::hint::black_box;
use std::time::Instant;

fn median_ns(engine: &rhai::Engine, code: &str, reps: u32) -> f64 {
    let ast = engine.compile(code).expect("the code compiles");
    let mut vars = Map::new();
    vars.insert("qty".into(), Dynamic::from("12"));
    vars.insert("plan".into(), Dynamic::from("Team"));
    vars.insert("price".into(), Dynamic::from(40_i64));
    let mut rounds = Vec::new();
    for _ in 0..7 {
        let t0 = Instant::now();
        for _ in 0..reps {
            let mut scope = Scope::new();
            scope.push("vars", vars.clone());
            let _ = black_box(run(engine, &mut scope, &ast).expect("it runs"));
        }
        rounds.push(t0.elapsed().as_nanos() as f64 / f64::from(reps));
    }
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

fn main() {
    let slow = sandbox();
    let mut fast = sandbox();
    fast.set_fast_operators(true);
    for (what, code, reps) in [
        (
            "condition",
            r#"vars.price > 25 && vars.plan == "Team""#,
            20_000,
        ),
        (
            "loop of 10,000 additions",
            "let t = 0; for i in 0..10000 { t += i; } t",
            50,
        ),
    ] {
        let on = median_ns(&fast, code, reps);
        let off = median_ns(&slow, code, reps);
        println!(
            "{what}: fast operators on {:.0} ns, off (Parley) {:.0} ns ({:.2}×)",
            on,
            off,
            off / on
        );
    }
}
