//! The Rhai sandbox: one constructor, used both to compile scripts when flows load and to
//! run them. Limits on operations, call depth, expression depth, string, array and map
//! sizes, wall time, memory held while running and the total size of what a script leaves
//! behind; no file access, no module loading, no `eval`; only the functions registered
//! here. Scripts run on the engine's script pool, never on the async threads.

use rhai::{Dynamic, Engine, EvalAltResult, Position, Scope, AST};
use std::cell::Cell;
use std::time::{Duration, Instant};

pub const MAX_OPERATIONS: u64 = 500_000;
/// The CPU time a script may use: counted on its own thread's clock, so the time a busy
/// machine keeps the (low-priority) script thread waiting for a core does not count.
pub const TIME_BUDGET: Duration = Duration::from_millis(250);
/// The wall time a script may take however little CPU it was given: a script of a few
/// milliseconds finishes within it even on a machine whose every core is busy (a script
/// thread's share is then about 1.5 % of a core).
pub const WALL_BUDGET: Duration = Duration::from_secs(1);
/// How many Rhai operations run between two looks at the clocks: reading a thread's CPU
/// clock is a system call, far dearer than an operation.
const CLOCK_EVERY: u64 = 256;
/// The most a script may add to what it was given, counted across every nested value of
/// its result and of `vars`: bytes of text plus a small cost per item, entry and number.
pub const MAX_TOTAL_SIZE: usize = 1024 * 1024;
/// What one array item or map entry costs in the total, besides its text.
const ITEM_COST: usize = 16;

/// Memory a running script may hold at any moment (its variables and temporaries).
pub const MEMORY_BUDGET: isize = 32 * 1024 * 1024;

/// When the script running on a thread must stop: past either budget.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    /// On the thread's CPU clock (`thread_cpu_time`), from the first look at the clocks
    /// (`check`): reading that clock is a system call, which would add a third to a short
    /// condition's time if it were read when every script starts. So the few operations
    /// before the first look (`CLOCK_EVERY`) are not counted.
    cpu: Option<Duration>,
    wall: Instant,
    budget: Duration,
    wall_budget: Duration,
}

impl Deadline {
    fn starting_now(budget: Duration, wall_budget: Duration) -> Self {
        Self {
            cpu: None,
            wall: Instant::now() + wall_budget,
            budget,
            wall_budget,
        }
    }

    /// Why the script must stop now, if it must.
    fn check(&mut self) -> Option<String> {
        let used = thread_cpu_time();
        let cpu = *self.cpu.get_or_insert(used + self.budget);
        if used > cpu {
            return Some(format!(
                "the script ran longer than its time budget of {} ms and was stopped",
                self.budget.as_millis()
            ));
        }
        (Instant::now() > self.wall).then(|| {
            format!(
                "the script ran longer than its time budget of {} ms on the clock and was stopped (the machine was too busy to give it the {} ms of CPU time it may use)",
                self.wall_budget.as_millis(),
                self.budget.as_millis()
            )
        })
    }
}

/// The CPU time the calling thread has used.
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        // Never seen; the wall budget still stops the script.
        return Duration::ZERO;
    }
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Without a thread CPU clock, the time since the process first asked.
#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

thread_local! {
    /// When the script running on this thread must stop.
    static DEADLINE: Cell<Option<Deadline>> = const { Cell::new(None) };
    /// What this thread held when its script started.
    static MEMORY_BASE: Cell<Option<isize>> = const { Cell::new(None) };
}

/// The names a flow's Rhai sees, as `run_on` gives them.
pub const NAMES: [&str; 3] = ["vars", "contact", "message"];

/// The first name `code` uses that is none of [`NAMES`] and that it does not declare itself
/// (`Team` in `vars.plan == Team`, meant as text): at run time it would fail the step.
pub fn undefined_name(code: &str) -> Option<String> {
    static STRICT: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    let engine = STRICT.get_or_init(|| {
        let mut engine = sandbox();
        engine.set_strict_variables(true);
        engine
    });
    let mut scope = Scope::new();
    for name in NAMES {
        scope.push(name, Dynamic::UNIT);
    }
    match engine.compile_with_scope(&scope, code) {
        Err(e) => match e.err_type() {
            rhai::ParseErrorType::VariableUndefined(name) => Some(name.clone()),
            _ => None,
        },
        Ok(_) => None,
    }
}

