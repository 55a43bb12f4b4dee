//! The Rhai sandbox: one constructor, used both to compile scripts when flows load and to
//! run them. Limits on operations, call depth, expression depth, string, array and map
//! sizes and wall time; no file access, no module loading, no `eval`; only the functions
//! registered here.

use rhai::{Dynamic, Engine, EvalAltResult, Position, Scope, AST};
use std::cell::Cell;
use std::time::{Duration, Instant};

pub const MAX_OPERATIONS: u64 = 500_000;
pub const TIME_BUDGET: Duration = Duration::from_millis(250);

thread_local! {
    /// When the script running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// A Rhai engine with Parley's limits. Cheap enough to build once per process.
pub fn sandbox() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(32);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(64 * 1024);
    engine.set_max_array_size(10_000);
    engine.set_max_map_size(10_000);
    engine.set_max_modules(0);
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    engine.on_print(|s| tracing::debug!(target: "parley::script", "{s}"));
    engine.on_debug(|s, _, _| tracing::debug!(target: "parley::script", "{s}"));
    engine.on_progress(|_ops| {
        let late = DEADLINE.with(|d| d.get().is_some_and(|deadline| Instant::now() > deadline));
        late.then(|| Dynamic::from("time budget exceeded"))
    });
    engine
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
            EvalAltResult::ErrorTerminated(_, _) => format!(
                "the script ran longer than its time budget of {} ms and was stopped",
                TIME_BUDGET.as_millis()
            ),
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

/// Runs `ast` with `scope`, stopping it when the time budget runs out.
pub fn run(engine: &Engine, scope: &mut Scope<'_>, ast: &AST) -> Result<Dynamic, ScriptError> {
    DEADLINE.with(|d| d.set(Some(Instant::now() + TIME_BUDGET)));
    let result = engine.eval_ast_with_scope::<Dynamic>(scope, ast);
    DEADLINE.with(|d| d.set(None));
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
    fn huge_strings_are_refused() {
        let engine = sandbox();
        let ast = engine
            .compile("let s = \"x\"; for i in 0..30 { s += s; } s")
            .unwrap();
        assert!(run(&engine, &mut Scope::new(), &ast).is_err());
    }
}
