//! Log lines that repeat, throttled: during an outage every request and every worker's
//! poll fails the same way, and a line each buried the log (the metrics count each one).

/// `tracing::error!` for a loop's failing round, at most once per
/// [`LOG_REPEAT_EVERY`] at each place it is written: during a database outage every
/// worker's poll fails, and a line per poll each (eight a second) buried the log. The line
/// says how many like it were left out since the last (`skipped`).
#[macro_export]
macro_rules! error_every {
    ($($arg:tt)+) => {
        $crate::metrics::logs::log_every!(error, $($arg)+)
    };
}

/// `error_every!` at another level (`warn`, `info`): one line per `LOG_REPEAT_EVERY` from
/// the place it is written, with `skipped` counting the lines left out since the last.
#[macro_export]
macro_rules! log_every {
    ($level:ident, $($arg:tt)+) => {{
        static LAST: std::sync::Mutex<(Option<std::time::Instant>, u64)> =
            std::sync::Mutex::new((None, 0));
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        if last
            .0
            .is_none_or(|t| now.duration_since(t) >= $crate::metrics::logs::LOG_REPEAT_EVERY)
        {
            let skipped = std::mem::take(&mut last.1);
            last.0 = Some(now);
            drop(last);
            tracing::$level!(skipped, $($arg)+);
        } else {
            last.1 += 1;
        }
    }};
}
// Exported at the crate root (`#[macro_export]`) and named here, where callers look.
pub use crate::{error_every, log_every};

/// What `f` logs, as the plain log would show it (tests of what reaches the log).
#[cfg(any(test, feature = "test-support"))]
pub fn logs_of(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let out = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || out.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = lines.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

/// How often one place logs the same failing round (see `error_every!`).
pub const LOG_REPEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