/// Where a condition assigns with a single `=` instead of comparing with `==`
/// (`vars.price = 5`), outside quotes: the byte offset of that `=`.
pub fn assignment_in_condition(code: &str) -> Option<usize> {
    let bytes = code.as_bytes();
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if matches!(b, b'"' | b'\'' | b'`') => quote = Some(b),
            None if b == b'=' => {
                let before = i.checked_sub(1).map(|j| bytes[j]);
                let after = bytes.get(i + 1).copied();
                let compares = matches!(before, Some(b'=' | b'!' | b'<' | b'>'))
                    || matches!(after, Some(b'=' | b'>'));
                if !compares {
                    return Some(i);
                }
                if after == Some(b'=') {
                    i += 1;
                }
            }
            None => {}
        }
        i += 1;
    }
    None
}

/// A Rhai engine with Parley's limits. Cheap enough to build once per process.
pub fn sandbox() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(32);
    engine.set_max_expr_depths(64, 32);
    // As long as an `http` answer a run may hold (its `vars` come into every script).
    engine.set_max_string_size(crate::domain::limits::HTTP_ANSWER_MAX);
    engine.set_max_array_size(10_000);
    engine.set_max_map_size(10_000);
    engine.set_max_modules(0);
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    // Rhai's `sleep` blocks the thread without a check of the time budget, holding up
    // every other customer's scripts: it fails at once instead.
    refuse_sleep(&mut engine);
    // Operators look for registered overloads before Rhai's built-in ones, or the built-in
    // "text and a number are never equal" would answer first.
    engine.set_fast_operators(false);
    numbers_in_text_compare(&mut engine);
    engine.on_print(|s| tracing::debug!(target: "parley::script", "{s}"));
    engine.on_debug(|s, _, _| tracing::debug!(target: "parley::script", "{s}"));
    engine.on_progress(|ops| {
        if ops % CLOCK_EVERY == 0 {
            let why = DEADLINE.with(|d| {
                let mut deadline = d.get()?;
                let why = deadline.check();
                d.set(Some(deadline));
                why
            });
            if let Some(why) = why {
                return Some(Dynamic::from(why));
            }
        }
        let held = MEMORY_BASE
            .with(Cell::get)
            .map_or(0, |base| crate::metrics::memory::live_bytes() - base);
        (held > MEMORY_BUDGET).then(|| {
            Dynamic::from(format!(
                "the script used more than its memory budget of {} MiB and was stopped",
                MEMORY_BUDGET / (1024 * 1024)
            ))
        })
    });
    engine
}

fn refuse_sleep(engine: &mut Engine) {
    fn refused() -> Result<(), Box<EvalAltResult>> {
        Err(
            "`sleep` is not available in scripts: a script has 250 ms; to wait, use a `delay` step"
                .into(),
        )
    }
    engine.register_fn("sleep", |_: i64| refused());
    engine.register_fn("sleep", |_: f64| refused());
}

/// A number a customer wrote (`vars.t` from a regex's named group, an `ask` answer) is
/// text, and Rhai compares text with a number as always false: `vars.t > 50` never held.
/// Text that reads as a number is compared as that number; other text is still unequal
/// and neither smaller nor larger.
fn numbers_in_text_compare(engine: &mut Engine) {
    use rhai::{ImmutableString, FLOAT, INT};
    fn num(s: &str) -> Option<FLOAT> {
        s.trim().parse::<FLOAT>().ok().filter(|n| n.is_finite())
    }
    // `$apart` is the answer for text that is no number.
    macro_rules! both_ways {
        ($op:literal, $apart:literal, $cmp:expr) => {
            engine.register_fn($op, |a: ImmutableString, b: INT| {
                num(&a).map_or($apart, |a| $cmp(a, b as FLOAT))
            });
            engine.register_fn($op, |a: INT, b: ImmutableString| {
                num(&b).map_or($apart, |b| $cmp(a as FLOAT, b))
            });
            engine.register_fn($op, |a: ImmutableString, b: FLOAT| {
                num(&a).map_or($apart, |a| $cmp(a, b))
            });
            engine.register_fn($op, |a: FLOAT, b: ImmutableString| {
                num(&b).map_or($apart, |b| $cmp(a, b))
            });
        };
    }
    both_ways!(">", false, |a: FLOAT, b: FLOAT| a > b);
    both_ways!(">=", false, |a: FLOAT, b: FLOAT| a >= b);
    both_ways!("<", false, |a: FLOAT, b: FLOAT| a < b);
    both_ways!("<=", false, |a: FLOAT, b: FLOAT| a <= b);
    both_ways!("==", false, |a: FLOAT, b: FLOAT| a == b);
    both_ways!("!=", true, |a: FLOAT, b: FLOAT| a != b);
}

/// Why a script failed, in words for the flow's author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScriptError {
    pub message: String,
    /// Line and column inside the script, when Rhai knows them.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl ScriptError {
    fn from_rhai(e: &EvalAltResult) -> Self {
        let pos = e.position();
        let message = match e {
            EvalAltResult::ErrorTooManyOperations(_) => format!(
                "the script ran too long (more than {MAX_OPERATIONS} operations): is there an endless loop?"
            ),
            EvalAltResult::ErrorTerminated(why, _) => why.to_string(),
            EvalAltResult::ErrorStackOverflow(_) => "the script calls itself too deeply".into(),
            EvalAltResult::ErrorDataTooLarge(what, _) => format!("the script built a value that is too large ({what})"),
            other => other.to_string().split(" (line ").next().unwrap_or_default().to_string(),
        };
        Self {
            message,
            line: pos.line(),
            column: pos.position(),
        }
    }
}

pub fn parse_error(e: &rhai::ParseError) -> ScriptError {
    let pos: Position = e.position();
    ScriptError {
        message: e.err_type().to_string(),
        line: pos.line(),
        column: pos.position(),
    }
}

/// What a script sees: `vars` (which it may change), `contact` and `message` (read-only).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub contact: serde_json::Value,
    pub message: serde_json::Value,
}

/// What a script left: its value and `vars` as they were when it ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub value: serde_json::Value,
    pub vars: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Runs `ast` on `inputs` and checks what it left against the size budget before turning
/// it into JSON, so an oversized value fails the step and goes no further.
pub fn run_on(engine: &Engine, ast: &AST, inputs: Inputs) -> Result<Outcome, ScriptError> {
    let to = |v: serde_json::Value| rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT);
    let mut scope = Scope::new();
    let vars = to(serde_json::Value::Object(inputs.vars));
    // What the run already held (an `http` answer saved earlier) is not the script's doing;
    // it may come back both in `vars` and as the result.
    let held = total_size(&vars, usize::MAX / 4);
    let budget = MAX_TOTAL_SIZE.saturating_add(held.saturating_mul(2));
    scope.push("vars", vars);
    scope.push_constant("contact", to(inputs.contact));
    scope.push_constant("message", to(inputs.message));
    let value = run(engine, &mut scope, ast)?;
    let vars = scope.get("vars").cloned().unwrap_or(Dynamic::UNIT);
    let left = total_size(&value, budget).saturating_add(total_size(&vars, budget));
    if left > budget {
        return Err(ScriptError {
            message: format!(
                "the script built values larger than its budget of {} KiB in all (its result and `vars` together); keep large data out of scripts",
                MAX_TOTAL_SIZE / 1024
            ),
            line: None,
            column: None,
        });
    }
    // Each value on its own, so the one that cannot be kept (a timestamp, a function
    // pointer) is named instead of every change being dropped.
    let kept = |what: &str, d: &Dynamic| {
        rhai::serde::from_dynamic::<serde_json::Value>(d).map_err(|_| ScriptError {
            message: format!(
                "{what} holds a {} value, which cannot be kept: store text, a number, true/false, a list or a map",
                d.type_name()
            ),
            line: None,
            column: None,
        })
    };
    let vars = match vars.try_cast::<rhai::Map>() {
        Some(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.to_string(), kept(&format!("`vars.{k}`"), &v)?);
            }
            Some(out)
        }
        None => None,
    };
    Ok(Outcome {
        value: kept("the script's result", &value)?,
        vars,
    })
}

/// The size of `d` across every nested value, counted up to a little past `limit` (a
/// value far over the budget is not walked to its end). Nesting deeper than
/// `MAX_NESTING` counts as over the limit.
pub fn total_size(d: &Dynamic, limit: usize) -> usize {
    let mut total = 0;
    walk(d, &mut total, limit, 0);
    total
}

/// Levels of arrays and maps inside each other a script may leave behind (and an `http`
/// answer may have to be kept as JSON).
pub const MAX_NESTING: usize = 64;

fn walk(d: &Dynamic, total: &mut usize, limit: usize, depth: usize) {
    *total = total.saturating_add(ITEM_COST);
    if *total > limit {
        return;
    }
    if depth > MAX_NESTING {
        *total = usize::MAX;
        return;
    }
    if let Ok(s) = d.as_immutable_string_ref() {
        *total = total.saturating_add(s.len());
    } else if let Ok(a) = d.as_array_ref() {
        for item in a.iter() {
            walk(item, total, limit, depth + 1);
            if *total > limit {
                return;
            }
        }
    } else if let Ok(m) = d.as_map_ref() {
        for (k, item) in m.iter() {
            *total = total.saturating_add(k.len());
            walk(item, total, limit, depth + 1);
            if *total > limit {
                return;
            }
        }
    } else if let Ok(b) = d.as_blob_ref() {
        *total = total.saturating_add(b.len());
    }
}

/// Runs `ast` with `scope`, stopping it when its time budget (`TIME_BUDGET` of CPU time,
/// `WALL_BUDGET` of wall time) runs out.
pub fn run(engine: &Engine, scope: &mut Scope<'_>, ast: &AST) -> Result<Dynamic, ScriptError> {
    run_within(engine, scope, ast, TIME_BUDGET, WALL_BUDGET)
}

/// `run` with other time budgets (tests).
fn run_within(
    engine: &Engine,
    scope: &mut Scope<'_>,
    ast: &AST,
    budget: Duration,
    wall_budget: Duration,
) -> Result<Dynamic, ScriptError> {
    DEADLINE.with(|d| d.set(Some(Deadline::starting_now(budget, wall_budget))));
    MEMORY_BASE.with(|m| m.set(Some(crate::metrics::memory::live_bytes())));
    let result = engine.eval_ast_with_scope::<Dynamic>(scope, ast);
    DEADLINE.with(|d| d.set(None));
    MEMORY_BASE.with(|m| m.set(None));
    result.map_err(|e| ScriptError::from_rhai(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_loop_is_stopped_with_a_readable_error() {
        let engine = sandbox();
        let ast = engine.compile("let x = 0; loop { x += 1; }").unwrap();
        let err = run(&engine, &mut Scope::new(), &ast).unwrap_err();
        assert!(
            err.message.contains("endless loop") || err.message.contains("time budget"),
            "{err}"
        );
    }

    /// A sandbox with `idle(ms)`, which waits without using the CPU, as a script thread
    /// does when a busy machine gives its core to others.
    fn sandbox_with_idle() -> Engine {
        let mut engine = sandbox();
        engine.register_fn("idle", |ms: i64| {
            std::thread::sleep(Duration::from_millis(ms as u64))
        });
        engine
    }

    #[test]
    fn time_spent_waiting_for_a_core_does_not_count_against_the_budget() {
        let engine = sandbox_with_idle();
        // 400 ms of waiting, then a little work: far over 250 ms of wall time, far under
        // 250 ms of CPU time (a wall-clock budget failed this on loaded machines).
        let ast = engine
            .compile("idle(400); let x = 0; while x < 2000 { x += 1; } x")
            .unwrap();
        let got = run(&engine, &mut Scope::new(), &ast).unwrap();
        assert_eq!(got.as_int().unwrap(), 2000);
    }

    #[test]
    fn a_script_that_cannot_get_a_core_is_stopped_by_the_wall_budget() {
        let engine = sandbox_with_idle();
        let ast = engine
            .compile("let x = 0; loop { idle(5); x += 1; }")
            .unwrap();
        let started = Instant::now();
        let err = run_within(
            &engine,
            &mut Scope::new(),
            &ast,
            TIME_BUDGET,
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(err.message.contains("300 ms on the clock"), "{err}");
        // Stopped at its next look at the clocks after 300 ms (one every 256 operations).
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_script_that_keeps_the_cpu_busy_is_stopped_by_the_time_budget() {
        let engine = sandbox();
        // Each operation copies 64 KB: the operation limit is far away. (A long wall budget:
        // a loaded machine must not stop it for that first.)
        let ast = engine
            .compile("let s = \"x\"; for i in 0..15 { s += s; } loop { let t = s + s; }")
            .unwrap();
        let long = Duration::from_secs(30);
        let err = run_within(&engine, &mut Scope::new(), &ast, TIME_BUDGET, long).unwrap_err();
        assert!(err.message.contains("time budget of 250 ms and"), "{err}");
    }

    #[test]
    fn eval_and_modules_are_not_available() {
        let engine = sandbox();
        assert!(
            engine.compile("eval(\"1\")").is_err()
                || run(
                    &engine,
                    &mut Scope::new(),
                    &engine.compile("eval(\"1\")").unwrap()
                )
                .is_err()
        );
        let ast = engine.compile("import \"std\" as s; 1").unwrap();
        assert!(run(&engine, &mut Scope::new(), &ast).is_err());
    }

    #[test]
    fn sleep_fails_at_once_instead_of_outliving_the_budget() {
        let engine = sandbox();
        for code in ["sleep(60); 1", "sleep(0.5); 1"] {
            let ast = engine.compile(code).unwrap();
            let t0 = Instant::now();
            let err = run(&engine, &mut Scope::new(), &ast).unwrap_err();
            // Long before `sleep(60)` would end, with room for a loaded machine.
            assert!(t0.elapsed() < Duration::from_secs(10), "{code}");
            assert!(err.message.contains("`sleep` is not available"), "{err}");
        }
    }

    #[test]
    fn a_value_that_cannot_be_kept_is_named_instead_of_every_change_dropped() {
        let engine = sandbox();
        let ast = engine
            .compile("vars.f = 1.5; vars.ts = timestamp();")
            .unwrap();
        let err = run_on(&engine, &ast, Inputs::default()).unwrap_err();
        assert!(err.message.contains("`vars.ts`"), "{err}");
        let ast = engine.compile("vars.f = 1.5; vars.n = \"x\";").unwrap();
        let out = run_on(&engine, &ast, Inputs::default()).unwrap();
        assert_eq!(out.vars.unwrap()["f"], serde_json::json!(1.5));
    }

    #[test]
    fn a_long_text_the_run_already_holds_does_not_fail_the_script() {
        // An `http` answer of 900 KB saved earlier comes into every script in `vars`.
        let engine = sandbox();
        let mut vars = serde_json::Map::new();
        vars.insert("answer".into(), serde_json::json!("x".repeat(900_000)));
        let ast = engine.compile("vars.y = 1;").unwrap();
        let out = run_on(
            &engine,
            &ast,
            Inputs {
                vars,
                ..Inputs::default()
            },
        )
        .unwrap();
        assert_eq!(out.vars.unwrap()["y"], serde_json::json!(1));
    }

    #[test]
    fn text_that_reads_as_a_number_compares_as_one() {
        let engine = sandbox();
        let eval = |code: &str| {
            let ast = engine.compile(code).unwrap();
            run(&engine, &mut Scope::new(), &ast)
                .unwrap()
                .as_bool()
                .unwrap()
        };
        assert!(eval("\"60\" > 50"));
        assert!(eval("50 < \" 60 \""));
        assert!(eval("\"2.5\" >= 2.5"));
        assert!(eval("\"60\" == 60"));
        assert!(!eval("\"60\" != 60"));
        assert!(!eval("\"sixty\" > 50") && !eval("\"sixty\" < 50"));
        assert!(!eval("\"sixty\" == 60") && eval("\"sixty\" != 60"));
        // Text with text and numbers with numbers are as before.
        assert!(eval("\"b\" > \"a\"") && eval("\"10\" < \"9\""));
    }

    #[test]
    fn huge_strings_are_refused() {
        let engine = sandbox();
        let ast = engine
            .compile("let s = \"x\"; for i in 0..30 { s += s; } s")
            .unwrap();
        assert!(run(&engine, &mut Scope::new(), &ast).is_err());
    }

    #[test]
    fn values_nested_too_deeply_are_over_the_budget() {
        let engine = sandbox();
        let ast = engine
            .compile("let a = []; for i in 0..100 { a = [a]; } vars.deep = a;")
            .unwrap();
        let err = run_on(&engine, &ast, Inputs::default()).unwrap_err();
        assert!(err.message.contains("budget"), "{err}");
    }

    #[test]
    fn memory_is_bounded_while_the_script_runs() {
        // A map filled by index assignment is never checked as a whole by Rhai: 2,000
        // strings of 32 KB would be 64 MB; the script stops at its 32 MiB.
        let engine = sandbox();
        let ast = engine
            .compile("let s = \"x\"; for i in 0..15 { s += s; } let m = #{}; for i in 0..2000 { m[`k${i}`] = s + i; } m.len()")
            .unwrap();
        // A loaded machine must not turn this into a time-budget stop.
        let long = Duration::from_secs(30);
        let err = run_within(&engine, &mut Scope::new(), &ast, long, long).unwrap_err();
        assert!(err.message.contains("memory budget"), "{err}");
    }
}
